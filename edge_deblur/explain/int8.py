"""Float against int8, layer by layer: the error each quantized layer adds.

The ``.tflite`` runs in the LiteRT interpreter with ``experimental_preserve_all_tensors=True`` and
without the default XNNPACK delegate (a delegate keeps intermediate tensors to itself). Each
intermediate tensor is matched to the Keras layer whose output it holds, by name: the converter
names a tensor after the ops fused into it (``cnn/head_relu/Relu;cnn/head_conv/Conv2D``), so a
tensor belongs to the *last* Keras layer (in model order) its name mentions (an Add with a fused
ReLU belongs to the ReLU), and a layer claimed by several tensors keeps the last one. The model's
image output is the graph output. Layers folded into a later one (a convolution whose ReLU is
fused) have no tensor of their own and are reported as ``fused``.

A tensor is dequantized with its own scale and zero point and compared with the Keras output of
its layer on the same tile. The error of a layer is the channel-averaged relative squared error
``mean_c min(1, sum (q - f)^2 / sum f^2)``: an average over channels, so that a tensor whose range
one channel dominates shows the channels it crushes; channels with under 1e-3 of the median
channel's power (dead or nearly) are left out, and a channel's error is capped at 1 (no
information left: later layers cannot lose more of it, so the ranking names where it was lost).
``snr_db = -10 log10(error)``. The error a layer *adds* is its error minus the error of its
compared inputs (walking back through fused layers; several inputs, as into an Add, combine
weighted by their signal power; the model input counts as exact); the layers are ranked by it.

A second view, from the output: ``solo_psnr_db`` is the PSNR of the float model's output against
the float model with only that one layer's output rounded to its int8 grid (its TFLite scale and
zero point), on a few held-back tiles; the lowest (``worst_solo``) is the layer whose
quantization alone costs the output the most, the one to fix first.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import InputError, ModelError, expected

SNR_CAP_DB = 120.0  # an exact tensor reports this instead of infinity (JSON has no inf)
_QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _snr(err: float) -> float:
    return SNR_CAP_DB if err <= 0 else min(SNR_CAP_DB, -10.0 * math.log10(err))


@dataclasses.dataclass(frozen=True)
class TensorMatch:
    """The TFLite tensor holding one Keras layer's output."""

    layer: str
    index: int
    tensor: str
    dtype: str
    scale: float
    zero_point: int


