"""The offset planner alone, on synthetic lifetimes, and the Arena's memory-mode policies."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitmnn.arena import Arena, Block, naive_bytes, plan_offsets
from jitmnn.config import ARENA_ALIGN
from tests.harness import os_resident_bytes


def _overlaps(blocks, offsets):
    bad = []
    for i, a in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            b = blocks[j]
            live_together = not (a.last < b.first or b.last < a.first)
            if live_together and a.size and b.size:
                a0, a1 = offsets[i], offsets[i] + a.size
                b0, b1 = offsets[j], offsets[j] + b.size
                if a0 < b1 and b0 < a1:
                    bad.append((i, j))
    return bad


@st.composite
def lifetimes(draw):
    n = draw(st.integers(1, 40))
    blocks = []
    for _ in range(n):
        first = draw(st.integers(0, 30))
        blocks.append(Block(draw(st.integers(0, 5000)), first, first + draw(st.integers(0, 10))))
    return blocks


@settings(max_examples=300, deadline=None)
@given(lifetimes())
def test_plan_never_overlaps_live_blocks_and_beats_naive(blocks):
    offsets, peak = plan_offsets(blocks)
    assert not _overlaps(blocks, offsets)
    assert peak <= naive_bytes(blocks)
    assert all(o % ARENA_ALIGN == 0 for o in offsets)
    assert all(o + b.size <= peak for o, b in zip(offsets, blocks))


def test_chain_reuses_memory():
    # A chain a->b->c->d: only two neighbours are ever alive, so the plan needs two slots, not four.
    blocks = [Block(1024, i, i + 1) for i in range(4)]
    offsets, peak = plan_offsets(blocks)
    assert peak == 2 * 1024
    assert naive_bytes(blocks) == 4 * 1024


def test_arena_policies():
    for policy, shrinks in (("normal", True), ("high", False), ("low", True)):
        a = Arena(policy)
        assert a.ensure(10_000)
        allocs = a.allocations
        assert not a.ensure(10_000), "same size must not reallocate"
        assert a.allocations == allocs
        changed = a.ensure(1_000)
        assert changed == shrinks, policy
        assert (a.capacity < 10_000) == shrinks
        a.after_run()
        assert (a.resident_bytes == 0) == (policy == "low")
        assert a.buffer is not None  # low keeps the address range (bound views stay valid)
        allocs = a.allocations
        assert not a.ensure(a.capacity) and a.resident_bytes == a.capacity and a.allocations == allocs


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="needs Linux /proc/self/pagemap")
def test_low_policy_really_gives_pages_back_while_views_are_held():
    """The RSS of the arena's mapping, not a counter: after a low run it is gone even though a module still
    holds views into the buffer (before: the views kept a 35 MB arena resident while memory_info said 0)."""
    for policy, kept in (("low", False), ("normal", True)):
        a = Arena(policy)
        a.ensure(8 << 20)
        view = a.view(0, (2 << 20,), np.float32)
        view[:] = 1.0
        assert os_resident_bytes(a.buffer) >= 8 << 20
        a.after_run()
        assert (os_resident_bytes(a.buffer) >= 8 << 20) == kept, policy
        a.ensure(8 << 20)
        view[:] = 2.0  # the same view works again: pages come back zero-filled, then written
        assert float(view.sum()) == 2.0 * (2 << 20)


def test_view_bounds_checked():
    a = Arena("normal")
    a.ensure(256)
    v = a.view(64, (4, 4), np.float32)
    assert v.shape == (4, 4)
    try:
        a.view(200, (4, 4), np.float32)
    except IndexError:
        pass
    else:
        raise AssertionError("a view past the arena must raise")
