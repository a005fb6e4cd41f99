"""Signal processing ops (ONNX opset 17+): DFT (opset 17 and 20 forms), STFT, HannWindow, HammingWindow,
BlackmanWindow and MelWeightMatrix, on numpy.

Complex tensors are real tensors with a trailing dimension of 2 (real, imaginary); a real signal has a
trailing 1. The transforms run through numpy's pocketfft (O(n log n), faster than any O(n^2) Numba loop, so
there is no kernel) in complex64 for float inputs up to 32 bits and complex128 for float64: the precision
of the input, as ONNX's own reference and the backend test data have it. Every size that decides an output shape (dft_length, axis, frame_step, frame_length, window
size, mel bins) must be known at plan time.

DFT's axis moved from an attribute (opset 17, default 1) to an input (opset 20, default -2). A node that
names its axis either way is unambiguous; one that names neither only is when both defaults pick the
same axis (rank-3 input), or when the converter recorded the model's opset in the `opset` attribute."""

from __future__ import annotations

import numpy as np

from ..converter.onnx_import import ONNX_DTYPES
from ..errors import InputError, ShapeError
from . import _util as U
from ._dtypes import ml as ml_dtypes
from .registry import OpDef, register_op


def _optional(node, x, i):
    """Input i's value, or None when the node omits it."""
    if not U.has_input(node, i) or len(x) <= i or x[i] is None:
        return None
    return np.asarray(x[i])


def _int_scalar(v, what) -> int:
    v = np.asarray(v)
    if v.size != 1:
        raise ShapeError(f"{what} must be a scalar, got shape {v.shape}")
    return int(v.reshape(-1)[0])


def _onnx_dtype(code, op) -> np.dtype:
    name = ONNX_DTYPES.get(int(code))
    if name is None:
        raise ShapeError(f"{op} attribute output_datatype={code} is not an ONNX type jitmnn holds")
    return np.dtype(getattr(ml_dtypes, name, None) or name)


def _real_dtype(a) -> np.dtype:
    """The precision the transform runs in: float64 for float64 input, float32 otherwise."""
    return np.dtype(np.float64 if np.asarray(a).dtype == np.float64 else np.float32)


def _as_complex(a: np.ndarray) -> np.ndarray:
    """[..., 1] real or [..., 2] (re, im) -> complex64/128 without the trailing dimension."""
    a = np.asarray(a)
    real = _real_dtype(a)
    out = np.empty(a.shape[:-1], np.result_type(real, np.complex64))
    out.real = a[..., 0]
    out.imag = a[..., 1] if a.shape[-1] == 2 else 0
    return out


def _stack_complex(c: np.ndarray) -> np.ndarray:
    return np.stack([c.real, c.imag], axis=-1)


# ----- DFT ---------------------------------------------------------------------------------------------
_DFT17_DEFAULT_AXIS, _DFT20_DEFAULT_AXIS = 1, -2


def _dft_axis(node, rank, axis_value):
    """The DFT axis as a non-negative index (the trailing complex dimension is not allowed)."""
    if axis_value is not None:
        axis = _int_scalar(axis_value, "DFT axis")
    elif "axis" in node.attrs:
        axis = int(node.attrs["axis"])
    elif "opset" in node.attrs:
        axis = _DFT17_DEFAULT_AXIS if int(node.attrs["opset"]) < 20 else _DFT20_DEFAULT_AXIS
    elif _DFT17_DEFAULT_AXIS % rank == _DFT20_DEFAULT_AXIS % rank:
        axis = _DFT17_DEFAULT_AXIS
    else:
        raise ShapeError(f"DFT {node.name!r}: no axis attribute (opset 17-19, default 1) nor axis input "
                         f"(opset 20+, default -2), and for a rank-{rank} input the two defaults differ; "
                         "name the axis explicitly")
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        raise ShapeError(f"DFT axis {axis} is out of range for rank {rank} (the last dimension holds re/im)")
    return axis % rank


def _dft_params(node, shape, length_value, axis_value):
    """(axis, dft_length, inverse, onesided) checked against the input shape."""
    rank = len(shape)
    if rank < 2 or shape[-1] not in (1, 2):
        raise ShapeError(f"DFT input must end in a dimension of 1 (real) or 2 (complex), got {tuple(shape)}")
    inverse, onesided = int(node.attrs.get("inverse", 0)), int(node.attrs.get("onesided", 0))
    if inverse not in (0, 1) or onesided not in (0, 1):
        raise ShapeError(f"DFT inverse={inverse} / onesided={onesided} must be 0 or 1")
    axis = _dft_axis(node, rank, axis_value)
    if onesided and not inverse and shape[-1] != 1:
        raise ShapeError("DFT onesided=1 with inverse=0 (RFFT) takes a real input (last dimension 1)")
    if onesided and inverse and shape[-1] != 2:
        raise ShapeError("DFT onesided=1 with inverse=1 (IRFFT) takes a complex input (last dimension 2)")
    if length_value is not None:
        n = _int_scalar(length_value, "DFT dft_length")
    else:
        n = 2 * (shape[axis] - 1) if onesided and inverse else shape[axis]
    if n < 1:
        raise ShapeError(f"DFT dft_length {n} must be positive")
    return axis, n, inverse, onesided


