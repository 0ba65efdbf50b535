"""What the runtime's CPU rewrites (runtime.cpu_graph) buy on the bundled models (issue 6).

For every bundled ``.tflite`` (or the files given), loads two interpreters with the runtime's own
loader, one on the file as it is (``rewrite=False``) and one on the graph the ``Engine`` runs on
the CPU (2x nearest resizes as CONCATENATION + DEPTH_TO_SPACE, 2x2 stride-2 transposed
convolutions as a 1x1 CONV_2D + DEPTH_TO_SPACE, uint8 I/O as int8), checks on random frames that
both give the same pixels, and times one frame each (pixels in, ``runtime.quant`` encode,
``invoke()``, decode, pixels out) in alternating rounds, so that a shared machine's drift falls
on both alike. Writes ``OUT.md`` and ``OUT.json``: medians per frame, measured on this host. The
board figures in benchmarks/results/model_quality.md come from ``edge-deblur bench``, which runs
the rewritten graph.

    .venv/bin/python benchmarks/scripts/cpu_graph.py [MODEL ...] [--threads 2] [--rounds 40]
        [--out PATH] [--force]

Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.cpu_graph import (  # noqa: E402
    graph_to_run,
    nearest_to_depth_to_space,
    transpose_conv_to_depth_to_space,
    uint8_io_to_int8,
)
from runtime.errors import EdgeDeblurError  # noqa: E402
from runtime.interpreter import load_interpreter  # noqa: E402
from runtime.io import atomic_write, check_output  # noqa: E402
from runtime.model_file import inspect_model, load_bytes  # noqa: E402
from runtime.quant import codecs_for  # noqa: E402
from runtime.zoo import list_models, resolve_model  # noqa: E402


def _frame(info, seed: int) -> np.ndarray:
    """Random RGB pixels of the model's input size."""
    return np.random.default_rng(seed).integers(0, 256, info.inputs[0].shape).astype(np.uint8)


class _Runner:
    """One interpreter driven the Engine's way: uint8 pixels -> encode -> invoke -> decode."""

    def __init__(self, data: bytes, threads: int, rewrite: bool) -> None:
        self.it = load_interpreter(data, threads=threads, rewrite=rewrite, int8_io=rewrite)
        self.i, self.o = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.enc, self.dec = codecs_for(self.i, self.o)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        self.it.set_tensor(self.i["index"], self.enc.encode(pixels))
        self.it.invoke()
        return self.dec.decode(self.it.get_tensor(self.o["index"]))


def measure(path: Path, threads: int, rounds: int) -> dict:
    data = load_bytes(path, name="model")
    info = inspect_model(data)
    replaced = graph_to_run(data, True, True).replaced  # what the Engine runs on the CPU
    kinds = {
        "nearest": len(nearest_to_depth_to_space(data).replaced),
        "transpose_conv": len(transpose_conv_to_depth_to_space(data).replaced),
        "io": len(uint8_io_to_int8(data).replaced),
    }
    runs = {r: _Runner(data, threads, r) for r in (False, True)}
    exact = True
    for seed in range(3):
        x = _frame(info, seed)
        exact &= bool(np.array_equal(runs[False](x), runs[True](x)))
    x = _frame(info, 3)
    times: dict[bool, list[float]] = {False: [], True: []}
    for k in range(rounds):
        order = (False, True) if k % 2 == 0 else (True, False)
        for r in order:
            t = time.perf_counter()
            runs[r](x)
            times[r].append((time.perf_counter() - t) * 1e3)
    file_ms, cpu_ms = (float(np.median(times[r])) for r in (False, True))
    h, w = info.inputs[0].shape[1:3]
    return {
        "model": path.stem,
        "input": f"{w}x{h}",
        "replaced": len(replaced),
        "replaced_by_kind": kinds,
        "bit_exact": exact,
        "file_ms": round(file_ms, 2),
        "rewritten_ms": round(cpu_ms, 2),
        "saving": round(1.0 - cpu_ms / file_ms, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="model files or bundled names (default: all bundled)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40, help="timed invokes per graph")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cpu_graph")
    ap.add_argument("--force", action="store_true", help="overwrite existing results")
    a = ap.parse_args()
    md, js = a.out.with_suffix(".md"), a.out.with_suffix(".json")
    try:
        for p in (md, js):
            check_output(p, force=a.force)
    except EdgeDeblurError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = a.models or [m.name for m in list_models()]
    rows = [measure(Path(resolve_model(n)), a.threads, a.rounds) for n in names]
    for r in rows:
        print(
            f"{r['model']:28s} {r['input']:>9s} replaced {r['replaced']} exact {r['bit_exact']} "
            f"file {r['file_ms']:7.2f} ms  rewritten {r['rewritten_ms']:7.2f} ms  "
            f"({100 * r['saving']:+.0f} %)"
        )
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cmd = "python benchmarks/scripts/cpu_graph.py" + (" --force" if a.force else "")
    host = f"{platform.machine()}, {platform.processor() or platform.system()}, {a.threads} threads"
    lines = [
        "# The runtime's CPU graph rewrites (issue 6)",
        "",
        f"Run {stamp}; command: `{cmd}`. Measured on this host ({host}); median time of one "
        f"frame (uint8 pixels in, `runtime.quant` encode, `invoke()`, decode, pixels out) over "
        f"{a.rounds} alternating rounds per graph. `file`: the .tflite as written; `rewritten`: "
        "the graph `runtime.cpu_graph` makes in memory for the Engine's CPU runs: 2x "
        "RESIZE_NEAREST_NEIGHBOR as CONCATENATION + DEPTH_TO_SPACE (`nearest`), a 2x2 stride-2 "
        "TRANSPOSE_CONV as a 1x1 CONV_2D + DEPTH_TO_SPACE (`tconv`), and the uint8<->int8 "
        "QUANTIZE at each end dropped for an XOR in `runtime.quant` (`io`). `bit exact`: the "
        "same output pixels on three random frames.",
        "",
        "| model | input | nearest | tconv | io | bit exact | file ms | rewritten ms | saving |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        k = r["replaced_by_kind"]
        lines.append(
            f"| {r['model']} | {r['input']} | {k['nearest']} | {k['transpose_conv']} | {k['io']}"
            f" | {'yes' if r['bit_exact'] else 'NO'} | {r['file_ms']:.2f} | "
            f"{r['rewritten_ms']:.2f} | {100 * r['saving']:+.1f} % |"
        )
    lines += [
        "",
        "A board was not measured: how much a Pi gains depends on how its builtin kernels "
        "(resize, transposed convolution, quantize) compare with XNNPACK and an XOR there.",
        "",
    ]
    payload = {
        "created": stamp,
        "command": cmd,
        "threads": a.threads,
        "rounds": a.rounds,
        "host": host,
        "rows": rows,
    }
    atomic_write(js, json.dumps(payload, indent=2).encode() + b"\n", force=a.force)
    atomic_write(md, "\n".join(lines).encode(), force=a.force)
    print(f"wrote {md} and {js}")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
