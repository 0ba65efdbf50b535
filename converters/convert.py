"""``edge-deblur convert``: a trained Keras model in, a validated ``.tflite`` with report out.

The steps, in order: check that every output may be written (before any slow work), load the
model (a ``.keras`` file or a train run folder), draw real tiles (calibration, fine-tuning,
held-back validation), optionally prune and/or run quantization-aware fine-tuning, convert with
the registered mode, embed the metadata, validate against the Keras model, analyse Edge TPU
readiness (and compile when asked and possible), then write everything atomically. A failure
at any step leaves no output behind.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from converters import calibration as cal
from converters.config import (
    DEFAULT_INT8_SIZE,
    ConvertConfig,
    QuantMode,
    WeightScheme,
    config_yaml,
)
from converters.modes import ModeJob, run_mode
from converters.report import build_report, config_path, gzip_size, render_markdown, report_paths
from converters.validate import require_pass, validate
from runtime.errors import InputError, ModelError, expected
from runtime.io import atomic_write, check_output

VALIDATION_SIZE = (128, 128)
TRAIN_POOL = 256


@dataclasses.dataclass(frozen=True)
class SourceModel:
    """The Keras model to convert and what its train run says about it."""

    model: Any
    path: Path
    run_config: dict[str, Any] | None
    config_hash: str | None

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        shape = self.model.input_shape
        shape = shape[0] if isinstance(shape, list) else shape
        return (int(shape[1]), int(shape[2])) if shape[1] and shape[2] else None

    def pad_multiple(self) -> int:
        """From the run's config.yaml, else the product of the model's convolution strides (the
        encoder chain; transposed convolutions up-sample), made a multiple of every pooling
        stride (a pooling branch such as cnn's lowcut sits beside the chain, not in it)."""
        if self.run_config and self.run_config.get("pad_multiple"):
            return int(self.run_config["pad_multiple"])
        import math

        from converters.prune import _flat_layers

        mult, pool = 1, 1
        for layer in _flat_layers(self.model):
            kind = type(layer).__name__
            cfg = layer.get_config()
            if "Pool" in kind:
                pool = math.lcm(pool, int(max(cfg.get("strides") or cfg.get("pool_size") or (1,))))
            elif cfg.get("strides") and "Transpose" not in kind:
                mult *= int(max(cfg["strides"]))
        return math.lcm(mult, pool)


@dataclasses.dataclass(frozen=True)
class ConvertResult:
    """Paths written and the report dict."""

    output: Path
    report_json: Path
    report_md: Path
    config_yaml: Path
    edgetpu_output: Path | None
    report: dict[str, Any]


def load_keras(path: str | os.PathLike) -> tuple[Path, Path, Any]:
    """``(path, model file, keras.Model)`` of a ``.keras`` file or a train run folder.

    Raises InputError for a missing path, ModelError when it is not a loadable Keras model.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(
            expected("MODEL", "a .keras file or a train run folder", str(p), "check the path")
        )
    model_file = p / "model.keras" if p.is_dir() else p
    if not model_file.is_file():
        raise ModelError(
            expected(
                "MODEL",
                "a run folder containing model.keras",
                str(p),
                "give the folder written by `edge-deblur train --out DIR`",
            )
        )
    from edge_deblur._keras import keras

    try:
        model = keras.models.load_model(str(model_file), compile=False)
    except Exception as e:  # Keras raises many types for a file that is not a model
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(
            expected(
                "MODEL",
                "a Keras model saved with model.save('*.keras')",
                str(model_file),
                f"it could not be loaded ({first})",
            )
        ) from e
    if not isinstance(model, keras.Model):
        raise ModelError(expected("MODEL", "a Keras Model", type(model).__name__))
    return p, model_file, model


def read_run_config(model_file: Path) -> tuple[dict | None, str | None]:
    """The train run's ``config.yaml`` beside ``model_file`` (None when absent or not a mapping)
    and the sha256 of its bytes (the metadata's ``config_hash``)."""
    import yaml

    cfg_file = model_file.parent / "config.yaml"
    if not cfg_file.is_file():
        return None, None
    raw = cfg_file.read_bytes()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        loaded = yaml.safe_load(raw)
    except yaml.YAMLError:
        loaded = None
    return (loaded if isinstance(loaded, dict) else None), digest


def load_source(path: str | os.PathLike) -> SourceModel:
    """Load a ``.keras`` file or a train run folder (``model.keras`` + ``config.yaml``).

    Raises InputError for a missing path, ModelError when it is not a loadable Keras model or
    not image-to-image.
    """
    p, model_file, model = load_keras(path)
    shape = model.input_shape
    shape = shape[0] if isinstance(shape, list) else shape
    out_shape = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else ()
    if (
        len(shape) != 4
        or shape[-1] != 3
        or len(model.outputs) != 1
        or len(out_shape) != 4
        or out_shape[-1] != 3
    ):
        got = f"inputs {model.input_shape}, {len(model.outputs)} outputs"
        if len(model.outputs) == 1:
            got += f" of shape {tuple(None if d is None else int(d) for d in out_shape)}"
        raise ModelError(
            expected("MODEL", "an image-to-image model with one (N, H, W, 3) input and output", got)
        )
    run_cfg, digest = read_run_config(model_file)
    return SourceModel(model=model, path=p, run_config=run_cfg, config_hash=digest)


def _outputs(out: Path, cfg: ConvertConfig, force: bool) -> tuple[Path, Path, Path, Path | None]:
    from converters.edgetpu import compiler_path, edgetpu_output_path

    if out.suffix != ".tflite":
        raise InputError(expected("-o/--output", "a path ending in .tflite", str(out)))
    rj, rm = report_paths(out)
    cy = config_path(out)
    tpu = edgetpu_output_path(out) if cfg.edgetpu and compiler_path() else None
    for p in (out, rj, rm, cy) + ((tpu,) if tpu else ()):
        check_output(p, force=force)
    return rj, rm, cy, tpu


def _resolve_size(src: SourceModel, cfg: ConvertConfig) -> tuple[int, int] | None:
    fixed = src.fixed_size
    if cfg.input_size is not None:
        if fixed is not None and tuple(cfg.input_size) != fixed:
            raise InputError(
                expected(
                    "--input-size",
                    f"{fixed[0]}x{fixed[1]} (the model's fixed input)",
                    "x".join(map(str, cfg.input_size)),
                    "leave it out for this model",
                )
            )
        size = tuple(cfg.input_size)
    elif fixed is not None:
        size = fixed
    else:
        size = DEFAULT_INT8_SIZE if cfg.quant is QuantMode.INT8 else None
    if size is not None:
        mult = src.pad_multiple()
        if size[0] % mult or size[1] % mult:
            raise InputError(
                expected(
                    "--input-size",
                    f"H and W multiples of the model's pad multiple {mult}",
                    "x".join(map(str, size)),
                )
            )
    return size


def _metadata(
    src: SourceModel,
    cfg: ConvertConfig,
    size: tuple[int, int] | None,
    sparsity: float,
    macs_per_pixel: float | None,
) -> dict[str, Any]:
    from runtime import __version__

    rc = src.run_config or {}
    return {
        "format": 1,
        "package_version": __version__,
        "arch": rc.get("arch"),
        "size": rc.get("size"),
        "input_size": list(size) if size else None,
        "pad_multiple": src.pad_multiple(),
        "normalization": {"color": "RGB", "range": [0, 1]},
        "quant": cfg.quant.value,
        "weights": cfg.weights.value if cfg.quant is QuantMode.INT8 else None,
        "io_dtype": cfg.io_dtype,
        "sparsity": round(float(sparsity), 4),
        "macs_per_pixel": rc.get("macs_per_pixel") or macs_per_pixel,
        "config_hash": rc.get("config_hash") or src.config_hash,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def convert(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    cfg: ConvertConfig,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> ConvertResult:
    """Run the whole conversion described by ``cfg``; see the module docstring for the steps.

    A recurrent (``temporal``) model goes through :func:`converters.temporal.convert_temporal`.
    """
    from converters import temporal

    if temporal.is_temporal_source(model_path):
        return temporal.convert_temporal(model_path, out, cfg, force=force, on_step=on_step)
    from converters.edgetpu import analyze, compile_edgetpu, compiler_path
    from converters.prune import kernel_sparsity, prune
    from converters.qat import check_quantizable, qat
    from converters.simplify import Simplified, drop_noop_ops, fold_requantize_relus
    from runtime.model_file import inspect_model, write_metadata

    step = on_step or (lambda _msg: None)
    times: dict[str, float] = {}
    t_all = time.perf_counter()
    out = Path(out)
    rj, rm, cy, _tpu_out = _outputs(out, cfg, force)
    if cfg.needs_data and cfg.data is None and cfg.pairs is None:
        why = "int8 calibration" if cfg.quant is QuantMode.INT8 else "pruning / QAT fine-tuning"
        raise InputError(
            expected(
                "--data/--pairs",
                f"a folder of real images for {why}",
                "neither",
                "give --data DIR (images) or --pairs DIR (GoPro blur/ + sharp/)",
            )
        )
    sources = cal.find_sources(cfg.data, cfg.pairs)

    step("loading the model")
    t = time.perf_counter()
    src = load_source(model_path)
    size = _resolve_size(src, cfg)
    if cfg.quant is QuantMode.INT8 and cfg.qat_steps:
        check_quantizable(src.model, pruned=cfg.prune is not None)
    times["load"] = time.perf_counter() - t

    step("drawing tiles")
    t = time.perf_counter()
    fit, held = cal.split_sources(sources)
    val_size = size or _round_to(VALIDATION_SIZE, src.pad_multiple())
    if held:
        val_tiles = cal.sample_tiles(held, cfg.val_tiles, val_size, cfg.seed + 2, "held-back")
    else:
        val_tiles = cal.synthetic_tiles(cfg.val_tiles, val_size, cfg.seed + 2)
    calib = (
        cal.sample_tiles(fit, cfg.calib_tiles, size, cfg.seed, "calibration")
        if cfg.quant is QuantMode.INT8
        else None
    )
    train = None
    if cfg.prune is not None or cfg.qat_steps:
        from converters.finetune import train_tile_size

        tsize = train_tile_size(src.model, default=_round_to((96, 96), src.pad_multiple())[0])
        train = cal.sample_tiles(fit, TRAIN_POOL, tsize, cfg.seed + 1, "fine-tuning")
    times["tiles"] = time.perf_counter() - t

    model, prune_res, qat_res = src.model, None, None
    if cfg.prune is not None:
        step(f"pruning to {cfg.prune:.0%} ({cfg.prune_steps} steps)")
        t = time.perf_counter()
        prune_res = prune(
            model,
            cfg.prune,
            train,
            cfg.prune_steps,
            cfg.structured,
            cfg.batch_size,
            cfg.learning_rate,
            cfg.seed,
        )
        model = prune_res.model
        times["prune"] = time.perf_counter() - t
    sparsity = prune_res.sparsity if prune_res else _overall_sparsity(kernel_sparsity(model))
    if cfg.qat_steps:
        step(f"quantization-aware fine-tuning ({cfg.qat_steps} steps)")
        t = time.perf_counter()
        qat_res = qat(
            model,
            train,
            cfg.qat_steps,
            pruned=prune_res is not None,
            batch_size=cfg.batch_size,
            learning_rate=cfg.qat_learning_rate,
            seed=cfg.seed,
            teacher=src.model,
        )
        model = qat_res.model
        times["qat"] = time.perf_counter() - t

    step(f"converting ({cfg.quant.value})")
    t = time.perf_counter()
    shape = (1, size[0] if size else None, size[1] if size else None, 3)
    job = ModeJob(
        model=model,
        input_shape=shape,
        io=cfg.io,
        representative=calib.representative if calib is not None else None,
        per_channel=cfg.weights is WeightScheme.PER_CHANNEL,
    )
    # int8: the float model's final clip is an exact no-op after the saturating ADD; a clipped
    # ReLU's rescale-only RELU folds into its producer (simplify.py)
    simplified = drop_noop_ops(run_mode(cfg.quant, job))
    folded = fold_requantize_relus(simplified.data)
    simplified = Simplified(folded.data, simplified.removed + folded.removed)
    data = simplified.data
    # The fp32 conversion of the untouched source: the size reference (same input shape) and,
    # at a static shape, the MAC count per pixel.
    fp32_same = run_mode(QuantMode.FP32, ModeJob(model=src.model, input_shape=shape))
    ref_shape = (1, val_size[0], val_size[1], 3)
    ref = (
        fp32_same
        if shape == ref_shape
        else run_mode(QuantMode.FP32, ModeJob(model=src.model, input_shape=ref_shape))
    )
    mpp = inspect_model(ref).macs_per_pixel()
    meta = _metadata(src, cfg, size, sparsity, round(mpp, 1) if mpp else None)
    data = write_metadata(data, meta)
    # Compare like with like: the fp32 reference carries the same metadata entry.
    fp32_file = write_metadata(fp32_same, dict(meta, quant="fp32", io_dtype="float32"))
    fp32_size, fp32_gz = len(fp32_file), gzip_size(fp32_file)
    times["convert"] = time.perf_counter() - t

    step("validating against the Keras model")
    t = time.perf_counter()
    from converters.validate import keras_outputs

    source_out = keras_outputs(src.model, val_tiles)
    val = validate(
        model,
        data,
        cfg.quant,
        val_tiles,
        keras_out=None if model is not src.model else source_out,
        source_out=source_out,
    )
    times["validate"] = time.perf_counter() - t
    require_pass(val)

    step("Edge TPU analysis")
    info = inspect_model(data)
    tpu = analyze(info).to_dict()
    if cfg.edgetpu:
        if compiler_path():
            t = time.perf_counter()
            tpu["compiler"] = compile_edgetpu(data, out, force=force)
            times["edgetpu_compiler"] = time.perf_counter() - t
        else:
            tpu["compiler"] = {
                "output": None,
                "note": "edgetpu_compiler not on PATH; readiness from the "
                "flatbuffer only (install it on x86-64 Linux to compile)",
            }
    times["total"] = time.perf_counter() - t_all
    report = build_report(
        out=out,
        source=str(src.path),
        config=cfg.to_dict(),
        metadata=meta,
        data=data,
        info=info,
        fp32_size=fp32_size,
        fp32_gzip=fp32_gz,
        validation=val.to_dict(),
        edgetpu=tpu,
        prune=prune_res.to_dict() if prune_res else None,
        qat=qat_res.to_dict() if qat_res else None,
        seconds=times,
        removed_ops=list(simplified.removed),
    )
    step("writing")
    import json

    atomic_write(out, data, force=force)
    atomic_write(cy, config_yaml(cfg), force=force)
    atomic_write(rj, json.dumps(report, indent=2, allow_nan=False) + "\n", force=force)
    atomic_write(rm, render_markdown(report), force=force)
    written_tpu = (tpu.get("compiler") or {}).get("output")
    return ConvertResult(out, rj, rm, cy, Path(written_tpu) if written_tpu else None, report)


def _round_to(size: tuple[int, int], mult: int) -> tuple[int, int]:
    return tuple(max(mult, (s // mult) * mult) for s in size)  # type: ignore[return-value]


def _overall_sparsity(layers: list) -> float:
    w = sum(s.weights for s in layers)
    return float(np.sum([s.zeros for s in layers]) / w) if w else 0.0
