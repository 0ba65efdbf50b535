"""The speed and prior options of the cnn generator: ``stem=2``, ``lowcut``, ``down`` and
``bound0``."""

from __future__ import annotations

import numpy as np
import pytest

from edge_deblur import models
from runtime.errors import InputError

FAST = {"widths": (16, 32, 64), "blocks": (1, 2, 2), "stem": 2}


def test_transposed_conv_macs_are_counted_per_input_pixel():
    from edge_deblur._keras import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inp)  # 9*3*8/4 = 54 per px
    x = keras.layers.Conv2DTranspose(3, 2, strides=2)(x)  # (1/4) * 4 * 8 * 3 = 24 per px
    m = keras.Model(inp, x)
    assert models.macs_per_pixel(m) == pytest.approx(54 + 24)
    # an up-sampling layer is not a down-sampling stride
    assert models.infer_pad_multiple(m) == 2


def test_stem2_has_no_full_resolution_feature_map():
    m = models.build_generator("cnn", "small", **FAST)
    full = [
        (layer.name, layer.output.shape[-1])
        for layer in keras_clone(m, 64).layers
        if layer.output.shape[1] == 64 and layer.output.shape[-1] > 3
    ]
    assert full == []
    info = models.describe("cnn", "small", **FAST)
    assert info.stem == 2 and info.pad_multiple == 8
    # cheaper than the full-resolution level it replaces (cnn-lite: 2474 MAC/px)
    assert 1000 < info.macs_per_pixel < models.describe("cnn", "small").macs_per_pixel / 2
    assert models.infer_pad_multiple(m) == 8


def keras_clone(model, side: int):
    from edge_deblur._keras import keras

    return keras.models.clone_model(model, input_tensors=keras.Input((side, side, 3), batch_size=1))


def test_fresh_stem2_model_is_near_identity_and_every_layer_learns():
    from edge_deblur._keras import tf

    m = models.build_generator("cnn", "small", **FAST)
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 48, 3), dtype=np.float32)
    assert np.abs(m(x).numpy() - x).max() < 0.02
    target = tf.constant(rng.random((2, 32, 48, 3), dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(m(x, training=True) - target))
    grads = tape.gradient(loss, m.trainable_variables)
    assert all(float(tf.norm(g)) > 0 for g in grads)


def test_remove_local_mean_drops_flat_offsets_and_keeps_fine_detail():
    from edge_deblur._keras import keras
    from edge_deblur.models.cnn import remove_local_mean

    inp = keras.Input((64, 64, 3))
    m = keras.Model(inp, remove_local_mean(inp, 16))
    flat = np.full((1, 64, 64, 3), 0.3, np.float32)
    assert np.abs(m(flat).numpy()).max() < 1e-6
    yy, xx = np.mgrid[:64, :64]
    checker = np.repeat((((yy + xx) % 2) * 2 - 1)[None, ..., None], 3, axis=-1).astype(np.float32)
    np.testing.assert_allclose(m(checker * 0.1).numpy(), checker * 0.1, atol=1e-6)
    # offset + detail: the offset goes, the detail stays
    np.testing.assert_allclose(m(flat + checker * 0.1).numpy(), checker * 0.1, atol=1e-5)
    negate = [layer for layer in m.layers if layer.name == "lowcut_negate"]
    assert negate and not negate[0].trainable and not negate[0].trainable_weights


def test_lowcut_sets_the_pad_multiple_and_is_not_trained():
    m = models.build_generator("cnn", "small", **FAST, lowcut=32)
    assert models.pad_multiple("cnn", "small", **FAST, lowcut=32) == 32
    assert models.infer_pad_multiple(m) == 32
    assert models.pad_multiple("cnn", "small", lowcut=8) == 8  # under the stride product
    # the fixed negation adds 3x3 + 3 frozen weights, nothing trainable
    plain = models.build_generator("cnn", "small", **FAST)
    assert len(m.trainable_weights) == len(plain.trainable_weights)
    assert models.count_params(m) == models.count_params(plain) + 12


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"stem": 3}, "stem"),
        ({"lowcut": 12}, "lowcut"),
        ({"down": "pool"}, "down"),
        ({"bound0": -1.0}, "bound0"),
        ({"bound0": "wide"}, "bound0"),
        ({"bound0": float("inf")}, "bound0"),
    ],
)
def test_bad_stem_or_lowcut_is_an_input_error(overrides, match):
    with pytest.raises(InputError, match=match):
        models.build_generator("cnn", "small", **overrides)


def test_temporal_refuses_stem_and_lowcut():
    with pytest.raises(InputError, match="temporal"):
        models.build_generator("temporal", "tiny", stem=2)
    with pytest.raises(InputError, match="temporal"):
        models.build_generator("temporal", "tiny", lowcut=16)
    with pytest.raises(InputError, match="temporal"):
        models.build_generator("temporal", "tiny", down="sep")
    with pytest.raises(InputError, match="temporal"):
        models.build_generator("temporal", "tiny", bound0=2.0)


