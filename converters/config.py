"""What one conversion is asked to do: a frozen dataclass, saved as YAML next to the artifact.

The CLI builds a :class:`ConvertConfig` from its flags; everything downstream reads only this
object. ``__post_init__`` checks every field so that a bad value fails before TensorFlow is even
imported, and :func:`load_config` rejects unknown keys so that an old or hand-edited YAML file
cannot silently mean something else.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from pathlib import Path
from typing import Any

from runtime.errors import InputError, expected


class QuantMode(str, enum.Enum):
    """How the weights and activations of the ``.tflite`` are stored."""

    FP32 = "fp32"
    FP16 = "fp16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


class IODtype(str, enum.Enum):
    """dtype of the int8 model's input and output tensors (float modes always use float32)."""

    UINT8 = "uint8"
    INT8 = "int8"
    FLOAT32 = "float32"


class Structure(str, enum.Enum):
    """Pruning pattern: unstructured magnitude pruning, or 2 zeros in every 4 weights."""

    NONE = "none"
    M2N4 = "2:4"


class WeightScheme(str, enum.Enum):
    """int8 weight scales: one per output channel (best quality), or one per tensor.

    Per-channel is what the TFLite int8 spec recommends; it stores a float32 scale and an int64 zero
    point per output channel for every weight and bias tensor (24 bytes a channel), which dominates
    the file of a narrow edge model. Per-tensor drops that overhead at some quality cost (measured
    by ``benchmarks/scripts/converter_targets.py``).
    """

    PER_CHANNEL = "per-channel"
    PER_TENSOR = "per-tensor"


DEFAULT_INT8_SIZE = (256, 256)


def _choice(enum_cls: type[enum.Enum], value: Any, name: str) -> enum.Enum:
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(str(value))
    except ValueError:
        valid = "|".join(m.value for m in enum_cls)
        raise InputError(expected(name, f"one of {valid}", value)) from None


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """Every choice of one ``edge-deblur convert`` run.

    ``input_size`` ``None`` means: the model's own fixed size if it has one, else a dynamic
    spatial size for float modes and 256x256 for int8 (integer models get static shapes for the
    Edge TPU and the runtime tiles frames to that size).
    """

    quant: QuantMode = QuantMode.INT8
    io: IODtype = IODtype.UINT8
    prune: float | None = None
    structured: Structure = Structure.NONE
    prune_steps: int = 200
    qat_steps: int = 0
    data: str | None = None
    pairs: str | None = None
    input_size: tuple[int, int] | None = None
    edgetpu: bool = False
    weights: WeightScheme = WeightScheme.PER_CHANNEL
    calib_tiles: int = 200
    val_tiles: int = 16
    batch_size: int = 8
    learning_rate: float = 1e-4
    qat_learning_rate: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "quant", _choice(QuantMode, self.quant, "--quant"))
        set_(self, "io", _choice(IODtype, self.io, "--io"))
        set_(self, "structured", _choice(Structure, self.structured, "--structured"))
        set_(self, "weights", _choice(WeightScheme, self.weights, "--weights"))
        if self.weights is WeightScheme.PER_TENSOR and self.quant is not QuantMode.INT8:
            raise InputError(
                expected(
                    "--weights",
                    "per-channel (or nothing) unless --quant int8",
                    self.weights.value,
                    "per-tensor weight scales apply to full-integer models only",
                )
            )
        if self.prune is not None:
            if not isinstance(self.prune, int | float) or not 0.0 < float(self.prune) < 1.0:
                raise InputError(
                    expected("--prune", "a sparsity between 0 and 1 such as 0.5", self.prune)
                )
            set_(self, "prune", float(self.prune))
        if self.structured is Structure.M2N4:
            if self.prune not in (None, 0.5):
                raise InputError(
                    expected(
                        "--prune",
                        "0.5 (or nothing) with --structured 2:4",
                        self.prune,
                        "2:4 keeps 2 of every 4 weights, which is 50% sparsity",
                    )
                )
            set_(self, "prune", 0.5)
        for name in ("prune_steps", "qat_steps", "calib_tiles", "val_tiles", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                flag = "--" + name.replace("_", "-")
                raise InputError(expected(flag, "a whole number >= 0", v))
        if self.prune is not None and self.prune_steps < 1:
            raise InputError(
                expected("--prune-steps", "at least 1 fine-tuning step with --prune", 0)
            )
        for name in ("learning_rate", "qat_learning_rate"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v < 1:
                raise InputError(expected(name, "a learning rate between 0 and 1", v))
        if self.calib_tiles < 1 or self.val_tiles < 1 or self.batch_size < 1:
            raise InputError(expected("tile counts", "at least 1", self))
        if self.edgetpu and self.quant is not QuantMode.INT8:
            raise InputError(
                expected(
                    "--edgetpu",
                    "--quant int8",
                    self.quant.value,
                    "the Edge TPU runs only full-integer models",
                )
            )
        if self.data is not None and self.pairs is not None:
            raise InputError(
                expected("--data/--pairs", "at most one of them", "both", "give one folder")
            )
        if self.input_size is not None:
            size = tuple(int(v) for v in self.input_size)
            if len(size) != 2 or min(size) < 1:
                raise InputError(expected("--input-size", "HxW such as 256x256", self.input_size))
            set_(self, "input_size", size)
        if self.quant is not QuantMode.INT8 and self.io is not IODtype.UINT8:
            # --io only applies to int8; float models keep float32 I/O.
            if self.io is not IODtype.FLOAT32:
                raise InputError(
                    expected(
                        "--io",
                        "float32 (or nothing) for a float --quant",
                        self.io.value,
                        "use --quant int8 for integer I/O",
                    )
                )
        if self.qat_steps and self.quant is not QuantMode.INT8:
            raise InputError(
                expected(
                    "--qat-steps",
                    "0 unless --quant int8",
                    self.qat_steps,
                    "quantization-aware training only helps int8",
                )
            )
        for name in ("data", "pairs"):
            v = getattr(self, name)
            if v is not None:
                set_(self, name, os.fspath(v))

    @property
    def needs_data(self) -> bool:
        """True when real image tiles are required (calibration, pruning or QAT)."""
        return self.quant is QuantMode.INT8 or self.prune is not None or self.qat_steps > 0

    @property
    def io_dtype(self) -> str:
        """The dtype the ``.tflite`` input/output tensors will really have."""
        return self.io.value if self.quant is QuantMode.INT8 else "float32"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, enum.Enum):
                v = v.value
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def config_yaml(cfg: ConvertConfig) -> str:
    """The YAML text saved beside the artifact (``OUT.convert.yaml``)."""
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def load_config(path: str | os.PathLike) -> ConvertConfig:
    """Read a ``*.convert.yaml`` file back; unknown keys are an InputError naming them."""
    import yaml

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise InputError(expected(f"config {str(p)!r}", "a readable YAML file", str(e))) from e
    if not isinstance(raw, dict):
        raise InputError(expected(f"config {str(p)!r}", "a mapping of fields", type(raw).__name__))
    known = {f.name for f in dataclasses.fields(ConvertConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(
            expected(
                f"config {str(p)!r}",
                f"only the keys {sorted(known)}",
                unknown,
                "remove the unknown keys",
            )
        )
    if raw.get("input_size") is not None:
        raw["input_size"] = tuple(raw["input_size"])
    return ConvertConfig(**raw)
