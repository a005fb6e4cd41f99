"""One direction of an LSTM / GRU / RNN over a whole sequence, float32, ONNX's default activations.

The caller has already projected every time step of X through W (one BLAS GEMM for the sequence, both
directions): xp[row, col0:col0 + gates*hidden] = x_t @ W^T for row = t * x_ts + b * x_bs. What is left
is inherently sequential: per step, the recurrent product h_{t-1} @ R^T (an axpy-form GEMV over the
transposed R, `rt` [hidden, gates*hidden], whose accumulator row starts as projection + summed biases; four
rows of rt per pass, so the accumulator is loaded and stored once per four multiply-adds), then one fused pass
that applies the gate activations (branch-free fast_exp, so the pass vectorises) and updates the state.
Equations: ONNX's LSTM/GRU/RNN operator definitions (Hochreiter & Schmidhuber 1997 with Gers et al.'s
peepholes; Cho et al. 2014).

State h, c ([batch, hidden]) comes in holding the initial state and leaves holding the final one. Batch
entry b runs lens[b] steps; backwards runs them from t = lens[b] - 1 down to 0. Y rows of steps an entry
does not run are zeroed, and so is the final state of an entry that runs none. clip bounds each
pre-activation (FLT_MAX for none: fastmath assumes no infinities, so no inf bounds)."""

import numpy as np

from ._jit import helper, kernel
from .unary import fast_exp

FLT_MAX = float(np.finfo(np.float32).max)


@helper
def sigmoid(v):
    return np.float32(1.0) / (np.float32(1.0) + fast_exp(-v))


@helper
def tanh(v):
    """(1 - e^-2v) / (1 + e^-2v): ~1e-7 absolute error (cancellation near 0), saturates cleanly."""
    e = fast_exp(np.float32(-2.0) * v)
    return (np.float32(1.0) - e) / (np.float32(1.0) + e)


@helper
def clamp(v, lim):
    return min(max(v, -lim), lim)


@helper
def recurrent_gemv(acc, x, bias, h, rt):
    """acc[j] = x[j] + bias[j] + sum_k h[k] * rt[k, j]   (acc, x, bias: [n]; h: [k]; rt: [k, n] C-contiguous)."""
    n = acc.shape[0]
    kdim = rt.shape[0]
    for j in range(n):
        acc[j] = x[j] + bias[j]
    k4 = kdim - kdim % 4
    for k in range(0, k4, 4):
        h0, h1, h2, h3 = h[k], h[k + 1], h[k + 2], h[k + 3]
        r0, r1, r2, r3 = rt[k], rt[k + 1], rt[k + 2], rt[k + 3]
        for j in range(n):
            acc[j] += h0 * r0[j] + h1 * r1[j] + h2 * r2[j] + h3 * r3[j]
    for k in range(k4, kdim):
        hk = h[k]
        rk = rt[k]
        for j in range(n):
            acc[j] += hk * rk[j]


@helper
def store_row(y, row, hb):
    yrow = y[row]
    for j in range(hb.shape[0]):
        yrow[j] = hb[j]


@helper
def zero_unrun_rows(y, y_off, y_ts, y_bs, b, first, seq):
    """Y rows of entry b for the steps t = first .. seq-1 it does not run."""
    for t in range(first, seq):
        yrow = y[y_off + t * y_ts + b * y_bs]
        for j in range(yrow.shape[0]):
            yrow[j] = np.float32(0.0)


