"""Magnitude pruning with tfmot: a polynomial schedule to the target sparsity, then stripped.

Only Conv2D / Dense kernels are pruned (biases, depthwise kernels and the global residual are
left alone; the reported sparsity counts every Conv2D / DepthwiseConv2D / Dense kernel).
tfmot's ``PolynomialDecay`` defaults to ``frequency=100``: with a few hundred fine-tuning steps
it updates the mask only two or three times and may never reach the target, so the frequency
is derived from the step count here and the schedule ends on a mask update.
Sparsity is then measured on the stripped weights, per layer, not assumed.

``--structured 2:4`` keeps 2 of every 4 consecutive input-channel weights (the pattern sparse
tensor cores and some NPUs accelerate); layers whose input channels are not a multiple of 4
(e.g. the first conv on RGB) stay dense and the report says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from converters.calibration import TileSet
from converters.config import Structure
from converters.finetune import fit_distill, teacher_targets
from runtime.errors import ModelError

PRUNABLE = ("Conv2D", "DepthwiseConv2D", "Dense")  # measured
# wrapped for pruning: tfmot 0.8.1 wraps DepthwiseConv2D but leaves its kernel dense (measured:
# 0% after a full schedule), and depthwise kernels are a few percent of the weights anyway.
WRAPPED = ("Conv2D", "Dense")


@dataclasses.dataclass(frozen=True)
class LayerSparsity:
    """Zeros among the kernel weights of one layer, measured after stripping."""

    name: str
    kind: str
    weights: int
    zeros: int
    pruned: bool

    @property
    def sparsity(self) -> float:
        return self.zeros / self.weights if self.weights else 0.0


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """The stripped model and what pruning really achieved."""

    model: Any
    target: float
    structured: str
    steps: int
    frequency: int
    layers: tuple[LayerSparsity, ...]
    losses: tuple[float, ...]

    @property
    def sparsity(self) -> float:
        """Zeros over all kernel weights of prunable layers (pruned or not)."""
        w = sum(layer.weights for layer in self.layers)
        return sum(layer.zeros for layer in self.layers) / w if w else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "structured": self.structured,
            "steps": self.steps,
            "frequency": self.frequency,
            "sparsity": round(self.sparsity, 4),
            "final_loss": round(self.losses[-1], 6) if self.losses else None,
            "layers": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "weights": s.weights,
                    "sparsity": round(s.sparsity, 4),
                    "pruned": s.pruned,
                }
                for s in self.layers
            ],
        }


def schedule_for(steps: int) -> tuple[int, int]:
    """``(end_step, frequency)`` so that ~10 mask updates happen and the last one is at the end.

    The sparsity ramp uses the first 80% of the steps; the rest fine-tunes at the target.
    """
    ramp = max(1, int(steps * 0.8))
    frequency = max(1, min(100, ramp // 10))
    end_step = max(frequency, (ramp // frequency) * frequency)
    return end_step, frequency


def kernel_sparsity(model: Any) -> list[LayerSparsity]:
    """Measured zeros in every prunable layer's kernel (Conv2D, DepthwiseConv2D, Dense)."""
    out = []
    for layer in _flat_layers(model):
        kind = type(layer).__name__
        if kind not in PRUNABLE:
            continue
        k = layer.depthwise_kernel if kind == "DepthwiseConv2D" else layer.kernel
        k = np.asarray(k)
        out.append(LayerSparsity(layer.name, kind, int(k.size), int(np.sum(k == 0)), False))
    return out


def _flat_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            layers.extend(_flat_layers(layer))
        else:
            layers.append(layer)
    return layers


def _can_m_by_n(layer: Any) -> bool:
    kind = type(layer).__name__
    if kind not in ("Conv2D", "Dense"):
        return False
    return int(layer.kernel.shape[-2]) % 4 == 0


def prune(
    model: Any,
    sparsity: float,
    tiles: TileSet,
    steps: int,
    structured: Structure = Structure.NONE,
    batch_size: int = 8,
    learning_rate: float = 1e-4,
    seed: int = 0,
) -> PruneResult:
    """Prune ``model`` to ``sparsity`` while distilling it on ``tiles``; returns it stripped."""
    from edge_deblur import _keras
    from edge_deblur._keras import keras

    tfmot = _keras.tfmot
    structured = Structure(structured)
    end_step, frequency = schedule_for(steps)
    targets = teacher_targets(model, tiles)
    pruned_names: set[str] = set()

    def wrap(layer: Any) -> Any:
        kind = type(layer).__name__
        if kind not in WRAPPED:
            return layer.__class__.from_config(layer.get_config())
        if structured is Structure.M2N4:
            if not _can_m_by_n(layer):
                return layer.__class__.from_config(layer.get_config())
            pruned_names.add(layer.name)
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer.__class__.from_config(layer.get_config()), sparsity_m_by_n=(2, 4)
            )
        pruned_names.add(layer.name)
        sched = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=float(sparsity),
            begin_step=0,
            end_step=end_step,
            frequency=frequency,
        )
        return tfmot.sparsity.keras.prune_low_magnitude(
            layer.__class__.from_config(layer.get_config()), pruning_schedule=sched
        )

    try:
        student = keras.models.clone_model(model, clone_function=wrap)
    except (ValueError, TypeError) as e:
        raise ModelError(
            f"--prune: expected a functional or sequential Keras model to wrap layer by layer, "
            f"could not clone it ({str(e).splitlines()[0][:200]})"
        ) from e
    _copy_weights(model, student)
    if not pruned_names:
        raise ModelError(
            "--prune: expected at least one prunable layer (Conv2D, Dense"
            + (
                " with input channels a multiple of 4 for 2:4"
                if structured is Structure.M2N4
                else ""
            )
            + "), found none"
        )
    losses = fit_distill(
        student,
        tiles,
        targets,
        max(steps, end_step + 1),
        batch_size,
        learning_rate,
        seed,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    stripped = tfmot.sparsity.keras.strip_pruning(student)
    layers = tuple(
        dataclasses.replace(s, pruned=s.name in pruned_names) for s in kernel_sparsity(stripped)
    )
    return PruneResult(
        model=stripped,
        target=float(sparsity),
        structured=structured.value,
        steps=max(steps, end_step + 1),
        frequency=frequency,
        layers=layers,
        losses=tuple(losses),
    )


def _copy_weights(src: Any, dst: Any) -> None:
    """Copy each layer's trained weights into its (possibly wrapped) clone, matched by name."""
    by_name = {layer.name: layer for layer in src.layers}
    for layer in dst.layers:
        inner = getattr(layer, "layer", layer)
        original = by_name.get(inner.name) or by_name.get(layer.name)
        if original is not None and original.get_weights():
            inner.set_weights(original.get_weights())
