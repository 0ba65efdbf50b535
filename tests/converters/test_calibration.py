import numpy as np
import pytest

from converters import calibration as cal
from runtime.errors import InputError


def test_empty_data_folder_is_an_input_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="--data"):
        cal.find_sources(tmp_path, None)


def test_pairs_folder_without_gopro_layout_is_an_input_error(tmp_path):
    (tmp_path / "blur").mkdir()
    with pytest.raises(InputError, match="--pairs"):
        cal.find_sources(None, tmp_path)


def test_pairs_found_in_flat_and_per_sequence_layouts(pairs_dir, tmp_path, pairs_factory):
    flat = cal.find_sources(None, pairs_dir)
    assert len(flat) == 5 and all(s.sharp.name == s.blur.name for s in flat)
    pairs_factory(tmp_path / "seq A", count=2)
    pairs_factory(tmp_path / "seq B", count=3, seed=1)
    nested = cal.find_sources(None, tmp_path)
    assert len(nested) == 5


def test_split_holds_back_whole_files(pairs_dir):
    sources = cal.find_sources(None, pairs_dir)
    fit, held = cal.split_sources(sources)
    assert held and fit
    assert not {s.blur for s in fit} & {s.blur for s in held}
    assert len(fit) + len(held) == len(sources)


def test_single_image_is_used_for_both_parts(pairs_dir):
    one = cal.find_sources(None, pairs_dir)[:1]
    assert cal.split_sources(one) == (one, one)


def test_tiles_are_seeded_sized_and_paired(pairs_dir):
    sources = cal.find_sources(None, pairs_dir)
    a = cal.sample_tiles(sources, 12, (16, 24), seed=3)
    b = cal.sample_tiles(sources, 12, (16, 24), seed=3)
    c = cal.sample_tiles(sources, 12, (16, 24), seed=4)
    assert a.inputs.shape == (12, 16, 24, 3) and a.inputs.dtype == np.uint8
    assert a.sharp is not None and a.sharp.shape == a.inputs.shape
    assert np.array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)
    reps = list(a.representative())
    assert len(reps) == 12 and reps[0][0].shape == (1, 16, 24, 3)
    assert reps[0][0].dtype == np.float32 and 0.0 <= reps[0][0].min() <= reps[0][0].max() <= 1.0


def test_images_smaller_than_the_tile_are_padded(pairs_dir):
    sources = cal.find_sources(None, pairs_dir)
    t = cal.sample_tiles(sources[:1], 2, (64, 64), seed=0)
    assert t.inputs.shape == (2, 64, 64, 3)


def test_grayscale_and_rgba_images_become_rgb_tiles(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "gray.png"), rng.integers(0, 255, (20, 20), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "rgba.png"), rng.integers(0, 255, (20, 20, 4), dtype=np.uint8))
    t = cal.sample_tiles(cal.find_sources(tmp_path, None), 4, (16, 16), seed=0)
    assert t.inputs.shape == (4, 16, 16, 3) and t.sharp is None