@kernel
def lstm_direction(xp, col0, x_ts, x_bs, rt, bias, peep, lens, seq, backwards, clip, input_forget,
                   y, write_y, y_off, y_ts, y_bs, h, c, gates):
    """Gates i, o, f, c (ONNX order). peep [3*hidden]: P_i, P_o, P_f (zeros when absent).
    i = s(xi + hRi + Pi*c), f = s(xf + hRf + Pf*c) (or 1 - i with input_forget), g = tanh(xc + hRc),
    c' = f*c + i*g, o = s(xo + hRo + Po*c'), h' = o*tanh(c')."""
    batch, hid = h.shape
    ng = 4 * hid
    for b in range(batch):
        hb = h[b]
        cb = c[b]
        for s in range(lens[b]):
            t = lens[b] - 1 - s if backwards else s
            recurrent_gemv(gates, xp[t * x_ts + b * x_bs, col0:col0 + ng], bias, hb, rt)
            for j in range(hid):
                cprev = cb[j]
                ig = sigmoid(clamp(gates[j] + peep[j] * cprev, clip))
                if input_forget:
                    fg = np.float32(1.0) - ig
                else:
                    fg = sigmoid(clamp(gates[2 * hid + j] + peep[2 * hid + j] * cprev, clip))
                cn = fg * cprev + ig * tanh(clamp(gates[3 * hid + j], clip))
                og = sigmoid(clamp(gates[hid + j] + peep[hid + j] * cn, clip))
                cb[j] = cn
                hb[j] = og * tanh(cn)
            if write_y:
                store_row(y, y_off + t * y_ts + b * y_bs, hb)
        if write_y:
            zero_unrun_rows(y, y_off, y_ts, y_bs, b, lens[b], seq)
        if lens[b] == 0:  # an entry that runs no step has a zero final state (as ONNX Runtime gives)
            hb[:] = np.float32(0.0)
            cb[:] = np.float32(0.0)


@kernel
def gru_direction(xp, col0, x_ts, x_bs, rt_zr, rt_h, bias_zr, bias_h, rb_h, zero_h, lens, seq, backwards, clip,
                  linear_before_reset, y, write_y, y_off, y_ts, y_bs, h, acc_zr, acc_h, rh):
    """Gates z, r, h (ONNX order). z = s(xz + hRz + b), r = s(xr + hRr + b);
    linear_before_reset: n = tanh(xh + Wbh + r * (hRh + Rbh))   (bias_h = Wbh, rb_h = Rbh)
    otherwise:           n = tanh(xh + (r*h)Rh + Wbh + Rbh)     (bias_h = Wbh + Rbh);
    h' = (1 - z) * n + z * h."""
    batch, hid = h.shape
    for b in range(batch):
        hb = h[b]
        for s in range(lens[b]):
            t = lens[b] - 1 - s if backwards else s
            row = t * x_ts + b * x_bs
            recurrent_gemv(acc_zr, xp[row, col0:col0 + 2 * hid], bias_zr, hb, rt_zr)
            for j in range(2 * hid):
                acc_zr[j] = sigmoid(clamp(acc_zr[j], clip))
            xh = xp[row, col0 + 2 * hid:col0 + 3 * hid]
            if linear_before_reset:
                recurrent_gemv(acc_h, zero_h, rb_h, hb, rt_h)
                for j in range(hid):
                    z = acc_zr[j]
                    n = tanh(clamp(xh[j] + bias_h[j] + acc_zr[hid + j] * acc_h[j], clip))
                    hb[j] = (np.float32(1.0) - z) * n + z * hb[j]
            else:
                for j in range(hid):
                    rh[j] = acc_zr[hid + j] * hb[j]
                recurrent_gemv(acc_h, xh, bias_h, rh, rt_h)
                for j in range(hid):
                    z = acc_zr[j]
                    n = tanh(clamp(acc_h[j], clip))
                    hb[j] = (np.float32(1.0) - z) * n + z * hb[j]
            if write_y:
                store_row(y, y_off + t * y_ts + b * y_bs, hb)
        if write_y:
            zero_unrun_rows(y, y_off, y_ts, y_bs, b, lens[b], seq)
        if lens[b] == 0:
            hb[:] = np.float32(0.0)


@kernel
def rnn_direction(xp, col0, x_ts, x_bs, rt, bias, lens, seq, backwards, clip, y, write_y, y_off, y_ts, y_bs,
                  h, acc):
    """h' = tanh(x W^T + h R^T + Wb + Rb)."""
    batch, hid = h.shape
    for b in range(batch):
        hb = h[b]
        for s in range(lens[b]):
            t = lens[b] - 1 - s if backwards else s
            recurrent_gemv(acc, xp[t * x_ts + b * x_bs, col0:col0 + hid], bias, hb, rt)
            for j in range(hid):
                hb[j] = tanh(clamp(acc[j], clip))
            if write_y:
                store_row(y, y_off + t * y_ts + b * y_bs, hb)
        if write_y:
            zero_unrun_rows(y, y_off, y_ts, y_bs, b, lens[b], seq)
        if lens[b] == 0:
            hb[:] = np.float32(0.0)


