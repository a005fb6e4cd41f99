"""jitmnn.timing.measure: call counts (warm-up, runs, min_time, max_runs), percentiles against numpy's, and
argument checks. A fake clock makes the timed durations exact, so nothing here depends on the machine."""

from __future__ import annotations

import numpy as np
import pytest

from jitmnn import timing
from jitmnn.timing import Timing, measure, percentile


class FakeClock:
    """time.perf_counter stand-in: each call of the timed function advances it by the next duration (s)."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def perf_counter(self):
        return self.now

    def fn(self, *args):
        self.calls += 1
        self.args = args
        self.now += self.durations[(self.calls - 1) % len(self.durations)]


@pytest.fixture
def clock(monkeypatch):
    def make(durations):
        c = FakeClock(durations)
        monkeypatch.setattr(timing.time, "perf_counter", c.perf_counter)
        return c
    return make


def test_runs_after_warmup_and_percentiles(clock):
    # warm-up takes the first duration (1 s) and is not timed; the timed ones are 10..50 ms
    c = clock([1.0, 0.010, 0.020, 0.030, 0.040, 0.050])
    t = measure(c.fn, "a", 2, runs=5, warmup=1)
    assert c.calls == 6 and c.args == ("a", 2)
    assert t == Timing(p50_ms=pytest.approx(30.0), p90_ms=pytest.approx(46.0), runs=5)


def test_min_time_adds_runs_and_max_runs_caps_them(clock):
    c = clock([0.125])  # exact in binary, so the sum reaches min_time exactly
    t = measure(c.fn, runs=2, min_time=1.0, warmup=0)
    assert t.runs == 8 and c.calls == 8
    c = clock([0.125])
    assert measure(c.fn, runs=2, min_time=100.0, warmup=0, max_runs=7).runs == 7


def test_slow_call_is_not_repeated_beyond_runs(clock):
    c = clock([2.0])
    assert measure(c.fn, runs=3, min_time=1.0, warmup=0).runs == 3


@pytest.mark.parametrize("n", [1, 2, 5, 10, 11])
@pytest.mark.parametrize("q", [0, 10, 50, 90, 100])
def test_percentile_matches_numpy(n, q):
    values = list(np.random.default_rng(n).random(n) * 100)
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q))), (n, q)


@pytest.mark.parametrize("kwargs", [{"runs": 0}, {"warmup": -1}, {"runs": 5, "max_runs": 4}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        measure(lambda: None, **kwargs)


def test_real_clock_and_str():
    t = measure(sum, [1, 2, 3], runs=3)
    assert t.runs == 3 and 0.0 <= t.p50_ms <= t.p90_ms
    assert "ms median" in str(t) and "(3 runs)" in str(t)
