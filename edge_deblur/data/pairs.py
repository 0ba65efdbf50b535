"""Paired folders in the GoPro layout: ``DIR/blur/NAME`` and ``DIR/sharp/NAME``.

Pairs are matched by file name (falling back to the name without its suffix, so ``a.png`` may
pair with ``a.jpg``). Non-image files are skipped and counted; a blurred image without a sharp
partner is an error that names it, because silently training on fewer pairs hides a broken copy.
Sharp images without a blurred partner are skipped (extra reference frames are harmless).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import InputError, expected
from runtime.io import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Pair:
    """One training pair: the blurred image and its sharp target, same size."""

    name: str
    blur_path: Path
    sharp_path: Path


@dataclass(frozen=True)
class PairScan:
    """What :func:`scan_pairs` found: the pairs and how many files it skipped."""

    pairs: list[Pair]
    skipped_non_images: int
    unmatched_sharp: int


def _images(folder: Path) -> tuple[list[Path], int]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    imgs = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    return imgs, len(files) - len(imgs)


def scan_pairs(folder: str | os.PathLike) -> PairScan:
    """Match ``folder/blur`` against ``folder/sharp``; see :func:`load_pairs` for the rules."""
    root = Path(folder)
    blur_dir, sharp_dir = root / "blur", root / "sharp"
    for d in (blur_dir, sharp_dir):
        if not d.is_dir():
            raise InputError(
                expected(
                    f"pairs folder {str(root)!r}",
                    "sub-folders blur/ and sharp/ (GoPro layout)",
                    f"no {d.name}/ folder",
                    "make one with `edge-deblur data from-video`",
                )
            )
    blurs, skipped_b = _images(blur_dir)
    sharps, skipped_s = _images(sharp_dir)
    by_name = {p.name: p for p in sharps}
    by_stem: dict[str, list[Path]] = {}
    for p in sharps:
        by_stem.setdefault(p.stem, []).append(p)
    pairs: list[Pair] = []
    first_blur: dict[Path, Path] = {}  # sharp image -> the blurred image paired with it
    for b in blurs:
        s = by_name.get(b.name)
        if s is None and len(by_stem.get(b.stem, [])) == 1:
            s = by_stem[b.stem][0]
        if s is None:
            raise InputError(
                expected(
                    f"blurred image {str(b)!r}",
                    f"a sharp partner {str(sharp_dir / b.name)!r}",
                    "none",
                    "add it or remove the blurred image",
                )
            )
        twin = first_blur.setdefault(s, b)
        if twin != b:
            raise InputError(
                expected(
                    f"blurred image {str(b)!r}",
                    "one blurred image per sharp one",
                    f"a second blurred image for {str(s)!r} (the first is {str(twin)!r})",
                    "remove one of the two",
                )
            )
        pairs.append(Pair(name=b.stem, blur_path=b, sharp_path=s))
    if not pairs:
        raise InputError(
            expected(
                f"pairs folder {str(root)!r}",
                "blur/ and sharp/ images with the same names",
                f"0 usable pairs ({skipped_b + skipped_s} non-image files skipped)",
            )
        )
    return PairScan(pairs, skipped_b + skipped_s, len(sharps) - len(first_blur))


def load_pairs(folder: str | os.PathLike) -> list[Pair]:
    """The (blurred, sharp) pairs of a GoPro-layout folder, sorted by name.

    Raises InputError when ``blur/`` or ``sharp/`` is missing, when a blurred image has no sharp
    partner (naming it), or when no usable pair remains after skipping non-image files.
    """
    return scan_pairs(folder).pairs
