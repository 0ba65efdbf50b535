"""Private adapter between the benchmarks and the runtime: load a model, describe it, run frames.

Everything the benchmarks need from a ``.tflite`` goes through here so that the rest of the
package never touches an interpreter directly: :func:`describe` (file size, variant, input size,
MACs per frame, op list for the Coral projection) and :func:`load` (a ``runtime.engine.Engine``:
``process``, the last frame's ``invoke_ms`` and ``timings``, ``tile_count``). Files are read with
``runtime.model_file`` and interpreters made by ``runtime.interpreter``, so the benchmark runs
exactly what ``edge-deblur run`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.errors import ModelError, expected

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "pruned-int8", "classical")


@dataclass(frozen=True)
class ModelFacts:
    """What the benchmarks know about a model file before running it."""

    path: str
    name: str
    file_bytes: int
    variant: str
    io_dtype: str
    input_size: tuple[int, int] | None
    pad_multiple: int
    macs_per_invoke: int | None
    macs_per_pixel: float | None
    ops: tuple[tuple[str, int, int], ...] = ()  # (builtin name, MACs, op version; 0 unknown)
    param_bytes: int | None = None
    gzip_bytes: int | None = None
    metadata: dict = field(default_factory=dict, compare=False)

    def macs_per_frame(self, h: int, w: int, tiles: int) -> int | None:
        """MACs to process one ``h x w`` frame: per-invoke MACs x tiles for fixed-size models,
        MACs per pixel x padded frame area for dynamic ones."""
        if self.input_size is not None and self.macs_per_invoke is not None:
            return int(self.macs_per_invoke * tiles)
        if self.macs_per_pixel is not None:
            m = max(1, self.pad_multiple)
            ph, pw = -(-h // m) * m, -(-w // m) * m
            return int(round(self.macs_per_pixel * ph * pw))
        return None


PRUNED_SPARSITY = 0.05  # share of zero weights from which an int8 file counts as pruned


def _variant(meta: dict, in_dtype: str, tensor_dtypes: set[str]) -> str:
    quant = str(meta.get("quant", "")).lower() if meta else ""
    sparsity = float(meta.get("sparsity", 0.0) or 0.0) if meta else 0.0
    if not quant:
        if in_dtype in ("uint8", "int8"):
            quant = "int8"
        elif "float16" in tensor_dtypes:
            quant = "fp16"
        elif "int8" in tensor_dtypes:
            quant = "dynamic"
        else:
            quant = "fp32"
    if quant in ("float32", "float"):
        quant = "fp32"
    if quant in ("float16",):
        quant = "fp16"
    # A few exact-zero weights happen in any trained net (the default's files: 0.0002); pruning
    # leaves a real share of them (the converter's schedules: 25 % or more).
    if sparsity >= PRUNED_SPARSITY and quant == "int8":
        return "pruned-int8"
    return quant if quant in VARIANTS else quant


def resolve(name_or_path: str) -> Path:
    """A model argument as a path (bundled names through ``runtime.zoo``)."""
    from runtime.zoo import resolve_model

    return Path(resolve_model(name_or_path))


def load(path: str | Path, threads: int, device: str = "cpu"):
    """An ``Engine`` for ``threads`` CPU threads (or the Edge TPU): ``process(rgb) -> rgb``,
    ``invoke_ms`` and ``timings`` of the last frame, ``tile_count(h, w)``."""
    from runtime.engine import Engine

    return Engine(Path(path), threads=threads, device=device)


def open_interpreter(path: str | Path, threads: int, device: str = "cpu"):
    """A bare, allocated interpreter made the runtime's way (for the reference net, which is not a
    deblurrer and so cannot go through ``Engine``)."""
    from runtime.interpreter import load_interpreter
    from runtime.model_file import load_bytes

    data = load_bytes(path, name="model")
    return load_interpreter(data, threads=threads, device=device)


def _inspect(path: Path):
    from runtime.model_file import inspect_model

    try:
        return inspect_model(path)
    except ModelError:
        raise
    except Exception:  # an op table it cannot parse must not stop the benchmark: MACs unknown
        return None


def _read_metadata(path: Path) -> dict:
    import warnings

    from runtime.model_file import read_metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged metadata: the tensors still say enough
        return read_metadata(path) or {}


def describe(path: str | Path, device: str = "cpu") -> ModelFacts:
    """Read a model's facts without running it (raises ModelError when it cannot be loaded).

    ``device="edgetpu"`` opens it with the Edge TPU delegate: a compiled ``*_edgetpu.tflite``
    hides its convolutions in one custom op, so its MACs then come from the metadata."""
    p = Path(path)
    meta = _read_metadata(p)  # also checks that the file exists and is a TFLite flatbuffer
    it = open_interpreter(p, 1, device=device)
    inp = it.get_input_details()[0]
    sig = [int(v) for v in inp.get("shape_signature", inp["shape"])]
    if len(sig) != 4 or sig[-1] != 3:
        raise ModelError(
            expected(f"model {str(p)!r}", "one NHWC RGB image input", tuple(sig), "not a deblurrer")
        )
    dynamic = sig[1] <= 0 or sig[2] <= 0
    input_size = None if dynamic else (sig[1], sig[2])
    dtypes = {np.dtype(t["dtype"]).name for t in it.get_tensor_details()}
    in_dtype = np.dtype(inp["dtype"]).name
    info = _inspect(p)
    macs_invoke = None
    ops: tuple[tuple[str, int, int], ...] = ()
    param_bytes = None
    if info is not None:
        param_bytes = info.parameter_bytes
        ops = tuple(
            (str(o.name), int(o.macs), int(o.version)) for o in info.operators if o.subgraph == 0
        )
        if info.static_shapes and not dynamic:
            macs_invoke = info.total_macs
    mpp_counted = None
    if dynamic:  # the flatbuffer holds placeholder shapes: count at a real frame size
        ops_at, mpp_counted = _dynamic_ops(p)
        ops = ops_at or ops
    mpp = meta.get("macs_per_pixel") or mpp_counted
    if mpp is None and macs_invoke and input_size:
        mpp = macs_invoke / (input_size[0] * input_size[1])
    if not macs_invoke and mpp and input_size:  # e.g. compiled for the Edge TPU: ops hidden
        macs_invoke = round(float(mpp) * input_size[0] * input_size[1])
    return ModelFacts(
        path=str(p),
        name=p.stem,
        file_bytes=p.stat().st_size,
        variant=_variant(meta, in_dtype, dtypes),
        io_dtype=in_dtype,
        input_size=input_size,
        pad_multiple=int(meta.get("pad_multiple", 8) or 8),
        macs_per_invoke=int(macs_invoke) if macs_invoke else None,
        macs_per_pixel=float(mpp) if mpp else None,
        ops=ops,
        param_bytes=int(param_bytes) if param_bytes else None,
        gzip_bytes=_gzip_size(p),
        metadata=dict(meta),
    )


def _gzip_size(path: Path) -> int:
    """Size after ``gzip -9``: what pruning saves shows here, not in the file size (zeros are
    still stored), and it is what a download or a firmware image costs."""
    import gzip

    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def _dynamic_ops(
    path: Path, side: int = 256
) -> tuple[tuple[tuple[str, int, int], ...], float | None]:
    """Ops and MACs per pixel of a dynamic-size model, counted from the shapes the interpreter
    allocates for a ``side x side`` frame (the flatbuffer only holds 1x1 placeholder shapes; the
    interpreter does not give op versions: 0, unknown)."""
    from runtime.interpreter import backend
    from runtime.model_file import op_macs

    be = backend()
    if be.op_resolver_type is None:
        return (), None
    try:
        # Without XNNPACK: the delegate would hide the inner tensors' resized shapes.
        it = be.interpreter_cls(
            model_path=str(path),
            num_threads=1,
            experimental_op_resolver_type=be.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        inp = it.get_input_details()[0]
        it.resize_tensor_input(inp["index"], [1, side, side, 3])
        it.allocate_tensors()
        # Some graphs only know their inner shapes after running (shape-dependent resizes).
        it.set_tensor(inp["index"], np.zeros((1, side, side, 3), dtype=inp["dtype"]))
        it.invoke()
        shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in it.get_tensor_details()}
        ops = []
        for op in it._get_ops_details():
            ins = [shapes.get(int(i), ()) for i in op["inputs"] if int(i) >= 0]
            outs = [shapes.get(int(i), ()) for i in op["outputs"] if int(i) >= 0]
            ops.append((str(op["op_name"]), int(op_macs(str(op["op_name"]), ins, outs)), 0))
    except (RuntimeError, ValueError, AttributeError, KeyError):
        return (), None
    total = sum(m for _, m, _ in ops)
    return tuple(ops), (total / (side * side) if total else None)
