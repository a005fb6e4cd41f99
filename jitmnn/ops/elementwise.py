"""Binary broadcast ops (numpy/ONNX multidirectional broadcasting): Add, Sub, Mul, Div, Pow, Max, Min,
PRelu, Mod, the variadic Sum, Mean, Max, Min (1..N inputs), plus the comparison/selection ops shape arithmetic needs (Equal, Less, Greater, Where, ...).
Like Conv, a binary node may carry a fused `activation` / `activation_params` (kernels/act.py names):
the converter can fold ResNet's residual Add -> Relu into one node.

The float32 kernel (kernels/elementwise.py) takes every broadcast pattern through one signature: `collapse`
merges dims with the same broadcast pattern and expresses each operand as element strides in a 4-D box.
Integer tensors (shape arithmetic, folded at plan time) use the numpy reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jitmnn.kernels import act
from jitmnn.kernels import elementwise as K
from jitmnn.kernels import unary as KU

from ..errors import ShapeError
from . import _util as U
from .registry import CONVERTS, Algorithm, OpDef, register_algorithm, register_op

BOX_RANK = 4


def broadcast_shape(shapes) -> tuple:
    rank = max(len(s) for s in shapes)
    out = []
    for d in range(rank):
        dims = {s[len(s) - rank + d] for s in shapes if len(s) - rank + d >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ShapeError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast "
                             f"(axis {d - rank}: sizes {sorted(dims)})")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def collapse(out_shape, a_shape, b_shape, rank=BOX_RANK):
    """(box shape, a strides, b strides) as int64[rank] with 0 strides on broadcast dims; None if the
    pattern needs more than `rank` dims after merging dims that broadcast alike."""
    r = len(out_shape)
    a = (1,) * (r - len(a_shape)) + tuple(a_shape)
    b = (1,) * (r - len(b_shape)) + tuple(b_shape)
    dims: list = []  # [size, a_full, b_full]
    for n, da, db in zip(out_shape, a, b):
        if n == 1:
            continue
        fa, fb = da == n, db == n
        if dims and dims[-1][1] == fa and dims[-1][2] == fb:
            dims[-1][0] *= n
        else:
            dims.append([n, fa, fb])
    if len(dims) > rank:
        return None
    dims = [[1, False, False]] * (rank - len(dims)) + dims
    shape = np.array([d[0] for d in dims], np.int64)
    sa, sb = np.zeros(rank, np.int64), np.zeros(rank, np.int64)
    acc_a = acc_b = 1
    for k in range(rank - 1, -1, -1):
        n, fa, fb = dims[k]
        if fa:
            sa[k], acc_a = acc_a, acc_a * n
        if fb:
            sb[k], acc_b = acc_b, acc_b * n
    return shape, sa, sb


_VARIADIC = ("Max", "Min", "Sum", "Mean")  # ONNX ops taking 1..N inputs


def _infer_binary(node, shapes, dtypes, consts):
    variadic = node.op in _VARIADIC
    if (len(shapes) != 2 and not (variadic and len(shapes) >= 1)) or any(s is None for s in shapes):
        raise ShapeError(f"{node.op} takes {'1 or more' if variadic else 'two'} inputs, got {len(shapes)}")
    return [(broadcast_shape(list(shapes)), dtypes[0])]


def _int_div(a, b):
    """ONNX integer Div truncates toward zero (C semantics), unlike numpy's floor division."""
    q = np.abs(a) // np.maximum(np.abs(b), 1)
    return np.where((a < 0) != (b < 0), -q, q)


_NUMPY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Max": np.maximum, "Min": np.minimum,
    "PRelu": lambda x, slope: np.where(x >= 0, x, x * slope),
}


def _variadic_reference(node, x):
    """Pairwise in input order, in the inputs' dtype (as ONNX's own definition); Mean divides the sum."""
    arrays = [np.asarray(v) for v in x]
    fn = np.add if node.op in ("Sum", "Mean") else _NUMPY[node.op]
    out = arrays[0].copy()  # a single input is returned as a copy, never the (maybe constant) input itself
    for v in arrays[1:]:
        out = fn(out, v)
    if node.op == "Mean":
        out = out / np.asarray(len(arrays), dtype=out.dtype)
    return out


def _binary_reference(node, x):
    a = np.asarray(x[0])
    b = np.asarray(x[1]) if len(x) > 1 else a
    if node.op in _VARIADIC:
        out = _variadic_reference(node, x)
    elif node.op == "Div":
        out = _int_div(a, b) if a.dtype.kind in "iu" and b.dtype.kind in "iu" else np.divide(a, b)
    elif node.op == "Pow":
        out = np.power(a.astype(np.float64), b.astype(np.float64)) if a.dtype.kind == "f" else np.power(a, b)
    else:
        out = _NUMPY[node.op](a, b)
    if node.attrs.get("activation"):
        out = act.numpy_apply(out, node.attrs["activation"], node.attrs.get("activation_params", ()))
    return [np.asarray(out).astype(a.dtype, copy=False)]


@dataclass(frozen=True)
class BinaryParams:
    """The collapsed 4-D broadcast box, the kernel's op code, row pieces per thread and a fused activation."""

    shape: np.ndarray  # int64[4]
    a_strides: np.ndarray  # int64[4] element strides, 0 on broadcast dims
    b_strides: np.ndarray
    op: int
    nsplit: int  # pieces each row is cut into (numba_parallel, when rows are too few to share)
    fused: tuple | None  # (code, p0, p1) of a fused activation


