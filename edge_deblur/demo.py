"""``edge-deblur demo``: the main job on the bundled default.

The default model deblurs the bundled real clip (``runtime/zoo/demo/blur.avi``: GoPro-recipe motion
blur with a sharp reference, see ``runtime/zoo/NOTICE``) through the stream runtime, exactly as
``edge-deblur run`` would on a board. It writes into the output folder:

* ``side_by_side.avi``: blurred | deblurred, labelled;
* ``deblurred.avi``: the deblurred frames alone, at the input size and fps;
* ``stats.json``: the stream statistics (``edge-deblur run --stats`` format);
* ``quality.json``: PSNR/SSIM of the input and of the output against the sharp reference, per frame;
* ``bench/``: a bench report (``edge-deblur bench``) of the model on this host, with projections.

No TensorFlow: this imports ``runtime`` and ``benchmarks`` only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from runtime.errors import InputError, expected
from runtime.sinks import Sink, VideoSink
from runtime.sources import open_video_file

DEMO_DIR = Path(__file__).resolve().parents[1] / "runtime" / "zoo" / "demo"
OUTPUTS = ("side_by_side.avi", "deblurred.avi", "stats.json", "quality.json", "bench")


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured (all on this host)."""

    model: str
    frames: int
    fps: float
    invoke_ms: float
    input_psnr: float | None
    output_psnr: float | None
    input_ssim: float | None
    output_ssim: float | None
    out_dir: str
    files: list[str] = field(default_factory=list)
    interrupted: bool = False  # stopped by Ctrl-C / SIGTERM: the figures cover `frames` only

    @property
    def psnr_gain(self) -> float | None:
        if self.input_psnr is None or self.output_psnr is None:
            return None
        return self.output_psnr - self.input_psnr


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = img.copy()
    scale = max(0.4, img.shape[1] / 900)
    org = (8, int(24 * scale) + 4)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class SideBySideSink(Sink):
    """Writes ``original | deblurred`` side by side, labelled, into a video file."""

    def __init__(self, path: Path, fps: float | None, force: bool) -> None:
        self.video = VideoSink(path, fps, force=force)

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        both = np.hstack([_label(original, "blurred input"), _label(deblurred, "edge-deblur")])
        self.video.write(original, both)

    def close(self, ok: bool = True) -> None:
        self.video.close(ok=ok)


class ReferenceQualitySink(Sink):
    """Scores every frame against the next frame of a sharp reference video (same order)."""

    def __init__(self, reference: Path) -> None:
        self.ref = open_video_file(reference, "--reference")
        self.rows: list[dict] = []
        self.unscored = 0  # frames without a matching reference frame (corrupt or missing)

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        from runtime.metrics import psnr, ssim

        sharp = self.ref.read()
        if sharp is None or sharp.shape != original.shape:
            self.unscored += 1  # no reference for this frame: it is left out of the scores
            return
        self.rows.append(
            {
                "frame": len(self.rows),
                "input_psnr": psnr(original, sharp),
                "output_psnr": psnr(deblurred, sharp),
                "input_ssim": ssim(original, sharp),
                "output_ssim": ssim(deblurred, sharp),
            }
        )

    def close(self, ok: bool = True) -> None:
        self.ref.close()

    def mean(self, key: str) -> float | None:
        return float(np.mean([r[key] for r in self.rows])) if self.rows else None


