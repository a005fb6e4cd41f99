"""Printable account of a plan: per layer, what ran, why, and what it cost in memory."""

from __future__ import annotations


class Explanation:
    """What `Module.explain()` returns: the plan's layers (op, algorithm, why, output shape, extra bytes, weight
    and activation storage) as `layers` dicts, the Plan itself as `plan`, and a printable table.

        e = m.explain({"input": (1, 3, 224, 224)})
        print(e)                     # one line per layer, the reasons, the CPU tier under precision="low"
        e.count("winograd")          # layers whose algorithm starts with "winograd"
    """

    def __init__(self, plan, config, memory: dict, later_segments: list | None = None):
        self.plan = plan
        # Plans of the segments after a data-dependent node (or a shape computed at run time), as far as
        # runs have planned them: [(segment graph name, plan)].
        self.later_segments = list(later_segments or [])
        self.config = config
        self.memory = memory
        self.layers = [
            {
                "name": s.node.name,
                "op": s.node.op,
                "algorithm": s.algorithm,
                "reason": s.reason,
                "output_shape": tuple(plan.tensors[s.outputs[0]].shape) if s.outputs else (),
                "extra_bytes": s.weight_bytes + s.scratch_bytes,
                "weight_dtype": _weight_dtype(s),
                "activation_storage": _activation_storage(plan, s),
            }
            for s in plan.steps
        ]

    def count(self, algorithm_prefix: str) -> int:
        """How many layers run an algorithm whose name starts with `algorithm_prefix`."""
        return sum(1 for layer in self.layers if layer["algorithm"].startswith(algorithm_prefix))

    def __str__(self) -> str:
        c = self.config
        p = self.plan
        lines = [
            f"jitmnn plan: precision={c.precision} memory={c.memory} threads={c.num_threads}"
            + (f" budget={c.memory_budget_mb} MB" if c.memory_budget_mb else ""),
            f"inputs {p.input_shapes}",
            f"arena: planned {p.arena_bytes / 1e6:.2f} MB (naive sum {p.naive_bytes / 1e6:.2f} MB);"
            f" expanded weights {self.memory['weights_expanded_bytes'] / 1e6:.2f} MB",
        ]
        for note in p.notes:
            lines.append(f"note: {note}")
        if c.precision == "low":
            lines.append(_bf16_line(self.layers))
        w = max([len(x["name"]) for x in self.layers] + [4])
        lines.append(f"{'layer':<{w}}  {'op':<18} {'algorithm':<14} {'out shape':<20} {'act':<4} {'extra':>9}  reason")
        for x in self.layers:
            lines.append(
                f"{x['name']:<{w}}  {x['op']:<18} {x['algorithm']:<14} {str(x['output_shape']):<20}"
                f" {x['activation_storage']:<4} {x['extra_bytes'] / 1e3:>7.0f}KB  {x['reason']}"
            )
        counts = p.algorithm_counts()
        lines.append("algorithms: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
        if p.input_values:
            lines.append(f"planned for the values of the inputs {sorted(p.input_values)} (shape tensors fed at run "
                         f"time; a new value makes a new plan)")
        if p.barrier is not None:
            lines.append(_barrier_line(1, p.barrier))
        for k, (name, plan) in enumerate(self.later_segments, start=2):
            sub = Explanation(plan, self.config, self.memory)
            lines.append(f"--- segment {k}: {name}, planned at run time for inputs {plan.input_shapes} ---")
            lines.extend(str(sub).splitlines()[3:])
        return "\n".join(lines)

    __repr__ = __str__


def _bf16_line(layers) -> str:
    """precision=low: which compute tier this CPU gives, and which convs run bf16 (the others, by algorithm: a
    depthwise conv has no GEMM for vdpbf16ps, a stem of odd row length is packed, a refusal names its reason)."""
    from . import cpu

    convs = [x for x in layers if x["op"] == "Conv"]
    others: dict = {}
    for x in convs:
        if x["algorithm"] != "bf16":
            others[x["algorithm"]] = others.get(x["algorithm"], 0) + 1
    rest = ", ".join(f"{k} x{v}" for k, v in sorted(others.items()))
    n = len(convs) - sum(others.values())
    return f"cpu: {cpu.report()}; bf16 compute on {n} of {len(convs)} Conv layers" + (f" (others: {rest})" if rest else "")


def _barrier_line(k: int, barrier) -> str:
    node = barrier.node
    if barrier.kind == "data-dependent":
        why = (f"{node.op} {node.name!r} has a data-dependent output shape: it runs on its own (numpy reference) "
               f"and the rest is planned for the shape it produces")
    else:
        why = (f"{node.op} {node.name!r} needs the run-time value of {barrier.tensors}: the rest is planned once "
               f"it is known")
    return f"segment {k} ends here: {why}"


def _weight_dtype(step) -> str:
    ctx = step.params[0] if isinstance(step.params, tuple) and step.params else None
    consts = getattr(ctx, "consts", None) or []
    if len(consts) > 1 and consts[1] is not None:
        return str(getattr(consts[1], "storage", getattr(consts[1], "dtype", "")))
    return ""


def _activation_storage(plan, step) -> str:
    """How the layer's first output is held in the arena: fp16 (precision=low) or its own dtype."""
    if not step.outputs:
        return ""
    t = plan.tensors[step.outputs[0]]
    return "fp16" if t.storage is not None else str(t.dtype).replace("float", "fp")
