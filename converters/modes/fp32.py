"""fp32: a plain float TFLite model, the reference every other mode is compared with."""

from __future__ import annotations

from converters.modes._common import ModeJob, make_converter, run_converter


def convert(job: ModeJob) -> bytes:
    """Float32 weights and activations; no optimisation."""
    return run_converter(make_converter(job), "fp32")
