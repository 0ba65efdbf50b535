"""The inference core: a ``.tflite`` deblur model applied to RGB uint8 frames of any size.

``Engine(model).process(rgb)`` returns the deblurred frame at the input size. Fixed-size models run
on overlapping, feather-blended tiles (runtime.tiling); dynamic-size models get their input tensor
resized to the frame, padded to the model's ``pad_multiple``. Quantization happens only in
runtime.quant, from the tensors' own scales and zero points. The model's metadata (read without
TensorFlow) supplies the value range and pad multiple, so the user is never asked for them.
``strength`` scales the model's correction (``input + strength * (output - input)``): below 1 on
footage the model overdoes, 0 passes frames through. ``ensemble`` (2, 4 or 8) deblurs flipped (and,
at 8, transposed) copies of each frame and averages them, turned back: a geometric self-ensemble,
that many times the invokes for a little more gain (docs/QUALITY.md); for files more than streams.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime import quant, tiling
from runtime.errors import InputError, ModelError, expected
from runtime.interpreter import load_interpreter
from runtime.model_file import load_bytes, read_metadata
from runtime.zoo import resolve_model

DYNAMIC_PAD_MULTIPLE = 8  # used for a dynamic model without metadata: padding more is harmless
MAX_STRENGTH = 2.0
# Copies per frame in a self-ensemble: 1 (off); 2 the frame and its mirror; 4 adds the vertical
# flips; 8 the transposed frame's four too (the dihedral group of the square).
ENSEMBLES = (1, 2, 4, 8)


def check_strength(strength: Any, name: str = "strength") -> float:
    """``strength`` as a float in [0, MAX_STRENGTH]; InputError naming ``name`` otherwise."""
    try:
        s = float(strength)
    except (TypeError, ValueError):
        s = float("nan")
    if not 0.0 <= s <= MAX_STRENGTH:  # also refuses NaN
        raise InputError(expected(name, f"a number from 0 to {MAX_STRENGTH:g}", strength))
    return s


def check_ensemble(ensemble: Any, name: str = "ensemble") -> int:
    """``ensemble`` as one of :data:`ENSEMBLES`; InputError naming ``name`` otherwise."""
    try:
        n = int(ensemble)
        ok = n == float(ensemble) and n in ENSEMBLES
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(
            expected(name, "1, 2, 4 or 8 (copies of each frame, flipped, averaged)", ensemble)
        )
    return n


def orient(image: np.ndarray, k: int) -> np.ndarray:
    """Copy ``k`` (0-7) of an (H, W, C) image for the self-ensemble: bit 2 transposes, bit 0 flips
    left-right, bit 1 flips up-down (a view, not a copy). :func:`unorient` undoes it."""
    out = image.transpose(1, 0, 2) if k & 4 else image
    if k & 1:
        out = out[:, ::-1]
    return out[::-1] if k & 2 else out


def unorient(image: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`orient` for the same ``k``."""
    if k & 2:
        image = image[::-1]
    if k & 1:
        image = image[:, ::-1]
    return image.transpose(1, 0, 2) if k & 4 else image


