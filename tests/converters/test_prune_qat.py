import numpy as np
import pytest

from converters import calibration as cal
from converters.config import Structure
from converters.prune import kernel_sparsity, prune, schedule_for
from converters.qat import check_quantizable, qat
from runtime.errors import ModelError


@pytest.mark.parametrize("steps", [10, 50, 200, 5000])
def test_schedule_updates_often_enough_and_ends_on_an_update(steps):
    end, freq = schedule_for(steps)
    assert freq < 100 or steps >= 1250  # never the tfmot default trap for short runs
    assert end % freq == 0 and end <= steps and end // freq >= min(10, end)


@pytest.fixture(scope="module")
def tiles(pairs_dir):
    return cal.sample_tiles(cal.find_sources(None, pairs_dir), 16, (16, 16), seed=0)


def test_pruning_reaches_the_target_sparsity_measured_per_layer(tiny, tiles):
    res = prune(tiny(width=16), 0.5, tiles, steps=20, batch_size=4)
    assert {s.name for s in res.layers} == {"c1", "c2"}
    for layer in res.layers:
        assert layer.pruned and abs(layer.sparsity - 0.5) < 0.02
    assert abs(res.sparsity - 0.5) < 0.02
    # the stripped model has plain layers and the zeros really are in its weights
    assert [type(x).__name__ for x in res.model.layers].count("PruneLowMagnitude") == 0
    assert abs(kernel_sparsity(res.model)[0].sparsity - 0.5) < 0.02


def test_2_4_structured_pruning_keeps_two_of_every_four(tiny, tiles):
    res = prune(tiny(width=16), 0.5, tiles, steps=10, structured=Structure.M2N4, batch_size=4)
    by_name = {s.name: s for s in res.layers}
    assert not by_name["c1"].pruned  # 3 input channels: not a multiple of 4, left dense
    assert by_name["c2"].pruned
    k = np.asarray(res.model.get_layer("c2").kernel)  # (3, 3, 16, 3): groups along Cin
    groups = np.moveaxis(k, 2, -1).reshape(-1, 4)
    assert (np.sum(groups == 0, axis=1) >= 2).all()


def test_qat_returns_the_float_architecture_with_trained_weights(tiny, tiles):
    model = tiny(width=4)
    res = qat(model, tiles, steps=2, batch_size=4, learning_rate=1e-3)
    assert [type(x).__name__ for x in res.model.layers] == [type(x).__name__ for x in model.layers]
    moved = [
        not np.array_equal(a, b)
        for a, b in zip(model.get_weights(), res.model.get_weights(), strict=True)
    ]
    assert any(moved) and res.to_dict()["scheme"] == "default 8-bit"


@pytest.mark.slow
def test_qat_keeps_the_float_architecture_and_sparsity(tiny, tiles):
    pruned = prune(tiny(width=16), 0.5, tiles, steps=10, batch_size=4).model
    res = qat(pruned, tiles, steps=3, pruned=True, batch_size=4)
    assert [type(x).__name__ for x in res.model.layers] == [type(x).__name__ for x in pruned.layers]
    assert abs(kernel_sparsity(res.model)[0].sparsity - 0.5) < 0.02
    assert res.to_dict()["scheme"] == "prune-preserving" and len(res.losses) == 3


def _with(layer_factory):
    from edge_deblur._keras import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = layer_factory(keras)(x)
    out = keras.layers.Conv2D(3, 3, padding="same", name="c2")(x)
    return keras.Model(inp, out)


@pytest.mark.parametrize(
    ("factory", "kind", "fix"),
    [
        (lambda k: k.layers.PReLU(shared_axes=[1, 2], name="odd"), "PReLU", "ReLU"),
        (lambda k: k.layers.LayerNormalization(name="odd"), "LayerNormalization", "remove"),
        (lambda k: k.layers.Lambda(lambda t: t * 2.0, name="odd"), "Lambda", "built-in"),
        (lambda k: k.layers.Activation("swish", name="odd"), "Activation", "relu"),
    ],
)
def test_unquantizable_layer_named_with_reason_and_fix(factory, kind, fix):
    with pytest.raises(ModelError) as err:
        check_quantizable(_with(factory))
    msg = str(err.value)
    assert "'odd'" in msg and kind in msg and fix in msg and "\n" not in msg


def test_conv_transpose_only_rejected_under_pruning_preserving_qat():
    def factory(k):
        return k.layers.Conv2DTranspose(4, 3, padding="same", name="odd")

    check_quantizable(_with(factory), pruned=False)
    with pytest.raises(ModelError, match="UpSampling2D"):
        check_quantizable(_with(factory), pruned=True)
