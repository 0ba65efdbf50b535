"""Count multiply-accumulates per output pixel from a model's layers.

The model is cloned onto a fixed input size so every layer has a concrete output shape; each
Conv2D, DepthwiseConv2D and Dense contributes ``out_h * out_w * kernel_area * in_ch * out_ch /
groups`` (depthwise: ``* multiplier`` instead of ``* out_ch``; Conv2DTranspose: ``in_h * in_w *
kernel_area * in_ch * out_ch``, as runtime.model_file counts TRANSPOSE_CONV). Element-wise
layers (ReLU, Add, up-sampling, pooling) are not counted, as is usual for MAC figures. The
total is divided by the input pixel count, so the figure holds for any frame size of a fully
convolutional model. A second input (the recurrent state of ``temporal``) is probed at the
resolution of the bottom level (``probe`` divided by the product of the convolution strides).
"""

from __future__ import annotations

from edge_deblur._keras import keras


def layer_macs(layer) -> int:
    """MACs of one layer at the concrete output shape it has in its model (0 if none)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        _, h, w, _ = layer.output.shape
        kh, kw = layer.kernel_size
        return int(h * w * kh * kw * layer.input.shape[-1] * layer.depth_multiplier)
    if isinstance(layer, keras.layers.Conv2DTranspose):  # every input pixel writes a KxK patch
        _, h, w, cin = layer.input.shape
        kh, kw = layer.kernel_size
        return int(h * w * kh * kw * cin * layer.filters)
    if isinstance(layer, keras.layers.Conv2D):
        _, h, w, cout = layer.output.shape
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1] // getattr(layer, "groups", 1)
        return int(h * w * kh * kw * cin * cout)
    if isinstance(layer, keras.layers.Dense):
        out = layer.output.shape
        n = 1
        for d in out[1:-1]:
            n *= int(d)
        return int(n * layer.input.shape[-1] * layer.units)
    return 0


def macs_per_pixel(model: keras.Model, probe: int = 64) -> float:
    """MACs per input pixel, counted from the layers at a ``probe`` x ``probe`` input.

    ``probe`` must be a multiple of the model's pad multiple (64 suits every registered size).
    """
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if len(shapes) == 1:
        inp = keras.Input(shape=(probe, probe, shapes[0][-1]), batch_size=1)
    else:
        from edge_deblur.models import infer_pad_multiple

        low = probe // infer_pad_multiple(model)
        inp = [keras.Input(shape=(probe, probe, shapes[0][-1]), batch_size=1)] + [
            keras.Input(shape=(low, low, s[-1]), batch_size=1) for s in shapes[1:]
        ]
    fixed = keras.models.clone_model(model, input_tensors=inp)
    total = sum(layer_macs(layer) for layer in fixed.layers)
    return total / float(probe * probe)
