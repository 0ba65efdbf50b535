"""Suggestions drawn from the figures, by fixed rules, and the two that can be applied to a model.

Each rule reads the statistics behind one figure and, when its threshold is crossed, writes a
suggestion that names the layer, the number that triggered it and the figure it comes from. The
thresholds are data (:data:`RULES`). Suggestions are sorted by ``severity`` (larger first); the
range fix of the layer to fix first (the one whose int8 grid alone costs the output the most,
else the one adding the most int8 error) is ranked first.

Actionable suggestions carry an ``action``; :func:`apply_suggestion` builds the changed model:

* ``equalize``: one channel (or a few) of a ReLU output spans many times the median channel's
  range, so one per-tensor scale crushes the rest. Scale those channels down in the producing
  convolution (kernel and bias) and up by the same factor in the only consumer's input weights.
  ReLU is positively homogeneous, so the float output is unchanged (cross-layer equalization,
  Nagel et al. 2019, applied to the measured activation ranges).
* ``clip``: a ReLU whose range reaches far past its p99.9 (rare huge outliers): replace it by
  ``ReLU(max_value=v)`` at the p99.9 (ReLU6 when that is near 6). This changes the float model
  slightly; re-convert (and fine-tune or run QAT) afterwards.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from runtime.errors import InputError, ModelError, expected

RULES: dict[str, float] = {
    "channel_ratio": 8.0,  # largest / median per-channel p99.9 above this -> equalize
    "outlier_ratio": 8.0,  # max / p99.9 above this -> clip
    "min_crush_share": 0.02,  # ... and at least this share of values crushed
    "clip_share": 0.01,  # held-out values clipped by the calibrated range
    "worst_added_share": 0.25,  # share of all added int8 error in one layer
    "solo_psnr_db": 40.0,  # output PSNR vs float with only the worst layer on int8 below this
    "e2e_psnr_db": 35.0,  # int8 vs float below this -> QAT
    "identity_change_levels": 0.5,  # mean |output - input| below this -> near identity
}


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """One suggestion: what to do, on which layer, why (``evidence``), from which ``figure``."""

    kind: str
    layer: str | None
    text: str
    figure: str
    severity: float
    action: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convs() -> tuple[str, ...]:
    return ("Conv2D", "DepthwiseConv2D")


def suggest(
    stats: list[Any], int8: Any | None, grad: Any | None, graph: dict[str, dict[str, Any]]
) -> list[Suggestion]:
    """Rule-based suggestions from the activation ``stats``, the ``int8`` comparison, the
    gradient ``grad`` summary dict and ``graph`` (layer -> ``kind``, ``inputs``, ``outputs``)."""
    out: list[Suggestion] = []
    # The layer to fix first: the one whose int8 grid alone costs the output the most, else the
    # one adding the most tensor error.
    worst = (int8.worst_solo or int8.worst) if int8 is not None else None
    row = next((e for e in int8.layers if e.layer == worst), None) if worst else None
    added_total = 0.0
    worst_share = 0.0
    if int8 is not None:
        added = {e.layer: max(e.added_error, 0.0) for e in int8.layers if not e.fused}
        added_total = sum(added.values())
        worst_share = added.get(worst, 0.0) / added_total if added_total > 0 and worst else 0.0
    why = ""
    if row is not None:
        why = (
            f"int8 on this layer alone puts the output at {row.solo_psnr_db:.1f} dB PSNR from "
            "float, the worst of all layers"
            if row.solo_psnr_db is not None and worst == int8.worst_solo
            else f"it adds {worst_share:.0%} of the int8 error"
        )
    fixed_worst = False
    for s in stats:
        if _fused(s.name, graph):
            continue  # int8 has no tensor for a convolution fused with its ReLU: the ReLU speaks
        bonus = 1.0 if s.name == worst else 0.0
        tail = f"; {why} (int8_error.png)" if bonus else ""
        if s.channel_ratio >= RULES["channel_ratio"] and s.crush_share >= RULES["min_crush_share"]:
            producer, consumer = _equalize_pair(s.name, graph)
            big = [
                c
                for c, v in enumerate(s.channel_p999)
                if v > 2 * sorted(s.channel_p999)[len(s.channel_p999) // 2]
            ]
            can = producer is not None and consumer is not None
            out.append(
                Suggestion(
                    kind="equalize_channels" if can else "channel_range",
                    layer=s.name,
                    text=(
                        f"{s.name}: channel {s.top_channel} reaches {s.channel_ratio:.0f}x the "
                        f"median channel's p99.9, so one int8 scale (step {s.step:.3g}) crushes "
                        f"{s.crush_share:.0%} of its values to within one step of zero; "
                        + (
                            f"equalize channels {big} (scale them down in {producer} and up in "
                            f"{consumer}'s weights: the float output is unchanged)"
                            if can
                            else "equalize the channel ranges or keep this layer in higher "
                            "precision"
                        )
                        + tail
                    ),
                    figure="channels.png",
                    severity=0.5 + 0.5 * s.crush_share + bonus,
                    action="equalize" if can else None,
                    params={"channels": big, "producer": producer, "consumer": consumer}
                    if can
                    else {},
                )
            )
            fixed_worst |= bool(bonus)
        elif (
            s.outlier_ratio >= RULES["outlier_ratio"] and s.crush_share >= RULES["min_crush_share"]
        ):
            v = _round_up(s.percentiles["p99.9"])
            relu = graph.get(s.name, {}).get("kind") == "ReLU" and s.relu
            out.append(
                Suggestion(
                    kind="clip_activation",
                    layer=s.name,
                    text=(
                        f"{s.name}: max {s.max:.3g} is {s.outlier_ratio:.0f}x its p99.9 "
                        f"({s.percentiles['p99.9']:.3g}), so the bulk of its values uses "
                        f"{s.levels_p99:.0f} of 255 int8 steps and {s.crush_share:.0%} fall "
                        f"within one step of zero; bound it at ~{v:g} ("
                        + ("ReLU6" if 5 <= v <= 7 else f"ReLU(max_value={v:g})")
                        + "), then re-convert (QAT recovers the float cost)"
                        + tail
                    ),
                    figure="ranges.png",
                    severity=0.4 + 0.5 * s.crush_share + bonus,
                    action="clip" if relu else None,
                    params={"max_value": v} if relu else {},
                )
            )
            fixed_worst |= bool(bonus)
        if s.clip_share >= RULES["clip_share"]:
            out.append(
                Suggestion(
                    kind="calibration",
                    layer=s.name,
                    text=(
                        f"{s.name}: a range calibrated on the calibration tiles clips "
                        f"{s.clip_share:.2%} of the held-back values; calibrate on more varied "
                        "images (convert --calib-tiles, --data with more scenes)"
                    ),
                    figure="ranges.png",
                    severity=0.3 + min(s.clip_share * 10, 0.2),
                )
            )
    solo_bad = row is not None and (row.solo_psnr_db or 1e9) < RULES["solo_psnr_db"]
    if (
        row is not None
        and not fixed_worst
        and (solo_bad or worst_share >= RULES["worst_added_share"])
    ):
        out.append(
            Suggestion(
                kind="higher_precision",
                layer=worst,
                text=(
                    f"{worst}: {why} (SNR {row.snr_db:.1f} dB after it, {row.loss_db:.1f} dB "
                    "lost in it); keep it in higher precision (int16 activations or float) or "
                    "run more QAT steps (edge-deblur convert --qat-steps N)"
                ),
                figure="int8_error.png",
                severity=0.5 + max(worst_share, 0.5 if solo_bad else 0.0),
            )
        )
    if int8 is not None and int8.psnr_int8_vs_float < RULES["e2e_psnr_db"]:
        out.append(
            Suggestion(
                kind="qat",
                layer=None,
                text=(
                    f"int8 output is {int8.psnr_int8_vs_float:.1f} dB PSNR from the float output "
                    f"(below {RULES['e2e_psnr_db']:g} dB): run quantization-aware fine-tuning "
                    "(edge-deblur convert --qat-steps 500)"
                ),
                figure="int8_error.png",
                severity=0.6,
            )
        )
    dead = [(s.name, len(s.dead_channels), s.channels) for s in stats if s.dead_channels]
    if dead:
        dead.sort(key=lambda t: -t[1] / t[2])
        listed = ", ".join(f"{n} {k}/{c}" for n, k, c in dead[:5])
        out.append(
            Suggestion(
                kind="dead_channels",
                layer=dead[0][0],
                text=(
                    f"dead channels (never positive after ReLU on these tiles): {listed}; prune "
                    "them (they cost MACs and give nothing) or re-initialise and retrain"
                ),
                figure="channels.png",
                severity=0.2 + 0.2 * dead[0][1] / dead[0][2],
            )
        )
    if grad is not None and grad["change_mean_levels"] < RULES["identity_change_levels"]:
        out.append(
            Suggestion(
                kind="near_identity",
                layer=None,
                text=(
                    f"the model changes the frame by {grad['change_mean_levels']:.2f} levels on "
                    "average: it is close to the identity (undertrained, or the correction "
                    "layer is crushed); train longer"
                ),
                figure="change.png",
                severity=0.1,
            )
        )
    return sorted(out, key=lambda s: -s.severity)


def _fused(name: str, graph: dict[str, dict[str, Any]]) -> bool:
    """A convolution without activation whose only consumer is a ReLU (one int8 op with it)."""
    node = graph.get(name, {})
    if node.get("kind") not in _convs() or node.get("activation") or len(node["outputs"]) != 1:
        return False
    return graph.get(node["outputs"][0], {}).get("kind") == "ReLU"


def _round_up(v: float) -> float:
    """Round up to 2 significant digits."""
    if v <= 0:
        return 1.0
    mag = 10 ** (math.floor(math.log10(v)) - 1)
    return math.ceil(v / mag) * mag


def _equalize_pair(name: str, graph: dict[str, dict[str, Any]]) -> tuple[str | None, str | None]:
    """(producer conv, only consumer conv) around the ReLU ``name``, or Nones when not valid."""
    node = graph.get(name)
    if node is None or not node.get("homogeneous"):
        return None, None
    producer = name if node["kind"] in _convs() else None
    if producer is None and node["kind"] == "ReLU" and len(node["inputs"]) == 1:
        src = node["inputs"][0]
        p = graph.get(src, {})
        if p.get("kind") in _convs() and not p.get("activation") and len(p["outputs"]) == 1:
            producer = src
    if producer is None or len(node["outputs"]) != 1:
        return None, None
    consumer = node["outputs"][0]
    if graph.get(consumer, {}).get("kind") not in _convs():
        return None, None
    return producer, consumer


def apply_suggestion(model: Any, suggestion: Suggestion | dict[str, Any], stats: list[Any]) -> Any:
    """A new Keras model with ``suggestion``'s action applied (see the module docstring)."""
    from edge_deblur._keras import keras

    s = suggestion if isinstance(suggestion, Suggestion) else Suggestion(**suggestion)
    if s.action not in ("equalize", "clip"):
        raise InputError(
            expected("suggestion", "one with action equalize or clip", s.action, "apply it by hand")
        )
    if s.layer not in {lyr.name for lyr in model.layers}:
        raise ModelError(expected("suggestion layer", "a layer of the model", s.layer))
    if s.action == "clip":
        v = float(s.params["max_value"])

        def clone(lyr):
            if lyr.name == s.layer:
                return keras.layers.ReLU(max_value=v, name=lyr.name)
            return lyr.__class__.from_config(lyr.get_config())

        new = keras.models.clone_model(model, clone_function=clone)
        new.set_weights(model.get_weights())
        return new
    st = next((x for x in stats if x.name == s.layer), None)
    if st is None:
        raise ModelError(expected("suggestion layer", "a layer with statistics", s.layer))
    ranges = sorted(st.channel_p999)
    median = ranges[len(ranges) // 2]
    new = keras.models.clone_model(model)
    new.set_weights(model.get_weights())
    prod, cons = new.get_layer(s.params["producer"]), new.get_layer(s.params["consumer"])
    pk, pb = prod.get_weights()[0], prod.get_weights()[1] if prod.use_bias else None
    ck = cons.get_weights()
    for c in s.params["channels"]:
        f = median / st.channel_p999[c]  # < 1: channel c shrinks to the median range
        if type(prod).__name__ == "DepthwiseConv2D":
            pk[:, :, c, :] *= f
        else:
            pk[..., c] *= f
        if pb is not None:
            pb[c] *= f
        ck[0][:, :, c, :] /= f  # Conv2D (kh, kw, cin, cout) and DepthwiseConv2D (kh, kw, cin, m)
    prod.set_weights([pk, pb] if pb is not None else [pk])
    cons.set_weights(ck)
    return new
