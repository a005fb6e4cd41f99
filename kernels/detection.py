"""Detection-model kernels: NonMaxSuppression, RoiAlign, GridSample (float32).

Semantics follow ONNX (and ONNX Runtime / PyTorch, which its reference mirrors):
- NMS: greedy per (batch, class), boxes ranked by score (ties: lower box index first); a box is dropped
  when its IoU with a kept one is > iou_threshold. IoU arithmetic is float32, as in ONNX Runtime, so
  boundary cases (IoU == threshold) decide the same way.
- RoiAlign: Mask R-CNN's average (or max, ORT's variant: max over samples of the largest weighted corner)
  of bilinear samples on a regular grid in each bin (He et al. 2017).
- GridSample: PyTorch's grid_sampler (normalised [-1, 1] grid, align_corners, zeros/border/reflection
  padding; nearest rounds half to even, cubic is Keys' convolution with A = -0.75).
The Python wrappers in jitmnn/ops/detection.py check batch indices; tap indices here are clamped or
skipped before any load."""

import numpy as np

from ._jit import helper, kernel
from .indexing import _sift_down

MODE_NEAREST, MODE_LINEAR, MODE_CUBIC = 0, 1, 2
PAD_ZEROS, PAD_BORDER, PAD_REFLECTION = 0, 1, 2


# ----- NonMaxSuppression -------------------------------------------------------------------------------
@helper  # inlined into nms, which compiles without fastmath
def _suppresses(bx, i, j, center, iou_th):
    """IoU(box i, box j) > iou_th, in float32 (boxes [y1, x1, y2, x2] in any corner order, or
    [x_center, y_center, width, height] when center)."""
    two = np.float32(2)
    if center:
        x1min = bx[i, 0] - bx[i, 2] / two
        x1max = bx[i, 0] + bx[i, 2] / two
        x2min = bx[j, 0] - bx[j, 2] / two
        x2max = bx[j, 0] + bx[j, 2] / two
        y1min = bx[i, 1] - bx[i, 3] / two
        y1max = bx[i, 1] + bx[i, 3] / two
        y2min = bx[j, 1] - bx[j, 3] / two
        y2max = bx[j, 1] + bx[j, 3] / two
    else:
        x1min, x1max = min(bx[i, 1], bx[i, 3]), max(bx[i, 1], bx[i, 3])
        x2min, x2max = min(bx[j, 1], bx[j, 3]), max(bx[j, 1], bx[j, 3])
        y1min, y1max = min(bx[i, 0], bx[i, 2]), max(bx[i, 0], bx[i, 2])
        y2min, y2max = min(bx[j, 0], bx[j, 2]), max(bx[j, 0], bx[j, 2])
    ixmin, ixmax = max(x1min, x2min), min(x1max, x2max)
    if ixmax <= ixmin:
        return False
    iymin, iymax = max(y1min, y2min), min(y1max, y2max)
    if iymax <= iymin:
        return False
    inter = (ixmax - ixmin) * (iymax - iymin)
    area1 = (x1max - x1min) * (y1max - y1min)
    area2 = (x2max - x2min) * (y2max - y2min)
    union = area1 + area2 - inter
    if inter <= 0 or area1 <= 0 or area2 <= 0 or union <= 0:
        return False
    return inter / union > iou_th


