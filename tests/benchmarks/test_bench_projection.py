from pathlib import Path

import pytest

from benchmarks.projection import (
    DeviceProfile,
    HostFigures,
    available_profiles,
    load_profile,
    load_profiles,
    project,
)
from runtime.errors import InputError


def test_bundled_profiles_load_with_sources():
    names = available_profiles()
    assert {"rpi4", "rpi5", "coral-usb", "coral-devboard"} <= set(names)
    for p in load_profiles(names):
        assert p.sources and p.calibration
        lo, hi = p.int8_gmacs_range
        assert lo <= p.int8_gmacs <= hi


def test_rpi4_is_calibrated_on_mobilenet_v2_latency():
    # 300 M MAC MobileNetV2 in 22-26 ms on a Pi 4 (RESEARCH.md): the profile must reproduce it.
    p = load_profile("rpi4")
    ms = 300e6 / (p.int8_gmacs * 1e6)
    assert 22.0 <= ms <= 26.0


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(InputError) as e:
        load_profiles(["rpi4", "jetson"])
    msg = str(e.value)
    assert "'jetson'" in msg and "rpi4" in msg and "coral-usb" in msg and "\n" not in msg


def test_profile_file_with_an_unknown_key_is_rejected(tmp_path: Path):
    text = (Path(__file__).parents[2] / "benchmarks/profiles/rpi4.yaml").read_text()
    bad = tmp_path / "mine.yaml"
    bad.write_text(text + "\nturbo: true\n")
    with pytest.raises(InputError, match="turbo"):
        load_profile(str(bad))


@pytest.mark.parametrize(
    ("line", "key"),
    [("int8_gmacs: fast", "int8_gmacs"), ("threads: -2", "threads"), ("threads: 2.5", "threads")],
)
def test_profile_values_of_the_wrong_type_are_named(tmp_path: Path, line, key):
    text = (Path(__file__).parents[2] / "benchmarks/profiles/rpi4.yaml").read_text()
    field = line.split(":")[0]
    kept = [ln for ln in text.splitlines() if not ln.startswith(f"{field}:")]
    bad = tmp_path / "mine.yaml"
    bad.write_text("\n".join([*kept, line]) + "\n")
    with pytest.raises(InputError, match=f"profile 'rpi4' {key}: expected"):
        load_profile(str(bad))


def _cpu(**kw) -> DeviceProfile:
    base = dict(
        name="board",
        title="t",
        kind="cpu",
        threads=4,
        int8_gmacs=10.0,
        int8_gmacs_range=(5.0, 20.0),
        frame_overhead_ms=2.0,
        invoke_overhead_ms=0.5,
        sources=("s",),
    )
    base.update(kw)
    return DeviceProfile(**base)


def _host(**kw) -> HostFigures:
    base = dict(
        model="m",
        variant="int8",
        size="640x480",
        macs_per_frame=1_000_000_000,
        tiles=4,
        efficiency=0.5,
        host_work_ms=3.0,
        host_gmacs_per_thread=5.0,
        fixed_input=True,
    )
    base.update(kw)
    return HostFigures(**base)


def test_cpu_projection_follows_the_documented_formula():
    p = project(_cpu(), _host())
    # invoke 1e9 / (10 G x 0.5) = 200 ms; host work 3 ms x (5 / (10 / 4)) = 6 ms;
    # fixed 2 + 4 x 0.5 = 4 ms.
    assert p.ms == pytest.approx(210.0)
    assert p.ms_low == pytest.approx(4 + 6 + 100.0)
    assert p.ms_high == pytest.approx(4 + 6 + 400.0)
    assert p.fps == pytest.approx(1000 / 210.0)
    assert p.label == "projected for board"


def test_projection_without_macs_says_so():
    p = project(_cpu(), _host(macs_per_frame=None))
    assert p.ms is None and "MACs unknown" in p.notes[0]


def _tpu(**kw) -> DeviceProfile:
    base = dict(
        kind="edgetpu",
        int8_gmacs=100.0,
        int8_gmacs_range=(100.0, 200.0),
        host_int8_gmacs=10.0,
        host_int8_gmacs_range=(10.0, 10.0),
        frame_overhead_ms=0.0,
        invoke_overhead_ms=0.0,
        edgetpu_ops=("CONV_2D", "ADD", "QUANTIZE"),
    )
    base.update(kw)
    return _cpu(**base)


def test_edgetpu_runs_every_op_after_the_first_unsupported_one_on_the_host():
    ops = (("QUANTIZE", 0, 1), ("CONV_2D", 600, 3), ("MIRROR_PAD", 300, 1), ("CONV_2D", 100, 3))
    p = project(_tpu(), _host(ops=ops, host_work_ms=0.0, efficiency=1.0))
    assert p.accel_mac_share == pytest.approx(0.6)
    # 0.6e9 on the TPU at 100 G = 6 ms; 0.4e9 on the host at 10 G = 40 ms.
    assert p.ms == pytest.approx(46.0)
    assert any("op 2 (MIRROR_PAD) is not an Edge TPU op" in n for n in p.notes)


