"""``bench --compare``: merge ``report.json`` files from several machines into one table.

Rows are (model, variant, frame size, threads); columns are the machines, each named by its
report's label and host name (``measured on this host (ci-runner)``, ``measured on rpi4-lab``),
plus the projections found in the reports (``projected for rpi4``), so a measurement on a board
sits beside the projection made for it. Output: ``compare.md``, ``compare.csv``, ``compare.json``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import Report, from_json
from runtime.errors import InputError, expected


@dataclass(frozen=True)
class Cell:
    """One figure of the merged table: p50 latency and FPS, with its label."""

    p50_ms: float | None
    fps: float | None
    psnr: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The merged table: ``cells[(model, variant, size, threads)][column]``."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, str, str, int], ...]
    cells: dict
    sources: tuple[str, ...]


def _column(r: Report, taken: set[str]) -> str:
    base = r.host.label
    name = f"{base} ({r.host.hostname})"
    i = 2
    while name in taken:
        name = f"{base} ({r.host.hostname} #{i})"
        i += 1
    return name


def compare(reports: list[Report], sources: list[str] | None = None) -> Comparison:
    """Merge several reports (order kept) into one :class:`Comparison`."""
    if len(reports) < 1:
        raise InputError(expected("--compare", "at least one report.json", "none"))
    columns: list[str] = []
    cells: dict = {}
    rows: list[tuple[str, str, str, int]] = []
    for r in reports:
        col = _column(r, set(columns))
        columns.append(col)
        q = {(x.model, x.size): x.psnr for x in r.quality}
        for m in r.measurements:
            key = (m.model, m.variant, m.size, m.threads)
            if key not in cells:
                cells[key] = {}
                rows.append(key)
            cells[key][col] = Cell(m.latency.p50_ms, m.latency.fps, q.get((m.model, m.size)))
    proj_cols: list[str] = []
    for r, source_col in zip(reports, columns, strict=True):
        for p in r.projections:
            if p.ms is None:
                continue
            # Each report's projections keep a column of their own: two runs' projections for
            # the same board differ (each comes from its own host measurement).
            col = p.label if len(reports) == 1 else f"{p.label} (from {source_col})"
            if col not in proj_cols:
                proj_cols.append(col)
            same = [k for k in rows if k[0] == p.model and k[1] == p.variant and k[2] == p.size]
            same = same or [k for k in rows if k[0] == p.model and k[2] == p.size]
            if not same:
                continue
            key = min(same, key=lambda k: k[3])  # the row with the fewest threads, as documented
            cells[key].setdefault(col, Cell(p.ms, p.fps))
    return Comparison(
        columns=tuple(columns + proj_cols),
        rows=tuple(rows),
        cells=cells,
        sources=tuple(sources or ()),
    )


def _fmt(c: Cell | None) -> str:
    if c is None or c.p50_ms is None:
        return "–"
    fps = "?" if c.fps is None else f"{c.fps:.1f}"  # a hand-edited report may lack it
    return f"{c.p50_ms:.1f} ms ({fps} FPS)"


def to_markdown(c: Comparison) -> str:
    """The merged table as Markdown (projections are estimates and say so in their header)."""
    head = ["model", "variant", "size", "threads", *c.columns]
    lines = [
        "# edge-deblur benchmark comparison",
        "",
        "Sources: " + ", ".join(f"`{s}`" for s in c.sources),
        "",
        "p50 latency per frame (FPS from the mean). *projected for* columns are estimates from "
        "device profiles, not measurements; projections are listed at the row of the same model "
        "and size with the fewest threads.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for key in c.rows:
        m, v, s, t = key
        vals = [_fmt(c.cells[key].get(col)) for col in c.columns]
        lines.append("| " + " | ".join([m, v, s, str(t), *vals]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(c: Comparison) -> str:
    """Long format: one row per (model, variant, size, threads, column)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", "variant", "size", "threads", "column", "p50_ms", "fps", "psnr"])
    for key in c.rows:
        for col in c.columns:
            cell = c.cells[key].get(col)
            if cell is not None:
                w.writerow(
                    [*key, col, cell.p50_ms, cell.fps, "" if cell.psnr is None else cell.psnr]
                )
    return buf.getvalue()


def to_json(c: Comparison) -> str:
    """The merged table as JSON: ``{"columns": [...], "rows": [{model, variant, size, threads,
    cells: {column: {p50_ms, fps, psnr}}}], "sources": [...]}``."""
    rows = []
    for key in c.rows:
        m, v, s, t = key
        rows.append(
            {
                "model": m,
                "variant": v,
                "size": s,
                "threads": t,
                "cells": {col: vars(cell) for col, cell in c.cells[key].items()},
            }
        )
    data = {"columns": list(c.columns), "rows": rows, "sources": list(c.sources)}
    return json.dumps(data, indent=2) + "\n"


def write_compare(paths: list[str | Path], out_dir: str | Path, force: bool = False) -> list[Path]:
    """Read the reports, merge them and write ``compare.{md,csv,json}`` into ``out_dir``."""
    from runtime.io import atomic_write, check_output

    d = Path(out_dir)
    outs = [d / "compare.md", d / "compare.csv", d / "compare.json"]
    for o in outs:
        check_output(o, force)
    reports = [from_json(p) for p in paths]
    c = compare(reports, [str(p) for p in paths])
    atomic_write(outs[0], to_markdown(c), force=force)
    atomic_write(outs[1], to_csv(c), force=force)
    atomic_write(outs[2], to_json(c), force=force)
    return outs
