"""Frame sinks: video file, image folder, window. Each receives (original, deblurred) RGB frames.

Files are finalised atomically: a video is written to a temp file beside the output, checked
(frame count read back), then renamed; a stop by Ctrl-C / SIGTERM closes it normally, so the output
holds every frame processed so far, and an error (full disk, ...) removes the temp file, leaving no
truncated output. Existing outputs are refused unless ``force`` is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import DeviceError, InputError, OutputExistsError, expected
from runtime.io import atomic_path, check_output, write_failed, write_image

VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


class Sink(ABC):
    """Receives every processed frame; ``close(ok)`` finalises (ok) or discards (error)."""

    stop_requested: bool = False

    @abstractmethod
    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        """Take one frame pair (RGB uint8, same size)."""

    def close(self, ok: bool = True) -> None:  # noqa: B027 (stateless sinks need nothing)
        """Finalise the output (``ok``) or discard what was written (not ``ok``)."""


class VideoSink(Sink):
    """A video file at the input fps and size (.mp4/.mov/.mkv: mp4v, even sizes only;
    .avi: MJPEG at quality 95, any size)."""

    def __init__(self, path: str | os.PathLike, fps: float | None, force: bool = False) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_FOURCC:
            raise InputError(
                expected(
                    f"--output {str(self.path)!r}",
                    f"a video suffix ({', '.join(VIDEO_FOURCC)}) or a folder",
                    suffix or "no suffix",
                )
            )
        check_output(self.path, force=force)
        self.fps = float(fps) if fps and 0 < fps < 1000 else 30.0
        self.fourcc = VIDEO_FOURCC[suffix]
        self._ctx = atomic_path(self.path, force=force)
        self._tmp: Path = self._ctx.__enter__()
        self._writer: Any = None
        self.size: tuple[int, int] | None = None  # (width, height)
        self.frames = 0
        self._closed = False

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        import cv2

        h, w = deblurred.shape[:2]
        if self._writer is None:
            self.size = (w, h)
            fourcc = cv2.VideoWriter_fourcc(*self.fourcc)
            if self.fourcc == "MJPG":
                # OpenCV's own MJPEG/AVI writer keeps any frame size; FFmpeg's rounds odd sizes
                # down to even ones.
                self._writer = cv2.VideoWriter(
                    str(self._tmp), cv2.CAP_OPENCV_MJPEG, fourcc, self.fps, self.size
                )
                self._writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
            else:
                if w % 2 or h % 2:
                    raise InputError(
                        expected(
                            f"--output {str(self.path)!r}",
                            f"even frame sizes for {self.fourcc} video",
                            f"{w}x{h}",
                            "use an .avi output (MJPEG keeps any size)",
                        )
                    )
                self._writer = cv2.VideoWriter(str(self._tmp), fourcc, self.fps, self.size)
            if not self._writer.isOpened():
                raise InputError(
                    f"--output {str(self.path)!r}: OpenCV cannot write {self.fourcc} video "
                    f"of {w}x{h}; try an .avi output"
                )
        frame = deblurred
        if (w, h) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self, ok: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.release()
        err: BaseException | None = None
        if ok and self.frames == 0:
            err = _nothing_written(self.path)
        elif ok:
            held = _count_frames(self._tmp)
            if held != self.frames:
                err = InputError(
                    f"--output {str(self.path)!r}: expected {self.frames} frames in the file, "
                    f"got {held} (is the disk full?); nothing was written"
                )
        if ok and err is None:
            try:
                self._ctx.__exit__(None, None, None)
            except OSError as e:
                raise write_failed(self.path, e) from e
            return
        failure = err or RuntimeError("stream failed")
        with contextlib.suppress(BaseException):
            self._ctx.__exit__(type(failure), failure, None)
        if err is not None:
            raise err


def _nothing_written(path: Path) -> InputError:
    """The error of a sink closed without a frame (a source that gave none)."""
    return InputError(
        f"--output {str(path)!r}: no frame was processed, so nothing was written; check the source"
    )


def _count_frames(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if n > 0:
            return n
        count = 0
        while cap.grab():
            count += 1
        return count
    finally:
        cap.release()


class ImageFolderSink(Sink):
    """Numbered images (``frame_000000.png``, ...) in a folder, each written atomically.

    With ``force`` into a folder that holds frames of an earlier run, the frames this run does
    not overwrite are removed when it ends well, so the folder holds this run's frames only. An
    error removes this run's frames (and the folder, when this sink made it and it is empty).
    """

    _FRAME = re.compile(r"frame_\d{6}\.[A-Za-z0-9]+")

    def __init__(self, folder: str | os.PathLike, force: bool = False, suffix: str = ".png"):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(expected("--output", "a folder or a video file", str(self.folder)))
        if self.folder.is_dir() and any(self.folder.iterdir()) and not force:
            raise OutputExistsError(
                f"output folder {str(self.folder)!r} is not empty; pass --force to write into it"
            )
        self._made = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_failed(self.folder, e) from e
        self._stale = {p for p in self.folder.iterdir() if self._FRAME.fullmatch(p.name)}
        self.suffix = suffix
        self.frames = 0

    def _path(self, index: int) -> Path:
        return self.folder / f"frame_{index:06d}{self.suffix}"

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        path = self._path(self.frames)
        try:
            write_image(path, deblurred, force=True)
        except OSError as e:
            raise write_failed(path, e) from e
        self.frames += 1

    def close(self, ok: bool = True) -> None:
        # This run wrote frames 0 .. frames-1 (derived, not listed: a live stream runs for days).
        written = {self._path(i) for i in range(self.frames)}
        if ok and self.frames:
            for p in self._stale - written:  # an earlier run's frames past this run's last one
                with contextlib.suppress(OSError):
                    p.unlink()
            return
        for p in written:
            with contextlib.suppress(OSError):
                p.unlink()
        if self._made:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only when empty
        if ok:
            raise _nothing_written(self.folder)


def display_available() -> bool:
    """True when a window can be opened (a display and an OpenCV with GUI support)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    import cv2

    try:
        cv2.namedWindow("edge-deblur probe", cv2.WINDOW_NORMAL)
        cv2.destroyWindow("edge-deblur probe")
    except cv2.error:
        return False
    return True


class WindowSink(Sink):
    """An OpenCV window showing original | deblurred side by side; ``q`` or Esc stops."""

    title = "edge-deblur (q to quit)"

    def __init__(self) -> None:
        if not display_available():
            raise DeviceError(
                "--show: expected a display and an OpenCV with GUI support, got none "
                "(headless, or opencv-python-headless); use --serve 127.0.0.1:8080 instead"
            )

    def write(self, original: np.ndarray, deblurred: np.ndarray) -> None:
        import cv2

        both = np.concatenate([original, deblurred], axis=1)
        cv2.imshow(self.title, cv2.cvtColor(both, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop_requested = True

    def close(self, ok: bool = True) -> None:
        import cv2

        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.title)


def open_output(
    path: str | os.PathLike, fps: float | None, force: bool = False
) -> VideoSink | ImageFolderSink:
    """A VideoSink for a video suffix, else an ImageFolderSink for a folder path."""
    p = Path(path)
    if p.suffix.lower() in VIDEO_FOURCC:
        return VideoSink(p, fps, force=force)
    if p.suffix and not p.is_dir():
        raise InputError(
            expected(
                "--output",
                f"a folder or a video file ({', '.join(VIDEO_FOURCC)})",
                str(p),
                "use e.g. out.mp4 or a folder name",
            )
        )
    return ImageFolderSink(p, force=force)
