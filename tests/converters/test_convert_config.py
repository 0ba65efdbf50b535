import dataclasses

import pytest

from converters.config import (
    ConvertConfig,
    IODtype,
    QuantMode,
    Structure,
    config_yaml,
    load_config,
)
from runtime.errors import InputError


def test_config_coerces_strings_to_enums():
    cfg = ConvertConfig(quant="fp16", io="float32", structured="none")
    assert cfg.quant is QuantMode.FP16 and cfg.io is IODtype.FLOAT32
    assert cfg.structured is Structure.NONE


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"quant": "int4"}, "--quant"),
        ({"io": "uint16"}, "--io"),
        ({"prune": 1.5}, "--prune"),
        ({"prune": 0.0}, "--prune"),
        ({"prune_steps": -1}, "--prune-steps"),
        ({"structured": "4:8"}, "--structured"),
        ({"structured": "2:4", "prune": 0.7}, "--prune"),
        ({"qat_steps": 5, "quant": "fp16"}, "--qat-steps"),
        ({"edgetpu": True, "quant": "fp32"}, "--edgetpu"),
        ({"data": "a", "pairs": "b"}, "--data/--pairs"),
        ({"input_size": (0, 16)}, "--input-size"),
        ({"quant": "fp32", "io": "int8"}, "--io"),
    ],
)
def test_bad_values_raise_input_error_naming_the_flag(kwargs, flag):
    with pytest.raises(InputError) as err:
        ConvertConfig(**kwargs)
    assert str(err.value).startswith(flag)
    assert "\n" not in str(err.value)


def test_structured_2_4_implies_half_sparsity():
    assert ConvertConfig(structured="2:4").prune == 0.5


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ConvertConfig().quant = QuantMode.FP32  # type: ignore[misc]


def test_yaml_round_trip(tmp_path):
    cfg = ConvertConfig(quant="int8", prune=0.5, input_size=(64, 32), data="/x", qat_steps=3)
    p = tmp_path / "m.convert.yaml"
    p.write_text(config_yaml(cfg))
    assert load_config(p) == cfg


def test_yaml_with_unknown_key_is_rejected(tmp_path):
    p = tmp_path / "m.convert.yaml"
    p.write_text(config_yaml(ConvertConfig()) + "learning_rat: 0.1\n")
    with pytest.raises(InputError, match="learning_rat"):
        load_config(p)
