import pytest

from converters import calibration as cal
from converters.config import QuantMode
from converters.modes import ModeJob, run_mode
from converters.validate import load_thresholds, require_pass, validate
from runtime.errors import ConversionError, InputError


def test_thresholds_file_covers_every_mode():
    t = load_thresholds()
    for mode in QuantMode:
        assert t[mode.value]["min_psnr_vs_keras"] > 20


def test_thresholds_missing_a_mode_is_rejected(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("fp32: {min_psnr_vs_keras: 50}\n")
    with pytest.raises(InputError, match="fp16"):
        load_thresholds(p)


def test_fp32_matches_its_keras_source(tiny, pairs_dir):
    model = tiny()
    tiles = cal.sample_tiles(cal.find_sources(None, pairs_dir), 4, (24, 24), seed=0)
    data = run_mode(QuantMode.FP32, ModeJob(model, (1, None, None, 3)))
    v = validate(model, data, QuantMode.FP32, tiles)
    assert v.passed and v.psnr_vs_keras >= 55
    assert v.keras_psnr_vs_sharp is not None and v.tflite_ssim_vs_sharp is not None


def test_a_model_that_is_not_its_source_fails_with_every_reason(tiny, pairs_dir):
    source, other = tiny(), tiny(width=4)
    tiles = cal.sample_tiles(cal.find_sources(None, pairs_dir), 4, (24, 24), seed=0)
    data = run_mode(QuantMode.FP32, ModeJob(other, (1, None, None, 3)))
    # an impossible sharp-drop limit makes the second check fail too (if other is worse)
    limits = {"fp32": {"min_psnr_vs_keras": 55.0, "max_drop_vs_sharp_db": -100.0}}
    v = validate(source, data, "fp32", tiles, thresholds=limits)
    assert not v.passed and len(v.failures) == 2
    with pytest.raises(ConversionError) as err:
        require_pass(v)
    msg = str(err.value)
    assert "PSNR TFLite vs Keras" in msg and "PSNR vs sharp drops" in msg and "\n" not in msg
