"""A CRNN recognition head's recurrent layer: one bidirectional LSTM (default: seq 80, batch 1, input 256,
hidden 128), jitmnn at 1 thread vs ONNX Runtime with intra_op_num_threads=1, in the same process, timed
alternately (one jitmnn run, one ORT run, ...) so machine load hits both alike. Prints median ms, the
ratio jitmnn / ORT (bar: <= 1.5) and the max difference between the two.

    .venv/bin/python benchmarks/lstm.py [--seq 80] [--batch 1] [--input 256] [--hidden 128] [--op LSTM]
                                        [--repeat 200] [--keep-env]

The machine is a shared 2-core VM: compare the two columns of one run, not runs."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def build(op, seq, batch, inp, hidden, seed=0):
    from onnx import TensorProto, helper, numpy_helper

    g = np.random.default_rng(seed)
    ng = GATES[op]
    f32 = lambda shape, s: (g.standard_normal(shape) * s).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(f32((2, ng * hidden, inp), 0.05), "w"),
             numpy_helper.from_array(f32((2, ng * hidden, hidden), 0.08), "r"),
             numpy_helper.from_array(f32((2, 2 * ng * hidden), 0.1), "b")]
    node = helper.make_node(op, ["x", "w", "r", "b"], ["y", "y_h"], hidden_size=hidden, direction="bidirectional")
    graph = helper.make_graph([node], "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, batch, inp])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("y_h", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    return model, g.standard_normal((seq, batch, inp)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", default="LSTM", choices=sorted(GATES))
    ap.add_argument("--seq", type=int, default=80)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--input", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--keep-env", action="store_true", help="keep OPENBLAS_CORETYPE etc. (see timing_env.py)")
    args = ap.parse_args()
    if not args.keep_env:
        from timing_env import reexec_for_timing

        reexec_for_timing(1)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import onnxruntime as ort

    import jitmnn
    from jitmnn.converter.api import onnx_to_graph

    model, x = build(args.op, args.seq, args.batch, args.input, args.hidden)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    mod = jitmnn.from_graph(onnx_to_graph(model), num_threads=1)
    feeds = {"x": x}
    got = mod.run(feeds)  # plans, packs and compiles (or loads from Numba's cache)
    first_ms = (time.perf_counter() - t0) * 1e3
    want = sess.run(None, feeds)
    step = [s for s in mod.prepare({"x": x.shape}).steps if s.node.op == args.op][0]

    tj, to = [], []
    for _ in range(5):
        mod.run(feeds)
        sess.run(None, feeds)
    for _ in range(args.repeat):
        t = time.perf_counter()
        mod.run(feeds)
        tj.append(time.perf_counter() - t)
        t = time.perf_counter()
        sess.run(None, feeds)
        to.append(time.perf_counter() - t)
    jm, om = float(np.median(tj)) * 1e3, float(np.median(to)) * 1e3
    layer_ms = [r for r in mod.profile(feeds, runs=args.repeat // 4 or 1) if r[1] == args.op][0][3]
    err = max(float(np.max(np.abs(got[n] - w))) for n, w in zip(("y", "y_h"), want))
    print(f"{args.op} bidirectional seq {args.seq} batch {args.batch} input {args.input} hidden {args.hidden}, "
          f"1 thread, median of {args.repeat} alternating runs (shared 2-core VM: noisy)")
    print(f"  algorithm: {step.algorithm} ({step.reason})")
    print(f"  jitmnn  {jm:8.3f} ms   (layer alone {layer_ms:.3f} ms; first run incl. plan/compile {first_ms:.0f} ms)")
    print(f"  ORT     {om:8.3f} ms")
    print(f"  ratio jitmnn / ORT = {jm / om:.2f}  (bar <= 1.5)   max |diff| = {err:.2e}")


if __name__ == "__main__":
    main()