def average_copies(copies: Any, count: int) -> np.ndarray:
    """The mean of ``count`` RGB uint8 frames (an iterable, already turned back), rounded half
    up."""
    total = None
    for frame in copies:
        total = frame.astype(np.uint16) if total is None else total + frame
    return ((total + count // 2) // count).astype(np.uint8)


def self_ensemble(deblur: Any, rgb: np.ndarray, ensemble: int) -> np.ndarray:
    """``deblur`` (RGB uint8 -> RGB uint8) applied to ``ensemble`` oriented copies of ``rgb``
    and averaged, turned back: what ``Engine(ensemble=...)`` does, for any deblur function."""
    ensemble = check_ensemble(ensemble)
    if ensemble == 1:
        return deblur(rgb)
    copies = (unorient(deblur(np.ascontiguousarray(orient(rgb, k))), k) for k in range(ensemble))
    return average_copies(copies, ensemble)


def apply_strength(original: np.ndarray, deblurred: np.ndarray, strength: float) -> np.ndarray:
    """``original + strength * (deblurred - original)`` in uint8, rounded and saturated."""
    if strength == 1.0:
        return deblurred
    import cv2

    return cv2.addWeighted(deblurred, strength, original, 1.0 - strength, 0.0)


@dataclass(frozen=True)
class FrameTimings:
    """Where the time of the last frame went, in milliseconds.

    ``pre``: conversion, padding, tiling and quantization; ``invoke``: time inside the
    interpreter's ``invoke()`` for all tiles together; ``post``: dequantization and blending.
    """

    pre: float
    invoke: float
    post: float
    tiles: int


@dataclass
class Prepared:
    """A frame ready for the interpreter: encoded tiles ``(n, th, tw, 3)`` in the input dtype."""

    height: int
    width: int
    tiles: np.ndarray
    plan: tiling.TilePlan | None  # None: dynamic model, one padded tile
    pre_ms: float
    source: np.ndarray  # the frame as RGB uint8 (a reference, not a copy, when it already was)
    # A self-ensemble's copies, copy k oriented by orient(source, k); then ``tiles`` is empty.
    parts: tuple[Prepared, ...] = ()

    @property
    def tile_total(self) -> int:
        """Interpreter runs this frame takes: its tiles, or all its copies' tiles."""
        return sum(len(p.tiles) for p in self.parts) if self.parts else len(self.tiles)


@dataclass
class Inferred:
    """Raw interpreter outputs ``(n, th, tw, 3)`` for a Prepared frame."""

    prepared: Prepared
    outputs: np.ndarray
    invoke_ms: float
    parts: tuple[Inferred, ...] = ()  # one per Prepared.parts


class Engine:
    """A loaded model that deblurs RGB uint8 frames of any size.

    ``model`` is a ``.tflite`` path or a bundled model name (see runtime.zoo). ``overlap`` (pixels)
    sets the tile overlap of fixed-size models (default: the metadata's optional ``tile_overlap``,
    else 1/8 of the tile, at least 16 px); wider overlaps cost more tiles but hide the border
    effects of models with a large receptive field. ``strength`` (0-2, default 1) scales the
    correction the model adds to each frame. ``ensemble`` (1, 2, 4 or 8) averages the model's
    output over that many flipped or transposed copies of each frame (that many times the work).
    """

    def __init__(
        self,
        model: str | os.PathLike,
        threads: int = 2,
        device: str = "cpu",
        overlap: int | None = None,
        strength: float = 1.0,
        ensemble: int = 1,
    ) -> None:
        self.strength = check_strength(strength)
        self.ensemble = check_ensemble(ensemble)
        self.path: Path = resolve_model(model)
        data = load_bytes(self.path, name="model")
        self.metadata: dict[str, Any] | None = read_metadata(data, name=f"model {str(self.path)!r}")
        self.threads = threads
        self.device = str(device)
        self._data = data
        self.interpreter = load_interpreter(data, threads=threads, device=device, int8_io=True)
        self._check_io()
        meta = self.metadata or {}
        meta_overlap = meta.get("tile_overlap")
        if overlap is None and isinstance(meta_overlap, int) and meta_overlap >= 0:
            overlap = meta_overlap
        self._overlap = overlap
        norm = meta.get("normalization")
        rng = norm.get("range", [0.0, 1.0]) if isinstance(norm, dict) else [0.0, 1.0]
        try:
            lo, hi = float(rng[0]), float(rng[1])
        except (TypeError, ValueError, IndexError):
            lo, hi = 0.0, 1.0
        if not hi > lo:
            lo, hi = 0.0, 1.0
        self.value_range = (lo, hi)
        self.in_codec, self.out_codec = quant.codecs_for(self._in, self._out, self.value_range)
        pm = meta.get("pad_multiple")
        self.pad_multiple = (
            int(pm)
            if isinstance(pm, int) and pm > 0
            else (DYNAMIC_PAD_MULTIPLE if self.input_size is None else 1)
        )
        self._alloc_hw: tuple[int, int] | None = (
            None if self.input_size is None else self.input_size
        )
        self.timings = FrameTimings(0.0, 0.0, 0.0, 0)
        self._plans: dict[tuple[int, int], tiling.TilePlan] = {}
        # A dynamic model takes frames whole up to this size (1080p), tiles beyond it.
        self.max_dynamic_pixels = 1920 * 1088
        self.dynamic_tile = 512
        self._check_overlap()

    # ------------------------------------------------------------------ model checks

    def _check_overlap(self) -> None:
        overlap = self._overlap
        if overlap is None:
            return
        if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
            raise InputError(expected("overlap", "an integer >= 0 (pixels)", overlap))
        tile = min(self.input_size) if self.input_size is not None else self.dynamic_tile
        if overlap > tile // 2:  # the stride would shrink toward 1 px: thousands of tiles
            raise InputError(
                expected("overlap", f"at most half the model's {tile} px tile", overlap)
            )

    def _check_io(self) -> None:
        it = self.interpreter
        ins, outs = it.get_input_details(), it.get_output_details()
        label = f"model {str(self.path)!r}"
        if len(ins) != 1 or len(outs) != 1:
            raise ModelError(
                f"{label}: expected one image input and one image output, "
                f"got {len(ins)} inputs and {len(outs)} outputs; give a deblur model"
            )
        self._in, self._out = ins[0], outs[0]
        sig = [int(d) for d in self._in.get("shape_signature", self._in["shape"])]
        osig = [int(d) for d in self._out.get("shape_signature", self._out["shape"])]
        if len(sig) != 4 or sig[0] not in (1, -1) or sig[3] != 3:
            raise ModelError(
                f"{label}: expected an image input of shape [1, H, W, 3], got {sig}; "
                "give an image-to-image deblur model"
            )
        if len(osig) != 4 or osig[3] != 3:
            raise ModelError(
                f"{label}: expected an image output of shape [1, H, W, 3], got {osig}; "
                "give an image-to-image deblur model"
            )
        if sig[0] == -1:
            it.resize_tensor_input(self._in["index"], [1, *self._in["shape"][1:]])
            it.allocate_tensors()
            self._in, self._out = it.get_input_details()[0], it.get_output_details()[0]
        if sig[1] > 0 and sig[2] > 0:
            self.input_size: tuple[int, int] | None = (sig[1], sig[2])
            if osig[1:3] != sig[1:3]:
                raise ModelError(
                    f"{label}: expected the output the same size as the input {sig[1:3]}, "
                    f"got {osig[1:3]}; give an image-to-image deblur model"
                )
            meta_size = (self.metadata or {}).get("input_size")
            if isinstance(meta_size, list) and tuple(meta_size) != self.input_size:
                warnings.warn(
                    f"{label}: metadata input_size {meta_size} differs from the tensor "
                    f"{list(self.input_size)}; using the tensor",
                    stacklevel=3,
                )
        else:
            self.input_size = None

    # ------------------------------------------------------------------ public API

    @property
    def invoke_ms(self) -> float:
        """Interpreter time of the last frame (all its tiles together), in milliseconds."""
        return self.timings.invoke

    def tile_count(self, height: int, width: int) -> int:
        """How many interpreter runs a ``height`` x ``width`` frame takes (dynamic models: 1 up to
        ``max_dynamic_pixels``, tiles of ``dynamic_tile`` beyond)."""
        total = 0
        for k in range(self.ensemble):
            h, w = (width, height) if k & 4 else (height, width)
            plan = self._plan(h, w)
            total += 1 if plan is None else plan.count
        return total

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Deblur one frame: RGB uint8 (H, W, 3) in, RGB uint8 (H, W, 3) out.

        Gray, RGBA, 16-bit or float frames are converted to RGB uint8 first. Equivalent to
        ``finish(run(prepare(frame)))``, which the stream pipeline runs in three threads.
        """
        return self.finish(self.run(self.prepare(frame)))

    def prepare(self, frame: np.ndarray) -> Prepared:
        """Convert, pad, tile and quantize a frame (no interpreter access: any thread)."""
        t0 = time.perf_counter_ns()
        rgb = self._as_rgb8(frame)
        if self.ensemble == 1:
            return self._prepare_one(rgb, t0)
        parts = tuple(
            self._prepare_one(np.ascontiguousarray(orient(rgb, k)), time.perf_counter_ns())
            for k in range(self.ensemble)
        )
        empty = parts[0].tiles[:0]
        pre_ms = (time.perf_counter_ns() - t0) / 1e6
        return Prepared(rgb.shape[0], rgb.shape[1], empty, None, pre_ms, rgb, parts)

    def _prepare_one(self, rgb: np.ndarray, t0: int) -> Prepared:
        h, w = rgb.shape[:2]
        plan = self._plan(h, w)
        if plan is None:  # a dynamic model, whole frame padded to its multiple
            m = self.pad_multiple
            ph, pw = -(-h // m) * m, -(-w // m) * m
            tiles = self.in_codec.encode(tiling.pad_to(rgb, ph, pw))[None]
        else:
            tiles = self.in_codec.encode(tiling.extract_tiles(rgb, plan))
        tiles = np.ascontiguousarray(tiles)
        return Prepared(h, w, tiles, plan, (time.perf_counter_ns() - t0) / 1e6, rgb)

    def run(self, prepared: Prepared) -> Inferred:
        """Invoke the interpreter on every tile (call from one thread at a time)."""
        if prepared.parts:
            parts = tuple(self._run_one(p) for p in prepared.parts)
            invoke = sum(p.invoke_ms for p in parts)
            return Inferred(prepared, parts[0].outputs[:0], invoke, parts)
        return self._run_one(prepared)

    def _run_one(self, prepared: Prepared) -> Inferred:
        it = self.interpreter
        if self.input_size is None:
            self._ensure_allocated(prepared.tiles.shape[1], prepared.tiles.shape[2])
        outs = None
        invoke_ns = 0
        for i, tile in enumerate(prepared.tiles):
            it.set_tensor(self._in["index"], tile[None])
            t0 = time.perf_counter_ns()
            it.invoke()
            invoke_ns += time.perf_counter_ns() - t0
            y = it.get_tensor(self._out["index"])
            if outs is None:
                outs = np.empty((len(prepared.tiles), *y.shape[1:]), dtype=y.dtype)
            outs[i] = y[0]
        return Inferred(prepared, outs, invoke_ns / 1e6)

    def finish(self, inferred: Inferred) -> np.ndarray:
        """Dequantize and blend the outputs into the RGB uint8 frame (any thread)."""
        t0 = time.perf_counter_ns()
        p = inferred.prepared
        if inferred.parts:
            copies = (unorient(self._blend(part), k) for k, part in enumerate(inferred.parts))
            out = average_copies(copies, len(inferred.parts))
        else:
            out = self._blend(inferred)
        out = apply_strength(p.source, out, self.strength)
        post = (time.perf_counter_ns() - t0) / 1e6
        self.timings = FrameTimings(p.pre_ms, inferred.invoke_ms, post, p.tile_total)
        return out

    def _blend(self, inferred: Inferred) -> np.ndarray:
        """One copy's outputs dequantized and blended into its RGB uint8 frame."""
        p = inferred.prepared
        pixels = self.out_codec.decode(inferred.outputs)
        if p.plan is None:
            return np.ascontiguousarray(pixels[0, : p.height, : p.width])
        return tiling.blend_tiles(pixels, p.plan)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _as_rgb8(frame: Any) -> np.ndarray:
        if (
            isinstance(frame, np.ndarray)
            and frame.dtype == np.uint8
            and frame.ndim == 3
            and frame.shape[2] == 3
            and frame.size
        ):
            return frame
        from runtime.io import to_rgb8

        if not isinstance(frame, np.ndarray):
            raise InputError(f"frame: expected an RGB uint8 array, got {type(frame).__name__}")
        if frame.ndim == 3 and frame.shape[2] == 4:  # RGBA in, as the docs say frames are RGB
            if frame.dtype == np.uint8:
                return np.ascontiguousarray(frame[:, :, :3])
            return to_rgb8(frame[:, :, :3], name="frame", bgr=False)
        return to_rgb8(frame, name="frame", bgr=False)

    def _plan(self, h: int, w: int) -> tiling.TilePlan | None:
        """Tiles for an h x w frame; None for a dynamic model that takes the frame whole."""
        if self.input_size is None and h * w <= self.max_dynamic_pixels:
            return None
        key = (h, w)
        plan = self._plans.get(key)
        if plan is None:
            if self.input_size is not None:
                th, tw = self.input_size
            else:  # a dynamic model on a huge frame: fixed tiles bound its memory
                m = self.pad_multiple
                th = tw = max(m, self.dynamic_tile // m * m)
            plan = tiling.plan_tiles(h, w, th, tw, overlap=self._overlap)
            if len(self._plans) > 32:  # frame sizes rarely change; keep memory bounded
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _ensure_allocated(self, ph: int, pw: int) -> None:
        if self._alloc_hw == (ph, pw):
            return
        it = self.interpreter
        it.resize_tensor_input(self._in["index"], [1, ph, pw, 3])
        it.allocate_tensors()
        self._in, self._out = it.get_input_details()[0], it.get_output_details()[0]
        if [int(d) for d in self._out["shape"][1:3]] != [ph, pw]:
            raise ModelError(
                f"model {str(self.path)!r}: expected the output the same size as the input "
                f"{[ph, pw]}, got {list(self._out['shape'][1:3])}; give a deblur model"
            )
        self._alloc_hw = (ph, pw)

    @property
    def cpu_rewrites(self) -> tuple[str, ...]:
        """Output tensors of the ops that :mod:`runtime.cpu_graph` replaces for this CPU run
        (empty on the Edge TPU): the interpreter runs that graph, the file stays as it is."""
        from runtime.cpu_graph import graph_to_run
        from runtime.interpreter import Device

        on_cpu = str(getattr(self.device, "value", self.device)).lower() == Device.CPU.value
        return graph_to_run(self._data, on_cpu, True).replaced

    def __repr__(self) -> str:
        size = "dynamic" if self.input_size is None else "x".join(map(str, self.input_size))
        extra = "" if self.strength == 1.0 else f", strength={self.strength:g}"
        extra += "" if self.ensemble == 1 else f", ensemble={self.ensemble}"
        return (
            f"Engine({str(self.path)!r}, input={size}, threads={self.threads}, {self.device}"
            f"{extra})"
        )
