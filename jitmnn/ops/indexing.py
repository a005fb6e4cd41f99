"""Indexing, scatter/gather and data-dependent selection ops (ONNX semantics).

Numba kernels (kernels/indexing.py) for the ones detection and sequence models run hot: ScatterND and
GatherND (float32 data, int64 indices) and TopK (float32). Everything else runs its numpy reference:
ScatterElements (and the deprecated Scatter), OneHot, ReverseSequence, CenterCropPad, and the ops whose
output shape depends on input values, Compress and Unique (data_dependent: their infer() raises
RunTimeValuesNeeded unless the values are known at plan time).

Indices out of range raise InputError at run time (ONNX leaves them undefined; a silent wrong answer
or a wild write is worse)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import indexing as K

from ..errors import InputError, ShapeError
from . import _util as U
from .registry import Algorithm, OpDef, RunTimeValuesNeeded, register_algorithm, register_op

_REDUCTIONS = {"none": K.R_NONE, "add": K.R_ADD, "mul": K.R_MUL, "max": K.R_MAX, "min": K.R_MIN}


def _str_attr(node, key, default):
    v = node.attrs.get(key, default)
    return v.decode() if isinstance(v, bytes) else v


def _reduction(node) -> str:
    r = _str_attr(node, "reduction", "none")
    if r not in _REDUCTIONS:
        raise ShapeError(f"{node.op} reduction {r!r} is not supported (none, add, mul, max, min)")
    return r


def _numeric(a):
    """a, or a float32 copy when its dtype is one numpy cannot sort or reduce with (bfloat16, float8 ...:
    ml_dtypes' types, dtype kind 'V'); the caller casts results back."""
    return a.astype(np.float32) if a.dtype.kind == "V" else a


def wrap_indices(idx, dims, op: str):
    """int64 indices with negative ones counted from the end; InputError if any is outside its dim.
    `dims` is one size (all indices index it) or one size per last-axis position."""
    idx = np.asarray(idx).astype(np.int64)
    d = np.asarray(dims, np.int64)
    idx = np.where(idx < 0, idx + d, idx)
    if idx.size and (np.any(idx < 0) or np.any(idx >= d)):
        raise InputError(f"{op}: index out of range for dimensions {d.tolist()}")
    return idx


def _scatter_apply(out, where, upd, reduction):
    """out[where] (op)= upd, duplicates accumulating (ufunc.at); plain assignment for 'none'."""
    if reduction == "none":
        out[where] = upd
    else:
        {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction].at(out, where, upd)


# ----- ScatterElements / Scatter (numpy reference) -----------------------------------------------------
def _infer_scatter_elements(node, shapes, dtypes, consts):
    data, idx, upd = shapes[0], shapes[1], shapes[2]
    U.norm_axis(int(node.attrs.get("axis", 0)), len(data), f"{node.op} axis")
    _reduction(node)
    if len(idx) != len(data) or tuple(idx) != tuple(upd):
        raise ShapeError(f"{node.op}: indices {tuple(idx)} and updates {tuple(upd)} must have one shape of the "
                         f"data's rank {len(data)}")
    return [(tuple(data), dtypes[0])]


def _ref_scatter_elements(node, x):
    data = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), data.ndim, f"{node.op} axis")
    idx = wrap_indices(x[1], data.shape[axis], node.op)
    out = _numeric(data).copy()
    where = list(np.indices(idx.shape, sparse=True))
    where[axis] = idx
    _scatter_apply(out, tuple(where), _numeric(np.asarray(x[2])).astype(out.dtype), _reduction(node))
    return [out.astype(data.dtype, copy=False)]


for _op in ("ScatterElements", "Scatter"):  # Scatter: opset 9-10 name of ScatterElements (no reduction)
    register_op(OpDef(_op, _infer_scatter_elements, _ref_scatter_elements))


# ----- ScatterND ---------------------------------------------------------------------------------------
def _infer_scatter_nd(node, shapes, dtypes, consts):
    data, idx, upd = tuple(shapes[0]), tuple(shapes[1]), tuple(shapes[2])
    _reduction(node)
    if not idx or not 1 <= idx[-1] <= len(data):
        raise ShapeError(f"ScatterND indices {idx}: the last dimension must be 1..{len(data)} (data rank)")
    want = idx[:-1] + data[idx[-1]:]
    if upd != want:
        raise ShapeError(f"ScatterND updates {upd} must have shape {want} (indices {idx}, data {data})")
    return [(data, dtypes[0])]


