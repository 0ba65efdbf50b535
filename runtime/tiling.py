"""Run a fixed-size model over any frame size: overlapping tiles with feathered blending.

Each tile's weight is 0 within ``margin`` pixels of an inner tile edge (where the model's zero
padding makes its output unreliable), ramps up linearly across the rest of the overlap, and is 1
elsewhere and along the frame's own borders. Two neighbouring ramps sum to exactly 1, so a flat
or smoothly varying frame comes back without seams. Frames smaller than a tile are reflect-padded
and cropped back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def default_overlap(tile: int) -> int:
    """Overlap for a tile side: 1/8 of it, at least 16 px (but under half the tile), even."""
    ov = max(tile // 8, min(16, tile // 2))
    return max(0, min(ov, tile - 1)) // 2 * 2


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` overlapping by >= ``overlap``.

    The last tile is aligned to the end, so no tile hangs over the frame.
    """
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


@lru_cache(maxsize=64)
def ramp(tile: int, overlap: int, margin: int) -> np.ndarray:
    """Weights rising from ~0 (first ``margin`` px) to 1 over the overlap.

    ``r[d] + r[o-1-d] == 1`` across an overlap ``o``; the floor of 1e-3 (not 0) keeps every pixel
    covered even where an end-aligned last tile overlaps its neighbour unevenly.
    """
    d = np.arange(tile, dtype=np.float32)
    r = max(1, overlap - 2 * margin)
    w = np.clip((d - margin + 1) / (r + 1), 1e-3, 1.0)
    w.setflags(write=False)  # cached and shared
    return w


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one frame size go. ``padded_*`` >= tile size; output is cropped back."""

    height: int
    width: int
    tile_h: int
    tile_w: int
    overlap: int
    margin: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]

    @property
    def padded_h(self) -> int:
        return max(self.height, self.tile_h)

    @property
    def padded_w(self) -> int:
        return max(self.width, self.tile_w)

    @property
    def count(self) -> int:
        return len(self.ys) * len(self.xs)

    def weights(self, y: int, x: int) -> np.ndarray:
        """The (tile_h, tile_w) blending weight of the tile starting at (y, x)."""
        return (
            self._axis(y, self.tile_h, self.padded_h)[:, None]
            * self._axis(x, self.tile_w, self.padded_w)[None, :]
        )

    def _axis(self, start: int, tile: int, length: int) -> np.ndarray:
        w = np.ones(tile, dtype=np.float32)
        ov = min(self.overlap, tile - 1)
        up = ramp(tile, ov, self.margin)
        if start > 0:
            w *= up
        if start + tile < length:
            w *= up[::-1]
        return w


def plan_tiles(
    height: int,
    width: int,
    tile_h: int,
    tile_w: int,
    overlap: int | None = None,
    margin: int | None = None,
) -> TilePlan:
    """Plan the tiles for an ``height`` x ``width`` frame and a ``tile_h`` x ``tile_w`` model."""
    ov = default_overlap(min(tile_h, tile_w)) if overlap is None else int(overlap)
    ov = max(0, min(ov, min(tile_h, tile_w) - 1))
    mg = ov // 4 if margin is None else max(0, min(int(margin), max(0, (ov - 1) // 2)))
    ph, pw = max(height, tile_h), max(width, tile_w)
    return TilePlan(
        height=height,
        width=width,
        tile_h=tile_h,
        tile_w=tile_w,
        overlap=ov,
        margin=mg,
        ys=tuple(tile_starts(ph, tile_h, ov)),
        xs=tuple(tile_starts(pw, tile_w, ov)),
    )


def pad_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad ``img`` at the bottom/right to at least ``height`` x ``width``."""
    dh, dw = max(0, height - img.shape[0]), max(0, width - img.shape[1])
    if not dh and not dw:
        return img
    mode = "reflect" if min(img.shape[0], img.shape[1]) > 1 else "edge"
    return np.pad(img, ((0, dh), (0, dw), (0, 0)), mode=mode)


def extract_tiles(frame: np.ndarray, plan: TilePlan) -> np.ndarray:
    """The tiles of ``frame`` (padded as needed) as one array ``(count, tile_h, tile_w, C)``."""
    src = pad_to(frame, plan.padded_h, plan.padded_w)
    th, tw = plan.tile_h, plan.tile_w
    out = np.empty((plan.count, th, tw, src.shape[2]), dtype=src.dtype)
    i = 0
    for y in plan.ys:
        for x in plan.xs:
            out[i] = src[y : y + th, x : x + tw]
            i += 1
    return out


@lru_cache(maxsize=16)
def _normalized_weights(plan: TilePlan) -> tuple[np.ndarray, ...]:
    """Per-tile weights divided by their sum over the frame, so blending is a plain weighted sum."""
    th, tw = plan.tile_h, plan.tile_w
    wsum = np.zeros((plan.padded_h, plan.padded_w), dtype=np.float32)
    maps = [plan.weights(y, x) for y in plan.ys for x in plan.xs]
    i = 0
    for y in plan.ys:
        for x in plan.xs:
            wsum[y : y + th, x : x + tw] += maps[i]
            i += 1
    out = []
    i = 0
    for y in plan.ys:
        for x in plan.xs:
            w = (maps[i] / np.maximum(wsum[y : y + th, x : x + tw], 1e-6))[:, :, None]
            w.setflags(write=False)
            out.append(w)
            i += 1
    return tuple(out)


def blend_tiles(tiles: np.ndarray, plan: TilePlan) -> np.ndarray:
    """Blend processed uint8 tiles ``(count, tile_h, tile_w, C)`` back into one frame."""
    th, tw = plan.tile_h, plan.tile_w
    if plan.count == 1:
        return np.ascontiguousarray(tiles[0][: plan.height, : plan.width])
    weights = _normalized_weights(plan)
    acc = np.zeros((plan.padded_h, plan.padded_w, tiles.shape[3]), dtype=np.float32)
    tmp = np.empty((th, tw, tiles.shape[3]), dtype=np.float32)
    i = 0
    for y in plan.ys:
        for x in plan.xs:
            np.multiply(tiles[i], weights[i], out=tmp)
            acc[y : y + th, x : x + tw] += tmp
            i += 1
    acc = acc[: plan.height, : plan.width]
    acc += 0.5
    np.clip(acc, 0, 255, out=acc)
    return acc.astype(np.uint8)


def run_tiled(
    frame: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], plan: TilePlan
) -> np.ndarray:
    """Apply ``fn`` (tile uint8 -> tile uint8, same shape) over ``frame`` following ``plan``."""
    tiles = extract_tiles(frame, plan)
    return blend_tiles(np.stack([fn(t) for t in tiles]), plan)
