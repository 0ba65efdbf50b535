"""Private adapter between the benchmarks and the runtime: load a model, describe it, run frames.

Everything the benchmarks need from a ``.tflite`` goes through here so that the rest of the
package never touches an interpreter directly: :func:`describe` (file size, variant, input size,
MACs per frame, op list for the Coral projection) and :func:`load` (a runner with ``process``,
the last frame's invoke time and the tile count). It uses ``runtime.engine.Engine`` and
``runtime.model_file`` when they are installed, and a minimal LiteRT interpreter path otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.errors import DeviceError, InputError, ModelError, expected

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "pruned-int8", "classical", "reference")


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
    ops: tuple[tuple[str, int], ...] = ()
    param_bytes: int | None = None
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
    if sparsity > 0.0 and quant == "int8":
        return "pruned-int8"
    return quant if quant in VARIANTS else quant


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the board fallback
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore
        except ImportError as e:
            raise ModelError(
                "LiteRT: expected ai-edge-litert or tflite-runtime installed, found neither; "
                "pip install ai-edge-litert"
            ) from e
    return Interpreter


def open_interpreter(path: str | Path, threads: int, device: str = "cpu"):
    """A bare, allocated LiteRT interpreter (for the reference net, which is not a deblurrer),
    from ``runtime.interpreter`` when present so the CPU/Edge TPU setup is the runtime's own."""
    p = Path(path)
    _check_file(p)
    try:
        from runtime.interpreter import load_interpreter
    except ImportError:
        if device != "cpu":
            raise DeviceError(
                expected("--device", "cpu (no Edge TPU interpreter in this runtime)", device)
            ) from None
        return _open_interpreter(p, threads)
    return load_interpreter(p.read_bytes(), threads=threads, device=device)


def _open_interpreter(path: Path, threads: int):
    Interpreter = _interpreter_class()
    try:
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
        return it
    except (ValueError, RuntimeError) as first:
        try:  # XNNPACK can refuse some models at allocate time: retry without it.
            from ai_edge_litert.interpreter import OpResolverType

            it = Interpreter(
                model_path=str(path),
                num_threads=threads,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            it.allocate_tensors()
            return it
        except Exception:
            raise ModelError(
                f"model {str(path)!r}: LiteRT cannot load it ({' '.join(str(first).split())[:200]})"
            ) from first


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(
            expected("MODEL", "an existing .tflite file or bundled model name", str(path))
        )
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise ModelError(
            f"model {str(path)!r}: expected a TFLite flatbuffer (identifier TFL3), "
            "got something else; pass a .tflite written by `edge-deblur convert`"
        )


def resolve(name_or_path: str) -> Path:
    """A model argument as a path: bundled names through ``runtime.zoo`` when it exists."""
    try:
        from runtime.zoo import resolve_model
    except ImportError:
        return Path(name_or_path)
    return Path(resolve_model(name_or_path))


def _inspect(path: Path):
    try:
        from runtime.model_file import inspect_model
    except ImportError:
        return None
    try:
        return inspect_model(path)
    except ModelError:
        raise
    except Exception:  # an inspector that cannot parse a model must not stop the benchmark
        return None


def _read_metadata(path: Path) -> dict:
    try:
        from runtime.model_file import read_metadata
    except ImportError:
        return {}
    try:
        return read_metadata(path) or {}
    except Exception:
        return {}


def describe(path: str | Path) -> ModelFacts:
    """Read a model's facts without running it (raises ModelError when it cannot be loaded)."""
    p = Path(path)
    _check_file(p)
    meta = _read_metadata(p)
    it = _open_interpreter(p, 1)
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
    ops: tuple[tuple[str, int], ...] = ()
    param_bytes = None
    if info is not None:
        param_bytes = info.parameter_bytes
        ops = tuple((str(o.name), int(o.macs)) for o in info.operators if o.subgraph == 0)
        if info.static_shapes and not dynamic:
            macs_invoke = info.total_macs
    mpp_counted = None
    if dynamic:  # the flatbuffer holds placeholder shapes: count at a real frame size
        ops_at, mpp_counted = _dynamic_ops(p)
        ops = ops_at or ops
    mpp = meta.get("macs_per_pixel") or mpp_counted
    if mpp is None and macs_invoke and input_size:
        mpp = macs_invoke / (input_size[0] * input_size[1])
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
        metadata=dict(meta),
    )


