"""Orchestration of one benchmark: returns a :class:`~benchmarks.report.Report`, never prints.

Order of work (each step reports to an optional ``on_step`` callback so the CLI can show a
progress bar; :func:`count_steps` gives the total up front):

1. the reference int8 net at each thread count (the machine's limit), and its float copy at the
   most threads (this machine's float-vs-int8 ratio);
2. per model: describe it (size, variant, MACs), then per frame size its quality on the pairs
   (outputs do not depend on threads) and per thread count its latency;
3. the classical baselines on the same pairs, sizes and thread counts;
4. both references again (the faster of the two medians is kept for the reference table).

Each model row's efficiency divides its G MAC/s by the reference net's timed just before and
just after that row (the mean of the two), not by the table's figure: on a shared machine the
host's speed drifts between the start of a run and a row minutes later, and the efficiency, which
carries over to the boards, must compare the model with the machine as it was during the row.
5. projections for each device profile from the host figures.

A model that fails to load or run gets a :class:`~benchmarks.report.Failure` row and the others
still run; when nothing at all could be measured :func:`run_bench` raises the first error.
"""

from __future__ import annotations

import platform
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from benchmarks import _model
from benchmarks.baselines import BASELINES
from benchmarks.latency import peak_rss_mb, reset_peak_rss, time_callable
from benchmarks.projection import DeviceProfile, HostFigures, load_profiles, project
from benchmarks.quality import Pair, load_pairs, score
from benchmarks.reference import measure_reference
from benchmarks.report import (
    HOST_LABEL,
    SCHEMA_VERSION,
    Failure,
    HostInfo,
    Measurement,
    Projection,
    Quality,
    Reference,
    Report,
)
from runtime.errors import EdgeDeblurError, InputError, expected

DEVICES = ("cpu", "edgetpu")


@dataclass(frozen=True)
class BenchSettings:
    """What to measure. ``sizes`` are (width, height) frame sizes."""

    models: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720))
    threads: tuple[int, ...] = (1, 2, 4)
    device: str = "cpu"
    device_name: str | None = None
    profiles: tuple[str, ...] = ("rpi4", "rpi5", "coral-usb", "coral-devboard")
    pairs: str | None = None
    max_pairs: int | None = 8
    min_time_s: float = 1.0
    min_runs: int = 5
    warmup: int = 2
    baselines: bool = True
    reference: bool = True
    quality_threads: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.models and not self.baselines:
            raise InputError(expected("MODEL", "at least one model", "none"))
        if self.device not in DEVICES:
            raise InputError(expected("--device", " or ".join(DEVICES), self.device))
        if not self.sizes or any(w <= 0 or h <= 0 for w, h in self.sizes):
            raise InputError(expected("--sizes", "positive WxH sizes", self.sizes))
        if not self.threads or any(t < 1 for t in self.threads):
            raise InputError(expected("--threads", "thread counts >= 1", self.threads))
        if self.min_time_s < 0:
            raise InputError(expected("--min-time", "a time >= 0 s", self.min_time_s))
        if self.min_runs < 1:
            raise InputError(expected("--min-runs", "a count >= 1", self.min_runs))
        if self.max_pairs is not None and self.max_pairs < 1:
            raise InputError(expected("--max-pairs", "a count >= 1", self.max_pairs))

    @property
    def label(self) -> str:
        """The label of every measured figure of this run."""
        return f"measured on {self.device_name}" if self.device_name else HOST_LABEL


def size_name(size: tuple[int, int]) -> str:
    """``(640, 480)`` -> ``'640x480'`` (width x height, as video sizes are written)."""
    return f"{size[0]}x{size[1]}"


def count_steps(s: BenchSettings) -> int:
    """How many ``on_step`` calls :func:`run_bench` makes for these settings."""
    n_rows = len(s.sizes) * (len(s.threads) + (1 if s.pairs else 0))
    n = len(s.threads) + 1 if s.reference else 0
    n += len(s.models) * (1 + n_rows)
    n += len(BASELINES) * n_rows if s.baselines else 0
    return n + 1  # projections


