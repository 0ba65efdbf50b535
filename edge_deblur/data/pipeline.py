"""The tf.data training pipeline and the fixed validation set.

Every training patch is drawn by plain numpy from a generator seeded with ``(seed, index)`` inside
``tf.numpy_function``: the stream is identical for a seed however many threads run the map
(``deterministic=True`` keeps the order), and synthetic blur is generated on the fly in parallel.
Images are decoded once, in parallel threads, and kept in memory as uint8.

Sources are mixed by weight. A *synthetic* source is a folder of sharp photos blurred by
:class:`~edge_deblur.data.degrade.Degrader`; a *pairs* source is a GoPro-layout folder. For pairs,
most crops are drawn with probability proportional to the blur energy ``|blur - sharp|`` inside the
crop (most GoPro patches are nearly sharp and teach little), the rest uniformly.

Part of every source is held back for validation by :func:`split_holdout`;
:func:`build_train_dataset` never draws from it and :func:`make_validation_set` draws only from it.
Both must get the same ``seed`` and ``holdout``.

Images smaller than the patch are an InputError naming the image: they are not upscaled, because
upscaling would change the sharpness the model is taught to restore. Held-out images smaller than
the validation crop are skipped with a warning instead (which images are held out is not the
user's choice).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from edge_deblur.data.config import BlurConfig, DataSource, SourceKind
from edge_deblur.data.degrade import Degrader
from edge_deblur.data.pairs import scan_pairs
from runtime.errors import InputError, expected
from runtime.io import read_image

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HOLDOUT = 0.1
DEFAULT_UNIFORM_SHARE = 0.3  # share of pair crops drawn uniformly, not weighted by blur energy
DEFAULT_ENERGY_POWER = 2.0  # crop probability ~ (mean |blur - sharp| in the crop) ** power


def split_holdout(
    items: Sequence[T], frac: float, seed: int, contiguous: bool = False
) -> tuple[list[T], list[T]]:
    """Split ``items`` into (train, held_out), deterministically for ``seed``.

    ``round(frac * n)`` items are held out, at least one when ``frac > 0`` and ``n >= 2`` and never
    all of them. ``contiguous=True`` holds out one run of consecutive items (in the given order):
    used for pairs, whose neighbours are often near-duplicate frames of one video, so that the
    held-out pairs are not copies of training pairs. Order within each part is preserved.
    """
    if not 0.0 <= frac < 1.0:
        raise InputError(expected("holdout fraction", "a number in [0, 1)", frac))
    n = len(items)
    k = int(round(frac * n))
    if frac > 0 and n >= 2:
        k = max(1, k)
    k = min(k, max(0, n - 1))
    if k == 0:
        return list(items), []
    rng = np.random.default_rng([_check_seed(seed), 7])
    if contiguous:
        start = int(rng.integers(0, n - k + 1))
        held = set(range(start, start + k))
    else:
        held = set(rng.permutation(n)[:k].tolist())
    train = [it for i, it in enumerate(items) if i not in held]
    return train, [it for i, it in enumerate(items) if i in held]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(expected("seed", "an integer >= 0", seed))
    return int(seed)


def _decode_all(paths: list[Path]) -> list[np.ndarray]:
    workers = max(1, min(8, (os.cpu_count() or 1) * 2))
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(read_image, paths))


def _fits(img: np.ndarray, path: Path, patch: int, part: str) -> bool:
    """Whether ``img`` holds a patch. Too small: InputError for training; for validation (the
    split is not the user's choice) the image is skipped with a warning."""
    h, w = img.shape[:2]
    if h >= patch and w >= patch:
        return True
    if part == "val":
        log.warning(
            "%s (%dx%d) is smaller than the %d px validation crop: not used", path, w, h, patch
        )
        return False
    _check_size(img, path, patch)
    return True


def _check_size(img: np.ndarray, path: Path, patch: int) -> None:
    h, w = img.shape[:2]
    if h < patch or w < patch:
        raise InputError(
            expected(
                f"image {str(path)!r}",
                f"at least {patch}x{patch} pixels (the patch size)",
                f"{w}x{h}",
                "use a smaller --patch or remove the image",
            )
        )


def _crop_weights(blur: np.ndarray, sharp: np.ndarray, patch: int, power: float):
    """Cumulative crop probabilities on a grid of cells, from the blur energy of each window."""
    import cv2

    h, w = blur.shape[:2]
    cell = max(2, patch // 8)
    # Smoothing first keeps the structural difference that blur makes at edges but removes most
    # of the sensor noise that a sharp video frame has and its averaged partner has not; without
    # it flat, noisy floor and sky count as "blurred".
    diff = np.abs(
        cv2.GaussianBlur(blur.astype(np.float32), (0, 0), 1.5)
        - cv2.GaussianBlur(sharp.astype(np.float32), (0, 0), 1.5)
    ).mean(axis=2)
    hs, ws = h // cell, w // cell
    small = cv2.resize(diff[: hs * cell, : ws * cell], (ws, hs), interpolation=cv2.INTER_AREA)
    ps = patch // cell
    integ = np.pad(np.cumsum(np.cumsum(small, 0), 1), ((1, 0), (1, 0)))
    win = integ[ps:, ps:] - integ[:-ps, ps:] - integ[ps:, :-ps] + integ[:-ps, :-ps]
    win = np.maximum(win / (ps * ps), 0.0) ** power + 1e-6
    cdf = np.cumsum(win.ravel(), dtype=np.float64)
    return cdf / cdf[-1], win.shape, cell


@dataclass
class _Synthetic:
    name: str
    paths: list[Path]
    images: list[np.ndarray]


@dataclass
class _Pairs:
    name: str
    names: list[str]
    blurs: list[np.ndarray]
    sharps: list[np.ndarray]
    weights: list[tuple[np.ndarray, tuple[int, int], int]]


def _load_source(
    src: DataSource, patch: int, seed: int, holdout: float, part: str, energy_power: float
) -> _Synthetic | _Pairs:
    """Decode the ``part`` ("train" or "val") of one source."""
    if src.kind is SourceKind.SYNTHETIC:
        from runtime.io import IMAGE_SUFFIXES

        if not src.path.is_dir():
            raise InputError(
                expected("synthetic source", "a folder of sharp photos", str(src.path))
            )
        files = sorted(p for p in src.path.iterdir() if p.is_file())
        paths = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped = len(files) - len(paths)
        if not paths:
            raise InputError(
                expected(
                    f"folder {str(src.path)!r}",
                    "sharp photos (.png, .jpg, ...)",
                    f"0 images ({skipped} non-image files skipped)",
                )
            )
        train, val = split_holdout(paths, holdout, seed)
        chosen = train if part == "train" else val
        images = _decode_all(chosen)
        keep = [_fits(img, p, patch, part) for img, p in zip(images, chosen, strict=True)]
        chosen = [p for p, k in zip(chosen, keep, strict=True) if k]
        images = [img for img, k in zip(images, keep, strict=True) if k]
        log.info(
            "%s: %d images for %s (%d non-image files skipped), %.0f MB in memory",
            src.path,
            len(chosen),
            part,
            skipped,
            sum(a.nbytes for a in images) / 1e6,
        )
        return _Synthetic(str(src.path), chosen, images)
    scan = scan_pairs(src.path)
    train, val = split_holdout(scan.pairs, holdout, seed, contiguous=True)
    chosen = train if part == "train" else val
    blurs = _decode_all([p.blur_path for p in chosen])
    sharps = _decode_all([p.sharp_path for p in chosen])
    weights, keep = [], []
    for pr, b, s in zip(chosen, blurs, sharps, strict=True):
        if b.shape != s.shape:
            raise InputError(
                expected(
                    f"pair {pr.name!r} in {str(src.path)!r}",
                    "blur and sharp of the same size",
                    f"{b.shape[1]}x{b.shape[0]} vs {s.shape[1]}x{s.shape[0]}",
                )
            )
        keep.append(_fits(b, pr.blur_path, patch, part))
        if keep[-1]:
            weights.append(_crop_weights(b, s, patch, energy_power))
    chosen = [p for p, k in zip(chosen, keep, strict=True) if k]
    blurs = [b for b, k in zip(blurs, keep, strict=True) if k]
    sharps = [s for s, k in zip(sharps, keep, strict=True) if k]
    log.info(
        "%s: %d pairs for %s (%d non-image files skipped), %.0f MB in memory",
        src.path,
        len(chosen),
        part,
        scan.skipped_non_images,
        sum(a.nbytes + b.nbytes for a, b in zip(blurs, sharps, strict=True)) / 1e6,
    )
    return _Pairs(str(src.path), [p.name for p in chosen], blurs, sharps, weights)


def _crop_with_margin(img: np.ndarray, oy: int, ox: int, patch: int, m: int) -> np.ndarray:
    """The patch at (oy, ox) plus ``m`` pixels around it, reflected where it leaves the image."""
    import cv2

    h, w = img.shape[:2]
    y0, y1, x0, x1 = oy - m, oy + patch + m, ox - m, ox + patch + m
    sub = img[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    pads = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if any(pads):
        if min(sub.shape[:2]) < 2 or max(pads) >= min(sub.shape[:2]):
            sub = cv2.copyMakeBorder(sub, *pads, cv2.BORDER_REPLICATE)
        else:
            sub = cv2.copyMakeBorder(sub, *pads, cv2.BORDER_REFLECT101)
    return np.ascontiguousarray(sub)


class PatchSampler:
    """Draws (blurred, sharp) uint8 patches; ``sample(i)`` depends only on the seed and ``i``."""

    def __init__(
        self,
        loaded: list[_Synthetic | _Pairs],
        weights: list[float],
        patch: int,
        seed: int,
        degrader: Degrader,
        stream: int,
        uniform_share: float = DEFAULT_UNIFORM_SHARE,
        flips: bool = True,
    ) -> None:
        self.loaded = loaded
        p = np.asarray(weights, dtype=np.float64)
        self.probs = p / p.sum()
        self.patch = patch
        self.seed = seed
        self.degrader = degrader
        self.stream = stream
        self.uniform_share = uniform_share
        self.flips = flips

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.stream, int(i)])
        src = self.loaded[int(rng.choice(len(self.loaded), p=self.probs))]
        p = self.patch
        if isinstance(src, _Synthetic):
            img = src.images[int(rng.integers(len(src.images)))]
            h, w = img.shape[:2]
            oy, ox = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            m = self.degrader.margin
            crop = _crop_with_margin(img, oy, ox, p, m)
            principal = (w / 2.0 - (ox - m), h / 2.0 - (oy - m))
            blur, sharp = self.degrader(rng, crop, principal)
        else:
            j = int(rng.integers(len(src.blurs)))
            b, s = src.blurs[j], src.sharps[j]
            h, w = b.shape[:2]
            if rng.uniform() < self.uniform_share:
                oy, ox = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            else:
                cdf, (gh, gw), cell = src.weights[j]
                g = int(np.searchsorted(cdf, rng.uniform(), side="right"))
                gy, gx = divmod(min(g, gh * gw - 1), gw)
                oy = min(gy * cell + int(rng.integers(cell)), h - p)
                ox = min(gx * cell + int(rng.integers(cell)), w - p)
            blur, sharp = b[oy : oy + p, ox : ox + p], s[oy : oy + p, ox : ox + p]
        if self.flips:
            if rng.uniform() < 0.5:
                blur, sharp = blur[:, ::-1], sharp[:, ::-1]
            if rng.uniform() < 0.5:
                blur, sharp = blur[::-1], sharp[::-1]
        return np.ascontiguousarray(blur), np.ascontiguousarray(sharp)


def _prepare(
    sources: Sequence[DataSource],
    patch: int,
    seed: int,
    blur: BlurConfig | None,
    holdout: float,
    part: str,
    energy_power: float,
) -> tuple[list[_Synthetic | _Pairs], list[float], Degrader]:
    if not sources:
        raise InputError(
            expected(
                "data sources", "at least one folder", "none", "pass --data DIR or --pairs DIR"
            )
        )
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 8:
        raise InputError(expected("patch", "an integer >= 8", patch))
    _check_seed(seed)
    if not isinstance(energy_power, (int, float)) or not 0.0 <= energy_power <= 8.0:
        raise InputError(expected("energy_power", "a number in [0, 8]", energy_power))
    degrader = Degrader(blur or BlurConfig())
    loaded, weights = [], []
    for src in sources:
        if not isinstance(src, DataSource):
            raise InputError(expected("data source", "a DataSource", type(src).__name__))
        got = _load_source(src, patch, seed, holdout, part, energy_power)
        n = len(got.images) if isinstance(got, _Synthetic) else len(got.blurs)
        if n:
            loaded.append(got)
            weights.append(src.weight)
    return loaded, weights, degrader


def build_train_dataset(
    sources: Sequence[DataSource],
    patch: int,
    batch: int,
    seed: int,
    blur: BlurConfig | None = None,
    *,
    holdout: float = DEFAULT_HOLDOUT,
    uniform_share: float = DEFAULT_UNIFORM_SHARE,
    energy_power: float = DEFAULT_ENERGY_POWER,
    start_step: int = 0,
) -> tf.data.Dataset:
    """An infinite dataset of ``(blurred, sharp)`` float32 ``[batch, patch, patch, 3]`` in [0, 1].

    Deterministic for ``seed``. Held-out images (``holdout`` of each source, see
    :func:`split_holdout`) are excluded. ``uniform_share`` of the pair crops are uniform, the
    rest weighted by blur energy to the power ``energy_power``. ``start_step`` skips that many
    batches at no cost (patch ``i`` depends only on the seed and ``i``), so a resumed run
    continues exactly the stream an uninterrupted run would have seen (same ``batch``).
    """
    from edge_deblur._keras import tf

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(expected("batch", "an integer >= 1", batch))
    if (
        isinstance(start_step, bool)
        or not isinstance(start_step, (int, np.integer))
        or start_step < 0
    ):
        raise InputError(expected("start_step", "an integer >= 0", start_step))
    if not 0.0 <= uniform_share <= 1.0:
        raise InputError(expected("uniform_share", "a share in [0, 1]", uniform_share))
    loaded, weights, degrader = _prepare(sources, patch, seed, blur, holdout, "train", energy_power)
    if not loaded:
        raise InputError(expected("data sources", "at least one training image", "none left"))
    sampler = PatchSampler(
        loaded, weights, patch, seed, degrader, stream=0, uniform_share=uniform_share
    )

    def _draw(i):
        return sampler.sample(int(i))

    def _map(i):
        b, s = tf.numpy_function(_draw, [i], (tf.uint8, tf.uint8), stateful=False)
        return tf.ensure_shape(b, (patch, patch, 3)), tf.ensure_shape(s, (patch, patch, 3))

    def _to_float(b, s):
        return tf.cast(b, tf.float32) / 255.0, tf.cast(s, tf.float32) / 255.0

    ds = tf.data.Dataset.counter(start=int(start_step) * batch, dtype=tf.int64)
    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch, drop_remainder=True).map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_validation_set(
    sources: Sequence[DataSource],
    n: int,
    size: int,
    seed: int,
    blur: BlurConfig | None = None,
    *,
    holdout: float = DEFAULT_HOLDOUT,
    uniform_share: float = DEFAULT_UNIFORM_SHARE,
    energy_power: float = DEFAULT_ENERGY_POWER,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` fixed (blurred, sharp) uint8 ``(size, size, 3)`` crops from the held-out images.

    Identical every call for the same arguments. Crops follow the training distribution (same
    blur families, same blur-weighted sampling of pairs) on images training never sees; sources are
    drawn by weight. InputError when no source has anything held out (e.g. single-image sources).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(expected("validation count", "an integer >= 1", n))
    loaded, weights, degrader = _prepare(sources, size, seed, blur, holdout, "val", energy_power)
    if not loaded:
        raise InputError(
            expected(
                "validation data",
                "at least one held-out image",
                "none (every source is too small to hold one back)",
                "add images or a pairs folder with at least 2 pairs",
            )
        )
    sampler = PatchSampler(
        loaded, weights, size, seed, degrader, stream=1, uniform_share=uniform_share, flips=False
    )
    return [sampler.sample(j) for j in range(n)]


def sample_pairs(
    sources: Sequence[DataSource],
    n: int,
    size: int,
    seed: int,
    blur: BlurConfig | None = None,
    *,
    holdout: float = DEFAULT_HOLDOUT,
    uniform_share: float = DEFAULT_UNIFORM_SHARE,
    energy_power: float = DEFAULT_ENERGY_POWER,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``n`` (blurred, sharp) uint8 patches of the training stream, without TensorFlow.

    Exactly what ``build_train_dataset(..., patch=size, seed=seed)`` yields first (as uint8, before
    batching): for looking at the training data or calibrating the blur strength.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(expected("count", "an integer >= 1", n))
    loaded, weights, degrader = _prepare(sources, size, seed, blur, holdout, "train", energy_power)
    if not loaded:
        raise InputError(expected("data sources", "at least one training image", "none left"))
    sampler = PatchSampler(
        loaded, weights, size, seed, degrader, stream=0, uniform_share=uniform_share
    )
    return [sampler.sample(i) for i in range(n)]


def pairs_grid(pairs: Sequence[tuple[np.ndarray, np.ndarray]], per_row: int = 4) -> np.ndarray:
    """Tile (blurred, sharp) pairs into one RGB image, each pair as sharp | blurred."""
    if not pairs:
        raise InputError(expected("pairs", "at least one pair to show", 0))
    h, w = pairs[0][0].shape[:2]
    tiles = [np.concatenate([s, b], axis=1) for b, s in pairs]
    blank = np.zeros((h, 2 * w, 3), np.uint8)
    tiles += [blank] * ((-len(tiles)) % per_row)
    rows = [np.concatenate(tiles[i : i + per_row], axis=1) for i in range(0, len(tiles), per_row)]
    return np.concatenate(rows, axis=0)
