"""TemporalEngine: per-stream state, zero start, resets (cut, reconnect, size), tiles, CLI."""

from __future__ import annotations

import time

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime.engine import Engine
from runtime.quant import codecs_for
from runtime.sources import ArraySource, synthetic_frames
from runtime.temporal import Recurrent, TemporalEngine, open_engine


def _frames(n: int, h: int = 32, w: int = 32, seed: int = 0) -> list[np.ndarray]:
    return synthetic_frames(n, h, w, seed)


def test_open_engine_picks_the_temporal_engine_from_the_metadata(temporal_model, uint8_model):
    eng = open_engine(temporal_model)
    assert isinstance(eng, TemporalEngine) and eng.metadata["temporal"]["state_shape"] == [
        1,
        4,
        4,
        8,
    ]
    assert type(open_engine(uint8_model)) is Engine


def test_outputs_equal_stepping_the_interpreter_by_hand_from_the_zero_state(temporal_model):
    from runtime.interpreter import load_interpreter
    from runtime.model_file import load_bytes

    frames = _frames(4)
    eng = TemporalEngine(temporal_model, cut_threshold=1e9)
    got = [eng.process(f) for f in frames]
    rec = Recurrent(load_interpreter(load_bytes(temporal_model), threads=2))
    enc, dec = codecs_for(rec.roles.image_in, rec.roles.image_out)
    state = rec.zero_state()
    assert np.all(state == rec.roles.state_in["quantization"][1])  # real 0 = the zero point
    for f, g in zip(frames, got, strict=True):
        y, state, _ = rec.step(enc.encode(f), state)
        np.testing.assert_array_equal(dec.decode(y), g)
    assert not np.array_equal(state, rec.zero_state())  # the state carries something
    np.testing.assert_array_equal(eng._states[0], state)


def _state_after(model, frames, **kw) -> np.ndarray:
    eng = TemporalEngine(model, **kw)
    for f in frames:
        eng.process(f)
    return eng._states[0]


def test_reset_and_a_scene_cut_restart_from_the_zero_state(temporal_model):
    a, b = _frames(3, seed=1), _frames(1, seed=2)
    cut = 255 - b[0]  # a different scene
    eng = TemporalEngine(temporal_model)
    for f in a:
        eng.process(f)
    assert eng.resets == 1 and eng.cuts == 0  # the first frame only: motion is not a cut
    eng.process(cut)
    assert eng.cuts == 1 and eng.resets == 2
    np.testing.assert_array_equal(eng._states[0], _state_after(temporal_model, [cut]))
    eng.reset()
    eng.process(a[0])
    assert eng.resets == 3
    np.testing.assert_array_equal(eng._states[0], _state_after(temporal_model, [a[0]]))


def test_large_frames_keep_one_state_per_tile_and_a_new_size_resets(temporal_model):
    eng = TemporalEngine(temporal_model)
    big = _frames(2, 40, 56)
    for f in big:
        out = eng.process(f)
    assert out.shape == (40, 56, 3)
    assert len(eng._states) == eng.tile_count(40, 56) > 1
    eng.process(_frames(1)[0])
    assert len(eng._states) == 1 and eng.resets == 2


def test_dynamic_model_runs_the_whole_padded_frame_with_one_state(temporal_dynamic_model):
    eng = TemporalEngine(temporal_dynamic_model)
    out = eng.process(_frames(1, 41, 57)[0])
    assert out.shape == (41, 57, 3)
    assert eng.tile_count(41, 57) == 1 and eng._states[0].shape == (1, 6, 8, 8)


class _Reconnecting(ArraySource):
    """A source that 'reconnects' before its third frame."""

    def read(self):
        if self.frames_read == 2:
            self.reopens += 1
        return super().read()


def test_pipeline_resets_the_state_when_the_source_reconnects(temporal_model):
    from runtime.pipeline import Pipeline

    frames = _frames(4)
    eng = TemporalEngine(temporal_model, cut_threshold=1e9)
    Pipeline(_Reconnecting(frames), eng).run(handle_signals=False)
    assert eng.resets == 2
    np.testing.assert_array_equal(eng._states[0], _state_after(temporal_model, frames[2:]))


class _SlowTemporal(TemporalEngine):
    """Inference slower than capture, so a live source drops frames."""

    def run(self, prepared):
        time.sleep(0.03)
        return super().run(prepared)


def test_live_reconnect_resets_the_state_even_when_its_frame_is_dropped(temporal_model):
    from runtime.pipeline import Pipeline

    eng = _SlowTemporal(temporal_model, cut_threshold=1e9)
    # A paced live camera (100 fps) that reconnects before its third frame; inference takes 30 ms,
    # so frames 1-3 arrive while frame 0 is still being deblurred and all but the last are dropped.
    src = _Reconnecting(_frames(30), total=30, live=True, fps=100.0)
    stats = Pipeline(src, eng).run(handle_signals=False)
    assert stats.dropped > 0  # latest-frame-wins threw frames away ...
    assert eng.resets == 2  # ... but not the reconnect: first frame + reconnect


def test_run_and_deblur_cli_take_a_temporal_model(tmp_path, temporal_model):
    from edge_deblur.cli.main import app
    from runtime.io import write_image

    src = tmp_path / "frames in"
    src.mkdir()
    for i, f in enumerate(_frames(3, 40, 56)):
        write_image(src / f"{i}.png", f)
    r = CliRunner().invoke(
        app,
        [
            "run",
            "--source",
            str(src),
            "--model",
            str(temporal_model),
            "--output",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "o").iterdir())) == 3
    r = CliRunner().invoke(
        app,
        [
            "deblur",
            str(src / "0.png"),
            "--model",
            str(temporal_model),
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "x.png").is_file()


@pytest.mark.parametrize("bad", ["not_image.tflite"])
def test_a_model_without_two_inputs_is_not_temporal(bad):
    from pathlib import Path

    from runtime.temporal import is_temporal_model

    assert not is_temporal_model(Path(__file__).resolve().parents[1] / "data" / bad)
