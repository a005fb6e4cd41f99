"""Layout and shape ops.

Free views (OpDef alias_input=0, the planner gives the output the input's buffer): Reshape, Flatten,
Squeeze, Unsqueeze. Copies through one strided-copy kernel (kernels/shape_ops.py): Transpose, Concat,
Split, Slice, Expand, Pad (constant mode), Gather (constant indices). Shape arithmetic (Shape, Cast,
ConstantOfShape, Range, and integer Gather/Concat/Slice) runs the numpy reference, normally folded at
plan time. Every reference handles int64 tensors, since the planner folds shape chains with them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import shape_ops as K

from ..errors import ShapeError
from . import _util as U
from .registry import MOVES_BITS, Algorithm, OpDef, RunTimeValuesNeeded, register_algorithm, register_op

COPY_RANK = 6


def _copy_cost(ctx):
    return U.cost_elements(ctx)


def _copy(src_flat, s_off, s_str, dst_flat, d_off, d_str, shape):
    K.copy_strided(src_flat, s_off, s_str, dst_flat, d_off, d_str, shape)


# ----- Reshape / Flatten / Squeeze / Unsqueeze (views) ------------------------------------------------
def reshape_target(in_shape, spec, allowzero=0) -> tuple:
    spec = [int(v) for v in np.asarray(spec).reshape(-1)]
    out = []
    for i, d in enumerate(spec):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ShapeError(f"Reshape shape {spec}: 0 at position {i} but the input {tuple(in_shape)} "
                                 f"has rank {len(in_shape)}")
            out.append(int(in_shape[i]))
        else:
            out.append(d)
    if out.count(-1) > 1:
        raise ShapeError(f"Reshape shape {spec} has more than one -1")
    if any(d < -1 for d in out):
        raise ShapeError(f"Reshape shape {spec} has a negative size other than -1")
    total = U.numel(in_shape)
    known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
    if -1 in out:
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape {tuple(in_shape)} ({total} elements) to {spec}")
        out[out.index(-1)] = total // known
    elif known != total:
        raise ShapeError(f"cannot reshape {tuple(in_shape)} ({total} elements) to {spec} ({known} elements)")
    return tuple(out)


def _infer_reshape(node, shapes, dtypes, consts):
    spec = U.const_input(consts, 1, "Reshape shape")
    return [(reshape_target(shapes[0], spec, int(node.attrs.get("allowzero", 0))), dtypes[0])]


def _ref_reshape(node, x):
    return [np.asarray(x[0]).reshape(reshape_target(np.shape(x[0]), x[1], int(node.attrs.get("allowzero", 0))))]


def _flatten_shape(node, shape):
    """ONNX Flatten: axis in [-r, r]; a negative axis counts from r (axis=-1 keeps the last dim apart)."""
    axis = int(node.attrs.get("axis", 1))
    if not -len(shape) <= axis <= len(shape):
        raise ShapeError(f"Flatten axis {axis} is out of range for rank {len(shape)}")
    axis = axis + len(shape) if axis < 0 else axis
    return (U.numel(shape[:axis]), U.numel(shape[axis:]))


def _axes_arg(node, consts, what, required):
    """Axes from input 1 (opset 13) or the `axes` attribute (opset < 13)."""
    if U.has_input(node, 1):
        return [int(v) for v in U.const_input(consts, 1, f"{what} axes").reshape(-1)]
    axes = node.attrs.get("axes")
    if axes is None and required:
        raise ShapeError(f"{what} needs axes")
    return None if axes is None else [int(v) for v in axes]


def _squeeze_shape(node, shape, consts):
    axes = _axes_arg(node, consts, "Squeeze", False)
    if axes is None:
        return tuple(d for d in shape if d != 1)
    axes = {U.norm_axis(a, len(shape), "Squeeze axis") for a in axes}
    for a in axes:
        if shape[a] != 1:
            raise ShapeError(f"Squeeze axis {a} of {tuple(shape)} has size {shape[a]}, not 1")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _unsqueeze_shape(node, shape, consts):
    axes = _axes_arg(node, consts, "Unsqueeze", True)
    rank = len(shape) + len(axes)
    axes = sorted(U.norm_axis(a, rank, "Unsqueeze axis") for a in axes)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"Unsqueeze axes {axes} repeat")
    out, it = [], iter(shape)
    for i in range(rank):
        out.append(1 if i in axes else next(it))
    return tuple(out)


def _values(x):
    return [None] + [None if v is None else np.asarray(v) for v in x[1:]]


register_op(OpDef("Reshape", _infer_reshape, _ref_reshape, alias_input=0))
register_op(OpDef("Flatten", lambda node, s, d, c: [(_flatten_shape(node, s[0]), d[0])],
                  lambda node, x: [np.asarray(x[0]).reshape(_flatten_shape(node, np.shape(x[0])))], alias_input=0))
register_op(OpDef("Squeeze", lambda node, s, d, c: [(_squeeze_shape(node, s[0], c), d[0])],
                  lambda node, x: [np.asarray(x[0]).reshape(_squeeze_shape(node, np.shape(x[0]), _values(x)))],
                  alias_input=0))
register_op(OpDef("Unsqueeze", lambda node, s, d, c: [(_unsqueeze_shape(node, s[0], c), d[0])],
                  lambda node, x: [np.asarray(x[0]).reshape(_unsqueeze_shape(node, np.shape(x[0]), _values(x)))],
                  alias_input=0))


# ----- Transpose ---------------------------------------------------------------------------------------
def _perm(node, rank):
    perm = node.attrs.get("perm")
    perm = list(range(rank))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(U.norm_axis(p, rank, "Transpose perm entry") for p in perm) != list(range(rank)):
        raise ShapeError(f"Transpose perm {perm} is not a permutation of {rank} axes")
    return [p % rank for p in perm]


def _infer_transpose(node, shapes, dtypes, consts):
    perm = _perm(node, len(shapes[0]))
    return [(tuple(shapes[0][p] for p in perm), dtypes[0])]


def _setup_transpose(ctx):
    x = ctx.in_shapes[0]
    perm = _perm(ctx.node, len(x))
    s_str = U.contiguous_strides(x)
    out = [x[p] for p in perm]
    return U.collapse_copy(out, [s_str[p] for p in perm], U.contiguous_strides(out), COPY_RANK)


def _run_transpose(packed, params, ins, outs, scratch):
    shape, s_str, d_str = params
    _copy(ins[0].reshape(-1), 0, s_str, outs[0].reshape(-1), 0, d_str, shape)


register_op(OpDef("Transpose", _infer_transpose, lambda node, x: [np.ascontiguousarray(
    np.transpose(x[0], _perm(node, np.ndim(x[0]))))]))
register_algorithm(Algorithm(
    "Transpose", "numba", run=_run_transpose, setup=_setup_transpose, cost=_copy_cost,
    applies=lambda ctx: U.all_f32(ctx) and _setup_transpose(ctx) is not None,
    fp16=MOVES_BITS, doc="strided copy after merging axes that stay adjacent"))


# ----- Concat / Split ------------------------------------------------------------------------------------
def _infer_concat(node, shapes, dtypes, consts):
    shapes = [s for s in shapes if s is not None]
    if not shapes:
        raise ShapeError("Concat needs at least one input")
    rank = len(shapes[0])
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), rank, "Concat axis")
    for s in shapes:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise ShapeError(f"Concat on axis {axis}: shapes {[tuple(t) for t in shapes]} differ off the axis")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [(tuple(out), dtypes[0])]


def _ref_concat(node, x):
    arrs = [np.asarray(a) for a in x if a is not None]
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), arrs[0].ndim, "Concat axis")
    return [np.concatenate(arrs, axis=axis).astype(arrs[0].dtype)]


def _block_copies(outer_shape_a, axis, parts, total):
    """(outer, len_i * inner, offset_i * inner, total * inner) per part for Concat/Split over `axis`."""
    outer = U.numel(outer_shape_a[:axis])
    inner = U.numel(outer_shape_a[axis + 1:])
    plans, off = [], 0
    for n in parts:
        shape = np.array([1, 1, 1, 1, outer, n * inner], np.int64)
        s_str = np.array([0, 0, 0, 0, n * inner, 1], np.int64)
        d_str = np.array([0, 0, 0, 0, total * inner, 1], np.int64)
        plans.append((shape, s_str, d_str, off * inner))
        off += n
    return plans


def _setup_concat(ctx):
    shapes = [s for s in ctx.in_shapes if s is not None]
    out = ctx.out_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", 0)), len(out), "Concat axis")
    return _block_copies(out, axis, [s[axis] for s in shapes], out[axis])


def _run_concat(packed, params, ins, outs, scratch):
    dst = outs[0].reshape(-1)
    for (shape, s_str, d_str, off), x in zip(params, [i for i in ins if i is not None]):
        if shape[5]:
            _copy(x.reshape(-1), 0, s_str, dst, off, d_str, shape)


def _all_inputs_writable_f32(ctx):
    # Constant inputs may be read-only memory maps (another Numba type); leave those to the reference.
    return U.all_f32(ctx) and all(c is None for c in ctx.consts)


register_op(OpDef("Concat", _infer_concat, _ref_concat))
register_algorithm(Algorithm("Concat", "numba", run=_run_concat, setup=_setup_concat, cost=_copy_cost,
                             applies=_all_inputs_writable_f32, fp16=MOVES_BITS, doc="one block copy per input"))


def _split_sizes(node, shape, consts, n_out):
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), len(shape), "Split axis")
    if U.has_input(node, 1):
        sizes = [int(v) for v in U.const_input(consts, 1, "Split split").reshape(-1)]
    elif node.attrs.get("split") is not None:
        sizes = [int(v) for v in node.attrs["split"]]
    else:
        n = int(node.attrs.get("num_outputs", n_out))
        size = -(-shape[axis] // n)
        sizes = [min(size, shape[axis] - i * size) for i in range(n)]
    if len(sizes) != n_out or sum(sizes) != shape[axis] or min(sizes) < 0:
        raise ShapeError(f"Split sizes {sizes} do not cut axis {axis} of {tuple(shape)} into {n_out} outputs")
    return axis, sizes


def _infer_split(node, shapes, dtypes, consts):
    axis, sizes = _split_sizes(node, shapes[0], consts, len(node.outputs))
    outs = []
    for n in sizes:
        s = list(shapes[0])
        s[axis] = n
        outs.append((tuple(s), dtypes[0]))
    return outs


def _ref_split(node, x):
    a = np.asarray(x[0])
    axis, sizes = _split_sizes(node, a.shape, _values(x), len(node.outputs))
    return [p.copy() for p in np.split(a, np.cumsum(sizes)[:-1], axis=axis)]


def _setup_split(ctx):
    x = ctx.in_shapes[0]
    axis, sizes = _split_sizes(ctx.node, x, ctx.consts, len(ctx.node.outputs))
    return _block_copies(x, axis, sizes, x[axis])


def _run_split(packed, params, ins, outs, scratch):
    src = ins[0].reshape(-1)
    for (shape, d_str, s_str, off), o in zip(params, outs):
        if shape[5]:
            _copy(src, off, s_str, o.reshape(-1), 0, d_str, shape)


register_op(OpDef("Split", _infer_split, _ref_split))
register_algorithm(Algorithm("Split", "numba", run=_run_split, setup=_setup_split, cost=_copy_cost,
                             applies=lambda ctx: U.all_f32(ctx, [0]), fp16=MOVES_BITS, doc="one block copy per output"))


# ----- Slice ---------------------------------------------------------------------------------------------
def slice_params(node, shape, consts):
    """Per axis (start, step, length) after ONNX clamping; negative steps walk backwards."""
    rank = len(shape)
    if node.attrs.get("starts") is not None and not U.has_input(node, 1):  # opset < 10 attributes
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes = list(node.attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = U.const_input(consts, 1, "Slice starts").reshape(-1).tolist()
        ends = U.const_input(consts, 2, "Slice ends").reshape(-1).tolist()
        axes = (U.const_input(consts, 3, "Slice axes").reshape(-1).tolist() if U.has_input(node, 3)
                else list(range(len(starts))))
        steps = (U.const_input(consts, 4, "Slice steps").reshape(-1).tolist() if U.has_input(node, 4)
                 else [1] * len(starts))
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(f"Slice starts {starts}, ends {ends}, axes {axes}, steps {steps} differ in length")
    spec = [(0, 1, int(d)) for d in shape]
    seen = set()
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = U.norm_axis(int(ax), rank, "Slice axis")
        if ax in seen:
            raise ShapeError(f"Slice axis {ax} repeats in {axes}")
        seen.add(ax)
        st, en, sp, dim = int(st), int(en), int(sp), int(shape[ax])
        if sp == 0:
            raise ShapeError("Slice step must not be 0")
        st = st + dim if st < 0 else st
        en = en + dim if en < 0 else en
        if sp > 0:
            st, en = min(max(st, 0), dim), min(max(en, 0), dim)
            n = max(0, -(-(en - st) // sp))
        else:
            st, en = min(max(st, 0), dim - 1), min(max(en, -1), dim - 1)
            n = max(0, -(-(st - en) // -sp))
        spec[ax] = (st, sp, n)
    return spec


def _infer_slice(node, shapes, dtypes, consts):
    spec = slice_params(node, shapes[0], consts)
    return [(tuple(n for _, _, n in spec), dtypes[0])]


def _ref_slice(node, x):
    a = np.asarray(x[0])
    spec = slice_params(node, a.shape, _values(x))
    idx = tuple(slice(st, st + sp * n if st + sp * n >= 0 else None, sp) if n else slice(0, 0) for st, sp, n in spec)
    return [a[idx].copy()]


@dataclass(frozen=True)
class SliceParams:
    """One strided copy: the first source element's offset, then the collapsed box (int64[COPY_RANK] each)."""

    src_offset: int
    shape: np.ndarray
    src_strides: np.ndarray
    dst_strides: np.ndarray


