"""Standalone ONNX ops with no family of their own, on numpy: AffineGrid, MaxUnpool, TfIdfVectorizer (integer
input), BitCast, TensorScatter, SwiGLU, LinearAttention, CausalConvWithState and ai.onnx.preview's
FlexAttention.

None has a Numba kernel: they are either data movement (BitCast is a view, TensorScatter and MaxUnpool are
copies), small (AffineGrid, SwiGLU), or batched matrix products numpy already runs at BLAS speed
(FlexAttention, the recurrences of LinearAttention and the taps of CausalConvWithState loop over time or
taps in Python but vectorise over batch, heads and channels). Float arithmetic runs in float64, except
LinearAttention's state (float32, as ONNX's reference keeps it) and FlexAttention (softmax_precision), and
is rounded once to the output dtype.

FlexAttention's score_mod/prob_mod bodies arrive either as the importer's pass-through _Subgraph (bodies
that read no enclosing-graph value) or base64-encoded with `outer_inputs`/`opset`, the form the If/Loop
converter writes; only the latter can be saved to a .jmnn file (attributes there are JSON)."""

from __future__ import annotations

import base64

import numpy as np

from ..converter.onnx_import import ONNX_DTYPES
from ..errors import InputError, ShapeError
from . import _util as U
from ._dtypes import Lazy
from ._dtypes import ml as ml_dtypes
from .registry import OpDef, register_op


def _optional(node, x, i):
    """Input i's value, or None when the node omits it."""
    if not U.has_input(node, i) or len(x) <= i or x[i] is None:
        return None
    return np.asarray(x[i])


def _given(node, shapes, i) -> bool:
    return U.has_input(node, i) and len(shapes) > i and shapes[i] is not None


def _str_attr(node, key, default) -> str:
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def _sigmoid(v):
    return 0.5 * (1.0 + np.tanh(0.5 * v))  # no overflow warning for large negative v


# ----- AffineGrid --------------------------------------------------------------------------------------
def _affine_spatial(theta_shape, size) -> tuple:
    size = [int(v) for v in np.asarray(size).reshape(-1)]
    if len(size) not in (4, 5):
        raise ShapeError(f"AffineGrid size must be (N, C, H, W) or (N, C, D, H, W), got {size}")
    r = len(size) - 2
    if tuple(theta_shape) != (size[0], r, r + 1):
        raise ShapeError(f"AffineGrid theta {tuple(theta_shape)} does not match size {size}: expected "
                         f"({size[0]}, {r}, {r + 1})")
    if min(size[2:]) < 1:
        raise ShapeError(f"AffineGrid size {size} has an empty spatial dimension")
    return tuple(size[2:])


def _infer_affine_grid(node, shapes, dtypes, consts):
    spatial = _affine_spatial(shapes[0], U.const_input(consts, 1, "AffineGrid size"))
    return [((shapes[0][0],) + spatial + (len(spatial),), dtypes[0])]


def _affine_base(n: int, align_corners: int) -> np.ndarray:
    """n evenly spaced positions in [-1, 1]: pixel centres (align_corners=0) or corner-to-corner."""
    i = np.arange(n, dtype=np.float64)
    if align_corners:
        return -1.0 + 2.0 * i / (n - 1) if n > 1 else np.full(1, -1.0)
    return (2.0 * i + 1.0) / n - 1.0


def _ref_affine_grid(node, x):
    theta = np.asarray(x[0])
    spatial = _affine_spatial(theta.shape, x[1])
    align = int(node.attrs.get("align_corners", 0))
    mesh = np.meshgrid(*[_affine_base(n, align) for n in spatial], indexing="ij")  # (D,) H, W order
    points = np.stack([*mesh[::-1], np.ones(spatial)], axis=-1)  # homogeneous (x, y[, z], 1)
    grid = np.einsum("nij,...j->n...i", theta.astype(np.float64), points)
    return [grid.astype(theta.dtype)]


register_op(OpDef("AffineGrid", _infer_affine_grid, _ref_affine_grid))


