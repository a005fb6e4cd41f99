"""Named tolerance tiers (max |diff| / max(1, max |ref|)), each with the reason it is what it is."""

# Same arithmetic in the same order as the reference: only copies, views, comparisons.
EXACT = 0.0
# fp32 kernels vs a float64 reference: accumulation order and fastmath reassociation over K<=5000
# terms give ~1e-6 relative; 2e-5 leaves headroom for long reductions without hiding a wrong index.
F32 = 2e-5
# Winograd F(2,3)/F(4,3): the transforms add/subtract with coefficients up to 4 (F(4,3)); measured
# 3-6e-5 absolute on unit-scale data (research/NUMBA_PROBE.md section 2).
WINOGRAD_F43 = 2e-4
# Winograd F(6,3): coefficients up to ~10 amplify rounding further; measured 4-7e-5, allow 5e-4.
WINOGRAD_F63 = 5e-4
# fp16 weight storage: 11-bit mantissa => 4.9e-4 relative per weight; sums of K terms partly cancel.
FP16 = 3e-3
# fp16 activation storage (precision="low"): inputs are rounded to fp16 before both the kernel and the
# reference see them, so the kernel's only extra error is rounding its output: 2^-11 = 4.9e-4 relative.
FP16_ACTIVATIONS = 1e-3
# int8 weight-only (per-channel symmetric): step = absmax/127 => up to 0.4% per weight.
INT8 = 2e-2
# bf16 compute (precision="low" on AVX512-BF16): both operands rounded to 8 mantissa bits, 2^-9 = 2e-3
# relative each, so ~4e-3 per product; over K terms of mixed sign the errors partly cancel (~1/sqrt(K) of the
# sum's scale). Measured 0.9-8.8e-3 on the 44 conv cases; the exact-arithmetic check (inputs pre-rounded to bf16,
# fp32 accumulation only) is the F32 tier in tests/test_gemm_bf16.py.
BF16 = 1.5e-2
# A whole model at precision="low" with bf16 compute: every conv adds BF16-level error on its fp16/bf16
# inputs; through 20-50 layers they mostly average out (measured 4.7e-3 on MobileNetV2, 3.2e-3 on ResNet-18).
BF16_MODEL = 1.5e-2
# Whole models vs ONNX Runtime (the core issue's bar).
MODEL_VS_ORT = 1e-4

TIERS = {"EXACT": EXACT, "F32": F32, "WINOGRAD_F43": WINOGRAD_F43, "WINOGRAD_F63": WINOGRAD_F63,
         "FP16": FP16, "INT8": INT8, "BF16": BF16,
         "FP16_ACTIVATIONS": FP16_ACTIVATIONS}


def precision_low_model() -> float:
    """The whole-model tier of precision="low" on this CPU: fp32 compute over fp16 storage, or bf16 compute."""
    from jitmnn import cpu

    return BF16_MODEL if cpu.bf16_tier() != "fp32" else FP16


def rel_err(got, ref) -> float:
    import numpy as np

    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise AssertionError(f"shape {got.shape} != reference {ref.shape}")
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
