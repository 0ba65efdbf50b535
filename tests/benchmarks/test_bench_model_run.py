from pathlib import Path

import numpy as np
import pytest

from benchmarks import _model
from benchmarks.reference import REFERENCE_MODEL, measure_reference, reference_info
from benchmarks.run import BenchSettings, count_steps, run_bench
from runtime.errors import InputError, ModelError


def test_reference_model_is_small_and_its_sidecar_macs_match_its_ops():
    from runtime.model_file import inspect_model

    assert REFERENCE_MODEL.stat().st_size < 1_000_000
    info = inspect_model(REFERENCE_MODEL)
    assert reference_info()["macs"] == info.total_macs
    assert info.op_counts()["DEPTHWISE_CONV_2D"] >= 10  # a MobileNetV2-style stack
    assert {t.dtype for t in info.inputs} == {"uint8"}


def test_reference_measurement_gives_macs_over_invoke_time():
    r = measure_reference(1, min_time_s=0.0, min_runs=3, warmup=1)
    assert r.latency.runs == 3 and r.precision == "int8"
    assert r.gmacs == pytest.approx(r.macs / (r.latency.p50_ms * 1e6))
    assert r.label == "measured on this host"
    f = measure_reference(1, precision="float", min_time_s=0.0, min_runs=2, warmup=0)
    assert f.precision == "float" and f.macs == r.macs and f.gmacs > 0


def test_float_reference_is_the_same_net_in_float():
    from benchmarks.reference import FLOAT_REFERENCE_MODEL
    from runtime.model_file import inspect_model

    a, b = inspect_model(REFERENCE_MODEL), inspect_model(FLOAT_REFERENCE_MODEL)
    assert a.total_macs == b.total_macs
    assert b.inputs[0].dtype == "float32"
    assert FLOAT_REFERENCE_MODEL.stat().st_size < 1_000_000


def test_describe_counts_macs_of_fixed_and_dynamic_models(int8_model, float_model):
    fixed = _model.describe(int8_model)
    assert fixed.input_size == (16, 16) and fixed.variant == "int8"
    # conv 3x3 3->8 and conv 3x3 8->3: 2 x 216 MAC per pixel.
    assert fixed.macs_per_invoke == 432 * 16 * 16
    assert fixed.macs_per_frame(40, 40, tiles=9) == 9 * 432 * 256
    assert 0 < fixed.gzip_bytes < fixed.file_bytes
    dyn = _model.describe(float_model)
    assert dyn.input_size is None and dyn.variant == "fp32"
    assert dyn.macs_per_pixel == pytest.approx(432.0)
    assert dyn.macs_per_frame(30, 30, tiles=1) == 432 * 32 * 32  # padded to a multiple of 8


def test_metadata_sparsity_makes_a_pruned_int8_variant(tmp_path: Path, int8_model):
    from runtime.model_file import write_metadata

    meta = {"format": 1, "quant": "int8", "sparsity": 0.5, "macs_per_pixel": 432.0}
    p = tmp_path / "pruned.tflite"
    p.write_bytes(write_metadata(int8_model.read_bytes(), meta))
    assert _model.describe(p).variant == "pruned-int8"
    # The few exact zeros any trained net has (the bundled default: 0.0002) are not pruning.
    meta["sparsity"] = 0.0002
    p.write_bytes(write_metadata(int8_model.read_bytes(), meta))
    assert _model.describe(p).variant == "int8"


def test_fixed_size_model_without_countable_ops_takes_macs_from_metadata(tmp_path, int8_model):
    # A model compiled for the Edge TPU hides its convolutions in one custom op: the metadata's
    # macs_per_pixel is then all there is. Simulate it with metadata and check it is used.
    from unittest import mock

    from runtime.model_file import write_metadata

    p = tmp_path / "m.tflite"
    p.write_bytes(write_metadata(int8_model.read_bytes(), {"format": 1, "macs_per_pixel": 100.0}))
    with mock.patch.object(_model, "_inspect", return_value=None):
        f = _model.describe(p)
    assert f.macs_per_invoke == 100 * 16 * 16


def test_describe_refuses_non_models_and_non_images(tmp_path: Path, not_image_model):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ModelError, match="TFL3"):
        _model.describe(junk)
    with pytest.raises(ModelError, match="not a deblurrer"):
        _model.describe(not_image_model)


def test_run_bench_measures_models_keeps_failures_and_calls_every_step(
    int8_model, float_model, not_image_model, pairs_dir
):
    s = BenchSettings(
        models=(str(int8_model), str(float_model), str(not_image_model)),
        sizes=((40, 24),),
        threads=(1,),
        pairs=str(pairs_dir),
        min_time_s=0.0,
        min_runs=2,
        warmup=1,
    )
    steps = []
    r = run_bench(s, on_step=steps.append)
    assert len(steps) == count_steps(s)
    models = {m.model for m in r.measurements}
    assert {"int8_uint8io_16", "float32_dynamic", "unsharp-mask", "wiener"} <= models
    assert [f.model for f in r.failures] == [str(not_image_model)]
    for m in r.measurements:
        assert m.label == "measured on this host" and m.size == "40x24"
        if m.variant != "classical":
            # each row's own bracketing reference (timed just before and after it) is the base
            assert m.ref_gmacs > 0
            assert m.efficiency == pytest.approx(m.gmacs / m.ref_gmacs, rel=1e-3)
            assert m.macs_per_frame > 0 and m.invoke_ms > 0
    q = {x.model: x for x in r.quality}
    assert q["unsharp-mask"].psnr_input == pytest.approx(q["wiener"].psnr_input)
    assert len(r.projections) == 4 * 2
    assert all(p.label.startswith("projected for ") for p in r.projections)
    assert [x.precision for x in r.reference] == ["int8", "float"]
    fp = [p for p in r.projections if p.variant == "fp32" and p.profile == "rpi4"]
    assert "float model" in fp[0].notes[0]


