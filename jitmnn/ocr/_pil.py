"""Pillow is an optional extra (`pip install 'jitmnn[ocr]'`): imported only by the OCR functions that
draw, crop or resize, so `import jitmnn` and every other command work without it."""

from __future__ import annotations

from ..errors import JitmnnError

EXTRA_HINT = "pip install 'jitmnn[ocr]'   (or: pip install 'pillow>=10.1')"


class MissingExtraError(JitmnnError, ImportError):
    """An optional dependency of the OCR pipeline (Pillow) is not installed."""


def pillow():
    """(Image, ImageDraw, ImageFont) from Pillow, or a MissingExtraError naming the `ocr` extra."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as e:
        raise MissingExtraError(f"the OCR pipeline needs Pillow >= 10.1, which is not installed: {EXTRA_HINT}") from e
    return Image, ImageDraw, ImageFont
