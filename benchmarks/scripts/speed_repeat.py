"""How much the board projection of one model moves between bench runs (issue 6's 15 FPS target).

Runs the bench (``benchmarks.run.run_bench``, what ``edge-deblur bench`` runs) ``--runs`` times on
one model at one frame size and thread count, and lists per run: the host invoke time, the
reference net's G MAC/s timed around the row, the efficiency and the projected FPS per profile;
then min / median / max. A target counts as met in projection only when every run meets it.
Writes ``OUT.md`` and ``OUT.json``.

    .venv/bin/python benchmarks/scripts/speed_repeat.py [--model default] [--size 640x480]
        [--threads 2] [--runs 5] [--target 15] [--out PATH] [--force]

Run it on an otherwise idle machine. Figures are measured on this host and projected for the
boards from benchmarks/profiles; no board was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.errors import EdgeDeblurError  # noqa: E402
from runtime.io import atomic_write, check_output  # noqa: E402

PROFILES = ("rpi4", "rpi5", "coral-usb")


DEFAULT_OUT = ROOT / "benchmarks" / "results" / "speed_repeat"


def one_run(model: str, size: tuple[int, int], threads: int) -> dict:
    from benchmarks.run import BenchSettings, run_bench

    s = BenchSettings(
        models=(model,),
        sizes=(size,),
        threads=(threads,),
        profiles=PROFILES,
        baselines=False,
        min_time_s=1.0,
        min_runs=3,
    )
    r = run_bench(s)
    (m,) = [x for x in r.measurements if x.variant != "classical"]
    return {
        "invoke_ms": round(m.invoke_ms, 2),
        "frame_ms": round(m.latency.p50_ms, 2),
        "ref_gmacs": m.ref_gmacs,
        "efficiency": round(m.efficiency, 4),
        "cpu_rewrites": m.cpu_rewrites,
        "fps": {p.profile: round(p.fps, 2) for p in r.projections},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--size", default="640x480", help="frame WxH")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", type=float, default=15.0, help="FPS target on --target-profile")
    ap.add_argument("--target-profile", default="rpi4")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true", help="overwrite existing results")
    a = ap.parse_args()
    md, js = a.out.with_suffix(".md"), a.out.with_suffix(".json")
    from edge_deblur.data.video import parse_wxh

    try:
        for p in (md, js):
            check_output(p, force=a.force)
        w, h = parse_wxh(a.size, "--size")
    except EdgeDeblurError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs = []
    for i in range(a.runs):
        runs.append(one_run(a.model, (w, h), a.threads))
        r = runs[-1]
        print(
            f"run {i + 1}: invoke {r['invoke_ms']} ms, ref {r['ref_gmacs']} G MAC/s, "
            f"e {r['efficiency']}, " + ", ".join(f"{k} {v} FPS" for k, v in r["fps"].items())
        )
    fps = {p: [r["fps"][p] for r in runs] for p in PROFILES}
    summary = {
        p: {"min": min(v), "median": float(np.median(v)), "max": max(v)} for p, v in fps.items()
    }
    met = summary[a.target_profile]["min"] >= a.target
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cmd = (
        f"python benchmarks/scripts/speed_repeat.py --model {a.model} --size {a.size} "
        f"--threads {a.threads} --runs {a.runs}"
        + (f" --out {a.out}" if a.out != DEFAULT_OUT else "")
        + (" --force" if a.force else "")
    )
    from benchmarks.run import host_info

    h = host_info("this host")
    host = f"{h.machine}, {h.processor}, int8 dot-product: {h.int8_dot or 'none'}"
    lines = [
        f"# Run-to-run spread of the board projection: `{a.model}` at {a.size}, "
        f"{a.threads} threads",
        "",
        f"Run {stamp}; command: `{cmd}`. Host: {host}. Each run is a full bench of the one "
        "model (reference net timed around the row, CPU graph rewrite on): measured on this host, "
        "projected for the boards from `benchmarks/profiles` (no board measured).",
        "",
        "| run | invoke ms (host) | ref G MAC/s | efficiency | "
        + " | ".join(f"{p} FPS" for p in PROFILES)
        + " |",
        "|---" * (4 + len(PROFILES)) + "|",
    ]
    for i, r in enumerate(runs, 1):
        lines.append(
            f"| {i} | {r['invoke_ms']:.2f} | {r['ref_gmacs']} | {r['efficiency']:.3f} | "
            + " | ".join(f"{r['fps'][p]:.1f}" for p in PROFILES)
            + " |"
        )
    lines.append(
        "| min / median / max | | | | "
        + " | ".join(
            f"{summary[p]['min']:.1f} / {summary[p]['median']:.1f} / {summary[p]['max']:.1f}"
            for p in PROFILES
        )
        + " |"
    )
    lines += [
        "",
        f"Target: >= {a.target:g} FPS projected on `{a.target_profile}` in every run: "
        + (
            "**met** (projected)."
            if met
            else f"**NOT met** (projected; lowest run {summary[a.target_profile]['min']:.1f} FPS)."
        ),
        "",
    ]
    payload = {
        "created": stamp,
        "command": cmd,
        "host": host,
        "model": a.model,
        "size": a.size,
        "threads": a.threads,
        "runs": runs,
        "summary": summary,
        "target": {"profile": a.target_profile, "fps": a.target, "met_in_every_run": met},
    }
    atomic_write(js, json.dumps(payload, indent=2).encode() + b"\n", force=a.force)
    atomic_write(md, "\n".join(lines).encode(), force=a.force)
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
