"""Full-resolution evaluation of a ``.keras`` or ``.tflite`` model on a GoPro-layout folder.

For every pair in ``DIR/blur`` + ``DIR/sharp`` the blurred image is deblurred at full resolution
and PSNR/SSIM (``runtime.metrics``: 8-bit RGB; SSIM as scikit-image computes it) of the input and
of the output against the sharp image are recorded, per image and as means.

* ``.keras`` (or a run folder holding ``model.keras``): the frame is reflect-padded to the model's
  pad multiple (from ``config.yaml`` beside the model, else inferred from its strides), run, and
  cropped back. Frames above ``max_pixels`` are tiled (``runtime.tiling``, feathered overlaps) so
  memory stays bounded.
* ``.tflite`` (or a bundled model name): ``runtime.engine.Engine`` does all of it, as on a board.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import InputError, ModelError, expected

# Frames above this many pixels are tiled for the Keras model (1920x1088 fits in one pass).
DEFAULT_MAX_PIXELS = 1920 * 1088
DEFAULT_TILE = 512
PSNR_CAP = 100.0  # identical images have infinite PSNR; JSON has no inf, so cap it


@dataclass(frozen=True)
class ImageScore:
    """Scores of one pair: the model output and the blurred input, each against sharp."""

    name: str
    height: int
    width: int
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float


@dataclass(frozen=True)
class EvalResult:
    """Means over the folder and the per-image scores."""

    model: str
    pairs: str
    n: int
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float
    per_image: tuple[ImageScore, ...]

    @property
    def psnr_gain(self) -> float:
        """Mean PSNR of the output minus that of the input (dB); negative means worse."""
        return self.psnr - self.input_psnr

    def to_json_dict(self) -> dict[str, Any]:
        """The object ``edge-deblur eval --json`` prints: n, means and per-image scores."""
        return {
            "n": self.n,
            "psnr": self.psnr,
            "ssim": self.ssim,
            "input_psnr": self.input_psnr,
            "input_ssim": self.input_ssim,
            "per_image": [asdict(s) for s in self.per_image],
        }


class KerasDeblurrer:
    """A ``.keras`` generator applied to whole RGB uint8 frames (padded, tiled when large)."""

    def __init__(
        self,
        path: str | os.PathLike,
        pad_multiple: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        tile: int = DEFAULT_TILE,
    ) -> None:
        from edge_deblur._keras import keras

        p = Path(path)
        try:
            self.model = keras.models.load_model(str(p), compile=False)
        except (ValueError, OSError, TypeError) as e:
            msg = " ".join(str(e).split())[:300]
            raise ModelError(
                f"model {str(p)!r}: could not load it as a Keras model ({msg})"
            ) from None
        shape = self.model.input_shape
        if not (isinstance(shape, tuple) and len(shape) == 4 and shape[-1] == 3):
            raise ModelError(
                expected(f"model {str(p)!r}", "one RGB image input (N, H, W, 3)", shape)
            )
        out_shape = self.model.output_shape
        if not (isinstance(out_shape, tuple) and len(out_shape) == 4 and out_shape[-1] == 3):
            raise ModelError(
                expected(f"model {str(p)!r}", "one RGB image output (N, H, W, 3)", out_shape)
            )
        self.fixed = shape[1:3] if shape[1] and shape[2] else None
        self.pad_multiple = int(pad_multiple or _pad_multiple_for(p, self.model))
        self.max_pixels = int(max_pixels)
        self.tile = max(self.pad_multiple, int(tile) // self.pad_multiple * self.pad_multiple)

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        """One forward pass: pad to the multiple (reflect), predict, crop back."""
        h, w = rgb.shape[:2]
        m = self.pad_multiple
        ph, pw = -h % m, -w % m
        x = rgb.astype(np.float32) / 255.0
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
            x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode)
        y = np.asarray(self.model(x[None], training=False))[0, :h, :w]
        return (np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Deblur an RGB uint8 frame of any size; same shape out."""
        from runtime import tiling

        h, w = rgb.shape[:2]
        if self.fixed is not None:
            th, tw = int(self.fixed[0]), int(self.fixed[1])
        elif h * w <= self.max_pixels:
            return self._run(rgb)
        else:
            th = tw = self.tile
        plan = tiling.plan_tiles(h, w, th, tw)
        return tiling.run_tiled(rgb, self._run, plan)


def _pad_multiple_for(path: Path, model) -> int:
    """``pad_multiple`` from ``config.yaml`` beside the model, else the product of its strides."""
    cfg = path.parent / "config.yaml"
    if cfg.is_file():
        from edge_deblur.config import read_run_info

        try:
            value = read_run_info(cfg).get("pad_multiple")
        except InputError:
            value = None
        if isinstance(value, int) and value > 0:
            return value
    from edge_deblur.models import infer_pad_multiple

    return infer_pad_multiple(model)