def _setup_slice(ctx):
    x = ctx.in_shapes[0]
    spec = slice_params(ctx.node, x, ctx.consts)
    base = U.contiguous_strides(x)
    off = sum(st * b for (st, _, n), b in zip(spec, base))
    shape = [n for _, _, n in spec]
    box = U.collapse_copy(shape, [sp * b for (_, sp, _), b in zip(spec, base)], U.contiguous_strides(shape), COPY_RANK)
    return None if box is None else SliceParams(off, *box)


def _run_slice(packed, params: SliceParams, ins, outs, scratch):
    _copy(ins[0].reshape(-1), params.src_offset, params.src_strides, outs[0].reshape(-1), 0, params.dst_strides,
          params.shape)


register_op(OpDef("Slice", _infer_slice, _ref_slice))
register_algorithm(Algorithm(
    "Slice", "numba", run=_run_slice, setup=_setup_slice, cost=_copy_cost,
    applies=lambda ctx: U.all_f32(ctx, [0]) and ctx.consts[0] is None and U.numel(ctx.out_shapes[0]) > 0
    and _setup_slice(ctx) is not None, fp16=MOVES_BITS, doc="strided copy (any steps, negative too)"))


# ----- Shape / Cast / ConstantOfShape / Range ---------------------------------------------------------
def _shape_range(node, rank):
    start = int(node.attrs.get("start", 0))
    end = node.attrs.get("end")
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = rank if end is None else int(end)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return start, max(start, end)


