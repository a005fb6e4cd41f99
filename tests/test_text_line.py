"""models.ppocr.text_line: a rendered line of text shaped as PP-OCR rec's input (the notebooks calibrate and
check the recogniser on these). Shape, paper and ink, fitting long lines, and determinism; that the real
recogniser reads them is checked by examples/calibration.ipynb and precision.ipynb."""

from __future__ import annotations

import numpy as np
import pytest

from models.ppocr import REC_HEIGHT, REC_WIDTH, normalise, text_line

pytest.importorskip("PIL")

INK = 128  # a pixel darker than mid grey is ink


def ink_columns(img: np.ndarray) -> np.ndarray:
    return np.nonzero((img.min(axis=2) < INK).any(axis=0))[0]


def test_shape_paper_and_ink():
    img = text_line("Invoice 2024-117")
    assert img.shape == (REC_HEIGHT, REC_WIDTH, 3) and img.dtype == np.uint8
    cols = ink_columns(img)
    assert cols.size and cols[-1] < REC_WIDTH - 1, "a short line leaves paper on the right"
    assert (img[:, cols[-1] + 2:] == 255).all(), "padding is white paper"
    assert normalise(img, "rapidocr").shape == (1, 3, REC_HEIGHT, REC_WIDTH)


def test_long_line_is_scaled_to_fit():
    img = text_line("a line far too long to fit 320 pixels at a height of 48 pixels, so it is squeezed")
    assert img.shape == (REC_HEIGHT, REC_WIDTH, 3)
    assert ink_columns(img)[-1] >= REC_WIDTH - 8, "the squeezed line spans the width"


def test_other_sizes_and_determinism():
    assert text_line("abc", width=192).shape == (REC_HEIGHT, 192, 3)
    np.testing.assert_array_equal(text_line("Total: 42"), text_line("Total: 42"))
