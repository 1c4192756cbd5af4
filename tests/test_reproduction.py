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
    reproduction.write_report(rows, tmp_path / "out" / "r.json", tmp_path / "r.md", mode="quick")
    assert json.loads((tmp_path / "out" / "r.json").read_text()) == rows
    line = ("| Prop. 1 | max \\|residual\\| | theory: 0 | 1e-12 | 1e-10 | reproduced (exact) | {numref}`fig-x` "
            "| {doc}`ch01 <ch01>` |")
    assert line in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize("values, label", [
    (dict(paper=2.0), "| 2 |"),
    (dict(paper=2.0, source="figure"), "| read from paper figure: 2 |"),
    (dict(expected=2.0), "| theory: 2 |"),
    (dict(expected=2.0, source="claim"), "| paper's claim: 2 |"),
    (dict(expected=2.0, source="reference"), "| our reference: 2 |"),
])
def test_source_labels_say_where_a_reference_value_comes_from(tmp_path, values, label):
    rec = Reproduction("ch01")
    row = rec.add(**ROW, ours=2.0, tolerance=0.1, **values)
    assert row["source"] == values.get("source", "paper" if "paper" in values else "formula")
    reproduction.write_report(rec.rows, tmp_path / "r.json", tmp_path / "r.md", mode="quick")
    assert label in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize("values, message", [
    (dict(paper=1.0, source="formula"), "goes with expected"),
    (dict(expected=1.0, source="figure"), "goes with paper"),
    (dict(expected=1.0, source="book"), "source must be one of"),
    (dict(source="claim"), "needs a reference value"),
])
def test_source_must_fit_the_reference(values, message):
    with pytest.raises(ValueError, match=message):
        Reproduction("ch01").add(**ROW, ours=1.0, tolerance=0.1, **values)
