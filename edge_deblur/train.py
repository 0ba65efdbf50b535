"""The training loop behind ``edge-deblur train``.

A custom loop (``tf.function`` steps run through a ``tf.distribute`` strategy) rather than
``model.fit``, because a run needs: a GAN step with two optimizers, an EMA of the weights,
checkpoints that ``--resume`` continues exactly, a stop on SIGINT/SIGTERM that still saves, and a
log with the health figures issue 6 asked for (live-ReLU share beside the validation PSNR).

Healthy optimisation is built in: He-initialised convolutions and a near-zero final projection
(the model starts as the identity), AdamW (or Adam) with linear warm-up and cosine decay, global
gradient-norm clipping, and Charbonnier + FFT + edge content losses that reward restoring detail.

Sequences (``--arch temporal``, or ``--clip``) train in :mod:`edge_deblur.train_seq`.

Run folder (``out``): ``config.yaml`` (written first, so an interrupted run can be resumed),
``ckpt/`` (``tf.train.CheckpointManager``), ``log.csv`` (one row per validation), ``model.keras``
(the EMA weights when EMA is on; written at the end and at every stop).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_deblur.config import Arch, OptimizerKind, Strategy, TrainConfig
from runtime.errors import InputError, ModelError, OutputExistsError, expected

RUN_FILES = ("model.keras", "config.yaml", "log.csv", "ckpt")
_STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"  # the step counter inside a checkpoint
LOG_FIELDS = (
    "step",
    "loss",
    "pixel",
    "fft",
    "edge",
    "perceptual",
    "adv_g",
    "adv_d",
    "lr",
    "val_psnr",
    "val_ssim",
    "val_input_psnr",
    "val_input_ssim",
    "live_share",
    "steps_per_s",
    "elapsed_s",
)


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or stopped) run produced."""

    out: Path
    step: int
    interrupted: bool
    model_path: Path
    last_log: dict[str, float] = field(default_factory=dict)


# ---- learning rate -----------------------------------------------------------------------------


def _schedule_class():
    from edge_deblur._keras import keras, tf

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up from ~0 to ``peak`` over ``warmup`` steps, then cosine decay to
        ``peak * min_ratio`` at ``total`` steps (held there after)."""

        def __init__(self, peak: float, warmup: int, total: int, min_ratio: float) -> None:
            super().__init__()
            self.peak, self.warmup, self.total, self.min_ratio = peak, warmup, total, min_ratio

        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            peak = tf.constant(self.peak, tf.float32)
            warm = peak * (step + 1.0) / float(max(self.warmup, 1))
            span = float(max(self.total - self.warmup, 1))
            progress = tf.clip_by_value((step - float(self.warmup)) / span, 0.0, 1.0)
            low = peak * self.min_ratio
            cos = low + (peak - low) * 0.5 * (1.0 + tf.cos(math.pi * progress))
            return tf.where(step < float(self.warmup), warm, cos)

        def get_config(self) -> dict[str, Any]:
            return {
                "peak": self.peak,
                "warmup": self.warmup,
                "total": self.total,
                "min_ratio": self.min_ratio,
            }

    return WarmupCosine


def learning_rate_schedule(cfg: TrainConfig):
    """The run's schedule: linear warm-up then cosine decay (a Keras LearningRateSchedule)."""
    return _schedule_class()(cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)


def _optimizer(cfg: TrainConfig, schedule, for_discriminator: bool = False):
    from edge_deblur._keras import keras

    clip = cfg.clip_norm or None
    if for_discriminator:  # GAN practice: beta_1 0.5 for the critic
        return keras.optimizers.Adam(schedule, beta_1=0.5, beta_2=0.999, global_clipnorm=clip)
    if cfg.optimizer is OptimizerKind.adamw:
        opt = keras.optimizers.AdamW(
            schedule, weight_decay=cfg.weight_decay, beta_1=0.9, beta_2=0.99, global_clipnorm=clip
        )
        opt.exclude_from_weight_decay(var_names=["bias"])
        return opt
    return keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.99, global_clipnorm=clip)


