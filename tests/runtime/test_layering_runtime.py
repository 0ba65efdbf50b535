"""The board side stays free of TensorFlow: importing every runtime module never loads it."""

from __future__ import annotations

import subprocess
import sys


def test_importing_all_runtime_modules_and_running_a_frame_leaves_tensorflow_out():
    code = (
        "import sys, pkgutil, importlib, runtime\n"
        "mods = [m.name for m in pkgutil.walk_packages(runtime.__path__, 'runtime.')]\n"
        "for name in mods:\n"
        "    importlib.import_module(name)\n"
        "import numpy as np\n"
        "from runtime.engine import Engine\n"
        "Engine(sys.argv[1]).process(np.zeros((20, 30, 3), np.uint8))\n"
        "print(len(mods), sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tensorflow', 'tf_keras', 'keras', 'edge_deblur', 'converters', 'benchmarks'}))\n"
    )
    from pathlib import Path

    model = Path(__file__).resolve().parents[1] / "data" / "int8_uint8io_16.tflite"
    out = subprocess.run(
        [sys.executable, "-c", code, str(model)], capture_output=True, text=True, check=True
    ).stdout.split("\n")[-2]
    count, leaked = out.split(" ", 1)
    assert int(count) >= 10  # engine, interpreter, model_file, pipeline, serve, sinks, ...
    assert leaked == "[]"
