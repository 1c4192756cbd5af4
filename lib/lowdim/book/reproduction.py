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

import json
import math
import pathlib

KINDS = ("abs", "rel")
# Where a reference value comes from, and the label the summary page puts before it.
SOURCES = {"paper": "", "figure": "read from paper figure: ", "formula": "theory: ", "claim": "paper's claim: ",
           "reference": "our reference: "}
PAPER_SOURCES = ("paper", "figure")  # sources given as `paper=`; the others as `expected=`
# Status right after the values, links last: on a narrow screen the table scrolls and the right end is hidden.
COLUMNS = ("paper item", "quantity", "paper value", "our value", "tolerance", "status", "book figure", "notebook")


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


def collect(folder) -> list[dict]:
    """All rows of the `*.results.json` files in `folder`, ordered by notebook then recording order."""
    rows = []
    for path in sorted(pathlib.Path(folder).glob("*.results.json")):
        rows.extend(json.loads(path.read_text())["rows"])
    return rows


def _number(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _cell(text: str) -> str:
    """Escape a markdown table cell (a literal '|' would split the cell)."""
    return text.replace("|", r"\|").replace("\n", " ")


def _tolerance(row: dict) -> str:
    if row["tolerance"] is None:
        return "—"
    return f"{row['tolerance']:.2g}" + (" (rel.)" if row["kind"] == "rel" else "")


def markdown_table(rows: list[dict], mode: str) -> str:
    """The MyST page: one table row per recorded number, figures and notebooks as cross-references."""
    lines = [
        "# Reproduction summary", "",
        f"Every headline number the notebooks record, from the **{mode}** run of `python -m lowdim.book.build`.",
        "The paper value is the number the paper prints; a label marks any other source: *read from paper figure:*"
        " (a value read by eye off a paper figure), *theory:* (a formula), *paper's claim:* (a qualitative claim coded"
        " as a number, e.g. 1 = yes) and *our reference:* (our own reference computations, not the paper's).",
        "A row is *reproduced* when our value lies within the tolerance of it.", "",
        f":::{{table}} Recorded numbers ({mode} run)", ":widths: auto", "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        source = r.get("source") or ("paper" if r["paper"] is not None else "formula")
        reference = r["paper"] if r["paper"] is not None else r["expected"]
        paper = _number(reference) if reference is None else SOURCES[source] + _number(reference)
        figure = "—" if r["figure"] is None else f"{{numref}}`{r['figure']}`"
        status_text = r["status"] if not r["note"] else f"{r['status']} ({r['note']})"
        cells = [r["item"], r["quantity"], paper, _number(r["ours"]), _tolerance(r), status_text, figure,
                 f"{{doc}}`{r['notebook']} <{r['notebook']}>`"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not rows:
        lines.append("| " + " | ".join("—" for _ in COLUMNS) + " |")
    return "\n".join(lines + [":::"]) + "\n"


def write_report(rows: list[dict], json_path, md_path, mode: str) -> None:
    """Write the rows to `json_path` (a JSON list) and the summary page to `md_path`."""
    for path in (pathlib.Path(json_path), pathlib.Path(md_path)):
        path.parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(json_path).write_text(json.dumps(rows, indent=2) + "\n")
    pathlib.Path(md_path).write_text(markdown_table(rows, mode))
