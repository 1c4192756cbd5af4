"""The notebook driver (lowdim.book.build) on throwaway notebooks, and the real book built end to end.

The real book is built in quick mode in the tests' own folder (_build/test/), never into the reader's
book/generated/ or _build/, and every page is then checked in headless Chromium (tests/book_site.py).
"""

import json
import os
import pathlib
import shutil
import subprocess
from types import SimpleNamespace

import book_site
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
                         requirements=tmp_path / "requirements.txt", report_json=tmp_path / "_build" / "repro.json",
                         checkpoints_dir=tmp_path / "checkpoints")


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
    assert build.main(["--site", str(tmp_path), "no_such_notebook"]) == 1
    assert "unknown notebook(s): no_such_notebook" in capsys.readouterr().err


def test_kernel_shutdown_noise_is_dropped_and_everything_else_kept(capfd):
    with build.kernel_stderr():
        subprocess.run(["bash", "-c", f"echo '{build.KERNEL_NOISE}' >&2; echo 'Traceback: a real error' >&2"])
    err = capfd.readouterr().err
    assert "Traceback: a real error" in err and "KeyboardInterrupt" not in err


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
    project.checkpoints_dir.mkdir()
    (project.checkpoints_dir / "model.json").write_text('{"sha256": "0"}')
    build.run(project, "full")
    assert len(runs(project)) == 6  # a shipped checkpoint changed (its provenance records the weights' sha256)
    build.run(project, "full", force=True)
    assert len(runs(project)) == 7  # --force


