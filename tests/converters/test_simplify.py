"""The no-op pass: the int8 clip after the saturating ADD goes, outputs stay bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from converters.simplify import drop_noop_ops
from runtime.model_file import inspect_model, read_metadata, write_metadata

SIDE = 16


def _int8_bytes(model) -> bytes:
    from converters.config import IODtype
    from converters.modes import ModeJob, run_mode

    rng = np.random.default_rng(0)

    def rep():
        for _ in range(8):
            yield [rng.random((1, SIDE, SIDE, 3), dtype=np.float32)]

    job = ModeJob(model=model, input_shape=(1, SIDE, SIDE, 3), io=IODtype.UINT8, representative=rep)
    return run_mode("int8", job)


@pytest.fixture(scope="module")
def tiny_int8(tiny) -> bytes:
    m = tiny(fixed=SIDE)
    # a strong correction, so the clip to [0, 1] really cuts on bright and dark inputs
    w = m.get_layer("c2").get_weights()
    m.get_layer("c2").set_weights([w[0] * 8.0, w[1] + 0.2])
    return _int8_bytes(m)


def _tensor_count(data: bytes) -> int:
    from runtime.model_file import _require_schema

    model = _require_schema("test").ModelT.InitFromPackedBuf(bytearray(data), 0)
    return len(model.subgraphs[0].tensors)


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    from runtime.interpreter import load_interpreter

    it = load_interpreter(data, threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    it.set_tensor(i["index"], x)
    it.invoke()
    return it.get_tensor(o["index"]).copy()


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    shape = (1, SIDE, SIDE, 3)
    return [
        rng.integers(0, 256, shape, dtype=np.uint8),
        np.full(shape, 255, np.uint8),
        np.zeros(shape, np.uint8),
        rng.integers(200, 256, shape, dtype=np.uint8),
    ]


def test_int8_clip_after_the_saturating_add_is_removed_bit_exactly(tiny_int8):
    before = inspect_model(tiny_int8).op_counts()
    assert before.get("MINIMUM") == 1 and before.get("RELU") == 1  # what TF 2.21 emits
    res = drop_noop_ops(tiny_int8)
    assert [r["op"] for r in res.removed] == ["MINIMUM", "RELU"]
    info = inspect_model(res.data)
    after = info.op_counts()
    assert "MINIMUM" not in after and "RELU" not in after
    assert after["ADD"] == before["ADD"] and after["CONV_2D"] == before["CONV_2D"]
    assert _tensor_count(res.data) < _tensor_count(tiny_int8)  # orphans dropped
    saturated = 0
    for x in _inputs():
        a, b = _run(tiny_int8, x), _run(res.data, x)
        assert np.array_equal(a, b)
        saturated += int(np.count_nonzero((b == 0) | (b == 255)))
    assert saturated > 0  # the inputs did exercise the clip


def test_simplified_model_keeps_its_signature_and_takes_metadata(tiny_int8):
    from runtime.interpreter import load_interpreter

    res = drop_noop_ops(tiny_int8)
    tagged = write_metadata(res.data, {"quant": "int8"})
    assert read_metadata(tagged) == {"quant": "int8"}
    it = load_interpreter(tagged, threads=1)
    runner = it.get_signature_runner()
    x = _inputs()[0]
    (out,) = runner(image=x).values()
    assert np.array_equal(out, _run(tiny_int8, x))


def test_a_second_pass_finds_nothing(tiny_int8):
    once = drop_noop_ops(tiny_int8).data
    twice = drop_noop_ops(once)
    assert twice.removed == () and twice.data == once


def _mutated(data: bytes, edit) -> bytes:
    from runtime.model_file import _require_schema, repack

    schema = _require_schema("test")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    edit(schema, model)
    return repack(model, len(data))


def _op(schema, model, name):
    code = getattr(schema.BuiltinOperator, name)
    sg = model.subgraphs[0]
    for op in sg.operators:
        c = model.operatorCodes[op.opcodeIndex]
        if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
            return sg, op
    raise AssertionError(name)


def test_relu_whose_input_can_be_negative_is_kept(tiny_int8):
    def widen(schema, model):
        # the clip's tensors all get zero point -100: MINIMUM stays a no-op (same params, bound
        # 127), RELU's input can now hold negative values
        sg, mini = _op(schema, model, "MINIMUM")
        _, relu = _op(schema, model, "RELU")
        for t in (*mini.inputs, *mini.outputs, *relu.outputs):
            sg.tensors[t].quantization.zeroPoint = np.array([-100], np.int64)

    res = drop_noop_ops(_mutated(tiny_int8, widen))
    assert [r["op"] for r in res.removed] == ["MINIMUM"]
    assert "RELU" in inspect_model(res.data).op_counts()


def test_minimum_with_a_bound_inside_the_range_is_kept(tiny_int8):
    def lower(schema, model):
        sg, op = _op(schema, model, "MINIMUM")
        const = next(t for t in op.inputs if model.buffers[sg.tensors[t].buffer].data is not None)
        buf = model.buffers[sg.tensors[const].buffer]
        buf.data = np.array([100], np.int8).view(np.uint8)

    res = drop_noop_ops(_mutated(tiny_int8, lower))
    assert "MINIMUM" in inspect_model(res.data).op_counts()
    assert "MINIMUM" not in [r["op"] for r in res.removed]


def test_float_models_are_returned_unchanged(tiny_model_path):
    from converters.modes import ModeJob, run_mode
    from edge_deblur._keras import keras

    m = keras.models.load_model(tiny_model_path, compile=False)
    data = run_mode("fp32", ModeJob(model=m, input_shape=(1, SIDE, SIDE, 3)))
    res = drop_noop_ops(data)
    assert res.removed == () and res.data == data


def test_a_relu_that_can_clamp_is_never_folded(tiny_int8):
    from converters.simplify import fold_requantize_relus

    def widen(schema, model):  # as above: the RELU's input can hold negative values
        sg, mini = _op(schema, model, "MINIMUM")
        _, relu = _op(schema, model, "RELU")
        for t in (*mini.inputs, *mini.outputs, *relu.outputs):
            sg.tensors[t].quantization.zeroPoint = np.array([-100], np.int64)

    data = drop_noop_ops(_mutated(tiny_int8, widen)).data
    res = fold_requantize_relus(data)
    assert res.removed == () and res.data == data