@dataclasses.dataclass(frozen=True)
class LayerError:
    """Float-vs-int8 error of one Keras layer's output (see the module docstring)."""

    layer: str
    tensor: str | None
    dtype: str | None
    scale: float | None
    zero_point: int | None
    error: float | None
    snr_db: float | None
    input_error: float | None
    added_error: float | None
    loss_db: float | None
    tflite_clip_share: float | None
    rank: int | None
    fused: bool
    solo_psnr_db: float | None = None  # output PSNR vs float with only this layer on int8

    @classmethod
    def fused_layer(cls, name: str) -> LayerError:
        """A layer without a tensor of its own (folded into the next op)."""
        empty = {f.name: None for f in dataclasses.fields(cls)}
        return cls(**dict(empty, layer=name, fused=True))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Int8Comparison:
    """Per-layer errors (model order), the ranking and the end-to-end figures."""

    layers: tuple[LayerError, ...]
    worst: str | None
    worst_solo: str | None  # the layer whose int8 grid alone costs the output the most
    psnr_int8_vs_float: float
    psnr_float_vs_sharp: float | None
    psnr_int8_vs_sharp: float | None
    tiles: int
    matched: int
    tflite: str

    def ranked(self) -> list[LayerError]:
        return sorted((e for e in self.layers if e.rank), key=lambda e: e.rank)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tflite": self.tflite,
            "tiles": self.tiles,
            "matched_layers": self.matched,
            "worst_layer": self.worst,
            "worst_solo_layer": self.worst_solo,
            "psnr_int8_vs_float": round(self.psnr_int8_vs_float, 3),
            "psnr_float_vs_sharp": _r(self.psnr_float_vs_sharp),
            "psnr_int8_vs_sharp": _r(self.psnr_int8_vs_sharp),
            "layers": [e.to_dict() for e in self.layers],
        }


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 3)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Real values of a tensor from its own ``(scale, zero_point)``; float tensors pass through."""
    if not scale:
        return np.asarray(values, np.float32)
    return (np.asarray(values, np.float32) - np.float32(zero_point)) * np.float32(scale)


def open_tflite(path: str | Path, threads: int = 2) -> tuple[Any, bytes]:
    """An allocated interpreter that keeps every intermediate tensor, and the model bytes."""
    from runtime.interpreter import backend

    p = Path(path)
    if not p.is_file():
        raise InputError(expected("--tflite", "an existing .tflite file", str(p), "check the path"))
    data = p.read_bytes()
    if data[4:8] != b"TFL3":
        raise ModelError(expected("--tflite", "a TensorFlow Lite flatbuffer (.tflite)", str(p)))
    be = backend()
    kwargs: dict[str, Any] = {
        "model_content": data,
        "num_threads": threads,
        "experimental_preserve_all_tensors": True,
    }
    if be.op_resolver_type is not None:
        kwargs["experimental_op_resolver_type"] = (
            be.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    try:
        it = be.interpreter_cls(**kwargs)
        it.allocate_tensors()
    except (RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(
            expected("--tflite", "a model the interpreter can load", str(p), first)
        ) from e
    return it, data


def _layer_names(segment_text: str, known: dict[str, int]) -> set[str]:
    names = set()
    for part in segment_text.split(";"):
        for seg in part.split("/"):
            if seg in known:
                names.add(seg)
            elif seg.startswith("quant_") and seg[6:] in known:  # QAT-wrapped layers
                names.add(seg[6:])
    return names


def match_tensors(
    info: Any, order: dict[str, int], shapes: dict[str, tuple[int, ...]], output_layer: str
) -> dict[str, TensorMatch]:
    """Map Keras layer names to the TFLite tensors holding their outputs (module docstring).

    ``info``: :func:`runtime.model_file.inspect_model` of the model; ``order``: layer name ->
    position in the Keras model; ``shapes``: layer name -> output shape of one tile, without batch.
    """

    def match(layer: str, t: Any) -> TensorMatch:
        q = t.quantization
        scale = float(q.scales[0]) if q and q.scales else 0.0
        zp = int(q.zero_points[0]) if q and q.zero_points else 0
        return TensorMatch(layer, t.index, t.name, t.dtype, scale, zp)

    out: dict[str, TensorMatch] = {}
    graph_out_idx = {t.index for t in info.outputs}
    for op in info.operators:
        for t in op.outputs:
            if t.index in graph_out_idx:
                continue
            names = _layer_names(t.name, order)
            names = {n for n in names if shapes.get(n) == tuple(t.shape[1:])}
            if names:
                layer = max(names, key=order.__getitem__)
                out[layer] = match(layer, t)
    out.pop(output_layer, None)
    for graph_out in info.outputs:  # the image output (a recurrent model also has its state)
        if tuple(graph_out.shape[1:]) == shapes.get(output_layer):
            out[output_layer] = match(output_layer, graph_out)
            break
    return out


class Int8Collector:
    """Accumulates per-channel squared errors and signal powers over held-back tiles."""

    def __init__(self, matches: dict[str, TensorMatch]) -> None:
        self.matches = matches
        self.mse: dict[str, np.ndarray] = {}
        self.power: dict[str, np.ndarray] = {}
        self.clipped: dict[str, int] = {}
        self.count: dict[str, int] = {}
        self.tiles = 0

    def observe(self, interpreter: Any, keras_out: dict[str, np.ndarray]) -> None:
        """Compare the interpreter's preserved tensors with one tile's Keras outputs (no batch)."""
        self.tiles += 1
        for layer, m in self.matches.items():
            f = np.asarray(keras_out[layer], np.float32).reshape(-1, keras_out[layer].shape[-1])
            q = interpreter.get_tensor(m.index)
            d = dequantize(q, m.scale, m.zero_point).reshape(f.shape)
            self.mse[layer] = self.mse.get(layer, 0.0) + ((d - f) ** 2).sum(axis=0)
            self.power[layer] = self.power.get(layer, 0.0) + (f**2).sum(axis=0)
            if m.scale and m.dtype in _QRANGE:
                qmin, qmax = _QRANGE[m.dtype]
                lo, hi = (qmin - m.zero_point) * m.scale, (qmax - m.zero_point) * m.scale
                half = m.scale / 2
                n = int(np.count_nonzero((f < lo - half) | (f > hi + half)))
                self.clipped[layer] = self.clipped.get(layer, 0) + n
            self.count[layer] = self.count.get(layer, 0) + f.size

    def error(self, layer: str) -> float:
        mse, power = self.mse[layer], self.power[layer]
        live = power > float(np.median(power)) * 1e-3
        if not live.any():
            return 0.0 if float(mse.sum()) == 0 else 1.0
        return float(np.mean(np.minimum(mse[live] / power[live], 1.0)))

    def results(
        self,
        layers: list[tuple[str, tuple[str, ...]]],
        psnr_int8_vs_float: float,
        psnr_float_vs_sharp: float | None,
        psnr_int8_vs_sharp: float | None,
        tflite: str,
        solo: dict[str, float] | None = None,
    ) -> Int8Comparison:
        """``layers``: ``(name, inbound layer names)`` in model order (input layers left out)."""
        err = {name: self.error(name) for name in self.matches}
        inbound = dict(layers)

        power = {name: float(self.power[name].sum()) for name in self.matches}

        def upstream(name: str, seen: set[str]) -> list[tuple[float, float]]:
            # (error, power) of the nearest compared ancestors; model inputs are exact.
            found = []
            for src in inbound.get(name, ()):
                if src in seen:
                    continue
                seen.add(src)
                if src in err:
                    found.append((err[src], power[src]))
                else:
                    found.extend(upstream(src, seen))
            return found

        def upstream_error(name: str) -> float:
            # Several inputs (Add, Concatenate): the power-weighted mean of their errors, what
            # the output's error would be if the layer added none (uncorrelated errors).
            found = upstream(name, set())
            total = sum(p for _, p in found)
            if not found:
                return 0.0
            if total <= 0:
                return max(e for e, _ in found)
            return sum(e * p for e, p in found) / total

        rows = []
        for name, _ in layers:
            if name not in err:
                rows.append(LayerError.fused_layer(name))
                continue
            m = self.matches[name]
            e_in = upstream_error(name)
            rows.append(
                LayerError(
                    layer=name,
                    tensor=m.tensor,
                    dtype=m.dtype,
                    scale=m.scale,
                    zero_point=m.zero_point,
                    error=err[name],
                    snr_db=round(_snr(err[name]), 3),
                    input_error=e_in,
                    added_error=err[name] - e_in,
                    loss_db=round(_snr(e_in) - _snr(err[name]), 3),
                    tflite_clip_share=self.clipped.get(name, 0) / self.count[name]
                    if name in self.clipped
                    else None,
                    rank=None,
                    fused=False,
                )
            )
        order = sorted((r for r in rows if not r.fused), key=lambda r: -r.added_error)
        rank = {r.layer: i + 1 for i, r in enumerate(order)}
        solo = solo or {}
        rows = [
            dataclasses.replace(
                r,
                rank=rank.get(r.layer),
                solo_psnr_db=round(solo[r.layer], 3) if r.layer in solo else None,
            )
            for r in rows
        ]
        return Int8Comparison(
            layers=tuple(rows),
            worst=order[0].layer if order else None,
            worst_solo=min(solo, key=solo.__getitem__) if solo else None,
            psnr_int8_vs_float=psnr_int8_vs_float,
            psnr_float_vs_sharp=psnr_float_vs_sharp,
            psnr_int8_vs_sharp=psnr_int8_vs_sharp,
            tiles=self.tiles,
            matched=len(self.matches),
            tflite=tflite,
        )


def fake_quant(x: Any, m: TensorMatch) -> Any:
    """``x`` rounded to ``m``'s int8 grid (its own scale and zero point) and back to real."""
    from edge_deblur._keras import tf

    if not m.scale or m.dtype not in _QRANGE:
        return x
    qmin, qmax = _QRANGE[m.dtype]
    q = tf.clip_by_value(tf.round(x / m.scale) + m.zero_point, qmin, qmax)
    return (q - m.zero_point) * m.scale


