"""``temporal``: the ``cnn`` encoder-decoder made recurrent for video streams.

A stream is a sequence: the previous frames saw the same scene, often with less or different blur.
This generator carries what it learnt about the scene from one frame to the next in a recurrent
state tensor, an extra input and an extra output of the model, so that the deployed graph stays a
plain feed-forward net (no RNN ops) that converts to full int8 and maps to the Edge TPU:

* inputs: ``image`` (N, H, W, 3) in [0, 1] and ``state`` (N, H/8, W/8, C) (``C`` = the bottom
  width; H/8 for the registered three-level sizes, ``H / pad_multiple`` in general);
* outputs: the deblurred image (same convention as ``cnn``) and the next state.

The state enters at the bottom of the encoder: ``Concatenate([features, state])`` then a 1x1
convolution back to the bottom width, before the bottom residual blocks. The next state is a 1x1
projection of the bottom features bounded by ``ReLU(max_value=6)`` (int8 RELU6 / RELU + MINIMUM),
so its int8 scale is the same at every step and an all-zero state (the first frame, or after a
scene cut) is a value the net saw in training. Both extra convolutions run at 1/64 of the pixels:
the cost over ``cnn`` of the same size is ``3 * C * C / 64`` MACs per pixel (4-5%).
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_deblur._keras import keras
from edge_deblur.models.cnn import (
    _bounded_sum,
    _center_head,
    _conv,
    _ds_block,
    decode,
)

STATE_MAX = 6.0  # upper bound of the state values (ReLU6): a fixed int8 range at every step


def build_temporal(
    widths: Sequence[int] = (16, 32, 64),
    blocks: Sequence[int] = (1, 1, 2),
    name: str = "temporal",
) -> keras.Model:
    """Build the recurrent generator: ``[image, state] -> [deblurred, next_state]``.

    ``widths``/``blocks`` as in :func:`edge_deblur.models.cnn.build_cnn`; the state has
    ``widths[-1]`` channels at ``1 / 2 ** (len(widths) - 1)`` of the image resolution.
    """
    widths, blocks = tuple(int(w) for w in widths), tuple(int(b) for b in blocks)
    if len(widths) not in (3, 4) or len(blocks) != len(widths):
        raise ValueError(f"widths/blocks: expected 3 or 4 levels each, got {widths}, {blocks}")
    if min(widths) < 1 or min(blocks) < 0:
        raise ValueError(f"widths must be >= 1 and blocks >= 0, got {widths}, {blocks}")
    levels = len(widths) - 1
    image = keras.Input(shape=(None, None, 3), name="image")
    state = keras.Input(shape=(None, None, widths[-1]), name="state")
    x = _conv(image, widths[0], name="head")
    skips = []
    for lv in range(levels + 1):
        if lv > 0:
            x = _conv(x, widths[lv], stride=2, name=f"down{lv}")
        if lv == levels:
            x = keras.layers.Concatenate(name="state_concat")([x, state])
            x = _conv(x, widths[lv], kernel=1, name="state_fuse")
        for b in range(blocks[lv]):
            x = _ds_block(x, name=f"enc{lv}_{b}")
        skips.append(x)
    next_state = keras.layers.Conv2D(
        widths[-1], 1, kernel_initializer="he_normal", name="state_proj"
    )(x)
    next_state = keras.layers.ReLU(max_value=STATE_MAX, name="next_state")(next_state)
    out = _bounded_sum(image, decode(x, skips, widths))
    model = keras.Model([image, state], [out, next_state], name=name)
    _center_head(model.get_layer("head_conv"))
    return model


def state_shape(model: keras.Model, height: int, width: int) -> tuple[int, int, int, int]:
    """The ``(1, h, w, C)`` state of ``model`` for an ``height`` x ``width`` image."""
    from edge_deblur.models import infer_pad_multiple

    mult = infer_pad_multiple(model)
    return (1, height // mult, width // mult, int(model.inputs[1].shape[-1]))


def is_temporal(model) -> bool:
    """True for a model with the ``[image, state] -> [image, state]`` signature."""
    return len(getattr(model, "inputs", ()) or ()) == 2 and len(model.outputs) == 2
