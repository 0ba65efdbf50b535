"""benchmarks/scripts/blur_space.py: the same windows averaged in linear light and in sRGB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.io import read_image
from tests.benchmarks.conftest import load_script


@pytest.fixture(scope="module")
def bs():
    return load_script("blur_space")


def _clip(path: Path, n: int = 20, h: int = 32, w: int = 64) -> Path:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 240, (w, h))
    for i in range(n):
        f = np.full((h, w, 3), 20, np.uint8)
        f[8:24, 2 + 2 * i : 12 + 2 * i] = 240  # a bright bar moving 2 px per frame
        vw.write(f)
    vw.release()
    return path


def test_both_sets_hold_the_same_windows_and_differ_only_in_the_averaging(bs, tmp_path):
    sets = bs.make_sets(_clip(tmp_path / "c.avi"), 4, 5, tmp_path / "sets")
    names = {s: sorted(p.name for p in (d / "blur").glob("*.png")) for s, d in sets.items()}
    assert names["linear"] == names["srgb"] and len(names["srgb"]) == 4
    n = names["srgb"][1]
    lin, srgb = (read_image(sets[s] / "blur" / n).astype(float) for s in ("linear", "srgb"))
    assert lin.sum() > srgb.sum()  # the bright trail is brighter averaged in linear light
    np.testing.assert_array_equal(
        read_image(sets["linear"] / "sharp" / n), read_image(sets["srgb"] / "sharp" / n)
    )


def test_the_script_reports_each_models_gain_on_both_sets(bs, int8_model, tmp_path):
    clip = _clip(tmp_path / "c.avi")
    argv = ["--models", str(int8_model), "--clip", str(clip), "--average", "4", "--stride", "5"]
    argv += ["--out", str(tmp_path), "--threads", "1"]
    old = sys.argv
    sys.argv = ["blur_space.py", *argv]
    try:
        assert bs.main() == 0
        r = json.loads((tmp_path / "blur_space.json").read_text())
        assert r["n_pairs"] == 4 and len(r["models"]) == 1
        for s in ("linear", "srgb"):
            rows = r["models"][0][s]["pairs"]
            gain = np.mean([p["output_psnr"] - p["input_psnr"] for p in rows])
            assert r["models"][0][s]["gain"] == pytest.approx(gain, abs=1e-3)
        assert r["models"][0]["linear"]["input_psnr"] != r["models"][0]["srgb"]["input_psnr"]
        assert "| linear: input dB |" in (tmp_path / "blur_space.md").read_text()
        assert bs.main() == 2  # results exist: refused without --force
    finally:
        sys.argv = old
