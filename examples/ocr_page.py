"""Render a page of known text, read it with the real PP-OCR models on jitmnn (memory low/normal x precision
low/normal) and on ONNX Runtime, and print what each read, its character accuracy and its time per stage.

    python examples/ocr_page.py [--threads 1] [--runs 2] [--font-size 26] [--save page.png]

Needs the models (pip install --no-deps rapidocr-onnxruntime==1.4.4), Pillow (pip install 'jitmnn[ocr]')
and onnxruntime. Times on a shared machine are indicative; "first page" includes planning and weight packing."""

from __future__ import annotations

import argparse
import itertools

from jitmnn.ocr import DEFAULT_LINES, char_accuracy, render_page, text_of
from jitmnn.ocr.render import DEFAULT_FONT_SIZE, save_page
from jitmnn.ocr.report import Backend, format_runs, run_backends

MODES = ("low", "normal")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="reads per backend; the last one's times are shown")
    parser.add_argument("--font-size", type=int, default=DEFAULT_FONT_SIZE)
    parser.add_argument("--save", metavar="PNG", help="also write the rendered page here")
    args = parser.parse_args(argv)

    page = render_page(DEFAULT_LINES, font_size=args.font_size)
    reference = text_of(DEFAULT_LINES)
    if args.save:
        save_page(page, args.save)
    print(f"page {page.shape[1]}x{page.shape[0]}, {len(DEFAULT_LINES)} lines, {len(reference)} characters:")
    print(reference + "\n")

    backends = [Backend("jitmnn", {"precision": p, "memory": m}) for m, p in itertools.product(MODES, MODES)]
    backends.append(Backend("onnxruntime"))
    runs = run_backends(page, backends, repeats=args.runs, num_threads=args.threads)
    print(format_runs(runs, reference))
    print("\ncharacter accuracy: " + ", ".join(
        f"{r.backend.short_label} {char_accuracy(r.result.text, reference):.3f}" for r in runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