def host_info(label: str) -> HostInfo:
    """Describe this machine (CPU model from /proc/cpuinfo where there is one)."""
    import os

    proc, flags = platform.processor(), []
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
        proc = cpuinfo_processor(text) or proc
        flags = next(
            (
                ln.split(":", 1)[1].split()
                for ln in text.splitlines()
                if ln.lower().startswith(("flags", "features"))
            ),
            [],
        )
    except OSError:
        pass
    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:
        litert = "unknown"
    try:
        load = round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        load = None
    return HostInfo(
        label=label,
        hostname=socket.gethostname(),
        machine=platform.machine(),
        processor=proc,
        cpu_count=os.cpu_count() or 0,
        os=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
        litert=litert,
        numpy=np.__version__,
        load_avg=load,
        int8_dot=int8_dot_extensions(flags),
    )


def cpuinfo_processor(text: str) -> str:
    """The CPU's name in /proc/cpuinfo text: ``model name`` (x86, most Arm), else a Pi's ``Model``
    line, else ``Hardware``; "" when none. (x86's ``model`` line is a number, not a name.)"""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware"):
        value = fields.get(key, "")
        if value and not value.isdigit():
            return value
    return ""


# CPU flags (/proc/cpuinfo "flags" on x86, "Features" on Arm) of int8 dot-product instructions.
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm", "sve2")


def int8_dot_extensions(flags: list[str]) -> str:
    """The int8 dot-product extensions among a CPU's flags, comma-separated ("" when none)."""
    have = set(flags)
    return ", ".join(f for f in INT8_DOT_FLAGS if f in have)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def _synthetic_frame(size: tuple[int, int]) -> np.ndarray:
    """A deterministic textured frame (int8 kernels do not care about content)."""
    import cv2

    w, h = size
    noise = np.random.default_rng(7).integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)


def _time_row(
    s: BenchSettings,
    name: str,
    path: str,
    variant: str,
    size: tuple[int, int],
    threads: int,
    make: Callable[[], object],
    frame: np.ndarray,
    facts: _model.ModelFacts | None,
    ref: dict[int, Reference],
    probe: Callable[[int], float | None] | None = None,
) -> Measurement:
    """Load with ``make`` (timed as init), then time ``process(frame)``. ``probe(threads)``
    times the reference net (its G MAC/s, or None) just before and after the row."""
    before = probe(threads) if probe is not None else None
    reset_peak_rss()
    t0 = time.perf_counter_ns()
    runner = make()
    init_ms = (time.perf_counter_ns() - t0) / 1e6
    process = getattr(runner, "process", runner)
    invokes: list[float] = []
    stages: list[tuple[float, float]] = []

    def step() -> None:
        process(frame)
        if hasattr(runner, "invoke_ms"):
            invokes.append(float(runner.invoke_ms))
        t = getattr(runner, "timings", None)
        if t is not None:
            stages.append((float(t.pre), float(t.post)))

    stats, samples = time_callable(
        step, warmup=s.warmup, min_time_s=s.min_time_s, min_runs=s.min_runs
    )
    rss = peak_rss_mb()
    after = probe(threads) if probe is not None else None
    h, w = frame.shape[:2]
    tiles = int(runner.tile_count(h, w)) if hasattr(runner, "tile_count") else 1
    # Medians per frame: a shared, noisy machine inflates means, and the stages of one frame are
    # taken together so that host work = that frame's total minus its invoke time.
    timed = invokes[s.warmup :]
    invoke_ms = float(np.median(timed)) if timed else None
    host_ms = None
    if len(timed) == len(samples) and timed:
        host_ms = float(
            np.median([max(0.0, t / 1e6 - i) for t, i in zip(samples, timed, strict=True)])
        )
    st = stages[s.warmup :]
    pre_ms = float(np.median([a for a, _ in st])) if st else None
    post_ms = float(np.median([b for _, b in st])) if st else None
    macs = facts.macs_per_frame(h, w, tiles) if facts else None
    gmacs = macs / (invoke_ms * 1e6) if macs and invoke_ms else None
    bracket = [g for g in (before, after) if g]
    ref_gmacs = float(np.mean(bracket)) if bracket else None
    base = ref_gmacs or (ref[threads].gmacs if threads in ref else None)
    eff = gmacs / base if gmacs and base else None
    return Measurement(
        model=name,
        path=path,
        variant=variant,
        size=size_name(size),
        threads=threads,
        device=s.device if facts else "cpu",
        label=s.label,
        file_bytes=facts.file_bytes if facts else 0,
        init_ms=init_ms,
        latency=stats,
        peak_rss_mb=rss,
        tiles=tiles,
        invoke_ms=invoke_ms,
        pre_ms=pre_ms,
        post_ms=post_ms,
        host_work_ms=host_ms,
        macs_per_frame=macs,
        gmacs=gmacs,
        efficiency=eff,
        gzip_bytes=facts.gzip_bytes if facts else None,
        cpu_rewrites=len(getattr(runner, "cpu_rewrites", ()) or ()),
        ref_gmacs=round(ref_gmacs, 3) if ref_gmacs else None,
    )


