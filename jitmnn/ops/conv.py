"""Conv (ONNX opset 13, 1-D and 2-D NCHW with kernels; 3-D and up through the numpy reference) with a
fused activation attribute.

Algorithms: "gemm1x1" (1x1/stride 1/pad 0: one BLAS GEMM per image), "im2col" (any geometry and group:
im2col into a bounded column tile, BLAS GEMM per tile, fused bias+activation while the tile moves to
the output) and "depthwise" (direct kernel over a zero-padded plane). Winograd lives in
conv_winograd.py and reuses `conv_geometry`, `pack_bias`, `act_args`, `epilogue` and the cost helpers.

Weight layout: W [K, C/g, kh, kw] C-contiguous *is* the packed im2col/GEMM layout ([g][K/g][C/g*kh*kw]),
so a contiguous float32 weight (e.g. a read-only memmap of the .jmnn file) is used as-is, with no copy
(weight_bytes counts only the small bias copy); other dtypes/layouts are copied once at pack time and
counted. Depthwise copies its (small) weights so Numba sees one writable array type."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn import config as jconfig
from jitmnn.errors import ShapeError
from jitmnn.kernels import act as A
from jitmnn.kernels import conv as KC
from jitmnn.kernels import depthwise as KD
from jitmnn.kernels import epilogue as KE

from .registry import CONVERTS, Algorithm, OpDef, register_algorithm, register_op

# Cost model (microseconds), measured at 1 thread on this machine (2.5 GHz AVX-512 Xeon VM, noisy;
# benchmarks/conv_layers.py): BLAS sgemm reaches ~80 GFLOP/s on conv-sized GEMMs; im2col/epilogue are
# memory-bound at ~0.4 ns per element written; the depthwise kernel runs ~15 GFLOP/s on large maps plus
# ~0.15 us of fixed work per channel plane (what dominates 7x7/14x14 maps); a Python-level call ~2 us.
GEMM_GFLOPS = 80.0
NS_PER_COPIED_ELEMENT = 0.4
DEPTHWISE_GFLOPS = 15.0
DEPTHWISE_US_PER_PLANE = 0.15
# A GEMM streams its left operand (the weights) on every call, and OpenBLAS also packs it per call:
# ~3 GB/s effective on this VM (fitted: Winograd F(4,3) at 512@7 streams 37.7 MB of transformed weights
# and took 12-16 ms; copy bandwidth alone is ~10 GB/s). Narrow GEMMs (7x7 maps, Winograd's alpha^2
# small GEMMs) are bound by this, not by FLOPs.
GEMM_WEIGHT_STREAM_GBPS = 3.0
CALL_OVERHEAD_US = 2.0


# ----------------------------------------------------------------------------------------------------
# Geometry
@dataclass(frozen=True)
class ConvGeometry:
    """Conv geometry normalised to 2-D (a 1-D conv has H = kh = 1). pads = (top, left, bottom, right)."""

    N: int
    C: int
    H: int
    W: int
    K: int
    kh: int
    kw: int
    OH: int
    OW: int
    strides: tuple
    pads: tuple
    dilations: tuple
    group: int
    rank: int  # spatial rank of the original tensors (1 or 2)

    @property
    def Cg(self):
        return self.C // self.group

    @property
    def Kg(self):
        return self.K // self.group

    @property
    def P(self):
        return self.OH * self.OW

    @property
    def flops(self):
        return 2 * self.N * self.K * self.P * self.Cg * self.kh * self.kw

    @property
    def pointwise(self) -> bool:
        """A 1x1, stride-1, unpadded conv: its im2col columns are the input rows themselves."""
        return self.kh == 1 and self.kw == 1 and self.strides == (1, 1) and self.pads == (0, 0, 0, 0) \
            and self.dilations == (1, 1)


def _spatial_attrs(attrs, in_spatial, k_spatial):
    """kernel_shape/strides/dilations/pads for `len(in_spatial)` spatial dims, auto_pad resolved."""
    r = len(in_spatial)
    ks = tuple(int(v) for v in (attrs.get("kernel_shape") or k_spatial))
    strides = tuple(int(v) for v in (attrs.get("strides") or [1] * r))
    dil = tuple(int(v) for v in (attrs.get("dilations") or [1] * r))
    pads = attrs.get("pads")
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(in_spatial, ks, strides, dil):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        pads = begin + end
    elif auto_pad == "VALID" or not pads:
        pads = [0] * (2 * r)
    pads = tuple(int(v) for v in pads)
    if len(ks) != r or len(strides) != r or len(dil) != r or len(pads) != 2 * r:
        raise ShapeError(f"conv attributes do not match {r} spatial dims: kernel_shape={ks} strides={strides} "
                         f"dilations={dil} pads={pads}")
    if tuple(ks) != tuple(k_spatial):
        raise ShapeError(f"kernel_shape {ks} does not match the weight's spatial shape {tuple(k_spatial)}")
    if min(strides) < 1 or min(dil) < 1 or min(pads) < 0:
        raise ShapeError(f"strides {strides} / dilations {dil} must be >= 1 and pads {pads} >= 0")
    return ks, strides, dil, pads


def geometry(attrs, x_shape, w_shape) -> ConvGeometry:
    if len(x_shape) not in (3, 4) or len(w_shape) != len(x_shape):
        raise ShapeError(f"Conv supports 1-D and 2-D NC(H)W inputs with matching weights; got X {x_shape}, "
                         f"W {w_shape}")
    rank = len(x_shape) - 2
    N, C = int(x_shape[0]), int(x_shape[1])
    K, Cg = int(w_shape[0]), int(w_shape[1])
    group = int(attrs.get("group", 1))
    if group < 1 or C % group or K % group or Cg * group != C:
        raise ShapeError(f"group={group} does not fit X channels {C}, weight {tuple(w_shape)}")
    ks, strides, dil, pads = _spatial_attrs(attrs, x_shape[2:], w_shape[2:])
    out = []
    for i in range(rank):
        eff = (ks[i] - 1) * dil[i] + 1
        o = (int(x_shape[2 + i]) + pads[i] + pads[i + rank] - eff) // strides[i] + 1
        if o < 1:
            raise ShapeError(f"Conv output would be empty: input {tuple(x_shape)}, kernel {ks}, pads {pads}")
        out.append(o)
    if rank == 1:
        return ConvGeometry(N, C, 1, int(x_shape[2]), K, 1, ks[0], 1, out[0], (1, strides[0]),
                            (0, pads[0], 0, pads[1]), (1, dil[0]), group, 1)
    return ConvGeometry(N, C, int(x_shape[2]), int(x_shape[3]), K, ks[0], ks[1], out[0], out[1], strides,
                        pads, dil, group, 2)


def conv_geometry(ctx) -> ConvGeometry:
    """Geometry of the Conv node in `ctx` (N, C, H, W, K, kh, kw, OH, OW, strides, pads, dilations, group)."""
    return geometry(ctx.node.attrs, ctx.in_shapes[0], ctx.in_shapes[1])


def geometry_nd(attrs, x_shape, w_shape):
    """(kernel, strides, dilations, pads, output spatial shape) for any spatial rank."""
    if len(x_shape) < 3 or len(w_shape) != len(x_shape):
        raise ShapeError(f"Conv needs X (N, C, spatial...) and W of the same rank; got X {x_shape}, W {w_shape}")
    r = len(x_shape) - 2
    C, K, Cg = int(x_shape[1]), int(w_shape[0]), int(w_shape[1])
    group = int(attrs.get("group", 1))
    if group < 1 or C % group or K % group or Cg * group != C:
        raise ShapeError(f"group={group} does not fit X channels {C}, weight {tuple(w_shape)}")
    ks, strides, dil, pads = _spatial_attrs(attrs, x_shape[2:], w_shape[2:])
    out = tuple((int(x_shape[2 + i]) + pads[i] + pads[i + r] - (ks[i] - 1) * dil[i] - 1) // strides[i] + 1
                for i in range(r))
    if min(out) < 1:
        raise ShapeError(f"Conv output would be empty: input {tuple(x_shape)}, kernel {ks}, pads {pads}")
    return ks, strides, dil, pads, out


def is_plannable_2d(ctx) -> bool:
    """The kernels take 1-D and 2-D convs (1-D as height 1); 3-D and up run the numpy reference."""
    return ctx.in_shapes[0] is not None and len(ctx.in_shapes[0]) in (3, 4)


def _infer(node, shapes, dtypes, consts):
    x, w = shapes[0], shapes[1]
    if x is None or w is None:
        raise ShapeError("Conv needs X and W")
    if len(x) > 4:
        *_, out = geometry_nd(node.attrs, x, w)
        if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (int(w[0]),):
            raise ShapeError(f"Conv bias shape {tuple(shapes[2])} != ({int(w[0])},)")
        return [((int(x[0]), int(w[0])) + out, dtypes[0])]
    g = geometry(node.attrs, x, w)
    if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (g.K,):
        raise ShapeError(f"Conv bias shape {tuple(shapes[2])} != ({g.K},)")
    out = (g.N, g.K, g.OW) if g.rank == 1 else (g.N, g.K, g.OH, g.OW)
    return [(out, dtypes[0])]


# ----------------------------------------------------------------------------------------------------
# Reference (numpy; also the plan-time fold path)
def _reference_nd(node, x, w, b):
    """3-D and up: per kernel tap, a strided slice of the zero-padded input times the tap's weights."""
    ks, st, dl, pads, out = geometry_nd(node.attrs, x.shape, w.shape)
    r = len(ks)
    x = np.asarray(x, np.float32)
    w = np.asarray(w, np.float32)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((pads[i], pads[i + r]) for i in range(r)))
    group = int(node.attrs.get("group", 1))
    K, Cg = w.shape[:2]
    Kg = K // group
    y = np.zeros((x.shape[0], K) + out, np.float32)
    for gi in range(group):
        xs = xp[:, gi * Cg:(gi + 1) * Cg]
        for tap in np.ndindex(*ks):
            patch = xs[(slice(None), slice(None)) + tuple(
                slice(j * d, j * d + s * (o - 1) + 1, s) for j, d, s, o in zip(tap, dl, st, out))]
            wt = w[(slice(gi * Kg, (gi + 1) * Kg), slice(None)) + tap]
            y[:, gi * Kg:(gi + 1) * Kg] += np.tensordot(wt, patch, axes=([1], [1])).swapaxes(0, 1)
    if b is not None:
        y += np.asarray(b, np.float32).reshape((1, -1) + (1,) * r)
    return [A.numpy_apply(y, node.attrs.get("activation"), node.attrs.get("activation_params") or ())]


