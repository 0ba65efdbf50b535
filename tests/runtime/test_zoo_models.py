"""The bundled models themselves: small, self-describing, runnable on any frame size."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.engine import Engine
from runtime.model_file import inspect_model, read_metadata
from runtime.zoo import list_models, resolve_model

ENTRIES = list_models()


def test_the_zoo_ships_a_recommended_default():
    assert ENTRIES, "runtime/zoo/zoo.yaml lists no models"
    recommended = [e for e in ENTRIES if e.recommended]
    assert len(recommended) == 1
    assert resolve_model("default") == recommended[0].path
    meta = read_metadata(recommended[0].path)
    assert meta["quant"] == "int8" and meta["io_dtype"] == "uint8"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_bundled_model_is_small_described_and_runs_on_odd_frames(entry):
    assert entry.path.stat().st_size < 2 * 1024 * 1024
    meta = read_metadata(entry.path)
    assert meta is not None and meta["macs_per_pixel"] > 0 and meta["config_hash"]
    info = inspect_model(entry.path)
    if meta["quant"] == "int8":
        assert info.inputs[0].dtype == "uint8" and info.outputs[0].dtype == "uint8"
        assert info.static_shapes
    frame = _scene(41, 57)
    out = Engine(entry.path, threads=1).process(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    # A deblurring model changes a frame a little, never wholesale: the bundled models change
    # this frame by 2.3-5.4 levels on average, a flat grey output would by 59.5. (Pixel-wise white
    # noise is no probe for this: the quality tier smooths it by 31 levels, in float as in int8.)
    assert np.abs(out.astype(int) - frame).mean() < 12


def _scene(h: int, w: int) -> np.ndarray:
    """A small picture-like frame: colour ramps, flat patches with sharp edges, mild blur, a
    little noise."""
    import cv2

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([xx / (w - 1) * 255, yy / (h - 1) * 255, (1 - xx / (w - 1)) * 200 + 30], -1)
    for _ in range(6):
        y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[y0 : y0 + rng.integers(6, 20), x0 : x0 + rng.integers(6, 24)] = rng.integers(0, 256, 3)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