def resolve_model_path(model: str | os.PathLike) -> Path:
    """A ``.keras``/``.tflite`` file, a run folder (its ``model.keras``) or a bundled name."""
    p = Path(model)
    if p.is_dir():
        inner = p / "model.keras"
        if not inner.is_file():
            raise InputError(
                expected(
                    "MODEL", "a .keras or .tflite file, or a run folder with model.keras", str(p)
                )
            )
        return inner
    if p.is_file():
        if p.suffix.lower() not in (".keras", ".tflite", ".h5"):
            raise InputError(expected("MODEL", "a .keras, .h5 or .tflite file", str(p)))
        return p
    from runtime.zoo import resolve_model

    # bundled names; an InputError listing them otherwise
    return resolve_model(str(model), what="MODEL")


def make_deblurrer(
    model: str | os.PathLike,
    threads: int = 2,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strength: float = 1.0,
    ensemble: int = 1,
) -> Callable[[np.ndarray], np.ndarray]:
    """A function RGB uint8 -> RGB uint8 for a ``.keras`` (Keras) or ``.tflite`` (LiteRT) model;
    ``strength`` scales its correction and ``ensemble`` averages flipped copies as
    ``runtime.engine.Engine`` does."""
    from runtime.engine import (
        Engine,
        apply_strength,
        check_ensemble,
        check_strength,
        self_ensemble,
    )

    strength = check_strength(strength)
    ensemble = check_ensemble(ensemble, "--ensemble")
    path = resolve_model_path(model)
    if path.suffix.lower() == ".tflite":
        return Engine(path, threads=threads, strength=strength, ensemble=ensemble).process
    keras = KerasDeblurrer(path, max_pixels=max_pixels)
    if strength == 1.0 and ensemble == 1:
        return keras
    return lambda rgb: apply_strength(rgb, self_ensemble(keras, rgb, ensemble), strength)


def _finite(v: float) -> float:
    return PSNR_CAP if math.isinf(v) else float(v)


def evaluate(
    model: str | os.PathLike,
    pairs: str | os.PathLike,
    *,
    threads: int = 2,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    limit: int | None = None,
    on_image: Callable[[ImageScore], None] | None = None,
    strength: float = 1.0,
    ensemble: int = 1,
) -> EvalResult:
    """Evaluate ``model`` on every pair of the GoPro-layout folder ``pairs`` at full resolution.

    Raises InputError for a missing/ill-formed folder (a blurred image without a sharp partner is
    named) or a pair whose two images differ in size.
    """
    from edge_deblur.data import load_pairs
    from runtime.io import read_image
    from runtime.metrics import psnr, ssim

    found = load_pairs(pairs)
    if limit is not None:
        found = found[: max(1, int(limit))]
    run = make_deblurrer(
        model, threads=threads, max_pixels=max_pixels, strength=strength, ensemble=ensemble
    )
    scores = []
    for pair in found:
        blur, sharp = read_image(pair.blur_path), read_image(pair.sharp_path)
        if blur.shape != sharp.shape:
            raise InputError(
                expected(
                    f"pair {pair.name!r}",
                    "blurred and sharp images of the same size",
                    f"{blur.shape[1]}x{blur.shape[0]} vs {sharp.shape[1]}x{sharp.shape[0]}",
                )
            )
        if min(blur.shape[:2]) < 7:
            raise InputError(
                expected(
                    f"pair {pair.name!r}",
                    "images of at least 7x7 pixels (the SSIM window)",
                    f"{blur.shape[1]}x{blur.shape[0]}",
                )
            )
        out = run(blur)
        score = ImageScore(
            name=pair.name,
            height=int(blur.shape[0]),
            width=int(blur.shape[1]),
            psnr=_finite(psnr(out, sharp)),
            ssim=float(ssim(out, sharp)),
            input_psnr=_finite(psnr(blur, sharp)),
            input_ssim=float(ssim(blur, sharp)),
        )
        scores.append(score)
        if on_image is not None:
            on_image(score)

    def mean(key: str) -> float:
        return float(np.mean([getattr(s, key) for s in scores]))

    return EvalResult(
        model=str(model),
        pairs=str(pairs),
        n=len(scores),
        psnr=mean("psnr"),
        ssim=mean("ssim"),
        input_psnr=mean("input_psnr"),
        input_ssim=mean("input_ssim"),
        per_image=tuple(scores),
    )
