"""The conversion report beside the model: ``OUT.report.json`` and ``OUT.report.md``.

:func:`build_report` gathers plain figures into a dict (the JSON); :func:`render_markdown`
renders that dict, so the two never disagree. Nothing here prints.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

from runtime.model_file import ModelInfo


def report_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``m.tflite`` -> (``m.report.json``, ``m.report.md``)."""
    p = Path(out)
    stem = p.with_suffix("") if p.suffix == ".tflite" else p
    return stem.with_name(stem.name + ".report.json"), stem.with_name(stem.name + ".report.md")


def config_path(out: str | os.PathLike) -> Path:
    """``m.tflite`` -> ``m.convert.yaml`` (the ConvertConfig of the run)."""
    p = Path(out)
    stem = p.with_suffix("") if p.suffix == ".tflite" else p
    return stem.with_name(stem.name + ".convert.yaml")


def gzip_size(data: bytes) -> int:
    """Size after gzip -9: what pruning buys on disk and over the air (zeros compress)."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def op_table(info: ModelInfo) -> list[dict[str, Any]]:
    """One row per operator type: count, versions, MACs, and the dtypes it computes in."""
    rows: dict[str, dict[str, Any]] = {}
    for op in info.operators:
        r = rows.setdefault(
            op.name, {"op": op.name, "count": 0, "versions": set(), "macs": 0, "dtypes": set()}
        )
        r["count"] += 1
        r["versions"].add(op.version)
        r["macs"] += op.macs
        for t in op.outputs:
            r["dtypes"].add(t.dtype)
    return [
        {**r, "versions": sorted(r["versions"]), "dtypes": sorted(r["dtypes"])}
        for r in rows.values()
    ]


def integer_only(info: ModelInfo) -> bool:
    """True when every tensor except the model's own inputs/outputs is integer."""
    io = {t.index for t in info.inputs + info.outputs}
    for op in info.operators:
        for t in op.inputs + op.outputs:
            if t.index not in io and t.dtype.startswith("float"):
                return False
    return True


