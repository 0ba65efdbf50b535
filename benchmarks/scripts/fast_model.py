"""Why the bundled default (cnn-faster-lc) is a stem-2 cnn run on whole 640x480 frames (issue 6).

Builds the architectures of the bundled recipes from the registry (fresh weights: int8 latency
does not depend on the weight values), converts each to full int8 with the project's converter
at two fixed input sizes (256x256 tiles, and 480x640 = one whole VGA frame), and benchmarks every
file at 640x480 and 1280x720 with the bench tool: measured on this host, projected for the boards
from the device profiles (benchmarks/profiles). Writes ``OUT.md`` and ``OUT.json``.

    .venv/bin/python benchmarks/scripts/fast_model.py --data DIR [--work DIR] [--out PATH] [--force]

``--data``: any folder of photos for int8 calibration (e.g. ../shared/data/sharp_photos/kodak24).
Timings come from whatever machine runs it; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.io import atomic_write  # noqa: E402

# The architectures of edge_deblur/recipes/*.yaml (widths, blocks, stem, lowcut, down).
DESIGNS = {
    "cnn-lite (stem 1)": {"widths": (8, 16, 40, 64), "blocks": (0, 1, 2, 3)},
    "cnn-fast (stem 2)": {"widths": (16, 32, 64), "blocks": (1, 2, 2), "stem": 2},
    "cnn-fast-lc (stem 2, lowcut 32)": {
        "widths": (16, 32, 64),
        "blocks": (1, 2, 2),
        "stem": 2,
        "lowcut": 32,
    },
    "cnn-faster-lc (stem 2, 16/24/64, lowcut 32)": {
        "widths": (16, 24, 64),
        "blocks": (1, 2, 2),
        "stem": 2,
        "lowcut": 32,
    },
    "cnn-fastest-lc (stem 2, 16/24/64, blocks 0/2/2, lowcut 32)": {
        "widths": (16, 24, 64),
        "blocks": (0, 2, 2),
        "stem": 2,
        "lowcut": 32,
    },
    "cnn-faster-sd (stem 2, 16/24/64, lowcut 32, separable downs)": {
        "widths": (16, 24, 64),
        "blocks": (1, 2, 2),
        "stem": 2,
        "lowcut": 32,
        "down": "sep",
    },
}
INPUT_SIZES = ((256, 256), (480, 640))  # (H, W)
FRAME_SIZES = ((640, 480), (1280, 720))  # (W, H)
PROFILES = ("rpi4", "rpi5", "coral-usb")
THREADS = 2


def _slug(name: str) -> str:
    return name.split(" ")[0]


def build_files(data: Path, work: Path) -> list[dict]:
    from converters.config import ConvertConfig
    from converters.convert import convert
    from edge_deblur import models

    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, spec in DESIGNS.items():
        keras_path = work / f"{_slug(name)}.keras"
        models.build_generator("cnn", "small", **spec).save(keras_path)
        info = models.describe("cnn", "small", **spec)
        for h, w in INPUT_SIZES:
            out = work / f"{_slug(name)}-int8-{h}x{w}.tflite"
            cfg = ConvertConfig(
                quant="int8", data=str(data), input_size=(h, w), calib_tiles=16, val_tiles=4
            )
            convert(keras_path, out, cfg, force=True)
            rows.append(
                {
                    "design": name,
                    "macs_per_pixel": round(info.macs_per_pixel, 1),
                    "params": info.params,
                    "input": f"{h}x{w}",
                    "file": str(out),
                    "bytes": out.stat().st_size,
                }
            )
    return rows


def bench(files: list[dict]) -> dict:
    from benchmarks.run import BenchSettings, run_bench

    report = run_bench(
        BenchSettings(
            models=tuple(f["file"] for f in files),
            sizes=FRAME_SIZES,
            threads=(THREADS,),
            profiles=PROFILES,
            baselines=False,
            min_time_s=2.0,
            min_runs=5,
        )
    )
    by_path = {f["file"]: f for f in files}
    rows = []
    for m in report.measurements:
        f = by_path.get(m.path) or next(v for k, v in by_path.items() if Path(k).stem == m.model)
        proj = {
            p.profile: p.fps
            for p in report.projections
            if p.model == m.model and p.size == m.size and p.variant == m.variant
        }
        rows.append(
            {
                **{k: f[k] for k in ("design", "macs_per_pixel", "input", "bytes")},
                "frame": m.size,
                "tiles": m.tiles,
                "host_ms": round(m.latency.mean_ms, 2),
                "host_fps": round(m.latency.fps, 2),
                "efficiency": None if m.efficiency is None else round(m.efficiency, 3),
                "projected_fps": {k: None if v is None else round(v, 1) for k, v in proj.items()},
            }
        )
    return {"rows": rows, "reference_gmacs": [r.gmacs for r in report.reference]}


def render(r: dict) -> str:
    lines = [
        "# Bundled-model speed: stem 1 vs stem 2, tiles vs whole frames (issue 6)",
        "",
        f"Run {r['when']} on {r['host']}; command: `{r['command']}`. Fresh weights (int8 latency "
        "does not depend on their values), full int8 with uint8 I/O, converted by "
        "`converters.convert`. Host figures are **measured on this host** with "
        f"{THREADS} threads; board figures are **projected** from benchmarks/profiles (host "
        "efficiency carried over, see benchmarks/SCHEMA.md), not measured on a board.",
        "",
        "| design | MAC/px | model input | bytes | frame | tiles | host ms | host FPS | "
        "efficiency | rpi4 FPS (proj.) | rpi5 FPS (proj.) | coral-usb FPS (proj.) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["rows"]:
        p = x["projected_fps"]
        lines.append(
            f"| {x['design']} | {x['macs_per_pixel']:.0f} | {x['input']} | {x['bytes']} | "
            f"{x['frame']} | {x['tiles']} | {x['host_ms']:.1f} | {x['host_fps']:.1f} | "
            f"{x['efficiency']} | {p.get('rpi4')} | {p.get('rpi5')} | {p.get('coral-usb')} |"
        )
    lines += [
        "",
        "Efficiency: the model's G MAC/s over the reference MobileNetV2-style int8 net's on this "
        "host (benchmarks/reference.py). 256x256 tiles add overlap and per-tile host work; stem 2 "
        "removes the full-resolution level's MACs; lowcut adds no MACs but a full-resolution "
        "bilinear up-sampling (RESIZE_BILINEAR) and AVERAGE_POOL_2D (which XNNPACK does not take), "
        "which shows as lower efficiency; blocks 0/2/2 drops the half-resolution encoder block. "
        "Every int8 file went through the converter's no-op pass (the float clip's MINIMUM + "
        "RELU after the saturating ADD removed, converters/simplify.py). Host timings on this "
        "shared 2-core machine vary by 10-30 % between runs; compare rows of one run.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="photos for int8 calibration")
    ap.add_argument("--work", type=Path, default=Path("/tmp/edge_deblur_fast_model"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fast_model")
    ap.add_argument("--force", action="store_true", help="overwrite existing results")
    a = ap.parse_args()
    md, js = a.out.with_suffix(".md"), a.out.with_suffix(".json")
    if not a.data.is_dir():
        print(f"error: --data {str(a.data)!r}: expected a folder of photos", file=sys.stderr)
        return 2
    if (md.exists() or js.exists()) and not a.force:
        print(f"error: {md} exists; pass --force to overwrite", file=sys.stderr)
        return 2
    t0 = time.time()
    files = build_files(a.data, a.work)
    result = bench(files)
    result.update(
        when=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        host=f"{platform.machine()}, {platform.python_version()}",
        command=f"python benchmarks/scripts/fast_model.py --data {a.data} --force",
        seconds=round(time.time() - t0, 1),
        files=files,
    )
    atomic_write(js, (json.dumps(result, indent=2) + "\n").encode(), force=a.force)
    atomic_write(md, render(result).encode(), force=a.force)
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