def _dynamic_ops(path: Path, side: int = 256) -> tuple[tuple[tuple[str, int], ...], float | None]:
    """Ops and MACs per pixel of a dynamic-size model, counted from the shapes the interpreter
    allocates for a ``side x side`` frame (the flatbuffer only holds 1x1 placeholder shapes)."""
    try:
        from runtime.model_file import op_macs
    except ImportError:
        return (), None
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        # Without XNNPACK: the delegate would hide the inner tensors' resized shapes.
        it = Interpreter(
            model_path=str(path),
            num_threads=1,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        inp = it.get_input_details()[0]
        it.resize_tensor_input(inp["index"], [1, side, side, 3])
        it.allocate_tensors()
        shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in it.get_tensor_details()}
        ops = []
        for op in it._get_ops_details():
            ins = [shapes.get(int(i), ()) for i in op["inputs"] if int(i) >= 0]
            outs = [shapes.get(int(i), ()) for i in op["outputs"] if int(i) >= 0]
            ops.append((str(op["op_name"]), int(op_macs(str(op["op_name"]), ins, outs))))
    except (ImportError, RuntimeError, ValueError, AttributeError, KeyError):
        return (), None
    total = sum(m for _, m in ops)
    return tuple(ops), (total / (side * side) if total else None)


class _InterpreterRunner:
    """Minimal stand-in for ``runtime.engine.Engine`` (used only when the runtime lacks it):
    non-overlapping tiles for fixed-size models, a resized input for dynamic ones."""

    def __init__(self, path: Path, threads: int) -> None:
        self._it = _open_interpreter(path, threads)
        self._in = self._it.get_input_details()[0]
        self._out = self._it.get_output_details()[0]
        sig = [int(v) for v in self._in.get("shape_signature", self._in["shape"])]
        self.input_size = None if sig[1] <= 0 or sig[2] <= 0 else (sig[1], sig[2])
        self.invoke_ms = 0.0
        self._shape: tuple[int, int] | None = self.input_size

    def tile_count(self, h: int, w: int) -> int:
        if self.input_size is None:
            return 1
        th, tw = self.input_size
        return (-(-h // th)) * (-(-w // tw))

    def _quant(self, x01: np.ndarray, det: dict) -> np.ndarray:
        dt = np.dtype(det["dtype"])
        if dt.kind == "f":
            return x01.astype(dt)
        scale, zero = det["quantization"]
        q = np.round(x01 / scale + zero)
        info = np.iinfo(dt)
        return np.clip(q, info.min, info.max).astype(dt)

    def _dequant(self, y: np.ndarray, det: dict) -> np.ndarray:
        if y.dtype.kind == "f":
            return y.astype(np.float32)
        scale, zero = det["quantization"]
        return (y.astype(np.float32) - zero) * scale

    def _run(self, x01: np.ndarray) -> np.ndarray:
        h, w = x01.shape[:2]
        if self.input_size is None and self._shape != (h, w):
            self._it.resize_tensor_input(self._in["index"], [1, h, w, 3])
            self._it.allocate_tensors()
            self._in = self._it.get_input_details()[0]
            self._out = self._it.get_output_details()[0]
            self._shape = (h, w)
        self._it.set_tensor(self._in["index"], self._quant(x01[None], self._in))
        t0 = time.perf_counter_ns()
        self._it.invoke()
        self.invoke_ms += (time.perf_counter_ns() - t0) / 1e6
        return self._dequant(self._it.get_tensor(self._out["index"])[0], self._out)

    def process(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        self.invoke_ms = 0.0
        if self.input_size is None:
            m = 8
            ph, pw = -(-h // m) * m, -(-w // m) * m
            xp = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect")
            y = self._run(xp)[:h, :w]
        else:
            th, tw = self.input_size
            ph, pw = -(-h // th) * th, -(-w // tw) * tw
            xp = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)), mode="symmetric")
            y = np.empty_like(xp)
            for i in range(0, ph, th):
                for j in range(0, pw, tw):
                    y[i : i + th, j : j + tw] = self._run(xp[i : i + th, j : j + tw])
            y = y[:h, :w]
        return (np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def load(path: str | Path, threads: int, device: str = "cpu"):
    """Open a model for ``threads`` CPU threads (or the Edge TPU). Returns a runner with
    ``process(rgb_uint8) -> rgb_uint8``, ``invoke_ms`` (last frame) and ``tile_count(h, w)``."""
    p = Path(path)
    try:
        from runtime.engine import Engine
    except ImportError:
        Engine = None
    if Engine is not None:
        return Engine(p, threads=threads, device=device)
    if device != "cpu":
        raise DeviceError(
            expected("--device", "cpu (this runtime has no Edge TPU engine)", device, "use cpu")
        )
    return _InterpreterRunner(p, threads)
