"""``edge-deblur explain``: layer statistics, float-vs-int8 ranking, gradients, suggestions, CLI.

Tiny registry models (widths 4/8/8/8) on 32x32 tiles of synthetic images; int8 models are
converted here with the converters' int8 mode. Nothing is read from /work/shared.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _toy import box_blur, sharp_images
from typer.testing import CliRunner

from edge_deblur.cli.main import app
from edge_deblur.explain import ExplainConfig, Region, apply_suggestion, explain
from edge_deblur.explain.activations import ActivationCollector, int8_range
from edge_deblur.explain.int8 import dequantize
from edge_deblur.models import ARCHS
from runtime.errors import InputError, ModelError, OutputExistsError
from runtime.io import write_image

WIDTHS, BLOCKS = (4, 8, 8, 8), (0, 1, 0, 1)
TILE = 32
CFG = ExplainConfig(tiles=6, tile=TILE)
BROKEN = "enc1_0_dw"  # the depthwise conv whose one channel the broken model blows up


def _to8(x):
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain") / "real images"  # a space in the path
    for i, img in enumerate(sharp_images(4, 48, seed=21)):
        write_image(root / f"img{i}.png", _to8(box_blur(img[None])[0]))
    (root / "notes.txt").write_text("not an image")
    return root


def _build(arch: str = "cnn"):
    from edge_deblur import models
    from edge_deblur._keras import keras

    keras.utils.set_random_seed(5)
    m = models.build_generator(arch, "tiny", widths=WIDTHS, blocks=BLOCKS)
    k = m.get_layer("correction")  # a visible correction, not the near-identity of a fresh net
    k.kernel.assign(np.random.default_rng(1).normal(0, 0.05, k.kernel.shape).astype(np.float32))
    return m


def _int8(model, images, path):
    from converters import calibration as cal
    from converters.config import QuantMode
    from converters.modes import ModeJob, run_mode

    tiles = cal.sample_tiles(cal.find_sources(images, None), 16, (TILE, TILE), 0)
    job = ModeJob(model=model, input_shape=(1, TILE, TILE, 3), representative=tiles.representative)
    path.write_bytes(run_mode(QuantMode.INT8, job))
    return path


def _blow_up(model, channel: int, factor: float = 300.0):
    """Scale one channel of BROKEN (kernel and bias) by ``factor`` and its consumer's input
    weights by 1/factor: the float output is unchanged, the int8 range of its ReLU explodes."""
    dw, pw = model.get_layer(BROKEN), model.get_layer("enc1_0_pw")
    k, b = dw.get_weights()
    k[:, :, channel, :] *= factor
    b[channel] *= factor
    dw.set_weights([k, b])
    pk, pb = pw.get_weights()
    pk[:, :, channel, :] /= factor
    pw.set_weights([pk, pb])
    return model


@pytest.fixture(scope="module")
def healthy(images, tmp_path_factory):
    d = tmp_path_factory.mktemp("healthy")
    m = _build()
    m.save(d / "m.keras")
    return d / "m.keras", _int8(m, images, d / "m.tflite")


@pytest.fixture(scope="module")
def healthy_report(healthy, images, tmp_path_factory):
    keras_path, tfl = healthy
    return explain(keras_path, images, tmp_path_factory.mktemp("r") / "rep", CFG, tflite=tfl)


@pytest.fixture(scope="module")
def broken(healthy_report, images, tmp_path_factory):
    d = tmp_path_factory.mktemp("broken")
    st = next(s for s in healthy_report.stats if s.name == f"{BROKEN}_relu")
    channel = int(np.argmax(st.channel_p999))  # a live channel
    m = _blow_up(_build(), channel)
    m.save(d / "m.keras")
    tfl = _int8(m, images, d / "m.tflite")
    res = explain(d / "m.keras", images, d / "rep", CFG, tflite=tfl)
    return m, res, channel


def test_report_folder_has_html_json_and_every_figure(healthy_report):
    out = healthy_report.out
    names = {p.name for p in out.iterdir()}
    figures = {"ranges.png", "channels.png", "int8_error.png", "saliency.png", "change.png"}
    assert {"report.html", "explain.json"} | figures <= names
    for f in healthy_report.figures:
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "<table>" in page and "int8_error.png" in page and "head_relu" in page
    data = json.loads((out / "explain.json").read_text())
    assert data["format"] == 1 and data["tiles"]["size"] == [TILE, TILE]
    assert data == json.loads(json.dumps(healthy_report.report))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # as a plain mkdir, not mkdtemp's 0700


def test_layer_stats_have_ordered_percentiles_and_int8_shares(healthy_report):
    by_name = {s.name: s for s in healthy_report.stats}
    assert {"head_conv", "head_relu", "residual_add", "bound"} <= set(by_name)
    for s in healthy_report.stats:
        p = s.percentiles
        assert s.min <= p["p0.1"] <= p["p1"] <= p["p50"] <= p["p99"] <= p["p99.9"] <= s.max
        assert 0 <= s.clip_share <= 1 and 0 <= s.crush_share <= 1 and s.step > 0
    assert by_name["head_relu"].relu and by_name["head_relu"].min >= 0
    assert not by_name["head_conv"].relu and by_name["head_conv"].dead_channels == ()
    assert by_name["bound"].max <= 1.0


def test_collector_counts_clipped_and_crushed_values_against_a_min_max_scale():
    acc = ActivationCollector([("x", "ReLU", (), True)], seed=0)
    acc.observe("x", np.array([[[[0.0, 1.0], [0.5, 0.0]]]], np.float32), calibration=True)
    _, _, step = int8_range(0.0, 1.0)
    # held-back: 2.0 is clipped; step/2 is crushed (non-zero, within one step); 0 is neither.
    acc.observe("x", np.array([[[[2.0, step / 2], [0.0, 0.5]]]], np.float32), calibration=False)
    (s,) = acc.results()
    assert s.clip_share == pytest.approx(1 / 4) and s.crush_share == pytest.approx(1 / 4)
    assert s.dead_channels == () and s.step == pytest.approx(1 / 255)
    assert dequantize(np.array([-128, 0], np.int8), 0.5, -128).tolist() == [0.0, 64.0]


def test_int8_comparison_matches_the_keras_layers_and_fused_convs(healthy_report):
    cmp = healthy_report.int8
    by = {e.layer: e for e in cmp.layers}
    assert cmp.matched >= 20 and cmp.tiles == 3
    assert by["head_conv"].fused and not by["head_relu"].fused  # conv + ReLU: one int8 tensor
    assert "head_relu" in by["head_relu"].tensor and by["head_relu"].scale > 0
    assert by["head_relu"].snr_db > 25  # an 8-bit input through one conv
    assert by["bound"].tensor is not None and not by["bound"].fused
    assert 25 < cmp.psnr_int8_vs_float < 100
    solo = {e.layer: e.solo_psnr_db for e in cmp.layers if not e.fused}
    assert all(v is not None and v > 20 for v in solo.values())
    assert cmp.worst_solo == min(solo, key=solo.get)
    ranks = sorted(e.rank for e in cmp.layers if e.rank)
    assert ranks == list(range(1, cmp.matched + 1))
    assert cmp.worst == min((e for e in cmp.layers if e.rank), key=lambda e: e.rank).layer


def test_a_blown_up_channel_is_ranked_worst_and_its_fix_keeps_the_float_output(
    broken, healthy_report
):
    model, res, channel = broken
    assert res.int8.worst == f"{BROKEN}_relu"  # by the tensor error it adds
    assert res.int8.worst_solo == f"{BROKEN}_relu"  # by what its int8 grid alone costs the output
    assert res.int8.psnr_int8_vs_float < healthy_report.int8.psnr_int8_vs_float - 3
    st = next(s for s in res.stats if s.name == f"{BROKEN}_relu")
    assert st.channel_ratio > 50 and st.top_channel == channel and st.crush_share > 0.2
    top = res.suggestions[0]
    assert top.layer == f"{BROKEN}_relu" and top.action == "equalize"
    assert top.figure == "channels.png" and "int8_error.png" in top.text
    assert top.params["producer"] == BROKEN and top.params["consumer"] == "enc1_0_pw"
    assert not any(s.layer == BROKEN for s in res.suggestions)  # fused into its ReLU in int8
    fixed = apply_suggestion(model, top, list(res.stats))
    x = np.random.default_rng(0).random((1, TILE, TILE, 3), np.float32)
    np.testing.assert_allclose(fixed(x).numpy(), model(x).numpy(), atol=2e-5)


@pytest.mark.slow
def test_equalizing_the_blown_up_channel_recovers_int8_psnr(broken, images, tmp_path):
    model, res, _ = broken
    fixed = apply_suggestion(model, res.suggestions[0], list(res.stats))
    fixed.save(tmp_path / "fixed.keras")
    tfl = _int8(fixed, images, tmp_path / "fixed.tflite")
    after = explain(tmp_path / "fixed.keras", images, tmp_path / "rep", CFG, tflite=tfl)
    assert after.int8.psnr_int8_vs_float > res.int8.psnr_int8_vs_float + 3
    assert after.int8.worst != f"{BROKEN}_relu"


def test_layer_by_layer_forward_is_the_model():
    from edge_deblur.explain import _graph
    from edge_deblur.explain.int8 import forward

    m = _build()
    _, graph = _graph(m)
    x = np.random.default_rng(2).random((2, TILE, TILE, 3), np.float32)
    y = forward(m, {n: g["call_inputs"] for n, g in graph.items()}, x, m.output_names[0])
    np.testing.assert_allclose(np.asarray(y), m(x).numpy(), atol=1e-6)


def test_clip_suggestion_bounds_the_relu():
    from edge_deblur.explain import Suggestion

    m = _build()
    s = Suggestion(
        "clip_activation", "down1_relu", "", "ranges.png", 1.0, "clip", {"max_value": 2.5}
    )
    clipped = apply_suggestion(m, s, [])
    assert clipped.get_layer("down1_relu").get_config()["max_value"] == 2.5
    assert len(clipped.get_weights()) == len(m.get_weights())
    with pytest.raises(InputError, match="suggestion"):
        apply_suggestion(m, Suggestion("qat", None, "", "int8_error.png", 0.6), [])


@pytest.mark.parametrize("arch", ARCHS)
def test_every_registered_arch_is_explained_without_a_tflite(arch, images, tmp_path):
    _build(arch).save(tmp_path / "m.keras")
    cfg = ExplainConfig(tiles=2, tile=16, region=Region(20, 18, 8, 8))
    res = explain(tmp_path / "m.keras", images, tmp_path / "rep", cfg)
    assert res.int8 is None and "int8_error.png" not in res.figures
    g = res.report["gradients"]
    assert g["region"] == {"x": 20, "y": 18, "w": 8, "h": 8} and g["saliency_total"] > 0
    assert g["saliency_share_inside_region"] > 0.05  # the correction depends on nearby pixels
    assert g["change_mean_levels"] > 0
    if arch == "temporal":  # [image, state] -> [image, next state]: a zero state at 1/8
        assert "state: zeros at 1/8 of the frame size" in res.report["input_note"]


@pytest.mark.slow
def test_a_temporal_int8_model_is_compared_layer_by_layer(images, tmp_path):
    from converters.config import ConvertConfig
    from converters.convert import convert

    _build("temporal").save(tmp_path / "t.keras")
    cfg = ConvertConfig(
        quant="int8", data=str(images), input_size=(16, 16), calib_tiles=8, val_tiles=2
    )
    convert(tmp_path / "t.keras", tmp_path / "t.tflite", cfg)
    small = ExplainConfig(tiles=4, tile=16)
    res = explain(
        tmp_path / "t.keras", images, tmp_path / "rep", small, tflite=tmp_path / "t.tflite"
    )
    by = {e.layer: e for e in res.int8.layers}
    assert not by["state_concat"].fused and not by["bound"].fused
    assert res.int8.matched >= 25 and res.int8.psnr_int8_vs_float > 25


def test_a_model_with_an_extra_input_gets_the_frame_repeated(images, tmp_path):
    from edge_deblur._keras import keras

    frame = keras.Input((None, None, 3), name="frame")
    past = keras.Input((None, None, 6), name="past")
    x = keras.layers.Concatenate(name="cat")([frame, past])
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="c2")(x)
    out = keras.layers.ReLU(max_value=1.0, name="bound")(keras.layers.Add(name="res")([frame, x]))
    keras.Model([frame, past], out).save(tmp_path / "t.keras")
    res = explain(tmp_path / "t.keras", images, tmp_path / "rep", ExplainConfig(tiles=2, tile=16))
    assert "past: the same frame" in res.report["input_note"]
    assert {s.name for s in res.stats} >= {"cat", "c1", "c2", "res", "bound"}


def test_region_defaults_to_the_centre_and_must_fit_the_image():
    from edge_deblur.explain.gradients import crop_frame

    img = np.zeros((40, 56, 3), np.uint8)
    frame, crop, region = crop_frame(img, 8, None)
    assert frame.shape == (40, 56, 3) and crop == (0, 0, 56, 40)
    assert (region.x + region.w / 2, region.y + region.h / 2) == (28, 20) and region.w >= 8
    big = np.zeros((600, 900, 3), np.uint8)  # cropped to 512 around the region
    frame, crop, _ = crop_frame(big, 8, Region(850, 10, 20, 20))
    assert frame.shape == (512, 512, 3) and crop == (388, 0, 512, 512)
    with pytest.raises(InputError, match="--region"):
        crop_frame(img, 8, Region(50, 30, 20, 20))
    with pytest.raises(InputError, match="--region"):
        crop_frame(big, 8, Region(0, 0, 600, 20))
    with pytest.raises(InputError, match="--region"):
        Region.parse("1,2,3")


def test_bad_inputs_raise_the_named_errors_before_any_output(healthy, images, tmp_path):
    keras_path, tfl = healthy
    with pytest.raises(InputError, match="MODEL"):
        explain(tmp_path / "missing.keras", images, tmp_path / "o", CFG)
    with pytest.raises(ModelError, match="MODEL"):
        explain(tfl, images, tmp_path / "o", CFG)  # a .tflite is not a Keras model
    with pytest.raises(ModelError, match="--tflite"):
        explain(keras_path, images, tmp_path / "o", CFG, tflite=keras_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="--images"):
        explain(keras_path, empty, tmp_path / "o", CFG)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep").write_text("keep me")
    with pytest.raises(OutputExistsError, match="--force"):
        explain(keras_path, images, tmp_path / "o", CFG)
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["keep"]


def _cli(*args: str):
    return CliRunner().invoke(app, ["explain", *map(str, args)])


def test_a_tflite_converted_from_another_run_is_refused(healthy, images, tmp_path):
    import shutil

    from runtime.model_file import write_metadata

    keras_path, tfl = healthy
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(keras_path, run / "model.keras")
    (run / "config.yaml").write_text("config_hash: sha256:aaaa\n")
    other = tmp_path / "other.tflite"
    other.write_bytes(write_metadata(tfl.read_bytes(), {"config_hash": "sha256:bbbb"}))
    with pytest.raises(
        InputError, match="--tflite: expected a model converted from MODEL's run and config"
    ):
        explain(run, images, tmp_path / "rep", CFG, tflite=other)
    assert not (tmp_path / "rep").exists()
    same = tmp_path / "same.tflite"  # the run's own conversion passes the check
    same.write_bytes(write_metadata(tfl.read_bytes(), {"config_hash": "sha256:aaaa"}))
    assert explain(run, images, tmp_path / "rep2", CFG, tflite=same) is not None


def test_cli_writes_the_report_and_prints_the_top_suggestions(healthy, images, tmp_path):
    keras_path, tfl = healthy
    out = tmp_path / "cli report"
    args = (keras_path, "--tflite", tfl, "--images", images, "-o", out, "--tiles", "4")
    r = _cli(*args)
    assert r.exit_code == 0, r.output
    assert "int8 vs float:" in r.output and "report.html" in r.output
    assert (out / "report.html").is_file()
    r = _cli(*args)
    assert r.exit_code == 2 and "--force" in r.output and "Traceback" not in r.output
    (out / "stale.txt").write_text("old")
    r = _cli(keras_path, "--images", images, "-o", out, "--tiles", "2", "--force")
    assert r.exit_code == 0, r.output
    assert not (out / "stale.txt").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (("missing.keras",), "MODEL"),
        (("NOT_KERAS",), "MODEL"),
        (("KERAS", "--region", "1,2"), "--region"),
        (("KERAS", "--tiles", "1"), "--tiles"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, needle, healthy, images, tmp_path):
    keras_path, tfl = healthy
    sub = {"KERAS": str(keras_path), "NOT_KERAS": str(tfl)}
    r = _cli(*(sub.get(a, a) for a in args), "--images", images, "-o", tmp_path / "o")
    assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("edge-deblur: error")]) == 1
