"""Sources, sinks and the threaded pipeline: lossless files, latest-frame-wins, atomic outputs."""

from __future__ import annotations

import os
import signal
import threading
import time

import cv2
import numpy as np
import pytest

from runtime.engine import Engine
from runtime.errors import DeviceError, InputError, OutputExistsError
from runtime.io import write_image
from runtime.pipeline import Pipeline, StreamOptions, parse_roi, process_frame
from runtime.sinks import ImageFolderSink, Sink, VideoSink, WindowSink, open_output
from runtime.sources import ArraySource, classify, open_source, synthetic_frames


def write_video(
    path, n: int = 12, h: int = 40, w: int = 56, fps: float = 12.0, api: int = cv2.CAP_FFMPEG
) -> list:
    """An MJPG .avi of ``n`` distinct frames (mean level rises by 15 per frame). FFmpeg's writer
    rounds odd sizes down; ``api=cv2.CAP_OPENCV_MJPEG`` keeps them."""
    frames = [np.full((h, w, 3), 20 + 15 * i, np.uint8) for i in range(n)]
    vw = cv2.VideoWriter(str(path), api, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return frames


def read_all(src) -> list:
    out = []
    while (f := src.read()) is not None:
        out.append(f)
    return out


class Collect(Sink):
    def __init__(self):
        self.frames = []
        self.closed = None

    def write(self, original, deblurred):
        self.frames.append((original, deblurred))

    def close(self, ok=True):
        self.closed = ok


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize(
    "spec,kind",
    [
        ("0", "camera"),
        ("rtsp://10.0.0.2/stream", "url"),
        ("http://cam.local/video.mjpg", "url"),
        ("v4l2src ! videoconvert ! appsink", "gstreamer"),
        ("picamera2", "picamera2"),
        ("/no/such/file.mp4", "missing"),
    ],
)
def test_source_kinds_are_recognised(spec, kind):
    assert classify(spec) == kind


def test_video_file_source_reads_every_frame_in_order(tmp_path):
    path = tmp_path / "clip with spaces.avi"
    frames = write_video(path)
    src = open_source(path)
    assert not src.live and src.fps == pytest.approx(12.0) and src.frame_count == 12
    got = read_all(src)
    assert len(got) == 12 and got[0].shape == (40, 56, 3)
    means = [float(g.mean()) for g in got]
    np.testing.assert_allclose(means, [f.mean() for f in frames], atol=3)


def test_corrupt_video_frames_are_skipped_and_counted(tmp_path, corrupt_frame):
    path = tmp_path / "broken.avi"
    write_video(path)
    corrupt_frame(path, 5)
    src = open_source(path)
    got = read_all(src)
    assert src.corrupt >= 1
    assert len(got) + src.corrupt == 12
    means = [float(g.mean()) for g in got]
    assert means == sorted(means)  # still in order, the stream went on past the corrupt frame
    assert means[-1] > 150


def test_image_folder_source_is_ordered_converts_and_skips_corrupt(tmp_path):
    folder = tmp_path / "in put"
    folder.mkdir()
    write_image(folder / "a.png", np.full((9, 11, 3), 10, np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.full((9, 11), 50, np.uint8))  # grayscale
    rgba = np.zeros((9, 11, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 90, 255
    cv2.imwrite(str(folder / "c.png"), rgba)  # RGBA
    cv2.imwrite(str(folder / "d.png"), np.full((9, 11, 3), 130 * 257, np.uint16))  # 16-bit
    (folder / "c2_broken.png").write_bytes(b"\x89PNG not really")
    src = open_source(folder)
    got = read_all(src)
    assert [int(g.mean()) for g in got] == [10, 50, 90, 130]
    assert all(g.shape == (9, 11, 3) and g.dtype == np.uint8 for g in got)
    assert src.corrupt == 1


def test_unreadable_sources_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="--source.*no-such.mp4"):
        open_source(tmp_path / "no-such.mp4")
    bad = tmp_path / "not a video.mp4"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(InputError, match="could not open"):
        open_source(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="folder with images"):
        open_source(empty)


def test_gstreamer_without_support_and_missing_picamera2_are_device_errors():
    if "GStreamer:                   YES" in cv2.getBuildInformation():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(DeviceError, match="GStreamer"):
        open_source("videotestsrc ! appsink")
    try:
        import picamera2  # noqa: F401

        pytest.skip("picamera2 installed")
    except ImportError:
        pass
    with pytest.raises(DeviceError, match="picamera2"):
        open_source("picamera2")


def test_dropped_live_source_is_reopened_with_backoff(tmp_path):
    from runtime.sources import CaptureSource

    path = tmp_path / "cam.avi"
    write_video(path, n=3)
    src = CaptureSource(
        str(path), cv2.CAP_FFMPEG, True, "fake camera", max_reopen=2, backoff_s=0.01
    )
    got = [src.read() for _ in range(7)]  # 3 frames, drop, reopen, 3 frames, drop, reopen...
    assert all(g is not None for g in got)
    assert src.reopens == 2


# --------------------------------------------------------------------------- sinks


def test_video_sink_refuses_existing_output_without_force(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--force"):
        VideoSink(out, 10)
    assert out.read_bytes() == b"precious"


def test_video_sink_error_leaves_no_file_and_no_temp(tmp_path):
    out = tmp_path / "out.avi"
    sink = VideoSink(out, 10)
    sink.write(None, np.zeros((16, 16, 3), np.uint8))
    sink.close(ok=False)
    assert list(tmp_path.iterdir()) == []


def test_video_sink_with_no_frames_writes_nothing(tmp_path):
    sink = VideoSink(tmp_path / "o.avi", 10)
    with pytest.raises(InputError, match="no frame was processed"):
        sink.close()
    assert list(tmp_path.iterdir()) == []


def test_output_kind_follows_the_path(tmp_path):
    assert isinstance(open_output(tmp_path / "v.mkv", 25), VideoSink)
    assert isinstance(open_output(tmp_path / "frames", 25), ImageFolderSink)
    with pytest.raises(InputError, match="--output"):
        open_output(tmp_path / "x.txt", 25)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.png").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        ImageFolderSink(full)


def test_window_sink_without_display_is_a_device_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DeviceError, match="--show.*--serve"):
        WindowSink()


# --------------------------------------------------------------------------- pipeline


def test_file_stream_output_has_every_frame_at_input_size(tmp_path, uint8_model):
    src_path = tmp_path / "in clip.avi"
    write_video(src_path, n=15, h=37, w=53, api=cv2.CAP_OPENCV_MJPEG)
    out = tmp_path / "out dir" / "deblurred.avi"
    src = open_source(src_path)
    stats = Pipeline(src, Engine(uint8_model), [VideoSink(out, src.fps)]).run()
    assert stats.frames == 15 and stats.dropped == 0
    check = open_source(out)
    frames = read_all(check)
    assert len(frames) == 15 and frames[0].shape == (37, 53, 3)
    assert check.fps == pytest.approx(12.0)


def test_corrupt_frames_mid_stream_do_not_stop_the_output(tmp_path, uint8_model, corrupt_frame):
    src_path = tmp_path / "broken.avi"
    write_video(src_path, n=12)
    corrupt_frame(src_path, 4)
    src = open_source(src_path)
    out = tmp_path / "o.avi"
    stats = Pipeline(src, Engine(uint8_model), [VideoSink(out, src.fps)]).run()
    assert stats.corrupt >= 1 and stats.frames == src.frames_read
    assert stats.frames + stats.corrupt == 12
    assert len(read_all(open_source(out))) == stats.frames


def test_file_source_is_lossless_and_ordered_even_with_a_slow_sink(uint8_model):
    frames = [np.full((16, 16, 3), i, np.uint8) for i in range(30)]

    class Slow(Collect):
        def write(self, original, deblurred):
            time.sleep(0.002)
            super().write(original, deblurred)

    sink = Slow()
    stats = Pipeline(ArraySource(frames), Engine(uint8_model), [sink]).run()
    assert stats.frames == 30 and stats.dropped == 0 and sink.closed is True
    assert [int(o[0, 0, 0]) for o, _ in sink.frames] == list(range(30))


def test_an_unusable_frame_is_skipped_and_counted_not_the_end_of_the_stream(uint8_model):
    good = np.full((16, 16, 3), 90, np.uint8)
    frames = [good, good.astype(np.float32) + 200, good, np.zeros((16, 16, 3), bool), good]
    sink = Collect()
    stats = Pipeline(ArraySource(frames), Engine(uint8_model), [sink]).run(handle_signals=False)
    assert stats.frames == 3 and stats.rejected == 2 and len(sink.frames) == 3
    assert stats.to_dict()["rejected"] == 2 and "2 unusable skipped" in stats.summary()
    # When no frame at all is usable, the settings are wrong: the first reason is raised, at
    # the end of a short file, after REJECT_GRACE frames of a long one, at once for a camera.
    options = StreamOptions(roi=(0, 0, 40, 40))
    with pytest.raises(InputError, match="--roi: expected a region inside the 16x16 frame"):
        Pipeline(ArraySource([good, good]), Engine(uint8_model), [], options).run(
            handle_signals=False
        )
    long = ArraySource([good], total=10**6)
    pipe = Pipeline(long, Engine(uint8_model), [], options)
    with pytest.raises(InputError, match="--roi"):
        pipe.run(handle_signals=False)
    assert pipe.stats.rejected < 100
    camera = ArraySource([good], total=10**6, live=True, fps=1000)
    pipe = Pipeline(camera, Engine(uint8_model), [], options)
    with pytest.raises(InputError, match="--roi"):
        pipe.run(handle_signals=False)
    assert pipe.stats.rejected <= 2


def test_a_frame_folder_with_force_holds_this_runs_frames_only(tmp_path, uint8_model):
    from runtime.sinks import ImageFolderSink

    out = tmp_path / "frames"
    frames = synthetic_frames(3, 16, 16)
    Pipeline(ArraySource(frames), Engine(uint8_model), [ImageFolderSink(out)]).run()
    (out / "notes.txt").write_text("mine")
    sink = ImageFolderSink(out, force=True)
    Pipeline(ArraySource(frames[:1]), Engine(uint8_model), [sink]).run()
    assert sorted(p.name for p in out.iterdir()) == ["frame_000000.png", "notes.txt"]
    # A stream that ends in an error takes its frames back; a folder it made goes too.
    new = tmp_path / "new"
    failing = ImageFolderSink(new)
    failing.write(frames[0], frames[0])
    failing.close(ok=False)
    assert not new.exists()
    empty = ImageFolderSink(tmp_path / "empty")
    with pytest.raises(InputError, match="no frame was processed"):
        empty.close(ok=True)
    assert not (tmp_path / "empty").exists()


def test_live_source_drops_old_frames_instead_of_queueing(uint8_model):
    frames = []
    for i in range(200):
        f = synthetic_frames(1, 64, 64)[0].copy()
        f[0, 0, 0] = i  # identifies the frame
        frames.append(f)

    class Slow(Collect):
        def write(self, original, deblurred):
            time.sleep(0.01)
            super().write(original, deblurred)

    sink = Slow()
    src = ArraySource(frames, live=True, fps=2000)
    stats = Pipeline(src, Engine(uint8_model), [sink]).run()
    assert stats.dropped > 0
    assert stats.frames + stats.dropped == 200
    order = [int(o[0, 0, 0]) for o, _ in sink.frames]
    assert order == sorted(order) and len(set(order)) == len(order)  # never reordered
    assert order[-1] == 199  # the freshest frame always makes it through


def test_max_frames_stops_exactly(uint8_model):
    sink = Collect()
    src = ArraySource(synthetic_frames(3, 16, 16), total=100)
    stats = Pipeline(src, Engine(uint8_model), [sink], StreamOptions(max_frames=7)).run()
    assert stats.frames == 7 and len(sink.frames) == 7


def test_stats_json_has_the_documented_shape(uint8_model):
    stats = Pipeline(ArraySource(synthetic_frames(5, 20, 30)), Engine(uint8_model), []).run()
    d = stats.to_dict()
    assert set(d) == {
        "frames",
        "dropped",
        "corrupt",
        "rejected",
        "reopens",
        "fps",
        "latency_ms",
        "invoke_ms",
        "stages_ms",
    }
    assert set(d["latency_ms"]) == {"p50", "p90", "p99"}
    assert set(d["invoke_ms"]) == {"mean", "p50"}
    assert set(d["stages_ms"]) == {"capture", "pre", "invoke", "post", "sink"}
    assert d["frames"] == 5 and d["fps"] > 0 and d["invoke_ms"]["mean"] > 0
    assert d["latency_ms"]["p50"] <= d["latency_ms"]["p90"] <= d["latency_ms"]["p99"]


def test_an_error_in_a_stage_discards_the_output_and_is_raised(tmp_path, uint8_model):
    class Boom(Collect):
        def write(self, original, deblurred):
            if len(self.frames) == 3:
                raise OSError(28, "No space left on device")
            super().write(original, deblurred)

    out = tmp_path / "o.avi"
    boom = Boom()
    src = ArraySource(synthetic_frames(2, 16, 16), total=50)
    with pytest.raises(OSError, match="No space"):
        Pipeline(src, Engine(uint8_model), [VideoSink(out, 10), boom]).run()
    assert boom.closed is False
    assert list(tmp_path.iterdir()) == []  # no truncated output, no temp file


def test_sigterm_stops_cleanly_with_a_finalised_output(tmp_path, uint8_model):
    out = tmp_path / "o.avi"
    src = ArraySource(synthetic_frames(3, 16, 16), total=10**6, live=True, fps=200)
    pipe = Pipeline(src, Engine(uint8_model), [VideoSink(out, 25)])
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    stats = pipe.run()
    assert pipe.interrupted and 0 < stats.frames < 10**6
    assert len(read_all(open_source(out))) == stats.frames


def test_roi_and_scale_keep_the_frame_size_and_touch_only_the_region(uint8_model):
    eng = Engine(uint8_model)
    frame = synthetic_frames(1, 48, 64)[0]
    out = process_frame(eng, frame, StreamOptions(roi=(8, 4, 20, 16)))
    assert out.shape == frame.shape
    mask = np.zeros(frame.shape[:2], bool)
    mask[4:20, 8:28] = True
    np.testing.assert_array_equal(out[~mask], frame[~mask])
    assert not np.array_equal(out[mask], frame[mask])
    half = process_frame(eng, frame, StreamOptions(scale=0.5))
    assert half.shape == frame.shape
    with pytest.raises(InputError, match="--roi.*inside the 64x48 frame"):
        process_frame(eng, frame, StreamOptions(roi=(60, 0, 10, 10)))


def test_bad_options_are_input_errors():
    with pytest.raises(InputError, match="--scale"):
        StreamOptions(scale=2.0)
    with pytest.raises(InputError, match="--roi"):
        parse_roi("1,2,3")
    with pytest.raises(InputError, match="--roi"):
        parse_roi("a,b,c,d")
    assert parse_roi("1, 2, 3, 4") == (1, 2, 3, 4)


def test_mp4_output_of_an_odd_frame_size_says_to_use_avi(tmp_path):
    sink = VideoSink(tmp_path / "o.mp4", 10)
    with pytest.raises(InputError, match="even frame sizes.*53x37.*avi"):
        sink.write(None, np.zeros((37, 53, 3), np.uint8))
    sink.close(ok=False)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_in_an_image_folder_is_a_clear_error(tmp_path, monkeypatch, uint8_model):
    import errno

    import runtime.sinks as sinks_mod

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks_mod, "write_image", full)
    src = ArraySource(synthetic_frames(2, 16, 16), total=5)
    with pytest.raises(InputError, match="No space left on device.*free some space"):
        Pipeline(src, Engine(uint8_model), [ImageFolderSink(tmp_path / "frames")]).run()


def test_a_video_that_reads_back_short_is_discarded(tmp_path, monkeypatch, uint8_model):
    import runtime.sinks as sinks_mod

    monkeypatch.setattr(sinks_mod, "_count_frames", lambda path: 2)  # as if the disk filled up
    out = tmp_path / "o.avi"
    src = ArraySource(synthetic_frames(2, 16, 16), total=6)
    with pytest.raises(InputError, match="expected 6 frames in the file, got 2"):
        Pipeline(src, Engine(uint8_model), [VideoSink(out, 10)]).run()
    assert list(tmp_path.iterdir()) == []


def test_a_second_signal_ends_a_stream_whose_source_hangs(tmp_path, uint8_model):
    from runtime.sources import Source

    release = threading.Event()

    class Hangs(Source):
        live = True

        def read(self):
            if self.frames_read < 5:
                self.frames_read += 1
                return np.zeros((16, 16, 3), np.uint8)
            release.wait(30)  # a camera that stopped delivering, with no timeout
            return None

    out = tmp_path / "o.avi"
    pipe = Pipeline(Hangs(), Engine(uint8_model), [VideoSink(out, 10)])
    for delay in (0.5, 1.0):
        threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()
    t0 = time.monotonic()
    stats = pipe.run()
    release.set()
    assert time.monotonic() - t0 < 20
    assert pipe.interrupted and stats.frames >= 1
    assert len(read_all(open_source(out))) == stats.frames


def test_an_ensemble_engine_streams_the_same_frames_as_process_and_counts_its_tiles(uint8_model):
    frames = synthetic_frames(4, 20, 30)
    eng = Engine(uint8_model, ensemble=8)
    sink = Collect()
    pipe = Pipeline(ArraySource(frames), eng, [sink])
    stats = pipe.run()
    assert stats.frames == 4 and stats.tiles == eng.tile_count(20, 30) > 8
    check = Engine(uint8_model, ensemble=8)
    for (original, deblurred), frame in zip(sink.frames, frames, strict=True):
        assert np.array_equal(original, frame)
        assert np.array_equal(deblurred, check.process(frame))
