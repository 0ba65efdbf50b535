"""int8: full-integer model (per-channel int8 weights, int8 activations, integer I/O).

This is what the Edge TPU and the fast XNNPACK int8 path on a Raspberry Pi need. Calibration
comes from ``job.representative`` (real image tiles); after conversion every tensor between the
input and the output is checked to be integer, so a silent float fallback cannot ship.
"""

from __future__ import annotations

from converters.config import IODtype
from converters.modes._common import ModeJob, make_converter, run_converter
from runtime.errors import ConversionError, expected


def convert(job: ModeJob) -> bytes:
    """Full-integer quantization with ``TFLITE_BUILTINS_INT8`` only and ``job.io`` I/O."""
    from edge_deblur._keras import tf

    if job.representative is None:
        raise ConversionError(
            expected("--quant int8", "calibration tiles", None, "give --data DIR or --pairs DIR")
        )
    if any(d is None for d in job.input_shape):
        raise ConversionError(
            expected("--quant int8", "a fixed input size", job.input_shape, "give --input-size HxW")
        )
    conv = make_converter(job)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = job.representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io = {IODtype.UINT8: tf.uint8, IODtype.INT8: tf.int8, IODtype.FLOAT32: tf.float32}[job.io]
    conv.inference_input_type = io
    conv.inference_output_type = io
    if not job.per_channel:
        # The converter's only switch for per-tensor weight scales (TF 2.21); checked below.
        conv._experimental_disable_per_channel = True
    data = run_converter(conv, "int8")
    float_tensors = float_tensors_inside(data)
    if float_tensors:
        raise ConversionError(
            f"--quant int8: expected every tensor between input and output to be integer, got "
            f"float tensors {float_tensors[:5]}; a layer has no int8 kernel (replace it with "
            "Conv2D/DepthwiseConv2D/ReLU/Add/Concatenate/UpSampling2D)"
        )
    if not job.per_channel:
        per_channel = per_channel_weights(data)
        if per_channel:
            raise ConversionError(
                f"--weights per-tensor: expected one scale per weight tensor, got per-channel "
                f"scales on {per_channel[:5]}; this TensorFlow version ignores the switch"
            )
    return data


def per_channel_weights(data: bytes) -> list[str]:
    """Names of constant tensors (weights, biases) quantized with more than one scale."""
    from runtime.model_file import inspect_model

    info = inspect_model(data)
    names = []
    for op in info.operators:
        for t in op.inputs:
            q = t.quantization
            if t.is_constant and q is not None and q.per_channel and t.name not in names:
                names.append(t.name)
    return names


def float_tensors_inside(data: bytes) -> list[str]:
    """Names of float tensors any operator reads or writes, other than the model's own I/O."""
    from runtime.model_file import inspect_model

    info = inspect_model(data)
    io_idx = {t.index for t in info.inputs + info.outputs}
    names = []
    for op in info.operators:
        for t in op.inputs + op.outputs:
            if t.index not in io_idx and t.dtype.startswith("float") and t.name not in names:
                names.append(t.name)
    return names