# ----- MaxUnpool ---------------------------------------------------------------------------------------
def _unpool_shape(node, x_shape):
    """The shape MaxPool's indices refer to: (in - 1) * stride - pads + kernel per spatial axis."""
    r = len(x_shape) - 2
    kernel = node.attrs.get("kernel_shape")
    if r < 1 or kernel is None or len(kernel) != r:
        raise ShapeError(f"MaxUnpool needs kernel_shape with one entry per spatial axis of {tuple(x_shape)}")
    strides = node.attrs.get("strides") or [1] * r
    pads = node.attrs.get("pads") or [0] * (2 * r)
    if len(strides) != r or len(pads) != 2 * r:
        raise ShapeError(f"MaxUnpool strides {strides} / pads {pads} do not match {r} spatial axes")
    spatial = [(int(x_shape[2 + i]) - 1) * int(strides[i]) - int(pads[i]) - int(pads[r + i]) + int(kernel[i])
               for i in range(r)]
    if min(spatial) < 1:
        raise ShapeError(f"MaxUnpool output spatial size {spatial} is not positive")
    return tuple(x_shape[:2]) + tuple(spatial)


def _unpool_out(node, base, requested):
    if requested is None:
        return base
    out = tuple(int(v) for v in np.asarray(requested).reshape(-1))
    if len(out) != len(base) or out[:2] != base[:2] or any(o < b for o, b in zip(out, base)):
        raise ShapeError(f"MaxUnpool output_shape {out} must keep N, C of {base[:2]} and be at least the "
                         f"unpooled size {base}")
    return out


def _infer_max_unpool(node, shapes, dtypes, consts):
    if tuple(shapes[1]) != tuple(shapes[0]):
        raise ShapeError(f"MaxUnpool indices {tuple(shapes[1])} must have the shape of X {tuple(shapes[0])}")
    base = _unpool_shape(node, shapes[0])
    requested = U.const_input(consts, 2, "MaxUnpool output_shape") if U.has_input(node, 2) else None
    return [(_unpool_out(node, base, requested), dtypes[0])]


def _ref_max_unpool(node, x):
    """Scatter X to the flat positions in I of the unpooled tensor; a larger output_shape pads it at the
    end of each spatial axis (the indices keep referring to the unpooled size, as ONNX's test data has it).
    Repeated indices (overlapping pool windows) keep one of their values, as in every runtime."""
    data, idx = np.asarray(x[0]), np.asarray(x[1]).astype(np.int64)
    base = _unpool_shape(node, data.shape)
    out_shape = _unpool_out(node, base, _optional(node, x, 2))
    total = int(np.prod(base))
    if idx.size and (idx.min() < 0 or idx.max() >= total):
        raise InputError(f"MaxUnpool indices {idx.min()}..{idx.max()} are outside 0..{total - 1}")
    flat = np.zeros(total, data.dtype)
    flat[idx.reshape(-1)] = data.reshape(-1)
    out = np.zeros(out_shape, data.dtype)
    out[tuple(slice(0, n) for n in base)] = flat.reshape(base)
    return [out]


register_op(OpDef("MaxUnpool", _infer_max_unpool, _ref_max_unpool))


# ----- TfIdfVectorizer ---------------------------------------------------------------------------------
_TFIDF_MODES = ("TF", "IDF", "TFIDF")


def _tfidf_config(node):
    """(mode, min_n, max_n, max_skip, {n-gram tuple: output column}, output size), checked."""
    a = node.attrs
    if a.get("pool_strings") is not None:
        raise ShapeError(f"TfIdfVectorizer {node.name!r}: pool_strings (string input) is not supported; "
                         "jitmnn holds no string tensors")
    mode = _str_attr(node, "mode", "")
    if mode not in _TFIDF_MODES:
        raise ShapeError(f"TfIdfVectorizer mode {mode!r} is not one of {_TFIDF_MODES}")
    try:
        min_n, max_n, skip = int(a["min_gram_length"]), int(a["max_gram_length"]), int(a["max_skip_count"])
        pool, starts, columns = list(a["pool_int64s"]), list(a["ngram_counts"]), list(a["ngram_indexes"])
    except KeyError as e:
        raise ShapeError(f"TfIdfVectorizer {node.name!r} lacks attribute {e.args[0]}") from None
    if not 1 <= min_n <= max_n or skip < 0 or not columns or min(columns) < 0:
        raise ShapeError(f"TfIdfVectorizer min/max_gram_length {min_n}/{max_n}, max_skip_count {skip} or "
                         f"ngram_indexes are invalid")
    table, k = {}, 0  # k counts n-grams over the whole pool, so it indexes ngram_indexes
    for i, start in enumerate(starts):
        n, end = i + 1, starts[i + 1] if i + 1 < len(starts) else len(pool)
        for j in range(start, end - n + 1, n):
            if min_n <= n <= max_n:
                if k >= len(columns):
                    raise ShapeError("TfIdfVectorizer pool holds more n-grams than ngram_indexes")
                table[tuple(pool[j:j + n])] = int(columns[k])
            k += 1
    return mode, min_n, max_n, skip, table, max(columns) + 1


