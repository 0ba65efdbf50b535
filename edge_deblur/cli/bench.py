"""``edge-deblur bench``: latency, quality and projected board performance of .tflite models.

The command parses options, shows a progress bar and writes what ``benchmarks.run`` returns;
all measuring lives in ``benchmarks`` (imported inside the command, so ``--help`` stays light).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup

app = typer.Typer(cls=ErrorHandlingGroup)

DEFAULT_PROFILES = "rpi4,rpi5,coral-usb,coral-devboard"


class Device(str, Enum):
    """Where the models run: the CPU (XNNPACK) or a Coral Edge TPU through libedgetpu."""

    cpu = "cpu"
    edgetpu = "edgetpu"


def _split(text: str, name: str) -> list[str]:
    from runtime.errors import InputError, expected

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputError(expected(name, "a comma-separated list", text))
    return items


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``640x480,1280x720`` -> ``((640, 480), (1280, 720))`` (width x height, as video sizes)."""
    from runtime.errors import InputError, expected

    out = []
    for item in _split(text, "--sizes"):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise InputError(
                expected("--sizes", "WIDTHxHEIGHT[,WIDTHxHEIGHT...] such as 640x480", item)
            ) from None
        if w < 16 or h < 16:
            raise InputError(expected("--sizes", "frames of at least 16x16 pixels", item))
        out.append((w, h))
    return tuple(dict.fromkeys(out))


def parse_threads(text: str) -> tuple[int, ...]:
    """``1,2,4`` -> ``(1, 2, 4)``."""
    from runtime.errors import InputError, expected

    try:
        vals = tuple(dict.fromkeys(int(t) for t in _split(text, "--threads")))
    except ValueError:
        raise InputError(expected("--threads", "integers such as 1,2,4", text)) from None
    if any(v < 1 or v > 256 for v in vals):
        raise InputError(expected("--threads", "thread counts from 1 to 256", text))
    return vals


@app.command("bench")
def bench(
    models: list[str] = typer.Argument(
        None,
        metavar="MODEL...",
        help=".tflite files or bundled model names (with --compare: report.json files).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (created)."),
    pairs: Path | None = typer.Option(
        None,
        "--pairs",
        exists=True,
        file_okay=False,
        help="Folder with blur/ and sharp/ subfolders of matching images, for PSNR/SSIM.",
    ),
    sizes: str = typer.Option("640x480,1280x720", "--sizes", help="Frame sizes WIDTHxHEIGHT."),
    threads: str = typer.Option("1,2,4", "--threads", help="CPU thread counts."),
    device: Device = typer.Option(
        Device.cpu, "--device", help="Run on the CPU or the Edge TPU (needs libedgetpu)."
    ),
    device_name: str | None = typer.Option(
        None,
        "--device-name",
        help="Name of the board this runs on: figures are labelled 'measured on NAME'.",
    ),
    profiles: str = typer.Option(
        DEFAULT_PROFILES, "--profiles", help="Device profiles to project to (names or .yaml)."
    ),
    min_time: float = typer.Option(1.0, "--min-time", help="Minimum timed seconds per row."),
    min_runs: int = typer.Option(
        5, "--min-runs", help="Minimum timed frames per row (lower it for slow boards)."
    ),
    max_pairs: int = typer.Option(8, "--max-pairs", help="Use at most this many pairs."),
    baselines: bool = typer.Option(
        True, "--baselines/--no-baselines", help="Add classical deconvolution rows."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
    compare_mode: bool = typer.Option(
        False, "--compare", help="Merge the report.json files given as arguments into one table."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing report files."),
) -> None:
    """Measure latency, quality and efficiency of models; project them onto boards.

    Writes report.md, report.json (schema: benchmarks/SCHEMA.md), results.csv and PNG plots.

    Labels: "measured on this host", "measured on NAME" (--device-name), "projected for DEVICE".

    bench --compare A/report.json B/report.json -o DIR merges reports from several machines.
    """
    from runtime.errors import InputError, expected

    files = list(models or [])
    if compare_mode:
        from benchmarks.compare import write_compare

        if not files:
            raise InputError(expected("--compare", "one or more report.json files", "none"))
        written = write_compare(files, out, force=force)
        for p in written:
            typer.echo(str(p))
        return
    if not files:
        raise InputError(
            expected("MODEL", "one or more .tflite files or bundled names", "none", "see --help")
        )
    from benchmarks.projection import load_profiles
    from benchmarks.run import BenchSettings, count_steps, run_bench
    from runtime.io import check_output

    settings = BenchSettings(
        models=tuple(files),
        sizes=parse_sizes(sizes),
        threads=parse_threads(threads),
        device=device.value,
        device_name=device_name,
        profiles=tuple(_split(profiles, "--profiles")) if profiles.strip() else (),
        pairs=str(pairs) if pairs else None,
        max_pairs=max_pairs,
        min_time_s=min_time,
        min_runs=min_runs,
        baselines=baselines,
    )
    load_profiles(list(settings.profiles))  # fail on a bad name before measuring anything
    from runtime.zoo import resolve_model

    for m in files:
        resolve_model(m, what="MODEL")  # a mistyped model name or path, likewise
    names = ["report.json", "report.md", "results.csv"]
    if plots:
        from benchmarks.plots import PLOTS

        names += list(PLOTS)
    for name in names:  # refuse before measuring, not after minutes of work
        check_output(out / name, force)
    report = _run_with_progress(settings, count_steps(settings), run_bench)
    if plots:
        from dataclasses import replace

        from benchmarks.plots import write_plots

        report = replace(report, plots=tuple(write_plots(report, out, force=force)))
    from benchmarks.report import summary_lines, write_report

    for line in summary_lines(report):
        typer.echo(line)
    for p in write_report(report, out, force=force):
        typer.echo(str(p))
    for f in report.failures:
        typer.echo(
            f"edge-deblur: warning: {f.model} ({f.stage}) not measured: {f.reason}", err=True
        )
    unloadable = [f.model for f in report.failures if f.stage == "load"]
    if unloadable:  # a model the user named: the report holds the others, the run still failed
        raise InputError(
            expected(
                "MODEL",
                "models that load",
                ", ".join(repr(m) for m in unloadable),
                "the report covers the other models",
            )
        )


def _run_with_progress(settings, total: int, run_bench):
    """Run the benchmark under a rich progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]bench[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=total)
        state = {"started": False}

        def on_step(msg: str) -> None:
            if state["started"]:
                bar.advance(task)
            state["started"] = True
            bar.update(task, description=msg)

        report = run_bench(settings, on_step=on_step)
        bar.update(task, completed=total)
    return report