# ----------------------------------------------------------------------------------------------------
# Checked wrappers: every index the kernels form is validated here (a bad one in a kernel is a segfault).
def _check_common(xp, col0, width, x_ts, x_bs, lens, seq, y, write_y, y_off, y_ts, y_bs, h):
    batch, hid = h.shape
    for name, a in (("xp", xp), ("y", y), ("h", h)):
        if a.ndim != 2 or a.dtype != np.float32 or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous 2-D float32 array, got {a.dtype} {a.shape}")
    if lens.shape != (batch,) or lens.dtype != np.int32 or not lens.flags.c_contiguous:
        raise ValueError(f"lens must be int32 [{batch}], got {lens.dtype} {lens.shape}")
    if batch and (int(lens.min()) < 0 or int(lens.max()) > seq):
        raise ValueError(f"sequence lengths must lie in [0, {seq}], got {lens.tolist()}")
    if batch and seq:
        last = (seq - 1) * x_ts + (batch - 1) * x_bs
        if min(x_ts, x_bs, col0) < 0 or last >= xp.shape[0] or col0 + width > xp.shape[1]:
            raise ValueError(f"projection buffer {xp.shape} too small for seq {seq}, batch {batch}, "
                             f"columns {col0}:{col0 + width}")
        if write_y and (min(y_off, y_ts, y_bs) < 0 or y_off + last_row(seq, batch, y_ts, y_bs) >= y.shape[0]
                        or y.shape[1] != hid):
            raise ValueError(f"Y buffer {y.shape} too small for seq {seq}, batch {batch}, hidden {hid}")


def last_row(seq, batch, ts, bs):
    return (seq - 1) * ts + (batch - 1) * bs


def _need(name, a, shape):
    if a.shape != shape or a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous float32 {shape}, got {a.dtype} {a.shape}")


def lstm(xp, col0, x_ts, x_bs, rt, bias, peep, lens, seq, backwards, clip, input_forget,
         y, write_y, y_off, y_ts, y_bs, h, c, gates):
    hid = h.shape[1]
    _need("rt", rt, (hid, 4 * hid))
    _need("bias", bias, (4 * hid,))
    _need("peep", peep, (3 * hid,))
    _need("c", c, h.shape)
    _need("gates", gates, (4 * hid,))
    _check_common(xp, col0, 4 * hid, x_ts, x_bs, lens, seq, y, write_y, y_off, y_ts, y_bs, h)
    lstm_direction(xp, col0, x_ts, x_bs, rt, bias, peep, lens, seq, backwards, np.float32(clip), input_forget,
                   y, write_y, y_off, y_ts, y_bs, h, c, gates)


def gru(xp, col0, x_ts, x_bs, rt_zr, rt_h, bias_zr, bias_h, rb_h, zero_h, lens, seq, backwards, clip,
        linear_before_reset, y, write_y, y_off, y_ts, y_bs, h, acc_zr, acc_h, rh):
    hid = h.shape[1]
    _need("rt_zr", rt_zr, (hid, 2 * hid))
    _need("rt_h", rt_h, (hid, hid))
    _need("bias_zr", bias_zr, (2 * hid,))
    for name, a in (("bias_h", bias_h), ("rb_h", rb_h), ("zero_h", zero_h), ("acc_h", acc_h), ("rh", rh)):
        _need(name, a, (hid,))
    _need("acc_zr", acc_zr, (2 * hid,))
    _check_common(xp, col0, 3 * hid, x_ts, x_bs, lens, seq, y, write_y, y_off, y_ts, y_bs, h)
    gru_direction(xp, col0, x_ts, x_bs, rt_zr, rt_h, bias_zr, bias_h, rb_h, zero_h, lens, seq, backwards,
                  np.float32(clip), linear_before_reset, y, write_y, y_off, y_ts, y_bs, h, acc_zr, acc_h, rh)


def rnn(xp, col0, x_ts, x_bs, rt, bias, lens, seq, backwards, clip, y, write_y, y_off, y_ts, y_bs, h, acc):
    hid = h.shape[1]
    _need("rt", rt, (hid, hid))
    _need("bias", bias, (hid,))
    _need("acc", acc, (hid,))
    _check_common(xp, col0, hid, x_ts, x_bs, lens, seq, y, write_y, y_off, y_ts, y_bs, h)
    rnn_direction(xp, col0, x_ts, x_bs, rt, bias, lens, seq, backwards, np.float32(clip), y, write_y, y_off,
                  y_ts, y_bs, h, acc)
