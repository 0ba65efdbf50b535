"""``edge-deblur``: the entry point. Joins the command modules with ``add_typer``."""

from __future__ import annotations

import os

import typer

from edge_deblur.cli import bench, convert, data, explain, models, run, train
from edge_deblur.cli._common import ErrorHandlingGroup

# OpenCV's and FFmpeg's own log lines ("[ WARN:0@0.2] global cap.cpp ...", "[mjpeg @ 0x...]")
# would sit beside our one-line errors and warnings, which already say what failed; a user's
# own OPENCV_LOG_LEVEL / OPENCV_FFMPEG_LOGLEVEL still win.
os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

app = typer.Typer(
    name="edge-deblur",
    cls=ErrorHandlingGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Train, convert, run and benchmark image-deblurring models for edge boards "
    "(Raspberry Pi, Coral Edge TPU).",
)


def _version(value: bool) -> None:
    if value:
        from runtime import __version__

        typer.echo(f"edge-deblur {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train, convert, run and benchmark image-deblurring models for edge boards."""


for module in (train, convert, run, bench, models, explain):
    app.add_typer(module.app)
app.add_typer(data.app, name="data", help="Make training data (GoPro-recipe pairs from video).")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
