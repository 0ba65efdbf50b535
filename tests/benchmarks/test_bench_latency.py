import numpy as np
import pytest

from benchmarks.latency import (
    current_rss_mb,
    peak_rss_mb,
    reset_peak_rss,
    summarize,
    time_callable,
)
from runtime.errors import InputError


def test_summarize_matches_numpy_percentiles_in_ms():
    samples = [1_000_000 * v for v in (5, 1, 3, 2, 4, 10, 6, 7, 8, 9)]
    s = summarize(samples, warmup=3)
    ms = np.array(samples) / 1e6
    assert s.runs == 10 and s.warmup == 3
    assert s.mean_ms == pytest.approx(5.5)
    assert s.std_ms == pytest.approx(ms.std(ddof=1))
    assert s.min_ms == 1.0
    assert s.p50_ms == pytest.approx(np.percentile(ms, 50))
    assert s.p90_ms == pytest.approx(np.percentile(ms, 90))
    assert s.p99_ms == pytest.approx(np.percentile(ms, 99))
    assert s.fps == pytest.approx(1000 / 5.5)
    assert s.total_s == pytest.approx(0.055)


def test_summarize_refuses_an_empty_series():
    with pytest.raises(InputError, match="samples_ns"):
        summarize([])


def test_time_callable_runs_warmup_then_until_min_runs_and_min_time():
    calls = []
    stats, samples = time_callable(lambda: calls.append(1), warmup=3, min_time_s=0.0, min_runs=7)
    assert len(calls) == 10  # 3 untimed + 7 timed
    assert stats.runs == len(samples) == 7
    stats, samples = time_callable(lambda: sum(range(2000)), warmup=0, min_time_s=0.02, min_runs=1)
    assert sum(samples) >= 0.02e9
    assert stats.total_s >= 0.02


def test_time_callable_stops_at_max_runs():
    stats, _ = time_callable(lambda: None, warmup=0, min_time_s=100.0, min_runs=2, max_runs=5)
    assert stats.runs == 5


@pytest.mark.parametrize(
    "kw", [dict(min_time_s=-1.0), dict(min_runs=0), dict(warmup=-1), dict(min_runs=9, max_runs=3)]
)
def test_time_callable_rejects_bad_settings(kw):
    with pytest.raises(InputError, match="timing settings"):
        time_callable(lambda: None, **kw)


def test_peak_rss_sees_a_large_allocation_after_reset():
    reset_peak_rss()
    before = peak_rss_mb()
    block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB touched
    after = peak_rss_mb()
    del block
    assert after - before > 40
    assert current_rss_mb() > 0
