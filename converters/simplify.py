"""Drop operators that are exact no-ops in an int8 flatbuffer.

The generators end in ``ReLU(max_value=1)`` so that the float model clips ``image + correction``
to [0, 1]. TensorFlow 2.21 converts that clip to int8 ``MINIMUM(x, 1.0)`` then ``RELU`` behind an
``ADD`` whose output is already quantized to exactly [0, 1] (scale 1/255, zero point -128): int8
saturation in the ADD has done the clip, and the two full-resolution ops copy their input
unchanged. On a 480x640 frame they were a quarter of the default model's int8 time on the 2-core
development host (33.8 -> 25.5 ms without them, outputs identical), which a board pays for nothing.

:func:`drop_noop_ops` removes an operator only when, from the tensors' own quantization, its output
equals its input bit for bit:

- ``RELU`` with input and output of one scale and zero point, and that zero point the lowest value
  of the integer type (the input cannot hold a negative number);
- ``MINIMUM`` / ``MAXIMUM`` with a constant operand that is the type's highest / lowest value
  everywhere, both operands and the output of one scale and zero point (TFLite compares the raw
  integers of these ops without requantizing).

The producer of the removed op's input then writes straight into its output tensor (so graph
outputs and signatures keep their names and indices) and tensors nothing uses any more are
dropped. Pure flatbuffer work: no interpreter, no TensorFlow.

:func:`fold_requantize_relus` goes one step further, and its result is not bit-exact: a ``RELU``
whose input and output both have their zero point at the type's lowest value clamps nothing (its
input cannot hold a negative number) and only rescales. A clipped ``ReLU(max_value)`` after a
convolution (``bound0``, edge_deblur/models/cnn.py) converts that way: the convolution's output
is calibrated to the range it reached, the RELU's to the clip's. Two such RELUs stood outside
XNNPACK and took 22.6 of 28.7 ms of ``cnn-wide-srgb-b2``'s 640x480 frame on the development host
(benchmarks/results/op_profile_wide_unfolded.md; folded: 5.9 ms, op_profile_wide.md). When its
producer is a CONV_2D, DEPTHWISE_CONV_2D or ADD (they requantize a wide accumulator into their
output's scale) and nothing else reads the producer's output, the producer writes the RELU's
output tensor directly: one rounding instead of two, and the clip at the RELU's range instead of
the narrower calibrated one, which is nearer the float model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.model_file import (
    _enum_names,
    _name,
    _require_schema,
    drop_unused_tensors,
    quant_key,
    repack,
)

_INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Simplified:
    """The simplified flatbuffer and one ``{"op", "output"}`` entry per operator removed."""

    data: bytes
    removed: tuple[dict[str, str], ...]


def drop_noop_ops(data: bytes) -> Simplified:
    """Return ``data`` without the operators that provably copy their input (see module doc)."""
    return _remove_ops(data, "drop_noop_ops", _find_noop)


def fold_requantize_relus(data: bytes) -> Simplified:
    """Return ``data`` with every rescale-only RELU folded into its producer (see module doc).

    Not bit-exact: the producer's output is rounded once, in the RELU's scale."""
    return _remove_ops(data, "fold_requantize_relus", _find_rescale_relu)


def _remove_ops(data: bytes, caller: str, find) -> Simplified:
    """Remove, one at a time, each single-input op that ``find(model, sg, op_names, type_names)``
    names as ``(op index, input, output, label)``: the input's producer (and every other reader)
    then uses the op's output tensor, and tensors nothing uses any more are dropped."""
    schema = _require_schema(caller)
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if any(b.offset > 1 for b in model.buffers or []):  # external buffers: leave it alone
        return Simplified(data, ())
    names = _enum_names()  # the schema's enums by value, as inspect_model reads them
    op_names, type_names = names["op"], names["dtype"]
    removed: list[dict[str, str]] = []
    for sg in model.subgraphs or []:
        before = len(removed)
        while (hit := find(model, sg, op_names, type_names)) is not None:
            i, src, dst, label = hit
            sg.operators.pop(i)
            for other in sg.operators:  # the producer and every other reader of src use dst
                other.inputs = _replace(other.inputs, src, dst)
                other.outputs = _replace(other.outputs, src, dst)
            removed.append({"op": label, "output": _name(sg.tensors[dst].name)})
        if len(removed) > before:
            drop_unused_tensors(model, sg)
    if not removed:
        return Simplified(data, ())
    return Simplified(repack(model, len(data)), tuple(removed))


def _kind(model, op, op_names) -> str:
    """The builtin operator name of ``op``."""
    code = model.operatorCodes[op.opcodeIndex]
    return op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")


