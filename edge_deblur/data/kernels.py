"""Blur kernels: camera-shake trajectories, measured kernels from files, defocus and Gaussian.

Every kernel is a float32 ``(k, k)`` array, non-negative, summing to 1, with its centre of mass
on the centre pixel, so that blurring does not shift the image relative to its sharp target;
motion-path kernels can instead put one instant of the exposure on the centre pixel (``anchor``,
see :func:`rasterize_path` and :func:`gopro_anchor`), as the GoPro recipe does.
Motion paths are rasterised with sub-pixel bilinear splatting: each path sample spreads its
weight over the four pixels around it, which keeps short and diagonal blurs smooth.

Gyroscope-driven kernels and non-uniform (rotation) blur live in :mod:`edge_deblur.data.gyro`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from runtime.errors import InputError, expected

KERNEL_SUFFIXES = (".png", ".npy", ".mat")

# Exposure fractions of a trajectory (DeblurGAN, after Boracchi & Foi): a share of the path is
# integrated, from nearly a point (1/100) to the whole path. Weighted toward visible blur.
_EXPOSURE_FRACTIONS = np.array([0.01, 0.1, 0.5, 1.0])
_EXPOSURE_PROBS = np.array([0.05, 0.15, 0.35, 0.45])


def gopro_anchor(rng: np.random.Generator, frames: tuple[int, int] = (7, 13)) -> float:
    """The instant, as a fraction of the exposure, that a GoPro-recipe pair's sharp frame shows.

    The recipe (Nah et al. 2017, and the ``gopro_dev`` pairs) averages ``N`` consecutive 240 fps
    frames and keeps frame ``N // 2`` (0-based) as the sharp target: for even ``N`` that is half
    a frame after the middle of the exposure, ``(N // 2) / (N - 1)`` of the way along the path
    (4/7 for ``N = 8``). ``N`` is drawn uniformly from ``frames``.
    """
    n = int(rng.integers(frames[0], frames[1] + 1))
    return (n // 2) / (n - 1)


def point_at(points: np.ndarray, anchor: float) -> np.ndarray:
    """The point ``anchor`` in [0, 1] of the way along time-ordered samples ``(N, 2)``, linearly
    interpolated between the two samples around it."""
    if not 0.0 <= anchor <= 1.0:
        raise ValueError(f"anchor must be in [0, 1], got {anchor}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pos = anchor * (len(pts) - 1)
    i = min(int(np.floor(pos)), max(0, len(pts) - 2))
    f = pos - i
    return pts[i] if len(pts) == 1 else (1 - f) * pts[i] + f * pts[i + 1]


def rasterize_path(
    points: np.ndarray,
    size: int,
    weights: np.ndarray | None = None,
    anchor: float | None = None,
) -> np.ndarray:
    """Splat a sub-pixel path ``(N, 2)`` of ``(x, y)`` into a ``size`` x ``size`` kernel.

    The path is moved so that its (weighted) centroid lands on the kernel centre, or, with
    ``anchor`` in [0, 1], the point that fraction of the way along the (time-ordered) samples:
    the sharp target then shows that instant of the exposure, and the blur is displaced from it
    as much as the path's centroid is. A path whose extent (about that point) does not fit in
    ``size - 2`` pixels is scaled down about it to fit.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    ref = (pts * w[:, None]).sum(0) / w.sum() if anchor is None else point_at(pts, anchor)
    rel = pts - ref
    extent = float(np.abs(rel).max()) * 2.0 if len(rel) else 0.0
    limit = size - 3.0
    if extent > limit > 0:
        rel = rel * (limit / extent)
    c = (size - 1) / 2.0
    xy = rel + c
    x0 = np.floor(xy[:, 0]).astype(np.int64)
    y0 = np.floor(xy[:, 1]).astype(np.int64)
    fx = xy[:, 0] - x0
    fy = xy[:, 1] - y0
    k = np.zeros((size, size), dtype=np.float64)
    for dx, dy, ww in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        xs = np.clip(x0 + dx, 0, size - 1)
        ys = np.clip(y0 + dy, 0, size - 1)
        np.add.at(k, (ys, xs), ww * w)
    return normalize_kernel(k, "rasterized path")


def normalize_kernel(k: np.ndarray, name: str = "kernel") -> np.ndarray:
    """Clip negatives, make it sum to 1 and return float32. InputError if nothing is left."""
    a = np.asarray(k, dtype=np.float64)
    if a.ndim == 3:
        a = a.mean(axis=2)
    if a.ndim != 2 or a.size == 0 or not np.all(np.isfinite(a)):
        raise InputError(expected(name, "a finite 2-D kernel", f"array of shape {a.shape}"))
    a = np.clip(a, 0.0, None)
    s = a.sum()
    if s <= 0:
        raise InputError(expected(name, "a kernel with positive weights", "all zero or negative"))
    return (a / s).astype(np.float32)


def camera_shake_path(
    rng: np.random.Generator, length: float, n_steps: int = 384, expl: float | None = None
) -> np.ndarray:
    """A random camera-shake path ``(n_steps, 2)`` after Boracchi & Foi 2012 (as in DeblurGAN).

    A particle moves at constant speed (total path ``length`` pixels); each step its velocity gets
    a Gaussian shake (strength ``10 U(0,1)``), a pull back toward the start (``0.7 U(0,1)``) and,
    with probability ``0.2 U(0,1) expl``, an impulsive near-reversal. ``expl`` (exploration)
    controls how far it wanders from a straight line; by default it is log-uniform in
    [0.005, 0.2]. DeblurGAN integrates 2000 steps; 384 is the default here: 3.5x faster, and with
    the same per-step terms fewer steps mean fewer turns, giving strokes and loops like measured
    shake kernels (Levin et al., Lai et al.) where 2000 steps often crumple into a blob.
    """
    if expl is None:
        expl = float(np.exp(rng.uniform(np.log(0.005), np.log(0.2))))
    centripetal = 0.7 * rng.uniform()
    big_shake = 0.2 * rng.uniform()
    shake = 10.0 * rng.uniform()
    step = length / (n_steps - 1)
    v = step * np.exp(1j * rng.uniform(0, 2 * np.pi))
    noise = rng.standard_normal(n_steps) + 1j * rng.standard_normal(n_steps)
    jumps = rng.uniform(size=n_steps) < big_shake * expl
    jump_angle = np.pi + (rng.uniform(size=n_steps) - 0.5)
    x = np.zeros(n_steps, dtype=np.complex128)
    for t in range(n_steps - 1):
        dv = expl * (shake * noise[t] - centripetal * x[t]) * step
        if jumps[t]:
            dv += 2.0 * v * np.exp(1j * jump_angle[t])
        v = v + dv
        speed = abs(v)
        v = v / speed * step if speed > 0 else step
        x[t + 1] = x[t] + v
    return np.stack([x.real, x.imag], axis=1)


def trajectory_kernel(
    rng: np.random.Generator, size: int = 31, anchor: float | None = None
) -> np.ndarray:
    """A random camera-shake kernel: a :func:`camera_shake_path` integrated over a random exposure.

    The path length is drawn in ``[0.5, 2.0] x (size - 3)`` pixels (shake paths curl, so their
    extent is shorter; longer ones are scaled to fit) and a random exposure fraction (1/100,
    1/10, 1/2 or all of it) is kept, so blurs range from nearly sharp to ``size`` pixels.
    ``anchor``: see :func:`rasterize_path`.
    """
    length = (size - 3) * rng.uniform(0.5, 2.0)
    path = camera_shake_path(rng, length)
    frac = rng.choice(_EXPOSURE_FRACTIONS, p=_EXPOSURE_PROBS)
    keep = max(2, int(round(frac * len(path))))
    return rasterize_path(path[:keep], size, anchor=anchor)


def linear_motion_kernel(
    length: float,
    angle: float,
    size: int,
    bend: float = 0.0,
    accel: float = 0.0,
    anchor: float | None = None,
) -> np.ndarray:
    """A straight or gently curved motion streak of ``length`` pixels at ``angle`` (rad).

    Short exposures of walking, driving or moving objects (the GoPro recipe averages 30-50 ms)
    give nearly linear paths: ``bend`` bows the path sideways by that fraction of its length,
    ``accel`` in [-1, 1] makes the speed change along it (one end of the streak brighter).
    ``anchor``: see :func:`rasterize_path` (the samples are evenly spaced in time).
    """
    t = np.linspace(-0.5, 0.5, max(16, int(4 * length)))
    along = length * (t + 0.5 * accel * (t**2 - 1 / 12))
    across = length * bend * (4 * t**2 - 1 / 3)
    ca, sa = np.cos(angle), np.sin(angle)
    pts = np.stack([along * ca - across * sa, along * sa + across * ca], axis=1)
    return rasterize_path(pts, size, anchor=anchor)


def random_linear_motion(
    rng: np.random.Generator, size: int, anchor: float | None = None
) -> np.ndarray:
    """A :func:`linear_motion_kernel` in a random direction, 2 to ``size - 3`` pixels long.

    Lengths are skewed short (``2 + (size - 5) u**1.5``, mean about 40% of the range): most
    short-exposure frames move a few pixels, few move across the whole kernel.
    """
    return linear_motion_kernel(
        2.0 + (size - 5.0) * rng.uniform() ** 1.5,
        rng.uniform(0.0, np.pi),
        size,
        bend=rng.uniform(-0.15, 0.15),
        accel=rng.uniform(-0.8, 0.8),
        anchor=anchor,
    )


def defocus_kernel(radius: float, size: int) -> np.ndarray:
    """An anti-aliased uniform disk of ``radius`` pixels (out-of-focus blur), 8x supersampled."""
    ss = 8
    c = (size - 1) / 2.0
    g = (np.arange(size * ss) + 0.5) / ss - 0.5 - c
    yy, xx = np.meshgrid(g, g, indexing="ij")
    disk = (xx**2 + yy**2 <= max(radius, 0.5) ** 2).astype(np.float64)
    return normalize_kernel(disk.reshape(size, ss, size, ss).mean(axis=(1, 3)), "defocus disk")


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float, size: int) -> np.ndarray:
    """An anisotropic Gaussian with standard deviations along axes rotated by ``angle`` (rad)."""
    c = (size - 1) / 2.0
    g = np.arange(size) - c
    yy, xx = np.meshgrid(g, g, indexing="ij")
    ca, sa = np.cos(angle), np.sin(angle)
    u = ca * xx + sa * yy
    v = -sa * xx + ca * yy
    k = np.exp(-0.5 * ((u / max(sigma_x, 1e-3)) ** 2 + (v / max(sigma_y, 1e-3)) ** 2))
    return normalize_kernel(k, "gaussian kernel")


