"""Latency measurement: warm-up, then timed runs until a minimum wall time and a minimum count.

Timing uses ``time.perf_counter_ns`` around each call, never ``time.time``. The result is a
frozen :class:`LatencyStats`; nothing here prints. Peak resident memory is read from
``/proc/self/status`` (``VmHWM``), which Linux lets a process reset through
``/proc/self/clear_refs`` so that each measurement gets its own peak; elsewhere it falls back to
``resource.getrusage`` (the process-wide peak, which can only grow).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from runtime.errors import InputError, expected


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one timed series, in milliseconds (``fps`` is ``1000 / mean_ms``)."""

    runs: int
    warmup: int
    total_s: float
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    fps: float


def summarize(samples_ns: Sequence[int], warmup: int = 0) -> LatencyStats:
    """Turn per-run durations in nanoseconds into :class:`LatencyStats`."""
    if len(samples_ns) == 0:
        raise InputError(expected("samples_ns", "at least one timed run", "an empty series"))
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    mean = float(ms.mean())
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    return LatencyStats(
        runs=int(ms.size),
        warmup=int(warmup),
        total_s=float(ms.sum() / 1e3),
        mean_ms=mean,
        std_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        min_ms=float(ms.min()),
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        fps=1000.0 / mean if mean > 0 else math.inf,
    )


def time_callable(
    fn: Callable[[], object],
    *,
    warmup: int = 2,
    min_time_s: float = 1.0,
    min_runs: int = 5,
    max_runs: int = 100_000,
    on_run: Callable[[int], None] | None = None,
) -> tuple[LatencyStats, list[int]]:
    """Call ``fn`` ``warmup`` times untimed, then time it until both ``min_time_s`` of summed
    run time and ``min_runs`` runs are reached (or ``max_runs``). Returns the stats and the raw
    per-run nanoseconds. ``on_run(i)`` is called after each timed run (for progress bars)."""
    if min_time_s < 0 or min_runs < 1 or max_runs < min_runs or warmup < 0:
        raise InputError(
            expected(
                "timing settings",
                "min_time_s >= 0, 1 <= min_runs <= max_runs, warmup >= 0",
                (min_time_s, min_runs, max_runs, warmup),
            )
        )
    for _ in range(warmup):
        fn()
    samples: list[int] = []
    budget_ns = int(min_time_s * 1e9)
    spent = 0
    clock = time.perf_counter_ns
    while len(samples) < max_runs and (len(samples) < min_runs or spent < budget_ns):
        t0 = clock()
        fn()
        dt = clock() - t0
        samples.append(dt)
        spent += dt
        if on_run is not None:
            on_run(len(samples))
    return summarize(samples, warmup=warmup), samples


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0). True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB since start or the last reset."""
    kb = _proc_status_kb("VmHWM")
    if kb is not None:
        return kb / 1024.0
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is bytes on macOS, KiB on Linux and the BSDs.
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB (0.0 when the platform cannot tell)."""
    kb = _proc_status_kb("VmRSS")
    if kb is not None:
        return kb / 1024.0
    try:
        pages = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * pages / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError):
        return 0.0
