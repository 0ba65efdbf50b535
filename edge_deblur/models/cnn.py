"""``cnn``: the edge-first residual encoder-decoder generator.

Design, and why:

* Only layers that become int8 TFLite builtins the Edge TPU maps: Conv2D, DepthwiseConv2D,
  ReLU, Add, UpSampling2D(nearest). No Conv2DTranspose (tfmot's pruning-preserving QAT rejects
  it), no normalisation, no Lambda or custom layers.
* Down-sampling by stride-2 3x3 convolutions (2 or 3 levels); the cheap work happens at low
  resolution in depthwise-separable residual blocks. Up-sampling is a 1x1 projection at the low
  resolution followed by nearest up-sampling (the same result as up-sampling first, at a quarter
  of the cost) and an Add with the encoder's skip at that level, then a depthwise-separable block
  to smooth the nearest-neighbour blocks.
* ``stem=2`` (the speed variant): the head is a stride-2 3x3 convolution, so no feature map
  exists at full resolution, and the correction comes back to full resolution through a 2x2
  stride-2 ``Conv2DTranspose`` (a learnt depth-to-space: each half-resolution feature vector
  writes its own 2x2 block of the correction). Full-resolution work is then only that
  projection, the residual Add and the bound. Whole-frame int8 on this host ran about 1.5x as
  fast as the same budget with a full-resolution level (``benchmarks/results/fast_model.md``).
  TRANSPOSE_CONV is an int8 builtin the Edge TPU maps; tfmot's pruning-preserving QAT rejects
  it, so a pruned stem-2 model is quantized after training instead (the converter says so).
* ``down="sep"`` (optional): each stride-2 3x3 down-sampling convolution becomes a stride-2 3x3
  depthwise convolution and a 1x1 convolution (each with a ReLU). In the default model the two
  full down convolutions are 38% of the MACs; separable ones cut its 1131 MAC/px to 759.
* ``lowcut=N`` (optional): the correction loses its local mean over N x N pixels before it is
  added: ``c - up_bilinear(avgpool_N(c))``, the low-pass branch negated by a fixed (not trained)
  1x1 convolution and joined with an Add (tfmot cannot quantize Subtract). Blur keeps the local
  mean of an image at scales beyond the blur, so a deblurring correction has none there; models
  without it were seen to shift the brightness of unseen scenes (MODEL_CARD.md). AVERAGE_POOL_2D,
  CONV_2D, RESIZE_BILINEAR and ADD are int8 builtins the Edge TPU maps (RESIZE_BILINEAR may stay
  on the CPU). H and W must then also be multiples of N.
* Global residual: the net predicts a correction that is added to the input image, then the sum
  is bounded to [0, 1] by ``ReLU(max_value=1)``, which the TF 2.21 converter turns into int8
  RELU + MINIMUM, both known to the 2021 Edge TPU compiler (not RELU_0_TO_1, which it does not
  know; the conversion test lists the ops and fails if that changes). In int8 the ADD's output
  is already quantized to exactly [0, 1] and saturates, so the converter drops those two ops as
  exact no-ops (``converters.simplify``); the float model keeps its clip.
* He-normal initialisation for every convolution followed by a ReLU; the final projection starts
  near zero (not exactly zero, so that every layer gets a gradient from the first step) so that a
  fresh model is the identity and training only has to learn the correction.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_deblur._keras import keras
from edge_deblur.models import DOWNS, LOWCUTS, STEMS  # the registry owns the valid values

# Variance scale of the final projection's init: weights ~ N(0, 1e-6 / fan_in), so a fresh
# correction is ~1e-3 x the feature RMS (under one 8-bit level) yet every layer gets a gradient.
FINAL_INIT_SCALE = 1e-6


def _relu(x, name: str, bound: float = 0.0):
    """``ReLU``, or with ``bound > 0`` the clipped ``ReLU(max_value=bound)``."""
    return keras.layers.ReLU(max_value=float(bound) if bound else None, name=name)(x)


def _conv(
    x,
    filters: int,
    kernel: int = 3,
    stride: int = 1,
    relu: bool = True,
    name: str = "",
    bound: float = 0.0,
):
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    return _relu(x, f"{name}_relu", bound) if relu else x


def _ds_block(x, name: str, bound: float = 0.0):
    """Depthwise-separable residual block: x + relu(pw(relu(dw3x3(x)))); with ``bound > 0`` both
    ReLUs and the sum are clipped to [0, bound] (see ``bound0`` in :func:`build_cnn`)."""
    ch = x.shape[-1]
    y = keras.layers.DepthwiseConv2D(
        3, padding="same", depthwise_initializer="he_normal", name=f"{name}_dw"
    )(x)
    y = _relu(y, f"{name}_dw_relu", bound)
    y = keras.layers.Conv2D(ch, 1, kernel_initializer="he_normal", name=f"{name}_pw")(y)
    y = _relu(y, f"{name}_pw_relu", bound)
    y = keras.layers.Add(name=f"{name}_add")([x, y])
    return _relu(y, f"{name}_clip", bound) if bound else y


def _down(x, filters: int, kind: str, name: str):
    """Halve the resolution: a stride-2 3x3 convolution (``conv``), or (``sep``) a stride-2 3x3
    depthwise convolution then a 1x1 convolution, each with a ReLU (about a sixth of the MACs)."""
    if kind == "conv":
        return _conv(x, filters, stride=2, name=name)
    y = keras.layers.DepthwiseConv2D(
        3, strides=2, padding="same", depthwise_initializer="he_normal", name=f"{name}_dw"
    )(x)
    y = keras.layers.ReLU(name=f"{name}_dw_relu")(y)
    return _conv(y, filters, kernel=1, name=name)


def _bounded_sum(image, correction):
    """``clip(image + correction, 0, 1)`` as ADD then ``ReLU(max_value=1)``.

    With TF 2.21 the clipped ReLU converts to int8 RELU + MINIMUM (checked by the conversion test),
    both known to the 2021 Edge TPU compiler; it does not become RELU_0_TO_1. After the int8 ADD
    (output range exactly [0, 1]) both copy their input, and the converter removes them.
    """
    total = keras.layers.Add(name="residual_add")([image, correction])
    return keras.layers.ReLU(max_value=1.0, name="bound")(total)


def build_cnn(
    widths: Sequence[int] = (16, 32, 64),
    blocks: Sequence[int] = (1, 1, 2),
    name: str = "cnn",
    stem: int = 1,
    lowcut: int = 0,
    down: str = "conv",
    bound0: float = 0.0,
) -> keras.Model:
    """Build the generator.

    ``widths[i]`` is the channel count at level ``i`` (level 0 is full resolution, each further
    level halves the resolution: 2 or 3 down-sampling levels), ``blocks[i]`` the number of
    depthwise-separable residual blocks there (in the encoder; the decoder adds one per level
    above the bottom). With ``stem=2`` level 0 is half resolution (see the module docstring).
    The model is fully convolutional: H and W must be multiples of
    ``stem * 2 ** (len(widths) - 1)``.

    ``bound0 > 0`` clips every level-0 feature map (the head, the level-0 blocks' ReLUs and
    sums, the skip sum and the decoder's last block) to [0, bound0] with ``ReLU(max_value)``.
    Those maps feed the correction directly, and their int8 step is their range / 255: without a
    bound the sums of ReLU outputs grow (to 4.9 in ``cnn-wide``, docs/QUALITY.md) and the
    quantization noise of the 2x2 transposed convolution's input shows as a 2x2 grain.
    """
    widths, blocks = tuple(int(w) for w in widths), tuple(int(b) for b in blocks)
    if stem not in STEMS:
        raise ValueError(f"stem: expected one of {STEMS}, got {stem}")
    if lowcut not in LOWCUTS:
        raise ValueError(f"lowcut: expected one of {LOWCUTS}, got {lowcut}")
    if down not in DOWNS:
        raise ValueError(f"down: expected one of {DOWNS}, got {down!r}")
    if len(widths) not in (3, 4) or len(blocks) != len(widths):
        raise ValueError(f"widths/blocks: expected 3 or 4 levels each, got {widths}, {blocks}")
    if not bound0 >= 0:
        raise ValueError(f"bound0: expected >= 0 (0 = off), got {bound0}")
    if min(widths) < 1 or min(blocks) < 0:
        raise ValueError(f"widths must be >= 1 and blocks >= 0, got {widths}, {blocks}")
    levels = len(widths) - 1
    inp = keras.Input(shape=(None, None, 3), name="image")
    x = _conv(inp, widths[0], stride=stem, name="head", bound=bound0)
    skips = []
    for lv in range(levels + 1):
        if lv > 0:
            x = _down(x, widths[lv], down, name=f"down{lv}")
        for b in range(blocks[lv]):
            x = _ds_block(x, name=f"enc{lv}_{b}", bound=bound0 if lv == 0 else 0.0)
        skips.append(x)
    correction = decode(x, skips, widths, stem=stem, bound0=bound0)
    if lowcut:
        correction = remove_local_mean(correction, lowcut)
    out = _bounded_sum(inp, correction)
    model = keras.Model(inp, out, name=name)
    _center_head(model.get_layer("head_conv"))
    return model


def decode(x, skips: list, widths: tuple[int, ...], stem: int = 1, bound0: float = 0.0):
    """The decoder and the correction head: from the bottom features ``x`` and the encoder's
    ``skips`` (one per level) up to the 3-channel correction at full resolution (``stem=2``:
    level 0 is half resolution and a 2x2 stride-2 transposed convolution makes the correction).
    ``bound0``: clip the level-0 maps (see :func:`build_cnn`)."""
    for lv in range(len(widths) - 1, 0, -1):
        bound = bound0 if lv == 1 else 0.0
        x = _conv(x, widths[lv - 1], kernel=1, name=f"up{lv}_proj", bound=bound)
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{lv}")(x)
        x = keras.layers.Add(name=f"skip{lv - 1}")([x, skips[lv - 1]])
        if bound:
            x = _relu(x, f"skip{lv - 1}_clip", bound)
        x = _ds_block(x, name=f"dec{lv - 1}", bound=bound)
    init = keras.initializers.VarianceScaling(
        FINAL_INIT_SCALE, mode="fan_in", distribution="truncated_normal"
    )
    if stem == 2:
        return keras.layers.Conv2DTranspose(
            3, 2, strides=2, kernel_initializer=init, name="correction"
        )(x)
    return keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=init, name="correction")(x)


def remove_local_mean(correction, size: int):
    """``correction - up_bilinear(avgpool_size(correction))`` with int8-friendly builtins only."""
    import numpy as np

    ch = int(correction.shape[-1])
    low = keras.layers.AveragePooling2D(size, name="lowcut_pool")(correction)
    neg = keras.layers.Conv2D(
        ch,
        1,
        trainable=False,
        kernel_initializer=keras.initializers.Constant(-np.eye(ch).reshape(1, 1, ch, ch)),
        bias_initializer="zeros",
        name="lowcut_negate",
    )(low)
    up = keras.layers.UpSampling2D(size, interpolation="bilinear", name="lowcut_up")(neg)
    return keras.layers.Add(name="lowcut_add")([correction, up])


def _center_head(conv) -> None:
    """Set the first conv's bias to ``-0.5 * sum(kernel)`` per channel: the same as feeding it
    ``image - 0.5``. Inputs in [0, 1] are all positive, so without this every channel whose
    weights sum negative starts dead on flat regions (issue 6 saw all ReLUs die)."""
    kernel = conv.kernel.numpy()
    conv.bias.assign(-0.5 * kernel.sum(axis=(0, 1, 2)))