# ---- distribution ------------------------------------------------------------------------------


def make_strategy(kind: Strategy | str):
    """``default`` (one device), ``mirrored`` (all local devices) or ``multi-worker``
    (``MultiWorkerMirroredStrategy``; the cluster comes from ``TF_CONFIG``, one local worker
    when it is unset)."""
    from edge_deblur._keras import tf

    kind = Strategy(kind)
    if kind is Strategy.mirrored:
        return tf.distribute.MirroredStrategy()
    if kind is Strategy.multi_worker:
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as e:
            msg = " ".join(str(e).split())
            raise InputError(
                expected(
                    "--strategy multi-worker",
                    "a valid TF_CONFIG cluster, set up before any other TensorFlow work",
                    msg,
                    "check TF_CONFIG and start training in a fresh process",
                )
            ) from None
    return tf.distribute.get_strategy()


def is_chief_worker(kind: Strategy | str) -> bool:
    """Whether this process writes the run folder: always, except a non-chief worker of a
    ``multi-worker`` cluster described by ``TF_CONFIG`` (its checkpoints go to a temp folder)."""
    if Strategy(kind) is not Strategy.multi_worker:
        return True
    import json

    try:
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        raise InputError(
            expected("TF_CONFIG", "JSON with cluster and task", os.environ.get("TF_CONFIG"))
        ) from None
    task = tf_config.get("task") or {}
    cluster = tf_config.get("cluster") or {}
    kind_, index = task.get("type", "worker"), int(task.get("index", 0))
    return kind_ == "chief" or (kind_ == "worker" and index == 0 and "chief" not in cluster)


# ---- run folder --------------------------------------------------------------------------------


def prepare_run_folder(
    cfg: TrainConfig, out: Path, resume: bool, force: bool
) -> TrainConfig | None:
    """Check ``out`` before anything is trained. Returns the saved config when resuming.

    Refuses: a run folder that already holds a run (without ``--resume`` or ``--force``);
    ``--resume`` without a checkpoint; ``--resume`` of a run whose config differs in any key
    that changes what is trained (naming the keys).
    """
    out = _run_folder(out)
    present = [name for name in RUN_FILES if (out / name).exists()]
    if resume:
        if resume and force:
            raise InputError(expected("--resume/--force", "one of the two", "both"))
        cfg_path = out / "config.yaml"
        if not cfg_path.is_file() or not (out / "ckpt" / "checkpoint").is_file():
            raise InputError(
                expected(
                    "--resume",
                    "a run folder with config.yaml and ckpt/",
                    str(out),
                    "drop --resume to start a new run",
                )
            )
        saved = TrainConfig.load(cfg_path)
        done = checkpoint_step(out)
        if done is not None and cfg.steps < done:
            raise InputError(
                expected(
                    "--steps",
                    f"at least the step the run in {str(out)!r} has reached ({done})",
                    cfg.steps,
                    "give a larger --steps to train on, or use the run's model.keras as it is",
                )
            )
        diff = cfg.resume_conflicts(saved)
        if diff:
            detail = ", ".join(f"{k}: {saved.to_dict()[k]!r} -> {cfg.to_dict()[k]!r}" for k in diff)
            raise InputError(
                expected(
                    "--resume",
                    f"the same training settings as the run in {str(out)!r}",
                    f"different {', '.join(diff)} ({detail})",
                    "use the original options, or start a new run with another --out",
                )
            )
        return saved
    if present and not force:
        raise OutputExistsError(
            f"--out {str(out)!r} already holds a run ({', '.join(present)}); pass --resume to "
            "continue it or --force to start over"
        )
    for name in present:  # --force: remove only what a run writes
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return None