@kernel(fastmath=False)  # IoU is compared with a threshold: no reassociation or reciprocal division
def nms(boxes, scores, max_out, iou_th, score_th, use_score_th, center, order, kept, out):
    """Selected (batch, class, box) rows into out [R, 3]; returns how many (-1 if out is too small).
    order and kept are int64 scratch of length N (boxes per batch)."""
    B, N = boxes.shape[0], boxes.shape[1]
    C = scores.shape[1]
    rows = 0
    for b in range(B):
        bx = boxes[b]
        for c in range(C):
            sc = scores[b, c]
            n = 0
            for i in range(N):
                if not use_score_th or sc[i] > score_th:
                    order[n] = i
                    n += 1
            for j in range(n // 2 - 1, -1, -1):  # heapsort: worst at the root, popped to the back
                _sift_down(order, j, n, sc, True)
            for end in range(n - 1, 0, -1):
                t = order[0]
                order[0] = order[end]
                order[end] = t
                _sift_down(order, 0, end, sc, True)
            nk = 0
            for t in range(n):
                if nk >= max_out:
                    break
                i = order[t]
                keep = True
                for s in range(nk):
                    if _suppresses(bx, i, kept[s], center, iou_th):
                        keep = False
                        break
                if keep:
                    if rows >= out.shape[0]:
                        return -1
                    kept[nk] = i
                    nk += 1
                    out[rows, 0] = b
                    out[rows, 1] = c
                    out[rows, 2] = i
                    rows += 1
    return rows


# ----- RoiAlign ----------------------------------------------------------------------------------------
@helper
def _roi_taps(v, size):
    """(low, high, weight of low, weight of high) of one bilinear sample coordinate, or weights 0 outside
    [-1, size] (Detectron's rule: slightly outside samples clamp to the border)."""
    if v < -1.0 or v > size:
        return 0, 0, 0.0, 0.0
    if v < 0.0:
        v = 0.0
    lo = int(v)
    if lo >= size - 1:
        lo = size - 1
        hi = lo
        v = float(lo)
    else:
        hi = lo + 1
    frac = v - lo
    return lo, hi, 1.0 - frac, frac


@kernel
def roi_align(x, rois, bidx, out, spatial_scale, sampling_ratio, half_pixel, mode_max):
    """out[r, c] = pooled bilinear samples of x[bidx[r], c] over roi r ([x1, y1, x2, y2] * spatial_scale)."""
    H, W = x.shape[2], x.shape[3]
    R, C, PH, PW = out.shape
    offset = 0.5 if half_pixel else 0.0
    for r in range(R):
        b = bidx[r]
        sw = rois[r, 0] * spatial_scale - offset
        sh = rois[r, 1] * spatial_scale - offset
        rw = rois[r, 2] * spatial_scale - offset - sw
        rh = rois[r, 3] * spatial_scale - offset - sh
        if not half_pixel:  # the legacy mode forces rois at least one pixel wide
            rw = max(rw, 1.0)
            rh = max(rh, 1.0)
        bh = rh / PH
        bw = rw / PW
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rh / PH))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rw / PW))
        count = max(gh * gw, 1)
        for ph in range(PH):
            for pw in range(PW):
                for c in range(C):
                    out[r, c, ph, pw] = 0.0
                first = True
                for iy in range(gh):
                    ylo, yhi, wyl, wyh = _roi_taps(sh + ph * bh + (iy + 0.5) * bh / gh, H)
                    for ix in range(gw):
                        xlo, xhi, wxl, wxh = _roi_taps(sw + pw * bw + (ix + 0.5) * bw / gw, W)
                        w1, w2, w3, w4 = wyl * wxl, wyl * wxh, wyh * wxl, wyh * wxh
                        for c in range(C):
                            p = x[b, c]
                            if mode_max:
                                v = max(max(w1 * p[ylo, xlo], w2 * p[ylo, xhi]), max(w3 * p[yhi, xlo], w4 * p[yhi, xhi]))
                                if first or v > out[r, c, ph, pw]:
                                    out[r, c, ph, pw] = v
                            else:
                                out[r, c, ph, pw] += w1 * p[ylo, xlo] + w2 * p[ylo, xhi] + w3 * p[yhi, xlo] + \
                                    w4 * p[yhi, xhi]
                        first = False
                if not mode_max:
                    for c in range(C):
                        out[r, c, ph, pw] /= count


# ----- GridSample --------------------------------------------------------------------------------------
@helper
def _reflect(v, lo, hi):
    """Reflect v off the borders lo/hi until it lies between them (float64)."""
    span = hi - lo
    if span <= 0.0:
        return lo
    if v < lo:
        d = lo - v
        k = int(d / span)
        rest = d - k * span
        return lo + rest if k % 2 == 0 else hi - rest
    if v > hi:
        d = v - hi
        k = int(d / span)
        rest = d - k * span
        return hi - rest if k % 2 == 0 else lo + rest
    return v


@helper
def _round_half_even(v):
    r = np.floor(v)
    d = v - r
    if d > np.float32(0.5) or (d == np.float32(0.5) and r % 2 != 0):
        r += np.float32(1)
    return r


