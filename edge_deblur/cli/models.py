"""``edge-deblur models`` (the bundled models) and ``edge-deblur demo`` (the main job, bundled)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup

app = typer.Typer(cls=ErrorHandlingGroup)


@app.command("models")
def models(
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object (input_size as [height, width])."
    ),
) -> None:
    """List the bundled models (names usable wherever a command takes --model)."""
    from runtime.model_file import read_metadata
    from runtime.zoo import list_models

    rows = []
    for e in list_models():
        meta = read_metadata(e.path) if e.path.is_file() else None
        rows.append(
            {
                "name": e.name,
                "default": e.recommended,
                "file": str(e.path),
                "size_kb": round(e.path.stat().st_size / 1024, 1) if e.path.is_file() else None,
                "quant": (meta or {}).get("quant"),
                "input_size": (meta or {}).get("input_size"),
                "macs_per_pixel": (meta or {}).get("macs_per_pixel"),
                "description": e.description,
            }
        )
    if as_json:
        typer.echo(json.dumps({"models": rows}, indent=2))
        return
    if not rows:
        typer.echo("no bundled models in this install")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    # The name is what a user types after --model: never cut. Narrow terminals get the
    # descriptions under the table instead of a squeezed column.
    wide = console.width >= 110
    table = Table(title="bundled models (--model NAME; 'default' = the one marked *)")
    table.add_column("name", no_wrap=True, min_width=max(len(r["name"]) + 2 for r in rows))
    for col in ("quant", "input WxH", "MAC/px", "KB"):
        table.add_column(col, no_wrap=True)
    if wide:
        table.add_column("description", ratio=1)
    for r in rows:
        # Width x height, as --sizes and the README write frame sizes (the metadata is [H, W]).
        size = f"{r['input_size'][1]}x{r['input_size'][0]}" if r["input_size"] else "any"
        macs = f"{r['macs_per_pixel']:.0f}" if r["macs_per_pixel"] else "?"
        name = r["name"] + (" *" if r["default"] else "")
        cells = [name, str(r["quant"]), size, macs, str(r["size_kb"])]
        table.add_row(*cells, *([r["description"]] if wide else []))
    console.print(table)
    if not wide:
        for r in rows:
            console.print(f"[bold]{r['name']}[/bold]: {r['description']}", highlight=False)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder."),
    model: str = typer.Option("default", "--model", help="A .tflite file or a bundled name."),
    clip: Path | None = typer.Option(
        None, "--clip", exists=True, dir_okay=False, help="Blurred video (default: bundled)."
    ),
    reference: Path | None = typer.Option(
        None, "--reference", exists=True, dir_okay=False, help="Sharp reference video, same frames."
    ),
    threads: int = typer.Option(2, "--threads", min=1, help="Interpreter CPU threads."),
    bench: bool = typer.Option(True, "--bench/--no-bench", help="Also write a bench report."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Deblur the bundled real-blur clip with the default int8 model; write video, stats, report."""
    from edge_deblur.demo import run_demo

    result = run_demo(
        out,
        model=model,
        clip=clip,
        reference=reference,
        threads=threads,
        bench=bench,
        force=force,
        on_step=lambda msg: typer.echo(msg, err=True),
    )
    lines = [
        f"model      {result.model}",
        f"frames     {result.frames} at {result.fps:.1f} FPS on this host "
        f"(invoke {result.invoke_ms:.1f} ms/frame, {threads} threads)",
    ]
    if result.psnr_gain is not None:
        lines.append(
            f"PSNR       {result.input_psnr:.2f} dB -> {result.output_psnr:.2f} dB "
            f"({result.psnr_gain:+.2f} dB vs the sharp reference)"
        )
        lines.append(f"SSIM       {result.input_ssim:.4f} -> {result.output_ssim:.4f}")
        if clip is None:
            # Honest context: the bundled models trained on pairs from the same 240 fps clip.
            lines.append(
                "note       the bundled clip comes from the bundled models' training scene; "
                "on unseen scenes see runtime/zoo/MODEL_CARD.md"
            )
    lines.append(f"outputs    {', '.join(str(Path(result.out_dir) / f) for f in result.files)}")
    if result.interrupted:
        lines.append("stopped    by a signal: the figures cover the frames above; no bench report")
    typer.echo("\n".join(lines))
    if result.interrupted:
        raise typer.Exit(130)
