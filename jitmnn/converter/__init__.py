"""ONNX -> jitmnn Graph -> .jmnn."""
