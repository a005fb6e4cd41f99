"""Text line crops -> the classifier's and the recogniser's inputs, and the recogniser's output -> text, as
PaddleOCR's predict_cls.py / predict_rec.py do (rapidocr-onnxruntime 1.4.4 is the same code).

    crops = crop_boxes(page, boxes)                      # PIL images, the line upright and horizontal
    x = cls_input(crops)                                 # (n, 3, 48, 192): upright or upside down?
    x = rec_input(crops)                                 # (n, 3, 48, W): W fits the widest crop
    texts = ctc_greedy_decode(probs, charset_from_onnx(rec_path))"""

from __future__ import annotations

import math

import numpy as np

from ._pil import pillow

REC_HEIGHT = 48  # PP-OCRv4 rec input is 3 x 48 x W
REC_MIN_WIDTH = 320  # PaddleOCR's rec_image_shape [3, 48, 320]: narrower batches are padded to 320
CLS_SHAPE = (48, 192)  # ch_ppocr_mobile_v2.0_cls input 3 x 48 x 192
CLS_LABELS = ("0", "180")
CLS_THRESH = 0.9  # rotate a crop only when the classifier is this sure it is upside down
TALL_RATIO = 1.5  # crops this much taller than wide are vertical text: turned 90 degrees (get_rotate_crop_image)
CHARSET_KEY = "character"  # metadata_props key under which PP-OCRv4 rec ONNX files carry their dictionary


def crop_box(page, box: np.ndarray):
    """The quadrilateral `box` ([tl, tr, br, bl] page pixels) cut out and warped upright into a PIL image
    of its width x height (PaddleOCR's get_rotate_crop_image, bicubic)."""
    Image, _, _ = pillow()
    if isinstance(page, np.ndarray):
        page = Image.fromarray(page)
    box = np.asarray(box, dtype=np.float64)
    width = int(max(np.hypot(*(box[0] - box[1])), np.hypot(*(box[2] - box[3]))))
    height = int(max(np.hypot(*(box[0] - box[3])), np.hypot(*(box[1] - box[2]))))
    tl, tr, br, bl = box
    quad = (*tl, *bl, *br, *tr)  # PIL's QUAD source order: upper-left, lower-left, lower-right, upper-right
    crop = page.transform((max(width, 1), max(height, 1)), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    if height >= TALL_RATIO * width:
        crop = crop.transpose(Image.Transpose.ROTATE_90)
    return crop


def crop_boxes(page: np.ndarray, boxes) -> list:
    """crop_box for each box, the page converted to a PIL image once."""
    Image, _, _ = pillow()
    image = Image.fromarray(page)
    return [crop_box(image, box) for box in boxes]


def _normalised(crop, width: int, height: int, padded_width: int) -> np.ndarray:
    """(3, height, padded_width): the crop resized to width x height, BGR/255 mapped to [-1, 1], zero
    (mid grey) padding on the right."""
    Image, _, _ = pillow()
    resized = np.asarray(crop.convert("RGB").resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    out = np.zeros((3, height, padded_width), dtype=np.float32)
    out[:, :, :width] = (resized[:, :, ::-1].transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return out


def _fitted_width(crop, height: int, max_width: int) -> int:
    return max(1, min(max_width, int(math.ceil(height * crop.width / max(crop.height, 1)))))


def cls_input(crops) -> np.ndarray:
    """(n, 3, 48, 192) float32: each crop at height 48 keeping its aspect ratio, at most 192 wide."""
    h, w = CLS_SHAPE
    return np.stack([_normalised(c, _fitted_width(c, h, w), h, w) for c in crops])


def upright(crops, probs: np.ndarray, thresh: float = CLS_THRESH):
    """(crops, turned): those the classifier calls "180" with probability > thresh rotated the right way
    up, and a flag per crop saying which were."""
    Image, _, _ = pillow()
    best = np.argmax(probs, axis=1)
    turned = [CLS_LABELS[int(k)] == "180" and float(p[k]) > thresh for p, k in zip(probs, best)]
    return [c.transpose(Image.Transpose.ROTATE_180) if t else c for c, t in zip(crops, turned)], turned


def rec_width(crops) -> int:
    """The batch's input width: 48 x the widest aspect ratio, at least 320 (PaddleOCR's max_wh_ratio)."""
    ratio = max([REC_MIN_WIDTH / REC_HEIGHT] + [c.width / max(c.height, 1) for c in crops])
    return int(REC_HEIGHT * ratio)


def rec_input(crops) -> np.ndarray:
    """(n, 3, 48, W) float32: each crop at height 48 keeping its aspect ratio, padded to the batch's W."""
    width = rec_width(crops)
    return np.stack([_normalised(c, _fitted_width(c, REC_HEIGHT, width), REC_HEIGHT, width) for c in crops])


def charset_from_onnx(path: str) -> list:
    """The recogniser's classes: "blank" (CTC's), the dictionary stored in the ONNX file's metadata under
    "character" (one symbol per line), then " " (PaddleOCR's use_space_char)."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    if CHARSET_KEY not in meta:
        raise ValueError(f"{path} carries no dictionary (no {CHARSET_KEY!r} in its metadata_props); "
                         f"it is not a PP-OCRv4-style rec model")
    return ["blank", *meta[CHARSET_KEY].splitlines(), " "]


def ctc_greedy_decode(probs: np.ndarray, charset: list) -> list:
    """[(text, confidence)] per row of (n, T, classes) softmax outputs: the best class per time step,
    repeats collapsed, blanks (class 0) dropped; confidence = mean probability of the characters kept."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] != len(charset):
        raise ValueError(f"expected (n, T, {len(charset)}) probabilities, got shape {probs.shape}")
    best, best_p = probs.argmax(axis=2), probs.max(axis=2)
    out = []
    for idx, p in zip(best, best_p):
        keep = np.ones(len(idx), dtype=bool)
        keep[1:] = idx[1:] != idx[:-1]
        keep &= idx != 0
        text = "".join(charset[k] for k in idx[keep])
        out.append((text, float(p[keep].mean()) if keep.any() else 0.0))
    return out
