"""``edge-deblur run`` (a live or file stream) and ``edge-deblur deblur`` (images, folders, videos).

Both are thin: they check the outputs first, then call ``runtime`` (imported inside the commands,
so ``edge-deblur --help`` stays light). No TensorFlow is involved: this is what runs on the board.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup, ensemble_option, strength_option

app = typer.Typer(cls=ErrorHandlingGroup)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv")


class DeviceChoice(str, enum.Enum):
    cpu = "cpu"
    edgetpu = "edgetpu"


MODEL_HELP = "A .tflite file or a bundled model name ('default' = the recommended one)."


def _progress_sink(total: int | None, label: str):
    """A sink that advances a rich progress bar on stderr (frames written / total)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from runtime.sinks import Sink

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )

    class ProgressSink(Sink):
        def __init__(self) -> None:
            progress.start()
            self.task = progress.add_task(label, total=total)

        def write(self, original, deblurred) -> None:
            progress.advance(self.task)

        def close(self, ok: bool = True) -> None:
            progress.stop()

    return ProgressSink()


def _write_stats(path: Path, stats: dict, force: bool) -> None:
    from runtime.io import atomic_write, write_failed

    try:
        atomic_write(path, json.dumps(stats, indent=2) + "\n", force=force)
    except OSError as e:
        raise write_failed(path, e) from e


