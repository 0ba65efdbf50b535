"""Runtime test fixtures: the committed tiny .tflite models (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def uint8_model() -> Path:
    """Fixed 1x16x16x3 full-int8 residual 2-conv model with uint8 I/O."""
    return DATA / "int8_uint8io_16.tflite"


@pytest.fixture
def int8_model() -> Path:
    """Fixed 1x16x16x3 full-int8 model with int8 I/O and a depthwise conv."""
    return DATA / "int8_int8io_16.tflite"


@pytest.fixture
def dynamic_model() -> Path:
    """float32 residual 2-conv model with input 1x?x?x3."""
    return DATA / "float32_dynamic.tflite"


@pytest.fixture
def not_image_model() -> Path:
    """float32 dense 1x10 -> 1x4: I/O that is not an image."""
    return DATA / "not_image.tflite"


@pytest.fixture
def temporal_model() -> Path:
    """Untrained recurrent temporal model: full int8, uint8 I/O, fixed 32x32, state 1x4x4x8."""
    return DATA / "temporal_int8_32.tflite"


@pytest.fixture
def temporal_dynamic_model() -> Path:
    """The same temporal model in float32 with a dynamic spatial size."""
    return DATA / "temporal_fp32_dynamic.tflite"
