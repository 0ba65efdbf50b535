"""Per-layer activation statistics of a Keras model on real image tiles.

For every layer with one output tensor: the range and percentiles of its values, what an int8
per-tensor scale calibrated the way the TFLite converter calibrates (min/max over the calibration
tiles, widened to include zero) would do to them on held-back tiles (``clip_share``: outside the
calibrated range; ``crush_share``: non-zero values within one quantization step of zero, i.e.
below the tensor's resolution), how many of the 255 steps the bulk of the values occupies
(``levels_p99``: p1..p99 over the step), how unequal the channels' ranges are (``channel_ratio``:
the largest per-channel p99.9 of ``|x|`` over the median one) and, for ReLU outputs, the channels
that were never positive (dead).

Percentiles come from a seeded subsample of pixels (all channels of each sampled pixel);
min/max, clip and crush counts and dead channels are exact over all tiles.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

PERCENTILES = (0.1, 1.0, 50.0, 99.0, 99.9)
SAMPLE_PIXELS = 4096  # pixels kept per layer and tile for the percentiles


def pct_key(p: float) -> str:
    """``0.1 -> "p0.1"``, ``50.0 -> "p50"``."""
    return f"p{p:g}"


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """What one layer's output looks like on the tiles; see the module docstring."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    channels: int
    relu: bool
    min: float
    max: float
    percentiles: dict[str, float]
    step: float
    clip_share: float
    crush_share: float
    levels_p99: float
    channel_ratio: float
    top_channel: int
    channel_p999: tuple[float, ...]
    dead_channels: tuple[int, ...]

    @property
    def outlier_ratio(self) -> float:
        """``max |x|`` over the p99.9 of ``|x|``: how far the range reaches past the bulk."""
        bulk = max(abs(self.percentiles["p99.9"]), abs(self.percentiles["p0.1"]))
        return float(max(abs(self.max), abs(self.min)) / bulk) if bulk > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["inputs"] = list(self.inputs)
        d["channel_p999"] = [round(v, 6) for v in self.channel_p999]
        d["dead_channels"] = list(self.dead_channels)
        d["outlier_ratio"] = round(self.outlier_ratio, 3)
        return d


def int8_range(lo: float, hi: float) -> tuple[float, float, float]:
    """The converter's asymmetric int8 range for observed ``[lo, hi]``: (lo', hi', step).

    TFLite widens the range to include zero (so that zero is exact) and spreads 256 levels over it.
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    step = (hi - lo) / 255.0
    return lo, hi, step


def is_relu_like(layer: Any) -> bool:
    """A ReLU layer, or a layer whose fused activation is ReLU/ReLU6 (outputs never negative)."""
    kind = type(layer).__name__
    if kind == "ReLU":
        cfg = layer.get_config()
        return not cfg.get("negative_slope") and float(cfg.get("threshold") or 0.0) >= 0.0
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "") in ("relu", "relu6")


class _Acc:
    """Running statistics of one layer."""

    def __init__(self, channels: int) -> None:
        self.lo, self.hi = np.inf, -np.inf  # calibration tiles only
        self.min, self.max = np.inf, -np.inf  # all tiles
        self.ch_max = np.full(channels, -np.inf)
        self.samples: list[np.ndarray] = []
        self.total = 0
        self.clipped = 0
        self.crushed = 0


class ActivationCollector:
    """Feed it the probe outputs tile batch by tile batch: calibration tiles first, then held-back.

    ``layers``: ``(name, kind, inputs, relu)`` per probed layer, in the model's order.
    """

    def __init__(self, layers: list[tuple[str, str, tuple[str, ...], bool]], seed: int = 0) -> None:
        self.layers = layers
        self._acc: dict[str, _Acc] = {}
        self._rng = np.random.default_rng(seed)
        self._ranges: dict[str, tuple[float, float, float]] | None = None

    def _get(self, name: str, channels: int) -> _Acc:
        if name not in self._acc:
            self._acc[name] = _Acc(channels)
        return self._acc[name]

    def observe(self, name: str, values: np.ndarray, calibration: bool) -> None:
        """Add one batch of a layer's output ``(B, ..., C)``."""
        x = np.asarray(values, np.float32)
        flat = x.reshape(-1, x.shape[-1])
        acc = self._get(name, flat.shape[1])
        bmin, bmax = float(flat.min()), float(flat.max())
        acc.min, acc.max = min(acc.min, bmin), max(acc.max, bmax)
        np.maximum(acc.ch_max, flat.max(axis=0), out=acc.ch_max)
        k = min(SAMPLE_PIXELS * x.shape[0], flat.shape[0])
        acc.samples.append(flat[self._rng.choice(flat.shape[0], k, replace=False)])
        if calibration:
            acc.lo, acc.hi = min(acc.lo, bmin), max(acc.hi, bmax)
            return
        if self._ranges is None:
            self._ranges = {n: int8_range(a.lo, a.hi) for n, a in self._acc.items()}
        lo, hi, step = self._ranges[name]
        acc.total += flat.size
        acc.clipped += int(np.count_nonzero((flat < lo - step / 2) | (flat > hi + step / 2)))
        mag = np.abs(flat)
        acc.crushed += int(np.count_nonzero((mag > 0) & (mag < step)))

    def results(self) -> list[LayerStats]:
        out = []
        for name, kind, inputs, relu in self.layers:
            acc = self._acc.get(name)
            if acc is None:
                continue
            sample = np.concatenate(acc.samples)
            pct = np.percentile(sample, PERCENTILES)
            ch999 = np.percentile(np.abs(sample), 99.9, axis=0)
            live = ch999[ch999 > 0]
            median = float(np.median(live)) if live.size else 0.0
            ratio = float(ch999.max() / median) if median > 0 else 1.0
            lo, hi, step = (self._ranges or {}).get(name, int8_range(acc.lo, acc.hi))
            dead = tuple(int(c) for c in np.flatnonzero(acc.ch_max <= 0)) if relu else ()
            out.append(
                LayerStats(
                    name=name,
                    kind=kind,
                    inputs=inputs,
                    channels=int(sample.shape[1]),
                    relu=relu,
                    min=float(acc.min),
                    max=float(acc.max),
                    percentiles={
                        pct_key(p): float(v) for p, v in zip(PERCENTILES, pct, strict=True)
                    },
                    step=float(step),
                    clip_share=acc.clipped / acc.total if acc.total else 0.0,
                    crush_share=acc.crushed / acc.total if acc.total else 0.0,
                    levels_p99=float((pct[3] - pct[1]) / step) if step > 0 else 0.0,
                    channel_ratio=ratio,
                    top_channel=int(np.argmax(ch999)),
                    channel_p999=tuple(float(v) for v in ch999),
                    dead_channels=dead,
                )
            )
        return out
