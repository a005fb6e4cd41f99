"""Detection references, one output element at a time in float64: greedy NMS over Python lists, Detectron's
RoiAlign bilinear sample, Fast R-CNN RoI max pooling, PyTorch's grid_sampler (padding by mirroring a
coordinate until it lands inside, Python's round-half-even for nearest)."""

import math

import numpy as np


# ----- NonMaxSuppression -------------------------------------------------------------------------------
def _extent(box, center):
    if center:
        xc, yc, w, h = box
        return xc - w / 2, xc + w / 2, yc - h / 2, yc + h / 2
    y1, x1, y2, x2 = box
    return min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)


def _iou(a, b):
    iw = min(a[1], b[1]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[2], b[2])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area_a = (a[1] - a[0]) * (a[3] - a[2])
    area_b = (b[1] - b[0]) * (b[3] - b[2])
    return inter / (area_a + area_b - inter)


def _nms(attrs, x):
    boxes = np.asarray(x[0], np.float64)
    scores = np.asarray(x[1], np.float64)
    max_out = int(np.asarray(x[2]).reshape(-1)[0]) if len(x) > 2 and x[2] is not None else 0
    iou_th = float(np.asarray(x[3]).reshape(-1)[0]) if len(x) > 3 and x[3] is not None else 0.0
    score_th = float(np.asarray(x[4]).reshape(-1)[0]) if len(x) > 4 and x[4] is not None else None
    center = attrs.get("center_point_box", 0)
    rows = []
    for b in range(boxes.shape[0]):
        ext = [_extent(box.tolist(), center) for box in boxes[b]]
        for c in range(scores.shape[1]):
            s = scores[b, c].tolist()
            cand = [i for i in range(len(s)) if score_th is None or s[i] > score_th]
            cand.sort(key=lambda i: (-s[i], i))
            kept = []
            for i in cand:
                if len(kept) == max_out:
                    break
                if all(_iou(ext[i], ext[j]) <= iou_th for j in kept):
                    kept.append(i)
                    rows.append([b, c, i])
    return [np.array(rows, np.int64).reshape(-1, 3)]


# ----- RoiAlign ----------------------------------------------------------------------------------------
def _bilinear_terms(img, y, x):
    """The four weighted corner values (one array over channels each) of a Detectron bilinear sample."""
    H, W = img.shape[1], img.shape[2]
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return [np.zeros(img.shape[0])] * 4
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return [(1 - ly) * (1 - lx) * img[:, y0, x0], (1 - ly) * lx * img[:, y0, x1],
            ly * (1 - lx) * img[:, y1, x0], ly * lx * img[:, y1, x1]]


def _roi_align(attrs, x):
    a = np.asarray(x[0], np.float64)
    rois = np.asarray(x[1], np.float64)
    bidx = np.asarray(x[2]).reshape(-1)
    oh, ow = attrs.get("output_height", 1), attrs.get("output_width", 1)
    sr, scale = attrs.get("sampling_ratio", 0), attrs.get("spatial_scale", 1.0)
    half = attrs.get("coordinate_transformation_mode", "half_pixel") == "half_pixel"
    use_max = attrs.get("mode", "avg") == "max"
    out = np.zeros((rois.shape[0], a.shape[1], oh, ow))
    for r in range(rois.shape[0]):
        img = a[int(bidx[r])]
        x0, y0, x1, y1 = (v * scale - (0.5 if half else 0.0) for v in rois[r])
        w, h = x1 - x0, y1 - y0
        if not half:
            w, h = max(w, 1.0), max(h, 1.0)
        gh = sr if sr > 0 else math.ceil(h / oh)
        gw = sr if sr > 0 else math.ceil(w / ow)
        for i in range(oh):
            for j in range(ow):
                samples = []
                for iy in range(gh):
                    for ix in range(gw):
                        yy = y0 + (i + (iy + 0.5) / gh) * h / oh
                        xx = x0 + (j + (ix + 0.5) / gw) * w / ow
                        terms = _bilinear_terms(img, yy, xx)
                        samples.append(np.max(terms, axis=0) if use_max else sum(terms))
                if samples:
                    out[r, :, i, j] = np.max(samples, axis=0) if use_max else sum(samples) / len(samples)
    return [out]


