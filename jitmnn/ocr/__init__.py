"""OCR with the real PP-OCR models on jitmnn or ONNX Runtime (numpy + Pillow; no OpenCV).

    import jitmnn
    from jitmnn.ocr import OCR, render_page, char_accuracy, text_of
    page = render_page(["Hello world", "Total: 42.00"])
    result = OCR(jitmnn, session_settings={"precision": "low"})(page)
    print(result.format()); char_accuracy(result.text, text_of(["Hello world", "Total: 42.00"]))

Modules: render (a page of known text), detect (det input, DB post-processing), components (connected
components), geometry (boxes), recognise (crops, cls/rec inputs, CTC), pipeline (the stages, timed),
accuracy (character accuracy), report (backends side by side, for `jitmnn ocr` and examples/ocr_page.py).
Pillow is the `ocr` extra: pip install 'jitmnn[ocr]'."""

from .accuracy import char_accuracy, edit_distance  # noqa: F401
from .detect import DBParams, boxes_from_probability  # noqa: F401
from .pipeline import OCR, OCRResult, TextLine  # noqa: F401
from .render import DEFAULT_LINES, render_page, text_of  # noqa: F401
