"""``edge-deblur train`` and ``edge-deblur eval``.

Thin wrappers: options become a :class:`~edge_deblur.config.TrainConfig` and a call to
:func:`edge_deblur.train.train` / :func:`edge_deblur.evaluate.evaluate`. TensorFlow is imported
only inside the commands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from edge_deblur.cli._common import ErrorHandlingGroup, ensemble_option, strength_option
from edge_deblur.config import AdvLoss, Arch, PixelLoss, Size, Strategy, TrainConfig

app = typer.Typer(cls=ErrorHandlingGroup)

_DIR = {"exists": True, "file_okay": False, "dir_okay": True}

# CLI option name -> TrainConfig field, for the options a resumed run may take from the command
# line (the rest come from the run's config.yaml).
_FIELDS = {
    "arch": "arch",
    "size": "size",
    "data": "data",
    "pairs": "pairs",
    "pairs_weight": "pairs_weight",
    "gyro": "gyro",
    "kernels": "kernels",
    "clip": "clips",
    "clip_average": "clip_average",
    "clip_frames": "clip_frames",
    "seq_len": "seq_len",
    "steps": "steps",
    "batch": "batch",
    "patch": "patch",
    "seed": "seed",
    "lr": "lr",
    "warmup": "warmup_steps",
    "clip_norm": "clip_norm",
    "ema": "ema",
    "pixel_loss": "pixel_loss",
    "fft_weight": "fft_weight",
    "edge_weight": "edge_weight",
    "adv_loss": "adv_loss",
    "adv_weight": "adv_weight",
    "perceptual_weights": "perceptual_weights",
    "val_every": "val_every",
    "ckpt_every": "ckpt_every",
    "val_n": "val_n",
    "val_size": "val_size",
    "strategy": "strategy",
}


def _given(ctx: typer.Context, name: str) -> bool:
    """True when option ``name`` was typed on the command line (not a default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(
        ..., "--out", help="Run folder: model.keras, config.yaml, log.csv, ckpt/."
    ),
    arch: Arch = typer.Option(Arch.cnn, "--arch", help="Architecture."),
    size: Size = typer.Option(
        Size.small, "--size", help="Model size (tiny ~1k, small ~4k, base ~16k MAC/px)."
    ),
    data: list[Path] = typer.Option(
        [], "--data", help="Folder of sharp photos (synthetic blur); repeatable.", **_DIR
    ),
    pairs: list[Path] = typer.Option(
        [], "--pairs", help="GoPro-layout folder (blur/, sharp/); repeatable.", **_DIR
    ),
    pairs_weight: float = typer.Option(
        1.0, "--pairs-weight", help="Sampling weight of --pairs vs each --data folder."
    ),
    gyro: list[Path] = typer.Option(
        [], "--gyro", help="Folder of gyroscope logs for gyro-driven blur; repeatable.", **_DIR
    ),
    kernels: list[Path] = typer.Option(
        [], "--kernels", help="Folder of measured blur kernels; repeatable.", **_DIR
    ),
    clip: list[Path] = typer.Option(
        [],
        "--clip",
        exists=True,
        help="High-fps video (or folder of frames): GoPro-recipe blurred sequences for "
        "--arch temporal (or a cnn trained on the same frames); repeatable.",
    ),
    clip_average: int = typer.Option(
        7, "--clip-average", help="Raw --clip frames averaged into one blurred frame."
    ),
    clip_frames: str | None = typer.Option(
        None,
        "--clip-frames",
        metavar="FIRST:LAST",
        help="Use only raw frames [FIRST, LAST) of each --clip (keep the rest for evaluation).",
    ),
    seq_len: int = typer.Option(
        4, "--seq-len", help="Frames per training sequence (temporal: truncated-BPTT length)."
    ),
    steps: int = typer.Option(
        20000,
        "--steps",
        help="Total training steps (a resumed run may raise it; the cosine decay then stretches).",
    ),
    batch: int = typer.Option(8, "--batch", help="Global batch size (split across devices)."),
    patch: int = typer.Option(
        128, "--patch", help="Training crop side in pixels (a multiple of 8)."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of weights, data and the validation hold-out."
    ),
    lr: float = typer.Option(
        5e-4, "--lr", help="Peak learning rate (after warm-up; cosine decay after)."
    ),
    warmup: int = typer.Option(500, "--warmup", help="Linear learning-rate warm-up steps."),
    clip_norm: float = typer.Option(1.0, "--clip-norm", help="Global gradient-norm clip (0: off)."),
    ema: float = typer.Option(0.999, "--ema", help="EMA decay of the saved weights (0: off)."),
    pixel_loss: PixelLoss = typer.Option(PixelLoss.mse, "--pixel-loss", help="Pixel loss."),
    fft_weight: float = typer.Option(
        0.1, "--fft-weight", help="Weight of the FFT (frequency) loss."
    ),
    edge_weight: float = typer.Option(0.5, "--edge-weight", help="Weight of the Sobel edge loss."),
    adv_loss: AdvLoss = typer.Option(AdvLoss.ralsgan, "--adv-loss", help="Adversarial loss (gan)."),
    adv_weight: float = typer.Option(0.001, "--adv-weight", help="Adversarial weight (gan)."),
    perceptual_weights: Path | None = typer.Option(
        None,
        "--perceptual-weights",
        exists=True,
        dir_okay=False,
        help="Local VGG19 no-top .h5 weights for a perceptual loss (never downloaded).",
    ),
    val_every: int = typer.Option(500, "--val-every", help="Validate and log every N steps."),
    ckpt_every: int = typer.Option(1000, "--ckpt-every", help="Checkpoint every N steps."),
    val_n: int = typer.Option(8, "--val-n", help="Held-out validation crops."),
    val_size: int = typer.Option(256, "--val-size", help="Validation crop side (multiple of 8)."),
    strategy: Strategy = typer.Option(
        Strategy.default,
        "--strategy",
        help="tf.distribute strategy (multi-worker reads TF_CONFIG).",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        exists=True,
        dir_okay=False,
        help="Start from a TrainConfig YAML (e.g. a run's config.yaml); options typed override it.",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its last checkpoint."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a run already in --out."),
) -> None:
    """Train a deblurring model; writes model.keras, config.yaml, log.csv and ckpt/ into --out."""
    values = {
        "arch": arch, "size": size, "data": tuple(map(str, data)), "pairs": tuple(map(str, pairs)),
        "pairs_weight": pairs_weight, "gyro": tuple(map(str, gyro)),
        "kernels": tuple(map(str, kernels)), "clip": tuple(map(str, clip)),
        "clip_average": clip_average, "clip_frames": _frame_range(clip_frames),
        "seq_len": seq_len, "steps": steps, "batch": batch, "patch": patch,
        "seed": seed, "lr": lr, "warmup": warmup, "clip_norm": clip_norm, "ema": ema,
        "pixel_loss": pixel_loss, "fft_weight": fft_weight, "edge_weight": edge_weight,
        "adv_loss": adv_loss, "adv_weight": adv_weight,
        "perceptual_weights": str(perceptual_weights) if perceptual_weights else None,
        "val_every": val_every, "ckpt_every": ckpt_every, "val_n": val_n, "val_size": val_size,
        "strategy": strategy,
    }  # fmt: skip
    if resume and not (out / "config.yaml").is_file():
        from runtime.errors import InputError, expected

        raise InputError(
            expected(
                "--resume",
                "a run folder with config.yaml and ckpt/",
                str(out),
                "drop --resume to start a new run",
            )
        )
    typed = {_FIELDS[k]: v for k, v in values.items() if _given(ctx, k)}
    if resume:
        # Start from the saved run; options typed now override it (and are checked for
        # compatibility by train()). A --config is not needed: the run has its own.
        cfg = TrainConfig.load(out / "config.yaml").replace(**typed)
    elif config is not None:
        cfg = TrainConfig.load(config).replace(**typed)
    else:
        cfg = TrainConfig(**{_FIELDS[k]: v for k, v in values.items()})
    _run_training(cfg, out, resume, force)


