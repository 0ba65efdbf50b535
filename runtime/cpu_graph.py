"""Exact graph rewrites applied when a model runs on the CPU (XNNPACK), never to the file.

Three rewrites, each bit-exact (the same output bytes; checked by the tests on the bundled models):

* **Nearest up-sampling.** The generators up-sample their decoder features with
  ``UpSampling2D(nearest)``, which TFLite stores as ``RESIZE_NEAREST_NEIGHBOR``. The XNNPACK
  delegate does not take that op, so on the CPU it runs in the builtin kernel and splits the graph
  into several delegate partitions. A 2x nearest up-sampling is the same copy as
  ``DEPTH_TO_SPACE(2)`` of the input ``CONCATENATION``-ed four times along the channels (output
  pixel ``(2y+i, 2x+j)`` takes channel block ``2i+j``, which holds the input pixel ``(y, x)``),
  and XNNPACK takes both of those (:func:`nearest_to_depth_to_space`).
* **Block-writing transposed convolution.** The stem-2 models write their correction with a 2x2
  stride-2 ``TRANSPOSE_CONV``: each half-resolution pixel writes its own 2x2 block, with no
  overlap. That is a 1x1 ``CONV_2D`` with 4x the output channels (channel ``(2i+j)*O + o`` holds
  block position ``(i, j)`` of output channel ``o``, same weights and per-channel scales, bias
  repeated) followed by ``DEPTH_TO_SPACE(2)``; the integer sums and requantization are the same
  (:func:`transpose_conv_to_depth_to_space`). The builtin int8 TRANSPOSE_CONV kernel took 1.6 to
  2.1 ms of the default model's 6.6 ms at 640x480 on the development host; the 1x1 conv and the
  depth-to-space take about 0.3 ms (``benchmarks/results/op_profile_file.md``, ``op_profile.md``).
* **uint8 graph I/O** (only for callers that encode frames through ``runtime.quant`` from the
  interpreter's own tensor details, i.e. ``Engine``: ``graph_to_run(..., int8_io=True)``). The
  converter gives the Edge TPU models uint8 I/O, so the file starts and ends with a QUANTIZE
  between uint8 (zero point 0) and int8 (zero point -128) at the same scale: a flip of each
  byte's top bit, which the x86 builtin kernel did in 0.3 to 0.6 ms per end at 640x480.
  :func:`uint8_io_to_int8` drops both, and ``runtime.quant`` does the flip with one XOR.

The file on disk keeps ``RESIZE_NEAREST_NEIGHBOR``, ``TRANSPOSE_CONV`` and its uint8 I/O: the Edge
TPU compiler maps them, and it cannot even load a model with ``DEPTH_TO_SPACE`` ("Didn't find op
for builtin opcode 'DEPTH_TO_SPACE'", google-coral/edgetpu issue 386). So
:func:`runtime.interpreter.load_interpreter` applies the rewrites in memory, for the CPU only, to
models without an Edge TPU custom op (:func:`graph_to_run`).

Measured on the development hosts, median invoke (``benchmarks/scripts/cpu_graph.py``,
``benchmarks/results/cpu_graph.md`` has the current figures for every bundled model). How much a
Pi gains depends on how its builtin kernels compare with XNNPACK there; no board was measured.
Pure flatbuffer work: no interpreter, no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

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
    "CONV_2D": {"float32": 1, "int8": 3},  # int8 v3: per-channel weights
}


@dataclass(frozen=True)
class Rewritten:
    """The model bytes to run and the names of the output tensors whose op was replaced."""

    data: bytes
    replaced: tuple[str, ...]


@lru_cache(maxsize=8)
def graph_to_run(data: bytes, on_cpu: bool, int8_io: bool = False) -> Rewritten:
    """The graph the runtime gives the interpreter for the model bytes ``data``: on the CPU the
    rewrites (models compiled for the Edge TPU excepted), elsewhere the file as it is.
    ``int8_io`` also drops the uint8<->int8 QUANTIZE ops at the graph's ends
    (:func:`uint8_io_to_int8`): only for callers that feed and read the tensors through
    ``runtime.quant`` (the ``Engine``). Cached, so that the interpreter and
    ``Engine.cpu_rewrites`` share one parse."""
    if not on_cpu or EDGETPU_CUSTOM_OP in data:
        return Rewritten(data, ())
    steps = [nearest_to_depth_to_space, transpose_conv_to_depth_to_space]
    if int8_io:
        steps.append(uint8_io_to_int8)
    out, replaced = data, ()
    for step in steps:
        done = step(out)
        out, replaced = done.data, replaced + done.replaced
    return Rewritten(out, replaced)


def nearest_to_depth_to_space(data: bytes) -> Rewritten:
    """``data`` with every exact-2x ``RESIZE_NEAREST_NEIGHBOR`` replaced (see the module doc).

    An op is replaced only when its input is a static 4-D tensor ``[N, H, W, C]`` of float32,
    int8 or uint8, its output is ``[N, 2H, 2W, C]`` of the same type and quantization, and
    ``align_corners`` is off (``half_pixel_centers`` picks the same pixels at exactly 2x). Models
    this cannot parse or rewrite come back unchanged.
    """
    return _rewrite_ops(data, "RESIZE_NEAREST_NEIGHBOR", _replacement)


def transpose_conv_to_depth_to_space(data: bytes) -> Rewritten:
    """``data`` with every block-writing ``TRANSPOSE_CONV`` replaced (see the module doc).

    An op is replaced only when its kernel is ``k x k`` with stride ``k`` (each input pixel writes
    its own ``k x k`` block, no overlap), its weights and bias are constants in the file, its input
    and output are static 4-D tensors of float32, int8 or uint8 with output ``[N, kH, kW, O]``, and
    its weights are per-tensor or per-output-channel quantized. Models this cannot parse or
    rewrite come back unchanged.
    """
    return _rewrite_ops(data, "TRANSPOSE_CONV", _tconv_replacement)


def uint8_io_to_int8(data: bytes) -> Rewritten:
    """``data`` without the QUANTIZE ops that only move a uint8 graph input to int8 (or an int8
    result to a uint8 graph output): same scale, zero points 128 apart, i.e. the top bit of each
    byte flipped. The graph's input and output become those int8 tensors; the caller must then
    feed and read int8 (``runtime.quant`` does that flip with one XOR, see the module doc).
    Only single-image models (one input, one output) are touched: a recurrent model's state
    tensors keep the types its runner and checkpoints know."""
    schema = _schema()
    model = _parse(schema, data)
    if model is None:
        return Rewritten(data, ())
    names = _enum_names()
    op_names, type_names = names["op"], names["dtype"]
    replaced: list[str] = []
    for sg_index, sg in enumerate(model.subgraphs or []):
        if sg_index > 0 or len(sg.inputs) != 1 or len(sg.outputs) != 1:
            break  # the deblurrers have one subgraph, one input, one output
        drop: set[int] = set()
        for pos, op in enumerate(sg.operators or []):
            code = model.operatorCodes[op.opcodeIndex]
            if op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "") != "QUANTIZE":
                continue
            src, dst = int(op.inputs[0]), int(op.outputs[0])
            t_src, t_dst = sg.tensors[src], sg.tensors[dst]
            kinds = (type_names.get(t_src.type, ""), type_names.get(t_dst.type, ""))
            if not _sign_flip(t_src, t_dst):
                continue
            graph_in, graph_out = [int(i) for i in sg.inputs], [int(i) for i in sg.outputs]
            if kinds == ("uint8", "int8") and src in graph_in and _uses(sg, src) == 1:
                _move_io(model, sg, sg_index, src, dst, "inputs")
            elif kinds == ("int8", "uint8") and dst in graph_out and src not in graph_out:
                _move_io(model, sg, sg_index, dst, src, "outputs")
            else:
                continue
            drop.add(pos)
            replaced.append(_name(t_dst.name))
        if drop:
            sg.operators = [op for i, op in enumerate(sg.operators) if i not in drop]
            drop_unused_tensors(model, sg)
    if not replaced:
        return Rewritten(data, ())
    return Rewritten(repack(model, len(data) + 1024), tuple(replaced))


def _parse(schema, data: bytes):
    """The unpacked model, or None when it is not one these rewrites can edit."""
    if schema is None or not data:
        return None
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception:  # noqa: BLE001 (not a flatbuffer we can edit: run it as it is)
        return None
    if any(b.offset > 1 for b in model.buffers or []):  # external buffers: leave it alone
        return None
    return model


def _rewrite_ops(data: bytes, kind_to_replace: str, replacement) -> Rewritten:
    """Replace each op of ``kind_to_replace`` for which ``replacement(...)`` gives a list of ops."""
    schema = _schema()
    model = _parse(schema, data)
    if model is None:
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
            if kind == kind_to_replace:
                new = replacement(schema, model, sg, op, type_names, codes)
            if new is None:
                ops.append(op)
                continue
            ops.extend(new)
            touched = True
            replaced.append(_name(sg.tensors[int(op.outputs[0])].name))
        sg.operators = ops
        if touched:
            drop_unused_tensors(model, sg)  # the replaced ops' constants
    if not replaced:
        return Rewritten(data, ())
    return Rewritten(repack(model, len(data) + 1024), tuple(replaced))


def _static_shape(t) -> list[int] | None:
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    sig = t.shapeSignature
    if len(shape) != 4 or min(shape) < 1 or (sig is not None and min(int(d) for d in sig) < 0):
        return None
    return shape


def _activation_like(schema, model, sg, like, shape: list[int], name: str) -> int:
    """Append an activation tensor of ``like``'s type and quantization; return its index."""
    t = schema.TensorT()
    t.shape, t.type, t.name = list(shape), like.type, name
    if like.quantization is not None:
        q = schema.QuantizationParametersT()
        q.scale = list(like.quantization.scale or [])
        q.zeroPoint = list(like.quantization.zeroPoint or [])
        t.quantization = q
    model.buffers.append(schema.BufferT())  # an empty buffer: an activation
    t.buffer = len(model.buffers) - 1
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _constant(model, t, dtype) -> np.ndarray | None:
    """The constant data of tensor ``t`` as ``dtype``, or None when it has none in the file."""
    if t.buffer is None or not 0 < t.buffer < len(model.buffers):
        return None
    raw = model.buffers[t.buffer].data
    if raw is None or len(raw) == 0:
        return None
    arr = np.frombuffer(bytes(np.asarray(raw, dtype=np.uint8)), dtype=dtype)
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    return arr.reshape(shape) if int(np.prod(shape)) == arr.size else None


