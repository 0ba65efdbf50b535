"""Frame sources: camera index / V4L2 device, video file, image folder, RTSP/HTTP URL, GStreamer
pipeline string, Picamera2. Every source yields RGB uint8 frames.

Files (video, image folder, single image) are *lossless*: every frame, in order; a frame that
cannot be decoded is skipped and counted in ``corrupt``. Live sources (camera, URL, GStreamer,
Picamera2) are reopened with exponential backoff when they drop; the pipeline reads them
latest-frame-wins.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import DeviceError, InputError, expected
from runtime.io import IMAGE_SUFFIXES, list_images, to_rgb8

_URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)
SOURCE_FORMS = (
    "a camera index (0), a V4L2 device (/dev/video0), a video file, an image file or folder, "
    "an rtsp:// or http:// URL, a GStreamer pipeline ('... ! appsink') or 'picamera2'"
)
NETWORK_TIMEOUT_MS = 10_000  # open / read timeout for URL sources
MAX_CONSECUTIVE_CORRUPT = 25  # a file that fails this many reads in a row has ended


class Source(ABC):
    """A stream of RGB uint8 frames. ``read()`` returns the next frame, or None at the end."""

    live: bool = False
    name: str = "source"

    def __init__(self) -> None:
        self.frames_read = 0
        self.corrupt = 0
        self.reopens = 0

    @property
    def fps(self) -> float | None:
        """Nominal frame rate (for a video sink), or None when unknown."""
        return None

    @property
    def frame_count(self) -> int | None:
        """How many frames a file source holds (for progress), or None when unknown / live."""
        return None

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The next frame (RGB uint8 HxWx3), or None when the stream has ended."""

    def close(self) -> None:  # noqa: B027 (sources without a handle have nothing to release)
        """Release the device or file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageFilesSource(Source):
    """Image files in name order (a folder, or one image): lossless, unreadable files skipped."""

    def __init__(self, files: list[Path], name: str) -> None:
        super().__init__()
        if not files:
            raise InputError(expected("--source", "a folder with images", name, "add images"))
        self.files = files
        self.name = name
        self._i = 0

    @property
    def frame_count(self) -> int | None:
        return len(self.files)

    def read(self) -> np.ndarray | None:
        from runtime.io import read_image

        while self._i < len(self.files):
            path = self.files[self._i]
            self._i += 1
            try:
                frame = read_image(path)
            except InputError:
                self.corrupt += 1
                continue
            self.frames_read += 1
            return frame
        return None


class CaptureSource(Source):
    """An OpenCV ``VideoCapture``: video files (lossless) or live streams (reopened on drops).

    ``target`` and ``api`` are what ``cv2.VideoCapture(target, api)`` takes.
    """

    def __init__(
        self,
        target: str | int,
        api: int | None,
        live: bool,
        name: str,
        max_reopen: int = 8,
        backoff_s: float = 0.5,
        stop_event: threading.Event | None = None,
        timeout_ms: int = 0,
    ) -> None:
        super().__init__()
        self.target, self.api, self.live, self.name = target, api, live, name
        self.timeout_ms = int(timeout_ms)
        self.max_reopen = max_reopen
        self.backoff_s = backoff_s
        self.stop_event = stop_event or threading.Event()
        self._cap = self._open()
        if self._cap is None:
            raise InputError(
                f"--source {name!r}: expected {SOURCE_FORMS}; could not open it "
                "(check that it exists, is readable and is not in use)"
            )
        self._fps = float(self._cap.get(5) or 0.0)  # cv2.CAP_PROP_FPS
        self._count = int(self._cap.get(7) or 0) if not live else 0  # CAP_PROP_FRAME_COUNT
        self._ended = False

    def _open(self) -> Any:
        import cv2

        if self.api is None:
            cap = cv2.VideoCapture(self.target)
        elif self.timeout_ms:
            # Network streams: bounded open and read waits, so a dead camera cannot hang us.
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                self.timeout_ms,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                self.timeout_ms,
            ]
            cap = cv2.VideoCapture(self.target, self.api, params)
        else:
            cap = cv2.VideoCapture(self.target, self.api)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    @property
    def fps(self) -> float | None:
        return self._fps if 0 < self._fps < 1000 else None

    @property
    def frame_count(self) -> int | None:
        return self._count or None

    def read(self) -> np.ndarray | None:
        if self._ended:
            return None
        failed = 0
        while True:
            ok, frame = self._cap.read() if self._cap is not None else (False, None)
            if ok and frame is not None and frame.size:
                try:
                    rgb = to_rgb8(frame, name=f"frame of {self.name!r}")
                except InputError:
                    failed += 1
                    continue
                self.frames_read += 1
                self.corrupt += failed
                return rgb
            if self.live:
                failed = 0  # a dropped stream, not a corrupt frame
                if not self._reopen():
                    self._ended = True
                    return None
                continue
            # A file: a failure followed by a good frame was a corrupt frame (skipped, counted);
            # failures to the end are the end. Frames the decoder swallowed silently are found
            # from the container's frame count.
            failed += 1
            if failed > MAX_CONSECUTIVE_CORRUPT:
                if self._count and not self._ended:
                    self.corrupt = max(self.corrupt, self._count - self.frames_read)
                self._ended = True
                return None

    def _reopen(self) -> bool:
        """Reopen a dropped live stream with exponential backoff; False when it stays down."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        delay = self.backoff_s
        for _ in range(self.max_reopen):
            if self.stop_event.wait(delay):
                return False
            self._cap = self._open()
            if self._cap is not None:
                self.reopens += 1
                return True
            delay = min(delay * 2, 8.0)
        return False

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class Picamera2Source(Source):
    """A Raspberry Pi CSI camera through Picamera2 (libcamera); OpenCV cannot open those."""

    live = True

    def __init__(self, size: tuple[int, int] = (1280, 720), index: int = 0) -> None:
        super().__init__()
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError:
            raise DeviceError(
                "--source picamera2: expected the picamera2 package (Raspberry Pi OS), got none; "
                "sudo apt install python3-picamera2, or use a camera index / rpicam-vid stream"
            ) from None
        self.name = f"picamera2:{index}"
        self._cam = Picamera2(index)
        config = self._cam.create_video_configuration(main={"format": "RGB888", "size": size})
        self._cam.configure(config)
        self._cam.start()

    def read(self) -> np.ndarray | None:
        arr = self._cam.capture_array("main")
        self.frames_read += 1
        # Picamera2's "RGB888" is stored B, G, R in memory (libcamera naming).
        return np.ascontiguousarray(arr[:, :, 2::-1])

    def close(self) -> None:
        self._cam.stop()
        self._cam.close()


