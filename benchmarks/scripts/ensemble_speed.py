"""What ``--ensemble N`` costs per frame on this host (issue 6).

For each model (default: the bundled default and quality tier), times ``Engine.process`` on one
random frame of the given size (default 640x480) with ``ensemble`` 1, 2, 4 and 8, in alternating
rounds so that a shared machine's drift falls on every size alike, and reports the median frame
time with its parts (``Engine.timings``: pre, invoke, post) and the interpreter runs per frame.
Writes ``OUT.md`` and ``OUT.json``; measured on this host, never a board. What the ensembles gain
in quality is in benchmarks/results/ensemble.md (``model_quality.py --ensembles``).

    .venv/bin/python benchmarks/scripts/ensemble_speed.py [MODEL ...] [--size 640x480]
        [--threads 2] [--rounds 15] [--out PATH] [--force]

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

from runtime.engine import ENSEMBLES, Engine  # noqa: E402
from runtime.errors import EdgeDeblurError, InputError, expected  # noqa: E402
from runtime.io import atomic_write, check_output  # noqa: E402


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(expected("--size", "WIDTHxHEIGHT, e.g. 640x480", text)) from None
    if w < 1 or h < 1:
        raise InputError(expected("--size", "positive sizes", text))
    return w, h


def measure(models: list[str], size: tuple[int, int], threads: int, rounds: int) -> list[dict]:
    w, h = size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    rows = []
    for model in models:
        engines = {n: Engine(model, threads=threads, ensemble=n) for n in ENSEMBLES}
        times: dict[int, list[tuple[float, float, float, float]]] = {n: [] for n in ENSEMBLES}
        for eng in engines.values():  # warm-up: allocation, first-invoke costs
            eng.process(frame)
        for _ in range(rounds):
            for n, eng in engines.items():
                t0 = time.perf_counter()
                eng.process(frame)
                total = (time.perf_counter() - t0) * 1e3
                t = eng.timings
                times[n].append((total, t.pre, t.invoke, t.post))
        for n, eng in engines.items():
            med = np.median(np.array(times[n]), axis=0)
            rows.append(
                {
                    "model": model,
                    "ensemble": n,
                    "invokes": eng.tile_count(h, w),
                    "frame_ms": round(float(med[0]), 2),
                    "pre_ms": round(float(med[1]), 2),
                    "invoke_ms": round(float(med[2]), 2),
                    "post_ms": round(float(med[3]), 2),
                }
            )
    return rows


def render(r: dict) -> str:
    lines = [
        "# What `--ensemble N` costs per frame (issue 6)",
        "",
        f"Run {r['created']}; command: `{r['command']}`. Measured on this host ({r['host']}, "
        f"{r['threads']} threads): `Engine.process` on one random {r['size']} frame, median of "
        f"{r['rounds']} rounds (the ensemble sizes alternate). Parts from `Engine.timings`: pre "
        "(orient, tile, quantize), invoke (the interpreter, every copy), post (blend, turn back, "
        "average). Quality: `benchmarks/results/ensemble.md`.",
        "",
        "| model | ensemble | invokes | frame ms | pre ms | invoke ms | post ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['model']} | {row['ensemble']} | {row['invokes']} | {row['frame_ms']} | "
            f"{row['pre_ms']} | {row['invoke_ms']} | {row['post_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", default=["default", "cnn-wide-srgb-b2-int8"])
    ap.add_argument("--size", default="640x480", help="frame WIDTHxHEIGHT")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ensemble_speed")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    try:
        size = _size(a.size)
        if a.rounds < 1:
            raise InputError(expected("--rounds", "an integer >= 1", a.rounds))
        outs = [a.out.with_suffix(".json"), a.out.with_suffix(".md")]
        for p in outs:
            check_output(p, force=a.force)
        rows = measure(a.models, size, a.threads, a.rounds)
    except EdgeDeblurError as e:
        print(f"ensemble_speed: error: {e}", file=sys.stderr)
        return 2
    result = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python benchmarks/scripts/ensemble_speed.py " + " ".join(sys.argv[1:]),
        "host": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "threads": a.threads,
        "rounds": a.rounds,
        "size": a.size,
        "rows": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(outs[0], json.dumps(result, indent=1).encode(), force=a.force)
    atomic_write(outs[1], render(result).encode(), force=a.force)
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