@helper
def _gs_taps(g, size, align, mode, pad, idx, w, j):
    """Source taps of one spatial dim for normalised coordinate g: writes idx[j, :n] (-1 = a zero-padded
    tap) and w[j, :n], returns n (1 nearest, 2 linear, 4 cubic). Coordinates in float32 like PyTorch."""
    one = np.float32(1)
    two = np.float32(2)
    if align:
        v = (g + one) / two * np.float32(size - 1)
        lo, hi = 0.0, size - 1.0
    else:
        v = ((g + one) * np.float32(size) - one) / two
        lo, hi = -0.5, size - 0.5
    if mode == MODE_NEAREST:
        v = _round_half_even(v)
    if v < lo or v > hi:
        if pad == PAD_BORDER:
            v = np.float32(min(max(v, np.float32(0)), np.float32(size - 1)))
        elif pad == PAD_REFLECTION:
            v = np.float32(_reflect(float(v), lo, hi))
    if mode == MODE_NEAREST:
        n = 1
        idx[j, 0] = int(v)
        w[j, 0] = one
    else:
        f = np.floor(v)
        t = v - f
        base = int(f)
        if mode == MODE_LINEAR:
            n = 2
            idx[j, 0] = base
            idx[j, 1] = base + 1
            w[j, 0] = one - t
            w[j, 1] = t
        else:
            n = 4
            a = np.float32(-0.75)
            t1 = t + one
            t2 = one - t
            t3 = two - t
            for q in range(4):
                idx[j, q] = base - 1 + q
            w[j, 0] = ((a * t1 - np.float32(5) * a) * t1 + np.float32(8) * a) * t1 - np.float32(4) * a
            w[j, 1] = ((a + two) * t - (a + np.float32(3))) * t * t + one
            w[j, 2] = ((a + two) * t2 - (a + np.float32(3))) * t2 * t2 + one
            w[j, 3] = ((a * t3 - np.float32(5) * a) * t3 + np.float32(8) * a) * t3 - np.float32(4) * a
    for q in range(n):
        i = idx[j, q]
        if i < 0 or i >= size:
            if pad == PAD_ZEROS:
                i = -1
            elif pad == PAD_BORDER:
                i = min(max(i, 0), size - 1)
            else:
                i = min(max(int(_reflect(float(i), lo, hi)), 0), size - 1)
        idx[j, q] = i
    return n


@kernel
def grid_sample_2d(x, grid, out, mode, pad, align, idx, w):
    """out[n, c, oh, ow] = x[n, c] sampled at grid[n, oh, ow] = (x_w, y_h); idx int64 / w float32 [2, 4]."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                ny = _gs_taps(grid[n, oh, ow, 1], H, align, mode, pad, idx, w, 0)
                nx = _gs_taps(grid[n, oh, ow, 0], W, align, mode, pad, idx, w, 1)
                for c in range(C):
                    p = x[n, c]
                    acc = np.float32(0)
                    for a in range(ny):
                        ia = idx[0, a]
                        if ia < 0:
                            continue
                        row = np.float32(0)
                        for b in range(nx):
                            ib = idx[1, b]
                            if ib >= 0:
                                row += w[1, b] * p[ia, ib]
                        acc += w[0, a] * row
                    out[n, c, oh, ow] = acc


@kernel
def grid_sample_3d(x, grid, out, mode, pad, align, idx, w):
    """Volumetric GridSample: grid[n, od, oh, ow] = (x_w, y_h, z_d); idx int64 / w float32 [3, 4]."""
    N, C, D, H, W = x.shape
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    for n in range(N):
        for od in range(OD):
            for oh in range(OH):
                for ow in range(OW):
                    nz = _gs_taps(grid[n, od, oh, ow, 2], D, align, mode, pad, idx, w, 0)
                    ny = _gs_taps(grid[n, od, oh, ow, 1], H, align, mode, pad, idx, w, 1)
                    nx = _gs_taps(grid[n, od, oh, ow, 0], W, align, mode, pad, idx, w, 2)
                    for c in range(C):
                        p = x[n, c]
                        acc = np.float32(0)
                        for a in range(nz):
                            ia = idx[0, a]
                            if ia < 0:
                                continue
                            plane = np.float32(0)
                            for b in range(ny):
                                ib = idx[1, b]
                                if ib < 0:
                                    continue
                                row = np.float32(0)
                                for e in range(nx):
                                    ie = idx[2, e]
                                    if ie >= 0:
                                        row += w[2, e] * p[ia, ib, ie]
                                plane += w[1, b] * row
                            acc += w[0, a] * plane
                        out[n, c, od, oh, ow] = acc
