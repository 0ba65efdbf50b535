"""Build the bundled demo clip: real motion blur with a sharp reference (the GoPro recipe).

Source: ``gopro_GOPR0477_11_00_raw240fps_299frames.mp4`` from the GoPro dataset (Nah, Kim and Lee,
CVPR 2017; CC BY 4.0), 299 raw 240 fps frames at 1280x720. Each demo frame averages ``--average``
consecutive raw frames (``edge_deblur.data.video.pairs_from_video``): by default on their sRGB
values, as gopro_dev and the GoPro benchmark's blur images were made (``--space linear`` averages
in linear light, the clip of stops up to 16); the middle frame is its sharp reference. Frames
are downsized to 640x360 and stored as two Motion-JPEG AVI files (quality 95, so the reference
itself is ~40+ dB from the lossless frames): ``blur.avi`` and ``sharp.avi`` in
``runtime/zoo/demo/``.

    .venv/bin/python benchmarks/scripts/make_demo_clip.py \
        --clip ../shared/data/video/gopro_GOPR0477_11_00_raw240fps_299frames.mp4
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edge_deblur.data.video import pairs_from_video
from runtime.io import atomic_path, read_image
from runtime.metrics import psnr

OUT = Path(__file__).resolve().parents[2] / "runtime" / "zoo" / "demo"


def write_avi(frames: list[np.ndarray], path: Path, fps: float, force: bool) -> None:
    h, w = frames[0].shape[:2]
    with atomic_path(path, force=force) as tmp:
        vw = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        vw.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
        for f in frames:
            vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        vw.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--average", type=int, default=9)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--size", default="640x360", help="WxH")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--space", choices=("srgb", "linear"), default="srgb", help="where to average")
    ap.add_argument(
        "--out", type=Path, default=OUT, help="folder for blur.avi, sharp.avi, clip.json"
    )
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        res = pairs_from_video(
            args.clip, args.average, tmp, stride=args.stride, resize=(w, h), space=args.space
        )
        blur = [read_image(Path(tmp) / "blur" / f"{n}.png") for n in res.names]
        sharp = [read_image(Path(tmp) / "sharp" / f"{n}.png") for n in res.names]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_avi(blur, out / "blur.avi", args.fps, args.force)
    write_avi(sharp, out / "sharp.avi", args.fps, args.force)
    # What the stored (JPEG-compressed) clip gives: blur-vs-sharp PSNR per frame as decoded.
    decoded = []
    for name in ("blur.avi", "sharp.avi"):
        cap = cv2.VideoCapture(str(out / name))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        decoded.append(frames)
    per = [psnr(b, s) for b, s in zip(*decoded, strict=True)]
    where = {
        "srgb": "the plain mean of their sRGB values, as gopro_dev",
        "linear": "averaged in linear light",
    }
    info = {
        "source": "GoPro dataset (Nah, Kim, Lee, CVPR 2017), GOPR0477_11_00 raw 240 fps frames",
        "licence": "CC BY 4.0",
        "recipe": f"average {args.average} consecutive 240 fps frames ({where[args.space]}), "
        f"window every {args.stride} frames, middle frame = sharp reference, resized to {w}x{h}",
        "frames": len(per),
        "fps": args.fps,
        "input_psnr_db": {
            "mean": float(np.mean(per)),
            "min": float(min(per)),
            "max": float(max(per)),
        },
        "command": "benchmarks/scripts/make_demo_clip.py --clip "
        "../shared/data/video/gopro_GOPR0477_11_00_raw240fps_299frames.mp4"
        + ("" if args.space == "srgb" else f" --space {args.space}"),
    }
    (out / "clip.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
