"""The stream pipeline: capture, inference and output threads joined by bounded queues.

Four threads: capture reads, prepare converts, tiles and quantizes, inference only runs the
interpreter, output dequantizes, blends and writes. Each overlaps the others, so the frame rate is
set by the interpreter alone.

Live sources are read latest-frame-wins: the capture thread replaces a frame the inference
thread has not taken yet and counts it as dropped, so latency stays bounded. File sources are
lossless: capture blocks until there is room, every frame reaches the sinks, in order.
A temporal engine (runtime.temporal) keeps its recurrent state across frames; a live source's
reconnect resets it (a dropped frame on a live source does not: the state is about the scene).
SIGINT / SIGTERM (and a sink's own stop, e.g. ``q`` in the window) end the stream cleanly:
capture stops, frames already read are finished, sinks are finalised.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.engine import Engine
from runtime.errors import InputError, expected
from runtime.sinks import Sink
from runtime.sources import Source
from runtime.stats import FrameRecord, StreamStats

_END = object()
REJECT_GRACE = 25  # unusable file frames in a row, before any usable one, that end a stream


@dataclass(frozen=True)
class StreamOptions:
    """``roi`` = (x, y, w, h) processes only that region (the rest passes through); ``scale`` < 1
    runs the model on a downscaled frame and adds the upscaled correction to the full-size frame;
    ``max_frames`` stops after that many frames are output."""

    roi: tuple[int, int, int, int] | None = None
    scale: float = 1.0
    max_frames: int | None = None
    queue_size: int = 2

    def __post_init__(self) -> None:
        number = isinstance(self.scale, (int, float)) and not isinstance(self.scale, bool)
        if not number or not 0.05 <= float(self.scale) <= 1.0:
            raise InputError(expected("--scale", "a factor in [0.05, 1]", self.scale))
        if self.max_frames is not None and (
            isinstance(self.max_frames, bool)
            or not isinstance(self.max_frames, int)
            or self.max_frames < 1
        ):
            raise InputError(expected("--max-frames", "an integer >= 1", self.max_frames))
        if self.roi is not None and (
            len(self.roi) != 4 or min(self.roi[2:]) < 1 or min(self.roi) < 0
        ):
            raise InputError(expected("--roi", "x,y,w,h with x,y >= 0 and w,h >= 1", self.roi))
        if self.queue_size < 1:
            raise InputError(expected("queue_size", "an integer >= 1", self.queue_size))


def parse_roi(text: str | None) -> tuple[int, int, int, int] | None:
    """Parse ``x,y,w,h`` (pixels of the input frame)."""
    if text is None or text == "":
        return None
    try:
        vals = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise InputError(expected("--roi", "x,y,w,h in pixels such as 0,0,320,240", text)) from None
    if len(vals) != 4:
        raise InputError(expected("--roi", "four integers x,y,w,h", text))
    return vals  # type: ignore[return-value]


@dataclass
class _Job:
    """One frame on its way through the stages."""

    frame: np.ndarray  # the full input frame (RGB uint8)
    region: np.ndarray  # what the model sees: ROI crop, maybe downscaled
    t_capture: int  # perf_counter_ns when the frame arrived
    capture_ms: float
    small: Any = None
    prepared: Any = None
    inferred: Any = None
    pre_ms: float = 0.0
    reset: bool = False  # the source reconnected before this frame (temporal state restarts)


def _region(frame: np.ndarray, options: StreamOptions) -> tuple[np.ndarray, np.ndarray]:
    """(full-size region, what the model sees) for the ROI and scale options."""
    region = frame
    if options.roi is not None:
        x, y, w, h = options.roi
        fh, fw = frame.shape[:2]
        if x + w > fw or y + h > fh:
            raise InputError(
                expected(
                    "--roi",
                    f"a region inside the {fw}x{fh} frame",
                    f"{x},{y},{w},{h}",
                    "reduce x+w / y+h",
                )
            )
        region = frame[y : y + h, x : x + w]
    if options.scale >= 1.0:
        return region, region
    import cv2

    rh, rw = region.shape[:2]
    sw, sh = max(1, round(rw * options.scale)), max(1, round(rh * options.scale))
    return region, cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA)


def _compose(
    frame: np.ndarray,
    region: np.ndarray,
    small: np.ndarray,
    out_small: np.ndarray,
    options: StreamOptions,
) -> np.ndarray:
    """Put the model output back: upscale the correction (scale < 1), paste the ROI."""
    if options.scale < 1.0:
        import cv2

        rh, rw = region.shape[:2]
        corr = out_small.astype(np.int16) - small.astype(np.int16)
        up = cv2.resize(corr, (rw, rh), interpolation=cv2.INTER_LINEAR)
        out_region = np.clip(region.astype(np.int16) + up, 0, 255).astype(np.uint8)
    else:
        out_region = out_small
    if options.roi is None:
        return out_region
    out = frame.copy()
    x, y, w, h = options.roi
    out[y : y + h, x : x + w] = out_region
    return out


def process_frame(engine: Engine, frame: np.ndarray, options: StreamOptions) -> np.ndarray:
    """Deblur ``frame`` honouring ROI and scale (one thread); always the full input size.

    With ``scale`` < 1 the model runs on the downscaled region and its correction (output minus
    input) is upscaled and added to the full-resolution region, keeping the input's fine detail.
    """
    region, small = _region(frame, options)
    return _compose(frame, region, small, engine.process(small), options)


class Pipeline:
    """Runs ``source`` -> ``engine`` -> ``sinks`` until the source ends or ``stop()``."""

    def __init__(
        self,
        source: Source,
        engine: Engine,
        sinks: Sequence[Sink] = (),
        options: StreamOptions | None = None,
        stats: StreamStats | None = None,
    ) -> None:
        self.source, self.engine, self.sinks = source, engine, list(sinks)
        self.options = options or StreamOptions()
        self.stats = stats or StreamStats()
        self._stop = threading.Event()
        stop_ev = getattr(source, "stop_event", None)
        if isinstance(stop_ev, threading.Event):
            self._stop = stop_ev  # a live source's reopen backoff wakes up on stop
        # capture -> raw (live: one slot, latest wins) -> prepare -> prepared -> inference -> out
        self._q_raw: queue.Queue = queue.Queue(
            maxsize=1 if source.live else self.options.queue_size
        )
        self._q_in: queue.Queue = queue.Queue(maxsize=1)
        self._infer_idle = threading.Event()  # set while inference waits for its next frame
        self._q_out: queue.Queue = queue.Queue(maxsize=self.options.queue_size)
        self._errors: list[BaseException] = []
        self._read = 0
        self._prepared = 0  # frames that passed the prepare stage
        self.first_rejection: InputError | None = None  # why the first unusable frame was skipped
        self.interrupted = False
        self._abandon_capture = False  # a second signal: stop waiting for a stuck source

    # ------------------------------------------------------------------ control

    def stop(self) -> None:
        """Ask the stream to end; frames already read are finished and the sinks finalised."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, handle_signals: bool = True) -> StreamStats:
        """Run to the end; re-raises the first error of any stage after finalising or discarding
        the outputs (finalised on a clean end or a signal, discarded on an error)."""
        restore: dict[int, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                restore[sig] = signal.signal(sig, self._on_signal)
        threads = [
            # daemon: a source stuck in read() cannot keep the process alive after 2 signals
            threading.Thread(
                target=self._guard, args=(self._capture,), name="capture", daemon=True
            ),
            threading.Thread(target=self._guard, args=(self._prepare,), name="prepare"),
            threading.Thread(target=self._guard, args=(self._infer,), name="inference"),
            threading.Thread(target=self._guard, args=(self._output,), name="output"),
        ]
        self.stats.start()
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(timeout=0.1)  # short joins let the signal handler run
                    if t is threads[0] and self._abandon_capture:
                        self._end_raw_queue()
                        break
        finally:
            for sig, old in restore.items():
                signal.signal(sig, old)
            self.source.close()
            self._close_sinks(ok=not self._errors)
        self.stats.corrupt = self.source.corrupt
        self.stats.reopens = self.source.reopens
        if self._errors:
            raise self._errors[0]
        return self.stats

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.interrupted:  # second Ctrl-C: the source may be stuck in read()
            self._abandon_capture = True
        self.interrupted = True
        self.stop()

    def _end_raw_queue(self) -> None:
        """Hand the end marker to the prepare thread in place of a capture thread that hangs."""
        while True:
            try:
                self._q_raw.put_nowait(_END)
                return
            except queue.Full:
                try:
                    self._q_raw.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass

    def _close_sinks(self, ok: bool) -> None:
        first: BaseException | None = None
        for sink in self.sinks:
            try:
                sink.close(ok=ok)
            except BaseException as e:  # finalise every sink, then report the first failure
                first = first or e
        if first is not None and not self._errors:
            self._errors.append(first)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except BaseException as e:
            self._errors.append(e)
            self._stop.set()

    # ------------------------------------------------------------------ stages

    def _put(self, q: queue.Queue, item: Any, force: bool = False) -> bool:
        """Blocking put that gives up on stop (unless ``force``: the end marker always goes in)."""
        while True:
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                if self._stop.is_set() and not force:
                    return False

    def _capture(self) -> None:
        src, limit = self.source, self.options.max_frames
        reopens = src.reopens
        try:
            while not self._stop.is_set():
                if limit is not None and not src.live and self._read >= limit:
                    break
                t0 = time.perf_counter_ns()
                frame = src.read()
                t1 = time.perf_counter_ns()
                if frame is None:
                    break
                self._read += 1
                job = _Job(frame, frame, t1, (t1 - t0) / 1e6, reset=src.reopens != reopens)
                reopens = src.reopens
                if src.live:
                    try:
                        self._q_raw.put_nowait(job)
                    except queue.Full:
                        try:
                            old = self._q_raw.get_nowait()
                            self.stats.dropped += 1
                            # A dropped frame must not take a reconnect's state reset with it.
                            job.reset = job.reset or bool(getattr(old, "reset", False))
                        except queue.Empty:
                            pass
                        self._q_raw.put_nowait(job)
                elif not self._put(self._q_raw, job):
                    self.stats.dropped += 1  # stopped while waiting: never processed
                    break
        finally:
            self._put(self._q_raw, _END, force=True)

    def _prepare(self) -> None:
        """ROI / scale, convert, tile, quantize. For files it overlaps the previous frame's
        inference; for live sources it runs when inference is free, on the freshest frame only."""
        failed: BaseException | None = None
        live = self.source.live
        try:
            while True:
                if live and failed is None:
                    # Take the freshest frame only when inference can start on it at once:
                    # latency is then about one inference, not a queue of them. (After a
                    # failure the queue is only drained to its end marker: no waiting.)
                    self._infer_idle.wait()
                    self._infer_idle.clear()
                job = self._q_raw.get()
                if job is _END:
                    break
                if failed is not None:
                    continue
                try:
                    t0 = time.perf_counter_ns()
                    job.region, job.small = _region(job.frame, self.options)
                    if job.reset and hasattr(self.engine, "reset"):
                        self.engine.reset()  # a temporal engine forgets the old stream's state
                    job.prepared = self.engine.prepare(job.small)
                    job.pre_ms = (time.perf_counter_ns() - t0) / 1e6
                except InputError as e:
                    # One unusable frame (a size --roi does not fit, a pixel type the model
                    # cannot take) is skipped and counted; the stream goes on. Before any frame
                    # was usable it is the settings that are wrong: a camera's frames are all
                    # alike (fail at once), a file gets a few frames' grace.
                    self.stats.rejected += 1
                    self.first_rejection = self.first_rejection or e
                    if self._prepared == 0 and (live or self.stats.rejected >= REJECT_GRACE):
                        failed = e
                        self._stop.set()
                    elif live:
                        self._infer_idle.set()  # no inference was started for it
                    continue
                except BaseException as e:
                    failed = e
                    self._stop.set()
                    continue
                self._prepared += 1
                self._put(self._q_in, job, force=True)
        finally:
            self._put(self._q_in, _END, force=True)
        if failed is not None:
            raise failed
        if self._prepared == 0 and self.first_rejection is not None and not self.interrupted:
            raise self.first_rejection  # not one frame was usable: the settings are wrong

    def _infer(self) -> None:
        failed: BaseException | None = None
        try:
            while True:
                self._infer_idle.set()
                job = self._q_in.get()
                if job is _END:
                    break
                if failed is not None:
                    continue  # keep draining so capture never blocks; re-raised below
                try:
                    job.inferred = self.engine.run(job.prepared)
                except BaseException as e:
                    failed = e
                    self._stop.set()
                    continue
                self._put(self._q_out, job, force=True)
        finally:
            self._put(self._q_out, _END, force=True)
        if failed is not None:
            raise failed

    def _output(self) -> None:
        limit = self.options.max_frames
        failed: BaseException | None = None
        while True:
            job = self._q_out.get()
            if job is _END:
                break
            if failed is not None or (limit is not None and self.stats.frames >= limit):
                continue
            try:
                t0 = time.perf_counter_ns()
                out_small = self.engine.finish(job.inferred)
                out = _compose(job.frame, job.region, job.small, out_small, self.options)
                t1 = time.perf_counter_ns()
                for sink in self.sinks:
                    sink.write(job.frame, out)
                t2 = time.perf_counter_ns()
            except BaseException as e:
                failed = e
                self._stop.set()
                continue
            self.stats.tiles = job.prepared.tile_total
            self.stats.add(
                FrameRecord(
                    capture=job.capture_ms,
                    pre=job.pre_ms,
                    invoke=job.inferred.invoke_ms,
                    post=(t1 - t0) / 1e6,
                    sink=(t2 - t1) / 1e6,
                    latency=(t2 - job.t_capture) / 1e6,
                )
            )
            if any(s.stop_requested for s in self.sinks) or (
                limit is not None and self.stats.frames >= limit
            ):
                self._stop.set()
        if failed is not None:
            raise failed
