import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_deblur.cli.main import app

runner = CliRunner()
FAST = [
    "--sizes",
    "40x24",
    "--threads",
    "1",
    "--min-time",
    "0",
    "--min-runs",
    "2",
    "--max-pairs",
    "1",
]


def _bench(*args):
    return runner.invoke(app, ["bench", *[str(a) for a in args]])


def test_bench_writes_report_csv_and_plots_with_labels(
    tmp_path: Path, int8_model, float_model, not_image_model, pairs_dir
):
    out = tmp_path / "report dir"
    r = _bench(int8_model, float_model, not_image_model, "--pairs", pairs_dir, *FAST, "-o", out)
    # The report is written for the two image models; the one that does not load fails the run.
    assert r.exit_code == 2, r.output
    err = [ln for ln in r.output.splitlines() if ln.startswith("edge-deblur: error:")]
    assert len(err) == 1 and not_image_model.name in err[0]
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "report.md", "results.csv", "latency_vs_quality.png"} <= names
    data = json.loads((out / "report.json").read_text())
    assert data["schema_version"] == 1
    assert {m["label"] for m in data["measurements"]} == {"measured on this host"}
    assert data["failures"][0]["model"] == str(not_image_model)
    assert "not measured" in r.output
    md = (out / "report.md").read_text()
    assert "projected for coral-usb" in md and "![stage_breakdown.png]" in md


def test_device_name_labels_every_measured_figure(tmp_path: Path, int8_model):
    r = _bench(int8_model, *FAST, "--device-name", "rpi4-lab", "--no-baselines", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "report.json").read_text())
    labels = {m["label"] for m in data["measurements"]} | {x["label"] for x in data["reference"]}
    assert labels == {"measured on rpi4-lab"}
    assert {m["latency"]["runs"] for m in data["measurements"]} == {2}  # --min-runs 2, no min time


def test_existing_report_needs_force(tmp_path: Path, int8_model):
    args = [int8_model, *FAST, "--no-baselines", "--no-plots", "-o", tmp_path]
    assert _bench(*args).exit_code == 0
    again = _bench(*args)
    assert again.exit_code == 2 and "--force" in again.output
    assert _bench(*args, "--force").exit_code == 0


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--profiles", "rpi4,jetson"], "coral-devboard, coral-usb, rpi4, rpi5"),
        (["--sizes", "640by480"], "WIDTHxHEIGHT"),
        (["--threads", "two"], "--threads"),
        (["--device", "gpu"], "--device"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, int8_model, extra, needle):
    r = _bench(int8_model, *extra, "-o", tmp_path / "o")
    assert r.exit_code == 2
    assert needle in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o" / "report.json").exists()


def test_nothing_measurable_exits_2(tmp_path: Path, not_image_model):
    r = _bench(not_image_model, *FAST, "-o", tmp_path / "o")
    assert r.exit_code == 2 and "nothing could be measured" in r.output


def test_a_missing_model_exits_2_before_measuring(tmp_path: Path, int8_model):
    r = _bench(int8_model, tmp_path / "missing.tflite", *FAST, "-o", tmp_path / "o")
    assert r.exit_code == 2 and "missing.tflite" in r.output and "MODEL" in r.output
    assert not (tmp_path / "o").exists()


def test_empty_pairs_folder_exits_2(tmp_path: Path, int8_model):
    (tmp_path / "p/blur").mkdir(parents=True)
    (tmp_path / "p/sharp").mkdir()
    r = _bench(int8_model, "--pairs", tmp_path / "p", *FAST, "-o", tmp_path / "o")
    assert r.exit_code == 2 and "at least one image" in r.output


def test_unwritable_output_exits_2(tmp_path: Path, int8_model):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = _bench(int8_model, *FAST, "-o", blocker / "out")
    assert r.exit_code == 2 and "cannot create folder" in r.output


def test_compare_merges_reports(tmp_path: Path, int8_model):
    for name in ("a", "b"):
        r = _bench(int8_model, *FAST, "--no-baselines", "--no-plots", "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
    r = _bench("--compare", tmp_path / "a/report.json", tmp_path / "b/report.json", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    md = (tmp_path / "compare.md").read_text()
    assert "| int8_uint8io_16 | int8 | 40x24 | 1 |" in md and "#2" in md


def test_compare_without_reports_exits_2(tmp_path: Path):
    r = _bench("--compare", "-o", tmp_path)
    assert r.exit_code == 2 and "report.json" in r.output


def test_an_existing_plot_is_refused_before_measuring(tmp_path: Path, int8_model):
    (tmp_path / "stage_breakdown.png").write_bytes(b"old")
    r = _bench(int8_model, *FAST, "--no-baselines", "-o", tmp_path)
    assert r.exit_code == 2 and "stage_breakdown.png" in r.output
    assert not (tmp_path / "report.json").exists()


# ai_edge_litert's Delegate.__del__ raises when load_delegate failed (its _library was never set).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_edgetpu_without_its_runtime_exits_2_naming_the_fix(tmp_path: Path, int8_model):
    import ctypes.util

    if ctypes.util.find_library("edgetpu"):
        pytest.skip("libedgetpu is installed: the missing-runtime path cannot be exercised")
    r = _bench(int8_model, *FAST, "--device", "edgetpu", "--no-baselines", "-o", tmp_path)
    assert r.exit_code == 2
    assert "libedgetpu" in r.output and "--device cpu" in r.output
    import gc

    gc.collect()  # collect the failed delegate here, under this test's warning filter
