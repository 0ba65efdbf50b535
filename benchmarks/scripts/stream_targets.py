"""Check the two stream targets of issue 4 and write benchmarks/results/stream_targets.{json,md}.

1. Throughput: on a video file, with 2 interpreter threads, the pipeline's stream FPS must be at
   least 0.9 x 1 / (mean interpreter time per frame): capture, pre- and post-processing are hidden
   behind inference. Measured on a synthetic MJPG video written to a temp folder.
2. Soak: 10,000 frames through the pipeline (a looping in-memory source, small frames) keep the
   resident set size flat: growth under 5 % from after warm-up to the end.

Model: ``tests/data/int8_uint8io_64_w16.tflite`` by default (full int8, uint8 I/O, fixed 64x64,
a residual 3-conv net of width 16: 3168 MAC/pixel, so a frame is several tiles), or ``--model``.

    .venv/bin/python benchmarks/scripts/stream_targets.py [--model M] [--frames N] [--force]

The numbers come from whatever machine runs it; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from runtime.engine import Engine  # noqa: E402
from runtime.io import atomic_write  # noqa: E402
from runtime.pipeline import Pipeline  # noqa: E402
from runtime.sinks import Sink, VideoSink  # noqa: E402
from runtime.sources import ArraySource, open_source, synthetic_frames  # noqa: E402

DEFAULT_MODEL = ROOT / "tests" / "data" / "int8_uint8io_64_w16.tflite"
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class ThroughputResult:
    model: str
    frame_size: list[int]  # [width, height]
    tiles_per_frame: int
    threads: int
    frames: int
    stream_fps: float
    invoke_ms_mean: float
    invoke_bound_fps: float  # 1 / mean invoke time per frame
    ratio: float  # stream_fps / invoke_bound_fps
    target_ratio: float
    passed: bool
    stages_ms: dict
    latency_ms: dict
    serial_fps: float  # the same frames through Engine.process in one thread, for comparison


@dataclass(frozen=True)
class SoakResult:
    model: str
    frame_size: list[int]
    frames: int
    seconds: float
    fps: float
    rss_mb_start: float  # after a 300-frame warm-up
    rss_mb_end: float
    rss_mb_max: float
    growth_pct: float
    target_pct: float
    passed: bool


class _Null(Sink):
    """Discards frames (the soak measures the pipeline, not a disk)."""

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        pass


class _RssProbe(Sink):
    """Samples resident memory every ``every`` frames from the output thread."""

    def __init__(self, every: int = 250, warmup: int = 300) -> None:
        self.every, self.warmup, self.n = every, warmup, 0
        self.samples: list[tuple[int, float]] = []

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        self.n += 1
        if self.n >= self.warmup and (self.n - self.warmup) % self.every == 0:
            self.samples.append((self.n, rss_mb()))


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; ru_maxrss elsewhere, a peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    sink = VideoSink(path, fps, force=True)
    for f in frames:
        sink.write(f, f)
    sink.close()


def throughput(model: Path, width: int, height: int, frames: int, threads: int) -> ThroughputResult:
    """Stream a video file through the pipeline; compare FPS with 1 / mean invoke time."""
    engine = Engine(model, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.avi"
        _write_video(video, synthetic_frames(frames, height, width))
        for _ in range(3):  # warm-up: allocation, XNNPACK packing, caches
            engine.process(synthetic_frames(1, height, width)[0])
        t = time.perf_counter()
        src = open_source(video)
        serial = 0
        while (f := src.read()) is not None:
            engine.process(f)
            serial += 1
        serial_fps = serial / (time.perf_counter() - t)
        src = open_source(video)
        stats = Pipeline(src, engine, [VideoSink(Path(tmp) / "out.avi", src.fps)]).run()
    d = stats.to_dict()
    inv = d["invoke_ms"]["mean"]
    bound = 1000.0 / inv if inv > 0 else 0.0
    ratio = d["fps"] / bound if bound else 0.0
    return ThroughputResult(
        model=model.name,
        frame_size=[width, height],
        tiles_per_frame=engine.tile_count(height, width),
        threads=threads,
        frames=d["frames"],
        stream_fps=round(d["fps"], 2),
        invoke_ms_mean=inv,
        invoke_bound_fps=round(bound, 2),
        ratio=round(ratio, 3),
        target_ratio=0.9,
        passed=ratio >= 0.9,
        stages_ms=d["stages_ms"],
        latency_ms=d["latency_ms"],
        serial_fps=round(serial_fps, 2),
    )


def soak(model: Path, width: int, height: int, frames: int, threads: int) -> SoakResult:
    """Run ``frames`` frames from a looping source; compare RSS after warm-up with the end."""
    engine = Engine(model, threads=threads)
    probe = _RssProbe()
    src = ArraySource(synthetic_frames(16, height, width), total=frames)
    t = time.perf_counter()
    stats = Pipeline(src, engine, [_Null(), probe]).run()
    seconds = time.perf_counter() - t
    start = probe.samples[0][1] if probe.samples else rss_mb()
    end = rss_mb()
    peak = max([s for _, s in probe.samples] + [end])
    growth = (end - start) / start * 100.0
    return SoakResult(
        model=model.name,
        frame_size=[width, height],
        frames=stats.frames,
        seconds=round(seconds, 1),
        fps=round(stats.frames / seconds, 1),
        rss_mb_start=round(start, 2),
        rss_mb_end=round(end, 2),
        rss_mb_max=round(peak, 2),
        growth_pct=round(growth, 2),
        target_pct=5.0,
        passed=growth < 5.0 and stats.frames == frames,
    )


def render_markdown(result: dict) -> str:
    """The Markdown report of a result dict (as written to JSON)."""
    t, s, env = result["throughput"], result["soak"], result["environment"]
    ok = {True: "PASS", False: "FAIL"}
    lines = [
        "# Stream targets (issue 4)",
        "",
        f"Run {result['created']} on {env['machine']} ({env['cpus']} CPUs, Python "
        f"{env['python']}); command: `{result['command']}`. The machine was shared with other "
        "jobs, so the figures are noisy.",
        "",
        "## Throughput: stream FPS >= 0.9 x 1 / mean invoke time per frame",
        "",
        f"Model `{t['model']}`, video file {t['frame_size'][0]}x{t['frame_size'][1]} "
        f"({t['tiles_per_frame']} tiles/frame), {t['threads']} threads, {t['frames']} frames.",
        "",
        "| stream FPS | mean invoke / frame | 1 / invoke | ratio | target | result |",
        "|---|---|---|---|---|---|",
        f"| {t['stream_fps']} | {t['invoke_ms_mean']} ms | {t['invoke_bound_fps']} FPS | "
        f"{t['ratio']} | >= {t['target_ratio']} | {ok[t['passed']]} |",
        "",
        f"Same frames through `Engine.process` in one thread (no pipeline): {t['serial_fps']} FPS.",
        "Stage means (ms): "
        + ", ".join(f"{k} {v}" for k, v in t["stages_ms"].items())
        + f"; latency p50/p90/p99 {t['latency_ms']['p50']}/{t['latency_ms']['p90']}/"
        f"{t['latency_ms']['p99']} ms.",
        "",
        "## Soak: resident memory flat over a long stream (growth < 5 %)",
        "",
        f"Model `{s['model']}`, {s['frame_size'][0]}x{s['frame_size'][1]} frames from a looping "
        f"in-memory source, {s['frames']} frames in {s['seconds']} s ({s['fps']} FPS).",
        "",
        "| RSS after warm-up | RSS at end | peak | growth | target | result |",
        "|---|---|---|---|---|---|",
        f"| {s['rss_mb_start']} MiB | {s['rss_mb_end']} MiB | {s['rss_mb_max']} MiB | "
        f"{s['growth_pct']} % | < {s['target_pct']} % | {ok[s['passed']]} |",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--size", default="320x240", help="throughput frame WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=300, help="throughput video frames")
    parser.add_argument("--soak-frames", type=int, default=10_000)
    parser.add_argument("--soak-size", default="64x48", help="soak frame WIDTHxHEIGHT")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "stream_targets")
    parser.add_argument("--force", action="store_true", help="overwrite existing results")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    sw, sh = (int(v) for v in args.soak_size.split("x"))
    tp = throughput(args.model, w, h, args.frames, args.threads)
    sk = soak(args.model, sw, sh, args.soak_frames, args.threads)
    result = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python benchmarks/scripts/stream_targets.py "
        + " ".join(a for a in sys.argv[1:] if a != "--force"),
        "environment": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg": [round(v, 2) for v in os.getloadavg()],
        },
        "throughput": asdict(tp),
        "soak": asdict(sk),
    }
    out = args.out
    atomic_write(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n", force=args.force)
    atomic_write(out.with_suffix(".md"), render_markdown(result), force=args.force)
    print(render_markdown(result))
    return 0 if tp.passed and sk.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