def _tconv_replacement(schema, model, sg, op, type_names, codes) -> list | None:
    """``[CONV_2D 1x1, DEPTH_TO_SPACE]`` equal to the block-writing transposed convolution."""
    ins = [int(i) for i in (op.inputs if op.inputs is not None else [])]
    if len(ins) < 3 or op.outputs is None or len(op.outputs) != 1:
        return None
    opts = op.builtinOptions
    if opts is None:
        return None
    w_i, x_i, b_i = ins[1], ins[2], (ins[3] if len(ins) > 3 else -1)
    t_w, t_x, t_out = sg.tensors[w_i], sg.tensors[x_i], sg.tensors[int(op.outputs[0])]
    ttype = type_names.get(t_x.type, "")
    wtype = type_names.get(t_w.type, "")
    if ttype not in _VERSIONS["CONV_2D"] or t_out.type != t_x.type:
        return None
    if wtype != ("float32" if ttype == "float32" else "int8"):
        return None
    w = _constant(model, t_w, np.float32 if wtype == "float32" else np.int8)
    if w is None or w.ndim != 4:
        return None
    o_ch, kh, kw, k_in = w.shape
    if kh != kw or kh < 2 or opts.strideH != kh or opts.strideW != kw:
        return None
    shape_in, shape_out = _static_shape(t_x), _static_shape(t_out)
    if shape_in is None or shape_out is None:
        return None
    n, h, wd, c = shape_in
    if c != k_in or shape_out != [n, h * kh, wd * kw, o_ch]:
        return None
    wq = t_w.quantization
    w_scales = list(wq.scale) if wq is not None and wq.scale is not None else []
    if wtype == "int8" and (
        len(w_scales) not in (1, o_ch) or (len(w_scales) > 1 and wq.quantizedDimension != 0)
    ):
        return None
    if t_out.quantization is not None and len(t_out.quantization.scale or []) > 1:
        return None
    blocks = kh * kw
    # conv output channel (i * k + j) * O + o holds block position (i, j) of output channel o:
    # DEPTH_TO_SPACE(k) puts channel (i * k + j) * O + o of pixel (y, x) at (k y + i, k x + j, o)
    filt = np.ascontiguousarray(w.transpose(1, 2, 0, 3).reshape(blocks * o_ch, 1, 1, k_in))
    f_t = schema.TensorT()
    f_t.shape, f_t.type, f_t.name = list(filt.shape), t_w.type, f"{_name(t_w.name)}/as_conv_1x1"
    if wq is not None and w_scales:
        q = schema.QuantizationParametersT()
        per_channel = len(w_scales) > 1
        q.scale = w_scales * blocks if per_channel else w_scales
        zps = list(wq.zeroPoint if wq.zeroPoint is not None else [0] * len(w_scales))
        q.zeroPoint = zps * blocks if per_channel else zps
        q.quantizedDimension = 0
        f_t.quantization = q
    f_idx = _const_tensor(schema, model, sg, f_t, filt)
    conv_ins = [x_i, f_idx]
    if b_i >= 0:
        t_b = sg.tensors[b_i]
        bdtype = {"float32": np.float32, "int32": np.int32, "int64": np.int64}.get(
            type_names.get(t_b.type, "")
        )
        bias = _constant(model, t_b, bdtype) if bdtype is not None else None
        if bias is None or bias.shape != (o_ch,):
            return None
        b_t = schema.TensorT()
        b_t.shape, b_t.type, b_t.name = [blocks * o_ch], t_b.type, f"{_name(t_b.name)}/as_conv_1x1"
        bq = t_b.quantization
        if bq is not None and bq.scale is not None and len(bq.scale):
            q = schema.QuantizationParametersT()
            per_channel = len(bq.scale) > 1
            q.scale = list(bq.scale) * (blocks if per_channel else 1)
            zps = list(bq.zeroPoint if bq.zeroPoint is not None else [0] * len(bq.scale))
            q.zeroPoint = zps * (blocks if per_channel else 1)
            q.quantizedDimension = 0
            b_t.quantization = q
        conv_ins.append(_const_tensor(schema, model, sg, b_t, np.tile(bias, blocks)))
    mid = _activation_like(
        schema, model, sg, t_out, [n, h, wd, blocks * o_ch], f"{_name(t_out.name)}/blocks"
    )
    conv = schema.OperatorT()
    conv.opcodeIndex = _opcode(schema, model, codes["CONV_2D"], _VERSIONS["CONV_2D"][ttype])
    conv.inputs, conv.outputs = conv_ins, [mid]
    conv.builtinOptionsType = schema.BuiltinOptions.Conv2DOptions
    co = schema.Conv2DOptionsT()
    co.padding = schema.Padding.VALID
    co.strideH = co.strideW = co.dilationHFactor = co.dilationWFactor = 1
    co.fusedActivationFunction = int(getattr(opts, "fusedActivationFunction", 0) or 0)
    conv.builtinOptions = co
    d2s = schema.OperatorT()
    d2s.opcodeIndex = _opcode(
        schema, model, codes["DEPTH_TO_SPACE"], _VERSIONS["DEPTH_TO_SPACE"][ttype]
    )
    d2s.inputs, d2s.outputs = [mid], [int(op.outputs[0])]
    d2s.builtinOptionsType = schema.BuiltinOptions.DepthToSpaceOptions
    d2s.builtinOptions = schema.DepthToSpaceOptionsT()
    d2s.builtinOptions.blockSize = kh
    return [conv, d2s]


