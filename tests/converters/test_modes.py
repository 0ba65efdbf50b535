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
    from runtime.interpreter import load_interpreter
    from runtime.quant import codecs_for

    model = tiny()
    job = ModeJob(model=model, input_shape=(1, 16, 16, 3), io=IODtype.UINT8, representative=_rep)
    data = run_mode(mode, job)
    assert data[4:8] == b"TFL3"
    it = load_interpreter(data, threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    enc, dec = codecs_for(inp, out)
    tile = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    it.set_tensor(inp["index"], enc.encode(tile)[None])
    it.invoke()
    got = dec.decode(it.get_tensor(out["index"])[0]).astype(np.int16)
    want = np.asarray(model(tile[None].astype(np.float32) / 255.0))[0]
    want = np.round(np.clip(want, 0, 1) * 255).astype(np.int16)
    # int8 rounding of a 2-conv residual net stays within a few 8-bit steps.
    assert np.abs(got - want).max() <= (12 if mode is QuantMode.INT8 else 1)


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


def test_int8_per_tensor_weights_have_one_scale_and_a_smaller_file(tiny):
    from converters.modes.int8 import per_channel_weights

    model = tiny()
    per_ch = run_mode(QuantMode.INT8, ModeJob(model, (1, 16, 16, 3), representative=_rep))
    per_t = run_mode(
        QuantMode.INT8, ModeJob(model, (1, 16, 16, 3), representative=_rep, per_channel=False)
    )
    assert per_channel_weights(per_ch), "the default must keep per-channel weight scales"
    assert per_channel_weights(per_t) == []
    # 8 + 3 output channels lose 24 bytes of scale and zero point each, twice (weight + bias).
    assert len(per_ch) - len(per_t) >= 8 * 24


def test_per_tensor_weights_are_refused_for_float_modes():
    from converters.config import ConvertConfig
    from runtime.errors import InputError

    with pytest.raises(InputError, match="--weights"):
        ConvertConfig(quant="fp16", weights="per-tensor")
    assert ConvertConfig(weights="per-tensor").weights.value == "per-tensor"
