"""``edge-deblur run`` and ``edge-deblur deblur`` through typer's CliRunner."""

from __future__ import annotations

import ctypes.util
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_deblur.cli.main import app
from runtime.io import read_image, write_image
from runtime.sources import open_source

runner = CliRunner()


def _video(path, n=9, h=31, w=45):
    vw = cv2.VideoWriter(
        str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 15, (w, h)
    )
    for i in range(n):
        vw.write(np.full((h, w, 3), 10 + 20 * i, np.uint8))
    vw.release()


def _count(path) -> tuple[int, tuple]:
    src = open_source(path)
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    return len(frames), frames[0].shape


def test_run_file_source_writes_every_frame_and_stats(tmp_path, uint8_model):
    src, out, stats = tmp_path / "in put.avi", tmp_path / "o u t.avi", tmp_path / "s t.json"
    _video(src)
    r = runner.invoke(
        app,
        [
            "run",
            "--source",
            str(src),
            "--model",
            str(uint8_model),
            "--output",
            str(out),
            "--stats",
            str(stats),
            "--threads",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert _count(out) == (9, (31, 45, 3))
    d = json.loads(stats.read_text())
    assert d["frames"] == 9 and d["dropped"] == 0 and d["fps"] > 0
    assert d["invoke_ms"]["mean"] > 0 and set(d["stages_ms"]) >= {"capture", "invoke", "sink"}


def test_run_refuses_to_overwrite_without_force(tmp_path, uint8_model):
    src, out = tmp_path / "in.avi", tmp_path / "out.avi"
    _video(src)
    out.write_bytes(b"keep me")
    args = ["run", "--source", str(src), "--model", str(uint8_model), "--output", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "already exists" in r.output and "--force" in r.output
    assert out.read_bytes() == b"keep me"
    r = runner.invoke(app, [*args, "--force", "--max-frames", "4"])
    assert r.exit_code == 0, r.output
    assert _count(out)[0] == 4


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--roi", "1,2,3"], "--roi"),
        (["--scale", "3"], "--scale"),
        (["--serve", "nonsense"], "--serve"),
        (["--stats", "stats.txt"], "--stats"),
        (["--device", "edgetpu"], "--device edgetpu"),
    ],
)
def test_run_bad_options_exit_2_with_one_line(tmp_path, uint8_model, extra, message):
    if "edgetpu" in extra and ctypes.util.find_library("edgetpu"):
        pytest.skip("an Edge TPU runtime is installed here")
    src = tmp_path / "in.avi"
    _video(src, n=2)
    r = runner.invoke(app, ["run", "--source", str(src), "--model", str(uint8_model), *extra])
    assert r.exit_code == 2, r.output
    err = [ln for ln in r.output.splitlines() if ln.startswith("edge-deblur: error:")]
    assert len(err) == 1 and message in err[0]


def test_run_with_a_non_image_model_or_missing_source_exits_2(
    tmp_path, not_image_model, uint8_model
):
    src = tmp_path / "in.avi"
    _video(src, n=2)
    r = runner.invoke(app, ["run", "--source", str(src), "--model", str(not_image_model)])
    assert r.exit_code == 2 and "image input" in r.output
    r = runner.invoke(
        app, ["run", "--source", str(tmp_path / "x.mp4"), "--model", str(uint8_model)]
    )
    assert r.exit_code == 2 and "--source" in r.output


def test_a_refused_command_leaves_no_new_folder_behind(tmp_path):
    image = tmp_path / "in.png"
    write_image(image, np.full((16, 16, 3), 90, np.uint8))
    r = runner.invoke(
        app, ["deblur", str(image), "-o", str(tmp_path / "new" / "sub" / "out.png"), "--model", "x"]
    )
    assert r.exit_code == 2 and "--model" in r.output
    r = runner.invoke(
        app,
        ["run", "--source", str(image), "--output", str(tmp_path / "new2" / "o.avi")]
        + ["--model", "no-such-model"],
    )
    assert r.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_a_truncated_model_file_exits_2_naming_it(tmp_path, uint8_model):
    cut = tmp_path / "cut model.tflite"
    cut.write_bytes(uint8_model.read_bytes()[:1000])
    image, dst = tmp_path / "in.png", tmp_path / "out.png"
    write_image(image, np.full((16, 16, 3), 90, np.uint8))
    for args in (
        ["deblur", str(image), "-o", str(dst), "--model", str(cut)],
        ["run", "--source", str(image), "--model", str(cut)],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        err = [ln for ln in r.output.splitlines() if ln.startswith("edge-deblur: error:")]
        assert len(err) == 1 and "cut model.tflite" in err[0] and "truncated" in err[0]
    assert not dst.exists()


def test_an_output_the_file_system_refuses_exits_2_and_leaves_nothing(
    tmp_path, uint8_model, monkeypatch
):
    import errno
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    src = tmp_path / "in.avi"
    _video(src, n=3)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what root meets on /sys or a RO mount
    out = tmp_path / "out.avi"
    r = runner.invoke(
        app, ["run", "--source", str(src), "--model", str(uint8_model), "--output", str(out)]
    )
    assert r.exit_code == 2, r.output
    err = [ln for ln in r.output.splitlines() if ln.startswith("edge-deblur: error:")]
    assert len(err) == 1 and "Read-only file system" in err[0] and "writable" in err[0]
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["deblur", "in.png", "-o", "out.png", "--threads", "0"], "--threads"),
        (["run"], "Missing option '--source'"),
        (["train", "--arch", "unet"], "'unet' is not one of"),
        (["convert", "run", "-o", "m.tflite", "--quant", "int4"], "--quant"),
        (["bench", "default", "--no-such-flag"], "--no-such-flag"),
    ],
)
def test_options_that_fail_to_parse_are_one_line_exit_2(args, needle):
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edge-deblur: error:"), r.output
    assert needle in lines[0] and "--help" in lines[0]


