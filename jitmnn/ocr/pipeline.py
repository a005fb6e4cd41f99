"""The OCR pipeline on any runtime with ONNX Runtime's API: PP-OCRv4 det -> DB boxes -> crops -> cls
(upside-down lines turned) -> rec -> CTC text.

    import onnxruntime, jitmnn
    ocr = OCR(onnxruntime)                                        # the reference
    ocr = OCR(jitmnn, session_settings={"memory": "low"})         # the same models on jitmnn
    result = ocr(page)                                            # page: HxWx3 uint8 RGB
    print(result.format())

Only InferenceSession(path, sess_options=, providers=), get_inputs()[0].name and run(None, {name: x}) are
used, so the two runtimes run the same code on the same ONNX files; `session_settings` are passed to the
runtime's InferenceSession as keywords (jitmnn's precision=/memory=; give ORT none)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .detect import DBParams, boxes_from_probability, det_input
from .recognise import charset_from_onnx, cls_input, crop_boxes, ctc_greedy_decode, rec_input, upright

BATCH = 6  # crops per cls/rec run (PaddleOCR's cls_batch_num / rec_batch_num)
TEXT_SCORE = 0.5  # lines recognised with a lower mean character probability are dropped (rapidocr's text_score)
MODEL_STAGES = ("det", "cls", "rec")  # stages that run a model; the rest is host-side numpy/Pillow work


@dataclass
class TextLine:
    """One detected box and what was read in it."""

    box: np.ndarray  # (4, 2) int32 page pixels, [top-left, top-right, bottom-right, bottom-left]
    text: str
    confidence: float  # mean probability of the recognised characters
    det_score: float  # mean text probability inside the box
    turned: bool = False  # the classifier found it upside down (> 0.9) and it was rotated 180 degrees


@dataclass
class OCRResult:
    lines: list
    timings: dict = field(default_factory=dict)  # stage -> seconds, in pipeline order
    prob_map: np.ndarray | None = None  # the detector's (H, W) text probability

    @property
    def text(self) -> str:
        """Recognised lines in reading order, boxes on one line joined by a space, lines by newlines."""
        return "\n".join(" ".join(t.text for t in row) for row in rows_of(self.lines))

    def format(self) -> str:
        out = []
        for t in self.lines:
            (x0, y0), (x1, y1) = t.box.min(0), t.box.max(0)
            turned = " (turned 180)" if t.turned else ""
            out.append(f"[{x0:4d},{y0:4d} {x1:4d},{y1:4d}] {t.confidence:.3f} {t.text}{turned}")
        out.append("time: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in self.timings.items()))
        return "\n".join(out)


def rows_of(lines) -> list:
    """Boxes grouped into text rows: a box whose vertical centre falls inside the current row's span joins
    it (DB can split a line at a wide gap)."""
    rows: list = []
    for t in lines:
        ys = t.box[:, 1]
        mid = (int(ys.min()) + int(ys.max())) / 2
        if rows and rows[-1][0] <= mid <= rows[-1][1]:
            rows[-1][2].append(t)
        else:
            rows.append([int(ys.min()), int(ys.max()), [t]])
    return [sorted(r[2], key=lambda t: t.box[0][0]) for r in rows]


def open_session(runtime, path: str, num_threads: int = 1, **settings):
    """runtime.InferenceSession on the CPU provider, `num_threads` intra-op threads."""
    options = runtime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return runtime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"], **settings)


@contextmanager
def timed(timings: dict, stage: str):
    """Adds the seconds spent in the block to timings[stage] (a stage may run once per batch)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


class OCR:
    """PP-OCR det + cls + rec sessions opened once on `runtime` (a module or object exposing
    InferenceSession and SessionOptions: onnxruntime, jitmnn); call it on pages.

    paths: {"det", "cls", "rec"} -> ONNX file, by default those the rapidocr-onnxruntime wheel ships.
    Timings separate each model's run ("det", "cls", "rec") from the host-side work around it."""

    def __init__(self, runtime, *, num_threads: int = 1, session_settings: dict | None = None,
                 db: DBParams = DBParams(), use_cls: bool = True, text_score: float = TEXT_SCORE,
                 batch_size: int = BATCH, paths: dict | None = None):
        if paths is None:
            from ..models.ppocr import ppocr_model_path

            paths = {name: ppocr_model_path(name) for name in MODEL_STAGES}
        settings = dict(session_settings or {})
        self.sessions = {name: open_session(runtime, paths[name], num_threads, **settings)
                         for name in MODEL_STAGES if use_cls or name != "cls"}
        self.input_names = {name: s.get_inputs()[0].name for name, s in self.sessions.items()}
        self.charset = charset_from_onnx(paths["rec"])
        self.db = db
        self.text_score = text_score
        self.batch_size = batch_size

    def run_model(self, stage: str, x: np.ndarray, timings: dict) -> np.ndarray:
        with timed(timings, stage):
            return self.sessions[stage].run(None, {self.input_names[stage]: x})[0]

    def detect(self, page: np.ndarray, timings: dict):
        """(boxes, scores, probability map) for an HxWx3 uint8 page."""
        with timed(timings, "det_input"):
            x = det_input(page)
        prob = self.run_model("det", x, timings)[0, 0]
        with timed(timings, "db_post"):
            boxes, scores = boxes_from_probability(prob, page.shape[:2], self.db)
        return boxes, scores, prob

    def classify(self, crops: list, timings: dict):
        """The crops turned upright where the classifier says so, and which were turned."""
        crops, turned = list(crops), [False] * len(crops)
        if "cls" not in self.sessions:
            return crops, turned
        for lo in range(0, len(crops), self.batch_size):
            hi = lo + self.batch_size
            with timed(timings, "cls_input"):
                x = cls_input(crops[lo:hi])
            probs = self.run_model("cls", x, timings)
            crops[lo:hi], turned[lo:hi] = upright(crops[lo:hi], probs)
        return crops, turned

    def recognise(self, crops: list, timings: dict) -> list:
        """[(text, confidence)] per crop; crops are batched by aspect ratio so padding stays small."""
        results: list = [("", 0.0)] * len(crops)
        order = sorted(range(len(crops)), key=lambda k: crops[k].width / max(crops[k].height, 1))
        for lo in range(0, len(order), self.batch_size):
            batch = order[lo:lo + self.batch_size]
            with timed(timings, "rec_input"):
                x = rec_input([crops[k] for k in batch])
            probs = self.run_model("rec", x, timings)
            with timed(timings, "ctc"):
                for k, decoded in zip(batch, ctc_greedy_decode(probs, self.charset)):
                    results[k] = decoded
        return results

    def __call__(self, page: np.ndarray) -> OCRResult:
        page = np.asarray(page)
        if page.ndim != 3 or page.shape[2] != 3 or page.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB page, got {page.dtype} {page.shape}")
        timings: dict = {}
        start = time.perf_counter()
        boxes, scores, prob = self.detect(page, timings)
        with timed(timings, "crop"):
            crops = crop_boxes(page, boxes)
        crops, turned = self.classify(crops, timings)
        decoded = self.recognise(crops, timings)
        timings["total"] = time.perf_counter() - start
        lines = [TextLine(box, text, conf, score, flip)
                 for box, score, flip, (text, conf) in zip(boxes, scores, turned, decoded)
                 if conf >= self.text_score]
        return OCRResult(lines, timings, prob)
