"""The training loop: run folder, healthy optimisation, checkpoints, stop and resume, GAN step."""

from __future__ import annotations

import csv
import os
import signal

import numpy as np
import pytest
from _toy import toy_dataset, toy_val_set

from edge_deblur.config import TrainConfig
from edge_deblur.train import learning_rate_schedule, train
from runtime.errors import InputError, OutputExistsError


def _cfg(**kw) -> TrainConfig:
    base = dict(
        size="tiny",
        data=("unused",),
        steps=6,
        batch=2,
        patch=32,
        val_every=3,
        ckpt_every=3,
        warmup_steps=2,
        lr=2e-3,
        val_n=2,
        val_size=32,
        ema=0.0,
    )
    base.update(kw)
    return TrainConfig(**base)


def _train(cfg: TrainConfig, out, **kw):
    return train(cfg, out, dataset=toy_dataset(cfg.batch, cfg.patch), val_set=toy_val_set(), **kw)


def _log_rows(out) -> list[dict[str, str]]:
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_run_folder_holds_model_config_log_and_checkpoints(tmp_path):
    from edge_deblur._keras import keras

    cfg = _cfg()
    res = _train(cfg, tmp_path / "run one")
    out = tmp_path / "run one"
    assert res.step == 6 and not res.interrupted
    model = keras.models.load_model(out / "model.keras", compile=False)
    assert model.count_params() > 0
    assert TrainConfig.load(out / "config.yaml") == cfg
    info = (out / "config.yaml").read_text()
    assert "macs_per_pixel: 1160.0" in info and "pad_multiple: 8" in info
    rows = _log_rows(out)
    assert [int(r["step"]) for r in rows] == [3, 6]
    for r in rows:
        assert float(r["val_input_psnr"]) > 10 and 0.0 <= float(r["live_share"]) <= 1.0
        assert float(r["steps_per_s"]) > 0 and float(r["loss"]) > 0
    assert (out / "ckpt" / "checkpoint").is_file()


@pytest.mark.slow
def test_toy_blur_is_learned_and_relus_stay_alive(tmp_path):
    # Issue 6: earlier models never left the identity and lost every ReLU. On a learnable toy
    # blur the default recipe must gain clearly within a couple of hundred steps.
    cfg = _cfg(steps=200, batch=8, val_every=200, ckpt_every=1000, warmup_steps=20, val_n=4)
    res = train(cfg, tmp_path / "run", dataset=toy_dataset(8, 32, n=64), val_set=toy_val_set(4))
    log = res.last_log
    assert log["val_psnr"] > log["val_input_psnr"] + 0.3
    assert log["live_share"] > 0.5


@pytest.mark.slow
def test_existing_run_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "run"
    _train(_cfg(steps=3), out)
    before = (out / "model.keras").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="--resume.*--force"):
        _train(_cfg(steps=3), out)
    assert (out / "model.keras").stat().st_mtime_ns == before
    res = _train(_cfg(steps=3, seed=1), out, force=True)
    assert res.step == 3 and TrainConfig.load(out / "config.yaml").seed == 1


@pytest.mark.slow
def test_resume_continues_step_optimizer_and_log(tmp_path):
    from edge_deblur._keras import tf

    out = tmp_path / "run"
    _train(_cfg(steps=4, val_every=2, ckpt_every=2), out)
    res = _train(_cfg(steps=8, val_every=2, ckpt_every=2), out, resume=True)
    assert res.step == 8
    assert [int(r["step"]) for r in _log_rows(out)] == [2, 4, 6, 8]
    reader = tf.train.load_checkpoint(str(out / "ckpt"))
    assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 8
    assert int(reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")) == 8


def test_a_resumed_log_counts_elapsed_time_on_from_the_kept_rows(tmp_path):
    from edge_deblur.train import LOG_FIELDS, _open_log

    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerow({"step": "2", "elapsed_s": "5"})
        w.writerow({"step": "4", "elapsed_s": "10"})  # past the checkpoint: dropped
    f, log = _open_log(path, start_step=2)
    log.writerow({"step": "4", "elapsed_s": "1.5"})  # 1.5 s into the resumed process
    f.close()
    rows = _log_rows(tmp_path)
    assert [(r["step"], float(r["elapsed_s"])) for r in rows] == [("2", 5.0), ("4", 6.5)]


def test_resume_of_an_incompatible_run_names_the_differing_keys(tmp_path):
    out = tmp_path / "run"
    _train(_cfg(steps=3), out)
    with pytest.raises(InputError, match=r"different lr, size"):
        _train(_cfg(steps=6, lr=1e-4, size="small"), out, resume=True)
    with pytest.raises(InputError, match="drop --resume"):
        _train(_cfg(), tmp_path / "empty", resume=True)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)]
)
def test_signal_stops_after_checkpointing_and_resume_finishes(tmp_path, sig):
    out = tmp_path / "run"
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def on_step(step, logs):
        if step == 2:
            os.kill(os.getpid(), sig)

    res = _train(_cfg(steps=6, ckpt_every=100), out, on_step=on_step)
    assert res.interrupted and res.step in (2, 3)
    assert (out / "model.keras").is_file()
    assert (out / "ckpt" / f"ckpt-{res.step}.index").is_file()
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored
    done = _train(_cfg(steps=6, ckpt_every=100), out, resume=True)
    assert done.step == 6 and not done.interrupted


