"""Projected latency on boards we cannot touch, from device profiles kept as data.

The model (documented in ``benchmarks/SCHEMA.md``, section "Projection model"):

* Each profile gives an effective int8 throughput ``G`` (G MAC/s, with a range) calibrated from
  published MobileNet latencies, a fixed per-frame overhead and a per-invoke overhead.
* A model's host *efficiency* ``e`` is its achieved G MAC/s on this host divided by the reference
  MobileNetV2-style int8 net's G MAC/s on this host at the same thread count. Because the device
  figures are MobileNet figures too, ``e`` is assumed to carry over: on a CPU profile the model's
  invoke time is ``MACs / (G x e)``. (A float model's ``e`` already holds its float penalty.)
* Float models (fp32, fp16, dynamic): ``e`` is multiplied by this host's float-vs-int8 time ratio
  (the float copy of the reference net against the int8 one) over the board's (``float_penalty``,
  from published float vs int8 latencies), because float kernels lose far more to int8 on Arm
  than on x86.
* The host-side work around the invokes (quantize, tile, stitch: measured total minus invoke time)
  is scaled by the per-thread speed ratio of this host to the device.
* Edge TPU profiles: only full-int8 models with a fixed input size map to the TPU, and only the ops
  before the first op the compiler does not support; every op from there on runs on the host CPU
  (``host_int8_gmacs x e``). TPU ops run at ``G`` (no efficiency transfer: the TPU is not a CPU).

``total = frame_overhead + tiles x invoke_overhead + invoke + host work``. The low/high bounds
use the ends of the profile's throughput ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.report import Projection
from runtime.errors import InputError, expected

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
_REQUIRED = ("name", "title", "kind", "threads", "int8_gmacs", "int8_gmacs_range", "sources")
_KINDS = ("cpu", "edgetpu")


@dataclass(frozen=True)
class DeviceProfile:
    """One board, as read from ``benchmarks/profiles/NAME.yaml``."""

    name: str
    title: str
    kind: str
    threads: int
    int8_gmacs: float
    int8_gmacs_range: tuple[float, float]
    frame_overhead_ms: float
    invoke_overhead_ms: float
    sources: tuple[str, ...]
    calibration: str = ""
    host: str = ""
    host_int8_gmacs: float | None = None
    host_int8_gmacs_range: tuple[float, float] | None = None
    onchip_param_bytes: int | None = None
    edgetpu_ops: tuple[str, ...] = ()
    # Newest op version the Edge TPU compiler parses, for ops it takes only up to a version: a
    # newer one makes it reject the whole model (compiler 16.0 and TRANSPOSE_CONV v4).
    edgetpu_max_versions: dict[str, int] = field(default_factory=dict)
    float_penalty: float | None = None

    def __post_init__(self) -> None:
        where = f"profile {self.name!r}"

        def number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if not (isinstance(self.threads, int) and number(self.threads) and self.threads >= 1):
            raise InputError(expected(f"{where} threads", "an integer >= 1", self.threads))
        gmacs = {
            "int8_gmacs": (self.int8_gmacs,),
            "int8_gmacs_range": self.int8_gmacs_range,
            "host_int8_gmacs": () if self.host_int8_gmacs is None else (self.host_int8_gmacs,),
            "host_int8_gmacs_range": self.host_int8_gmacs_range or (),
            "frame_overhead_ms": (self.frame_overhead_ms,),
            "invoke_overhead_ms": (self.invoke_overhead_ms,),
        }
        for key, values in gmacs.items():
            if not all(number(v) and v >= 0 for v in values):
                raise InputError(expected(f"{where} {key}", "numbers >= 0", values))
        if len(self.int8_gmacs_range) != 2:
            raise InputError(
                expected(f"{where} int8_gmacs_range", "[low, high]", self.int8_gmacs_range)
            )
        if self.kind not in _KINDS:
            raise InputError(expected(f"{where} kind", f"one of {', '.join(_KINDS)}", self.kind))
        lo, hi = self.int8_gmacs_range
        if not (0 < lo <= self.int8_gmacs <= hi):
            raise InputError(
                expected(f"{where} int8_gmacs", "0 < low <= int8_gmacs <= high", self.int8_gmacs)
            )
        if self.kind == "edgetpu" and (not self.host_int8_gmacs or not self.edgetpu_ops):
            raise InputError(
                expected(f"{where}", "host_int8_gmacs and edgetpu_ops for an edgetpu kind", "none")
            )
        if not self.sources:
            raise InputError(expected(f"{where} sources", "at least one source", "none"))
        limits = self.edgetpu_max_versions
        if (
            not isinstance(limits, dict)
            or not set(limits) <= set(self.edgetpu_ops)
            or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in limits.values())
        ):
            raise InputError(
                expected(
                    f"{where} edgetpu_max_versions",
                    "op names from edgetpu_ops mapped to versions >= 1",
                    self.edgetpu_max_versions,
                )
            )
        if self.float_penalty is not None and self.float_penalty <= 0:
            raise InputError(expected(f"{where} float_penalty", "a ratio > 0", self.float_penalty))


def available_profiles() -> list[str]:
    """Names of the bundled profiles (the ``.yaml`` files in ``benchmarks/profiles``)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> DeviceProfile:
    """Load a bundled profile by name, or a profile YAML by path; unknown keys are rejected."""
    import yaml

    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = PROFILE_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        raise InputError(
            expected(
                "--profiles",
                f"one of {', '.join(available_profiles())} or a profile .yaml path",
                name_or_path,
            )
        )
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"profile {str(p)!r}: not valid YAML ({' '.join(str(e).split())})") from e
    if not isinstance(raw, dict):
        raise InputError(expected(f"profile {str(p)!r}", "a YAML mapping", type(raw).__name__))
    fields = set(DeviceProfile.__dataclass_fields__)
    unknown = sorted(set(raw) - fields)
    missing = [k for k in _REQUIRED if k not in raw]
    if unknown or missing:
        raise InputError(
            expected(
                f"profile {str(p)!r}",
                f"keys {', '.join(_REQUIRED)} (+ optional ones in benchmarks/SCHEMA.md)",
                f"unknown {unknown}, missing {missing}",
            )
        )
    for key in ("int8_gmacs_range", "host_int8_gmacs_range", "sources", "edgetpu_ops"):
        if raw.get(key) is not None:
            raw[key] = tuple(raw[key])
    raw.setdefault("frame_overhead_ms", 0.0)
    raw.setdefault("invoke_overhead_ms", 0.0)
    try:
        return DeviceProfile(**raw)
    except TypeError as e:
        raise InputError(f"profile {str(p)!r}: {' '.join(str(e).split())}") from e


