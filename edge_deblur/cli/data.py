"""``edge-deblur data``: make training data (GoPro-recipe pairs from high-frame-rate video)."""

from __future__ import annotations

from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup

app = typer.Typer(cls=ErrorHandlingGroup, no_args_is_help=True)


@app.command("from-video")
def from_video(
    clip: Path = typer.Argument(..., help="High-frame-rate video (e.g. 240 fps GoPro footage)."),
    average: int = typer.Option(
        ..., "--average", help="Frames averaged into one blurred image (GoPro used 7-13)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder; gets blur/ and sharp/ inside."),
    stride: int | None = typer.Option(
        None,
        "--stride",
        help="Frames between window starts (default: the --average value: no overlap).",
    ),
    max_pairs: int | None = typer.Option(None, "--max-pairs", help="Stop after this many pairs."),
    resize: str | None = typer.Option(
        None, "--resize", help="Downsize frames to WxH (e.g. 640x360) before averaging."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing pairs in --out."),
) -> None:
    """Average N consecutive frames in linear light into blurred images; the middle frame is the
    sharp target (the GoPro recipe). Writes OUT/blur/NAME.png and OUT/sharp/NAME.png."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from edge_deblur.data.video import pairs_from_video, parse_wxh

    size = parse_wxh(resize) if resize is not None else None
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("averaging frames", total=None)

        def _tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        res = pairs_from_video(clip, average, out, stride, max_pairs, size, force, _tick)
    typer.echo(
        f"wrote {len(res.names)} pairs to {res.out} (blur/, sharp/) from {res.frames_read} frames; "
        f"blur-vs-sharp PSNR mean {res.mean_psnr:.2f} dB "
        f"(min {min(res.psnr):.2f}, max {max(res.psnr):.2f})"
    )
