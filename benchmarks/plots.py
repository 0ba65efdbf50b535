"""PNG plots of a :class:`~benchmarks.report.Report` (matplotlib, Agg backend, no display).

* ``latency_vs_quality.png``: p50 latency against PSNR gain, one panel per frame size, one colour
  per variant (fp32, fp16, dynamic, int8, pruned-int8, classical) and that variant's Pareto front
  (the models no other model of the variant beats on both speed and quality).
* ``latency_by_size_threads.png``: p50 latency of every model for each frame size x thread count.
* ``stage_breakdown.png``: where a frame's time goes (pre-processing and tiling, LiteRT invoke,
  post-processing and blending) at the largest thread count.
* ``projected_fps.png``: projected FPS per device profile (estimates, labelled as such).

Each function returns the written path, or None when the report has nothing to plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import Measurement, Report
from runtime.io import atomic_path

VARIANT_COLOURS = {
    "fp32": "#1f77b4",
    "fp16": "#17becf",
    "dynamic": "#9467bd",
    "int8": "#d62728",
    "pruned-int8": "#ff7f0e",
    "classical": "#7f7f7f",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another (lower latency ``x`` and higher quality ``y``), by ``x``."""
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def _log_axis(axis) -> None:
    """Log scale labelled 1-2-5 in plain numbers (matplotlib's default crowds minor labels)."""
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _save(fig, path: Path, force: bool) -> Path:
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)
    return path


def _fastest_rows(report: Report) -> dict[tuple[str, str], Measurement]:
    """Per (model, size), the measurement with the most threads."""
    best: dict[tuple[str, str], Measurement] = {}
    for m in report.measurements:
        key = (m.model, m.size)
        if key not in best or m.threads > best[key].threads:
            best[key] = m
    return best


def plot_latency_vs_quality(report: Report, path: Path, force: bool = False) -> Path | None:
    """Latency vs PSNR gain with the Pareto front per variant (None without quality rows).

    Colour = variant, marker = model (two legends), so coinciding points stay identifiable."""
    if not report.quality:
        return None
    plt = _plt()
    from matplotlib.lines import Line2D

    rows = _fastest_rows(report)
    sizes = list(dict.fromkeys(q.size for q in report.quality))
    models = list(dict.fromkeys(q.model for q in report.quality))
    markers = dict(zip(models, "osD^vP*Xph<>" * 4, strict=False))
    variants: dict[str, str] = {}
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes) + 2.6, 4.6), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        by_variant: dict[str, list[tuple[float, float, str]]] = {}
        for q in report.quality:
            m = rows.get((q.model, q.size))
            if q.size != size or m is None:
                continue
            by_variant.setdefault(q.variant, []).append((m.latency.p50_ms, q.psnr_gain, q.model))
        for variant, pts in by_variant.items():
            c = VARIANT_COLOURS.get(variant, "#2ca02c")
            variants[variant] = c
            for x, y, name in pts:
                ax.scatter([x], [y], color=c, marker=markers[name], s=46, zorder=3, alpha=0.85)
            front = pareto_front([(p[0], p[1]) for p in pts])
            if len(front) > 1:
                ax.step(*zip(*front, strict=True), where="post", color=c, alpha=0.6, lw=1.2)
        ax.axhline(0.0, color="black", lw=0.8, ls="--")
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        ax.margins(x=0.15, y=0.1)
        ax.set_xlabel("p50 latency per frame, ms (log)")
        ax.set_ylabel("PSNR gain over the blurry input, dB")
        thr = max((m.threads for m in report.measurements), default=0)
        ax.set_title(f"{size}, {thr} threads, {report.host.label}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    last = axes[0][-1]
    leg = last.legend(
        handles=[Line2D([], [], color=c, marker="o", ls="-", label=v) for v, c in variants.items()],
        title="variant (line: Pareto front)",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
    )
    last.add_artist(leg)
    last.legend(
        handles=[
            Line2D([], [], color="#444444", marker=markers[n], ls="", label=n) for n in models
        ],
        title="model",
        fontsize=7,
        title_fontsize=8,
        loc="lower left",
        bbox_to_anchor=(1.02, 0.0),
    )
    return _save(fig, path, force)


def plot_latency_by_size_threads(report: Report, path: Path, force: bool = False) -> Path | None:
    """Grouped bars: p50 latency per model for each frame size x thread count."""
    if not report.measurements:
        return None
    plt = _plt()
    models = list(dict.fromkeys(m.model for m in report.measurements))
    combos = list(dict.fromkeys((m.size, m.threads) for m in report.measurements))
    val = {(m.model, m.size, m.threads): m.latency.p50_ms for m in report.measurements}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(models) * max(1, len(combos)) / 2), 4.6))
    width = 0.8 / max(1, len(combos))
    cmap = plt.get_cmap("tab20")
    for j, (size, thr) in enumerate(combos):
        xs = [i + (j - (len(combos) - 1) / 2) * width for i in range(len(models))]
        ys = [val.get((mod, size, thr), 0.0) for mod in models]
        ax.bar(xs, ys, width, label=f"{size}, {thr} thr", color=cmap(j % 20))
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, rotation=20, ha="right", fontsize=8)
    ax.set_yscale("log")
    _log_axis(ax.yaxis)
    ax.set_ylabel("p50 latency per frame, ms (log)")
    ax.set_title(f"Latency by frame size and threads ({report.host.label})", fontsize=10)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path, force)


