"""Burst deblurring: alignment, lucky-region fusion, and one-line errors for bad bursts."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.burst import fuse_burst, sharpness
from runtime.errors import InputError
from runtime.metrics import psnr

H, W = 144, 176


def _scene(seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (18, 22, 3), dtype=np.uint8), (W + 16, H + 16))
    for _ in range(30):  # hard edges: something to blur
        x, y = rng.integers(0, W, 2)
        cv2.rectangle(
            img, (int(x), int(y)), (int(x) + 12, int(y) + 9), rng.integers(0, 256, 3).tolist(), -1
        )
    return img


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    import cv2

    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def _burst(n: int = 4, seed: int = 0):
    """n shots: each moved by a sub-pixel shift, blurred by a 9-px motion blur everywhere except
    its own lucky quadrant, plus noise. Returns (shots, sharp truth of each shot)."""
    import cv2

    rng = np.random.default_rng(seed)
    big = _scene(seed)
    shifts = [(0.0, 0.0)] + [tuple(rng.uniform(-3, 3, 2)) for _ in range(n - 1)]
    kernel = np.zeros((9, 9), np.float32)
    top, bottom, left, right = (
        slice(0, H // 2),
        slice(H // 2, H),
        slice(0, W // 2),
        slice(W // 2, W),
    )
    quads = [(top, left), (top, right), (bottom, left), (bottom, right)]
    shots, truths = [], []
    for k, (dx, dy) in enumerate(shifts):
        truth = _shift(big, dx, dy)[8 : 8 + H, 8 : 8 + W]
        kernel[:] = 0
        angle = np.pi * k / n
        for t in np.linspace(-4, 4, 33):
            kernel[int(round(4 + t * np.sin(angle))), int(round(4 + t * np.cos(angle)))] += 1
        blurred = cv2.filter2D(truth.astype(np.float32), -1, kernel / kernel.sum())
        shot = blurred.copy()
        lucky = quads[k % 4]
        shot[lucky] = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 0.6)[lucky]
        shot = shot + rng.normal(0, 3.0, shot.shape)
        shots.append(np.clip(shot + 0.5, 0, 255).astype(np.uint8))
        truths.append(truth)
    return shots, truths


def _inner(img: np.ndarray, m: int = 12) -> np.ndarray:
    return img[m:-m, m:-m]


def test_fused_burst_beats_every_single_shot_on_psnr():
    shots, truths = _burst()
    res = fuse_burst(shots, reference=0)
    assert res.methods[0] == "reference" and set(res.methods[1:]) <= {"ecc", "orb"}
    fused = psnr(_inner(res.fused), _inner(truths[0]))
    singles = [psnr(_inner(s), _inner(t)) for s, t in zip(shots, truths, strict=True)]
    assert fused > max(singles) + 1.0, (fused, singles)
    assert min(res.ncc) > 0.6


def test_reference_is_the_sharpest_shot_by_default():
    shots, _ = _burst(3)
    import cv2

    shots[2] = cv2.GaussianBlur(shots[2], (0, 0), 3.0)
    shots[1] = cv2.GaussianBlur(shots[1], (0, 0), 0.3)
    res = fuse_burst(shots)
    assert res.reference == int(np.argmax([sharpness(s) for s in shots]))


def test_a_single_image_is_an_input_error():
    shots, _ = _burst(2)
    with pytest.raises(InputError, match="--burst: expected at least 2 shots"):
        fuse_burst(shots[:1])


def test_mismatched_sizes_are_an_input_error_naming_the_shot():
    shots, _ = _burst(2)
    with pytest.raises(InputError, match=r"--burst b\.png: expected the size of a\.png"):
        fuse_burst([shots[0], shots[1][:-2]], names=["a.png", "b.png"])


def test_an_unalignable_shot_is_an_input_error_naming_it():
    shots, _ = _burst(2)
    other = np.random.default_rng(9).integers(0, 256, shots[0].shape, dtype=np.uint8)
    with pytest.raises(InputError, match=r"--burst c\.png: expected a shot of the same scene"):
        fuse_burst([shots[0], shots[1], other], reference=0, names=["a.png", "b.png", "c.png"])


def test_shots_already_in_place_are_kept_even_when_flat():
    flat = np.full((40, 48, 3), 120, np.uint8)  # nothing for ECC or ORB to lock on to
    res = fuse_burst([flat, flat.copy()], reference=0)
    assert res.methods == ("reference", "in place")
    np.testing.assert_array_equal(res.fused, flat)


def _write_burst(tmp_path, n=3):
    from runtime.io import write_image

    shots, _ = _burst(n)
    paths = []
    for i, s in enumerate(shots):
        write_image(tmp_path / f"shot {i}.png", s)
        paths.append(str(tmp_path / f"shot {i}.png"))
    return paths


def test_deblur_burst_cli_writes_one_image(tmp_path, dynamic_model):
    from typer.testing import CliRunner

    from edge_deblur.cli.main import app
    from runtime.io import read_image

    paths = _write_burst(tmp_path)
    out = tmp_path / "sharp.png"
    args = ["deblur", "--burst", *paths, "--model", str(dynamic_model), "-o", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert read_image(out).shape == (H, W, 3) and "fused 3 shots" in r.output


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("single", "--burst: expected at least 2 shots"),
        ("sizes", "--burst small.png: expected the size of shot 0.png"),
        ("folder_out", "-o: expected one image file"),
    ],
)
def test_deblur_burst_cli_bad_input_exits_2_with_one_line(tmp_path, dynamic_model, case, message):
    from typer.testing import CliRunner

    from edge_deblur.cli.main import app
    from runtime.io import write_image

    paths = _write_burst(tmp_path, 2)
    out = str(tmp_path / "o.png")
    if case == "single":
        paths = paths[:1]
    elif case == "sizes":
        write_image(tmp_path / "small.png", np.zeros((20, 30, 3), np.uint8))
        paths = [paths[0], str(tmp_path / "small.png")]
    else:
        out = str(tmp_path / "folder")
    r = CliRunner().invoke(
        app, ["deblur", "--burst", *paths, "--model", str(dynamic_model), "-o", out]
    )
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.output
