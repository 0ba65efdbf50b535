"""The CPU rewrite: 2x nearest up-sampling becomes CONCATENATION + DEPTH_TO_SPACE, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.cpu_graph import nearest_to_depth_to_space
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
    off_cpu = graph_to_run(data, False)
    assert off_cpu.data is data and off_cpu.replaced == ()
    on_cpu = graph_to_run(data, True)
    assert on_cpu.replaced == nearest_to_depth_to_space(data).replaced and len(on_cpu.replaced) == 3
    assert graph_to_run(data, True) is on_cpu  # one parse shared by the interpreter and the engine
    assert Engine(ZOO / "cnn-tiny-int8.tflite", threads=1).cpu_rewrites == on_cpu.replaced
