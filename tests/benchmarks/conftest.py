"""Fixtures for the benchmark tests: the runtime's tiny committed .tflite files and tiny pairs
generated on the fly (no test reads /work/shared)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.latency import summarize
from benchmarks.report import (
    SCHEMA_VERSION,
    Failure,
    HostInfo,
    Measurement,
    Projection,
    Quality,
    Reference,
    Report,
)

DATA = Path(__file__).resolve().parents[1] / "data"
SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks" / "scripts"


def load_script(name: str):
    """Import ``benchmarks/scripts/NAME.py`` (scripts are not a package) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def int8_model() -> Path:
    """Full-int8, uint8 I/O, fixed 16x16 residual 2-conv net."""
    return DATA / "int8_uint8io_16.tflite"


@pytest.fixture(scope="session")
def float_model() -> Path:
    """float32, dynamic spatial size residual 2-conv net."""
    return DATA / "float32_dynamic.tflite"


@pytest.fixture(scope="session")
def not_image_model() -> Path:
    """A dense 1x10 -> 1x4 model: loads, but is not a deblurrer."""
    return DATA / "not_image.tflite"


def make_pairs(folder: Path, n: int = 2, size: tuple[int, int] = (48, 64)) -> Path:
    """Write ``n`` blurry/sharp PNG pairs (H, W = ``size``) under ``folder/blur`` and ``/sharp``."""
    import cv2

    from runtime.io import write_image

    rng = np.random.default_rng(3)
    for i in range(n):
        sharp = cv2.resize(
            rng.integers(0, 256, (size[0] // 4, size[1] // 4, 3), dtype=np.uint8),
            (size[1], size[0]),
            interpolation=cv2.INTER_NEAREST,
        )
        blur = cv2.GaussianBlur(sharp, (0, 0), 1.5)
        write_image(folder / "blur" / f"f{i}.png", blur)
        write_image(folder / "sharp" / f"f{i}.png", sharp)
    return folder


@pytest.fixture()
def pairs_dir(tmp_path: Path) -> Path:
    return make_pairs(tmp_path / "pairs with space")


def _make_report(label: str = "measured on this host") -> Report:
    lat = summarize([2_000_000, 3_000_000, 4_000_000], warmup=1)
    host = HostInfo(label, "box", "x86_64", "cpu", 2, "Linux", "3.11", "2.3", "2.0")
    m = Measurement(
        model="m",
        path="m.tflite",
        variant="int8",
        size="640x480",
        threads=2,
        device="cpu",
        label=label,
        file_bytes=2048,
        init_ms=5.0,
        latency=lat,
        peak_rss_mb=80.0,
        tiles=6,
        invoke_ms=2.0,
        pre_ms=0.4,
        post_ms=0.5,
        host_work_ms=1.0,
        macs_per_frame=4_000_000_000,
        gmacs=2000.0,
        efficiency=0.5,
    )
    q = Quality("m", "int8", "640x480", 3, 28.0, 0.9, 26.0, 0.85, 2.0, 0.05, label)
    p = Projection("rpi4", "m", "int8", "640x480", 300.0, 250.0, 350.0, 3.3, None, (), "x")
    p = replace(p, label="projected for rpi4")
    r = Reference(2, 85_000_000, lat, 42.5, label)
    return Report(
        schema_version=SCHEMA_VERSION,
        created="2026-11-25T12:00:00Z",
        tool_version="0.1.0",
        host=host,
        settings={"sizes": ["640x480"], "threads": [2], "pairs": None, "min_time_s": 1.0},
        reference=(r,),
        measurements=(m,),
        quality=(q,),
        projections=(p,),
        failures=(Failure("bad.tflite", "load", "not a | TFLite file"),),
        plots=("stage_breakdown.png",),
    )


@pytest.fixture()
def make_report():
    """A factory for a small but complete Report (every section filled), by label."""
    return _make_report