def test_deblur_images_folder_and_video(tmp_path, uint8_model):
    folder = tmp_path / "my photos"
    folder.mkdir()
    write_image(
        folder / "rgb.png", np.random.default_rng(0).integers(0, 255, (21, 34, 3), np.uint8)
    )
    cv2.imwrite(str(folder / "gray.png"), np.full((17, 19), 80, np.uint8))
    cv2.imwrite(str(folder / "deep.png"), np.full((17, 19, 3), 40000, np.uint16))
    rgba = np.full((12, 13, 4), 200, np.uint8)
    cv2.imwrite(str(folder / "alpha.png"), rgba)
    video = tmp_path / "clip one.avi"
    _video(video, n=5)
    out = tmp_path / "out dir"
    r = runner.invoke(
        app, ["deblur", str(folder), str(video), "-o", str(out), "--model", str(uint8_model)]
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [
        "alpha.png",
        "clip one.avi",
        "deep.png",
        "gray.png",
        "rgb.png",
    ]
    assert read_image(out / "rgb.png").shape == (21, 34, 3)
    assert read_image(out / "gray.png").shape == (17, 19, 3)
    assert read_image(out / "alpha.png").shape == (12, 13, 3)
    assert _count(out / "clip one.avi") == (5, (31, 45, 3))
    # Second run: every output exists, nothing is overwritten without --force.
    before = (out / "rgb.png").read_bytes()
    r = runner.invoke(app, ["deblur", str(folder), "-o", str(out), "--model", str(uint8_model)])
    assert r.exit_code == 2 and "--force" in r.output
    assert (out / "rgb.png").read_bytes() == before


def test_deblur_single_image_to_a_file(tmp_path, dynamic_model):
    src, dst = tmp_path / "a b.jpg", tmp_path / "a b out.png"
    write_image(src, np.full((23, 29, 3), 128, np.uint8))
    r = runner.invoke(app, ["deblur", str(src), "-o", str(dst), "--model", str(dynamic_model)])
    assert r.exit_code == 0, r.output
    assert read_image(dst).shape == (23, 29, 3)
    r = runner.invoke(
        app, ["deblur", str(src), "-o", str(tmp_path / "x.mp4"), "--model", str(dynamic_model)]
    )
    assert r.exit_code == 2 and "image file" in r.output


def test_deblur_skips_an_unreadable_image_and_says_so(tmp_path, uint8_model):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "good.png", np.full((16, 16, 3), 90, np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    r = runner.invoke(app, ["deblur", str(folder), "-o", str(out), "--model", str(uint8_model)])
    assert r.exit_code == 0, r.output
    assert "skipped" in r.output and "broken.png" in r.output
    assert [p.name for p in out.iterdir()] == ["good.png"]


def test_deblur_a_named_unreadable_input_exits_2_after_writing_the_others(
    tmp_path, uint8_model, corrupt_frame
):
    good, other = tmp_path / "good.png", tmp_path / "other.png"
    write_image(good, np.full((16, 16, 3), 90, np.uint8))
    write_image(other, np.full((16, 16, 3), 30, np.uint8))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 50)
    out = tmp_path / "out"
    model = ["--model", str(uint8_model)]
    r = runner.invoke(app, ["deblur", str(good), str(garbage), str(other), "-o", str(out), *model])
    # The bad video is skipped like a bad image: the files after it are still deblurred.
    assert r.exit_code == 2, r.output
    err = [ln for ln in r.output.splitlines() if ln.startswith("edge-deblur: error:")]
    assert len(err) == 1 and "garbage.mp4" in err[0] and "the other inputs were written" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "other.png"]
    # A video whose frames decode but cannot be written (odd sizes in .mp4) is an output error.
    odd = tmp_path / "odd.avi"
    _video(odd, n=2, h=21, w=33)
    r = runner.invoke(app, ["deblur", str(odd), "-o", str(tmp_path / "odd.mp4"), *model])
    assert r.exit_code == 2 and "even frame sizes" in r.output, r.output
    # A video that opens but holds no decodable frame is skipped the same way.
    allbad = tmp_path / "allbad.avi"
    _video(allbad, n=3)
    for i in (2, 1, 0):  # from the end: a corrupted frame no longer counts as a start
        corrupt_frame(allbad, i)
    out2 = tmp_path / "out2"
    r = runner.invoke(app, ["deblur", str(allbad), str(good), "-o", str(out2), *model])
    assert r.exit_code == 2 and "allbad.avi" in r.output, r.output
    assert sorted(p.name for p in out2.iterdir()) == ["good.png"]
    # One named input that cannot be read: exit 2 and no output file.
    dst = tmp_path / "single.png"
    r = runner.invoke(app, ["deblur", str(broken), "-o", str(dst), *model])
    assert r.exit_code == 2 and "nothing was written" in r.output, r.output
    assert not dst.exists()


