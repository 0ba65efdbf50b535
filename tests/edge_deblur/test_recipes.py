"""The shipped recipes (edge_deblur/recipes/*.yaml) and make_models.sh agree with TrainConfig.

A recipe is only read when someone retrains (hours), so a renamed field or a bad value would
otherwise surface there; and `make models` must build the pair folders its recipes read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_deblur.config import Arch, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "edge_deblur" / "recipes"
MAKE_MODELS = ROOT / "benchmarks" / "scripts" / "make_models.sh"


def _family() -> list[str]:
    m = re.search(r"^MODELS=\$\{MODELS:-([^}]*)\}", MAKE_MODELS.read_text(), re.M)
    assert m, "make_models.sh no longer sets MODELS=${MODELS:-...}"
    return m.group(1).split()


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_is_a_valid_train_config(path: Path):
    cfg = TrainConfig.load(path)  # raises InputError on an unknown key or a bad value
    assert cfg.arch is Arch.cnn  # the family is cnn; a gan recipe would need its own checks
    # Recipes are run from the repository root: data folders are relative to it, never absolute.
    for folder in (*cfg.data, *cfg.pairs):
        assert not Path(folder).is_absolute(), folder


def test_make_models_builds_every_pair_folder_of_the_family():
    script = MAKE_MODELS.read_text()
    family = _family()
    assert "cnn-faster-lc" in family  # the default
    for name in family:
        cfg = TrainConfig.load(RECIPES / f"{name}.yaml")
        assert cfg.pairs, name
        for folder in cfg.pairs:
            made = f'--out "$WORK/{Path(folder).name}"'
            assert made in script, f"{name}.yaml reads {folder}, which make_models.sh does not make"
            assert Path(folder).parent == Path("runs/release"), folder  # make_models' $WORK
