"""``edge-deblur train`` from the command line: bad input exits 2 with one line; a real run."""

from __future__ import annotations

import numpy as np
import pytest
from _toy import sharp_images
from typer.testing import CliRunner

from edge_deblur.cli.main import app
from edge_deblur.config import TrainConfig
from runtime.io import write_image


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    # A folder of its own under a parent of its own: the end-to-end test trains on the parent (a
    # folder of photo folders), which must hold nothing but this set.
    root = tmp_path_factory.mktemp("photo_sets") / "photos"
    root.mkdir()
    for i, img in enumerate(sharp_images(4, 80, seed=11)):
        write_image(root / f"img{i}.png", (img * 255 + 0.5).astype(np.uint8))
    (root / "README.txt").write_text("not an image")
    return root


def _invoke(*args: str):
    return CliRunner().invoke(app, ["train", *args])


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    return err


def test_unknown_arch_or_size_lists_the_valid_ones(tmp_path, photos):
    err = _one_line_error(_invoke("--arch", "unet", "--data", str(photos), "--out", str(tmp_path)))
    assert "cnn" in err and "gan" in err
    err = _one_line_error(_invoke("--size", "xl", "--data", str(photos), "--out", str(tmp_path)))
    assert "tiny" in err and "base" in err


def test_bad_patch_and_missing_data_are_one_line_errors(tmp_path, photos):
    err = _one_line_error(
        _invoke("--data", str(photos), "--patch", "100", "--out", str(tmp_path / "r"))
    )
    assert err.startswith("edge-deblur: error: patch:") and "pad multiple 8" in err
    err = _one_line_error(_invoke("--out", str(tmp_path / "r")))
    assert "--data or --pairs" in err
    assert not (tmp_path / "r").exists()


def test_existing_run_is_refused_and_left_alone(tmp_path, photos):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("keep me")
    err = _one_line_error(_invoke("--data", str(photos), "--out", str(out)))
    assert "--resume" in err and "--force" in err
    assert (out / "config.yaml").read_text() == "keep me"


def test_resume_with_changed_settings_names_them(tmp_path, photos):
    out = tmp_path / "run"
    TrainConfig(data=(str(photos),), lr=1e-3).save(out / "config.yaml")
    (out / "ckpt").mkdir()
    (out / "ckpt" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    err = _one_line_error(_invoke("--out", str(out), "--resume", "--lr", "1e-4", "--size", "tiny"))
    assert "different lr, size" in err and "0.001 -> 0.0001" in err
    err = _one_line_error(_invoke("--out", str(tmp_path / "none"), "--resume"))
    assert "drop --resume" in err


def test_train_cli_end_to_end_on_a_photo_folder(tmp_path, photos):
    out = tmp_path / "run dir"
    args = ["--size", "tiny", "--data", str(photos.parent), "--patch", "32", "--batch", "2"]
    args += ["--val-size", "32", "--val-n", "2", "--val-every", "2", "--ckpt-every", "2"]
    result = _invoke(*args, "--steps", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "1160 MACs/pixel" in result.output
    assert "done at step 2" in result.stdout and "validation PSNR" in result.stdout
    assert (out / "model.keras").is_file() and (out / "log.csv").is_file()
    # --resume with only a larger --steps continues the saved run.
    result = _invoke("--out", str(out), "--resume", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "resumed from step 2" in result.output and "done at step 4" in result.stdout
    assert TrainConfig.load(out / "config.yaml").steps == 4
    # Fewer steps than the run has done is refused, and the run is left as it was.
    before = (out / "config.yaml").read_bytes()
    err = _one_line_error(_invoke("--out", str(out), "--resume", "--steps", "3"))
    assert "--steps" in err and "has reached (4)" in err
    assert (out / "config.yaml").read_bytes() == before


def test_a_run_folder_in_use_is_refused(tmp_path, photos):
    from edge_deblur.train import run_folder_lock

    out = tmp_path / "run"
    with run_folder_lock(out):  # as another `edge-deblur train` would hold it
        err = _one_line_error(_invoke("--data", str(photos), "--size", "tiny", "--out", str(out)))
    assert "in use by pid" in err
    assert sorted(p.name for p in out.iterdir()) == [".train.lock"]


def test_a_non_chief_worker_shares_the_chiefs_run_folder(tmp_path, photos, monkeypatch):
    import json

    import edge_deblur.cli.train as cli_train
    from edge_deblur.train import run_folder_lock

    ran = []
    monkeypatch.setattr(cli_train, "_train_with_progress", lambda *a: ran.append(a))
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"index": 1}}))
    out = tmp_path / "run"
    args = ["--data", str(photos), "--size", "tiny", "--strategy", "multi-worker"]
    with run_folder_lock(out):  # the chief, training into the shared folder
        result = _invoke(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert len(ran) == 1


def test_a_stopped_run_exits_130_so_a_following_command_does_not_run(tmp_path, photos, monkeypatch):
    import edge_deblur.train as train_mod

    def stopped(cfg, out, **kw):  # what train() returns after Ctrl-C / SIGTERM
        return train_mod.TrainResult(out, 3, True, out / "model.keras", {})

    monkeypatch.setattr(train_mod, "train", stopped)
    result = _invoke("--data", str(photos), "--size", "tiny", "--out", str(tmp_path / "r"))
    assert result.exit_code == 130, result.output
    assert "stopped at step 3" in result.stdout


def test_config_file_sets_the_run_and_typed_options_override_it(tmp_path, photos):
    cfg = TrainConfig(size="tiny", data=(str(photos),), patch=32, batch=2, val_size=32, val_n=2)
    cfg.save(tmp_path / "base.yaml")
    # An override that makes the config invalid proves the file was read and then overridden.
    err = _one_line_error(
        _invoke(
            "--config", str(tmp_path / "base.yaml"), "--patch", "36", "--out", str(tmp_path / "r")
        )
    )
    assert "patch" in err and "36" in err
    (tmp_path / "bad.yaml").write_text("size: tiny\ndata: [x]\nepochs: 3\n")
    err = _one_line_error(
        _invoke("--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "r"))
    )
    assert "unknown keys epochs" in err
    assert not (tmp_path / "r").exists()


def test_images_smaller_than_the_patch_leave_no_run_behind(tmp_path, photos):
    out = tmp_path / "run"
    result = _invoke("--data", str(photos), "--patch", "128", "--steps", "2", "--out", str(out))
    err = _one_line_error(result)
    assert "img0.png" in err and "128x128" in err and "80x80" in err
    assert not (out / "config.yaml").exists() and not (out / "model.keras").exists()
    # Nothing was left that would make the next attempt need --force.
    result = _invoke("--data", str(photos), "--patch", "128", "--steps", "2", "--out", str(out))
    assert "already holds a run" not in result.stderr