def load_profiles(names: list[str]) -> list[DeviceProfile]:
    """Load several profiles; the first unknown name raises InputError listing the valid ones."""
    return [load_profile(n) for n in names]


@dataclass(frozen=True)
class HostFigures:
    """What the projection needs from this host's measurements of one model at one frame size."""

    model: str
    variant: str
    size: str
    macs_per_frame: int | None
    tiles: int
    efficiency: float | None
    host_work_ms: float
    host_gmacs_per_thread: float | None
    fixed_input: bool
    ops: tuple[tuple[str, int, int], ...] = ()  # (builtin name, MACs, op version; 0 unknown)
    param_bytes: int | None = None
    host_float_penalty: float | None = None


FLOAT_VARIANTS = ("fp32", "fp16", "dynamic")


def _too_new(profile: DeviceProfile, op: str, version: int) -> bool:
    """Whether the Edge TPU compiler fails to parse ``op`` at ``version`` (0: unknown, taken as
    parsable): the compiler then rejects the whole model."""
    limit = profile.edgetpu_max_versions.get(op)
    return limit is not None and version > limit


def _ms(macs: float, gmacs: float) -> float:
    return macs / (gmacs * 1e6)


def project(profile: DeviceProfile, host: HostFigures) -> Projection:
    """Projected latency of one model at one frame size on ``profile`` (see module docstring)."""
    label = f"projected for {profile.name}"
    notes: list[str] = []
    base = dict(profile=profile.name, model=host.model, variant=host.variant, size=host.size)
    if not host.macs_per_frame or not host.efficiency:
        return Projection(
            **base,
            ms=None,
            ms_low=None,
            ms_high=None,
            fps=None,
            accel_mac_share=None,
            notes=("MACs unknown: cannot project",),
            label=label,
        )
    e = host.efficiency
    if host.variant in FLOAT_VARIANTS and host.host_float_penalty and profile.float_penalty:
        # Float kernels are relatively much slower on Arm than on x86: rescale the efficiency by
        # this host's float-vs-int8 time ratio over the board's.
        e = e * host.host_float_penalty / profile.float_penalty
        notes.append(
            f"float model: efficiency x {host.host_float_penalty:.2f}/{profile.float_penalty:.2f}"
            " (float-vs-int8 time ratio here / on the board)"
        )
    macs = float(host.macs_per_frame)
    ratio = 1.0
    if host.host_gmacs_per_thread:
        cpu_rate = profile.host_int8_gmacs if profile.kind == "edgetpu" else profile.int8_gmacs
        ratio = host.host_gmacs_per_thread / (cpu_rate / profile.threads)
    fixed = profile.frame_overhead_ms + host.tiles * profile.invoke_overhead_ms
    host_work = host.host_work_ms * ratio
    share = None
    if profile.kind == "cpu":
        g, (g_lo, g_hi) = profile.int8_gmacs, profile.int8_gmacs_range
        mid = _ms(macs, g * e)
        lo, hi = _ms(macs, g_hi * e), _ms(macs, g_lo * e)
    else:
        hg = profile.host_int8_gmacs or 1.0
        hg_lo, hg_hi = profile.host_int8_gmacs_range or (hg, hg)
        int8 = host.variant in ("int8", "pruned-int8")
        if not int8 or not host.fixed_input:
            why = "not a full-int8 model" if not int8 else "dynamic input size"
            notes.append(f"{why}: the Edge TPU cannot run it, all on the host CPU")
            tpu_macs, cpu_macs = 0.0, macs
        else:
            total_ops = sum(m for _, m, _ in host.ops)
            too_new = next(
                (i for i, (op, _, v) in enumerate(host.ops) if _too_new(profile, op, v)), None
            )
            first_bad = next(
                (i for i, (op, _, _) in enumerate(host.ops) if op not in profile.edgetpu_ops), None
            )
            if not host.ops or total_ops <= 0:
                notes.append("op list unknown: assumed every op maps to the Edge TPU")
                tpu_share = 1.0
            elif too_new is not None:
                op, _, version = host.ops[too_new]
                notes.append(
                    f"op {too_new} ({op} v{version}) is newer than the Edge TPU compiler parses "
                    f"(v{profile.edgetpu_max_versions[op]}): it rejects the model, all on the "
                    "host CPU"
                )
                tpu_share = 0.0
            elif first_bad is None:
                tpu_share = 1.0
            else:
                before = sum(m for _, m, _ in host.ops[:first_bad])
                tpu_share = before / total_ops
                notes.append(
                    f"op {first_bad} ({host.ops[first_bad][0]}) is not an Edge TPU op: it and "
                    f"every later op run on the host CPU"
                )
            tpu_macs, cpu_macs = macs * tpu_share, macs * (1.0 - tpu_share)
            if host.param_bytes and profile.onchip_param_bytes:
                if host.param_bytes > profile.onchip_param_bytes:
                    notes.append(
                        "weights exceed the on-chip memory: streamed, projection optimistic"
                    )
        share = tpu_macs / macs
        g, (g_lo, g_hi) = profile.int8_gmacs, profile.int8_gmacs_range
        mid = _ms(tpu_macs, g) + _ms(cpu_macs, hg * e)
        lo = _ms(tpu_macs, g_hi) + _ms(cpu_macs, hg_hi * e)
        hi = _ms(tpu_macs, g_lo) + _ms(cpu_macs, hg_lo * e)
    total = fixed + host_work + mid
    return Projection(
        **base,
        ms=total,
        ms_low=fixed + host_work + lo,
        ms_high=fixed + host_work + hi,
        fps=1000.0 / total if total > 0 else math.inf,
        accel_mac_share=share,
        notes=tuple(notes),
        label=label,
    )
