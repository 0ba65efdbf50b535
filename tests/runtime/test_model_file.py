"""runtime.model_file: metadata read/write and model inspection without an interpreter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runtime import model_file
from runtime.errors import InputError, ModelError
from runtime.model_file import inspect_model, op_macs, read_metadata, write_metadata

META = {
    "format": 1,
    "package_version": "0.1.0",
    "arch": "cnn",
    "size": "tiny",
    "input_size": [16, 16],
    "pad_multiple": 4,
    "normalization": {"color": "RGB", "range": [0, 1]},
    "quant": "int8",
    "io_dtype": "uint8",
}


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, num_threads=1)
    d = it.get_input_details()[0]
    if -1 in list(d["shape_signature"]):
        it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(d["index"], x.astype(d["dtype"]))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def test_fixtures_have_no_edge_deblur_metadata(uint8_model, dynamic_model):
    assert read_metadata(uint8_model) is None
    assert read_metadata(dynamic_model.read_bytes()) is None


@pytest.mark.parametrize("name", ["uint8_model", "int8_model", "dynamic_model", "not_image_model"])
def test_write_metadata_round_trips_and_model_runs_identically(name, request):
    path = request.getfixturevalue(name)
    raw = path.read_bytes()
    tagged = write_metadata(raw, META)
    assert read_metadata(tagged) == META
    # The converter's own entries survive.
    names = inspect_model(tagged).metadata_names
    assert "min_runtime_version" in names and names.count("edge_deblur") == 1
    shape = inspect_model(raw).inputs[0].shape
    if len(shape) == 4 and shape[1] == 1:
        shape = (1, 12, 20, 3)
    x = np.random.default_rng(3).integers(0, 120, size=shape)
    np.testing.assert_array_equal(_run(raw, x), _run(tagged, x))


def test_write_metadata_replaces_the_existing_entry(uint8_model):
    once = write_metadata(uint8_model.read_bytes(), META)
    twice = write_metadata(once, {**META, "arch": "gan"})
    assert read_metadata(twice)["arch"] == "gan"
    assert inspect_model(twice).metadata_names.count("edge_deblur") == 1
    # The buffer is reused, not appended: sizes stay within the payload difference.
    assert abs(len(twice) - len(once)) < 64


def test_write_metadata_keeps_buffers_16_byte_aligned(int8_model):
    from ai_edge_litert import schema_py_generated as schema

    tagged = write_metadata(int8_model.read_bytes(), META)
    m = schema.Model.GetRootAs(tagged, 0)
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        if b.DataLength():
            start = b._tab.Vector(b._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"


def test_write_metadata_rejects_non_json_values(uint8_model):
    with pytest.raises(InputError, match="JSON-serialisable"):
        write_metadata(uint8_model.read_bytes(), {"x": object()})
    with pytest.raises(InputError, match="metadata: expected a dict"):
        write_metadata(uint8_model.read_bytes(), ["not", "a", "dict"])  # type: ignore[arg-type]


def test_damaged_metadata_reads_as_none_with_a_warning(uint8_model):
    tagged = write_metadata(uint8_model.read_bytes(), {"k": "MARKER-MARKER"})
    payload = json.dumps({"k": "MARKER-MARKER"}, sort_keys=True).encode()
    assert tagged.count(payload) == 1
    broken = tagged.replace(payload, b"\xff" * len(payload))
    with pytest.warns(UserWarning, match="not UTF-8 JSON"):
        assert read_metadata(broken) is None


def test_not_a_tflite_file_is_a_model_error(tmp_path):
    bad = tmp_path / "model with spaces.tflite"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelError, match="model with spaces.tflite.*TFLite flatbuffer"):
        read_metadata(bad)
    with pytest.raises(ModelError, match="TFLite flatbuffer"):
        inspect_model(b"")


@pytest.mark.parametrize("keep", [100, 1000, 3000])
def test_a_truncated_model_is_a_model_error_naming_it(uint8_model, keep):
    cut = uint8_model.read_bytes()[:keep]
    # What the runtime reads before loading an interpreter: the metadata (which may sit before
    # the cut), then the operator tables.
    with pytest.raises(ModelError, match="model 'cut.tflite'.*(truncated|damaged)"):
        read_metadata(cut, name="model 'cut.tflite'")
        inspect_model(cut, name="model 'cut.tflite'")


def test_missing_model_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.tflite"):
        inspect_model(tmp_path / "nope.tflite")


def test_inspect_fixed_int8_model(int8_model):
    info = inspect_model(int8_model)
    assert info.static_shapes
    assert [op.name for op in info.operators][:3] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    (inp,) = info.inputs
    assert inp.shape == (1, 16, 16, 3) and inp.dtype == "int8"
    assert inp.quantization is not None and inp.quantization.zero_points == (-128,)
    assert not inp.quantization.per_channel
    conv = info.operators[0]
    weights = conv.inputs[1]
    assert weights.is_constant and weights.shape == (8, 3, 3, 3)
    assert weights.quantization.per_channel and len(weights.quantization.scales) == 8
    # 16*16 pixels: 3x3x3->8 conv, 3x3 depthwise on 8, 1x1 8->3 conv.
    expected = 256 * (8 * 27 + 8 * 9 + 3 * 8)
    assert info.total_macs == expected
    assert info.macs_per_pixel() == pytest.approx(expected / 256)
    # int8 weights (27*8 + 9*8 + 8*3 bytes) plus int32 biases (at most 19) and a clip constant.
    consts = {t.buffer: t.nbytes for op in info.operators for t in op.inputs if t.is_constant}
    assert info.parameter_bytes == sum(consts.values())
    assert 27 * 8 + 9 * 8 + 8 * 3 < info.parameter_bytes <= 27 * 8 + 9 * 8 + 24 + 19 * 4 + 4
    assert info.op_counts()["CONV_2D"] == 2


def test_inspect_dynamic_model_is_not_static(dynamic_model):
    info = inspect_model(dynamic_model)
    assert not info.static_shapes
    assert info.inputs[0].shape_signature == (1, -1, -1, 3)
    assert info.inputs[0].quantization is None and info.inputs[0].dtype == "float32"
    assert info.macs_per_pixel() is None


def test_inspect_not_image_model_counts_dense_macs(not_image_model):
    info = inspect_model(not_image_model)
    assert info.inputs[0].shape == (1, 10) and info.outputs[0].shape == (1, 4)
    assert [op.name for op in info.operators] == ["FULLY_CONNECTED"]
    assert info.total_macs == 40


def test_op_macs_formulas():
    assert op_macs("CONV_2D", [(1, 8, 8, 4), (16, 3, 3, 4)], [(1, 8, 8, 16)]) == 64 * 16 * 36
    # Grouped conv: filter Cin is Cin / groups.
    assert op_macs("CONV_2D", [(1, 8, 8, 4), (16, 3, 3, 2)], [(1, 8, 8, 16)]) == 64 * 16 * 18
    assert op_macs("DEPTHWISE_CONV_2D", [(1, 8, 8, 4), (1, 5, 5, 4)], [(1, 8, 8, 4)]) == 256 * 25
    assert op_macs("TRANSPOSE_CONV", [(4,), (3, 2, 2, 8), (1, 4, 4, 8)], [(1, 8, 8, 3)]) == (
        16 * 8 * 3 * 2 * 2
    )
    assert op_macs("BATCH_MATMUL", [(2, 5, 7), (2, 7, 3)], [(2, 5, 3)]) == 30 * 7
    assert op_macs("BATCH_MATMUL", [(2, 7, 5), (2, 7, 3)], [(2, 5, 3)], adj_x=True) == 30 * 7
    assert op_macs("ADD", [(1, 8, 8, 3)] * 2, [(1, 8, 8, 3)]) == 0


def test_without_schema_metadata_still_reads_and_inspect_says_what_to_install(
    uint8_model, monkeypatch
):
    tagged = write_metadata(uint8_model.read_bytes(), META)
    monkeypatch.setattr(model_file, "_schema", lambda: None)
    assert read_metadata(tagged) == META
    with pytest.raises(ModelError, match="pip install ai-edge-litert"):
        model_file.write_metadata(tagged, META)