def _infer_tfidf(node, shapes, dtypes, consts):
    size = _tfidf_config(node)[-1]
    shape = tuple(shapes[0])
    if np.dtype(dtypes[0]) not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ShapeError(f"TfIdfVectorizer takes int32 or int64 input, got {np.dtype(dtypes[0])}")
    if len(shape) > 2:
        raise ShapeError(f"TfIdfVectorizer input must be [C] or [N, C], got {shape}")
    return [((shape[0], size) if len(shape) == 2 else (size,), np.float32)]


def _ref_tfidf(node, x):
    """Counts every pool n-gram whose items sit d apart (d = 1 .. max_skip_count + 1; 1-grams once). IDF and
    TFIDF scale by weights[column], indexed by output column as ONNX Runtime and ONNX's reference do."""
    mode, min_n, max_n, skip, table, size = _tfidf_config(node)
    data = np.asarray(x[0])
    rows = data.reshape(1, -1) if data.ndim < 2 else data
    counts = np.zeros((rows.shape[0], size), np.float64)
    for r, row in enumerate(rows.tolist()):
        for d in range(1, skip + 2):
            first_n = min_n if d == 1 else max(min_n, 2)
            for s in range(len(row)):
                for n in range(first_n, max_n + 1):
                    if s + (n - 1) * d >= len(row):
                        break
                    col = table.get(tuple(row[s:s + (n - 1) * d + 1:d]))
                    if col is not None:
                        counts[r, col] += 1
    weights = node.attrs.get("weights")
    w = np.asarray(weights, np.float64) if weights else np.ones(size)
    if len(w) < size:
        raise ShapeError(f"TfIdfVectorizer has {len(w)} weights for {size} output columns")
    if mode == "IDF":
        counts = (counts > 0) * w[:size]
    elif mode == "TFIDF":
        counts = counts * w[:size]
    out = counts.astype(np.float32)
    return [out if data.ndim == 2 else out.reshape(size)]


register_op(OpDef("TfIdfVectorizer", _infer_tfidf, _ref_tfidf))


# ----- BitCast -----------------------------------------------------------------------------------------
# ml_dtypes stores these in a byte each, so a byte view would not reinterpret their bits.
_SUB_BYTE = Lazy(lambda: frozenset(np.dtype(getattr(ml_dtypes, n))
                                   for n in ("int4", "uint4", "int2", "uint2", "float4_e2m1fn")))


def _bitcast_target(node, src) -> np.dtype:
    to = node.attrs.get("to")
    name = ONNX_DTYPES.get(int(to)) if to is not None else None
    if name is None:
        raise ShapeError(f"BitCast attribute to={to} is not an ONNX type jitmnn holds")
    target = np.dtype(getattr(ml_dtypes, name, None) or name)
    src = np.dtype(src)
    if src in _SUB_BYTE or target in _SUB_BYTE:
        raise ShapeError(f"BitCast {node.name!r}: {src} -> {target} involves a 4-/2-bit type, not supported")
    if src.itemsize != target.itemsize:
        raise ShapeError(f"BitCast from {src} ({8 * src.itemsize} bits) to {target} ({8 * target.itemsize} bits): "
                         "the bit widths differ")
    return target


def _infer_bitcast(node, shapes, dtypes, consts):
    return [(tuple(shapes[0]), _bitcast_target(node, dtypes[0]))]


def _ref_bitcast(node, x):
    a = np.ascontiguousarray(x[0])
    return [a.view(_bitcast_target(node, a.dtype)).copy()]


register_op(OpDef("BitCast", _infer_bitcast, _ref_bitcast))