def _infer_shape(node, shapes, dtypes, consts):
    s, e = _shape_range(node, len(shapes[0]))
    return [((e - s,), np.int64)]


register_op(OpDef("Shape", _infer_shape,
                  lambda node, x: [np.array(np.shape(x[0])[slice(*_shape_range(node, np.ndim(x[0])))], np.int64)],
                  shape_only=True))
register_op(OpDef("Size", lambda node, s, d, c: [((), np.int64)],
                  lambda node, x: [np.array(np.size(x[0]), np.int64)], shape_only=True))

# ONNX TensorProto data type codes -> numpy
ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
               9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


# Cast and CastLike live in typecast.py.


def _cos_value(node):
    """The fill value as a 1-element array of its ONNX dtype (the converter stores it as a number plus
    `value_dtype`, since attributes are JSON in the .jmnn header)."""
    v = node.attrs.get("value")
    if v is None:
        return np.zeros(1, np.float32)
    dtype = node.attrs.get("value_dtype")
    return np.asarray(v, dtype=dtype).reshape(-1) if dtype else np.asarray(v).reshape(-1)


def _infer_cos(node, shapes, dtypes, consts):
    shape = U.const_input(consts, 0, "ConstantOfShape shape").reshape(-1)
    if np.any(shape < 0):
        raise ShapeError(f"ConstantOfShape shape {shape.tolist()} has a negative size")
    return [(tuple(int(v) for v in shape), _cos_value(node).dtype)]


