"""Issue 6's quality targets of the bundled models; writes benchmarks/results/model_quality.*.

    .venv/bin/python benchmarks/scripts/model_quality.py --pairs ../shared/data/gopro_dev --force

For every bundled model (``runtime/zoo/zoo.yaml``; or the ``--models`` given): PSNR/SSIM of the
output and of the blurred input against the sharp frame of every pair, at full resolution through
the runtime (``edge_deblur.evaluate``, tiled as on a board); the same for the classical baselines
of ``benchmarks.baselines``; and the projected latency/FPS on each board profile at 640x480 and
1280x720 (``benchmarks.run``: measured on this host, projected with ``benchmarks/profiles``).

Pairs whose name contains a ``--train-scenes`` sequence (default GOPR0477_11_00, the scene of the
240 fps clip the shipped models train on) are reported but kept out of the held-out means: a
figure that includes training scenes is not a validation figure. Targets checked (issue 6):

1. the default int8 model gains >= +1.5 dB PSNR over the input on average, and is not worse
   than the input on any pair;
2. int8 within 0.3 dB of its fp32 twin;
3. >= 1 dB above the best classical baseline;
4. projected >= 15 FPS at 640x480 on the Raspberry Pi 4 profile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.baselines import BASELINES  # noqa: E402
from runtime.io import atomic_write, check_output, read_image  # noqa: E402
from runtime.metrics import psnr, ssim  # noqa: E402

SIZES = ((640, 480), (1280, 720))
PROFILES = ("rpi4", "rpi5", "coral-usb", "coral-devboard")


def _held(name: str, train_scenes: list[str]) -> bool:
    return not any(s in name for s in train_scenes)


def _means(per: list[dict], keys: tuple[str, ...], train_scenes: list[str]) -> dict:
    out = {}
    for subset, rows in (
        ("all", per),
        ("held_out", [r for r in per if _held(r["name"], train_scenes)]),
    ):
        out[subset] = {"n": len(rows)}
        for k in keys:
            out[subset][k] = float(np.mean([r[k] for r in rows])) if rows else None
    return out


def eval_model(
    model: str,
    pairs: Path,
    threads: int,
    train_scenes: list[str],
    strength: float = 1.0,
    ensemble: int = 1,
) -> dict:
    from edge_deblur.evaluate import evaluate

    t = time.perf_counter()
    r = evaluate(model, pairs, threads=threads, strength=strength, ensemble=ensemble)
    per = [
        {
            "name": s.name,
            "psnr": s.psnr,
            "ssim": s.ssim,
            "input_psnr": s.input_psnr,
            "input_ssim": s.input_ssim,
            "gain": s.psnr - s.input_psnr,
            "held_out": _held(s.name, train_scenes),
        }
        for s in r.per_image
    ]
    keys = ("psnr", "ssim", "input_psnr", "input_ssim", "gain")
    return {
        "per_pair": per,
        "mean": _means(per, keys, train_scenes),
        "worst_gain": min(p["gain"] for p in per),
        "seconds": time.perf_counter() - t,
    }


def eval_baselines(pairs: Path, train_scenes: list[str]) -> dict:
    from edge_deblur.data import load_pairs

    found = load_pairs(pairs)
    out = {}
    for name, fn in BASELINES.items():
        per = []
        for p in found:
            blur, sharp = read_image(p.blur_path), read_image(p.sharp_path)
            o = fn(blur)
            per.append(
                {
                    "name": p.name,
                    "psnr": psnr(o, sharp),
                    "ssim": ssim(o, sharp),
                    "gain": psnr(o, sharp) - psnr(blur, sharp),
                }
            )
        out[name] = {"per_pair": per, "mean": _means(per, ("psnr", "ssim", "gain"), train_scenes)}
    return out


def projections(models: list[str], threads: int) -> tuple[list[dict], dict]:
    """Latency rows (this host and the board projections) and the host they were measured on."""
    from benchmarks.run import BenchSettings, run_bench

    settings = BenchSettings(
        models=tuple(models),
        sizes=SIZES,
        threads=(threads,),
        profiles=PROFILES,
        baselines=False,
        min_time_s=1.0,
        min_runs=3,
    )
    report = run_bench(settings)
    rows = []
    for p in report.projections:
        rows.append(
            {
                "model": p.model,
                "variant": p.variant,
                "size": p.size,
                "profile": p.profile,
                "ms": p.ms,
                "fps": p.fps,
                "label": p.label,
            }
        )
    for m in report.measurements:
        rows.append(
            {
                "model": m.model,
                "variant": m.variant,
                "size": m.size,
                "profile": "this host",
                "ms": m.latency.mean_ms,
                "fps": m.latency.fps,
                "label": m.label,
                "threads": m.threads,
                "efficiency": m.efficiency,
            }
        )
    h = report.host
    ref = [x.gmacs for x in report.reference if x.precision == "int8" and x.threads == threads]
    host = {
        "processor": h.processor or h.machine,
        "cpus": h.cpu_count,
        "int8_dot": h.int8_dot,
        "ref_int8_gmacs": round(ref[0], 1) if ref else None,
    }
    return rows, host


def host_line(host: dict | None) -> str:
    """Which machine the speed figures come from, and why that matters for the projections."""
    if not host:
        return ""
    ref = host.get("ref_int8_gmacs")
    line = (
        f"Host: {host['processor']}, {host['cpus']} CPUs, int8 dot-product instructions: "
        f"{host.get('int8_dot') or 'none'}; reference int8 net {ref} G MAC/s. A model's efficiency "
        "against that net is carried over to the board, and it depends on the host."
    )
    if host.get("int8_dot"):
        line += (
            " Dense int8 convolutions gain far more from dot-product instructions (which the Pi 4 "
            "lacks) than the memory-bound full-resolution ops of a narrow net do, so the same file "
            "projects lower from such a host (README, 'Bundled models')."
        )
    line += (
        " CPU figures run the graph the runtime rewrites in memory (`runtime.cpu_graph`, "
        "bit-exact; `benchmarks/results/cpu_graph.md`); a board runs the same rewrites, but how "
        "much they gain on its Arm kernels was not measured."
    )
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=ROOT.parent / "shared" / "data" / "gopro_dev")
    ap.add_argument("--models", nargs="*", help="zoo names or .tflite paths (default: the zoo)")
    ap.add_argument("--train-scenes", nargs="*", default=["GOPR0477_11_00"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "model_quality")
    ap.add_argument("--no-bench", action="store_true", help="skip the latency projections")
    ap.add_argument(
        "--strength", type=float, default=1.0, help="share of the correction applied (0-2)"
    )
    ap.add_argument(
        "--ensembles",
        type=int,
        nargs="+",
        default=[1],
        help="self-ensemble sizes (1, 2, 4, 8): each model at each; rows 'NAME xN' for N > 1",
    )
    ap.add_argument(
        "--card", type=Path, help="also write the bundled models' card (runtime/zoo/MODEL_CARD.md)"
    )
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    from runtime.errors import EdgeDeblurError

    try:
        return _run(a)
    except EdgeDeblurError as e:
        print(f"model_quality: error: {e}", file=sys.stderr)
        return 2


def _run(a: argparse.Namespace) -> int:
    from edge_deblur.data import load_pairs
    from runtime.engine import check_ensemble, check_strength
    from runtime.errors import InputError, expected
    from runtime.model_file import read_metadata
    from runtime.zoo import list_models, resolve_model

    check_strength(a.strength, "--strength")
    ensembles = list(dict.fromkeys(check_ensemble(n, "--ensembles") for n in a.ensembles))
    if a.card is not None and ensembles != [1]:
        raise InputError(
            expected("--ensembles", "1 with --card (the models as shipped)", a.ensembles)
        )
    if a.card is not None and a.strength != 1.0:
        raise InputError(
            expected(
                "--strength", "1 with --card (the card describes the models as shipped)", a.strength
            )
        )
    entries = {e.name: e for e in list_models()}
    names = a.models or list(entries)
    if not names:
        print("model_quality: no models given and none bundled", file=sys.stderr)
        return 2
    # Every input and output checked before minutes of evaluation: nothing is written on error.
    outs = [a.out.with_suffix(".json"), a.out.with_suffix(".md")] + ([a.card] if a.card else [])
    for p in outs:
        check_output(p, force=a.force)
    paths = {n: resolve_model(n) for n in names}
    load_pairs(a.pairs)
    default = next((e.name for e in entries.values() if e.recommended), None)
    result: dict = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python benchmarks/scripts/model_quality.py " + " ".join(sys.argv[1:]),
        "pairs": os.path.relpath(a.pairs, ROOT),
        "train_scenes": a.train_scenes,
        "default": default,
        "given": bool(a.models),
        "strength": a.strength,
        "ensembles": ensembles,
        "models": {},
    }
    for name, n in ((name, n) for name in names for n in ensembles):
        path = paths[name]
        row = name if n == 1 else f"{name} x{n}"
        print(f"model_quality: evaluating {row}", file=sys.stderr)
        meta = read_metadata(path) or {}
        r = eval_model(str(path), a.pairs, a.threads, a.train_scenes, a.strength, n)
        r.update(
            file=os.path.relpath(path, ROOT),
            bytes=path.stat().st_size,
            quant=meta.get("quant"),
            macs_per_pixel=(
                None
                if meta.get("macs_per_pixel") is None
                else round(meta["macs_per_pixel"] * n, 1)  # an ensemble runs the model n times
            ),
            input_size=meta.get("input_size"),
            ensemble=n,
        )
        result["models"][row] = r
    print("model_quality: classical baselines", file=sys.stderr)
    result["baselines"] = eval_baselines(a.pairs, a.train_scenes)
    if not a.no_bench:
        print("model_quality: latency and projections", file=sys.stderr)
        result["latency"], result["host"] = projections([str(p) for p in paths.values()], a.threads)
        for row in result["latency"]:
            row["model"] = next(
                (n for n, p in paths.items() if p.stem == row["model"]), row["model"]
            )
    # The issue-6 targets are about the models as shipped, not at another strength or ensemble.
    shipped = a.strength == 1.0 and ensembles == [1]
    result["targets"] = targets(result, entries) if shipped else []
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(a.out.with_suffix(".json"), json.dumps(result, indent=1).encode(), force=a.force)
    atomic_write(a.out.with_suffix(".md"), render(result).encode(), force=a.force)
    if a.card is not None:
        atomic_write(a.card, render_card(result, entries).encode(), force=a.force)
    print(render(result))
    return 0


DATA_CREDITS = (
    "- `sharp_photos/`: Kodak Lossless True Color suite (Eastman Kodak); colour BSD68 (Berkeley "
    "Segmentation Dataset, non-commercial research and education); scikit-image sample photos "
    "(CC0 / public domain); Lai et al. CVPR 2016 ground truth (academic).",
    "- `kernels/lai2016/`: measured camera-shake kernels and gyroscope logs, Lai et al., "
    '"A Comparative Study for Single Image Blind Deblurring", CVPR 2016 (academic).',
    "- GoPro-recipe pairs made from the 240 fps clip GOPR0477_11_00 of the GoPro dataset "
    '(S. Nah, T. H. Kim, K. M. Lee, "Deep Multi-scale CNN for Dynamic Scene Deblurring", '
    "CVPR 2017; CC BY 4.0): frames averaged on their sRGB values for cnn-faster-lc-srgb and "
    "cnn-wide-srgb-b2 (as gopro_dev was made), in linear light for the others.",
)


def _recipe(name: str) -> Path | None:
    family = name.rsplit("-", 1)[0]
    p = ROOT / "edge_deblur" / "recipes" / f"{family}.yaml"
    return p if p.is_file() else None


def _shapes(models: dict) -> list[str]:
    """One line per family: its recipe's widths, blocks, stem, lowcut, down-sampling and level-0
    clip (registry defaults where the recipe names only a size)."""
    import yaml

    from edge_deblur.models import size_spec

    out = []
    for family in dict.fromkeys(n.rsplit("-", 1)[0] for n in models):
        rp = _recipe(family + "-x")
        if rp is None:
            continue
        c = yaml.safe_load(rp.read_text(encoding="utf-8"))
        shape = {k: c.get(k) for k in ("widths", "blocks", "stem", "lowcut", "down", "bound0")}
        spec = size_spec(c.get("arch", "cnn"), c.get("size", "small"), **shape)
        widths = "/".join(str(v) for v in spec["widths"])
        blocks = "/".join(str(v) for v in spec["blocks"])
        extra = f", lowcut {spec['lowcut']} px" if spec["lowcut"] else ""
        extra += ", separable down-sampling" if spec["down"] == "sep" else ""
        extra += f", level-0 maps clipped to [0, {spec['bound0']:g}]" if spec["bound0"] else ""
        out.append(f"- `{family}`: widths {widths}, blocks {blocks}, stem {spec['stem']}{extra}")
    return [*out, ""] if out else []


def render_card(r: dict, entries: dict) -> str:
    """The model card of the bundled family, from the figures of this run."""
    lines = [
        "# Model card: the bundled edge-deblur models",
        "",
        f"Generated by `{r['command']}` on {r['created']}; every figure below is from "
        "that run (`benchmarks/results/model_quality.md` has the per-pair table).",
        "",
        "## Models",
        "",
        "| name | file | quant | input tile | MAC/pixel | bytes | recommended |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        e = entries.get(name)
        tile = "x".join(str(v) for v in m["input_size"]) if m.get("input_size") else "dynamic"
        rec = "yes (`default`)" if e is not None and e.recommended else ""
        lines.append(
            f"| {name} | `{m['file']}` | {m['quant']} | {tile} | {m['macs_per_pixel']} | "
            f"{m['bytes']} | {rec} |"
        )
    lines += [
        "",
        "All are the `cnn` architecture (edge_deblur/models/cnn.py: residual encoder-decoder, "
        "stride-2 convs, depthwise-separable blocks, nearest up-sampling, global residual; only "
        "int8 builtins the Edge TPU maps). Stem 2 (see the shapes below) has no full-resolution "
        "feature map: a stride-2 head, and a 2x2 stride-2 transposed convolution writes the "
        "correction. int8 models: per-channel weights, uint8 I/O, batch 1, "
        "quantization-aware fine-tuned (300 steps, distilled from the float model); each fp32 "
        "model is the int8 model's float twin at the same input size. A model whose input is "
        "smaller than the frame runs as overlapping tiles of its input size.",
        "",
        *_shapes(r["models"]),
        "## Training data and exact commands",
        "",
        "`make models` (benchmarks/scripts/make_models.sh) retrains and reconverts the family from "
        "`../shared/data`; each model's recipe is a `TrainConfig` YAML:",
        "",
    ]
    for family in dict.fromkeys(n.rsplit("-", 1)[0] for n in r["models"]):
        rp = _recipe(family + "-x")
        if rp is not None:
            lines.append(
                f"- `{family}`: `edge-deblur train --config {rp.relative_to(ROOT)} "
                f"--out runs/release/{family}`, then `edge-deblur convert` as in make_models.sh."
            )
            # Where a shipped run differs from its recipe, the recipe's header says so.
            notes = []
            for ln in rp.read_text(encoding="utf-8").splitlines():
                if not ln.startswith("#"):
                    break  # the header block only
                notes.append(ln[1:].strip())
            text = " ".join(notes)
            if "The bundled" in text:
                lines.append(f"  {text[text.index('The bundled') :]}")
    lines += ["", "Data (research / evaluation terms; cite the authors):", "", *DATA_CREDITS]
    lines += [
        "",
        "## Quality on real blur (`gopro_dev`, full resolution, through the runtime)",
        "",
        f"Held-out: the pairs of scenes the models never saw; the {', '.join(r['train_scenes'])} "
        "pairs come from the scene of the training clip and are reported apart.",
        "",
        "| model | PSNR held-out | gain held-out | SSIM held-out | PSNR all | gain all "
        "| worst pair |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        h, a = m["mean"]["held_out"], m["mean"]["all"]
        lines.append(
            f"| {name} | {h['psnr']:.2f} | {h['gain']:+.2f} dB | {h['ssim']:.4f} | {a['psnr']:.2f}"
            f" | {a['gain']:+.2f} dB | {m['worst_gain']:+.2f} dB |"
        )
    first = next(iter(r["models"].values()))["mean"]
    lines.append(
        f"| blurred input | {first['held_out']['input_psnr']:.2f} | – | "
        f"{first['held_out']['input_ssim']:.4f} | {first['all']['input_psnr']:.2f} | – | – |"
    )
    if r.get("latency"):
        lines += [
            "",
            "## Speed: projected for the boards, measured on this host",
            "",
            "Projections come from `benchmarks/profiles/*.yaml` (effective int8 MAC/s calibrated "
            "on published MobileNet latencies) and this host's measured efficiency; they are "
            "estimates, not measurements on a board.",
            "",
        ]
        if r.get("host"):
            lines += [host_line(r["host"]), ""]
        where = list(dict.fromkeys(row["profile"] for row in r["latency"]))
        lines.append("| model | size | " + " | ".join(where) + " |")
        lines.append("|---|---|" + "---|" * len(where))
        keys = list(dict.fromkeys((row["model"], row["size"]) for row in r["latency"]))
        by = {(row["model"], row["size"], row["profile"]): row for row in r["latency"]}
        for model, size in keys:
            cells = []
            for w in where:
                row = by.get((model, size, w))
                cells.append(f"{row['fps']:.1f} FPS" if row and row.get("fps") else "–")
            lines.append(f"| {model} | {size} | " + " | ".join(cells) + " |")
    if r.get("targets"):
        lines += ["", "## Issue 6 targets (default model)", ""]
        for t in r["targets"]:
            lines.append(f"- {t['target']}: {t['measured']} ({'met' if t['met'] else 'NOT met'})")
    lines += [
        "",
        "## Limitations",
        "",
        "- Trained for hours, not days, on a 2-core CPU, on one real-blur scene plus synthetic "
        "blur: the gain on unseen real scenes is small and can be negative on some frames (see "
        "the worst-pair column). Check it on your own footage with `edge-deblur eval`; where the "
        "correction overdoes it, `--strength` below 1 (run, deblur, eval) applies part of it.",
        "- The demo clip (runtime/zoo/demo) is made from the same 240 fps clip as the training "
        "pairs: `edge-deblur demo`'s PSNR gain is a training-scene figure, not a validation one.",
        "- Tile-based: frames larger than the tile run as overlapping tiles (feathered), so cost "
        "grows with the frame area, and blur longer than about a tile's receptive field is out of "
        "reach.",
        "",
        "Licence: the model files are released under the repository's Apache-2.0 licence; the data "
        "they were trained on keeps its own terms (above).",
    ]
    return "\n".join(lines) + "\n"


def _twin(name: str, models: dict) -> str | None:
    """The fp32 model of the same family: ``x-int8`` -> ``x-fp32``."""
    if name.endswith("-int8"):
        twin = name[: -len("int8")] + "fp32"
        return twin if twin in models else None
    return None


def targets(r: dict, entries: dict) -> list[dict]:
    d = r.get("default")
    models = r["models"]
    if d is None or d not in models:
        return []
    m = models[d]
    out = []
    held = m["mean"]["held_out"]
    alls = m["mean"]["all"]
    out.append(
        {
            "target": "default int8: mean PSNR gain over the input >= +1.5 dB",
            "measured": f"{held['gain']:+.3f} dB held-out ({held['n']} pairs); "
            f"{alls['gain']:+.3f} dB all {alls['n']}",
            "met": bool(held["gain"] >= 1.5),
        }
    )
    out.append(
        {
            "target": "default int8: not worse than the input on any pair",
            "measured": f"worst pair {m['worst_gain']:+.3f} dB",
            "met": bool(m["worst_gain"] >= 0.0),
        }
    )
    twin = _twin(d, models)
    if twin:
        diff = models[twin]["mean"]["all"]["psnr"] - alls["psnr"]
        out.append(
            {
                "target": "int8 within 0.3 dB of its fp32 twin",
                "measured": f"fp32 - int8 = {diff:+.3f} dB ({twin})",
                "met": bool(diff <= 0.3),
            }
        )
    best_name, best = max(
        ((k, v["mean"]["held_out"]["psnr"]) for k, v in r["baselines"].items()), key=lambda t: t[1]
    )
    out.append(
        {
            "target": "default int8 >= 1 dB above the best classical baseline",
            "measured": f"{held['psnr'] - best:+.3f} dB vs {best_name} ({best:.3f} dB), held-out",
            "met": bool(held["psnr"] - best >= 1.0),
        }
    )
    for row in r.get("latency", []):
        if row["model"] == d and row["profile"] == "rpi4" and row["size"] == "640x480":
            out.append(
                {
                    "target": "default: projected >= 15 FPS at 640x480 on the Raspberry Pi 4",
                    "measured": f"{row['fps']:.1f} FPS ({row['label']})",
                    "met": bool(row["fps"] and row["fps"] >= 15.0),
                }
            )
    return out


def _f(v, nd=3):
    return "–" if v is None else f"{v:.{nd}f}"


def render(r: dict) -> str:
    which = "Models given" if r.get("given") else "Bundled models"
    lines = [
        f"# {which}: quality on real blur (issue 6)",
        "",
        f"Run {r['created']}; command: `{r['command']}`. Pairs: `{r['pairs']}` at full resolution "
        "through the runtime (tiled as on a board). Pairs of the training scenes "
        f"({', '.join(r['train_scenes'])}) are marked `train scene` and kept out of the held-out "
        "means."
        + (
            f" Models at `--strength {r['strength']:g}` (that share of their correction applied)."
            if r.get("strength", 1.0) != 1.0
            else ""
        )
        + (
            " `NAME xN`: the model as a self-ensemble of N flipped (at 8 also transposed) copies "
            "of each frame, averaged (`--ensemble N`), N times the invokes."
            if any(n != 1 for n in r.get("ensembles", [1]))
            else ""
        ),
        "",
    ]
    if r.get("targets"):
        lines += [f"## Targets (default model: `{r['default']}`)", ""]
        lines += ["| target | measured | |", "|---|---|---|"]
        for t in r["targets"]:
            lines.append(
                f"| {t['target']} | {t['measured']} | {'met' if t['met'] else 'NOT met'} |"
            )
        lines.append("")
    lines += [
        "## Means",
        "",
        "| model | MAC/px | bytes | PSNR held-out | gain held-out | PSNR all | gain all | SSIM "
        "held-out | worst pair gain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in r["models"].items():
        h, a = m["mean"]["held_out"], m["mean"]["all"]
        lines.append(
            f"| {name} | {m.get('macs_per_pixel') or '–'} | {m['bytes']} | {_f(h['psnr'])} | "
            f"{h['gain']:+.3f} | {_f(a['psnr'])} | {a['gain']:+.3f} | {_f(h['ssim'], 4)} | "
            f"{m['worst_gain']:+.3f} |"
        )
    first = next(iter(r["models"].values()))
    h, a = first["mean"]["held_out"], first["mean"]["all"]
    lines.append(
        f"| blurred input | – | – | {_f(h['input_psnr'])} | – | {_f(a['input_psnr'])} | – | "
        f"{_f(h['input_ssim'], 4)} | – |"
    )
    for name, b in r["baselines"].items():
        h, a = b["mean"]["held_out"], b["mean"]["all"]
        lines.append(
            f"| {name} (classical) | – | – | {_f(h['psnr'])} | {h['gain']:+.3f} | "
            f"{_f(a['psnr'])} | {a['gain']:+.3f} | {_f(h['ssim'], 4)} | "
            f"{min(p['gain'] for p in b['per_pair']):+.3f} |"
        )
    lines += ["", "## Per pair (PSNR dB; gain over the input)", ""]
    names = list(r["models"])
    lines.append("| pair | input | " + " | ".join(names) + " |")
    lines.append("|---|---|" + "---|" * len(names))
    for i, p in enumerate(first["per_pair"]):
        tag = "" if p["held_out"] else " (train scene)"
        row = [r["models"][n]["per_pair"][i] for n in names]
        cells = [f"{c['psnr']:.2f} ({c['gain']:+.2f})" for c in row]
        lines.append(f"| {p['name']}{tag} | {p['input_psnr']:.2f} | " + " | ".join(cells) + " |")
    if r.get("latency"):
        lines += [
            "",
            "## Latency: measured on this host, projected for the boards",
            "",
            *([host_line(r["host"]), ""] if r.get("host") else []),
            "| model | size | where | ms | FPS | label |",
            "|---|---|---|---|---|---|",
        ]
        for row in r["latency"]:
            lines.append(
                f"| {row['model']} | {row['size']} | {row['profile']} | {_f(row['ms'], 1)} | "
                f"{_f(row['fps'], 1)} | {row['label']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
