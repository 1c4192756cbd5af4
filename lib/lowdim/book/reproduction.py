"""Record a notebook's headline numbers next to the papers' values, and summarise them for the book.

A notebook records its rows and saves them into its working directory (the build driver runs notebooks with
cwd = the generated folder)::

    rec = Reproduction(notebook="ch01_molrg")
    rec.add(item="Prop. 1", figure="fig-tweedie", quantity="max |Tweedie residual|",
            ours=err, expected=0.0, tolerance=1e-10)
    rec.save()                                   # -> ./ch01_molrg.results.json

Status of a row: compared with `paper` when the paper reports a value, else with `expected` when one is given,
else "no paper value". `source` says where the reference value comes from, and the summary page labels it:
"paper" (printed in the paper's text or tables), "figure" (read by eye from a paper figure), "formula" (derived
from a formula: *theory*), "claim" (the paper's qualitative claim coded as a number, e.g. 1 = unimodal) and
"reference" (our own reference computations, not the paper's). "reproduced" means |ours - reference| <= tolerance
(kind="abs") or <= tolerance * |reference| (kind="rel"); otherwise "differs".
"""

from __future__ import annotations

import collections
import json
import math
import pathlib
import re

__all__ = ["KINDS", "STATUSES", "SOURCES", "PAPER_SOURCES", "PARTS", "STYLE", "status", "Reproduction", "collect", "chapter_number", "part_of",
           "status_counts", "dashboard", "write_report"]

KINDS = ("abs", "rel")
# Where a reference value comes from, and the name the dashboard puts after it.
SOURCES = {"paper": "paper", "figure": "read from a paper figure", "formula": "theory", "claim": "paper's claim",
           "reference": "our reference"}
PAPER_SOURCES = ("paper", "figure")  # sources given as `paper=`; the others as `expected=`
# Every status a row can have, in the order the dashboard lists them, with its sphinx-design badge colour.
STATUSES = {"differs": "danger", "reproduced": "success", "no paper value": "muted"}
# What each chapter reproduces, by chapter number (the digits after "ch" in the notebook's stem). The dashboard
# groups rows by these parts (the first part whose chapters hold the number wins); this is the only place that
# maps chapters to papers.
PARTS = (
    ("Paper 1", "Li et al., representation dynamics of diffusion models (arXiv 2502.05743)", (1, 2, 3, 8, 10)),
    ("Paper 2", "Li and Yan, a score-based density formula (arXiv 2408.16765)", (4, 5, 11)),
    ("Paper 3", "Li and Jiao, provable efficiency of guidance (arXiv 2505.01382)", (6, 7, 9)),
    ("Real images", "the papers' claims on real images", range(8, 100)),  # any later real-image chapter
)


def _finite(name: str, value) -> float:
    """`value` as a float, or ValueError naming `name` when it is not a finite real number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def status(ours: float, reference: float | None, tolerance: float | None, kind: str) -> str:
    """'reproduced' / 'differs' against `reference`, or 'no paper value' when there is none."""
    if reference is None:
        return "no paper value"
    bound = tolerance if kind == "abs" else tolerance * abs(reference)
    return "reproduced" if abs(ours - reference) <= bound else "differs"


class Reproduction:
    """The rows one notebook records; `save()` writes them to `<notebook>.results.json`."""

    def __init__(self, notebook: str):
        if not isinstance(notebook, str) or not notebook.strip():
            raise ValueError(f"notebook must be a non-empty string (the notebook's file stem), got {notebook!r}")
        self.notebook = notebook
        self.rows: list[dict] = []

    def add(self, *, item: str, figure: str | None, quantity: str, ours, paper=None, expected=None,
            tolerance=None, kind: str = "abs", note: str = "", source: str | None = None) -> dict:
        """Record one number and return its row.

        item: the paper's label ("Prop. 1", "Fig. 3", "Table 2"); figure: the book figure's label
        (e.g. "fig-tweedie", rendered as a link) or None; quantity: what was measured; ours: our value;
        paper: the paper's value, or expected: a theoretical value (at most one of them); tolerance (>= 0)
        and kind ("abs" or "rel"): the reproduction criterion, required when a reference value is given;
        source: where the reference comes from (a key of SOURCES): "paper" (default with paper=) or "figure" for
        paper=, "formula" (default with expected=), "claim" or "reference" for expected=.
        """
        for name, text in (("item", item), ("quantity", quantity)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{name} must be a non-empty string, got {text!r}")
        if figure is not None and (not isinstance(figure, str) or not figure.strip()):
            raise ValueError(f"figure must be a figure label (non-empty string) or None, got {figure!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if paper is not None and expected is not None:
            raise ValueError("give either paper (the paper's value) or expected (a theoretical value), not both")
        ours = _finite("ours", ours)
        paper = None if paper is None else _finite("paper", paper)
        expected = None if expected is None else _finite("expected", expected)
        reference = paper if paper is not None else expected
        if source is None:
            source = "paper" if paper is not None else ("formula" if expected is not None else None)
        elif source not in SOURCES:
            raise ValueError(f"source must be one of {tuple(SOURCES)}, got {source!r}")
        elif reference is None:
            raise ValueError("source needs a reference value (paper or expected)")
        elif (source in PAPER_SOURCES) != (paper is not None):
            raise ValueError(f"source {source!r} goes with {'paper' if source in PAPER_SOURCES else 'expected'}=, "
                             f"not {'paper' if paper is not None else 'expected'}=")
        if tolerance is not None:
            tolerance = _finite("tolerance", tolerance)
            if tolerance < 0:
                raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
        elif reference is not None:
            raise ValueError("tolerance is required when paper or expected is given")
        if kind == "rel" and reference == 0.0:
            raise ValueError("kind='rel' needs a nonzero paper/expected value; use kind='abs'")
        if any(r["item"] == item and r["quantity"] == quantity for r in self.rows):
            raise ValueError(f"row (item={item!r}, quantity={quantity!r}) was already added")
        row = dict(item=item, figure=figure, notebook=self.notebook, quantity=quantity, paper=paper,
                   expected=expected, source=source, ours=ours, tolerance=tolerance, kind=kind,
                   status=status(ours, reference, tolerance, kind), note=note)
        self.rows.append(row)
        return row

    def save(self) -> pathlib.Path:
        """Write the rows to `<notebook>.results.json` in the current working directory; return its path."""
        path = pathlib.Path.cwd() / f"{self.notebook}.results.json"
        path.write_text(json.dumps({"notebook": self.notebook, "rows": self.rows}, indent=2) + "\n")
        return path


def chapter_number(notebook: str) -> int | None:
    """The chapter number of a notebook stem "chNN_..." (None for any other name)."""
    match = re.match(r"ch(\d+)", notebook)
    return int(match.group(1)) if match else None


def part_of(notebook: str) -> tuple[str, str]:
    """(short name, description) of the part of PARTS that notebook's chapter belongs to."""
    number = chapter_number(notebook)
    for name, description, chapters in PARTS:
        if number in chapters:
            return name, description
    return "Other", "notebooks outside the numbered chapters"


