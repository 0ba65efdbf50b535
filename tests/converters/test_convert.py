import json

import pytest
import yaml

from converters.config import ConvertConfig, load_config
from converters.convert import convert
from runtime.errors import ConversionError, InputError, ModelError, OutputExistsError
from runtime.model_file import inspect_model, read_metadata


def _int8(pairs_dir, **kw):
    base = dict(
        quant="int8", pairs=str(pairs_dir), input_size=(16, 16), calib_tiles=16, val_tiles=4
    )
    base.update(kw)
    return ConvertConfig(**base)


def test_int8_from_a_run_folder_writes_model_metadata_report_and_config(
    run_dir, pairs_dir, tmp_path
):
    out = tmp_path / "out dir" / "m.tflite"
    res = convert(run_dir, out, _int8(pairs_dir))
    assert out.is_file()
    meta = read_metadata(out)
    assert meta["quant"] == "int8" and meta["io_dtype"] == "uint8"
    assert meta["input_size"] == [16, 16] and meta["pad_multiple"] == 4
    assert meta["arch"] == "cnn" and meta["macs_per_pixel"] == 432.0
    assert meta["config_hash"].startswith("sha256:") and len(meta["config_hash"]) == 71
    assert meta["normalization"] == {"color": "RGB", "range": [0, 1]}
    info = inspect_model(out)
    assert info.inputs[0].dtype == "uint8" and info.static_shapes
    report = json.loads((tmp_path / "out dir" / "m.report.json").read_text())
    assert report == json.loads(json.dumps(res.report))
    assert report["integer_only"] and report["validation"]["passed"]
    assert report["validation"]["origin"] == "held-back"
    assert report["validation"]["keras_psnr_vs_sharp"] is not None
    assert report["edgetpu"]["ready"]
    assert report["fp32_size_bytes"] > 0 and report["gzip_bytes"] > 0
    # the float clip after the saturating int8 ADD is dropped, and said so
    assert [o["op"] for o in report["removed_ops"]] == ["MINIMUM", "RELU"]
    assert not {"MINIMUM", "RELU"} & set(info.op_counts())
    md = (tmp_path / "out dir" / "m.report.md").read_text()
    assert "Edge TPU readiness" in md and "PSNR TFLite vs Keras" in md
    assert "Removed as exact no-ops" in md
    assert load_config(tmp_path / "out dir" / "m.convert.yaml") == _int8(pairs_dir)
    raw = yaml.safe_load((tmp_path / "out dir" / "m.convert.yaml").read_text())
    assert raw["quant"] == "int8" and raw["input_size"] == [16, 16]


def test_fp32_keeps_a_dynamic_size_and_no_data_is_needed(tiny_model_path, tmp_path):
    out = tmp_path / "f.tflite"
    res = convert(tiny_model_path, out, ConvertConfig(quant="fp32", val_tiles=2))
    meta = read_metadata(out)
    assert meta["input_size"] is None and meta["config_hash"] is None
    assert res.report["validation"]["origin"] == "synthetic"
    assert res.report["size_vs_fp32"] == pytest.approx(1.0, abs=0.02)
    assert meta["macs_per_pixel"] == pytest.approx(9 * (3 * 8 + 8 * 3), rel=0.01)


@pytest.mark.slow
def test_pruned_qat_int8_reports_sparsity_and_its_cost(tiny_model_path, pairs_dir, tmp_path):
    out = tmp_path / "p.tflite"
    cfg = _int8(pairs_dir, prune=0.5, prune_steps=10, qat_steps=3, batch_size=4)
    r = convert(tiny_model_path, out, cfg).report
    assert r["prune"]["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert read_metadata(out)["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert r["qat"]["scheme"] == "prune-preserving" and r["integer_only"]
    assert r["validation"]["psnr_vs_source"] is not None
    assert r["seconds"]["prune"] > 0 and r["seconds"]["qat"] > 0


def test_existing_output_without_force_is_refused_before_any_work(run_dir, pairs_dir, tmp_path):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--force"):
        convert(run_dir, out, _int8(pairs_dir))
    assert out.read_bytes() == b"keep me" and not (tmp_path / "m.report.json").exists()
    convert(run_dir, out, _int8(pairs_dir), force=True)
    assert out.read_bytes()[4:8] == b"TFL3"


def test_not_a_keras_model_is_a_model_error(tmp_path):
    bad = tmp_path / "m.keras"
    bad.write_text("not a model")
    with pytest.raises(ModelError, match="MODEL"):
        convert(bad, tmp_path / "o.tflite", ConvertConfig(quant="fp32"))
    assert not (tmp_path / "o.tflite").exists()


def test_a_model_with_a_grey_output_is_refused_before_conversion(tmp_path):
    from edge_deblur._keras import keras

    inp = keras.Input((None, None, 3))
    gray = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same")(inp))
    path = tmp_path / "gray.keras"
    gray.save(path)
    with pytest.raises(
        ModelError, match=r"\(N, H, W, 3\) input and output.*\(None, None, None, 1\)"
    ):
        convert(path, tmp_path / "o.tflite", ConvertConfig(quant="fp32"))
    assert not (tmp_path / "o.tflite").exists()


def test_int8_without_data_is_an_input_error(tiny_model_path, tmp_path):
    with pytest.raises(InputError, match="--data/--pairs"):
        convert(tiny_model_path, tmp_path / "o.tflite", ConvertConfig(quant="int8"))


def test_output_must_end_in_tflite(tiny_model_path, tmp_path):
    with pytest.raises(InputError, match=".tflite"):
        convert(tiny_model_path, tmp_path / "o.bin", ConvertConfig(quant="fp32"))


def test_input_size_must_fit_the_pad_multiple(run_dir, pairs_dir, tmp_path):
    with pytest.raises(InputError, match="pad multiple 4"):
        convert(run_dir, tmp_path / "o.tflite", _int8(pairs_dir, input_size=(18, 18)))


def test_failed_validation_leaves_no_file(run_dir, pairs_dir, tmp_path, monkeypatch):
    import converters.validate as v

    strict = {k: dict(d, min_psnr_vs_keras=200.0) for k, d in v.load_thresholds().items()}
    monkeypatch.setattr(v, "load_thresholds", lambda *a, **k: strict)
    with pytest.raises(ConversionError, match="validation on 4 held-back tiles failed"):
        convert(run_dir, tmp_path / "o.tflite", _int8(pairs_dir))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination_is_an_input_error(tiny_model_path, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(InputError, match="not writable"):
            convert(tiny_model_path, locked / "o.tflite", ConvertConfig(quant="fp32"))
    finally:
        locked.chmod(0o700)


def test_destination_under_a_file_is_an_input_error(tiny_model_path, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot create folder"):
        convert(tiny_model_path, blocker / "o.tflite", ConvertConfig(quant="fp32"))