def _setup_binary(ctx):
    box = collapse(ctx.out_shapes[0], ctx.in_shapes[0], ctx.in_shapes[1])
    shape, sa, sb = box
    rows = int(shape[0] * shape[1] * shape[2])
    nsplit = 1
    if rows < 4 * max(ctx.threads, 2):  # too few rows to share: cut each row into pieces as well
        nsplit = max(1, min(4 * max(ctx.threads, 2), int(shape[3]) // 4096))
    return BinaryParams(shape, sa, sb, _KERNEL_CODES[ctx.node.op], nsplit, _fused_activation(ctx))


def _fused_activation(ctx):
    """(code, p0, p1) of a fused activation attribute (e.g. a residual Add followed by ReLU), or None.
    Applied in place on the output right after the binary pass, while it is still in cache."""
    name = ctx.attr("activation")
    if not name:
        return None
    code = act.NAMES[name]
    params = list(ctx.attr("activation_params") or [0.0, 0.0]) + [0.0, 0.0]
    return code, np.float32(params[0]), np.float32(params[1])


def _apply_activation(fused, out_flat):
    if fused is not None:  # both unary kernels are safe in place
        code, p0, p1 = fused
        kern = KU.unary_basic if code in KU.BASIC else KU.unary
        kern(out_flat, out_flat, code, p0, p1)


def _pack_binary(ctx):
    """Constant operands copied once to writable float32 (a read-only mmap is another Numba type)."""
    return [U.writable_f32(c).reshape(-1) if c is not None else None for c in ctx.consts]


def _operands(packed, ins):
    a = packed[0] if packed and packed[0] is not None else ins[0].reshape(-1)
    b = packed[1] if packed and packed[1] is not None else ins[1].reshape(-1)
    return a, b


def _run_binary(packed, params: BinaryParams, ins, outs, scratch):
    a, b = _operands(packed, ins)
    out = outs[0].reshape(-1)
    K.binary(a, b, out, params.shape, params.a_strides, params.b_strides, params.op)
    _apply_activation(params.fused, out)


def _run_binary_parallel(packed, params: BinaryParams, ins, outs, scratch):
    a, b = _operands(packed, ins)
    out = outs[0].reshape(-1)
    K.binary_parallel(a, b, out, params.shape, params.a_strides, params.b_strides, params.op, params.nsplit)
    _apply_activation(params.fused, out)


def _applies_binary(ctx):
    if ctx.attr("activation") and ctx.attr("activation") not in act.NAMES:
        return False
    return (len(ctx.in_shapes) == 2 and U.all_f32(ctx)
            and collapse(ctx.out_shapes[0], ctx.in_shapes[0], ctx.in_shapes[1]) is not None)


def _pack_bytes(ctx):
    return sum(U.numel(s) * 4 for s, c in zip(ctx.in_shapes, ctx.consts) if c is not None)


# Div and Pow can make values far beyond fp16's 65504 from modest inputs: they keep float32 activations.
_FP16_OPS = ("Add", "Sub", "Mul", "Max", "Min", "PRelu", "Sum")
# A two-input Sum is an Add for the kernel (more inputs, and Mean, run the reference).
_KERNEL_CODES = {**K.CODES, "Sum": K.ADD}

for _op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu", "Sum"):
    register_op(OpDef(_op, _infer_binary, _binary_reference))
    register_algorithm(Algorithm(
        _op, "numba", run=_run_binary, applies=_applies_binary, pack=_pack_binary, setup=_setup_binary,
        weight_bytes=_pack_bytes, cost=lambda ctx: U.cost_elements(ctx) * (4.0 if ctx.node.op == "Pow" else 1.0),
        fp16=CONVERTS if _op in _FP16_OPS else "", fp16_inputs=(0, 1),
        doc="broadcast via a collapsed 4-D box with 0 strides; vectorised contiguous/scalar rows"))
    register_algorithm(Algorithm(
        _op, "numba_parallel", run=_run_binary_parallel, applies=_applies_binary, pack=_pack_binary,
        setup=_setup_binary, weight_bytes=_pack_bytes,
        cost=lambda ctx: U.parallel_cost(ctx, U.cost_elements(ctx) * (4.0 if ctx.node.op == "Pow" else 1.0)),
        fp16=CONVERTS if _op in _FP16_OPS else "", fp16_inputs=(0, 1),
        doc="binary over rows spread across threads"))


def _ref_mod(node, x):
    """fmod=0: integer modulo with the divisor's sign (Python %); fmod=1: C fmod (the dividend's sign)."""
    a, b = np.asarray(x[0]), np.asarray(x[1])
    out = np.fmod(a, b) if int(node.attrs.get("fmod", 0)) else np.mod(a, b)
    return [np.asarray(out).astype(a.dtype)]


register_op(OpDef("Mod", _infer_binary, _ref_mod))
register_op(OpDef("Mean", _infer_binary, _binary_reference))


# ----- comparisons and selection: small tensors (masks, shape arithmetic); numpy reference only --------
def _infer_compare(node, shapes, dtypes, consts):
    return [(broadcast_shape([shapes[0], shapes[1]]), np.bool_)]


_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
            "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}
for _op, _fn in _COMPARE.items():
    register_op(OpDef(_op, _infer_compare, lambda node, x, fn=_fn: [fn(np.asarray(x[0]), np.asarray(x[1]))]))

register_op(OpDef("Not", lambda node, s, d, c: [(s[0], np.bool_)], lambda node, x: [np.logical_not(x[0])]))


def _infer_where(node, shapes, dtypes, consts):
    if len(shapes) != 3:
        raise ShapeError(f"Where takes (condition, X, Y), got {len(shapes)} inputs")
    return [(broadcast_shape(shapes), dtypes[1])]


register_op(OpDef("Where", _infer_where,
                  lambda node, x: [np.where(np.asarray(x[0]).astype(bool), x[1], x[2]).astype(np.asarray(x[1]).dtype)]))
