"""Accuracy of compressed weight formats against the fp32 model, for every zoo model: max relative error
(max |diff| / max |fp32|), top-1 agreement for the classifiers, text-mask agreement (probability > 0.3) for
PP-OCRv4 det on text-like pages, and file size relative to fp32.

    python benchmarks/accuracy.py [--models ...] [--formats fp16,bf16,int8,int4-b32] [--inputs 4]
                                  [--memory low] [--precision normal]

--precision low also stores activations as fp16 (and holds fp32 weights as fp16): `--formats fp32,fp16,int8
--precision low` measures what that costs in accuracy. The reference is always fp32 at precision="normal"."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FORMATS = {"fp32": {}, "fp16": {"fp16": True}, "bf16": {"bf16": True}, "int8": {"weight_quant_bits": 8},
           "int8-b32": {"weight_quant_bits": 8, "block_size": 32},
           "int4-b32": {"weight_quant_bits": 4, "block_size": 32}, "int4-b64": {"weight_quant_bits": 4, "block_size": 64}}
MODELS = ("resnet18", "resnet50", "mobilenet_v2", "ppocr_det", "ppocr_rec", "ppocr_cls")
CLASSIFIERS = ("resnet18", "resnet50", "mobilenet_v2", "ppocr_cls")
MASK_THRESHOLD = 0.3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--formats", default="fp16,bf16,int8,int4-b32")
    ap.add_argument("--inputs", type=int, default=4)
    ap.add_argument("--memory", default="low")
    ap.add_argument("--precision", default="normal", choices=("low", "normal", "high"))
    ap.add_argument("--workdir", default=os.path.join(REPO, ".bench"))
    args = ap.parse_args(argv)
    sys.path.insert(0, REPO)
    import jitmnn
    from jitmnn.models import prepare_model, sample_input

    print(f"memory={args.memory} precision={args.precision}; reference: fp32 weights at precision=normal")
    print(f"{'model':<13}{'format':<10}{'file x fp32':>12}{'max rel err':>12}  agreement")
    for model in args.models.split(","):
        _, ref_path = prepare_model(model, args.workdir)
        ref = jitmnn.load(ref_path)
        name = ref.input_names[0]
        xs = [sample_input(model, seed=100 + i) for i in range(args.inputs)]
        refs = [next(iter(ref.run({name: x}).values())) for x in xs]
        ref.close()
        for fmt in args.formats.split(","):
            _, path = prepare_model(model, args.workdir, **FORMATS[fmt])
            m = jitmnn.load(path, memory=args.memory, precision=args.precision)
            outs = [next(iter(m.run({name: x}).values())) for x in xs]
            m.close()
            err = max(float(np.max(np.abs(o - r)) / max(float(np.max(np.abs(r))), 1e-30)) for o, r in zip(outs, refs))
            if model in CLASSIFIERS:
                agree = np.mean([np.array_equal(o.reshape(o.shape[0], -1).argmax(1), r.reshape(r.shape[0], -1).argmax(1))
                                 for o, r in zip(outs, refs)])
                note = f"top-1 {agree:.0%} of {len(xs)}"
            elif model == "ppocr_det":
                same = np.mean([np.mean((o > MASK_THRESHOLD) == (r > MASK_THRESHOLD)) for o, r in zip(outs, refs)])
                cover = np.mean([np.mean(r > MASK_THRESHOLD) for r in refs])
                note = f"text mask {same:.2%} of pixels agree (fp32 mask covers {cover:.1%})"
            else:
                agree = np.mean([np.mean(o.argmax(-1) == r.argmax(-1)) for o, r in zip(outs, refs)])
                note = f"per-step argmax {agree:.1%}"
            ratio = os.path.getsize(path) / os.path.getsize(ref_path)
            print(f"{model:<13}{fmt:<10}{ratio:>12.3f}{err:>12.2e}  {note}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
