"""The trainer's real generators through the whole converter (slow: opt-in with -m slow)."""

import pytest

from converters.config import ConvertConfig
from converters.convert import convert
from edge_deblur.models import ARCHS

INT8_BUILTINS = {
    "ADD",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "MAXIMUM",
    "MINIMUM",
    "QUANTIZE",
    "RELU",
    "RELU6",
    "RESIZE_NEAREST_NEIGHBOR",
}


@pytest.mark.slow
@pytest.mark.parametrize("size", ["tiny", "small"])
def test_registry_cnn_converts_to_an_edge_tpu_ready_integer_model(size, pairs_dir, tmp_path):
    from edge_deblur.models import build_generator

    path = tmp_path / "g.keras"
    build_generator("cnn", size).save(path)
    cfg = ConvertConfig(
        quant="int8",
        pairs=str(pairs_dir),
        input_size=(64, 64),
        calib_tiles=32,
        val_tiles=4,
        prune=0.5,
        prune_steps=20,
        qat_steps=10,
        batch_size=4,
    )
    r = convert(path, tmp_path / "g.tflite", cfg).report
    assert r["integer_only"] and r["edgetpu"]["ready"]
    assert r["edgetpu"]["tpu_mac_share"] == 1.0
    pruned = [s for s in r["prune"]["layers"] if s["pruned"]]
    assert pruned and all(abs(s["sparsity"] - 0.5) < 0.02 for s in pruned)
    # depthwise kernels stay dense and are counted: the overall figure is a little under 50%
    assert 0.4 < r["prune"]["sparsity"] < 0.5
    assert all(not s["pruned"] for s in r["prune"]["layers"] if s["kind"] == "DepthwiseConv2D")
    assert r["validation"]["passed"]
    assert r["metadata"]["pad_multiple"] == 8


@pytest.mark.parametrize(
    "arch", [a if a == "temporal" else pytest.param(a, marks=pytest.mark.slow) for a in ARCHS]
)
def test_every_registered_arch_converts_to_int8_builtins_with_integer_io(arch, pairs_dir, tmp_path):
    """Generated from the registry: a new arch is covered the day it is registered (cnn/gan
    have their fast conversion tests elsewhere, so only temporal runs in the fast set)."""
    from edge_deblur.models import build_generator

    path = tmp_path / "g.keras"
    build_generator(arch, "tiny", widths=(4, 8, 8, 8), blocks=(0, 1, 0, 1)).save(path)
    cfg = ConvertConfig(
        quant="int8", pairs=str(pairs_dir), input_size=(32, 32), calib_tiles=8, val_tiles=4
    )
    r = convert(path, tmp_path / "g.tflite", cfg).report
    assert r["integer_only"] and r["edgetpu"]["ready"]
    assert {op["op"] for op in r["ops"]} <= INT8_BUILTINS
    assert all(t["dtype"] == "uint8" for t in r["inputs"] + r["outputs"])
    assert r["validation"]["passed"]
    if arch == "temporal":
        assert len(r["inputs"]) == len(r["outputs"]) == 2
        assert sorted(t["shape"][1] for t in r["inputs"]) == [4, 32]  # state at 1/8
        assert r["metadata"]["temporal"]["state_shape"] == [1, 4, 4, 8]