def build_report(
    *,
    out: str | os.PathLike,
    source: str,
    config: dict[str, Any],
    metadata: dict[str, Any],
    data: bytes,
    info: ModelInfo,
    fp32_size: int | None,
    fp32_gzip: int | None,
    validation: dict[str, Any],
    edgetpu: dict[str, Any],
    prune: dict[str, Any] | None,
    qat: dict[str, Any] | None,
    seconds: dict[str, float],
    removed_ops: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Every figure of one conversion as a JSON-ready dict.

    ``removed_ops`` lists the operators :func:`converters.simplify.drop_noop_ops` dropped and
    those :func:`converters.simplify.fold_requantize_relus` folded.
    """
    size, gz = len(data), gzip_size(data)
    return {
        "output": str(out),
        "source": source,
        "config": config,
        "metadata": metadata,
        "size_bytes": size,
        "gzip_bytes": gz,
        "fp32_size_bytes": fp32_size,
        "fp32_gzip_bytes": fp32_gzip,
        "size_vs_fp32": round(size / fp32_size, 4) if fp32_size else None,
        "gzip_vs_fp32_gzip": round(gz / fp32_gzip, 4) if fp32_gzip else None,
        "parameter_bytes": info.parameter_bytes,
        "sparsity": metadata.get("sparsity"),
        "integer_only": integer_only(info),
        "inputs": [{"shape": list(t.shape_signature), "dtype": t.dtype} for t in info.inputs],
        "outputs": [{"shape": list(t.shape_signature), "dtype": t.dtype} for t in info.outputs],
        "ops": op_table(info),
        "removed_ops": list(removed_ops or []),
        "total_macs": info.total_macs,
        "edgetpu": edgetpu,
        "validation": validation,
        "prune": prune,
        "qat": qat,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def _kib(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f} KiB"


def render_markdown(r: dict[str, Any]) -> str:
    """The Markdown view of :func:`build_report`'s dict."""
    m, v, e = r["metadata"], r["validation"], r["edgetpu"]
    lines = [
        f"# Conversion report: `{Path(r['output']).name}`",
        "",
        f"Source `{r['source']}`, quant **{m.get('quant')}**, I/O {m.get('io_dtype')}, "
        f"input size {m.get('input_size') or 'dynamic'}.",
        "",
        "## Size",
        "",
        "| | bytes | vs fp32 |",
        "|---|---|---|",
        f"| file | {_kib(r['size_bytes'])} | {r['size_vs_fp32'] if r['size_vs_fp32'] else '-'} |",
        f"| gzip -9 | {_kib(r['gzip_bytes'])} | "
        f"{r['gzip_vs_fp32_gzip'] if r['gzip_vs_fp32_gzip'] else '-'} |",
        f"| fp32 reference | {_kib(r['fp32_size_bytes'])} | 1.0 |",
        "",
        f"Weight sparsity {r['sparsity']}; integer-only between input and output: "
        f"{'yes' if r['integer_only'] else 'no'}.",
        "",
        "## Validation against the Keras source",
        "",
        f"{v['tiles']} held-back tiles of {v['tile_size'][0]}x{v['tile_size'][1]} "
        f"({v['origin']}): PSNR TFLite vs Keras **{v['psnr_vs_keras']} dB** "
        f"(limit {v['min_psnr_vs_keras']} dB).",
    ]
    if v.get("keras_psnr_vs_sharp") is not None:
        lines += [
            "",
            "| vs sharp | PSNR dB | SSIM |",
            "|---|---|---|",
            f"| Keras float | {v['keras_psnr_vs_sharp']} | {v['keras_ssim_vs_sharp']} |",
            f"| TFLite | {v['tflite_psnr_vs_sharp']} | {v['tflite_ssim_vs_sharp']} |",
        ]
    lines += ["", f"Result: {'passed' if v['passed'] else 'FAILED: ' + '; '.join(v['failures'])}"]
    if r.get("prune"):
        p = r["prune"]
        lines += [
            "",
            "## Pruning",
            "",
            f"Target {p['target']} ({p['structured']}), {p['steps']} steps, mask update every "
            f"{p['frequency']} steps; measured sparsity **{p['sparsity']}**.",
            "",
            "| layer | kind | weights | sparsity | pruned |",
            "|---|---|---|---|---|",
        ] + [
            f"| {s['name']} | {s['kind']} | {s['weights']} | {s['sparsity']} | "
            f"{'yes' if s['pruned'] else 'no'} |"
            for s in p["layers"]
        ]
    if r.get("qat"):
        q = r["qat"]
        lines += [
            "",
            "## Quantization-aware fine-tuning",
            "",
            f"{q['steps']} steps, {q['scheme']} scheme, distillation loss "
            f"{q['first_loss']} -> {q['final_loss']}.",
        ]
    lines += [
        "",
        "## Operators",
        "",
        "| op | count | versions | dtypes | MACs |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {o['op']} | {o['count']} | {','.join(map(str, o['versions']))} | "
        f"{','.join(o['dtypes'])} | {o['macs']:,} |"
        for o in r["ops"]
    ]
    removed = r.get("removed_ops") or []
    exact = [o for o in removed if "folded into" not in o["op"]]
    folded = [o for o in removed if "folded into" in o["op"]]
    if exact:
        lines += [
            "",
            "Removed as exact no-ops (output equals input bit for bit, from the tensors' "
            "quantization): " + ", ".join(f"{o['op']} (`{o['output']}`)" for o in exact) + ".",
        ]
    if folded:
        lines += [
            "",
            "Folded into their producer (a RELU that only rescales; the producer rounds once, "
            "into the RELU's scale; not bit-exact, converters/simplify.py): "
            + ", ".join(f"{o['op']} (`{o['output']}`)" for o in folded)
            + ".",
        ]
    lines += edgetpu_markdown(e)
    t = r["seconds"]
    lines += ["", "## Time", "", ", ".join(f"{k} {v:.1f} s" for k, v in t.items()), ""]
    return "\n".join(lines)


def edgetpu_markdown(e: dict[str, Any]) -> list[str]:
    """The Edge TPU section (shared with ``edge-deblur inspect``)."""
    lines = [
        "",
        "## Edge TPU readiness",
        "",
        f"Ready: **{'yes' if e['ready'] else 'no'}**; ops on the TPU {e['ops_on_tpu']} of "
        f"{e['ops_total']}; MACs on the TPU {e['tpu_mac_share'] * 100:.1f}%; parameters "
        f"{e['parameter_bytes'] / 1024:.1f} KiB of ~{e['on_chip_bytes'] / 2**20:.0f} MiB on chip.",
    ]
    if e["first_cpu_op"]:
        lines.append(f"First op on the CPU: {e['first_cpu_op']} ({e['first_cpu_reason']}).")
    for p in e["problems"]:
        lines.append(f"- {p}")
    lines.append(f"Supported-op list: {e['supported_ops_source']}.")
    c = e.get("compiler")
    if c:
        if c.get("output"):
            lines.append(
                f"edgetpu_compiler {c.get('version')}: {c.get('ops_mapped')} of "
                f"{c.get('ops_total')} ops mapped; wrote `{Path(c['output']).name}`."
            )
        else:
            lines.append(f"edgetpu_compiler: {c.get('note')}")
    return lines