register_op(OpDef("ConstantOfShape", _infer_cos, lambda node, x: [
    np.full(tuple(int(v) for v in np.asarray(x[0]).reshape(-1)), _cos_value(node)[0], _cos_value(node).dtype)]))


def _range_len(start, limit, delta):
    if delta == 0:
        raise ShapeError("Range delta must not be 0")
    return max(int(np.ceil((limit - start) / delta)), 0)


def _infer_range(node, shapes, dtypes, consts):
    vals = [U.const_input(consts, i, "Range start/limit/delta").reshape(()) for i in range(3)]
    return [((_range_len(*[v.item() for v in vals]),), dtypes[0])]


register_op(OpDef("Range", _infer_range, lambda node, x: [
    (x[0] + np.arange(_range_len(*[np.asarray(v).item() for v in x])) * x[2]).astype(np.asarray(x[0]).dtype)]))


# ----- Gather (constant indices) -------------------------------------------------------------------------
def _infer_gather(node, shapes, dtypes, consts):
    data, idx = shapes[0], shapes[1]
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), len(data), "Gather axis")
    ind = consts[1] if len(consts) > 1 else None
    if ind is not None:
        ind = np.asarray(ind)
        if ind.size and (ind.min() < -data[axis] or ind.max() >= data[axis]):
            raise ShapeError(f"Gather indices {ind.min()}..{ind.max()} out of range for axis {axis} "
                             f"of size {data[axis]}")
    return [(tuple(data[:axis]) + tuple(idx) + tuple(data[axis + 1:]), dtypes[0])]


