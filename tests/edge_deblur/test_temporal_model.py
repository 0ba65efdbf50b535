"""``--arch temporal``: the recurrent generator in the registry, its cost, its layers, its state."""

from __future__ import annotations

import numpy as np
import pytest

from edge_deblur import models

TINY = {"widths": (4, 8, 8, 8), "blocks": (0, 1, 0, 1)}


def test_temporal_is_registered_with_a_pad_multiple_of_8():
    assert "temporal" in models.ARCHS
    assert models.pad_multiple("temporal", "small") == 8


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_temporal_costs_within_6_percent_of_the_cnn_of_the_same_size(size):
    cnn, tmp = models.describe("cnn", size), models.describe("temporal", size)
    c = cnn.widths[-1]
    # the two 1x1 state convolutions at 1/64 of the pixels: 3 * C * C / 64 MACs per pixel
    assert tmp.macs_per_pixel == pytest.approx(cnn.macs_per_pixel + 3 * c * c / 64)
    assert tmp.macs_per_pixel / cnn.macs_per_pixel < 1.06


def test_temporal_uses_only_deployable_layers_and_two_inputs_and_outputs():
    from edge_deblur._keras import keras

    allowed = (
        keras.layers.InputLayer,
        keras.layers.Conv2D,
        keras.layers.DepthwiseConv2D,
        keras.layers.ReLU,
        keras.layers.Add,
        keras.layers.Concatenate,
        keras.layers.UpSampling2D,
    )
    m = models.build_generator("temporal", "tiny")
    assert [type(x).__name__ for x in m.layers if not isinstance(x, allowed)] == []
    assert [t.name.split(":")[0] for t in m.inputs] == ["image", "state"]
    assert len(m.outputs) == 2


def test_fresh_temporal_is_near_identity_and_its_state_is_bounded():
    from edge_deblur.models.temporal import STATE_MAX, state_shape

    m = models.build_generator("temporal", "tiny", **TINY)
    x = np.random.default_rng(0).random((1, 40, 56, 3)).astype(np.float32)
    s0 = np.zeros(state_shape(m, 40, 56), np.float32)
    assert s0.shape == (1, 5, 7, 8)
    y, s1 = m([x, s0])
    assert np.abs(np.asarray(y) - x).max() < 0.01
    s1 = np.asarray(s1)
    assert s1.shape == s0.shape and s1.min() >= 0 and s1.max() <= STATE_MAX
    # the state carries information: a different previous state changes the output
    y2, _ = m([x, np.full_like(s0, 3.0)])
    assert not np.array_equal(np.asarray(y), np.asarray(y2))


def test_a_bare_temporal_keras_file_is_recognised_and_pruning_is_refused(tmp_path):
    from converters.config import ConvertConfig
    from converters.convert import convert
    from converters.temporal import is_temporal_source
    from runtime.errors import InputError

    path = tmp_path / "t.keras"
    models.build_generator("temporal", "tiny", **TINY).save(path)
    models.build_generator("cnn", "tiny", **TINY).save(tmp_path / "c.keras")
    assert is_temporal_source(path) and not is_temporal_source(tmp_path / "c.keras")
    with pytest.raises(InputError, match="--prune/--qat-steps/--edgetpu: expected none"):
        convert(path, tmp_path / "t.tflite", ConvertConfig(quant="fp32", prune=0.5))
    with pytest.raises(InputError, match="--prune/--qat-steps/--edgetpu: expected none"):
        convert(path, tmp_path / "t.tflite", ConvertConfig(quant="int8", edgetpu=True))
    with pytest.raises(InputError, match="--weights: expected per-channel"):
        convert(path, tmp_path / "t.tflite", ConvertConfig(quant="int8", weights="per-tensor"))
    assert not (tmp_path / "t.tflite").exists()
