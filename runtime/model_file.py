"""Read and edit ``.tflite`` flatbuffers in pure Python: metadata, operators, shapes and MACs.

No interpreter and no TensorFlow: this works on a board with only ``flatbuffers`` installed.

- :func:`read_metadata` reads the ``edge_deblur`` JSON entry (see docs/ARCHITECTURE.md, "TFLite
  metadata") with the raw flatbuffers table API, so it needs nothing but ``flatbuffers``.
- :func:`write_metadata` adds or replaces that entry and :func:`inspect_model` lists operators,
  tensors, quantization and MACs; both use the schema module that ``ai-edge-litert`` ships
  (``ai_edge_litert.schema_py_generated``). Where it is missing (old boards with only
  ``tflite_runtime``) they raise :class:`~runtime.errors.ModelError` saying what to install.
"""

from __future__ import annotations

import json
import os
import struct
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from runtime.errors import InputError, ModelError, expected

METADATA_NAME = "edge_deblur"
_FILE_ID = b"TFL3"
_BUFFER_ALIGN = 16  # the schema's force_align for Buffer.data; kept when repacking

ModelSource = str | os.PathLike | bytes | bytearray | memoryview


# ----------------------------------------------------------------------------- loading


def load_bytes(model: ModelSource, name: str = "model") -> bytes:
    """Return the flatbuffer bytes of ``model`` (a path or the bytes), checked to be TFLite.

    Raises InputError when the path is missing, ModelError when the content is not a TFLite model.
    """
    if isinstance(model, bytes | bytearray | memoryview):
        data = bytes(model)
        label = f"{name} (in-memory bytes)"
    else:
        p = Path(model)
        if not p.is_file():
            raise InputError(
                expected(name, "an existing .tflite file", str(p), "check the path or the name")
            )
        try:
            data = p.read_bytes()
        except OSError as e:
            raise InputError(f"{name} {str(p)!r}: cannot read it ({e.strerror})") from e
        label = f"{name} {str(p)!r}"
    if len(data) < 8 or data[4:8] != _FILE_ID:
        got = f"{data[4:8]!r} in {len(data)} bytes" if len(data) >= 8 else f"{len(data)} bytes"
        raise ModelError(
            f"{label}: expected a TFLite flatbuffer (identifier 'TFL3' at byte 4), "
            f"got {got}; "
            "give a .tflite written by `edge-deblur convert`"
        )
    return data


@lru_cache(maxsize=1)
def _schema() -> ModuleType | None:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        try:  # some tflite_runtime builds ship it too
            from tflite_runtime import schema_py_generated as schema  # type: ignore
        except ImportError:
            return None
    return schema


def _require_schema(what: str) -> ModuleType:
    schema = _schema()
    if schema is None:
        raise ModelError(
            f"{what}: expected the TFLite schema module ai_edge_litert.schema_py_generated, "
            "got none installed; pip install ai-edge-litert"
        )
    return schema


# ----------------------------------------------------------------------------- metadata


