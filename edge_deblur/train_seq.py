"""Training on blurred *sequences*: ``--arch temporal`` (and ``--clip`` for single-frame models).

:func:`edge_deblur.train.train` hands a run here when the arch is ``temporal`` or clips are given.
The run folder, config, log columns, checkpoints, ``--resume`` (exact: batch ``N`` is a pure
function of the seed and ``N``), EMA, warm-up + cosine schedule, gradient clipping, content
losses and the stop on signals are those of the single-frame trainer (its helpers are reused).

* ``temporal``: truncated back-propagation through time. A batch holds ``batch`` sequences of
  ``seq_len`` consecutive frames (:mod:`edge_deblur.data.sequences`); each starts from the zero
  state (as the runtime does on a stream's first frame and after a cut), the model is unrolled
  over the frames with its state fed back, and the loss is the mean content loss over all frames,
  so gradients flow through the state into earlier frames.
* ``cnn`` with ``--clip``: the same sequences with every frame an independent sample (a batch
  of ``batch * seq_len`` frames per step): the single-frame baseline with the same data and the
  same number of frames per step.

Validation runs the model over fixed held-out sequences (recurrently for ``temporal``) and logs
the mean PSNR/SSIM over every frame, and of the input.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_deblur.config import Arch, Strategy, TrainConfig
from runtime.errors import InputError, expected

HOLDOUT = 0.1


def _sources(cfg: TrainConfig, part: str) -> list:
    from edge_deblur.data.sequences import load_sequence_sources
    from edge_deblur.train import photo_folders

    photos = [str(p) for d in cfg.data for p in photo_folders(d)]
    return load_sequence_sources(
        cfg.clips,
        cfg.pairs,
        photos,
        average=cfg.clip_average,
        frames=cfg.clip_frames,
        holdout=HOLDOUT,
        seed=cfg.seed,
        part=part,
        length=cfg.seq_len,
    )


def build_sequence_data(cfg: TrainConfig):
    """(sampler of training sequences, fixed held-out validation sequences) for ``cfg``."""
    from edge_deblur.data.sequences import (
        PairSequences,
        SequenceSampler,
        sequence_validation_set,
    )

    train_src = _sources(cfg, "train")
    weights = [cfg.pairs_weight if isinstance(s, PairSequences) else 1.0 for s in train_src]
    sampler = SequenceSampler(train_src, weights, cfg.seq_len, cfg.patch, cfg.seed)
    val_src = _sources(cfg, "val")
    val = sequence_validation_set(val_src, cfg.val_n, cfg.seq_len, cfg.val_size, cfg.seed)
    return sampler, val


def run_sequence(model, blur_seq: np.ndarray, temporal: bool) -> np.ndarray:
    """The model's uint8 outputs over one uint8 sequence ``(T, H, W, 3)`` (state from zero)."""
    from edge_deblur.models.temporal import state_shape
    from edge_deblur.train import _to_uint8

    x = blur_seq.astype(np.float32) / np.float32(255.0)
    if not temporal:
        return _to_uint8(np.asarray(model(x, training=False)))
    state = np.zeros(state_shape(model, x.shape[1], x.shape[2]), np.float32)
    outs = []
    for frame in x:
        y, state = model([frame[None], state], training=False)
        outs.append(_to_uint8(np.asarray(y)[0]))
    return np.stack(outs)


def validate_sequences(model, val_set, temporal: bool) -> dict[str, float]:
    """Mean PSNR/SSIM over every frame of every validation sequence, and of the input."""
    from runtime.metrics import psnr, ssim

    rows = []
    for blur, sharp in val_set:
        out = run_sequence(model, blur, temporal)
        for y, b, s in zip(out, blur, sharp, strict=True):
            rows.append((psnr(y, s), ssim(y, s), psnr(b, s), ssim(b, s)))
    m = np.array(rows, np.float64)
    m[~np.isfinite(m)] = 100.0
    m = m.mean(axis=0) if len(rows) else np.full(4, np.nan)
    return {
        "val_psnr": float(m[0]),
        "val_ssim": float(m[1]),
        "val_input_psnr": float(m[2]),
        "val_input_ssim": float(m[3]),
    }


