"""Activation memory: a lifetime-based offset planner and the Arena that owns the one buffer.

The planner is pure (sizes + lifetimes in, offsets out) so it is tested on synthetic lifetimes alone.
The Arena implements the memory-mode policy of DESIGN section 4 and counts every allocation, which is
how tests prove that a repeated run allocates nothing."""

from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np

from .config import ARENA_ALIGN


def _align(n: int) -> int:
    return (n + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN


@dataclass(frozen=True)
class Block:
    """A buffer needed from step `first` to step `last` inclusive."""

    size: int
    first: int
    last: int


def plan_offsets(blocks: list) -> tuple:
    """Greedy-by-size placement (as in TFLite's arena planner): largest blocks first, each at the lowest
    offset that does not overlap any already-placed block whose lifetime intersects its own.
    Returns (offsets, peak_bytes). Two blocks alive at the same step never share bytes."""
    order = sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, blocks[i].first))
    offsets = [0] * len(blocks)
    placed: list = []  # (offset, end, first, last)
    peak = 0
    for i in order:
        b = blocks[i]
        size = _align(b.size)
        if size == 0:
            continue
        clashes = sorted((o, e) for o, e, f, l in placed if not (l < b.first or f > b.last))
        offset = 0
        for o, e in clashes:
            if offset + size <= o:
                break
            offset = max(offset, e)
        offsets[i] = offset
        placed.append((offset, offset + size, b.first, b.last))
        peak = max(peak, offset + size)
    return offsets, peak


def naive_bytes(blocks: list) -> int:
    return sum(_align(b.size) for b in blocks)


class Arena:
    """Owns the activation buffer of one module (each clone has its own).

    policy "low":    sized exactly to the current plan, and released after every run.
    policy "normal": grows when a plan needs more; shrinks to fit when a smaller plan is bound.
    policy "high":   grow-only; never shrinks.
    Counters: `allocations` and `bytes_allocated` increase on every real allocation."""

    def __init__(self, policy: str):
        self.policy = policy
        self.buffer = None
        self.capacity = 0
        self.allocations = 0
        self.bytes_allocated = 0
        self.generation = 0  # bumps whenever the buffer object changes, so views can be rebuilt
        self.high_water = 0

    def ensure(self, nbytes: int) -> bool:
        """Make the buffer fit a plan of `nbytes`. Returns True when the buffer changed (views are stale)."""
        nbytes = _align(max(nbytes, 0))
        grow = nbytes > self.capacity
        shrink = self.policy in ("normal", "low") and nbytes < self.capacity
        if self.buffer is not None and not grow and not shrink:
            return False
        self.buffer = None  # drop the old one first so peak RSS never holds both
        if nbytes:
            # An anonymous mapping of its own, not malloc: freeing it always unmaps it, whereas glibc's
            # dynamic mmap threshold would keep a freed multi-MB arena in the heap, and RSS would not fall.
            self.buffer = np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.uint8)  # page-aligned
            self.allocations += 1
            self.bytes_allocated += nbytes
        self.capacity = nbytes
        self.high_water = max(self.high_water, nbytes)
        self.generation += 1
        return True

    def view(self, offset: int, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset < 0 or offset + n > self.capacity:
            raise IndexError(f"arena view {offset}+{n} outside capacity {self.capacity}")
        return self.buffer[offset : offset + n].view(dtype).reshape(shape)

    def release(self) -> None:
        if self.buffer is not None:
            self.buffer = None
            self.capacity = 0
            self.generation += 1

    def after_run(self) -> None:
        if self.policy == "low":
            self.release()
