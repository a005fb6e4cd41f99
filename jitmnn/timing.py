"""Wall-clock latency of a call, as the notebooks and a user's own comparisons report it.

    from jitmnn.timing import measure
    t = measure(m.run, {"x": x}, runs=10, min_time=0.5)
    print(t)                       # 12.3 ms median, p90 14.1 ms (41 runs)
    t.p50_ms, t.p90_ms, t.runs

Why percentiles and not a mean: on a shared machine one descheduled run can double a mean, while the median
barely moves; p90 says how bad the slow runs get. Why warm-up calls: the first run of a jitmnn module plans
the model for the input shape and loads its kernels (see `Module.run`), which is a cost paid once, not
latency. `min_time` keeps calling until that much time has been timed, so a fast call is timed over enough
runs to be stable and a slow one is not run more than `runs` times."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

# Upper bound on timed calls however fast the call is (min_time would otherwise loop ~forever on a no-op).
MAX_RUNS = 10_000


@dataclass(frozen=True)
class Timing:
    """Latency of the timed calls: median and 90th percentile in milliseconds, and how many calls were timed."""

    p50_ms: float
    p90_ms: float
    runs: int

    def __str__(self) -> str:
        return f"{self.p50_ms:.1f} ms median, p90 {self.p90_ms:.1f} ms ({self.runs} runs)"


def measure(fn: Callable[..., Any], *args: Any, runs: int = 5, min_time: float = 0.0, warmup: int = 1,
            max_runs: int = MAX_RUNS) -> Timing:
    """Time `fn(*args)`: `warmup` untimed calls, then at least `runs` timed calls, continuing until
    `min_time` seconds have been timed (at most `max_runs` calls). Returns a Timing.

        measure(m.run, feeds)                          # 5 runs after one warm-up
        measure(pool.map, batch, runs=3, warmup=0)     # a call that is already warm
        measure(lambda: sess.run(None, feed), min_time=1.0)

    Keyword arguments for `fn` go through a lambda or functools.partial, so `runs`, `min_time` and the
    others can never be mistaken for them."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if max_runs < runs:
        raise ValueError(f"max_runs ({max_runs}) must be >= runs ({runs})")
    for _ in range(warmup):
        fn(*args)
    times: list[float] = []
    spent = 0.0
    while len(times) < runs or (spent < min_time and len(times) < max_runs):
        t0 = time.perf_counter()
        fn(*args)
        dt = time.perf_counter() - t0
        times.append(dt * 1e3)
        spent += dt
    return Timing(p50_ms=statistics.median(times), p90_ms=percentile(times, 90), runs=len(times))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between the closest ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
