"""Run one op through one algorithm exactly as the planner and executor would, without a model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from jitmnn.config import SessionConfig
from jitmnn.graph import Node
from jitmnn.ops import registry


@dataclass
class Case:
    """One equivalence case: `inputs` holds arrays (None for an omitted optional input); `const_inputs`
    lists the input indices known at plan time (weights, shape tensors), as the planner would see them."""

    op: str
    inputs: list
    attrs: dict = field(default_factory=dict)
    const_inputs: tuple = ()
    id: str = ""
    n_outputs: int = 1

    def __str__(self):
        shapes = [None if a is None else tuple(np.shape(a)) for a in self.inputs]
        return f"{self.op}[{self.id}] attrs={self.attrs} shapes={shapes}"


def make_ctx(case: Case, config: SessionConfig | None = None):
    config = config or SessionConfig()
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(case.inputs)]
    node = Node(f"{case.op}_test", case.op, names, [f"out{i}" for i in range(case.n_outputs)], dict(case.attrs))
    opdef = registry.get_op(case.op)
    in_shapes = [None if a is None else tuple(np.shape(a)) for a in case.inputs]
    in_dtypes = [None if a is None else np.dtype(a.dtype) for a in case.inputs]
    consts = [_const(a) if i in case.const_inputs and a is not None else None for i, a in enumerate(case.inputs)]
    outs = opdef.infer(node, in_shapes, in_dtypes, consts)
    return registry.NodeCtx(node, in_shapes, in_dtypes, [tuple(s) for s, _ in outs], [np.dtype(d) for _, d in outs],
                            consts, config, config.num_threads)


def run_case(case: Case, algorithm: str, config: SessionConfig | None = None, fp16: bool = False):
    """Outputs of `algorithm` on `case` (writes into fresh buffers, like arena views).
    fp16=True stores the activations the algorithm accepts as fp16 (fp16_storage_positions), as the planner
    does under precision="low"; those outputs come back widened to float32."""
    ctx = make_ctx(case, config)
    alg = registry.algorithms(case.op)[algorithm]
    if not alg.applies(ctx):
        return None
    half_in, half_out = fp16_storage_positions(case, alg) if fp16 else (set(), set())
    ctx.in_storage = [registry.FP16_BITS if i in half_in else None for i in range(len(case.inputs))]
    ctx.out_storage = [registry.FP16_BITS if i in half_out else None for i in range(len(ctx.out_shapes))]
    packed = alg.pack(ctx) if alg.pack else None
    params = alg.setup(ctx) if alg.setup else None
    outs = [np.zeros(s, registry.FP16_BITS) if i in half_out
            else np.full(s, np.nan, dtype=d) if np.dtype(d).kind == "f" else np.zeros(s, dtype=d)
            for i, (s, d) in enumerate(zip(ctx.out_shapes, ctx.out_dtypes))]
    scratch_n = alg.scratch_bytes(ctx)
    scratch = np.zeros(scratch_n, np.uint8) if scratch_n else None
    ins = [None if a is None else to_fp16_bits(a) if i in half_in else _const(a) for i, a in enumerate(case.inputs)]
    alg.run(packed, params, ins, outs, scratch)
    return [o.view(np.float16).astype(np.float32) if i in half_out else o for i, o in enumerate(outs)]


def fp16_storage_positions(case: Case, alg) -> tuple:
    """(input positions, output positions) the planner could store fp16 for this algorithm: run-time float32
    inputs it reads as fp16 (all of them for a bit-moving algorithm) and its float32 outputs."""
    if not alg.fp16:
        return set(), set()
    floats = {i for i, a in enumerate(case.inputs)
              if a is not None and i not in case.const_inputs and np.asarray(a).dtype == np.float32}
    if alg.fp16 == registry.CONVERTS:
        floats &= set(alg.fp16_inputs)
    outs = {i for i, d in enumerate(make_ctx(case).out_dtypes) if np.dtype(d) == np.float32}
    return floats, outs


def to_fp16_bits(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, np.float32).astype(np.float16)).view(registry.FP16_BITS)


def round_to_fp16(a):
    """What an fp16-stored input holds: the value rounded to fp16, as float32."""
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def _const(a):
    """Compressed weights stay compressed (as the planner hands them over); anything else as an array."""
    return a if hasattr(a, "to_float") else np.asarray(a)


def as_float(a):
    """What an independent reference sees: compressed weights expanded to their fp32 values."""
    return None if a is None else (a.to_float() if hasattr(a, "to_float") else np.asarray(a))


def rng(seed=0):
    return np.random.default_rng(seed)


def os_resident_bytes(array) -> int:
    """Bytes of `array`'s own pages that are resident in RAM (Linux /proc/self/pagemap, present bit): what
    the OS really holds, as opposed to what a counter claims. Per page, so a neighbouring mapping the
    kernel merged with this one does not count."""
    page = os.sysconf("SC_PAGE_SIZE")
    first = array.ctypes.data // page
    last = (array.ctypes.data + array.nbytes - 1) // page
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(first * 8)
        entries = np.frombuffer(f.read((last - first + 1) * 8), np.uint64)
    return int(np.count_nonzero(entries >> np.uint64(63))) * page


def file_rss_bytes(path) -> int:
    """RSS of every mapping of file `path` in this process (Linux /proc/self/smaps)."""
    path = os.path.abspath(path)
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:  # a mapping header line
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                total += int(head[1]) * 1024
    return total
