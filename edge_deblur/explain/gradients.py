"""Gradient analysis on one frame: input-gradient saliency of a region, and the change map.

* Saliency: ``|d sum_region(output - input) / d input|`` summed over the colour channels, i.e.
  which input pixels drive the *correction* the model makes inside the region (the gradient of
  the output itself would be dominated by the identity path of the global residual). Computed
  with ``tf.GradientTape``.
* Change map: ``mean_rgb |output - input|`` in 8-bit levels: where the model altered the image.

The frame is one image cropped to at most :data:`FRAME_MAX` pixels a side (a multiple of the
model's pad multiple), centred on the region when one is given.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from runtime.errors import InputError, expected

FRAME_MAX = 512


@dataclasses.dataclass(frozen=True)
class Region:
    """``x, y, w, h`` in pixels of the source image."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> Region:
        try:
            x, y, w, h = (int(v) for v in text.split(","))
        except ValueError:
            raise InputError(
                expected("--region", "x,y,w,h in pixels, e.g. 100,80,32,32", text)
            ) from None
        if w < 1 or h < 1 or x < 0 or y < 0:
            raise InputError(expected("--region", "x, y >= 0 and w, h >= 1", text))
        return cls(x, y, w, h)


@dataclasses.dataclass(frozen=True)
class GradientResult:
    """The frame, the model's output on it, saliency and change maps (all of the crop)."""

    image: str
    crop: tuple[int, int, int, int]  # x, y, w, h of the analysed frame in the image
    region: Region  # in image coordinates
    frame: np.ndarray  # uint8 (h, w, 3)
    output: np.ndarray  # uint8 (h, w, 3)
    saliency: np.ndarray  # float32 (h, w), >= 0
    change: np.ndarray  # float32 (h, w), 8-bit levels

    def summary(self) -> dict[str, Any]:
        rx, ry = self.region.x - self.crop[0], self.region.y - self.crop[1]
        cx, cy = rx + self.region.w / 2, ry + self.region.h / 2
        yy, xx = np.mgrid[: self.saliency.shape[0], : self.saliency.shape[1]]
        dist = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy).ravel()
        sal = self.saliency.ravel()
        total = float(sal.sum())
        radius = None
        if total > 0:
            order = np.argsort(dist)
            cum = np.cumsum(sal[order]) / total
            radius = float(dist[order][min(int(np.searchsorted(cum, 0.9)), dist.size - 1)])
        inside = np.zeros(self.saliency.shape, bool)
        inside[max(ry, 0) : ry + self.region.h, max(rx, 0) : rx + self.region.w] = True
        return {
            "image": self.image,
            "crop": list(self.crop),
            "region": dataclasses.asdict(self.region),
            "saliency_total": total,
            "saliency_share_inside_region": float(sal[inside.ravel()].sum() / total)
            if total > 0
            else None,
            "saliency_radius90_px": radius,
            "change_mean_levels": float(self.change.mean()),
            "change_p99_levels": float(np.percentile(self.change, 99)),
            "changed_share_over_2_levels": float((self.change > 2).mean()),
        }


def crop_frame(
    img: np.ndarray, multiple: int, region: Region | None
) -> tuple[np.ndarray, tuple[int, int, int, int], Region]:
    """The analysed crop of ``img``, its ``(x, y, w, h)`` and the region (default: centre)."""
    h0, w0 = img.shape[:2]
    if region is not None and (region.x + region.w > w0 or region.y + region.h > h0):
        raise InputError(
            expected("--region", f"a box inside the {w0}x{h0} image", dataclasses.astuple(region))
        )
    if h0 < multiple or w0 < multiple:
        img = np.pad(
            img, ((0, max(0, multiple - h0)), (0, max(0, multiple - w0)), (0, 0)), mode="edge"
        )
        h0, w0 = img.shape[:2]
    h = min(h0, FRAME_MAX) // multiple * multiple
    w = min(w0, FRAME_MAX) // multiple * multiple
    if region is None:
        side = max(multiple, min(h, w) // 8)
        cx, cy = w0 // 2, h0 // 2
        region = Region(cx - side // 2, cy - side // 2, side, side)
    cx, cy = region.x + region.w // 2, region.y + region.h // 2
    x = int(np.clip(cx - w // 2, 0, w0 - w))
    y = int(np.clip(cy - h // 2, 0, h0 - h))
    if region.x < x or region.y < y or region.x + region.w > x + w or region.y + region.h > y + h:
        raise InputError(
            expected(
                "--region",
                f"a box that fits in one {w}x{h} analysed frame",
                dataclasses.astuple(region),
                f"use w <= {w} and h <= {h}",
            )
        )
    return img[y : y + h, x : x + w], (x, y, w, h), region


def gradient_maps(
    model: Any,
    feeds: Any,
    out_index: int,
    img: np.ndarray,
    image_name: str,
    multiple: int,
    region: Region | None,
) -> GradientResult:
    """Saliency and change maps of ``model`` on ``img`` (RGB uint8).

    ``feeds(x)`` turns the frame tensor ``(1, h, w, 3)`` into the model's input list (extra
    inputs made from it); ``out_index`` picks the image output.
    """
    from edge_deblur._keras import tf

    frame, crop, region = crop_frame(img, multiple, region)
    rx, ry = region.x - crop[0], region.y - crop[1]
    x = tf.constant(frame[None].astype(np.float32) / np.float32(255.0))
    with tf.GradientTape() as tape:
        tape.watch(x)
        outs = model(feeds(x), training=False)
        y = outs[out_index] if isinstance(outs, (list, tuple)) else outs
        change = (y - x)[:, ry : ry + region.h, rx : rx + region.w, :]
        target = tf.reduce_sum(change)
    grad = tape.gradient(target, x)
    sal = np.abs(grad.numpy()[0]).sum(axis=-1).astype(np.float32)
    out = y.numpy()[0]
    delta = np.abs(out - x.numpy()[0]).mean(axis=-1) * 255.0
    out8 = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    return GradientResult(image_name, crop, region, frame, out8, sal, delta.astype(np.float32))