def _run_folder(out: str | os.PathLike) -> Path:
    """``--out`` as a Path, refused when a file stands there."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(expected("--out", "a folder for the run", f"the file {str(out)!r}"))
    return out


def checkpoint_step(out: str | os.PathLike) -> int | None:
    """The step of a run folder's latest checkpoint, read from ``ckpt/checkpoint`` (the index
    TensorFlow writes: ``model_checkpoint_path: "ckpt-STEP"``), without TensorFlow; None when it
    cannot be read."""
    try:
        text = (Path(out) / "ckpt" / "checkpoint").read_text()
    except OSError:
        return None
    m = re.search(r'^model_checkpoint_path:\s*"[^"]*?ckpt-(\d+)"', text, re.MULTILINE)
    return int(m.group(1)) if m else None


@contextlib.contextmanager
def run_folder_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the run folder ``out`` (``out/.train.lock``, created with the
    folder) while a run trains into it, so that a second ``train`` on the same folder is refused
    instead of sharing its checkpoints and log. Where ``fcntl`` is missing (Windows) it does
    nothing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux or macOS
        yield
        return
    out = _run_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".train.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise InputError(
                expected(
                    "--out",
                    "a run folder no other `edge-deblur train` is writing",
                    f"{str(out)!r}, in use by {holder}",
                    "wait for it to finish, or choose another --out",
                )
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_sources(cfg: TrainConfig) -> None:
    for opt, folders in (("--data", cfg.data), ("--pairs", cfg.pairs)):
        for folder in folders:
            if not Path(folder).is_dir():
                raise InputError(expected(opt, "an existing folder", folder))
    if cfg.perceptual_weights and not Path(cfg.perceptual_weights).is_file():
        raise InputError(
            expected(
                "--perceptual-weights", "an existing local weights file", cfg.perceptual_weights
            )
        )


def photo_folders(folder: str | os.PathLike) -> list[Path]:
    """``folder`` itself if it holds images, else its sub-folders that do (one level), so that
    ``--data sharp_photos`` works on a collection of photo sets."""
    from runtime.io import list_images

    root = Path(folder)
    if list_images(root):
        return [root]
    subs = sorted(p for p in root.iterdir() if p.is_dir() and list_images(p))
    if not subs:
        raise InputError(
            expected(
                "--data", "a folder of sharp photos (or of photo folders)", f"{root} (no images)"
            )
        )
    return subs


def data_sources(cfg: TrainConfig) -> list:
    """The run's sources as :class:`edge_deblur.data.DataSource` (synthetic first, then pairs).

    A ``--data`` folder of photo folders becomes one source per sub-folder, splitting the
    folder's weight between them in proportion to their image counts."""
    from edge_deblur.data import DataSource
    from runtime.io import list_images

    sources = []
    for d in cfg.data:
        subs = photo_folders(d)
        counts = [len(list_images(p)) for p in subs]
        total = float(sum(counts))
        sources += [
            DataSource("synthetic", p, c / total) for p, c in zip(subs, counts, strict=True)
        ]
    return sources + [DataSource("pairs", p, cfg.pairs_weight) for p in cfg.pairs]


def _build_data(cfg: TrainConfig, start_step: int = 0):
    """The training stream (from batch ``start_step`` on: a resumed run sees exactly the batches
    an uninterrupted one would) and the fixed held-out validation crops."""
    from edge_deblur.data import build_train_dataset, make_validation_set

    sources = data_sources(cfg)
    blur = _blur_config(cfg)
    ds = build_train_dataset(
        sources, cfg.patch, cfg.batch, seed=cfg.seed, blur=blur, start_step=start_step
    )
    val = make_validation_set(sources, cfg.val_n, cfg.val_size, cfg.seed, blur=blur)
    return ds, val


def _blur_config(cfg: TrainConfig):
    from edge_deblur.data import BlurConfig

    raw = dict(cfg.blur or {})
    if cfg.gyro:
        raw["gyro_dirs"] = tuple(cfg.gyro)
    if cfg.kernels:
        raw["kernel_dirs"] = tuple(cfg.kernels)
    return BlurConfig.from_dict(raw)