def test_run_bench_raises_when_nothing_could_be_measured(not_image_model):
    s = BenchSettings(
        models=(str(not_image_model),), sizes=((32, 32),), threads=(1,), min_time_s=0.0
    )
    with pytest.raises(ModelError, match="nothing could be measured"):
        run_bench(s)


@pytest.mark.parametrize(
    "kw,name",
    [
        (dict(device="gpu"), "--device"),
        (dict(threads=(0,)), "--threads"),
        (dict(sizes=((0, 5),)), "--sizes"),
        (dict(min_time_s=-1.0), "--min-time"),
        (dict(min_runs=0), "--min-runs"),
    ],
)
def test_settings_reject_bad_values(kw, name):
    with pytest.raises(InputError, match=name):
        BenchSettings(models=("m.tflite",), **kw)


def test_odd_frame_sizes_are_measured_for_tiled_and_padded_models(int8_model, float_model):
    s = BenchSettings(
        models=(str(int8_model), str(float_model)),
        sizes=((37, 29),),
        threads=(1,),
        min_time_s=0.0,
        min_runs=1,
        warmup=0,
        baselines=False,
        reference=False,
    )
    r = run_bench(s)
    rows = {m.model: m for m in r.measurements}
    assert rows["int8_uint8io_16"].tiles > 1 and rows["float32_dynamic"].tiles == 1
    assert rows["float32_dynamic"].macs_per_frame == 432 * 40 * 32  # padded to multiples of 8
    assert all(m.efficiency is None for m in r.measurements)  # no reference: no efficiency
    assert r.projections == ()  # and so nothing to project from


@pytest.mark.slow
def test_reference_script_rebuilds_the_committed_model_macs(tmp_path: Path):
    import subprocess
    import sys

    import yaml

    script = Path(__file__).parents[2] / "benchmarks/scripts/make_reference_model.py"
    out = tmp_path / "ref.tflite"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True)
    built = yaml.safe_load(out.with_suffix(".yaml").read_text())
    assert built["macs"] == reference_info()["macs"]
    assert out.stat().st_size < 1_000_000


def test_cpu_runs_report_the_in_memory_rewrites(int8_model):
    from benchmarks.report import to_markdown

    int8_io = Path(int8_model).with_name("int8_int8io_16.tflite")
    s = BenchSettings(
        models=("cnn-tiny-int8", str(int8_model), str(int8_io)),
        sizes=((480, 640),),
        threads=(1,),
        min_time_s=0.0,
        min_runs=1,
        warmup=0,
        baselines=False,
        reference=False,
    )
    r = run_bench(s)
    rows = {m.model: m for m in r.measurements}
    # its three decoder up-samplings and the QUANTIZE at each end of its uint8 I/O
    assert rows["cnn-tiny-int8"].cpu_rewrites == 5
    assert rows["int8_uint8io_16"].cpu_rewrites == 2  # only the uint8 I/O
    assert rows["int8_int8io_16"].cpu_rewrites == 0  # no resize, no transposed conv, int8 I/O
    md = to_markdown(r)
    assert "ran the graph `runtime.cpu_graph` rewrites in memory" in md
    rewritten = md.split("ran the graph")[0].split("CPU runs of")[-1]
    assert "`cnn-tiny-int8`" in rewritten and "`int8_uint8io_16`" in rewritten
    assert "int8_int8io_16" not in rewritten


def test_row_efficiency_uses_the_reference_timed_around_that_row(int8_model):
    from benchmarks.run import _time_row

    s = BenchSettings(models=(str(int8_model),), min_time_s=0.0, min_runs=2, warmup=0)
    facts = _model.describe(int8_model)
    calls = []

    def probe(t):  # the machine was slow before the row and fast after it
        calls.append(t)
        return 10.0 if len(calls) == 1 else 30.0

    frame = np.zeros((16, 16, 3), np.uint8)
    m = _time_row(
        s,
        "m",
        str(int8_model),
        facts.variant,
        (16, 16),
        1,
        lambda: _model.load(int8_model, threads=1),
        frame,
        facts,
        {},
        probe,
    )
    assert calls == [1, 1] and m.ref_gmacs == pytest.approx(20.0)
    assert m.efficiency == pytest.approx(m.gmacs / 20.0)
    # without a probe (or when it fails) the row falls back to the run's reference table
    m2 = _time_row(
        s,
        "m",
        str(int8_model),
        facts.variant,
        (16, 16),
        1,
        lambda: _model.load(int8_model, threads=1),
        frame,
        facts,
        {},
        lambda t: None,
    )
    assert m2.ref_gmacs is None and m2.efficiency is None
