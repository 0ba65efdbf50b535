"""Issue 6's evidence: how long the blur of real pairs is, next to what the training blur reaches.

    .venv/bin/python benchmarks/scripts/blur_extent.py --force
    .venv/bin/python benchmarks/scripts/blur_extent.py --pairs ../shared/data/gopro_dev \
        --pairs runs/release/clip_a9 --pairs runs/release/clip_a13 --max-pairs 12 --force

For each pair (``DIR/blur/*.png`` with its ``DIR/sharp`` twin), cut ``--crop``-pixel crops on a
grid and, in linear light and grey, blur the sharp crop with straight motion streaks
(:func:`edge_deblur.data.kernels.linear_motion_kernel`) of every length in ``--lengths`` and 16
directions; the streak whose result is closest (mean squared error) to the blurred crop is that
crop's fitted blur. Length 0 is the sharp crop itself. Real blur is not always straight (rotation,
moving objects, shake), so a fitted length is the straight blur that explains the crop best, a
scale, not the exact kernel; the fit's PSNR against the blurred crop says how well it explains it.

Reported per pair: the median, 75th percentile and largest fitted length over its crops, and the
mean PSNR of the fit. Pairs whose name holds ``--train-scene`` (the 240 fps clip's scene) are
marked. The synthetic training blur is capped by ``BlurConfig.kernel_size`` (31 px by default):
no synthetic streak is longer.

A plain script (numpy + OpenCV, no TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PAIRS = ROOT.parent / "shared" / "data" / "gopro_dev"
LENGTHS = "0,2,4,6,8,12,16,20,24,28,32,40,48,56,64,80,96"
ANGLES = 16


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, action="append", help="GoPro-layout folder; repeatable.")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="blur_extent")
    ap.add_argument("--crop", type=int, default=256, help="Side of the fitted crops (px).")
    ap.add_argument(
        "--lengths", default=LENGTHS, help="Streak lengths tried (px), comma-separated."
    )
    ap.add_argument(
        "--max-pairs", type=int, default=0, help="Pairs per folder, evenly spaced (0: all)."
    )
    ap.add_argument("--train-scene", default="GOPR0477_11_00", help="Name part of training pairs.")
    ap.add_argument("--force", action="store_true", help="Overwrite the result files.")
    return ap.parse_args()


def _grey_linear(rgb: np.ndarray) -> np.ndarray:
    from edge_deblur.data.degrade import srgb_to_linear

    lin = srgb_to_linear(rgb.astype(np.float32) / 255.0)
    return (lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)).astype(np.float32)


def streaks(lengths: list[float]) -> list[tuple[float, np.ndarray | None]]:
    """(length, kernel) for every length and direction; ``None`` for length 0."""
    from edge_deblur.data.kernels import linear_motion_kernel

    size = int(max(lengths)) + 5
    size += size % 2 == 0
    out: list[tuple[float, np.ndarray | None]] = [(0.0, None)]
    for length in lengths:
        if length <= 0:
            continue
        for i in range(ANGLES):
            k = linear_motion_kernel(length, np.pi * i / ANGLES, size).astype(np.float32)
            out.append((float(length), k))
    return out


def fit_pair(blur: np.ndarray, sharp: np.ndarray, kernels: list, crop: int) -> dict:
    """Fitted straight-blur length of each crop of one pair (grey, linear light)."""
    from edge_deblur.data.degrade import convolve  # the training blur's own convolution

    b, s = _grey_linear(blur), _grey_linear(sharp)
    h, w = b.shape
    pad = max((k.shape[0] for _, k in kernels if k is not None), default=1) // 2 + 1
    ys = np.linspace(pad, h - crop - pad, max(1, (h - 2 * pad) // crop), dtype=int)
    xs = np.linspace(pad, w - crop - pad, max(1, (w - 2 * pad) // crop), dtype=int)
    if ys.min() < pad or xs.min() < pad:
        ys, xs = np.array([0]), np.array([0])
        pad = 0
    fits = []
    for y in ys:
        for x in xs:
            target = b[y : y + crop, x : x + crop]
            region = s[y - pad : y + crop + pad, x - pad : x + crop + pad]
            best = None
            for length, k in kernels:
                if k is None:
                    out = region[pad : pad + crop, pad : pad + crop]
                else:
                    out = convolve(region, k)[pad : pad + crop, pad : pad + crop]
                mse = float(np.mean((out - target) ** 2))
                if best is None or mse < best[0]:
                    best = (mse, length)
            fits.append(best)
    lengths = np.array([f[1] for f in fits])
    # PSNR of the fit in sRGB-free linear light: only a measure of how well a streak explains it.
    fit_db = float(np.mean([10 * np.log10(1.0 / max(f[0], 1e-12)) for f in fits]))
    return {
        "crops": int(len(fits)),
        "median_px": float(np.median(lengths)),
        "p75_px": float(np.percentile(lengths, 75)),
        "max_px": float(lengths.max()),
        "fit_psnr_linear_db": round(fit_db, 2),
    }


def measure(folders: list[Path], lengths: list[float], crop: int, max_pairs: int, scene: str):
    from runtime.io import read_image

    kernels = streaks(lengths)
    rows = []
    for folder in folders:
        names = sorted(p.name for p in (folder / "blur").glob("*.png"))
        if max_pairs and len(names) > max_pairs:
            names = [names[i] for i in np.linspace(0, len(names) - 1, max_pairs, dtype=int)]
        for name in names:
            blur = read_image(folder / "blur" / name)
            sharp = read_image(folder / "sharp" / name)
            row = {"folder": str(folder), "pair": Path(name).stem, "train_scene": scene in name}
            row.update(fit_pair(blur, sharp, kernels, crop))
            rows.append(row)
    return rows


def to_markdown(r: dict) -> str:
    lines = [
        "# How long the real blur is (issue 6)",
        "",
        f"Run {r['run_utc']}; command: `{r['command']}`. Straight streaks of {r['lengths']} px in "
        f"{ANGLES} directions fitted to {r['crop']}x{r['crop']} crops in linear light (script "
        "docstring: protocol). The synthetic training blur of the recipes stops at "
        "`kernel_size` px (31 unless a recipe sets it).",
        "",
        "| folder | pair | crops | fitted length median / p75 / max (px) | fit PSNR (linear) |",
        "|---|---|---|---|---|",
    ]
    for row in r["pairs"]:
        mark = " (train scene)" if row["train_scene"] else ""
        lines.append(
            f"| {Path(row['folder']).name} | {row['pair']}{mark} | {row['crops']} | "
            f"{row['median_px']:g} / {row['p75_px']:g} / {row['max_px']:g} | "
            f"{row['fit_psnr_linear_db']} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    from runtime.errors import InputError, OutputExistsError
    from runtime.io import atomic_write, check_output

    a = _args()
    folders = a.pairs or [PAIRS]
    try:
        try:
            lengths = [float(v) for v in a.lengths.split(",")]
        except ValueError:
            raise InputError(
                f"--lengths: expected comma-separated numbers, got {a.lengths!r}"
            ) from None
        if not lengths or min(lengths) < 0:
            raise InputError(f"--lengths: expected numbers >= 0, got {a.lengths!r}")
        if a.crop < 32:
            raise InputError(f"--crop: expected at least 32 px, got {a.crop}")
        for f in folders:
            if not (f / "blur").is_dir() or not (f / "sharp").is_dir():
                raise InputError(f"--pairs {f}: expected a folder with blur/ and sharp/")
        # Arguments first, outputs second: a bad argument leaves no folder behind.
        json_out, md_out = a.out / f"{a.name}.json", a.out / f"{a.name}.md"
        for p in (json_out, md_out):
            check_output(p, force=a.force)
        t0 = time.time()
        cmd = "python benchmarks/scripts/blur_extent.py " + " ".join(sys.argv[1:])
        result = {
            "run_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": cmd.strip(),
            "lengths": a.lengths,
            "crop": a.crop,
            "pairs": measure(folders, lengths, a.crop, a.max_pairs, a.train_scene),
        }
        result["seconds"] = round(time.time() - t0, 1)
    except (InputError, OutputExistsError) as e:
        print(f"blur_extent: {e}", file=sys.stderr)
        return 2
    atomic_write(json_out, json.dumps(result, indent=2) + "\n", force=a.force)
    atomic_write(md_out, to_markdown(result), force=a.force)
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
