"""The bundled models themselves: small, self-describing, runnable on any frame size."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.engine import Engine
from runtime.model_file import inspect_model, read_metadata
from runtime.sources import synthetic_frames
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
    frame = synthetic_frames(1, 41, 57)[0]
    out = Engine(entry.path, threads=1).process(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    # A deblurring model changes a frame a little, never wholesale: the bundled models change
    # this frame by 2.7-6.2 levels on average, a flat grey output would by 62.8. (Pixel-wise white
    # noise is no probe for this: the quality tier smooths it by 31 levels, in float as in int8.)
    assert np.abs(out.astype(int) - frame).mean() < 12
