"""``edge-deblur explain``: see inside a model, and why int8 costs quality.

:func:`explain` runs a Keras model (and, optionally, the int8 ``.tflite`` converted from it) on
tiles of real images and writes a report folder:

* ``report.html``: tables, the suggestions and the figures;
* ``explain.json``: every number of the page (``format`` 1);
* ``ranges.png``, ``channels.png``, ``saliency.png``, ``change.png`` and, with a ``.tflite``,
  ``int8_error.png`` (see :mod:`edge_deblur.explain.render`).

The tiles are drawn like the converter draws them (:mod:`converters.calibration`): the image list
is split by file into a calibration part and a held-back part; the simulated int8 ranges are
calibrated on the first, clip/crush shares and the float-vs-int8 comparison measured on the second.
Pieces: :mod:`~edge_deblur.explain.activations` (ranges, percentiles, clip/crush, dead channels),
:mod:`~edge_deblur.explain.int8` (per-layer error and its ranking),
:mod:`~edge_deblur.explain.gradients` (saliency, change map), :mod:`~edge_deblur.explain.suggest`
(rules, and :func:`~edge_deblur.explain.suggest.apply_suggestion`).

Models with more than one input (e.g. a temporal model fed several frames) are explained on their
first 3-channel input: other inputs with a multiple of 3 channels get the same frame repeated,
any other input zeros; the report says so. Importing this package does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_deblur.explain.activations import ActivationCollector, LayerStats, is_relu_like
from edge_deblur.explain.gradients import Region
from edge_deblur.explain.suggest import RULES, Suggestion, apply_suggestion, suggest
from runtime.errors import InputError, ModelError, OutputExistsError, expected
from runtime.io import check_output, chmod_as_created, make_parent

FORMAT = 1
PSNR_CAP_DB = 100.0  # identical outputs (JSON has no infinity)
SOLO_TILES = 4  # held-back tiles for the one-layer-at-a-time output cost

__all__ = [
    "RULES",
    "ExplainConfig",
    "ExplainResult",
    "LayerStats",
    "Region",
    "Suggestion",
    "apply_suggestion",
    "explain",
    "load_keras",
]


@dataclasses.dataclass(frozen=True)
class ExplainConfig:
    """How many tiles of which size, the saliency region, seed and interpreter threads.

    ``tile`` is used when no ``.tflite`` is given or the ``.tflite`` has a dynamic size (a fixed
    ``.tflite`` input size wins); it is rounded down to the model's pad multiple.
    """

    tiles: int = 16
    tile: int = 128
    region: Region | None = None
    seed: int = 0
    threads: int = 2
    batch: int = 4

    def __post_init__(self) -> None:
        for name in ("tiles", "tile", "threads", "batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                flag = "--tile-size" if name == "tile" else f"--{name.replace('_', '-')}"
                raise InputError(expected(flag, "an integer >= 1", v))
        if self.tiles < 2:
            raise InputError(
                expected("--tiles", "at least 2 (calibration + held-back)", self.tiles)
            )


@dataclasses.dataclass(frozen=True)
class ExplainResult:
    """The report folder, its JSON as a dict, and the typed pieces behind it."""

    out: Path
    report: dict[str, Any]
    stats: tuple[LayerStats, ...]
    int8: Any | None
    suggestions: tuple[Suggestion, ...]
    figures: tuple[str, ...]


def load_keras(path: str | os.PathLike) -> Any:
    """Load a ``.keras`` file (or a train run folder holding ``model.keras``).

    InputError for a missing path, ModelError for a file Keras cannot load.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(expected("MODEL", "an existing .keras file or run folder", str(p)))
    f = p / "model.keras" if p.is_dir() else p
    if not f.is_file():
        raise ModelError(
            expected("MODEL", "a run folder containing model.keras", str(p), "give the .keras")
        )
    from edge_deblur._keras import keras

    try:
        model = keras.models.load_model(str(f), compile=False)
    except Exception as e:  # Keras raises many unrelated types for a file that is not a model
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(
            expected("MODEL", "a Keras model saved with model.save('*.keras')", str(f), first)
        ) from e
    if not isinstance(model, keras.Model):
        raise ModelError(expected("MODEL", "a Keras Model", type(model).__name__))
    return model


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """How the model's inputs are made from one RGB frame.

    Per input a kind: ``frame`` (the RGB frame), ``repeat:N`` (the frame N times along the
    channels, e.g. a stack of past frames) or ``zeros:C`` (e.g. a recurrent state: zero is the
    neutral first-frame state), and the factor its spatial size is below the frame's (a state at
    1/8 of the frame: 8), found by :func:`_fit_scales`.
    """

    kinds: tuple[str, ...]
    scales: tuple[int, ...]
    names: tuple[str, ...]
    out_index: int

    def numpy(self, frames: np.ndarray) -> Any:
        """``frames`` (B, H, W, 3) of any dtype -> the model's input list (or the one array)."""
        b, h, w = frames.shape[:3]
        feeds = []
        for k, sc in zip(self.kinds, self.scales, strict=True):
            if k == "frame":
                feeds.append(frames)
            elif k.startswith("repeat:"):
                feeds.append(np.concatenate([frames] * int(k[7:]), axis=-1))
            else:
                feeds.append(np.zeros((b, h // sc, w // sc, int(k[6:])), frames.dtype))
        return feeds[0] if len(feeds) == 1 else feeds

    def tensors(self, x: Any) -> Any:
        from edge_deblur._keras import tf

        feeds = []
        for k, sc in zip(self.kinds, self.scales, strict=True):
            if k == "frame":
                feeds.append(x)
            elif k.startswith("repeat:"):
                feeds.append(tf.concat([x] * int(k[7:]), axis=-1))
            else:
                h, w = x.shape[1] // sc, x.shape[2] // sc
                feeds.append(tf.zeros((x.shape[0], h, w, int(k[6:])), x.dtype))
        return feeds[0] if len(feeds) == 1 else feeds

    @property
    def note(self) -> str | None:
        if len(self.kinds) == 1:
            return None
        extra = [
            f"{n}: {'the same frame' if k.startswith('repeat') else 'zeros'}"
            + (f" at 1/{sc} of the frame size" if sc > 1 else "")
            for n, k, sc in zip(self.names, self.kinds, self.scales, strict=True)
            if k != "frame"
        ]
        return (
            f"The model has {len(self.kinds)} inputs: the RGB frame, and "
            + ", ".join(extra)
            + " (explain analyses single frames)."
        )


def _kind(channels: int, name: str) -> str:
    if channels == 3:
        return "frame"
    if channels % 3 == 0 and "state" not in name:
        return f"repeat:{channels // 3}"
    return f"zeros:{channels}"


def _inputs_of(model: Any) -> _Inputs:
    kinds, names = [], []
    for i, t in enumerate(model.inputs):
        shape = tuple(t.shape)
        if len(shape) != 4 or shape[-1] is None:
            raise ModelError(
                expected("MODEL", "image inputs (N, H, W, C)", f"input {i} of shape {shape}")
            )
        name = model.input_names[i]
        names.append(name)
        kinds.append(_kind(int(shape[-1]), name))
    if "frame" not in kinds:
        raise ModelError(
            expected(
                "MODEL", "an RGB image input (N, H, W, 3)", [tuple(t.shape) for t in model.inputs]
            )
        )
    outs = [
        i
        for i, t in enumerate(model.outputs)
        if len(t.shape) == 4 and t.shape[-1] is not None and int(t.shape[-1]) == 3
    ]
    if not outs:
        raise ModelError(
            expected(
                "MODEL", "an RGB image output (N, H, W, 3)", [tuple(t.shape) for t in model.outputs]
            )
        )
    return _Inputs(tuple(kinds), (1,) * len(kinds), tuple(names), outs[0])


def _fit_scales(model: Any, feed: _Inputs, size: tuple[int, int]) -> _Inputs:
    """Find the spatial scale of every zeros input by trying 1, 2, 4, ... on one frame."""
    if all(k == "frame" or k.startswith("repeat") for k in feed.kinds):
        return feed
    frame = np.zeros((1, *size, 3), np.float32)
    scales = list(feed.scales)
    for i, k in enumerate(feed.kinds):
        if not k.startswith("zeros"):
            continue
        for sc in (1, 2, 4, 8, 16, 32, 64):
            if size[0] % sc or size[1] % sc:
                break
            scales[i] = sc
            trial = dataclasses.replace(feed, scales=tuple(scales))
            try:
                model(trial.numpy(frame), training=False)
            except Exception:  # Keras/TF raise several types for mismatched shapes
                continue
            feed = trial
            break
        else:
            raise ModelError(
                expected(
                    "MODEL",
                    f"an extra input {feed.names[i]!r} that zeros at 1/1..1/64 of the frame fit",
                    "none fits",
                    "explain supports extra inputs at the frame size or a power-of-2 fraction",
                )
            )
    return feed


def _graph(model: Any) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """The probed layers (single-output, not inputs) and layer -> kind/inputs/outputs/..."""
    from edge_deblur._keras import keras, tf

    graph: dict[str, dict[str, Any]] = {}
    for layer in model.layers:
        inputs, call_inputs = [], []
        for node in layer._inbound_nodes:  # noqa: SLF001 - the functional graph's only record
            for src in tf.nest.flatten(node.inbound_layers):
                call_inputs.append(src.name)
                if src.name not in inputs:
                    inputs.append(src.name)
        act = getattr(layer, "activation", None)
        act_name = getattr(act, "__name__", None)
        kind = type(layer).__name__
        homogeneous = (
            kind == "ReLU"
            and layer.get_config().get("max_value") is None
            and not float(layer.get_config().get("threshold") or 0.0)
        ) or (kind in ("Conv2D", "DepthwiseConv2D") and act_name == "relu")
        graph[layer.name] = {
            "kind": kind,
            "inputs": inputs,
            "call_inputs": call_inputs,
            "outputs": [],
            "activation": act_name if act_name not in (None, "linear") else None,
            "homogeneous": homogeneous,
        }
    for name, node in graph.items():
        for src in node["inputs"]:
            if src in graph:
                graph[src]["outputs"].append(name)
    probed = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer) and not isinstance(layer.output, list)
    ]
    return probed, graph


def _sources(images: str | os.PathLike) -> list[Any]:
    """``--images``: a folder of images, or a GoPro-layout folder (blur/ + sharp/)."""
    from converters import calibration as cal
    from runtime.io import IMAGE_SUFFIXES, list_images

    root = Path(images)
    if not root.is_dir():
        raise InputError(expected("--images", "an existing folder of images", str(root)))
    if (root / "blur").is_dir() or any((d / "blur").is_dir() for d in root.iterdir() if d.is_dir()):
        try:
            return cal.find_sources(None, root)
        except InputError:
            pass
    imgs = list_images(root)
    if not imgs:
        raise InputError(
            expected(
                "--images",
                f"a folder with images ({', '.join(IMAGE_SUFFIXES)}) or blur/ + sharp/",
                f"{str(root)!r} with none",
                "point it at real photos the model will see",
            )
        )
    return [cal.Source(p) for p in imgs]


class _TFLite:
    """The int8 model with every tensor preserved, fed the same tiles as Keras."""

    def __init__(self, path: Path, inputs: _Inputs, threads: int) -> None:
        from edge_deblur.explain.int8 import open_tflite
        from runtime.model_file import inspect_model, read_metadata

        self.path = path
        self.it, data = open_tflite(path, threads)
        self.info = inspect_model(data)
        self.metadata = read_metadata(data, name=f"--tflite {str(path)!r}") or {}
        details = self.it.get_input_details()
        if len(details) != len(inputs.kinds) or any(len(d["shape"]) != 4 for d in details):
            raise ModelError(
                expected(
                    "--tflite",
                    f"a model with the Keras model's {len(inputs.kinds)} image input(s)",
                    f"{len(details)} inputs",
                    "give the .tflite converted from this MODEL",
                )
            )
        self.order = _match_inputs(details, inputs)
        self.inputs = details
        outs = [
            d for d in self.it.get_output_details() if len(d["shape"]) == 4 and d["shape"][-1] == 3
        ]
        if not outs:
            raise ModelError(expected("--tflite", "an image-to-image model", str(path)))
        self.out = outs[0]
        image = details[self.order.index(inputs.kinds.index("frame"))]
        sig = image.get("shape_signature", image["shape"])
        self.fixed = None if -1 in list(sig[1:3]) else (int(sig[1]), int(sig[2]))

    def resize(self, h: int, w: int, feed: _Inputs) -> None:
        """Dynamic models: every input resized to the tile (extra inputs at their scale)."""
        if self.fixed is not None:
            return
        for d, k in zip(self.inputs, self.order, strict=True):
            sc = feed.scales[k]
            self.it.resize_tensor_input(d["index"], [1, h // sc, w // sc, int(d["shape"][-1])])
        self.it.allocate_tensors()
        self.inputs = self.it.get_input_details()
        self.out = next(d for d in self.it.get_output_details() if d["index"] == self.out["index"])

    def run(self, tile: np.ndarray, feed: _Inputs) -> np.ndarray:
        """One uint8 tile (H, W, 3) in, the uint8 output back; pixels through runtime.quant."""
        from runtime.quant import input_codec, output_codec

        feeds = feed.numpy(tile[None])
        feeds = feeds if isinstance(feeds, list) else [feeds]
        for d, k in zip(self.inputs, self.order, strict=True):
            s, z = d.get("quantization", (0.0, 0))
            self.it.set_tensor(
                d["index"], input_codec(d["dtype"], float(s), int(z)).encode(feeds[k])
            )
        self.it.invoke()
        s, z = self.out.get("quantization", (0.0, 0))
        codec = output_codec(self.out["dtype"], float(s), int(z))
        return codec.decode(self.it.get_tensor(self.out["index"]))[0]


def _check_same_run(model_path: Path, tflite: Path, meta: dict[str, Any]) -> None:
    """Refuse a ``--tflite`` whose metadata names another training run than MODEL's: the
    comparison would blame int8 for the difference between two models. Checked where both carry
    the run's ``config_hash`` (MODEL in a run folder with config.yaml, a converted .tflite)."""
    from converters.convert import read_run_config

    model_file = model_path / "model.keras" if model_path.is_dir() else model_path
    run_cfg, digest = read_run_config(model_file)
    mine = (run_cfg or {}).get("config_hash") or digest
    theirs = meta.get("config_hash")
    if mine and theirs and mine != theirs:
        raise InputError(
            expected(
                "--tflite",
                f"a model converted from MODEL's run and config ({mine[:19]}...)",
                f"{str(tflite)!r}, converted from another run or an earlier config of it "
                f"({theirs[:19]}...)",
                "convert MODEL with `edge-deblur convert` and pass that .tflite",
            )
        )


def _channels(kind: str) -> int:
    if kind == "frame":
        return 3
    n = int(kind.split(":")[1])
    return 3 * n if kind.startswith("repeat") else n


def _match_inputs(details: list[dict], feed: _Inputs) -> list[int]:
    """For each TFLite input, the index of the Keras input it is: by name, else channel count."""
    order: list[int] = []
    for d in details:
        name = str(d["name"]).removeprefix("serving_default_").split(":")[0]
        by_name = [i for i, n in enumerate(feed.names) if n == name or n in name]
        by_ch = [i for i, k in enumerate(feed.kinds) if _channels(k) == int(d["shape"][-1])]
        free = [i for i in (by_name or by_ch) if i not in order]
        if not free:
            raise ModelError(
                expected(
                    "--tflite", "inputs that match the Keras model's", d["name"], "convert MODEL"
                )
            )
        order.append(free[0])
    return order


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    from runtime.metrics import psnr

    return min(PSNR_CAP_DB, psnr(a, b))


def _to8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@contextlib.contextmanager
def _atomic_dir(final: Path, force: bool):
    """Yield a temp folder beside ``final``; on success it replaces ``final``."""
    check_output(final, force=force)
    make_parent(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    chmod_as_created(tmp, 0o777)  # mkdtemp makes 0700
    try:
        yield tmp
        old = None
        if final.exists():
            if not force:
                raise OutputExistsError(
                    f"output {str(final)!r} appeared while writing; pass --force to replace it"
                )
            old = final.parent / f".{final.name}.old.{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old is not None:
            old.unlink()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def explain(
    model_path: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    cfg: ExplainConfig | None = None,
    tflite: str | os.PathLike | None = None,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> ExplainResult:
    """Explain the Keras model ``model_path`` on tiles of ``images``; write the report to ``out``.

    Raises InputError (missing model / images / bad region), ModelError (not a Keras model, a
    ``.tflite`` that does not fit it), OutputExistsError (``out`` exists and not ``force``).
    """
    from converters import calibration as cal
    from edge_deblur.explain import render
    from edge_deblur.explain.gradients import gradient_maps
    from edge_deblur.explain.int8 import Int8Collector, match_tensors, solo_sensitivity
    from edge_deblur.models import infer_pad_multiple
    from runtime.io import read_image

    cfg = cfg or ExplainConfig()
    step = on_step or (lambda _m: None)
    t0 = time.perf_counter()
    out = Path(out)
    check_output(out, force=force)
    sources = _sources(images)
    step("loading the model")
    model = load_keras(model_path)
    feed = _inputs_of(model)
    mult = max(1, infer_pad_multiple(model))
    tfl = _TFLite(Path(tflite), feed, cfg.threads) if tflite is not None else None
    if tfl is not None:
        _check_same_run(Path(model_path), Path(tflite), tfl.metadata)
    if tfl is not None and tfl.fixed is not None:
        size = tfl.fixed
    else:
        t = max(mult, cfg.tile // mult * mult)
        size = (t, t)
    fixed_keras = tuple(model.inputs[0].shape[1:3])
    if all(fixed_keras) and tuple(int(v) for v in fixed_keras) != size:
        size = (int(fixed_keras[0]), int(fixed_keras[1]))
    if size[0] % mult or size[1] % mult:
        raise ModelError(expected("--tflite", f"an input size that is a multiple of {mult}", size))
    feed = _fit_scales(model, feed, size)
    if tfl is not None:
        tfl.resize(*size, feed)

    step("drawing tiles")
    fit, held = cal.split_sources(sources)
    n_cal = cfg.tiles // 2
    calib = cal.sample_tiles(fit, n_cal, size, cfg.seed, "calibration")
    evalt = cal.sample_tiles(held, cfg.tiles - n_cal, size, cfg.seed + 1, "held-back")

    from edge_deblur._keras import keras

    probed, graph = _graph(model)
    probe = keras.Model(model.inputs, [layer.output for layer in probed])
    names = [layer.name for layer in probed]
    layer_rows = [
        (layer.name, type(layer).__name__, tuple(graph[layer.name]["inputs"]), is_relu_like(layer))
        for layer in probed
    ]
    acts = ActivationCollector(layer_rows, seed=cfg.seed)
    out_layer = model.output_names[feed.out_index]

    def run_probe(tiles: np.ndarray) -> list[np.ndarray]:
        x = tiles.astype(np.float32) / np.float32(255.0)
        res = probe(feed.numpy(x), training=False)
        return [np.asarray(r) for r in (res if isinstance(res, (list, tuple)) else [res])]

    step(f"activations on {len(calib)} calibration tiles")
    for i in range(0, len(calib), cfg.batch):
        for name, arr in zip(names, run_probe(calib.inputs[i : i + cfg.batch]), strict=True):
            acts.observe(name, arr, calibration=True)

    step(f"activations{' and int8 tensors' if tfl else ''} on {len(evalt)} held-back tiles")
    int8_acc, matches = None, {}
    keras8, tfl8 = [], []
    batch = 1 if tfl is not None else cfg.batch
    for i in range(0, len(evalt), batch):
        outs = run_probe(evalt.inputs[i : i + batch])
        for name, arr in zip(names, outs, strict=True):
            acts.observe(name, arr, calibration=False)
        keras8.append(_to8(outs[names.index(out_layer)]))
        if tfl is None:
            continue
        if int8_acc is None:
            order = {n: k for k, n in enumerate(names)}
            shapes = {n: tuple(a.shape[1:]) for n, a in zip(names, outs, strict=True)}
            matches = match_tensors(tfl.info, order, shapes, out_layer)
            int8_acc = Int8Collector(matches)
        tfl8.append(tfl.run(evalt.inputs[i], feed)[None])
        int8_acc.observe(tfl.it, {n: outs[names.index(n)][0] for n in matches})
    stats = acts.results()

    cmp = None
    if tfl is not None and int8_acc is not None:
        k8, t8 = np.concatenate(keras8), np.concatenate(tfl8)
        sharp = evalt.sharp
        solo = None
        if matches:
            step(f"output cost of each int8 layer alone ({len(matches)} layers)")
            x = evalt.inputs[:SOLO_TILES].astype(np.float32) / np.float32(255.0)
            inbound = {n: node["call_inputs"] for n, node in graph.items()}
            solo = solo_sensitivity(model, inbound, feed.numpy(x), out_layer, matches)
        cmp = int8_acc.results(
            [(n, tuple(graph[n]["inputs"])) for n in names],
            _psnr(t8, k8),
            _psnr(k8, sharp) if sharp is not None else None,
            _psnr(t8, sharp) if sharp is not None else None,
            str(tfl.path),
            solo,
        )
        if not matches:
            raise ModelError(
                expected(
                    "--tflite",
                    "a model converted from MODEL (intermediate tensors named after its layers)",
                    f"no tensor of {str(tfl.path)!r} matches a layer",
                    "convert MODEL with `edge-deblur convert` and pass that .tflite",
                )
            )

    step("gradient analysis")
    first = sources[0].blur
    grad = gradient_maps(
        model, feed.tensors, feed.out_index, read_image(first), first.name, mult, cfg.region
    )
    gsum = grad.summary()
    sugg = suggest(stats, cmp, gsum, graph)

    report: dict[str, Any] = {
        "format": FORMAT,
        "model": str(model_path),
        "model_name": model.name,
        "images": str(images),
        "tflite": str(tflite) if tflite is not None else None,
        "tiles": {
            "size": list(size),
            "calibration": len(calib),
            "held_back": len(evalt),
            "images": len(sources),
            "seed": cfg.seed,
        },
        "pad_multiple": mult,
        "input_note": feed.note,
        "rules": dict(RULES),
        "layers": [s.to_dict() for s in stats],
        "int8": cmp.to_dict() if cmp else None,
        "gradients": gsum,
        "suggestions": [s.to_dict() for s in sugg],
    }

    step("writing the report")
    with _atomic_dir(out, force) as tmp:
        figures = []
        plots = [
            ("ranges.png", lambda p: render.plot_ranges(stats, p)),
            ("channels.png", lambda p: render.plot_channels(stats, p)),
            ("int8_error.png", (lambda p: render.plot_int8(cmp, p)) if cmp else None),
            ("saliency.png", lambda p: render.plot_saliency(grad, p)),
            ("change.png", lambda p: render.plot_change(grad, p)),
        ]
        for fname, fn in plots:
            if fn is not None:
                fn(tmp / fname)
                figures.append(fname)
        report["figures"] = figures
        report["seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "explain.json").write_text(
            json.dumps(_clean(report), indent=2, allow_nan=False) + "\n"
        )
        (tmp / "report.html").write_text(render.render_html(_clean(report), figures))
    return ExplainResult(out, _clean(report), tuple(stats), cmp, tuple(sugg), tuple(figures))


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