# ----- TensorScatter -----------------------------------------------------------------------------------
def _scatter_axis(node, past, update) -> int:
    rank = len(past)
    axis = U.norm_axis(int(node.attrs.get("axis", -2)), rank, "TensorScatter axis")
    if axis == 0:
        raise ShapeError("TensorScatter axis cannot be 0 (the batch dimension)")
    if len(update) != rank or any(u != p for i, (u, p) in enumerate(zip(update, past)) if i != axis) \
            or update[axis] > past[axis]:
        raise ShapeError(f"TensorScatter update {tuple(update)} must match past_cache {tuple(past)} except on "
                         f"axis {axis}, where it may not be longer")
    mode = _str_attr(node, "mode", "linear")
    if mode not in ("linear", "circular"):
        raise ShapeError(f"TensorScatter mode {mode!r} is not 'linear' or 'circular'")
    return axis


def _infer_tensor_scatter(node, shapes, dtypes, consts):
    _scatter_axis(node, shapes[0], shapes[1])
    if _given(node, shapes, 2) and tuple(shapes[2]) != (shapes[0][0],):
        raise ShapeError(f"TensorScatter write_indices {tuple(shapes[2])} must be ({shapes[0][0]},)")
    return [(tuple(shapes[0]), dtypes[0])]


def _ref_tensor_scatter(node, x):
    past, update = np.asarray(x[0]), np.asarray(x[1])
    axis = _scatter_axis(node, past.shape, update.shape)
    circular = _str_attr(node, "mode", "linear") == "circular"
    starts = _optional(node, x, 2)
    size, n = past.shape[axis], update.shape[axis]
    out = past.copy()
    for b in range(past.shape[0]):
        start = int(starts.reshape(-1)[b]) if starts is not None else 0
        pos = start + np.arange(n)
        if circular:
            pos %= size
        elif n and (start < 0 or pos[-1] >= size):
            raise InputError(f"TensorScatter (linear) writes positions {start}..{start + n - 1} of batch {b} "
                             f"into a cache of {size}")
        row = out[b]  # a view; one index array keeps its place among the slices
        row[(slice(None),) * (axis - 1) + (pos,)] = update[b]
    return [out]


register_op(OpDef("TensorScatter", _infer_tensor_scatter, _ref_tensor_scatter))


# ----- SwiGLU ------------------------------------------------------------------------------------------
def _infer_swiglu(node, shapes, dtypes, consts):
    if tuple(shapes[0]) != tuple(shapes[1]):
        raise ShapeError(f"SwiGLU A {tuple(shapes[0])} and B {tuple(shapes[1])} must have the same shape")
    return [(tuple(shapes[0]), dtypes[0])]


def _ref_swiglu(node, x):
    a, b = np.asarray(x[0]), np.asarray(x[1])
    alpha = float(node.attrs.get("alpha", 1.0))
    a64 = a.astype(np.float64)
    return [(a64 * _sigmoid(alpha * a64) * b.astype(np.float64)).astype(a.dtype)]


register_op(OpDef("SwiGLU", _infer_swiglu, _ref_swiglu))


# ----- LinearAttention ---------------------------------------------------------------------------------
_LA_RULES = ("linear", "gated", "delta", "gated_delta")


