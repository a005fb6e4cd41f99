import numpy as np

from tests.harness import Case, rng

R = rng(91)
REAL3 = R.standard_normal((2, 9, 1)).astype(np.float32)
REAL4 = R.standard_normal((2, 5, 7, 1)).astype(np.float32)
CPLX4 = R.standard_normal((3, 6, 5, 2)).astype(np.float32)
HALF = R.standard_normal((2, 5, 3, 2)).astype(np.float32)  # a one-sided spectrum along axis 1
SIGNAL = R.standard_normal((2, 37, 1)).astype(np.float32)
CSIGNAL = R.standard_normal((1, 20, 2)).astype(np.float64)
I64 = np.int64


def _dft(x, attrs, length=None, axis=None, id_=""):
    ins = [x, None if length is None else np.array(length, I64), None if axis is None else np.array(axis, I64)]
    while ins[-1] is None:
        ins.pop()
    return Case("DFT", ins, attrs, const_inputs=(1, 2), id=id_)


def _stft(x, step, window=None, length=None, attrs=None, id_=""):
    ins = [x, np.array(step, I64), window, None if length is None else np.array(length, I64)]
    while ins[-1] is None:
        ins.pop()
    return Case("STFT", ins, attrs or {}, const_inputs=(1, 3), id=id_)


def _mel(bins, n, rate, lo, hi, id_):
    ins = [np.array(bins, I64), np.array(n, I64), np.array(rate, I64), np.float32(lo), np.float32(hi)]
    return Case("MelWeightMatrix", ins, const_inputs=(0, 1, 2, 3, 4), id=id_)


CASES = [
    # rank 3 with no axis named: the opset-17 default (1) and the opset-20 default (-2) agree
    _dft(REAL3, {}, id_="real-default-axis"),
    _dft(REAL4, {"axis": 2}, id_="opset17-axis-attr"),
    _dft(CPLX4, {}, length=9, axis=-3, id_="complex-axis-input-padded"),
    _dft(CPLX4, {"inverse": 1}, length=4, axis=2, id_="inverse-truncated"),
    _dft(REAL4, {"onesided": 1}, length=6, axis=1, id_="rfft"),
    _dft(HALF, {"onesided": 1, "inverse": 1}, axis=1, id_="irfft-default-length"),
    _dft(HALF, {"onesided": 1, "inverse": 1}, length=7, axis=-3, id_="irfft-odd-length"),
    # an opset-17 node with no axis attribute on a rank-4 input: the converter-recorded opset decides
    _dft(REAL4, {"opset": 17}, id_="opset17-default-axis-rank4"),
    _stft(SIGNAL, 5, length=8, id_="rect-frames"),
    _stft(SIGNAL, 3, window=np.hanning(12).astype(np.float32), id_="window-sets-length"),
    _stft(SIGNAL, 4, window=np.hamming(9).astype(np.float32), length=9, attrs={"onesided": 0}, id_="two-sided"),
    _stft(SIGNAL, 1, id_="one-frame-whole-signal"),
    _stft(CSIGNAL, 6, length=7, attrs={"onesided": 0}, id_="complex-f64"),
    Case("HannWindow", [np.array(10, I64)], const_inputs=(0,), id="periodic"),
    Case("HannWindow", [np.array(7, np.int32)], {"periodic": 0, "output_datatype": 11}, const_inputs=(0,),
         id="symmetric-f64"),
    Case("HammingWindow", [np.array(13, I64)], const_inputs=(0,), id="periodic"),
    Case("HammingWindow", [np.array(6, I64)], {"periodic": 0}, const_inputs=(0,), id="symmetric"),
    Case("BlackmanWindow", [np.array(11, I64)], const_inputs=(0,), id="periodic"),
    Case("BlackmanWindow", [np.array(9, I64)], {"periodic": 0}, const_inputs=(0,), id="symmetric"),
    # a symmetric window of one point is [1], not 0/0
    Case("BlackmanWindow", [np.array(1, I64)], {"periodic": 0}, const_inputs=(0,), id="symmetric-one-point"),
    _mel(8, 16, 8192, 0.0, 4096.0, "onnx-example"),
    _mel(5, 64, 16000, 100.0, 7000.0, "speech"),
    _mel(10, 30, 100, 0.0, 1.0, "narrow-band-single-bin-peaks"),
]