def forward(
    model: Any,
    inbound: dict[str, list[str]],
    feeds: Any,
    out_layer: str,
    override: TensorMatch | None = None,
) -> Any:
    """Run the functional ``model`` layer by layer (eagerly), optionally putting one layer's
    output on its int8 grid; returns ``out_layer``'s output. ``inbound``: layer -> the layers
    feeding it, in call order."""
    feeds = feeds if isinstance(feeds, list) else [feeds]
    values = dict(zip(model.input_names, feeds, strict=True))
    for layer in model.layers:
        if layer.name in values:
            continue
        args = [values[n] for n in inbound[layer.name]]
        y = layer(args[0] if len(args) == 1 else args, training=False)
        if override is not None and layer.name == override.layer:
            y = fake_quant(y, override)
        values[layer.name] = y
    return values[out_layer]


def solo_sensitivity(
    model: Any,
    inbound: dict[str, list[str]],
    feeds: Any,
    out_layer: str,
    matches: dict[str, TensorMatch],
) -> dict[str, float]:
    """Per matched layer: PSNR (dB, 8-bit) of the float model's output against the same model
    with only that layer's output rounded to its int8 grid. Low = this layer's quantization alone
    costs the output the most."""
    from runtime.metrics import psnr

    def to8(t: Any) -> np.ndarray:
        return (np.clip(np.asarray(t), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    ref = to8(forward(model, inbound, feeds, out_layer))
    out = {}
    for name, m in matches.items():
        got = to8(forward(model, inbound, feeds, out_layer, override=m))
        out[name] = min(SNR_CAP_DB, psnr(got, ref))
    return out
