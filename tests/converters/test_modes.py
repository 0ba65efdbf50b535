"""The mode table: one module per mode, all registered, each producing a runnable model."""

import importlib
import pkgutil

import numpy as np
import pytest

import converters.modes as modes_pkg
from converters.config import IODtype, QuantMode
from converters.modes import MODES, ModeJob, run_mode


def _mode_modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(modes_pkg.__path__) if not m.name.startswith("_")]


def test_every_mode_module_is_registered():
    registered = {fn.__module__.rsplit(".", 1)[-1] for fn in MODES.values()}
    missing = sorted(set(_mode_modules()) - registered)
    assert not missing, f"mode modules not in MODES: {missing}"


def test_every_quant_mode_has_a_module():
    assert set(MODES) == set(QuantMode)
    for mode in QuantMode:
        mod = importlib.import_module(f"converters.modes.{mode.value}")
        assert MODES[mode] is mod.convert


def _rep():
    rng = np.random.default_rng(0)
    for _ in range(8):
        yield [rng.random((1, 16, 16, 3), dtype=np.float32)]


@pytest.mark.parametrize("mode", list(MODES), ids=lambda m: m.value)
def test_mode_output_runs_and_matches_keras(mode, tiny):
    from ai_edge_litert.interpreter import Interpreter

    from converters.validate import _dequantize_out, _quantize_in

    model = tiny()
    job = ModeJob(model=model, input_shape=(1, 16, 16, 3), io=IODtype.UINT8, representative=_rep)
    data = run_mode(mode, job)
    assert data[4:8] == b"TFL3"
    it = Interpreter(model_content=data, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    tile = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    it.set_tensor(inp["index"], _quantize_in(tile, inp))
    it.invoke()
    got = _dequantize_out(it.get_tensor(out["index"]), out)[0]
    want = np.asarray(model(tile[None].astype(np.float32) / 255.0))[0]
    # int8 rounding of a 2-conv residual net stays within a few 8-bit steps.
    assert np.abs(got - want).max() < (0.05 if mode is QuantMode.INT8 else 0.01)


def test_int8_has_integer_io_and_only_integer_tensors_inside(tiny):
    from converters.modes.int8 import float_tensors_inside
    from runtime.model_file import inspect_model

    data = run_mode(
        QuantMode.INT8,
        ModeJob(tiny(), (1, 16, 16, 3), io=IODtype.INT8, representative=_rep),
    )
    info = inspect_model(data)
    assert info.inputs[0].dtype == "int8" and info.outputs[0].dtype == "int8"
    assert float_tensors_inside(data) == []
    assert list(info.inputs[0].shape_signature) == [1, 16, 16, 3]


def test_int8_without_calibration_data_is_a_conversion_error(tiny):
    from runtime.errors import ConversionError

    with pytest.raises(ConversionError, match="--data"):
        run_mode(QuantMode.INT8, ModeJob(tiny(), (1, 16, 16, 3)))
