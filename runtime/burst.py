"""Burst deblurring: several hand-held shots of one scene in, one sharp image out.

Hand shake blurs each shot of a burst differently, and usually some part of some shot came out
sharp ("lucky"). The steps:

1. **Reference**: the shot with the highest sharpness (variance of the Laplacian of its gray
   image), unless the caller names one.
2. **Alignment** of every other shot to it: OpenCV ECC (``findTransformECC``, homography, on
   images downscaled to ``ALIGN_SIDE`` and smoothed, started from the phase-correlation shift),
   else ORB features + RANSAC homography. An alignment is accepted only when the aligned shot
   correlates with the reference (normalised cross-correlation of smoothed gray images at least
   ``MIN_NCC``); a shot that cannot be aligned is an InputError naming it.
3. **Fusion**, lucky-imaging style: per pixel, each aligned shot is weighted by its local
   sharpness (squared Laplacian of the lightly smoothed gray image, averaged over a Gaussian
   window of ``block`` pixels) to the power ``power``, times its valid-area mask; weights are
   normalised. Sharp regions come from the shots where they are sharp, and shots of similar
   sharpness are averaged (less noise).
4. The single-frame model then deblurs the fused image (:func:`deblur_burst`).

numpy + OpenCV only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from runtime.errors import InputError, expected

ALIGN_SIDE = 640  # longest side of the images ECC / ORB work on
MIN_NCC = 0.6  # correlation an aligned shot must reach against the reference
MIN_MATCHES = 12  # ORB matches needed for a homography


@dataclass(frozen=True)
class BurstResult:
    """The fused image (before any model) and how it was made."""

    fused: np.ndarray
    reference: int
    methods: tuple[str, ...]  # per shot: "reference", "in place", "ecc" or "orb"
    sharpness: tuple[float, ...]
    ncc: tuple[float, ...]  # per shot, against the reference after alignment


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / np.float32(255.0)


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the (lightly smoothed) gray image: higher is sharper."""
    import cv2

    g = cv2.GaussianBlur(_gray(rgb), (0, 0), 1.0)
    return float(cv2.Laplacian(g, cv2.CV_32F).var())


def check_burst(images: Sequence[np.ndarray], names: Sequence[str] | None = None) -> None:
    """InputError unless there are >= 2 RGB images of one size."""
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    if len(images) < 2:
        raise InputError(
            expected(
                "--burst",
                "at least 2 shots of the same scene",
                f"{len(images)} image(s)",
                "give every shot of the burst",
            )
        )
    shape = images[0].shape
    for img, name in zip(images, names, strict=True):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(
                expected(
                    f"--burst {name}",
                    "an RGB uint8 image (H, W, 3)",
                    f"{img.dtype} array of shape {tuple(img.shape)}",
                    "convert it with runtime.io.to_rgb8",
                )
            )
        if img.shape != shape:
            raise InputError(
                expected(
                    f"--burst {name}",
                    f"the size of {names[0]} ({shape[1]}x{shape[0]})",
                    f"{img.shape[1]}x{img.shape[0]}",
                    "give shots of the same size (one burst of one camera)",
                )
            )


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    m = mask > 0.5
    if m.sum() < 64:
        return 0.0
    x, y = a[m] - a[m].mean(), b[m] - b[m].mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


def _ecc(ref: np.ndarray, img: np.ndarray) -> np.ndarray | None:
    """Homography (small-image coordinates) mapping ref pixels to img pixels, or None."""
    import cv2

    (dx, dy), _ = cv2.phaseCorrelate(ref, img)
    warp = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    try:
        _, warp = cv2.findTransformECC(ref, img, warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 5)
    except cv2.error:
        return None
    return warp if np.all(np.isfinite(warp)) else None


def _orb(ref: np.ndarray, img: np.ndarray) -> np.ndarray | None:
    import cv2

    orb = cv2.ORB_create(2000)
    a8, b8 = (np.clip(x * 255, 0, 255).astype(np.uint8) for x in (ref, img))
    ka, da = orb.detectAndCompute(a8, None)
    kb, db = orb.detectAndCompute(b8, None)
    if da is None or db is None or len(ka) < MIN_MATCHES or len(kb) < MIN_MATCHES:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(da, db)
    if len(matches) < MIN_MATCHES:
        return None
    src = np.float32([ka[m.queryIdx].pt for m in matches])
    dst = np.float32([kb[m.trainIdx].pt for m in matches])
    h, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if h is None or inliers is None or int(inliers.sum()) < MIN_MATCHES:
        return None
    return h.astype(np.float32)


