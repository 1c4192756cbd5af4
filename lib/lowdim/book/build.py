"""Execute the book's notebooks with papermill and summarise their reproduction rows.

    python -m lowdim.book.build [--mode quick|full] [--jobs N] [--site DIR] [--force] [names...]

Sources are the jupytext (py:percent) files notebooks/*.py; their papermill parameters per mode live in
notebooks/parameters.yaml (`<stem>: {quick: {...}, full: {...}}`). Executed notebooks go to
<site>/book/generated/ (the notebooks' working directory; <site> is the repository root unless --site names
another book folder, as the tests do) with a `<stem>.stamp.json` beside each: a notebook is re-executed only when
its source, its parameters, the mode, lib/lowdim/**.py, requirements.txt or a shipped checkpoint (its provenance
JSON in data/checkpoints/, which records the weights' sha256) changed. Afterwards every notebook's
`<stem>.results.json` is collected into <site>/_build/reproduction.json and the dashboard page
<site>/book/generated/reproduction.md. Prints one progress bar, then a summary (seconds per notebook, rows by
status).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import sys
import tempfile
import time

import jupytext
import nbformat
import papermill
import traitlets.config
import yaml
from tqdm import tqdm

from lowdim.book import reproduction

MODES = ("quick", "full")


class BuildError(Exception):
    """A problem with a notebook, its parameters or its execution; the message names the notebook."""


@dataclasses.dataclass(frozen=True)
class Project:
    """Where the driver reads sources and writes outputs (tests point these at a temporary folder)."""

    notebooks_dir: pathlib.Path
    table_path: pathlib.Path
    out_dir: pathlib.Path
    lib_dir: pathlib.Path
    requirements: pathlib.Path
    report_json: pathlib.Path
    checkpoints_dir: pathlib.Path  # shipped weights; their provenance JSON files are part of every stamp

    @classmethod
    def from_root(cls, root: pathlib.Path, site: pathlib.Path | None = None) -> Project:
        """Sources of the repository at `root`; outputs in the book folder `site` (default: `root` itself).

        The tests pass a folder of their own as `site`, so that they never touch the reader's build.
        """
        site = site or root
        return cls(notebooks_dir=root / "notebooks", table_path=root / "notebooks" / "parameters.yaml",
                   out_dir=site / "book" / "generated", lib_dir=root / "lib" / "lowdim",
                   requirements=root / "requirements.txt", report_json=site / "_build" / "reproduction.json",
                   checkpoints_dir=root / "data" / "checkpoints")


def load_parameters(table_path: pathlib.Path, notebooks_dir: pathlib.Path, mode: str) -> dict[str, dict]:
    """{stem: parameters for `mode`}; every notebook needs an entry and every entry a notebook."""
    if mode not in MODES:
        raise BuildError(f"mode must be one of {MODES}, got {mode!r}")
    if not table_path.is_file():
        raise BuildError(f"parameter table {table_path} not found")
    table = yaml.safe_load(table_path.read_text()) or {}
    stems = {p.stem for p in notebooks_dir.glob("*.py")}
    if missing := sorted(stems - set(table)):
        raise BuildError(f"{table_path}: no entry for notebook(s) {', '.join(missing)}")
    if orphans := sorted(set(table) - stems):
        raise BuildError(f"{table_path}: entry without a notebook in {notebooks_dir}: {', '.join(orphans)}")
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != set(MODES) or not all(
                isinstance(entry[m] or {}, dict) for m in MODES):
            raise BuildError(f"{table_path}: entry {name!r} must be {{quick: {{...}}, full: {{...}}}}, got {entry!r}")
    return {name: dict(table[name][mode] or {}) for name in sorted(table)}


def declared_parameters(nb: nbformat.NotebookNode, name: str) -> set[str]:
    """Names assigned at top level in the cell tagged `parameters` (BuildError if there is none)."""
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise BuildError(f"notebook {name}: needs exactly one cell tagged 'parameters', found {len(cells)}")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as err:
        raise BuildError(f"notebook {name}: parameters cell is not plain Python: {err}") from None
    targets = [t for s in tree.body if isinstance(s, (ast.Assign, ast.AnnAssign))
               for t in (s.targets if isinstance(s, ast.Assign) else [s.target])]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def check_parameters(nb: nbformat.NotebookNode, name: str, parameters: dict) -> None:
    """BuildError naming the notebook and parameter when the table sets one the notebook does not declare."""
    if unknown := sorted(set(parameters) - declared_parameters(nb, name)):
        raise BuildError(f"notebook {name}: parameter(s) {', '.join(unknown)} from the parameter table are not "
                         "declared in its 'parameters' cell")


def stamp_digest(source: pathlib.Path, parameters: dict, mode: str, lib_dir: pathlib.Path,
                 requirements: pathlib.Path, checkpoints_dir: pathlib.Path) -> str:
    """Hash of everything an executed notebook depends on: source, parameters, mode, requirements, the library and the
    shipped checkpoints' provenance files (checkpoints_dir/**/*.json, each holding its weights' sha256)."""
    h = hashlib.sha256()
    h.update(json.dumps({"mode": mode, "parameters": parameters}, sort_keys=True).encode())
    for path in [source, requirements, *sorted(lib_dir.rglob("*.py")), *sorted(checkpoints_dir.rglob("*.json"))]:
        h.update(str(path.relative_to(lib_dir) if path.is_relative_to(lib_dir) else path.name).encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def outputs(out_dir: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """(executed notebook, stamp, results) paths of notebook `name`."""
    return out_dir / f"{name}.ipynb", out_dir / f"{name}.stamp.json", out_dir / f"{name}.results.json"


def is_fresh(out_dir: pathlib.Path, name: str, digest: str) -> bool:
    """True when all outputs exist and the stamp matches `digest`."""
    executed, stamp, results = outputs(out_dir, name)
    return (executed.exists() and results.exists() and stamp.exists()
            and json.loads(stamp.read_text()).get("hash") == digest)


def source_cell_number(executed: pathlib.Path, cell_index: int) -> int:
    """1-based position in the source notebook of the cell papermill reports as failed (`cell_index`).

    The index counts papermill's injected-parameters cell but not the error banners it adds when writing.
    """
    cells = [c for c in nbformat.read(executed, as_version=4).cells
             if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    return 1 + sum("injected-parameters" not in c.metadata.get("tags", []) for c in cells[:cell_index])


def kernel_config(socket_dir: str) -> traitlets.config.Config:
    """Kernel sockets as local IPC files `socket_dir`/kernel-N instead of TCP ports on 127.0.0.1.

    Nothing leaves the machine, and ipykernel no longer warns once per notebook that it "is running over TCP
    without encryption". Each kernel needs its own folder: the default IPC path is relative to the working
    directory, which all notebooks share (two kernels then read each other's messages).
    """
    return traitlets.config.Config({"KernelManager": {"transport": "ipc", "ip": f"{socket_dir}/kernel"}})


# The one line a kernel prints that is not about its notebook: jupyter_client interrupts a finished kernel before
# shutting it down, and ipykernel sometimes logs that interrupt as an error.
KERNEL_NOISE = "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel."


@contextlib.contextmanager
def kernel_stderr():
    """Route file descriptor 2 of this process (inherited by the kernel it starts) through a temporary file, then
    forward every line except KERNEL_NOISE to the real stderr. For the driver's worker processes only."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            lines = log.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if line.strip() != KERNEL_NOISE))
            sys.stderr.flush()


def execute(nb: nbformat.NotebookNode, name: str, parameters: dict, out_dir: pathlib.Path, stamp_data: dict) -> float:
    """Run one notebook with papermill in `out_dir`; write its stamp (`stamp_data` + seconds) only after success.

    Returns the execution time in seconds.
    """
    executed, stamp, results = outputs(out_dir, name)
    stamp.unlink(missing_ok=True)
    results.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="lowdim-kernel-") as socket_dir, kernel_stderr():
            papermill.execute_notebook(nb, str(executed), parameters=parameters, cwd=str(out_dir),
                                       kernel_name="python3", language="python", progress_bar=False,
                                       config=kernel_config(socket_dir))
    except papermill.PapermillExecutionError as err:
        first_line = (err.source.strip().splitlines() or [""])[0]
        raise BuildError(f"notebook {name} failed in cell {source_cell_number(executed, err.cell_index)} "
                         f"(execution count {err.exec_count}): {err.ename}: {err.evalue}\n"
                         f"  the cell starts: {first_line}\n  executed notebook kept at {executed}") from None
    except Exception as err:  # kernel death, timeouts: still name the notebook
        raise BuildError(f"notebook {name} failed: {type(err).__name__}: {err}") from None
    out = nbformat.read(executed, as_version=4)
    for cell in out.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(out, executed)
    if not results.exists():
        raise BuildError(f"notebook {name} ran but wrote no {results.name} (call Reproduction(...).save())")
    seconds = round(time.perf_counter() - start, 1)
    finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    stamp.write_text(json.dumps({**stamp_data, "seconds": seconds, "finished": finished}, indent=2) + "\n")
    return seconds