def _raw_metadata_entries(data: bytes) -> dict[str, bytes]:
    """``{metadata name: buffer bytes}`` read with the plain flatbuffers table API.

    Field slots of the TFLite schema: Model.buffers = 12, Model.metadata = 16; Metadata.name = 4,
    Metadata.buffer = 6; Buffer.data = 4, Buffer.offset = 6, Buffer.size = 8.
    """
    from flatbuffers import number_types as nt
    from flatbuffers.table import Table

    buf = bytearray(data)
    root = Table(buf, nt.UOffsetTFlags.py_type(int.from_bytes(data[0:4], "little")))

    def vec(tab: Table, slot: int) -> tuple[int, int]:
        o = tab.Offset(slot)
        return (tab.Vector(o), tab.VectorLen(o)) if o else (0, 0)

    def sub(tab: Table, start: int, i: int) -> Table:
        return Table(buf, tab.Indirect(start + 4 * i))

    md_start, md_len = vec(root, 16)
    bf_start, bf_len = vec(root, 12)
    out: dict[str, bytes] = {}
    for i in range(md_len):
        md = sub(root, md_start, i)
        o = md.Offset(4)
        name = md.String(o + md.Pos).decode("utf-8", "replace") if o else ""
        o = md.Offset(6)
        index = md.Get(nt.Uint32Flags, o + md.Pos) if o else 0
        if index >= bf_len:
            continue
        b = sub(root, bf_start, index)
        d_start, d_len = vec(b, 4)
        if d_len:
            out[name] = bytes(buf[d_start : d_start + d_len])
            continue
        o_off, o_size = b.Offset(6), b.Offset(8)
        offset = b.Get(nt.Uint64Flags, o_off + b.Pos) if o_off else 0
        size = b.Get(nt.Uint64Flags, o_size + b.Pos) if o_size else 0
        if offset > 1 and size:  # large models keep buffers after the flatbuffer
            out[name] = bytes(data[offset : offset + size])
    return out


def _warn_metadata(message: str) -> None:
    # One warning site (stacklevel 1): the default filter then shows a message once per
    # process, however many readers open the same damaged model.
    warnings.warn(message, UserWarning, stacklevel=1)


def read_metadata(model: ModelSource, name: str = "model") -> dict[str, Any] | None:
    """The ``edge_deblur`` metadata dict of a ``.tflite`` (path or bytes), or None when absent.

    A present but unreadable entry (not UTF-8 JSON object) gives None with a warning, so a model
    with damaged metadata still runs from what its tensors say. A file cut short (its tables
    point past its end) raises :class:`~runtime.errors.ModelError` naming ``name``.
    """
    data = load_bytes(model, name=name)
    try:
        raw = _raw_metadata_entries(data).get(METADATA_NAME)
    except struct.error as e:
        raise ModelError(
            f"{name}: expected a whole TFLite flatbuffer, got a truncated or damaged one "
            f"({len(data)} bytes; {e}); copy or convert it again"
        ) from e
    except (IndexError, ValueError, UnicodeDecodeError) as e:
        _warn_metadata(f"{name}: cannot read its metadata list ({e}); ignoring it")
        return None
    if raw is None:
        return None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _warn_metadata(f"{name}: metadata {METADATA_NAME!r} is not UTF-8 JSON ({e}); ignoring it")
        return None
    if not isinstance(meta, dict):
        _warn_metadata(f"{name}: metadata {METADATA_NAME!r} is not a JSON object; ignoring it")
        return None
    return meta


def _aligned_buffer_class(schema: ModuleType) -> type:
    class _AlignedBufferT(schema.BufferT):
        """BufferT whose data vector is packed 16-byte aligned (the schema's force_align)."""

        def Pack(self, builder):  # noqa: N802 (flatbuffers naming)
            data_off = None
            if self.data is not None and len(self.data):
                raw = np.ascontiguousarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(raw), _BUFFER_ALIGN)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head : builder.head + len(raw)] = raw
                data_off = builder.EndVector()
            schema.BufferStart(builder)
            if data_off is not None:
                schema.BufferAddData(builder, data_off)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return _AlignedBufferT