def test_edgetpu_maps_a_fully_supported_int8_model_entirely():
    ops = (("CONV_2D", 900, 3), ("ADD", 0, 1))
    p = project(_tpu(), _host(ops=ops, host_work_ms=0.0))
    assert p.accel_mac_share == 1.0
    assert p.ms == pytest.approx(10.0)
    assert p.ms_low == pytest.approx(5.0)


def _tpu_tc() -> DeviceProfile:
    return _tpu(
        edgetpu_ops=("CONV_2D", "ADD", "QUANTIZE", "TRANSPOSE_CONV"),
        edgetpu_max_versions={"TRANSPOSE_CONV": 3},
    )


@pytest.mark.parametrize("version", [2, 3, 0])
def test_edgetpu_maps_an_op_up_to_the_version_its_compiler_parses(version):
    ops = (("CONV_2D", 600, 3), ("TRANSPOSE_CONV", 300, version), ("ADD", 100, 1))
    p = project(_tpu_tc(), _host(ops=ops, host_work_ms=0.0, efficiency=1.0))
    assert p.accel_mac_share == 1.0 and p.ms == pytest.approx(10.0)
    assert not p.notes


def test_edgetpu_op_newer_than_the_compiler_parses_puts_the_whole_model_on_the_host():
    # Compiler 16.0 cannot parse TRANSPOSE_CONV v4 and rejects the model, not only that op.
    ops = (("CONV_2D", 600, 3), ("TRANSPOSE_CONV", 300, 4), ("ADD", 100, 1))
    p = project(_tpu_tc(), _host(ops=ops, host_work_ms=0.0, efficiency=1.0))
    assert p.accel_mac_share == 0.0
    assert p.ms == pytest.approx(100.0)  # all 1e9 MACs on the 10 G host
    assert "op 1 (TRANSPOSE_CONV v4) is newer than the Edge TPU compiler parses (v3)" in p.notes[0]


@pytest.mark.parametrize(
    "limits",
    [{"MIRROR_PAD": 1}, {"TRANSPOSE_CONV": 0}, {"TRANSPOSE_CONV": "3"}, ["TRANSPOSE_CONV"]],
)
def test_profile_validation_rejects_bad_version_limits(limits):
    with pytest.raises(InputError, match="edgetpu_max_versions"):
        _tpu(edgetpu_ops=("CONV_2D", "TRANSPOSE_CONV"), edgetpu_max_versions=limits)


def test_bundled_coral_profiles_agree_with_the_converters_op_table():
    # The bench cannot import converters (one-way layering), so each profile keeps its own op list;
    # it must never map an op or an op version that `convert`'s Edge TPU check refuses.
    import yaml

    table_path = Path(__file__).parents[2] / "converters" / "edgetpu_ops.yaml"
    table = yaml.safe_load(table_path.read_text())["ops"]
    limits = {op: e["max_version"] for op, e in table.items() if "max_version" in e}
    for name in ("coral-usb", "coral-devboard"):
        p = load_profile(name)
        assert set(p.edgetpu_ops) <= set(table) | {"QUANTIZE", "DEQUANTIZE"}, name
        assert p.edgetpu_max_versions == {op: v for op, v in limits.items() if op in p.edgetpu_ops}
        assert p.edgetpu_max_versions == {"TRANSPOSE_CONV": 3}
        assert "DEPTH_TO_SPACE" not in p.edgetpu_ops


@pytest.mark.parametrize(
    "kw,why", [(dict(variant="fp32"), "not a full-int8"), (dict(fixed_input=False), "dynamic")]
)
def test_edgetpu_cannot_run_float_or_dynamic_models(kw, why):
    p = project(_tpu(), _host(ops=(("CONV_2D", 1, 3),), host_work_ms=0.0, efficiency=1.0, **kw))
    assert p.accel_mac_share == 0.0
    assert p.ms == pytest.approx(100.0)  # all 1e9 MACs on the 10 G host
    assert why in p.notes[0]


def test_profile_validation_rejects_a_rate_outside_its_range():
    with pytest.raises(InputError, match="int8_gmacs"):
        _cpu(int8_gmacs=50.0)


def test_float_models_are_rescaled_by_the_float_vs_int8_ratios():
    prof = _cpu(float_penalty=2.0)
    f32 = project(prof, _host(variant="fp32", host_float_penalty=0.5, host_work_ms=0.0))
    # e = 0.5 x 0.5 / 2.0 = 0.125 -> 1e9 / (10 G x 0.125) = 800 ms, + 4 ms fixed.
    assert f32.ms == pytest.approx(804.0)
    assert "float model" in f32.notes[0]
    i8 = project(prof, _host(variant="int8", host_float_penalty=0.5, host_work_ms=0.0))
    assert i8.ms == pytest.approx(204.0) and i8.notes == ()


def test_bundled_profiles_carry_a_float_penalty():
    assert all(p.float_penalty and p.float_penalty > 1 for p in load_profiles(available_profiles()))
