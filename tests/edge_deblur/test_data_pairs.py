"""GoPro-layout pair folders: matching by name, skipped files, errors that name the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_deblur.data import DataSource, build_train_dataset, load_pairs, scan_pairs
from runtime.errors import InputError
from runtime.io import write_image


def _img(h: int = 16, w: int = 16, v: int = 0) -> np.ndarray:
    return np.full((h, w, 3), v, np.uint8)


def _layout(root: Path) -> tuple[Path, Path]:
    (root / "blur").mkdir(parents=True)
    (root / "sharp").mkdir()
    return root / "blur", root / "sharp"


def test_pairs_match_by_name_skip_non_images_and_allow_another_suffix(tmp_path: Path) -> None:
    root = tmp_path / "my pairs"
    b, s = _layout(root)
    for n in ("b", "a"):
        write_image(b / f"{n}.png", _img())
        write_image(s / f"{n}.png", _img(v=9))
    write_image(b / "c.png", _img())
    write_image(s / "c.jpg", _img())
    write_image(s / "extra.png", _img())
    (b / "Thumbs.db").write_bytes(b"x")
    (s / "notes.txt").write_text("x")
    (b / "sub").mkdir()
    scan = scan_pairs(root)
    assert [p.name for p in scan.pairs] == ["a", "b", "c"]
    assert scan.pairs[2].sharp_path == s / "c.jpg"
    assert scan.skipped_non_images == 2 and scan.unmatched_sharp == 1
    assert load_pairs(root) == scan.pairs


def test_blur_without_sharp_partner_is_named(tmp_path: Path) -> None:
    b, s = _layout(tmp_path)
    write_image(b / "a.png", _img())
    write_image(s / "a.png", _img())
    write_image(b / "lonely.png", _img())
    with pytest.raises(InputError, match=r"lonely\.png.*sharp partner"):
        load_pairs(tmp_path)


def test_two_blurred_images_for_one_sharp_image_are_named(tmp_path: Path) -> None:
    b, s = _layout(tmp_path)
    write_image(b / "a.png", _img())
    write_image(b / "a.jpg", _img())
    write_image(s / "a.png", _img())
    with pytest.raises(InputError, match=r"blur.a\.png.*second blurred image.*first is .*a\.jpg"):
        load_pairs(tmp_path)


def test_folder_without_usable_pairs_counts_what_it_skipped(tmp_path: Path) -> None:
    b, _ = _layout(tmp_path)
    (b / "readme.txt").write_text("x")
    with pytest.raises(InputError, match=r"0 usable pairs \(1 non-image"):
        load_pairs(tmp_path)


def test_missing_sub_folder_says_the_layout(tmp_path: Path) -> None:
    (tmp_path / "blur").mkdir()
    with pytest.raises(InputError, match="blur/ and sharp/.*no sharp/ folder"):
        load_pairs(tmp_path)


def test_pairs_of_different_sizes_or_smaller_than_the_patch_are_named(tmp_path: Path) -> None:
    b, s = _layout(tmp_path / "p")
    for i in range(3):
        write_image(b / f"{i}.png", _img(40, 40))
        write_image(s / f"{i}.png", _img(40, 48 if i == 1 else 40))
    src = [DataSource("pairs", tmp_path / "p")]
    with pytest.raises(InputError, match=r"pair '1'.*same size"):
        build_train_dataset(src, 32, 2, seed=0, holdout=0.0)
    write_image(s / "1.png", _img(40, 40), force=True)
    with pytest.raises(InputError, match=r"0\.png.*at least 64x64"):
        build_train_dataset(src, 64, 2, seed=0, holdout=0.0)