def write_metadata(tflite_bytes: bytes, meta: dict[str, Any]) -> bytes:
    """Return ``tflite_bytes`` with ``meta`` stored as the ``edge_deblur`` metadata entry.

    An existing ``edge_deblur`` entry is replaced (its buffer reused); every other entry, buffer and
    operator is kept, buffers stay 16-byte aligned, so the model runs exactly as before.
    """
    if not isinstance(meta, dict):
        raise InputError(expected("metadata", "a dict", type(meta).__name__))
    try:
        payload = json.dumps(meta, sort_keys=True, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InputError(expected("metadata", "JSON-serialisable values", str(e))) from e
    data = load_bytes(tflite_bytes)
    schema = _require_schema("write_metadata")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if any(b.offset > 1 for b in model.buffers or []):
        raise ModelError(
            "write_metadata: expected a model under 2 GB with inline buffers, "
            "got one with external buffers; re-export it without buffer offloading"
        )
    model.metadata = list(model.metadata or [])
    entry = next((m for m in model.metadata if _name(m.name) == METADATA_NAME), None)
    new_buffer = schema.BufferT()  # repack() aligns every buffer
    new_buffer.data = np.frombuffer(payload, dtype=np.uint8)
    if entry is not None and 0 < entry.buffer < len(model.buffers):
        model.buffers[entry.buffer] = new_buffer
    else:
        if entry is None:
            entry = schema.MetadataT()
            entry.name = METADATA_NAME
            model.metadata.append(entry)
        model.buffers.append(new_buffer)
        entry.buffer = len(model.buffers) - 1
    return repack(model, len(data) + len(payload))


def repack(model: Any, size_hint: int = 0) -> bytes:
    """Serialise an unpacked ``schema.ModelT`` back to ``.tflite`` bytes, buffers 16-byte aligned.

    The caller checked that buffers are inline (no offsets); :func:`write_metadata` and the
    converter's graph passes (``converters.simplify``) both end here.
    """
    import flatbuffers

    schema = _require_schema("repack")
    aligned = _aligned_buffer_class(schema)
    buffers = []
    for b in model.buffers or []:
        nb = aligned()
        nb.data, nb.offset, nb.size = b.data, 0, 0
        buffers.append(nb)
    model.buffers = buffers
    builder = flatbuffers.Builder(size_hint + 1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_ID)
    return bytes(builder.Output())


def quant_key(t: Any) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    """``(scales, zero points)`` of an unpacked ``schema.TensorT``, or None when it has none; graph
    passes compare these to tell whether an op copies its input bit for bit."""
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zp = tuple(int(z) for z in (q.zeroPoint if q.zeroPoint is not None else []))
    return tuple(float(s) for s in q.scale), zp


def drop_unused_tensors(model: Any, sg: Any) -> None:
    """Remove the tensors of subgraph ``sg`` (of the unpacked ``model``) that no operator, graph
    input/output or signature refers to, and renumber the rest (for graph passes that drop ops)."""
    used: set[int] = {int(t) for t in list(sg.inputs) + list(sg.outputs)}
    for op in sg.operators:
        for field in (op.inputs, op.outputs, op.intermediates):
            used.update(int(t) for t in (field if field is not None else []) if int(t) >= 0)
    sg_index = model.subgraphs.index(sg)
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == sg_index:
            for tm in list(sig.inputs or []) + list(sig.outputs or []):
                used.add(int(tm.tensorIndex))
    if len(used) == len(sg.tensors):
        return
    keep = sorted(used)
    new = {old: n for n, old in enumerate(keep)}

    def remap(idx):
        if idx is None:
            return idx
        return [new[int(t)] if int(t) >= 0 else int(t) for t in idx]

    sg.tensors = [sg.tensors[i] for i in keep]
    sg.inputs, sg.outputs = remap(sg.inputs), remap(sg.outputs)
    for op in sg.operators:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
        if op.intermediates is not None:
            op.intermediates = remap(op.intermediates)
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == sg_index:
            for tm in list(sig.inputs or []) + list(sig.outputs or []):
                tm.tensorIndex = new[int(tm.tensorIndex)]


def _name(v: str | bytes | None) -> str:
    if v is None:
        return ""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


# ----------------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class QuantInfo:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``.

    ``per_channel`` is true when there is more than one scale (along ``axis``).
    """

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int
    per_channel: bool


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: ``shape`` as allocated, ``shape_signature`` with -1 for dynamic dimensions.

    ``buffer`` is its buffer index (0: none); constant tensors may share a buffer.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    quantization: QuantInfo | None
    is_constant: bool
    nbytes: int
    buffer: int

    @property
    def is_static(self) -> bool:
        return all(d >= 0 for d in self.shape_signature)


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: builtin name (``CONV_2D``) or the custom code, its version, tensors, MACs."""

    index: int
    subgraph: int
    name: str
    version: int
    is_custom: bool
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    macs: int


@dataclass(frozen=True)
class ModelInfo:
    """What a ``.tflite`` holds, read without an interpreter.

    ``total_macs`` sums the MACs of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and
    BATCH_MATMUL over the allocated shapes of subgraph 0 (for a dynamic model these are the
    default shapes, usually 1x1: use ``metadata["macs_per_pixel"]`` there). ``parameter_bytes`` is
    the size of all distinct constant buffers (tensors may share one).
    """

    schema_version: int
    description: str
    size_bytes: int
    operators: tuple[OperatorInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    total_macs: int
    parameter_bytes: int
    static_shapes: bool
    subgraph_count: int
    metadata_names: tuple[str, ...]

    def op_counts(self) -> dict[str, int]:
        """``{operator name: count}`` over all subgraphs."""
        counts: dict[str, int] = {}
        for op in self.operators:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts

    def macs_per_pixel(self) -> float | None:
        """Total MACs divided by the input image's pixels, for a static image model, else None."""
        if not self.static_shapes or not self.inputs or len(self.inputs[0].shape) != 4:
            return None
        _, h, w, _ = self.inputs[0].shape
        return self.total_macs / float(h * w) if h * w else None


_DTYPE_BYTES = {
    "float32": 4,
    "float16": 2,
    "int32": 4,
    "uint8": 1,
    "int64": 8,
    "bool": 1,
    "int16": 2,
    "int8": 1,
    "float64": 8,
    "uint64": 8,
    "uint32": 4,
    "uint16": 2,
    "int4": 1,
}


def op_macs(
    op: str,
    input_shapes: list[tuple[int, ...]],
    output_shapes: list[tuple[int, ...]],
    adj_x: bool = False,
    adj_y: bool = False,
) -> int:
    """Multiply-accumulates of one operator from its tensor shapes (0 for other operators).

    CONV_2D: out elements x KH x KW x filter-Cin (grouped convs have a smaller filter-Cin);
    DEPTHWISE_CONV_2D: out elements x KH x KW; FULLY_CONNECTED: out elements x input depth;
    TRANSPOSE_CONV: input elements x KH x KW x Cout; BATCH_MATMUL: out elements x K.
    """

    def n(shape: tuple[int, ...]) -> int:
        return int(np.prod([max(d, 0) for d in shape], dtype=np.int64)) if shape else 0

    try:
        if op == "CONV_2D":
            w = input_shapes[1]  # [Cout, KH, KW, Cin/groups]
            return n(output_shapes[0]) * w[1] * w[2] * w[3]
        if op == "DEPTHWISE_CONV_2D":
            w = input_shapes[1]  # [1, KH, KW, Cout]
            return n(output_shapes[0]) * w[1] * w[2]
        if op == "FULLY_CONNECTED":
            w = input_shapes[1]  # [units, depth]
            return n(output_shapes[0]) * w[-1]
        if op == "TRANSPOSE_CONV":
            w, x = input_shapes[1], input_shapes[2]  # weights [Cout, KH, KW, Cin], input NHWC
            return n(x) * w[0] * w[1] * w[2]
        if op == "BATCH_MATMUL":
            a = input_shapes[0]
            k = a[-2] if adj_x else a[-1]
            return n(output_shapes[0]) * k
    except (IndexError, TypeError):
        return 0
    return 0


def _tensor_info(schema: ModuleType, model: Any, sg: Any, index: int, names: dict) -> TensorInfo:
    t = sg.tensors[index]
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    sig = tuple(int(d) for d in t.shapeSignature) if t.shapeSignature is not None else shape
    dtype = names["dtype"].get(t.type, str(t.type))
    q = t.quantization
    quant = None
    if q is not None and q.scale is not None and len(q.scale):
        scales = tuple(float(s) for s in q.scale)
        zps = tuple(int(z) for z in (q.zeroPoint if q.zeroPoint is not None else [0] * len(scales)))
        quant = QuantInfo(scales, zps, int(q.quantizedDimension), len(scales) > 1)
    buf = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers or []) else None
    nbytes = len(buf.data) if buf is not None and buf.data is not None else 0
    return TensorInfo(
        index=index,
        name=_name(t.name),
        shape=shape,
        shape_signature=sig,
        dtype=dtype,
        quantization=quant,
        is_constant=nbytes > 0,
        nbytes=nbytes,
        buffer=int(t.buffer),
    )


@lru_cache(maxsize=1)
def _enum_names() -> dict[str, dict[int, str]]:
    schema = _require_schema("inspect_model")

    def names(cls: type) -> dict[int, str]:
        return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}

    return {
        "op": names(schema.BuiltinOperator),
        "dtype": {k: v.lower() for k, v in names(schema.TensorType).items()},
    }