# Producers that requantize an accumulator into their output's scale, and their fused
# activations that stay right under a new output scale (NONE, RELU: a clamp at the zero point).
_FOLD_INTO = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD")
_FOLD_ACTIVATIONS = (0, 1)


def _find_rescale_relu(model, sg, op_names, type_names) -> tuple[int, int, int, str] | None:
    """``(op index, input, output, label)`` of the first foldable RELU, or None."""
    graph_io = {int(t) for t in list(sg.inputs) + list(sg.outputs)}
    producer = {int(t): op for op in sg.operators for t in op.outputs}
    readers: dict[int, int] = {}
    for op in sg.operators:
        for t in op.inputs if op.inputs is not None else []:
            readers[int(t)] = readers.get(int(t), 0) + 1
    for i, op in enumerate(sg.operators):
        if _kind(model, op, op_names) != "RELU" or len(op.inputs) != 1 or len(op.outputs) != 1:
            continue
        src, out = int(op.inputs[0]), int(op.outputs[0])
        if src in graph_io or readers.get(src) != 1 or src not in producer:
            continue
        prod = producer[src]
        pkind = _kind(model, prod, op_names)
        if pkind not in _FOLD_INTO or len(prod.outputs) != 1:
            continue
        act = getattr(prod.builtinOptions, "fusedActivationFunction", None)
        if act not in _FOLD_ACTIVATIONS:
            continue
        t_in, t_out = sg.tensors[src], sg.tensors[out]
        ttype = type_names.get(t_in.type, "")
        if ttype not in ("int8", "uint8") or t_out.type != t_in.type:
            continue
        if list(t_in.shape) != list(t_out.shape):
            continue
        q_in, q_out = _quant(t_in), _quant(t_out)
        lo = _INT_RANGE[ttype][0]
        if q_in is None or q_out is None or q_in[1] != (lo,) or q_out[1] != (lo,):
            continue
        return i, src, out, f"RELU (rescale, folded into {pkind})"
    return None


def _replace(idx: Any, src: int, dst: int) -> list[int]:
    return [dst if int(t) == src else int(t) for t in (idx if idx is not None else [])]


def _find_noop(model, sg, op_names, type_names) -> tuple[int, int, int, str] | None:
    """``(op index, input tensor, output tensor, op name)`` of the first removable op, or None."""
    graph_io = {int(t) for t in list(sg.inputs) + list(sg.outputs)}
    produced = {int(t) for op in sg.operators for t in op.outputs}
    for i, op in enumerate(sg.operators):
        kind = _kind(model, op, op_names)
        if kind not in ("RELU", "MINIMUM", "MAXIMUM") or len(op.outputs) != 1:
            continue
        out = int(op.outputs[0])
        if kind == "RELU":
            if len(op.inputs) != 1:
                continue
            src, const, values = int(op.inputs[0]), None, None
        else:
            ins = [int(t) for t in op.inputs]
            if len(ins) != 2:
                continue
            consts = {t: v for t in ins if (v := _constant(model, sg, t, type_names)) is not None}
            if len(consts) != 1:
                continue
            ((const, values),) = consts.items()
            src = ins[1 - ins.index(const)]
        # src must be written by an op we can redirect, and must not be a graph input/output.
        if src in graph_io or src not in produced:
            continue
        t_in, t_out = sg.tensors[src], sg.tensors[out]
        ttype = type_names.get(t_in.type, "")
        if ttype not in _INT_RANGE or t_out.type != t_in.type:
            continue
        if list(t_in.shape) != list(t_out.shape):
            continue
        q_in, q_out = _quant(t_in), _quant(t_out)
        if q_in is None or q_in != q_out:
            continue
        lo, hi = _INT_RANGE[ttype]
        if kind == "RELU":
            if q_in[1] != (lo,):
                continue
        else:
            if _quant(sg.tensors[const]) != q_in:
                continue
            bound = hi if kind == "MINIMUM" else lo
            if values.size == 0 or not np.all(values == bound):
                continue
        return i, src, out, kind
    return None


def _quant(t) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    """The per-tensor (one scale, one zero point) quantization of ``t``, else None."""
    key = quant_key(t)
    return key if key is not None and len(key[0]) == len(key[1]) == 1 else None


_NP_TYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16}


def _constant(model, sg, index: int, type_names: dict[int, str]) -> np.ndarray | None:
    """The values of a constant integer tensor, or None when it is not one."""
    t = sg.tensors[index]
    buf = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
    if buf is None or buf.data is None or len(buf.data) == 0:
        return None
    dt = _NP_TYPES.get(type_names.get(t.type, ""))
    if dt is None:
        return None
    return np.frombuffer(np.asarray(buf.data, dtype=np.uint8).tobytes(), dtype=dt)
