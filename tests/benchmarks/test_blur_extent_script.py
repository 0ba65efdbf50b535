"""benchmarks/scripts/blur_extent.py: fitted streak lengths on generated pairs of known blur."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.benchmarks.conftest import load_script


@pytest.fixture(scope="module")
def be():
    return load_script("blur_extent")


def _texture(seed: int, h: int = 160, w: int = 224) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255)


def _blurred(sharp: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Blur in linear light with the script's own streak family, back to sRGB uint8."""
    from edge_deblur.data.degrade import convolve, linear_to_srgb, srgb_to_linear
    from edge_deblur.data.kernels import linear_motion_kernel

    lin = srgb_to_linear(sharp / 255.0)
    k = linear_motion_kernel(length, angle, 41).astype(np.float32)
    return np.round(linear_to_srgb(convolve(lin, k)) * 255.0).astype(np.uint8)


def _pairs(root: Path, blurs: dict[str, tuple[float, float]]) -> Path:
    (root / "blur").mkdir(parents=True)
    (root / "sharp").mkdir()
    for i, (name, (length, angle)) in enumerate(blurs.items()):
        sharp = _texture(i)
        blur = sharp.astype(np.uint8) if length == 0 else _blurred(sharp, length, angle)
        cv2.imwrite(str(root / "blur" / f"{name}.png"), blur[..., ::-1])
        cv2.imwrite(str(root / "sharp" / f"{name}.png"), sharp.astype(np.uint8)[..., ::-1])
    return root


def test_fitted_length_recovers_the_streak_that_blurred_the_pair(be, tmp_path, monkeypatch):
    blurs = {"sharp_S1": (0.0, 0.0), "short_S1": (8.0, 0.3), "long_x": (24.0, 2.0)}
    pairs = _pairs(tmp_path / "pairs", blurs)
    out = tmp_path / "res"
    argv = ["blur_extent.py", "--pairs", str(pairs), "--out", str(out), "--crop", "64"]
    argv += ["--lengths", "0,4,8,16,24,32", "--train-scene", "S1"]
    monkeypatch.setattr(sys, "argv", argv)
    assert be.main() == 0
    rows = {r["pair"]: r for r in json.loads((out / "blur_extent.json").read_text())["pairs"]}
    assert rows["sharp_S1"]["median_px"] == 0
    assert rows["short_S1"]["median_px"] == 8
    assert rows["long_x"]["median_px"] == 24
    assert [n for n, r in rows.items() if r["train_scene"]] == ["sharp_S1", "short_S1"]
    md = (out / "blur_extent.md").read_text()
    assert "| pairs | long_x | " in md and "short_S1 (train scene)" in md


def test_bad_input_exits_2_and_writes_nothing(be, tmp_path, monkeypatch, capsys):
    out = tmp_path / "res"
    for bad in (["--pairs", str(tmp_path / "missing")], ["--lengths", "4,x"], ["--crop", "8"]):
        monkeypatch.setattr(sys, "argv", ["blur_extent.py", "--out", str(out), *bad])
        assert be.main() == 2
        err = capsys.readouterr().err
        assert err.startswith("blur_extent: ") and err.count("\n") == 1
    assert not out.exists()
