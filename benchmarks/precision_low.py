"""precision="low" speed and accuracy, side by side in ONE process: jitmnn fp32 normal, jitmnn precision=low
(memory normal and low), ONNX Runtime fp32, OpenVINO f32 (INFERENCE_PRECISION_HINT=f32) and OpenVINO's default
precision (bf16 where the CPU has it), one thread each.

    python benchmarks/precision_low.py [--models resnet18,resnet50,ppocr_det,ppocr_rec] [--rounds 20]

Every configuration runs in turn, round after round, and ratios are medians of per-round ratios (this VM's speed
drifts between minutes). Accuracy is measured against jitmnn fp32 normal on the same input: max relative error;
top-1 agreement for classifiers (per time step for the recogniser); for the detector, the share of pixels whose
text mask (probability > 0.3, DB's threshold) agrees. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for this
process (they halve numpy's GEMM speed here) and threads are pinned to 1."""

from __future__ import annotations

import argparse
import os
import sys

DET_THRESHOLD = 0.3


def _accuracy(name: str, got, ref) -> dict:
    import numpy as np

    err = float(np.max(np.abs(got - ref)) / max(1e-12, float(np.max(np.abs(ref)))))
    row = {"max_rel_err": err}
    if name == "ppocr_det":
        row["mask_agree"] = float(np.mean((got > DET_THRESHOLD) == (ref > DET_THRESHOLD)))
    else:
        row["top1_agree"] = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    return row


def _openvino(onnx_file: str, hint: str | None):
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": "1", "NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY"}
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    compiled = ov.Core().compile_model(onnx_file, "CPU", config)
    request = compiled.create_infer_request()
    precision = str(compiled.get_property("INFERENCE_PRECISION_HINT"))

    def run(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    return run, precision


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet18,resnet50,ppocr_det,ppocr_rec")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    from timing_env import reexec_for_timing

    reexec_for_timing(threads=1)
    import time

    import numpy as np

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    import jitmnn
    from jitmnn import cpu
    from jitmnn.models import prepare_model, sample_input

    print(f"cpu: {cpu.report()}; BLAS variables unset for this run; 1 thread everywhere")
    workdir = args.workdir or os.path.join(os.path.dirname(here), ".bench")
    for name in args.models.split(","):
        onnx_file, path = prepare_model(name, workdir)
        x = sample_input(name)
        runners = []
        for precision, memory in (("normal", "normal"), ("low", "normal"), ("low", "low")):
            m = jitmnn.load(path, precision=precision, memory=memory, num_threads=1)
            feed_name, out_name = m.input_names[0], m.output_names[0]
            runners.append((f"jitmnn {precision}/{memory}",
                            lambda x, m=m, i=feed_name, o=out_name: m.run({i: x})[o]))
        try:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = so.inter_op_num_threads = 1
            sess = ort.InferenceSession(onnx_file, so, providers=["CPUExecutionProvider"])
            iname = sess.get_inputs()[0].name
            runners.append(("onnxruntime fp32", lambda x, s=sess, i=iname: s.run(None, {i: x})[0]))
        except ImportError:
            pass
        try:
            run_f32, _ = _openvino(onnx_file, "f32")
            runners.append(("openvino f32", run_f32))
            run_def, prec = _openvino(onnx_file, None)
            runners.append((f"openvino default ({prec})", run_def))
        except ImportError:
            print("openvino is not installed (pip install openvino): its columns are left out")
        outs = {}
        for label, run in runners:
            for _ in range(3):
                outs[label] = run(x)
        times = np.zeros((args.rounds, len(runners)))
        for r in range(args.rounds):
            for i, (_, run) in enumerate(runners):
                t = time.perf_counter()
                run(x)
                times[r, i] = time.perf_counter() - t
        base = times[:, 0]
        ov_default = next((i for i, (label, _) in enumerate(runners) if label.startswith("openvino default")), None)
        ref = outs[runners[0][0]]
        print(f"\n{name} {tuple(x.shape)}: median ms, per-round ratios to jitmnn fp32 normal and to OpenVINO's "
              f"default; accuracy vs jitmnn fp32 normal")
        for i, (label, _) in enumerate(runners):
            acc = _accuracy(name, np.asarray(outs[label], np.float32).reshape(ref.shape), ref)
            vs_ov = f"{np.median(times[:, i] / times[:, ov_default]):6.2f}x" if ov_default is not None else "   -"
            agree = acc.get("mask_agree", acc.get("top1_agree"))
            kind = "mask" if "mask_agree" in acc else "top-1"
            print(f"  {label:<26} {np.median(times[:, i]) * 1e3:8.2f} ms  {np.median(times[:, i] / base):6.2f}x fp32  "
                  f"{vs_ov} OV-default  max rel err {acc['max_rel_err']:.2e}  {kind} agree {100 * agree:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
