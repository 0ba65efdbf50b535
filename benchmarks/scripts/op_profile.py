"""Where one model's invoke time goes, op by op, on this host (issue 6's Pi 4 speed target).

LiteRT's Python interpreter has no per-op profiler, so this times prefixes: for k = 1..N it cuts
the graph after its k-th op (that op's output becomes the graph's output, every later op is
dropped), times ``invoke()`` of the cut graph, and reports the growth from k-1 to k as op k's
cost. XNNPACK fuses neighbouring ops into partitions and the host drifts, so single rows are
noisy (a row can even come out negative); sums over a few rows are reliable. Each prefix is timed
``--passes`` times in alternating order and the lowest median kept.

The graph is the one the ``Engine`` runs on the CPU (``runtime.cpu_graph`` rewrites included), or
the file as written with ``--file``. Writes ``OUT.md`` and ``OUT.json``; measured on this host,
no board.

    .venv/bin/python benchmarks/scripts/op_profile.py [MODEL] [--file] [--threads 2]
        [--rounds 40] [--passes 2] [--out PATH] [--force]
"""

from __future__ import annotations

import argparse
import json
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
from runtime.model_file import (  # noqa: E402
    _enum_names,
    _name,
    _require_schema,
    drop_unused_tensors,
    load_bytes,
    repack,
)
from runtime.zoo import resolve_model  # noqa: E402


def ops_of(data: bytes) -> list[dict]:
    """``[{"op", "output", "shape"}]`` of the first subgraph, in execution order."""
    schema = _require_schema("op_profile")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    names = _enum_names()["op"]
    sg = model.subgraphs[0]
    rows = []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        t = sg.tensors[int(op.outputs[0])]
        rows.append(
            {
                "op": names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"),
                "output": _name(t.name),
                "shape": [int(d) for d in t.shape],
            }
        )
    return rows


def prefix(data: bytes, k: int) -> bytes:
    """The graph cut after its ``k``-th op (1-based): that op's first output is the graph output."""
    schema = _require_schema("op_profile")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sg = model.subgraphs[0]
    if k >= len(sg.operators):
        return data
    sg.operators = sg.operators[:k]
    sg.outputs = [int(sg.operators[-1].outputs[0])]
    model.signatureDefs = []  # the signature names the old output
    drop_unused_tensors(model, sg)
    return repack(model, len(data) + 1024)


def _median_invoke(it, rounds: int) -> float:
    it.invoke()  # warm-up
    ts = []
    for _ in range(rounds):
        t = time.perf_counter()
        it.invoke()
        ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))


def profile(data: bytes, threads: int, rounds: int, passes: int) -> list[dict]:
    """Per-op rows with ``cum_ms`` (the prefix's median invoke) and ``ms`` (growth over k-1)."""
    rows = ops_of(data)
    its = []
    for k in range(1, len(rows) + 1):
        it = load_interpreter(prefix(data, k), threads=threads, rewrite=False)
        d = it.get_input_details()[0]
        rng = np.random.default_rng(k)
        if np.dtype(d["dtype"]) == np.float32:
            x = rng.random(d["shape"], dtype=np.float32)
        else:
            x = rng.integers(0, 256, d["shape"]).astype(np.uint8).view(d["dtype"])
        it.set_tensor(d["index"], x)
        its.append(it)
    best = [float("inf")] * len(its)
    for p in range(passes):
        order = range(len(its)) if p % 2 == 0 else reversed(range(len(its)))
        for i in order:
            best[i] = min(best[i], _median_invoke(its[i], rounds))
    prev = 0.0
    for row, cum in zip(rows, best, strict=True):
        row["cum_ms"], row["ms"] = round(cum, 3), round(cum - prev, 3)
        prev = cum
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="default", help="bundled name or .tflite path")
    ap.add_argument("--file", action="store_true", help="the file as written, no CPU rewrites")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40, help="timed invokes per prefix and pass")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "op_profile")
    ap.add_argument("--force", action="store_true", help="overwrite existing results")
    a = ap.parse_args()
    md, js = a.out.with_suffix(".md"), a.out.with_suffix(".json")
    try:
        for p in (md, js):
            check_output(p, force=a.force)
        path = Path(resolve_model(a.model))
        data = load_bytes(path, name="model")
        graph = data if a.file else graph_to_run(data, True, True).data
        rows = profile(graph, a.threads, a.rounds, a.passes)
    except EdgeDeblurError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = rows[-1]["cum_ms"]
    by_kind: dict[str, float] = {}
    for r in rows:
        by_kind[r["op"]] = by_kind.get(r["op"], 0.0) + r["ms"]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cmd = "python benchmarks/scripts/op_profile.py " + " ".join(sys.argv[1:])
    from benchmarks.run import host_info

    h = host_info("this host")
    host = (
        f"{h.machine}, {h.processor}, int8 dot-product: {h.int8_dot or 'none'}, {a.threads} threads"
    )
    which = "the file as written" if a.file else "the graph the Engine runs on the CPU"
    lines = [
        f"# Where the invoke time of `{path.stem}` goes, op by op (issue 6)",
        "",
        f"Run {stamp}; command: `{cmd.strip()}`. Measured on this host ({host}), {which}; "
        f"each row is the growth of the median `invoke()` when the graph is cut one op later "
        f"(lowest of {a.passes} passes of {a.rounds} invokes). Single rows are noisy, since "
        "XNNPACK fuses neighbouring ops; sums of a few rows are not. Whole graph: "
        f"{total:.2f} ms.",
        "",
        "## By op kind",
        "",
        "| op | ms | share |",
        "|---|---|---|",
    ]
    for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {ms:.2f} | {100 * ms / total:.0f} % |")
    lines += ["", "## Per op", "", "| # | op | output shape | ms | cumulative ms | output |"]
    lines.append("|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        shape = "x".join(str(d) for d in r["shape"])
        lines.append(
            f"| {i} | {r['op']} | {shape} | {r['ms']:+.2f} | {r['cum_ms']:.2f} | "
            f"`{r['output'][:60]}` |"
        )
    lines.append("")
    payload = {
        "created": stamp,
        "command": cmd.strip(),
        "model": path.stem,
        "graph": "file" if a.file else "engine_cpu",
        "host": host,
        "threads": a.threads,
        "total_ms": total,
        "by_kind_ms": {k: round(v, 3) for k, v in by_kind.items()},
        "ops": rows,
    }
    atomic_write(js, json.dumps(payload, indent=2).encode() + b"\n", force=a.force)
    atomic_write(md, "\n".join(lines).encode(), force=a.force)
    for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"{kind:26s} {ms:6.2f} ms  {100 * ms / total:4.0f} %")
    print(f"total {total:.2f} ms; wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
