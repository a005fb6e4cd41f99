"""Text detection around the PP-OCR DB model: the page -> the detector's input, and its probability map ->
text boxes, as PaddleOCR's DetResizeForTest and DBPostProcess do (tools/infer/predict_det.py defaults).

    x, scale = det_input(page)                        # (1, 3, H32, W32) float32
    prob = session.run(None, {name: x})[0][0, 0]      # (H32, W32) text probability
    boxes, scores = boxes_from_probability(prob, page.shape[:2])"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .components import component_points, label_runs
from .geometry import Rect, min_area_rect, order_corners, polygon_mask

# PaddleOCR's det preprocessing: BGR/255 normalised with ImageNet statistics (rapidocr feeds mean = std =
# 0.5 instead; the detector works with both, see jitmnn/models/ppocr.py).
DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DET_LIMIT_SIDE = 960  # DetResizeForTest(limit_type="max"): a longer side is scaled down to 960 px
DET_MULTIPLE = 32  # input sides must be multiples of 32 (the FPN halves the page five times)


@dataclass(frozen=True)
class DBParams:
    """DBPostProcess settings; defaults are PaddleOCR's inference defaults for PP-OCRv4 det
    (det_db_thresh, det_db_box_thresh, det_db_unclip_ratio; rapidocr uses 0.5 / 1.6 and dilation)."""

    thresh: float = 0.3  # pixel is text when its probability exceeds this
    box_thresh: float = 0.7  # a box is kept when the mean probability inside it reaches this
    unclip_ratio: float = 2.0  # the shrunk text kernel is grown back by area * ratio / perimeter
    max_candidates: int = 1000
    min_size: int = 3  # boxes with a shorter side (px of the map) are noise
    use_dilation: bool = False  # 2x2 dilation of the mask before labelling


def det_size(height: int, width: int, limit_side: int = DET_LIMIT_SIDE) -> tuple[int, int]:
    """The detector's input (height, width): the longer side capped at `limit_side`, both rounded to 32."""
    ratio = min(1.0, limit_side / max(height, width))
    return tuple(max(int(round(int(s * ratio) / DET_MULTIPLE) * DET_MULTIPLE), DET_MULTIPLE) for s in (height, width))


def det_input(page: np.ndarray, limit_side: int = DET_LIMIT_SIDE) -> np.ndarray:
    """HxWx3 uint8 RGB page -> (1, 3, H', W') float32 for PP-OCR det (resized only if a side is off 32)."""
    from ._pil import pillow

    h, w = page.shape[:2]
    size = det_size(h, w, limit_side)
    if size != (h, w):
        Image, _, _ = pillow()
        page = np.asarray(Image.fromarray(page).resize((size[1], size[0]), Image.Resampling.BILINEAR))
    bgr = page[:, :, ::-1].astype(np.float32) / 255.0  # PaddleOCR models were trained on OpenCV's BGR
    x = (bgr - DET_MEAN) / DET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def text_mask(prob: np.ndarray, params: DBParams = DBParams()) -> np.ndarray:
    """Pixels above the threshold, optionally dilated by a 2x2 square (cv2.dilate: anchor at (1, 1), so a
    pixel turns on when it or its upper, left or upper-left neighbour is on)."""
    mask = prob > params.thresh
    if params.use_dilation:
        grown = mask.copy()
        grown[1:, :] |= mask[:-1, :]
        grown[:, 1:] |= mask[:, :-1]
        grown[1:, 1:] |= mask[:-1, :-1]
        mask = grown
    return mask


def box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the box (DBPostProcess.box_score_fast: corners truncated to int)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    local = box.astype(np.int32) - np.array([x0, y0])
    inside = polygon_mask(local, y1 - y0 + 1, x1 - x0 + 1)
    window = prob[y0:y1 + 1, x0:x1 + 1]
    return float(window[inside].mean()) if inside.any() else 0.0


def boxes_from_probability(prob: np.ndarray, page_shape: tuple, params: DBParams = DBParams()):
    """(boxes, scores): int32 (n, 4, 2) corners [tl, tr, br, bl] in page pixels and each box's mean
    probability, in reading order (top to bottom, then left to right).

    Per connected component of the text mask: its minimum-area rectangle, scored on the map, grown by the
    unclip offset (DB predicts shrunk text kernels), scaled to the page and clipped. Unlike
    cv2.findContours(RETR_LIST) holes give no boxes of their own (theirs scored low and were dropped)."""
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2:
        raise ValueError(f"expected the (H, W) probability map, got shape {prob.shape}")
    map_h, map_w = prob.shape
    page_h, page_w = page_shape[:2]
    scale = np.array([page_w / map_w, page_h / map_h])
    runs = label_runs(text_mask(prob, params))
    boxes, scores = [], []
    for points in component_points(runs, params.max_candidates):
        rect = min_area_rect(points)
        if rect.short_side < params.min_size:
            continue
        score = box_score(prob, rect.corners())
        if score < params.box_thresh:
            continue
        grown = rect.unclipped(params.unclip_ratio)
        if grown.short_side < params.min_size + 2:
            continue
        box = _on_page(grown, scale, page_w, page_h)
        if box is not None:
            boxes.append(box)
            scores.append(score)
    order = reading_order(boxes)
    return (np.array([boxes[k] for k in order], dtype=np.int32).reshape(-1, 4, 2), [scores[k] for k in order])


def _on_page(rect: Rect, scale: np.ndarray, page_w: int, page_h: int):
    """Map corners -> page pixels, rounded and clipped to the page (DBPostProcess then TextDetector's
    filter_tag_det_res); None for a box 3 px or less across on the page."""
    box = np.round(rect.corners() * scale)
    box = order_corners(box)
    box[:, 0] = np.clip(box[:, 0], 0, page_w - 1)
    box[:, 1] = np.clip(box[:, 1], 0, page_h - 1)
    if int(np.hypot(*(box[0] - box[1]))) <= 3 or int(np.hypot(*(box[0] - box[3]))) <= 3:
        return None
    return box.astype(np.int32)


LINE_TOLERANCE = 10  # px: boxes whose tops differ by less are on one line (rapidocr's sorted_boxes)


def reading_order(boxes) -> list:
    """Indices of boxes top to bottom, left to right within a line (PaddleOCR's sorted_boxes)."""
    order = sorted(range(len(boxes)), key=lambda k: (boxes[k][0][1], boxes[k][0][0]))
    for i in range(len(order) - 1):
        for j in range(i, -1, -1):
            a, b = boxes[order[j]][0], boxes[order[j + 1]][0]
            if abs(b[1] - a[1]) < LINE_TOLERANCE and b[0] < a[0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return order
