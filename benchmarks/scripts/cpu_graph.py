"""What the runtime's CPU rewrite (runtime.cpu_graph) buys on the bundled models (issue 6).

For every bundled ``.tflite`` (or the files given), loads two interpreters with the runtime's own
loader, one on the file as it is (``rewrite=False``) and one on the graph the runtime runs on the
CPU (2x nearest resizes as CONCATENATION + DEPTH_TO_SPACE), checks on random frames that both give
the same bytes, and times ``invoke()`` in alternating rounds, so that a shared machine's drift
falls on both alike. Writes ``OUT.md`` and ``OUT.json``: medians per invoke, measured on this
host. The board figures in benchmarks/results/model_quality.md come from ``edge-deblur bench``,
which runs the rewritten graph.

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

from runtime.cpu_graph import graph_to_run  # noqa: E402
from runtime.errors import EdgeDeblurError  # noqa: E402
from runtime.interpreter import load_interpreter  # noqa: E402
from runtime.io import atomic_write, check_output  # noqa: E402
from runtime.model_file import inspect_model, load_bytes  # noqa: E402
from runtime.zoo import list_models, resolve_model  # noqa: E402


def _frame(info, seed: int) -> np.ndarray:
    t = info.inputs[0]
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        return rng.random(t.shape, dtype=np.float32)
    return rng.integers(0, 256, t.shape).astype(np.dtype(t.dtype))


def measure(path: Path, threads: int, rounds: int) -> dict:
    data = load_bytes(path, name=f"model {str(path)!r}")
    info = inspect_model(data)
    replaced = graph_to_run(data, True).replaced  # what the runtime runs on the CPU
    its = {r: load_interpreter(data, threads=threads, rewrite=r) for r in (False, True)}
    exact = True
    for seed in range(3):
        x = _frame(info, seed)
        outs = []
        for it in its.values():
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
            outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
        exact &= bool(np.array_equal(outs[0], outs[1]))
    times: dict[bool, list[float]] = {False: [], True: []}
    for k in range(rounds):
        order = (False, True) if k % 2 == 0 else (True, False)
        for r in order:
            t = time.perf_counter()
            its[r].invoke()
            times[r].append((time.perf_counter() - t) * 1e3)
    file_ms, cpu_ms = (float(np.median(times[r])) for r in (False, True))
    h, w = info.inputs[0].shape[1:3]
    return {
        "model": path.stem,
        "input": f"{w}x{h}",
        "replaced": len(replaced),
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
        "# The runtime's CPU rewrite of nearest up-sampling (issue 6)",
        "",
        f"Run {stamp}; command: `{cmd}`. Measured on this host ({host}); median `invoke()` of "
        f"{a.rounds} alternating rounds per graph. `file`: the .tflite as written (its 2x "
        "RESIZE_NEAREST_NEIGHBOR ops run outside XNNPACK); `rewritten`: the graph "
        "`runtime.cpu_graph` makes in memory for CPU runs (CONCATENATION + DEPTH_TO_SPACE, "
        "delegated). `bit exact`: the same output bytes on three random frames.",
        "",
        "| model | input | ops replaced | bit exact | file ms | rewritten ms | saving |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['replaced']} | {'yes' if r['bit_exact'] else 'NO'}"
            f" | {r['file_ms']:.2f} | {r['rewritten_ms']:.2f} | {100 * r['saving']:+.1f} % |"
        )
    lines += [
        "",
        "A board was not measured: how much a Pi gains depends on how its builtin resize kernel "
        "compares with XNNPACK there.",
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