def _const_tensor(schema, model, sg, t, values: np.ndarray) -> int:
    buf = schema.BufferT()
    buf.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
    model.buffers.append(buf)
    t.buffer = len(model.buffers) - 1
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _sign_flip(src, dst) -> bool:
    """True when quantizing ``src`` into ``dst`` only flips each byte's top bit."""
    a, b = quant_key(src), quant_key(dst)
    if a is None or b is None or len(a[0]) != 1 or len(b[0]) != 1 or a[0] != b[0]:
        return False
    return len(a[1]) == 1 and len(b[1]) == 1 and abs(a[1][0] - b[1][0]) == 128


def _uses(sg, tensor: int) -> int:
    return sum(int(i) == tensor for op in sg.operators for i in _ints(op.inputs))


def _ints(values) -> list[int]:
    return [int(v) for v in (values if values is not None else [])]


def _move_io(model, sg, sg_index: int, old: int, new: int, which: str) -> None:
    """Make tensor ``new`` the graph input/output that ``old`` was (name and signature too)."""
    t_old, t_new = sg.tensors[old], sg.tensors[new]
    setattr(sg, which, [new if int(i) == old else int(i) for i in getattr(sg, which)])
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == sg_index:
            for tm in getattr(sig, which) or []:
                if int(tm.tensorIndex) == old:
                    tm.tensorIndex = new
    t_new.name = t_old.name
    if t_old.shapeSignature is not None:
        t_new.shapeSignature = list(t_old.shapeSignature)


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
    shape_in, shape_out = _static_shape(t_in), _static_shape(t_out)
    if shape_in is None or shape_out is None:
        return None
    n, h, w, c = shape_in
    if shape_out != [n, 2 * h, 2 * w, c]:
        return None
    if quant_key(t_in) != quant_key(t_out):
        return None

    tiled_index = _activation_like(
        schema, model, sg, t_in, [n, h, w, 4 * c], f"{_name(t_in.name)}/tiled_x4"
    )

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
