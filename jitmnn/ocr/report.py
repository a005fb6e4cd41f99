"""Run the OCR pipeline on one or more backends and print what each read and how long each stage took, side
by side: what `jitmnn ocr` and examples/ocr_page.py show.

    backends = [Backend("jitmnn", {"memory": "low"}), Backend("onnxruntime")]
    runs = run_backends(page, backends, repeats=2)
    print(format_runs(runs, reference=text_of(lines)))"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field

from .accuracy import char_accuracy
from .pipeline import OCR, OCRResult

RUNTIMES = ("jitmnn", "onnxruntime")


@dataclass
class Backend:
    """A runtime module name and the settings its InferenceSession gets (jitmnn's only; ORT takes none)."""

    runtime: str
    settings: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """e.g. "jitmnn precision=low memory=normal"."""
        return " ".join([self.runtime] + [f"{k}={v}" for k, v in self.settings.items()])

    @property
    def short_label(self) -> str:
        """A table column's heading, e.g. "jitmnn low/normal" (the settings' values in order)."""
        return " ".join([self.runtime] + (["/".join(str(v) for v in self.settings.values())] if self.settings else []))

    def open(self, num_threads: int = 1) -> OCR:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}; choose one of {RUNTIMES}")
        if self.runtime == "onnxruntime" and self.settings:
            raise ValueError(f"ONNX Runtime takes no jitmnn settings, got {self.settings}")
        return OCR(importlib.import_module(self.runtime), num_threads=num_threads, session_settings=self.settings)


@dataclass
class BackendRun:
    backend: Backend
    result: OCRResult  # of the last repeat: steady state
    open_seconds: float
    first_seconds: float  # the first page: plans, packs weights, loads compiled kernels


def run_backends(page, backends, repeats: int = 2, num_threads: int = 1) -> list:
    """Each backend's sessions opened, then the page read `repeats` times; the last read is reported."""
    runs = []
    for backend in backends:
        tic = time.perf_counter()
        ocr = backend.open(num_threads)
        opened = time.perf_counter() - tic
        tic = time.perf_counter()
        result = ocr(page)
        first = time.perf_counter() - tic
        for _ in range(max(repeats, 1) - 1):
            result = ocr(page)
        runs.append(BackendRun(backend, result, opened, first))
    return runs


def format_runs(runs, reference: str | None = None) -> str:
    """Each backend's lines (box, confidence, text), then one table: a column per backend, a row per stage."""
    out = []
    for run in runs:
        acc = "" if reference is None else f", character accuracy {char_accuracy(run.result.text, reference):.3f}"
        out.append(f"== {run.backend.label}: {len(run.result.lines)} lines{acc}")
        out.extend(run.result.format().splitlines()[:-1])
    stages = list(dict.fromkeys(k for run in runs for k in run.result.timings))
    width = max([10] + [len(r.backend.short_label) for r in runs])
    out.append("")
    keys = next((list(r.backend.settings) for r in runs if r.backend.settings), [])
    out.append(f"{'ms':<14}" + "".join(f"{r.backend.short_label:>{width + 2}}" for r in runs)
               + (f"   ({'/'.join(keys)})" if keys else ""))
    rows = [(s, [r.result.timings.get(s) for r in runs]) for s in stages]
    rows += [("first page", [r.first_seconds for r in runs]), ("open sessions", [r.open_seconds for r in runs])]
    for stage, values in rows:
        cells = "".join(f"{'-' if v is None else f'{v * 1e3:.1f}':>{width + 2}}" for v in values)
        out.append(f"{stage:<14}" + cells)
    return "\n".join(out)
