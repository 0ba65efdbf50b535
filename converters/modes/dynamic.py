"""dynamic: int8 weights, float activations quantized on the fly (no calibration data needed)."""

from __future__ import annotations

from converters.modes._common import ModeJob, make_converter, run_converter


def convert(job: ModeJob) -> bytes:
    """Dynamic-range quantization: ``Optimize.DEFAULT`` without a representative dataset."""
    from edge_deblur._keras import tf

    conv = make_converter(job)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return run_converter(conv, "dynamic")
