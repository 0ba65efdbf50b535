"""Build the reference int8 network that measures a machine's achievable int8 GMAC/s.

Why: a model's latency alone does not say whether it is slow because it does a lot of work or
because its ops run badly on the runtime. ``benchmarks.reference`` times this network with the
same runtime as the models under test; a model's efficiency is its GMAC/s over this one's.

What: a MobileNetV2-style stack (stem conv, inverted residual blocks with expansion 6, ReLU6,
depthwise 3x3, linear bottleneck, residual adds) at 224x224 with random weights, reduced width so
the committed file stays under 1 MB, converted to full int8 with uint8 input and output. Nothing
is downloaded. The MAC count (multiply-accumulates of every Conv2D and DepthwiseConv2D, counted
from the Keras layers) goes into a sidecar YAML beside the .tflite. A float copy of the same net
(float16-stored weights, float I/O: ``reference_mbv2_fp16.tflite``) gives the machine's
float-vs-int8 speed ratio, which the projection needs for float models.

Run (needs the train extra, i.e. TensorFlow):
    .venv/bin/python benchmarks/scripts/make_reference_model.py [--out PATH] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.io import atomic_write, check_output  # noqa: E402

# (expansion, output channels, repeats, first stride): MobileNetV2's table at width 0.5,
# without the 1280-channel head and classifier (they hold most of the weights, few of the MACs).
BLOCKS = (
    (1, 8, 1, 1),
    (6, 16, 2, 2),
    (6, 16, 3, 2),
    (6, 32, 4, 2),
    (6, 48, 3, 1),
    (6, 80, 3, 2),
    (6, 160, 1, 1),
)
STEM = 16
SIZE = 224
SEED = 1234


def _count_macs(model) -> int:
    """Multiply-accumulates of every conv layer of a built Keras model (batch 1)."""
    from edge_deblur._keras import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw * layer.input.shape[-1]
    return int(total)


def build():
    """The Keras reference stack with seeded random weights."""
    from edge_deblur._keras import keras

    keras.utils.set_random_seed(SEED)
    L = keras.layers
    x_in = keras.Input((SIZE, SIZE, 3), batch_size=1)
    x = L.Conv2D(STEM, 3, strides=2, padding="same")(x_in)
    x = L.ReLU(6.0)(x)
    c_in = STEM
    for t, c, n, s in BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            y = x
            if t != 1:
                y = L.Conv2D(c_in * t, 1, padding="same")(y)
                y = L.ReLU(6.0)(y)
            y = L.DepthwiseConv2D(3, strides=stride, padding="same")(y)
            y = L.ReLU(6.0)(y)
            y = L.Conv2D(c, 1, padding="same")(y)
            x = L.Add()([x, y]) if stride == 1 and c_in == c else y
            c_in = c
    return keras.Model(x_in, x, name="reference_mbv2_int8")


def convert_float(model) -> bytes:
    """The same net with float16-stored weights and float I/O: it computes in floating point on
    the CPU, so its speed against the int8 net is this machine's float-vs-int8 ratio."""
    from edge_deblur._keras import tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def convert(model) -> bytes:
    """Full-integer conversion with uint8 I/O, calibrated on random images."""
    from edge_deblur._keras import tf

    rng = np.random.default_rng(SEED)

    def rep():
        for _ in range(16):
            yield [rng.random((1, SIZE, SIZE, 3), dtype=np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.uint8
    return conv.convert()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/data/reference_mbv2_int8.tflite")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    sidecar = args.out.with_suffix(".yaml")
    float_out = args.out.with_name(args.out.name.replace("int8", "fp16"))
    if float_out == args.out:
        float_out = args.out.with_name(args.out.stem + "_fp16.tflite")
    for p in (args.out, sidecar, float_out):
        check_output(p, args.force)

    import yaml

    model = build()
    macs = _count_macs(model)
    blob = convert(model)
    atomic_write(args.out, blob, force=args.force)
    float_blob = convert_float(model)
    atomic_write(float_out, float_blob, force=args.force)
    info = {
        "name": "reference_mbv2_int8",
        "description": "MobileNetV2-style int8 stack, width 0.5, no head, random weights",
        "input_size": [SIZE, SIZE],
        "io_dtype": "uint8",
        "macs": macs,
        "params": int(model.count_params()),
        "blocks": [list(b) for b in BLOCKS],
        "stem": STEM,
        "seed": SEED,
        "float_model": float_out.name,
        "made_by": "benchmarks/scripts/make_reference_model.py",
    }
    atomic_write(sidecar, yaml.safe_dump(info, sort_keys=False), force=args.force)
    print(f"{args.out}: {len(blob) / 1024:.0f} KiB, {macs / 1e6:.1f} M MAC")
    print(f"{float_out}: {len(float_blob) / 1024:.0f} KiB (float16 weights, float compute)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
