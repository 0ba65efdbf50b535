import os
import stat
import textwrap

import numpy as np
import pytest

from converters.config import IODtype, QuantMode
from converters.edgetpu import analyze, compile_edgetpu, parse_compiler_log, supported_ops
from converters.modes import ModeJob, run_mode
from runtime.errors import ConversionError
from runtime.model_file import inspect_model


def _rep():
    rng = np.random.default_rng(0)
    for _ in range(4):
        yield [rng.random((1, 16, 16, 3), dtype=np.float32)]


@pytest.fixture(scope="module")
def int8_bytes(tiny):
    return run_mode(
        QuantMode.INT8, ModeJob(tiny(), (1, 16, 16, 3), io=IODtype.UINT8, representative=_rep)
    )


def test_ops_table_records_its_source():
    data = supported_ops()
    assert data["source"].startswith("https://coral.ai/docs/edgetpu/models-intro")
    assert data["compiler_version"] and data["checked"]
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "CONCATENATION", "QUANTIZE"):
        assert op in data["ops"]
    assert "DEQUANTIZE" not in data["ops"]


def test_int8_model_is_ready_with_all_macs_on_the_tpu(int8_bytes):
    r = analyze(inspect_model(int8_bytes))
    assert r.ready and r.first_cpu_op is None
    assert r.total_macs == 16 * 16 * 9 * (3 * 8 + 8 * 3)
    assert r.tpu_mac_share == 1.0 and r.fits_on_chip


def test_float_io_quantize_ops_stay_at_the_edge_without_splitting(tiny):
    data = run_mode(
        QuantMode.INT8, ModeJob(tiny(), (1, 16, 16, 3), io=IODtype.FLOAT32, representative=_rep)
    )
    r = analyze(inspect_model(data))
    assert r.ready and r.tpu_mac_share == 1.0
    assert any("float I/O" in p and "QUANTIZE" in p for p in r.problems)
    assert all(o.name != "DEQUANTIZE" for o in r.ops)


def test_float_model_falls_back_at_its_first_op_with_the_reason(tiny):
    data = run_mode(QuantMode.FP32, ModeJob(tiny(), (1, 16, 16, 3)))
    r = analyze(inspect_model(data))
    assert not r.ready
    assert r.first_cpu_op == "#0 CONV_2D" and "float32" in r.first_cpu_reason
    assert r.tpu_mac_share == 0.0


def test_dynamic_shape_is_reported(tiny):
    data = run_mode(QuantMode.FP32, ModeJob(tiny(), (1, None, None, 3)))
    r = analyze(inspect_model(data))
    assert not r.static_shapes and "dynamic shape" in r.first_cpu_reason


LOG = textwrap.dedent(
    """\
    Edge TPU Compiler version 16.0.384591198
    Started a compilation timeout timer of 180 seconds.

    Model compiled successfully in 12 ms.

    Input model: {src}
    Input size: 3.73KiB
    Output model: {out}
    Output size: 24.50KiB
    On-chip memory used for caching model parameters: 2.25KiB
    On-chip memory remaining for caching model parameters: 7.98MiB
    Off-chip memory used for streaming uncached model parameters: 0.00B
    Number of Edge TPU subgraphs: 1
    Total number of operations: 6
    Operation log: {log}

    Operator                       Count      Status

    CONV_2D                        2          Mapped to Edge TPU
    ADD                            1          Mapped to Edge TPU
    QUANTIZE                       2          Mapped to Edge TPU
    MINIMUM                        1          Operation is otherwise supported, but not mapped
    """
)


def test_compiler_log_is_parsed():
    p = parse_compiler_log(LOG.format(src="a", out="b", log="c"))
    assert p["version"] == "16.0.384591198" and p["compiled_ms"] == 12
    assert p["ops_total"] == 6 and p["ops_mapped"] == 5
    assert p["on_chip_memory"] == "2.25KiB" and p["off_chip_memory"] == "0.00B"
    assert p["ops"][-1]["op"] == "MINIMUM" and "not mapped" in p["ops"][-1]["status"]


def _fake_compiler(bin_dir, exit_code=0):
    """A stand-in edgetpu_compiler: checks its argument list, writes OUT_edgetpu.tflite."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "edgetpu_compiler"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" != "-s" ] || [ "$2" != "-o" ]; then echo "bad args $*" >&2; exit 64; fi\n'
        'out="$3"; src="$4"; base=$(basename "$src" .tflite)\n'
        f"if [ {exit_code} -ne 0 ]; then echo 'ERROR: model not quantized' >&2; "
        f"exit {exit_code}; fi\n"
        'cp "$src" "$out/${base}_edgetpu.tflite"\n'
        "cat <<'EOF'\n" + LOG.format(src="$src", out="x", log="y") + "EOF\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_fake_compiler_on_path_writes_the_edgetpu_model(tmp_path, monkeypatch, int8_bytes):
    bin_dir = _fake_compiler(tmp_path / "bin dir")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out folder" / "m.tflite"
    out.parent.mkdir()
    res = compile_edgetpu(int8_bytes, out)
    written = tmp_path / "out folder" / "m_edgetpu.tflite"
    assert res["output"] == str(written) and written.read_bytes() == int8_bytes
    assert res["ops_mapped"] == 5 and res["exit_code"] == 0


def test_failing_compiler_is_a_conversion_error_and_writes_nothing(
    tmp_path, monkeypatch, int8_bytes
):
    bin_dir = _fake_compiler(tmp_path / "bin", exit_code=3)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "m.tflite"
    with pytest.raises(ConversionError, match="exited with code 3.*not quantized"):
        compile_edgetpu(int8_bytes, out)
    assert list(tmp_path.glob("*.tflite")) == []
