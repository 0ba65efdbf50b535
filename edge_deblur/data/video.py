"""Real motion blur from high-frame-rate video: the GoPro recipe (Nah, Kim and Lee, CVPR 2017).

Averaging N consecutive frames of a 240 fps clip in linear light integrates the real motion over
an N/240 s exposure: camera shake, moving objects and depth all at once. The middle frame (index
``N // 2`` of the window, the later one of the two middle frames when N is even) is the sharp
target. The sRGB curve stands in for the camera response that Nah et al. invert with a
calibrated curve. Pairs are written as a GoPro-layout folder ``OUT/blur/NAME.png`` +
``OUT/sharp/NAME.png`` with ``NAME = <clip stem>_<sharp frame index, 6 digits>``, one atomic
write per file.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_deblur.data.degrade import linear_to_srgb, srgb_to_linear, to_float, to_uint8
from runtime.errors import InputError, OutputExistsError, expected
from runtime.io import to_rgb8, write_image
from runtime.metrics import psnr

# Where the frames of a window are averaged (see pairs_from_video).
SPACES = ("linear", "srgb")


@dataclass(frozen=True)
class VideoPairs:
    """What :func:`pairs_from_video` wrote."""

    out: Path
    names: list[str]
    frames_read: int
    psnr: list[float]  # blur-vs-sharp PSNR of each pair (dB): how strong the blur is
    corrupt: int = 0  # frames that could not be decoded: skipped, no window spans them
    frames_expected: int = 0  # the container's frame count (0: unknown)

    @property
    def truncated(self) -> bool:
        """The clip ended before the frame count its container announces."""
        return 0 < self.frames_read < self.frames_expected

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr)) if self.psnr else float("nan")


def _check_int(name: str, value: int | None, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(expected(name, f"an integer >= {low}", value))


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(
            expected("--out", "a folder (or a new path)", f"existing file {str(out)!r}")
        )
    for sub in ("blur", "sharp"):
        d = out / sub
        if d.is_dir() and any(d.iterdir()) and not force:
            raise OutputExistsError(
                f"output {str(d)!r} already holds files; pass --force to overwrite them"
            )


class _VideoFrames:
    """Frames of a video file through OpenCV (``grab`` skips cheaply, ``retrieve`` decodes)."""

    def __init__(self, path: Path) -> None:
        import cv2

        self.path = path
        # FFmpeg, as the stream runtime: it opens files cut short, whose index is missing.
        self.cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self.cap.isOpened():
            self.cap.release()
            raise InputError(expected("CLIP", "a video OpenCV can decode", str(path)))
        self.total = max(0, int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)))

    def grab(self) -> bool:
        return bool(self.cap.grab())

    def retrieve(self, idx: int) -> np.ndarray | None:
        ok, frame = self.cap.retrieve()
        if not ok or frame is None:
            return None
        return to_rgb8(frame, name=f"frame {idx} of {str(self.path)!r}")

    def release(self) -> None:
        self.cap.release()


class _FolderFrames:
    """Frames stored as images in a folder (e.g. the GoPro dataset's raw frames), by name."""

    def __init__(self, path: Path) -> None:
        from runtime.io import list_images

        self.files = list_images(path)
        if not self.files:
            raise InputError(
                expected(
                    "CLIP",
                    "a video file or a folder of frame images",
                    f"{str(path)!r}, a folder without images",
                )
            )
        self.total = len(self.files)
        self.pos = -1

    def grab(self) -> bool:
        self.pos += 1
        return self.pos < self.total

    def retrieve(self, idx: int) -> np.ndarray | None:
        from runtime.io import read_image

        try:
            return read_image(self.files[self.pos])
        except InputError:  # an unreadable frame file: skipped like a corrupt video frame
            return None

    def release(self) -> None:
        pass


def _skip_failed_grabs(cap: _VideoFrames | _FolderFrames) -> int | None:
    """After a failed ``grab``: how many more failed before one succeeded (the failed frames,
    counting the first), or None when none did within MAX_CONSECUTIVE_CORRUPT tries (the end)."""
    from runtime.sources import MAX_CONSECUTIVE_CORRUPT

    for lost in range(1, MAX_CONSECUTIVE_CORRUPT + 1):
        if cap.grab():
            return lost
    return None


def pairs_from_video(
    clip: str | os.PathLike,
    average: int,
    out: str | os.PathLike,
    stride: int | None = None,
    max_pairs: int | None = None,
    resize: tuple[int, int] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    space: str = "linear",
) -> VideoPairs:
    """Average ``average`` consecutive frames of ``clip`` into blurred/sharp pairs under ``out``.

    ``clip`` is a video file or a folder of frame images (taken in name order).

    A window starts every ``stride`` frames (default ``average``: windows do not overlap) and at
    most ``max_pairs`` are written. ``resize=(width, height)`` downsizes every frame (area
    resampling, in linear light) before averaging. Existing files under ``out/blur`` or
    ``out/sharp`` are an OutputExistsError unless ``force``. ``progress(frames_done, frames_total)``
    is called after each frame (``frames_total`` is the container's count, 0 when unknown).

    ``space="linear"`` averages in linear light (what a sensor integrates); ``space="srgb"``
    averages the sRGB-encoded frames as they are, which is how the GoPro benchmark's ``blur``
    images and ``gopro_dev`` were made (jeffreywolberg/deblurring_dataset_generator takes the
    plain mean of the 8-bit frames). The two differ most at high-contrast edges: the mean of black
    and white is sRGB 0.5 in the one and 0.735 in the other.
    """
    import cv2

    _check_int("--average", average, 2)
    _check_int("--stride", stride, 1, allow_none=True)
    _check_int("--max-pairs", max_pairs, 1, allow_none=True)
    if space not in SPACES:
        raise InputError(expected("--space", f"one of {', '.join(SPACES)}", space))
    if resize is not None and (len(resize) != 2 or min(resize) < 8):
        raise InputError(expected("--resize", "WxH with both sides >= 8", resize))
    stride = average if stride is None else int(stride)
    clip_p, out_p = Path(clip), Path(out)
    if not clip_p.exists():
        raise InputError(
            expected("CLIP", "an existing video file or folder of frames", str(clip_p))
        )
    _check_out(out_p, force)
    cap = _FolderFrames(clip_p) if clip_p.is_dir() else _VideoFrames(clip_p)
    total = cap.total
    try:
        window: deque[np.ndarray] = deque(maxlen=average)
        names: list[str] = []
        psnrs: list[float] = []
        idx = 0
        corrupt = 0
        made_dirs = False
        while max_pairs is None or len(names) < max_pairs:
            # Frames that belong to no window are skipped without decoding them.
            needed = stride <= average or (idx % stride) < average
            if not cap.grab():
                # A failure followed by a good frame was a corrupt frame (as in the stream
                # runtime); failures to the end are the end.
                lost = _skip_failed_grabs(cap)
                if lost is None:
                    break
                corrupt += lost
                window.clear()
                idx += lost
                if progress:
                    progress(idx, total)
                needed = stride <= average or (idx % stride) < average
            if not needed:
                window.clear()
                idx += 1
                if progress:
                    progress(idx, total)
                continue
            frame = cap.retrieve(idx)
            if frame is None:  # undecodable: skip it, and every window that would span it
                corrupt += 1
                window.clear()
                idx += 1
                if progress:
                    progress(idx, total)
                continue
            lin = srgb_to_linear(to_float(frame))
            if resize is not None:
                lin = cv2.resize(lin, resize, interpolation=cv2.INTER_AREA)
            if window and lin.shape != window[0].shape:
                raise InputError(
                    expected(
                        f"frame {idx} of {str(clip_p)!r}",
                        f"the size of the frames before it "
                        f"({window[0].shape[1]}x{window[0].shape[0]})",
                        f"{lin.shape[1]}x{lin.shape[0]}",
                        "pass --resize WxH",
                    )
                )
            window.append(lin)
            start = idx - average + 1
            if len(window) == average and start % stride == 0:
                if not made_dirs:
                    (out_p / "blur").mkdir(parents=True, exist_ok=True)
                    (out_p / "sharp").mkdir(parents=True, exist_ok=True)
                    made_dirs = True
                if space == "srgb":
                    blur = to_uint8(np.mean(linear_to_srgb(np.stack(window)), axis=0))
                else:
                    blur = to_uint8(linear_to_srgb(np.mean(np.stack(window), axis=0)))
                sharp = to_uint8(linear_to_srgb(window[average // 2]))
                name = f"{clip_p.stem}_{start + average // 2:06d}"
                write_image(out_p / "blur" / f"{name}.png", blur, force=force)
                write_image(out_p / "sharp" / f"{name}.png", sharp, force=force)
                names.append(name)
                psnrs.append(psnr(blur, sharp))
            idx += 1
            if progress:
                progress(idx, total)
    finally:
        cap.release()
    if idx == corrupt:
        raise InputError(
            expected("CLIP", "a video with frames", f"no decodable frame in {str(clip_p)!r}")
        )
    if not names:
        if corrupt:
            raise InputError(
                expected(
                    "CLIP",
                    f"{average} decodable frames in a row (--average)",
                    f"{corrupt} undecodable of {idx} frames, none of the windows whole",
                    "repair the clip or lower --average",
                )
            )
        raise InputError(
            expected("--average", f"at most the clip's {idx} frames", average, "lower --average")
        )
    stopped_early = max_pairs is not None and len(names) >= max_pairs
    return VideoPairs(out_p, names, idx, psnrs, corrupt, 0 if stopped_early else total)


def parse_wxh(text: str, name: str = "--resize") -> tuple[int, int]:
    """Parse ``WxH`` (e.g. ``640x360``) into ``(width, height)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(expected(name, "WxH such as 640x360", text)) from None
    if w < 8 or h < 8:
        raise InputError(expected(name, "WxH with both sides >= 8", text))
    return w, h
