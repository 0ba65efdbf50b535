"""Tiny synthetic training data and an int8 export helper for the trainer tests (no shared data)."""

from __future__ import annotations

import numpy as np


def sharp_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` float32 RGB images in [0, 1] with hard-edged rectangles on a flat background."""
    rng = np.random.default_rng(seed)
    imgs = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        img = np.full((size, size, 3), rng.random(3) * 0.5, np.float32)
        for _ in range(4):
            y0, x0 = rng.integers(0, size - 4, 2)
            h, w = rng.integers(3, size // 2, 2)
            img[y0 : y0 + h, x0 : x0 + w] = rng.random(3)
        imgs[i] = img
    return imgs


def box_blur(imgs: np.ndarray, length: int = 5) -> np.ndarray:
    """Horizontal box blur of ``length`` pixels (edge-replicated): a uniform motion blur."""
    pad = length // 2
    p = np.pad(imgs, ((0, 0), (0, 0), (pad, pad), (0, 0)), mode="edge")
    return np.mean([p[:, :, i : i + imgs.shape[2]] for i in range(length)], axis=0)


def toy_dataset(batch: int, patch: int, n: int = 16, seed: int = 0):
    """An infinite ``tf.data`` of (blurred, sharp) float32 batches."""
    from edge_deblur._keras import tf

    sharp = sharp_images(n, patch, seed)
    blur = box_blur(sharp).astype(np.float32)
    return (
        tf.data.Dataset.from_tensor_slices((blur, sharp)).repeat().batch(batch, drop_remainder=True)
    )


def toy_val_set(n: int = 2, size: int = 32, seed: int = 99) -> list[tuple[np.ndarray, np.ndarray]]:
    """uint8 (blurred, sharp) pairs."""
    sharp = sharp_images(n, size, seed)
    blur = box_blur(sharp)
    to8 = lambda x: (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)  # noqa: E731
    return [(to8(b), to8(s)) for b, s in zip(blur, sharp, strict=True)]


def int8_tflite(model, side: int, calib: int = 4, seed: int = 0) -> bytes:
    """``model`` re-traced at batch 1 and ``side`` x ``side``, through TensorFlow's own full-int8
    converter with uint8 I/O (random calibration tiles): what TF emits for the generator, before
    any pass of ``converters``."""
    from edge_deblur._keras import keras, tf

    inp = keras.Input((side, side, 3), batch_size=1)
    fixed = keras.models.clone_model(model, input_tensors=inp)
    fixed.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: (
        [rng.random((1, side, side, 3), dtype=np.float32)] for _ in range(calib)
    )
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    return conv.convert()