def _frame_range(text: str | None) -> tuple[int, int] | None:
    """``FIRST:LAST`` -> (FIRST, LAST)."""
    if text is None:
        return None
    try:
        first, last = (int(v) for v in text.split(":"))
    except ValueError:
        from runtime.errors import InputError, expected

        raise InputError(expected("--clip-frames", "FIRST:LAST such as 0:150", text)) from None
    return first, last


def _run_training(cfg: TrainConfig, out: Path, resume: bool, force: bool) -> None:
    import contextlib

    from edge_deblur.train import is_chief_worker, prepare_run_folder, run_folder_lock

    # Multi-worker runs share one --out: the chief writes it (and holds the lock), the other
    # workers only read its checkpoints.
    chief = is_chief_worker(cfg.strategy)
    # Refuse a bad run folder or an incompatible --resume before paying for TensorFlow.
    if not force and chief:
        prepare_run_folder(cfg, out, resume=resume, force=False)
    with run_folder_lock(out) if chief else contextlib.nullcontext():
        _train_with_progress(cfg, out, resume, force)


def _train_with_progress(cfg: TrainConfig, out: Path, resume: bool, force: bool) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from edge_deblur.train import train

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]train[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = None

    def on_step(step: int, logs: dict[str, float]) -> None:
        progress.update(task, completed=step, loss=f"{logs.get('loss', math.nan):.4f}")

    def on_message(text: str) -> None:
        progress.console.print(text)

    with progress:
        task = progress.add_task("train", total=cfg.steps, loss="-")
        result = train(cfg, out, resume=resume, force=force, on_step=on_step, on_message=on_message)
    last = result.last_log
    summary = (
        f"{'stopped' if result.interrupted else 'done'} at step {result.step}: {result.model_path}"
    )
    if "val_psnr" in last:
        gain = last["val_psnr"] - last["val_input_psnr"]
        summary += (
            f"; validation PSNR {last['val_psnr']:.2f} dB vs input {last['val_input_psnr']:.2f} "
            f"({gain:+.2f} dB), SSIM {last['val_ssim']:.4f}"
        )
    typer.echo(summary)
    if result.interrupted:
        # Not a finished run: `train ... && convert ...` must not go on with it.
        raise typer.Exit(130)


@app.command("eval")
def eval_cmd(
    model: str = typer.Argument(
        ..., help="A .keras or .tflite model, a run folder, or a bundled name."
    ),
    pairs: Path = typer.Option(
        ..., "--pairs", help="GoPro-layout folder: blur/ and sharp/.", **_DIR
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
    threads: int = typer.Option(2, "--threads", min=1, help="Interpreter threads (.tflite)."),
    strength: float = strength_option(),
    ensemble: int = ensemble_option(),
) -> None:
    """PSNR/SSIM of a model's output and of the input against sharp, at full resolution."""
    from edge_deblur.evaluate import evaluate

    if as_json:
        # Progress goes to stderr (transient) so stdout holds exactly one JSON object.
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from edge_deblur.data import load_pairs

        total = len(load_pairs(pairs))
        columns = (TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("eval", total=total)
            result = evaluate(
                model,
                pairs,
                threads=threads,
                strength=strength,
                ensemble=ensemble,
                on_image=lambda _s: progress.advance(task),
            )
        typer.echo(json.dumps(result.to_json_dict()))
        return

    def on_image(s) -> None:
        typer.echo(
            f"{s.name:<32} {s.width}x{s.height}  PSNR {s.psnr:6.2f} (input {s.input_psnr:6.2f}, "
            f"{s.psnr - s.input_psnr:+.2f})  SSIM {s.ssim:.4f} (input {s.input_ssim:.4f})"
        )

    result = evaluate(
        model, pairs, threads=threads, strength=strength, ensemble=ensemble, on_image=on_image
    )
    typer.echo(
        f"mean of {result.n}: PSNR {result.psnr:.2f} dB (input {result.input_psnr:.2f}, "
        f"{result.psnr_gain:+.2f} dB), SSIM {result.ssim:.4f} (input {result.input_ssim:.4f})"
    )