def _ref_gather(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), a.ndim, "Gather axis")
    return [np.take(a, np.asarray(x[1]).astype(np.int64), axis=axis)]


GATHER_MAX_COPIES = 256  # one block copy per index; many indices (embeddings) go to the reference


@dataclass(frozen=True)
class GatherParams:
    """One block copy per constant index: the block's box (int64[6] each) and (source, destination) offsets."""

    shape: np.ndarray
    src_strides: np.ndarray
    dst_strides: np.ndarray
    copies: list  # [(source offset, destination offset)] in elements, one per index


def _setup_gather(ctx):
    data = ctx.in_shapes[0]
    axis = U.norm_axis(int(ctx.attr("axis", 0)), len(data), "Gather axis")
    ind = np.asarray(ctx.consts[1]).reshape(-1).astype(np.int64)
    ind = np.where(ind < 0, ind + data[axis], ind)
    outer = U.numel(data[:axis])
    inner = U.numel(data[axis + 1:])
    shape = np.array([1, 1, 1, 1, outer, inner], np.int64)
    s_str = np.array([0, 0, 0, 0, data[axis] * inner, 1], np.int64)
    d_str = np.array([0, 0, 0, 0, len(ind) * inner, 1], np.int64)
    return GatherParams(shape, s_str, d_str, [(int(i) * inner, k * inner) for k, i in enumerate(ind)])


