"""Fixtures for the benchmark tests: the runtime's tiny committed .tflite files and tiny pairs
generated on the fly (no test reads /work/shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def int8_model() -> Path:
    """Full-int8, uint8 I/O, fixed 16x16 residual 2-conv net."""
    return DATA / "int8_uint8io_16.tflite"


@pytest.fixture(scope="session")
def float_model() -> Path:
    """float32, dynamic spatial size residual 2-conv net."""
    return DATA / "float32_dynamic.tflite"


@pytest.fixture(scope="session")
def not_image_model() -> Path:
    """A dense 1x10 -> 1x4 model: loads, but is not a deblurrer."""
    return DATA / "not_image.tflite"


def make_pairs(folder: Path, n: int = 2, size: tuple[int, int] = (48, 64)) -> Path:
    """Write ``n`` blurry/sharp PNG pairs (H, W = ``size``) under ``folder/blur`` and ``/sharp``."""
    import cv2

    from runtime.io import write_image

    rng = np.random.default_rng(3)
    for i in range(n):
        sharp = cv2.resize(
            rng.integers(0, 256, (size[0] // 4, size[1] // 4, 3), dtype=np.uint8),
            (size[1], size[0]),
            interpolation=cv2.INTER_NEAREST,
        )
        blur = cv2.GaussianBlur(sharp, (0, 0), 1.5)
        write_image(folder / "blur" / f"f{i}.png", blur)
        write_image(folder / "sharp" / f"f{i}.png", sharp)
    return folder


@pytest.fixture()
def pairs_dir(tmp_path: Path) -> Path:
    return make_pairs(tmp_path / "pairs with space")