def test_train_config_carries_stem_and_lowcut(tmp_path):
    from edge_deblur.config import TrainConfig

    cfg = TrainConfig(data=(str(tmp_path),), val_size=256, **FAST, lowcut=32)
    assert cfg.model_overrides() == {**FAST, "lowcut": 32}
    assert cfg.to_dict()["stem"] == 2 and cfg.to_dict()["lowcut"] == 32
    with pytest.raises(InputError, match="val_size"):
        TrainConfig(data=(str(tmp_path),), val_size=48, **FAST, lowcut=32)
    with pytest.raises(InputError, match="stem"):
        TrainConfig(data=(str(tmp_path),), stem=0)


def test_stem2_lowcut_converts_to_builtin_int8_that_maps_to_the_edge_tpu(tmp_path):
    from _toy import int8_tflite

    from converters.edgetpu import analyze
    from runtime.model_file import inspect_model

    tiny = {"widths": (8, 8, 8), "blocks": (1, 0, 1)}
    m = models.build_generator("cnn", "small", **tiny, stem=2, lowcut=16)
    info = inspect_model(int8_tflite(m, 64))
    ops = info.op_counts()
    assert {"TRANSPOSE_CONV", "AVERAGE_POOL_2D", "RESIZE_BILINEAR"} <= set(ops)
    assert "DEQUANTIZE" not in ops and "DEPTH_TO_SPACE" not in ops
    tconv = [op for op in info.operators if op.name == "TRANSPOSE_CONV"]
    assert all(op.version <= 3 for op in tconv)  # compiler 16 cannot parse v4
    report = analyze(info)
    assert report.ready, [c.problems for c in report.ops if c.problems]
    assert info.macs_per_pixel() == pytest.approx(models.macs_per_pixel(m), rel=0.02)


def test_edge_tpu_check_flags_an_op_version_the_compiler_cannot_parse():
    from dataclasses import replace

    from converters.edgetpu import check_op, supported_ops
    from runtime.model_file import OperatorInfo

    op = OperatorInfo(
        index=0,
        subgraph=0,
        name="TRANSPOSE_CONV",
        version=4,
        is_custom=False,
        inputs=(),
        outputs=(),
        macs=0,
    )
    table = supported_ops()["ops"]
    assert any("version 4" in p for p in check_op(op, table).problems)
    assert check_op(replace(op, version=2), table).maps


def test_pruning_preserving_qat_refuses_a_stem2_model_naming_the_layer():
    from converters.qat import check_quantizable
    from runtime.errors import ModelError

    m = models.build_generator("cnn", "small", widths=(8, 8, 8), blocks=(0, 0, 1), stem=2)
    check_quantizable(m, pruned=False)  # plain QAT takes Conv2DTranspose
    with pytest.raises(ModelError, match="correction.*Conv2DTranspose|Conv2DTranspose.*correction"):
        check_quantizable(m, pruned=True)


def test_converter_pad_multiple_of_a_bare_keras_file_counts_a_pool_branch_once(tmp_path):
    # Without a run folder the converter infers it from the layers: lowcut's pooling branch sits
    # beside the stride chain (lcm, not product), the transposed conv does not count.
    from converters.convert import load_source

    path = tmp_path / "fast.keras"
    models.build_generator("cnn", "small", **FAST, lowcut=32).save(path)
    assert load_source(path).pad_multiple() == 32
    plain = tmp_path / "plain.keras"
    models.build_generator("cnn", "small", **FAST).save(plain)
    assert load_source(plain).pad_multiple() == 8


def test_separable_down_sampling_costs_less_and_converts_to_edge_tpu_builtins():
    from _toy import int8_tflite

    from converters.edgetpu import analyze
    from runtime.model_file import inspect_model

    spec = {"widths": (16, 24, 64), "blocks": (1, 2, 2), "stem": 2, "lowcut": 32}
    full = models.describe("cnn", "small", **spec)
    sep = models.describe("cnn", "small", **spec, down="sep")
    # each stride-2 3x3 conv (a fifth of the MACs each) becomes a depthwise 3x3 and a 1x1
    assert sep.macs_per_pixel < 0.75 * full.macs_per_pixel
    assert sep.params < full.params and sep.pad_multiple == full.pad_multiple == 32
    m = models.build_generator("cnn", "small", **spec, down="sep")
    strided = [
        layer.name
        for layer in m.layers
        if getattr(layer, "strides", (1, 1))[0] == 2 and hasattr(layer, "kernel_size")
    ]
    assert strided == ["head_conv", "down1_dw", "down2_dw", "correction"]  # last: transposed
    info = inspect_model(int8_tflite(m, 64))
    assert info.op_counts()["DEPTHWISE_CONV_2D"] == 2 + 7  # the two downs + one per ds block
    report = analyze(info)
    assert report.ready, [c.problems for c in report.ops if c.problems]


def test_train_config_carries_down_and_rejects_unknown_kinds(tmp_path):
    from edge_deblur.config import TrainConfig

    cfg = TrainConfig(data=(str(tmp_path),), val_size=256, **FAST, down="sep")
    assert cfg.model_overrides() == {**FAST, "down": "sep"}
    assert cfg.to_dict()["down"] == "sep"
    with pytest.raises(InputError, match="down"):
        TrainConfig(data=(str(tmp_path),), down="maxpool")


