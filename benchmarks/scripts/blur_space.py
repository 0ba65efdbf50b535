"""Issue 6's evidence: does a model's gain depend on how the frames were averaged into blur?

    .venv/bin/python benchmarks/scripts/blur_space.py --models default --force

``gopro_dev`` (and the GoPro benchmark's ``blur`` images) are the plain mean of the 8-bit frames:
an average in sRGB space. A camera integrates light, so an average in linear light is the
physical blur, and it is what the bundled models trained on. The two differ most at
high-contrast edges (the mean of black and white is sRGB 0.5 in the one, 0.735 in the other).

This script cuts the same windows of ``--average`` frames from a 240 fps clip (one every
``--stride`` frames), averages each both ways (``edge_deblur.data.video.pairs_from_video``,
``space="linear"`` and ``"srgb"``), keeps frame ``N // 2`` as the sharp target (the GoPro
recipe), and reports each model's mean PSNR gain over the input on both sets, through the
runtime (``runtime.engine.Engine``, tiled as on a board). The default clip is the scene the
bundled models trained on, so the gains are training-scene figures; what the script compares is
the difference between the two averagings on the same frames.

Writes ``OUT/NAME.md`` and ``OUT/NAME.json``. Measured on this host; no board involved.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CLIP = ROOT.parent / "shared" / "data" / "video" / "gopro_GOPR0477_11_00_raw240fps_299frames.mp4"
SPACES = ("linear", "srgb")


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["default"], help="bundled names or .tflite")
    ap.add_argument("--clip", type=Path, default=CLIP, help="high-frame-rate clip (or folder)")
    ap.add_argument("--average", type=int, default=8, help="frames per window (gopro_dev: 8-10)")
    ap.add_argument("--stride", type=int, default=30, help="frames between window starts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="blur_space")
    ap.add_argument("--force", action="store_true", help="overwrite the result files")
    return ap.parse_args()


def make_sets(clip: Path, average: int, stride: int, root: Path) -> dict[str, Path]:
    """The same windows of ``clip`` averaged both ways, as GoPro-layout folders under ``root``."""
    from edge_deblur.data.video import pairs_from_video

    return {
        s: pairs_from_video(clip, average, root / s, stride=stride, space=s).out for s in SPACES
    }


def gains(eng, folder: Path) -> list[dict]:
    """Per pair: input PSNR and the output PSNR of ``eng`` (an Engine) against the sharp frame."""
    from edge_deblur.data import load_pairs
    from runtime.io import read_image
    from runtime.metrics import psnr

    rows = []
    for p in load_pairs(folder):
        blur, sharp = read_image(p.blur_path), read_image(p.sharp_path)
        rows.append(
            {
                "pair": p.name,
                "input_psnr": round(float(psnr(blur, sharp)), 3),
                "output_psnr": round(float(psnr(eng.process(blur), sharp)), 3),
            }
        )
    return rows


def measure(models: list[str], sets: dict[str, Path], threads: int) -> list[dict]:
    from runtime.engine import Engine

    out = []
    for m in models:
        eng = Engine(m, threads=threads)  # one interpreter per model, for both sets
        row: dict = {"model": m}
        for s, folder in sets.items():
            pairs = gains(eng, folder)
            g = [r["output_psnr"] - r["input_psnr"] for r in pairs]
            row[s] = {
                "pairs": pairs,
                "input_psnr": round(float(np.mean([r["input_psnr"] for r in pairs])), 3),
                "gain": round(float(np.mean(g)), 3),
                "worst": round(float(np.min(g)), 3),
            }
        out.append(row)
    return out


def to_markdown(r: dict) -> str:
    lines = [
        "# Blur averaged in linear light or in sRGB: the same frames, two blurs (issue 6)",
        "",
        f"Run {r['created']}; command: `{r['command']}`. Clip `{r['clip']}`: windows of "
        f"{r['average']} frames every {r['stride']} frames ({r['n_pairs']} pairs), frame "
        f"N // 2 as the sharp target. `linear`: the frames averaged in linear light (the "
        "bundled models' training blur); `srgb`: the plain mean of the encoded frames (how "
        "gopro_dev and the GoPro benchmark's blur images were made). Gains are mean PSNR over "
        "the input through the runtime, measured on this host. The clip is the bundled models' "
        "training scene: compare the columns, not the level.",
        "",
        "| model | linear: input dB | linear: gain | linear: worst | srgb: input dB | srgb: gain "
        "| srgb: worst |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in r["models"]:
        a, b = m["linear"], m["srgb"]
        lines.append(
            f"| {m['model']} | {a['input_psnr']:.2f} | {a['gain']:+.3f} | {a['worst']:+.3f} | "
            f"{b['input_psnr']:.2f} | {b['gain']:+.3f} | {b['worst']:+.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    from runtime.errors import EdgeDeblurError
    from runtime.io import atomic_write, check_output

    a = _args()
    md, js = a.out / f"{a.name}.md", a.out / f"{a.name}.json"
    try:
        for p in (md, js):
            check_output(p, force=a.force)
        with tempfile.TemporaryDirectory(prefix="blur_space_") as tmp:
            sets = make_sets(a.clip, a.average, a.stride, Path(tmp))
            n_pairs = len(list((sets["srgb"] / "blur").glob("*.png")))
            rows = measure(a.models, sets, a.threads)
    except EdgeDeblurError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python benchmarks/scripts/blur_space.py " + " ".join(sys.argv[1:]),
        "clip": a.clip.name,
        "average": a.average,
        "stride": a.stride,
        "n_pairs": n_pairs,
        "models": rows,
    }
    atomic_write(js, json.dumps(result, indent=2) + "\n", force=a.force)
    text = to_markdown(result)
    atomic_write(md, text, force=a.force)
    print(text, end="")
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