def _quality(s, name, variant, size, process, pairs: list[Pair]) -> Quality:
    sc = score(process, pairs)
    return Quality(
        model=name,
        variant=variant,
        size=size_name(size),
        pairs=sc.pairs,
        psnr=sc.psnr,
        ssim=sc.ssim,
        psnr_input=sc.psnr_input,
        ssim_input=sc.ssim_input,
        psnr_gain=sc.psnr - sc.psnr_input,
        ssim_gain=sc.ssim - sc.ssim_input,
        label=s.label,
    )


def _float_reference(s: BenchSettings) -> Reference | None:
    """The float copy of the reference net at the most threads (None when it cannot run)."""
    try:
        return measure_reference(
            max(s.threads),
            precision="float",
            min_time_s=min(s.min_time_s, 1.0),
            min_runs=s.min_runs,
            label=s.label,
        )
    except EdgeDeblurError:
        return None


def _projections(
    profiles: list[DeviceProfile],
    measurements: list[Measurement],
    facts: dict[str, _model.ModelFacts],
    ref: dict[int, Reference],
    float_ref: Reference | None = None,
) -> list[Projection]:
    """One projection per profile x model x size, from the row with the most threads."""
    if not ref:
        return []
    t1 = min(ref)
    per_thread = ref[t1].gmacs / t1
    float_penalty = None
    if float_ref is not None and float_ref.threads in ref and float_ref.gmacs > 0:
        float_penalty = ref[float_ref.threads].gmacs / float_ref.gmacs
    best: dict[tuple[str, str], Measurement] = {}
    for m in measurements:
        if m.model not in facts:
            continue
        key = (m.model, m.size)
        if key not in best or m.threads > best[key].threads:
            best[key] = m
    out = []
    for prof in profiles:
        for (name, size), m in best.items():
            f = facts[name]
            hf = HostFigures(
                model=name,
                variant=m.variant,
                size=size,
                macs_per_frame=m.macs_per_frame,
                tiles=m.tiles,
                efficiency=m.efficiency,
                host_work_ms=m.host_work_ms or 0.0,
                host_gmacs_per_thread=per_thread,
                fixed_input=f.input_size is not None,
                ops=f.ops,
                param_bytes=f.param_bytes,
                host_float_penalty=float_penalty if m.threads == max(ref) else None,
            )
            out.append(project(prof, hf))
    return out


