"""Quantize frames into a model's input and dequantize its output: the only place this happens.

Everything comes from the tensor's own ``(scale, zero_point)`` and the value range the model was
trained on (metadata ``normalization.range``, default [0, 1]). Frames are uint8, so both directions
are 256-entry lookup tables built once per tensor; when the table is the identity (uint8 I/O with
scale 1/255 and zero point 0) frames pass straight through without any copy or float round trip,
and when it only flips each byte's top bit (int8 I/O with scale 1/255 and zero point -128, what
``runtime.cpu_graph`` makes of a uint8-I/O model on the CPU) one XOR does it, a small fraction of
the cost of a NumPy table lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.errors import ModelError

_INT_RANGES = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127)}


@dataclass(frozen=True)
class Codec:
    """Converts uint8 pixels to one tensor's dtype (``encode``) or back (``decode``)."""

    dtype: np.dtype
    scale: float
    zero_point: int
    value_range: tuple[float, float]
    lut: np.ndarray | None  # 256 entries: pixel -> tensor value (input) / tensor value -> pixel
    identity: bool
    sign_flip: bool = False  # the table is byte ^ 0x80 (uint8 pixels <-> int8 with zp -128)

    def encode(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 pixels -> tensor values (same shape)."""
        if self.identity:
            return rgb
        if self.sign_flip:
            return np.bitwise_xor(rgb, np.uint8(0x80)).view(np.int8)
        if self.lut is not None:
            return self.lut[rgb]
        lo, hi = self.value_range
        return (rgb.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)).astype(
            self.dtype, copy=False
        )

    def decode(self, values: np.ndarray) -> np.ndarray:
        """Tensor values -> uint8 pixels (rounded, clipped)."""
        if self.identity:
            return values
        if self.sign_flip:
            return np.bitwise_xor(values.view(np.uint8), np.uint8(0x80))
        if self.lut is not None:
            idx = values.view(np.uint8) if values.dtype == np.int8 else values
            return self.lut[idx]
        lo, hi = self.value_range
        x = (values.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _check(dtype: np.dtype, scale: float, name: str) -> None:
    if dtype not in _INT_RANGES and dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ModelError(
            f"model {name}: expected uint8, int8 or float32 image tensors, got {dtype}; "
            "convert with --io-dtype uint8"
        )
    if dtype in _INT_RANGES and not scale > 0:
        raise ModelError(
            f"model {name}: expected a quantized tensor with a positive scale, got scale {scale}; "
            "re-convert the model with full-integer quantization"
        )


def input_codec(
    dtype: np.dtype | type,
    scale: float,
    zero_point: int,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Codec:
    """Codec for a model input: pixel p -> real lo + p/255*(hi-lo) -> round(real/scale) + zp."""
    dt = np.dtype(dtype)
    _check(dt, scale, "input")
    lo, hi = (float(v) for v in value_range)
    if dt not in _INT_RANGES:
        return Codec(dt, scale, zero_point, (lo, hi), None, False)
    qmin, qmax = _INT_RANGES[dt]
    real = lo + np.arange(256, dtype=np.float64) / 255.0 * (hi - lo)
    lut = np.clip(np.round(real / scale) + zero_point, qmin, qmax).astype(dt)
    identity = dt == np.uint8 and np.array_equal(lut, np.arange(256))
    return Codec(dt, scale, zero_point, (lo, hi), lut, identity, _flips(dt, lut.view(np.uint8)))


def output_codec(
    dtype: np.dtype | type,
    scale: float,
    zero_point: int,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Codec:
    """Codec for a model output: q -> real scale*(q-zp) -> pixel round((real-lo)/(hi-lo)*255)."""
    dt = np.dtype(dtype)
    _check(dt, scale, "output")
    lo, hi = (float(v) for v in value_range)
    if dt not in _INT_RANGES:
        return Codec(dt, scale, zero_point, (lo, hi), None, False)
    # Index the table by the raw byte: int8 values are viewed as uint8 before lookup.
    raw = np.arange(256, dtype=np.uint8).view(dt).astype(np.float64)
    real = scale * (raw - zero_point)
    lut = np.clip(np.round((real - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    identity = dt == np.uint8 and np.array_equal(lut, np.arange(256))
    return Codec(dt, scale, zero_point, (lo, hi), lut, identity, _flips(dt, lut))


def _flips(dt: np.dtype, table: np.ndarray) -> bool:
    """True when an int8 tensor's 256-entry table (as raw bytes) is ``byte ^ 0x80``."""
    return dt == np.int8 and np.array_equal(table, np.arange(256, dtype=np.uint8) ^ 0x80)


def codecs_for(
    input_detail: dict, output_detail: dict, value_range: tuple[float, float] = (0.0, 1.0)
) -> tuple[Codec, Codec]:
    """Input and output codecs from interpreter tensor details (``get_input_details()[i]``)."""
    si, zi = input_detail.get("quantization", (0.0, 0))
    so, zo = output_detail.get("quantization", (0.0, 0))
    return (
        input_codec(input_detail["dtype"], float(si), int(zi), value_range),
        output_codec(output_detail["dtype"], float(so), int(zo), value_range),
    )


def _qparams(detail: dict) -> tuple[np.dtype, float, int]:
    scale, zero = detail.get("quantization", (0.0, 0))
    return np.dtype(detail["dtype"]), float(scale), int(zero)


def zero_tensor(detail: dict, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A tensor of real value 0 in ``detail``'s dtype (its zero point when quantized)."""
    dt, scale, zero = _qparams(detail)
    shape = tuple(int(d) for d in (shape if shape is not None else detail["shape"]))
    value = zero if dt in _INT_RANGES and scale > 0 else 0
    return np.full(shape, value, dtype=dt)


def requantizer(src_detail: dict, dst_detail: dict):
    """``values of src -> values of dst`` with the same real meaning (a recurrent state fed from
    one tensor to another): identity when both share dtype, scale and zero point, else
    dequantize with ``src``'s parameters and quantize with ``dst``'s (rounded, saturated)."""
    sdt, ss, sz = _qparams(src_detail)
    ddt, ds, dz = _qparams(dst_detail)
    s_int, d_int = sdt in _INT_RANGES and ss > 0, ddt in _INT_RANGES and ds > 0
    if sdt == ddt and (not s_int or (ss == ds and sz == dz)):
        return lambda v: v
    if s_int:  # 256 possible values: one lookup table
        raw = np.arange(256, dtype=np.uint8).view(sdt).astype(np.float64)
        real = ss * (raw - sz)
        if d_int:
            qmin, qmax = _INT_RANGES[ddt]
            lut = np.clip(np.round(real / ds) + dz, qmin, qmax).astype(ddt)
        else:
            lut = real.astype(ddt)

        def by_table(v: np.ndarray) -> np.ndarray:
            return lut[v.view(np.uint8)]

        return by_table

    def by_math(v: np.ndarray) -> np.ndarray:  # a float source
        real = v.astype(np.float32)
        if d_int:
            qmin, qmax = _INT_RANGES[ddt]
            return np.clip(np.round(real / ds) + dz, qmin, qmax).astype(ddt)
        return real.astype(ddt)

    return by_math
