"""Model zoo: seeded-weight builders (ResNet, MobileNetV2) and locators for real models shipped by PyPI packages.

    from jitmnn.models import ZOO, prepare_model, sample_input
    onnx_path, jmnn_path = prepare_model("resnet18", "/tmp/work")   # ONNX for ORT/MNN, .jmnn for jitmnn
    x = sample_input("ppocr_det")                                    # a text-like page for the detector

Every entry of ZOO has the same two ways in: an ONNX file (built from our IR and exported, or the file a
package ships) and a .jmnn converted from that ONNX file by jitmnn.convert, so whole-model checks and the
benchmark compare runtimes on the same bytes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from . import ppocr, zoo

if TYPE_CHECKING:
    import numpy as np


class ZooEntry(NamedTuple):
    """builder() -> Graph for models we build; locator() -> ONNX path for models a package ships."""

    builder: Callable | None
    locator: Callable | None
    input_shape: tuple
    input_kind: str  # "random_normal" | "random_unit" | "text_page": what sample_input feeds it
    doc: str = ""

    @property
    def source(self):
        return self.builder or self.locator


ZOO = {
    "resnet18": ZooEntry(zoo.resnet18, None, (1, 3, 224, 224), "random_normal", "ResNet-18, seeded weights"),
    "resnet50": ZooEntry(zoo.resnet50, None, (1, 3, 224, 224), "random_normal", "ResNet-50 v1.5, seeded weights"),
    "mobilenet_v2": ZooEntry(zoo.mobilenet_v2, None, (1, 3, 224, 224), "random_normal",
                             "MobileNetV2 1.0, seeded weights"),
    "ppocr_det": ZooEntry(None, lambda: ppocr.ppocr_model_path("det"), (1, 3, 640, 640), "text_page",
                          "PP-OCRv4 text detector (DB), from rapidocr-onnxruntime"),
    "ppocr_rec": ZooEntry(None, lambda: ppocr.ppocr_model_path("rec"), (1, 3, 48, 320), "random_unit",
                          "PP-OCRv4 text recogniser (SVTR-LCNet, CTC), from rapidocr-onnxruntime"),
    "ppocr_cls": ZooEntry(None, lambda: ppocr.ppocr_model_path("cls"), (1, 3, 48, 192), "random_unit",
                          "PP-OCR mobile v2.0 text direction classifier, from rapidocr-onnxruntime"),
}
# Not part of the benchmark set, but buildable by name (fast tests).
EXTRA = {"tiny_cnn": ZooEntry(zoo.tiny_cnn, None, (1, 3, 19, 21), "random_normal", "tiny test CNN")}


def entry(name: str) -> ZooEntry:
    """The ZooEntry of model `name` (ZOO, then EXTRA); KeyError listing every name for an unknown one."""
    if name in ZOO:
        return ZOO[name]
    if name in EXTRA:
        return EXTRA[name]
    raise KeyError(f"unknown model {name!r}; the zoo has {sorted(ZOO) + sorted(EXTRA)}")


def sample_input(name: str, shape: tuple[int, ...] | None = None, seed: int = 0) -> "np.ndarray":
    """A realistic input for model `name`: a text-like page for the detector, uniform [-1, 1] (PP-OCR's
    normalised range) for rec/cls, standard normal (a normalised image's range) for the classifiers."""
    import numpy as np

    e = entry(name)
    shape = tuple(shape or e.input_shape)
    if e.input_kind == "text_page":
        pages = [ppocr.text_like_page(shape[2], shape[3], seed + i) for i in range(shape[0])]
        return np.ascontiguousarray(np.concatenate(pages, axis=0))
    if e.input_kind == "random_unit":
        return ppocr.random_input(shape, seed)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def onnx_path(name: str, workdir: str) -> str:
    """The model's ONNX file: the shipped one for located models, else built and exported into workdir
    (reused if already there: the builders are deterministic)."""
    e = entry(name)
    if e.locator is not None:
        return e.locator()
    path = os.path.join(workdir, f"{name}.onnx")
    if not os.path.exists(path):
        from jitmnn.converter.export import save_onnx

        os.makedirs(workdir, exist_ok=True)
        tmp = path + f".{os.getpid()}.tmp"
        save_onnx(e.builder(), tmp)
        os.replace(tmp, path)
    return path


def prepare_model(name: str, workdir: str, force: bool = False, **convert_options: Any) -> tuple[str, str]:
    """(onnx_path, jmnn_path) for zoo model `name`: the ONNX file ORT/MNN run and the .jmnn jitmnn runs,
    converted from that same ONNX file with jitmnn.convert(**convert_options). An existing .jmnn newer than
    the ONNX file is reused unless `force`; conversions with options get their own file name
    (resnet18.weight_quant_bits=8.jmnn), so they never overwrite the plain one."""
    import jitmnn

    os.makedirs(workdir, exist_ok=True)
    src = onnx_path(name, workdir)
    suffix = "".join(f".{k}={v}" for k, v in sorted(convert_options.items()))
    dst = os.path.join(workdir, f"{name}{suffix}.jmnn")
    if force or not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
        tmp = dst + f".{os.getpid()}.tmp.jmnn"
        jitmnn.convert(src, tmp, **convert_options)
        os.replace(tmp, dst)
    return src, dst


__all__ = ["ZOO", "EXTRA", "ZooEntry", "entry", "sample_input", "onnx_path", "prepare_model", "ppocr", "zoo"]