def _ref_scatter_nd(node, x):
    data = np.asarray(x[0])
    k = np.shape(x[1])[-1]
    idx = wrap_indices(np.asarray(x[1]).reshape(-1, k), data.shape[:k], "ScatterND")
    out = _numeric(data).copy()
    upd = _numeric(np.asarray(x[2])).astype(out.dtype).reshape((idx.shape[0],) + data.shape[k:])
    _scatter_apply(out, tuple(idx.T), upd, _reduction(node))
    return [out.astype(data.dtype, copy=False)]


def _nd_geometry(shape, k):
    """(dims, strides in elements of one slice, slice size) of the first k axes of `shape`."""
    shape = [int(d) for d in shape]
    size = U.numel(shape[k:])
    strides = [U.numel(shape[j + 1:k]) * size for j in range(k)]
    return np.array(shape[:k], np.int64), np.array(strides, np.int64), size


@dataclass(frozen=True)
class ScatterNDParams:
    """The indexed axes (dims, element strides), the size of one updated slice, and the kernel's reduction code."""

    dims: np.ndarray  # int64[k]
    strides: np.ndarray  # int64[k]
    slice_size: int
    reduction: int  # K.R_*


def _setup_scatter_nd(ctx):
    k = ctx.in_shapes[1][-1]
    dims, strides, size = _nd_geometry(ctx.in_shapes[0], k)
    return ScatterNDParams(dims, strides, size, _REDUCTIONS[_reduction(ctx.node)])


def _run_scatter_nd(packed, params: ScatterNDParams, inputs, outputs, scratch):
    dims = params.dims
    out = outputs[0]
    np.copyto(out, inputs[0])
    idx = inputs[1].reshape(-1, dims.shape[0])
    bad = K.scatter_nd(out.reshape(-1), idx, inputs[2].reshape(idx.shape[0], params.slice_size), dims, params.strides,
                       params.reduction)
    if bad >= 0:
        raise InputError(f"ScatterND: index {idx[bad].tolist()} is out of range for dimensions {dims.tolist()}")


def _f32_data_i64_index(ctx):
    return U.all_f32(ctx, (0,) + tuple(range(2, len(ctx.in_dtypes)))) and np.dtype(ctx.in_dtypes[1]) == np.int64


register_op(OpDef("ScatterND", _infer_scatter_nd, _ref_scatter_nd))
register_algorithm(Algorithm("ScatterND", "numba", run=_run_scatter_nd, setup=_setup_scatter_nd,
                             applies=_f32_data_i64_index, cost=U.cost_elements,
                             doc="copy data, then one contiguous slice per index tuple"))


# ----- GatherND ----------------------------------------------------------------------------------------
def _infer_gather_nd(node, shapes, dtypes, consts):
    data, idx = tuple(shapes[0]), tuple(shapes[1])
    b = int(node.attrs.get("batch_dims", 0))
    if not idx or b < 0 or b >= min(len(data), len(idx)):
        raise ShapeError(f"GatherND batch_dims {b} must be below the ranks of data {data} and indices {idx}")
    if data[:b] != idx[:b]:
        raise ShapeError(f"GatherND: the first {b} (batch) dims of data {data} and indices {idx} differ")
    k = idx[-1]
    if not 1 <= k <= len(data) - b:
        raise ShapeError(f"GatherND indices {idx}: the last dimension must be 1..{len(data) - b}")
    return [(idx[:-1] + data[b + k:], dtypes[0])]


def _ref_gather_nd(node, x):
    data = np.asarray(x[0])
    b = int(node.attrs.get("batch_dims", 0))
    ishape = np.shape(x[1])
    k = ishape[-1]
    nb = U.numel(data.shape[:b])
    flat = data.reshape((nb,) + data.shape[b:])
    idx = wrap_indices(np.asarray(x[1]).reshape(nb, -1, k), data.shape[b:b + k], "GatherND")
    picked = flat[(np.arange(nb)[:, None],) + tuple(idx[..., j] for j in range(k))]
    return [picked.reshape(tuple(ishape[:-1]) + data.shape[b + k:])]


@dataclass(frozen=True)
class GatherNDParams:
    """The indexed axes after the batch dims (dims, element strides), one gathered slice's size, the batch count."""

    dims: np.ndarray  # int64[k]
    strides: np.ndarray  # int64[k]
    slice_size: int
    batches: int  # product of the first batch_dims dims