def test_gan_trains_generator_and_discriminator(tmp_path):
    res = _train(_cfg(arch="gan", steps=4, val_every=2, adv_weight=0.01), tmp_path / "gan")
    rows = _log_rows(tmp_path / "gan")
    assert all(float(r["adv_d"]) > 0 and float(r["adv_g"]) > 0 for r in rows)
    assert res.step == 4


@pytest.mark.slow
def test_ema_weights_are_what_is_saved(tmp_path):
    from edge_deblur import models
    from edge_deblur._keras import keras, tf

    out = tmp_path / "ema"
    _train(_cfg(steps=6, ema=0.9, lr=5e-3), out)
    saved = keras.models.load_model(out / "model.keras", compile=False)
    raw = models.build_generator("cnn", "tiny")
    tf.train.Checkpoint(model=raw).restore(
        tf.train.latest_checkpoint(out / "ckpt")
    ).expect_partial()
    keras.utils.set_random_seed(0)  # the seed train() builds the model with
    fresh = models.build_generator("cnn", "tiny").get_layer("correction").kernel.numpy()
    k_raw = raw.get_layer("correction").kernel.numpy()
    k_ema = saved.get_layer("correction").kernel.numpy()
    assert not np.allclose(k_raw, fresh)  # the checkpoint holds trained weights
    assert not np.allclose(k_ema, k_raw)  # and model.keras their average, not a copy


def test_learning_rate_warms_up_then_decays_by_cosine():
    sched = learning_rate_schedule(_cfg(steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1))
    lr = [float(sched(s)) for s in (0, 4, 9, 10, 55, 100, 500)]
    assert lr[0] == pytest.approx(1e-4) and lr[1] == pytest.approx(5e-4)
    assert lr[2] == pytest.approx(1e-3) and lr[3] == pytest.approx(1e-3)
    assert lr[4] == pytest.approx(1e-4 + 0.9e-3 * 0.5, rel=1e-3)  # half-way down the cosine
    assert lr[5] == pytest.approx(1e-4) and lr[6] == pytest.approx(1e-4)


def test_missing_data_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="--data: expected an existing folder"):
        train(_cfg(data=(str(tmp_path / "nope"),)), tmp_path / "run")


def test_divergence_stops_with_a_model_error_and_keeps_the_last_checkpoint(tmp_path):
    from edge_deblur._keras import tf
    from runtime.errors import ModelError

    def poisoned(batch: int, patch: int):
        good = toy_dataset(batch, patch).take(3)
        bad = toy_dataset(batch, patch).map(lambda b, s: (b, s * np.nan))
        return good.concatenate(bad)

    out = tmp_path / "run"
    cfg = _cfg(steps=6, ckpt_every=2, val_every=100)
    with pytest.raises(ModelError, match="diverged at step 4"):
        train(cfg, out, dataset=poisoned(cfg.batch, cfg.patch), val_set=toy_val_set())
    assert tf.train.latest_checkpoint(str(out / "ckpt")).endswith("ckpt-2")


def test_resume_reproduces_an_uninterrupted_run_exactly(tmp_path):
    # Same seed, the data stream continued at the resumed step, optimizer state restored:
    # 2 steps + resume to 4 must give the weights of 4 straight steps.
    from _toy import sharp_images

    from edge_deblur._keras import keras
    from runtime.io import write_image

    photos = tmp_path / "photos"
    for i, img in enumerate(sharp_images(4, 72, seed=4)):
        write_image(photos / f"p{i}.png", (img * 255 + 0.5).astype(np.uint8))
    cfg = _cfg(data=(str(photos),), steps=4, val_every=2, ckpt_every=2, val_n=1)
    train(cfg, tmp_path / "straight")
    train(cfg.replace(steps=2), tmp_path / "resumed")
    train(cfg, tmp_path / "resumed", resume=True)
    a = keras.models.load_model(tmp_path / "straight" / "model.keras", compile=False)
    b = keras.models.load_model(tmp_path / "resumed" / "model.keras", compile=False)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-6)
    assert [int(r["step"]) for r in _log_rows(tmp_path / "resumed")] == [2, 4]


def test_model_keras_is_written_at_every_validation_while_training(tmp_path):
    out = tmp_path / "run"
    seen = []

    def on_step(step, logs):
        if step == 3:  # after the validation at step 2, before the end
            seen.append((out / "model.keras").is_file())

    _train(_cfg(steps=4, val_every=2, ckpt_every=100), out, on_step=on_step)
    assert seen == [True]