# ---- validation --------------------------------------------------------------------------------


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def relu_probe(model):
    """A model returning every hidden ReLU output of ``model``: the activations (named ``*_relu``,
    clipped by ``bound0`` or not); the output bound, the clips of sums and ``temporal``'s bounded
    state excluded."""
    from edge_deblur._keras import keras

    outs = [
        layer.output
        for layer in model.layers
        if isinstance(layer, keras.layers.ReLU)
        and (layer.max_value is None or layer.name.endswith("_relu"))
    ]
    return keras.Model(model.input, outs) if outs else None


def live_share(probe, batch: np.ndarray) -> float:
    """Fraction of ReLU channels that fire (> 0) somewhere on ``batch``: 0 means all dead."""
    if probe is None:
        return float("nan")
    outs = probe(batch, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    live = total = 0
    for o in outs:
        fired = np.asarray(o).reshape(-1, o.shape[-1]).max(axis=0) > 0
        live += int(fired.sum())
        total += fired.size
    return live / total if total else float("nan")


def validate(
    model, val_set: Sequence[tuple[np.ndarray, np.ndarray]], probe=None
) -> dict[str, float]:
    """Mean PSNR/SSIM of the output and of the input against sharp, and the live-ReLU share."""
    from runtime.metrics import psnr, ssim

    rows = []
    for blur, sharp in val_set:
        x = (blur.astype(np.float32) / 255.0)[None]
        y = _to_uint8(np.asarray(model(x, training=False))[0])
        rows.append((psnr(y, sharp), ssim(y, sharp), psnr(blur, sharp), ssim(blur, sharp)))
    share = float("nan")
    if probe is not None and val_set and len({b.shape for b, _ in val_set}) == 1:
        share = live_share(probe, np.stack([b for b, _ in val_set]).astype(np.float32) / 255.0)
    finite = np.array(rows, dtype=np.float64)
    finite[~np.isfinite(finite)] = 100.0  # identical images: cap PSNR like benchmarks do
    m = finite.mean(axis=0) if len(rows) else np.full(4, np.nan)
    return {
        "val_psnr": float(m[0]),
        "val_ssim": float(m[1]),
        "val_input_psnr": float(m[2]),
        "val_input_ssim": float(m[3]),
        # A channel counts as live if it fires anywhere on the validation images.
        "live_share": share,
    }


# ---- log ---------------------------------------------------------------------------------------


def _open_log(path: Path, start_step: int):
    """Open ``log.csv`` for appending; on resume, drop rows past the restored step first."""
    rows: list[dict[str, str]] = []
    if start_step > 0 and path.is_file():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r.get("step") or 0)) <= start_step]
    from runtime.io import atomic_path

    with atomic_path(path, force=True) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k, "") for k in LOG_FIELDS})
    f = open(path, "a", newline="")  # noqa: SIM115 (closed by the caller)
    # elapsed_s goes on from the kept rows: a resumed run's log counts its whole training time.
    try:
        offset = float(rows[-1].get("elapsed_s") or 0.0) if rows else 0.0
    except ValueError:
        offset = 0.0
    return f, _ElapsedWriter(csv.DictWriter(f, fieldnames=LOG_FIELDS), offset)


class _ElapsedWriter:
    """A ``csv.DictWriter`` that adds ``offset`` seconds to each row's ``elapsed_s``."""

    def __init__(self, writer: csv.DictWriter, offset: float) -> None:
        self.writer, self.offset = writer, offset

    def writerow(self, row: dict[str, str]) -> None:
        if self.offset and row.get("elapsed_s"):
            row = {**row, "elapsed_s": _fmt(float(row["elapsed_s"]) + self.offset)}
        self.writer.writerow(row)


