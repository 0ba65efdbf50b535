"""Image quality metrics on 8-bit RGB: PSNR and SSIM (as scikit-image computes it).

numpy + OpenCV only, so the board, the benchmarks, the converters' validation and ``edge-deblur
eval`` all use the same definitions.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import InputError, expected


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InputError(
            expected("image pair", "two images of the same shape", f"{a.shape} vs {b.shape}")
        )


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB between two images of the same shape (8-bit RGB by default). Identical -> inf."""
    _check_pair(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, win_size: int = 7) -> float:
    """Mean SSIM as ``skimage.metrics.structural_similarity`` computes it by default.

    Uniform ``win_size`` window, K1=0.01, K2=0.03, sample covariance, the mean taken over the
    interior (``(win_size - 1) // 2`` pixels cropped at each border), averaged over channels.
    """
    import cv2

    _check_pair(a, b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[:2]) < win_size:
        raise InputError(
            expected("image", f"at least {win_size}x{win_size} pixels for SSIM", a.shape)
        )
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    np_ = win_size * win_size
    cov_norm = np_ / (np_ - 1.0)
    pad = (win_size - 1) // 2
    vals = []
    for ch in range(a.shape[2]):
        x = a[..., ch].astype(np.float64)
        y = b[..., ch].astype(np.float64)

        def filt(img: np.ndarray) -> np.ndarray:
            return cv2.blur(img, (win_size, win_size), borderType=cv2.BORDER_REFLECT)

        ux, uy = filt(x), filt(y)
        vx = cov_norm * (filt(x * x) - ux * ux)
        vy = cov_norm * (filt(y * y) - uy * uy)
        vxy = cov_norm * (filt(x * y) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        vals.append(s[pad:-pad, pad:-pad].mean() if pad else s.mean())
    return float(np.mean(vals))
