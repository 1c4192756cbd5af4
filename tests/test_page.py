"""The reader-facing frame of the chapters (lowdim.book.page) and the book's table/figure style (lowdim.book.style)."""

import pathlib
import re

import jupytext
import numpy as np
import pandas as pd
import pytest

from lowdim.book.page import Chapter, parameter_cell, run_mode, summary_markdown
from lowdim.book.reproduction import Reproduction
from lowdim.book.style import MAX_WIDTH_IN, relabel, table_html

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters", "remove-cell"]
seed = 3  # every draw derives from this
num_points = 100  # points | per level
noise_seed = 7
sizes = [1, 2]  # a list

# %%
x = 1  # not a parameter
'''


@pytest.fixture
def project(tmp_path):
    """A one-notebook project: notebooks/demo.py and its parameter table."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "demo.py").write_text(NOTEBOOK)
    (tmp_path / "notebooks" / "parameters.yaml").write_text(
        "demo:\n  quick: {num_points: 10}\n  full: {num_points: 100, sizes: [1, 2]}\n")
    return tmp_path


def test_parameter_cell_reads_names_and_comments(project):
    assert parameter_cell(project / "notebooks" / "demo.py") == [
        ("seed", "every draw derives from this"), ("num_points", "points | per level"), ("noise_seed", ""),
        ("sizes", "a list")]


def test_run_mode_matches_the_table(project):
    table = project / "notebooks" / "parameters.yaml"
    assert run_mode("demo", {"num_points": 10, "sizes": [1, 2]}, table) == "quick"
    assert run_mode("demo", {"num_points": 100, "sizes": [1, 2]}, table) == "full"
    assert run_mode("demo", {"num_points": 100, "sizes": [3]}, table) == "custom"


def test_header_shows_this_runs_values_seeds_and_commands(project):
    namespace = dict(seed=3, num_points=10, noise_seed=7, sizes=[1, 2], unrelated=5)
    text = Chapter("demo", namespace, arxiv=["2502.05743v3"], root=project).header_markdown()
    assert "*quick*" in text
    assert "`seed = 3`, `noise_seed = 7`" in text  # every seed parameter, with this run's value
    assert "python -m lowdim.book.build --mode quick demo" in text
    assert "python -m lowdim.book.build --mode full demo" in text
    assert "https://arxiv.org/abs/2502.05743v3" in text
    assert "{glue:text}`chapter-runtime`" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["seed", "num_points", "noise_seed", "sizes"]  # not `unrelated`
    assert r"points \| per level" in text  # a '|' in a comment does not split the table cell


def test_chapter_rejects_bad_input(project):
    with pytest.raises(ValueError, match="name must be a notebook stem"):
        Chapter("nope", {}, arxiv=["1"], root=project)
    with pytest.raises(ValueError, match="arxiv must list"):
        Chapter("demo", dict(seed=1, num_points=1, noise_seed=1, sizes=[]), arxiv=[], root=project)
    with pytest.raises(ValueError, match="lacks the parameter.*noise_seed"):
        Chapter("demo", dict(seed=1, num_points=1, sizes=[]), arxiv=["1"], root=project)


def test_finish_writes_the_landing_summary(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chapter = Chapter("demo", dict(seed=1, num_points=1, noise_seed=1, sizes=[]), arxiv=["1"], root=project)
    rec = Reproduction(notebook="other")
    with pytest.raises(ValueError, match="rec belongs to notebook 'other'"):
        chapter.finish(rec)
    rec = Reproduction(notebook="demo")
    rec.add(item="Fig. 1", figure=None, quantity="a", ours=1.0, expected=1.0, tolerance=0.1)
    rec.add(item="Fig. 2", figure=None, quantity="b", ours=2.0, paper=1.0, tolerance=0.1, note="why")
    rec.add(item="Fig. 3", figure=None, quantity="c", ours=2.0)
    path = chapter.finish(rec)
    assert path == tmp_path / "demo.summary.txt"
    assert path.read_text() == summary_markdown("demo", rec.rows)


def test_summary_counts_statuses_and_lists_what_differs():
    rows = [dict(status="reproduced", item="A", quantity="a", note=""),
            dict(status="differs", item="B", quantity="b", note="grid too coarse"),
            dict(status="differs", item="C", quantity="c", note=""),
            dict(status="no paper value", item="D", quantity="d", note="")]
    text = summary_markdown("ch09_demo", rows)
    assert text.splitlines()[0] == ("- {doc}`/book/generated/ch09_demo`: 4 recorded numbers, 1 reproduced, "
                                    "2 differs, 1 no paper value.")
    assert "  - *differs*: B, b (grid too coarse)" in text
    assert "  - *differs*: C, c\n" in text


def test_table_html_drops_a_default_index_and_shows_missing_values_as_a_dash():
    frame = pd.DataFrame({"a": [1.23456, np.nan], "b": ["x", None]})
    html = table_html(frame)
    assert "row_heading" not in html  # no 0..n-1 column
    assert ">1.235<" in html and html.count(">—<") == 2 and ">nan<" not in html
    assert 'class="dataframe book-table"' in html
    named = table_html(frame.set_index(pd.Index([5, 6], name="timestep")).style.format({"a": "{:.1e}"}))
    assert "row_heading" in named and ">5<" in named  # a named index labels the rows and stays
    assert ">1.2e+00<" in named


@pytest.mark.parametrize("source", sorted((ROOT / "notebooks").glob("ch*.py")), ids=lambda p: p.stem)
def test_every_chapter_uses_the_book_frame(source):
    """One style, the run card after the parameters, the summary at the end, and no figure too wide to read."""
    text = source.read_text()
    assert "sns.set_theme" not in text and text.count("use_book_style()") == 1
    cells = jupytext.read(source).cells
    first = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert f'Chapter("{source.stem}", globals()' in cells[first + 1].source
    assert "chapter.header()" in cells[first + 1].source
    assert text.count("chapter.finish(rec)") == 1
    widths = [float(w) for w in re.findall(r"figsize=\(([\d.]+),", text)]
    assert widths and max(widths) <= MAX_WIDTH_IN, f"figure widths {widths} exceed {MAX_WIDTH_IN:.1f} in"


def test_relabel_renames_headers_and_keeps_formats():
    frame = pd.DataFrame({"sigma": [0.12345], "mean_p": [0.5]})
    html = table_html(relabel(frame.style.format({"sigma": "{:.2f}"}), {"sigma": "σ"}))
    assert ">σ<" in html and ">mean_p<" in html and ">0.12<" in html
    assert list(relabel(frame, {"mean_p": "mean p"}).columns) == ["sigma", "mean p"]
    with pytest.raises(ValueError, match="labels name columns the table does not have: \\['nope'\\]"):
        relabel(frame, {"nope": "x"})
