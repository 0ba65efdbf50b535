"""runtime.tiling: overlapping tiles, feathered blending, no seams."""

from __future__ import annotations

import numpy as np
import pytest

from runtime import tiling
from runtime.engine import Engine


def _gradient(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 3, yy * 3, (xx + yy) * 1.5], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "length,tile,overlap", [(16, 16, 8), (17, 16, 8), (100, 16, 8), (5, 16, 8)]
)
def test_tiles_cover_the_frame_and_overlap_enough(length, tile, overlap):
    starts = tiling.tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] + tile >= length and starts[-1] + tile <= max(length, tile)
    for a, b in zip(starts, starts[1:], strict=False):
        assert b > a and a + tile - b >= overlap


def test_feather_ramps_sum_to_one_across_the_overlap():
    r = tiling.ramp(16, 8, 2)
    assert r[0] < 0.01 and r[1] < 0.01 and r[-1] == 1.0
    np.testing.assert_allclose([r[k] + r[8 - 1 - k] for k in range(2, 6)], 1.0, atol=1e-6)


def test_flat_frame_gives_flat_output_through_tiles(uint8_model):
    eng = Engine(uint8_model)
    frame = np.full((53, 71, 3), 97, np.uint8)
    out = eng.process(frame)
    assert eng.tile_count(53, 71) > 1
    inner = out[2:-2, 2:-2].reshape(-1, 3)  # the model's own zero padding acts at frame borders
    assert np.unique(inner, axis=0).shape[0] == 1


@pytest.mark.parametrize("frame", [_gradient(64, 80), np.full((48, 40, 3), 200, np.uint8)])
def test_tiled_equals_whole_frame_on_gradient_and_flat_images(dynamic_model, frame):
    """A dynamic model run once on the whole frame is the reference: tiles must not show."""
    eng = Engine(dynamic_model)
    whole = eng.process(frame)
    plan = tiling.plan_tiles(*frame.shape[:2], 16, 16)
    assert plan.count > 4
    tiled = tiling.run_tiled(frame, lambda t: eng.process(np.ascontiguousarray(t)), plan)
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff.max() <= 1, f"seam: max difference {diff.max()}"


def test_without_feathering_margin_tiles_would_show(dynamic_model):
    """The check above has teeth: with no overlap the tile borders differ from the whole frame."""
    eng = Engine(dynamic_model)
    frame = _gradient(64, 80)
    whole = eng.process(frame)
    plan = tiling.plan_tiles(64, 80, 16, 16, overlap=0)
    tiled = tiling.run_tiled(frame, lambda t: eng.process(np.ascontiguousarray(t)), plan)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() > 1


def test_small_frames_are_padded_and_cropped_back():
    seen = []

    def fn(t):
        seen.append(t.shape)
        return t

    frame = _gradient(5, 9)
    out = tiling.run_tiled(frame, fn, tiling.plan_tiles(5, 9, 16, 16))
    assert seen == [(16, 16, 3)]
    np.testing.assert_array_equal(out, frame)


def test_identity_fn_is_reproduced_exactly_through_blending():
    frame = _gradient(61, 47)
    out = tiling.run_tiled(frame, lambda t: t, tiling.plan_tiles(61, 47, 16, 16))
    np.testing.assert_array_equal(out, frame)