def test_parallel_run_collects_reproduction_rows(project, capfd):
    write(project, {"a": notebook_source("a"), "b": notebook_source("b")},
          {"a": {"quick": {"n": 2}, "full": {}}, "b": {"quick": {}, "full": {}}})
    result = build.run(project, "quick", jobs=2)
    assert "without encryption" not in capfd.readouterr().err  # kernels over IPC: no transport warning
    rows = result.rows
    assert sorted(runs(project)) == ["a", "b"]
    assert [(r["notebook"], r["ours"], r["status"]) for r in rows] == [("a", 2.0, "reproduced"), ("b", 1.0, "differs")]
    assert json.loads(project.report_json.read_text()) == rows
    page = (project.out_dir / "reproduction.md").read_text()
    assert "{bdg-danger}`1 differs` {bdg-success}`1 reproduced`" in page and "built in **quick** mode" in page.lower()
    assert result.ran == {"a": True, "b": True} and all(s > 0 for s in result.seconds.values())
    summary = result.summary()
    assert "2 reproduction rows: 1 differs, 1 reproduced, 0 no paper value" in summary
    stamp = json.loads(build.outputs(project.out_dir, "a")[1].read_text())
    assert stamp["seconds"] == result.seconds["a"] and stamp["finished"].endswith("UTC")
    executed = json.loads((project.out_dir / "a.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0]["metadata"]["tags"]


def test_snapshot_sees_every_change_to_the_readers_build(tmp_path):
    """The comparison the slow test relies on: a rewritten, created or deleted file of book/generated or _build is
    reported (the old test command rewrote them all), the tests' own folder is not."""
    generated, site = tmp_path / "book" / "generated", tmp_path / "_build" / "test"
    generated.mkdir(parents=True)
    site.mkdir(parents=True)
    for name in ["a.ipynb", "a.stamp.json", "a.results.json"]:
        (generated / name).write_text(name)
    (tmp_path / "_build" / "reproduction.json").write_text("[]")
    before = book_site.snapshot(tmp_path, keep_out=site)
    assert len(before) == 4
    (site / "html").write_text("the tests' own build")
    assert book_site.changes(before, book_site.snapshot(tmp_path, keep_out=site)) == []
    stamp = generated / "a.stamp.json"
    stamp.write_text(stamp.read_text())  # same bytes, new mtime
    os.utime(stamp, ns=(stamp.stat().st_atime_ns, stamp.stat().st_mtime_ns + 10**9))
    (generated / "b.ipynb").write_text("new")
    (tmp_path / "_build" / "reproduction.json").unlink()
    assert book_site.changes(before, book_site.snapshot(tmp_path, keep_out=site)) == [
        "created book/generated/b.ipynb", "deleted _build/reproduction.json", "modified book/generated/a.stamp.json"]


def test_broken_links_names_missing_files_and_anchors(tmp_path):
    (tmp_path / "sub").mkdir()
    for page in ["a.html", "sub/b.html"]:
        (tmp_path / page).write_text("<html></html>")
    base = "http://127.0.0.1:8000/"
    links = {"a.html": [base + "sub/b.html#ok", base + "sub/b.html#gone", base + "missing.html", base + "sub/",
                        "https://elsewhere.invalid/page.html", base + "a.html"]}
    ids = {"a.html": set(), "sub/b.html": {"ok"}}
    assert book_site.broken_links(tmp_path, base, links, ids) == [
        "a.html: link to missing anchor sub/b.html#gone", "a.html: link to missing missing.html",
        "a.html: link to missing sub/index.html"]


BAD_PAGE = """<html><head><title>Raw \\(x\\)</title></head><body>
<nav class="bd-sidebar-primary">Guidance lowers \\(\\mathbb E\\)</nav>
<main><article class="bd-article" style="width: 600px">
<section id="s"><p>A formula left raw: $x^2$.</p><pre>print("$ in code is fine")</pre>
<pre style="overflow-x: auto">""" + "x" * 300 + """</pre>
<img src="missing.png"><img src="ok.svg"></section></article></main>
<div style="width: 3000px">too wide</div></body></html>"""


@pytest.mark.slow
def test_browser_checks_catch_each_kind_of_failure(tmp_path):
    """A page with every fault the browser test looks for is reported on each count (the checks can fail)."""
    if not book_site.CHROMIUM.exists():
        pytest.fail(f"{book_site.CHROMIUM} is missing: `bash scripts/test.sh` installs it (apt-get install -y chromium)")
    (tmp_path / "index.html").write_text(BAD_PAGE.replace("</body>", '<a href="gone.html">x</a></body>'))
    (tmp_path / "ok.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>')
    report = book_site.check_site(tmp_path, tmp_path / "shots", screenshots={"page": ("index.html", True)})
    failures = report.failures
    assert report.pages == ["index.html"] and report.screenshots["page"].stat().st_size > 0
    assert any(f.startswith("index.html: http://127.0.0.1:") and f.endswith("/missing.png") for f in failures["images"])
    assert not any("ok.svg" in f for f in failures["images"])
    assert failures["links"] == ["index.html: link to missing gone.html"]
    assert [f.split(": ", 1)[1] for f in failures["math"]] == [
        'sidebar: "Guidance lowers \\(\\mathbb E\\)"', '#s: "A formula left raw: $x^2$."', '<title>: "Raw \\(x\\)"']
    assert len(failures["wide"]) == 1 and failures["wide"][0].startswith("index.html: #s: pre ")
    assert failures["scroll"] and failures["scroll"][0].startswith("index.html: 3")


# ---- the real book, built in the tests' own folder (slow: every notebook in quick mode, then the HTML) ----------

SITE = ROOT / "_build" / "test"  # the test copy of the book; its HTML in SITE/_build/html, screenshots beside


@pytest.fixture(scope="module")
def quick_book():
    """The book built from the real notebooks (quick mode) in SITE, with the reader's build recorded around it."""
    before = book_site.snapshot(ROOT, keep_out=SITE)
    book_site.build_quick(ROOT, SITE)
    return SimpleNamespace(html=SITE / "_build" / "html", before=before, after=book_site.snapshot(ROOT, keep_out=SITE))


@pytest.mark.slow
def test_book_builds_and_leaves_the_readers_build_alone(quick_book):
    """Every notebook executes and the book builds with -W -n, in SITE; the reader's book/generated/ (executed
    notebooks, stamps, results) and _build/ (HTML, reproduction.json) keep every file, byte and mtime."""
    for page in ["index", "book/conventions", "book/generated/ch01_molrg", "book/generated/reproduction"]:
        assert (quick_book.html / f"{page}.html").exists(), page
    rows = json.loads((SITE / "_build" / "reproduction.json").read_text())
    assert rows and {r["notebook"] for r in rows} == {p.stem for p in (ROOT / "notebooks").glob("*.py")}
    assert book_site.changes(quick_book.before, quick_book.after) == []


@pytest.fixture(scope="module")
def site_report(quick_book):
    """Every page of the quick build checked in headless Chromium (Debian's chromium, driven by Playwright)."""
    if not book_site.CHROMIUM.exists():
        pytest.fail(f"{book_site.CHROMIUM} is missing: `bash scripts/test.sh` installs it "
                    "(apt-get install -y chromium)")
    return book_site.check_site(quick_book.html, SITE / "_build" / "screenshots")


def failures(report: book_site.SiteReport, check: str) -> str:
    found = report.failures[check]
    return f"{len(found)} failure(s) on {len(report.pages)} pages:\n" + "\n".join(found)


@pytest.mark.slow
def test_site_images_load(site_report):
    assert not site_report.failures["images"], failures(site_report, "images")
    assert set(site_report.screenshots) == set(book_site.SCREENSHOTS)  # landing page, a chapter, the dashboard
    assert all(path.stat().st_size > 0 for path in site_report.screenshots.values())


@pytest.mark.slow
def test_site_internal_links_resolve(site_report):
    assert site_report.internal_links > 100  # sidebar, cross-references, figure and equation links
    assert not site_report.failures["links"], failures(site_report, "links")


@pytest.mark.slow
def test_site_math_is_typeset(site_report):
    assert not site_report.failures["math"], failures(site_report, "math")


@pytest.mark.slow
def test_site_tables_and_code_fit_the_column(site_report):
    assert not site_report.failures["wide"], failures(site_report, "wide")


@pytest.mark.slow
def test_site_has_no_horizontal_scrollbar(site_report):
    assert not site_report.failures["scroll"], failures(site_report, "scroll")