@dataclasses.dataclass(frozen=True)
class Result:
    """What one build did: per notebook (in table order) whether it ran and its seconds, and all rows."""

    mode: str
    ran: dict[str, bool]
    seconds: dict[str, float | None]
    rows: list[dict]
    report_json: pathlib.Path

    def summary(self) -> str:
        """Plain-text summary: one line per notebook, then the rows by status and where they were written."""
        width = max(map(len, self.ran), default=8)
        lines = [f"{'notebook':<{width}}  seconds  ({self.mode} mode)"]
        for name, ran in self.ran.items():
            seconds = "?" if self.seconds[name] is None else f"{self.seconds[name]:.1f}"
            lines.append(f"{name:<{width}}  {seconds:>7}  {'ran' if ran else 'up to date, time of its last run'}")
        counts = reproduction.status_counts(self.rows)
        lines.append(f"{len(self.rows)} reproduction rows: "
                     + ", ".join(f"{n} {status}" for status, n in counts.items()) + f" -> {self.report_json}")
        return "\n".join(lines)


def run(project: Project, mode: str, jobs: int | None = None, force: bool = False,
        names: list[str] | None = None) -> Result:
    """Execute the stale (or, with `force`, all) selected notebooks, then write the reproduction report.

    Stops at the first failing notebook (pending ones are cancelled) with a BuildError. Shows one tqdm bar over the
    selected notebooks (on stderr) while any runs. Returns the Result (per-notebook seconds and all rows).
    """
    if jobs is not None and jobs < 1:
        raise BuildError(f"jobs must be >= 1, got {jobs}")
    table = load_parameters(project.table_path, project.notebooks_dir, mode)
    if unknown := sorted(set(names or []) - set(table)):
        raise BuildError(f"unknown notebook(s): {', '.join(unknown)}; known: {', '.join(table)}")
    project.out_dir.mkdir(parents=True, exist_ok=True)
    todo, seconds = {}, {}
    selected = [name for name in table if name in (names or table)]
    for name in selected:
        source = project.notebooks_dir / f"{name}.py"
        nb = jupytext.read(source)
        check_parameters(nb, name, table[name])
        digest = stamp_digest(source, table[name], mode, project.lib_dir, project.requirements,
                              project.checkpoints_dir)
        if force or not is_fresh(project.out_dir, name, digest):
            todo[name] = (nb, {"hash": digest, "mode": mode, "parameters": table[name]})
        else:
            seconds[name] = json.loads(outputs(project.out_dir, name)[1].read_text()).get("seconds")
    # Inherited by the kernels papermill starts. MPLBACKEND=Agg would drop every figure from the notebooks
    # (plt.show() draws nothing), so the inline backend is set explicitly instead.
    os.environ.update(PYTHONHASHSEED="0", MPLBACKEND="module://matplotlib_inline.backend_inline")
    # Notebooks run side by side (one per core) on tensors of a few thousand numbers: one intra-op thread each;
    # two threads per kernel on 2 shared cores made small ops ~100x slower (measured, ch04).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workers = max(1, min(len(todo), jobs or os.cpu_count() or 1))
    bar = tqdm(total=len(selected), initial=len(selected) - len(todo), unit="notebook", desc=f"notebooks ({mode})",
               disable=not todo, dynamic_ncols=True)
    # One process per notebook, not threads: papermill's `cwd` is an os.chdir of the whole process, so with threads
    # one notebook finishing moved the next kernel's working directory (its results.json landed in the wrong place).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool, bar:
        futures = {pool.submit(execute, nb, name, table[name], project.out_dir, stamp_data): name
                   for name, (nb, stamp_data) in todo.items()}
        for future in concurrent.futures.as_completed(futures):
            if future.exception() is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise future.exception()
            seconds[futures[future]] = future.result()
            bar.set_postfix_str(f"{futures[future]} {future.result():.0f} s", refresh=False)
            bar.update()
    rows = [r for r in reproduction.collect(project.out_dir) if r["notebook"] in table]
    runs = {name: json.loads(stamp.read_text()) for name in table
            if (stamp := outputs(project.out_dir, name)[1]).exists()}
    reproduction.write_report(rows, project.report_json, project.out_dir / "reproduction.md", runs)
    return Result(mode=mode, ran={name: name in todo for name in selected},
                  seconds={name: seconds.get(name) for name in selected}, rows=rows, report_json=project.report_json)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    root = pathlib.Path(__file__).resolve().parents[3]
    parser = argparse.ArgumentParser(prog="python -m lowdim.book.build", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="full", help="parameter set from notebooks/parameters.yaml")
    parser.add_argument("--jobs", type=int, default=None,
                        help="notebooks run in parallel (default: min(#notebooks, #cpus))")
    parser.add_argument("--site", type=pathlib.Path, default=None,
                        help="book folder for the outputs: DIR/book/generated and DIR/_build/reproduction.json "
                             "(default: the repository root)")
    parser.add_argument("--force", action="store_true", help="re-execute even when the stamp is up to date")
    parser.add_argument("names", nargs="*", help="notebook stems to run (default: all)")
    args = parser.parse_args(argv)
    project = Project.from_root(root, args.site and args.site.resolve())
    try:
        result = run(project, args.mode, args.jobs, args.force, args.names)
    except BuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
