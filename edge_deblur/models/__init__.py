"""The model registry: every architecture and size, built by name.

Importing this module is cheap (no TensorFlow): the CLI reads :data:`ARCHS` and :data:`SIZES` for
its choices; the builders import Keras when called.

* ``cnn``: the edge-first residual encoder-decoder of :mod:`edge_deblur.models.cnn`.
* ``gan``: the same generator, trained adversarially against the PatchGAN of
  :mod:`edge_deblur.models.gan` (the deployed graph is identical to ``cnn``).
* ``temporal``: the ``cnn`` generator made recurrent for streams (:mod:`edge_deblur.models.
  temporal`): inputs ``[image, state]``, outputs ``[deblurred, next_state]``, the state a
  low-resolution feature map fed back from the previous frame (about 4% more MACs than ``cnn``).

Sizes ``tiny``, ``small`` and ``base`` sit near 1k, 4k and 16k MACs per pixel (exact figures from
:func:`describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.errors import InputError, expected

ARCHS: tuple[str, ...] = ("cnn", "gan", "temporal")
SIZES: tuple[str, ...] = ("tiny", "small", "base")

STEMS = (1, 2)  # resolution divisor of level 0 (see edge_deblur.models.cnn)
LOWCUTS = (0, 8, 16, 32, 64)  # local-mean removal of the correction, in pixels (0 = off)
DOWNS = ("conv", "sep")  # down-sampling: stride-2 3x3 conv, or stride-2 depthwise 3x3 + 1x1

# Per size: channel widths per level (level 0 = full resolution) and residual blocks per level.
# Three down-sampling levels everywhere (receptive field for blur tens of pixels long); tiny
# (~1.2k MAC/px) sits under and small (~3.9k) over the Pi 4 budget at 640x480 15 FPS
# (~2.4-3k MAC/px, RESEARCH.md).
CNN_SIZES: dict[str, dict[str, tuple[int, ...]]] = {
    "tiny": {"widths": (6, 12, 24, 32), "blocks": (0, 1, 1, 2)},
    "small": {"widths": (12, 24, 48, 64), "blocks": (0, 1, 2, 3)},
    "base": {"widths": (24, 48, 96, 128), "blocks": (1, 2, 3, 3)},
}


@dataclass(frozen=True)
class ModelInfo:
    """What a registered model costs: exact MACs per pixel, parameters, pad multiple."""

    arch: str
    size: str
    macs_per_pixel: float
    params: int
    pad_multiple: int
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    stem: int = 1


def check_arch_size(arch: str, size: str) -> None:
    """Raise InputError naming the valid choices for an unknown arch or size."""
    if arch not in ARCHS:
        raise InputError(expected("--arch", f"one of {', '.join(ARCHS)}", arch))
    if size not in SIZES:
        raise InputError(expected("--size", f"one of {', '.join(SIZES)}", size))


def size_spec(arch: str, size: str, **overrides: Any) -> dict[str, Any]:
    """The ``widths``, ``blocks`` and ``stem`` of a registered size, with ``overrides`` applied."""
    check_arch_size(arch, size)
    spec: dict[str, Any] = {
        **CNN_SIZES[size],
        "stem": 1,
        "lowcut": 0,
        "down": "conv",
        "bound0": 0.0,
    }
    for key, value in overrides.items():
        if key not in spec:
            raise InputError(expected("model override", f"one of {', '.join(spec)}", key))
        if value is None:
            continue
        if key == "down":
            spec[key] = str(value)
        elif key == "bound0":
            try:
                spec[key] = float(value)
            except (TypeError, ValueError):
                raise InputError(expected("bound0", "a number >= 0 (0 = off)", value)) from None
        else:
            spec[key] = int(value) if key in ("stem", "lowcut") else tuple(int(v) for v in value)
    if spec["stem"] not in STEMS:
        raise InputError(expected("stem", f"one of {STEMS}", spec["stem"]))
    if spec["lowcut"] not in LOWCUTS:
        raise InputError(expected("lowcut", f"one of {LOWCUTS} (0 = off)", spec["lowcut"]))
    if spec["down"] not in DOWNS:
        raise InputError(expected("down", f"one of {', '.join(DOWNS)}", spec["down"]))
    if not (spec["bound0"] >= 0 and spec["bound0"] < float("inf")):
        raise InputError(expected("bound0", "a number >= 0 (0 = off)", spec["bound0"]))
    if arch == "temporal" and (
        spec["stem"] != 1 or spec["lowcut"] or spec["down"] != "conv" or spec["bound0"]
    ):
        raise InputError(
            expected(
                "stem/lowcut/down/bound0",
                "stem 1, lowcut 0, down conv, bound0 0 for --arch temporal (built for cnn and gan)",
                f"stem={spec['stem']} lowcut={spec['lowcut']} down={spec['down']} "
                f"bound0={spec['bound0']}",
            )
        )
    if len(spec["widths"]) not in (3, 4) or len(spec["blocks"]) != len(spec["widths"]):
        raise InputError(
            expected(
                "widths/blocks",
                "3 or 4 levels each, the same count",
                f"widths={spec['widths']} blocks={spec['blocks']}",
            )
        )
    if min(spec["widths"]) < 1 or min(spec["blocks"]) < 0:
        raise InputError(expected("widths/blocks", "widths >= 1 and blocks >= 0", f"{spec}", None))
    return spec


def build_generator(arch: str, size: str, **overrides: Any):
    """Build the deployable generator of ``arch``/``size`` (a ``keras.Model``).

    ``overrides`` may replace ``widths`` or ``blocks``. The model takes float32 NHWC RGB in
    [0, 1] of any H, W that are multiples of :func:`pad_multiple` and returns the same
    (``temporal``: also the recurrent state in and out, see :mod:`edge_deblur.models.temporal`).
    """
    spec = size_spec(arch, size, **overrides)
    if arch == "temporal":
        from edge_deblur.models.temporal import build_temporal

        return build_temporal(spec["widths"], spec["blocks"], name=f"{arch}_{size}")
    from edge_deblur.models.cnn import build_cnn

    return build_cnn(
        spec["widths"],
        spec["blocks"],
        name=f"{arch}_{size}",
        stem=spec["stem"],
        lowcut=spec["lowcut"],
        down=spec["down"],
        bound0=spec["bound0"],
    )


def build_discriminator(arch: str, size: str, **kwargs: Any):
    """The PatchGAN discriminator used to train ``gan`` (``None`` for non-adversarial archs)."""
    check_arch_size(arch, size)
    if arch != "gan":
        return None
    from edge_deblur.models.gan import build_patchgan

    return build_patchgan(**kwargs)


def pad_multiple(arch: str, size: str, **overrides: Any) -> int:
    """H and W of the model's input must be multiples of this (stem x 2 ** down-sampling levels,
    or the lowcut size where that is larger)."""
    spec = size_spec(arch, size, **overrides)
    return max(spec["stem"] * 2 ** (len(spec["widths"]) - 1), spec["lowcut"])


def infer_pad_multiple(model) -> int:
    """The pad multiple of any loaded model: the product of its convolution strides (>= 1).

    Correct for the registered encoder-decoders (one chain of stride-2 convolutions; transposed
    convolutions up-sample and are not counted; a pooling layer, the lowcut branch, needs H and W
    to be multiples of its own stride).
    """
    import math

    from edge_deblur._keras import keras

    mult, pool = 1, 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            continue
        if isinstance(layer, keras.layers.AveragePooling2D | keras.layers.MaxPooling2D):
            pool = math.lcm(pool, int(layer.strides[0]))
            continue
        strides = getattr(layer, "strides", None)
        if strides and hasattr(layer, "kernel_size"):
            mult *= int(strides[0])
    return math.lcm(mult, pool)


def macs_per_pixel(model) -> float:
    """Exact MACs per input pixel, counted from the layers (see :mod:`edge_deblur.models.macs`)."""
    from edge_deblur.models.macs import macs_per_pixel as _count

    return _count(model)


def count_params(model) -> int:
    """Trainable + frozen parameter count."""
    return int(sum(int(w.shape.num_elements()) for w in model.weights))


def describe(arch: str, size: str, **overrides: Any) -> ModelInfo:
    """Build ``arch``/``size`` and report its exact MACs per pixel, parameters and pad multiple."""
    spec = size_spec(arch, size, **overrides)
    model = build_generator(arch, size, **overrides)
    return ModelInfo(
        arch=arch,
        size=size,
        macs_per_pixel=macs_per_pixel(model),
        params=count_params(model),
        pad_multiple=pad_multiple(arch, size, **overrides),
        widths=spec["widths"],
        blocks=spec["blocks"],
        stem=spec["stem"],
    )
