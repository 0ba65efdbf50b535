"""Classical rows users could pick instead of a learned model: numpy + OpenCV only.

All three take and return RGB uint8 frames of any size and use a fixed, documented blur guess
(the benchmark has no kernel estimate): an isotropic Gaussian of sigma :data:`KERNEL_SIGMA`.

* ``unsharp-mask``: ``out = in + amount x (in - gaussian(in))`` (OpenCV ``GaussianBlur``).
* ``wiener``: frequency-domain Wiener deconvolution with that kernel and a constant
  noise-to-signal ratio, on a reflect-padded frame (to keep the circular FFT from wrapping edges).
* ``richardson-lucy``: multiplicative Richardson-Lucy iterations with that kernel (``filter2D``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

KERNEL_SIGMA = 1.5
KERNEL_SIZE = 9
UNSHARP_AMOUNT = 1.0
WIENER_NSR = 0.01
RL_ITERATIONS = 10


def gaussian_kernel(size: int = KERNEL_SIZE, sigma: float = KERNEL_SIGMA) -> np.ndarray:
    """A normalised 2-D Gaussian point-spread function (float32, sums to 1)."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r**2) / (2.0 * sigma**2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def _to_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) * np.float32(1.0 / 255.0)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def unsharp_mask(
    rgb: np.ndarray, sigma: float = KERNEL_SIGMA, amount: float = UNSHARP_AMOUNT
) -> np.ndarray:
    """OpenCV unsharp mask: add back ``amount`` times the detail a Gaussian removes."""
    import cv2

    x = _to_float(rgb)
    blurred = cv2.GaussianBlur(x, (0, 0), sigma)
    return _to_uint8(cv2.addWeighted(x, 1.0 + amount, blurred, -amount, 0.0))


def wiener(
    rgb: np.ndarray, kernel: np.ndarray | None = None, nsr: float = WIENER_NSR
) -> np.ndarray:
    """Wiener deconvolution ``conj(K) / (|K|^2 + nsr)`` with the fixed kernel, per channel."""
    k = gaussian_kernel() if kernel is None else kernel
    x = _to_float(rgb)
    h, w = x.shape[:2]
    pad = k.shape[0] * 2
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    ph, pw = xp.shape[:2]
    kp = np.zeros((ph, pw), np.float32)
    kh, kw = k.shape
    kp[:kh, :kw] = k
    kp = np.roll(kp, (-(kh // 2), -(kw // 2)), axis=(0, 1))  # centre the PSF at the origin
    K = np.fft.rfft2(kp)
    G = np.conj(K) / (np.abs(K) ** 2 + nsr)
    X = np.fft.rfft2(xp, axes=(0, 1))
    y = np.fft.irfft2(X * G[..., None], s=(ph, pw), axes=(0, 1))
    return _to_uint8(y[pad : pad + h, pad : pad + w])


def richardson_lucy(
    rgb: np.ndarray, kernel: np.ndarray | None = None, iterations: int = RL_ITERATIONS
) -> np.ndarray:
    """Richardson-Lucy: ``u <- u * (K^T * (b / (K * u)))``, starting from the blurry frame."""
    import cv2

    k = gaussian_kernel() if kernel is None else kernel
    kt = np.ascontiguousarray(k[::-1, ::-1])
    b = _to_float(rgb) + np.float32(1e-3)
    u = b.copy()
    for _ in range(iterations):
        est = cv2.filter2D(u, -1, k, borderType=cv2.BORDER_REFLECT)
        u *= cv2.filter2D(b / np.maximum(est, 1e-6), -1, kt, borderType=cv2.BORDER_REFLECT)
    return _to_uint8(u - np.float32(1e-3))


BASELINES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "unsharp-mask": unsharp_mask,
    "wiener": wiener,
    "richardson-lucy": richardson_lucy,
}
