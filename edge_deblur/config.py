"""``TrainConfig``: everything that defines a training run, validated, saved as YAML, hashed.

A frozen dataclass with ``str`` Enums for choices, checked in ``__post_init__`` (bad values raise
:class:`InputError` naming the field, the valid set and the fix). ``DIR/config.yaml`` holds these
fields plus the derived model figures (``pad_multiple``, ``macs_per_pixel``, ``params``,
``config_hash``) that downstream tools read; :meth:`TrainConfig.load` accepts those derived keys
and rejects every other unknown key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

from runtime.errors import InputError, expected


class Arch(str, Enum):
    cnn = "cnn"
    gan = "gan"
    temporal = "temporal"


class Size(str, Enum):
    tiny = "tiny"
    small = "small"
    base = "base"


class Strategy(str, Enum):
    default = "default"
    mirrored = "mirrored"
    multi_worker = "multi-worker"


class OptimizerKind(str, Enum):
    adamw = "adamw"
    adam = "adam"


class PixelLoss(str, Enum):
    mse = "mse"
    l1 = "l1"
    charbonnier = "charbonnier"


class AdvLoss(str, Enum):
    lsgan = "lsgan"
    ralsgan = "ralsgan"


# Keys written to config.yaml beside the config fields; read back by read_run_info().
DERIVED_KEYS = ("pad_multiple", "macs_per_pixel", "params", "config_hash")

# Fields that may differ when resuming a run (they do not change what is being trained).
RESUME_MUTABLE = frozenset({"steps", "val_every", "ckpt_every", "strategy"})


def _enum(cls: type[Enum], name: str, value: Any) -> Enum:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(m.value for m in cls)
        raise InputError(expected(name, f"one of {valid}", value)) from None


def _as_int(name: str, value: Any) -> int:
    """``value`` as an int, refusing what ``int()`` would take quietly: YAML's ``true`` (a bool)
    and ``10.7`` (a float, numpy's included). Whole floats (``1.0e+4``) and digit strings pass."""
    if isinstance(value, bool):
        raise InputError(expected(name, "an integer", value))
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        raise InputError(expected(name, "an integer", value))
    try:
        as_float = float(value)
        whole = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(expected(name, "an integer", value)) from None
    if as_float != whole:
        raise InputError(expected(name, "an integer", value))
    return whole


def _positive(name: str, value: Any, kind: type = int, allow_zero: bool = False) -> Any:
    if kind is int:
        v = _as_int(name, value)
    else:
        if isinstance(value, bool):  # YAML's `true` is not a number here
            raise InputError(expected(name, "a number", value))
        try:
            v = kind(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(expected(name, "a number", value)) from None
    if v < 0 or (v == 0 and not allow_zero):
        raise InputError(expected(name, "a value >= 0" if allow_zero else "a value > 0", value))
    return v


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run. Paths are stored as given (strings); choices are ``str`` Enums."""

    arch: Arch = Arch.cnn
    size: Size = Size.small
    data: tuple[str, ...] = ()  # folders of sharp photos, blurred synthetically on the fly
    pairs: tuple[str, ...] = ()  # GoPro-layout folders: DIR/blur/*.png, DIR/sharp/*.png
    pairs_weight: float = 1.0  # sampling weight of the real pairs against the synthetic sources
    gyro: tuple[str, ...] = ()  # folders of gyroscope logs for gyro-driven synthetic blur
    kernels: tuple[str, ...] = ()  # folders of measured blur kernels (PNG/NPY/MAT)
    blur: dict[str, Any] | None = None  # BlurConfig overrides (edge_deblur.data), e.g. weights
    clips: tuple[
        str, ...
    ] = ()  # high-fps clips: GoPro-recipe blurred sequences (sequence training)
    clip_average: int = 7  # raw clip frames averaged into one blurred frame
    clip_frames: tuple[int, int] | None = None  # raw frame range [first, last) used of each clip
    seq_len: int = 4  # frames per training sequence (temporal: truncated-BPTT length)
    steps: int = 20000
    batch: int = 8
    patch: int = 128
    seed: int = 0
    optimizer: OptimizerKind = OptimizerKind.adamw
    lr: float = 5e-4  # peak learning rate after warm-up
    min_lr_ratio: float = 0.02  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 500
    weight_decay: float = 1e-4  # AdamW only; biases are excluded
    clip_norm: float = 1.0  # global gradient-norm clip; 0 turns it off
    ema: float = 0.999  # decay of the exponential moving average of weights; 0 turns it off
    pixel_loss: PixelLoss = PixelLoss.mse  # MSE optimises PSNR and cannot pull to identity
    pixel_weight: float = 1.0
    fft_weight: float = 0.1
    edge_weight: float = 0.5
    perceptual_weights: str | None = None  # local VGG19 .h5 weights; never downloaded
    perceptual_weight: float = 0.006
    adv_loss: AdvLoss = AdvLoss.ralsgan
    adv_weight: float = 0.001  # gan only
    widths: tuple[int, ...] | None = None  # override the size's channel widths per level
    blocks: tuple[int, ...] | None = None  # override the size's residual blocks per level
    stem: int | None = None  # 2: level 0 at half resolution (the fast cnn variant); default 1
    lowcut: int | None = None  # remove the correction's local mean over N px (cnn/gan); 0 = off
    down: str | None = None  # down-sampling: "conv" (3x3 stride 2, default) or "sep" (cnn/gan)
    bound0: float | None = None  # clip level-0 features to [0, N] (cnn/gan; finer int8); 0 = off
    val_every: int = 500
    val_n: int = 8
    val_size: int = 256
    ckpt_every: int = 1000
    strategy: Strategy = Strategy.default

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("arch", _enum(Arch, "arch", self.arch))
        put("size", _enum(Size, "size", self.size))
        put("optimizer", _enum(OptimizerKind, "optimizer", self.optimizer))
        put("pixel_loss", _enum(PixelLoss, "pixel_loss", self.pixel_loss))
        put("adv_loss", _enum(AdvLoss, "adv_loss", self.adv_loss))
        put("strategy", _enum(Strategy, "strategy", self.strategy))
        for name in ("data", "pairs", "gyro", "kernels", "clips"):
            value = getattr(self, name)
            if isinstance(value, (str, os.PathLike)):
                value = (value,)
            put(name, tuple(str(v) for v in value or ()))
        if self.blur is not None:
            if not isinstance(self.blur, dict):
                raise InputError(expected("blur", "a mapping of BlurConfig fields", self.blur))
            from edge_deblur.data.config import BlurConfig

            BlurConfig.from_dict(self.blur)  # raises InputError on unknown keys or bad values
            put("blur", dict(self.blur))
        if not self.data and not self.pairs and not self.clips:
            raise InputError(
                expected("data", "at least one --data or --pairs folder (or --clip)", "none", None)
            )
        if self.clips and self.arch is Arch.gan:
            raise InputError(
                expected("--clip", "--arch temporal or cnn (sequence training)", "--arch gan")
            )
        if self.clip_frames is not None:
            try:
                first, last = (_as_int("clip_frames", v) for v in self.clip_frames)
            except (TypeError, ValueError):
                raise InputError(
                    expected("clip_frames", "two frame indices [first, last)", self.clip_frames)
                ) from None
            if not 0 <= first < last:
                raise InputError(expected("clip_frames", "0 <= first < last", self.clip_frames))
            put("clip_frames", (first, last))
        for name in ("widths", "blocks"):
            value = getattr(self, name)
            if value is not None:
                try:
                    put(name, tuple(_as_int(name, v) for v in value))
                except (TypeError, InputError):
                    raise InputError(expected(name, "a list of integers", value)) from None
        if self.stem is not None:
            put("stem", _positive("stem", self.stem))
        if self.lowcut is not None:
            put("lowcut", _positive("lowcut", self.lowcut, allow_zero=True))
        if self.down is not None:
            from edge_deblur.models import DOWNS

            if self.down not in DOWNS:
                raise InputError(expected("down", f"one of {', '.join(DOWNS)}", self.down))
        if self.bound0 is not None:
            put("bound0", _positive("bound0", self.bound0, float, allow_zero=True))
        for name in (
            "steps",
            "batch",
            "patch",
            "val_every",
            "val_n",
            "val_size",
            "ckpt_every",
            "seq_len",
        ):
            put(name, _positive(name, getattr(self, name)))
        put("warmup_steps", _positive("warmup_steps", self.warmup_steps, allow_zero=True))
        if _positive("clip_average", self.clip_average) < 2:
            raise InputError(expected("clip_average", "an integer >= 2", self.clip_average))
        put("clip_average", int(self.clip_average))
        put("seed", _positive("seed", self.seed, allow_zero=True))
        put("lr", _positive("lr", self.lr, float))
        put("pairs_weight", _positive("pairs_weight", self.pairs_weight, float))
        for name in (
            "weight_decay",
            "clip_norm",
            "pixel_weight",
            "fft_weight",
            "edge_weight",
            "perceptual_weight",
            "adv_weight",
        ):
            put(name, _positive(name, getattr(self, name), float, allow_zero=True))
        if not 0.0 < float(self.min_lr_ratio) <= 1.0:
            raise InputError(expected("min_lr_ratio", "a value in (0, 1]", self.min_lr_ratio))
        put("min_lr_ratio", float(self.min_lr_ratio))
        if not 0.0 <= float(self.ema) < 1.0:
            raise InputError(expected("ema", "a decay in [0, 1) (0 turns EMA off)", self.ema))
        put("ema", float(self.ema))
        if self.perceptual_weights is not None:
            put("perceptual_weights", str(self.perceptual_weights))
        # Model shape checks come from the registry (it raises InputError with the valid set).
        from edge_deblur.models import pad_multiple

        mult = pad_multiple(self.arch.value, self.size.value, **self.model_overrides())
        if self.patch % mult or self.patch < 2 * mult:
            raise InputError(
                expected(
                    "patch",
                    f"a multiple of the model's pad multiple {mult}, at least {2 * mult}",
                    self.patch,
                    f"use e.g. {max(2 * mult, self.patch // mult * mult)}",
                )
            )
        if self.val_size % mult:
            raise InputError(
                expected(
                    "val_size", f"a multiple of the model's pad multiple {mult}", self.val_size
                )
            )

    # ---- views -------------------------------------------------------------------------
    def model_overrides(self) -> dict[str, Any]:
        """``widths``/``blocks``/``stem``/``lowcut``/``down``/``bound0`` overrides for
        :func:`edge_deblur.models.build_generator`."""
        keys = ("widths", "blocks", "stem", "lowcut", "down", "bound0")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-safe values (Enums as their strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Enum):
                v = v.value
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def config_hash(self) -> str:
        """``sha256:<hex>`` of the canonical JSON of every field: equal configs, equal hashes."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    def resume_conflicts(self, other: TrainConfig) -> list[str]:
        """Names of the fields that differ from ``other`` and forbid resuming one as the other."""
        a, b = self.to_dict(), other.to_dict()
        return sorted(k for k in a if k not in RESUME_MUTABLE and a[k] != b[k])

    # ---- YAML --------------------------------------------------------------------------
    def to_yaml(self, derived: dict[str, Any] | None = None) -> str:
        """The YAML text of ``config.yaml``: the fields, then the derived model figures."""
        import yaml

        body = self.to_dict()
        extra = dict(derived or {})
        unknown = sorted(set(extra) - set(DERIVED_KEYS))
        if unknown:
            raise ValueError(f"derived keys must be among {DERIVED_KEYS}, got {unknown}")
        extra["config_hash"] = self.config_hash()
        return yaml.safe_dump({**body, **extra}, sort_keys=False)

    def save(
        self, path: str | os.PathLike, derived: dict[str, Any] | None = None, force: bool = False
    ) -> Path:
        """Write ``config.yaml`` atomically (refuses to overwrite unless ``force``)."""
        from runtime.io import atomic_write

        return atomic_write(path, self.to_yaml(derived), force=force)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "config") -> TrainConfig:
        """Build from a mapping; derived keys are ignored, any other unknown key is an error."""
        if not isinstance(raw, dict):
            raise InputError(
                expected(source, "a YAML mapping of config fields", type(raw).__name__)
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in raw if k not in names and k not in DERIVED_KEYS)
        if unknown:
            raise InputError(
                expected(
                    source,
                    "only TrainConfig fields",
                    f"unknown keys {', '.join(map(str, unknown))}",
                    f"valid keys: {', '.join(sorted(names))}",
                )
            )
        return cls(**{k: v for k, v in raw.items() if k in names})

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a ``config.yaml`` written by :meth:`save` (or by hand)."""
        return cls.from_dict(read_run_info(path), source=f"config {str(path)!r}")


def read_run_info(path: str | os.PathLike) -> dict[str, Any]:
    """The raw mapping of a ``config.yaml``: the fields plus the derived model figures."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(f"config {str(p)!r} does not exist or is not a file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        msg = " ".join(str(e).split())
        raise InputError(expected(f"config {str(p)!r}", "valid YAML", msg)) from None
    if not isinstance(raw, dict):
        raise InputError(
            expected(f"config {str(p)!r}", "a YAML mapping of config fields", type(raw).__name__)
        )
    return raw
