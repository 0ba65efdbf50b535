"""``edge-deblur convert`` / ``inspect`` through typer's CliRunner."""

import json

from typer.testing import CliRunner

from edge_deblur.cli.main import app

runner = CliRunner()


def test_convert_then_inspect(run_dir, pairs_dir, tmp_path):
    out = tmp_path / "with space" / "m.tflite"
    args = [
        "convert",
        str(run_dir),
        "-o",
        str(out),
        "--quant",
        "int8",
        "--pairs",
        str(pairs_dir),
        "--input-size",
        "16x16",
        "--edgetpu",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "edge tpu: ready" in res.output
    assert "edgetpu_compiler not on PATH" in res.output
    assert out.is_file() and (out.parent / "m.report.md").is_file()

    res = runner.invoke(app, ["inspect", str(out)])
    assert res.exit_code == 0, res.output
    assert (
        "quant: int8" in res.output and "CONV_2D" in res.output and "Ready: **yes**" in res.output
    )

    res = runner.invoke(app, ["inspect", str(out), "--json"])
    report = json.loads(res.output)
    assert report["metadata"]["input_size"] == [16, 16] and report["integer_only"]

    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "edge-deblur: error: output" in again.output and "--force" in again.output


def test_bad_flag_values_exit_2_with_one_line(run_dir, tmp_path):
    res = runner.invoke(
        app, ["convert", str(run_dir), "-o", str(tmp_path / "m.tflite"), "--input-size", "big"]
    )
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "--input-size" in res.output

    res = runner.invoke(
        app, ["convert", str(run_dir), "-o", str(tmp_path / "m.tflite"), "--prune", "2"]
    )
    assert res.exit_code == 2 and "--prune" in res.output

    res = runner.invoke(
        app,
        [
            "convert",
            str(run_dir),
            "-o",
            str(tmp_path / "m.tflite"),
            "--quant",
            "fp16",
            "--io",
            "int8",
        ],
    )
    assert res.exit_code == 2 and "--io" in res.output and "--quant int8" in res.output


def test_empty_calibration_folder_exits_2(run_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(
        app, ["convert", str(run_dir), "-o", str(tmp_path / "m.tflite"), "--data", str(empty)]
    )
    assert res.exit_code == 2 and "--data" in res.output
    assert not (tmp_path / "m.tflite").exists()


def test_inspect_rejects_a_non_tflite_file(tmp_path):
    p = tmp_path / "x.tflite"
    p.write_bytes(b"0123456789abcdef")
    res = runner.invoke(app, ["inspect", str(p)])
    assert res.exit_code == 2 and "TFL3" in res.output


def test_inspect_takes_a_bundled_name_and_names_an_unknown_one():
    res = runner.invoke(app, ["inspect", "default", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["path"].endswith(".tflite") and report["integer_only"] is True
    res = runner.invoke(app, ["inspect", "no-such-model"])
    assert res.exit_code == 2 and "MODEL" in res.output and "no-such-model" in res.output


def test_inspect_model_without_metadata(tiny, tmp_path):
    from converters.config import QuantMode
    from converters.modes import ModeJob, run_mode

    p = tmp_path / "plain.tflite"
    p.write_bytes(run_mode(QuantMode.FP32, ModeJob(tiny(), (1, 16, 16, 3))))
    res = runner.invoke(app, ["inspect", str(p)])
    assert res.exit_code == 0 and "metadata: none" in res.output
    assert "First op on the CPU: #0 CONV_2D" in res.output
