"""ONNX's node-level backend tests (the suite ONNX Runtime reports against) through jitmnn.backend, with a
tally by outcome: passed, refused with a typed error, wrong result, untyped exception. Optionally ONNX
Runtime on the same cases. The pytest version with its exclusion list is tests/test_onnx_backend.py.

    python benchmarks/onnx_conformance.py [--kind node] [--filter REGEX] [--ort] [--show refused|wrong|error]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
import warnings



def materialise(case):
    """Node tests come with model and data loaded; model tests (pytorch-converted, ...) point at a folder."""
    if case.model is not None:
        return case
    import glob
    import os

    import onnx

    model = onnx.load(os.path.join(case.model_dir, "model.onnx"))
    data_sets = []
    for d in sorted(glob.glob(os.path.join(case.model_dir, "test_data_set_*"))):
        def read(kind):
            files = sorted(glob.glob(os.path.join(d, f"{kind}_*.pb")), key=lambda f: int(f.rsplit("_", 1)[1][:-3]))
            out = []
            for f in files:
                t = onnx.TensorProto()
                with open(f, "rb") as fh:
                    t.ParseFromString(fh.read())
                out.append(t)
            return out
        data_sets.append((read("input"), read("output")))
    return case._replace(model=model, data_sets=data_sets) if hasattr(case, "_replace") else \
        type(case)(**{**case.__dict__, "model": model, "data_sets": data_sets})


def tensor_only(model) -> bool:
    """Every graph input and output is a tensor of a numeric or bool type (no strings, sequences,
    optionals, maps)."""
    for vi in list(model.graph.input) + list(model.graph.output):
        t = vi.type
        if t.WhichOneof("value") != "tensor_type" or t.tensor_type.elem_type == 8:
            return False
    return True


def compare(ref_outputs, outputs, rtol, atol):
    from onnx.backend.test.runner import Runner

    Runner.assert_similar_outputs(ref_outputs, list(outputs), rtol=rtol, atol=atol)


def run_case(case, backend):
    from jitmnn.errors import JitmnnError

    try:
        from onnx.backend.test.runner import _normalize_tensor

        rep = backend.prepare(case.model, "CPU")
        for inputs, ref_outputs in case.data_sets:
            inputs = [_normalize_tensor(x) for x in inputs]
            ref_outputs = [_normalize_tensor(x) for x in ref_outputs]
            outs = rep.run(list(inputs))
            compare(ref_outputs, outs, case.rtol, case.atol)
    except AssertionError as e:
        return "wrong", str(e).strip().splitlines()[0][:200] if str(e).strip() else "assertion"
    except JitmnnError as e:
        return "refused", f"{type(e).__name__}: {str(e)[:240]}"
    except Exception as e:  # noqa: BLE001 - the tally names it
        return "error", f"{type(e).__name__}: {str(e)[:240]}"
    return "passed", ""


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="node")
    ap.add_argument("--filter", default=None)
    ap.add_argument("--ort", action="store_true", help="also run ONNX Runtime on the same cases")
    ap.add_argument("--show", default="refused,wrong,error")
    ap.add_argument("--all-types", action="store_true", help="include string/sequence/optional cases")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from onnx.backend.test.loader import load_model_tests

    from jitmnn.backend import JitmnnBackend

    kinds = args.kind.split(",")
    cases = [materialise(c) for k in kinds for c in load_model_tests(kind=k)]
    if args.filter:
        cases = [c for c in cases if re.search(args.filter, c.name)]
    if not args.all_types:
        cases = [c for c in cases if tensor_only(c.model)]
    import os

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from tests.onnx_exclusions import EXCLUDED, OUT_OF_SCOPE

    tally = collections.Counter()
    rows = []
    t0 = time.time()
    for c in cases:
        scope = next((r for p, r in OUT_OF_SCOPE if re.search(p, c.name)), None)
        known = next((r for p, r in EXCLUDED if re.search(p, c.name)), None)
        if scope is not None and not args.all_types:
            tally["out of scope"] += 1
            rows.append((c.name, "out of scope", scope))
            continue
        outcome, msg = run_case(c, JitmnnBackend)
        if known is not None and outcome != "passed":
            outcome = outcome + " (listed)"
        elif known is not None:
            outcome = "passed (listed: remove the exclusion)"
        tally[outcome] += 1
        rows.append((c.name, outcome, msg))
    show = set(args.show.split(","))
    for name, outcome, msg in rows:
        if outcome in show:
            print(f"{outcome:8} {name}: {msg}")
    print(f"\n{len(cases)} cases ({','.join(kinds)}) in {time.time() - t0:.0f}s: " +
          ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    if args.ort:
        from onnxruntime.backend import backend as ort_backend

        ort = collections.Counter()
        for c in cases:
            ort[run_case(c, ort_backend)[0].replace("refused", "error")] += 1
        print("onnxruntime: " + ", ".join(f"{k} {v}" for k, v in sorted(ort.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
