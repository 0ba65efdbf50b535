"""Quantization-aware fine-tuning (tfmot), pruning-preserving when the model was pruned.

The fake-quantized student is distilled from the float source; its trained float weights (which
have learned to sit well on the 8-bit per-channel grid) are then copied back into the original
float architecture, and the int8 graph is calibrated from those weights with the representative
tiles. Converting tfmot's own graph directly was tried first: with TF 2.21 / tfmot 0.8.1 it left a
DEQUANTIZE -> float -> QUANTIZE detour on the global-residual branch (and a float ADD/MINIMUM
tail without the representative set), which is neither integer-only nor Edge TPU friendly.

The learning rate is small (1e-6) on purpose: Adam's per-weight step moves tiny weights (the
final correction conv of a residual deblurring net is near zero) by a large relative amount, and
with 1e-5 the QAT model lost 0.1 dB against post-training int8 on gopro_dev (measured with
benchmarks/scripts/converter_targets.py); the benefit QAT can bring is bounded by the gap of
post-training int8, which is small for these bounded residual nets.

Before tfmot sees the model, :func:`check_quantizable` walks its layers and turns the layers
tfmot (or the int8 Edge TPU path) cannot handle into a ModelError that names the layer, says why
and suggests the replacement, instead of tfmot's long traceback.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from converters.calibration import TileSet
from converters.finetune import fit_distill, teacher_targets
from runtime.errors import ModelError

# class name -> (why, replacement). Checked before tfmot runs.
UNQUANTIZABLE: dict[str, tuple[str, str]] = {
    "PReLU": ("tfmot has no int8 quantize config for PReLU", "use ReLU (or ReLU(max_value=6))"),
    "LayerNormalization": (
        "tfmot cannot quantize LayerNormalization and its int8 form degrades",
        "remove it or use a BatchNormalization folded after a Conv2D",
    ),
    "Lambda": (
        "Lambda layers are opaque to tfmot (they are skipped, leaving float ops)",
        "replace it with built-in layers (Add, Concatenate, ReLU, UpSampling2D)",
    ),
    "TFOpLambda": (
        "raw TensorFlow ops in a functional model are opaque to tfmot",
        "replace the tf.* call with a built-in Keras layer (e.g. ReLU(max_value=1) "
        "instead of tf.clip_by_value)",
    ),
    "GroupNormalization": (
        "tfmot cannot quantize GroupNormalization",
        "remove it or use a BatchNormalization folded after a Conv2D",
    ),
}
# Not quantizable only under the pruning-preserving scheme.
UNQUANTIZABLE_PRUNED: dict[str, tuple[str, str]] = {
    "Conv2DTranspose": (
        "the pruning-preserving QAT scheme rejects Conv2DTranspose",
        "drop --qat-steps (pruning then post-training int8), or build the model with "
        "UpSampling2D(interpolation='nearest') followed by a Conv2D (cnn stem 1)",
    ),
}
SUPPORTED = {
    "InputLayer",
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2DTranspose",
    "Dense",
    "ReLU",
    "Activation",
    "Add",
    "Concatenate",
    "UpSampling2D",
    "BatchNormalization",
    "MaxPooling2D",
    "AveragePooling2D",
    "ZeroPadding2D",
    "Reshape",
    "Dropout",
    "Subtract",
    "Multiply",
    "Maximum",
    "Minimum",
    "Average",
    "Flatten",
    "GlobalAveragePooling2D",
    "Cropping2D",
    "Functional",
    "Sequential",
}


@dataclasses.dataclass(frozen=True)
class QatResult:
    """The float model carrying the QAT-trained weights (ready for int8 calibration) and its
    loss curve."""

    model: Any
    steps: int
    preserve_sparsity: bool
    losses: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "scheme": "prune-preserving" if self.preserve_sparsity else "default 8-bit",
            "first_loss": round(self.losses[0], 6) if self.losses else None,
            "final_loss": round(self.losses[-1], 6) if self.losses else None,
        }


def check_quantizable(model: Any, pruned: bool = False) -> None:
    """Raise ModelError for the first layer QAT cannot handle: name, why, and the fix."""
    from converters.prune import _flat_layers

    for layer in _flat_layers(model):
        kind = type(layer).__name__
        table = dict(UNQUANTIZABLE)
        if pruned:
            table.update(UNQUANTIZABLE_PRUNED)
        if kind in table:
            why, fix = table[kind]
            raise ModelError(
                f"layer {layer.name!r} ({kind}): cannot be quantized for int8: {why}; {fix}"
            )
        if kind not in SUPPORTED and kind not in UNQUANTIZABLE_PRUNED:
            raise ModelError(
                f"layer {layer.name!r} ({kind}): cannot be quantized for int8: a custom or "
                "unsupported layer has no tfmot quantize config; rebuild it from Conv2D, "
                "DepthwiseConv2D, ReLU, Add, Concatenate and UpSampling2D"
            )
        if kind == "Activation":
            act = layer.get_config().get("activation")
            if act not in ("relu", "relu6", "linear", "sigmoid", "tanh", "softmax"):
                raise ModelError(
                    f"layer {layer.name!r} (Activation {act!r}): cannot be quantized for int8: "
                    "tfmot has no quantize config for it; use relu or relu6"
                )


def qat(
    model: Any,
    tiles: TileSet,
    steps: int,
    pruned: bool = False,
    batch_size: int = 8,
    learning_rate: float = 1e-6,
    seed: int = 0,
    teacher: Any | None = None,
) -> QatResult:
    """Fake-quantize ``model`` and distil it from ``teacher`` (default: itself) for ``steps``."""
    from edge_deblur import _keras

    tfmot = _keras.tfmot
    check_quantizable(model, pruned=pruned)
    targets = teacher_targets(teacher if teacher is not None else model, tiles)
    qk = tfmot.quantization.keras
    try:
        if pruned:
            annotated = qk.quantize_annotate_model(model)
            scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
            student = qk.quantize_apply(annotated, scheme)
        else:
            student = qk.quantize_model(model)
    except (ValueError, RuntimeError, TypeError) as e:
        raise ModelError(
            f"--qat-steps: tfmot could not prepare the model for QAT "
            f"({str(e).strip().splitlines()[0][:200]}); keep to Conv2D, DepthwiseConv2D, ReLU, "
            "Add, Concatenate and UpSampling2D layers"
        ) from e
    losses = fit_distill(student, tiles, targets, steps, batch_size, learning_rate, seed)
    return QatResult(
        model=float_copy_with_weights(model, student),
        steps=steps,
        preserve_sparsity=pruned,
        losses=tuple(losses),
    )


def float_copy_with_weights(model: Any, student: Any) -> Any:
    """A copy of float ``model`` whose weights are the QAT ``student``'s, matched by name.

    tfmot's wrappers keep the inner layer's variables under their original names
    (``conv2d/kernel:0``), so every float weight has exactly one counterpart.
    """
    from edge_deblur._keras import keras

    trained = {w.name: w for w in student.weights}
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    missing = []
    for w in copy.weights:
        src = trained.get(w.name)
        if src is None:
            missing.append(w.name)
        else:
            w.assign(src)
    if missing:
        raise ModelError(
            f"--qat-steps: expected every float weight in the QAT model, got {len(missing)} "
            f"missing (e.g. {missing[0]!r}); the model has layers tfmot renamed or replaced"
        )
    return copy
