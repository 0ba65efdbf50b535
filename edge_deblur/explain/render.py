"""Figures (PNG, matplotlib Agg) and the HTML page of an explain report.

Figures, each written only when its data exists:

* ``ranges.png``: per layer, p99.9 and max of ``|x|`` (log scale: a long bar past the dot is an
  outlier range), and the shares of held-back values clipped / crushed by a min/max int8 scale.
* ``channels.png``: per layer, largest over median per-channel p99.9, and the share of dead
  channels.
* ``int8_error.png``: per compared layer, SNR of the int8 tensor against the float one, and the
  error the layer adds (the worst in red).
* ``saliency.png``: the frame with the input-gradient saliency of the region overlaid.
* ``change.png``: the frame with ``|output - input|`` overlaid.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

WORST = "#d62728"
INT8_COLUMNS = (
    ("rank", "rank"),
    ("layer", "layer"),
    ("SNR dB", "snr_db"),
    ("SNR lost dB", "loss_db"),
    ("added error", "added_error"),
    ("output PSNR, this layer alone int8", "solo_psnr_db"),
    ("scale", "scale"),
    ("zero point", "zero_point"),
    ("clipped by its int8 range", "tflite_clip_share"),
)
LAYER_COLUMNS = [
    *("layer", "kind", "min", "p0.1", "p1", "p50", "p99", "p99.9", "max", "int8 step"),
    *("clipped", "crushed", "levels p1-p99", "channel ratio", "dead"),
]
BASE = "#1f77b4"


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _height(n: int) -> float:
    return max(3.0, 0.2 * n + 1.2)


def _layout(fig, names: list[str]) -> None:
    """Margins for the layer-name labels (tight_layout is several times slower)."""
    left = min(0.3, 0.02 + 0.0075 * max((len(n) for n in names), default=8))
    h = fig.get_figheight()
    fig.subplots_adjust(left=left, right=0.98, top=1 - 0.45 / h, bottom=0.6 / h, wspace=0.08)


def plot_ranges(stats: list[Any], path: Path) -> None:
    plt = _plt()
    names = [s.name for s in stats]
    y = np.arange(len(stats))
    bulk = [max(abs(s.percentiles["p99.9"]), abs(s.percentiles["p0.1"]), 1e-9) for s in stats]
    top = [max(abs(s.max), abs(s.min), 1e-9) for s in stats]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, _height(len(stats))), sharey=True)
    a.barh(y, top, color="#ff9896", label="max |x|")
    a.barh(y, bulk, color=BASE, label="p99.9 |x|")
    a.set_xscale("log")
    a.set_yticks(y, names, fontsize=7)
    a.set_ylim(len(y) - 0.5, -0.5)
    a.set_xlabel("activation magnitude (log)")
    a.set_title("range: bulk (p99.9) vs max")
    a.legend(loc="lower right", fontsize=7)
    b.barh(y - 0.2, [100 * s.crush_share for s in stats], 0.4, color="#9467bd", label="crushed")
    b.barh(y + 0.2, [100 * s.clip_share for s in stats], 0.4, color="#ff7f0e", label="clipped")
    b.set_xlabel("% of held-back values")
    b.set_title("int8 min/max scale: crushed (< 1 step) / clipped")
    b.legend(loc="lower right", fontsize=7)
    _layout(fig, names)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_channels(stats: list[Any], path: Path) -> None:
    plt = _plt()
    names = [s.name for s in stats]
    y = np.arange(len(stats))
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, _height(len(stats))), sharey=True)
    ratio = [max(s.channel_ratio, 1.0) for s in stats]
    a.barh(y, ratio, color=[WORST if r >= 8 else BASE for r in ratio])
    a.axvline(8, color="gray", ls="--", lw=0.8)
    a.set_xscale("log")
    a.set_yticks(y, names, fontsize=7)
    a.set_ylim(len(y) - 0.5, -0.5)
    a.set_xlabel("largest / median channel p99.9 |x| (log; dashed: 8x)")
    a.set_title("channel range imbalance")
    dead = [100 * len(s.dead_channels) / s.channels if s.relu else 0.0 for s in stats]
    b.barh(y, dead, color="#7f7f7f")
    b.set_xlabel("% of channels never positive (ReLU outputs)")
    b.set_title("dead channels")
    _layout(fig, names)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_int8(cmp: Any, path: Path) -> None:
    plt = _plt()
    rows = [e for e in cmp.layers if not e.fused]
    y = np.arange(len(rows))
    colours = [WORST if e.layer == cmp.worst else BASE for e in rows]
    solo = [e.solo_psnr_db for e in rows]
    panels = 3 if any(v is not None for v in solo) else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels + 1, _height(len(rows))), sharey=True)
    a, b = axes[0], axes[1]
    a.barh(y, [e.snr_db for e in rows], color=colours)
    a.set_yticks(y, [e.layer for e in rows], fontsize=7)
    a.set_ylim(len(y) - 0.5, -0.5)
    a.set_xlabel("SNR of the int8 tensor vs float (dB, channel-averaged)")
    a.set_title(f"int8 vs float per layer (end to end {cmp.psnr_int8_vs_float:.1f} dB)")
    b.barh(y, [e.added_error for e in rows], color=colours)
    b.axvline(0, color="gray", lw=0.8)
    b.set_xlabel("relative squared error added by the layer")
    b.set_title(f"error added (most: {cmp.worst})")
    if panels == 3:
        c = axes[2]
        vals = [v if v is not None else 0.0 for v in solo]
        c.barh(y, vals, color=[WORST if e.layer == cmp.worst_solo else "#2ca02c" for e in rows])
        c.set_xlabel("output PSNR vs float, only this layer on its int8 grid (dB)")
        c.set_title(f"output cost alone (worst: {cmp.worst_solo})")
    _layout(fig, [e.layer for e in rows])
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _overlay(ax, frame: np.ndarray, heat: np.ndarray, title: str, label: str, cmap: str):
    gray = frame.astype(np.float32).mean(axis=-1)
    ax.imshow(gray, cmap="gray", vmin=0, vmax=255)
    hi = float(np.percentile(heat, 99.5)) or float(heat.max()) or 1.0
    im = ax.imshow(np.clip(heat / hi, 0, 1), cmap=cmap, alpha=0.55, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return im, hi, label


def plot_saliency(g: Any, path: Path) -> None:
    from matplotlib.patches import Rectangle

    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5.5 * g.frame.shape[0] / g.frame.shape[1] + 1))
    a.imshow(g.frame)
    a.set_title(f"{g.image} (crop x={g.crop[0]} y={g.crop[1]})", fontsize=9)
    a.axis("off")
    _overlay(
        b, g.frame, g.saliency, "input-gradient saliency of the region's correction", "", "jet"
    )
    for ax in (a, b):
        ax.add_patch(
            Rectangle(
                (g.region.x - g.crop[0] - 0.5, g.region.y - g.crop[1] - 0.5),
                g.region.w,
                g.region.h,
                fill=False,
                ec="white",
                lw=1.5,
            )
        )
    fig.subplots_adjust(left=0.01, right=0.95, top=0.92, bottom=0.02, wspace=0.05)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_change(g: Any, path: Path) -> None:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 5.5 * g.frame.shape[0] / g.frame.shape[1] + 1))
    a.imshow(g.output)
    a.set_title("model output", fontsize=9)
    a.axis("off")
    im, hi, _ = _overlay(b, g.frame, g.change, "|output - input| over the input", "", "magma")
    cb = fig.colorbar(im, ax=b, fraction=0.04)
    cb.set_label(f"levels (1.0 = {hi:.1f})", fontsize=8)
    fig.subplots_adjust(left=0.01, right=0.95, top=0.92, bottom=0.02, wspace=0.05)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(v: Any, fmt: str = ".4g") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, fmt)
    return html.escape(str(v))


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_f(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any], figures: list[str]) -> str:
    """The report page: summary, suggestions, tables, figures."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>edge-deblur explain</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:12px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
        ".worst{color:#d62728;font-weight:bold}</style></head><body>",
        f"<h1>edge-deblur explain: {e(report['model'])}</h1>",
        f"<p>{report['tiles']['calibration']} calibration + {report['tiles']['held_back']} "
        f"held-back tiles of {report['tiles']['size'][0]}x{report['tiles']['size'][1]} from "
        f"{e(report['images'])} ({report['tiles']['images']} images). "
        + (e(report["input_note"]) if report.get("input_note") else "")
        + "</p>",
    ]
    i8 = report.get("int8")
    if i8:
        parts.append(
            f"<p>int8 model {e(i8['tflite'])}: end-to-end PSNR int8 vs float "
            f"<b>{i8['psnr_int8_vs_float']:.2f} dB</b>"
            + (
                f"; vs sharp: float {i8['psnr_float_vs_sharp']:.2f} dB, int8 "
                f"{i8['psnr_int8_vs_sharp']:.2f} dB"
                if i8.get("psnr_float_vs_sharp") is not None
                else ""
            )
            + f". Most error added: <span class='worst'>{e(str(i8['worst_layer']))}</span>; "
            "worst for the output on its own: "
            f"<span class='worst'>{e(str(i8.get('worst_solo_layer')))}</span> "
            f"({i8['matched_layers']} layers matched).</p>"
        )
    parts.append("<h2>Suggestions</h2>")
    if report["suggestions"]:
        items = "".join(
            f"<li>{e(s['text'])} <a href='{e(s['figure'])}'>[{e(s['figure'])}]</a></li>"
            for s in report["suggestions"]
        )
        parts.append(f"<ol>{items}</ol>")
    else:
        parts.append("<p>No rule fired: ranges, channels and int8 error look healthy.</p>")
    if i8:
        ranked = sorted((x for x in i8["layers"] if x["rank"]), key=lambda x: x["rank"])
        parts.append("<h2>Float vs int8, ranked by the error each layer adds</h2>")
        parts.append(
            _table(
                [h for h, _ in INT8_COLUMNS],
                [[x[k] for _, k in INT8_COLUMNS] for x in ranked],
            )
        )
        fused = [x["layer"] for x in i8["layers"] if x["fused"]]
        if fused:
            parts.append(f"<p>Fused into a later tensor (no own tensor): {e(', '.join(fused))}</p>")
    parts.append("<h2>Activations per layer</h2>")
    rows = []
    for s in report["layers"]:
        p = s["percentiles"]
        dead = f"{len(s['dead_channels'])}/{s['channels']}" if s["relu"] else "-"
        rows.append(
            [s["name"], s["kind"], s["min"], *(p[k] for k in ("p0.1", "p1", "p50", "p99", "p99.9"))]
            + [s["max"], s["step"], f"{100 * s['clip_share']:.2f}%"]
            + [f"{100 * s['crush_share']:.1f}%", s["levels_p99"], s["channel_ratio"], dead]
        )
    parts.append(
        _table(
            LAYER_COLUMNS,
            rows,
        )
    )
    g = report.get("gradients")
    if g:
        parts.append("<h2>Gradient analysis</h2>")
        parts.append(
            f"<p>Region x={g['region']['x']} y={g['region']['y']} w={g['region']['w']} "
            f"h={g['region']['h']} of {e(g['image'])}: 90% of the saliency lies within "
            f"{_f(g['saliency_radius90_px'], '.1f')} px of its centre. Mean change "
            f"{g['change_mean_levels']:.2f} levels, p99 {g['change_p99_levels']:.1f}.</p>"
        )
    parts.append("<h2>Figures</h2>")
    for f in figures:
        parts.append(f"<h3>{e(f)}</h3><img src='{e(f)}' alt='{e(f)}'>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