def run_bench(s: BenchSettings, on_step: Callable[[str], None] | None = None) -> Report:
    """Measure everything ``s`` asks for and return the report (see module docstring)."""
    step = on_step or (lambda _msg: None)
    profiles = load_profiles(list(s.profiles))
    pairs: dict[tuple[int, int], list[Pair]] = {}
    if s.pairs:
        for size in s.sizes:
            pairs[size] = load_pairs(s.pairs, size, s.max_pairs)
    frames = {
        size: (pairs[size][0].blur if size in pairs else _synthetic_frame(size)) for size in s.sizes
    }
    failures: list[Failure] = []
    first_error: EdgeDeblurError | None = None
    ref: dict[int, Reference] = {}
    float_ref: Reference | None = None
    if s.reference:
        for t in s.threads:
            step(f"reference int8 net, {t} thread(s)")
            try:
                ref[t] = measure_reference(
                    t, min_time_s=min(s.min_time_s, 1.0), min_runs=s.min_runs, label=s.label
                )
            except EdgeDeblurError as e:
                failures.append(Failure("reference_mbv2_int8", f"{t} threads", _one_line(e)))
        step(f"reference float net, {max(s.threads)} thread(s)")
        float_ref = _float_reference(s)

    def probe(t: int) -> float | None:
        """The reference net's G MAC/s at ``t`` threads now (a short run), or None."""
        if t not in ref:
            return None
        try:
            return measure_reference(
                t, min_time_s=min(s.min_time_s, 0.5), min_runs=s.min_runs, label=s.label
            ).gmacs
        except EdgeDeblurError:
            return None

    measurements: list[Measurement] = []
    quality: list[Quality] = []
    facts: dict[str, _model.ModelFacts] = {}
    n_rows = len(s.sizes) * (len(s.threads) + (1 if s.pairs else 0))
    for arg in s.models:
        step(f"{arg}: reading")
        try:
            path = _model.resolve(arg)
            f = _model.describe(path, device=s.device)
        except EdgeDeblurError as e:
            first_error = first_error or e
            failures.append(Failure(str(arg), "load", _one_line(e)))
            for _ in range(n_rows):
                step(f"{arg}: skipped")
            continue
        name = f.name if f.name not in facts else f"{f.name}#{len(facts)}"
        facts[name] = f
        for size in s.sizes:
            try:
                if s.pairs:
                    step(f"{name} {size_name(size)}: quality")
                    eng = _model.load(
                        path, threads=s.quality_threads or max(s.threads), device=s.device
                    )
                    quality.append(_quality(s, name, f.variant, size, eng.process, pairs[size]))
                    del eng
                for t in s.threads:
                    step(f"{name} {size_name(size)}: {t} thread(s)")
                    measurements.append(
                        _time_row(
                            s,
                            name,
                            str(path),
                            f.variant,
                            size,
                            t,
                            lambda t=t, path=path: _model.load(path, threads=t, device=s.device),
                            frames[size],
                            f,
                            ref,
                            probe,
                        )
                    )
            except EdgeDeblurError as e:
                first_error = first_error or e
                failures.append(Failure(name, size_name(size), _one_line(e)))
            except (RuntimeError, ValueError, MemoryError) as e:  # interpreter failures mid-run
                failures.append(Failure(name, size_name(size), _one_line(e)))
    if s.models and not any(m.model in facts for m in measurements):
        if first_error is not None:
            raise type(first_error)(
                f"nothing could be measured: {len(failures)} failure(s), first: {first_error}"
            )
        raise InputError(expected("MODEL", "at least one model that runs", list(s.models)))
    if s.baselines:
        import cv2

        for bname, fn in BASELINES.items():
            for size in s.sizes:
                if s.pairs:
                    step(f"{bname} {size_name(size)}: quality")
                    quality.append(_quality(s, bname, "classical", size, fn, pairs[size]))
                for t in s.threads:
                    step(f"{bname} {size_name(size)}: {t} thread(s)")
                    cv2.setNumThreads(t)
                    measurements.append(
                        _time_row(
                            s,
                            bname,
                            "",
                            "classical",
                            size,
                            t,
                            lambda fn=fn: fn,
                            frames[size],
                            None,
                            ref,
                        )
                    )
        cv2.setNumThreads(-1)
    if s.reference and ref and measurements:
        # Measure the limit again at the end and keep the faster median: on a shared machine the
        # first measurement may have met a busy spell the models did not (or vice versa).
        for t in sorted(ref):
            try:
                again = measure_reference(
                    t, min_time_s=min(s.min_time_s, 1.0), min_runs=s.min_runs, label=s.label
                )
            except EdgeDeblurError:
                continue
            if again.gmacs > ref[t].gmacs:
                ref[t] = again
                measurements = [  # rows without a bracketing reference of their own
                    replace(m, efficiency=m.gmacs / again.gmacs)
                    if m.threads == t and m.gmacs is not None and m.ref_gmacs is None
                    else m
                    for m in measurements
                ]
        again_float = _float_reference(s)
        if float_ref is None or (again_float and again_float.gmacs > float_ref.gmacs):
            float_ref = again_float
    step("projections")
    projections = _projections(profiles, measurements, facts, ref, float_ref)
    from runtime import __version__

    settings = {
        "models": list(s.models),
        "sizes": [size_name(z) for z in s.sizes],
        "threads": list(s.threads),
        "device": s.device,
        "device_name": s.device_name,
        "profiles": list(s.profiles),
        "pairs": s.pairs,
        "max_pairs": s.max_pairs,
        "min_time_s": s.min_time_s,
        "min_runs": s.min_runs,
        "warmup": s.warmup,
        **s.extra,
    }
    return Report(
        schema_version=SCHEMA_VERSION,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        tool_version=__version__,
        host=host_info(s.label),
        settings=settings,
        reference=tuple(ref[t] for t in sorted(ref)) + ((float_ref,) if float_ref else ()),
        measurements=tuple(measurements),
        quality=tuple(quality),
        projections=tuple(projections),
        failures=tuple(failures),
    )
