"""Quality on blurry/sharp pairs: PSNR and SSIM of the output and their gain over the input.

``--pairs DIR`` holds two subfolders with matching file names: the blurry frames (``blur/``,
``blurry/`` or ``input/``) and the sharp ones (``sharp/``, ``gt/`` or ``target/``), as in the
GoPro layout. Each pair is centre-cropped to the frame size's aspect ratio and resized to it (area
interpolation) so quality and latency are measured on the same frames, never stretched. Metrics
come from :mod:`runtime.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import InputError, expected
from runtime.io import list_images, read_image
from runtime.metrics import psnr, ssim

BLUR_DIRS = ("blur", "blurry", "input")
SHARP_DIRS = ("sharp", "gt", "target")


@dataclass(frozen=True)
class Pair:
    """One blurry frame and its sharp reference (RGB uint8, same shape)."""

    name: str
    blur: np.ndarray
    sharp: np.ndarray


@dataclass(frozen=True)
class Scores:
    """Mean PSNR/SSIM over pairs, for the output and for the blurry input."""

    pairs: int
    psnr: float
    ssim: float
    psnr_input: float
    ssim_input: float


def _find(folder: Path, names: Sequence[str]) -> Path | None:
    for n in names:
        if (folder / n).is_dir():
            return folder / n
    return None


def find_pairs(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """``(name, blurry path, sharp path)`` for every file name present in both subfolders."""
    f = Path(folder)
    if not f.is_dir():
        raise InputError(expected("--pairs", "a folder with blur/ and sharp/ subfolders", str(f)))
    bdir, sdir = _find(f, BLUR_DIRS), _find(f, SHARP_DIRS)
    if bdir is None or sdir is None:
        raise InputError(
            expected(
                "--pairs",
                f"subfolders {'|'.join(BLUR_DIRS)} and {'|'.join(SHARP_DIRS)} with matching names",
                str(f),
            )
        )
    sharp = {p.stem: p for p in list_images(sdir)}
    out = [(p.stem, p, sharp[p.stem]) for p in list_images(bdir) if p.stem in sharp]
    if not out:
        raise InputError(
            expected("--pairs", "at least one image name present in both subfolders", str(f))
        )
    return out


def _fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Centre-crop ``img`` to the aspect ratio of ``w x h``, then resize to it (area filter), so
    frames are never stretched: a 16:9 pair benchmarked at 640x480 loses its sides instead."""
    import cv2

    ih, iw = img.shape[:2]
    if iw * h > ih * w:  # too wide: crop the sides
        cw = max(1, round(ih * w / h))
        x0 = (iw - cw) // 2
        img = img[:, x0 : x0 + cw]
    elif iw * h < ih * w:  # too tall: crop top and bottom
        ch = max(1, round(iw * h / w))
        y0 = (ih - ch) // 2
        img = img[y0 : y0 + ch]
    if img.shape[:2] == (h, w):
        return np.ascontiguousarray(img)
    interp = cv2.INTER_AREA if img.shape[0] >= h else cv2.INTER_CUBIC
    return cv2.resize(img, (w, h), interpolation=interp)


def load_pairs(folder: str | Path, size: tuple[int, int], limit: int | None = None) -> list[Pair]:
    """Read up to ``limit`` pairs from ``folder``, cropped and resized to ``size`` = (w, h)."""
    w, h = size
    out = []
    for name, bp, sp in find_pairs(folder)[:limit]:
        b, s = read_image(bp), read_image(sp)
        if b.shape != s.shape:
            raise InputError(
                expected(f"pair {name!r}", "blurry and sharp of the same size", (b.shape, s.shape))
            )
        if b.shape[:2] != (h, w):
            b, s = (_fit(x, w, h) for x in (b, s))
        out.append(Pair(name, b, s))
    return out


def score(process: Callable[[np.ndarray], np.ndarray], pairs: Sequence[Pair]) -> Scores:
    """Run ``process`` on each blurry frame and average PSNR/SSIM against the sharp one."""
    if not pairs:
        raise InputError(expected("pairs", "at least one pair", "none"))
    po, so, pi, si = [], [], [], []
    for p in pairs:
        out = process(p.blur)
        if out.shape != p.sharp.shape:
            raise InputError(
                expected("model output", f"the frame's shape {p.sharp.shape}", out.shape)
            )
        po.append(min(psnr(out, p.sharp), 100.0))
        so.append(ssim(out, p.sharp))
        pi.append(min(psnr(p.blur, p.sharp), 100.0))
        si.append(ssim(p.blur, p.sharp))
    return Scores(
        pairs=len(pairs),
        psnr=float(np.mean(po)),
        ssim=float(np.mean(so)),
        psnr_input=float(np.mean(pi)),
        ssim_input=float(np.mean(si)),
    )