def plot_stage_breakdown(report: Report, path: Path, force: bool = False) -> Path | None:
    """Stacked bars of the median pre / invoke / post time (classical rows: one stage)."""
    rows = sorted(_fastest_rows(report).values(), key=lambda m: (m.model, m.size))
    if not rows:
        return None
    plt = _plt()
    labels = [f"{m.model} {m.size} ({m.threads} thr)" for m in rows]
    pre = [m.pre_ms or 0.0 for m in rows]
    inv = [m.invoke_ms or 0.0 for m in rows]
    post = [m.post_ms or 0.0 for m in rows]
    other = [
        max(0.0, m.latency.p50_ms - p - i - q)
        for m, p, i, q in zip(rows, pre, inv, post, strict=True)
    ]
    fig, ax = plt.subplots(figsize=(8.0, 0.35 * len(rows) + 1.6))
    y = range(len(rows))
    left = [0.0] * len(rows)
    for name, vals, colour in (
        ("pre: convert, pad, quantize, tile", pre, "#9ecae1"),
        ("LiteRT invoke", inv, "#d62728"),
        ("post: dequantize, blend", post, "#fdae6b"),
        ("other (classical compute, Python)", other, "#bdbdbd"),
    ):
        ax.barh(list(y), vals, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median time per frame, ms (stages: medians; other: p50 minus stages)")
    ax.set_title(f"Stage breakdown ({report.host.label})", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path, force)


def plot_projected_fps(report: Report, path: Path, force: bool = False) -> Path | None:
    """Projected FPS per device profile and model x size, with the profile's range as error bars."""
    projs = [p for p in report.projections if p.ms]
    if not projs:
        return None
    plt = _plt()
    keys = list(dict.fromkeys((p.model, p.size) for p in projs))
    profs = list(dict.fromkeys(p.profile for p in projs))
    by = {(p.model, p.size, p.profile): p for p in projs}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(keys) * len(profs) / 2), 4.6))
    width = 0.8 / len(profs)
    cmap = plt.get_cmap("Set2")
    for j, prof in enumerate(profs):
        xs, ys, lo, hi = [], [], [], []
        for i, k in enumerate(keys):
            p = by.get((*k, prof))
            if p is None:
                continue
            f = 1000.0 / p.ms
            xs.append(i + (j - (len(profs) - 1) / 2) * width)
            ys.append(f)
            lo.append(f - 1000.0 / (p.ms_high or p.ms))
            hi.append(1000.0 / (p.ms_low or p.ms) - f)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=prof, color=cmap(j % 8))
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{m}\n{s}" for m, s in keys], fontsize=7, rotation=20, ha="right")
    ax.set_yscale("log")
    _log_axis(ax.yaxis)
    ax.set_ylabel("projected FPS (log)")
    ax.axhline(30.0, color="black", lw=0.8, ls="--", label="30 FPS")
    ax.set_title("Projected for each device profile: estimates, not measurements", fontsize=10)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path, force)


PLOTS = {
    "latency_vs_quality.png": plot_latency_vs_quality,
    "latency_by_size_threads.png": plot_latency_by_size_threads,
    "stage_breakdown.png": plot_stage_breakdown,
    "projected_fps.png": plot_projected_fps,
}


def write_plots(report: Report, out_dir: str | Path, force: bool = False) -> list[str]:
    """Write every plot that has data into ``out_dir``; returns the written file names."""
    d = Path(out_dir)
    return [name for name, fn in PLOTS.items() if fn(report, d / name, force) is not None]
