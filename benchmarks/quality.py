"""Quality on blurry/sharp pairs: PSNR and SSIM of the output and their gain over the input.

``--pairs DIR`` holds two subfolders with matching file names: the blurry frames (``blur/``,
``blurry/`` or ``input/``) and the sharp ones (``sharp/``, ``gt/`` or ``target/``), as in the
GoPro layout. Each pair is resized to the benchmark frame size (area interpolation) so quality and
latency are measured on the same frames. Metrics come from :mod:`runtime.metrics`.
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


def load_pairs(folder: str | Path, size: tuple[int, int], limit: int | None = None) -> list[Pair]:
    """Read up to ``limit`` pairs from ``folder`` resized to ``size`` = (width, height)."""
    import cv2

    w, h = size
    out = []
    for name, bp, sp in find_pairs(folder)[:limit]:
        b, s = read_image(bp), read_image(sp)
        if b.shape != s.shape:
            raise InputError(
                expected(f"pair {name!r}", "blurry and sharp of the same size", (b.shape, s.shape))
            )
        if b.shape[:2] != (h, w):
            b = cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA)
            s = cv2.resize(s, (w, h), interpolation=cv2.INTER_AREA)
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