# ----- MaxRoiPool --------------------------------------------------------------------------------------
def _round_away(v):
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _max_roi_pool(attrs, x):
    a = np.asarray(x[0], np.float64)
    rois = np.asarray(x[1], np.float64)
    ph, pw = attrs["pooled_shape"]
    scale = attrs.get("spatial_scale", 1.0)
    H, W = a.shape[2], a.shape[3]
    out = np.zeros((rois.shape[0], a.shape[1], ph, pw))
    for r in range(rois.shape[0]):
        b = int(rois[r, 0])
        x0, y0, x1, y1 = (_round_away(v * scale) for v in rois[r, 1:])
        bh = max(y1 - y0 + 1, 1) / ph
        bw = max(x1 - x0 + 1, 1) / pw
        for i in range(ph):
            for j in range(pw):
                ys = range(max(y0 + math.floor(i * bh), 0), min(y0 + math.ceil((i + 1) * bh), H))
                xs = range(max(x0 + math.floor(j * bw), 0), min(x0 + math.ceil((j + 1) * bw), W))
                for c in range(a.shape[1]):
                    vals = [a[b, c, yy, xx] for yy in ys for xx in xs]
                    out[r, c, i, j] = max(vals) if vals else 0.0
    return [out]


# ----- GridSample --------------------------------------------------------------------------------------
def _mirror(v, lo, hi):
    if hi <= lo:
        return lo
    while v < lo or v > hi:
        v = 2 * lo - v if v < lo else 2 * hi - v
    return v


def _keys(d, A=-0.75):
    d = abs(d)
    if d <= 1:
        return (A + 2) * d ** 3 - (A + 3) * d ** 2 + 1
    if d < 2:
        return A * d ** 3 - 5 * A * d ** 2 + 8 * A * d - 4 * A
    return 0.0


def _grid_sample(attrs, x):
    a = np.asarray(x[0], np.float64)
    grid = np.asarray(x[1], np.float64)
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(attrs.get("mode", "linear"), attrs.get("mode", "linear"))
    pad = attrs.get("padding_mode", "zeros")
    align = attrs.get("align_corners", 0)
    sizes = a.shape[2:]
    r = len(sizes)
    bounds = [(0.0, s - 1.0) if align else (-0.5, s - 0.5) for s in sizes]
    out = np.zeros(a.shape[:2] + grid.shape[1:-1])

    def pixel(n, idx):
        pos = []
        for i, s, (lo, hi) in zip(idx, sizes, bounds):
            if not 0 <= i < s:
                if pad == "zeros":
                    return np.zeros(a.shape[1])
                i = min(max(i, 0), s - 1) if pad == "border" else min(max(int(_mirror(float(i), lo, hi)), 0), s - 1)
            pos.append(i)
        return a[(n, slice(None), *pos)]

    for n in range(a.shape[0]):
        for o in np.ndindex(*grid.shape[1:-1]):
            c = []
            for d in range(r):
                g = grid[(n, *o, r - 1 - d)]
                v = (g + 1) / 2 * (sizes[d] - 1) if align else ((g + 1) * sizes[d] - 1) / 2
                if mode == "nearest":
                    v = float(round(v))  # half to even
                lo, hi = bounds[d]
                if not lo <= v <= hi:
                    v = min(max(v, 0.0), sizes[d] - 1.0) if pad == "border" else _mirror(v, lo, hi) if \
                        pad == "reflection" else v
                c.append(v)
            if mode == "nearest":
                out[(n, slice(None), *o)] = pixel(n, [int(v) for v in c])
                continue
            offsets = (0, 1) if mode == "linear" else (-1, 0, 1, 2)
            acc = np.zeros(a.shape[1])
            for combo in np.ndindex(*([len(offsets)] * r)):
                idx = [math.floor(v) + offsets[q] for v, q in zip(c, combo)]
                wgt = 1.0
                for v, i in zip(c, idx):
                    wgt *= (1 - abs(v - i)) if mode == "linear" else _keys(v - i)
                acc += wgt * pixel(n, idx)
            out[(n, slice(None), *o)] = acc
    return [out]


REFERENCES = {
    "NonMaxSuppression": _nms,
    "RoiAlign": _roi_align,
    "MaxRoiPool": _max_roi_pool,
    "GridSample": _grid_sample,
}
