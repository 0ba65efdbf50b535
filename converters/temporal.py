"""Converting a recurrent (``temporal``) model: two inputs (frame, state), two outputs.

:func:`converters.convert.convert` hands such models here (:func:`is_temporal_source`). The
steps are those of the single-frame path, adapted to the state:

* calibration runs the Keras model recurrently: each calibration tile is fed ``CHAIN`` times in a
  row, starting from the zero state, and every ``[tile, state]`` pair is a representative sample,
  so the state input is calibrated on the states the model really produces;
* validation runs both the Keras model and the ``.tflite`` (through :mod:`runtime.temporal`, with
  the state fed back as the runtime does) over chains of held-back tiles, and compares the image
  outputs of every step (the per-mode thresholds of ``thresholds.yaml``), so a quantized state
  that drifts over the steps fails the conversion;
* the metadata gains ``temporal``: the state's shape, range and how to reset it.

Pruning and QAT are not supported for temporal models yet (an InputError says so).
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from converters import calibration as cal
from converters.config import ConvertConfig, QuantMode, config_yaml
from converters.modes import ModeJob, run_mode
from converters.simplify import drop_noop_ops
from runtime.errors import InputError, ModelError, expected
from runtime.io import atomic_write

CHAIN = 3  # recurrent steps per calibration / validation tile
STATE_RANGE = (0.0, 6.0)  # edge_deblur.models.temporal.STATE_MAX


def is_temporal_source(path: str | os.PathLike) -> bool:
    """Whether ``path`` (a ``.keras`` file or a run folder) holds a temporal model.

    From the run's ``config.yaml`` (``arch: temporal``) when there is one, else from the
    ``.keras`` archive's own config (two input layers). Never imports TensorFlow.
    """
    p = Path(path)
    model_file = p / "model.keras" if p.is_dir() else p
    cfg = model_file.parent / "config.yaml"
    if cfg.is_file():
        import yaml

        try:
            raw = yaml.safe_load(cfg.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, OSError):
            raw = None
        if isinstance(raw, dict) and raw.get("arch") is not None:
            return raw.get("arch") == "temporal"
    try:
        with zipfile.ZipFile(model_file) as z:
            conf = json.loads(z.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return len((conf.get("config") or {}).get("input_layers") or []) == 2


def _load(path: Path):
    from converters.convert import SourceModel, load_keras, read_run_config
    from edge_deblur.models.temporal import is_temporal

    p, model_file, model = load_keras(path)
    if not is_temporal(model):
        raise ModelError(
            expected(
                "MODEL",
                "a temporal model ([image, state] -> [image, state])",
                f"inputs {model.input_shape}",
            )
        )
    run_cfg, digest = read_run_config(model_file)
    return SourceModel(model=model, path=p, run_config=run_cfg, config_hash=digest)


def _zero_state(model: Any, h: int, w: int) -> np.ndarray:
    from edge_deblur.models.temporal import state_shape

    return np.zeros(state_shape(model, h, w), np.float32)


def keras_chains(model: Any, tiles: np.ndarray, chain: int = CHAIN) -> tuple[list, list]:
    """Run ``model`` ``chain`` times on each float tile from the zero state.

    Returns (every ``[tile, state]`` input pair, the 8-bit image output of every step).
    """
    from converters.validate import to_uint8

    pairs, outs = [], []
    for tile in tiles:
        x = tile[None]
        state = _zero_state(model, x.shape[1], x.shape[2])
        for _ in range(chain):
            pairs.append([x, state])
            y, state = model([x, state], training=False)
            outs.append(to_uint8(np.asarray(y)[0]))
            state = np.asarray(state)
    return pairs, outs


def tflite_chains(data: bytes, tiles_u8: np.ndarray, pad_multiple: int, chain: int = CHAIN):
    """The ``.tflite`` run as the runtime runs it: ``chain`` steps per tile, state fed back."""
    from runtime.interpreter import load_interpreter
    from runtime.quant import codecs_for
    from runtime.temporal import Recurrent

    rec = Recurrent(load_interpreter(data, threads=2), pad_multiple)
    h, w = tiles_u8.shape[1:3]
    if rec.dynamic:
        rec.resize(h, w)
    enc, dec = codecs_for(rec.roles.image_in, rec.roles.image_out)
    outs = []
    for tile in tiles_u8:
        state = rec.zero_state()
        for _ in range(chain):
            y, state, _ns = rec.step(enc.encode(tile), state)
            outs.append(dec.decode(y))
    return outs


def _validate(model, data: bytes, quant: QuantMode, tiles: cal.TileSet, mult: int) -> dict:
    from converters.validate import _cap, load_thresholds
    from runtime.metrics import psnr, ssim

    limits = load_thresholds()[quant.value]
    _, k = keras_chains(model, tiles.as_float())
    t = tflite_chains(data, tiles.inputs, mult)
    k_all, t_all = np.stack(k), np.stack(t)
    p = _cap(psnr(k_all, t_all))
    per_step = [_cap(psnr(k_all[s::CHAIN], t_all[s::CHAIN])) for s in range(CHAIN)]
    failures = []
    if p < limits["min_psnr_vs_keras"]:
        failures.append(
            f"PSNR TFLite vs Keras over {CHAIN}-step chains {p:.2f} dB < "
            f"{limits['min_psnr_vs_keras']:.2f} dB (the {quant.value} limit)"
        )
    out: dict[str, Any] = {
        "mode": quant.value,
        "tiles": len(tiles),
        "tile_size": list(tiles.inputs.shape[1:3]),
        "origin": tiles.origin,
        "chain": CHAIN,
        "psnr_vs_keras": p,
        "psnr_vs_keras_per_step": per_step,
        "min_psnr_vs_keras": limits["min_psnr_vs_keras"],
    }
    if tiles.sharp is not None:
        sharp = np.repeat(tiles.sharp, CHAIN, axis=0)
        out["keras_psnr_vs_sharp"] = _cap(psnr(k_all, sharp))
        out["tflite_psnr_vs_sharp"] = _cap(psnr(t_all, sharp))
        for name, res in (("keras", k_all), ("tflite", t_all)):
            scores = [ssim(a, b) for a, b in zip(res, sharp, strict=True)]
            out[f"{name}_ssim_vs_sharp"] = round(float(np.mean(scores)), 4)
        drop = limits.get("max_drop_vs_sharp_db")
        loss = out["keras_psnr_vs_sharp"] - out["tflite_psnr_vs_sharp"]
        if drop is not None and loss > drop:
            failures.append(
                f"PSNR vs sharp drops {loss:.2f} dB > {drop:.2f} dB allowed for {quant.value}"
            )
    out["failures"] = failures
    out["passed"] = not failures
    return out


def convert_temporal(
    model_path: str | os.PathLike,
    out: str | os.PathLike,
    cfg: ConvertConfig,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
):
    """Convert a temporal model; same outputs and result type as :func:`converters.convert.
    convert` (``OUT.tflite``, reports, ``OUT.convert.yaml``), written only after validation."""
    from converters.convert import (
        VALIDATION_SIZE,
        ConvertResult,
        _metadata,
        _outputs,
        _resolve_size,
        _round_to,
    )
    from converters.edgetpu import analyze
    from converters.report import build_report, gzip_size, render_markdown
    from runtime.errors import ConversionError
    from runtime.model_file import write_metadata

    step = on_step or (lambda _msg: None)
    t_all = time.perf_counter()
    out = Path(out)
    rj, rm, cy, _tpu = _outputs(out, cfg, force)
    from converters.config import WeightScheme

    if cfg.prune is not None or cfg.qat_steps or cfg.edgetpu:
        raise InputError(
            expected(
                "--prune/--qat-steps/--edgetpu",
                "none of them for a temporal model (not supported yet)",
                f"prune={cfg.prune}, qat_steps={cfg.qat_steps}, edgetpu={cfg.edgetpu}",
                "convert without them (the report still says whether it maps to the Edge TPU)",
            )
        )
    if cfg.weights is WeightScheme.PER_TENSOR:
        raise InputError(
            expected(
                "--weights",
                "per-channel for a temporal model (per-tensor is not supported yet)",
                cfg.weights.value,
                "drop --weights",
            )
        )
    if cfg.quant is QuantMode.INT8 and cfg.data is None and cfg.pairs is None:
        raise InputError(
            expected(
                "--data/--pairs",
                "a folder of real images for int8 calibration",
                "neither",
                "give --data DIR (images) or --pairs DIR (GoPro blur/ + sharp/)",
            )
        )
    sources = cal.find_sources(cfg.data, cfg.pairs)
    step("loading the model")
    src = _load(Path(model_path))
    size = _resolve_size(src, cfg)
    mult = src.pad_multiple()
    step("drawing tiles")
    fit, held = cal.split_sources(sources) if sources else ([], [])
    val_size = size or _round_to(VALIDATION_SIZE, mult)
    if held:
        val_tiles = cal.sample_tiles(held, cfg.val_tiles, val_size, cfg.seed + 2, "held-back")
    else:
        val_tiles = cal.synthetic_tiles(cfg.val_tiles, val_size, cfg.seed + 2)
    representative = None
    if cfg.quant is QuantMode.INT8:
        calib = cal.sample_tiles(fit, cfg.calib_tiles, size, cfg.seed, "calibration")
        pairs, _ = keras_chains(src.model, calib.as_float())

        def representative() -> Iterator[dict[str, np.ndarray]]:
            # by name: the converter orders the two inputs its own way
            for x, state in pairs:
                yield {"image": x, "state": state}

    step(f"converting ({cfg.quant.value})")
    t = time.perf_counter()
    shape = (1, size[0] if size else None, size[1] if size else None, 3)
    job = ModeJob(model=src.model, input_shape=shape, io=cfg.io, representative=representative)
    simplified = drop_noop_ops(run_mode(cfg.quant, job))
    data = simplified.data
    fp32 = run_mode(QuantMode.FP32, ModeJob(model=src.model, input_shape=shape))
    from edge_deblur.models import macs_per_pixel

    meta = _metadata(src, cfg, size, 0.0, round(macs_per_pixel(src.model), 1))
    ch = int(src.model.inputs[1].shape[-1])
    meta["temporal"] = {
        "kind": "recurrent",
        "state_shape": [1, size[0] // mult, size[1] // mult, ch] if size else [1, None, None, ch],
        "state_scale": mult,
        "state_range": list(STATE_RANGE),
        "reset": "zero state on the first frame, a scene cut or a reconnect",
    }
    data = write_metadata(data, meta)
    fp32_file = write_metadata(fp32, dict(meta, quant="fp32", io_dtype="float32"))
    convert_s = time.perf_counter() - t
    step("validating against the Keras model (recurrent chains)")
    t = time.perf_counter()
    val = _validate(src.model, data, cfg.quant, val_tiles, mult)
    validate_s = time.perf_counter() - t
    if val["failures"]:
        raise ConversionError(
            f"--quant {cfg.quant.value}: validation on {len(val_tiles)} held-back tiles failed: "
            + "; ".join(val["failures"])
            + "; try more/other --data, or a float --quant"
        )
    from runtime.model_file import inspect_model

    info = inspect_model(data)
    tpu = analyze(info).to_dict()
    report = build_report(
        out=out,
        source=str(src.path),
        config=cfg.to_dict(),
        metadata=meta,
        data=data,
        info=info,
        fp32_size=len(fp32_file),
        fp32_gzip=gzip_size(fp32_file),
        validation=val,
        edgetpu=tpu,
        prune=None,
        qat=None,
        removed_ops=list(simplified.removed),
        seconds={
            "convert": convert_s,
            "validate": validate_s,
            "total": time.perf_counter() - t_all,
        },
    )
    atomic_write(out, data, force=force)
    atomic_write(cy, config_yaml(cfg), force=force)
    atomic_write(rj, json.dumps(report, indent=2, allow_nan=False) + "\n", force=force)
    atomic_write(rm, render_markdown(report), force=force)
    return ConvertResult(out, rj, rm, cy, None, report)
