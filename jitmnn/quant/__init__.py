"""Offline quantization: calibrate a model on representative inputs, write a compression-params file,
apply it with `jitmnn convert --compression-params`, and choose per-layer precision by sensitivity.

    import jitmnn.quant as Q
    params = Q.calibrate("resnet18.onnx", inputs, method="percentile", bits=8, out="r18.params.json")
    jitmnn.convert("resnet18.onnx", "r18.int8.jmnn", compression_params="r18.params.json")
    print(Q.compare("r18.fp32.jmnn", "r18.int8.jmnn", heldout))   # accuracy vs fp32 on held-out inputs

Weights only: activations stay fp32 at run time (the recorded activation ranges serve the full-int8
experiment in jitmnn/quant/full_int8.py, which measured slower than fp32 here and is not used)."""

from .calibrate import METHODS, RECOMMENDED_SAMPLES, CalibrationWarning, Progress, calibrate, load_data  # noqa: F401
from .params import load as load_params, model_hash, save as save_params  # noqa: F401
from .sensitivity import choose_precision, compare  # noqa: F401
