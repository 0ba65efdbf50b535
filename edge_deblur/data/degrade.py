"""Synthetic degradation of sharp photos: realistic blur, sensor noise, JPEG and highlights.

The order follows the camera: the scene (sharp photo, sRGB gamma undone to linear light, with
highlights optionally pushed above white as bright lights are) is blurred by the motion during
the exposure, the sensor adds signal-dependent Poisson-Gaussian noise and clips at white, then the
camera applies the sRGB curve, quantises to 8 bits and may JPEG-compress. The sharp target goes
through the same curve and clipping without blur or noise. Blurring in linear light matters: in
gamma space bright streaks come out too dim and dark edges too wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_deblur.data import gyro as gyro_mod
from edge_deblur.data import kernels as kmod
from edge_deblur.data.config import BlurConfig, KernelFamily


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (the IEC 61966-2-1 curve)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB-encoded values (inputs are clipped to [0, 1] first)."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(
        x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4, dtype=np.float32) - 0.055
    ).astype(np.float32)


def to_float(rgb8: np.ndarray) -> np.ndarray:
    """uint8 RGB to float32 in [0, 1]."""
    return rgb8.astype(np.float32) * np.float32(1.0 / 255.0)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float in [0, 1] to uint8 (rounded, clipped)."""
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Blur every channel with ``kernel`` (a true convolution; reflected borders)."""
    import cv2

    k = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT101)


def boost_highlights(lin: np.ndarray, gain: float, threshold: float = 0.8) -> np.ndarray:
    """Scale linear values whose luminance is above ``threshold`` by up to ``gain``.

    A photo stores lights clipped at white; real lights are many times brighter and leave bright
    streaks when blurred. The boost ramps smoothly from 1 at ``threshold`` to ``gain`` at white.
    """
    y = lin @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    ramp = np.clip((y - threshold) / (1.0 - threshold), 0.0, 1.0)[..., None]
    return lin * (1.0 + (gain - 1.0) * ramp)


def poisson_gaussian(
    rng: np.random.Generator, lin: np.ndarray, shot: float, read: float
) -> np.ndarray:
    """Sensor noise in linear light: variance ``shot * x + read**2`` (Gaussian approximation)."""
    sigma = np.sqrt(np.clip(lin, 0.0, None) * shot + read * read).astype(np.float32)
    return lin + sigma * rng.standard_normal(lin.shape, dtype=np.float32)


def jpeg(rgb8: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip an RGB uint8 image through JPEG at ``quality`` (1-100)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        return rgb8
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    if lo <= 0:
        return float(rng.uniform(lo, hi))
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def depth_blur(
    rng: np.random.Generator,
    lin: np.ndarray,
    size: int,
    levels: int = 4,
    anchor: float | None = None,
) -> np.ndarray:
    """Camera translation in front of a slanted scene: blur length varies smoothly across the crop.

    Under translation a point's blur scales with its inverse depth. A random planar inverse-depth
    map (e.g. near ground at the bottom, far wall at the top) sets a per-pixel scale of one
    camera-shake path, from [0.05, 0.4] on the far side of the crop to 1 on the near side; the
    image is blurred with the path at ``levels`` scales and the results are blended linearly
    between the two nearest scales at each pixel. ``anchor``: the instant of the exposure that
    the sharp target shows (:func:`~edge_deblur.data.kernels.rasterize_path`), the same at all
    depths.
    """
    h, w = lin.shape[:2]
    path = kmod.camera_shake_path(rng, (size - 3) * rng.uniform(0.6, 1.5))
    near, far = 1.0, rng.uniform(0.05, 0.4)
    angle = rng.uniform(0, 2 * np.pi)
    ca, sa = np.cos(angle), np.sin(angle)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # t runs from -1 to 1 across the crop along the slant direction.
    t = (ca * (xx - w / 2) + sa * (yy - h / 2)) / (0.5 * (abs(ca) * w + abs(sa) * h))
    scale = far + (near - far) * np.clip(0.5 + 0.5 * t, 0.0, 1.0)  # [far, near]
    scales = np.linspace(far, near, levels)
    pos = (scale - far) / (near - far) * (levels - 1)  # fractional level index per pixel
    out = np.zeros_like(lin)
    for i, s in enumerate(scales):
        wgt = np.clip(1.0 - np.abs(pos - i), 0.0, None)[..., None]
        if float(wgt.max()) > 0:
            out += wgt * convolve(lin, kmod.rasterize_path(path * s, size, anchor=anchor))
    return out


def moving_object(
    rng: np.random.Generator, lin: np.ndarray, blurred: np.ndarray, size: int, margin: int
) -> np.ndarray:
    """Composite a region that moves on its own over the camera-blurred crop.

    A soft ellipse ``a`` of the sharp crop (the "object", 15-45% of the crop wide) is smeared by
    its own near-straight motion kernel ``k`` and laid over the rest:
    ``k * (a I) + (1 - k * a) B``, so its edges blend into the background as real occlusion blur
    does. The object's camera shake is ignored (its own motion dominates). Its mean position is
    where the sharp target shows it.
    """
    import cv2

    h, w = lin.shape[:2]
    inner_h, inner_w = h - 2 * margin, w - 2 * margin
    cy = margin + rng.uniform(0.2, 0.8) * inner_h
    cx = margin + rng.uniform(0.2, 0.8) * inner_w
    ax = max(3, int(rng.uniform(0.15, 0.45) * inner_w / 2))
    ay = max(3, int(rng.uniform(0.15, 0.45) * inner_h / 2))
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (int(cx), int(cy)), (ax, ay), rng.uniform(0, 180), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)
    path = kmod.camera_shake_path(rng, (size - 3) * rng.uniform(0.4, 1.0), expl=0.002)
    k = kmod.rasterize_path(path, size)
    obj = convolve(np.ascontiguousarray(lin * mask[..., None]), k)
    cover = convolve(mask, k)[..., None]
    return obj + (1.0 - cover) * blurred


# Families whose blur is a motion over the exposure, so that the target instant can be chosen.
_MOTION = (
    KernelFamily.TRAJECTORY,
    KernelFamily.LINEAR,
    KernelFamily.GYRO,
    KernelFamily.ROTATION,
    KernelFamily.DEPTH,
)


@dataclass
class Degrader:
    """Turns sharp crops into (blurred, sharp) training pairs according to a :class:`BlurConfig`.

    Measured kernels and gyro logs are loaded once when it is built. Call it with a crop that has
    ``margin`` extra pixels on every side; the margin feeds the blur and is cut away.
    """

    config: BlurConfig = field(default_factory=BlurConfig)

    def __post_init__(self) -> None:
        cfg = self.config
        self.weights = cfg.family_weights()
        self.families = list(self.weights)
        self.probs = np.array([self.weights[f] for f in self.families])
        self.file_kernels = kmod.load_kernel_dirs(cfg.kernel_dirs, cfg.kernel_size)
        self.gyro_logs = gyro_mod.load_gyro_dirs(cfg.gyro_dirs)

    @property
    def margin(self) -> int:
        """Pixels of context needed on each side of the output crop."""
        return self.config.kernel_size // 2 + 1

    def sample_family(self, rng: np.random.Generator) -> KernelFamily:
        return self.families[int(rng.choice(len(self.families), p=self.probs))]

    def sample_anchor(self, rng: np.random.Generator) -> float | None:
        """The exposure instant the sharp target shows, or None for the blur's centroid.

        With probability ``gopro_anchor`` it is the GoPro recipe's (:func:`kernels.gopro_anchor
        <edge_deblur.data.kernels.gopro_anchor>`). Draws nothing from ``rng`` when that is 0, so
        configs without it keep their exact streams.
        """
        p = self.config.gopro_anchor
        if p > 0 and rng.uniform() < p:
            return kmod.gopro_anchor(rng)
        return None

    def sample_kernel(
        self, rng: np.random.Generator, family: KernelFamily, anchor: float | None = None
    ) -> np.ndarray:
        """A uniform kernel of ``family`` (not ROTATION, which is not a single kernel).

        ``anchor`` applies to the motion-path families (trajectory, linear, gyro); measured,
        defocus and Gaussian kernels have no time order and stay centred on their centroid.
        """
        cfg, size = self.config, self.config.kernel_size
        if family is KernelFamily.TRAJECTORY:
            return kmod.trajectory_kernel(rng, size, anchor=anchor)
        if family is KernelFamily.LINEAR:
            return kmod.random_linear_motion(rng, size, anchor=anchor)
        if family is KernelFamily.GYRO:
            return gyro_mod.gyro_kernel(
                rng, self.gyro_logs, size, cfg.exposure_s, cfg.focal_px, anchor=anchor
            )
        if family is KernelFamily.FILE:
            k = self.file_kernels[int(rng.integers(len(self.file_kernels)))]
            return kmod.dihedral(k, int(rng.integers(8)))
        if family is KernelFamily.DEFOCUS:
            return kmod.random_defocus(rng, size)
        if family is KernelFamily.GAUSSIAN:
            return kmod.random_gaussian(rng, size)
        if family is KernelFamily.SHARP:
            k = np.zeros((size, size), np.float32)
            k[size // 2, size // 2] = 1.0
            return k
        raise ValueError(f"no single kernel for family {family}")  # ROTATION and DEPTH

    def blur(
        self,
        rng: np.random.Generator,
        lin: np.ndarray,
        principal: tuple[float, float],
        family: KernelFamily | None = None,
    ) -> np.ndarray:
        """Blur a linear-light crop (margin included) with a random member of a family.

        For the motion families (trajectory, linear, gyro, rotation, depth) the sharp target shows
        the exposure instant of :meth:`sample_anchor`; by default the blur's centroid.
        """
        family = family or self.sample_family(rng)
        if family is KernelFamily.SHARP:
            return lin.copy()
        anchor = self.sample_anchor(rng) if family in _MOTION else None
        if family is KernelFamily.DEPTH:
            return depth_blur(rng, lin, self.config.kernel_size, anchor=anchor)
        if family is not KernelFamily.ROTATION:
            return convolve(lin, self.sample_kernel(rng, family, anchor))
        cfg = self.config
        f = _log_uniform(rng, *cfg.focal_px)
        if self.gyro_logs:
            rot = gyro_mod.random_gyro_window(rng, self.gyro_logs, cfg.exposure_s)
            # Roll is what makes the blur non-uniform; logs have little of it, so scale it up.
            rot[:, 2] *= rng.uniform(1.0, 4.0)
        else:
            rot = gyro_mod.synthetic_rotation_path(rng, f, cfg.kernel_size, cfg.max_roll_deg)
        # The margin bounds the blur; a random cap below it spreads strengths like the others.
        cap = (self.margin - 1) * rng.uniform(0.4, 1.0)
        hs = gyro_mod.rotation_blur_path(rot, f, principal, lin.shape[:2], cap, anchor=anchor)
        return gyro_mod.blur_rotation_path(lin, hs)

    def __call__(
        self,
        rng: np.random.Generator,
        crop: np.ndarray,
        principal: tuple[float, float] | None = None,
        family: KernelFamily | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Degrade an RGB uint8 crop with margin; return (blurred, sharp) uint8 without margin.

        ``principal`` is the optical centre in crop coordinates (the centre of the full photo the
        crop was cut from); it decides where rotation blur is weakest.
        """
        cfg, m = self.config, self.margin
        h, w = crop.shape[:2]
        if principal is None:
            principal = (w / 2.0, h / 2.0)
        x = to_float(crop)
        lin = srgb_to_linear(x) if cfg.linear_light else x
        if rng.uniform() < cfg.highlights:
            lin = boost_highlights(lin, rng.uniform(*cfg.highlight_gain))
        lin = np.ascontiguousarray(lin)
        # Drawn only when asked for, so that recipes without it keep their random stream.
        in_srgb = cfg.linear_light and cfg.srgb_blur > 0 and rng.uniform() < cfg.srgb_blur
        src = np.ascontiguousarray(linear_to_srgb(lin)) if in_srgb else lin
        blurred = self.blur(rng, src, principal, family)
        if rng.uniform() < cfg.moving_object:
            blurred = moving_object(rng, src, blurred, cfg.kernel_size, m)
        if in_srgb:
            blurred = srgb_to_linear(blurred)
            lin = srgb_to_linear(src)  # the target clips where the encoded frames did
        blurred, lin = blurred[m : h - m, m : w - m], lin[m : h - m, m : w - m]
        if rng.uniform() < cfg.noise:
            shot = _log_uniform(rng, *cfg.shot_noise)
            read = _log_uniform(rng, *cfg.read_noise)
            blurred = poisson_gaussian(rng, blurred, shot, read)
        encode = linear_to_srgb if cfg.linear_light else (lambda v: np.clip(v, 0.0, 1.0))
        blur8 = to_uint8(encode(blurred))
        sharp8 = to_uint8(encode(lin))
        if rng.uniform() < cfg.jpeg:
            blur8 = jpeg(blur8, int(round(rng.uniform(*cfg.jpeg_quality))))
        return blur8, sharp8
