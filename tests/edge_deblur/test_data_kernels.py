"""Blur kernels: trajectories, defocus, Gaussian, files, and gyro-log / rotation paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_deblur.data import gyro as G
from edge_deblur.data import kernels as K
from runtime.errors import InputError


def _centroid(k: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0 : k.shape[0], 0 : k.shape[1]]
    return float((xs * k).sum()), float((ys * k).sum())


def _support(k: np.ndarray, rel: float = 0.02) -> tuple[int, int]:
    ys, xs = np.nonzero(k > rel * k.max())
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _check_kernel(k: np.ndarray, size: int) -> None:
    assert k.shape == (size, size) and k.dtype == np.float32
    assert k.min() >= 0 and abs(float(k.sum()) - 1.0) < 1e-5
    cx, cy = _centroid(k)
    assert abs(cx - (size - 1) / 2) < 0.5 and abs(cy - (size - 1) / 2) < 0.5


@pytest.mark.parametrize("seed", range(6))
def test_trajectory_kernels_are_normalised_centred_and_seeded(seed: int) -> None:
    k = K.trajectory_kernel(np.random.default_rng(seed), 31)
    _check_kernel(k, 31)
    np.testing.assert_array_equal(k, K.trajectory_kernel(np.random.default_rng(seed), 31))


def test_trajectory_kernels_vary_in_extent_up_to_the_kernel_size() -> None:
    rng = np.random.default_rng(0)
    extents = [max(_support(K.trajectory_kernel(rng, 31))) for _ in range(60)]
    assert min(extents) <= 4  # some nearly sharp (short exposure fraction)
    assert max(extents) >= 20  # some long shakes
    assert max(extents) <= 31


def test_rasterized_line_has_its_length_and_direction() -> None:
    pts = np.stack([np.linspace(0, 10, 200), np.zeros(200)], axis=1)
    k = K.rasterize_path(pts, 21)
    _check_kernel(k, 21)
    w, h = _support(k)
    assert 10 <= w <= 12 and h <= 2


@pytest.mark.parametrize("angle", [0.0, np.pi / 4, np.pi / 2])
def test_linear_motion_kernel_has_its_length_and_direction(angle: float) -> None:
    k = K.linear_motion_kernel(12.0, angle, 21)
    _check_kernel(k, 21)
    w, h = _support(k, rel=0.1)
    want_w, want_h = 12 * abs(np.cos(angle)) + 1, 12 * abs(np.sin(angle)) + 1
    assert abs(w - want_w) <= 2 and abs(h - want_h) <= 2
    # Acceleration makes one end brighter; the centroid stays centred either way.
    acc = K.linear_motion_kernel(12.0, 0.0, 21, accel=0.8)
    _check_kernel(acc, 21)
    row = acc.sum(axis=0)
    assert row[:10].max() != pytest.approx(row[11:].max(), rel=0.1)


def test_path_longer_than_the_kernel_is_scaled_to_fit() -> None:
    pts = np.stack([np.linspace(0, 100, 500), np.linspace(0, 50, 500)], axis=1)
    k = K.rasterize_path(pts, 15)
    _check_kernel(k, 15)
    assert max(_support(k)) <= 15


def test_anchor_puts_that_instant_of_the_path_on_the_centre() -> None:
    # A uniform straight path of 14 px from x = 0 to 14: its centroid is x = 7; the GoPro
    # recipe's sharp frame for N = 8 is 4/7 along it, x = 8, so the kernel's centroid sits 1 px
    # before the centre (the blur lags the target by half a frame's motion).
    pts = np.stack([np.linspace(0, 14, 281), np.zeros(281)], axis=1)
    c = 10.0
    cx, cy = _centroid(K.rasterize_path(pts, 21))
    assert cx == pytest.approx(c, abs=0.05) and cy == pytest.approx(c, abs=0.05)
    cx, cy = _centroid(K.rasterize_path(pts, 21, anchor=4 / 7))
    assert cx == pytest.approx(c - 1.0, abs=0.05) and cy == pytest.approx(c, abs=0.05)
    cx, _ = _centroid(K.rasterize_path(pts, 41, anchor=0.0))  # the start on the centre
    assert cx == pytest.approx(20.0 + 7.0, abs=0.05)
    # The extent about the anchor (2 x 14 px) must fit: in 21 px the path is scaled to 18 / 28.
    cx, _ = _centroid(K.rasterize_path(pts, 21, anchor=0.0))
    assert cx == pytest.approx(c + 7.0 * 18 / 28, abs=0.05)
    # The same through the streak and trajectory kernels; time order matters, not geometry.
    lin = K.linear_motion_kernel(14.0, 0.0, 21, anchor=4 / 7)
    assert _centroid(lin)[0] == pytest.approx(c - 1.0, abs=0.1)
    traj = K.trajectory_kernel(np.random.default_rng(3), 31, anchor=0.5)
    assert abs(float(traj.sum()) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="anchor"):
        K.rasterize_path(pts, 21, anchor=1.5)


def test_gopro_anchor_is_the_centre_frame_of_n_averaged() -> None:
    rng = np.random.default_rng(0)
    assert K.gopro_anchor(rng, (8, 8)) == pytest.approx(4 / 7)
    assert K.gopro_anchor(rng, (9, 9)) == pytest.approx(0.5)
    assert K.gopro_anchor(rng, (10, 10)) == pytest.approx(5 / 9)
    draws = {round(K.gopro_anchor(rng), 6) for _ in range(400)}
    assert draws == {round((n // 2) / (n - 1), 6) for n in range(7, 14)}


def test_defocus_disk_has_its_diameter_and_is_symmetric() -> None:
    k = K.defocus_kernel(3.0, 15)
    _check_kernel(k, 15)
    assert _support(k, rel=0.3) == (7, 7)
    assert 1.0 / float(k.max()) == pytest.approx(np.pi * 9, rel=0.03)  # disk area
    np.testing.assert_allclose(k, k.T, atol=1e-7)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)


def test_gaussian_kernel_has_the_requested_spread() -> None:
    k = K.gaussian_kernel(2.0, 0.7, 0.0, 21)
    _check_kernel(k, 21)
    xs = np.arange(21) - 10
    var_x = float((k.sum(axis=0) * xs**2).sum())
    var_y = float((k.sum(axis=1) * xs**2).sum())
    assert abs(var_x - 4.0) < 0.1 and abs(var_y - 0.49) < 0.05


def _write_png(path: Path, a: np.ndarray) -> None:
    import cv2

    assert cv2.imwrite(str(path), a)


def test_kernels_load_from_png_npy_and_mat_normalised(tmp_path: Path) -> None:
    import scipy.io

    a = np.zeros((9, 9))
    a[4, 1:8] = 1.0
    a[3, 6] = 0.5
    _write_png(tmp_path / "k.png", np.stack([(a * 200).astype(np.uint8)] * 3, axis=-1))
    np.save(tmp_path / "k.npy", a * 7)
    scipy.io.savemat(tmp_path / "k.mat", {"kernel": a})
    want = a / a.sum()
    for name in ("k.png", "k.npy", "k.mat"):
        k = K.load_kernel(tmp_path / name)
        np.testing.assert_allclose(k, want, atol=0.01)
        assert abs(float(k.sum()) - 1) < 1e-5


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("k.txt", b"1 2 3", "ending in .png"),
        ("k.npy", None, "positive weights"),
        ("k.png", b"garbage", "readable PNG"),
    ],
)
def test_bad_kernel_files_are_named(tmp_path: Path, name: str, content, match: str) -> None:
    p = tmp_path / name
    if content is None:
        np.save(p, np.zeros((5, 5)))
    else:
        p.write_bytes(content)
    with pytest.raises(InputError, match=match) as e:
        K.load_kernel(p)
    assert name in str(e.value)


def test_big_kernels_shrink_to_fit_and_folders_ignore_other_files(tmp_path: Path) -> None:
    a = np.zeros((75, 75))
    a[37, 5:70] = 1.0  # a 65 px horizontal streak
    np.save(tmp_path / "big.npy", a)
    (tmp_path / "README").write_text("kernels")
    ks = K.load_kernel_dirs([tmp_path], 31)
    assert len(ks) == 1
    _check_kernel(ks[0], 31)
    w, h = _support(ks[0])
    assert 26 <= w <= 31 and h <= 3
    with pytest.raises(InputError, match="kernel folder"):
        K.load_kernel_dirs([tmp_path / "missing"], 31)
    (tmp_path / "big.npy").unlink()
    with pytest.raises(InputError, match="none"):
        K.load_kernel_dirs([tmp_path], 31)


def test_dihedral_gives_eight_distinct_versions_of_an_asymmetric_kernel() -> None:
    k = K.rasterize_path(np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0], [5.0, 4.0]]), 9)
    versions = {K.dihedral(k, c).tobytes() for c in range(8)}
    assert len(versions) == 8


def write_gyro_log(folder: Path, omega: tuple[float, float, float], n: int = 50) -> Path:
    """A constant-rate gyro log at 100 Hz in the Lai et al. 2016 column layout."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [[0.0, 0.0, 0.0, *omega, 1000.0 + 0.01 * i] for i in range(n)]
    np.savetxt(folder / "gyro.txt", np.array(rows), fmt="%.6f")
    return folder


