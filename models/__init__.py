"""Model zoo: seeded-weight builders (ResNet, MobileNetV2) and locators for real models shipped by PyPI packages."""
