"""``edge-deblur inspect``: what a ``.tflite`` holds, read from the flatbuffer (no TensorFlow).

Metadata, inputs/outputs, the operator table and Edge TPU readiness, as a dict
(:func:`inspect_tflite`) and as text (:func:`render_inspect`).
"""

from __future__ import annotations

import os
from typing import Any

from converters.edgetpu import analyze
from converters.report import edgetpu_markdown, gzip_size, integer_only, op_table
from runtime.model_file import inspect_model, load_bytes, read_metadata


def _tensor(t: Any) -> dict[str, Any]:
    q = t.quantization
    return {
        "name": t.name,
        "shape": list(t.shape_signature),
        "dtype": t.dtype,
        "scale": q.scales[0] if q and not q.per_channel else None,
        "zero_point": q.zero_points[0] if q and not q.per_channel else None,
    }


def inspect_tflite(path: str | os.PathLike) -> dict[str, Any]:
    """Everything ``inspect`` shows, as a JSON-ready dict."""
    data = load_bytes(path, name="MODEL")
    info = inspect_model(data, name=f"MODEL {str(path)!r}")
    return {
        "path": str(path),
        "size_bytes": len(data),
        "gzip_bytes": gzip_size(data),
        "metadata": read_metadata(data, name=f"MODEL {str(path)!r}"),
        "inputs": [_tensor(t) for t in info.inputs],
        "outputs": [_tensor(t) for t in info.outputs],
        "integer_only": integer_only(info),
        "parameter_bytes": info.parameter_bytes,
        "total_macs": info.total_macs,
        "macs_per_pixel": info.macs_per_pixel(),
        "ops": op_table(info),
        "edgetpu": analyze(info).to_dict(),
    }


def render_inspect(r: dict[str, Any]) -> str:
    """Plain-text/Markdown view of :func:`inspect_tflite`'s dict."""
    lines = [f"{r['path']}: {r['size_bytes'] / 1024:.1f} KiB (gzip {r['gzip_bytes'] / 1024:.1f})"]
    meta = r["metadata"]
    if meta:
        lines += ["", "metadata:"] + [f"  {k}: {v}" for k, v in meta.items()]
    else:
        lines += ["", "metadata: none (not written by edge-deblur convert)"]
    for kind in ("inputs", "outputs"):
        for t in r[kind]:
            q = f", scale {t['scale']:.6g} zero {t['zero_point']}" if t["scale"] else ""
            lines.append(f"{kind[:-1]}: {t['shape']} {t['dtype']}{q}")
    lines.append(
        f"integer-only inside: {'yes' if r['integer_only'] else 'no'}; "
        f"parameters {r['parameter_bytes'] / 1024:.1f} KiB; MACs {r['total_macs']:,}"
    )
    lines += ["", "| op | count | versions | dtypes | MACs |", "|---|---|---|---|---|"]
    lines += [
        f"| {o['op']} | {o['count']} | {','.join(map(str, o['versions']))} | "
        f"{','.join(o['dtypes'])} | {o['macs']:,} |"
        for o in r["ops"]
    ]
    lines += edgetpu_markdown(r["edgetpu"])
    return "\n".join(lines)
