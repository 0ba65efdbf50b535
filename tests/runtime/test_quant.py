"""runtime.quant: pixel <-> tensor conversion from the tensor's own scale and zero point."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import ModelError
from runtime.quant import input_codec, output_codec

PIXELS = np.arange(256, dtype=np.uint8).reshape(16, 16)


def test_uint8_io_with_scale_1_over_255_passes_frames_through_untouched():
    enc = input_codec(np.uint8, 0.003921555820852518, 0)  # what the converter writes
    dec = output_codec(np.uint8, 1 / 255, 0)
    assert enc.identity and dec.identity
    frame = PIXELS.copy()
    assert enc.encode(frame) is frame  # no copy, no float round trip
    assert dec.decode(frame) is frame


def test_int8_codec_round_trips_every_pixel_value():
    enc = input_codec(np.int8, 1 / 255, -128)
    dec = output_codec(np.int8, 1 / 255, -128)
    q = enc.encode(PIXELS)
    assert q.dtype == np.int8 and q.min() == -128 and q.max() == 127
    np.testing.assert_array_equal(dec.decode(q), PIXELS)


def test_int8_with_zero_point_minus_128_is_one_xor_equal_to_the_table():
    # What runtime.cpu_graph makes of a uint8-I/O model: int8, scale 1/255 (float32), zp -128.
    s = float(np.float32(1 / 255))
    enc, dec = input_codec(np.int8, s, -128), output_codec(np.int8, s, -128)
    assert enc.sign_flip and dec.sign_flip and not enc.identity
    frame = np.random.default_rng(0).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    q = enc.encode(frame)
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q, enc.lut[frame])  # the XOR is the table, byte for byte
    np.testing.assert_array_equal(q.astype(int), frame.astype(int) - 128)
    np.testing.assert_array_equal(dec.decode(q), dec.lut[q.view(np.uint8)])
    np.testing.assert_array_equal(dec.decode(q), frame)
    # any other int8 parameters keep the table
    assert not input_codec(np.int8, 2 / 255, -128).sign_flip
    assert not output_codec(np.int8, s, -127).sign_flip
    assert not input_codec(np.uint8, s, 0).sign_flip


def test_coarse_scale_quantizes_from_the_tensor_parameters():
    # scale 2/255, zp 10: pixel p -> round(p/2) + 10, clipped to uint8.
    enc = input_codec(np.uint8, 2 / 255, 10)
    assert not enc.identity
    np.testing.assert_array_equal(
        enc.encode(np.array([0, 1, 3, 254, 255], np.uint8)), [10, 10, 12, 137, 138]
    )
    dec = output_codec(np.uint8, 2 / 255, 10)
    np.testing.assert_array_equal(dec.decode(np.array([10, 12, 137, 0], np.uint8)), [0, 4, 254, 0])


def test_float_io_uses_the_value_range():
    enc = input_codec(np.float32, 0.0, 0, value_range=(-1.0, 1.0))
    x = enc.encode(np.array([0, 255], np.uint8))
    np.testing.assert_allclose(x, [-1.0, 1.0])
    dec = output_codec(np.float32, 0.0, 0, value_range=(-1.0, 1.0))
    np.testing.assert_array_equal(dec.decode(np.array([-2.0, 0.0, 1.0], np.float32)), [0, 128, 255])


def test_unsupported_dtype_or_missing_scale_is_a_model_error():
    with pytest.raises(ModelError, match="uint8, int8 or float32"):
        input_codec(np.int32, 1.0, 0)
    with pytest.raises(ModelError, match="positive scale"):
        output_codec(np.int8, 0.0, 0)