def _setup_gather_nd(ctx):
    b = int(ctx.node.attrs.get("batch_dims", 0))
    data, idx = ctx.in_shapes[0], ctx.in_shapes[1]
    dims, strides, size = _nd_geometry(data[b:], idx[-1])
    nb = U.numel(data[:b])
    return GatherNDParams(dims, strides, size, nb)


def _run_gather_nd(packed, params: GatherNDParams, inputs, outputs, scratch):
    dims, nb = params.dims, params.batches
    idx = inputs[1].reshape(nb, -1, dims.shape[0])
    bad = K.gather_nd(inputs[0].reshape(nb, -1), idx, outputs[0].reshape(nb, idx.shape[1], params.slice_size), dims,
                      params.strides)
    if bad >= 0:
        raise InputError(f"GatherND: index {idx.reshape(-1, dims.shape[0])[bad].tolist()} is out of range for "
                         f"dimensions {dims.tolist()}")


register_op(OpDef("GatherND", _infer_gather_nd, _ref_gather_nd))
register_algorithm(Algorithm("GatherND", "numba", run=_run_gather_nd, setup=_setup_gather_nd,
                             applies=_f32_data_i64_index, cost=U.cost_elements,
                             doc="one contiguous slice per index tuple"))


# ----- TopK --------------------------------------------------------------------------------------------
def _topk_k(node, consts):
    if len(node.inputs) < 2 and "k" in node.attrs:  # opset 1: k is an attribute
        return int(node.attrs["k"])
    return int(U.const_input(consts, 1, "TopK K").reshape(-1)[0])


def _infer_topk(node, shapes, dtypes, consts):
    x = tuple(shapes[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), len(x), "TopK axis")
    k = _topk_k(node, consts)
    if not 0 <= k <= x[axis]:
        raise ShapeError(f"TopK K={k} is outside 0..{x[axis]} (axis {axis} of {x})")
    out = x[:axis] + (k,) + x[axis + 1:]
    return [(out, dtypes[0]), (out, np.int64)]


def _ref_topk(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), a.ndim, "TopK axis")
    k = int(np.asarray(x[1]).reshape(-1)[0]) if len(x) > 1 and x[1] is not None else int(node.attrs["k"])
    m = np.moveaxis(a, axis, -1)
    keys = _numeric(m)
    n = m.shape[-1]
    if int(node.attrs.get("largest", 1)):
        # stable sort of the reversed row, read backwards: descending values, ties by ascending index
        order = n - 1 - np.flip(np.argsort(np.flip(keys, -1), axis=-1, kind="stable"), -1)
    else:
        order = np.argsort(keys, axis=-1, kind="stable")
    order = order[..., :k]
    # sorted=0 leaves the order unspecified; the sorted order is one valid answer
    return [np.moveaxis(np.take_along_axis(m, order, -1), -1, axis), np.moveaxis(order, -1, axis).astype(np.int64)]


def _topk_box(ctx):
    x = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.node.attrs.get("axis", -1)), len(x))
    return U.numel(x[:axis]), int(x[axis]), U.numel(x[axis + 1:]), int(ctx.out_shapes[0][axis])


@dataclass(frozen=True)
class TopKParams:
    """The input as [outer, axis_len, inner] with the axis in the middle, K, and largest (else smallest)."""

    outer: int
    axis_len: int
    inner: int
    k: int
    largest: bool


def _setup_topk(ctx):
    o, n, i, k = _topk_box(ctx)
    return TopKParams(o, n, i, k, bool(int(ctx.node.attrs.get("largest", 1))))


def _run_topk(packed, params: TopKParams, inputs, outputs, scratch):
    o, n, i, k = params.outer, params.axis_len, params.inner, params.k
    heap = scratch[:8 * k].view(np.int64)
    K.topk(inputs[0].reshape(o, n, i), outputs[0].reshape(o, k, i), outputs[1].reshape(o, k, i), heap, params.largest)


def _topk_cost(ctx):
    o, n, i, k = _topk_box(ctx)
    return o * i * (n + k) * max(1.0, np.log2(max(k, 2))) * U.NS_PER_ELEMENT / 1e3


register_op(OpDef("TopK", _infer_topk, _ref_topk))
register_algorithm(Algorithm("TopK", "numba", run=_run_topk, setup=_setup_topk, cost=_topk_cost,
                             applies=lambda ctx: np.dtype(ctx.in_dtypes[0]) == np.float32 and _topk_box(ctx)[3] > 0,
                             scratch_bytes=lambda ctx: 8 * max(_topk_box(ctx)[3], 1),
                             doc="K-element heap per row, O(N log K), then heapsort (ties: lower index first)"))


