"""Synthetic degradation (linear light, noise, JPEG, highlights) and the blur configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_deblur.data import BlurConfig, KernelFamily
from edge_deblur.data import degrade as D
from runtime.errors import InputError

ONLY = {f.value: 0.0 for f in KernelFamily}
CLEAN = {"noise": 0.0, "jpeg": 0.0, "highlights": 0.0, "moving_object": 0.0}


def write_gyro_log(folder: Path, omega: tuple[float, float, float], n: int = 50) -> Path:
    """A constant-rate gyro log at 100 Hz in the Lai et al. 2016 column layout."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [[0.0, 0.0, 0.0, *omega, 1000.0 + 0.01 * i] for i in range(n)]
    np.savetxt(folder / "gyro.txt", np.array(rows), fmt="%.6f")
    return folder


def test_srgb_curve_round_trips_and_has_the_standard_midpoint() -> None:
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(D.linear_to_srgb(D.srgb_to_linear(x)), x, atol=1e-5)
    assert float(D.srgb_to_linear(np.float32(0.5))) == pytest.approx(0.2140, abs=1e-3)


def _box_kernel_dir(tmp_path: Path) -> Path:
    d = tmp_path / "kernels"
    d.mkdir()
    np.save(d / "box.npy", np.ones((5, 5)))
    return d


def _stripes(h: int = 40, w: int = 40) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, ::2] = 255
    return img


@pytest.mark.parametrize(("linear", "want"), [(True, 187.5), (False, 127.5)])
def test_blur_happens_in_linear_light(tmp_path: Path, linear: bool, want: float) -> None:
    # 1-px black/white stripes under a 5x5 box: 40/60% white. In linear light that is sRGB
    # 170/203 (mean ~187); blurring the gamma-encoded values would give ~102/153 (mean ~128).
    cfg = BlurConfig(
        kernel_size=7,
        **{**ONLY, "file": 1.0},
        **CLEAN,
        kernel_dirs=(_box_kernel_dir(tmp_path),),
        linear_light=linear,
    )
    deg = D.Degrader(cfg)
    blur, sharp = deg(np.random.default_rng(0), _stripes())
    assert blur.shape == sharp.shape == (40 - 2 * deg.margin, 40 - 2 * deg.margin, 3)
    np.testing.assert_array_equal(
        sharp, _stripes()[deg.margin : -deg.margin, deg.margin : -deg.margin]
    )
    assert float(blur.mean()) == pytest.approx(want, abs=3.0)


def test_srgb_blur_blurs_the_encoded_values_and_keeps_the_random_stream_when_off(
    tmp_path: Path,
) -> None:
    kd = (_box_kernel_dir(tmp_path),)
    base = {"kernel_size": 7, **{**ONLY, "file": 1.0}, **CLEAN, "kernel_dirs": kd}
    srgb = D.Degrader(BlurConfig(**base, srgb_blur=1.0))
    blur, sharp = srgb(np.random.default_rng(0), _stripes())
    # the plain average of the encoded stripes (~128), not the linear-light one (~187)
    assert float(blur.mean()) == pytest.approx(127.5, abs=3.0)
    np.testing.assert_array_equal(
        sharp, _stripes()[srgb.margin : -srgb.margin, srgb.margin : -srgb.margin]
    )
    # off (the default) draws nothing more: a noisy, moving-object config gives the same crops
    full = {**base, "noise": 1.0, "moving_object": 0.5}
    a = D.Degrader(BlurConfig(**full))(np.random.default_rng(3), _stripes())
    b = D.Degrader(BlurConfig(**full, srgb_blur=0.0))(np.random.default_rng(3), _stripes())
    np.testing.assert_array_equal(a[0], b[0])
    # half of the crops: both means show up
    half = D.Degrader(BlurConfig(**base, srgb_blur=0.5))
    rng = np.random.default_rng(1)
    means = [float(half(rng, _stripes())[0].mean()) for _ in range(12)]
    assert min(means) < 140 and max(means) > 175


def test_poisson_gaussian_noise_variance_grows_with_the_signal() -> None:
    rng = np.random.default_rng(0)
    for level in (0.05, 0.8):
        x = np.full((200, 200, 3), level, np.float32)
        y = D.poisson_gaussian(rng, x, shot=0.01, read=0.02)
        assert float(y.std()) == pytest.approx(np.sqrt(0.01 * level + 0.02**2), rel=0.05)
        assert float(y.mean()) == pytest.approx(level, abs=0.002)