@app.command("run")
def run(
    source: str = typer.Option(
        ...,
        "--source",
        help="Camera index (0), /dev/videoN, video file, image file or folder, rtsp:// or "
        "http:// URL, GStreamer pipeline ('... ! appsink') or 'picamera2'.",
    ),
    model: str = typer.Option("default", "--model", help=MODEL_HELP),
    output: Path | None = typer.Option(
        None, "--output", help="Video file (.mp4/.avi/.mkv/.mov, input fps and size) or folder."
    ),
    show: bool = typer.Option(False, "--show", help="Show original | deblurred in a window."),
    serve: str | None = typer.Option(
        None,
        "--serve",
        metavar="HOST:PORT",
        help="Serve a live page (MJPEG, split view, stats); binds 127.0.0.1 unless HOST is given.",
    ),
    threads: int = typer.Option(2, "--threads", min=1, help="Interpreter CPU threads."),
    device: DeviceChoice = typer.Option(DeviceChoice.cpu, "--device", help="cpu or edgetpu."),
    max_frames: int | None = typer.Option(
        None, "--max-frames", min=1, help="Stop after this many frames."
    ),
    stats: Path | None = typer.Option(
        None, "--stats", help="Write frames/dropped/fps/latency/stage timings as JSON here."
    ),
    roi: str | None = typer.Option(
        None, "--roi", metavar="X,Y,W,H", help="Deblur only this region (pixels)."
    ),
    scale: float = typer.Option(
        1.0, "--scale", help="Run the model at this fraction of the resolution (0.05-1)."
    ),
    strength: float = strength_option(),
    ensemble: int = ensemble_option(),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Deblur a camera or file stream: capture, inference and output run concurrently.

    Temporal models (their metadata says so) keep a recurrent state from frame to frame, reset
    on a scene cut or a reconnect.
    """
    from runtime.errors import InputError, expected
    from runtime.io import check_output
    from runtime.pipeline import Pipeline, StreamOptions, parse_roi
    from runtime.sinks import WindowSink, open_output
    from runtime.sources import open_source
    from runtime.stats import StreamStats

    options = StreamOptions(roi=parse_roi(roi), scale=scale, max_frames=max_frames)
    if stats is not None:
        if stats.suffix.lower() != ".json":
            raise InputError(expected("--stats", "a .json path", str(stats)))
        check_output(stats, force=force)
    if output is not None and output.suffix:
        check_output(output, force=force)
    from runtime.temporal import open_engine

    src = open_source(source)  # a wrong source fails before the model loads
    try:
        engine = open_engine(
            model, threads=threads, device=device.value, strength=strength, ensemble=ensemble
        )
    except BaseException:
        src.close()
        raise
    sinks = []
    try:
        if output is not None:
            sinks.append(open_output(output, src.fps, force=force))
        if show:
            sinks.append(WindowSink())
        stream_stats = StreamStats()
        if serve is not None:
            from runtime.serve import LiveView, parse_host_port

            host, port = parse_host_port(serve)
            view = LiveView(
                host,
                port,
                stats_fn=lambda: {**stream_stats.to_dict(), "model": engine.path.name},
            )
            sinks.append(view)
            typer.echo(f"live view: {view.url}", err=True)
            if host not in ("127.0.0.1", "localhost", "::1"):
                typer.echo(
                    f"edge-deblur: note: the live view on {host} is reachable from the network "
                    "without authentication",
                    err=True,
                )
        total = max_frames
        if not src.live and src.frame_count:
            total = min(src.frame_count, max_frames) if max_frames else src.frame_count
        if not show:
            sinks.append(_progress_sink(total, f"deblurring {Path(source).name or source}"))
    except BaseException:
        for s in sinks:
            s.close(ok=False)
        src.close()
        raise
    pipeline = Pipeline(src, engine, sinks, options, stats=stream_stats)
    result = pipeline.run()
    summary = result.to_dict()
    if stats is not None:
        _write_stats(stats, summary, force)
    _warn_rejected(pipeline, source)
    note = " (stopped by signal)" if pipeline.interrupted else ""
    typer.echo(f"{result.summary()}{note}", err=True)
    if result.frames == 0 and not pipeline.interrupted:
        raise InputError(
            f"--source {source!r}: expected frames to deblur, got none ({result.corrupt} "
            f"undecodable, {result.rejected} unusable skipped)"
        )
    if output is not None:
        typer.echo(f"wrote {output}", err=True)


def _warn_rejected(pipeline, name) -> None:
    """One warning line for the frames the stream skipped as unusable, with the first reason."""
    n = pipeline.stats.rejected
    if n:
        typer.echo(
            f"edge-deblur: warning: {name}: skipped {n} unusable frame(s); the first: "
            f"{' '.join(str(pipeline.first_rejection).split())}",
            err=True,
        )


def _is_video(p: Path) -> bool:
    return p.suffix.lower() in VIDEO_SUFFIXES


def _input_paths(inputs: list[str]) -> list[Path]:
    """The ``deblur`` inputs as paths, each checked to exist (an empty name is refused: Path('')
    would mean the current folder)."""
    from runtime.errors import InputError, expected

    paths = []
    for text in inputs:
        if not text.strip():
            raise InputError(expected("input", "an image, a folder or a video file", repr(text)))
        p = Path(text)
        if not p.exists():
            raise InputError(
                expected("input", "an existing image, folder or video file", text, "check the path")
            )
        paths.append(p)
    return paths


@app.command("deblur")
def deblur(
    inputs: list[str] = typer.Argument(..., help="Images, folders of images, or video files."),
    out: Path = typer.Option(
        ..., "-o", "--output", help="Output image/video file (one input) or folder."
    ),
    model: str = typer.Option("default", "--model", help=MODEL_HELP),
    threads: int = typer.Option(2, "--threads", min=1, help="Interpreter CPU threads."),
    device: DeviceChoice = typer.Option(DeviceChoice.cpu, "--device", help="cpu or edgetpu."),
    burst: bool = typer.Option(
        False,
        "--burst",
        help="The inputs are shots of one scene: align them (ECC, else ORB homography), fuse "
        "their sharpest regions, deblur the fused image into the one -o image.",
    ),
    strength: float = strength_option(),
    ensemble: int = ensemble_option(),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Deblur images, folders of images and videos (every frame, at the input size).

    With --burst, several shots of the same scene become one sharp image.
    """
    from runtime.errors import InputError, expected
    from runtime.io import IMAGE_SUFFIXES, check_output, list_images
    from runtime.temporal import open_engine

    paths = _input_paths(inputs)
    if burst:
        _deblur_burst(paths, out, model, threads, device.value, force, strength, ensemble)
        return
    jobs: list[tuple[Path, Path]] = []
    single = len(paths) == 1 and paths[0].is_file()
    if single and out.suffix:
        src = paths[0]
        want = VIDEO_SUFFIXES if _is_video(src) else IMAGE_SUFFIXES
        if out.suffix.lower() not in want:
            kind = "video" if _is_video(src) else "image"
            raise InputError(
                expected("-o", f"a {kind} file ({', '.join(want)}) or a folder", str(out))
            )
        jobs.append((src, out))
    else:
        if out.exists() and not out.is_dir():
            raise InputError(expected("-o", "a folder for several inputs", str(out)))
        for item in paths:
            files = list_images(item) if item.is_dir() else [item]
            if item.is_dir() and not files:
                raise InputError(expected("input", "a folder with images", str(item)))
            for f in files:
                suffix = ".avi" if f.suffix.lower() in (".webm", ".wmv", ".mpg", ".mpeg") else ""
                jobs.append((f, out / (f.stem + (suffix or f.suffix))))
    named = {p for p in paths if not p.is_dir()}
    seen: dict[Path, Path] = {}
    probed: set[Path] = set()  # the write probe once per folder, not once per image
    for src, dst in jobs:
        if dst in seen:
            raise InputError(
                expected("inputs", "distinct file names", f"{seen[dst]} and {src} -> {dst}")
            )
        seen[dst] = src
        check_output(dst, force=force, probe=dst.parent not in probed)
        probed.add(dst.parent)
    engine = open_engine(
        model, threads=threads, device=device.value, strength=strength, ensemble=ensemble
    )
    skipped: list[Path] = []
    for src, dst in jobs:
        if hasattr(engine, "reset"):
            engine.reset()  # a temporal model: every image or video is a new stream
        deblur_file = _deblur_video if _is_video(src) else _deblur_image
        if not deblur_file(engine, src, dst, force):
            skipped.append(src)
    msg = f"wrote {len(jobs) - len(skipped)} file(s) to {out}"
    if skipped:
        msg += f"; skipped {len(skipped)} unreadable"
    typer.echo(msg, err=True)
    # A bad file found in a folder is skipped with a warning; one named on the command line, or
    # a run that wrote nothing, is an error (exit 2) once the readable inputs are written.
    bad = [p for p in skipped if p in named] or (skipped if len(skipped) == len(jobs) else [])
    if bad:
        names = ", ".join(repr(str(p)) for p in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        some = len(skipped) < len(jobs)
        done = "the other inputs were written" if some else "nothing was written"
        raise InputError(
            f"input {names}{more}: expected a readable image or video, got an unreadable file; "
            + done
        )


def _deblur_burst(
    inputs: list[Path],
    out: Path,
    model: str,
    threads: int,
    device: str,
    force: bool,
    strength: float = 1.0,
    ensemble: int = 1,
) -> None:
    from runtime.burst import check_burst, deblur_burst
    from runtime.errors import InputError, expected
    from runtime.io import IMAGE_SUFFIXES, check_output, read_image, write_failed, write_image
    from runtime.temporal import open_engine

    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            expected("-o", f"one image file ({', '.join(IMAGE_SUFFIXES)}) for --burst", str(out))
        )
    for p in inputs:
        if not p.is_file() or _is_video(p):
            raise InputError(expected("--burst", "image files (the shots)", str(p)))
    check_output(out, force=force)
    shots = [read_image(p) for p in inputs]
    names = [p.name for p in inputs]
    check_burst(shots, names)  # before loading the model
    engine = open_engine(
        model, threads=threads, device=device, strength=strength, ensemble=ensemble
    )
    image, res = deblur_burst(shots, engine.process, names=names)
    try:
        write_image(out, image, force=force)
    except OSError as e:
        raise write_failed(out, e) from e
    how = ", ".join(f"{n}: {m}" for n, m in zip(names, res.methods, strict=True))
    typer.echo(
        f"fused {len(shots)} shots (reference {names[res.reference]}; {how}), wrote {out}",
        err=True,
    )


def _deblur_image(engine, src: Path, dst: Path, force: bool) -> bool:
    """Deblur one image file into ``dst``; False (with a warning) when it cannot be read."""
    from runtime.errors import InputError
    from runtime.io import read_image, write_image

    try:
        rgb = read_image(src)
    except InputError as e:
        typer.echo(f"edge-deblur: warning: skipped {e}", err=True)
        return False
    from runtime.io import write_failed

    try:
        write_image(dst, engine.process(rgb), force=force)
    except OSError as e:
        raise write_failed(dst, e) from e
    return True


def _deblur_video(engine, src: Path, dst: Path, force: bool) -> bool:
    """Deblur one video file into ``dst``; False (with a warning) when it cannot be opened or
    holds no decodable frame. A stop by Ctrl-C / SIGTERM keeps the frames done (the video is
    finalised) and ends the whole command with exit code 130."""
    from runtime.errors import InputError
    from runtime.pipeline import Pipeline
    from runtime.sinks import VideoSink
    from runtime.sources import open_video_file

    try:
        source = open_video_file(src, "input")
    except InputError as e:
        typer.echo(f"edge-deblur: warning: skipped {e}", err=True)  # like an unreadable image
        return False
    try:
        video = VideoSink(dst, source.fps, force=force)
    except BaseException:
        source.close()
        raise
    pipeline = Pipeline(source, engine, [video, _progress_sink(source.frame_count, src.name)])
    try:
        stats = pipeline.run()
    except InputError:
        if pipeline.interrupted:  # stopped before a frame was written: nothing to keep
            typer.echo(f"stopped by a signal before a frame of {src} was written", err=True)
            raise typer.Exit(130) from None
        if source.frames_read:  # frames were decoded: the output failed (e.g. odd sizes in .mp4)
            raise
        # It opened but gave no frame: a bad input like an unreadable image (the sink has
        # removed its temp file), not a failed output.
        typer.echo(
            f"edge-deblur: warning: skipped video {str(src)!r}: expected a video OpenCV can "
            "decode, got no decodable frame",
            err=True,
        )
        return False
    if stats.corrupt:
        typer.echo(
            f"edge-deblur: warning: {src}: skipped {stats.corrupt} corrupt frame(s)", err=True
        )
    _warn_rejected(pipeline, str(src))
    if pipeline.interrupted:  # Ctrl-C ends the batch, not just this video
        typer.echo(f"stopped by a signal after {stats.frames} frame(s) of {src}", err=True)
        raise typer.Exit(130)
    return True