def _warp(img: np.ndarray, h: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.warpPerspective(
        img, h, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT
    )


def align_burst(
    images: Sequence[np.ndarray], reference: int, names: Sequence[str] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[str], list[float]]:
    """Align every shot to ``images[reference]``.

    Returns (aligned float32 RGB images in [0, 1], float32 validity masks, methods, NCC per
    shot). Raises InputError naming the first shot that cannot be aligned.
    """
    import cv2

    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    h, w = images[0].shape[:2]
    s = min(1.0, ALIGN_SIDE / max(h, w))
    small = (max(8, round(w * s)), max(8, round(h * s)))

    def prep(rgb: np.ndarray) -> np.ndarray:
        g = cv2.resize(_gray(rgb), small, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(g, (0, 0), 1.5)

    ref_small = prep(images[reference])
    scale = np.diag([s, s, 1.0]).astype(np.float32)
    unscale = np.diag([1 / s, 1 / s, 1.0]).astype(np.float32)
    ones = np.ones((h, w), np.float32)
    aligned, masks, methods, nccs = [], [], [], []
    for i, img in enumerate(images):
        f = img.astype(np.float32) / np.float32(255.0)
        if i == reference:
            aligned.append(f)
            masks.append(ones)
            methods.append("reference")
            nccs.append(1.0)
            continue
        cur = prep(img)
        if float(np.abs(cur - ref_small).max()) < 2 / 255:
            # Already in place (a tripod, or a flat scene that no method could align): keep it.
            aligned.append(f)
            masks.append(ones)
            methods.append("in place")
            nccs.append(1.0)
            continue
        best = None
        for method, fn in (("ecc", _ecc), ("orb", _orb)):
            hs = fn(ref_small, cur)
            if hs is None:
                continue
            mask_s = _warp(np.ones_like(cur), hs, small)
            score = _ncc(ref_small, _warp(cur, hs, small), cv2.erode(mask_s, np.ones((3, 3))))
            if best is None or score > best[2]:
                best = (method, hs, score)
            if score >= MIN_NCC:
                break
        if best is None or best[2] < MIN_NCC:
            got = "no transform" if best is None else f"correlation {best[2]:.2f}"
            raise InputError(
                expected(
                    f"--burst {names[i]}",
                    f"a shot of the same scene as {names[reference]} (alignable, correlation "
                    f">= {MIN_NCC})",
                    f"{got} after ECC and ORB alignment",
                    "leave that shot out or retake the burst",
                )
            )
        method, hs, score = best
        full = (unscale @ hs @ scale).astype(np.float32)
        aligned.append(_warp(f, full, (w, h)))
        masks.append(cv2.erode(_warp(ones, full, (w, h)), np.ones((5, 5), np.uint8)))
        methods.append(method)
        nccs.append(round(float(score), 4))
    return aligned, masks, methods, nccs


def fuse(
    aligned: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    reference: int = 0,
    block: int = 8,
    power: float = 4.0,
) -> np.ndarray:
    """Sharpness-weighted per-region average of aligned float images -> RGB uint8."""
    import cv2

    sigma = max(1.0, block / 2.0)
    weights = []
    for img, mask in zip(aligned, masks, strict=True):
        g = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)
        energy = cv2.GaussianBlur(cv2.Laplacian(g, cv2.CV_32F) ** 2, (0, 0), sigma)
        weights.append(mask * (energy + 1e-8) ** power)
    wsum = np.sum(weights, axis=0)
    acc = np.sum([w[..., None] * img for w, img in zip(weights, aligned, strict=True)], axis=0)
    ok = wsum > 0
    fused = np.where(ok[..., None], acc / np.where(ok, wsum, 1.0)[..., None], aligned[reference])
    return (np.clip(fused, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def fuse_burst(
    images: Sequence[np.ndarray],
    reference: int | None = None,
    names: Sequence[str] | None = None,
    block: int = 8,
    power: float = 4.0,
) -> BurstResult:
    """Check, pick the reference, align and fuse a burst of RGB uint8 shots."""
    check_burst(images, names)
    scores = [sharpness(img) for img in images]
    ref = int(np.argmax(scores)) if reference is None else int(reference)
    if not 0 <= ref < len(images):
        raise InputError(expected("reference", f"an index in [0, {len(images)})", reference))
    aligned, masks, methods, nccs = align_burst(images, ref, names)
    fused = fuse(aligned, masks, ref, block=block, power=power)
    return BurstResult(fused, ref, tuple(methods), tuple(round(s, 6) for s in scores), tuple(nccs))


def deblur_burst(
    images: Sequence[np.ndarray],
    process: Callable[[np.ndarray], np.ndarray] | None = None,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, BurstResult]:
    """Fuse the burst, then run ``process`` (e.g. ``Engine(model).process``) on the fused image."""
    result = fuse_burst(images, names=names)
    return (process(result.fused) if process is not None else result.fused), result