# ----- OneHot ------------------------------------------------------------------------------------------
def _onehot_depth(value) -> int:
    d = np.asarray(value).reshape(-1)
    if d.size != 1:
        raise ShapeError(f"OneHot depth must hold one value, got {d.size}")
    depth = int(d[0])
    if depth < 1:
        raise ShapeError(f"OneHot depth {depth} must be positive")
    return depth


def _infer_onehot(node, shapes, dtypes, consts):
    ind, vals = tuple(shapes[0]), tuple(shapes[2])
    depth = _onehot_depth(U.const_input(consts, 1, "OneHot depth"))
    if U.numel(vals) != 2:
        raise ShapeError(f"OneHot values must hold [off_value, on_value], got shape {vals}")
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), len(ind) + 1, "OneHot axis")
    return [(ind[:axis] + (depth,) + ind[axis:], dtypes[2])]


def _ref_onehot(node, x):
    ind = np.asarray(x[0])
    depth = _onehot_depth(x[1])
    vals = np.asarray(x[2]).reshape(-1)
    axis = U.norm_axis(int(node.attrs.get("axis", -1)), ind.ndim + 1, "OneHot axis")
    i = ind.astype(np.int64)  # float indices are truncated toward zero
    i = np.where(i < 0, i + depth, i)  # out-of-range indices give a row of off_value
    hot = np.moveaxis(i[..., None] == np.arange(depth), -1, axis)
    out = np.full(hot.shape, vals[0], dtype=vals.dtype)
    out[hot] = vals[1]
    return [out]


register_op(OpDef("OneHot", _infer_onehot, _ref_onehot))


# ----- ReverseSequence ---------------------------------------------------------------------------------
def _rs_axes(node, rank):
    t, b = int(node.attrs.get("time_axis", 0)), int(node.attrs.get("batch_axis", 1))
    if rank < 2 or {t, b} != {0, 1}:
        raise ShapeError(f"ReverseSequence time_axis {t} / batch_axis {b} must be 0 and 1 (input rank {rank})")
    return t, b


def _infer_reverse_sequence(node, shapes, dtypes, consts):
    x = tuple(shapes[0])
    t, b = _rs_axes(node, len(x))
    if tuple(shapes[1]) != (x[b],):
        raise ShapeError(f"ReverseSequence sequence_lens {tuple(shapes[1])} must be ({x[b]},)")
    return [(x, dtypes[0])]


def _ref_reverse_sequence(node, x):
    a = np.asarray(x[0])
    t, b = _rs_axes(node, a.ndim)
    lens = np.asarray(x[1]).astype(np.int64).reshape(-1)
    out = a.copy()
    for j, n in enumerate(lens):
        if not 0 <= n <= a.shape[t]:
            raise InputError(f"ReverseSequence sequence length {n} is outside 0..{a.shape[t]}")
        sel = [slice(None)] * a.ndim
        sel[b], sel[t] = j, slice(0, n)
        out[tuple(sel)] = np.flip(a[tuple(sel)], axis=0 if t < b else t - 1)
    return [out]


register_op(OpDef("ReverseSequence", _infer_reverse_sequence, _ref_reverse_sequence))


# ----- CenterCropPad -----------------------------------------------------------------------------------
def _ccp_target(node, in_shape, shape_value):
    rank = len(in_shape)
    axes = node.attrs.get("axes")
    axes = list(range(rank)) if axes is None else [U.norm_axis(int(a), rank, "CenterCropPad axis") for a in axes]
    target = [int(v) for v in np.asarray(shape_value).reshape(-1)]
    if len(target) != len(axes) or len(set(axes)) != len(axes):
        raise ShapeError(f"CenterCropPad shape {target} does not match axes {axes}")
    if min(target, default=0) < 0:
        raise ShapeError(f"CenterCropPad shape {target} has a negative size")
    out = list(in_shape)
    for a, s in zip(axes, target):
        out[a] = s
    return tuple(out)


def _infer_ccp(node, shapes, dtypes, consts):
    return [(_ccp_target(node, shapes[0], U.const_input(consts, 1, "CenterCropPad shape")), dtypes[0])]


