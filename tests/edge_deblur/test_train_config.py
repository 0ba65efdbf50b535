"""TrainConfig: validation, YAML round trip, unknown keys, stable hash, resume conflicts."""

from __future__ import annotations

import numpy as np
import pytest

from edge_deblur.config import Arch, Strategy, TrainConfig, read_run_info
from runtime.errors import InputError, OutputExistsError


def test_strings_become_enums_and_lists_tuples():
    c = TrainConfig(arch="gan", size="tiny", data=["a b/photos"], strategy="multi-worker")
    assert c.arch is Arch.gan and c.strategy is Strategy.multi_worker
    assert c.data == ("a b/photos",) and c.pairs == ()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"arch": "unet"}, "arch: expected one of cnn, gan"),
        ({"size": "huge"}, "tiny, small, base"),
        ({"steps": 0}, "steps"),
        ({"batch": "x"}, "batch"),
        ({"patch": 100}, "multiple of the model's pad multiple 8"),
        ({"ema": 1.0}, "ema"),
        ({"lr": -1e-3}, "lr"),
        # a zero weight would only fail later, in the sampler: train without `pairs` instead
        ({"pairs_weight": 0.0}, "pairs_weight: expected a value > 0, got 0.0"),
        ({"strategy": "tpu"}, "default, mirrored, multi-worker"),
        ({"widths": (8, 16)}, "levels"),
        # YAML types int() would take quietly: 10.7 -> 10, true -> 1
        ({"steps": 10.7}, "steps: expected an integer, got 10.7"),
        ({"steps": True}, "steps: expected an integer, got True"),
        ({"lr": True}, "lr: expected a number"),
        ({"steps": np.float32(10.7)}, "steps: expected an integer"),
        ({"widths": (16.5, 24, 64)}, "widths: expected a list of integers"),
        ({"blocks": (True, 2, 2)}, "blocks: expected a list of integers"),
    ],
)
def test_bad_values_raise_input_errors_naming_the_field(changes, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(data=("d",), **changes)


def test_no_data_source_is_an_error():
    with pytest.raises(InputError, match="--data or --pairs"):
        TrainConfig()


def test_yaml_round_trip_keeps_everything_and_the_hash(tmp_path):
    c = TrainConfig(arch="gan", size="tiny", pairs=("p",), seed=7, widths=(8, 12, 24, 32))
    path = c.save(tmp_path / "config.yaml", derived={"params": 123, "pad_multiple": 8})
    back = TrainConfig.load(path)
    assert back == c
    assert back.config_hash() == c.config_hash()
    info = read_run_info(path)
    assert info["params"] == 123 and info["config_hash"] == c.config_hash()
    with pytest.raises(OutputExistsError):
        c.save(path)


def test_hash_changes_with_any_field():
    a = TrainConfig(data=("d",))
    assert a.config_hash() == TrainConfig(data=("d",)).config_hash()
    assert a.config_hash() != a.replace(seed=1).config_hash()
    assert a.config_hash().startswith("sha256:")


def test_unknown_yaml_keys_are_rejected(tmp_path):
    p = tmp_path / "config.yaml"
    p.write_text("arch: cnn\ndata: [d]\nlearning_rate: 0.1\n")
    with pytest.raises(InputError, match="unknown keys learning_rate"):
        TrainConfig.load(p)
    p.write_text("- not a mapping\n")
    with pytest.raises(InputError, match="mapping"):
        TrainConfig.load(p)
    with pytest.raises(InputError, match="does not exist"):
        TrainConfig.load(tmp_path / "missing.yaml")


def test_resume_conflicts_name_the_differing_keys_only():
    a = TrainConfig(data=("d",), steps=100)
    assert a.resume_conflicts(a.replace(steps=500, val_every=50)) == []
    assert a.resume_conflicts(a.replace(size="tiny", lr=1e-4)) == ["lr", "size"]
