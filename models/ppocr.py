"""The real PP-OCR models (text detection, recognition, direction classification) that the
`rapidocr-onnxruntime` wheel ships, and synthetic inputs they respond to.

    det = ppocr_model_path("det")                    # .../rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx
    x = text_like_page(640, 640, seed=0)             # (1, 3, 640, 640) float32, normalised for the detector
    line = normalise(text_line("Total: 42.00"), "rapidocr")   # (1, 3, 48, 320): a line for the recogniser

The models are located inside the installed package without importing it (its __init__ imports OpenCV,
which we do not need); nothing is ever downloaded. Install with:
    pip install --no-deps rapidocr-onnxruntime==1.4.4"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

PACKAGE = "rapidocr_onnxruntime"
PACKAGE_PIN = "rapidocr-onnxruntime==1.4.4"
INSTALL_HINT = f"pip install --no-deps {PACKAGE_PIN}"
MODEL_FILES = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}

# Input normalisation x/255 -> (x - mean) / std. PaddleOCR's det config (and the anchor measurements in
# shared/ANCHORS.md) use ImageNet statistics; rapidocr-onnxruntime 1.4.4's config.yaml feeds its detector
# mean = std = 0.5 instead, which is also what PP-OCR rec and cls use. The detector works with both.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
NORMALISATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "rapidocr": (HALF, HALF)}
# PP-OCR rec's input is 3 x 48 x W; PaddleOCR pads a batch to at least 320 wide (rec_image_shape [3, 48, 320]).
REC_HEIGHT = 48
REC_WIDTH = 320


class PPOCRModelNotFound(FileNotFoundError):
    """The rapidocr-onnxruntime wheel (which ships the PP-OCR ONNX files) is not installed."""


def package_dir() -> str:
    """The installed rapidocr_onnxruntime folder, found without importing the package (it needs cv2)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise PPOCRModelNotFound(
            f"the PP-OCR models come from the {PACKAGE_PIN!r} wheel, which is not installed in this Python "
            f"environment; install it with:\n    {INSTALL_HINT}\n(--no-deps: its dependencies, e.g. OpenCV, "
            f"are not needed to use the model files)")
    return list(spec.submodule_search_locations)[0]


def ppocr_model_path(name: str) -> str:
    """Path of the PP-OCR ONNX file `name` in {"det", "rec", "cls"} inside the installed wheel."""
    if name not in MODEL_FILES:
        raise ValueError(f"unknown PP-OCR model {name!r}; choose one of {sorted(MODEL_FILES)}")
    path = os.path.join(package_dir(), "models", MODEL_FILES[name])
    if not os.path.isfile(path):
        raise PPOCRModelNotFound(
            f"{path} is missing from the installed {PACKAGE} package (a different version?); reinstall with:\n"
            f"    pip install --force-reinstall {INSTALL_HINT[len('pip install '):]}")
    return path


