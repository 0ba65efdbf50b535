import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.report import (
    CSV_COLUMNS,
    SCHEMA_VERSION,
    from_dict,
    from_json,
    summary_lines,
    to_csv,
    to_dict,
    to_json,
    to_markdown,
    write_report,
)
from runtime.errors import InputError, OutputExistsError


def test_json_round_trips_to_an_equal_report(make_report):
    r = make_report()
    assert from_dict(json.loads(to_json(r))) == r


def test_json_writes_non_finite_numbers_as_null(make_report):
    r = make_report()
    lat = replace(r.measurements[0].latency, fps=float("inf"))
    r = replace(r, measurements=(replace(r.measurements[0], latency=lat),))
    assert to_dict(r)["measurements"][0]["latency"]["fps"] is None
    json.loads(to_json(r))  # strict JSON: no Infinity token


def test_other_schema_version_is_refused_with_the_fix(make_report):
    data = to_dict(make_report())
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="schema_version.*re-run"):
        from_dict(data, "a/report.json")


def test_unknown_key_in_a_row_is_refused(make_report):
    data = to_dict(make_report())
    data["measurements"][0]["bogus"] = 1
    with pytest.raises(InputError, match="bogus"):
        from_dict(data)


def test_from_json_names_a_file_that_is_not_json(tmp_path: Path):
    f = tmp_path / "report.json"
    f.write_text("{nope")
    with pytest.raises(InputError, match="invalid JSON"):
        from_json(f)


def test_markdown_has_every_section_and_label(make_report):
    md = to_markdown(make_report("measured on rpi4-lab"))
    for text in (
        "## Machine limit",
        "## Latency",
        "## Quality",
        "## Projected on boards",
        "## Not measured",
        "measured on rpi4-lab",
        "projected for rpi4",
        "+2.00",
        "50%",
        "![stage_breakdown.png](stage_breakdown.png)",
        "not a / TFLite file",  # a pipe would break the table
        "| m | int8 | 640x480 | 300 ms / 3.3 FPS |",  # the per-board pivot
    ):
        assert text in md, text


def test_csv_has_one_row_per_result_with_fixed_columns(make_report):
    lines = to_csv(make_report()).splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS)
    kinds = [ln.split(",")[0] for ln in lines[1:]]
    assert kinds == ["reference", "measurement", "quality", "projection"]


def test_write_report_is_atomic_and_needs_force_to_overwrite(tmp_path: Path, make_report):
    out = tmp_path / "rep"
    written = write_report(make_report(), out)
    assert sorted(p.name for p in written) == ["report.json", "report.md", "results.csv"]
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "results.csv"]
    with pytest.raises(OutputExistsError, match="--force"):
        write_report(make_report(), out)
    write_report(make_report("measured on pi"), out, force=True)
    assert from_json(out / "report.json").host.label == "measured on pi"


def test_summary_lines_show_the_fastest_row_per_model_and_size(make_report):
    lines = summary_lines(make_report())
    assert len(lines) == 1
    assert "m" in lines[0] and "640x480" in lines[0] and "eff  50%" in lines[0]
    assert "dPSNR +2.00 dB" in lines[0]


def test_markdown_warns_when_the_machine_was_busy(make_report):
    r = make_report()
    busy = replace(r, host=replace(r.host, load_avg=9.5))
    assert "busy, timings are noisy" in to_markdown(busy)
    calm = replace(r, host=replace(r.host, load_avg=0.5))
    assert "busy" not in to_markdown(calm) and "0.50 on 2 CPUs" in to_markdown(calm)


def test_markdown_names_the_hosts_int8_dot_product_instructions(make_report):
    r = make_report()
    vnni = replace(r, host=replace(r.host, int8_dot="avx512_vnni, avx_vnni"))
    assert "int8 dot-product instructions: avx512_vnni, avx_vnni" in to_markdown(vnni)
    assert "int8 dot-product instructions: none found" in to_markdown(r)
    # Reports written before the field existed still load.
    data = json.loads(to_json(r))
    del data["host"]["int8_dot"]
    assert from_dict(data).host.int8_dot == ""


X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model\t\t: 2
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx_vnni
"""
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU part\t: 0xd08

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


@pytest.mark.parametrize(
    "text,name", [(X86, "AMD EPYC 9B14"), (PI4, "Raspberry Pi 4 Model B Rev 1.4"), ("", "")]
)
def test_cpuinfo_gives_the_cpu_name_not_the_numeric_model_line(text, name):
    from benchmarks.run import cpuinfo_processor

    assert cpuinfo_processor(text) == name


def test_int8_dot_extensions_are_picked_from_the_flags():
    from benchmarks.run import int8_dot_extensions

    assert int8_dot_extensions("fpu avx2 avx512_vnni avx_vnni".split()) == "avx512_vnni, avx_vnni"
    assert int8_dot_extensions("fp asimd asimddp i8mm".split()) == "asimddp, i8mm"
    assert int8_dot_extensions("fp asimd evtstrm crc32".split()) == ""