def _run_gather(packed, params: GatherParams, ins, outs, scratch):
    shape, s_str, d_str = params.shape, params.src_strides, params.dst_strides
    src, dst = ins[0].reshape(-1), outs[0].reshape(-1)
    for s_off, d_off in params.copies:
        _copy(src, s_off, s_str, dst, d_off, d_str, shape)


def _applies_gather(ctx):
    ind = ctx.consts[1]
    return (U.all_f32(ctx, [0]) and ctx.consts[0] is None and ind is not None
            and 0 < np.size(ind) <= GATHER_MAX_COPIES and U.numel(ctx.out_shapes[0]) > 0)


register_op(OpDef("Gather", _infer_gather, _ref_gather))
register_algorithm(Algorithm("Gather", "numba", run=_run_gather, setup=_setup_gather, applies=_applies_gather,
                             cost=_copy_cost, doc="one block copy per constant index"))


# ----- Expand / Tile ---------------------------------------------------------------------------------
def _infer_expand(node, shapes, dtypes, consts):
    from .elementwise import broadcast_shape

    spec = tuple(int(v) for v in U.const_input(consts, 1, "Expand shape").reshape(-1))
    return [(broadcast_shape([shapes[0], spec]), dtypes[0])]


def _ref_expand(node, x):
    a = np.asarray(x[0])
    shape = np.broadcast_shapes(a.shape, tuple(int(v) for v in np.asarray(x[1]).reshape(-1)))
    return [np.broadcast_to(a, shape).copy()]


def _setup_expand(ctx):
    x, out = ctx.in_shapes[0], ctx.out_shapes[0]
    xs = (1,) * (len(out) - len(x)) + tuple(x)
    base = U.contiguous_strides(xs)
    s_str = [0 if d == 1 and o != 1 else b for d, o, b in zip(xs, out, base)]
    return U.collapse_copy(out, s_str, U.contiguous_strides(out), COPY_RANK)


def _run_expand(packed, params, ins, outs, scratch):
    shape, s_str, d_str = params
    src = packed if packed is not None else ins[0].reshape(-1)
    _copy(src, 0, s_str, outs[0].reshape(-1), 0, d_str, shape)


register_op(OpDef("Expand", _infer_expand, _ref_expand))
register_algorithm(Algorithm(
    "Expand", "numba", run=_run_expand, setup=_setup_expand, cost=_copy_cost,
    pack=lambda ctx: U.writable_f32(ctx.consts[0]).reshape(-1) if ctx.consts[0] is not None else None,
    applies=lambda ctx: U.all_f32(ctx, [0]) and _setup_expand(ctx) is not None,
    doc="strided copy with 0 strides on expanded axes"))


def _infer_tile(node, shapes, dtypes, consts):
    reps = [int(v) for v in U.const_input(consts, 1, "Tile repeats").reshape(-1)]
    if len(reps) != len(shapes[0]):
        raise ShapeError(f"Tile repeats {reps} do not match input rank {len(shapes[0])}")
    return [(tuple(d * r for d, r in zip(shapes[0], reps)), dtypes[0])]


register_op(OpDef("Tile", _infer_tile, lambda node, x: [np.tile(x[0], [int(v) for v in np.asarray(x[1]).reshape(-1)])]))


