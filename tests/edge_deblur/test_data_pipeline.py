"""The tf.data training pipeline, the hold-out split and the validation set (generated images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_deblur.data import (
    BlurConfig,
    DataSource,
    build_train_dataset,
    make_validation_set,
    pairs_grid,
    sample_pairs,
    split_holdout,
)
from runtime.errors import InputError
from runtime.io import write_image


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured test photo: smooth gradients plus sharp-edged rectangles."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (h + w)], -1).astype(np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[y : y + rng.integers(4, 20), x : x + rng.integers(4, 20)] = rng.integers(0, 256, 3)
    return img


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    d = tmp_path / "sharp photos"
    d.mkdir()
    for i in range(5):
        write_image(d / f"p{i}.png", _photo(rng, 72 + 8 * i, 96))
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture()
def pairs(tmp_path: Path) -> Path:
    """A GoPro-layout folder where only the left half of each pair is blurred."""
    import cv2

    rng = np.random.default_rng(2)
    root = tmp_path / "pairs"
    (root / "blur").mkdir(parents=True)
    (root / "sharp").mkdir()
    for i in range(4):
        sharp = _photo(rng, 64, 128)
        blur = sharp.copy()
        blur[:, :64] = cv2.blur(sharp, (9, 9))[:, :64]
        write_image(root / "sharp" / f"f{i:03d}.png", sharp)
        write_image(root / "blur" / f"f{i:03d}.png", blur)
    return root


FAST = BlurConfig(kernel_size=9, noise=0.0, jpeg=0.0, highlights=0.0)
NOISY = BlurConfig(kernel_size=9, noise=1.0)


def _first(ds, n=1):
    it = iter(ds)
    return [tuple(t.numpy() for t in next(it)) for _ in range(n)]


def test_train_batches_have_contract_shape_range_and_are_blurred(photos: Path) -> None:
    ds = build_train_dataset(
        [DataSource("synthetic", photos)], patch=32, batch=4, seed=0, blur=FAST
    )
    blur, sharp = _first(ds)[0]
    assert blur.shape == sharp.shape == (4, 32, 32, 3)
    assert blur.dtype == sharp.dtype == np.float32
    assert 0.0 <= blur.min() and blur.max() <= 1.0 and 0.0 <= sharp.min() and sharp.max() <= 1.0
    # Blur removes detail: the inputs have less gradient energy than their targets.
    grad = lambda a: np.abs(np.diff(a, axis=2)).mean()  # noqa: E731
    assert grad(blur) < grad(sharp)


def test_train_stream_is_deterministic_for_a_seed_and_differs_across_seeds(photos: Path) -> None:
    src = [DataSource("synthetic", photos)]
    a = _first(build_train_dataset(src, 24, 3, seed=5, blur=FAST), 2)
    b = _first(build_train_dataset(src, 24, 3, seed=5, blur=FAST), 2)
    c = _first(build_train_dataset(src, 24, 3, seed=6, blur=FAST), 1)
    for (ba, sa), (bb, sb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ba, bb)
        np.testing.assert_array_equal(sa, sb)
    assert not np.array_equal(a[0][1], c[0][1])


def test_start_step_resumes_the_exact_stream(photos: Path) -> None:
    src = [DataSource("synthetic", photos)]
    full = _first(build_train_dataset(src, 24, 3, seed=1, blur=FAST), 3)
    resumed = _first(build_train_dataset(src, 24, 3, seed=1, blur=FAST, start_step=2), 1)
    np.testing.assert_array_equal(resumed[0][0], full[2][0])
    np.testing.assert_array_equal(resumed[0][1], full[2][1])
    with pytest.raises(InputError, match="start_step"):
        build_train_dataset(src, 24, 3, seed=1, start_step=-1)


def test_pair_crops_favour_the_blurred_region(pairs: Path) -> None:
    ds = build_train_dataset(
        [DataSource("pairs", pairs)], patch=32, batch=32, seed=0, uniform_share=0.0, holdout=0.0
    )
    blur, sharp = _first(ds)[0]
    blurred = np.abs(blur - sharp).reshape(32, -1).max(axis=1) > 0.02
    # Only the left half (x < 64) differs; weighted crops must almost all overlap it.
    assert blurred.mean() > 0.9


def test_sources_are_mixed_by_weight(photos: Path, pairs: Path) -> None:
    # Pair crops are exact copies of file content, synthetic ones never equal their target.
    srcs = [DataSource("synthetic", photos, 1.0), DataSource("pairs", pairs, 3.0)]
    ds = build_train_dataset(srcs, 24, 64, seed=0, blur=NOISY, uniform_share=1.0)
    blur, sharp = _first(ds)[0]
    same = np.abs(blur - sharp).reshape(64, -1).max(axis=1) < 1e-6
    # Synthetic crops always differ (noise on every one); uniform pair crops that miss the blurred
    # half are identical to their target, so a mix shows both kinds.
    assert 0 < same.sum() < 64


def test_split_holdout_is_deterministic_disjoint_and_keeps_training_data() -> None:
    items = [f"img{i}" for i in range(20)]
    tr, va = split_holdout(items, 0.2, seed=3)
    assert (tr, va) == split_holdout(items, 0.2, seed=3)
    assert len(va) == 4 and not set(tr) & set(va) and sorted(tr + va) == sorted(items)
    tr_c, va_c = split_holdout(items, 0.2, seed=3, contiguous=True)
    idx = [items.index(v) for v in va_c]
    assert idx == list(range(idx[0], idx[0] + 4))
    assert split_holdout(["only"], 0.5, seed=0) == (["only"], [])
    with pytest.raises(InputError, match="holdout fraction"):
        split_holdout(items, 1.0, seed=0)


def test_validation_set_is_fixed_and_drawn_only_from_held_out_images(photos: Path) -> None:
    src = [DataSource("synthetic", photos)]
    v1 = make_validation_set(src, n=6, size=32, seed=0, blur=FAST)
    v2 = make_validation_set(src, n=6, size=32, seed=0, blur=FAST)
    assert len(v1) == 6
    for (b1, s1), (b2, s2) in zip(v1, v2, strict=True):
        assert b1.dtype == np.uint8 and b1.shape == (32, 32, 3)
        np.testing.assert_array_equal(b1, b2)
        np.testing.assert_array_equal(s1, s2)
    # With 5 photos and a 10% hold-out exactly one photo is held back: p0 (72 px tall) ... p4.
    paths = sorted(p for p in photos.iterdir() if p.suffix == ".png")
    _, held = split_holdout(paths, 0.1, seed=0)
    assert len(held) == 1
    from runtime.io import read_image

    held_img = read_image(held[0])
    h = held_img.shape[0]
    assert all(s.shape[0] <= h for _, s in v1)


def test_image_smaller_than_patch_is_named(photos: Path) -> None:
    write_image(photos / "tiny.png", np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(InputError, match=r"tiny\.png.*at least 64x64"):
        build_train_dataset([DataSource("synthetic", photos)], 64, 2, seed=0, holdout=0.0)


def test_small_held_out_images_are_skipped_for_validation_not_fatal(tmp_path: Path) -> None:
    d = tmp_path / "mixed sizes"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        write_image(d / f"big{i}.png", _photo(rng, 64, 64))
    write_image(d / "small.png", _photo(rng, 20, 40))
    src = [DataSource("synthetic", d)]
    paths = sorted(d.iterdir())
    seed = next(
        s for s in range(100) if any(p.name == "small.png" for p in split_holdout(paths, 0.3, s)[1])
    )
    val = make_validation_set(src, 4, 32, seed=seed, blur=FAST, holdout=0.3)
    assert len(val) == 4 and all(b.shape == (32, 32, 3) for b, _ in val)
    # Training on the same folder with a patch larger than the image still names it.
    with pytest.raises(InputError, match=r"small\.png"):
        build_train_dataset(src, 32, 2, seed=seed, blur=FAST, holdout=0.0)


def test_folder_without_images_is_an_error_counting_skipped_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="0 images \\(1 non-image"):
        build_train_dataset([DataSource("synthetic", tmp_path)], 32, 2, seed=0)


def test_bad_arguments_raise_input_errors(photos: Path) -> None:
    src = [DataSource("synthetic", photos)]
    with pytest.raises(InputError, match="batch"):
        build_train_dataset(src, 32, 0, seed=0)
    with pytest.raises(InputError, match="seed"):
        build_train_dataset(src, 32, 2, seed=-1)
    with pytest.raises(InputError, match="data sources"):
        build_train_dataset([], 32, 2, seed=0)
    with pytest.raises(InputError, match="energy_power"):
        build_train_dataset(src, 32, 2, seed=0, energy_power=-1.0)
    with pytest.raises(InputError, match="uniform_share"):
        build_train_dataset(src, 32, 2, seed=0, uniform_share=2.0)
    with pytest.raises(InputError, match="source kind"):
        DataSource("video", photos)
    with pytest.raises(InputError, match="weight"):
        DataSource("synthetic", photos, 0.0)


def test_sample_pairs_is_the_start_of_the_training_stream_without_tensorflow(photos: Path) -> None:
    src = [DataSource("synthetic", photos)]
    got = sample_pairs(src, 3, 24, seed=2, blur=FAST)
    blur, sharp = _first(build_train_dataset(src, 24, 3, seed=2, blur=FAST))[0]
    for i, (b, s) in enumerate(got):
        assert b.dtype == np.uint8
        np.testing.assert_allclose(b / 255.0, blur[i], atol=1e-6)
        np.testing.assert_allclose(s / 255.0, sharp[i], atol=1e-6)
    grid = pairs_grid(got, per_row=2)
    assert grid.shape == (2 * 24, 2 * 2 * 24, 3)
    np.testing.assert_array_equal(grid[:24, :24], got[0][1])  # sharp on the left
    np.testing.assert_array_equal(grid[:24, 24:48], got[0][0])
    assert not grid[24:, 48:].any()  # the missing fourth pair is blank


def test_cli_preview_writes_a_grid_and_refuses_to_overwrite(photos: Path, pairs: Path) -> None:
    from typer.testing import CliRunner

    from edge_deblur.cli.main import app
    from runtime.io import read_image

    out = photos.parent / "preview grid.png"
    args = ["data", "preview", "--data", str(photos), "--pairs", str(pairs), "--out", str(out)]
    args += ["--count", "5", "--size", "32"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "5 pairs of 32x32" in r.output and "PSNR" in r.output
    assert read_image(out).shape == (2 * 32, 4 * 2 * 32, 3)
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 2 and "--force" in r2.output
    r3 = CliRunner().invoke(app, ["data", "preview", "--out", str(out), "--force"])
    assert r3.exit_code == 2 and "--data/--pairs" in r3.output


def _id_photos(folder: Path, n: int) -> list[Path]:
    """Photos whose blue channel is a constant ID (30 * i + 20): blur and crops keep it."""
    rng = np.random.default_rng(4)
    folder.mkdir()
    paths = []
    for i in range(n):
        img = _photo(rng, 48, 48)
        img[:, :, 2] = 30 * i + 20
        write_image(folder / f"id{i}.png", img)
        paths.append(folder / f"id{i}.png")
    return paths


def test_held_out_photos_never_reach_training_and_only_they_reach_validation(
    tmp_path: Path,
) -> None:
    paths = _id_photos(tmp_path / "ids", 6)
    ids = {p.name: 30 * int(p.stem[2:]) + 20 for p in paths}
    _, held = split_holdout(paths, 0.34, seed=9)
    held_ids = {ids[p.name] for p in held}
    assert len(held_ids) == 2
    src = [DataSource("synthetic", tmp_path / "ids")]
    clean = BlurConfig(kernel_size=9, noise=0.0, jpeg=0.0, highlights=0.0, moving_object=0.0)
    _, sharp = _first(build_train_dataset(src, 24, 64, seed=9, blur=clean, holdout=0.34))[0]
    train_ids = {int(round(v)) for v in np.unique(sharp[..., 2] * 255.0)}
    assert train_ids and not train_ids & held_ids
    assert len(train_ids) == 4  # every training photo is used
    val = make_validation_set(src, 8, 24, seed=9, blur=clean, holdout=0.34)
    assert {int(v) for _, s in val for v in np.unique(s[..., 2])} == held_ids


def test_pairs_hold_out_one_contiguous_run(tmp_path: Path) -> None:
    root = tmp_path / "pairs"
    (root / "blur").mkdir(parents=True)
    (root / "sharp").mkdir()
    for i in range(10):
        img = np.full((32, 32, 3), 10 * i + 5, np.uint8)
        write_image(root / "blur" / f"f{i:02d}.png", img)
        write_image(root / "sharp" / f"f{i:02d}.png", img)
    src = [DataSource("pairs", root)]
    val = make_validation_set(src, 6, 16, seed=1, holdout=0.2)
    held = sorted({int(b[0, 0, 0]) // 10 for b, _ in val})
    assert len(held) == 2 and held[1] == held[0] + 1
    blur, _ = _first(build_train_dataset(src, 16, 40, seed=1, holdout=0.2))[0]
    train = {int(round(v * 255)) // 10 for v in np.unique(blur[:, 0, 0, 0])}
    assert not train & set(held) and len(train) == 8


def test_gray_rgba_and_16_bit_photos_are_used_as_rgb(tmp_path: Path) -> None:
    import cv2

    d = tmp_path / "odd formats"
    d.mkdir()
    rng = np.random.default_rng(3)
    base = _photo(rng, 40, 44)
    cv2.imwrite(str(d / "gray.png"), cv2.cvtColor(base, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(d / "rgba.png"), cv2.cvtColor(base, cv2.COLOR_RGB2BGRA))
    cv2.imwrite(str(d / "deep.png"), base[:, :, ::-1].astype(np.uint16) * 257)
    got = sample_pairs([DataSource("synthetic", d)], 6, 33, seed=0, blur=FAST, holdout=0.0)
    for b, s in got:
        assert b.shape == s.shape == (33, 33, 3) and b.dtype == np.uint8
