"""Single-node timings of the memory-bound (non-conv) ops: jitmnn's chosen algorithm (called exactly as the
executor calls it, on preallocated outputs) vs numpy (with out= where it exists) vs an ONNX Runtime
session holding just that node. Prints median ms and effective GB/s (bytes read + written / time).

    .venv/bin/python benchmarks/nonconv_ops.py [--threads N] [--repeat R]

Timings on a shared 2-core machine are noisy: compare columns of one run, not runs."""

from __future__ import annotations

import argparse
import time

import numpy as np


def _median_ms(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e3


def _ort_session(op, inputs, attrs, const_inputs, out_shape, threads):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    names, feeds, inits, vis = [], {}, [], []
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        n = f"in{i}"
        names.append(n)
        if i in const_inputs:
            inits.append(numpy_helper.from_array(np.asarray(a), n))
        else:
            feeds[n] = a
            vis.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)))
    node = helper.make_node(op, names, ["out"], **attrs)
    g = helper.make_graph([node], "one", vis, [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(out_shape))],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: s.run(None, feeds)


def cases():
    r = np.random.default_rng(0)

    def t(*shape):
        return r.standard_normal(shape).astype(np.float32)

    big = t(1, 32, 320, 320)
    mid = t(1, 96, 80, 80)
    return [
        ("Mul x*scalar (det 32x320x320)", "Mul", [big, np.array([0.9], np.float32)], {}, (1,),
         lambda o: np.multiply(big, np.float32(0.9), out=o)),
        ("Add same-shape (det 96x80x80)", "Add", [mid, t(1, 96, 80, 80)], {}, (), None),
        ("Mul NCHW*[N,C,1,1] (SE 96x160x160)", "Mul", [t(1, 96, 160, 160), t(1, 96, 1, 1)], {}, (), None),
        ("Add BTC+[C] (rec 1x40x120 x8)", "Add", [t(8, 40, 120), t(120)], {}, (1,), None),
        ("Sigmoid (96x80x80)", "Sigmoid", [mid], {}, (), None),
        ("HardSigmoid (96x80x80)", "HardSigmoid", [mid], {"alpha": 0.2, "beta": 0.5}, (), None),
        ("Softmax last axis (rec head 40x6625)", "Softmax", [t(1, 40, 6625) * 8], {"axis": -1}, (), None),
        ("MaxPool 3x3 s2 p1 (resnet 64x112x112)", "MaxPool", [t(1, 64, 112, 112)],
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, (), None),
        ("AveragePool 3x2 s3x2 (rec 480x3x80)", "AveragePool", [t(1, 480, 3, 80)],
         {"kernel_shape": [3, 2], "strides": [3, 2], "pads": [0, 0, 0, 0]}, (), None),
        ("GlobalAveragePool (96x160x160)", "GlobalAveragePool", [t(1, 96, 160, 160)], {}, (), None),
        ("Resize nearest x2 (det 96x80x80)", "Resize", [mid, np.zeros(0, np.float32),
                                                       np.array([1, 1, 2, 2], np.float32)],
         {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, (1, 2), None),
        ("Resize linear x2 half_pixel (96x80x80)", "Resize", [mid, np.zeros(0, np.float32),
                                                             np.array([1, 1, 2, 2], np.float32)],
         {"mode": "linear"}, (1, 2), None),
        ("Transpose NCHW->NHWC (96x80x80)", "Transpose", [mid], {"perm": [0, 2, 3, 1]}, (), None),
        ("Concat 4x(24x160x160) axis 1", "Concat", [t(1, 24, 160, 160) for _ in range(4)], {"axis": 1}, (), None),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)

    from jitmnn import threads as jthreads
    from jitmnn.config import SessionConfig
    from jitmnn.ops import registry
    from jitmnn.planner import choose
    from tests.harness import Case, make_ctx

    config = SessionConfig(num_threads=args.threads)
    jthreads.use(args.threads)
    print(f"{'op':42s} {'alg':15s} {'jitmnn':>14s} {'numpy':>8s} {'ORT':>8s}   (ms, GB/s; {args.threads} thread(s))")
    for title, op, inputs, attrs, const_inputs, numpy_fn in cases():
        case = Case(op, inputs, attrs, const_inputs=const_inputs)
        ctx = make_ctx(case, config)
        alg, _, _ = choose(ctx, config, registry.algorithms(op))
        packed = alg.pack(ctx) if alg.pack else None
        params = alg.setup(ctx) if alg.setup else None
        outs = [np.empty(s, d) for s, d in zip(ctx.out_shapes, ctx.out_dtypes)]
        scratch = np.zeros(alg.scratch_bytes(ctx), np.uint8)
        ins = [None if a is None else np.asarray(a) for a in inputs]
        ms = _median_ms(lambda: alg.run(packed, params, ins, outs, scratch), args.repeat)
        nbytes = sum(a.nbytes for a in ins if a is not None) + sum(o.nbytes for o in outs)
        if numpy_fn is None:
            ref = registry.get_op(op).reference
            np_ms = _median_ms(lambda: ref(ctx.node, ins), max(5, args.repeat // 3))
        else:
            np_ms = _median_ms(lambda: numpy_fn(outs[0]), args.repeat)
        try:
            ort_ms = _median_ms(_ort_session(op, inputs, attrs, const_inputs, ctx.out_shapes[0], args.threads),
                                args.repeat)
        except Exception as e:  # noqa: BLE001 - report and keep going
            ort_ms = float("nan")
            print(f"  (ORT failed: {e})")
        print(f"{title:42s} {alg.name:15s} {ms:7.3f} {nbytes / ms / 1e6:5.1f}GB/s {np_ms:8.3f} {ort_ms:8.3f}")


if __name__ == "__main__":
    main()