def random_defocus(rng: np.random.Generator, size: int) -> np.ndarray:
    """A defocus disk with radius uniform in [1, min(6, size/2 - 1)] pixels."""
    return defocus_kernel(rng.uniform(1.0, max(1.0, min(6.0, size / 2 - 1))), size)


def random_gaussian(rng: np.random.Generator, size: int) -> np.ndarray:
    """A Gaussian with sigmas uniform in [0.4, min(2.5, size/6)] and a random orientation."""
    hi = max(0.5, min(2.5, size / 6))
    return gaussian_kernel(rng.uniform(0.4, hi), rng.uniform(0.4, hi), rng.uniform(0, np.pi), size)


def load_kernel(path: str | os.PathLike) -> np.ndarray:
    """Load a measured blur kernel from ``.png`` (any depth, colour averaged), ``.npy`` or ``.mat``.

    A ``.mat`` file must hold one 2-D numeric array (the first such variable is used; scipy is
    needed, it comes with the ``[train]`` extra). The result is normalised to sum 1.
    """
    p = Path(path)
    name = f"kernel {str(p)!r}"
    if not p.is_file():
        raise InputError(f"{name} does not exist or is not a file")
    suffix = p.suffix.lower()
    if suffix == ".png":
        import cv2

        a = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if a is None:
            raise InputError(expected(name, "a readable PNG image", "undecodable data"))
        if a.ndim == 3:
            a = a[:, :, :3]
    elif suffix == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(expected(name, "a numeric .npy array", f"unreadable ({e})")) from e
    elif suffix == ".mat":
        a = _load_mat(p, name)
    else:
        raise InputError(
            expected(
                name, f"a file ending in {', '.join(KERNEL_SUFFIXES)}", p.suffix or "no suffix"
            )
        )
    if not np.issubdtype(np.asarray(a).dtype, np.number):
        raise InputError(expected(name, "numeric values", str(np.asarray(a).dtype)))
    return normalize_kernel(np.asarray(a, dtype=np.float64), name)


