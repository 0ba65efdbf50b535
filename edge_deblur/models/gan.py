"""``gan``: the PatchGAN discriminator that trains the ``cnn`` generator adversarially.

The generator of ``gan`` is the ``cnn`` generator (DeblurGAN-v2 style: same deployable graph, an
extra adversarial term in training). The discriminator is never deployed, so it may use
LeakyReLU: a 70x70-style PatchGAN (Isola et al.) of stride-2 4x4 convolutions that scores each
patch of a [0, 1] RGB image as real (sharp) or fake (restored). It is conditional on nothing
(scores the image alone), as in DeblurGAN.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_deblur._keras import keras


def build_patchgan(widths: Sequence[int] = (32, 64, 128), name: str = "patchgan") -> keras.Model:
    """A PatchGAN: ``len(widths)`` stride-2 4x4 conv layers, one stride-1 layer, a 1-channel map.

    Output: unbounded scores ``(B, H/2**n, W/2**n, 1)`` (least-squares GAN losses need no sigmoid).
    """
    init = keras.initializers.RandomNormal(stddev=0.02)
    inp = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(inp)
    for i, w in enumerate(widths):
        x = keras.layers.Conv2D(
            int(w), 4, strides=2, padding="same", kernel_initializer=init, name=f"d{i}"
        )(x)
        x = keras.layers.LeakyReLU(0.2, name=f"d{i}_lrelu")(x)
    x = keras.layers.Conv2D(
        int(widths[-1]), 4, padding="same", kernel_initializer=init, name="d_last"
    )(x)
    x = keras.layers.LeakyReLU(0.2, name="d_last_lrelu")(x)
    out = keras.layers.Conv2D(1, 4, padding="same", kernel_initializer=init, name="score")(x)
    return keras.Model(inp, out, name=name)