def classify(spec: str) -> str:
    """What kind of source ``spec`` names: camera, device, picamera2, url, gstreamer, folder,
    image, video, or missing."""
    s = spec.strip()
    if not s:  # Path("") is the current folder: an empty name is a mistake, not "."
        return "missing"
    if re.fullmatch(r"\d+", s):
        return "camera"
    if s.lower().startswith("picamera2"):
        return "picamera2"
    if _URL.match(s):
        return "url"
    if "!" in s and not Path(s).exists():
        return "gstreamer"
    p = Path(s)
    if p.is_dir():
        return "folder"
    if s.startswith("/dev/video"):
        return "device"
    if p.is_file():
        return "image" if p.suffix.lower() in IMAGE_SUFFIXES else "video"
    return "missing"


def open_source(spec: str | os.PathLike, stop_event: threading.Event | None = None) -> Source:
    """Open ``spec`` as a frame source (see SOURCE_FORMS). Raises InputError when it cannot."""
    import cv2

    text = str(spec)
    if not Path(text).exists():
        text = text.strip()  # classify() reads " clip.avi " as clip.avi: open that file too
    kind = classify(text)
    if kind == "camera":
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        return CaptureSource(int(text), api, True, text, stop_event=stop_event)
    if kind == "device":
        return CaptureSource(text, cv2.CAP_V4L2, True, text, stop_event=stop_event)
    if kind == "picamera2":
        m = re.fullmatch(r"picamera2(?::(\d+))?", text.strip().lower())
        return Picamera2Source(index=int(m.group(1)) if m and m.group(1) else 0)
    if kind == "url":
        return CaptureSource(
            text, cv2.CAP_FFMPEG, True, text, stop_event=stop_event, timeout_ms=NETWORK_TIMEOUT_MS
        )
    if kind == "gstreamer":
        if "GStreamer:                   YES" not in cv2.getBuildInformation():
            raise DeviceError(
                f"--source {text!r}: expected an OpenCV built with GStreamer for a pipeline "
                "string, got one without it; install OpenCV with GStreamer (e.g. apt "
                "python3-opencv) or give a camera index / URL"
            )
        return CaptureSource(text, cv2.CAP_GSTREAMER, True, text, stop_event=stop_event)
    if kind == "folder":
        return ImageFilesSource(list_images(text), text)
    if kind == "image":
        return ImageFilesSource([Path(text)], text)
    if kind == "video":
        return CaptureSource(text, cv2.CAP_FFMPEG, False, text)
    raise InputError(expected("--source", SOURCE_FORMS, text, "check the path or URL"))


def open_video_file(path: str | os.PathLike, option: str) -> CaptureSource:
    """A video file as a (lossless, not live) source, through FFmpeg as :func:`open_source` opens
    one; an InputError naming ``option`` (the argument it came from) when OpenCV cannot open it."""
    import cv2

    try:
        return CaptureSource(str(path), cv2.CAP_FFMPEG, False, str(path))
    except InputError:
        raise InputError(
            expected(option, "a video file OpenCV can decode", str(path), "check the file")
        ) from None


def synthetic_frames(
    count: int, height: int = 48, width: int = 64, seed: int = 0
) -> list[np.ndarray]:
    """Deterministic moving-gradient frames (tests and benchmarks that must not read data)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        base = np.stack([(xx * 4 + i * 3) % 256, (yy * 5 + i) % 256, (xx + yy + i * 7) % 256], -1)
        noise = rng.integers(0, 8, (height, width, 3))
        frames.append((base + noise).clip(0, 255).astype(np.uint8))
    return frames


class ArraySource(Source):
    """Frames from memory, optionally looping: for tests, soak runs and benchmarks.

    ``live=True`` makes the pipeline treat it like a camera (latest-frame-wins) and ``fps`` paces
    it like one.
    """

    def __init__(
        self,
        frames: list[np.ndarray],
        total: int | None = None,
        live: bool = False,
        fps: float | None = None,
    ) -> None:
        super().__init__()
        if not frames:
            raise InputError(expected("frames", "at least one frame", 0))
        self.frames, self.total, self.live, self._fps = frames, total, live, fps
        self.name = "memory"
        self._next_t = time.perf_counter()

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        return None if self.live else (self.total or len(self.frames))

    def read(self) -> np.ndarray | None:
        n = self.total if self.total is not None else len(self.frames)
        if self.frames_read >= n:
            return None
        if self.live and self._fps:
            self._next_t += 1.0 / self._fps
            time.sleep(max(0.0, self._next_t - time.perf_counter()))
        frame = self.frames[self.frames_read % len(self.frames)]
        self.frames_read += 1
        return frame