def status_counts(rows: list[dict]) -> dict[str, int]:
    """{status: number of rows} for every status in STATUSES order (zeros included)."""
    counts = collections.Counter(r["status"] for r in rows)
    if unknown := sorted(set(counts) - set(STATUSES)):
        raise ValueError(f"row status must be one of {tuple(STATUSES)}, got {unknown}")
    return {status: counts[status] for status in STATUSES}


def collect(folder) -> list[dict]:
    """All rows of the `*.results.json` files in `folder`, ordered by notebook then recording order."""
    rows = []
    for path in sorted(pathlib.Path(folder).glob("*.results.json")):
        rows.extend(json.loads(path.read_text())["rows"])
    return rows


# ---- the dashboard page (MyST markdown for Jupyter Book 1 with sphinx-design) ----------------------------------

_MATH = re.compile(r"(\$[^$\n]+\$)")
_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|#$~])")


def _text(text: str) -> str:
    """Row text as MyST inline markup: $...$ stays math, every other markdown character is escaped."""
    parts = _MATH.split(" ".join(str(text).split()))
    return "".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


# Compact cells, and the column widths of `:widths:` honoured (fixed layout), so that the tables fit the column.
STYLE = """<style>
table.reproduction-rows { table-layout: fixed; width: 100%; font-size: 0.9em; }
table.reproduction-rows td, table.reproduction-counts td { padding: 0.3rem 0.4rem; }
table.reproduction-rows td:first-child { overflow-wrap: break-word; }
table.reproduction-rows td p, table.reproduction-counts td p { margin: 0 0 0.15rem 0; }
table.reproduction-rows .sd-badge { white-space: normal; }
</style>"""