def normalise(img_hwc: np.ndarray, normalisation: str = "imagenet") -> np.ndarray:
    """uint8/float HxWx3 in 0..255 -> (1, 3, H, W) float32, as PP-OCR's preprocessing does."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {sorted(NORMALISATIONS)}, got {normalisation!r}")
    mean, std = (np.asarray(v, dtype=np.float64) for v in NORMALISATIONS[normalisation])
    x = (np.asarray(img_hwc, dtype=np.float64) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def text_like_page(h: int = 640, w: int = 640, seed: int = 0, normalisation: str | None = "imagenet") -> np.ndarray:
    """A synthetic page: lines of dark stroke 'glyphs' on light, slightly uneven paper.

    PP-OCR det outputs ~0 everywhere on noise, so its numerics are only exercised on something text-like.
    Lines vary in height (14..34 px), glyphs are 2-5 horizontal/vertical/diagonal strokes, words are separated
    by gaps, and ink and paper tones vary, so the detector's probability map covers a realistic fraction of
    the page. Returns (1, 3, h, w) float32 normalised (see NORMALISATIONS), or the HxWx3 uint8 page when
    `normalisation` is None."""
    rng = np.random.default_rng(seed)
    paper = rng.uniform(215.0, 250.0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = paper - 12.0 * (yy / max(h, 1)) * (xx / max(w, 1)) + rng.normal(0.0, 2.5, (h, w))
    img = np.repeat(img[:, :, None], 3, axis=2) + rng.uniform(-6.0, 6.0, 3)  # a slight colour cast
    margin = max(4, w // 24)
    y = max(4, h // 32)
    while True:
        lh = int(rng.integers(14, 35))
        if y + lh >= h - 4:
            break
        x_end = int(w - margin - rng.integers(0, max(1, w // 3)))
        x = int(margin + rng.integers(0, max(1, w // 16)))
        ink = rng.uniform(10.0, 80.0)
        thick = max(2, lh // 9)
        while x + lh // 2 < x_end:
            for _ in range(int(rng.integers(2, 8))):  # glyphs of one word
                gw = int(lh * rng.uniform(0.45, 0.8))
                if x + gw >= x_end:
                    break
                _glyph(img, rng, y, x, lh, gw, thick, ink)
                x += gw + max(1, lh // 10)
            x += int(lh * rng.uniform(0.5, 1.0))  # word gap
        y += lh + int(rng.integers(lh // 3 + 2, lh + 8))
    img = np.clip(img, 0.0, 255.0).astype(np.uint8)
    return img if normalisation is None else normalise(img, normalisation)


def _glyph(img, rng, y, x, lh, gw, thick, ink) -> None:
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(2, 6))):
        kind = rng.integers(0, 3)
        if kind == 0:  # horizontal bar
            r = y + int(rng.integers(0, max(1, lh - thick)))
            c0 = x + int(rng.integers(0, max(1, gw // 3)))
            c1 = x + int(rng.integers(gw // 2, gw + 1))
            img[r:min(r + thick, h), c0:min(c1, w)] = ink
        elif kind == 1:  # vertical bar
            c = x + int(rng.integers(0, max(1, gw - thick)))
            r0 = y + int(rng.integers(0, max(1, lh // 3)))
            r1 = y + int(rng.integers(lh // 2, lh + 1))
            img[r0:min(r1, h), c:min(c + thick, w)] = ink
        else:  # diagonal
            n = lh
            rows = y + np.arange(n)
            slope = gw / lh * (1 if rng.random() < 0.5 else -1)
            cols = (x + (gw if slope < 0 else 0) + slope * np.arange(n)).astype(int)
            for t in range(thick):
                ok = (rows < h) & (cols + t < w) & (cols + t >= 0)
                img[rows[ok], cols[ok] + t] = ink


def text_line(text: str, height: int = REC_HEIGHT, width: int = REC_WIDTH, font_size: int = 32) -> np.ndarray:
    """`text` drawn black on white with Pillow's bundled font, as a text-line crop looks when PP-OCR's
    recogniser gets it: scaled to `height` keeping its aspect ratio, at most `width` wide, padded on the
    right with paper. HxWx3 uint8; `normalise(text_line(s), "rapidocr")` is rec's (1, 3, 48, 320) input.

    The crop spans the font's ascent and descent, not the ink of these particular letters, so every line
    sits in its crop the way a detector's box puts it there. Needs Pillow >= 10.1 (the `ocr` extra)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_size)
    ascent, descent = font.getmetrics()
    left, _, right, _ = font.getbbox(text)
    pad = max(1, font_size // 8)
    crop = Image.new("RGB", (right - left + 2 * pad, ascent + descent + 2 * pad), "white")
    ImageDraw.Draw(crop).text((pad - left, pad), text, fill="black", font=font)
    fitted = max(1, min(width, round(height * crop.width / crop.height)))
    line = Image.new("RGB", (width, height), "white")
    line.paste(crop.resize((fitted, height), Image.Resampling.BILINEAR), (0, 0))
    return np.asarray(line)


def random_input(shape, seed: int = 0, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Uniform random input in PP-OCR rec/cls's normalised range ((x/255 - 0.5) / 0.5 is in [-1, 1])."""
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)
