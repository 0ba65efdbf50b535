"""Configuration of the data pipeline: where training images come from and how they are blurred.

Both are frozen dataclasses validated in ``__post_init__`` so that a bad value fails when the
config is built (from the CLI or from a saved ``config.yaml``), not hours into training.
``to_dict`` / ``from_dict`` round-trip them through YAML-friendly dicts and reject unknown keys.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from runtime.errors import InputError, expected


class SourceKind(str, enum.Enum):
    """What a training folder holds."""

    SYNTHETIC = "synthetic"  # a folder of sharp photos, blurred on the fly
    PAIRS = "pairs"  # GoPro layout: DIR/blur/*.png and DIR/sharp/*.png with the same names


class KernelFamily(str, enum.Enum):
    """The blur families the synthetic degradation draws from (weights in :class:`BlurConfig`)."""

    TRAJECTORY = "trajectory"  # Boracchi & Foi 2012 random camera-shake trajectories
    LINEAR = "linear"  # straight or gently curved streaks (short exposures of steady motion)
    GYRO = "gyro"  # uniform kernels integrated from real gyroscope logs
    ROTATION = "rotation"  # non-uniform blur: a camera rotation path including in-plane roll
    DEPTH = "depth"  # non-uniform blur: camera translation over a scene whose depth varies
    FILE = "file"  # measured kernels loaded from PNG / NPY / MAT files
    DEFOCUS = "defocus"  # anti-aliased disk
    GAUSSIAN = "gaussian"  # anisotropic Gaussian (mild optical blur)
    SHARP = "sharp"  # no blur at all: only the sensor noise / JPEG / highlights of the others


def _check_range(name: str, value: tuple[float, float], lo: float, hi: float | None = None) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
        and lo <= value[0] <= value[1]
        and (hi is None or value[1] <= hi)
    )
    if not ok:
        bound = f"<= {hi}" if hi is not None else "finite"
        raise InputError(
            expected(name, f"a pair (low, high) with {lo} <= low <= high {bound}", value)
        )


def _check_prob(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InputError(expected(name, "a probability in [0, 1]", value))


@dataclass(frozen=True)
class DataSource:
    """One training source; several are mixed by ``weight`` (relative, need not sum to 1)."""

    kind: SourceKind
    path: Path
    weight: float = 1.0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", SourceKind(self.kind))
        except ValueError:
            valid = ", ".join(k.value for k in SourceKind)
            raise InputError(expected("source kind", f"one of {valid}", self.kind)) from None
        object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.weight, (int, float)) or not self.weight > 0:
            raise InputError(
                expected(f"weight of source {str(self.path)!r}", "a number > 0", self.weight)
            )

    def to_dict(self) -> dict[str, Any]:
        """YAML-friendly dict (enum and path as strings)."""
        return {"kind": self.kind.value, "path": str(self.path), "weight": float(self.weight)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataSource:
        """Inverse of :meth:`to_dict`; unknown keys are an InputError."""
        return cls(**_known_keys(cls, d, "data source"))


@dataclass(frozen=True)
class BlurConfig:
    """How sharp photos are degraded into training inputs.

    The family weights are relative probabilities. ``gyro`` and ``file`` need ``gyro_dirs`` /
    ``kernel_dirs``; when those are empty their weight is dropped (``rotation`` then uses synthetic
    random-walk rotation paths instead of gyro logs). Defaults aim at hand-held camera shake of a
    phone or action camera seen in 128-256 px training crops of ~0.3-1 Mpixel photos.
    """

    kernel_size: int = 31  # odd; largest blur extent in pixels (trajectories are scaled to fit)
    trajectory: float = 0.2
    linear: float = 0.15
    gyro: float = 0.2
    rotation: float = 0.2
    depth: float = 0.1
    file: float = 0.05
    defocus: float = 0.08
    gaussian: float = 0.07
    # Sharp crops (identity kernel) teach a model to leave sharp content alone: real footage is
    # often nearly sharp, and a model that always sharpens loses PSNR there (issue 6).
    sharp: float = 0.0
    kernel_dirs: tuple[Path, ...] = ()  # folders of measured kernels (.png, .npy, .mat)
    gyro_dirs: tuple[Path, ...] = ()  # folders with */gyro.txt logs (Lai et al. 2016 format)
    exposure_s: tuple[float, float] = (0.02, 0.2)  # exposure window cut from the gyro logs
    focal_px: tuple[float, float] = (200.0, 1000.0)  # focal length projecting rotation to pixels
    max_roll_deg: float = 3.0  # synthetic rotation paths: largest in-plane roll over the exposure
    moving_object: float = 0.15  # probability that a region moves on its own (second kernel)
    noise: float = 0.8  # probability of Poisson-Gaussian sensor noise
    shot_noise: tuple[float, float] = (1e-4, 1e-2)  # Poisson gain a (variance a * x, linear light)
    read_noise: tuple[float, float] = (1e-3, 1.5e-2)  # Gaussian read-noise sigma b (linear light)
    jpeg: float = 0.3  # probability of JPEG compression of the blurred input
    jpeg_quality: tuple[float, float] = (60.0, 95.0)
    highlights: float = 0.25  # probability of boosting highlights above white before blurring
    highlight_gain: tuple[float, float] = (1.5, 6.0)  # gain of linear values above 0.8
    linear_light: bool = True  # blur in linear light (undo sRGB gamma, blur, redo)
    # Share of crops blurred on their sRGB-encoded values instead (clipped to [0, 1] first, noise
    # still in linear light): the plain average of 8-bit frames that made the GoPro benchmark's
    # blur images and gopro_dev (edge_deblur.data.video, --space srgb; issue 6).
    srgb_blur: float = 0.0
    # Probability that a motion blur's sharp target is the GoPro recipe's centre frame (frame
    # N // 2 of N averaged, N in 7..13: half a frame after mid-exposure for even N) instead of the
    # blur's centroid (edge_deblur.data.kernels.gopro_anchor; issue 6).
    gopro_anchor: float = 0.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.kernel_size, int)
            or self.kernel_size < 3
            or self.kernel_size % 2 == 0
        ):
            raise InputError(
                expected("kernel_size", "an odd integer >= 3", self.kernel_size, "e.g. 31")
            )
        for fam in KernelFamily:
            w = getattr(self, fam.value)
            if not isinstance(w, (int, float)) or w < 0:
                raise InputError(expected(f"blur weight {fam.value}", "a number >= 0", w))
        if sum(getattr(self, f.value) for f in KernelFamily) <= 0:
            raise InputError(
                expected(
                    "blur weights", "at least one family with weight > 0", 0.0, "e.g. trajectory=1"
                )
            )
        for name in ("kernel_dirs", "gyro_dirs"):
            val = getattr(self, name)
            if isinstance(val, (str, Path)):
                val = (val,)
            object.__setattr__(self, name, tuple(Path(p) for p in val))
        for name in (
            "exposure_s",
            "focal_px",
            "shot_noise",
            "read_noise",
            "jpeg_quality",
            "highlight_gain",
        ):
            val = getattr(self, name)
            if isinstance(val, list):
                val = tuple(val)
                object.__setattr__(self, name, val)
        _check_range("exposure_s", self.exposure_s, 1e-4)
        _check_range("focal_px", self.focal_px, 1.0)
        _check_range("shot_noise", self.shot_noise, 0.0, 1.0)
        _check_range("read_noise", self.read_noise, 0.0, 1.0)
        _check_range("jpeg_quality", self.jpeg_quality, 1.0, 100.0)
        _check_range("highlight_gain", self.highlight_gain, 1.0)
        for name in ("noise", "jpeg", "highlights", "moving_object", "gopro_anchor", "srgb_blur"):
            _check_prob(name, getattr(self, name))
        if not isinstance(self.max_roll_deg, (int, float)) or not 0 <= self.max_roll_deg <= 45:
            raise InputError(expected("max_roll_deg", "degrees in [0, 45]", self.max_roll_deg))

    def family_weights(self) -> dict[KernelFamily, float]:
        """Normalised probabilities of the families usable with the configured folders."""
        w = {f: float(getattr(self, f.value)) for f in KernelFamily}
        if not self.gyro_dirs:
            w[KernelFamily.GYRO] = 0.0
        if not self.kernel_dirs:
            w[KernelFamily.FILE] = 0.0
        total = sum(w.values())
        if total <= 0:
            raise InputError(
                expected(
                    "blur weights",
                    "a family with weight > 0 that has its data",
                    {f.value: getattr(self, f.value) for f in KernelFamily},
                    "gyro needs gyro_dirs and file needs kernel_dirs",
                )
            )
        return {f: v / total for f, v in w.items() if v > 0}

    def to_dict(self) -> dict[str, Any]:
        """YAML-friendly dict (paths as strings, ranges as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("kernel_dirs", "gyro_dirs"):
                v = [str(p) for p in v]
            elif isinstance(v, tuple):
                v = [float(x) for x in v]
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BlurConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an InputError."""
        return cls(**_known_keys(cls, d, "blur config"))


def _known_keys(cls: type, d: Mapping[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise InputError(
            expected(
                f"{what} keys",
                f"a subset of {', '.join(sorted(names))}",
                unknown,
                "remove or rename them",
            )
        )
    return dict(d)