def test_highlight_boost_only_touches_bright_pixels() -> None:
    lin = np.array([[[0.2, 0.2, 0.2], [1.0, 1.0, 1.0]]], np.float32)
    out = D.boost_highlights(lin, gain=4.0)
    np.testing.assert_allclose(out[0, 0], lin[0, 0])
    np.testing.assert_allclose(out[0, 1], [4.0, 4.0, 4.0], rtol=1e-5)


def test_saturated_highlights_leave_brighter_streaks(tmp_path: Path) -> None:
    img = np.full((48, 48, 3), 20, np.uint8)
    img[22:26, 22:26] = 255
    base = {**ONLY, **CLEAN, "file": 1.0, "kernel_size": 7}
    del base["highlights"]
    kd = (_box_kernel_dir(tmp_path),)
    dull = D.Degrader(BlurConfig(**base, highlights=0.0, kernel_dirs=kd))
    hot = D.Degrader(BlurConfig(**base, highlights=1.0, highlight_gain=(5.0, 5.0), kernel_dirs=kd))
    b0, s0 = dull(np.random.default_rng(0), img)
    b1, s1 = hot(np.random.default_rng(0), img)
    np.testing.assert_array_equal(s0, s1)  # the target is clipped at white either way
    assert int(b1.max()) > int(b0.max()) + 20


def test_jpeg_round_trip_is_lossy_but_close() -> None:
    rng = np.random.default_rng(0)
    img = (rng.uniform(0, 1, (32, 32, 3)) * 255).astype(np.uint8)
    out = D.jpeg(img, 70)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert 0 < np.abs(out.astype(int) - img).mean() < 60


@pytest.mark.parametrize("family", [f for f in KernelFamily if f is not KernelFamily.SHARP])
def test_every_family_blurs_deterministically(tmp_path: Path, family: KernelFamily) -> None:
    gyro = write_gyro_log(tmp_path / "gyro" / "a", (0.05, 0.2, 0.1))
    cfg = BlurConfig(
        kernel_size=15,
        **CLEAN,
        kernel_dirs=(_box_kernel_dir(tmp_path),),
        gyro_dirs=(gyro,),
        exposure_s=(0.1, 0.2),
        focal_px=(200.0, 400.0),
    )
    deg = D.Degrader(cfg)
    rng = np.random.default_rng(0)
    img = (rng.uniform(0, 1, (64, 64, 3)) * 255).astype(np.uint8)
    b1, s1 = deg(np.random.default_rng(1), img, family=family)
    b2, _ = deg(np.random.default_rng(1), img, family=family)
    np.testing.assert_array_equal(b1, b2)
    assert b1.shape == s1.shape == (64 - 2 * deg.margin,) * 2 + (3,)
    assert b1.dtype == np.uint8
    # Blur smooths random texture: lower high-frequency energy than the target.
    hf = lambda a: np.abs(np.diff(a.astype(float), axis=1)).mean()  # noqa: E731
    assert hf(b1) < 0.9 * hf(s1)


def test_sharp_family_leaves_the_crop_alone_but_still_adds_noise() -> None:
    rng = np.random.default_rng(0)
    img = (rng.uniform(0, 1, (48, 48, 3)) * 255).astype(np.uint8)
    clean = D.Degrader(BlurConfig(kernel_size=15, **CLEAN))
    b, s = clean(np.random.default_rng(1), img, family=KernelFamily.SHARP)
    np.testing.assert_array_equal(b, s)  # no blur, no noise: input == target
    noisy = D.Degrader(BlurConfig(kernel_size=15, **{**CLEAN, "noise": 1.0}))
    b, s = noisy(np.random.default_rng(1), img, family=KernelFamily.SHARP)
    assert 0 < np.abs(b.astype(int) - s).mean() < 20
    assert BlurConfig().family_weights().get(KernelFamily.SHARP) is None  # off by default


def _impulse_offsets(cfg: BlurConfig, family: KernelFamily, seeds: range) -> list[float]:
    """How far the blurred spot of a single bright pixel lies from that pixel, per seed."""
    deg = D.Degrader(cfg)
    img = np.zeros((64, 64, 3), np.uint8)
    img[32, 32] = 255
    out = []
    for seed in seeds:
        b, s = deg(np.random.default_rng(seed), img, family=family)
        b, s = b[..., 0].astype(float), s[..., 0].astype(float)
        yy, xx = np.mgrid[0 : b.shape[0], 0 : b.shape[1]]
        cb = np.array([(xx * b).sum(), (yy * b).sum()]) / b.sum()
        cs = np.array([(xx * s).sum(), (yy * s).sum()]) / s.sum()
        out.append(float(np.linalg.norm(cb - cs)))
    return out


