"""The CPU rewrites, bit for bit: 2x nearest up-sampling becomes CONCATENATION + DEPTH_TO_SPACE, a
block-writing transposed convolution becomes a 1x1 CONV_2D + DEPTH_TO_SPACE, and (for the Engine)
the uint8<->int8 QUANTIZE ops at the graph's ends go."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.cpu_graph import (
    nearest_to_depth_to_space,
    transpose_conv_to_depth_to_space,
    uint8_io_to_int8,
)
from runtime.interpreter import load_interpreter
from runtime.model_file import _require_schema, inspect_model, read_metadata, repack

ZOO = Path(__file__).resolve().parents[2] / "runtime" / "zoo"


def _ops(data: bytes) -> list[str]:
    return [op.name for op in inspect_model(data).operators]


def _run(data: bytes, x: np.ndarray, rewrite: bool) -> np.ndarray:
    it = load_interpreter(data, threads=1, rewrite=rewrite)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(i["index"], x)
    it.invoke()
    return it.get_tensor(o["index"]).copy()


def _input(data: bytes, seed: int) -> np.ndarray:
    t = inspect_model(data).inputs[0]
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        return rng.random(t.shape, dtype=np.float32)
    return rng.integers(0, 256, t.shape).astype(np.uint8)


@pytest.mark.parametrize("name", ["cnn-faster-lc-int8", "cnn-tiny-fp32"])
def test_bundled_models_run_bit_exact_with_every_nearest_resize_replaced(name):
    data = (ZOO / f"{name}.tflite").read_bytes()
    before = _ops(data)
    out = nearest_to_depth_to_space(data)
    after = _ops(out.data)
    n = before.count("RESIZE_NEAREST_NEIGHBOR")
    assert n >= 2 and len(out.replaced) == n
    assert "RESIZE_NEAREST_NEIGHBOR" not in after
    assert after.count("CONCATENATION") == n and after.count("DEPTH_TO_SPACE") == n
    assert len(after) == len(before) + n
    # graph I/O and the metadata entry survive
    assert read_metadata(out.data) == read_metadata(data)
    info_a, info_b = inspect_model(data), inspect_model(out.data)
    assert [t.shape for t in info_b.inputs] == [t.shape for t in info_a.inputs]
    assert [t.name for t in info_b.outputs] == [t.name for t in info_a.outputs]
    for seed in (0, 1):
        x = _input(data, seed)
        np.testing.assert_array_equal(_run(out.data, x, False), _run(data, x, False))


def test_load_interpreter_rewrites_only_when_asked_and_the_output_is_unchanged():
    data = (ZOO / "cnn-tiny-int8.tflite").read_bytes()
    x = _input(data, 2)
    np.testing.assert_array_equal(_run(data, x, True), _run(data, x, False))
    it = load_interpreter(data, threads=1, rewrite=True)
    kinds = {d["op_name"] for d in it._get_ops_details()}
    assert "DEPTH_TO_SPACE" in kinds and "RESIZE_NEAREST_NEIGHBOR" not in kinds
    it = load_interpreter(data, threads=1, rewrite=False)
    assert "RESIZE_NEAREST_NEIGHBOR" in {d["op_name"] for d in it._get_ops_details()}


def _edited(data: bytes, edit) -> bytes:
    schema = _require_schema("test")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    edit(schema, model)
    return repack(model, len(data))


def _resizes(schema, model):
    sg = model.subgraphs[0]
    for op in sg.operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode == (
            schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR
        ):
            yield sg, op


def test_align_corners_resize_is_kept():
    def align_first(schema, model):
        _, op = next(_resizes(schema, model))
        op.builtinOptions.alignCorners = True

    data = _edited((ZOO / "cnn-tiny-int8.tflite").read_bytes(), align_first)
    out = nearest_to_depth_to_space(data)
    assert _ops(out.data).count("RESIZE_NEAREST_NEIGHBOR") == 1
    assert len(out.replaced) == _ops(data).count("RESIZE_NEAREST_NEIGHBOR") - 1


def test_resize_whose_output_quantization_differs_is_kept():
    def requantize_all(schema, model):
        for sg, op in _resizes(schema, model):
            q = sg.tensors[int(op.outputs[0])].quantization
            q.scale = [float(q.scale[0]) * 2.0]

    data = _edited((ZOO / "cnn-tiny-int8.tflite").read_bytes(), requantize_all)
    out = nearest_to_depth_to_space(data)
    assert out.replaced == () and out.data is data


def test_models_without_a_resize_or_not_parseable_come_back_unchanged(uint8_model):
    data = Path(uint8_model).read_bytes()
    assert "RESIZE_NEAREST_NEIGHBOR" not in _ops(data)
    out = nearest_to_depth_to_space(data)
    assert out.data is data and out.replaced == ()
    junk = b"\x00" * 8 + b"TFL3" + b"\xff" * 40
    assert nearest_to_depth_to_space(junk).data is junk


def test_rewriting_twice_changes_nothing_more():
    data = (ZOO / "cnn-tiny-int8.tflite").read_bytes()
    once = nearest_to_depth_to_space(data).data
    twice = nearest_to_depth_to_space(once)
    assert twice.replaced == () and twice.data is once


def test_graph_to_run_rewrites_for_the_cpu_only_and_the_engine_reports_it():
    from runtime.cpu_graph import graph_to_run
    from runtime.engine import Engine

    data = (ZOO / "cnn-tiny-int8.tflite").read_bytes()
    off_cpu = graph_to_run(data, False, True)
    assert off_cpu.data is data and off_cpu.replaced == ()
    on_cpu = graph_to_run(data, True)
    assert on_cpu.replaced == nearest_to_depth_to_space(data).replaced and len(on_cpu.replaced) == 3
    assert graph_to_run(data, True) is on_cpu  # one parse shared by the interpreter and the engine
    with_io = graph_to_run(data, True, True)
    assert with_io.replaced[:3] == on_cpu.replaced and len(with_io.replaced) == 5  # + in, out
    assert Engine(ZOO / "cnn-tiny-int8.tflite", threads=1).cpu_rewrites == with_io.replaced


def _tconvs(schema, model):
    sg = model.subgraphs[0]
    for op in sg.operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.TRANSPOSE_CONV:
            yield sg, op


@pytest.mark.parametrize("name", ["cnn-faster-lc-srgb-int8", "cnn-faster-lc-srgb-fp32"])
def test_block_transpose_conv_becomes_conv_1x1_and_depth_to_space_bit_exact(name):
    data = (ZOO / f"{name}.tflite").read_bytes()
    out = transpose_conv_to_depth_to_space(data)
    before, after = _ops(data), _ops(out.data)
    assert before.count("TRANSPOSE_CONV") == 1 and "TRANSPOSE_CONV" not in after
    assert len(out.replaced) == 1 and after.count("DEPTH_TO_SPACE") == 1
    assert after.count("CONV_2D") == before.count("CONV_2D") + 1
    assert read_metadata(out.data) == read_metadata(data)
    info = inspect_model(out.data)
    new_conv = next(op for op in info.operators if op.outputs[0].name.endswith("/blocks"))
    assert new_conv.outputs[0].shape[-1] == 12  # 2x2 blocks of 3 channels
    for seed in (0, 1):
        x = _input(data, seed)
        np.testing.assert_array_equal(_run(out.data, x, False), _run(data, x, False))
    assert transpose_conv_to_depth_to_space(out.data).data is out.data  # nothing left to do


def test_transpose_conv_whose_blocks_overlap_is_kept():
    def stride_one(schema, model):
        _, op = next(_tconvs(schema, model))
        op.builtinOptions.strideH = op.builtinOptions.strideW = 1

    data = _edited((ZOO / "cnn-faster-lc-int8.tflite").read_bytes(), stride_one)
    out = transpose_conv_to_depth_to_space(data)
    assert out.replaced == () and out.data is data


def test_uint8_io_becomes_int8_and_only_the_top_bit_of_each_byte_changes():
    data = (ZOO / "cnn-faster-lc-int8.tflite").read_bytes()
    out = uint8_io_to_int8(data)
    a, b = inspect_model(data), inspect_model(out.data)
    assert _ops(data).count("QUANTIZE") == 2 and "QUANTIZE" not in _ops(out.data)
    assert [t.dtype for t in a.inputs + a.outputs] == ["uint8", "uint8"]
    assert [t.dtype for t in b.inputs + b.outputs] == ["int8", "int8"]
    assert [t.name for t in b.inputs + b.outputs] == [t.name for t in a.inputs + a.outputs]
    assert [t.quantization.zero_points for t in b.inputs + b.outputs] == [(-128,), (-128,)]
    it = load_interpreter(out.data, threads=1, rewrite=False)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    assert i["dtype"] == np.int8 and o["dtype"] == np.int8
    for seed in (0, 1):
        x = _input(data, seed)
        it.set_tensor(i["index"], (x ^ 0x80).view(np.int8))
        it.invoke()
        got = it.get_tensor(o["index"]).view(np.uint8) ^ 0x80
        np.testing.assert_array_equal(got, _run(data, x, False))


def test_quantize_that_rescales_is_kept():
    def rescale_input(schema, model):
        sg = model.subgraphs[0]
        for op in sg.operators:
            if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.QUANTIZE:
                q = sg.tensors[int(op.outputs[0])].quantization
                q.scale = [float(q.scale[0]) * 2.0]
                return

    data = (ZOO / "cnn-faster-lc-int8.tflite").read_bytes()
    edited = _edited(data, rescale_input)
    out = uint8_io_to_int8(edited)
    assert len(out.replaced) == 1  # the output's QUANTIZE only
    assert [t.dtype for t in inspect_model(out.data).inputs] == ["uint8"]
    assert [t.dtype for t in inspect_model(out.data).outputs] == ["int8"]


def test_load_interpreter_changes_the_io_dtype_only_when_asked():
    data = (ZOO / "cnn-faster-lc-int8.tflite").read_bytes()
    plain = load_interpreter(data, threads=1)
    assert plain.get_input_details()[0]["dtype"] == np.uint8
    engine_way = load_interpreter(data, threads=1, int8_io=True)
    assert engine_way.get_input_details()[0]["dtype"] == np.int8
    as_file = load_interpreter(data, threads=1, int8_io=True, rewrite=False)
    assert as_file.get_input_details()[0]["dtype"] == np.uint8


def test_a_recurrent_model_keeps_its_io_types(temporal_model):
    data = Path(temporal_model).read_bytes()
    out = uint8_io_to_int8(data)
    assert out.data is data and out.replaced == ()


def test_the_engine_on_the_rewritten_graph_gives_the_pixels_of_the_file():
    from runtime.engine import Engine

    data = (ZOO / "cnn-faster-lc-int8.tflite").read_bytes()
    eng = Engine(ZOO / "cnn-faster-lc-int8.tflite", threads=1)
    assert len(eng.cpu_rewrites) == 5  # 2 resizes, the transposed conv, the 2 I/O QUANTIZE
    assert eng.in_codec.sign_flip and eng.out_codec.sign_flip
    frame = np.random.default_rng(5).integers(0, 256, (480, 640, 3)).astype(np.uint8)
    np.testing.assert_array_equal(eng.process(frame), _run(data, frame[None], False)[0])
