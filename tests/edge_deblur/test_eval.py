"""``evaluate`` and ``edge-deblur eval``: full resolution, padding, tiling, .keras and .tflite."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _toy import box_blur, sharp_images
from typer.testing import CliRunner

from edge_deblur.cli.main import app
from edge_deblur.evaluate import KerasDeblurrer, evaluate
from runtime.errors import InputError
from runtime.io import write_image

SIZES = [(41, 57), (36, 44)]  # not multiples of the pad multiple 8: eval must pad and crop


def _to8(x):
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs") / "go pro"  # a space in the path
    for i, (h, w) in enumerate(SIZES):
        sharp = sharp_images(1, max(h, w), seed=i)[0][:h, :w]
        blur = box_blur(sharp[None])[0]
        write_image(root / "blur" / f"p{i}.png", _to8(blur))
        write_image(root / "sharp" / f"p{i}.png", _to8(sharp))
    (root / "blur" / "notes.txt").write_text("not an image")  # skipped, not an error
    return root


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    """A tiny generator whose correction is strong (not the identity), saved as .keras."""
    from edge_deblur import models
    from edge_deblur._keras import keras

    keras.utils.set_random_seed(3)
    m = models.build_generator("cnn", "tiny")
    k = m.get_layer("correction")
    k.kernel.assign(np.random.default_rng(0).normal(0, 0.05, k.kernel.shape).astype(np.float32))
    path = tmp_path_factory.mktemp("model") / "model.keras"
    m.save(path)
    return path


def test_keras_eval_scores_every_pair_at_full_resolution(pairs_dir, keras_model):
    from skimage.metrics import structural_similarity

    from runtime.io import read_image
    from runtime.metrics import psnr

    res = evaluate(keras_model, pairs_dir)
    assert res.n == 2 and [s.name for s in res.per_image] == ["p0", "p1"]
    assert [(s.height, s.width) for s in res.per_image] == SIZES
    for s in res.per_image:
        blur = read_image(pairs_dir / "blur" / f"{s.name}.png")
        sharp = read_image(pairs_dir / "sharp" / f"{s.name}.png")
        assert s.input_psnr == pytest.approx(psnr(blur, sharp))
        want = structural_similarity(blur, sharp, channel_axis=2, data_range=255)
        assert s.input_ssim == pytest.approx(want, abs=1e-6)
        assert s.psnr != pytest.approx(s.input_psnr)  # the model changed the image
    assert res.psnr == pytest.approx(np.mean([s.psnr for s in res.per_image]))
    assert res.psnr_gain == pytest.approx(res.psnr - res.input_psnr)


def test_tiled_keras_output_matches_the_whole_frame(keras_model):
    rgb = _to8(sharp_images(1, 96, seed=5)[0][:88, :96])
    whole = KerasDeblurrer(keras_model)(rgb)
    tiled_runner = KerasDeblurrer(keras_model, max_pixels=32 * 32, tile=48)
    tiled = tiled_runner(rgb)
    assert tiled.shape == whole.shape == rgb.shape
    assert np.abs(whole.astype(int) - rgb.astype(int)).mean() > 2  # not an identity model
    # Feathered overlaps: seams differ only slightly from one whole-frame pass.
    assert np.abs(tiled.astype(int) - whole.astype(int)).mean() < 2.0


def test_tflite_eval_goes_through_the_runtime_engine(pairs_dir, keras_model, tmp_path):
    from _toy import int8_tflite

    from edge_deblur._keras import keras

    m = keras.models.load_model(keras_model, compile=False)
    path = tmp_path / "m.tflite"
    path.write_bytes(int8_tflite(m, 32, calib=8))
    res = evaluate(path, pairs_dir)
    ref = evaluate(keras_model, pairs_dir)
    assert res.n == 2 and res.input_psnr == pytest.approx(ref.input_psnr)
    assert abs(res.psnr - ref.psnr) < 1.5  # int8 and tiled, close to the float model


def test_eval_json_prints_exactly_one_object(pairs_dir, keras_model):
    result = CliRunner().invoke(
        app, ["eval", str(keras_model), "--pairs", str(pairs_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert set(obj) == {"n", "psnr", "ssim", "input_psnr", "input_ssim", "per_image"}
    assert obj["n"] == 2 and len(obj["per_image"]) == 2
    assert {"name", "psnr", "ssim", "input_psnr", "input_ssim"} <= set(obj["per_image"][0])


def test_eval_plain_output_has_per_image_lines_and_the_mean(pairs_dir, keras_model):
    result = CliRunner().invoke(app, ["eval", str(keras_model), "--pairs", str(pairs_dir)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("p0") and lines[-1].startswith("mean of 2:")


def test_blur_without_sharp_partner_is_named(tmp_path, keras_model):
    write_image(tmp_path / "blur" / "lonely.png", np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "sharp").mkdir()
    with pytest.raises(InputError, match="lonely.png"):
        evaluate(keras_model, tmp_path)
    result = CliRunner().invoke(app, ["eval", str(keras_model), "--pairs", str(tmp_path)])
    assert result.exit_code == 2 and "lonely.png" in result.stderr


def test_a_pair_too_small_for_ssim_is_named(tmp_path, keras_model):
    write_image(tmp_path / "blur" / "speck.png", np.zeros((5, 9, 3), np.uint8))
    write_image(tmp_path / "sharp" / "speck.png", np.zeros((5, 9, 3), np.uint8))
    with pytest.raises(InputError, match="pair 'speck'.*7x7.*9x5"):
        evaluate(keras_model, tmp_path)


def test_a_keras_model_with_a_grey_output_is_named_not_the_pairs(tmp_path, pairs_dir):
    from edge_deblur._keras import keras
    from runtime.errors import ModelError

    inp = keras.Input((None, None, 3))
    path = tmp_path / "gray.keras"
    keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same")(inp)).save(path)
    with pytest.raises(ModelError, match=r"gray.keras.*RGB image output.*1\)"):
        evaluate(path, pairs_dir)


def test_bad_model_paths_are_input_errors(tmp_path, pairs_dir):
    (tmp_path / "weights.txt").write_text("x")
    result = CliRunner().invoke(
        app, ["eval", str(tmp_path / "weights.txt"), "--pairs", str(pairs_dir)]
    )
    assert result.exit_code == 2 and ".keras" in result.stderr
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--pairs", str(pairs_dir)])
    assert result.exit_code == 2 and "run folder" in result.stderr


def test_eval_strength_zero_scores_the_input_and_half_lies_between(pairs_dir, keras_model):
    zero = evaluate(keras_model, pairs_dir, strength=0)
    for s in zero.per_image:
        assert s.psnr == pytest.approx(s.input_psnr) and s.ssim == pytest.approx(s.input_ssim)
    full = evaluate(keras_model, pairs_dir)
    r = CliRunner().invoke(
        app, ["eval", str(keras_model), "--pairs", str(pairs_dir), "--json", "--strength", "0.5"]
    )
    assert r.exit_code == 0, r.output
    half = json.loads(r.stdout)
    for h, f in zip(half["per_image"], full.per_image, strict=True):
        assert h["psnr"] != pytest.approx(f.psnr) and h["psnr"] != pytest.approx(f.input_psnr)


def test_eval_ensemble_of_a_keras_model_averages_flipped_copies(pairs_dir, keras_model):
    from edge_deblur.data import load_pairs
    from edge_deblur.evaluate import make_deblurrer
    from runtime.engine import orient, unorient
    from runtime.io import read_image

    blur = read_image(load_pairs(pairs_dir)[0].blur_path)
    plain = make_deblurrer(keras_model)
    two = make_deblurrer(keras_model, ensemble=2)(blur)
    mirrored = unorient(plain(np.ascontiguousarray(orient(blur, 1))), 1)
    want = ((plain(blur).astype(np.uint16) + mirrored + 1) // 2).astype(np.uint8)
    assert np.array_equal(two, want)
    r = CliRunner().invoke(
        app, ["eval", str(keras_model), "--pairs", str(pairs_dir), "--json", "--ensemble", "2"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == len(load_pairs(pairs_dir))
    r = CliRunner().invoke(
        app, ["eval", str(keras_model), "--pairs", str(pairs_dir), "--ensemble", "5"]
    )
    assert r.exit_code == 2 and "--ensemble" in r.stderr
