"""One figure style for the whole book; every notebook calls `use_book_style()` once, before its first figure.

Sizes are chosen for the book's content column (figures at most 676 CSS px wide at a 1300 px window): figures are drawn at
`DPI` with fonts of `FONT_PT` points, so a figure of width w inches shows its tick labels at
FONT_PT * DPI / 72 * min(1, COLUMN_PX / (w * DPI)) CSS px, at least 9 px for w <= MAX_WIDTH_IN (10.4 in). Wider layouts
are split or stacked in the notebooks; a click on a figure opens it at full size (book/_static/figures.js).
"""

from __future__ import annotations

import re

import matplotlib as mpl
import pandas as pd
import seaborn as sns
from pandas.io.formats.style import Styler

DPI = 100  # figure.dpi of the notebook PNGs (1 inch = 100 CSS px before the column scales it down)
COLUMN_PX = 676  # widest figure in the content column at a 1300 px window (measured in Chromium)
FONT_PT = 10  # tick labels; axis labels and titles are one point larger
MAX_WIDTH_IN = COLUMN_PX * FONT_PT / (72 * 9)  # widest figure whose tick labels stay >= 9 px


def use_book_style() -> None:
    """Set the seaborn/matplotlib style of every figure in the book (whitegrid, 'deep' palette, fixed sizes)."""
    sns.set_theme(style="whitegrid", context="notebook", palette="deep", rc={
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "figure.figsize": (6.4, 3.8),
        "font.size": FONT_PT,
        "axes.titlesize": FONT_PT + 1,
        "axes.labelsize": FONT_PT + 1,
        "xtick.labelsize": FONT_PT,
        "ytick.labelsize": FONT_PT,
        "legend.fontsize": FONT_PT - 0.5,
        "legend.title_fontsize": FONT_PT,
        "lines.linewidth": 1.6,
        "figure.constrained_layout.use": False,
    })
    mpl.rcParams["axes.formatter.use_mathtext"] = True
    pd.set_option("styler.format.precision", 4)
    _register_outputs()


def table_html(obj: pd.DataFrame | Styler) -> str:
    """HTML of a table as the book shows it: no 0..n-1 row index, missing values as '—', floats to 4 digits,
    text columns aligned left.

    A Styler keeps its own number formats; a plain DataFrame gets 4 significant digits. A named or non-default
    index is kept (it labels the rows); a default RangeIndex is dropped.
    """
    styler = obj if isinstance(obj, Styler) else obj.style.format(
        {c: "{:.4g}" for c in obj.columns if pd.api.types.is_float_dtype(obj[c])})
    if isinstance(styler.data.index, pd.RangeIndex) and styler.data.index.name is None:
        styler = styler.hide(axis="index")
    text_columns = [c for c in styler.data.columns if not pd.api.types.is_numeric_dtype(styler.data[c])]
    if text_columns:  # numbers align right (book.css), words left
        styler = styler.set_properties(subset=text_columns, **{"text-align": "left"})
    html = styler.set_table_attributes('class="dataframe book-table"').to_html()
    return re.sub(r">\s*(nan|NaN|<NA>|None)\s*<", ">—<", html)


def relabel(table: pd.DataFrame | Styler, labels: dict) -> pd.DataFrame | Styler:
    """The same table with the column headers a reader sees renamed by `labels` ({column: header}).

    A Styler keeps its formats (they still refer to the original column names); a DataFrame is renamed.
    """
    if unknown := sorted(set(labels) - set(map(str, (table.data if isinstance(table, Styler) else table).columns))):
        raise ValueError(f"labels name columns the table does not have: {unknown}")
    if isinstance(table, Styler):
        return table.relabel_index([labels.get(str(c), str(c)) for c in table.data.columns], axis="columns")
    return table.rename(columns=labels)


def _register_outputs() -> None:
    """In a notebook: retina PNGs (twice the pixels at the nominal size, so a click enlarges them for real) and
    every DataFrame and Styler shown through `table_html`. Nothing outside IPython."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    set_matplotlib_formats("retina")
    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, table_html)
    html.for_type(Styler, table_html)
