"""ConvTranspose (ONNX opset 13, any spatial rank) with the fused activation attribute. 1-D and 2-D run the
kernel below (1-D as 2-D with height 1); 3-D and output_shape geometries with negative padding run the
numpy reference.

Algorithm "gemm_col2im": per image and group, a BLAS GEMM cols[Kg*kh*kw, T] = W_g^T @ X_g[:, tile] over a
bounded tile of input pixels, then a Numba scatter-add (col2im) into the zeroed output, then the fused
bias+activation epilogue. W [C, K/g, kh, kw] C-contiguous already is the packed [g][Cg, Kg*kh*kw] layout,
so a contiguous float32 weight is used without a copy. (PP-OCRv4 det uses k=2, s=2, pad 0.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn import config as jconfig
from jitmnn.errors import ShapeError
from jitmnn.kernels import act as A
from jitmnn.kernels import conv as KC
from jitmnn.kernels import conv_gemm as KCG
from jitmnn.kernels import epilogue as KE

from .conv import (
    ConvGeometry,
    _align,
    act_args,
    bias_bytes,
    compute_threads,
    const_value,
    copy_cost_us,
    gemm_cost_us,
    pack_bias,
    run_bias,
)
from .registry import Algorithm, OpDef, register_algorithm, register_op


@dataclass(frozen=True)
class TransposeGeometry:
    """Any spatial rank. pads_begin/pads_end may be negative when output_shape asks for more (or less)
    output than the taps cover: the uncovered positions hold just the bias."""

    N: int
    C: int
    K: int
    group: int
    in_sp: tuple
    ks: tuple
    strides: tuple
    dilations: tuple
    pads_begin: tuple
    pads_end: tuple
    out_sp: tuple


def geometry_nd(attrs, x_shape, w_shape) -> TransposeGeometry:
    if x_shape is None or w_shape is None or len(x_shape) < 3 or len(w_shape) != len(x_shape):
        raise ShapeError(f"ConvTranspose needs X (N, C, spatial...) and W of the same rank; got X {x_shape}, "
                         f"W {w_shape}")
    r = len(x_shape) - 2
    N, C = int(x_shape[0]), int(x_shape[1])
    in_sp = tuple(int(v) for v in x_shape[2:])
    group = int(attrs.get("group", 1))
    if int(w_shape[0]) != C or group < 1 or C % group:
        raise ShapeError(f"ConvTranspose weight {tuple(w_shape)} / group {group} do not fit X channels {C}")
    K = int(w_shape[1]) * group
    ks = tuple(int(v) for v in (attrs.get("kernel_shape") or w_shape[2:]))
    if ks != tuple(int(v) for v in w_shape[2:]):
        raise ShapeError(f"kernel_shape {ks} does not match the weight's spatial shape {tuple(w_shape[2:])}")
    st = tuple(int(v) for v in (attrs.get("strides") or [1] * r))
    dl = tuple(int(v) for v in (attrs.get("dilations") or [1] * r))
    opad = tuple(int(v) for v in (attrs.get("output_padding") or [0] * r))
    if len(st) != r or len(dl) != r or len(opad) != r or min(st) < 1 or min(dl) < 1:
        raise ShapeError(f"ConvTranspose strides {st} / dilations {dl} / output_padding {opad} do not fit "
                         f"{r} spatial dims (or are < 1)")
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    out_shape = attrs.get("output_shape")
    if not out_shape and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [n * s for n, s in zip(in_sp, st)]
    full = [s * (n - 1) + op + (k - 1) * d + 1 for n, k, s, d, op in zip(in_sp, ks, st, dl, opad)]
    if out_shape:
        # ONNX: total_padding = full - output_shape, split with floor division (SAME_UPPER puts the odd
        # one at the end, NOTSET and SAME_LOWER at the start); a negative total extends the output.
        out_sp = tuple(int(v) for v in out_shape)[-r:]
        totals = [f - o for f, o in zip(full, out_sp)]
        if auto_pad == "SAME_UPPER":
            pb, pe = [t // 2 for t in totals], [t - t // 2 for t in totals]
        else:
            pb, pe = [t - t // 2 for t in totals], [t // 2 for t in totals]
    else:
        pads = [int(v) for v in (attrs.get("pads") or [0] * (2 * r))]
        if len(pads) != 2 * r or min(pads) < 0:
            raise ShapeError(f"ConvTranspose pads {pads} do not fit {r} spatial dims (or are negative)")
        pb, pe = pads[:r], pads[r:]
        out_sp = tuple(f - b - e for f, b, e in zip(full, pb, pe))
    if len(out_sp) != r or min(out_sp) < 1:
        raise ShapeError(f"ConvTranspose output {out_sp} from X {tuple(x_shape)}, W {tuple(w_shape)} is empty "
                         f"or of the wrong rank")
    return TransposeGeometry(N, C, K, group, in_sp, ks, st, dl, tuple(pb), tuple(pe), out_sp)


def _fits_2d(t: TransposeGeometry) -> bool:
    """The 2-D kernels take it: 1-D or 2-D, and pads the taps can reach (no negative padding)."""
    return len(t.in_sp) in (1, 2) and min(t.pads_begin + t.pads_end) >= 0


def geometry(attrs, x_shape, w_shape) -> ConvGeometry:
    """Geometry of the *forward* conv this op transposes, seen from the output side: C = input channels,
    K = output channels, (H, W) input size, (OH, OW) output size; pads are resolved (output_shape/auto_pad).
    A 1-D op is a 2-D one with height 1."""
    t = geometry_nd(attrs, x_shape, w_shape)
    if not _fits_2d(t):
        raise ShapeError(f"ConvTranspose kernels take 1-D/2-D geometries with non-negative pads; got X "
                         f"{tuple(x_shape)}, pads {t.pads_begin + t.pads_end}")
    if len(t.in_sp) == 1:
        return ConvGeometry(t.N, t.C, 1, t.in_sp[0], t.K, 1, t.ks[0], 1, t.out_sp[0], (1, t.strides[0]),
                            (0, t.pads_begin[0], 0, t.pads_end[0]), (1, t.dilations[0]), t.group, 1)
    return ConvGeometry(t.N, t.C, t.in_sp[0], t.in_sp[1], t.K, t.ks[0], t.ks[1], t.out_sp[0], t.out_sp[1],
                        t.strides, t.pads_begin + t.pads_end, t.dilations, t.group, 2)


def _geom(ctx):
    return geometry(ctx.node.attrs, ctx.in_shapes[0], ctx.in_shapes[1])


def _infer(node, shapes, dtypes, consts):
    t = geometry_nd(node.attrs, shapes[0], shapes[1])
    if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (t.K,):
        raise ShapeError(f"ConvTranspose bias shape {tuple(shapes[2])} != ({t.K},)")
    return [((t.N, t.K) + t.out_sp, dtypes[0])]


def _reference(node, inputs):
    """Any rank. Per kernel tap: one product over channels, strided-added into a buffer covering every
    position a tap reaches (widened when pads are negative), then cropped to the output."""
    x, w = np.asarray(inputs[0], np.float32), np.asarray(inputs[1], np.float32)
    b = inputs[2] if len(inputs) > 2 else None
    t = geometry_nd(node.attrs, x.shape, w.shape)
    r = len(t.in_sp)
    reach = [(n - 1) * s + (k - 1) * d + 1 for n, k, s, d in zip(t.in_sp, t.ks, t.strides, t.dilations)]
    lo = [max(0, -p) for p in t.pads_begin]  # zero margin before position 0 of the taps
    hi = [max(0, p + o - f) for p, o, f in zip(t.pads_begin, t.out_sp, reach)]
    full = np.zeros((t.N, t.K) + tuple(l + f + h for l, f, h in zip(lo, reach, hi)), np.float32)
    Cg, Kg = t.C // t.group, t.K // t.group
    for gi in range(t.group):
        xs = x[:, gi * Cg:(gi + 1) * Cg].reshape(t.N, Cg, -1)
        for tap in np.ndindex(*t.ks):
            contrib = np.einsum("ncp,ck->nkp", xs, w[(slice(gi * Cg, (gi + 1) * Cg), slice(None)) + tap])
            where = tuple(slice(l + j * d, l + j * d + s * (n - 1) + 1, s)
                          for l, j, d, s, n in zip(lo, tap, t.dilations, t.strides, t.in_sp))
            full[(slice(None), slice(gi * Kg, (gi + 1) * Kg)) + where] += contrib.reshape((t.N, Kg) + t.in_sp)
    y = full[(slice(None), slice(None)) + tuple(slice(l + p, l + p + o) for l, p, o in zip(lo, t.pads_begin, t.out_sp))]
    if b is not None:
        y = y + np.asarray(b, np.float32).reshape((1, -1) + (1,) * r)
    name = node.attrs.get("activation")
    y = A.numpy_apply(y, name.decode() if isinstance(name, bytes) else name, node.attrs.get("activation_params") or ())
    return [np.ascontiguousarray(y, np.float32)]


register_op(OpDef("ConvTranspose", _infer, _reference))


def _applies(ctx):
    if ctx.consts[1] is None or ctx.in_dtypes[0] != np.float32:
        return False
    return _fits_2d(geometry_nd(ctx.node.attrs, ctx.in_shapes[0], ctx.in_shapes[1]))


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


@dataclass(frozen=True)
class Col2imParams:
    """Forward-conv geometry, input pixels per GEMM tile, whether col2im adds (else stores), fused activation."""

    geometry: ConvGeometry
    tile_columns: int
    accumulate: bool  # taps overlap or leave gaps: zero the output, then scatter-add
    code: int
    p0: np.float32
    p1: np.float32


def _setup(ctx):
    g = _geom(ctx)
    return Col2imParams(g, _tile(ctx, g), not _tiles_exactly(g), *act_args(ctx))


def _run(packed, params: Col2imParams, ins, outs, scratch):
    w, b = packed
    g, t, accumulate = params.geometry, params.tile_columns, params.accumulate
    code, p0, p1 = params.code, params.p0, params.p1
    bias = run_bias(b, ins)
    x, y = ins[0].reshape(g.N, g.C, g.H, g.W), outs[0].reshape(g.N, g.K, g.OH, g.OW)  # 1-D: height 1
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
    return (g.N * g.group * gemm_cost_us(rows, g.Cg, hw, ctx.blas_threads)
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


# ----------------------------------------------------------------------------------------------------
# own_gemm: the upsampling case (kernel == stride) on jitmnn's micro-kernel, tiles of input pixels over threads
@dataclass(frozen=True)
class OwnGemmCol2imParams:
    """Input pixels per tile and the thread slots the tiles are dealt to (the scratch holds, per slot, a tile's
    columns, an edge panel and a micro-tile, then each channel's bias repeated per tap, which the GEMM adds)."""

    geometry: ConvGeometry
    tile_columns: int
    slots: int
    code: int
    p0: np.float32
    p1: np.float32


def _own_slots(ctx, g) -> int:
    return compute_threads(ctx, g.Kg * g.kh * g.kw * g.Cg * g.H * g.W)


def _own_applies(ctx):
    return _applies(ctx) and _tiles_exactly(_geom(ctx)) and not ctx.out_is_fp16() and not ctx.in_is_fp16()


def _own_tile(ctx, g, slots) -> int:
    t = _tile(ctx, g)
    tiles = -(-(-(-(g.H * g.W) // t)) // slots) * slots  # a multiple of the threads: equal shares
    return max(1, -(-(g.H * g.W) // tiles))


def _own_setup(ctx):
    g = _geom(ctx)
    slots = _own_slots(ctx, g)
    return OwnGemmCol2imParams(g, _own_tile(ctx, g, slots), slots, *act_args(ctx))


def _own_scratch_floats(g, t, slots):
    rows = g.Kg * g.kh * g.kw
    return slots * rows * t, slots * g.Cg * KCG.NR, slots * KCG.MR * KCG.NR, rows


def _own_scratch(ctx):
    g = _geom(ctx)
    slots = _own_slots(ctx, g)
    return sum(_align(4 * n) for n in _own_scratch_floats(g, _own_tile(ctx, g, slots), slots))


def _own_run(packed, params: OwnGemmCol2imParams, ins, outs, scratch):
    w, b = packed
    g, t, slots = params.geometry, params.tile_columns, params.slots
    bias = run_bias(b, ins)
    x, y = ins[0].reshape(g.N, g.C, g.H, g.W), outs[0].reshape(g.N, g.K, g.OH, g.OW)
    f = scratch.view(np.float32)
    views, at = [], 0
    for n in _own_scratch_floats(g, t, slots):
        views.append(f[at:at + n])
        at += _align(4 * n) // 4
    cols, edges, micros, bias_rows = views
    cols, edges, micros = cols.reshape(slots, -1), edges.reshape(slots, -1), micros.reshape(slots, -1)
    Cg, Kg = g.Cg, g.Kg
    for n in range(g.N):
        for gi in range(g.group):
            KCG.convt_tiles(x[n, gi * Cg:(gi + 1) * Cg], w[gi], bias[gi * Kg:(gi + 1) * Kg],
                            y[n, gi * Kg:(gi + 1) * Kg], cols, edges, micros, bias_rows, (g.kh, g.kw), t, params.code,
                            params.p0, params.p1)


def _own_cost(ctx):
    g = _geom(ctx)
    rows = g.Kg * g.kh * g.kw
    hw = g.H * g.W
    work = (g.N * g.group * gemm_cost_us(rows, g.Cg, hw, 1)
            + copy_cost_us(g.N * g.group * rows * hw + g.N * g.K * g.OH * g.OW))
    return work / _own_slots(ctx, g) ** 0.9


register_algorithm(Algorithm(
    "ConvTranspose", "own_gemm", run=_own_run, cost=_own_cost, applies=_own_applies, pack=_pack, setup=_own_setup,
    scratch_bytes=_own_scratch, weight_bytes=_weight_bytes,
    doc="upsampling ConvTranspose (kernel == stride): tiles of input pixels over threads, each W^T @ x on the "
        "own micro-kernel with bias/activation fused, each value moved once into the output"))
