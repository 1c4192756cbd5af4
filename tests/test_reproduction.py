"""lowdim.book.reproduction: row status, input validation, saving and the summary page."""

import json
import math

import pytest

from lowdim.book import reproduction
from lowdim.book.reproduction import Reproduction

ROW = dict(item="Prop. 1", figure="fig-x", quantity="max |residual|")


@pytest.mark.parametrize("ours, reference, kwargs, status", [
    (1.04, dict(paper=1.0), dict(tolerance=0.05), "reproduced"),
    (1.06, dict(paper=1.0), dict(tolerance=0.05), "differs"),
    (2.09, dict(paper=2.0), dict(tolerance=0.05, kind="rel"), "reproduced"),
    (2.2, dict(paper=2.0), dict(tolerance=0.05, kind="rel"), "differs"),
    (1e-12, dict(expected=0.0), dict(tolerance=1e-10), "reproduced"),
    (0.5, {}, {}, "no paper value"),
])
def test_status(ours, reference, kwargs, status):
    assert Reproduction("nb").add(**ROW, ours=ours, **reference, **kwargs)["status"] == status


@pytest.mark.parametrize("kwargs, message", [
    (dict(ours=math.nan), "ours must be finite"),
    (dict(ours="a lot"), "ours must be a real number"),
    (dict(ours=1.0, paper=math.inf, tolerance=0.1), "paper must be finite"),
    (dict(ours=1.0, paper=1.0), "tolerance is required"),
    (dict(ours=1.0, paper=1.0, tolerance=-1.0), "tolerance must be >= 0"),
    (dict(ours=1.0, paper=1.0, expected=1.0, tolerance=0.1), "either paper .* or expected"),
    (dict(ours=1.0, paper=1.0, tolerance=0.1, kind="log"), "kind must be one of"),
    (dict(ours=1.0, expected=0.0, tolerance=0.1, kind="rel"), "kind='rel' needs a nonzero"),
])
def test_invalid_inputs_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Reproduction("nb").add(**ROW, **kwargs)


def test_duplicate_row_and_bad_notebook_name():
    rec = Reproduction("nb")
    rec.add(**ROW, ours=1.0)
    with pytest.raises(ValueError, match="already added"):
        rec.add(**ROW, ours=2.0)
    with pytest.raises(ValueError, match="notebook must be a non-empty string"):
        Reproduction("")


def test_save_collect_and_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rec = Reproduction("ch01")
    rec.add(**ROW, ours=1e-12, expected=0.0, tolerance=1e-10, note="exact")
    assert rec.save() == tmp_path / "ch01.results.json"
    rows = reproduction.collect(tmp_path)
    assert rows == json.loads((tmp_path / "ch01.results.json").read_text())["rows"]
    runs = {"ch01": {"mode": "quick", "finished": "2026-11-30 06:40 UTC"}}
    reproduction.write_report(rows, tmp_path / "out" / "r.json", tmp_path / "r.md", runs)
    assert json.loads((tmp_path / "out" / "r.json").read_text()) == rows
    page = (tmp_path / "r.md").read_text()
    assert "Built in **quick** mode, notebooks last executed 2026-11-30 06:40 UTC." in page
    row = ("* - **Prop. 1**: max \\|residual\\|\n\n    {numref}`fig-x` <small>exact</small>\n  - 0 (theory)\n"
           "  - 1e-12\n  - 1e-10\n  - {bdg-success}`reproduced`\n")
    assert row in page
    mtime = (tmp_path / "r.md").stat().st_mtime_ns
    reproduction.write_report(rows, tmp_path / "out" / "r.json", tmp_path / "r.md", runs)
    assert (tmp_path / "r.md").stat().st_mtime_ns == mtime  # unchanged content is not rewritten


def test_parts_come_from_the_chapter_number():
    names = ("ch01_molrg", "ch03_x", "ch04_density", "ch05_y", "ch06_guidance", "ch07_z", "ch08_real_images",
             "ch09_guidance_images", "ch10_memorization", "ch11_likelihood_images", "ch12_w", "appendix")
    assert [reproduction.part_of(nb)[0] for nb in names] == [
        "Paper 1", "Paper 1", "Paper 2", "Paper 2", "Paper 3", "Paper 3", "Paper 1", "Paper 3", "Paper 1", "Paper 2",
        "Real images", "Other"]