def test_bound0_clips_every_level0_map_and_nothing_else():
    from edge_deblur._keras import keras
    from edge_deblur.train import relu_probe

    plain = models.build_generator("cnn", "small", **FAST, lowcut=32)
    m = models.build_generator("cnn", "small", **FAST, lowcut=32, bound0=2.0)
    # a clip costs no weights and no MACs
    assert models.count_params(m) == models.count_params(plain)
    assert models.macs_per_pixel(m) == pytest.approx(models.macs_per_pixel(plain))
    relus = {layer.name: layer for layer in m.layers if isinstance(layer, keras.layers.ReLU)}
    clipped = {name for name, layer in relus.items() if layer.max_value is not None}
    level0 = {name for name in clipped if name != "bound"}
    # head, both level-0 blocks' ReLUs and sums, the projection into the skip, the skip sum
    assert level0 == {
        "head_relu",
        "enc0_0_dw_relu",
        "enc0_0_pw_relu",
        "enc0_0_clip",
        "up1_proj_relu",
        "skip0_clip",
        "dec0_dw_relu",
        "dec0_pw_relu",
        "dec0_clip",
    }
    assert all(float(relus[name].max_value) == 2.0 for name in level0)
    assert relus["enc1_0_dw_relu"].max_value is None and relus["dec1_pw_relu"].max_value is None
    # every map the transposed convolution reads is within [0, 2], also on a harsh input
    x = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32) * 40 - 20
    probe = keras.Model(m.input, [m.get_layer(n).output for n in sorted(level0)])
    for out in probe(x):
        assert float(np.min(out)) >= 0.0 and float(np.max(out)) <= 2.0
    assert float(np.max(probe(x)[sorted(level0).index("dec0_clip")])) == 2.0  # it did clip
    # the live-activation log still sees the clipped activations, not the clips of sums
    assert len(relu_probe(m).outputs) == len(relu_probe(plain).outputs)


def test_bound0_converts_to_edge_tpu_builtins_and_its_clips_fold_away(tmp_path):
    from _toy import int8_tflite

    from converters.edgetpu import analyze
    from converters.simplify import drop_noop_ops
    from runtime.model_file import inspect_model

    tiny = {"widths": (8, 8, 8), "blocks": (1, 0, 1)}
    m = models.build_generator("cnn", "small", **tiny, stem=2, lowcut=16, bound0=2.0)
    data = int8_tflite(m, 64)
    raw = inspect_model(data).op_counts()
    assert raw.get("MINIMUM", 0) >= 6  # the clips reach the file as MINIMUM (+ RELU)
    info = inspect_model(drop_noop_ops(data).data)
    ops = info.op_counts()
    # a clipped output quantized to exactly [0, 2] saturates there: the MINIMUMs are no-ops
    assert "MINIMUM" not in ops
    assert analyze(info).ready


def test_train_config_carries_bound0(tmp_path):
    from edge_deblur.config import TrainConfig

    cfg = TrainConfig(data=(str(tmp_path),), val_size=256, **FAST, lowcut=32, bound0=2)
    assert cfg.model_overrides()["bound0"] == 2.0 and cfg.to_dict()["bound0"] == 2.0
    assert "bound0" not in TrainConfig(data=(str(tmp_path),)).model_overrides()
    with pytest.raises(InputError, match="bound0"):
        TrainConfig(data=(str(tmp_path),), bound0=-0.5)


def test_bound0_rescale_only_relus_fold_into_their_convolutions_and_stay_near_float():
    from _toy import int8_tflite

    from converters.simplify import drop_noop_ops, fold_requantize_relus
    from runtime.interpreter import load_interpreter
    from runtime.model_file import inspect_model

    tiny = {"widths": (8, 8, 8), "blocks": (1, 0, 1)}
    m = models.build_generator("cnn", "small", **tiny, stem=2, lowcut=16, bound0=2.0)
    data = drop_noop_ops(int8_tflite(m, 64)).data
    assert inspect_model(data).op_counts().get("RELU", 0) >= 1  # what the fold is for
    res = fold_requantize_relus(data)
    assert "RELU" not in inspect_model(res.data).op_counts()
    assert res.removed and all("folded into CONV_2D" in r["op"] for r in res.removed)
    assert fold_requantize_relus(res.data).removed == ()  # nothing left to fold

    def run(model_bytes, x):
        it = load_interpreter(model_bytes, threads=1)
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        it.set_tensor(i["index"], x)
        it.invoke()
        return it.get_tensor(o["index"]).astype(np.int32)

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    before, after = run(data, x), run(res.data, x)
    ref = np.clip(m(x.astype(np.float32) / 255.0).numpy() * 255.0, 0, 255)
    # one rounding instead of two: close to the unfolded file, and no further from float
    assert np.abs(before - after).max() <= 3
    assert np.abs(after - ref).mean() <= np.abs(before - ref).mean() + 0.05
