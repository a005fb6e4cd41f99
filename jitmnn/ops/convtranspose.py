"""ConvTranspose (ONNX opset 13, 2-D NCHW) with the fused activation attribute.

Algorithm "gemm_col2im": per image and group, a BLAS GEMM cols[Kg*kh*kw, T] = W_g^T @ X_g[:, tile] over a
bounded tile of input pixels, then a Numba scatter-add (col2im) into the zeroed output, then the fused
bias+activation epilogue. W [C, K/g, kh, kw] C-contiguous already is the packed [g][Cg, Kg*kh*kw] layout,
so a contiguous float32 weight is used without a copy. (PP-OCRv4 det uses k=2, s=2, pad 0.)"""

from __future__ import annotations

import numpy as np

from jitmnn import config as jconfig
from jitmnn.errors import ShapeError
from jitmnn.kernels import act as A
from jitmnn.kernels import conv as KC
from jitmnn.kernels import epilogue as KE

from .conv import (
    ConvGeometry,
    _align,
    act_args,
    bias_bytes,
    const_value,
    copy_cost_us,
    gemm_cost_us,
    pack_bias,
    run_bias,
)
from .registry import Algorithm, OpDef, register_algorithm, register_op


def geometry(attrs, x_shape, w_shape) -> ConvGeometry:
    """Geometry of the *forward* conv this op transposes, seen from the output side: C = input channels,
    K = output channels, (H, W) input size, (OH, OW) output size; pads are resolved (output_shape/auto_pad)."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(f"ConvTranspose supports 2-D NCHW only; got X {tuple(x_shape)}, W {tuple(w_shape)}")
    N, C, H, W = (int(v) for v in x_shape)
    group = int(attrs.get("group", 1))
    if int(w_shape[0]) != C or group < 1 or C % group:
        raise ShapeError(f"ConvTranspose weight {tuple(w_shape)} / group {group} do not fit X channels {C}")
    K = int(w_shape[1]) * group
    ks = tuple(int(v) for v in (attrs.get("kernel_shape") or w_shape[2:]))
    if ks != tuple(int(v) for v in w_shape[2:]):
        raise ShapeError(f"kernel_shape {ks} does not match the weight's spatial shape {tuple(w_shape[2:])}")
    st = tuple(int(v) for v in (attrs.get("strides") or [1, 1]))
    dl = tuple(int(v) for v in (attrs.get("dilations") or [1, 1]))
    opad = tuple(int(v) for v in (attrs.get("output_padding") or [0, 0]))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    out_shape = attrs.get("output_shape")
    if not out_shape and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [H * st[0], W * st[1]]
    if out_shape:
        out_shape = [int(v) for v in out_shape][-2:]
        begin, end = [], []
        for size, k, s, d, op, o in zip((H, W), ks, st, dl, opad, out_shape):
            total = s * (size - 1) + op + (k - 1) * d + 1 - o
            if total < 0:
                raise ShapeError(f"ConvTranspose output_shape {out_shape} is larger than the input allows")
            if auto_pad == "SAME_UPPER":
                begin.append(total // 2)
                end.append(total - total // 2)
            else:
                begin.append(total - total // 2)
                end.append(total // 2)
        pads = tuple(begin + end)
        OH, OW = out_shape
    else:
        pads = tuple(int(v) for v in (attrs.get("pads") or [0, 0, 0, 0]))
        OH = (H - 1) * st[0] - pads[0] - pads[2] + (ks[0] - 1) * dl[0] + 1 + opad[0]
        OW = (W - 1) * st[1] - pads[1] - pads[3] + (ks[1] - 1) * dl[1] + 1 + opad[1]
    if len(pads) != 4 or min(pads) < 0 or min(st) < 1 or min(dl) < 1 or OH < 1 or OW < 1:
        raise ShapeError(f"ConvTranspose bad geometry: pads {pads} strides {st} dilations {dl} -> {OH}x{OW}")
    return ConvGeometry(N, C, H, W, K, ks[0], ks[1], OH, OW, st, pads, dl, group, 2)


def _geom(ctx):
    return geometry(ctx.node.attrs, ctx.in_shapes[0], ctx.in_shapes[1])


def _infer(node, shapes, dtypes, consts):
    g = geometry(node.attrs, shapes[0], shapes[1])
    if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (g.K,):
        raise ShapeError(f"ConvTranspose bias shape {tuple(shapes[2])} != ({g.K},)")
    return [((g.N, g.K, g.OH, g.OW), dtypes[0])]


def _reference(node, inputs):
    """Per kernel tap: one matmul over channels, strided-added into a padded-size output, then cropped."""
    x, w = np.asarray(inputs[0], np.float32), np.asarray(inputs[1], np.float32)
    b = inputs[2] if len(inputs) > 2 else None
    g = geometry(node.attrs, x.shape, w.shape)
    sh, sw = g.strides
    dh, dw = g.dilations
    pt, pl = g.pads[0], g.pads[1]
    full_h = max((g.H - 1) * sh + (g.kh - 1) * dh + 1, pt + g.OH)
    full_w = max((g.W - 1) * sw + (g.kw - 1) * dw + 1, pl + g.OW)
    full = np.zeros((g.N, g.K, full_h, full_w), np.float32)
    Cg, Kg = g.C // g.group, g.K // g.group
    for gi in range(g.group):
        xs = x[:, gi * Cg:(gi + 1) * Cg]
        for i in range(g.kh):
            for j in range(g.kw):
                contrib = np.einsum("nchw,ck->nkhw", xs, w[gi * Cg:(gi + 1) * Cg, :, i, j])
                full[:, gi * Kg:(gi + 1) * Kg, i * dh:i * dh + sh * (g.H - 1) + 1:sh,
                     j * dw:j * dw + sw * (g.W - 1) + 1:sw] += contrib
    y = full[:, :, pt:pt + g.OH, pl:pl + g.OW]
    if b is not None:
        y = y + np.asarray(b, np.float32).reshape(1, -1, 1, 1)
    name = node.attrs.get("activation")
    y = A.numpy_apply(y, name.decode() if isinstance(name, bytes) else name, node.attrs.get("activation_params") or ())
    return [np.ascontiguousarray(y, np.float32)]


register_op(OpDef("ConvTranspose", _infer, _reference))


def _applies(ctx):
    if ctx.consts[1] is None or ctx.in_dtypes[0] != np.float32:
        return False
    _geom(ctx)
    return True


def _tile(ctx, g) -> int:
    rows = g.Kg * g.kh * g.kw
    if ctx.config is not None and ctx.config.memory == "low":
        t = jconfig.IM2COL_TILE_COLUMNS_LOW
    else:
        t = max(jconfig.IM2COL_TILE_COLUMNS, jconfig.IM2COL_TILE_BYTES // (4 * rows))
        t = min(t, max(16, jconfig.IM2COL_MAX_SCRATCH_BYTES_NORMAL // (4 * rows)))
    return max(1, min(t, g.H * g.W))


def _pack(ctx):
    g = _geom(ctx)
    w = np.ascontiguousarray(const_value(ctx.consts[1]), dtype=np.float32)
    return w.reshape(g.group, g.Cg, g.Kg * g.kh * g.kw), pack_bias(ctx, g.K)


def _tiles_exactly(g) -> bool:
    """Every output pixel is written by exactly one (input pixel, tap): kernel == stride, no dilation,
    no padding and an output of exactly H*s x W*s (PP-OCR's 2x2/2 upsampler). Then no zeroing or adds."""
    return (g.kh == g.strides[0] and g.kw == g.strides[1] and g.dilations == (1, 1)
            and g.pads == (0, 0, 0, 0) and g.OH == g.H * g.kh and g.OW == g.W * g.kw)


def _setup(ctx):
    g = _geom(ctx)
    return (g, _tile(ctx, g), not _tiles_exactly(g)) + act_args(ctx)


def _run(packed, params, ins, outs, scratch):
    w, b = packed
    g, t, accumulate, code, p0, p1 = params
    bias = run_bias(b, ins)
    x, y = ins[0], outs[0]
    Cg, Kg, HW = g.Cg, g.Kg, g.H * g.W
    rows = Kg * g.kh * g.kw
    fbuf = scratch.view(np.float32)
    sh, sw = g.strides
    dh, dw = g.dilations
    ph, pw = g.pads[0], g.pads[1]
    if accumulate:
        y.fill(0.0)
    for n in range(g.N):
        for gi in range(g.group):
            x2 = x[n, gi * Cg:(gi + 1) * Cg].reshape(Cg, HW)
            y3 = y[n, gi * Kg:(gi + 1) * Kg]
            wt = w[gi].T
            for col0 in range(0, HW, t):
                nc = min(t, HW - col0)
                cols = fbuf[:rows * nc].reshape(rows, nc)
                np.matmul(wt, x2[:, col0:col0 + nc], out=cols)
                KC.col2im_tile(cols, y3, col0, nc, g.W, g.kh, g.kw, sh, sw, ph, pw, dh, dw, accumulate)
            y2 = y3.reshape(Kg, g.OH * g.OW)
            KE.bias_act_rows(y2, y2, 0, bias[gi * Kg:(gi + 1) * Kg], code, p0, p1)


def _cost(ctx):
    g = _geom(ctx)
    rows = g.Kg * g.kh * g.kw
    hw = g.H * g.W
    return (g.N * g.group * gemm_cost_us(rows, g.Cg, hw, ctx.threads)
            + copy_cost_us(g.N * g.group * rows * hw + 2 * g.N * g.K * g.OH * g.OW))


def _scratch(ctx):
    g = _geom(ctx)
    return _align(4 * g.Kg * g.kh * g.kw * _tile(ctx, g))


def _weight_bytes(ctx):
    w = ctx.consts[1]
    copy = 0 if isinstance(w, np.ndarray) and w.dtype == np.float32 and w.flags.c_contiguous \
        else 4 * int(np.prod(ctx.in_shapes[1]))
    return copy + bias_bytes(ctx)


register_algorithm(Algorithm(
    "ConvTranspose", "gemm_col2im", run=_run, cost=_cost, applies=_applies, pack=_pack, setup=_setup,
    scratch_bytes=_scratch, weight_bytes=_weight_bytes,
    doc="BLAS GEMM per input-pixel tile + col2im scatter-add + fused bias/activation"))
