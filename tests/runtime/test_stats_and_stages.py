"""StreamStats bookkeeping, the engine's three stages, a fake Picamera2, and Ctrl-C on the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types

import cv2
import numpy as np
import pytest

from runtime.engine import Engine
from runtime.sources import open_source, synthetic_frames
from runtime.stats import FrameRecord, StreamStats


def test_stats_percentiles_means_and_ring_window():
    st = StreamStats(window=100)
    for i in range(1, 251):  # latencies 1..250 ms; only the last 100 stay in the window
        st.add(FrameRecord(capture=1, pre=2, invoke=float(i), post=3, sink=4, latency=float(i)))
    d = st.to_dict()
    assert d["frames"] == 250
    assert d["latency_ms"]["p50"] == pytest.approx(np.percentile(np.arange(151, 251), 50))
    assert d["invoke_ms"]["mean"] == pytest.approx(125.5)  # means cover every frame
    assert d["stages_ms"] == {"capture": 1, "pre": 2, "invoke": 125.5, "post": 3, "sink": 4}
    assert st._buf.nbytes == 6 * 100 * 8  # fixed size, allocated up front


def test_empty_stats_are_zeros_not_errors():
    d = StreamStats().to_dict()
    assert d["frames"] == 0 and d["fps"] == 0.0 and d["latency_ms"]["p99"] == 0.0
    assert d["corrupt"] == 0 and d["reopens"] == 0


@pytest.mark.parametrize("name", ["uint8_model", "int8_model", "dynamic_model"])
def test_three_stages_equal_process(name, request):
    eng = Engine(request.getfixturevalue(name))
    frame = synthetic_frames(1, 37, 50)[0]
    prepared = eng.prepare(frame)
    assert prepared.tiles.dtype == eng.in_codec.dtype
    staged = eng.finish(eng.run(prepared))
    np.testing.assert_array_equal(staged, eng.process(frame))
    assert eng.timings.tiles == eng.tile_count(37, 50)


def test_picamera2_frames_come_out_rgb(monkeypatch):
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 0] = 200  # blue in memory order B, G, R

    class FakeCam:
        def __init__(self, index):
            self.started = False

        def create_video_configuration(self, main):
            assert main["format"] == "RGB888"
            return main

        def configure(self, config):
            pass

        def start(self):
            self.started = True

        def capture_array(self, stream):
            return bgr

        def stop(self):
            pass

        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakeCam))
    src = open_source("picamera2")
    rgb = src.read()
    src.close()
    assert src.live and rgb.shape == (6, 8, 3)
    assert rgb[0, 0].tolist() == [0, 0, 200]


def test_ctrl_c_on_the_cli_finalises_the_output(tmp_path, uint8_model):
    video = tmp_path / "long clip.avi"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for f in synthetic_frames(3000, 48, 64):
        vw.write(f)
    vw.release()
    out, stats = tmp_path / "out.avi", tmp_path / "stats.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_deblur.cli.main",
            "run",
            "--source",
            str(video),
            "--model",
            str(uint8_model),
            "--output",
            str(out),
            "--stats",
            str(stats),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not any(p.name.startswith(".out.") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped by signal" in err
    written = json.loads(stats.read_text())["frames"]
    assert 0 < written < 3000
    src = open_source(out)
    n = 0
    while src.read() is not None:
        n += 1
    assert n == written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