def _reference(node, inputs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    if np.ndim(x) > 4:
        return _reference_nd(node, x, w, b)
    g = geometry(node.attrs, x.shape, w.shape)
    x4 = np.asarray(x, np.float32).reshape(g.N, g.C, g.H, g.W)
    w4 = np.asarray(w, np.float32).reshape(g.K, g.Cg, g.kh, g.kw)
    pt, pl, pb, pr = g.pads
    xp = np.pad(x4, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    sh, sw = g.strides
    dh, dw = g.dilations
    y = np.zeros((g.N, g.K, g.OH, g.OW), np.float32)
    for gi in range(g.group):
        xs = xp[:, gi * g.Cg:(gi + 1) * g.Cg]
        ws = w4[gi * g.Kg:(gi + 1) * g.Kg]
        for i in range(g.kh):
            for j in range(g.kw):
                patch = xs[:, :, i * dh:i * dh + sh * (g.OH - 1) + 1:sh, j * dw:j * dw + sw * (g.OW - 1) + 1:sw]
                y[:, gi * g.Kg:(gi + 1) * g.Kg] += np.einsum("nchw,kc->nkhw", patch, ws[:, :, i, j])
    if b is not None:
        y += np.asarray(b, np.float32).reshape(1, -1, 1, 1)
    y = A.numpy_apply(y, node.attrs.get("activation"), node.attrs.get("activation_params") or ())
    return [np.asarray(y, np.float32).reshape(_infer(node, [x.shape, w.shape], [np.float32] * 2, [])[0][0])]


register_op(OpDef("Conv", _infer, _reference))


# ----------------------------------------------------------------------------------------------------
# Helpers shared with other conv-like algorithms (Winograd, ConvTranspose)
def const_value(v):
    """A plan-time constant as a numpy array (expanding a compressed tensor), or None."""
    if v is None:
        return None
    return np.asarray(v.to_float() if hasattr(v, "to_float") else v)


def act_args(ctx):
    """(code, p0, p1) of the node's fused activation, as kernels/act.py wants them."""
    name = ctx.node.attrs.get("activation")
    if isinstance(name, bytes):
        name = name.decode()
    params = list(ctx.node.attrs.get("activation_params") or []) + [0.0, 0.0]
    if name not in A.NAMES:
        raise ShapeError(f"unknown fused activation {name!r}")
    return A.NAMES[name], np.float32(params[0]), np.float32(params[1])


def has_bias(ctx) -> bool:
    return len(ctx.in_shapes) > 2 and ctx.in_shapes[2] is not None


def pack_bias(ctx, k: int):
    """Contiguous writable float32 bias of length k (zeros when absent): a small copy, always made so
    kernels see one array type. Returns None if the bias is a run-time tensor (read from inputs)."""
    if not has_bias(ctx):
        return np.zeros(k, np.float32)
    b = const_value(ctx.consts[2])
    return None if b is None else np.array(b, np.float32).reshape(k)


def bias_bytes(ctx) -> int:
    return 4 * int(ctx.out_shapes[0][1])


def run_bias(packed_bias, ins):
    """The bias for this run: the packed constant, or the run-time input (must be float32 contiguous)."""
    if packed_bias is not None:
        return packed_bias
    return np.ascontiguousarray(ins[2], np.float32)


def epilogue(src, dst, col0, bias, code, p0, p1):
    """dst[k, col0:col0+T] = act(src[k, :] + bias[k]); src may be dst (in place). 2-D float32 arrays."""
    KE.bias_act_rows(src, dst, col0, bias, code, p0, p1)


def gemm_cost_us(m, k, n, threads=1) -> float:
    """[m, k] @ [k, n]: the larger of FLOP time and the time to stream the [m, k] operand, plus a call."""
    flops = 2.0 * m * k * n / (GEMM_GFLOPS * 1e3 * max(1, min(threads, 2)) ** 0.9)
    stream = 4.0 * m * k / (GEMM_WEIGHT_STREAM_GBPS * 1e3)
    return max(flops, stream) + CALL_OVERHEAD_US


def compute_threads(ctx, macs: int) -> int:
    """Threads a conv-family kernel splits its work over: the session's num_threads with Numba's parallel kernels
    on, but none idle below GEMM_MIN_MACS_PER_THREAD multiply-adds each (MLAS's rule); else 1."""
    n = max(1, int(ctx.threads or 1))
    if n == 1 or not jconfig.NUMBA_PARALLEL_KERNELS:
        return 1
    return max(1, min(n, macs // jconfig.GEMM_MIN_MACS_PER_THREAD))


def copy_cost_us(elements) -> float:
    return elements * NS_PER_COPIED_ELEMENT / 1e3


def weight_is_const_f32(ctx) -> bool:
    return ctx.consts[1] is not None and ctx.in_dtypes[0] == np.float32 and is_plannable_2d(ctx)


def _weight_copy_bytes(ctx) -> int:
    """Bytes of the fp32 weight copy pack() makes: 0 if the stored weight is already contiguous fp32."""
    w = ctx.consts[1]
    if isinstance(w, np.ndarray) and w.dtype == np.float32 and w.flags.c_contiguous:
        return 0
    return 4 * int(np.prod(ctx.in_shapes[1]))


def _weight_f32(ctx):
    """The weight as contiguous float32: the stored array itself when possible (no copy)."""
    return np.ascontiguousarray(const_value(ctx.consts[1]), dtype=np.float32)


def _views4(g, x, y):
    """4-D views of X and Y (a 1-D conv gets H = 1)."""
    return x.reshape(g.N, g.C, g.H, g.W), y.reshape(g.N, g.K, g.OH, g.OW)


def _align(n: int) -> int:
    a = jconfig.ARENA_ALIGN
    return (n + a - 1) // a * a


# ----------------------------------------------------------------------------------------------------
# gemm1x1
def _applies_1x1(ctx):
    if not weight_is_const_f32(ctx):
        return False
    g = conv_geometry(ctx)
    return (g.kh == 1 and g.kw == 1 and g.strides == (1, 1) and g.pads == (0, 0, 0, 0) and g.group == 1)


def _pack_1x1(ctx):
    g = conv_geometry(ctx)
    return _weight_f32(ctx).reshape(g.K, g.C), pack_bias(ctx, g.K)


@dataclass(frozen=True)
class Activation:
    """A fused activation: kernels/act.py's code and its two float32 parameters."""

    code: int
    p0: np.float32
    p1: np.float32

    @classmethod
    def of(cls, ctx) -> "Activation":
        return cls(*act_args(ctx))


@dataclass(frozen=True)
class Gemm1x1Params:
    geometry: ConvGeometry
    act: Activation


def _setup_1x1(ctx):
    return Gemm1x1Params(conv_geometry(ctx), Activation.of(ctx))


def _run_1x1(packed, params: Gemm1x1Params, ins, outs, scratch):
    w, b = packed
    g, a = params.geometry, params.act
    bias = run_bias(b, ins)
    x4, y4 = _views4(g, ins[0], outs[0])
    for n in range(g.N):
        y2 = y4[n].reshape(g.K, g.P)
        np.matmul(w, x4[n].reshape(g.C, g.P), out=y2)
        KE.bias_act_rows(y2, y2, 0, bias, a.code, a.p0, a.p1)


def _cost_1x1(ctx):
    g = conv_geometry(ctx)
    return g.N * (gemm_cost_us(g.K, g.C, g.P, ctx.blas_threads) + copy_cost_us(g.K * g.P))


register_algorithm(Algorithm(
    "Conv", "gemm1x1", run=_run_1x1, cost=_cost_1x1, applies=_applies_1x1, pack=_pack_1x1, setup=_setup_1x1,
    weight_bytes=lambda ctx: _weight_copy_bytes(ctx) + bias_bytes(ctx),
    doc="1x1 stride-1 conv as one BLAS GEMM per image + fused bias/activation"))


# ----------------------------------------------------------------------------------------------------
# im2col (tiled)
def im2col_tile_columns(ctx, g: ConvGeometry) -> int:
    """Output columns per tile: the memory mode's tile, shrunk so the tile fits the scratch cap."""
    rows = g.Cg * g.kh * g.kw
    if ctx.config is not None and ctx.config.memory == "low":
        t = min(jconfig.IM2COL_TILE_COLUMNS_LOW, max(32, jconfig.IM2COL_TILE_BYTES_LOW // (4 * rows)))
    else:
        t = max(jconfig.IM2COL_TILE_COLUMNS, jconfig.IM2COL_TILE_BYTES // (4 * rows))
        t = min(t, max(16, jconfig.IM2COL_MAX_SCRATCH_BYTES_NORMAL // (4 * (rows + g.Kg))))
    if ctx.out_is_fp16():  # the fp32 tile output is scratch too: bound it, or fp16 storage saves nothing
        t = min(t, max(32, jconfig.IM2COL_TILE_BYTES // (4 * g.Kg)))
    return max(1, min(t, g.P))


def gemm_into_output(ctx, g: ConvGeometry, t: int) -> bool:
    """One tile covers the whole output and the output is float32: BLAS writes straight into it. Otherwise
    each tile's GEMM goes to an fp32 scratch tile that the epilogue moves (and rounds, for fp16) out."""
    return t >= g.P and not ctx.out_is_fp16()


def _im2col_scratch_layout(ctx):
    """(tile columns, cols bytes, tile-output bytes); no tile output when gemm_into_output."""
    g = conv_geometry(ctx)
    t = im2col_tile_columns(ctx, g)
    rows = g.Cg * g.kh * g.kw
    cols_b = _align(4 * rows * t)
    out_b = 0 if gemm_into_output(ctx, g, t) else _align(4 * g.Kg * t)
    return t, cols_b, out_b


def _applies_im2col(ctx):
    if not weight_is_const_f32(ctx):
        return False
    conv_geometry(ctx)
    return True


def _pack_im2col(ctx):
    g = conv_geometry(ctx)
    w = _weight_f32(ctx).reshape(g.group, g.Kg, g.Cg * g.kh * g.kw)
    return w, pack_bias(ctx, g.K)


@dataclass(frozen=True)
class Im2colParams:
    """tile_columns output pixels per GEMM; the im2col columns take the first cols_bytes of the scratch, the fp32
    tile output (unless gemm_into_output: BLAS writes the output directly) the rest."""

    geometry: ConvGeometry
    tile_columns: int
    cols_bytes: int
    gemm_into_output: bool
    act: Activation


def _setup_im2col(ctx):
    g = conv_geometry(ctx)
    t, cols_b, out_b = _im2col_scratch_layout(ctx)
    return Im2colParams(g, t, cols_b, gemm_into_output(ctx, g, t), Activation.of(ctx))


def _run_im2col(packed, params: Im2colParams, ins, outs, scratch):
    w, b = packed
    g, t, cols_b, direct = params.geometry, params.tile_columns, params.cols_bytes, params.gemm_into_output
    code, p0, p1 = params.act.code, params.act.p0, params.act.p1
    bias = run_bias(b, ins)
    x4, y4 = _views4(g, ins[0], outs[0])
    rows = g.Cg * g.kh * g.kw
    sh, sw = g.strides
    ph, pw = g.pads[0], g.pads[1]
    dh, dw = g.dilations
    P, Kg, Cg = g.P, g.Kg, g.Cg
    fbuf = scratch.view(np.float32)
    tile_out_base = fbuf[cols_b // 4:]
    for n in range(g.N):
        for gi in range(g.group):
            x3 = x4[n, gi * Cg:(gi + 1) * Cg]
            y2 = y4[n, gi * Kg:(gi + 1) * Kg].reshape(Kg, P)
            wg = w[gi]
            bg = bias[gi * Kg:(gi + 1) * Kg]
            for col0 in range(0, P, t):
                nc = min(t, P - col0)
                cols = fbuf[:rows * nc].reshape(rows, nc)
                KC.im2col_tile(x3, cols, col0, nc, g.OW, g.kh, g.kw, sh, sw, ph, pw, dh, dw)
                if direct:
                    np.matmul(wg, cols, out=y2)
                    KE.bias_act_rows(y2, y2, 0, bg, code, p0, p1)
                else:
                    tile = tile_out_base[:Kg * nc].reshape(Kg, nc)
                    np.matmul(wg, cols, out=tile)
                    KE.bias_act_rows(tile, y2, col0, bg, code, p0, p1)


def _cost_im2col(ctx):
    g = conv_geometry(ctx)
    t = im2col_tile_columns(ctx, g)
    rows = g.Cg * g.kh * g.kw
    tiles = g.N * g.group * -(-g.P // t)
    # GEMM efficiency drops for narrow tiles/small K: charge the per-call overhead per tile.
    gemm = g.N * g.group * (gemm_cost_us(g.Kg, rows, g.P, ctx.blas_threads) - CALL_OVERHEAD_US)
    return gemm + tiles * 2 * CALL_OVERHEAD_US + copy_cost_us(g.N * g.group * rows * g.P + g.N * g.K * g.P)


def _scratch_im2col(ctx):
    _, cols_b, out_b = _im2col_scratch_layout(ctx)
    return cols_b + out_b


register_algorithm(Algorithm(
    "Conv", "im2col", run=_run_im2col, cost=_cost_im2col, applies=_applies_im2col, pack=_pack_im2col,
    setup=_setup_im2col, scratch_bytes=_scratch_im2col,
    weight_bytes=lambda ctx: _weight_copy_bytes(ctx) + bias_bytes(ctx), fp16=CONVERTS,
    doc="im2col into a bounded column tile + BLAS GEMM per tile + fused bias/activation"))


# ----------------------------------------------------------------------------------------------------
# depthwise
def _applies_dw(ctx):
    if not weight_is_const_f32(ctx):
        return False
    g = conv_geometry(ctx)
    return g.group == g.C == g.K and g.C > 1 or (g.group == 1 and g.C == 1 and g.K == 1)


def _pad_plane_shape(g):
    """Zero-padded (and stride-phase-split) input plane covering every tap the output reads."""
    return KD.plane_shape(g.H, g.W, g.OH, g.OW, g.kh, g.kw, g.pads[0], g.pads[1], g.strides[0], g.strides[1],
                          g.dilations[0], g.dilations[1])


def _pack_dw(ctx):
    g = conv_geometry(ctx)
    return np.array(const_value(ctx.consts[1]), np.float32).reshape(g.C, g.kh, g.kw), pack_bias(ctx, g.K)


def _dw_threads(ctx) -> int:
    """Threads the channel planes are split over (each thread zero-pads its own plane)."""
    if not jconfig.NUMBA_PARALLEL_KERNELS:
        return 1
    g = conv_geometry(ctx)
    return max(1, min(int(ctx.threads or 1), g.N * g.C))


@dataclass(frozen=True)
class DepthwiseParams:
    geometry: ConvGeometry
    threads: int
    act: Activation


def _setup_dw(ctx):
    return DepthwiseParams(conv_geometry(ctx), _dw_threads(ctx), Activation.of(ctx))


def _run_dw(packed, params: DepthwiseParams, ins, outs, scratch):
    w, b = packed
    g, nt = params.geometry, params.threads
    kern = KD.depthwise_parallel if nt > 1 else KD.depthwise
    code, p0, p1 = params.act.code, params.act.p0, params.act.p1
    bias = run_bias(b, ins)
    x4, y4 = _views4(g, ins[0], outs[0])
    hp, wp = _pad_plane_shape(g)
    planes = scratch.view(np.float32)[:nt * hp * wp].reshape(nt, hp, wp)
    kern(x4, w, bias, y4, planes if nt > 1 else planes[0], g.pads[0], g.pads[1], g.strides[0], g.strides[1],
         g.dilations[0], g.dilations[1], code, p0, p1)


def _cost_dw(ctx):
    g = conv_geometry(ctx)
    work = g.flops / (DEPTHWISE_GFLOPS * 1e3) + copy_cost_us(g.N * g.C * g.H * g.W) + g.N * g.C * DEPTHWISE_US_PER_PLANE
    return work / _dw_threads(ctx) ** 0.9 + CALL_OVERHEAD_US


def _scratch_dw(ctx):
    hp, wp = _pad_plane_shape(conv_geometry(ctx))
    return _align(4 * hp * wp * _dw_threads(ctx))


register_algorithm(Algorithm(
    "Conv", "depthwise", run=_run_dw, cost=_cost_dw, applies=_applies_dw, pack=_pack_dw, setup=_setup_dw,
    scratch_bytes=_scratch_dw, weight_bytes=lambda ctx: 4 * int(np.prod(ctx.in_shapes[1])) + bias_bytes(ctx),
    fp16=CONVERTS,
    doc="depthwise direct: zero-padded plane in scratch + branch-free loop, fused bias/activation"))
