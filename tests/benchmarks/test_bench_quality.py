from pathlib import Path

import numpy as np
import pytest

from benchmarks.quality import find_pairs, load_pairs, score
from runtime.errors import InputError
from runtime.io import write_image


def test_find_pairs_matches_names_across_subfolders(pairs_dir: Path):
    write_image(pairs_dir / "blur" / "only_blur.png", np.zeros((8, 8, 3), np.uint8))
    found = find_pairs(pairs_dir)
    assert [n for n, _, _ in found] == ["f0", "f1"]


def test_identity_model_has_zero_gain_and_sharp_output_positive_gain(pairs_dir: Path):
    pairs = load_pairs(pairs_dir, (64, 48))
    s = score(lambda x: x, pairs)
    assert s.pairs == 2
    assert s.psnr == pytest.approx(s.psnr_input)
    assert s.ssim == pytest.approx(s.ssim_input)
    by_blur = {p.blur.tobytes(): p.sharp for p in pairs}
    perfect = score(lambda x: by_blur[x.tobytes()], pairs)
    assert perfect.psnr > perfect.psnr_input and perfect.ssim == pytest.approx(1.0)


def test_pairs_are_resized_to_the_frame_size(pairs_dir: Path):
    pairs = load_pairs(pairs_dir, (32, 20), limit=1)
    assert len(pairs) == 1
    assert pairs[0].blur.shape == (20, 32, 3) == pairs[0].sharp.shape


def test_empty_pairs_folder_is_an_input_error(tmp_path: Path):
    (tmp_path / "blur").mkdir()
    (tmp_path / "sharp").mkdir()
    with pytest.raises(InputError, match="--pairs: expected at least one image name"):
        find_pairs(tmp_path)


def test_folder_without_subfolders_names_the_layout(tmp_path: Path):
    with pytest.raises(InputError, match="blur\\|blurry\\|input"):
        find_pairs(tmp_path)


def test_output_of_the_wrong_shape_is_reported(pairs_dir: Path):
    pairs = load_pairs(pairs_dir, (64, 48))
    with pytest.raises(InputError, match="model output"):
        score(lambda x: x[:-1], pairs)


def test_pairs_are_cropped_to_the_aspect_ratio_not_stretched(tmp_path: Path):
    from benchmarks.quality import _fit

    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 255  # the centre square is white, the sides black
    out = _fit(img, 20, 20)
    assert out.shape == (20, 20, 3) and out.min() == 255  # sides cropped, not squeezed in
    tall = _fit(np.zeros((90, 30, 3), np.uint8), 30, 45)
    assert tall.shape == (45, 30, 3)
