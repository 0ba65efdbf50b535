"""Camera rotation paths: from real gyroscope logs or synthetic, as kernels or non-uniform blur.

A hand-held camera mostly *rotates* during the exposure. Integrating the measured angular velocity
over an exposure window gives a rotation path; a pinhole camera with focal length ``f`` (pixels)
maps it to the homographies ``H(t) = K R(t) K^-1``. Following one point (the principal point)
gives a pixel trajectory, rasterised into a uniform kernel (:func:`gyro_kernel`); warping the whole
crop with every ``H(t)`` and averaging gives spatially varying blur, where in-plane roll makes
the blur longer toward the corners (:func:`blur_rotation_path`).

Logs use the format of Lai et al. 2016 (``gyro.txt``: one sample per row, columns 1-3 accelerometer
in g, 4-6 angular velocity in rad/s, last column time in seconds). Their ``info.txt`` (the
recorded exposure) is not used: windows of random start and length (``exposure_s``) are cut from
the whole log, which turns four short logs into a large variety of shake paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_deblur.data.kernels import camera_shake_path, point_at, rasterize_path
from runtime.errors import InputError, expected


@dataclass(frozen=True)
class GyroLog:
    """A gyroscope log: times ``t`` (s, increasing), angular velocity ``omega`` (rad/s, N x 3)."""

    name: str
    t: np.ndarray
    omega: np.ndarray

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0])


def load_gyro_log(path: str | os.PathLike) -> GyroLog:
    """Read one ``gyro.txt`` (7 whitespace-separated columns). InputError naming the file."""
    p = Path(path)
    name = f"gyro log {str(p)!r}"
    if not p.is_file():
        raise InputError(f"{name} does not exist or is not a file")
    try:
        a = np.loadtxt(p, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise InputError(expected(name, "rows of 7 numbers", f"unparsable text ({e})")) from e
    if a.shape[1] < 7 or a.shape[0] < 3:
        raise InputError(expected(name, "at least 3 rows of 7 numbers", f"shape {a.shape}"))
    t = a[:, -1]
    order = np.argsort(t, kind="stable")
    t, omega = t[order], a[order, 3:6]
    keep = np.concatenate([[True], np.diff(t) > 0])
    if keep.sum() < 3 or not np.all(np.isfinite(omega)):
        raise InputError(expected(name, "increasing times and finite rates", "too few valid rows"))
    return GyroLog(name=str(p.parent.name or p.stem), t=t[keep], omega=omega[keep])


def load_gyro_dirs(dirs: tuple[Path, ...] | list[Path]) -> list[GyroLog]:
    """All ``gyro.txt`` files in ``dirs`` (the folder itself or its sub-folders)."""
    logs: list[GyroLog] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise InputError(expected("gyro folder", "an existing folder", str(d)))
        files = sorted(d.glob("gyro.txt")) + sorted(d.glob("*/gyro.txt"))
        if not files:
            raise InputError(
                expected(
                    f"gyro folder {str(d)!r}",
                    "gyro.txt files in it or its sub-folders",
                    "none",
                    "point gyro_dirs at e.g. .../lai2016/gyro",
                )
            )
        logs.extend(load_gyro_log(f) for f in files)
    return logs


def rotation_window(log: GyroLog, start: float, exposure: float, n: int = 64) -> np.ndarray:
    """Rotation vectors ``(n, 3)`` (rad) accumulated from ``start`` over ``exposure`` seconds.

    Angular velocity is linearly interpolated between samples and integrated with the trapezoid
    rule. Hand shake turns the camera by well under 0.1 rad per exposure, where summing rotation
    vectors is accurate to second order, and it keeps paths easy to rescale.
    """
    ts = np.linspace(start, start + exposure, n)
    w = np.stack([np.interp(ts, log.t, log.omega[:, i]) for i in range(3)], axis=1)
    dt = np.diff(ts)[:, None]
    steps = 0.5 * (w[1:] + w[:-1]) * dt
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)], axis=0)


def random_gyro_window(
    rng: np.random.Generator, logs: list[GyroLog], exposure_s: tuple[float, float], n: int = 64
) -> np.ndarray:
    """A rotation path from a random log, random start and exposure drawn from ``exposure_s``."""
    log = logs[int(rng.integers(len(logs)))]
    exposure = min(rng.uniform(*exposure_s), log.duration)
    start = rng.uniform(log.t[0], log.t[-1] - exposure)
    rot = rotation_window(log, start, exposure, n)
    # Phone and image axes are not known to match: a random sign per axis and a random swap of
    # pan and tilt are augmentations (all 8 flips/transposes of the resulting trajectory).
    if rng.uniform() < 0.5:
        rot = rot[:, [1, 0, 2]]
    return rot * rng.choice([-1.0, 1.0], size=3)


def synthetic_rotation_path(
    rng: np.random.Generator, focal: float, size: int, max_roll_deg: float, n: int = 64
) -> np.ndarray:
    """A random rotation path: pan/tilt from a camera-shake trajectory plus a smooth in-plane roll.

    The pan/tilt trajectory moves the principal point by up to ``size - 3`` pixels; the roll grows
    along the path (a random walk smoothed to a curve) up to ``max_roll_deg`` degrees.
    """
    xy = camera_shake_path(rng, (size - 3) * rng.uniform(0.3, 1.0), n_steps=n)
    roll_end = np.deg2rad(max_roll_deg) * rng.uniform(-1.0, 1.0)
    bend = rng.uniform(-0.5, 0.5)
    s = np.linspace(0.0, 1.0, n)
    roll = roll_end * (s + bend * s * (1 - s))
    # A pan by angle a about the y axis moves the image by ~ f*a in x; a tilt about x moves y.
    return np.stack([xy[:, 1] / focal, -xy[:, 0] / focal, roll], axis=1)


def homographies(rotvecs: np.ndarray, focal: float, principal: tuple[float, float]) -> np.ndarray:
    """``H_i = K R_i K^-1`` per rotation vector (K: focal ``focal``, principal ``(cx, cy)``)."""
    import cv2

    cx, cy = principal
    k = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1.0]])
    k_inv = np.linalg.inv(k)
    out = np.empty((len(rotvecs), 3, 3))
    for i, r in enumerate(rotvecs):
        rot, _ = cv2.Rodrigues(np.asarray(r, dtype=np.float64).reshape(3, 1))
        out[i] = k @ rot @ k_inv
    return out


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.einsum("nij,pj->npi", h, np.concatenate([pts, np.ones((len(pts), 1))], axis=1))
    return q[..., :2] / q[..., 2:3]


def gyro_kernel(
    rng: np.random.Generator,
    logs: list[GyroLog],
    size: int,
    exposure_s: tuple[float, float],
    focal_px: tuple[float, float],
    anchor: float | None = None,
) -> np.ndarray:
    """A uniform kernel: the principal point's trajectory under a random gyro window.

    Focal length is log-uniform in ``focal_px``; a trajectory longer than the kernel is scaled to
    fit (as if the focal length were shorter). ``anchor``: see
    :func:`~edge_deblur.data.kernels.rasterize_path`.
    """
    rot = random_gyro_window(rng, logs, exposure_s)
    f = float(np.exp(rng.uniform(np.log(focal_px[0]), np.log(focal_px[1]))))
    h = homographies(rot, f, (0.0, 0.0))
    path = _apply(h, np.zeros((1, 2)))[:, 0, :]
    return rasterize_path(path, size, anchor=anchor)


def rotation_blur_path(
    rot: np.ndarray,
    focal: float,
    principal: tuple[float, float],
    crop_hw: tuple[int, int],
    max_shift: float,
    anchor: float | None = None,
) -> np.ndarray:
    """Homographies for :func:`blur_rotation_path`, fitted to the crop.

    The path is scaled so that no crop corner moves farther than ``max_shift`` pixels from its mean
    position (the crop margin must cover that), re-centred so the crop centre's mean position is
    unchanged (the blurred image stays aligned with its target), and resampled to about one pose
    per pixel of corner travel (no ghosting) with at most 64 poses. With ``anchor`` in [0, 1] the
    crop centre instead stays where it is at that fraction of the exposure (the sharp target shows
    that instant, as in :func:`~edge_deblur.data.kernels.rasterize_path`). The ``max_shift``
    bound stays about the mean position, which then lies off the crop's own place by the distance
    from that instant's pose to the mean: mid-exposure anchors (the GoPro recipe's are 0.5-0.57)
    keep that small, and beyond the margin the warp reads reflected borders.
    """
    h_, w_ = crop_hw
    probe = np.array([[0, 0], [w_ - 1, 0], [0, h_ - 1], [w_ - 1, h_ - 1], [w_ / 2, h_ / 2]], float)
    hs = homographies(rot, focal, principal)
    q = _apply(hs, probe)
    dev = np.abs(q - q.mean(axis=0, keepdims=True)).max()
    if dev > max_shift > 0:
        rot = rot * (max_shift / dev)
        hs = homographies(rot, focal, principal)
        q = _apply(hs, probe)
    travel = np.linalg.norm(np.diff(q, axis=0), axis=2).sum(axis=0).max()
    n = int(np.clip(np.ceil(travel) + 1, 2, 64))
    idx = np.linspace(0, len(rot) - 1, n)
    rot_n = np.stack([np.interp(idx, np.arange(len(rot)), rot[:, i]) for i in range(3)], axis=1)
    hs = homographies(rot_n, focal, principal)
    centre = _apply(hs, probe[4:5])[:, 0]
    ref = centre.mean(axis=0) if anchor is None else point_at(centre, anchor)
    shift = ref - probe[4]
    t = np.array([[1, 0, -shift[0]], [0, 1, -shift[1]], [0, 0, 1.0]])
    return np.einsum("ij,njk->nik", t, hs)


def blur_rotation_path(img: np.ndarray, hs: np.ndarray) -> np.ndarray:
    """Average of ``img`` warped by every homography in ``hs`` (float image, reflected borders)."""
    import cv2

    h, w = img.shape[:2]
    acc = np.zeros_like(img, dtype=np.float32)
    for m in hs:
        acc += cv2.warpPerspective(
            img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
    return acc / len(hs)
