"""The `jitmnn` command line.

    jitmnn convert model.onnx model.jmnn [--fp16 | --bf16 | --weight-quant-bits 8|4 ...]
    jitmnn verify model.jmnn
    jitmnn info model.jmnn
    jitmnn knobs
    jitmnn calibrate model.onnx --data DIR|FILE.npz --out params.json [--method percentile] [--bits 8]
    jitmnn explain model.jmnn --shape x=1,3,224,224 [--memory low] [--precision high]

Each subcommand is one function registered with `@command(name, help, *arguments)`; adding a command
(bench, calibrate, ...) is adding one such function. A user error (any JitmnnError, a missing file)
prints one line on stderr and exits with status 1; never a traceback (set JITMNN_DEBUG=1 to get one)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import JitmnnError

COMMANDS: dict = {}  # name -> (function, help, [(args, kwargs), ...])
USER_ERROR = 1


def arg(*names, **kwargs):
    """One argparse argument of a command: arg("--fp16", action="store_true", help=...)."""
    return names, kwargs


def command(name: str, help: str, *arguments):
    """Register `fn(args) -> int | None` as `jitmnn <name>`."""

    def deco(fn):
        COMMANDS[name] = (fn, help, list(arguments))
        return fn

    return deco


# ----- commands -------------------------------------------------------------------------------------------

@command(
    "convert", "convert an ONNX model to a .jmnn file and print what the converter did",
    arg("src", help="source ONNX model"),
    arg("dst", help="output .jmnn file"),
    arg("--fp16", action="store_true", help="store weights as fp16"),
    arg("--bf16", action="store_true", help="store weights as bf16"),
    arg("--weight-quant-bits", type=int, choices=(8, 4), help="weight-only quantization to int8 or int4"),
    arg("--block-size", type=int, metavar="N", help="block-wise quantization with N weights per scale"),
    arg("--asymmetric", action="store_true", help="asymmetric quantization (zero points)"),
    arg("--compression-params", metavar="FILE", help="per-layer compression parameters from calibration"),
    arg("--details", action="store_true", help="list every change each pass made"),
    arg("--json", action="store_true", help="print the report as JSON"),
)
def convert_cmd(args):
    from .converter.api import convert, format_report

    report = convert(args.src, args.dst, fp16=args.fp16, bf16=args.bf16, weight_quant_bits=args.weight_quant_bits,
                     block_size=args.block_size, asymmetric=args.asymmetric,
                     compression_params=args.compression_params)
    print(json.dumps(report, indent=1, default=str) if args.json else format_report(report, details=args.details))


@command("verify", "check a .jmnn file's structure and every constant's checksum", arg("file"))
def verify_cmd(args):
    from . import format as jformat

    graph = jformat.load(args.file)
    jformat.verify(args.file)
    print(f"{args.file}: ok ({len(graph.nodes)} nodes, {graph.metadata.get('_stored_arrays', 0)} stored arrays, "
          f"checksums match)")


@command("info", "ops, inputs, outputs and sizes of a .jmnn file", arg("file"),
         arg("--json", action="store_true", help="print as JSON"))
def info_cmd(args):
    from . import format as jformat

    graph = jformat.load(args.file)
    meta = {k: v for k, v in graph.metadata.items() if not k.startswith("_")}
    info = {
        "file": args.file,
        "file_bytes": int(meta.pop("file_bytes", 0)),
        "weights_bytes": graph.weight_bytes(),
        "constants": len(graph.constants),
        "nodes": len(graph.nodes),
        "inputs": {t.name: {"shape": [d if d is not None else "?" for d in t.shape], "dtype": t.dtype}
                   for t in graph.inputs},
        "outputs": list(graph.outputs),
        "ops": dict(sorted(graph.op_counts().items())),
        "fused_activations": _count_attr(graph, "activation"),
        "weight_storage": _storage_counts(graph),
        "metadata": meta,
    }
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return
    print(f"{info['file']}: {info['file_bytes'] / 1e6:.2f} MB, weights {info['weights_bytes'] / 1e6:.2f} MB"
          f" in {info['constants']} constants, {info['nodes']} nodes")
    for name, spec in info["inputs"].items():
        print(f"  input  {name}: {spec['dtype']} {spec['shape']}")
    for name in info["outputs"]:
        print(f"  output {name}")
    print("  ops: " + ", ".join(f"{k} x{v}" for k, v in info["ops"].items()))
    if info["fused_activations"]:
        print("  fused activations: " + ", ".join(f"{k} x{v}" for k, v in info["fused_activations"].items()))
    print("  weight storage: " + ", ".join(f"{k} x{v}" for k, v in info["weight_storage"].items()))
    for key, value in info["metadata"].items():
        print(f"  {key}: {_short(value)}")


def _short(value, limit: int = 200) -> str:
    """One metadata value on one line: the ONNX signature and metadata_props (a PP-OCR rec model's character
    dictionary is 34 KB) are cut, --json prints them whole."""
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters; --json prints all)"


def _count_attr(graph, key) -> dict:
    counts: dict = {}
    for n in graph.nodes:
        v = n.attrs.get(key)
        if v:
            counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))


def _storage_counts(graph) -> dict:
    counts: dict = {}
    for v in graph.constants.values():
        kind = str(getattr(v, "storage", None) or getattr(v, "dtype", "?"))
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


@command(
    "calibrate", "run a model on calibration data and write a compression-params file for convert",
    arg("model", help="source ONNX model (the one you will pass to convert)"),
    arg("--data", required=True, metavar="DIR|FILE.npz",
        help="calibration inputs: a directory of .npy/.npz files or one .npz (arrays of rank+1 are stacks)"),
    arg("--out", required=True, metavar="PARAMS", help="compression-params file to write (JSON)"),
    arg("--method", choices=("minmax", "percentile", "kl"), default="percentile",
        help="activation range / weight clipping method (default percentile)"),
    arg("--bits", type=int, choices=(8, 4), default=8, help="weight bits (default 8)"),
    arg("--block-size", type=int, metavar="N", help="weights per scale (default: per channel for 8 bits, 32 for 4)"),
    arg("--samples", type=int, metavar="N", help="use at most N samples (100 or more recommended)"),
    arg("--no-bias-correction", action="store_true",
        help="do not fold the mean output shift of the quantized weights into the biases"),
    arg("--no-progress", action="store_true", help="no progress bar on stderr"),
)
def calibrate_cmd(args):
    import warnings

    from .converter.onnx_import import load_model
    from .quant import calibrate, load_data

    proto, _, _ = load_model(args.model)
    inits = {i.name for i in proto.graph.initializer}
    graph_inputs = [i for i in proto.graph.input if i.name not in inits]
    names = [i.name for i in graph_inputs]
    ranks = {i.name: len(i.type.tensor_type.shape.dim) for i in graph_inputs}
    data = load_data(args.data, names, ranks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        params = calibrate(args.model, data, method=args.method, bits=args.bits, samples=args.samples,
                           block_size=args.block_size, bias_correction=not args.no_bias_correction,
                           out=args.out, progress=not args.no_progress)
    for w in caught:
        print(f"jitmnn calibrate: warning: {w.message}", file=sys.stderr)
    cal = params["calibration"]
    print(f"calibrated {len(params['layers'])} layers on {cal['samples']} samples ({cal['method']}, "
          f"int{cal['bits']}) -> {args.out}")
    print(f"apply with: jitmnn convert {args.model} OUT.jmnn --compression-params {args.out}")


@command("knobs", "list every tunable in jitmnn/config.py")
def knobs_cmd(args):
    from .config import knobs

    from .cpu import report

    for key, value in sorted(knobs().items()):
        print(f"{key} = {value!r}")
    print(f"# cpu: {report()}")


def _shape(text: str):
    """name=1,3,224,224 -> (name, (1, 3, 224, 224))."""
    name, sep, dims = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, tuple(int(d) for d in dims.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=D0,D1,... (e.g. x=1,3,224,224), got {text!r}") from None


@command(
    "explain", "plan a model for given input shapes and print each layer's algorithm and memory",
    arg("file"),
    arg("--shape", type=_shape, action="append", default=[], metavar="NAME=D0,D1,...",
        help="input shape (repeat for several inputs); optional for inputs whose shape is fixed"),
    arg("--memory", choices=("low", "normal", "high"), default="normal"),
    arg("--precision", choices=("low", "normal", "high"), default="normal"),
    arg("--threads", type=int, default=1),
    arg("--memory-budget-mb", type=float, default=None),
)
def explain_cmd(args):
    import jitmnn

    m = jitmnn.load(args.file, precision=args.precision, memory=args.memory, num_threads=args.threads,
                    memory_budget_mb=args.memory_budget_mb)
    shapes = dict(args.shape)
    unknown = sorted(set(shapes) - set(m.input_names))
    if unknown:
        raise jitmnn.InputError(f"--shape names unknown input(s) {unknown}; the model's inputs are {m.input_names}")
    for name in m.input_names:
        declared, _ = m.input_specs[name]
        if name not in shapes:
            if any(not isinstance(d, int) or d <= 0 for d in declared):
                dims = ",".join(str(d) if isinstance(d, int) and d > 0 else "N" for d in declared)
                raise jitmnn.InputError(f"input {name!r} has dynamic dimensions: pass --shape {name}={dims}")
            shapes[name] = tuple(declared)
    print(m.explain(shapes))


# ----- entry point ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="jitmnn", description="CPU inference runtime with Numba kernels")
    parser.add_argument("--version", action="version", version=f"jitmnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (fn, help_text, arguments) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        for names, kwargs in arguments:
            p.add_argument(*names, **kwargs)
        p.set_defaults(func=fn)
    return parser


@command(
    "bench", "time a model (.onnx or .jmnn): p50/p90 latency, throughput and RSS, with ONNX Runtime side by side "
    "for an .onnx; with no model or with --zoo, the zoo comparison of a source checkout (benchmarks/bench.py)",
    arg("model", nargs="?", help=".onnx (converted to a temporary .jmnn first) or .jmnn file"),
    arg("--shape", action="append", default=[], metavar="NAME=D0,D1,...",
        help="input shape (repeat for several inputs); symbolic dims not given are set to 1, and the output says so"),
    arg("--threads", type=int, default=1, help="jitmnn num_threads and ORT intra_op_num_threads (default 1)"),
    arg("--memory", choices=("low", "normal", "high"), default="normal"),
    arg("--precision", choices=("low", "normal", "high"), default="normal"),
    arg("--time", type=float, default=3.0, metavar="S", help="seconds of timed runs per runtime (default 3)"),
    arg("--warmup", type=int, default=3, metavar="N", help="untimed runs after the first (default 3)"),
    arg("--no-ort", action="store_true", help="do not run ONNX Runtime alongside"),
    arg("--json", action="store_true", help="print the result as JSON"),
    arg("--zoo", nargs=argparse.REMAINDER, metavar="ARGS",
        help="run benchmarks/bench.py of a source checkout (zoo models in fresh processes, MNN when installed) "
             "with ARGS, e.g. --zoo --models resnet18 --threads 1; `--zoo --help` lists them"),
)
def bench_cmd(args):
    if args.zoo is not None or args.model is None:
        if args.model is not None:
            raise JitmnnError("give a model file or --zoo, not both")
        return _zoo_bench([a for a in (args.zoo or []) if a != "--"])
    from . import bench

    shapes = dict(bench.parse_shape(text) for text in args.shape)
    result = bench.run(args.model, shapes, threads=args.threads, memory=args.memory, precision=args.precision,
                       seconds=args.time, warmup=args.warmup, ort=not args.no_ort)
    print(json.dumps(result, indent=1, default=str) if args.json else bench.format_result(result))


def _zoo_bench(argv: list) -> int:
    """benchmarks/bench.py is a script of the source checkout, not part of the installed package."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "bench.py")
    if not os.path.exists(path):
        raise JitmnnError(f"the zoo comparison lives in a source checkout ({path} not found): clone the "
                          "repository, or pass a model file: jitmnn bench model.onnx")
    spec = importlib.util.spec_from_file_location("jitmnn_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(argv)


@command("demo", "convert a zoo model and run it under every memory/precision mode and weight format",
         arg("rest", nargs=argparse.REMAINDER, help="arguments for the demo (see `jitmnn demo -- --help`)"))
def demo_cmd(args):
    from .demo import main as demo_main

    return demo_main([a for a in args.rest if a != "--"])


@command(
    "ocr", "read the text of an image with the PP-OCR models (det, cls, rec) on jitmnn and/or ONNX Runtime; "
    "prints lines, boxes, confidences and time per stage (needs Pillow: pip install 'jitmnn[ocr]')",
    arg("image", help="image file (PNG, JPEG, ...); with --render it is written first"),
    arg("--backend", choices=("jitmnn", "onnxruntime", "both"), default="jitmnn",
        help="runtime for the models; both: jitmnn and ONNX Runtime side by side"),
    arg("--precision", choices=("low", "normal", "high"), default="normal", help="jitmnn's precision"),
    arg("--memory", choices=("low", "normal", "high"), default="normal", help="jitmnn's memory mode"),
    arg("--threads", type=int, default=1),
    arg("--runs", type=int, default=2, help="read the image N times; stage times are the last run's (default 2)"),
    arg("--render", metavar="TEXT", help="draw TEXT (lines separated by \\n) on a white page, save it as IMAGE, "
        "read it and report character accuracy"),
)
def ocr_cmd(args):
    from .ocr.render import read_page, render_page, save_page, split_lines, text_of
    from .ocr.report import Backend, format_runs, run_backends

    reference = None
    if args.render is not None:
        lines = split_lines(args.render)
        save_page(render_page(lines), args.image)
        reference = text_of(lines)
    page = read_page(args.image)
    backends = []
    if args.backend in ("jitmnn", "both"):
        backends.append(Backend("jitmnn", {"precision": args.precision, "memory": args.memory}))
    if args.backend in ("onnxruntime", "both"):
        backends.append(Backend("onnxruntime"))
    print(f"{args.image}: {page.shape[1]}x{page.shape[0]}")
    print(format_runs(run_backends(page, backends, repeats=args.runs, num_threads=args.threads), reference))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `jitmnn knobs | head`
        return 0
    except (JitmnnError, OSError, ValueError) as e:
        # ValueError: invalid session settings (SessionConfig); OSError: a file that cannot be read/written.
        if os.environ.get("JITMNN_DEBUG"):
            raise
        print(f"jitmnn {args.command}: error: {e}", file=sys.stderr)
        return USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
