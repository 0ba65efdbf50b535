"""Tiny models and image folders for the converter tests (nothing read from /work/shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def make_pairs(root: Path, count: int = 5, h: int = 40, w: int = 56, seed: int = 0) -> Path:
    """GoPro layout: root/blur/*.png and root/sharp/*.png with matching names."""
    import cv2

    rng = np.random.default_rng(seed)
    for i in range(count):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        sharp = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        blur = cv2.GaussianBlur(sharp, (5, 5), 1.2)
        _write_png(root / "blur" / f"f{i:02d}.png", blur)
        _write_png(root / "sharp" / f"f{i:02d}.png", sharp)
    return root


def build_tiny(fixed: int | None = None, width: int = 8):
    """Input -> Conv2D(relu) -> Conv2D(3) -> Add(input) -> ReLU(max 1): a 2-conv residual net."""
    from edge_deblur._keras import keras

    shape = (fixed, fixed, 3) if fixed else (None, None, 3)
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(3, 3, padding="same", name="c2")(x)
    x = keras.layers.Add(name="residual")([inp, x])
    out = keras.layers.ReLU(max_value=1.0, name="bound")(x)
    return keras.Model(inp, out, name="tiny")


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp("pairs data"))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_tiny().save(p)
    return p


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A train run folder: model.keras + config.yaml."""
    d = tmp_path_factory.mktemp("run")
    build_tiny().save(d / "model.keras")
    (d / "config.yaml").write_text(
        "arch: cnn\nsize: tiny\npad_multiple: 4\nmacs_per_pixel: 432.0\nseed: 0\n"
    )
    return d


@pytest.fixture(scope="session")
def tiny():
    """The factory :func:`build_tiny` (tests call it for a fresh model)."""
    return build_tiny


@pytest.fixture(scope="session")
def pairs_factory():
    """The factory :func:`make_pairs`."""
    return make_pairs