def _la_dims(node, shapes):
    """(batch, T, hq, hkv, dk, dv, rule, gated, delta), checked against every given input."""
    rule = _str_attr(node, "update_rule", "gated_delta")
    if rule not in _LA_RULES:
        raise ShapeError(f"LinearAttention update_rule {rule!r} is not one of {_LA_RULES}")
    if "q_num_heads" not in node.attrs or "kv_num_heads" not in node.attrs:
        raise ShapeError("LinearAttention needs the q_num_heads and kv_num_heads attributes")
    hq, hkv = int(node.attrs["q_num_heads"]), int(node.attrs["kv_num_heads"])
    q, k, v = (tuple(s) for s in shapes[:3])
    if len(q) != 3 or len(k) != 3 or len(v) != 3:
        raise ShapeError(f"LinearAttention query/key/value must be 3-D (B, T, H*D), got {q}, {k}, {v}")
    if hq <= 0 or hkv <= 0 or hq % hkv or q[2] % hq or v[2] % hkv:
        raise ShapeError(f"LinearAttention q_num_heads={hq}, kv_num_heads={hkv} do not divide the hidden "
                         f"sizes {q[2]}, {v[2]} (or q_num_heads is not a multiple of kv_num_heads)")
    batch, t, dk, dv = q[0], q[1], q[2] // hq, v[2] // hkv
    if k != (batch, t, hkv * dk) or v[:2] != (batch, t):
        raise ShapeError(f"LinearAttention key {k} / value {v} do not match query {q} with {hkv} kv heads")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    for i, name, needed, lasts in ((4, "decay", gated, (hkv, hkv * dk)), (5, "beta", delta, (hkv, 1))):
        if _given(node, shapes, i) != needed:
            raise ShapeError(f"LinearAttention update_rule {rule!r} {'needs' if needed else 'takes no'} {name}")
        if needed and (len(shapes[i]) != 3 or tuple(shapes[i][:2]) != (batch, t) or shapes[i][2] not in lasts):
            raise ShapeError(f"LinearAttention {name} {tuple(shapes[i])} must be ({batch}, {t}, one of {lasts})")
    if _given(node, shapes, 3) and tuple(shapes[3]) != (batch, hkv, dk, dv):
        raise ShapeError(f"LinearAttention past_state {tuple(shapes[3])} must be {(batch, hkv, dk, dv)}")
    return batch, t, hq, hkv, dk, dv, gated, delta


def _infer_linear_attention(node, shapes, dtypes, consts):
    batch, t, hq, hkv, dk, dv, _, _ = _la_dims(node, shapes)
    state_dtype = dtypes[3] if _given(node, shapes, 3) else dtypes[0]
    outs = [((batch, t, hq * dv), dtypes[0]), ((batch, hkv, dk, dv), state_dtype)]
    return outs[:max(1, len(node.outputs))]