@pytest.mark.parametrize("where", ["deblur", "run"])
def test_an_empty_input_name_is_refused_not_read_as_the_current_folder(
    tmp_path, uint8_model, where, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "here.png", np.full((16, 16, 3), 90, np.uint8))
    out = tmp_path / "out"
    args = ["deblur", "", "-o", str(out)] if where == "deblur" else ["run", "--source", ""]
    r = runner.invoke(app, [*args, "--model", str(uint8_model)])
    assert r.exit_code == 2, r.output
    assert not out.exists()


def test_run_stats_count_the_corrupt_frames(tmp_path, uint8_model, corrupt_frame):
    src, stats = tmp_path / "in.avi", tmp_path / "stats.json"
    _video(src, n=12)
    corrupt_frame(src, 5)
    r = runner.invoke(
        app, ["run", "--source", str(src), "--model", str(uint8_model), "--stats", str(stats)]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(stats.read_text())
    assert d["corrupt"] >= 1 and d["frames"] + d["corrupt"] == 12 and d["reopens"] == 0


def test_run_on_a_source_with_no_usable_frame_exits_2_and_leaves_no_folder(tmp_path, uint8_model):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    model = ["--model", str(uint8_model)]
    r = runner.invoke(app, ["run", "--source", str(bad), *model])
    assert r.exit_code == 2 and "expected frames to deblur, got none (1 undecodable" in r.output
    r = runner.invoke(app, ["run", "--source", str(bad), "--output", str(tmp_path / "od"), *model])
    assert r.exit_code == 2 and "no frame was processed" in r.output
    assert not (tmp_path / "od").exists()


def test_run_with_serve_prints_the_loopback_url_and_finishes(tmp_path, uint8_model):
    src = tmp_path / "in.avi"
    _video(src, n=4)
    r = runner.invoke(
        app,
        [
            "run",
            "--source",
            str(src),
            "--model",
            str(uint8_model),
            "--serve",
            "127.0.0.1:0",
            "--max-frames",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "live view: http://127.0.0.1:" in r.output and "3 frames" in r.output


def test_run_image_folder_to_a_folder_of_frames(tmp_path, uint8_model):
    src = tmp_path / "frames in"
    src.mkdir()
    for i in range(3):
        write_image(src / f"{i}.png", np.full((19, 23, 3), 40 * i, np.uint8))
    out = tmp_path / "frames out"
    r = runner.invoke(
        app, ["run", "--source", str(src), "--model", str(uint8_model), "--output", str(out)]
    )
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    assert read_image(out / names[2]).shape == (19, 23, 3)


def test_deblur_strength_zero_writes_the_input_and_bad_strength_exits_2(tmp_path, uint8_model):
    rng = np.random.default_rng(2)
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    write_image(src, rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    args = ["deblur", str(src), "-o", str(dst), "--model", str(uint8_model)]
    r = runner.invoke(app, [*args, "--strength", "0"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(read_image(dst), read_image(src))
    r = runner.invoke(app, [*args, "--strength", "3", "--force"])
    assert r.exit_code == 2
    assert "--strength" in r.output


def test_deblur_ensemble_writes_the_averaged_copies_and_bad_ensemble_exits_2(tmp_path, uint8_model):
    from runtime.engine import Engine

    rng = np.random.default_rng(3)
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    frame = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    write_image(src, frame)
    args = ["deblur", str(src), "-o", str(dst), "--model", str(uint8_model)]
    r = runner.invoke(app, [*args, "--ensemble", "4"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(read_image(dst), Engine(uint8_model, ensemble=4).process(frame))
    before = dst.read_bytes()
    r = runner.invoke(app, [*args, "--ensemble", "3", "--force"])
    assert r.exit_code == 2
    assert "--ensemble: expected 1, 2, 4 or 8" in r.output
    assert dst.read_bytes() == before  # nothing written on the refusal