def test_gyro_log_integrates_into_a_straight_kernel_of_focal_times_angle(tmp_path: Path) -> None:
    write_gyro_log(tmp_path / "g" / "log_01", (0.0, 0.1, 0.0))
    logs = G.load_gyro_dirs([tmp_path / "g"])
    assert len(logs) == 1 and logs[0].duration == pytest.approx(0.49, abs=1e-6)
    rot = G.rotation_window(logs[0], 1000.1, 0.2)
    assert rot[-1] == pytest.approx([0.0, 0.02, 0.0], abs=1e-9)
    # 0.1 rad/s for 0.1 s with a 1000 px focal length: a 10 px straight streak (horizontal, or
    # vertical when the augmentation swaps pan and tilt).
    for seed in range(4):
        k = G.gyro_kernel(np.random.default_rng(seed), logs, 21, (0.1, 0.1), (1000.0, 1000.0))
        _check_kernel(k, 21)
        long, short = sorted(_support(k), reverse=True)
        assert 10 <= long <= 12 and short <= 2


def test_bad_gyro_logs_are_named(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "gyro.txt").write_text("1 2 3\n")
    with pytest.raises(InputError, match=r"gyro\.txt"):
        G.load_gyro_dirs([tmp_path])
    (tmp_path / "b").mkdir()
    with pytest.raises(InputError, match="gyro.txt files"):
        G.load_gyro_dirs([tmp_path / "b"])
    with pytest.raises(InputError, match="existing folder"):
        G.load_gyro_dirs([tmp_path / "missing"])


