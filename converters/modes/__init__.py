"""The conversion modes, one module each, registered in ONE table and dispatched by lookup.

Every mode module defines ``convert(job: ModeJob) -> bytes`` (the ``.tflite`` flatbuffer, without
metadata). :data:`MODES` maps each :class:`~converters.config.QuantMode` to its function; adding
a mode means adding a module and one line here (``tests/converters/test_modes.py`` fails when a
module exists but is not registered).
"""

from __future__ import annotations

from collections.abc import Callable

from converters.config import QuantMode
from converters.modes import dynamic, fp16, fp32, int8
from converters.modes._common import ModeJob

MODES: dict[QuantMode, Callable[[ModeJob], bytes]] = {
    QuantMode.FP32: fp32.convert,
    QuantMode.FP16: fp16.convert,
    QuantMode.DYNAMIC: dynamic.convert,
    QuantMode.INT8: int8.convert,
}


def run_mode(mode: QuantMode, job: ModeJob) -> bytes:
    """Convert ``job`` with the registered function of ``mode``."""
    return MODES[QuantMode(mode)](job)


__all__ = ["MODES", "ModeJob", "run_mode"]
