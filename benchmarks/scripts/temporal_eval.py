"""Issue 7's evidence: the temporal model against the single-frame cnn on real blurred sequences.

    .venv/bin/python benchmarks/scripts/temporal_eval.py --work /tmp/temporal_eval --force

Protocol (every number in the output comes from this run):

1. The 240 fps GoPro clip (``--clip``, 299 raw frames) is downsized to ``--resize`` (area
   resampling) and written as a frame folder. Raw frames ``[0, --split)`` are for training, raw
   frames ``[--split, end)`` for evaluation only: no evaluation frame is ever seen in training.
2. Both models train with ``edge_deblur.train.train`` on the same sequence stream (GoPro-recipe
   windows of ``--average`` frames from the training part, ``--seq-len`` consecutive blurred
   frames per sample, same seed, batch, steps, learning rate): ``temporal`` with truncated BPTT
   through its state, ``cnn`` on the same frames as independent samples. Same size name (MACs
   per pixel within 5%), same budget.
3. Both convert to full int8 (uint8 I/O) at the padded frame size, so a frame is one
   interpreter run (one state for the whole frame), calibrated on pairs from the training part.
4. Evaluation part: every phase ``p`` in ``[0, --average)`` gives one real blurred video (windows
   ``split + p + k * average``) with its sharp centre frames. Each int8 model runs over each
   video through the runtime (``TemporalEngine`` for temporal: state from zero on the first
   frame, scene-cut detection on). Reported: PSNR/SSIM per frame (mean), PSNR by position in
   the video (the first frame has no history), the temporal-consistency error (mean absolute
   error between the output's and the sharp video's frame differences, 8-bit levels: lower
   means less flicker), LiteRT latency per frame on this host, and the resets the engine made.

A plain script (not part of the ``benchmarks`` package): training imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CLIP = Path("/work/shared/data/video/gopro_GOPR0477_11_00_raw240fps_299frames.mp4")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--work", type=Path, required=True, help="Scratch folder (runs, models).")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="temporal_eval", help="Result files: OUT/NAME.{json,md}.")
    ap.add_argument("--resize", default="640x360", help="WxH the clip is downsized to.")
    ap.add_argument("--split", type=int, default=150, help="First raw frame of the eval part.")
    ap.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        help="Sharp photo folder: synthetic coherent-shake sequences added to both models' data.",
    )
    ap.add_argument("--average", type=int, default=7)
    ap.add_argument("--seq-len", type=int, default=4)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="Keep runs/models already in --work.")
    ap.add_argument("--force", action="store_true", help="Overwrite the result files.")
    return ap.parse_args()


def write_frames(clip: Path, folder: Path, resize: tuple[int, int]) -> int:
    from edge_deblur.data.sequences import read_clip
    from runtime.io import write_image

    if folder.is_dir() and any(folder.iterdir()):
        return len(list(folder.iterdir()))
    folder.mkdir(parents=True, exist_ok=True)
    frames = read_clip(clip, resize=resize)
    for i, f in enumerate(frames):
        write_image(folder / f"{i:06d}.png", f)
    return len(frames)


def train_run(arch: str, a: argparse.Namespace, frames: Path, out: Path) -> dict:
    from edge_deblur.config import TrainConfig
    from edge_deblur.train import train

    cfg = TrainConfig(
        arch=arch,
        size=a.size,
        clips=(str(frames),),
        data=tuple(str(d) for d in a.data),
        clip_average=a.average,
        clip_frames=(0, a.split),
        seq_len=a.seq_len,
        steps=a.steps,
        batch=a.batch,
        patch=a.patch,
        lr=a.lr,
        warmup_steps=max(1, a.steps // 20),
        val_every=max(1, a.steps // 4),
        ckpt_every=a.steps,
        val_n=4,
        val_size=128,
        seed=0,
    )
    if a.reuse and (out / "model.keras").is_file():  # figures from the run's own log
        import csv

        with open(out / "log.csv", newline="") as f:
            last = list(csv.DictReader(f))[-1]
        log = {k: float(v) for k, v in last.items() if v not in ("", None)}
        return {"seconds": round(log["elapsed_s"], 1), "last_log": log, "reused": True}
    t = time.perf_counter()
    res = train(cfg, out, force=True, on_message=lambda m: print(f"[{arch}] {m}", flush=True))
    return {"seconds": round(time.perf_counter() - t, 1), "last_log": res.last_log}


def calibration_pairs(frames: Path, a: argparse.Namespace, folder: Path) -> Path:
    """GoPro pairs (stride = average) from the training part only, for int8 calibration."""
    from edge_deblur.data.sequences import ClipSequences, read_clip
    from runtime.io import write_image

    if (folder / "blur").is_dir():
        return folder
    seq = ClipSequences.from_frames(read_clip(frames, (0, a.split)), a.average)
    for i in range(0, len(seq.blurs), a.average):
        write_image(folder / "blur" / f"p{i:04d}.png", seq.blurs[i])
        write_image(folder / "sharp" / f"p{i:04d}.png", seq.sharps[i])
    return folder


def convert_run(run: Path, pairs: Path, size: tuple[int, int], out: Path, reuse: bool) -> dict:
    from converters.config import ConvertConfig
    from converters.convert import convert

    if reuse and out.is_file():
        return json.loads(out.with_suffix("").with_suffix(".report.json").read_text())
    cfg = ConvertConfig(
        quant="int8", pairs=str(pairs), input_size=size, calib_tiles=12, val_tiles=4
    )
    return convert(run, out, cfg, force=True).report


def eval_videos(frames: Path, a: argparse.Namespace) -> list[tuple[np.ndarray, np.ndarray]]:
    """One (blurred, sharp) uint8 video per phase of the evaluation part."""
    from edge_deblur.data.sequences import ClipSequences, read_clip

    seq = ClipSequences.from_frames(read_clip(frames, (a.split, 10**9)), a.average)
    videos = []
    for p in range(a.average):
        n = (len(seq.blurs) - p - 1) // a.average + 1
        videos.append(seq.sequence(p, n))
    return videos


def score_model(model: Path, videos, threads: int, reset_every_frame: bool = False) -> dict:
    """Score an int8 model over the videos; ``reset_every_frame`` (temporal only) zeroes the
    state before every frame: the same weights without any history (the state ablation)."""
    from runtime.metrics import psnr, ssim
    from runtime.temporal import TemporalEngine, open_engine

    engine = open_engine(model, threads=threads)
    if reset_every_frame:
        engine.cut_threshold = -1.0  # every frame counts as a cut
    per_frame, by_pos, consist, invoke, total = [], {}, [], [], []
    resets = 0
    for blur, sharp in videos:
        if isinstance(engine, TemporalEngine):
            engine.reset()
            before = engine.resets
        prev = None
        for t, (b, s) in enumerate(zip(blur, sharp, strict=True)):
            t0 = time.perf_counter_ns()
            y = engine.process(b)
            total.append((time.perf_counter_ns() - t0) / 1e6)
            invoke.append(engine.invoke_ms)
            p = psnr(y, s)
            per_frame.append((p, ssim(y, s)))
            by_pos.setdefault(t, []).append(p)
            if prev is not None:
                dy = y.astype(np.float32) - prev[0]
                ds = s.astype(np.float32) - prev[1]
                consist.append(float(np.mean(np.abs(dy - ds))))
            prev = (y.astype(np.float32), s.astype(np.float32))
        if isinstance(engine, TemporalEngine):
            resets += engine.resets - before
    m = np.array(per_frame)
    return {
        "psnr": round(float(m[:, 0].mean()), 3),
        "ssim": round(float(m[:, 1].mean()), 4),
        "psnr_by_position": {str(k): round(float(np.mean(v)), 3) for k, v in by_pos.items()},
        "tc_error": round(float(np.mean(consist)), 4),
        "invoke_ms_p50": round(float(np.median(invoke)), 2),
        "frame_ms_p50": round(float(np.median(total)), 2),
        "frames": len(per_frame),
        "state_resets": resets if isinstance(engine, TemporalEngine) else None,
        "macs_per_pixel": (engine.metadata or {}).get("macs_per_pixel"),
    }


def interleaved_latency(models: dict[str, Path], frame: np.ndarray, threads: int, rounds: int):
    """Per model, the median over ``rounds`` of the p50 of ``process(frame)`` (LiteRT), timing
    the models in turn within every round so that a change of machine load hits both alike."""
    from benchmarks.latency import time_callable
    from runtime.temporal import open_engine

    engines = {k: open_engine(v, threads=threads) for k, v in models.items()}
    p50s: dict[str, list[float]] = {k: [] for k in models}
    invoke: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds):
        for k, eng in engines.items():
            stats, _ = time_callable(lambda e=eng: e.process(frame), min_time_s=1.0, min_runs=3)
            p50s[k].append(stats.p50_ms)
            invoke[k].append(eng.invoke_ms)
    return {
        k: {
            "process_ms_p50": round(float(np.median(p50s[k])), 2),
            "invoke_ms_last": round(float(np.median(invoke[k])), 2),
            "rounds_p50_ms": [round(v, 2) for v in p50s[k]],
        }
        for k in models
    }


def score_input(videos) -> dict:
    from runtime.metrics import psnr, ssim

    rows, consist = [], []
    for blur, sharp in videos:
        for t in range(len(blur)):
            rows.append((psnr(blur[t], sharp[t]), ssim(blur[t], sharp[t])))
            if t:
                db = blur[t].astype(np.float32) - blur[t - 1]
                ds = sharp[t].astype(np.float32) - sharp[t - 1]
                consist.append(float(np.mean(np.abs(db - ds))))
    m = np.array(rows)
    return {
        "psnr": round(float(m[:, 0].mean()), 3),
        "ssim": round(float(m[:, 1].mean()), 4),
        "tc_error": round(float(np.mean(consist)), 4),
        "frames": len(rows),
    }


def to_markdown(r: dict) -> str:
    s = r["settings"]
    inp, cnn, tmp = r["input"], r["cnn"], r["temporal"]
    lines = [
        "# Temporal vs single-frame deblurring on real blurred sequences (issue 7)",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Clip `{s['clip']}` downsized to {s['resize']}; GoPro recipe: {s['average']} raw "
        f"240 fps frames averaged per blurred frame (a {240 / s['average']:.1f} fps video), the "
        "centre frame sharp. **Training used raw frames "
        f"[0, {s['split']}) only; evaluation uses raw frames [{s['split']}, {s['raw_frames']})**, "
        f"as {len(r['videos'])} videos (one per window phase) of {min(r['videos'])}-"
        f"{max(r['videos'])} blurred frames ({sum(r['videos'])} in all).",
        f"Both models: size `{s['size']}`, {s['steps']} steps, batch {s['batch']} sequences x "
        f"{s['seq_len']} frames of {s['patch']}x{s['patch']}, lr {s['lr']}, seed 0, same data "
        "stream (temporal: truncated BPTT; cnn: the same frames as independent samples)"
        + (
            f", clip windows mixed 1:1 per folder with synthetic coherent-shake sequences of the "
            f"photos in {', '.join(s['photos'])}. "
            if s.get("photos")
            else ". "
        )
        + f"int8 (uint8 I/O) at {s['input_size'][0]}x{s['input_size'][1]} (one run per frame), "
        "run by the runtime on this host "
        f"({s['threads']} threads, load average {r['loadavg']} at the start: shared machine).",
        "",
        "| | MACs/px | PSNR dB | SSIM | temporal-consistency error | invoke ms p50 | "
        "frame ms p50 |",
        "|---|---|---|---|---|---|---|",
        f"| blurred input | - | {inp['psnr']} | {inp['ssim']} | {inp['tc_error']} | - | - |",
    ]
    rows = [("cnn int8", cnn), ("temporal int8", tmp)]
    if "temporal_no_state" in r:
        rows.append(("temporal int8, state reset every frame", r["temporal_no_state"]))
    for name, m in rows:
        lines.append(
            f"| {name} | {m['macs_per_pixel']} | {m['psnr']} | {m['ssim']} | {m['tc_error']} | "
            f"{m['invoke_ms_p50']} | {m['frame_ms_p50']} |"
        )
    g, lat = r["gain"], r["latency"]
    lines += [
        "",
        f"Temporal vs cnn: PSNR {g['psnr_db']:+.3f} dB (frame 0, no history yet: "
        f"{g['psnr_db_frame0']:+.3f} dB; mean over frames 1+: {g['psnr_db_later_frames']:+.3f} "
        f"dB), SSIM {g['ssim']:+.4f}, temporal-consistency error {g['tc_error']:+.4f} levels "
        "(negative: less flicker). State resets by the cut detector beyond the one per video: "
        f"{tmp['state_resets'] - len(r['videos'])}."
        + (
            f" The same temporal weights with the state zeroed before every frame: PSNR "
            f"{r['temporal_no_state']['psnr']} dB, so the state itself is worth "
            f"{tmp['psnr'] - r['temporal_no_state']['psnr']:+.3f} dB."
            if "temporal_no_state" in r
            else ""
        ),
        "",
        f"Latency (LiteRT, {s['threads']} threads, one {s['input_size'][1]}x"
        f"{s['input_size'][0]} frame, the two models timed in turn over 5 rounds, median of the "
        f"rounds' p50): cnn {lat['cnn']['process_ms_p50']} ms, temporal "
        f"{lat['temporal']['process_ms_p50']} ms per frame (x{g['latency_ratio']:.3f}); the "
        f"fastest round of each (the least disturbed by other work): cnn "
        f"{min(lat['cnn']['rounds_p50_ms'])} ms, temporal {min(lat['temporal']['rounds_p50_ms'])}"
        f" ms (x{g['latency_ratio_min']:.3f}); load average {r['loadavg_end']} at the end, so "
        "these move with the machine's load. The per-frame columns of the table above were "
        "timed during scoring, one model after the other.",
        "",
        "PSNR by position in the video (frame 0 starts from the zero state):",
        "",
        "| position | " + " | ".join(cnn["psnr_by_position"]) + " |",
        "|---|" + "---|" * len(cnn["psnr_by_position"]),
        "| input | " + " | ".join(str(v) for v in r["input_by_position"].values()) + " |",
        "| cnn | " + " | ".join(str(v) for v in cnn["psnr_by_position"].values()) + " |",
        "| temporal | " + " | ".join(str(v) for v in tmp["psnr_by_position"].values()) + " |",
    ]
    if "temporal_no_state" in r:
        nos = r["temporal_no_state"]["psnr_by_position"].values()
        lines.append("| temporal, no state | " + " | ".join(str(v) for v in nos) + " |")
    lines += [
        "",
        "Training (validation on held-out sequences: windows at the end of the training part,"
        " and synthetic sequences of held-out photos when photos were used):",
        "",
        "| model | train s | val PSNR | val input PSNR |",
        "|---|---|---|---|",
    ]
    for name in ("cnn", "temporal"):
        t = r["training"][name]
        log = t.get("last_log") or {}
        lines.append(
            f"| {name} | {t.get('seconds', '-')} | {log.get('val_psnr', float('nan')):.3f} | "
            f"{log.get('val_input_psnr', float('nan')):.3f} |"
        )
    lines += ["", r["note"], ""]
    return "\n".join(lines)


def main() -> None:
    a = _args()
    from edge_deblur.data.video import parse_wxh
    from runtime.io import atomic_write, check_output

    json_out, md_out = a.out / f"{a.name}.json", a.out / f"{a.name}.md"
    for p in (json_out, md_out):
        check_output(p, force=a.force)
    load = os.getloadavg()[0]
    resize = parse_wxh(a.resize)
    a.work.mkdir(parents=True, exist_ok=True)
    frames = a.work / "frames"
    n_raw = write_frames(a.clip, frames, resize)
    training = {
        arch: train_run(arch, a, frames, a.work / f"run_{arch}") for arch in ("cnn", "temporal")
    }
    pairs = calibration_pairs(frames, a, a.work / "calib_pairs")
    mult = 8
    size = (-(-resize[1] // mult) * mult, -(-resize[0] // mult) * mult)
    reports = {
        arch: convert_run(a.work / f"run_{arch}", pairs, size, a.work / f"{arch}.tflite", a.reuse)
        for arch in ("cnn", "temporal")
    }
    videos = eval_videos(frames, a)
    result = {
        "settings": {
            "clip": str(a.clip),
            "photos": [str(d) for d in a.data],
            "resize": a.resize,
            "raw_frames": n_raw,
            "split": a.split,
            "average": a.average,
            "seq_len": a.seq_len,
            "size": a.size,
            "steps": a.steps,
            "batch": a.batch,
            "patch": a.patch,
            "lr": a.lr,
            "threads": a.threads,
            "input_size": list(size),
        },
        "command": "python benchmarks/scripts/temporal_eval.py " + " ".join(sys.argv[1:]),
        "loadavg": round(load, 2),
        "videos": [len(b) for b, _ in videos],
        "training": training,
        "conversion": {
            k: {"validation": v["validation"], "integer_only": v["integer_only"]}
            for k, v in reports.items()
        },
        "input": score_input(videos),
        "cnn": score_model(a.work / "cnn.tflite", videos, a.threads),
        "temporal": score_model(a.work / "temporal.tflite", videos, a.threads),
        "temporal_no_state": score_model(
            a.work / "temporal.tflite", videos, a.threads, reset_every_frame=True
        ),
    }
    result["latency"] = interleaved_latency(
        {"cnn": a.work / "cnn.tflite", "temporal": a.work / "temporal.tflite"},
        videos[0][0][0],
        a.threads,
        rounds=5,
    )
    result["loadavg_end"] = round(os.getloadavg()[0], 2)
    from runtime.metrics import psnr

    by_pos: dict[str, list[float]] = {}
    for blur, sharp in videos:
        for t in range(len(blur)):
            by_pos.setdefault(str(t), []).append(psnr(blur[t], sharp[t]))
    result["input_by_position"] = {k: round(float(np.mean(v)), 3) for k, v in by_pos.items()}
    c, t = result["cnn"], result["temporal"]
    result["gain"] = {
        "psnr_db": round(t["psnr"] - c["psnr"], 3),
        "ssim": round(t["ssim"] - c["ssim"], 4),
        "tc_error": round(t["tc_error"] - c["tc_error"], 4),
        "latency_ratio": round(
            result["latency"]["temporal"]["process_ms_p50"]
            / result["latency"]["cnn"]["process_ms_p50"],
            3,
        ),
        "latency_ratio_min": round(
            min(result["latency"]["temporal"]["rounds_p50_ms"])
            / min(result["latency"]["cnn"]["rounds_p50_ms"]),
            3,
        ),
        "psnr_db_frame0": round(t["psnr_by_position"]["0"] - c["psnr_by_position"]["0"], 3),
        "psnr_db_later_frames": round(
            float(
                np.mean(
                    [
                        t["psnr_by_position"][k] - c["psnr_by_position"][k]
                        for k in c["psnr_by_position"]
                        if k != "0"
                    ]
                )
            ),
            3,
        ),
    }
    result["note"] = (
        "Small budgets on a shared 2-core machine: these figures compare the two designs at an "
        "equal, short training budget on one scene; they are not the quality either model "
        "reaches with a full training run."
    )
    if any(t.get("reused") for t in training.values()):
        result["note"] += (
            " --reuse: the runs and .tflite files in --work were made by an earlier invocation "
            "with the same settings (without --reuse); training figures come from their log.csv "
            "(train s = the loop's elapsed_s); scoring and latency were measured by this one."
        )
    atomic_write(json_out, json.dumps(result, indent=2) + "\n", force=a.force)
    atomic_write(md_out, to_markdown(result), force=a.force)
    print(to_markdown(result))


if __name__ == "__main__":
    main()