def _number(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _tolerance(row: dict) -> str:
    if row["tolerance"] is None:
        return "—"
    return f"{row['tolerance']:.2g}" + (" rel." if row["kind"] == "rel" else "")


def _reference(row: dict) -> str:
    """The value a row is compared with and where it comes from ("paper", or the row's source / "expected")."""
    reference = row["paper"] if row["paper"] is not None else row["expected"]
    if reference is None:
        return "—"
    source = row.get("source") or ("paper" if row["paper"] is not None else "formula")
    return f"{_number(reference)} ({SOURCES[source]})"


def _badge(status: str, count: int | None = None) -> str:
    label = status if count is None else f"{count} {status}"
    return f"{{bdg-{STATUSES[status]}}}`{label}`"


def _links(row: dict) -> str:
    figure = f"{{numref}}`{row['figure']}` · " if row["figure"] else ""
    return figure + f"{{doc}}`{row['notebook']} <{row['notebook']}>`"


def _row(cells: list[list[str]]) -> list[str]:
    """One list-table row; each cell is a list of paragraphs."""
    out = []
    for i, paragraphs in enumerate(cells):
        out.append(("* - " if i == 0 else "  - ") + paragraphs[0])
        for paragraph in paragraphs[1:]:
            out += ["", f"    {paragraph}"]
    return out


def _when(runs: dict[str, dict]) -> str:
    """"full mode, notebooks last executed 2026-11-30 06:40 UTC" from the per-notebook stamps."""
    modes = collections.defaultdict(list)
    for notebook, run in sorted(runs.items()):
        modes[run.get("mode", "unknown")].append(notebook)
    if len(modes) <= 1:
        mode = f"**{next(iter(modes), 'unknown')}** mode"
    else:
        mode = "mixed modes: " + "; ".join(f"**{m}** ({', '.join(nbs)})" for m, nbs in sorted(modes.items()))
    finished = sorted(run["finished"] for run in runs.values() if run.get("finished"))
    return mode + (f", notebooks last executed {finished[-1]}" if finished else "")


def dashboard(rows: list[dict], runs: dict[str, dict]) -> str:
    """The reproduction dashboard (MyST markdown) for `rows`; `runs`: {notebook: {"mode", "finished"}}.

    Counts by status and by part at the top, then every row that differs with its reason, then one table per
    chapter grouped by part. Each row shows its reference value (paper or expected), ours, the tolerance, a
    status badge, and in the first column its note (a second, smaller line) and the link to its figure; the
    chapter's notebook is linked above its table.
    """
    parts = {}  # {part: {notebook: [rows]}}, in PARTS then chapter order
    for row in sorted(rows, key=lambda r: (chapter_number(r["notebook"]) or 10**6, r["notebook"])):
        parts.setdefault(part_of(row["notebook"]), {}).setdefault(row["notebook"], []).append(row)
    totals = status_counts(rows)
    lines = [
        "# Reproduction dashboard", "", STYLE, "",
        " ".join(_badge(s, n) for s, n in totals.items()) + f" of **{len(rows)}** recorded numbers", "",
        f"Built in {_when(runs)}. Everything on this page is generated from the rows the notebooks recorded in "
        "that build (`_build/reproduction.json`); only the papers' values and the reasons are typed by hand, in "
        "the notebooks. A row is *reproduced* when our value lies within the tolerance of its reference, whose source "
        "follows it in brackets: *paper* (the number the paper prints), *read from a paper figure* (by eye), "
        "*theory* (a formula), *paper's claim* (a qualitative claim coded as a number, e.g. 1 = yes) or *our "
        "reference* (our own reference computation, not the paper's).", "",
        "```{list-table} Rows by part and status", ":header-rows: 1", ":class: reproduction-counts", "",
        *_row([["part"], *[[s] for s in STATUSES], ["total"]]),
    ]
    for (name, description), notebooks in parts.items():
        part_rows = [r for nb_rows in notebooks.values() for r in nb_rows]
        lines += _row([[name], *[[str(n)] for n in status_counts(part_rows).values()], [str(len(part_rows))]])
    lines += [*_row([["all"], *[[str(n)] for n in totals.values()], [str(len(rows))]]), "```", ""]

    differs = [r for nb_rows in (nbs for p in parts.values() for nbs in p.values()) for r in nb_rows
               if r["status"] == "differs"]
    lines += [f"## What differs ({len(differs)})", ""]
    if not differs:
        lines += ["No recorded number differs from its reference.", ""]
    for r in differs:
        lines += [f"- {_badge('differs')} **{_text(r['item'])}**: {_text(r['quantity'])}", "",
                  f"  ours {_number(r['ours'])}, reference {_reference(r)}, tolerance {_tolerance(r)}; "
                  f"{_links(r)}", ""]
        lines += [f"  *Reason:* {_text(r['note'])}" if r["note"] else "  *Reason:* none recorded", ""]

    for (name, description), notebooks in parts.items():
        lines += [f"## {name}: {_text(description)}", ""]
        for notebook, nb_rows in notebooks.items():
            number = chapter_number(notebook)
            counts = ", ".join(f"{n} {s}" for s, n in status_counts(nb_rows).items() if n)
            lines += [f"### {'Chapter ' + str(number) if number is not None else notebook}", "",
                      f"Notebook {{doc}}`{notebook} <{notebook}>`: {counts}.", "",
                      "```{list-table}", ":header-rows: 1", ":widths: 44 16 13 11 16",
                      ":class: reproduction-rows", "",
                      *_row([["item, quantity, figure"], ["reference"], ["ours"], ["tol."], ["status"]])]
            for r in nb_rows:
                second = " ".join(([f"{{numref}}`{r['figure']}`"] if r["figure"] else [])
                                  + ([f"<small>{_text(r['note'])}</small>"] if r["note"] else []))
                lines += _row([[f"**{_text(r['item'])}**: {_text(r['quantity'])}", *([second] if second else [])],
                               [_reference(r)], [_number(r["ours"])], [_tolerance(r)], [_badge(r["status"])]])
            lines += ["```", ""]
    return "\n".join(lines)


def write_report(rows: list[dict], json_path, md_path, runs: dict[str, dict]) -> None:
    """Write the rows to `json_path` (a JSON list) and the dashboard page to `md_path`.

    A file whose content is unchanged is left alone, so that a no-change rebuild re-renders no page.
    """
    for path, text in ((json_path, json.dumps(rows, indent=2) + "\n"), (md_path, dashboard(rows, runs))):
        path = pathlib.Path(path)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
