"""Write the tiny ``.tflite`` fixtures the runtime tests use, so those tests need no TensorFlow.

Run from the repository root: ``.venv/bin/python tests/data/make_tflite_fixtures.py [--force]``.
Each model is a few KB; the weights are seeded so a rerun gives the same behaviour (the bytes may
differ across TensorFlow versions). The fixtures:

- ``int8_uint8io_16.tflite``: full int8, uint8 I/O, fixed 1x16x16x3, a residual 2-conv net
  (conv 3x3 3->8 ReLU, conv 3x3 8->3, add the input, clip to [0, 1]): the shape of a deployed
  deblur model.
- ``int8_int8io_16.tflite``: full int8, int8 I/O, fixed 1x16x16x3, conv 3x3 3->8 ReLU,
  depthwise 3x3, conv 1x1 8->3, add the input, clip: exercises DEPTHWISE_CONV_2D and int8 I/O.
- ``float32_dynamic.tflite``: float32, input 1x?x?x3 (dynamic spatial size), residual 2-conv.
- ``not_image.tflite``: float32 dense 1x10 -> 1x4, a model whose I/O is not an image.
- ``int8_uint8io_64_w16.tflite``: full int8, uint8 I/O, fixed 1x64x64x3, residual 3-conv net of
  width 16 (3168 MAC/pixel, the small-board budget of docs): the stream benchmark's model.
- ``temporal_int8_32.tflite`` / ``temporal_fp32_dynamic.tflite``: an untrained recurrent
  ``temporal`` generator (registry, widths 4-8-8-8) through ``converters.convert``: inputs image
  + state (1/8 resolution, 8 channels), outputs image + next state, with the ``temporal``
  metadata; full int8 with uint8 I/O at 32x32, and float32 with a dynamic size.

Existing files are kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def _residual_two_conv(keras, size, depthwise: bool = False):
    inp = keras.Input(shape=(size, size, 3), batch_size=1, name="image")
    init = keras.initializers.RandomNormal(stddev=0.1, seed=1)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init)(inp)
    if depthwise:
        y = keras.layers.DepthwiseConv2D(3, padding="same", depthwise_initializer=init)(y)
        y = keras.layers.Conv2D(3, 1, padding="same", kernel_initializer=init)(y)
    else:
        y = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=init)(y)
    y = keras.layers.Add()([inp, y])
    out = keras.layers.ReLU(max_value=1.0, name="deblurred")(y)
    return keras.Model(inp, out)


def _int8(tf, model, size: int, io_dtype) -> bytes:
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(16):
            yield [rng.random((1, size, size, 3), dtype=np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = io_dtype
    conv.inference_output_type = io_dtype
    return conv.convert()


def build_all() -> dict[str, bytes]:
    """Return ``{file name: tflite bytes}`` for every fixture."""
    from edge_deblur._keras import keras, tf

    keras.utils.set_random_seed(1)
    out = {}
    out["int8_uint8io_16.tflite"] = _int8(tf, _residual_two_conv(keras, 16), 16, tf.uint8)
    out["int8_int8io_16.tflite"] = _int8(tf, _residual_two_conv(keras, 16, True), 16, tf.int8)

    inp = keras.Input(shape=(None, None, 3), batch_size=1, name="image")
    init = keras.initializers.RandomNormal(stddev=0.1, seed=2)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init)(inp)
    y = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=init)(y)
    y = keras.layers.ReLU(max_value=1.0)(keras.layers.Add()([inp, y]))
    out["float32_dynamic.tflite"] = tf.lite.TFLiteConverter.from_keras_model(
        keras.Model(inp, y)
    ).convert()

    inp = keras.Input(shape=(64, 64, 3), batch_size=1, name="image")
    init3 = keras.initializers.RandomNormal(stddev=0.05, seed=3)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init3)(inp)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init3)(y)
    y = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=init3)(y)
    y = keras.layers.ReLU(max_value=1.0)(keras.layers.Add()([inp, y]))
    out["int8_uint8io_64_w16.tflite"] = _int8(tf, keras.Model(inp, y), 64, tf.uint8)

    inp = keras.Input(shape=(10,), batch_size=1, name="features")
    dense = keras.layers.Dense(4, kernel_initializer=init)(inp)
    out["not_image.tflite"] = tf.lite.TFLiteConverter.from_keras_model(
        keras.Model(inp, dense)
    ).convert()
    return out


def build_temporal() -> dict[str, bytes]:
    """The two temporal fixtures, converted by the project's own converter."""
    import tempfile

    import cv2

    from converters.config import ConvertConfig
    from converters.convert import convert
    from edge_deblur._keras import keras
    from edge_deblur.models import build_generator

    keras.utils.set_random_seed(4)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(4):
            small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            sharp = cv2.resize(small, (56, 40), interpolation=cv2.INTER_CUBIC)
            for sub, img in (("sharp", sharp), ("blur", cv2.GaussianBlur(sharp, (5, 5), 1.2))):
                (root / "pairs" / sub).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / "pairs" / sub / f"f{i}.png"), img)
        model = build_generator("temporal", "tiny", widths=(4, 8, 8, 8), blocks=(0, 1, 0, 1))
        model.save(root / "t.keras")
        for name, cfg in (
            ("temporal_int8_32.tflite", ConvertConfig(quant="int8", input_size=(32, 32))),
            ("temporal_fp32_dynamic.tflite", ConvertConfig(quant="fp32")),
        ):
            cfg = ConvertConfig(
                **{**cfg.__dict__, "pairs": str(root / "pairs"), "calib_tiles": 16, "val_tiles": 2}
            )
            convert(root / "t.keras", root / name, cfg)
            out[name] = (root / name).read_bytes()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite existing fixtures")
    args = parser.parse_args()
    from runtime.io import atomic_write

    for name, data in {**build_all(), **build_temporal()}.items():
        if (HERE / name).exists() and not args.force:
            print(f"{name}: kept (exists; --force rewrites it)")
            continue
        atomic_write(HERE / name, data, force=args.force)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
