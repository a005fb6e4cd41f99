"""Per-layer Conv timings: each jitmnn Conv algorithm vs ONNX Runtime (1 thread) on the conv layers of
ResNet-18 and MobileNetV2 (224x224, batch 1), each as a single-node ONNX model.

    .venv/bin/python benchmarks/conv_layers.py [--net resnet18|mobilenetv2|all] [--repeat 30]

Prints, per layer: ORT ms, each applicable jitmnn algorithm's ms, the planner's choice, and the ratio
chosen/ORT; then the count-weighted sum over the network (each layer times how often the net has it).
Timings are the best of >= `repeat` runs after warm-up on a shared 2-core machine: read them at +-20%.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set, pin OpenBLAS to its Haswell kernel (about half speed on this
CPU); this script re-executes itself once with both unset (it says so) so the numbers show the default
kernel. Pass --keep-env to measure with them."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


# (name, C, H, K, k, stride, group, count in the net)
RESNET18 = [
    ("conv1 7x7/2", 3, 224, 64, 7, 2, 1, 1),
    ("l1 3x3 64@56", 64, 56, 64, 3, 1, 1, 4),
    ("l2 3x3/2 64->128", 64, 56, 128, 3, 2, 1, 1),
    ("l2 3x3 128@28", 128, 28, 128, 3, 1, 1, 3),
    ("l2 ds 1x1/2", 64, 56, 128, 1, 2, 1, 1),
    ("l3 3x3/2 128->256", 128, 28, 256, 3, 2, 1, 1),
    ("l3 3x3 256@14", 256, 14, 256, 3, 1, 1, 3),
    ("l3 ds 1x1/2", 128, 28, 256, 1, 2, 1, 1),
    ("l4 3x3/2 256->512", 256, 14, 512, 3, 2, 1, 1),
    ("l4 3x3 512@7", 512, 7, 512, 3, 1, 1, 3),
    ("l4 ds 1x1/2", 256, 14, 512, 1, 2, 1, 1),
]

# PP-OCRv4 rec (input 48x320): depthwise 5x5 / 3x3 and the pointwise convs around them; H is (h, w)
PPOCR_REC = [
    ("dw5x5 240@12x80", 240, (12, 80), 240, 5, 1, 240, 5),
    ("dw5x5 480@6x80", 480, (6, 80), 480, 5, 1, 480, 1),
    ("dw3x3 64@24x160", 64, (24, 160), 64, 3, 1, 64, 1),
    ("pw 240->240 @12x80", 240, (12, 80), 240, 1, 1, 1, 5),
    ("pw 480->480 @6x80", 480, (6, 80), 480, 1, 1, 1, 3),
]

MOBILENETV2 = [
    ("stem 3x3/2", 3, 224, 32, 3, 2, 1, 1),
    ("dw 32@112", 32, 112, 32, 3, 1, 32, 1),
    ("pw 32->16 @112", 32, 112, 16, 1, 1, 1, 1),
    ("pw 16->96 @112", 16, 112, 96, 1, 1, 1, 1),
    ("dw 96@112/2", 96, 112, 96, 3, 2, 96, 1),
    ("pw 96->24 @56", 96, 56, 24, 1, 1, 1, 1),
    ("pw 24->144 @56", 24, 56, 144, 1, 1, 1, 2),
    ("dw 144@56", 144, 56, 144, 3, 1, 144, 1),
    ("pw 144->24 @56", 144, 56, 24, 1, 1, 1, 1),
    ("dw 144@56/2", 144, 56, 144, 3, 2, 144, 1),
    ("pw 144->32 @28", 144, 28, 32, 1, 1, 1, 1),
    ("pw 32->192 @28", 32, 28, 192, 1, 1, 1, 3),
    ("dw 192@28", 192, 28, 192, 3, 1, 192, 2),
    ("pw 192->32 @28", 192, 28, 32, 1, 1, 1, 2),
    ("dw 192@28/2", 192, 28, 192, 3, 2, 192, 1),
    ("pw 192->64 @14", 192, 14, 64, 1, 1, 1, 1),
    ("pw 64->384 @14", 64, 14, 384, 1, 1, 1, 4),
    ("dw 384@14", 384, 14, 384, 3, 1, 384, 4),
    ("pw 384->64 @14", 384, 14, 64, 1, 1, 1, 3),
    ("pw 384->96 @14", 384, 14, 96, 1, 1, 1, 1),
    ("pw 96->576 @14", 96, 14, 576, 1, 1, 1, 3),
    ("dw 576@14", 576, 14, 576, 3, 1, 576, 2),
    ("pw 576->96 @14", 576, 14, 96, 1, 1, 1, 2),
    ("dw 576@14/2", 576, 14, 576, 3, 2, 576, 1),
    ("pw 576->160 @7", 576, 7, 160, 1, 1, 1, 1),
    ("pw 160->960 @7", 160, 7, 960, 1, 1, 1, 3),
    ("dw 960@7", 960, 7, 960, 3, 1, 960, 3),
    ("pw 960->160 @7", 960, 7, 160, 1, 1, 1, 2),
    ("pw 960->320 @7", 960, 7, 320, 1, 1, 1, 1),
    ("pw 320->1280 @7", 320, 7, 1280, 1, 1, 1, 1),
]


def _best_ms(fn, repeat):
    for _ in range(3):
        fn()
    times = []
    t_end = time.perf_counter() + 0.3
    while len(times) < repeat or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) > 20 * repeat:
            break
    # The minimum, not the median: other engineers' jobs share these 2 cores, and the minimum is the
    # statistic least disturbed by them (for jitmnn and ORT alike).
    return 1e3 * float(np.min(times))


def _ort_session(x, w, b, attrs):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    k, kh = w.shape[0], w.shape[2]
    node = helper.make_node("Conv", ["x", "w", "b"], ["y0"], **attrs)
    relu = helper.make_node("Relu", ["y0"], ["y"])
    oh = (x.shape[2] + 2 * (kh // 2) - kh) // attrs["strides"][0] + 1
    ow = (x.shape[3] + 2 * (kh // 2) - kh) // attrs["strides"][1] + 1
    graph = helper.make_graph(
        [node, relu], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k, oh, ow])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def bench_layer(row, repeat, algorithms=None):
    from jitmnn import planner
    from jitmnn.config import SessionConfig
    from jitmnn.ops import registry
    from tests.harness import Case, make_ctx

    name, c, h, k, ks, s, g, count = row
    rng = np.random.default_rng(0)
    hh, ww = h if isinstance(h, tuple) else (h, h)
    x = rng.standard_normal((1, c, hh, ww)).astype(np.float32)
    w = (rng.standard_normal((k, c // g, ks, ks)) / np.sqrt(c // g * ks * ks)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    p = ks // 2
    attrs = {"kernel_shape": [ks, ks], "strides": [s, s], "pads": [p] * 4, "dilations": [1, 1], "group": g}
    sess = _ort_session(x, w, b, attrs)
    ort_ms = _best_ms(lambda: sess.run(None, {"x": x}), repeat)
    ref = sess.run(None, {"x": x})[0]

    case = Case("Conv", [x, w, b], dict(attrs, activation="relu", activation_params=[]), const_inputs=(1, 2))
    config = SessionConfig()
    ctx = make_ctx(case, config)
    cands = registry.algorithms("Conv")
    chosen, _, _ = planner.choose(ctx, config, cands)
    results = {}
    for alg_name, alg in cands.items():
        if alg_name == "reference" or not alg.applies(ctx) or (algorithms and alg_name not in algorithms):
            continue
        packed = alg.pack(ctx) if alg.pack else None
        params = alg.setup(ctx) if alg.setup else None
        out = np.empty(ctx.out_shapes[0], np.float32)
        n = alg.scratch_bytes(ctx)
        scratch = np.zeros(max(n, 1), np.uint8)
        ins = [x, w, b]
        alg.run(packed, params, ins, [out], scratch)
        err = float(np.max(np.abs(out - ref)) / max(1.0, np.max(np.abs(ref))))
        ms = _best_ms(lambda: alg.run(packed, params, ins, [out], scratch), repeat)
        results[alg_name] = (ms, alg.cost(ctx) / 1e3, err)
    return name, count, ort_ms, results, chosen.name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="all", choices=["resnet18", "mobilenetv2", "ppocr_rec", "all"])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--keep-env", action="store_true")
    ap.add_argument("--only", nargs="*", help="algorithms to time")
    args = ap.parse_args()
    if not args.keep_env:
        from timing_env import reexec_for_timing

        reexec_for_timing()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from jitmnn import threads

    threads.use(1)
    nets = {"resnet18": RESNET18, "mobilenetv2": MOBILENETV2, "ppocr_rec": PPOCR_REC}
    for net, rows in nets.items():
        if args.net not in (net, "all"):
            continue
        print(f"\n## {net} conv layers, batch 1, 1 thread (ms; err = max abs diff / max |ORT|)")
        print("| layer | x | ORT | jitmnn algorithms (ms, model ms, err) | chosen | chosen/ORT |")
        print("|---|---|---|---|---|---|")
        tot_ort = tot_best = tot_chosen = 0.0
        for row in rows:
            name, count, ort_ms, res, chosen = bench_layer(row, args.repeat, args.only)
            if not res:
                continue
            algs = ", ".join(f"{a} {ms:.3f} ({model:.3f}, {e:.0e})" for a, (ms, model, e) in res.items())
            ch_ms = res[chosen][0] if chosen in res else min(v[0] for v in res.values())
            best = min(v[0] for v in res.values())
            tot_ort += count * ort_ms
            tot_chosen += count * ch_ms
            tot_best += count * best
            print(f"| {name} | {count} | {ort_ms:.3f} | {algs} | {chosen} | {ch_ms / ort_ms:.2f} |", flush=True)
        print(f"\n{net}: sum over conv layers (x count): ORT {tot_ort:.2f} ms, jitmnn chosen {tot_chosen:.2f} ms "
              f"({tot_chosen / tot_ort:.2f}x), best available {tot_best:.2f} ms ({tot_best / tot_ort:.2f}x)")


if __name__ == "__main__":
    main()
