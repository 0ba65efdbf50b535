"""Sequence data (GoPro windows, pair sequences, coherent synthetic shake) and temporal training."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_deblur.config import TrainConfig
from edge_deblur.data.degrade import linear_to_srgb, srgb_to_linear, to_float, to_uint8
from edge_deblur.data.sequences import (
    ClipSequences,
    SequenceSampler,
    ShakeSequences,
    gopro_windows,
    load_sequence_sources,
    sequence_validation_set,
)
from runtime.errors import InputError

TINY = {"widths": (4, 8, 8, 8), "blocks": (0, 1, 0, 1)}


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    small = np.random.default_rng(seed).integers(0, 256, (h // 6, w // 6, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _panning_clip(n: int, h: int = 48, w: int = 64, speed: int = 1) -> np.ndarray:
    """``n`` frames of one scene panning ``speed`` px per frame to the left."""
    big = _scene(h, w + n * speed + 8)
    return np.stack([big[:, i * speed : i * speed + w] for i in range(n)])


def test_gopro_windows_average_in_linear_light_with_the_centre_frame_sharp():
    frames = _panning_clip(12)
    blurs, sharps = gopro_windows(frames, 5)
    assert blurs.shape == sharps.shape == (8, 48, 64, 3)
    mean = np.mean([srgb_to_linear(to_float(f)) for f in frames[3:8]], axis=0)
    assert np.abs(blurs[3].astype(int) - to_uint8(linear_to_srgb(mean))).max() <= 1
    assert np.array_equal(sharps[3], frames[5])


def test_clip_sequence_frames_are_consecutive_non_overlapping_windows():
    seqs = ClipSequences.from_frames(_panning_clip(30), 5)
    assert seqs.starts(4) == 26 - 15
    blur, sharp = seqs.sequence(2, 4)
    assert np.array_equal(sharp, seqs.sharps[[2, 7, 12, 17]])
    assert np.array_equal(blur, seqs.blurs[[2, 7, 12, 17]])


def test_synthetic_shake_is_one_path_across_frames_and_reproducible():
    src = ShakeSequences("photos", [_scene(160, 160, 1)])
    a = src.sequence(np.random.default_rng(3), 4, 64)
    b = src.sequence(np.random.default_rng(3), 4, 64)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    blur, sharp = a
    assert blur.shape == sharp.shape == (4, 64, 64, 3)
    # the camera drifts along one path: consecutive sharp frames are small translations
    import cv2

    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in sharp]
    shifts = [np.hypot(*cv2.phaseCorrelate(gray[t], gray[t + 1])[0]) for t in range(3)]
    assert max(shifts) <= 64 // 4
    assert any(np.abs(bt.astype(int) - st).mean() > 0.5 for bt, st in zip(blur, sharp, strict=True))


def test_sampler_is_a_pure_function_of_seed_and_index():
    src = [ClipSequences.from_frames(_panning_clip(30), 5)]
    s1 = SequenceSampler(src, [1.0], 3, 32, seed=5)
    s2 = SequenceSampler(src, [1.0], 3, 32, seed=5)
    b1, t1 = s1.batch(7, 2)
    b2, t2 = s2.batch(7, 2)
    assert b1.shape == (2, 3, 32, 32, 3) and b1.dtype == np.float32
    assert np.array_equal(b1, b2) and np.array_equal(t1, t2)
    assert not np.array_equal(b1, s1.batch(8, 2)[0])


def test_too_short_a_clip_is_one_input_error():
    with pytest.raises(InputError, match="seq-len"):
        SequenceSampler([ClipSequences.from_frames(_panning_clip(8), 5)], [1.0], 4, 32, seed=0)


def test_clip_holdout_is_the_last_frames_and_shares_none_with_training(tmp_path):
    from runtime.io import write_image

    folder = tmp_path / "clip frames"
    folder.mkdir()
    for i, f in enumerate(_panning_clip(60)):
        write_image(folder / f"{i:04d}.png", f)
    train = load_sequence_sources([str(folder)], average=5, frames=(0, 50), length=2, part="train")
    val = load_sequence_sources([str(folder)], average=5, frames=(0, 50), length=2, part="val")
    # 50 frames, at least 2 x 5 held out: windows from frames 0-39 train, 40-49 validate
    assert len(train[0].blurs) == 40 - 5 + 1 and len(val[0].blurs) == 10 - 5 + 1
    vs = sequence_validation_set(val, 2, 2, 32, seed=0)
    assert len(vs) == 2 and vs[0][0].shape == (2, 32, 32, 3)


class _Sampler:
    def __init__(self, length: int = 3, patch: int = 32) -> None:
        self.inner = SequenceSampler(
            [ClipSequences.from_frames(_panning_clip(40, 48, 64, 2), 4)], [1.0], length, patch, 0
        )

    def batch(self, step, size):
        return self.inner.batch(step, size)


def _cfg(**kw) -> TrainConfig:
    base = dict(
        arch="temporal", size="tiny", clips=("unused.mp4",), seq_len=3, steps=4, batch=2,
        patch=32, val_every=2, ckpt_every=2, warmup_steps=1, lr=2e-3, val_n=1, val_size=32,
        ema=0.0, **TINY,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _val():
    src = ClipSequences.from_frames(_panning_clip(40, 48, 64, 2), 4)
    return [src.sequence(3, 3)[0][:, :32, :32], src.sequence(3, 3)[1][:, :32, :32]]


@pytest.mark.slow  # three short trainings (~20 s); the CLI test below keeps one in the fast set
def test_temporal_training_writes_the_run_folder_and_resumes_exactly(tmp_path):
    from edge_deblur._keras import keras
    from edge_deblur.train import train

    val = [tuple(_val())]
    straight = train(_cfg(), tmp_path / "straight", dataset=_Sampler(), val_set=val)
    assert straight.step == 4 and (tmp_path / "straight" / "ckpt" / "checkpoint").is_file()
    train(_cfg(steps=2), tmp_path / "resumed", dataset=_Sampler(), val_set=val)
    train(_cfg(steps=4), tmp_path / "resumed", resume=True, dataset=_Sampler(), val_set=val)
    a = keras.models.load_model(tmp_path / "straight" / "model.keras", compile=False)
    b = keras.models.load_model(tmp_path / "resumed" / "model.keras", compile=False)
    assert len(a.inputs) == 2
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-6)
    with open(tmp_path / "resumed" / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(float(r["val_input_psnr"]) > 10 for r in rows)
    cfg = TrainConfig.load(tmp_path / "straight" / "config.yaml")
    assert cfg.arch.value == "temporal" and cfg.seq_len == 3


def test_cli_trains_temporal_on_a_clip_folder(tmp_path):
    from edge_deblur.cli.main import app
    from runtime.io import write_image

    folder = tmp_path / "clip"
    folder.mkdir()
    for i, f in enumerate(_panning_clip(48, 48, 64, 2)):
        write_image(folder / f"{i:04d}.png", f)
    out = tmp_path / "run"
    args = ["train", "--arch", "temporal", "--size", "tiny", "--clip", str(folder)]
    args += ["--clip-average", "4", "--clip-frames", "0:48", "--seq-len", "2", "--steps", "2"]
    args += ["--batch", "2", "--patch", "32", "--val-n", "1", "--val-size", "32", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert all((out / n).exists() for n in ("model.keras", "config.yaml", "log.csv", "ckpt"))
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "r2"), "--clip-frames", "9"])
    assert bad.exit_code == 2 and "--clip-frames: expected FIRST:LAST" in bad.output