@pytest.mark.parametrize("family", [KernelFamily.LINEAR, KernelFamily.TRAJECTORY])
def test_gopro_anchor_moves_the_target_off_the_blur_centroid(family: KernelFamily) -> None:
    # linear_light=False: the centroid of an 8-bit spot is then the kernel's own centroid.
    base = {**ONLY, family.value: 1.0, **CLEAN, "linear_light": False, "kernel_size": 21}
    centred = _impulse_offsets(BlurConfig(**base), family, range(12))
    anchored = _impulse_offsets(BlurConfig(**base, gopro_anchor=1.0), family, range(12))
    assert max(centred) < 0.3
    assert sum(o > 0.3 for o in anchored) >= 3
    # Off by default, and then the anchor draws nothing: the stream is the one it always was.
    assert BlurConfig().gopro_anchor == 0.0


def test_depth_blur_length_varies_across_the_crop() -> None:
    # A grid of bright dots: each dot's spread (RMS radius of its blurred spot) is the local blur.
    img = np.zeros((120, 120, 3), np.float32)
    centres = [(12 + 32 * i, 12 + 32 * j) for i in range(4) for j in range(4)]
    for y, x in centres:
        img[y, x] = 1.0
    yy, xx = np.mgrid[-12:13, -12:13]
    for seed in range(4):
        out = D.depth_blur(np.random.default_rng(seed), img, 21)[..., 0]
        spreads = []
        for y, x in centres:
            win = np.pad(out, 12)[y : y + 25, x : x + 25]
            wgt = win / win.sum()
            my, mx = (wgt * yy).sum(), (wgt * xx).sum()
            spreads.append(np.sqrt((wgt * ((yy - my) ** 2 + (xx - mx) ** 2)).sum()))
        assert max(spreads) > 1.4 * min(spreads)


def test_moving_object_smears_only_its_region() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (80, 80, 3)).astype(np.float32)
    out = D.moving_object(np.random.default_rng(1), img, img.copy(), 15, margin=8)
    changed = np.abs(out - img).mean(axis=2) > 1e-3
    assert 0.02 < changed.mean() < 0.6
    # Away from the object the (here unblurred) background is untouched.
    ys, xs = np.nonzero(changed)
    assert not changed[: max(0, ys.min() - 1)].any() and not changed[ys.max() + 2 :].any()


def test_family_draws_follow_the_weights() -> None:
    deg = D.Degrader(BlurConfig(**{**ONLY, "trajectory": 3.0, "defocus": 1.0}))
    rng = np.random.default_rng(0)
    draws = [deg.sample_family(rng) for _ in range(2000)]
    share = draws.count(KernelFamily.TRAJECTORY) / len(draws)
    assert share == pytest.approx(0.75, abs=0.04)
    assert set(draws) == {KernelFamily.TRAJECTORY, KernelFamily.DEFOCUS}


def test_gyro_and_file_weights_are_dropped_without_their_folders() -> None:
    w = BlurConfig().family_weights()
    assert KernelFamily.GYRO not in w and KernelFamily.FILE not in w
    assert sum(w.values()) == pytest.approx(1.0)
    with pytest.raises(InputError, match="gyro needs gyro_dirs"):
        BlurConfig(**{**ONLY, "gyro": 1.0}).family_weights()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel_size": 30}, "odd integer"),
        ({"defocus": -1.0}, "blur weight defocus"),
        (ONLY, "at least one family"),
        ({"jpeg": 1.5}, "jpeg: expected a probability"),
        ({"gopro_anchor": -0.1}, "gopro_anchor: expected a probability"),
        ({"srgb_blur": 2.0}, "srgb_blur: expected a probability"),
        ({"exposure_s": (0.2, 0.1)}, "exposure_s"),
        ({"jpeg_quality": (50.0, 120.0)}, "jpeg_quality"),
    ],
)
def test_bad_blur_configs_are_input_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        BlurConfig(**kwargs)


def test_blur_config_round_trips_through_a_dict_and_rejects_unknown_keys(tmp_path: Path) -> None:
    import yaml

    cfg = BlurConfig(kernel_size=21, gyro_dirs=(tmp_path,), exposure_s=(0.05, 0.1))
    d = yaml.safe_load(yaml.safe_dump(cfg.to_dict()))
    assert BlurConfig.from_dict(d) == cfg
    with pytest.raises(InputError, match="unknown_thing"):
        BlurConfig.from_dict({**d, "unknown_thing": 1})
