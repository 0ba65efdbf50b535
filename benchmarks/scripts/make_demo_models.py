"""Find or make the three models the bench target runs on, and print their paths (one a line).

Preference: ``.tflite`` files already converted from a trained run (``/tmp/run_small``,
``runs/*``), then a trained run folder (``model.keras`` + ``config.yaml``) converted here, and only
when no trained model exists, *untrained* registry models (``cnn`` tiny and small, seeded random
weights) converted here. Untrained models time exactly like trained ones of the same architecture,
but their quality figures mean nothing: the script says which case it used on stderr.

Conversions here are plain ``tf.lite`` (fp32, and full int8 with uint8 I/O, both at a fixed
256x256, int8 calibrated on random crops of the pairs or on noise) plus the ``edge_deblur`` metadata
written by ``runtime.model_file.write_metadata``, so the benchmark reads variant and MACs as it
would from ``edge-deblur convert``.

    .venv/bin/python benchmarks/scripts/make_demo_models.py [--out DIR] [--pairs DIR]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SEARCH = (Path("/tmp/run_small"), ROOT / "runs")
INT8_SIZE = 256


def _log(msg: str) -> None:
    print(f"make_demo_models: {msg}", file=sys.stderr)


def find_tflites() -> list[Path]:
    """Converted models of trained runs, newest first."""
    found: list[Path] = []
    for base in SEARCH:
        if base.is_dir():
            found += [p for p in base.rglob("*.tflite") if "_edgetpu" not in p.name]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def find_run() -> Path | None:
    """A trained run folder (``model.keras`` + ``config.yaml``), newest first."""
    runs = []
    for base in SEARCH:
        if base.is_dir():
            runs += [
                p.parent for p in base.rglob("model.keras") if (p.parent / "config.yaml").is_file()
            ]
    runs.sort(key=lambda p: (p / "model.keras").stat().st_mtime, reverse=True)
    return runs[0] if runs else None


def _calibration(pairs: Path | None, n: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    crops: list[np.ndarray] = []
    if pairs is not None and (pairs / "blur").is_dir():
        from runtime.io import list_images, read_image

        imgs = [read_image(p) for p in list_images(pairs / "blur")[:8]]
        for i in range(n):
            im = imgs[i % len(imgs)]
            y = rng.integers(0, im.shape[0] - INT8_SIZE)
            x = rng.integers(0, im.shape[1] - INT8_SIZE)
            crops.append(im[y : y + INT8_SIZE, x : x + INT8_SIZE].astype(np.float32) / 255.0)
    while len(crops) < n:
        crops.append(rng.random((INT8_SIZE, INT8_SIZE, 3), dtype=np.float32))
    return crops


def convert(model, quant: str, calib: list[np.ndarray]) -> bytes:
    """fp32 or full int8 (uint8 I/O) TFLite bytes, both with a fixed 256x256 input."""
    from edge_deblur._keras import keras, tf

    # Fixed 256x256 for every mode: a dynamic-size graph of these encoder-decoders only learns its
    # output shape at invoke time, which runtime.engine (as of this commit) refuses.
    inp = keras.Input((INT8_SIZE, INT8_SIZE, 3), batch_size=1)
    fixed = keras.Model(inp, model(inp))
    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    if quant == "int8":

        def rep():
            for c in calib:
                yield [c[None]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.uint8
    return conv.convert()


def write(
    model, name: str, quant: str, arch: str, size: str, calib, out: Path, force: bool
) -> Path:
    from edge_deblur import models as registry
    from runtime.io import atomic_write
    from runtime.model_file import write_metadata

    path = out / f"{name}-{quant}.tflite"
    if path.exists() and not force:
        return path
    meta = {
        "format": 1,
        "package_version": "0.1.0",
        "arch": arch,
        "size": size,
        "input_size": [INT8_SIZE, INT8_SIZE],
        "pad_multiple": registry.infer_pad_multiple(model),
        "normalization": {"color": "RGB", "range": [0, 1]},
        "quant": quant,
        "io_dtype": "float32" if quant == "fp32" else "uint8",
        "sparsity": 0.0,
        "macs_per_pixel": float(registry.macs_per_pixel(model)),
        "config_hash": None,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    atomic_write(path, write_metadata(convert(model, quant, calib), meta), force=True)
    _log(f"wrote {path} ({quant}, {meta['macs_per_pixel']:.0f} MAC/px)")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/edge_deblur_bench_models"))
    ap.add_argument("--pairs", type=Path, default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    tfl = find_tflites()
    if len(tfl) >= 3:
        _log(f"using converted models of trained runs: {', '.join(map(str, tfl[:3]))}")
        print("\n".join(str(p) for p in tfl[:3]))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    calib = _calibration(args.pairs)
    run = find_run()
    from edge_deblur import models as registry
    from edge_deblur._keras import keras

    if run is not None:
        import yaml

        cfg = yaml.safe_load((run / "config.yaml").read_text())
        model = keras.models.load_model(run / "model.keras", compile=False)
        arch, size = str(cfg.get("arch", "cnn")), str(cfg.get("size", "small"))
        _log(f"using the trained run {run} ({arch}/{size}): fp32, int8, and untrained tiny int8")
        paths = [
            write(model, f"trained-{arch}-{size}", "fp32", arch, size, calib, args.out, args.force),
            write(model, f"trained-{arch}-{size}", "int8", arch, size, calib, args.out, args.force),
        ]
        keras.utils.set_random_seed(0)
        tiny = registry.build_generator("cnn", "tiny")
        paths.append(
            write(tiny, "untrained-cnn-tiny", "int8", "cnn", "tiny", calib, args.out, args.force)
        )
    else:
        _log("no trained model found: UNTRAINED cnn tiny/small (timing valid, quality meaningless)")
        keras.utils.set_random_seed(0)
        tiny = registry.build_generator("cnn", "tiny")
        small = registry.build_generator("cnn", "small")
        paths = [
            write(tiny, "untrained-cnn-tiny", "fp32", "cnn", "tiny", calib, args.out, args.force),
            write(tiny, "untrained-cnn-tiny", "int8", "cnn", "tiny", calib, args.out, args.force),
            write(
                small, "untrained-cnn-small", "int8", "cnn", "small", calib, args.out, args.force
            ),
        ]
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
