"""The package layering the whole design rests on: the board side never imports TensorFlow."""

import subprocess
import sys
import time


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_runtime_and_benchmarks_do_not_import_tensorflow():
    code = (
        "import sys, pkgutil, importlib, runtime, benchmarks\n"
        "for pkg in (runtime, benchmarks):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tf_keras', 'keras', 'edge_deblur', 'converters')))"
    )
    assert _run(code) == "[]"


def test_cli_help_starts_fast_and_light():
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from edge_deblur.cli.main import app\n"
        "print(round(time.perf_counter() - t, 3), "
        "[m for m in ('tensorflow', 'cv2', 'matplotlib') if m in sys.modules])"
    )
    elapsed, heavy = _run(code).split(" ", 1)
    assert heavy == "[]"
    assert float(elapsed) < 1.0


def test_cli_help_exits_zero():
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "edge_deblur.cli.main", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "Train, convert, run and benchmark" in out.stdout
    assert time.perf_counter() - t < 10
