"""Blurred *sequences* for the temporal model: consecutive blurred frames with their sharp frames.

Three sources, all numpy (no TensorFlow), every sample a pure function of ``(seed, index)``:

* **clips** (:class:`ClipSequences`): the GoPro recipe (:mod:`edge_deblur.data.video`) applied to
  consecutive windows of a high-fps clip. A camera exposing ``average`` frames of a 240 fps clip
  per output frame delivers the window ``[s, s + average)``, then ``[s + average, s + 2 average)``,
  ...: consecutive blurred frames of a ``240 / average`` fps video, each with its sharp centre
  frame. Every start ``s`` is used (each gives a differently phased real video). ``frames=(a, b)``
  limits the clip to raw frames ``[a, b)``, so a run can train on one part of a clip and be judged
  on another;
* **pairs** (:class:`PairSequences`): a GoPro-layout folder whose pairs, in name order, are
  consecutive frames (the GoPro dataset's own sequences, or ``edge-deblur data from-video`` with
  ``--stride`` equal to ``--average``);
* **photos** (:class:`ShakeSequences`): sharp photos moved along ONE continuous camera-shake path
  (:func:`edge_deblur.data.kernels.camera_shake_path`) that runs through all the frames: frame
  ``t`` integrates the path over its exposure (a fraction of the frame interval, as a rolling
  camera would) and its sharp frame is the photo at the path's centroid of that exposure. The
  shake, the drift between frames and the blur of each frame are therefore coherent in time.

:class:`SequenceSampler` mixes the sources and crops one ``patch`` x ``patch`` window at the same
place in every frame of a sample (with the same flips). :func:`sequence_validation_set` draws fixed
held-out sequences: the last ``holdout`` share of a clip's frames or of a pairs folder, and a
``holdout`` share of the photos.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_deblur.data.degrade import convolve, linear_to_srgb, srgb_to_linear, to_float, to_uint8
from runtime.errors import InputError, expected

SHAKE_KERNEL = 31  # kernel side of synthetic shake frames (as BlurConfig.kernel_size)
STEPS_PER_FRAME = 48  # path samples per frame interval
SHAKE_NOISE = (1e-3, 1e-2)  # Gaussian read-noise sigma range (linear light) of shake frames


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(expected(name, f"an integer >= {low}", value))
    return int(value)


def read_clip(
    clip: str | os.PathLike,
    frames: tuple[int, int] | None = None,
    resize: tuple[int, int] | None = None,
) -> np.ndarray:
    """The RGB uint8 frames ``[a, b)`` of a video file or a folder of frame images, ``(N, H, W,
    3)``; ``resize=(width, height)`` downsizes each frame (area resampling)."""
    import cv2

    from edge_deblur.data.video import _FolderFrames, _skip_failed_grabs, _VideoFrames

    p = Path(clip)
    if not p.exists():
        raise InputError(expected("--clip", "an existing video file or folder of frames", str(p)))
    first, last = frames if frames is not None else (0, None)
    cap = _FolderFrames(p) if p.is_dir() else _VideoFrames(p)
    out = []

    def corrupt(idx: int) -> InputError:
        # Refused, not skipped: a gap would join two moments as one sequence.
        return InputError(
            expected(
                f"frame {idx} of --clip {str(p)!r}",
                "a decodable frame",
                "a corrupt one",
                "repair the clip, or give --clip-frames a range without it",
            )
        )

    try:
        idx = 0
        while last is None or idx < last:
            if not cap.grab():
                if _skip_failed_grabs(cap) is not None:  # frames follow: this one is corrupt
                    raise corrupt(idx)
                break
            if idx >= first:
                f = cap.retrieve(idx)
                if f is None:
                    raise corrupt(idx)
                if resize is not None:
                    f = cv2.resize(f, resize, interpolation=cv2.INTER_AREA)
                if out and f.shape != out[0].shape:
                    raise InputError(
                        expected(f"frame {idx} of {str(p)!r}", f"shape {out[0].shape}", f.shape)
                    )
                out.append(f)
            idx += 1
    finally:
        cap.release()
    if not out:
        raise InputError(expected("--clip", f"frames in the range {frames}", f"none in {str(p)!r}"))
    return np.stack(out)


def gopro_windows(frames: np.ndarray, average: int) -> tuple[np.ndarray, np.ndarray]:
    """For every start ``s``: the blurred mean (in linear light) of ``frames[s : s + average]``
    and its sharp centre frame ``frames[s + average // 2]``; both ``(N - average + 1, H, W, 3)``
    uint8 (the recipe of :func:`edge_deblur.data.video.pairs_from_video`)."""
    average = _check_int("--clip-average", average, 2)
    n = len(frames)
    if n < average:
        raise InputError(expected("--clip-average", f"at most the {n} frames given", average))
    lin = [srgb_to_linear(to_float(f)) for f in frames[:average]]
    total = np.sum(lin, axis=0, dtype=np.float64)
    blurs = np.empty((n - average + 1, *frames.shape[1:]), np.uint8)
    for s in range(n - average + 1):
        if s > 0:
            total -= srgb_to_linear(to_float(frames[s - 1]))
            total += srgb_to_linear(to_float(frames[s + average - 1]))
        blurs[s] = to_uint8(linear_to_srgb((total / average).astype(np.float32)))
    return blurs, frames[average // 2 : average // 2 + n - average + 1].copy()


@dataclass
class ClipSequences:
    """GoPro-recipe sequences: ``blurs[s]`` / ``sharps[s]`` are the window starting at raw frame
    ``s``; frame ``t`` of a sequence starting at ``s`` is window ``s + t * average``."""

    name: str
    blurs: np.ndarray
    sharps: np.ndarray
    average: int

    @classmethod
    def from_frames(cls, frames: np.ndarray, average: int, name: str = "clip") -> ClipSequences:
        blurs, sharps = gopro_windows(frames, average)
        return cls(name, blurs, sharps, average)

    def starts(self, length: int) -> int:
        """How many sequence starts hold ``length`` frames."""
        return max(0, len(self.blurs) - (length - 1) * self.average)

    def sequence(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        idx = start + self.average * np.arange(length)
        return self.blurs[idx], self.sharps[idx]


@dataclass
class PairSequences:
    """A GoPro-layout folder read as one sequence (pairs in name order are consecutive frames)."""

    name: str
    blurs: np.ndarray
    sharps: np.ndarray

    def starts(self, length: int) -> int:
        return max(0, len(self.blurs) - length + 1)

    def sequence(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        return self.blurs[start : start + length], self.sharps[start : start + length]


def load_pair_sequence(folder: str | os.PathLike, part: slice = slice(None)) -> PairSequences:
    """The pairs of ``folder`` (name order) as a sequence, ``part`` of them."""
    from edge_deblur.data.pairs import load_pairs
    from runtime.io import read_image

    pairs = load_pairs(folder)[part]
    if not pairs:
        raise InputError(expected("--pairs", "pairs for a sequence", f"none in {folder}"))
    blurs = np.stack([read_image(p.blur_path) for p in pairs])
    sharps = np.stack([read_image(p.sharp_path) for p in pairs])
    return PairSequences(str(folder), blurs, sharps)


@dataclass
class ShakeSequences:
    """Sharp photos; each sample moves one photo along one continuous shake path."""

    name: str
    images: list[np.ndarray]

    def sequence(
        self, rng: np.random.Generator, length: int, patch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        from edge_deblur.data import kernels as kmod

        img = self.images[int(rng.integers(len(self.images)))]
        k = SHAKE_KERNEL
        drift = patch // 4  # how far the camera may wander over the whole sequence
        m = drift + k // 2 + 2
        h, w = img.shape[:2]
        if h < patch + 2 * m or w < patch + 2 * m:
            raise InputError(
                expected(
                    f"photo in {self.name!r}",
                    f"at least {patch + 2 * m}x{patch + 2 * m} pixels for --patch {patch}",
                    f"{w}x{h}",
                )
            )
        oy, ox = int(rng.integers(m, h - patch - m + 1)), int(rng.integers(m, w - patch - m + 1))
        lin = srgb_to_linear(to_float(img[oy - m : oy + patch + m, ox - m : ox + patch + m]))
        # One path through all frames: per frame up to ~(k - 3) px of motion during exposure.
        steps = STEPS_PER_FRAME * length
        speed = rng.uniform(0.2, 1.0) * (k - 3) / STEPS_PER_FRAME  # px per path step
        path = kmod.camera_shake_path(rng, speed * (steps - 1), n_steps=steps)
        path = path - path.mean(axis=0)
        reach = float(np.abs(path).max())
        if reach > drift:  # keep the wander inside the margin, motion per frame scales with it
            path *= drift / reach
        exposure = rng.uniform(0.3, 1.0)
        read_noise = float(np.exp(rng.uniform(*np.log(SHAKE_NOISE))))
        blurs, sharps = [], []
        for t in range(length):
            seg = path[
                t * STEPS_PER_FRAME : t * STEPS_PER_FRAME + max(2, int(exposure * STEPS_PER_FRAME))
            ]
            cx, cy = seg.mean(axis=0)
            shifted = _translate(lin, cx, cy)
            blur = convolve(shifted, kmod.rasterize_path(seg, k))
            blur = blur + rng.normal(0.0, read_noise, blur.shape).astype(np.float32)
            cut = (slice(m, m + patch), slice(m, m + patch))
            blurs.append(to_uint8(linear_to_srgb(np.clip(blur[cut], 0.0, 1.0))))
            sharps.append(to_uint8(linear_to_srgb(shifted[cut])))
        return np.stack(blurs), np.stack(sharps)


def _translate(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``img`` as seen by a camera moved by (dx, dy) pixels (sub-pixel, reflected borders)."""
    import cv2

    mat = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = img.shape[:2]
    return cv2.warpAffine(
        img, mat, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT101,
    )  # fmt: skip


SequenceSource = ClipSequences | PairSequences | ShakeSequences


class SequenceSampler:
    """Draws ``(blurred, sharp)`` uint8 sequences ``(length, patch, patch, 3)``;
    ``sample(i)`` depends only on the seed, the stream and ``i``."""

    def __init__(
        self,
        sources: Sequence[SequenceSource],
        weights: Sequence[float],
        length: int,
        patch: int,
        seed: int,
        stream: int = 0,
        flips: bool = True,
    ) -> None:
        self.length = _check_int("seq_len", length, 1)
        self.patch = _check_int("patch", patch, 8)
        usable = [
            (s, float(w))
            for s, w in zip(sources, weights, strict=True)
            if isinstance(s, ShakeSequences) or s.starts(self.length) > 0
        ]
        if not usable:
            raise InputError(
                expected(
                    "sequence sources",
                    f"at least one with {self.length} consecutive frames",
                    "none",
                    "give --clip, --pairs or --data, or lower --seq-len",
                )
            )
        for s, _ in usable:
            if not isinstance(s, ShakeSequences):
                h, w = s.blurs.shape[1:3]
                if h < patch or w < patch:
                    raise InputError(
                        expected(f"frames of {s.name!r}", f"at least {patch}x{patch}", f"{w}x{h}")
                    )
        self.sources = [s for s, _ in usable]
        p = np.array([w for _, w in usable], np.float64)
        self.probs = p / p.sum()
        self.seed, self.stream, self.flips = int(seed), int(stream), flips

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.stream, int(i)])
        src = self.sources[int(rng.choice(len(self.sources), p=self.probs))]
        p, n = self.patch, self.length
        if isinstance(src, ShakeSequences):
            blur, sharp = src.sequence(rng, n, p)
        else:
            s0 = int(rng.integers(src.starts(n)))
            b, s = src.sequence(s0, n)
            h, w = b.shape[1:3]
            oy, ox = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            blur, sharp = b[:, oy : oy + p, ox : ox + p], s[:, oy : oy + p, ox : ox + p]
        if self.flips:
            if rng.uniform() < 0.5:
                blur, sharp = blur[:, :, ::-1], sharp[:, :, ::-1]
            if rng.uniform() < 0.5:
                blur, sharp = blur[:, ::-1], sharp[:, ::-1]
        return np.ascontiguousarray(blur), np.ascontiguousarray(sharp)

    def batch(self, step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``step`` of ``size`` sequences as float32 ``(size, length, patch, patch, 3)``
        in [0, 1] (a pure function of ``step``: resuming at step N continues the stream)."""
        pairs = [self.sample(step * size + k) for k in range(size)]
        blur = np.stack([b for b, _ in pairs]).astype(np.float32) / np.float32(255.0)
        sharp = np.stack([s for _, s in pairs]).astype(np.float32) / np.float32(255.0)
        return blur, sharp


def load_sequence_sources(
    clips: Sequence[str] = (),
    pairs: Sequence[str] = (),
    photos: Sequence[str] = (),
    *,
    average: int = 7,
    frames: tuple[int, int] | None = None,
    holdout: float = 0.1,
    seed: int = 0,
    part: str = "train",
    length: int = 4,
) -> list[SequenceSource]:
    """Load the ``part`` ("train" or "val") of every source.

    Clips and pairs folders hold out their last ``holdout`` share of frames, at least enough for
    one sequence of ``length`` frames (one contiguous run: neighbouring frames are
    near-duplicates, and no held-out window shares a raw frame with a training one); photo
    folders a random ``holdout`` share of photos (:func:`edge_deblur.data.split_holdout`, as the
    single-frame pipeline does).
    """
    from edge_deblur.data.pipeline import split_holdout
    from runtime.io import list_images, read_image

    if part not in ("train", "val"):
        raise ValueError(f"part must be 'train' or 'val', got {part!r}")
    out: list[SequenceSource] = []
    for clip in clips:
        raw = read_clip(clip, frames)
        cut = len(raw) - max(int(round(len(raw) * holdout)), length * average)
        sel = raw[: max(0, cut)] if part == "train" else raw[max(0, cut) :]
        if len(sel) >= average:
            out.append(ClipSequences.from_frames(sel, average, name=str(clip)))
    for folder in pairs:
        seq = load_pair_sequence(folder)
        cut = len(seq.blurs) - max(int(round(len(seq.blurs) * holdout)), length)
        part_slice = slice(None, cut) if part == "train" else slice(cut, None)
        out.append(PairSequences(seq.name, seq.blurs[part_slice], seq.sharps[part_slice]))
    for folder in photos:
        files = list_images(folder)
        train, val = split_holdout(files, holdout, seed)
        chosen = train if part == "train" else val
        if chosen:
            out.append(ShakeSequences(str(folder), [read_image(f) for f in chosen]))
    return out


def sequence_validation_set(
    sources: Sequence[SequenceSource], n: int, length: int, size: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` fixed held-out sequences ``(length, size, size, 3)`` uint8 (no flips), the same every
    call; sources too small for ``size`` crops are skipped (an InputError when none is left)."""
    fits = []
    for s in sources:
        if isinstance(s, ShakeSequences):
            need = size + 2 * (size // 4 + SHAKE_KERNEL // 2 + 2)
            imgs = [im for im in s.images if min(im.shape[:2]) >= need]
            if imgs:
                fits.append(ShakeSequences(s.name, imgs))
        elif min(s.blurs.shape[1:3]) >= size and s.starts(length) > 0:
            fits.append(s)
    if not fits:
        raise InputError(
            expected(
                "validation sequences",
                f"held-out frames of at least {size}x{size} with {length} in a row",
                "none",
                "lower --val-size or --seq-len",
            )
        )
    sampler = SequenceSampler(fits, [1.0] * len(fits), length, size, seed, stream=1, flips=False)
    return [sampler.sample(i) for i in range(n)]