def run_demo(
    out_dir: str | os.PathLike,
    model: str = "default",
    clip: str | os.PathLike | None = None,
    reference: str | os.PathLike | None = None,
    threads: int = 2,
    bench: bool = True,
    force: bool = False,
    on_step=None,
) -> DemoResult:
    """Run the demo; ``clip``/``reference`` default to the bundled pair of videos."""
    from runtime.engine import Engine
    from runtime.io import atomic_write, check_output
    from runtime.pipeline import Pipeline, StreamOptions
    from runtime.sinks import open_output

    out = Path(out_dir)
    clip_p = Path(clip) if clip is not None else DEMO_DIR / "blur.avi"
    ref_p = (
        Path(reference)
        if reference is not None
        else (DEMO_DIR / "sharp.avi" if clip is None else None)
    )
    if not clip_p.is_file():
        raise InputError(expected("--clip", "an existing video file", str(clip_p)))
    if ref_p is not None and not ref_p.is_file():
        raise InputError(expected("--reference", "an existing video file", str(ref_p)))
    if out.exists() and not out.is_dir():
        raise InputError(expected("--out", "a folder", f"existing file {str(out)!r}"))
    for name in OUTPUTS:  # refuse before any work is done
        if name != "bench":
            check_output(out / name, force=force)
        elif (out / name).exists() and any((out / name).iterdir()) and not force:
            check_output(out / name / "report.json", force=force)
    step = on_step or (lambda msg: None)

    clip_hw, clip_n = _video_shape(clip_p, "--clip")
    if ref_p is not None:  # a reference that cannot match frame for frame is a wrong input
        ref_hw, ref_n = _video_shape(ref_p, "--reference")
        if ref_hw != clip_hw:
            raise InputError(
                expected(
                    "--reference",
                    f"frames of the --clip's size ({clip_hw[1]}x{clip_hw[0]})",
                    f"{ref_hw[1]}x{ref_hw[0]} in {str(ref_p)!r}",
                )
            )
        if clip_n and ref_n and ref_n != clip_n:
            raise InputError(
                expected(
                    "--reference",
                    f"as many frames as the --clip ({clip_n})",
                    f"{ref_n} in {str(ref_p)!r}",
                )
            )
    engine = Engine(model, threads=threads)
    src = open_video_file(clip_p, "--clip")
    sinks: list[Sink] = []
    try:
        sinks.append(SideBySideSink(out / "side_by_side.avi", src.fps, force))
        sinks.append(open_output(out / "deblurred.avi", src.fps, force=force))
        quality = ReferenceQualitySink(ref_p) if ref_p is not None else None
        if quality is not None:
            sinks.append(quality)
    except BaseException:
        for s in sinks:
            s.close(ok=False)
        src.close()
        raise
    step(f"deblurring {clip_p.name} with {engine.path.name}")
    pipeline = Pipeline(src, engine, sinks, StreamOptions())
    stats = pipeline.run()
    summary = stats.to_dict()
    atomic_write(out / "stats.json", json.dumps(summary, indent=2) + "\n", force=force)
    result_q = {
        "clip": str(clip_p),
        "reference": str(ref_p) if ref_p else None,
        "model": str(engine.path),
        "frames_scored": len(quality.rows) if quality else 0,
        "frames_unscored": quality.unscored if quality else 0,
        "stopped_by_signal": pipeline.interrupted,
        "mean": {
            k: quality.mean(k) for k in ("input_psnr", "output_psnr", "input_ssim", "output_ssim")
        }
        if quality
        else None,
        "per_frame": quality.rows if quality else [],
        "label": "measured on this host",
    }
    atomic_write(out / "quality.json", json.dumps(result_q, indent=2) + "\n", force=force)
    files = ["side_by_side.avi", "deblurred.avi", "stats.json", "quality.json"]
    if bench and not pipeline.interrupted:  # a stop means stop: no minutes of benchmark after it
        from benchmarks.plots import write_plots
        from benchmarks.report import write_report
        from benchmarks.run import BenchSettings, run_bench

        step("benchmarking the model on this host")
        h, w = clip_hw
        settings = BenchSettings(
            models=(str(engine.path),),
            sizes=((w, h), (1280, 720)),
            threads=(threads,),
            min_time_s=0.5,
            baselines=False,
        )
        report = run_bench(settings)
        write_report(report, out / "bench", force=force)
        write_plots(report, out / "bench", force=force)
        files.append("bench/report.md")
    return DemoResult(
        model=engine.path.name,
        frames=summary["frames"],
        fps=summary["fps"],
        invoke_ms=summary["invoke_ms"]["mean"],
        input_psnr=quality.mean("input_psnr") if quality else None,
        output_psnr=quality.mean("output_psnr") if quality else None,
        input_ssim=quality.mean("input_ssim") if quality else None,
        output_ssim=quality.mean("output_ssim") if quality else None,
        out_dir=str(out),
        files=files,
        interrupted=pipeline.interrupted,
    )


def _video_shape(path: Path, option: str) -> tuple[tuple[int, int], int]:
    """((height, width) of the first frame, frame count from the container or 0) of a video."""
    src = open_video_file(path, option)
    try:
        frame = src.read()
        count = src.frame_count or 0
    finally:
        src.close()
    if frame is None:
        raise InputError(expected(option, "a video with frames", str(path)))
    return (frame.shape[0], frame.shape[1]), int(count)


def result_dict(r: DemoResult) -> dict:
    return {**asdict(r), "psnr_gain": r.psnr_gain}
