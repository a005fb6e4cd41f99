"""Signal references from the textbook definitions, one output element at a time in float64/complex128:
the DFT as its O(n^2) sum (IRFFT by rebuilding the Hermitian full spectrum), STFT as that sum per frame,
the windows from their closed forms, the mel filterbank from its edge list."""

import cmath
import math

import numpy as np


def _given(x, i):
    return len(x) > i and x[i] is not None


def _int(v):
    return int(np.asarray(v).reshape(-1)[0])


def _dft_1d(values, n, inverse):
    """values (complex list) zero-padded or cut to n, transformed (inverse includes the 1/n)."""
    values = (list(values) + [0j] * n)[:n]
    sign = 1 if inverse else -1
    out = []
    for k in range(n):
        acc = 0j
        for t, v in enumerate(values):
            acc += v * cmath.exp(sign * 2j * math.pi * k * t / n)
        out.append(acc / n if inverse else acc)
    return out


def _irfft_1d(half, n):
    full = [0j] * n
    for k in range(n // 2 + 1):
        v = half[k] if k < len(half) else 0j
        full[k] = v
        if 0 < k and n - k != k:
            full[n - k] = v.conjugate()
    return [v.real for v in _dft_1d(full, n, inverse=True)]


def _dft(attrs, x):
    data = np.asarray(x[0], np.float64)
    rank = data.ndim
    if _given(x, 2):
        axis = _int(x[2])
    elif "axis" in attrs:
        axis = attrs["axis"]
    else:
        axis = 1 if attrs.get("opset", 20) < 20 else -2
    axis %= rank
    inverse, onesided = attrs.get("inverse", 0), attrs.get("onesided", 0)
    signal = data[..., 0] + (1j * data[..., 1] if data.shape[-1] == 2 else 0)
    if _given(x, 1):
        n = _int(x[1])
    else:
        n = 2 * (data.shape[axis] - 1) if inverse and onesided else data.shape[axis]
    moved = np.moveaxis(signal, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out_rows = []
    for row in rows:
        if inverse and onesided:
            out_rows.append([[v] for v in _irfft_1d(list(row), n)])
        else:
            spec = _dft_1d(list(row), n, inverse)
            if onesided:
                spec = spec[:n // 2 + 1]
            out_rows.append([[v.real, v.imag] for v in spec])
    out = np.array(out_rows, np.float64)
    out = out.reshape(moved.shape[:-1] + out.shape[1:])
    return [np.moveaxis(out, -2, axis)]


def _stft(attrs, x):
    data = np.asarray(x[0], np.float64)
    step = _int(x[1])
    window = np.asarray(x[2], np.float64) if _given(x, 2) else None
    length = _int(x[3]) if _given(x, 3) else (len(window) if window is not None else data.shape[1])
    onesided = attrs.get("onesided", 1)
    frames = (data.shape[1] - length) // step + 1
    bins = length // 2 + 1 if onesided else length
    out = np.zeros((data.shape[0], frames, bins, 2))
    for b in range(data.shape[0]):
        for f in range(frames):
            frame = []
            for t in range(length):
                v = data[b, f * step + t]
                c = complex(v[0], v[1] if data.shape[2] == 2 else 0.0)
                frame.append(c * (window[t] if window is not None else 1.0))
            spec = _dft_1d(frame, length, inverse=False)
            for k in range(bins):
                out[b, f, k] = spec[k].real, spec[k].imag
    return [out]


def _window(formula):
    def ref(attrs, x):
        size = _int(x[0])
        big_n = size if attrs.get("periodic", 1) else size - 1
        return [np.array([formula(i, big_n) if big_n > 0 else 1.0 for i in range(size)])]
    return ref


def _hann(i, n):
    return math.sin(math.pi * i / n) ** 2


def _hamming(i, n):
    alpha = 25.0 / 46.0
    return alpha - (1.0 - alpha) * math.cos(2.0 * math.pi * i / n)


def _blackman(i, n):
    return 0.42 - 0.5 * math.cos(2.0 * math.pi * i / n) + 0.08 * math.cos(4.0 * math.pi * i / n)


def _mel(attrs, x):
    n_mel, n_fft, rate = _int(x[0]), _int(x[1]), _int(x[2])
    lo, hi = float(np.asarray(x[3]).reshape(-1)[0]), float(np.asarray(x[4]).reshape(-1)[0])

    def to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    def to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    step = (to_mel(hi) - to_mel(lo)) / (n_mel + 2)  # ONNX divides by the edge count, n_mel + 2
    edges = [math.floor((n_fft + 1) * to_hz(to_mel(lo) + i * step) / rate) for i in range(n_mel + 2)]
    out = np.zeros((n_fft // 2 + 1, n_mel))
    for m in range(n_mel):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for j in range(out.shape[0]):
            if left <= j < centre:
                out[j, m] = (j - left) / (centre - left)
            elif j == centre:
                out[j, m] = 1.0
            elif centre < j < right:
                out[j, m] = (right - j) / (right - centre)
    return [out]


REFERENCES = {
    "DFT": _dft,
    "STFT": _stft,
    "HannWindow": _window(_hann),
    "HammingWindow": _window(_hamming),
    "BlackmanWindow": _window(_blackman),
    "MelWeightMatrix": _mel,
}
