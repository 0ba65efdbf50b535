"""runtime.engine / interpreter / zoo: loading, any frame size, bad models, bundled names."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime import interpreter as interp_mod
from runtime.engine import Engine
from runtime.errors import DeviceError, InputError, ModelError
from runtime.io import read_image
from runtime.model_file import write_metadata
from runtime.zoo import list_models, resolve_model


def _reference(model_path, frame: np.ndarray) -> np.ndarray:
    """Run the interpreter directly on one 16x16 uint8 frame (no engine code involved)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path), num_threads=1)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], frame[None])
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])[0]


def test_fixed_model_single_tile_matches_the_raw_interpreter(uint8_model):
    frame = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    eng = Engine(uint8_model, threads=2)
    assert eng.input_size == (16, 16) and eng.tile_count(16, 16) == 1
    np.testing.assert_array_equal(eng.process(frame), _reference(uint8_model, frame))
    assert eng.invoke_ms > 0 and eng.timings.tiles == 1


@pytest.mark.parametrize("shape", [(1, 1, 3), (15, 17, 3), (33, 64, 3), (31, 29)])
@pytest.mark.parametrize("name", ["uint8_model", "int8_model", "dynamic_model"])
def test_any_frame_size_comes_back_at_its_size(name, shape, request):
    eng = Engine(request.getfixturevalue(name))
    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    out = eng.process(frame)
    assert out.shape == (*shape[:2], 3) and out.dtype == np.uint8
    # These fixtures are residual nets with a small correction: output tracks the input.
    rgb = np.repeat(frame[..., None], 3, -1) if frame.ndim == 2 else frame
    assert np.corrcoef(out.ravel(), rgb.ravel())[0, 1] > 0.5 or frame.size <= 3


def test_rgba_and_16_bit_frames_are_converted(uint8_model):
    eng = Engine(uint8_model)
    rgb = np.random.default_rng(2).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((20, 24, 1), 255, np.uint8)], -1)
    np.testing.assert_array_equal(eng.process(rgba), eng.process(rgb))
    sixteen = rgb.astype(np.uint16) * 257
    np.testing.assert_array_equal(eng.process(sixteen), eng.process(rgb))


def test_odd_library_arguments_are_input_errors(uint8_model):
    from runtime.pipeline import StreamOptions

    with pytest.raises(InputError, match="--model: expected a .tflite file"):
        Engine(None)
    with pytest.raises(InputError, match="--scale"):
        StreamOptions(scale="0.5")
    with pytest.raises(InputError, match="--max-frames"):
        StreamOptions(max_frames=2.5)
    eng = Engine(uint8_model)
    with pytest.raises(InputError, match=r"shape \(0, 10, 3\)"):
        eng.process(np.zeros((0, 10, 3), np.uint8))
    half = np.full((16, 16, 3), 0.5, np.float16)  # float16 is a float like the others
    np.testing.assert_array_equal(eng.process(half), eng.process(half.astype(np.float32)))


@pytest.mark.parametrize("overlap", [-5, "8", 8.5, True, 9])
def test_a_bad_tile_overlap_is_refused(uint8_model, overlap):
    # The fixture's tile is 16 px: an overlap past half of it would shrink the stride toward 1.
    with pytest.raises(InputError, match="overlap: expected"):
        Engine(uint8_model, overlap=overlap)
    assert Engine(uint8_model, overlap=8).tile_count(40, 40) > 0


def test_float_frames_must_lie_in_0_1(uint8_model, tmp_path):
    eng = Engine(uint8_model)
    rgb = np.random.default_rng(2).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    np.testing.assert_array_equal(eng.process(rgb.astype(np.float32) / 255), eng.process(rgb))
    # Resampling overshoot just outside [0, 1] is clipped, as the uint8 frame it stands for.
    over = rgb.astype(np.float32) / 255
    over[0, 0] = (1.02, -0.01, 0.5)
    clipped = rgb.copy()
    clipped[0, 0] = (255, 0, 128)
    np.testing.assert_array_equal(eng.process(over), eng.process(clipped))
    # A float image in 0..255 would clip to white, NaN to black: both are refused, named.
    with pytest.raises(InputError, match=r"frame: expected float pixels in \[0, 1\].*255"):
        eng.process(rgb.astype(np.float32))
    with pytest.raises(InputError, match="NaN"):
        eng.process(np.full((8, 8, 3), np.nan, np.float32))
    tiff = tmp_path / "float.tiff"
    cv2.imwrite(str(tiff), rgb.astype(np.float32))
    with pytest.raises(InputError, match="float.tiff"):
        read_image(tiff)


