"""fp16: weights stored as float16 (half the size), computed in float32 on CPUs without fp16."""

from __future__ import annotations

from converters.modes._common import ModeJob, make_converter, run_converter


def convert(job: ModeJob) -> bytes:
    """Float16 weights, float32 I/O and activations."""
    from edge_deblur._keras import tf

    conv = make_converter(job)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return run_converter(conv, "fp16")
