"""A page of known text, drawn with a real font, for the OCR demo and tests.

    page = render_page(["Hello world", "Total: 42.00"])   # HxWx3 uint8, white page, black text

The font is Pillow's bundled FreeType font (`ImageFont.load_default(size=...)`, Pillow >= 10.1), so a fresh
machine renders the same page as ours; a system font (DejaVuSans) is used only when asked for by path."""

from __future__ import annotations

import numpy as np

from ._pil import pillow

# Five lines of English, digits and ASCII punctuation the PP-OCRv4 dictionary holds; each fits 640 px at
# DEFAULT_FONT_SIZE with DEFAULT_MARGIN on both sides.
DEFAULT_LINES = (
    "The quick brown fox jumps over the lazy dog.",
    "Invoice 2024-117 due on 15 March 2025",
    "Total amount: 1385.40 EUR, paid by card",
    "Call 555-0199 between 9am and 5pm",
    "Numba kernels run the PP-OCR models",
)
DEFAULT_WIDTH = 640
DEFAULT_FONT_SIZE = 26
DEFAULT_MARGIN = 24  # px of white around the text: DB boxes are unclipped outwards by ~half a line height
DEFAULT_LINE_PITCH = 2.4  # line-to-line distance in font sizes: unclipped boxes of adjacent lines stay apart
SIZE_MULTIPLE = 32  # the detector's input sides are multiples of 32 (five stride-2 stages)


def load_font(size: int = DEFAULT_FONT_SIZE, path: str | None = None):
    """Pillow's bundled FreeType font at `size` px, or the TrueType font at `path`."""
    _, _, ImageFont = pillow()
    if path is not None:
        return ImageFont.truetype(path, size)
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow < 10.1 or built without FreeType: a 6x11 bitmap
        raise ValueError("Pillow's default font is a fixed bitmap here (Pillow < 10.1 or no FreeType); "
                         "pass a TrueType font path, e.g. /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    return font


def render_page(lines=DEFAULT_LINES, width: int = DEFAULT_WIDTH, font_size: int = DEFAULT_FONT_SIZE,
                margin: int = DEFAULT_MARGIN, line_pitch: float = DEFAULT_LINE_PITCH,
                font_path: str | None = None) -> np.ndarray:
    """`lines` drawn black on white, one under the other; HxWx3 uint8 (RGB) with H a multiple of 32, so the
    detector sees the page at its own size. A line wider than the page is an error, not silently cut."""
    Image, ImageDraw, _ = pillow()
    lines = [lines] if isinstance(lines, str) else list(lines)
    font = load_font(font_size, font_path)
    pitch = int(round(font_size * line_pitch))
    height = 2 * margin + pitch * max(len(lines), 1)
    height = -(-height // SIZE_MULTIPLE) * SIZE_MULTIPLE
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    for i, text in enumerate(lines):
        right = draw.textbbox((margin, 0), text, font=font)[2]
        if right > width - margin:
            raise ValueError(f"line {i} ({text!r}) is {right - margin} px wide; the page holds "
                             f"{width - 2 * margin} px at font size {font_size}")
        draw.text((margin, margin + i * pitch + (pitch - font_size) // 2), text, fill="black", font=font)
    return np.asarray(page)


def text_of(lines) -> str:
    """The reference string of a rendered page: its lines joined by newlines."""
    return "\n".join([lines] if isinstance(lines, str) else lines)


def split_lines(text: str) -> list:
    """Lines of a --render argument: real newlines or the two characters backslash-n separate them."""
    return [line for line in text.replace("\\n", "\n").split("\n") if line.strip()]


def save_page(page: np.ndarray, path: str) -> None:
    Image, _, _ = pillow()
    Image.fromarray(page).save(path)


def read_page(path: str) -> np.ndarray:
    """Any image Pillow reads, as HxWx3 uint8 RGB (transparent pixels composited on white)."""
    Image, _, _ = pillow()
    with Image.open(path) as img:
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            white = Image.new("RGBA", img.size, "white")
            img = Image.alpha_composite(white, img)
        return np.asarray(img.convert("RGB"))
