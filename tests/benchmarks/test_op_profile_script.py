"""benchmarks/scripts/op_profile.py: graphs cut after each op, timed prefix by prefix."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from runtime.interpreter import load_interpreter
from runtime.model_file import inspect_model
from tests.benchmarks.conftest import load_script


@pytest.fixture(scope="module")
def op():
    return load_script("op_profile")


def test_a_cut_graph_ends_at_that_op_and_computes_what_the_whole_graph_computes_there(
    op, int8_model
):
    data = int8_model.read_bytes()
    rows = op.ops_of(data)
    assert [r["op"] for r in rows] == [o.name for o in inspect_model(data).operators]
    assert op.prefix(data, len(rows)) is data
    # the whole graph, keeping every intermediate tensor to compare with
    from ai_edge_litert.interpreter import Interpreter

    keep = Interpreter(model_content=data, experimental_preserve_all_tensors=True)
    keep.allocate_tensors()
    x = np.random.default_rng(0).integers(0, 256, (1, 16, 16, 3)).astype(np.uint8)
    keep.set_tensor(keep.get_input_details()[0]["index"], x)
    keep.invoke()
    by_name = {d["name"]: d["index"] for d in keep.get_tensor_details()}
    for k in (1, 2, len(rows) - 1):
        cut = op.prefix(data, k)
        info = inspect_model(cut)
        assert len(info.operators) == k
        assert [t.name for t in info.outputs] == [rows[k - 1]["output"]]
        it = load_interpreter(cut, threads=1, rewrite=False)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        np.testing.assert_array_equal(got, keep.get_tensor(by_name[rows[k - 1]["output"]]))


def test_the_script_writes_per_op_rows_that_add_up_to_the_whole_graph(op, int8_model, tmp_path):
    out = tmp_path / "prof"
    argv = [str(int8_model), "--rounds", "3", "--passes", "1", "--out", str(out)]
    old = sys.argv
    sys.argv = ["op_profile.py", *argv]
    try:
        assert op.main() == 0
        payload = json.loads(out.with_suffix(".json").read_text())
        assert payload["graph"] == "engine_cpu"
        # the Engine's graph: the two uint8<->int8 QUANTIZE ops are gone
        assert [r["op"] for r in payload["ops"]] == ["CONV_2D", "CONV_2D", "ADD", "MINIMUM", "RELU"]
        assert sum(r["ms"] for r in payload["ops"]) == pytest.approx(payload["total_ms"], abs=0.01)
        assert payload["total_ms"] == payload["ops"][-1]["cum_ms"] > 0
        assert "## By op kind" in out.with_suffix(".md").read_text()
        assert op.main() == 2  # the outputs exist: refused without --force
    finally:
        sys.argv = old