def inspect_model(model: ModelSource, name: str = "model") -> ModelInfo:
    """Describe a ``.tflite`` (path or bytes): operators, tensors, quantization, MACs, sizes."""
    data = load_bytes(model, name=name)
    schema = _require_schema("inspect_model")
    names = _enum_names()
    try:
        m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as e:  # a damaged flatbuffer raises anything from struct/IndexError
        raise ModelError(
            f"{name}: expected a readable TFLite flatbuffer, got a damaged one ({e})"
        ) from e
    ops: list[OperatorInfo] = []
    const_buffers: set[int] = set()
    inputs: tuple[TensorInfo, ...] = ()
    outputs: tuple[TensorInfo, ...] = ()
    static = True
    for si, sg in enumerate(m.subgraphs or []):
        cache: dict[int, TensorInfo] = {}

        def info(i: int, sg=sg, cache=cache) -> TensorInfo:
            if i not in cache:
                cache[i] = _tensor_info(schema, m, sg, i, names)
            return cache[i]

        for t_index, t in enumerate(sg.tensors or []):
            ti = info(t_index)
            static = static and ti.is_static
            if ti.is_constant:
                const_buffers.add(t.buffer)
        if si == 0:
            inputs = tuple(info(int(i)) for i in (sg.inputs if sg.inputs is not None else []))
            outputs = tuple(info(int(i)) for i in (sg.outputs if sg.outputs is not None else []))
        for oi, op in enumerate(sg.operators or []):
            code = m.operatorCodes[op.opcodeIndex]
            builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
            is_custom = builtin == schema.BuiltinOperator.CUSTOM
            name = _name(code.customCode) if is_custom else names["op"].get(builtin, str(builtin))
            ins = tuple(
                info(int(i)) for i in (op.inputs if op.inputs is not None else []) if i >= 0
            )
            outs = tuple(info(int(i)) for i in (op.outputs if op.outputs is not None else []))
            opts = op.builtinOptions
            macs = op_macs(
                name,
                [t.shape for t in ins],
                [t.shape for t in outs],
                adj_x=bool(getattr(opts, "adjX", False)),
                adj_y=bool(getattr(opts, "adjY", False)),
            )
            ops.append(OperatorInfo(oi, si, name, int(code.version), is_custom, ins, outs, macs))
    param_bytes = sum(
        len(m.buffers[b].data) for b in const_buffers if m.buffers[b].data is not None
    )
    return ModelInfo(
        schema_version=int(m.version),
        description=_name(m.description),
        size_bytes=len(data),
        operators=tuple(ops),
        inputs=inputs,
        outputs=outputs,
        total_macs=sum(op.macs for op in ops if op.subgraph == 0),
        parameter_bytes=int(param_bytes),
        static_shapes=static,
        subgraph_count=len(m.subgraphs or []),
        metadata_names=tuple(_name(e.name) for e in (m.metadata or [])),
    )
