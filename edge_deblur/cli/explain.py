"""``edge-deblur explain``: activation, int8 and gradient analysis of a model, as an HTML report.

TensorFlow and matplotlib load inside the command only.
"""

from __future__ import annotations

from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup

app = typer.Typer(cls=ErrorHandlingGroup)


@app.command("explain")
def explain_cmd(
    model: Path = typer.Argument(
        ..., help="A .keras file (or a train run folder holding model.keras)."
    ),
    tflite: Path | None = typer.Option(
        None,
        "--tflite",
        help="The int8 .tflite converted from MODEL: compare every layer's tensor with Keras.",
    ),
    images: Path = typer.Option(
        ...,
        "--images",
        help="Folder of real images (or GoPro layout blur/ + sharp/, then PSNR vs sharp too).",
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Report folder to write (report.html, explain.json, PNGs)."
    ),
    region: str | None = typer.Option(
        None,
        "--region",
        help="x,y,w,h (pixels of the first image) of the output region for the saliency "
        "(default: a centre square).",
    ),
    tiles: int = typer.Option(16, "--tiles", help="Tiles drawn: half calibration, half held back."),
    tile_size: int = typer.Option(
        128, "--tile-size", help="Tile side when the .tflite does not fix the input size."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the tile crops."),
    threads: int = typer.Option(2, "--threads", help="Interpreter threads."),
    force: bool = typer.Option(False, "--force", help="Replace an existing report folder."),
) -> None:
    """Explain a model: activation ranges, int8 clipping, per-layer int8 error, saliency."""
    from rich.console import Console

    from edge_deblur.explain import ExplainConfig, Region, explain

    cfg = ExplainConfig(
        tiles=tiles,
        tile=tile_size,
        region=Region.parse(region) if region else None,
        seed=seed,
        threads=threads,
    )
    console = Console(stderr=True)
    with console.status("explaining") as status:
        res = explain(model, images, output, cfg, tflite=tflite, force=force, on_step=status.update)
    r = res.report
    if r["int8"]:
        i8 = r["int8"]
        typer.echo(
            f"int8 vs float: {i8['psnr_int8_vs_float']:.2f} dB PSNR; worst layer "
            f"{i8['worst_layer']} ({i8['matched_layers']} layers compared)"
        )
    for i, s in enumerate(r["suggestions"][:3], 1):
        typer.echo(f"{i}. {s['text']} [{s['figure']}]")
    if not r["suggestions"]:
        typer.echo("no suggestion: no rule fired")
    typer.echo(f"report: {res.out / 'report.html'}")
