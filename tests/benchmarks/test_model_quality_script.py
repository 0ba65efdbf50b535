"""benchmarks/scripts/model_quality.py: the issue-6 evaluation, on generated pairs."""

from __future__ import annotations

import json
import sys

import pytest

from tests.benchmarks.conftest import load_script, make_pairs


@pytest.fixture(scope="module")
def mq():
    return load_script("model_quality")


def _main(mq, monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["model_quality.py", *map(str, args)])
    return mq.main()


def test_training_scenes_are_kept_out_of_the_held_out_means(mq, tmp_path, monkeypatch):
    pairs = make_pairs(tmp_path / "pairs", n=3, size=(64, 96))
    out = tmp_path / "res" / "mq"
    args = ["--pairs", pairs, "--models", "default", "--train-scenes", "f0", "--no-bench"]
    rc = _main(mq, monkeypatch, *args, "--out", out)
    assert rc == 0
    r = json.loads(out.with_suffix(".json").read_text())
    assert r["given"] is True
    (m,) = r["models"].values()
    per = {p["name"]: p for p in m["per_pair"]}
    assert sorted(per) == ["f0", "f1", "f2"]
    assert [n for n, p in per.items() if not p["held_out"]] == ["f0"]
    held = m["mean"]["held_out"]
    assert held["n"] == 2
    assert held["gain"] == pytest.approx((per["f1"]["gain"] + per["f2"]["gain"]) / 2)
    assert m["worst_gain"] == min(p["gain"] for p in per.values())
    assert set(r["baselines"]) >= {"unsharp-mask", "wiener", "richardson-lucy"}
    md = out.with_suffix(".md").read_text()
    assert md.startswith("# Models given: quality on real blur")
    assert "f0 (train scene)" in md


def test_existing_results_are_refused_before_any_evaluation(mq, tmp_path, monkeypatch, capsys):
    pairs = make_pairs(tmp_path / "pairs", n=1)
    out = tmp_path / "mq"
    out.with_suffix(".md").write_text("keep me")
    monkeypatch.setattr(mq, "eval_model", lambda *a: pytest.fail("evaluated before the check"))
    rc = _main(mq, monkeypatch, "--pairs", pairs, "--models", "default", "--out", out)
    assert rc == 2
    assert "already exists" in capsys.readouterr().err
    assert out.with_suffix(".md").read_text() == "keep me"
    assert not out.with_suffix(".json").exists()


@pytest.mark.parametrize("bad", ["models", "pairs"])
def test_bad_inputs_are_one_line_errors(mq, tmp_path, monkeypatch, capsys, bad):
    pairs = make_pairs(tmp_path / "pairs", n=1)
    args = {"models": "default", "pairs": pairs}
    args[bad] = tmp_path / "missing"
    given = ["--pairs", args["pairs"], "--models", args["models"]]
    rc = _main(mq, monkeypatch, *given, "--out", tmp_path / "mq")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "missing" in err[0], err
    assert not list(tmp_path.glob("mq.*"))


def test_strength_zero_scores_the_input_and_drops_the_targets(mq, tmp_path, monkeypatch):
    pairs = make_pairs(tmp_path / "pairs", n=2, size=(64, 96))
    out = tmp_path / "mq"
    args = ["--pairs", pairs, "--models", "default", "--strength", "0", "--no-bench"]
    assert _main(mq, monkeypatch, *args, "--out", out) == 0
    r = json.loads(out.with_suffix(".json").read_text())
    (m,) = r["models"].values()
    assert r["strength"] == 0.0 and r["targets"] == []
    assert all(p["gain"] == pytest.approx(0.0) for p in m["per_pair"])
    assert "--strength 0`" in out.with_suffix(".md").read_text()
    card = tmp_path / "card.md"
    assert _main(mq, monkeypatch, *args, "--out", tmp_path / "b", "--card", card) == 2
    assert not card.exists()


def test_speed_tables_name_the_host_and_its_int8_dot_product_instructions(
    mq, tmp_path, monkeypatch
):
    pairs = make_pairs(tmp_path / "pairs", n=2, size=(64, 96))
    out = tmp_path / "mq"
    args = ["--pairs", pairs, "--models", "default", "--no-bench"]
    assert _main(mq, monkeypatch, *args, "--out", out) == 0
    r = json.loads(out.with_suffix(".json").read_text())
    assert "host" not in r and "Host:" not in mq.render(r)  # no bench, no host line
    (name,) = r["models"]
    r["latency"] = [
        {
            "model": name,
            "size": "640x480",
            "profile": "rpi4",
            "ms": 50.0,
            "fps": 20.0,
            "label": "projected for rpi4",
        },
    ]
    r["host"] = {
        "processor": "AMD EPYC",
        "cpus": 2,
        "int8_dot": "avx512_vnni",
        "ref_int8_gmacs": 112.9,
    }
    md = mq.render(r)
    latency = md[md.index("## Latency") :]
    assert "Host: AMD EPYC, 2 CPUs, int8 dot-product instructions: avx512_vnni" in latency
    assert "reference int8 net 112.9 G MAC/s" in latency and "projects lower" in latency
    r["host"]["int8_dot"] = ""
    md = mq.render(r)
    latency = md[md.index("## Latency") :]
    assert "int8 dot-product instructions: none" in latency and "projects lower" not in latency
