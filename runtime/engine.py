"""The inference core: a ``.tflite`` deblur model applied to RGB uint8 frames of any size.

``Engine(model).process(rgb)`` returns the deblurred frame at the input size. Fixed-size models run
on overlapping, feather-blended tiles (runtime.tiling); dynamic-size models get their input tensor
resized to the frame, padded to the model's ``pad_multiple``. Quantization happens only in
runtime.quant, from the tensors' own scales and zero points. The model's metadata (read without
TensorFlow) supplies the value range and pad multiple, so the user is never asked for them.
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
from runtime.errors import InputError, ModelError
from runtime.interpreter import load_interpreter
from runtime.model_file import load_bytes, read_metadata
from runtime.zoo import resolve_model

DYNAMIC_PAD_MULTIPLE = 8  # used for a dynamic model without metadata: padding more is harmless


@dataclass(frozen=True)
class FrameTimings:
    """Where the time of the last ``process`` call went, in milliseconds.

    ``pre``: conversion, padding, quantization and tensor copies in; ``invoke``: interpreter time of
    all tiles together; ``post``: tensor copies out, dequantization and blending.
    """

    pre: float
    invoke: float
    post: float
    tiles: int


class Engine:
    """A loaded model that deblurs RGB uint8 frames of any size.

    ``model`` is a ``.tflite`` path or a bundled model name (see runtime.zoo). ``overlap`` (pixels)
    overrides the tile overlap for fixed-size models.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        threads: int = 2,
        device: str = "cpu",
        overlap: int | None = None,
    ) -> None:
        self.path: Path = resolve_model(model)
        data = load_bytes(self.path, name=f"model {str(self.path)!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            self.metadata: dict[str, Any] | None = read_metadata(data)
        self.threads = threads
        self.device = str(device)
        self.interpreter = load_interpreter(data, threads=threads, device=device)
        self._overlap = overlap
        self._check_io()
        meta = self.metadata or {}
        rng = (meta.get("normalization") or {}).get("range", [0.0, 1.0])
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

    # ------------------------------------------------------------------ model checks

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
        """How many interpreter runs a ``height`` x ``width`` frame takes (1 for dynamic models)."""
        if self.input_size is None:
            return 1
        return self._plan(height, width).count

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Deblur one frame: RGB uint8 (H, W, 3) in, RGB uint8 (H, W, 3) out.

        Gray, RGBA, 16-bit or float frames are converted to RGB uint8 first.
        """
        t0 = time.perf_counter_ns()
        rgb = self._as_rgb8(frame)
        h, w = rgb.shape[:2]
        self._pre = time.perf_counter_ns() - t0
        self._invoke = 0
        self._post = 0
        self._pre_tiles = 0
        self._post_tiles = 0
        if self.input_size is None:
            out = self._process_dynamic(rgb)
            tiles = 1
        else:
            plan = self._plan(h, w)
            t = time.perf_counter_ns()
            out = tiling.run_tiled(rgb, self._run_tile, plan)
            blend = time.perf_counter_ns() - t - self._pre_tiles - self._invoke - self._post_tiles
            self._pre += self._pre_tiles
            self._post += self._post_tiles + max(0, blend)
            tiles = plan.count
        self.timings = FrameTimings(
            pre=self._pre / 1e6, invoke=self._invoke / 1e6, post=self._post / 1e6, tiles=tiles
        )
        return out

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
            return (
                np.ascontiguousarray(frame[:, :, :3])
                if frame.dtype == np.uint8
                else (to_rgb8(frame[:, :, :3], name="frame", bgr=False))
            )
        return to_rgb8(frame, name="frame", bgr=False)

    def _plan(self, h: int, w: int) -> tiling.TilePlan:
        key = (h, w)
        if key not in self._plans:
            th, tw = self.input_size  # type: ignore[misc]
            self._plans[key] = tiling.plan_tiles(h, w, th, tw, overlap=self._overlap)
        return self._plans[key]

    def _invoke_once(self, x: np.ndarray) -> np.ndarray:
        it = self.interpreter
        it.set_tensor(self._in["index"], x[None])
        t = time.perf_counter_ns()
        it.invoke()
        self._invoke += time.perf_counter_ns() - t
        return it.get_tensor(self._out["index"])[0]

    def _run_tile(self, tile: np.ndarray) -> np.ndarray:
        t = time.perf_counter_ns()
        x = self.in_codec.encode(np.ascontiguousarray(tile))
        self._pre_tiles += time.perf_counter_ns() - t
        y = self._invoke_once(x)
        t = time.perf_counter_ns()
        out = self.out_codec.decode(y)
        self._post_tiles += time.perf_counter_ns() - t
        return out

    def _process_dynamic(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        t = time.perf_counter_ns()
        m = self.pad_multiple
        ph, pw = -(-h // m) * m, -(-w // m) * m
        if self._alloc_hw != (ph, pw):
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
        x = self.in_codec.encode(tiling.pad_to(rgb, ph, pw))
        self._pre += time.perf_counter_ns() - t
        y = self._invoke_once(np.ascontiguousarray(x))
        t = time.perf_counter_ns()
        out = np.ascontiguousarray(self.out_codec.decode(y)[:h, :w])
        self._post += time.perf_counter_ns() - t
        return out

    def __repr__(self) -> str:
        size = "dynamic" if self.input_size is None else "x".join(map(str, self.input_size))
        return f"Engine({str(self.path)!r}, input={size}, threads={self.threads}, {self.device})"
