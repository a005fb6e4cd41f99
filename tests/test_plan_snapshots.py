"""Plan snapshots: for each zoo model and setting, every layer's algorithm and activation storage, and the
planned arena bytes. Plans are deterministic (the cost model is a table of constants), so a change that moves
any of them fails here and has to say so in its commit: regenerate with

    JITMNN_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_plan_snapshots.py

and commit tests/snapshots/*.json with the reason. Planning only: nothing runs."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

import jitmnn
from jitmnn.models import entry, prepare_model

SNAPSHOTS = pathlib.Path(__file__).resolve().parent / "snapshots"
MODELS = ("resnet18", "mobilenet_v2", "ppocr_det", "ppocr_rec", "ppocr_cls")
SETTINGS = (("normal", "normal"), ("normal", "low"), ("low", "normal"), ("low", "low"))  # (precision, memory)
UPDATE = os.environ.get("JITMNN_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("snapshots"))


def _plan_summary(path: str, name: str, settings=SETTINGS) -> dict:
    from jitmnn import cpu
    from jitmnn.kernels.half import host_converts_fp16

    out = {}
    for precision, memory in settings:
        m = jitmnn.load(path, precision=precision, memory=memory)
        plan = m.explain({m.input_names[0]: entry(name).input_shape}).plan
        layers = []
        for s in plan.steps:
            t = plan.tensors[s.outputs[0]]
            layers.append(f"{s.node.name}: {s.algorithm}" + (" -> fp16" if t.storage is not None else ""))
        key = f"precision={precision} memory={memory}"
        if precision == "low" and not host_converts_fp16():
            key += " (no F16C: activations fp32)"
        if precision == "low" and cpu.bf16_tier() != "fp32":
            key += f" ({cpu.bf16_tier()} compute)"
        out[key] = {"arena_bytes": plan.arena_bytes, "layers": layers}
        m.close()
    return out


@pytest.mark.parametrize("name", MODELS)
def test_plan_matches_snapshot(name, workdir):
    _, path = prepare_model(name, workdir)
    got = _plan_summary(path, name)
    file = SNAPSHOTS / f"{name}.json"
    if UPDATE:  # precision=low plans differ by CPU tier: keep the fp32-compute ones a bf16 CPU would not make
        from jitmnn import cpu

        if cpu.bf16_tier() != "fp32":
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(cpu, "bf16_tier", lambda: "fp32")
                got.update(_plan_summary(path, name, [s for s in SETTINGS if s[0] == "low"]))
        SNAPSHOTS.mkdir(exist_ok=True)
        file.write_text(json.dumps(got, indent=1) + "\n")
        return
    assert file.exists(), f"no snapshot for {name}: run with JITMNN_UPDATE_SNAPSHOTS=1 and commit it"
    want = json.loads(file.read_text())
    problems = []
    for key, plan in got.items():
        if key not in want:
            problems.append(f"{key}: not in the snapshot")
            continue
        if plan["arena_bytes"] != want[key]["arena_bytes"]:
            problems.append(f"{key}: arena {want[key]['arena_bytes']} -> {plan['arena_bytes']} bytes")
        changed = [f"{a!r} -> {b!r}" for a, b in zip(want[key]["layers"], plan["layers"]) if a != b]
        if len(plan["layers"]) != len(want[key]["layers"]):
            changed.append(f"{len(want[key]['layers'])} -> {len(plan['layers'])} layers")
        if changed:
            problems.append(f"{key}: {len(changed)} layer(s) changed, e.g. " + "; ".join(changed[:3]))
    assert not problems, (f"{name}'s plans changed (if intended, regenerate the snapshots and say why):\n  "
                          + "\n  ".join(problems))
