"""Numbers formatted for the sentences the notebooks print (Markdown with LaTeX)."""

from __future__ import annotations

import math

__all__ = ["latex_sci"]


def latex_sci(value: float, digits: int = 2) -> str:
    """`value` in scientific notation with `digits` significant digits, as LaTeX: 65432.1 -> '6.5\\cdot10^{4}'."""
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value!r}")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return f"{mantissa}\\cdot10^{{{int(exponent)}}}"
