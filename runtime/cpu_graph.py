"""Exact graph rewrites applied when a model runs on the CPU (XNNPACK), never to the file.

The generators up-sample their decoder features with ``UpSampling2D(nearest)``, which TFLite
stores as ``RESIZE_NEAREST_NEIGHBOR``. The XNNPACK delegate does not take that op, so on the CPU
it runs in the builtin kernel and splits the graph into several delegate partitions. A 2x nearest
up-sampling is the same copy as ``DEPTH_TO_SPACE(2)`` of the input ``CONCATENATION``-ed four
times along the channels (output pixel ``(2y+i, 2x+j)`` takes channel block ``2i+j``, which holds
the input pixel ``(y, x)``), and XNNPACK takes both of those. :func:`nearest_to_depth_to_space`
does that replacement; every value is copied, none computed, so the output is bit-exact.

The file on disk keeps ``RESIZE_NEAREST_NEIGHBOR``: the Edge TPU compiler maps it, and it cannot
even load a model with ``DEPTH_TO_SPACE`` ("Didn't find op for builtin opcode 'DEPTH_TO_SPACE'",
google-coral/edgetpu issue 386). So :func:`runtime.interpreter.load_interpreter` applies the
rewrite in memory, for the CPU only, to models without an Edge TPU custom op
(:func:`graph_to_run`).

Measured on the 2-core development host, median invoke (``benchmarks/scripts/cpu_graph.py``,
``benchmarks/results/cpu_graph.md``): the default int8 model at 480x640 23.97 -> 22.82 ms (5 %),
cnn-tiny int8 at 256x256 6.33 -> 5.24 ms (17 %), cnn-lite int8 7.94 -> 6.80 ms (14 %).
Pure flatbuffer work: no interpreter, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from runtime.interpreter import EDGETPU_CUSTOM_OP
from runtime.model_file import (
    _enum_names,
    _name,
    _schema,
    drop_unused_tensors,
    quant_key,
    repack,
)

# Version of each op the rewrite adds, by tensor type (TFLite's op versioning: int8 kernels are v2).
_VERSIONS = {
    "CONCATENATION": {"float32": 1, "uint8": 1, "int8": 2},
    "DEPTH_TO_SPACE": {"float32": 1, "uint8": 1, "int8": 2},
}


@dataclass(frozen=True)
class Rewritten:
    """The model bytes to run and the names of the output tensors whose op was replaced."""

    data: bytes
    replaced: tuple[str, ...]


@lru_cache(maxsize=8)
def graph_to_run(data: bytes, on_cpu: bool) -> Rewritten:
    """The graph the runtime gives the interpreter for the model bytes ``data``: on the CPU the
    rewrite (models compiled for the Edge TPU excepted), elsewhere the file as it is. Cached, so
    that the interpreter and ``Engine.cpu_rewrites`` share one parse."""
    if not on_cpu or EDGETPU_CUSTOM_OP in data:
        return Rewritten(data, ())
    return nearest_to_depth_to_space(data)


def nearest_to_depth_to_space(data: bytes) -> Rewritten:
    """``data`` with every exact-2x ``RESIZE_NEAREST_NEIGHBOR`` replaced (see the module doc).

    An op is replaced only when its input is a static 4-D tensor ``[N, H, W, C]`` of float32,
    int8 or uint8, its output is ``[N, 2H, 2W, C]`` of the same type and quantization, and
    ``align_corners`` is off (``half_pixel_centers`` picks the same pixels at exactly 2x). Models
    this cannot parse or rewrite come back unchanged.
    """
    schema = _schema()
    if schema is None or not data:
        return Rewritten(data, ())
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception:  # noqa: BLE001 (not a flatbuffer we can edit: run it as it is)
        return Rewritten(data, ())
    if any(b.offset > 1 for b in model.buffers or []):  # external buffers: leave it alone
        return Rewritten(data, ())
    names = _enum_names()
    op_names, type_names = names["op"], names["dtype"]
    codes = {v: k for k, v in op_names.items()}
    replaced: list[str] = []
    for sg in model.subgraphs or []:
        ops = []
        touched = False
        for op in sg.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            kind = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
            new = None
            if kind == "RESIZE_NEAREST_NEIGHBOR":
                new = _replacement(schema, model, sg, op, type_names, codes)
            if new is None:
                ops.append(op)
                continue
            ops.extend(new)
            touched = True
            replaced.append(_name(sg.tensors[int(op.outputs[0])].name))
        sg.operators = ops
        if touched:
            drop_unused_tensors(model, sg)  # the resize's size constant
    if not replaced:
        return Rewritten(data, ())
    return Rewritten(repack(model, len(data) + 1024), tuple(replaced))


def _replacement(schema, model, sg, op, type_names, codes) -> list | None:
    """``[CONCATENATION, DEPTH_TO_SPACE]`` operators equal to the resize ``op``, or None."""
    if op.inputs is None or len(op.inputs) < 1 or op.outputs is None or len(op.outputs) != 1:
        return None
    opts = op.builtinOptions
    if opts is not None and getattr(opts, "alignCorners", False):
        return None
    src, dst = int(op.inputs[0]), int(op.outputs[0])
    t_in, t_out = sg.tensors[src], sg.tensors[dst]
    ttype = type_names.get(t_in.type, "")
    if ttype not in _VERSIONS["CONCATENATION"] or t_out.type != t_in.type:
        return None
    shape_in = [int(d) for d in (t_in.shape if t_in.shape is not None else [])]
    shape_out = [int(d) for d in (t_out.shape if t_out.shape is not None else [])]
    for t, shape in ((t_in, shape_in), (t_out, shape_out)):
        sig = t.shapeSignature
        if len(shape) != 4 or min(shape) < 1 or (sig is not None and min(int(d) for d in sig) < 0):
            return None
    n, h, w, c = shape_in
    if shape_out != [n, 2 * h, 2 * w, c]:
        return None
    if quant_key(t_in) != quant_key(t_out):
        return None

    tiled = schema.TensorT()
    tiled.shape = [n, h, w, 4 * c]
    tiled.type = t_in.type
    tiled.name = f"{_name(t_in.name)}/tiled_x4"
    if t_in.quantization is not None:
        q = schema.QuantizationParametersT()
        q.scale = list(t_in.quantization.scale or [])
        q.zeroPoint = list(t_in.quantization.zeroPoint or [])
        tiled.quantization = q
    model.buffers.append(schema.BufferT())  # an empty buffer: an activation
    tiled.buffer = len(model.buffers) - 1
    sg.tensors.append(tiled)
    tiled_index = len(sg.tensors) - 1

    cat = schema.OperatorT()
    cat.opcodeIndex = _opcode(
        schema, model, codes["CONCATENATION"], _VERSIONS["CONCATENATION"][ttype]
    )
    cat.inputs, cat.outputs = [src] * 4, [tiled_index]
    cat.builtinOptionsType = schema.BuiltinOptions.ConcatenationOptions
    cat.builtinOptions = schema.ConcatenationOptionsT()
    cat.builtinOptions.axis = 3
    d2s = schema.OperatorT()
    d2s.opcodeIndex = _opcode(
        schema, model, codes["DEPTH_TO_SPACE"], _VERSIONS["DEPTH_TO_SPACE"][ttype]
    )
    d2s.inputs, d2s.outputs = [tiled_index], [dst]
    d2s.builtinOptionsType = schema.BuiltinOptions.DepthToSpaceOptions
    d2s.builtinOptions = schema.DepthToSpaceOptionsT()
    d2s.builtinOptions.blockSize = 2
    return [cat, d2s]


def _opcode(schema, model, builtin: int, version: int) -> int:
    """Index of the operator code ``builtin`` at ``version``, added when the model has none."""
    for i, c in enumerate(model.operatorCodes or []):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin and c.version == version:
            return i
    oc = schema.OperatorCodeT()
    oc.builtinCode = builtin
    oc.deprecatedBuiltinCode = min(builtin, 127)
    oc.version = version
    model.operatorCodes = list(model.operatorCodes or []) + [oc]
    return len(model.operatorCodes) - 1
