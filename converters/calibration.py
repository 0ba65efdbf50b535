"""Real image tiles for int8 calibration, pruning/QAT fine-tuning and validation.

Tiles come from ``--data DIR`` (a folder of images) or ``--pairs DIR`` (GoPro layout: ``DIR/blur``
and ``DIR/sharp`` with matching file names, or one such pair of folders per sequence under
``DIR``; the blurred images are the model inputs, the sharp ones the references for validation).
The image list is split once, by file, into a fitting part (calibration, fine-tuning) and a
held-back part (validation), so validation never sees an image the model was tuned on when there
are at least two images. Crops are drawn with a fixed seed: the same folder gives the same tiles.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from runtime.errors import InputError, expected
from runtime.io import IMAGE_SUFFIXES, list_images, read_image

HOLDOUT_FRACTION = 0.2


@dataclasses.dataclass(frozen=True)
class Source:
    """One input image and, for ``--pairs``, its sharp reference."""

    blur: Path
    sharp: Path | None = None


@dataclasses.dataclass(frozen=True)
class TileSet:
    """``inputs`` (N, H, W, 3) uint8 and, when pairs were given, ``sharp`` of the same shape."""

    inputs: np.ndarray
    sharp: np.ndarray | None
    origin: str

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def as_float(self) -> np.ndarray:
        """The inputs as float32 in [0, 1], the Keras models' convention."""
        return self.inputs.astype(np.float32) / np.float32(255.0)

    def representative(self) -> Iterator[list[np.ndarray]]:
        """Yield ``[tile]`` (1, H, W, 3) float32 arrays, the TFLite converter's format."""
        for tile in self.inputs:
            yield [tile[None].astype(np.float32) / np.float32(255.0)]


def find_sources(data: str | os.PathLike | None, pairs: str | os.PathLike | None) -> list[Source]:
    """List the images of ``--data`` or the (blur, sharp) pairs of ``--pairs``.

    Raises InputError naming the flag when the folder is missing, empty or not in GoPro layout.
    """
    if data is not None:
        imgs = list_images(data)
        if not imgs:
            raise InputError(
                expected(
                    "--data",
                    f"a folder with images ({', '.join(IMAGE_SUFFIXES)})",
                    f"{os.fspath(data)!r} with none",
                    "point it at a folder of photos",
                )
            )
        return [Source(p) for p in imgs]
    if pairs is None:
        return []
    root = Path(pairs)
    if not root.is_dir():
        raise InputError(expected("--pairs", "an existing folder", os.fspath(pairs)))
    roots = (
        [root]
        if (root / "blur").is_dir()
        else sorted(d for d in root.iterdir() if (d / "blur").is_dir())
    )
    out: list[Source] = []
    for r in roots:
        sharp_dir = r / "sharp"
        for b in list_images(r / "blur"):
            s = sharp_dir / b.name
            if s.is_file():
                out.append(Source(b, s))
    if not out:
        raise InputError(
            expected(
                "--pairs",
                "GoPro layout DIR/blur/*.png with DIR/sharp/ of the same names",
                f"no pairs in {os.fspath(pairs)!r}",
                "or give a folder of images with --data",
            )
        )
    return out


def split_sources(sources: list[Source]) -> tuple[list[Source], list[Source]]:
    """Split by file into (fit, held_back); with a single image both parts are that image."""
    if len(sources) < 2:
        return list(sources), list(sources)
    n_hold = max(1, int(round(len(sources) * HOLDOUT_FRACTION)))
    # Every k-th file is held back so a sorted folder of sequences gives each part some scenes.
    step = len(sources) / n_hold
    hold_idx = {min(len(sources) - 1, int(i * step + step / 2)) for i in range(n_hold)}
    fit = [s for i, s in enumerate(sources) if i not in hold_idx]
    hold = [s for i, s in enumerate(sources) if i in hold_idx]
    return fit, hold


def _fit_to(img: np.ndarray, h: int, w: int) -> np.ndarray:
    ph, pw = max(0, h - img.shape[0]), max(0, w - img.shape[1])
    if ph or pw:
        img = np.pad(
            img, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(img.shape[:2]) > 1 else "edge"
        )
    return img


def sample_tiles(
    sources: list[Source], count: int, size: tuple[int, int], seed: int, origin: str = "fit"
) -> TileSet:
    """``count`` random ``size`` crops spread evenly over ``sources`` (seeded, reproducible).

    Images smaller than the tile are reflect-padded. Each image is decoded once.
    """
    if not sources:
        raise InputError(expected("tiles", "at least one image", "none"))
    h, w = size
    rng = np.random.default_rng(seed)
    per = [
        count // len(sources) + (1 if i < count % len(sources) else 0) for i in range(len(sources))
    ]
    inputs, sharps = [], []
    has_sharp = all(s.sharp is not None for s in sources)
    for src, k in zip(sources, per, strict=True):
        if k == 0:
            continue
        a = _fit_to(read_image(src.blur), h, w)
        b = _fit_to(read_image(src.sharp), h, w) if has_sharp else None
        if b is not None and b.shape != a.shape:
            raise InputError(
                expected(
                    f"pair {src.blur.name!r}",
                    "blur and sharp images of the same size",
                    f"{a.shape} vs {b.shape}",
                )
            )
        for _ in range(k):
            y = int(rng.integers(0, a.shape[0] - h + 1))
            x = int(rng.integers(0, a.shape[1] - w + 1))
            inputs.append(a[y : y + h, x : x + w])
            if b is not None:
                sharps.append(b[y : y + h, x : x + w])
    return TileSet(
        inputs=np.stack(inputs),
        sharp=np.stack(sharps) if has_sharp else None,
        origin=origin,
    )


def synthetic_tiles(count: int, size: tuple[int, int], seed: int) -> TileSet:
    """Smooth random colour tiles (seeded): the fallback for validating float modes without data.

    They check that the TFLite numbers match Keras; they say nothing about deblurring quality.
    """
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for _ in range(count):
        small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
        tile = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        noise = rng.normal(0, 6, tile.shape)
        out.append(np.clip(tile + noise, 0, 255).astype(np.uint8))
    return TileSet(inputs=np.stack(out), sharp=None, origin="synthetic")