def test_text_keeps_math_and_escapes_markup():
    assert reproduction._text("E[1/p(c|x)] at $\\sigma_t$, U* and a_b") == (
        "E\\[1/p(c\\|x)\\] at $\\sigma_t$, U\\* and a\\_b")
    assert reproduction._text("costs 5 $") == "costs 5 \\$"


def dashboard_rows():
    rows = []
    for notebook, status_args in [("ch01_a", dict(ours=1.0, paper=1.0, tolerance=0.1)),
                                  ("ch02_b", dict(ours=2.0, paper=1.0, tolerance=0.1)),
                                  ("ch06_c", dict(ours=3.0)),
                                  ("ch04_d", dict(ours=0.5, expected=1.0, tolerance=0.1))]:
        rec = Reproduction(notebook)
        rec.add(item=f"Fig. {notebook[2:4]}", figure=None, quantity="q", note=f"because {notebook}", **status_args)
        rows += rec.rows
    return rows


def test_dashboard_counts_differs_first_and_sections_by_paper():
    page = reproduction.dashboard(dashboard_rows(), {nb: {"mode": "full"} for nb in ("ch01_a", "ch02_b", "ch04_d")}
                                  | {"ch06_c": {"mode": "quick"}})
    assert page.startswith("# Reproduction dashboard\n\n" + reproduction.STYLE + "\n\n{bdg-danger}`2 differs` {bdg-success}`1 reproduced` "
                           "{bdg-muted}`1 no paper value` of **4** recorded numbers")
    assert "mixed modes: **full** (ch01_a, ch02_b, ch04_d); **quick** (ch06_c)" in page
    # counts per part: part, differs, reproduced, no paper value, total
    for part, counts in [("Paper 1", "1 1 0 2"), ("Paper 2", "1 0 0 1"), ("Paper 3", "0 0 1 1"), ("all", "2 1 1 4")]:
        assert f"* - {part}\n" + "".join(f"  - {n}\n" for n in counts.split()) in page + "\n"
    differs = page.index("## What differs (2)")
    sections = [page.index(f"## Paper {k}:") for k in (1, 2, 3)]
    assert differs < sections[0] < sections[1] < sections[2]
    listed = page[differs:sections[0]]
    assert "ours 2, reference 1 (paper), tolerance 0.1; {doc}`ch02_b <ch02_b>`" in listed
    assert "*Reason:* because ch02\\_b" in listed and "*Reason:* because ch04\\_d" in listed
    assert "ch01" not in listed and "ch06" not in listed
    assert page.index("### Chapter 1") < page.index("### Chapter 2") < sections[1] < page.index("### Chapter 4")


def test_unknown_status_is_an_error():
    with pytest.raises(ValueError, match="row status must be one of"):
        reproduction.status_counts([{"status": "close enough"}])


@pytest.mark.parametrize("values, label", [
    (dict(paper=2.0), "2 (paper)"),
    (dict(paper=2.0, source="figure"), "2 (read from a paper figure)"),
    (dict(expected=2.0), "2 (theory)"),
    (dict(expected=2.0, source="claim"), "2 (paper's claim)"),
    (dict(expected=2.0, source="reference"), "2 (our reference)"),
])
def test_source_labels_say_where_a_reference_value_comes_from(tmp_path, values, label):
    rec = Reproduction("ch01")
    row = rec.add(**ROW, ours=2.0, tolerance=0.1, **values)
    assert row["source"] == values.get("source", "paper" if "paper" in values else "formula")
    assert label in reproduction.dashboard(rec.rows, {"ch01": {"mode": "quick"}})


@pytest.mark.parametrize("values, message", [
    (dict(paper=1.0, source="formula"), "goes with expected"),
    (dict(expected=1.0, source="figure"), "goes with paper"),
    (dict(expected=1.0, source="book"), "source must be one of"),
    (dict(source="claim"), "needs a reference value"),
])
def test_source_must_fit_the_reference(values, message):
    with pytest.raises(ValueError, match=message):
        Reproduction("ch01").add(**ROW, ours=1.0, tolerance=0.1, **values)