def _dft_out_shape(shape, axis, n, inverse, onesided):
    out = list(shape)
    out[axis] = n // 2 + 1 if onesided and not inverse else n
    out[-1] = 1 if onesided and inverse else 2
    return tuple(out)


def _infer_dft(node, shapes, dtypes, consts):
    length = U.const_input(consts, 1, "DFT dft_length") if U.has_input(node, 1) else None
    axis = U.const_input(consts, 2, "DFT axis") if U.has_input(node, 2) else None
    axis, n, inverse, onesided = _dft_params(node, shapes[0], length, axis)
    return [(_dft_out_shape(shapes[0], axis, n, inverse, onesided), dtypes[0])]


def _ref_dft(node, x):
    data = np.asarray(x[0])
    axis, n, inverse, onesided = _dft_params(node, data.shape, _optional(node, x, 1), _optional(node, x, 2))
    signal = _as_complex(data)  # the trailing re/im dimension is gone: `axis` still indexes the signal
    if inverse and onesided:
        out = np.fft.irfft(signal, n=n, axis=axis)[..., None]
    elif inverse:
        out = _stack_complex(np.fft.ifft(signal, n=n, axis=axis))
    else:
        spectrum = np.fft.fft(signal, n=n, axis=axis)
        if onesided:
            spectrum = np.take(spectrum, np.arange(n // 2 + 1), axis=axis)
        out = _stack_complex(spectrum)
    return [out.astype(data.dtype)]


register_op(OpDef("DFT", _infer_dft, _ref_dft))


# ----- STFT --------------------------------------------------------------------------------------------
def _stft_params(node, shape, step_value, window_shape, length_value):
    """(frame_step, frame_length, frames, onesided) checked against the signal shape."""
    if len(shape) != 3 or shape[-1] not in (1, 2):
        raise ShapeError(f"STFT signal must be [batch, length, 1 or 2], got {tuple(shape)}")
    onesided = int(node.attrs.get("onesided", 1))
    if onesided not in (0, 1):
        raise ShapeError(f"STFT onesided={onesided} must be 0 or 1")
    if onesided and shape[-1] == 2:
        raise ShapeError("STFT onesided=1 needs a real signal (last dimension 1); set onesided=0 for complex")
    step = _int_scalar(step_value, "STFT frame_step")
    if window_shape is not None and len(window_shape) != 1:
        raise ShapeError(f"STFT window must be 1-D, got shape {tuple(window_shape)}")
    if length_value is not None:
        length = _int_scalar(length_value, "STFT frame_length")
        if window_shape is not None and window_shape[0] != length:
            raise ShapeError(f"STFT window length {window_shape[0]} differs from frame_length {length}")
    else:
        length = window_shape[0] if window_shape is not None else shape[1]
    if step < 1 or length < 1 or length > shape[1]:
        raise ShapeError(f"STFT frame_step {step} and frame_length {length} do not fit a signal of {shape[1]}")
    return step, length, (shape[1] - length) // step + 1, onesided


def _infer_stft(node, shapes, dtypes, consts):
    step = U.const_input(consts, 1, "STFT frame_step")
    window = shapes[2] if U.has_input(node, 2) else None
    length = U.const_input(consts, 3, "STFT frame_length") if U.has_input(node, 3) else None
    step, length, frames, onesided = _stft_params(node, shapes[0], step, window, length)
    bins = length // 2 + 1 if onesided else length
    return [((shapes[0][0], frames, bins, 2), dtypes[0])]


def _ref_stft(node, x):
    signal = np.asarray(x[0])
    window = _optional(node, x, 2)
    step, length, frames, onesided = _stft_params(node, signal.shape, x[1], None if window is None else
                                                  window.shape, _optional(node, x, 3))
    s = _as_complex(signal)  # [batch, length]
    starts = np.arange(frames) * step
    framed = s[:, starts[:, None] + np.arange(length)]  # [batch, frames, length]
    if window is not None:
        framed = framed * np.asarray(window).astype(_real_dtype(signal))
    spectrum = np.fft.fft(framed, axis=-1)
    if onesided:
        spectrum = spectrum[..., :length // 2 + 1]
    return [_stack_complex(spectrum).astype(signal.dtype)]


register_op(OpDef("STFT", _infer_stft, _ref_stft))


# ----- Window functions --------------------------------------------------------------------------------
# Generalised cosine windows w[n] = sum_k (-1)^k a_k cos(2 pi k n / N), N = size (periodic) or size - 1
# (symmetric). ONNX's Hamming uses the exact "optimal" a0 = 25/46 rather than the rounded 0.54.
_WINDOW_COEFFS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25.0 / 46.0, 21.0 / 46.0),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


def _window_size(node, value) -> int:
    size = _int_scalar(value, f"{node.op} size")
    if size < 0:
        raise ShapeError(f"{node.op} size {size} is negative")
    return size


def _window_dtype(node) -> np.dtype:
    return _onnx_dtype(node.attrs.get("output_datatype", 1), node.op)


def _infer_window(node, shapes, dtypes, consts):
    size = _window_size(node, U.const_input(consts, 0, f"{node.op} size"))
    return [((size,), _window_dtype(node))]


def _ref_window(node, x):
    size = _window_size(node, x[0])
    periodic = int(node.attrs.get("periodic", 1))
    denom = size if periodic else size - 1
    if denom <= 0:  # a symmetric window of one point
        return [np.ones(size, _window_dtype(node))]
    phase = 2.0 * np.pi * np.arange(size, dtype=np.float64) / denom
    w = np.zeros(size, np.float64)
    for k, a in enumerate(_WINDOW_COEFFS[node.op]):
        w += (-1) ** k * a * np.cos(k * phase)
    return [w.astype(_window_dtype(node))]


for _name in _WINDOW_COEFFS:
    register_op(OpDef(_name, _infer_window, _ref_window))


# ----- MelWeightMatrix ---------------------------------------------------------------------------------
def _infer_mel(node, shapes, dtypes, consts):
    bins = _int_scalar(U.const_input(consts, 0, "MelWeightMatrix num_mel_bins"), "MelWeightMatrix num_mel_bins")
    n = _int_scalar(U.const_input(consts, 1, "MelWeightMatrix dft_length"), "MelWeightMatrix dft_length")
    if bins < 1 or n < 1:
        raise ShapeError(f"MelWeightMatrix num_mel_bins {bins} and dft_length {n} must be positive")
    return [((n // 2 + 1, bins), _onnx_dtype(node.attrs.get("output_datatype", 1), "MelWeightMatrix"))]


def _ref_mel(node, x):
    """Triangular filters between num_mel_bins + 2 edges spaced evenly in mel, each snapped to the DFT bin
    floor((dft_length + 1) * hz / sample_rate); a filter peaks at 1 on its centre bin. As in ONNX's
    reference and ONNX Runtime, the mel step divides the range by num_mel_bins + 2 (not + 1)."""
    bins, n, rate = (_int_scalar(v, "MelWeightMatrix input") for v in x[:3])
    lo_hz, hi_hz = (float(np.asarray(v, np.float64).reshape(-1)[0]) for v in x[3:5])
    spectrum_bins = n // 2 + 1
    lo_mel, hi_mel = (2595.0 * np.log10(1.0 + hz / 700.0) for hz in (lo_hz, hi_hz))
    step = (hi_mel - lo_mel) / (bins + 2)
    hz = 700.0 * (10.0 ** ((lo_mel + step * np.arange(bins + 2)) / 2595.0) - 1.0)
    edges = np.floor((n + 1) * hz / rate).astype(np.int64)
    if edges.min() < 0 or edges.max() >= spectrum_bins:
        raise InputError(f"MelWeightMatrix edges {lo_hz}..{hi_hz} Hz map to DFT bins {edges.min()}.."
                         f"{edges.max()}, outside 0..{spectrum_bins - 1} (sample_rate {rate}, dft_length {n})")
    out = np.zeros((spectrum_bins, bins), np.float64)
    j = np.arange(spectrum_bins)
    for m in range(bins):
        left, centre, right = edges[m:m + 3]
        if centre > left:
            rising = (j >= left) & (j <= centre)
            out[rising, m] = (j[rising] - left) / (centre - left)
        else:
            out[centre, m] = 1.0
        if right > centre:
            falling = (j >= centre) & (j < right)
            out[falling, m] = (right - j[falling]) / (right - centre)
    return [out.astype(_onnx_dtype(node.attrs.get("output_datatype", 1), "MelWeightMatrix"))]


register_op(OpDef("MelWeightMatrix", _infer_mel, _ref_mel))
