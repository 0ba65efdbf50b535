"""The --serve live view: one page, two MJPEG streams, stats JSON, 404 for anything else, and the
page checked in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from runtime.engine import Engine
from runtime.errors import InputError
from runtime.pipeline import Pipeline
from runtime.serve import BOUNDARY, LiveView, parse_host_port
from runtime.sources import ArraySource, synthetic_frames
from runtime.stats import StreamStats


@pytest.fixture
def live(uint8_model):
    """A running live-source pipeline serving on an ephemeral 127.0.0.1 port."""
    stats = StreamStats()
    view = LiveView("127.0.0.1", 0, stats_fn=lambda: {**stats.to_dict(), "model": "fixture-model"})
    src = ArraySource(synthetic_frames(6, 60, 80), total=10**6, live=True, fps=30)
    pipe = Pipeline(src, Engine(uint8_model), [view], stats=stats)
    t = threading.Thread(target=pipe.run, kwargs={"handle_signals": False}, daemon=True)
    t.start()
    deadline = time.time() + 10
    while stats.frames < 3 and time.time() < deadline:
        time.sleep(0.05)
    yield view, stats
    pipe.stop()
    t.join(timeout=10)
    assert not t.is_alive()


def _get(url: str, limit: int | None = None) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read(limit) if limit else r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def test_host_port_parsing_defaults_to_localhost():
    assert parse_host_port("8080") == ("127.0.0.1", 8080)
    assert parse_host_port(":9000") == ("127.0.0.1", 9000)
    assert parse_host_port("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_host_port("[::1]:8080") == ("::1", 8080)
    with pytest.raises(InputError, match="--serve"):
        parse_host_port("localhost")
    with pytest.raises(InputError, match="port"):
        parse_host_port("1.2.3.4:70000")


def test_binds_loopback_and_serves_page_streams_and_stats(live):
    view, _ = live
    assert view.host == "127.0.0.1"
    status, ctype, body = _get(view.url)
    assert status == 200 and ctype.startswith("text/html")
    assert b"/stream.mjpg" in body and b"/stats.json" in body and b'type="range"' in body
    status, ctype, body = _get(view.url + "stats.json")
    stats = json.loads(body)
    assert status == 200 and stats["frames"] >= 3 and stats["model"] == "fixture-model"
    status, ctype, chunk = _get(view.url + "stream.mjpg", limit=20000)
    assert status == 200 and ctype.startswith("multipart/x-mixed-replace")
    assert chunk.startswith(f"--{BOUNDARY}".encode())
    start = chunk.index(b"\xff\xd8")
    length = int(chunk.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    frame = cv2.imdecode(np.frombuffer(chunk[start : start + length], np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (60, 160, 3)  # original | deblurred, side by side


@pytest.mark.parametrize(
    "path",
    ["favicon.ico", "../etc/passwd", "stats.json/x", "static/live.html", "original.mjpg"],
)
def test_anything_else_is_404(live, path):
    view, _ = live
    assert _get(view.url + path)[0] == 404
    req = urllib.request.Request(view.url, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 404


def test_port_in_use_is_an_input_error(live):
    view, _ = live
    with pytest.raises(InputError, match="free address.*choose another port"):
        LiveView("127.0.0.1", view.port)
    with pytest.raises(InputError, match="check the host name"):
        LiveView("no-such-host.invalid", 0)


def test_an_ipv6_address_is_served():
    import socket

    try:
        socket.socket(socket.AF_INET6).close()
        view = LiveView("::1", 0)
    except (OSError, InputError):
        pytest.skip("no IPv6 loopback here")
    try:
        status, kind, _ = _get(f"http://[::1]:{view.port}/stats.json")
        assert status == 200 and "json" in kind
    finally:
        view.close()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (apt-get install chromium)")
def test_page_renders_streams_and_live_stats_in_headless_chromium(live, tmp_path):
    view, _ = live
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1000,800",
        "--virtual-time-budget=3000",
    ]
    shot = tmp_path / "live.png"
    r = subprocess.run(
        [*cmd, f"--screenshot={shot}", view.url], capture_output=True, text=True, timeout=90
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.stat().st_size > 5000
    # The canvas draws once MJPEG frames have arrived in real time, which --virtual-time-budget
    # does not speed up: on a loaded machine the first dump can come before the first frame.
    for _ in range(3):
        dom = subprocess.run(
            [*cmd, "--dump-dom", view.url], capture_output=True, text=True, timeout=90
        ).stdout
        if 'data-size="80x60"' in dom:
            break
    # The page's script ran in the browser: stats were fetched and the streams attached.
    assert 'id="model">fixture-model<' in dom
    assert 'id="fps">-<' not in dom and 'id="fps">offline<' not in dom
    assert 'src="/stream.mjpg"' in dom
    # ...and the canvas drew the stream's frames, split into its two 80x60 halves.
    assert 'data-size="80x60"' in dom
    assert int(dom.split('data-drawn="')[1].split('"')[0]) > 0


def test_an_http_mjpeg_url_is_a_live_source(live):
    """``--source http://...`` opens through OpenCV/FFmpeg: here our own stream, chained."""
    from runtime.sources import open_source

    view, _ = live
    src = open_source(view.url + "stream.mjpg")
    try:
        assert src.live
        frames = [src.read() for _ in range(3)]
    finally:
        src.close()
    assert all(f is not None and f.shape == (60, 160, 3) for f in frames)
