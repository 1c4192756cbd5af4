"""The notebook driver (lowdim.book.build) on throwaway notebooks, and the real book built end to end."""

import json
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest
import yaml

from lowdim.book import build

ROOT = pathlib.Path(__file__).resolve().parents[1]

HEADER = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

RECORD = """
import os
from lowdim.book.reproduction import Reproduction

assert os.environ["PYTHONHASHSEED"] == "0"  # set by the driver for reproducible str hashes

with open("runs.log", "a") as log:  # the notebooks run with cwd = the output folder
    log.write("{name}\\n")
rec = Reproduction(notebook="{name}")
rec.add(item="Eq. 1", figure=None, quantity="n", ours=n, paper=2.0, tolerance=0.0)
rec.save()
"""


def notebook_source(name: str, body: str | None = None, parameters: str | None = "n = 1\n") -> str:
    """py:percent text: a parameters cell declaring `n` and a cell recording one row (or `body`)."""
    cell = "" if parameters is None else '# %% tags=["parameters"]\n' + parameters + "\n"
    return HEADER + "\n" + cell + "# %%\n" + (RECORD.format(name=name) if body is None else body)


@pytest.fixture
def project(tmp_path) -> build.Project:
    """An empty project layout in tmp_path, with a copy of lib/lowdim (hashed, not imported) and requirements."""
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(ROOT / "lib" / "lowdim", tmp_path / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    return build.Project(notebooks_dir=tmp_path / "notebooks", table_path=tmp_path / "notebooks" / "parameters.yaml",
                         out_dir=tmp_path / "generated", lib_dir=tmp_path / "lib",
                         requirements=tmp_path / "requirements.txt", report_json=tmp_path / "_build" / "repro.json")


def write(project: build.Project, notebooks: dict[str, str], table: dict) -> None:
    """Write notebooks {stem: source} and the parameter table."""
    for name, text in notebooks.items():
        (project.notebooks_dir / f"{name}.py").write_text(text)
    project.table_path.write_text(yaml.safe_dump(table))


def runs(project: build.Project) -> list[str]:
    """Names of the notebooks executed so far, in order."""
    log = project.out_dir / "runs.log"
    return log.read_text().split() if log.exists() else []


def test_unknown_parameter_is_an_error_naming_it(project):
    write(project, {"nb": notebook_source("nb")}, {"nb": {"quick": {"n": 2, "typo_param": 3}, "full": {}}})
    with pytest.raises(build.BuildError, match=r"notebook nb: parameter\(s\) typo_param"):
        build.run(project, "quick")
    assert runs(project) == []


def test_missing_parameters_cell_is_an_error(project):
    write(project, {"nb": notebook_source("nb", parameters=None)}, {"nb": {"quick": {}, "full": {}}})
    with pytest.raises(build.BuildError, match="notebook nb: needs exactly one cell tagged 'parameters', found 0"):
        build.run(project, "quick")


@pytest.mark.parametrize("table, message", [
    ({}, "no entry for notebook"),
    ({"nb": {"quick": {}, "full": {}}, "gone": {"quick": {}, "full": {}}}, "entry without a notebook .*gone"),
    ({"nb": {"quick": {}}}, "entry 'nb' must be"),
])
def test_parameter_table_must_match_notebooks(project, table, message):
    write(project, {"nb": notebook_source("nb")}, table)
    with pytest.raises(build.BuildError, match=message):
        build.run(project, "quick")


def test_failing_cell_stops_with_notebook_and_cell(project):
    source = HEADER + '# %% [markdown]\n# Title\n\n# %% tags=["parameters"]\nn = 1\n\n# %%\nx = 1\n\n# %%\ny = 1 / 0\n'
    # cells: markdown, parameters, (papermill's injected parameters), x = 1, y = 1 / 0 -> source cell 4
    write(project, {"bad": source}, {"bad": {"quick": {"n": 2}, "full": {}}})
    with pytest.raises(build.BuildError) as err:
        build.run(project, "quick")
    assert str(err.value).startswith("notebook bad failed in cell 4 (execution count 4): ZeroDivisionError: "
                                     "division by zero\n  the cell starts: y = 1 / 0\n")
    executed, stamp, _ = build.outputs(project.out_dir, "bad")
    assert executed.exists() and not stamp.exists()  # kept for inspection, never stamped


def test_cli_exits_nonzero_with_message(capsys, tmp_path):
    assert build.main(["--out", str(tmp_path), "no_such_notebook"]) == 1
    assert "unknown notebook(s): no_such_notebook" in capsys.readouterr().err


def test_notebook_without_results_is_an_error(project):
    write(project, {"quiet": notebook_source("quiet", body="print(n)\n")}, {"quiet": {"quick": {}, "full": {}}})
    with pytest.raises(build.BuildError, match="notebook quiet ran but wrote no quiet.results.json"):
        build.run(project, "quick")
    assert not build.outputs(project.out_dir, "quiet")[1].exists()


def test_stamps_skip_unchanged_and_rerun_on_any_input_change(project):
    write(project, {"nb": notebook_source("nb")}, {"nb": {"quick": {"n": 2}, "full": {"n": 3}}})
    build.run(project, "quick")
    build.run(project, "quick")
    assert runs(project) == ["nb"]  # second run skipped
    (project.notebooks_dir / "nb.py").write_text(notebook_source("nb") + "\nprint('edited')\n")
    build.run(project, "quick")
    assert len(runs(project)) == 2  # source changed
    write(project, {}, {"nb": {"quick": {"n": 5}, "full": {"n": 3}}})
    build.run(project, "quick")
    assert len(runs(project)) == 3  # parameters changed
    with open(project.lib_dir / "reproduction.py", "a") as f:
        f.write("\n# edited\n")
    build.run(project, "quick")
    assert len(runs(project)) == 4  # library changed
    build.run(project, "full")
    assert len(runs(project)) == 5  # mode changed
    build.run(project, "full", force=True)
    assert len(runs(project)) == 6  # --force


def test_parallel_run_collects_reproduction_rows(project):
    write(project, {"a": notebook_source("a"), "b": notebook_source("b")},
          {"a": {"quick": {"n": 2}, "full": {}}, "b": {"quick": {}, "full": {}}})
    rows = build.run(project, "quick", jobs=2)
    assert sorted(runs(project)) == ["a", "b"]
    assert [(r["notebook"], r["ours"], r["status"]) for r in rows] == [("a", 2.0, "reproduced"), ("b", 1.0, "differs")]
    assert json.loads(project.report_json.read_text()) == rows
    page = (project.out_dir / "reproduction.md").read_text()
    assert "| Eq. 1 | n | 2 | 2 | 0 | reproduced | — | {doc}`a <a>` |" in page
    executed = json.loads((project.out_dir / "a.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0]["metadata"]["tags"]


@pytest.mark.slow
def test_book_builds(tmp_path):
    """Every real notebook executes (quick mode, into book/generated) and the book builds with -W -n."""
    driver = subprocess.run([sys.executable, "-m", "lowdim.book.build", "--mode", "quick"], cwd=ROOT,
                            capture_output=True, text=True)
    assert driver.returncode == 0, driver.stdout + driver.stderr
    jupyter_book = pathlib.Path(sysconfig.get_path("scripts")) / "jupyter-book"
    book = subprocess.run([str(jupyter_book), "build", "-W", "-n", "--keep-going", "--path-output", str(tmp_path), "."],
                          cwd=ROOT, capture_output=True, text=True)
    assert book.returncode == 0, book.stdout[-5000:] + book.stderr[-5000:]
    html = tmp_path / "_build" / "html"
    for page in ["index", "book/conventions", "book/generated/ch01_molrg", "book/generated/reproduction"]:
        assert (html / f"{page}.html").exists(), page