# ---- stop on signals ---------------------------------------------------------------------------


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (the loop then checkpoints and exits); a second SIGINT
    interrupts at once. Only in the main thread (signals cannot be caught elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()

    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# ---- the loop ----------------------------------------------------------------------------------


def model_figures(cfg: TrainConfig, model) -> dict[str, Any]:
    """The derived figures saved in ``config.yaml``: pad multiple, MACs/pixel, parameters."""
    from edge_deblur import models

    return {
        "pad_multiple": models.pad_multiple(
            cfg.arch.value, cfg.size.value, **cfg.model_overrides()
        ),
        "macs_per_pixel": float(models.macs_per_pixel(model)),
        "params": models.count_params(model),
    }


def train(
    cfg: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    force: bool = False,
    dataset=None,
    val_set: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train ``cfg`` into the run folder ``out``; returns when ``cfg.steps`` are done or a stop
    was requested (SIGINT/SIGTERM or ``stop.set()``), after checkpointing and saving the model.

    ``dataset`` / ``val_set`` replace the data pipeline (a ``tf.data.Dataset`` of
    ``(blurred, sharp)`` float32 batches of ``cfg.batch``, or a function returning one, and a
    list of uint8 ``(blur, sharp)`` pairs); by default they come from :mod:`edge_deblur.data` and
    ``cfg``'s folders. Pass a function with ``multi-worker``: that strategy must be created
    before any other TensorFlow work in the process, building a dataset included.
    ``on_step(step, logs)`` is called after every step (progress bars), ``on_message`` with a line
    of news (model size, resume point, validation).

    ``--arch temporal`` and runs with ``clips`` train on sequences
    (:func:`edge_deblur.train_seq.train_sequences`; ``dataset`` is then a sequence sampler).
    """
    if cfg.arch is Arch.temporal or cfg.clips:  # sequences: edge_deblur.train_seq
        from edge_deblur.train_seq import train_sequences

        return train_sequences(
            cfg,
            out,
            resume=resume,
            force=force,
            sampler=dataset,
            val_set=val_set,
            on_step=on_step,
            on_message=on_message,
            stop=stop,
        )
    out = Path(out)
    say = on_message or (lambda _msg: None)
    chief = is_chief_worker(cfg.strategy)
    if chief:
        prepare_run_folder(cfg, out, resume, force)
    if dataset is None:
        _check_sources(cfg)
    stop = stop or threading.Event()

    from edge_deblur import models
    from edge_deblur._keras import keras, tf
    from edge_deblur.losses import (
        ADVERSARIAL,
        PerceptualLoss,
        charbonnier,
        edge_loss,
        fft_loss,
        l1,
        mse,
    )

    strategy = make_strategy(cfg.strategy)  # first: multi-worker must precede other TF work
    start, latest = 0, None
    if resume:
        latest = tf.train.latest_checkpoint(str(out / "ckpt"))  # the chief's, for every worker
        if latest is None:
            raise InputError(expected("--resume", "a checkpoint in ckpt/", str(out / "ckpt")))
        start = int(tf.train.load_checkpoint(latest).get_tensor(_STEP_KEY))
    # Data and loss inputs are checked before anything is written to the run folder, so a bad
    # image (e.g. smaller than the patch) leaves no half-made run behind.
    if dataset is None:
        dataset, built_val = _build_data(cfg, start)
        val_set = built_val if val_set is None else val_set
    elif callable(dataset):  # a factory: built only now, after the strategy
        dataset = dataset()
    val_set = list(val_set or [])
    perceptual = PerceptualLoss(cfg.perceptual_weights) if cfg.perceptual_weights else None
    gan = cfg.arch is Arch.gan
    with strategy.scope():
        keras.utils.set_random_seed(cfg.seed)
        gen = models.build_generator(cfg.arch.value, cfg.size.value, **cfg.model_overrides())
        schedule = learning_rate_schedule(cfg)
        opt = _optimizer(cfg, schedule)
        opt.build(gen.trainable_variables)
        disc = models.build_discriminator(cfg.arch.value, cfg.size.value) if gan else None
        d_opt = _optimizer(cfg, schedule, for_discriminator=True) if gan else None
        if gan:
            d_opt.build(disc.trainable_variables)
        ema = None
        if cfg.ema > 0:
            ema = keras.models.clone_model(gen)
            ema.set_weights(gen.get_weights())
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    figures = model_figures(cfg, gen)
    say(
        f"model {cfg.arch.value}/{cfg.size.value}: {figures['macs_per_pixel']:.0f} MACs/pixel, "
        f"{figures['params']} parameters, pad multiple {figures['pad_multiple']}"
    )

    parts: dict[str, Any] = {"step": step_var, "model": gen, "optimizer": opt}
    if gan:
        parts.update(discriminator=disc, d_optimizer=d_opt)
    if ema is not None:
        parts["ema"] = ema
    ckpt = tf.train.Checkpoint(**parts)
    # Every worker saves (MultiWorkerMirroredStrategy needs all of them to); only the chief
    # into the run folder.
    ckpt_dir = out / "ckpt" if chief else Path(tempfile.mkdtemp(prefix="edge-deblur-worker-"))
    manager = tf.train.CheckpointManager(ckpt, str(ckpt_dir), max_to_keep=3)
    if resume:
        ckpt.restore(latest).expect_partial()
        say(f"resumed from step {start} ({latest}); the data stream continues from there")
    if chief:
        cfg.save(out / "config.yaml", derived=figures, force=True)

    # Multi-worker: tf.data's default auto-shard splits the one seeded stream between workers
    # (by element, as the pipeline reads no files), so workers never train on the same samples.
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    pixel_fn = {"mse": mse, "l1": l1, "charbonnier": charbonnier}[cfg.pixel_loss.value]
    d_fn, g_fn = ADVERSARIAL[cfg.adv_loss.value]
    global_batch = cfg.batch

    def replica_step(blur, sharp):
        avg = lambda per_example: tf.nn.compute_average_loss(  # noqa: E731
            per_example, global_batch_size=global_batch
        )
        with tf.GradientTape() as tape:
            pred = gen(blur, training=True)
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
            if perceptual is not None:
                terms["perceptual"] = perceptual(pred, sharp)
                total += cfg.perceptual_weight * terms["perceptual"]
            if gan:
                terms["adv_g"] = g_fn(disc(pred, training=False), disc(sharp, training=False))
                total += cfg.adv_weight * terms["adv_g"]
            loss = avg(total)
        grads = tape.gradient(loss, gen.trainable_variables)
        opt.apply_gradients(zip(grads, gen.trainable_variables, strict=True))
        logs = {k: avg(v) for k, v in terms.items()}
        logs["loss"] = loss
        if gan:
            with tf.GradientTape() as dtape:
                d_loss = avg(
                    d_fn(disc(sharp, training=True), disc(tf.stop_gradient(pred), training=True))
                )
            dgrads = dtape.gradient(d_loss, disc.trainable_variables)
            d_opt.apply_gradients(zip(dgrads, disc.trainable_variables, strict=True))
            logs["adv_d"] = d_loss
        return logs

    ema_pairs = list(zip(ema.weights, gen.weights, strict=True)) if ema is not None else []

    @tf.function
    def train_step(batch):
        blur, sharp = batch
        per_replica = strategy.run(replica_step, args=(blur, sharp))
        logs = {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }
        step_var.assign_add(1)
        if ema_pairs:
            # EMA with a warm-up of its own, so that early averages are not stuck at the init.
            s = tf.cast(step_var, tf.float32)
            decay = tf.minimum(cfg.ema, (1.0 + s) / (10.0 + s))
            for e, w in ema_pairs:
                e.assign(decay * e + (1.0 - decay) * w)
        return logs

    eval_model = ema if ema is not None else gen
    probe = relu_probe(gen)

    save_model = model_saver(eval_model, out)

    log_file, log = (None, None)
    if chief:
        log_file, log = _open_log(out / "log.csv", start)
    step, interrupted, last = run_loop(
        cfg,
        start,
        lambda _step: train_step(next(iterator)),
        # The live share is a property of the trained (not averaged) weights.
        lambda: validate(eval_model, val_set, probe) if val_set else {},
        schedule=schedule,
        manager=manager,
        step_var=step_var,
        save_model=save_model if chief else None,
        log=log,
        log_file=log_file,
        say=say,
        on_step=on_step,
        stop=stop,
    )
    if chief:
        model_path = save_model()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            eval_model.save(Path(tmp) / "model.keras")
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        model_path = out / "model.keras"
    if interrupted:
        say(f"stopped at step {step}; checkpoint saved, continue with --resume")
    return TrainResult(out, step, interrupted, model_path, last)


def model_saver(model, out: Path) -> Callable[[], Path]:
    """A function that writes ``model`` to ``out/model.keras`` atomically and returns the path."""

    def save() -> Path:
        from runtime.io import atomic_path

        path = out / "model.keras"
        with atomic_path(path, force=True) as tmp:
            model.save(tmp)
        return path

    return save


def run_loop(
    cfg: TrainConfig,
    start: int,
    step_fn: Callable[[int], dict],
    validate_fn: Callable[[], dict],
    *,
    schedule,
    manager,
    step_var,
    save_model: Callable[[], Path] | None,
    log,
    log_file,
    say: Callable[[str], None],
    on_step: Callable[[int, dict], None] | None,
    stop: threading.Event,
) -> tuple[int, bool, dict[str, float]]:
    """The step loop every trainer shares: step, stop on a signal, refuse a non-finite loss,
    checkpoint, validate + log + rewrite ``model.keras`` (when ``save_model``), and the final
    checkpoint. ``step_fn(step)`` runs one training step and returns its losses; returns
    ``(step, interrupted, last log row)``."""
    sums: dict[str, float] = {}
    count = 0
    last: dict[str, float] = {}
    t_run = time.perf_counter()
    t_seg, steps_seg = time.perf_counter(), 0
    step = start
    interrupted = False
    try:
        with _stop_on_signals(stop):
            while step < cfg.steps:
                if stop.is_set():
                    interrupted = True
                    break
                logs = step_fn(step)
                step += 1
                steps_seg += 1
                vals = {k: float(v) for k, v in logs.items()}
                for k, v in vals.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                if not all(math.isfinite(v) for v in vals.values()):
                    # Not checkpointed: the last checkpoint holds the weights before it.
                    bad = ", ".join(f"{k}={v:.3g}" for k, v in vals.items())
                    raise ModelError(
                        f"training diverged at step {step} (non-finite loss: {bad}); lower --lr "
                        "(or raise --warmup) and --resume from the last checkpoint"
                    )
                if on_step is not None:
                    on_step(step, vals)
                if step % cfg.ckpt_every == 0:
                    manager.save(checkpoint_number=step)
                if step % cfg.val_every == 0 or step == cfg.steps:
                    rate = steps_seg / max(time.perf_counter() - t_seg, 1e-9)
                    row = {k: sums[k] / count for k in sums}
                    row.update(validate_fn())
                    row.update(
                        step=step,
                        lr=float(schedule(step - 1)),
                        steps_per_s=rate,
                        elapsed_s=time.perf_counter() - t_run,
                    )
                    last = row
                    if save_model is not None:
                        # A usable model.keras at every validation: a long run can be evaluated
                        # or converted while it goes on (and a killed run leaves one behind).
                        save_model()
                    if log is not None:
                        log.writerow({k: _fmt(row.get(k)) for k in LOG_FIELDS})
                        log_file.flush()
                    if "val_psnr" in row:
                        live = f"live ReLU {row['live_share']:.0%}, " if "live_share" in row else ""
                        say(
                            f"step {step}: val PSNR {row['val_psnr']:.2f} dB "
                            f"(input {row['val_input_psnr']:.2f}), SSIM {row['val_ssim']:.4f}, "
                            f"{live}{rate:.2f} steps/s"
                        )
                    sums, count = {}, 0
                    t_seg, steps_seg = time.perf_counter(), 0
    finally:
        if log_file is not None:
            log_file.close()
    done = int(step_var.numpy())
    last_saved = manager.latest_checkpoint
    if done > start and not (last_saved and last_saved.endswith(f"-{done}")):
        manager.save(checkpoint_number=done)
    return step, interrupted, last


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    return f"{v:.6g}"
