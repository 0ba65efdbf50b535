"""The demo pipeline on a tiny generated clip with a fixture model (no TensorFlow involved)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_deblur.cli.main import app
from edge_deblur.demo import run_demo
from runtime.errors import InputError, OutputExistsError

DATA = Path(__file__).resolve().parents[1] / "data"
MODEL = DATA / "int8_uint8io_16.tflite"


def _write_clip(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(
        str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h)
    )
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


@pytest.fixture()
def clip(tmp_path):
    rng = np.random.default_rng(0)
    sharp = [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(5)]
    blur = [cv2.GaussianBlur(s, (5, 5), 1.5) for s in sharp]
    _write_clip(tmp_path / "blur clip.avi", blur)
    _write_clip(tmp_path / "sharp clip.avi", sharp)
    return tmp_path / "blur clip.avi", tmp_path / "sharp clip.avi"


def test_demo_writes_every_output_and_scores_every_frame(tmp_path, clip):
    out = tmp_path / "demo out"
    r = run_demo(out, model=str(MODEL), clip=clip[0], reference=clip[1], bench=False)
    assert r.frames == 5
    q = json.loads((out / "quality.json").read_text())
    assert q["frames_scored"] == 5
    assert len(q["per_frame"]) == 5
    # The input's own PSNR against the reference is finite and what the metric says it is.
    assert 10 < q["mean"]["input_psnr"] < 60
    assert r.psnr_gain == pytest.approx(q["mean"]["output_psnr"] - q["mean"]["input_psnr"])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["frames"] == 5 and stats["dropped"] == 0
    cap = cv2.VideoCapture(str(out / "side_by_side.avi"))
    ok, frame = cap.read()
    assert ok and frame.shape == (40, 112, 3)
    cap = cv2.VideoCapture(str(out / "deblurred.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5


def test_demo_refuses_to_overwrite_without_force(tmp_path, clip):
    out = tmp_path / "o"
    run_demo(out, model=str(MODEL), clip=clip[0], reference=clip[1], bench=False)
    before = (out / "quality.json").read_bytes()
    with pytest.raises(OutputExistsError):
        run_demo(out, model=str(MODEL), clip=clip[0], reference=clip[1], bench=False)
    assert (out / "quality.json").read_bytes() == before
    run_demo(out, model=str(MODEL), clip=clip[0], reference=clip[1], bench=False, force=True)


def test_a_reference_that_cannot_match_frame_for_frame_is_refused(tmp_path, clip):
    rng = np.random.default_rng(1)
    small = tmp_path / "small.avi"
    _write_clip(small, [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(5)])
    short = tmp_path / "short.avi"
    _write_clip(short, [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(3)])
    with pytest.raises(InputError, match=r"--reference: expected frames of the --clip's size"):
        run_demo(tmp_path / "a", model=str(MODEL), clip=clip[0], reference=small, bench=False)
    with pytest.raises(InputError, match=r"--reference: expected as many frames as the --clip"):
        run_demo(tmp_path / "b", model=str(MODEL), clip=clip[0], reference=short, bench=False)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 40)
    with pytest.raises(InputError, match="--clip: expected a video file"):
        run_demo(tmp_path / "c", model=str(MODEL), clip=junk, bench=False)
    assert not any((tmp_path / d).exists() and any((tmp_path / d).iterdir()) for d in "abc")


def test_a_stopped_demo_says_so_skips_the_bench_and_exits_130(tmp_path, clip, monkeypatch):
    from runtime.pipeline import Pipeline

    run = Pipeline.run

    def stopped(self):  # as if Ctrl-C came during the stream
        stats = run(self)
        self.interrupted = True
        return stats

    monkeypatch.setattr(Pipeline, "run", stopped)
    out = tmp_path / "o"
    args = ["demo", "--model", str(MODEL), "--clip", str(clip[0]), "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--reference", str(clip[1])])
    assert res.exit_code == 130, res.output
    assert "stopped" in res.output and not (out / "bench").exists()
    assert json.loads((out / "quality.json").read_text())["stopped_by_signal"] is True


def test_demo_cli_bad_model_is_one_line_exit_2(tmp_path, clip):
    res = CliRunner().invoke(
        app,
        [
            "demo",
            "--model",
            "no-such-model",
            "--clip",
            str(clip[0]),
            "--out",
            str(tmp_path / "x"),
            "--no-bench",
        ],
    )
    assert res.exit_code == 2
    assert "no-such-model" in res.output
    assert "Traceback" not in res.output


def test_models_cli_lists_json():
    res = CliRunner().invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert isinstance(doc["models"], list)
    for m in doc["models"]:
        assert Path(m["file"]).is_file()


@pytest.mark.parametrize("columns", ["80", "160"])
def test_models_table_never_cuts_a_name(columns, monkeypatch):
    from runtime.zoo import list_models

    monkeypatch.setenv("COLUMNS", columns)
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    entries = list_models()
    assert entries
    for e in entries:
        assert e.name in res.output  # whole, as --model takes it
    # the descriptions are there too: in the table when wide, under it when narrow
    assert entries[0].description.split()[0] in res.output