def _ref_ccp(node, x):
    a = np.asarray(x[0])
    out_shape = _ccp_target(node, a.shape, x[1])
    src, dst = [], []
    for n, m in zip(a.shape, out_shape):  # centred: the odd extra element goes to the end
        if m <= n:
            src.append(slice((n - m) // 2, (n - m) // 2 + m))
            dst.append(slice(None))
        else:
            src.append(slice(None))
            dst.append(slice((m - n) // 2, (m - n) // 2 + n))
    out = np.zeros(out_shape, a.dtype)
    out[tuple(dst)] = a[tuple(src)]
    return [out]


register_op(OpDef("CenterCropPad", _infer_ccp, _ref_ccp))


# ----- Compress (data-dependent) -----------------------------------------------------------------------
def _compress_condition(node, in_shape, cond):
    axis = node.attrs.get("axis")
    n = U.numel(in_shape) if axis is None else in_shape[U.norm_axis(int(axis), len(in_shape), "Compress axis")]
    c = np.asarray(cond).astype(bool).reshape(-1)
    if c.size > n:
        if c[n:].any():
            raise ShapeError(f"Compress condition selects position {n + int(np.argmax(c[n:]))} beyond the "
                             f"{n} elements along the axis")
        c = c[:n]
    return c


def _infer_compress(node, shapes, dtypes, consts):
    x = tuple(shapes[0])
    axis = node.attrs.get("axis")
    if axis is not None:
        U.norm_axis(int(axis), len(x), "Compress axis")
    if len(shapes[1]) != 1:
        raise ShapeError(f"Compress condition must be 1-D, got shape {tuple(shapes[1])}")
    if consts[1] is None:
        raise RunTimeValuesNeeded("Compress: the output length is the number of true conditions")
    count = int(np.count_nonzero(_compress_condition(node, x, U.const_input(consts, 1, "Compress condition"))))
    if axis is None:
        return [((count,), dtypes[0])]
    a = U.norm_axis(int(axis), len(x))
    return [(x[:a] + (count,) + x[a + 1:], dtypes[0])]


def _ref_compress(node, x):
    a = np.asarray(x[0])
    c = _compress_condition(node, a.shape, x[1])
    axis = node.attrs.get("axis")
    if axis is None:
        return [a.reshape(-1)[:c.size][c]]
    ax = U.norm_axis(int(axis), a.ndim)
    return [np.compress(c, a, axis=ax)]


register_op(OpDef("Compress", _infer_compress, _ref_compress, data_dependent=True))


# ----- Unique (data-dependent) -------------------------------------------------------------------------
def unique(a, axis, sorted_):
    """(Y, first-occurrence indices, inverse indices, counts) following ONNX Unique: without an axis over
    the flattened tensor; with one, over the slices along it (compared lexicographically)."""
    a = np.asarray(a)
    if axis is None:
        slices = _numeric(a.reshape(-1, 1))
    else:
        slices = _numeric(np.moveaxis(a, axis, 0)).reshape(a.shape[axis], -1)
    _, first, inverse, counts = np.unique(slices, axis=0, return_index=True, return_inverse=True,
                                          return_counts=True)
    inverse = inverse.reshape(-1)
    if not sorted_:  # order of first occurrence
        perm = np.argsort(first, kind="stable")
        rank = np.empty_like(perm)
        rank[perm] = np.arange(perm.size)
        first, counts, inverse = first[perm], counts[perm], rank[inverse]
    y = np.take(a.reshape(-1), first) if axis is None else np.take(a, first, axis=axis)
    return y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)


def _unique_axis(node, rank):
    axis = node.attrs.get("axis")
    return None if axis is None else U.norm_axis(int(axis), rank, "Unique axis")


def _infer_unique(node, shapes, dtypes, consts):
    x = tuple(shapes[0])
    axis = _unique_axis(node, len(x))
    if consts[0] is None:
        raise RunTimeValuesNeeded("Unique: the number of distinct values is known only from the data")
    y, first, inverse, counts = unique(U.const_input(consts, 0, "Unique input"), axis,
                                       int(node.attrs.get("sorted", 1)))
    return [(y.shape, dtypes[0]), (first.shape, np.int64), (inverse.shape, np.int64), (counts.shape, np.int64)]


def _ref_unique(node, x):
    a = np.asarray(x[0])
    return list(unique(a, _unique_axis(node, a.ndim), int(node.attrs.get("sorted", 1))))


register_op(OpDef("Unique", _infer_unique, _ref_unique, data_dependent=True))
