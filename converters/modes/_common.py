"""What every mode shares: the job description and a TFLite converter with a fixed signature."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from converters.config import IODtype
from runtime.errors import ConversionError


@dataclasses.dataclass(frozen=True)
class ModeJob:
    """One conversion: the Keras model, the input shape to freeze, and (int8) calibration data.

    ``input_shape`` is ``(1, H, W, 3)``; ``H``/``W`` may be ``None`` for float modes that keep a
    dynamic spatial size. ``representative`` yields ``[tile]`` lists of float32 ``(1, H, W, 3)``
    arrays in [0, 1], as TensorFlow's converter expects (``{"image": tile, "state": state}``
    dicts for a temporal model).
    """

    model: Any
    input_shape: tuple[int | None, int | None, int | None, int]
    io: IODtype = IODtype.UINT8
    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None
    per_channel: bool = True  # int8: one weight scale per output channel (else one per tensor)


def make_converter(job: ModeJob) -> Any:
    """A ``TFLiteConverter`` for ``job.model`` traced at batch 1 and ``job.input_shape``.

    Tracing a ``tf.function`` with a fixed batch of 1 avoids the SHAPE/STRIDED_SLICE/PACK ops a
    ``None`` batch leaves in the graph (they would not map to the Edge TPU).
    """
    from edge_deblur._keras import tf

    model = job.model
    specs = [tf.TensorSpec(list(job.input_shape), tf.float32, name="image")]
    extra = state_specs(model, job.input_shape)
    if extra:  # a recurrent (temporal) model: [image, state] -> [image, next state]
        fn = tf.function(lambda x, s: model([x, s], training=False), input_signature=specs + extra)
    else:
        fn = tf.function(lambda x: model(x, training=False), input_signature=specs)
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)


def state_specs(model: Any, input_shape: tuple[int | None, ...]) -> list[Any]:
    """The TensorSpec of a temporal model's second input (its recurrent state), else ``[]``.

    The state sits at the image size divided by the product of the convolution strides.
    """
    from edge_deblur._keras import tf

    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 2:
        return []
    from edge_deblur.models import infer_pad_multiple

    mult = infer_pad_multiple(model)
    h, w = input_shape[1], input_shape[2]
    shape = [1, h // mult if h else None, w // mult if w else None, int(inputs[1].shape[-1])]
    return [tf.TensorSpec(shape, tf.float32, name="state")]


def run_converter(converter: Any, mode: str) -> bytes:
    """Run ``converter.convert()``; a converter failure becomes a one-line ConversionError."""
    try:
        return bytes(converter.convert())
    except Exception as e:  # TF raises many unrelated types here; all mean "could not convert".
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(
            f"--quant {mode}: TensorFlow Lite could not convert the model ({first[:300]}); "
            "check that it uses only Conv2D, DepthwiseConv2D, ReLU, Add, Concatenate and "
            "UpSampling2D layers"
        ) from e
