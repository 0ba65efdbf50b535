import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.compare import compare, write_compare
from benchmarks.plots import pareto_front, write_plots
from benchmarks.report import write_report
from runtime.errors import InputError


def test_pareto_front_keeps_only_undominated_points():
    pts = [(10, 1.0), (5, 0.5), (20, 0.8), (30, 2.0), (5, 0.2), (40, 1.5)]
    assert pareto_front(pts) == [(5, 0.5), (10, 1.0), (30, 2.0)]
    assert pareto_front([]) == []


def test_compare_puts_each_machine_and_projection_in_its_own_column(make_report):
    a = make_report()
    b = replace(
        make_report("measured on rpi4-lab"), host=replace(make_report().host, hostname="pi")
    )
    b = replace(b, host=replace(b.host, label="measured on rpi4-lab"))
    b = replace(b, projections=(replace(b.projections[0], ms=310.0),))
    c = compare([a, b], ["a.json", "b.json"])
    # Each report's projections keep their own column: the second run's are not dropped.
    assert c.columns == (
        "measured on this host (box)",
        "measured on rpi4-lab (pi)",
        "projected for rpi4 (from measured on this host (box))",
        "projected for rpi4 (from measured on rpi4-lab (pi))",
    )
    key = ("m", "int8", "640x480", 2)
    assert set(c.cells[key]) == set(c.columns)
    assert c.cells[key]["projected for rpi4 (from measured on this host (box))"].p50_ms == 300.0
    assert c.cells[key]["projected for rpi4 (from measured on rpi4-lab (pi))"].p50_ms == 310.0
    # One report alone keeps the plain label.
    assert compare([a]).columns == ("measured on this host (box)", "projected for rpi4")


def test_compare_puts_projections_on_the_fewest_threads_row(make_report):
    a = make_report()
    four = replace(a.measurements[0], threads=4)
    a4 = replace(a, measurements=(four,), projections=())
    c = compare([a4, a])  # the 4-thread row comes first
    col = "projected for rpi4 (from measured on this host (box #2))"
    assert col in c.cells[("m", "int8", "640x480", 2)]
    assert col not in c.cells[("m", "int8", "640x480", 4)]


def test_compare_disambiguates_two_hosts_with_the_same_name(make_report):
    c = compare([make_report(), make_report()])
    assert c.columns[:2] == ("measured on this host (box)", "measured on this host (box #2)")


def test_write_compare_writes_three_files_and_refuses_non_reports(tmp_path: Path, make_report):
    write_report(make_report(), tmp_path / "a")
    outs = write_compare([tmp_path / "a/report.json"], tmp_path / "cmp")
    assert [p.name for p in outs] == ["compare.md", "compare.csv", "compare.json"]
    data = json.loads((tmp_path / "cmp/compare.json").read_text())
    assert data["rows"][0]["cells"]["measured on this host (box)"]["psnr"] == 28.0
    assert "| m | int8 | 640x480 | 2 |" in (tmp_path / "cmp/compare.md").read_text()
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="no schema_version"):
        write_compare([tmp_path / "x.json"], tmp_path / "cmp2")
    # A hand-edited report: a missing section is named, a missing FPS prints as '?'.
    data = json.loads((tmp_path / "a/report.json").read_text())
    data["projections"][0]["fps"] = None
    (tmp_path / "edited.json").write_text(json.dumps(data))
    write_compare([tmp_path / "edited.json"], tmp_path / "cmp3")
    assert "(? FPS)" in (tmp_path / "cmp3/compare.md").read_text()
    del data["host"]
    (tmp_path / "nohost.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="nohost.json: expected an edge-deblur report.json.*host"):
        write_compare([tmp_path / "nohost.json"], tmp_path / "cmp4")


def test_write_plots_writes_pngs_for_what_the_report_holds(tmp_path: Path, make_report):
    names = write_plots(make_report(), tmp_path)
    assert names == [
        "latency_vs_quality.png",
        "latency_by_size_threads.png",
        "stage_breakdown.png",
        "projected_fps.png",
    ]
    for n in names:
        assert (tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_quality = replace(make_report(), quality=(), projections=())
    assert write_plots(no_quality, tmp_path / "b") == [
        "latency_by_size_threads.png",
        "stage_breakdown.png",
    ]
