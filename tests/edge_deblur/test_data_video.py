"""GoPro-recipe pairs from video: the library function and `edge-deblur data from-video`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_deblur.cli.main import app
from edge_deblur.data import load_pairs
from edge_deblur.data.degrade import linear_to_srgb, srgb_to_linear, to_float, to_uint8
from edge_deblur.data.video import pairs_from_video, parse_wxh
from runtime.errors import InputError, OutputExistsError
from runtime.io import read_image


def _write_clip(path: Path, n: int = 12, h: int = 32, w: int = 48) -> None:
    """A lossless-enough clip (MJPG, high quality) of a bright square moving 2 px per frame."""
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 240, (w, h))
    assert vw.isOpened()
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[10:20, 4 + 2 * i : 14 + 2 * i] = (250, 200, 90)
        vw.write(f)
    vw.release()


def _decoded_frames(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[:, :, ::-1].copy())
    return frames


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    p = tmp_path / "my clip.avi"
    _write_clip(p)
    return p


def test_pairs_average_frames_in_linear_light_and_keep_the_middle_frame(
    clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = pairs_from_video(clip, average=3, out=out)
    frames = _decoded_frames(clip)
    assert res.frames_read == len(frames) == 12
    assert res.names == [f"my clip_{c:06d}" for c in (1, 4, 7, 10)]
    pairs = load_pairs(out)
    assert [p.name for p in pairs] == res.names
    lin = [srgb_to_linear(to_float(f)) for f in frames[3:6]]
    want = to_uint8(linear_to_srgb(np.mean(lin, axis=0)))
    got = read_image(out / "blur" / "my clip_000004.png")
    assert np.abs(got.astype(int) - want).max() <= 1
    sharp = read_image(out / "sharp" / "my clip_000004.png")
    assert np.abs(sharp.astype(int) - frames[4]).max() <= 1
    # Averaging in linear light keeps the moving square's trail brighter than a gamma average.
    gamma_avg = np.mean([f.astype(float) for f in frames[3:6]], axis=0)
    assert got.astype(float).sum() > gamma_avg.sum()
    assert all(np.isfinite(v) for v in res.psnr) and res.mean_psnr < 99


def test_srgb_space_is_the_plain_mean_of_the_encoded_frames(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "srgb"
    res = pairs_from_video(clip, average=3, out=out, space="srgb")
    frames = _decoded_frames(clip)
    want = np.round(np.mean([f.astype(float) for f in frames[3:6]], axis=0))
    got = read_image(out / "blur" / "my clip_000004.png").astype(float)
    assert np.abs(got - want).max() <= 1
    lin = read_image(
        pairs_from_video(clip, 3, tmp_path / "lin").out / "blur" / "my clip_000004.png"
    )
    assert lin.astype(float).sum() > got.sum()  # the linear-light trail is brighter
    sharp = read_image(out / "sharp" / "my clip_000004.png")
    assert np.abs(sharp.astype(int) - frames[4]).max() <= 1
    assert res.names == [f"my clip_{c:06d}" for c in (1, 4, 7, 10)]


def test_unknown_space_is_refused_before_anything_is_written(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--space: expected one of linear, srgb"):
        pairs_from_video(clip, 3, tmp_path / "o", space="gamma")
    assert not (tmp_path / "o").exists()
    r = CliRunner().invoke(
        app,
        [
            "data",
            "from-video",
            str(clip),
            "--average",
            "3",
            "--out",
            str(tmp_path / "c"),
            "--space",
            "gamma",
        ],
    )
    assert r.exit_code == 2 and "--space" in r.output and not (tmp_path / "c").exists()


def test_stride_max_pairs_and_resize(clip: Path, tmp_path: Path) -> None:
    res = pairs_from_video(clip, 4, tmp_path / "o", stride=2, max_pairs=3, resize=(24, 16))
    assert res.names == [f"my clip_{c:06d}" for c in (2, 4, 6)]
    assert read_image(tmp_path / "o" / "blur" / "my clip_000002.png").shape == (16, 24, 3)


def test_refuses_to_overwrite_without_force(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    pairs_from_video(clip, 3, out)
    before = (out / "blur" / "my clip_000001.png").read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        pairs_from_video(clip, 5, out)
    assert (out / "blur" / "my clip_000001.png").read_bytes() == before
    res = pairs_from_video(clip, 3, out, force=True)
    assert len(res.names) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"average": 1}, "--average"),
        ({"average": 13}, "at most the clip's 12 frames"),
        ({"average": 3, "stride": 0}, "--stride"),
        ({"average": 3, "max_pairs": 0}, "--max-pairs"),
    ],
)
def test_bad_numbers_are_input_errors(clip: Path, tmp_path: Path, kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        pairs_from_video(clip, out=tmp_path / "o", **kwargs)


def test_missing_and_undecodable_clips_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="CLIP"):
        pairs_from_video(tmp_path / "nope.mp4", 3, tmp_path / "o")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="junk.mp4"):
        pairs_from_video(junk, 3, tmp_path / "o")


def test_an_undecodable_frame_is_skipped_with_every_window_across_it(
    clip: Path, tmp_path: Path, corrupt_frame
) -> None:
    corrupt_frame(clip, 5)  # of 12 frames; windows of 3: frames 3-5 would span it
    res = pairs_from_video(clip, 3, tmp_path / "o")
    assert res.corrupt == 1 and res.frames_read == 12 and not res.truncated
    # Names keep the raw frame numbers (the centre frame of each window).
    assert [n[-6:] for n in res.names] == ["000001", "000007", "000010"]


def test_a_folder_clip_with_an_unreadable_frame_skips_it(tmp_path: Path) -> None:
    from edge_deblur.data.sequences import read_clip
    from runtime.io import write_image

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(9):
        write_image(frames / f"{i:04d}.png", np.full((24, 32, 3), 20 * i, np.uint8))
    (frames / "0004.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    res = pairs_from_video(frames, 3, tmp_path / "o")
    assert res.corrupt == 1 and [n[-6:] for n in res.names] == ["000001", "000007"]
    # Sequence training refuses it instead: a gap would join two moments as one sequence.
    with pytest.raises(InputError, match=r"frame 4 of --clip .*corrupt.*--clip-frames"):
        read_clip(frames)
    assert read_clip(frames, frames=(5, 9)).shape == (4, 24, 32, 3)


def test_a_clip_cut_short_is_reported(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) * 3 // 4])  # the AVI header still announces 12 frames
    res = pairs_from_video(clip, 2, tmp_path / "o")
    assert res.truncated and res.frames_read < res.frames_expected == 12
    r = CliRunner().invoke(
        app, ["data", "from-video", str(clip), "--average", "2", "--out", str(tmp_path / "c")]
    )
    assert r.exit_code == 0, r.output
    assert "may be cut short" in r.output and "of the 12 frames" in r.output


def test_parse_wxh() -> None:
    assert parse_wxh("640x360") == (640, 360)
    with pytest.raises(InputError, match="--resize"):
        parse_wxh("640")


def test_cli_from_video_writes_pairs_and_reports(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli out"
    runner = CliRunner()
    r = runner.invoke(app, ["data", "from-video", str(clip), "--average", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote 4 pairs" in r.output and "PSNR" in r.output
    assert len(load_pairs(out)) == 4
    r2 = runner.invoke(app, ["data", "from-video", str(clip), "--average", "3", "--out", str(out)])
    assert r2.exit_code == 2
    assert "edge-deblur: error:" in r2.output and "--force" in r2.output
    r3 = runner.invoke(
        app,
        ["data", "from-video", str(clip), "--average", "3", "--out", str(out), "--resize", "x"],
    )
    assert r3.exit_code == 2 and "--resize" in r3.output


def test_a_folder_of_frames_works_like_a_video(tmp_path: Path) -> None:
    from runtime.io import write_image

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(7):
        f = np.full((24, 40, 3), 30, np.uint8)
        f[8:16, 2 + 3 * i : 10 + 3 * i] = 240
        write_image(frames / f"{i:04d}.png", f)
    (frames / "info.txt").write_text("not a frame")
    res = pairs_from_video(frames, 3, tmp_path / "o")
    assert res.frames_read == 7 and res.names == ["frames_000001", "frames_000004"]
    sharp = read_image(tmp_path / "o" / "sharp" / "frames_000004.png")
    np.testing.assert_array_equal(sharp, read_image(frames / "0004.png"))
    write_image(frames / "0007.png", np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(InputError, match=r"frame 7 .*40x24.*--resize"):
        pairs_from_video(frames, 2, tmp_path / "o2")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["data", "from-video", "missing.mp4", "--average", "3", "--out", "o"], "CLIP"),
        (["data", "from-video", "CLIPFILE", "--average", "1", "--out", "o"], "--average"),
        (
            ["data", "from-video", "CLIPFILE", "--average", "3", "--out", "o", "--stride", "0"],
            "--stride",
        ),
        (
            ["data", "preview", "--data", "PHOTOS", "--gyro", "nogyro", "--out", "g.png"],
            "gyro folder",
        ),
        (["data", "preview", "--data", "PHOTOS", "--out", "g.png", "--size", "4"], "--size"),
        (["data", "preview", "--data", "PHOTOS", "--out", "g.png", "--count", "0"], "--count"),
        (["data", "preview", "--data", "PHOTOS", "--out", "g.txt"], "--out"),
        (["data", "preview", "--data", "PHOTOS", "--out", "g.png", "--patch", "64"], "--patch"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(clip: Path, tmp_path: Path, args, match) -> None:
    from runtime.io import write_image

    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "a.png", np.zeros((40, 40, 3), np.uint8))
    write_image(photos / "b.png", np.zeros((40, 40, 3), np.uint8))
    subst = {"CLIPFILE": str(clip), "PHOTOS": str(photos)}
    args = [subst.get(a, a) for a in args]
    args = [
        str(tmp_path / a) if a in ("o", "g.png", "g.txt", "nogyro", "missing.mp4") else a
        for a in args
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edge-deblur: error:") and match in lines[0]
