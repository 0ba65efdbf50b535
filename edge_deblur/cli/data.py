"""``edge-deblur data``: make training data (GoPro-recipe pairs from high-frame-rate video)."""

from __future__ import annotations

from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup

app = typer.Typer(cls=ErrorHandlingGroup, no_args_is_help=True)


@app.command("from-video")
def from_video(
    clip: Path = typer.Argument(
        ..., help="High-frame-rate video (e.g. 240 fps GoPro footage) or a folder of its frames."
    ),
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
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty --out, replacing pairs of the same name."
    ),
    space: str = typer.Option(
        "linear",
        "--space",
        help="Average in 'linear' light (what a sensor integrates) or the 'srgb' values as they "
        "are (how the GoPro benchmark's blur images and gopro_dev were made).",
    ),
) -> None:
    """Average N consecutive frames into blurred images; the middle frame is the sharp target
    (the GoPro recipe). Writes OUT/blur/NAME.png and OUT/sharp/NAME.png."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from edge_deblur.data.video import pairs_from_video, parse_wxh

    size = parse_wxh(resize) if resize is not None else None
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TimeRemainingColumn(),
        console=Console(stderr=True),  # stdout keeps only the summary line
        transient=True,
    ) as bar:
        task = bar.add_task("averaging frames", total=None)

        def _tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        res = pairs_from_video(
            clip, average, out, stride, max_pairs, size, force, _tick, space=space
        )
    typer.echo(
        f"wrote {len(res.names)} pairs to {res.out} (blur/, sharp/) from {res.frames_read} frames; "
        f"blur-vs-sharp PSNR mean {res.mean_psnr:.2f} dB "
        f"(min {min(res.psnr):.2f}, max {max(res.psnr):.2f})"
    )
    if res.corrupt:
        typer.echo(
            f"edge-deblur: warning: {clip}: skipped {res.corrupt} undecodable frame(s) and every "
            "window spanning one",
            err=True,
        )
    if res.truncated:
        typer.echo(
            f"edge-deblur: warning: {clip}: read {res.frames_read} of the "
            f"{res.frames_expected} frames its container announces; the file may be cut short",
            err=True,
        )


@app.command("preview")
def preview(
    out: Path = typer.Option(..., "--out", help="PNG grid to write (sharp | blurred per pair)."),
    data: list[Path] | None = typer.Option(
        None, "--data", help="Folder of sharp photos, blurred synthetically (repeatable)."
    ),
    pairs: list[Path] | None = typer.Option(
        None, "--pairs", help="GoPro-layout folder blur/ + sharp/ (repeatable)."
    ),
    gyro: list[Path] | None = typer.Option(
        None, "--gyro", help="Folder of gyro.txt logs for gyro and rotation blur (repeatable)."
    ),
    kernels: list[Path] | None = typer.Option(
        None, "--kernels", help="Folder of measured kernels .png/.npy/.mat (repeatable)."
    ),
    count: int = typer.Option(12, "--count", help="Pairs to show."),
    size: int = typer.Option(
        192, "--size", "--patch", help="Patch size in pixels (as train's --patch)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the training stream to show."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Write a grid of the first training patches (what `train` sees) and their blur strength."""
    import numpy as np

    from edge_deblur.data import BlurConfig, DataSource, pairs_grid, sample_pairs
    from runtime.errors import InputError, expected
    from runtime.io import IMAGE_SUFFIXES, check_output, write_image
    from runtime.metrics import psnr

    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            expected("--out", f"an image file ({', '.join(IMAGE_SUFFIXES)})", str(out))
        )
    if count < 1:
        raise InputError(expected("--count", "an integer >= 1", count))
    if size < 8:
        raise InputError(expected("--size", "an integer >= 8", size))
    check_output(out, force)
    sources = [DataSource("synthetic", p) for p in data or []]
    sources += [DataSource("pairs", p) for p in pairs or []]
    if not sources:
        raise InputError(expected("--data/--pairs", "at least one folder", "none"))
    blur = BlurConfig(kernel_dirs=tuple(kernels or ()), gyro_dirs=tuple(gyro or ()))
    got = sample_pairs(sources, count, size, seed, blur)
    write_image(out, pairs_grid(got), force=force)
    values = [min(psnr(b, s), 60.0) for b, s in got]
    typer.echo(
        f"wrote {out}: {len(got)} pairs of {size}x{size} (sharp | blurred); blur-vs-sharp PSNR "
        f"median {np.median(values):.2f} dB (identical patches counted as 60 dB)"
    )
