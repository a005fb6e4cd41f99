"""Matrix-structure and accumulation ops, all numpy references (small tensors in practice, or shapes known
at plan time and folded): Trilu, EyeLike, Einsum, Det, CumProd, Col2Im."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from . import _util as U
from .registry import OpDef, register_op
from .shape_ops import ONNX_DTYPES


def _compute_dtype(a):
    """Arithmetic dtype for a reference: float64 for floats (and ml_dtypes' bfloat16 / float8: kind 'V'),
    the tensor's own dtype for integers (wrapping as ONNX Runtime does)."""
    return np.float64 if a.dtype.kind in "fV" else a.dtype


# ----- Trilu -------------------------------------------------------------------------------------------
def _infer_trilu(node, shapes, dtypes, consts):
    if len(shapes[0]) < 2:
        raise ShapeError(f"Trilu needs a tensor of rank >= 2, got {tuple(shapes[0])}")
    if len(shapes) > 1 and shapes[1] is not None and U.numel(shapes[1]) != 1:
        raise ShapeError(f"Trilu k must be a scalar, got shape {tuple(shapes[1])}")
    return [(tuple(shapes[0]), dtypes[0])]


def _ref_trilu(node, x):
    a = np.asarray(x[0])
    k = int(np.asarray(x[1]).reshape(-1)[0]) if len(x) > 1 and x[1] is not None else 0
    fn = np.triu if int(node.attrs.get("upper", 1)) else np.tril
    return [fn(a, k)]


register_op(OpDef("Trilu", _infer_trilu, _ref_trilu))


# ----- EyeLike (depends only on the input's shape: folded at plan time) -------------------------------
def _eyelike_dtype(node, in_dtype):
    code = node.attrs.get("dtype")
    if code is None:
        return np.dtype(in_dtype)
    if int(code) not in ONNX_DTYPES:
        raise ShapeError(f"EyeLike dtype {code} (ONNX type code) is not supported")
    return np.dtype(ONNX_DTYPES[int(code)])


def _infer_eyelike(node, shapes, dtypes, consts):
    if len(shapes[0]) != 2:
        raise ShapeError(f"EyeLike needs a 2-D input, got {tuple(shapes[0])}")
    return [(tuple(shapes[0]), _eyelike_dtype(node, dtypes[0]))]


def _ref_eyelike(node, x):
    a = np.asarray(x[0])
    return [np.eye(a.shape[0], a.shape[1], int(node.attrs.get("k", 0)), dtype=_eyelike_dtype(node, a.dtype))]


register_op(OpDef("EyeLike", _infer_eyelike, _ref_eyelike, shape_only=True))


# ----- Einsum ------------------------------------------------------------------------------------------
def parse_einsum(equation: str, in_shapes) -> tuple:
    """(normalised equation without spaces, output shape). Labels are letters; '...' stands for broadcast
    leading dims; without '->' the output is '...' plus the labels used once, in alphabetical order."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(in_shapes):
        raise ShapeError(f"Einsum equation {equation!r} has {len(terms)} operands, the node {len(in_shapes)}")
    sizes: dict = {}
    ell = ()
    counts: dict = {}
    for term, shape in zip(terms, in_shapes):
        shape = tuple(int(d) for d in shape)
        labels = term.replace("...", "")
        if not all(c.isalpha() for c in labels) or term.count("...") > 1:
            raise ShapeError(f"Einsum term {term!r} of {equation!r} is not letters with at most one '...'")
        n_ell = len(shape) - len(labels)
        if n_ell < 0 or (n_ell and "..." not in term):
            raise ShapeError(f"Einsum term {term!r} does not match operand shape {shape}")
        pos = term.find("...")
        if "..." in term:
            this_ell = shape[pos:pos + n_ell]
            try:
                ell = tuple(np.broadcast_shapes(ell, this_ell))
            except ValueError:
                raise ShapeError(f"Einsum '...' dims {this_ell} do not broadcast with {ell}") from None
            dims = shape[:pos] + shape[pos + n_ell:]
        else:
            dims = shape
        for c, d in zip(labels, dims):
            counts[c] = counts.get(c, 0) + 1
            prev = sizes.get(c)
            if prev is None or prev == 1:  # a size-1 dim broadcasts, as in numpy.einsum
                sizes[c] = d
            elif d not in (1, prev):
                raise ShapeError(f"Einsum label {c!r} has sizes {prev} and {d} in {equation!r}")
    if not arrow:
        rhs = ("..." if ell else "") + "".join(sorted(c for c, n in counts.items() if n == 1))
        eq = f"{lhs}->{rhs}"
    out = []
    rest = rhs
    if rest.count("...") > 1:
        raise ShapeError(f"Einsum output {rhs!r} has more than one '...'")
    for part_i, part in enumerate(rest.split("...")):
        if part_i:
            out.extend(ell)
        for c in part:
            if c not in sizes:
                raise ShapeError(f"Einsum output label {c!r} appears in no operand of {equation!r}")
            out.append(sizes[c])
    return eq, tuple(out)


def _infer_einsum(node, shapes, dtypes, consts):
    _, out = parse_einsum(str(node.attrs.get("equation", "")), shapes)
    return [(out, dtypes[0])]


def _ref_einsum(node, x):
    arrays = [np.asarray(a) for a in x]
    eq, _ = parse_einsum(str(node.attrs.get("equation", "")), [a.shape for a in arrays])
    dt = arrays[0].dtype
    r = np.einsum(eq, *[a.astype(_compute_dtype(a), copy=False) for a in arrays])
    return [np.asarray(r).astype(dt)]


register_op(OpDef("Einsum", _infer_einsum, _ref_einsum))


# ----- Det ---------------------------------------------------------------------------------------------
def _infer_det(node, shapes, dtypes, consts):
    x = tuple(shapes[0])
    if len(x) < 2 or x[-1] != x[-2]:
        raise ShapeError(f"Det needs [..., M, M] matrices, got {x}")
    return [(x[:-2], dtypes[0])]


def _ref_det(node, x):
    a = np.asarray(x[0])
    return [np.asarray(np.linalg.det(a.astype(np.float64))).astype(a.dtype)]


register_op(OpDef("Det", _infer_det, _ref_det))


# ----- CumProd (like reduce.CumSum; the axis may also come at run time: it does not change the shape) ----
def _infer_cumprod(node, shapes, dtypes, consts):
    if consts is not None and len(consts) > 1 and consts[1] is not None:
        U.norm_axis(int(U.const_input(consts, 1, "CumProd axis").reshape(-1)[0]), len(shapes[0]), "CumProd axis")
    if len(shapes) > 1 and shapes[1] is not None and U.numel(shapes[1]) != 1:
        raise ShapeError(f"CumProd axis must be a scalar, got shape {tuple(shapes[1])}")
    return [(tuple(shapes[0]), dtypes[0])]


def _ref_cumprod(node, x):
    a = np.asarray(x[0])
    axis = U.norm_axis(int(np.asarray(x[1]).reshape(-1)[0]), a.ndim, "CumProd axis")
    reverse = int(node.attrs.get("reverse", 0))
    v = np.flip(a, axis) if reverse else a
    c = np.cumprod(v.astype(_compute_dtype(a)), axis=axis)
    if int(node.attrs.get("exclusive", 0)):  # shift by one, starting from the product of nothing (1)
        ones = np.ones_like(np.take(c, [0], axis=axis))
        c = np.concatenate([ones, np.take(c, np.arange(a.shape[axis] - 1), axis=axis)], axis=axis)
    if reverse:
        c = np.flip(c, axis)
    return [c.astype(a.dtype)]


register_op(OpDef("CumProd", _infer_cumprod, _ref_cumprod))


# ----- Col2Im ------------------------------------------------------------------------------------------
def col2im_geometry(node, in_shape, image, block):
    """(dilations, pads begin, pads end, strides, blocks per spatial dim) with ONNX's defaults, checked
    against the input [N, C * prod(block), L]."""
    image = [int(v) for v in np.asarray(image).reshape(-1)]
    block = [int(v) for v in np.asarray(block).reshape(-1)]
    nd = len(image)
    dil = [int(v) for v in node.attrs.get("dilations", [1] * nd)]
    pads = [int(v) for v in node.attrs.get("pads", [0] * 2 * nd)]
    strides = [int(v) for v in node.attrs.get("strides", [1] * nd)]
    if len(block) != nd or len(dil) != nd or len(strides) != nd or len(pads) != 2 * nd:
        raise ShapeError(f"Col2Im: image_shape {image}, block_shape {block}, dilations {dil}, strides {strides} "
                         f"and pads {pads} disagree on the number of spatial dims")
    if len(in_shape) != 3:
        raise ShapeError(f"Col2Im needs a 3-D input [N, C*prod(block), L], got {tuple(in_shape)}")
    counts = []
    for i in range(nd):
        span = image[i] + pads[i] + pads[nd + i] - dil[i] * (block[i] - 1) - 1
        if span < 0 or strides[i] < 1:
            raise ShapeError(f"Col2Im: block {block[i]} (dilation {dil[i]}) does not fit image dim {image[i]}")
        counts.append(span // strides[i] + 1)
    kprod = U.numel(block)
    if in_shape[1] % kprod or in_shape[2] != U.numel(counts):
        raise ShapeError(f"Col2Im input {tuple(in_shape)} does not match blocks {block} x positions {counts}")
    return image, block, dil, pads[:nd], pads[nd:], strides, counts


def _infer_col2im(node, shapes, dtypes, consts):
    image, block, *_ = col2im_geometry(node, shapes[0], U.const_input(consts, 1, "Col2Im image_shape"),
                                       U.const_input(consts, 2, "Col2Im block_shape"))
    n, ck = shapes[0][0], shapes[0][1]
    return [((n, ck // U.numel(block), *image), dtypes[0])]


def _ref_col2im(node, x):
    a = np.asarray(x[0])
    image, block, dil, pb, pe, strides, counts = col2im_geometry(node, a.shape, x[1], x[2])
    n, c = a.shape[0], a.shape[1] // U.numel(block)
    cols = a.astype(_compute_dtype(a)).reshape((n, c, *block, *counts))
    padded = np.zeros((n, c, *[image[i] + pb[i] + pe[i] for i in range(len(image))]), cols.dtype)
    for kk in np.ndindex(*block):  # each kernel offset adds one strided grid of the padded image
        sel = tuple(slice(kk[i] * dil[i], kk[i] * dil[i] + strides[i] * (counts[i] - 1) + 1, strides[i])
                    for i in range(len(image)))
        padded[(slice(None), slice(None)) + sel] += cols[(slice(None), slice(None)) + kk]
    crop = tuple(slice(pb[i], pb[i] + image[i]) for i in range(len(image)))
    return [padded[(slice(None), slice(None)) + crop].astype(a.dtype)]


register_op(OpDef("Col2Im", _infer_col2im, _ref_col2im))
