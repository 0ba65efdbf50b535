"""Typed benchmark results and their renderings: ``report.json``, ``report.md``, ``results.csv``.

The dataclasses here are the whole result of a run (:class:`Report`); :mod:`benchmarks.run`
builds one and never prints. Rendering is separate: :func:`to_json` / :func:`from_json` (the
versioned schema in ``benchmarks/SCHEMA.md``), :func:`to_markdown`, :func:`to_csv`, and
:func:`write_report` which writes the three files atomically.

Every figure carries a ``label``: ``measured on this host``, ``measured on DEVICE`` (when the
user names the board with ``--device-name``) or ``projected for DEVICE``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from benchmarks.latency import LatencyStats
from runtime.errors import InputError, expected

SCHEMA_VERSION = 1
HOST_LABEL = "measured on this host"


@dataclass(frozen=True)
class HostInfo:
    """The machine the measurements were taken on."""

    label: str
    hostname: str
    machine: str
    processor: str
    cpu_count: int
    os: str
    python: str
    litert: str
    numpy: str
    load_avg: float | None = None
    # The CPU's int8 dot-product instructions (x86 VNNI, Arm dotprod / i8mm), "" when none. They
    # speed up dense int8 convolutions far more than memory-bound ops, so they move a model's
    # efficiency against the reference net (benchmarks/SCHEMA.md, "Projection model").
    int8_dot: str = ""


@dataclass(frozen=True)
class Reference:
    """The reference int8 net on this machine: its achieved G MAC/s is the machine's limit."""

    threads: int
    macs: int
    latency: LatencyStats
    gmacs: float
    label: str
    precision: str = "int8"


@dataclass(frozen=True)
class Measurement:
    """One model (or classical baseline) at one frame size and thread count."""

    model: str
    path: str
    variant: str
    size: str
    threads: int
    device: str
    label: str
    file_bytes: int
    init_ms: float
    latency: LatencyStats
    peak_rss_mb: float
    tiles: int
    invoke_ms: float | None
    pre_ms: float | None
    post_ms: float | None
    host_work_ms: float | None
    macs_per_frame: int | None
    gmacs: float | None
    efficiency: float | None
    gzip_bytes: int | None = None
    # ops runtime.cpu_graph replaced in memory for this CPU run (bit-exact; the file keeps them)
    cpu_rewrites: int = 0
    # the reference net's G MAC/s timed just before and after this row (mean); efficiency's base
    ref_gmacs: float | None = None


@dataclass(frozen=True)
class Quality:
    """PSNR/SSIM of a model's output against the sharp frames, and the gain over the input."""

    model: str
    variant: str
    size: str
    pairs: int
    psnr: float
    ssim: float
    psnr_input: float
    ssim_input: float
    psnr_gain: float
    ssim_gain: float
    label: str


@dataclass(frozen=True)
class Projection:
    """Projected latency of one model at one frame size on a device profile."""

    profile: str
    model: str
    variant: str
    size: str
    ms: float | None
    ms_low: float | None
    ms_high: float | None
    fps: float | None
    accel_mac_share: float | None
    notes: tuple[str, ...]
    label: str


@dataclass(frozen=True)
class Failure:
    """A model or step that could not be measured, and why (the others still ran)."""

    model: str
    stage: str
    reason: str


