"""Check every converted model against its Keras source before it is written (STYLE lesson 6).

On held-back tiles, the TFLite output is compared with the Keras output (PSNR, 8-bit RGB) and,
when sharp references exist (``--pairs``), both are compared with the references (PSNR/SSIM).
The limits per mode are data (``converters/thresholds.yaml``). Every failed check is collected
and reported in one ConversionError, so the user sees all problems at once.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from converters.calibration import TileSet
from converters.config import QuantMode
from runtime.errors import ConversionError, InputError, expected
from runtime.metrics import psnr, ssim

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.yaml")
PSNR_CAP = 100.0  # identical outputs: stored as 100 dB so the report stays plain JSON


@dataclasses.dataclass(frozen=True)
class Validation:
    """Figures of one validation; ``failures`` is empty when every check passed."""

    mode: str
    tiles: int
    tile_size: tuple[int, int]
    origin: str
    psnr_vs_keras: float
    min_psnr_vs_keras: float
    keras_psnr_vs_sharp: float | None = None
    tflite_psnr_vs_sharp: float | None = None
    keras_ssim_vs_sharp: float | None = None
    tflite_ssim_vs_sharp: float | None = None
    max_drop_vs_sharp_db: float | None = None
    psnr_vs_source: float | None = None
    source_psnr_vs_sharp: float | None = None
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tile_size"] = list(self.tile_size)
        d["failures"] = list(self.failures)
        d["passed"] = self.passed
        return d


def load_thresholds(path: str | Path = THRESHOLDS_FILE) -> dict[str, dict[str, float]]:
    """The per-mode limits; every QuantMode must have ``min_psnr_vs_keras``."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    for mode in QuantMode:
        entry = raw.get(mode.value)
        if not isinstance(entry, dict) or "min_psnr_vs_keras" not in entry:
            raise InputError(
                expected(f"thresholds {str(path)!r}", f"min_psnr_vs_keras for {mode.value}", entry)
            )
    return {k: {kk: float(vv) for kk, vv in v.items()} for k, v in raw.items()}


def _cap(v: float) -> float:
    return PSNR_CAP if math.isinf(v) else round(min(v, PSNR_CAP), 3)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float [0, 1] images to 8-bit with rounding (how every output is compared)."""
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def keras_outputs(model: Any, tiles: TileSet, batch: int = 4) -> np.ndarray:
    """The Keras model's 8-bit outputs on ``tiles``."""
    x = tiles.as_float()
    outs = [np.asarray(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    return to_uint8(np.concatenate(outs))


def tflite_outputs(data: bytes, tiles: TileSet, threads: int = 2) -> np.ndarray:
    """Run the flatbuffer ``data`` on every tile with the runtime's interpreter; 8-bit outputs.

    Pixels go in and come out through ``runtime.quant`` (the tensors' own scale and zero point).
    Dynamic-size models are resized to the tile; fixed-size ones must match it.
    """
    from runtime.interpreter import load_interpreter
    from runtime.quant import codecs_for

    it = load_interpreter(data, threads=threads)
    inp = it.get_input_details()[0]
    h, w = tiles.inputs.shape[1:3]
    if list(inp["shape"][1:3]) != [h, w]:
        it.resize_tensor_input(inp["index"], [1, h, w, 3])
        it.allocate_tensors()
        inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    enc, dec = codecs_for(inp, out)
    res = []
    for tile in tiles.inputs:
        it.set_tensor(inp["index"], np.ascontiguousarray(enc.encode(tile)[None]))
        it.invoke()
        res.append(dec.decode(it.get_tensor(out["index"])[0]))
    return np.stack(res).astype(np.uint8)


def validate(
    model: Any,
    data: bytes,
    mode: QuantMode | str,
    tiles: TileSet,
    thresholds: dict[str, dict[str, float]] | None = None,
    keras_out: np.ndarray | None = None,
    source_out: np.ndarray | None = None,
) -> Validation:
    """Compare ``data`` (a .tflite) with ``model`` on ``tiles``; never raises on a failed check.

    ``model`` is the Keras model that was converted (pruned / fake-quantized when those ran);
    the limits apply to it. ``source_out``, the untouched source model's 8-bit outputs, adds the
    figures of what pruning and QAT cost on top (``psnr_vs_source``, ``source_psnr_vs_sharp``).
    Call :func:`require_pass` to turn failures into a ConversionError.
    """
    mode = QuantMode(mode)
    limits = (thresholds or load_thresholds())[mode.value]
    k = keras_outputs(model, tiles) if keras_out is None else keras_out
    t = tflite_outputs(data, tiles)
    p_kt = _cap(psnr(k, t))
    failures = []
    floor = limits["min_psnr_vs_keras"]
    if p_kt < floor:
        failures.append(
            f"PSNR TFLite vs Keras {p_kt:.2f} dB < {floor:.2f} dB (the {mode.value} limit)"
        )
    fields: dict[str, Any] = {}
    if source_out is not None:
        fields["psnr_vs_source"] = _cap(psnr(source_out, t))
        if tiles.sharp is not None:
            fields["source_psnr_vs_sharp"] = _cap(psnr(source_out, tiles.sharp))
    if tiles.sharp is not None:
        pk, pt = _cap(psnr(k, tiles.sharp)), _cap(psnr(t, tiles.sharp))
        sk = float(np.mean([ssim(a, b) for a, b in zip(k, tiles.sharp, strict=True)]))
        st = float(np.mean([ssim(a, b) for a, b in zip(t, tiles.sharp, strict=True)]))
        fields.update(
            keras_psnr_vs_sharp=pk,
            tflite_psnr_vs_sharp=pt,
            keras_ssim_vs_sharp=round(sk, 4),
            tflite_ssim_vs_sharp=round(st, 4),
        )
        drop = limits.get("max_drop_vs_sharp_db")
        if drop is not None:
            fields["max_drop_vs_sharp_db"] = drop
            if pk - pt > drop:
                failures.append(
                    f"PSNR vs sharp drops {pk - pt:.2f} dB (Keras {pk:.2f}, TFLite {pt:.2f}) > "
                    f"{drop:.2f} dB allowed for {mode.value}"
                )
    return Validation(
        mode=mode.value,
        tiles=len(tiles),
        tile_size=tuple(tiles.inputs.shape[1:3]),
        origin=tiles.origin,
        psnr_vs_keras=p_kt,
        min_psnr_vs_keras=floor,
        failures=tuple(failures),
        **fields,
    )


def require_pass(v: Validation) -> None:
    """Raise one ConversionError listing every failed check of ``v``."""
    if v.failures:
        raise ConversionError(
            f"--quant {v.mode}: validation on {v.tiles} held-back tiles failed: "
            + "; ".join(v.failures)
            + "; try --qat-steps N (int8), more/other --data, or a float --quant"
        )
