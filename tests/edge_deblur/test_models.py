"""The model registry: exact MAC counts, identity start, live gradients, builtin-only int8."""

from __future__ import annotations

import numpy as np
import pytest

from edge_deblur import models
from runtime.errors import InputError

ALLOWED_INT8_OPS = {
    "ADD",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "MINIMUM",
    "MAXIMUM",
    "QUANTIZE",
    "DEQUANTIZE",
    "RELU",
    "RELU6",
    "RESIZE_NEAREST_NEIGHBOR",
    "CONCATENATION",
}


def test_unknown_arch_or_size_lists_the_valid_ones():
    with pytest.raises(InputError, match="cnn, gan"):
        models.build_generator("unet", "small")
    with pytest.raises(InputError, match="tiny, small, base"):
        models.pad_multiple("cnn", "huge")


def test_macs_counter_matches_hand_count_of_a_two_conv_model():
    from edge_deblur._keras import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inp)  # 9*3*8/4 = 54 per px
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 9*8/4 = 18
    x = keras.layers.Conv2D(4, 1)(x)  # 8*4/4 = 8
    m = keras.Model(inp, x)
    assert models.macs_per_pixel(m) == pytest.approx(54 + 18 + 8)


@pytest.mark.parametrize(
    ("size", "low", "high"), [("tiny", 800, 1600), ("small", 3000, 5000), ("base", 12000, 20000)]
)
def test_sizes_sit_near_their_mac_targets(size, low, high):
    info = models.describe("cnn", size)
    assert low <= info.macs_per_pixel <= high
    assert info.params > 0 and info.pad_multiple == 8


def test_tiny_and_small_straddle_the_pi4_budget():
    # 15 FPS at 640x480 on a Pi 4 allows ~2.4-3k MAC/px (RESEARCH.md).
    assert models.describe("cnn", "tiny").macs_per_pixel < 2400
    assert models.describe("cnn", "small").macs_per_pixel > 3000


def test_generator_uses_only_deployable_layers():
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
    m = models.build_generator("gan", "tiny")
    bad = [type(layer).__name__ for layer in m.layers if not isinstance(layer, allowed)]
    assert bad == []
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in m.layers)
    ups = [layer for layer in m.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert ups and all(layer.interpolation == "nearest" for layer in ups)


def test_fresh_generator_is_near_identity_and_bounded():
    m = models.build_generator("cnn", "small")
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 48, 3), dtype=np.float32)
    y = m(x).numpy()
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 0.02
    big = np.full((1, 16, 16, 3), 1.5, np.float32)  # out-of-range input still clips
    out = m(big).numpy()
    assert out.max() <= 1.0 and out.min() >= 0.0


def test_every_layer_gets_a_gradient_at_the_first_step():
    # Issue 6: a previous model had all ReLUs die; the final layer starts near zero, not at
    # zero, so every trainable weight gets a nonzero gradient from step one.
    from edge_deblur._keras import tf

    m = models.build_generator("cnn", "tiny")
    rng = np.random.default_rng(1)
    x = tf.constant(rng.random((2, 32, 32, 3), dtype=np.float32))
    target = tf.constant(rng.random((2, 32, 32, 3), dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(m(x, training=True) - target))
    grads = tape.gradient(loss, m.trainable_variables)
    zero = [
        v.name
        for v, g in zip(m.trainable_variables, grads, strict=True)
        if float(tf.norm(g)) == 0.0
    ]
    assert zero == []


def test_overrides_change_widths_and_bad_overrides_are_input_errors():
    a = models.describe("cnn", "tiny")
    b = models.describe("cnn", "tiny", widths=(8, 12, 24, 32))
    assert b.macs_per_pixel > a.macs_per_pixel
    with pytest.raises(InputError, match="levels"):
        models.build_generator("cnn", "tiny", widths=(8, 16))
    with pytest.raises(InputError, match="depth"):
        models.build_generator("cnn", "tiny", depth=(1,))


def test_infer_pad_multiple_matches_registry():
    for size in models.SIZES:
        spec = models.size_spec("cnn", size)
        m = models.build_generator("cnn", size)
        assert models.infer_pad_multiple(m) == models.pad_multiple("cnn", size)
        assert m.count_params() == models.count_params(m)
        assert len(spec["widths"]) == 4


def test_patchgan_scores_patches():
    d = models.build_discriminator("gan", "small")
    assert models.build_discriminator("cnn", "small") is None
    out = d(np.zeros((1, 64, 64, 3), np.float32))
    assert out.shape == (1, 8, 8, 1)


def _int8_ops(model) -> tuple[set[str], np.ndarray, np.ndarray]:
    from _toy import int8_tflite
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=int8_tflite(model, 64), num_threads=1)
    ops = {d["op_name"] for d in interp._get_ops_details()}
    interp.allocate_tensors()
    rng = np.random.default_rng(1)
    x = (rng.random((1, 64, 64, 3)) * 255).astype(np.uint8)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return ops, x, interp.get_tensor(interp.get_output_details()[0]["index"])


REGISTERED = [
    # cnn/tiny runs always; the rest (gan shares the cnn generator) under `make test-all`.
    # temporal has two inputs: its int8 conversion is tested in
    # tests/converters/test_registry_models.py and test_temporal_model.py.
    pytest.param(a, s, marks=[] if (a, s) == ("cnn", "tiny") else [pytest.mark.slow])
    for a in models.ARCHS
    if a != "temporal"
    for s in models.SIZES
]


@pytest.mark.parametrize(("arch", "size"), REGISTERED)
def test_registered_model_converts_to_builtin_int8(arch, size):
    ops, x, y = _int8_ops(models.build_generator(arch, size))
    assert ops <= ALLOWED_INT8_OPS, ops - ALLOWED_INT8_OPS
    assert "RELU_0_TO_1" not in ops
    assert y.dtype == np.uint8 and y.shape == x.shape
    # A fresh model is the identity: the int8 output stays within quantization error of it.
    assert np.abs(y.astype(int) - x.astype(int)).mean() < 1.5