def test_dynamic_model_pads_to_its_multiple_and_reallocates_only_on_size_change(dynamic_model):
    eng = Engine(dynamic_model)
    assert eng.input_size is None and eng.pad_multiple == 8
    eng.process(np.zeros((10, 13, 3), np.uint8))
    assert eng._alloc_hw == (16, 16)
    eng.process(np.zeros((12, 9, 3), np.uint8))
    assert eng._alloc_hw == (16, 16)


def test_metadata_supplies_pad_multiple_and_value_range(dynamic_model, tmp_path):
    meta = {"format": 1, "pad_multiple": 4, "normalization": {"color": "RGB", "range": [0, 1]}}
    path = tmp_path / "with meta.tflite"
    path.write_bytes(write_metadata(dynamic_model.read_bytes(), meta))
    eng = Engine(path)
    assert eng.metadata == meta and eng.pad_multiple == 4
    eng.process(np.zeros((10, 13, 3), np.uint8))
    assert eng._alloc_hw == (12, 16)


def test_model_whose_io_is_not_an_image_is_refused(not_image_model):
    with pytest.raises(ModelError, match=r"image input of shape \[1, H, W, 3\].*\[1, 10\]"):
        Engine(not_image_model)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bad = tmp_path / "my model.tflite"
    bad.write_text("hello")
    with pytest.raises(ModelError, match="my model.tflite"):
        Engine(bad)


def test_bad_threads_and_device_are_input_errors(uint8_model):
    with pytest.raises(InputError, match="--threads"):
        Engine(uint8_model, threads=0)
    with pytest.raises(InputError, match="--device: expected one of cpu, edgetpu"):
        Engine(uint8_model, device="gpu")


def test_edgetpu_without_its_runtime_is_a_device_error(uint8_model, monkeypatch):
    def no_lib(_):
        raise ValueError("Failed to load delegate from libedgetpu.so.1")

    real = interp_mod.backend()
    monkeypatch.setattr(
        interp_mod,
        "backend",
        lambda: interp_mod.Backend(real.name, real.interpreter_cls, no_lib, real.op_resolver_type),
    )
    with pytest.raises(DeviceError, match="libedgetpu.so.1.*--device cpu"):
        Engine(uint8_model, device="edgetpu")


def test_xnnpack_refusal_retries_without_default_delegates(uint8_model, monkeypatch):
    real = interp_mod.backend()
    calls = []

    class Picky(real.interpreter_cls):
        def __init__(self, **kw):
            calls.append(kw.get("experimental_op_resolver_type"))
            self._refuse = "experimental_op_resolver_type" not in kw
            super().__init__(**kw)

        def allocate_tensors(self):
            if self._refuse:
                raise RuntimeError("XNNPACK delegate failed to prepare\nmore detail")
            return super().allocate_tensors()

    monkeypatch.setattr(
        interp_mod,
        "backend",
        lambda: interp_mod.Backend(real.name, Picky, real.load_delegate, real.op_resolver_type),
    )
    with pytest.warns(RuntimeWarning, match="XNNPACK refused"):
        eng = Engine(uint8_model)
    assert calls[-1] == real.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    assert eng.process(np.zeros((16, 16, 3), np.uint8)).shape == (16, 16, 3)


def test_backend_prefers_ai_edge_litert_and_never_tensorflow():
    assert interp_mod.backend().name == "ai_edge_litert.interpreter"


