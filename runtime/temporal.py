"""Recurrent (``temporal``) models on streams: the per-stream state, its resets, the first frame.

A temporal ``.tflite`` has two inputs (the frame and a recurrent state, a low-resolution feature
map) and two outputs (the deblurred frame and the next state). :class:`TemporalEngine` is an
:class:`~runtime.engine.Engine` that keeps that state between frames:

* the first frame, and every frame after a reset, starts from the all-zero state (real value 0,
  the tensor's zero point), which the model saw at the start of every training clip;
* :meth:`TemporalEngine.reset` starts over (the pipeline calls it when a live source
  reconnects); a scene cut, detected as a mean absolute difference of two consecutive frames'
  gray thumbnails above ``cut_threshold`` (8-bit levels), resets it too, as does a change of the
  frame size;
* fixed-size models run on the same tile grid every frame, one state per tile; dynamic-size models
  run on the whole frame padded to the pad multiple (no tiling), with a state of the matching size;
* the next state goes back into the state input through :func:`runtime.quant.requantizer` (the
  output and input tensors may have different int8 scales).

:func:`open_engine` picks this engine when the model's metadata (or its tensors) say temporal.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime import quant, tiling
from runtime.engine import Engine, Inferred, Prepared, check_ensemble
from runtime.errors import InputError, ModelError, expected
from runtime.model_file import inspect_model, load_bytes, read_metadata
from runtime.zoo import resolve_model

CUT_THRESHOLD = 40.0  # mean |difference| of 8-bit gray thumbnails that counts as a scene cut
THUMB = (64, 36)  # thumbnail (width, height) compared for cuts


@dataclass(frozen=True)
class Roles:
    """Which interpreter tensor is which: details dicts of image/state inputs and outputs."""

    image_in: dict
    state_in: dict
    image_out: dict
    state_out: dict


def _sig(detail: dict) -> list[int]:
    return [int(d) for d in detail.get("shape_signature", detail["shape"])]


def tensor_roles(interpreter: Any) -> Roles:
    """Tell the frame from the state among a temporal model's two inputs and two outputs.

    The state input is the one named ``state`` (else the one without 3 channels); the outputs are
    matched by channel count (by shape when the state has 3 channels too). Raises ModelError for a
    model that is not ``[image, state] -> [image, state]``.
    """
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(ins) != 2 or len(outs) != 2:
        raise ModelError(
            f"temporal model: expected 2 inputs (image, state) and 2 outputs, got {len(ins)} "
            f"inputs and {len(outs)} outputs; convert a model trained with --arch temporal"
        )
    named = [d for d in ins if "state" in d["name"].lower()]
    if len(named) == 1:
        state_in = named[0]
    else:
        not_rgb = [d for d in ins if _sig(d)[-1] != 3]
        if len(not_rgb) != 1:
            raise ModelError(
                f"temporal model: cannot tell the state input from the image input "
                f"({[d['name'] for d in ins]}); convert it with edge-deblur convert"
            )
        state_in = not_rgb[0]
    image_in = ins[1] if state_in is ins[0] else ins[0]
    if len(_sig(image_in)) != 4 or _sig(image_in)[-1] != 3:
        raise ModelError(
            f"temporal model: expected an image input [1, H, W, 3], got {_sig(image_in)}"
        )
    first, second = outs
    ch = _sig(state_in)[-1]
    if ch != 3:  # channels tell them apart
        if _sig(first)[-1] != 3:
            first, second = second, first
    elif list(second["shape"]) == list(image_in["shape"]) != list(first["shape"]):
        first, second = second, first
    if _sig(first)[-1] != 3 or _sig(second)[-1] != ch:
        raise ModelError(
            f"temporal model: expected outputs shaped like the image {_sig(image_in)} and the "
            f"state {_sig(state_in)}, got {[_sig(o) for o in outs]}"
        )
    return Roles(image_in, state_in, first, second)


class Recurrent:
    """One temporal interpreter: ``step(image_values, state) -> (image_values, next_state)``.

    ``image_values`` are already encoded for the image input (see :mod:`runtime.quant`); states
    are in the state input's dtype, starting from :meth:`zero_state`.
    """

    def __init__(self, interpreter: Any, pad_multiple: int = 8) -> None:
        self.interpreter = interpreter
        self.pad_multiple = pad_multiple
        self.roles = tensor_roles(interpreter)
        sig = _sig(self.roles.image_in)
        self.dynamic = not (sig[1] > 0 and sig[2] > 0)
        self._alloc: tuple[int, int] | None = None if self.dynamic else (sig[1], sig[2])
        if self.dynamic:
            self.resize(pad_multiple * 2, pad_multiple * 2)
        self._feed = quant.requantizer(self.roles.state_out, self.roles.state_in)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) the image input is allocated at."""
        s = self.roles.image_in["shape"]
        return int(s[1]), int(s[2])

    def state_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.roles.state_in["shape"])

    def resize(self, height: int, width: int) -> None:
        """Allocate a dynamic model for ``height`` x ``width`` frames (multiples of the pad)."""
        if self._alloc == (height, width):
            return
        if not self.dynamic:
            raise ModelError(
                f"temporal model: fixed input {self._alloc}, cannot take {height}x{width}"
            )
        it, m, r = self.interpreter, self.pad_multiple, self.roles
        ch = int(r.state_in["shape"][-1])
        it.resize_tensor_input(r.image_in["index"], [1, height, width, 3])
        it.resize_tensor_input(r.state_in["index"], [1, height // m, width // m, ch])
        it.allocate_tensors()
        ins = {d["index"]: d for d in it.get_input_details()}
        outs = {d["index"]: d for d in it.get_output_details()}
        self.roles = Roles(
            ins[r.image_in["index"]],
            ins[r.state_in["index"]],
            outs[r.image_out["index"]],
            outs[r.state_out["index"]],
        )
        self._alloc = (height, width)

    def zero_state(self) -> np.ndarray:
        """The neutral state (real value 0) for the first frame."""
        return quant.zero_tensor(self.roles.state_in)

    def step(self, image: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Run once; returns (image output values, next state, nanoseconds inside invoke)."""
        it, r = self.interpreter, self.roles
        it.set_tensor(
            r.image_in["index"], np.ascontiguousarray(image[None] if image.ndim == 3 else image)
        )
        it.set_tensor(r.state_in["index"], np.ascontiguousarray(state))
        t0 = time.perf_counter_ns()
        it.invoke()
        ns = time.perf_counter_ns() - t0
        out = it.get_tensor(r.image_out["index"])[0]
        nxt = self._feed(it.get_tensor(r.state_out["index"]))
        return out, nxt, ns


@dataclass
class TemporalPrepared(Prepared):
    """A prepared frame plus whether the state must start over before it."""

    reset: bool = False


class TemporalEngine(Engine):
    """An Engine for temporal models that carries the recurrent state from frame to frame.

    Same API as :class:`Engine` (``process``, ``prepare``/``run``/``finish``, ``timings``), plus
    :meth:`reset`, ``cut_threshold`` and the counters ``resets`` (all causes) and ``cuts``.
    Frames must come in stream order: ``prepare`` detects cuts against the previous frame and
    ``run`` (one thread) advances the state.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        threads: int = 2,
        device: str = "cpu",
        overlap: int | None = None,
        cut_threshold: float = CUT_THRESHOLD,
        strength: float = 1.0,
    ) -> None:
        super().__init__(model, threads=threads, device=device, overlap=overlap, strength=strength)
        self.recurrent = Recurrent(self.interpreter, self.pad_multiple)
        self.cut_threshold = float(cut_threshold)
        self.resets = 0
        self.cuts = 0
        self._pending_reset = True
        self._thumb: np.ndarray | None = None
        self._states: list[np.ndarray] | None = None
        self._grid: tuple[Any, ...] | None = None

    # Engine builds its codecs from self._in / self._out: point them at the image tensors.
    def _check_io(self) -> None:
        roles = tensor_roles(self.interpreter)
        self._in, self._out = roles.image_in, roles.image_out
        sig = _sig(roles.image_in)
        self.input_size = (sig[1], sig[2]) if sig[1] > 0 and sig[2] > 0 else None

    def _plan(self, h: int, w: int) -> tiling.TilePlan | None:
        if self.input_size is None:  # dynamic: always the whole padded frame, one state
            return None
        return super()._plan(h, w)

    def reset(self) -> None:
        """Start the next frame from the zero state (a new stream, a reconnect)."""
        self._pending_reset = True

    def prepare(self, frame: np.ndarray) -> TemporalPrepared:
        p = super().prepare(frame)
        import cv2

        thumb = cv2.resize(
            cv2.cvtColor(p.source, cv2.COLOR_RGB2GRAY), THUMB, interpolation=cv2.INTER_AREA
        ).astype(np.int16)
        reset, self._pending_reset = self._pending_reset, False
        if self._thumb is not None and not reset:
            if self._thumb.shape != thumb.shape:
                reset = True
            elif float(np.mean(np.abs(thumb - self._thumb))) > self.cut_threshold:
                reset = True
                self.cuts += 1
        self._thumb = thumb
        return TemporalPrepared(p.height, p.width, p.tiles, p.plan, p.pre_ms, p.source, reset=reset)

    def run(self, prepared: Prepared) -> Inferred:
        rec = self.recurrent
        tiles = prepared.tiles
        grid = (prepared.height, prepared.width, tiles.shape[1:3], len(tiles))
        if self.input_size is None:
            rec.resize(int(tiles.shape[1]), int(tiles.shape[2]))
        if getattr(prepared, "reset", False) or self._states is None or grid != self._grid:
            self._states = [rec.zero_state() for _ in range(len(tiles))]
            self._grid = grid
            self.resets += 1
        outs = None
        invoke_ns = 0
        for i, tile in enumerate(tiles):
            y, self._states[i], ns = rec.step(tile, self._states[i])
            invoke_ns += ns
            if outs is None:
                outs = np.empty((len(tiles), *y.shape), dtype=y.dtype)
            outs[i] = y
        return Inferred(prepared, outs, invoke_ns / 1e6)


def is_temporal_model(model: str | os.PathLike) -> bool:
    """True when a ``.tflite`` (path or bundled name) is a temporal model: its metadata says
    ``temporal``, or (without metadata) it has two inputs."""
    path = resolve_model(model)
    label = f"model {str(path)!r}"
    data = load_bytes(path, name="model")
    meta = read_metadata(data, name=label)
    if isinstance(meta, dict) and "temporal" in meta:
        return bool(meta["temporal"])
    return len(inspect_model(data, name=label).inputs) == 2


def open_engine(
    model: str | os.PathLike,
    threads: int = 2,
    device: str = "cpu",
    overlap: int | None = None,
    strength: float = 1.0,
    ensemble: int = 1,
) -> Engine:
    """The right engine for ``model``: :class:`TemporalEngine` for temporal models, else
    :class:`Engine` (``ensemble``: see :class:`Engine`; a temporal model takes only 1, since its
    state follows the frames in one orientation)."""
    ensemble = check_ensemble(ensemble, "--ensemble")
    if is_temporal_model(model):
        if ensemble != 1:
            raise InputError(
                expected(
                    "--ensemble",
                    "1 for a temporal model (its state follows one orientation)",
                    ensemble,
                )
            )
        return TemporalEngine(
            model, threads=threads, device=device, overlap=overlap, strength=strength
        )
    return Engine(
        model, threads=threads, device=device, overlap=overlap, strength=strength, ensemble=ensemble
    )