def test_in_plane_roll_blurs_corners_more_than_the_centre() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (96, 96, 3)).astype(np.float32)
    roll = np.stack([np.zeros(32), np.zeros(32), np.linspace(0, 0.1, 32)], axis=1)
    hs = G.rotation_blur_path(roll, 500.0, (48.0, 48.0), (96, 96), max_shift=6.0)
    out = G.blur_rotation_path(img, hs)
    change = np.abs(out - img).mean(axis=2)
    assert change[40:56, 40:56].mean() < 0.5 * change[:16, :16].mean()
    # No crop corner moves farther than max_shift from its mean position.
    corners = np.array([[0, 0, 1], [95, 0, 1], [0, 95, 1], [95, 95, 1.0]])
    q = np.einsum("nij,pj->npi", hs, corners)
    q = q[..., :2] / q[..., 2:]
    assert np.abs(q - q.mean(axis=0)).max() <= 6.0 + 1e-6


def test_rotation_anchor_keeps_the_centre_where_it_is_at_that_instant() -> None:
    # Yaw at a constant rate: the crop centre moves along x. Without an anchor its mean position
    # is unchanged; with one, its position at that fraction of the exposure is.
    yaw = np.stack([np.zeros(32), np.linspace(0, 0.01, 32), np.zeros(32)], axis=1)
    centre = np.array([48.0, 48.0, 1.0])

    def track(hs: np.ndarray) -> np.ndarray:
        q = hs @ centre
        return q[:, :2] / q[:, 2:]

    mean_hs = G.rotation_blur_path(yaw, 500.0, (48.0, 48.0), (96, 96), max_shift=6.0)
    t = track(mean_hs)
    np.testing.assert_allclose(t.mean(axis=0), centre[:2], atol=1e-6)
    assert np.ptp(t[:, 0]) > 3.0  # it does move
    hs = G.rotation_blur_path(yaw, 500.0, (48.0, 48.0), (96, 96), 6.0, anchor=0.0)
    t0 = track(hs)
    np.testing.assert_allclose(t0[0], centre[:2], atol=1e-6)
    assert abs(t0.mean(axis=0)[0] - centre[0]) > 1.0