def test_zoo_resolves_paths_names_and_default(tmp_path, uint8_model):
    assert resolve_model(uint8_model) == uint8_model
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "a.tflite").write_bytes(uint8_model.read_bytes())
    (zoo / "b.tflite").write_bytes(uint8_model.read_bytes())
    (zoo / "zoo.yaml").write_text(
        "models:\n"
        "  - {name: fast, file: a.tflite, description: small}\n"
        "  - {name: best, file: b.tflite, description: big, recommended: true}\n"
    )
    assert [e.name for e in list_models(zoo)] == ["fast", "best"]
    assert resolve_model("fast", zoo) == zoo / "a.tflite"
    assert resolve_model("default", zoo) == zoo / "b.tflite"
    with pytest.raises(InputError, match=r"bundled model name \(default, fast, best\).*'nope'"):
        resolve_model("nope", zoo)
    with pytest.raises(InputError, match="missing.tflite"):
        resolve_model(tmp_path / "missing.tflite", zoo)


def test_shipped_zoo_index_is_valid():
    for entry in list_models():
        assert entry.path.is_file(), entry
    with pytest.raises(InputError, match="--model"):
        resolve_model("no-such-bundled-model")


def test_edgetpu_compiled_model_on_cpu_says_use_edgetpu(uint8_model, tmp_path):
    """Rewrite the first operator as the Edge TPU custom op, as edgetpu_compiler does."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(bytearray(uint8_model.read_bytes()), 0)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "edgetpu-custom-op"
    code.version = 1
    m.operatorCodes.append(code)
    m.subgraphs[0].operators[1].opcodeIndex = len(m.operatorCodes) - 1
    m.subgraphs[0].operators[1].builtinOptions = None
    m.subgraphs[0].operators[1].builtinOptionsType = 0
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "model_edgetpu.tflite"
    path.write_bytes(bytes(b.Output()))
    with pytest.raises(ModelError, match="compiled for the Edge TPU.*--device edgetpu"):
        Engine(path)


def test_backend_falls_back_to_tflite_runtime_then_reports_none(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("tflite_runtime.interpreter")
    fake.Interpreter = object
    fake.load_delegate = lambda lib: None
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import -> ImportError
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    be = interp_mod.backend()
    assert be.name == "tflite_runtime.interpreter" and be.interpreter_cls is object
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    monkeypatch.setitem(sys.modules, "tensorflow.lite", None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(DeviceError, match="pip install ai-edge-litert"):
        interp_mod.backend()


def test_metadata_tile_overlap_is_honoured_and_bad_normalization_ignored(uint8_model, tmp_path):
    path = tmp_path / "m.tflite"
    meta = {"format": 1, "tile_overlap": 4, "normalization": ["not", "a", "dict"]}
    path.write_bytes(write_metadata(uint8_model.read_bytes(), meta))
    eng = Engine(path)
    assert eng.value_range == (0.0, 1.0)
    assert eng.tile_count(16, 40) == len(range(0, 40 - 16, 12)) + 1  # stride 16 - 4
    assert Engine(uint8_model).tile_count(16, 40) == len(range(0, 40 - 16, 8)) + 1  # default 8


def test_dynamic_model_tiles_frames_beyond_its_size_limit(dynamic_model):
    eng = Engine(dynamic_model)
    frame = np.random.default_rng(4).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    whole = eng.process(frame)
    assert eng.tile_count(40, 56) == 1
    eng.max_dynamic_pixels, eng.dynamic_tile = 32 * 32, 24
    assert eng.tile_count(40, 56) > 1
    tiled = eng.process(frame)
    assert eng.timings.tiles == eng.tile_count(40, 56) and eng._alloc_hw == (24, 24)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_strength_scales_the_correction_and_zero_passes_frames_through(uint8_model):
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    full = Engine(uint8_model).process(frame)
    assert np.abs(full.astype(int) - frame).max() > 2  # the fixture model does change frames
    assert np.array_equal(Engine(uint8_model, strength=0).process(frame), frame)
    half = Engine(uint8_model, strength=0.5).process(frame).astype(float)
    want = frame + 0.5 * (full.astype(float) - frame)
    assert np.abs(half - want).max() <= 1.0  # uint8 rounding only
    double = Engine(uint8_model, strength=2).process(frame).astype(float)
    assert np.abs(double - np.clip(frame + 2.0 * (full.astype(float) - frame), 0, 255)).max() <= 1


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan"), "x"])
def test_bad_strength_is_an_input_error_before_the_model_loads(bad, tmp_path):
    with pytest.raises(InputError, match="strength: expected a number from 0 to 2"):
        Engine(tmp_path / "not even there.tflite", strength=bad)


def test_orient_and_unorient_are_inverse_and_cover_eight_distinct_copies():
    from runtime.engine import orient, unorient

    img = np.arange(3 * 5 * 2).reshape(3, 5, 2)
    copies = [orient(img, k) for k in range(8)]
    for k, c in enumerate(copies):
        assert np.array_equal(unorient(c, k), img)
        assert c.shape == ((5, 3, 2) if k & 4 else (3, 5, 2))
    assert len({c.tobytes() + bytes(c.shape) for c in copies}) == 8


def test_self_ensemble_turns_each_copy_back_before_averaging():
    from runtime.engine import self_ensemble

    def darken_left_column(rgb):  # not flip-equivariant: it always edits the left column
        out = rgb.copy()
        out[:, 0] = 0
        return out

    frame = np.full((4, 6, 3), 200, np.uint8)
    two = self_ensemble(darken_left_column, frame, 2)
    # copy 0 zeroes the left column; copy 1 (mirrored) zeroes what is the right one once
    # turned back; the mean is 100 on both edges, 200 between
    assert two[:, 0].max() == two[:, -1].max() == 100 and (two[:, 1:-1] == 200).all()
    eight = self_ensemble(darken_left_column, frame, 8)
    # 8 copies: left and right columns hit twice each (mean 150), top and bottom rows twice
    # each via the transposed copies, corners in 4 of 8 copies
    grey = eight[..., 0]
    assert (eight == grey[..., None]).all()
    assert grey[1, 0] == grey[1, -1] == grey[0, 2] == grey[-1, 2] == 150
    assert grey[0, 0] == grey[-1, -1] == 100 and (grey[1:-1, 1:-1] == 200).all()
    assert np.array_equal(self_ensemble(darken_left_column, frame, 1), darken_left_column(frame))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_engine_ensemble_is_the_mean_of_its_oriented_copies(uint8_model, n):
    from runtime.engine import average_copies, orient, unorient

    frame = np.random.default_rng(6).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    single = Engine(uint8_model)
    copies = [unorient(single.process(np.ascontiguousarray(orient(frame, k))), k) for k in range(n)]
    want = average_copies(copies, n)
    eng = Engine(uint8_model, ensemble=n)
    got = eng.process(frame)
    assert got.shape == frame.shape and got.dtype == np.uint8
    assert np.array_equal(got, want)
    assert not np.array_equal(got, single.process(frame))  # the copies do differ
    # the stream's three stages give the same frame, and count every copy's tiles
    assert np.array_equal(eng.finish(eng.run(eng.prepare(frame))), want)
    assert eng.timings.tiles == eng.tile_count(37, 53) > single.tile_count(37, 53)
    assert eng.prepare(frame).tile_total == eng.tile_count(37, 53)
    assert "ensemble=" in repr(eng)


def test_engine_ensemble_works_with_a_dynamic_model_and_with_strength(dynamic_model):
    frame = np.random.default_rng(7).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    out = Engine(dynamic_model, ensemble=8).process(frame)
    assert out.shape == frame.shape
    assert np.array_equal(Engine(dynamic_model, ensemble=4, strength=0).process(frame), frame)


@pytest.mark.parametrize("bad", [0, 3, 16, 2.5, "x", None])
def test_bad_ensemble_is_an_input_error_before_the_model_loads(bad, tmp_path):
    with pytest.raises(InputError, match="ensemble: expected 1, 2, 4 or 8"):
        Engine(tmp_path / "not even there.tflite", ensemble=bad)


def test_a_temporal_model_refuses_an_ensemble(temporal_model):
    from runtime.temporal import TemporalEngine, open_engine

    assert isinstance(open_engine(temporal_model, ensemble=1), TemporalEngine)
    with pytest.raises(InputError, match="--ensemble: expected 1 for a temporal model"):
        open_engine(temporal_model, ensemble=2)
