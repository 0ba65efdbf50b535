"""The trainer's real generators through the whole converter (slow: opt-in with -m slow)."""

import pytest

from converters.config import ConvertConfig
from converters.convert import convert


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