def train_sequences(
    cfg: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    force: bool = False,
    sampler=None,
    val_set: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
):
    """Train ``cfg`` on sequences into ``out``; same contract as :func:`edge_deblur.train.train`.

    ``sampler`` (an object with ``batch(step, size) -> (blur, sharp)`` float32 arrays of shape
    ``(size, seq_len, patch, patch, 3)``) and ``val_set`` (uint8 ``(blur_seq, sharp_seq)`` pairs)
    replace the data sources (tests).
    """
    from edge_deblur import train as base

    if cfg.arch is Arch.gan:
        raise InputError(expected("--arch", "temporal or cnn for sequence training", "gan"))
    if cfg.strategy is not Strategy.default:
        raise InputError(
            expected(
                "--strategy",
                "default for sequence training",
                cfg.strategy.value,
                "drop --strategy",
            )
        )
    if cfg.perceptual_weights:
        raise InputError(
            expected("--perceptual-weights", "none for sequence training", cfg.perceptual_weights)
        )
    out = Path(out)
    say = on_message or (lambda _msg: None)
    base.prepare_run_folder(cfg, out, resume, force)
    if sampler is None:
        base._check_sources(cfg)
        for clip in cfg.clips:
            if not Path(clip).exists():
                raise InputError(expected("--clip", "an existing video file or folder", clip))
    stop = stop or threading.Event()

    from edge_deblur import models
    from edge_deblur._keras import keras, tf
    from edge_deblur.losses import charbonnier, edge_loss, fft_loss, l1, mse

    start, latest = 0, None
    if resume:
        latest = tf.train.latest_checkpoint(str(out / "ckpt"))
        if latest is None:
            raise InputError(expected("--resume", "a checkpoint in ckpt/", str(out / "ckpt")))
        start = int(tf.train.load_checkpoint(latest).get_tensor(base._STEP_KEY))
    if sampler is None:
        sampler, built_val = build_sequence_data(cfg)
        val_set = built_val if val_set is None else val_set
    val_set = list(val_set or [])
    temporal = cfg.arch is Arch.temporal
    keras.utils.set_random_seed(cfg.seed)
    gen = models.build_generator(cfg.arch.value, cfg.size.value, **cfg.model_overrides())
    schedule = base.learning_rate_schedule(cfg)
    opt = base._optimizer(cfg, schedule)
    opt.build(gen.trainable_variables)
    ema = None
    if cfg.ema > 0:
        ema = keras.models.clone_model(gen)
        ema.set_weights(gen.get_weights())
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    figures = base.model_figures(cfg, gen)
    say(
        f"model {cfg.arch.value}/{cfg.size.value}: {figures['macs_per_pixel']:.0f} MACs/pixel, "
        f"{figures['params']} parameters, pad multiple {figures['pad_multiple']}; sequences of "
        f"{cfg.seq_len} frames" + (" (truncated BPTT)" if temporal else " (frames independent)")
    )
    parts: dict[str, Any] = {"step": step_var, "model": gen, "optimizer": opt}
    if ema is not None:
        parts["ema"] = ema
    ckpt = tf.train.Checkpoint(**parts)
    manager = tf.train.CheckpointManager(ckpt, str(out / "ckpt"), max_to_keep=3)
    if resume:
        ckpt.restore(latest).expect_partial()
        say(f"resumed from step {start} ({latest}); the data stream continues from there")
    cfg.save(out / "config.yaml", derived=figures, force=True)

    pixel_fn = {"mse": mse, "l1": l1, "charbonnier": charbonnier}[cfg.pixel_loss.value]
    length, mult = (
        cfg.seq_len,
        models.pad_multiple(cfg.arch.value, cfg.size.value, **cfg.model_overrides()),
    )
    state_ch = int(gen.inputs[1].shape[-1]) if temporal else 0

    def content(pred, sharp):
        terms = {
            "pixel": pixel_fn(pred, sharp),
            "fft": fft_loss(pred, sharp),
            "edge": edge_loss(pred, sharp),
        }
        total = (
            cfg.pixel_weight * terms["pixel"]
            + cfg.fft_weight * terms["fft"]
            + cfg.edge_weight * terms["edge"]
        )
        return total, terms

    ema_pairs = list(zip(ema.weights, gen.weights, strict=True)) if ema is not None else []

    @tf.function
    def train_step(blur, sharp):
        with tf.GradientTape() as tape:
            if temporal:
                b = tf.shape(blur)[0]
                p = tf.shape(blur)[2]
                state = tf.zeros([b, p // mult, p // mult, state_ch], tf.float32)
                preds = []
                for t in range(length):  # unrolled: BPTT through the state
                    pred, state = gen([blur[:, t], state], training=True)
                    preds.append(pred)
                pred = tf.stack(preds, axis=1)
            else:
                flat = tf.reshape(blur, [-1, *blur.shape[2:]])
                pred = tf.reshape(gen(flat, training=True), tf.shape(blur))
            pred2 = tf.reshape(pred, [-1, *blur.shape[2:]])
            sharp2 = tf.reshape(sharp, [-1, *blur.shape[2:]])
            per_frame, terms = content(pred2, sharp2)
            loss = tf.reduce_mean(per_frame)
        grads = tape.gradient(loss, gen.trainable_variables)
        opt.apply_gradients(zip(grads, gen.trainable_variables, strict=True))
        step_var.assign_add(1)
        if ema_pairs:
            s = tf.cast(step_var, tf.float32)
            decay = tf.minimum(cfg.ema, (1.0 + s) / (10.0 + s))
            for e, w in ema_pairs:
                e.assign(decay * e + (1.0 - decay) * w)
        logs = {k: tf.reduce_mean(v) for k, v in terms.items()}
        logs["loss"] = loss
        return logs

    eval_model = ema if ema is not None else gen

    save_model = base.model_saver(eval_model, out)

    log_file, log = base._open_log(out / "log.csv", start)
    step, interrupted, last = base.run_loop(
        cfg,
        start,
        lambda step: train_step(*(tf.constant(a) for a in sampler.batch(step, cfg.batch))),
        lambda: validate_sequences(eval_model, val_set, temporal) if val_set else {},
        schedule=schedule,
        manager=manager,
        step_var=step_var,
        save_model=save_model,
        log=log,
        log_file=log_file,
        say=say,
        on_step=on_step,
        stop=stop,
    )
    model_path = save_model()
    if interrupted:
        say(f"stopped at step {step}; checkpoint saved, continue with --resume")
    return base.TrainResult(out, step, interrupted, model_path, last)
