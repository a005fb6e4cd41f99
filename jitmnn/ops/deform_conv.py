"""DeformConv (ONNX opset 19, 2-D): a convolution whose every tap samples the input at its regular grid
position plus a learned (dy, dx) offset, by bilinear interpolation with zeros outside the image (GridSample
with align_corners=1), optionally scaled by a mask. Inputs X [N, C, H, W], W [K, C/group, kh, kw],
offset [N, offset_group*kh*kw*2, OH, OW] ((dy, dx) pairs per tap, taps row-major), B [K], mask
[N, offset_group*kh*kw, OH, OW]. Numpy reference only: sampled columns, then one product per group."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .conv import geometry_nd
from .registry import OpDef, register_op


def _geometry(node, x_shape, w_shape, off_shape, mask_shape):
    if x_shape is None or w_shape is None or off_shape is None or len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(f"DeformConv supports 2-D NCHW only; got X {x_shape}, W {w_shape}")
    attrs = {k: node.attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations", "group") if k in node.attrs}
    ks, st, dl, pads, out = geometry_nd(attrs, x_shape, w_shape)
    og = int(node.attrs.get("offset_group", 1))
    C = int(x_shape[1])
    if og < 1 or C % og:
        raise ShapeError(f"DeformConv offset_group {og} does not divide the {C} input channels")
    taps = ks[0] * ks[1]
    want = (int(x_shape[0]), og * taps * 2) + tuple(out)
    if tuple(off_shape) != want:
        raise ShapeError(f"DeformConv offset shape {tuple(off_shape)} != {want} (offset_group {og}, kernel {ks})")
    if mask_shape is not None and tuple(mask_shape) != (want[0], og * taps) + tuple(out):
        raise ShapeError(f"DeformConv mask shape {tuple(mask_shape)} != {(want[0], og * taps) + tuple(out)}")
    return ks, st, dl, pads, out, og


def _infer(node, shapes, dtypes, consts):
    mask = shapes[4] if len(shapes) > 4 else None
    *_, out, _ = _geometry(node, shapes[0], shapes[1], shapes[2], mask)
    if len(shapes) > 3 and shapes[3] is not None and tuple(shapes[3]) != (int(shapes[1][0]),):
        raise ShapeError(f"DeformConv bias shape {tuple(shapes[3])} != ({int(shapes[1][0])},)")
    return [((int(shapes[0][0]), int(shapes[1][0])) + tuple(out), dtypes[0])]


def _bilinear_zero(img, y, x):
    """img [N, Cg, H, W] sampled at float positions y, x [N, OH, OW] -> [N, Cg, OH, OW]; each of the four
    corners outside the image contributes zero."""
    N, _, H, W = img.shape
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    n = np.arange(N)[:, None, None]
    out = 0.0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
            inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            v = img[n, :, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]  # [N, OH, OW, Cg]
            out = out + np.moveaxis(v, -1, 1) * (wy * wx * inside)[:, None]
    return out


def _reference(node, inputs):
    x = np.asarray(inputs[0], np.float64)
    w = np.asarray(inputs[1], np.float64)
    off = np.asarray(inputs[2], np.float64)
    b = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    mask = inputs[4] if len(inputs) > 4 and inputs[4] is not None else None
    ks, st, dl, pads, out, og = _geometry(node, x.shape, w.shape, off.shape, None if mask is None else mask.shape)
    N, C = x.shape[:2]
    K, Cg = w.shape[:2]
    group = C // Cg
    kh, kw = ks
    OH, OW = out
    off = off.reshape(N, og, kh, kw, 2, OH, OW)
    mask = np.ones((N, og, kh, kw, OH, OW)) if mask is None else np.asarray(mask, np.float64).reshape(
        N, og, kh, kw, OH, OW)
    base_y = (np.arange(OH) * st[0] - pads[0])[:, None]
    base_x = (np.arange(OW) * st[1] - pads[1])[None, :]
    cpo = C // og  # input channels per offset group
    cols = np.empty((N, C, kh, kw, OH, OW))
    for g in range(og):
        img = x[:, g * cpo:(g + 1) * cpo]
        for i in range(kh):
            for j in range(kw):
                y = base_y + i * dl[0] + off[:, g, i, j, 0]
                xx = base_x + j * dl[1] + off[:, g, i, j, 1]
                cols[:, g * cpo:(g + 1) * cpo, i, j] = _bilinear_zero(img, y, xx) * mask[:, g, i, j][:, None]
    Kg = K // group
    res = np.empty((N, K, OH, OW))
    for gi in range(group):
        res[:, gi * Kg:(gi + 1) * Kg] = np.einsum("ncijhw,kcij->nkhw", cols[:, gi * Cg:(gi + 1) * Cg],
                                                  w[gi * Kg:(gi + 1) * Kg])
    if b is not None:
        res += np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return [res.astype(inputs[0].dtype)]


register_op(OpDef("DeformConv", _infer, _reference))