# ----- Pad -------------------------------------------------------------------------------------------
def _pads(node, rank, consts):
    if U.has_input(node, 1):
        pads = [int(v) for v in U.const_input(consts, 1, "Pad pads").reshape(-1)]
    else:
        pads = [int(v) for v in node.attrs.get("pads", [])]
    axes = list(range(rank))
    if U.has_input(node, 3):
        axes = [U.norm_axis(int(a), rank, "Pad axis") for a in U.const_input(consts, 3, "Pad axes").reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise ShapeError(f"Pad pads {pads} need 2 values per padded axis ({len(axes)} axes)")
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[k + len(axes)]
    return begin, end


def _pad_mode(node):
    m = node.attrs.get("mode", "constant")
    return m.decode() if isinstance(m, bytes) else m


def _infer_pad(node, shapes, dtypes, consts):
    begin, end = _pads(node, len(shapes[0]), consts)
    out = tuple(d + b + e for d, b, e in zip(shapes[0], begin, end))
    if min(out, default=1) < 0:
        raise ShapeError(f"Pad {begin}/{end} makes a negative size from {tuple(shapes[0])}")
    if _pad_mode(node) not in ("constant", "reflect", "edge", "wrap"):
        raise ShapeError(f"Pad mode {_pad_mode(node)!r} is not supported")
    return [(out, dtypes[0])]


def _pad_value(node, values):
    if len(values) > 2 and values[2] is not None and np.size(values[2]):
        return np.asarray(values[2]).reshape(-1)[0]
    return node.attrs.get("value", 0)


def _ref_pad(node, x):
    a = np.asarray(x[0])
    begin, end = _pads(node, a.ndim, _values(x))
    # Negative pads crop: crop first, then pad with the non-negative parts.
    crop = tuple(slice(max(-b, 0), a.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begin, end)))
    a = a[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    mode = _pad_mode(node)
    if mode == "constant":
        return [np.pad(a, width, mode="constant", constant_values=_pad_value(node, x)).astype(a.dtype)]
    return [np.pad(a, width, mode=mode)]


@dataclass(frozen=True)
class PadParams:
    """Fill with value, then one strided copy of the input to dst_offset (the collapsed box, int64[COPY_RANK] each)."""

    dst_offset: int
    shape: np.ndarray
    src_strides: np.ndarray
    dst_strides: np.ndarray
    value: np.float32


def _setup_pad(ctx):
    x, out = ctx.in_shapes[0], ctx.out_shapes[0]
    begin, _ = _pads(ctx.node, len(x), ctx.consts)
    d_base = U.contiguous_strides(out)
    box = U.collapse_copy(x, U.contiguous_strides(x), d_base, COPY_RANK)
    value = np.float32(_pad_value(ctx.node, ctx.consts))
    return PadParams(sum(b * s for b, s in zip(begin, d_base)), *box, value)


def _run_pad(packed, params: PadParams, ins, outs, scratch):
    outs[0].fill(params.value)
    _copy(ins[0].reshape(-1), 0, params.src_strides, outs[0].reshape(-1), params.dst_offset, params.dst_strides,
          params.shape)


def _applies_pad(ctx):
    if not (U.all_f32(ctx, [0]) and ctx.consts[0] is None and _pad_mode(ctx.node) == "constant"):
        return False
    if U.has_input(ctx.node, 2) and ctx.consts[2] is None:  # the fill value comes at run time
        return False
    begin, end = _pads(ctx.node, len(ctx.in_shapes[0]), ctx.consts)
    return min(begin + end) >= 0 and U.numel(ctx.in_shapes[0]) > 0 and \
        U.collapse_copy(ctx.in_shapes[0], U.contiguous_strides(ctx.in_shapes[0]),
                        U.contiguous_strides(ctx.out_shapes[0]), COPY_RANK) is not None


register_op(OpDef("Pad", _infer_pad, _ref_pad))
register_algorithm(Algorithm("Pad", "numba", run=_run_pad, setup=_setup_pad, applies=_applies_pad, cost=_copy_cost,
                             doc="fill with the constant, then one strided copy of the input"))


# ----- DepthToSpace / SpaceToDepth (a reshape-transpose-reshape; strided copy for float32) ---------------
def _d2s_plan(node, shape):
    """(6-D view of the input, perm) such that transposing it gives the output's element order."""
    n, c, h, w = shape
    b = int(node.attrs.get("blocksize", 0))
    if b < 1:
        raise ShapeError(f"{node.op} needs blocksize >= 1, got {b}")
    if node.op == "DepthToSpace":
        if c % (b * b):
            raise ShapeError(f"DepthToSpace: channels {c} not divisible by blocksize^2 = {b * b}")
        if node.attrs.get("mode", "DCR") == "DCR":
            return (n, b, b, c // (b * b), h, w), (0, 3, 4, 1, 5, 2), (n, c // (b * b), h * b, w * b)
        return (n, c // (b * b), b, b, h, w), (0, 1, 4, 2, 5, 3), (n, c // (b * b), h * b, w * b)
    if h % b or w % b:
        raise ShapeError(f"SpaceToDepth: spatial {h}x{w} not divisible by blocksize {b}")
    mode = node.attrs.get("mode", "DCR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("DCR", "CRD"):
        raise ShapeError(f"SpaceToDepth mode {mode!r} is not DCR or CRD")
    # DCR: output channel = (row offset, column offset, channel); CRD (opset 24): (channel, row, column).
    perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    return (n, c, h // b, b, w // b, b), perm, (n, c * b * b, h // b, w // b)


def _infer_d2s(node, shapes, dtypes, consts):
    if shapes[0] is None or len(shapes[0]) != 4:
        raise ShapeError(f"{node.op} needs a 4-D NCHW input, got {shapes[0]}")
    return [(_d2s_plan(node, shapes[0])[2], dtypes[0])]


def _ref_d2s(node, x):
    a = np.asarray(x[0])
    view, perm, out = _d2s_plan(node, a.shape)
    return [np.ascontiguousarray(a.reshape(view).transpose(perm)).reshape(out)]


def _setup_d2s(ctx):
    view, perm, _ = _d2s_plan(ctx.node, ctx.in_shapes[0])
    s_str = U.contiguous_strides(view)
    out = [view[p] for p in perm]
    return U.collapse_copy(out, [s_str[p] for p in perm], U.contiguous_strides(out), COPY_RANK)


for _op in ("DepthToSpace", "SpaceToDepth"):
    register_op(OpDef(_op, _infer_d2s, _ref_d2s))
    register_algorithm(Algorithm(_op, "numba", run=_run_transpose, setup=_setup_d2s, cost=_copy_cost,
                                 applies=lambda ctx: U.all_f32(ctx) and _setup_d2s(ctx) is not None,
                                 fp16=MOVES_BITS, doc="6-D transpose as one strided copy"))


# ----- GatherElements / NonZero (numpy reference) -----------------------------------------------------
def _infer_gather_elements(node, shapes, dtypes, consts):
    data, idx = shapes[0], shapes[1]
    U.norm_axis(int(node.attrs.get("axis", 0)), len(data), "GatherElements axis")
    if len(idx) != len(data):
        raise ShapeError(f"GatherElements indices rank {len(idx)} differs from data rank {len(data)}")
    return [(tuple(idx), dtypes[0])]


def _ref_gather_elements(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(node.attrs.get("axis", 0)), a.ndim, "GatherElements axis")
    ind = np.asarray(x[1]).astype(np.int64)
    ind = np.where(ind < 0, ind + a.shape[axis], ind)
    return [np.take_along_axis(a, ind, axis=axis)]


register_op(OpDef("GatherElements", _infer_gather_elements, _ref_gather_elements))


def _infer_nonzero(node, shapes, dtypes, consts):
    v = consts[0] if consts else None
    if v is None:
        raise RunTimeValuesNeeded("NonZero: the output length is the number of non-zero elements")
    return [((max(len(shapes[0]), 1), int(np.count_nonzero(np.asarray(U.const_input(consts, 0, "NonZero input"))))),
             np.int64)]


def _ref_nonzero(node, x):
    a = np.atleast_1d(np.asarray(x[0]))  # a scalar counts as one element (ONNX Runtime, numpy < 2)
    return [np.array(np.nonzero(a), np.int64).reshape(a.ndim, -1)]


register_op(OpDef("NonZero", _infer_nonzero, _ref_nonzero, data_dependent=True))
