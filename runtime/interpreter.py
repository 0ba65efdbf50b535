"""Load a LiteRT interpreter: ai-edge-litert, else tflite_runtime, else tf.lite (last resort).

Always passes ``num_threads``; the Edge TPU delegate (``libedgetpu.so.1``) is loaded only when
asked for. If the default XNNPACK delegate refuses a model at ``allocate_tensors()``, the model is
loaded again without default delegates (slower) and a warning says so.
"""

from __future__ import annotations

import ctypes
import enum
import importlib
import platform
import warnings
from dataclasses import dataclass
from typing import Any

from runtime.errors import DeviceError, InputError, ModelError, expected

EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"
_BACKENDS = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


class Device(str, enum.Enum):
    """Where the model runs."""

    CPU = "cpu"
    EDGETPU = "edgetpu"


def edgetpu_library() -> str:
    """The Edge TPU runtime library name for this OS."""
    return {"Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}.get(
        platform.system(), "libedgetpu.so.1"
    )


@dataclass(frozen=True)
class Backend:
    """The interpreter module in use: its import name, ``Interpreter`` and ``load_delegate``."""

    name: str
    interpreter_cls: Any
    load_delegate: Any
    op_resolver_type: Any  # OpResolverType enum, or None where the backend has none


def backend() -> Backend:
    """The first importable interpreter backend; TensorFlow only when neither of the others is."""
    for name in _BACKENDS:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        return Backend(
            name=name,
            interpreter_cls=mod.Interpreter,
            load_delegate=getattr(mod, "load_delegate", None)
            or getattr(getattr(mod, "experimental", None), "load_delegate", None),
            op_resolver_type=getattr(mod, "OpResolverType", None)
            or getattr(getattr(mod, "experimental", None), "OpResolverType", None),
        )
    raise DeviceError(
        "interpreter: expected ai-edge-litert or tflite-runtime installed, got neither; "
        "pip install ai-edge-litert"
    )


def load_interpreter(
    model_content: bytes,
    threads: int = 2,
    device: str | Device = "cpu",
    rewrite: bool = True,
    int8_io: bool = False,
) -> Any:
    """Return an allocated interpreter for the ``.tflite`` bytes ``model_content``.

    ``device="edgetpu"`` loads the Edge TPU delegate and raises DeviceError when its library or the
    accelerator is absent. On CPU, XNNPACK runs with ``threads`` threads, on the graph as
    :func:`runtime.cpu_graph.graph_to_run` rewrites it in memory (bit-exact, more of it
    delegated; ``rewrite=False`` runs the file as it is). ``int8_io=True`` also lets that rewrite
    turn uint8 graph I/O into int8 (for callers that encode through ``runtime.quant`` from the
    interpreter's own tensor details, as ``Engine`` does).
    """
    if not isinstance(threads, int) or threads < 1:
        raise InputError(expected("--threads", "an integer >= 1", threads))
    try:
        dev = Device(str(getattr(device, "value", device)).lower())
    except ValueError:
        raise InputError(
            expected("--device", "one of cpu, edgetpu", device, "use --device cpu")
        ) from None
    be = backend()
    delegates = []
    if dev is Device.EDGETPU:
        lib = edgetpu_library()
        if be.load_delegate is None:
            raise DeviceError(f"--device edgetpu: the {be.name} backend cannot load delegates")
        try:
            # Open the library first: a Delegate whose library is missing fails half-built, and
            # its __del__ then prints an ignored AttributeError after our error.
            ctypes.CDLL(lib)
            delegates.append(be.load_delegate(lib))
        except (ValueError, OSError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DeviceError(
                f"--device edgetpu: expected the Edge TPU runtime {lib} and a connected "
                f"accelerator, got: {first}; install libedgetpu (e.g. feranick/libedgetpu) "
                "and plug in the Coral, or use --device cpu"
            ) from e

    content = model_content
    if rewrite:
        from runtime.cpu_graph import graph_to_run

        content = graph_to_run(bytes(model_content), dev is Device.CPU, int8_io).data

    def make(no_default_delegates: bool, content: bytes = model_content) -> Any:
        kwargs: dict[str, Any] = {"model_content": content, "num_threads": threads}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        if no_default_delegates and be.op_resolver_type is not None:
            kwargs["experimental_op_resolver_type"] = (
                be.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        it = be.interpreter_cls(**kwargs)
        it.allocate_tensors()
        return it

    if content is not model_content:
        try:
            return make(no_default_delegates=False, content=content)
        except (RuntimeError, ValueError):
            pass  # the rewrite is only a speed-up: load the file as it is, with its own errors
    try:
        return make(no_default_delegates=False)
    except (RuntimeError, ValueError) as first:
        if dev is Device.CPU and EDGETPU_CUSTOM_OP in model_content:
            raise ModelError(
                "model: expected a CPU model, got one compiled for the Edge TPU "
                f"({EDGETPU_CUSTOM_OP.decode()}); run it with --device edgetpu, or use the "
                "uncompiled .tflite on the CPU"
            ) from first
        if dev is Device.EDGETPU or be.op_resolver_type is None:
            raise ModelError(
                f"model: the interpreter could not load it ({_short(first)}); "
                "check that it was written by `edge-deblur convert`"
            ) from first
        try:
            it = make(no_default_delegates=True)
        except (RuntimeError, ValueError) as second:
            raise ModelError(
                f"model: the interpreter could not load it ({_short(second)}); "
                "check that it was written by `edge-deblur convert`"
            ) from second
        warnings.warn(
            f"XNNPACK refused the model ({_short(first)}); running without it, which is slower",
            RuntimeWarning,
            stacklevel=2,
        )
        return it


def _short(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__
