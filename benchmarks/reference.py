"""The machine's achievable int8 throughput, measured on a reference network.

``benchmarks/data/reference_mbv2_int8.tflite`` is a MobileNetV2-style int8 stack with random
weights, built locally by ``benchmarks/scripts/make_reference_model.py`` (nothing downloaded);
its MAC count is in the sidecar ``reference_mbv2_int8.yaml``. It is timed with the same runtime
and thread count as the models under test, and its G MAC/s (MACs over invoke time) is the
denominator of every model's efficiency. The device profiles are calibrated on MobileNet too,
which is what lets :mod:`benchmarks.projection` carry a model's efficiency over to a board.
``reference_mbv2_fp16.tflite`` is the same net computing in float: its speed against the int8 net
is this machine's float-vs-int8 ratio, which differs a lot between x86 and Arm.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmarks import _model
from benchmarks.latency import time_callable
from benchmarks.report import HOST_LABEL, Reference
from runtime.errors import ModelError

REFERENCE_MODEL = Path(__file__).resolve().parent / "data" / "reference_mbv2_int8.tflite"
FLOAT_REFERENCE_MODEL = REFERENCE_MODEL.with_name("reference_mbv2_fp16.tflite")
PRECISIONS = ("int8", "float")


@lru_cache(maxsize=1)
def reference_info() -> dict:
    """The sidecar YAML of the reference model (``macs``, ``input_size``, how it was made)."""
    import yaml

    side = REFERENCE_MODEL.with_suffix(".yaml")
    if not REFERENCE_MODEL.is_file() or not side.is_file():
        raise ModelError(
            f"reference model {str(REFERENCE_MODEL)!r}: expected it and its .yaml in the package, "
            "found them missing; reinstall edge-deblur or run "
            "benchmarks/scripts/make_reference_model.py"
        )
    return yaml.safe_load(side.read_text(encoding="utf-8"))


def measure_reference(
    threads: int,
    *,
    precision: str = "int8",
    device: str = "cpu",
    min_time_s: float = 1.0,
    min_runs: int = 5,
    warmup: int = 2,
    label: str = HOST_LABEL,
) -> Reference:
    """Time the LiteRT invoke of the reference net (``precision`` int8, or its float copy) with
    ``threads`` threads. The net is not an image-to-image model, so it runs on the bare
    interpreter the runtime makes; G MAC/s come from the median invoke time."""
    info = reference_info()
    h, w = info["input_size"]
    macs = int(info["macs"])
    if precision not in PRECISIONS:
        raise ModelError(f"reference precision: expected one of {PRECISIONS}, got {precision!r}")
    path = REFERENCE_MODEL if precision == "int8" else FLOAT_REFERENCE_MODEL
    it = _model.open_interpreter(path, threads=threads, device=device)
    inp = it.get_input_details()[0]
    frame = np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    if np.dtype(inp["dtype"]).kind == "f":  # the float copy takes [0, 1]: content is irrelevant
        frame = frame.astype(np.float32) * np.float32(1.0 / 255.0)
    it.set_tensor(inp["index"], frame.astype(inp["dtype"]))
    stats, _ = time_callable(it.invoke, warmup=warmup, min_time_s=min_time_s, min_runs=min_runs)
    invoke_ms = stats.p50_ms
    return Reference(
        threads=threads,
        macs=macs,
        latency=stats,
        gmacs=macs / (invoke_ms * 1e6),
        label=label,
        precision=precision,
    )
