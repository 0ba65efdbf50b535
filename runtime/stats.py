"""Stream statistics: per-stage timings, capture-to-output latency percentiles, FPS.

Samples go into preallocated ring buffers (the last ``window`` frames, 100k by default), so a
day-long stream keeps constant memory; means and counts cover every frame. ``to_dict()`` is the
``--stats`` JSON object of issue 4.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

STAGES = ("capture", "pre", "invoke", "post", "sink")
_SERIES = (*STAGES, "latency")


@dataclass(frozen=True)
class FrameRecord:
    """Times of one frame in milliseconds.

    ``capture`` is the time spent in ``source.read()`` (for a live source this includes waiting
    for the camera's next frame); ``latency`` runs from the moment the frame was read to the
    moment every sink has it.
    """

    capture: float
    pre: float
    invoke: float
    post: float
    sink: float
    latency: float


class StreamStats:
    """Thread-safe accumulator; ``snapshot()`` / ``to_dict()`` may be called while it runs."""

    def __init__(self, window: int = 100_000) -> None:
        self.window = int(window)
        # Filled now (not lazily), so resident memory does not grow during the stream.
        self._buf = np.full((len(_SERIES), self.window), np.nan, dtype=np.float64)
        self._sum = np.zeros(len(_SERIES), dtype=np.float64)
        self._lock = threading.Lock()
        self.frames = 0
        self.dropped = 0
        self.corrupt = 0
        self.rejected = 0  # frames that decoded but could not be used (size, --roi, pixel type)
        self.reopens = 0
        self.tiles = 0
        self._t_first: float | None = None
        self._t_last: float | None = None

    def start(self) -> None:
        """Mark the start of the stream (FPS counts from here)."""
        with self._lock:
            if self._t_first is None:
                self._t_first = time.perf_counter()

    def add(self, rec: FrameRecord) -> None:
        """Record one frame that reached the output."""
        values = (rec.capture, rec.pre, rec.invoke, rec.post, rec.sink, rec.latency)
        with self._lock:
            self._buf[:, self.frames % self.window] = values
            self._sum += values
            self.frames += 1
            self._t_last = time.perf_counter()
            if self._t_first is None:
                self._t_first = self._t_last

    @property
    def elapsed_s(self) -> float:
        if self._t_first is None:
            return 0.0
        end = self._t_last if self._t_last is not None else time.perf_counter()
        return max(0.0, end - self._t_first)

    def fps(self) -> float:
        """Frames out per second of stream time."""
        e = self.elapsed_s
        return self.frames / e if e > 0 else 0.0

    def _series(self, name: str) -> np.ndarray:
        row = self._buf[_SERIES.index(name), : min(self.frames, self.window)]
        return row[~np.isnan(row)]

    def to_dict(self) -> dict:
        """``{"frames", "dropped", "corrupt", "rejected", "reopens", "fps", "latency_ms": {p50,
        p90, p99}, "invoke_ms": {mean, p50}, "stages_ms": {stage: mean}}`` (milliseconds;
        percentiles over the last ``window``; ``corrupt``: source frames that could not be
        decoded, ``rejected``: frames that decoded but could not be used, e.g. outside --roi;
        both skipped; ``reopens``: live-source reconnects)."""
        with self._lock:
            n = self.frames
            lat = self._series("latency")
            inv = self._series("invoke")
            means = self._sum / n if n else np.zeros(len(_SERIES))

            def pct(a: np.ndarray, q: float) -> float:
                return round(float(np.percentile(a, q)), 3) if a.size else 0.0

            return {
                "frames": n,
                "dropped": self.dropped,
                "corrupt": self.corrupt,
                "rejected": self.rejected,
                "reopens": self.reopens,
                "fps": round(self.fps(), 3),
                "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99)},
                "invoke_ms": {
                    "mean": round(float(means[_SERIES.index("invoke")]), 3),
                    "p50": pct(inv, 50),
                },
                "stages_ms": {s: round(float(means[_SERIES.index(s)]), 3) for s in STAGES},
            }

    def summary(self) -> str:
        """One human line for the end of a run."""
        d = self.to_dict()
        extra = []
        if self.corrupt:
            extra.append(f"{self.corrupt} corrupt skipped")
        if self.rejected:
            extra.append(f"{self.rejected} unusable skipped")
        if self.reopens:
            extra.append(f"{self.reopens} reopens")
        return (
            f"{d['frames']} frames, {d['fps']:.1f} FPS, {d['dropped']} dropped"
            + (", " + ", ".join(extra) if extra else "")
            + f"; latency p50 {d['latency_ms']['p50']:.1f} ms p99 {d['latency_ms']['p99']:.1f} ms"
            + f"; invoke mean {d['invoke_ms']['mean']:.2f} ms"
        )