@dataclass(frozen=True)
class Report:
    """Everything one ``edge-deblur bench`` run found."""

    schema_version: int
    created: str
    tool_version: str
    host: HostInfo
    settings: dict
    reference: tuple[Reference, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    quality: tuple[Quality, ...] = ()
    projections: tuple[Projection, ...] = ()
    failures: tuple[Failure, ...] = ()
    plots: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------- JSON


def _clean(obj):
    """JSON cannot hold inf/nan: write them as null (documented in SCHEMA.md)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def to_dict(report: Report) -> dict:
    """The report as plain JSON-ready data."""
    return _clean(asdict(report))


def to_json(report: Report) -> str:
    """The report as ``report.json`` text (schema version :data:`SCHEMA_VERSION`)."""
    return json.dumps(to_dict(report), indent=2, sort_keys=False) + "\n"


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise InputError(expected(where, f"an object for {cls.__name__}", type(data).__name__))
    names = {f.name for f in fields(cls)}
    missing = [
        f.name
        for f in fields(cls)
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING
    ]
    kw = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        if f.name == "latency":
            v = _build(LatencyStats, v, f"{where}.latency")
        elif f.name == "notes":
            v = tuple(v or ())
        kw[f.name] = v
    extra = sorted(set(data) - names)
    if extra:
        raise InputError(expected(where, f"the keys of {cls.__name__}", f"unknown {extra}"))
    if missing:
        raise InputError(expected(where, f"all keys of {cls.__name__}", f"missing {missing}"))
    return cls(**kw)


def from_dict(data: dict, source: str = "report.json") -> Report:
    """Rebuild a :class:`Report` from parsed ``report.json`` data (any schema version <= ours)."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(expected(source, "an edge-deblur report.json", "no schema_version"))
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise InputError(
            expected(
                f"{source} schema_version",
                str(SCHEMA_VERSION),
                version,
                "re-run `edge-deblur bench` with this version",
            )
        )
    lists = {
        "reference": Reference,
        "measurements": Measurement,
        "quality": Quality,
        "projections": Projection,
        "failures": Failure,
    }
    missing = [
        k
        for k in ("schema_version", "created", "tool_version", "settings", "host")
        if k not in data
    ]
    if missing:
        raise InputError(expected(source, "an edge-deblur report.json", f"no {', '.join(missing)}"))
    kw = {k: data[k] for k in ("schema_version", "created", "tool_version", "settings")}
    kw["host"] = _build(HostInfo, data["host"], f"{source}: host")
    for key, cls in lists.items():
        kw[key] = tuple(
            _build(cls, item, f"{source}: {key}[{i}]") for i, item in enumerate(data.get(key, []))
        )
    kw["plots"] = tuple(data.get("plots", ()))
    return Report(**kw)


def from_json(path: str | Path) -> Report:
    """Read a ``report.json`` file (InputError naming the file when it is not one)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(expected("--compare", "existing report.json files", str(p)))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(expected(str(p), "a JSON report.json", f"invalid JSON ({e})")) from e
    return from_dict(data, str(p))


# ---------------------------------------------------------------- Markdown and CSV


def _f(v: float | None, nd: int = 1, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{nd}f}{unit}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _gmac(m: int | None) -> str:
    return "–" if m is None else f"{m / 1e9:.2f}"


def _load_line(h: HostInfo) -> str:
    if h.load_avg is None:
        return "- load average: unknown"
    busy = h.cpu_count and h.load_avg > h.cpu_count
    note = ": the machine was busy, timings are noisy" if busy else ""
    return f"- 1-minute load average at the end: {h.load_avg:.2f} on {h.cpu_count} CPUs{note}"


def _dot_line(h: HostInfo) -> str:
    found = h.int8_dot or "none found"
    return (
        f"- int8 dot-product instructions: {found} (the Raspberry Pi 4's Cortex-A72 has none, the "
        "Pi 5's Cortex-A76 has dotprod: efficiency measured on a host unlike the board carries "
        "over less well)"
    )


def to_markdown(report: Report) -> str:
    """The human report: host, reference, latency, quality, projections, failures, plots."""
    h = report.host
    s = report.settings
    parts = [
        "# edge-deblur benchmark report",
        "",
        f"- created: {report.created}, edge-deblur {report.tool_version}, "
        f"schema {report.schema_version}",
        f"- machine: {h.label} ({h.hostname}: {h.processor or h.machine}, {h.cpu_count} CPUs, "
        f"{h.os}; Python {h.python}, LiteRT {h.litert})",
        _load_line(h),
        _dot_line(h),
        f"- frame sizes {', '.join(s.get('sizes', []))}; threads "
        f"{', '.join(str(t) for t in s.get('threads', []))}; device {s.get('device', 'cpu')}; "
        f"min time {s.get('min_time_s')} s per row; pairs: {s.get('pairs') or 'none'}",
        "",
        "Labels: *measured on this host* / *measured on DEVICE* are timings taken by this run; "
        "*projected for DEVICE* are estimates from the device profiles "
        "(`benchmarks/profiles/*.yaml`, model in `benchmarks/SCHEMA.md`), never measurements.",
        "",
    ]
    if report.reference:
        parts += [
            "## Machine limit: reference int8 net",
            "",
            "MobileNetV2-style int8 stack (random weights, "
            f"{report.reference[0].macs / 1e6:.1f} M MAC per 224x224 frame) run with the same "
            "runtime. A model's *efficiency* is its G MAC/s over the int8 figure at the same "
            "thread count; the float copy of the net gives this machine's float-vs-int8 ratio.",
            "",
            _table(
                ["net", "threads", "p50 ms", "G MAC/s", "label"],
                [
                    [
                        r.precision,
                        str(r.threads),
                        _f(r.latency.p50_ms, 2),
                        _f(r.gmacs, 1),
                        r.label,
                    ]
                    for r in report.reference
                ],
            ),
            "",
        ]
    if report.measurements:
        rows = []
        for m in report.measurements:
            L = m.latency
            rows.append(
                [
                    m.model,
                    m.variant,
                    m.size,
                    str(m.threads),
                    _f(m.init_ms, 0),
                    _f(L.p50_ms),
                    _f(L.p90_ms),
                    _f(L.p99_ms),
                    f"{_f(L.mean_ms)} ± {_f(L.std_ms)}",
                    _f(L.fps, 2),
                    str(L.runs),
                    _f(m.peak_rss_mb, 0),
                    _f(m.file_bytes / 1024, 0) if m.file_bytes else "–",
                    _f(m.gzip_bytes / 1024, 0) if m.gzip_bytes else "–",
                    str(m.tiles),
                    _gmac(m.macs_per_frame),
                    _f(m.gmacs, 1),
                    _f(m.efficiency * 100 if m.efficiency is not None else None, 0, "%"),
                    m.label,
                ]
            )
        parts += [
            "## Latency",
            "",
            "Per frame, end to end (RGB uint8 in, RGB uint8 out, tiling included); ms.",
            "",
            _table(
                [
                    "model",
                    "variant",
                    "size",
                    "thr",
                    "init",
                    "p50",
                    "p90",
                    "p99",
                    "mean ± std",
                    "FPS",
                    "runs",
                    "peak RSS MiB",
                    "file KiB",
                    "gzip KiB",
                    "tiles",
                    "G MAC/frame",
                    "G MAC/s",
                    "efficiency",
                    "label",
                ],
                rows,
            ),
            "",
        ]
        rewritten = sorted({m.model for m in report.measurements if m.cpu_rewrites})
        if rewritten:
            parts += [
                f"CPU runs of {', '.join(f'`{n}`' for n in rewritten)} ran the graph "
                "`runtime.cpu_graph` rewrites in memory (bit-exact, delegated to XNNPACK): each "
                "2x RESIZE_NEAREST_NEIGHBOR as CONCATENATION + DEPTH_TO_SPACE, each 2x2 stride-2 "
                "TRANSPOSE_CONV as a 1x1 CONV_2D + DEPTH_TO_SPACE, and uint8 I/O as int8 (an XOR "
                "in `runtime.quant`); the files keep their ops, which the Edge TPU maps.",
                "",
            ]
    if report.quality:
        parts += [
            "## Quality",
            "",
            f"PSNR (dB) / SSIM against the sharp frames of `{s.get('pairs')}`, centre-cropped and "
            "resized to each frame size; gain = output minus blurry input.",
            "",
            _table(
                [
                    "model",
                    "variant",
                    "size",
                    "pairs",
                    "PSNR",
                    "SSIM",
                    "input PSNR",
                    "ΔPSNR",
                    "ΔSSIM",
                ],
                [
                    [
                        q.model,
                        q.variant,
                        q.size,
                        str(q.pairs),
                        _f(q.psnr, 2),
                        _f(q.ssim, 4),
                        _f(q.psnr_input, 2),
                        f"{q.psnr_gain:+.2f}",
                        f"{q.ssim_gain:+.4f}",
                    ]
                    for q in report.quality
                ],
            ),
            "",
        ]
    if report.projections:
        rows = []
        for p in report.projections:
            rng = (
                f"{_f(p.ms_low)}–{_f(p.ms_high)}"
                if p.ms_low is not None and p.ms_high is not None
                else "–"
            )
            rows.append(
                [
                    p.profile,
                    p.model,
                    p.variant,
                    p.size,
                    _f(p.ms),
                    rng,
                    _f(p.fps, 1),
                    _f(p.accel_mac_share * 100 if p.accel_mac_share is not None else None, 0, "%"),
                    "; ".join(p.notes) or "",
                    p.label,
                ]
            )
        profs = list(dict.fromkeys(p.profile for p in report.projections))
        keys = list(dict.fromkeys((p.model, p.variant, p.size) for p in report.projections))
        by = {(p.model, p.variant, p.size, p.profile): p for p in report.projections}
        pivot = []
        for k in keys:
            cells = []
            for prof in profs:
                p = by.get((*k, prof))
                cells.append(
                    f"{_f(p.ms, 0)} ms / {_f(p.fps, 1)} FPS" if p is not None and p.ms else "–"
                )
            pivot.append([*k, *cells])
        parts += [
            "## Projected on boards",
            "",
            "Estimates, not measurements: see the profile files for their sources. Per model and "
            "frame size, the projected latency and FPS on each board:",
            "",
            _table(["model", "variant", "size", *[f"projected for {p}" for p in profs]], pivot),
            "",
            "Details (range from the profiles' throughput ranges; share of MACs on the Edge TPU):",
            "",
            _table(
                [
                    "device",
                    "model",
                    "variant",
                    "size",
                    "ms",
                    "range ms",
                    "FPS",
                    "on TPU",
                    "notes",
                    "label",
                ],
                rows,
            ),
            "",
        ]
    if report.failures:
        parts += [
            "## Not measured",
            "",
            _table(
                ["model", "stage", "reason"],
                [[f.model, f.stage, f.reason.replace("|", "/")] for f in report.failures],
            ),
            "",
        ]
    if report.plots:
        parts += ["## Plots", ""] + [f"![{p}]({p})" for p in report.plots] + [""]
    return "\n".join(parts)


def summary_lines(report: Report) -> list[str]:
    """A few lines for the terminal: per model and size, the fastest row and the quality gain."""
    gain = {(q.model, q.size): q.psnr_gain for q in report.quality}
    best: dict[tuple[str, str], Measurement] = {}
    for m in report.measurements:
        k = (m.model, m.size)
        if k not in best or m.latency.p50_ms < best[k].latency.p50_ms:
            best[k] = m
    out = []
    for (model, size), m in best.items():
        parts = [f"{model:<36} {size:>9}  p50 {m.latency.p50_ms:8.1f} ms  {m.latency.fps:7.2f} FPS"]
        parts.append(f"({m.threads} thr)")
        if m.efficiency is not None:
            parts.append(f"eff {m.efficiency * 100:3.0f}%")
        if (model, size) in gain:
            parts.append(f"dPSNR {gain[(model, size)]:+.2f} dB")
        out.append("  ".join(parts))
    return out


CSV_COLUMNS = (
    "kind",
    "label",
    "model",
    "variant",
    "size",
    "threads",
    "device",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "fps",
    "runs",
    "init_ms",
    "peak_rss_mb",
    "file_bytes",
    "gzip_bytes",
    "tiles",
    "macs_per_frame",
    "gmacs",
    "efficiency",
    "psnr",
    "ssim",
    "psnr_gain",
    "ssim_gain",
    "ms_low",
    "ms_high",
    "notes",
)


def csv_rows(report: Report) -> list[dict]:
    """One flat row per reference, measurement, quality and projection result."""
    rows: list[dict] = []
    for r in report.reference:
        rows.append(
            dict(
                kind="reference",
                label=r.label,
                model=f"reference_mbv2_{r.precision}",
                variant=r.precision,
                size="224x224",
                threads=r.threads,
                p50_ms=r.latency.p50_ms,
                mean_ms=r.latency.mean_ms,
                fps=r.latency.fps,
                runs=r.latency.runs,
                macs_per_frame=r.macs,
                gmacs=r.gmacs,
                efficiency=1.0 if r.precision == "int8" else None,
            )
        )
    for m in report.measurements:
        L = m.latency
        rows.append(
            dict(
                kind="measurement",
                label=m.label,
                model=m.model,
                variant=m.variant,
                size=m.size,
                threads=m.threads,
                device=m.device,
                p50_ms=L.p50_ms,
                p90_ms=L.p90_ms,
                p99_ms=L.p99_ms,
                mean_ms=L.mean_ms,
                std_ms=L.std_ms,
                fps=L.fps,
                runs=L.runs,
                init_ms=m.init_ms,
                peak_rss_mb=m.peak_rss_mb,
                file_bytes=m.file_bytes,
                gzip_bytes=m.gzip_bytes,
                tiles=m.tiles,
                macs_per_frame=m.macs_per_frame,
                gmacs=m.gmacs,
                efficiency=m.efficiency,
            )
        )
    for q in report.quality:
        rows.append(
            dict(
                kind="quality",
                label=q.label,
                model=q.model,
                variant=q.variant,
                size=q.size,
                psnr=q.psnr,
                ssim=q.ssim,
                psnr_gain=q.psnr_gain,
                ssim_gain=q.ssim_gain,
            )
        )
    for p in report.projections:
        rows.append(
            dict(
                kind="projection",
                label=p.label,
                model=p.model,
                variant=p.variant,
                size=p.size,
                device=p.profile,
                mean_ms=p.ms,
                fps=p.fps,
                ms_low=p.ms_low,
                ms_high=p.ms_high,
                notes="; ".join(p.notes),
            )
        )
    return rows


def to_csv(report: Report) -> str:
    """``results.csv``: :data:`CSV_COLUMNS`, one row per result, empty cells where n/a."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in csv_rows(report):
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def write_report(report: Report, out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write ``report.json``, ``report.md`` and ``results.csv`` into ``out_dir`` atomically."""
    from runtime.io import atomic_write

    d = Path(out_dir)
    outs = [
        atomic_write(d / "report.json", to_json(report), force=force),
        atomic_write(d / "report.md", to_markdown(report), force=force),
        atomic_write(d / "results.csv", to_csv(report), force=force),
    ]
    return outs