def _load_mat(p: Path, name: str) -> np.ndarray:
    try:
        import scipy.io
    except ImportError:
        raise InputError(
            expected(
                name,
                "scipy to read .mat files",
                "scipy not installed",
                "pip install 'edge-deblur[train]' or convert it to .npy",
            )
        ) from None
    try:
        mat = scipy.io.loadmat(str(p))
    except (ValueError, OSError, NotImplementedError) as e:
        raise InputError(expected(name, "a MATLAB v4-v7.2 .mat file", f"unreadable ({e})")) from e
    for key, val in mat.items():
        if key.startswith("__"):
            continue
        arr = np.asarray(val)
        if arr.ndim == 2 and min(arr.shape) > 1 and np.issubdtype(arr.dtype, np.number):
            return arr
    raise InputError(expected(name, "a variable holding a 2-D numeric array", sorted(mat)))


def trim_kernel(k: np.ndarray, rel_threshold: float = 1e-3) -> np.ndarray:
    """Cut a kernel to the bounding box of its support (weights above ``rel_threshold`` x max)."""
    mask = k > rel_threshold * float(k.max())
    ys, xs = np.nonzero(mask)
    return k[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def fit_kernel(k: np.ndarray, size: int) -> np.ndarray:
    """Place a kernel on a ``size`` x ``size`` canvas centred on its centre of mass.

    The support is trimmed first; a support larger than ``size - 2`` is shrunk (area resampling)
    to fit, so the blur keeps its shape but gets shorter: raise ``kernel_size`` to keep it whole.
    """
    import cv2

    t = trim_kernel(np.asarray(k, dtype=np.float32))
    h, w = t.shape
    limit = size - 2
    if max(h, w) > limit:
        s = limit / max(h, w)
        t = cv2.resize(
            t, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    ys, xs = np.nonzero(t > 0)
    wts = t[ys, xs].astype(np.float64)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    return rasterize_path(pts, size, weights=wts)


def load_kernel_dirs(dirs: tuple[Path, ...] | list[Path], size: int) -> list[np.ndarray]:
    """All kernels (``.png``/``.npy``/``.mat``) directly in ``dirs``, fitted to ``size``.

    Other files are ignored. InputError if a folder is missing or holds no kernel at all.
    """
    out: list[np.ndarray] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise InputError(expected("kernel folder", "an existing folder", str(d)))
        files = sorted(
            p for p in d.iterdir() if p.is_file() and p.suffix.lower() in KERNEL_SUFFIXES
        )
        if not files:
            raise InputError(
                expected(
                    f"kernel folder {str(d)!r}",
                    f"files ending in {', '.join(KERNEL_SUFFIXES)}",
                    "none",
                    "point kernel_dirs at a folder of measured kernels",
                )
            )
        out.extend(fit_kernel(load_kernel(p), size) for p in files)
    return out


def dihedral(k: np.ndarray, code: int) -> np.ndarray:
    """One of the 8 flips/transposes of a square kernel (``code`` in 0..7): an augmentation."""
    if code & 1:
        k = k[:, ::-1]
    if code & 2:
        k = k[::-1, :]
    if code & 4:
        k = k.T
    return np.ascontiguousarray(k)
