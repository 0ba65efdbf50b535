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


def _tpu() -> DeviceProfile:
    return _cpu(
        kind="edgetpu",
        int8_gmacs=100.0,
        int8_gmacs_range=(100.0, 200.0),
        host_int8_gmacs=10.0,
        host_int8_gmacs_range=(10.0, 10.0),
        frame_overhead_ms=0.0,
        invoke_overhead_ms=0.0,
        edgetpu_ops=("CONV_2D", "ADD", "QUANTIZE"),
    )


def test_edgetpu_runs_every_op_after_the_first_unsupported_one_on_the_host():
    ops = (("QUANTIZE", 0), ("CONV_2D", 600), ("TRANSPOSE_CONV", 300), ("CONV_2D", 100))
    p = project(_tpu(), _host(ops=ops, host_work_ms=0.0, efficiency=1.0))
    assert p.accel_mac_share == pytest.approx(0.6)
    # 0.6e9 on the TPU at 100 G = 6 ms; 0.4e9 on the host at 10 G = 40 ms.
    assert p.ms == pytest.approx(46.0)
    assert any("TRANSPOSE_CONV" in n for n in p.notes)


def test_edgetpu_maps_a_fully_supported_int8_model_entirely():
    ops = (("CONV_2D", 900), ("ADD", 0))
    p = project(_tpu(), _host(ops=ops, host_work_ms=0.0))
    assert p.accel_mac_share == 1.0
    assert p.ms == pytest.approx(10.0)
    assert p.ms_low == pytest.approx(5.0)


@pytest.mark.parametrize(
    "kw,why", [(dict(variant="fp32"), "not a full-int8"), (dict(fixed_input=False), "dynamic")]
)
def test_edgetpu_cannot_run_float_or_dynamic_models(kw, why):
    p = project(_tpu(), _host(ops=(("CONV_2D", 1),), host_work_ms=0.0, efficiency=1.0, **kw))
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
