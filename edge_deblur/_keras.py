"""The only module that imports Keras: elsewhere ``from edge_deblur._keras import keras, tf``.

tensorflow-model-optimization 0.8.1 needs Keras 2, so the models are built with ``tf_keras`` and
``TF_USE_LEGACY_KERAS=1`` is set here, before TensorFlow is imported for the first time (importing
this module is what triggers that, never importing ``edge_deblur`` itself).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf"]


def __getattr__(name: str):
    # tfmot is imported on first use: it is slow and only the converters need it.
    if name == "tfmot":
        import tensorflow_model_optimization as tfmot

        return tfmot
    raise AttributeError(name)
