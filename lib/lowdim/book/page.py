"""What a chapter shows a reader around its science: the run card at the top, the key figure, the summary.

A notebook uses it as::

    chapter = Chapter("ch01_molrg", globals(), arxiv=["2502.05743v3"])   # right after the parameters
    chapter.header()          # parameters and seeds of this run, rerun commands, paper version, runtime
    ...
    chapter.save_key_figure(fig)   # the figure the landing page shows for this paper (one chapter per paper)
    ...
    chapter.finish(rec)       # glues the runtime and writes the landing page's summary of the recorded rows

Everything shown is computed: the parameters come from the notebook's `parameters` cell (names and the comment
after each one) with the values of this run, the mode from notebooks/parameters.yaml, the runtime from the clock.
"""

from __future__ import annotations

import ast
import io
import pathlib
import time
import tokenize
from collections import Counter

import jupytext
import yaml
from IPython.display import Markdown, display

ROOT = pathlib.Path(__file__).resolve().parents[3]  # repository root (lib/lowdim/book/page.py)
BUILD = "python -m lowdim.book.build"
STATUS_ORDER = ("reproduced", "differs", "no paper value")


def parameter_cell(source: pathlib.Path) -> list[tuple[str, str]]:
    """[(name, comment)] of the top-level assignments in the cell tagged `parameters` of a jupytext notebook."""
    cells = [c for c in jupytext.read(source).cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{source} needs exactly one cell tagged 'parameters', found {len(cells)}")
    text = cells[0].source
    comments = {tok.start[0]: tok.string.lstrip("# ").strip()
                for tok in tokenize.generate_tokens(io.StringIO(text).readline) if tok.type == tokenize.COMMENT}
    names = []
    for stmt in ast.parse(text).body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
                if isinstance(target, ast.Name):
                    names.append((target.id, comments.get(stmt.lineno, "")))
    return names


def run_mode(name: str, values: dict, table_path: pathlib.Path) -> str:
    """'quick' or 'full' when `values` match that entry of the parameter table, else 'custom'."""
    entry = (yaml.safe_load(table_path.read_text()) or {}).get(name, {})
    for mode in ("quick", "full"):
        if all(values.get(k) == v for k, v in (entry.get(mode) or {}).items()):
            return mode
    return "custom"


def _code(value) -> str:
    text = repr(value) if not isinstance(value, float) else f"{value:g}"
    return "`" + text.replace("`", "'") + "`"


def _cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def _plain(text: str) -> str:
    """`text` as literal MyST: markup characters (emphasis, math, roles, links) escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]<>$|~#" else ch for ch in text.replace("\n", " "))


def status_counts(rows: list[dict]) -> Counter:
    """Number of rows per status."""
    return Counter(r["status"] for r in rows)


def summary_markdown(name: str, rows: list[dict]) -> str:
    """MyST lines for the landing page: the chapter link, its counts by status and the rows that differ."""
    counts = status_counts(rows)
    parts = [f"{counts[s]} {s}" for s in (*STATUS_ORDER, *sorted(set(counts) - set(STATUS_ORDER))) if counts[s]]
    lines = [f"- {{doc}}`/book/generated/{name}`: {len(rows)} recorded numbers, " + ", ".join(parts) + "."]
    for r in rows:
        if r["status"] == "differs":
            lines.append(f"  - *differs*: {_plain(r['item'])}, {_plain(r['quantity'])}"
                         + (f" ({_plain(r['note'])})" if r["note"] else ""))
    return "\n".join(lines) + "\n"


class Chapter:
    """The reader-facing frame of one chapter notebook (`name` = its file stem)."""

    def __init__(self, name: str, namespace: dict, arxiv: list[str], root: pathlib.Path = ROOT):
        source = root / "notebooks" / f"{name}.py"
        if not source.is_file():
            raise ValueError(f"name must be a notebook stem with a source in {root / 'notebooks'}, got {name!r}")
        if not arxiv:
            raise ValueError("arxiv must list at least one arXiv identifier with its version, e.g. '2502.05743v3'")
        self.name, self.arxiv, self.started = name, list(arxiv), time.perf_counter()
        self.parameters = parameter_cell(source)
        missing = [p for p, _ in self.parameters if p not in namespace]
        if missing:
            raise ValueError(f"namespace lacks the parameter(s) {', '.join(missing)}; pass the notebook's globals()")
        self.values = {p: namespace[p] for p, _ in self.parameters}
        self.mode = run_mode(name, self.values, root / "notebooks" / "parameters.yaml")

    def header_markdown(self) -> str:
        """The run card: paper versions, mode, seeds, rerun commands, runtime (glued by `finish`), parameters."""
        seeds = [p for p, _ in self.parameters if p == "seed" or p.endswith("_seed")]
        papers = ", ".join(f"[arXiv {a}](https://arxiv.org/abs/{a})" for a in self.arxiv)
        lines = [
            "::::{admonition} This run",
            ":class: tip run-card",
            "",
            f"- **Follows** {papers}.",
            f"- **Mode** *{self.mode}*"
            + {"quick": " (small sizes for a fast check; the published book uses *full*, the paper's sizes)",
               "full": " (the paper's sizes)", "custom": " (parameters differ from both sets of the table)"}[self.mode]
            + "; the notebook ran in {glue:text}`chapter-runtime` s.",
            "- **Seeds** " + (", ".join(f"`{p} = {self.values[p]}`" for p in seeds) or "none") + ".",
            f"- **Rerun** after `source scripts/env.sh`: `{BUILD} --mode quick {self.name}` (quick) or "
            f"`{BUILD} --mode full {self.name}` (full), then `jupyter-book build -W -n --keep-going .`. "
            f"Source: `notebooks/{self.name}.py`; sizes: `notebooks/parameters.yaml`.",
            "",
            f":::{{admonition}} All {len(self.parameters)} parameters of this run",
            ":class: dropdown",
            "",
            "| parameter | value | meaning |",
            "|---|---|---|",
        ]
        lines += [f"| `{p}` | {_cell(_code(self.values[p]))} | {_cell(comment)} |" for p, comment in self.parameters]
        return "\n".join(lines + [":::", "::::"]) + "\n"

    def header(self) -> None:
        """Display the run card (the cell that calls it is tagged remove-input)."""
        display(Markdown(self.header_markdown()))

    def save_key_figure(self, fig) -> pathlib.Path:
        """Save `fig` as ./<name>.key.png (the working directory is the generated folder) for the landing page."""
        path = pathlib.Path.cwd() / f"{self.name}.key.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        return path

    def finish(self, rec) -> pathlib.Path:
        """Glue this run's runtime (seconds) and write ./<name>.summary.txt, the landing page's lines for `rec`."""
        from myst_nb import glue

        if rec.notebook != self.name:
            raise ValueError(f"rec belongs to notebook {rec.notebook!r}, not {self.name!r}")
        glue("chapter-runtime", f"{time.perf_counter() - self.started:.0f}", display=False)
        path = pathlib.Path.cwd() / f"{self.name}.summary.txt"
        path.write_text(summary_markdown(self.name, rec.rows))
        return path