def _heads(a, heads):
    """(B, T, H*D) -> (B, H, T, D) in float32."""
    b, t, hd = a.shape
    return a.astype(np.float32).reshape(b, t, heads, hd // heads).transpose(0, 2, 1, 3)


def _ref_linear_attention(node, x):
    """The recurrence token by token with a float32 state: decay (exp g), delta correction
    beta * (v - S^T k) against the decayed state, the outer-product write, and the read q^T S shared by
    the q_num_heads / kv_num_heads query heads of each KV head."""
    shapes = [None if v is None else np.shape(v) for v in x]
    batch, t, hq, hkv, dk, dv, gated, delta = _la_dims(node, shapes)
    q, k, v = _heads(np.asarray(x[0]), hq), _heads(np.asarray(x[1]), hkv), _heads(np.asarray(x[2]), hkv)
    past = _optional(node, x, 3)
    state = np.zeros((batch, hkv, dk, dv), np.float32) if past is None else past.astype(np.float32)
    decay, beta = _optional(node, x, 4), _optional(node, x, 5)
    if gated:  # (B, Hkv, T, dk or 1)
        decay = _heads(decay, hkv) if decay.shape[2] == hkv * dk else \
            decay.astype(np.float32).transpose(0, 2, 1)[..., None]
    if delta:  # (B, Hkv or 1, T, 1)
        beta = beta.astype(np.float32).transpose(0, 2, 1)[..., None]
    scale = float(node.attrs.get("scale", 0.0)) or 1.0 / np.sqrt(dk)
    group = hq // hkv
    out = np.zeros((batch, hq, t, dv), np.float32)
    for i in range(t):
        if gated:
            state = state * np.exp(decay[:, :, i, :])[..., None]
        vi = v[:, :, i, :]
        if delta:
            vi = beta[:, :, i, :] * (vi - np.einsum("bhkv,bhk->bhv", state, k[:, :, i, :]))
        state = state + k[:, :, i, :, None] * vi[:, :, None, :]
        qi = q[:, :, i, :].reshape(batch, hkv, group, dk)
        out[:, :, i, :] = scale * np.einsum("bhgk,bhkv->bhgv", qi, state).reshape(batch, hq, dv)
    y = out.transpose(0, 2, 1, 3).reshape(batch, t, hq * dv).astype(np.asarray(x[0]).dtype)
    state_dtype = past.dtype if past is not None else np.asarray(x[0]).dtype
    return [y, state.astype(state_dtype)][:max(1, len(node.outputs))]


register_op(OpDef("LinearAttention", _infer_linear_attention, _ref_linear_attention))


# ----- CausalConvWithState -----------------------------------------------------------------------------
def _ccws_check(node, shapes):
    """(batch, channels, length, k), checked."""
    act = _str_attr(node, "activation", "none")
    if act not in ("none", "silu", "swish"):
        raise ShapeError(f"CausalConvWithState activation {act!r} is not 'none', 'silu' or 'swish'")
    x, w = tuple(shapes[0]), tuple(shapes[1])
    if len(x) != 3 or len(w) != 3 or w[0] != x[1] or w[1] != 1 or w[2] < 1:
        raise ShapeError(f"CausalConvWithState needs input (B, C, L) and weight (C, 1, k), got {x} and {w}")
    batch, channels, length, k = x[0], x[1], x[2], w[2]
    if _given(node, shapes, 2) and tuple(shapes[2]) != (channels,):
        raise ShapeError(f"CausalConvWithState bias {tuple(shapes[2])} must be ({channels},)")
    if _given(node, shapes, 3) and tuple(shapes[3]) != (batch, channels, k - 1):
        raise ShapeError(f"CausalConvWithState past_state {tuple(shapes[3])} must be {(batch, channels, k - 1)}")
    return batch, channels, length, k


def _infer_ccws(node, shapes, dtypes, consts):
    batch, channels, length, k = _ccws_check(node, shapes)
    outs = [((batch, channels, length), dtypes[0]), ((batch, channels, k - 1), dtypes[0])]
    return outs[:max(1, len(node.outputs))]


def _ref_ccws(node, x):
    data = np.asarray(x[0])
    batch, channels, length, k = _ccws_check(node, [None if v is None else np.shape(v) for v in x])
    past = _optional(node, x, 3)
    past = np.zeros((batch, channels, k - 1), data.dtype) if past is None else past.astype(data.dtype)
    padded = np.concatenate([past, data], axis=2)  # (B, C, k - 1 + L)
    p64, w = padded.astype(np.float64), np.asarray(x[1], np.float64)[:, 0, :]
    y = np.zeros((batch, channels, length), np.float64)
    for j in range(k):  # tap j sees position t + j of the padded sequence
        y += w[None, :, j, None] * p64[:, :, j:j + length]
    bias = _optional(node, x, 2)
    if bias is not None:
        y += bias.astype(np.float64)[None, :, None]
    if _str_attr(node, "activation", "none") != "none":
        y = y * _sigmoid(y)
    state = padded[:, :, padded.shape[2] - (k - 1):]
    return [y.astype(data.dtype), np.ascontiguousarray(state)][:max(1, len(node.outputs))]


register_op(OpDef("CausalConvWithState", _infer_ccws, _ref_ccws))


# ----- ai.onnx.preview::FlexAttention ------------------------------------------------------------------
FLEX = "ai.onnx.preview::FlexAttention"
_SOFTMAX_PRECISIONS = Lazy(lambda: {1: np.float32, 10: np.float16, 11: np.float64, 16: ml_dtypes.bfloat16})
# The default-domain opset a score_mod/prob_mod body is converted at when the node does not record the
# model's (a converter that encodes the bodies as for If/Loop adds `opset`); the ops such bodies use
# (arithmetic, Shape/Gather/Range/Reshape, Where, Cast) mean the same at every opset since 14.
_DEFAULT_BODY_OPSET = 21


def _flex_dims(shapes):
    q, k, v = (tuple(s) for s in shapes[:3])
    if len(q) != 4 or len(k) != 4 or len(v) != 4:
        raise ShapeError(f"FlexAttention Q, K, V must be rank 4, got {q}, {k}, {v}")
    if k[0] != q[0] or v[0] != q[0] or k[3] != q[3] or v[1] != k[1] or v[2] != k[2]:
        raise ShapeError(f"FlexAttention Q {q}, K {k}, V {v} disagree on batch, heads, length or head size")
    if k[1] <= 0 or q[1] % k[1]:
        raise ShapeError(f"FlexAttention q heads {q[1]} are not a multiple of kv heads {k[1]}")
    return q, k, v


def _flex_softmax_dtype(node, t) -> np.dtype:
    code = node.attrs.get("softmax_precision")
    if code is None:
        return np.dtype(np.float64 if np.dtype(t) == np.float64 else np.float32)
    if int(code) not in _SOFTMAX_PRECISIONS:
        raise ShapeError(f"FlexAttention softmax_precision={code} is not one of {sorted(_SOFTMAX_PRECISIONS)}")
    return np.dtype(_SOFTMAX_PRECISIONS[int(code)])


def _infer_flex(node, shapes, dtypes, consts):
    q, k, v = _flex_dims(shapes)
    _flex_softmax_dtype(node, dtypes[0])
    for key in ("score_mod", "prob_mod"):
        if node.attrs.get(key) is not None:
            _flex_body(node, key)
    return [((q[0], q[1], q[2], v[3]), dtypes[0])]


def _flex_body(node, key):
    """(encoded graph, GraphProto) of a modifier attribute: the importer's _Subgraph, a GraphProto, or the
    base64 text a subgraph-encoding converter writes. A body reading enclosing-scope values needs those
    values wired as inputs (`outer_inputs`), which only such a converter does."""
    from . import control_flow

    g = node.attrs[key]
    if not isinstance(g, str):
        g = base64.b64encode(getattr(g, "proto", g).SerializeToString()).decode()
    proto = control_flow._proto(g)
    if len(proto.input) != 1 or len(proto.output) != 1:
        raise ShapeError(f"FlexAttention {key} must take one tensor and return one, has {len(proto.input)} "
                         f"inputs and {len(proto.output)} outputs")
    if "outer_inputs" not in node.attrs:
        from ..converter.onnx_import import _free_names

        free = _free_names(proto)
        if free:
            raise ShapeError(f"FlexAttention {node.name!r}: {key} reads enclosing-graph values {free}, which "
                             "are not wired into this node")
    return g, proto


def _flex_modify(node, key, value, outer):
    from . import control_flow

    encoded, proto = _flex_body(node, key)
    feeds = {proto.input[0].name: value, **outer}
    module = control_flow._body_module(encoded, int(node.attrs.get("opset", _DEFAULT_BODY_OPSET)), feeds)
    out = np.asarray(module._root.run(feeds)[proto.output[0].name])
    if out.shape != value.shape:
        raise ShapeError(f"FlexAttention {key} changed the shape {value.shape} to {out.shape}")
    return out.astype(value.dtype)


def _ref_flex(node, x):
    """softmax(score_mod(Q K^T * scale)) -> prob_mod -> @ V in softmax_precision; query head h reads KV head
    h // (q_heads / kv_heads). Modifier bodies run as jitmnn graphs (control_flow's body runner)."""
    n_own = int(node.attrs.get("n_inputs", 3))
    outer = dict(zip(node.attrs.get("outer_inputs", []), (np.asarray(v) for v in x[n_own:])))
    q, k, v = (np.asarray(a) for a in x[:3])
    _flex_dims([q.shape, k.shape, v.shape])
    ct = _flex_softmax_dtype(node, q.dtype)
    scale = node.attrs.get("scale")
    scale = 1.0 / np.sqrt(q.shape[3]) if scale is None else float(scale)
    batch, hq, lq, e = q.shape
    hkv = k.shape[1]
    qg = q.astype(ct).reshape(batch, hkv, hq // hkv, lq, e)
    scores = np.matmul(qg, k.astype(ct)[:, :, None].swapaxes(-1, -2)).reshape(batch, hq, lq, -1)
    scores = (scores * ct.type(scale)).astype(ct)
    if node.attrs.get("score_mod") is not None:
        scores = _flex_modify(node, "score_mod", scores, outer)
    top = np.max(scores, axis=-1, keepdims=True)
    p = np.exp(scores - top)
    probs = (p / np.sum(p, axis=-1, keepdims=True)).astype(ct)
    if node.attrs.get("prob_mod") is not None:
        probs = _flex_modify(node, "prob_mod", probs, outer)
    y = np.matmul(probs.reshape(batch, hkv, hq // hkv, lq, -1), v.astype(ct)[:, :, None])
    return [y.reshape(batch, hq, lq, v.shape[3]).astype(q.dtype)]


register_op(OpDef(FLEX, _infer_flex, _ref_flex))
