"""8-connected components of a binary mask, in numpy, for DB post-processing (OpenCV's findContours is
not available and not needed: only each component's convex hull is used).

    runs = label_runs(mask)            # horizontal runs of True, each with its component's label
    for points in component_points(runs, max_components=1000): ...   # (k, 2) x, y of run ends

Run-based two-pass labelling (Rosenfeld & Pfaltz 1966, on runs as in He et al. 2008, "A run-based
two-scan labeling algorithm"): a 640x640 DB map holds a few thousand runs, so linking runs of adjacent rows
with searchsorted and merging them by vectorised hooking and pointer jumping takes a few milliseconds
without a compiled kernel."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Runs(NamedTuple):
    """Horizontal runs of True pixels, sorted by row then start; `end` is exclusive; `label` numbers the
    components 0..n_components-1 in order of their first run (top-most, then left-most)."""

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    label: np.ndarray
    n_components: int


def find_runs(mask: np.ndarray):
    """(row, start, end) of every horizontal run of True in a 2-D mask, row-major order."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask != 0
    step = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it ends
    row, start = np.nonzero(step == 1)
    _, end = np.nonzero(step == -1)  # row-major: the k-th end closes the k-th start
    return row, start, end


def _touching_pairs(row, start, end, width: int):
    """Pairs (i, j) of runs in adjacent rows (j one row above i) that touch, diagonals included.

    Runs of one row are disjoint and sorted, so the runs of row r-1 touching run i (start s, end e) form
    one contiguous range: from the first whose end >= s to the last whose start <= e. Keys row * stride +
    column make both bounds a single searchsorted over all rows at once."""
    stride = width + 2
    start_key = row * stride + start
    end_key = row * stride + end
    above = (row - 1) * stride
    lo = np.searchsorted(end_key, above + start, side="left")
    hi = np.searchsorted(start_key, above + end, side="right")
    counts = np.maximum(hi - lo, 0)
    i = np.repeat(np.arange(len(row)), counts)
    first = np.repeat(lo, counts)
    offset = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    return i, first + offset


def _merge(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Root (smallest member index) of each of n nodes joined by the edges (i, j).

    Hooking: every edge whose ends have different roots points the larger root at the smaller; pointer
    jumping then flattens the trees. Each round lowers some root, so the loop ends; a page takes 2-4 rounds."""
    parent = np.arange(n)
    while True:
        pi, pj = parent[i], parent[j]
        differ = pi != pj
        if not differ.any():
            return parent
        np.minimum.at(parent, np.maximum(pi, pj)[differ], np.minimum(pi, pj)[differ])
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def label_runs(mask: np.ndarray) -> Runs:
    """The runs of `mask` with their 8-connected component labels."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    row, start, end = find_runs(mask)
    i, j = _touching_pairs(row, start, end, mask.shape[1])
    roots = _merge(len(row), i, j)
    _, label = np.unique(roots, return_inverse=True)  # roots are first runs: labels follow reading order
    return Runs(row, start, end, label.reshape(-1), int(roots.size and label.max() + 1))


def label_image(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """(labels, n): an int32 image with 0 for background and 1..n for the components (for tests and
    display; the post-processing works on runs)."""
    runs = label_runs(mask)
    labels = np.zeros(np.shape(mask), dtype=np.int32)
    for r, s, e, lab in zip(runs.row, runs.start, runs.end, runs.label):
        labels[r, s:e] = lab + 1
    return labels, runs.n_components


def component_points(runs: Runs, max_components: int | None = None):
    """Per component (in label order, at most `max_components`): the (k, 2) float64 x, y pixel centres of
    its runs' two ends, which span the same convex hull as all its pixels."""
    n = runs.n_components if max_components is None else min(runs.n_components, max_components)
    order = np.argsort(runs.label, kind="stable")
    bounds = np.searchsorted(runs.label[order], np.arange(n + 1))
    xs = np.stack([runs.start, runs.end - 1], axis=1)
    for c in range(n):
        members = order[bounds[c]:bounds[c + 1]]
        x = xs[members].reshape(-1)
        y = np.repeat(runs.row[members], 2)
        yield np.stack([x, y], axis=1).astype(np.float64)
