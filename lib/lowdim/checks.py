"""Input validation and constants shared by the package: every error names the parameter and the allowed range.

Inputs may be Python numbers, lists, numpy arrays or torch tensors of any floating precision; they are converted
to float64 (`DTYPE`) once, here, and a tolerance on them (the sum of mixing weights) fits the precision they came in.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import torch

__all__ = ["DTYPE", "LOG_2PI", "LOG_2PI_E", "check_range", "check_int", "as_float64", "input_eps", "as_sigma",
           "as_points", "as_weights", "as_labels", "check_orthonormal"]

DTYPE = torch.float64
LOG_2PI = math.log(2.0 * math.pi)  # log(2 pi): the normalising constant of a Gaussian, per dimension
LOG_2PI_E = math.log(2.0 * math.pi * math.e)  # log(2 pi e): twice the entropy of N(0, 1), per dimension


def check_range(name: str, value, low=None, high=None, low_open=False, high_open=False) -> None:
    """Raise ValueError naming `name` unless every entry of `value` is finite and inside the range."""
    t = torch.as_tensor(value, dtype=DTYPE)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {_show(t)}")
    bad = torch.zeros_like(t, dtype=torch.bool)
    if low is not None:
        bad |= (t <= low) if low_open else (t < low)
    if high is not None:
        bad |= (t >= high) if high_open else (t > high)
    if bad.any():
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {_show(t)}")


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """`value` as a Python int, or ValueError naming `name` unless it is an integer in [low, high] (bounds optional).

    Python and numpy integers are accepted; bool, floats (even 3.0) and tensors are not (a count that arrives as a
    float is usually a bug upstream).
    """
    ok = not isinstance(value, (bool, np.bool_, float, torch.Tensor))
    if ok:
        try:
            value = operator.index(value)
        except TypeError:
            ok = False
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def as_float64(value, name: str = "value") -> torch.Tensor:
    """A number, list, numpy array or floating tensor (any precision) as a float64 tensor.

    Lists and Python numbers go straight to float64 (never through torch's default float32); tensors and arrays keep
    their values exactly (float16/float32 -> float64 is exact). Complex inputs are rejected.
    """
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        if value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{name} must be real numbers, got dtype {value.dtype}")
        return value.to(DTYPE)  # a no-op (same tensor, autograd kept) when it is float64 already
    return torch.as_tensor(value, dtype=DTYPE)


def input_eps(value) -> float:
    """Machine epsilon of the precision `value` came in: its dtype's for floating tensors and arrays, float64's
    otherwise (Python numbers, lists, integers)."""
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return torch.finfo(dtype).eps
    if isinstance(dtype, np.dtype) and np.issubdtype(dtype, np.floating):
        return float(np.finfo(dtype).eps)
    return torch.finfo(DTYPE).eps


def as_sigma(sigma, num_points: int | None = None) -> torch.Tensor:
    """Noise level as a float64 tensor: a scalar, or one level per point (shape (num_points,)).

    sigma must be finite and > 0; sigma = 0 is the data distribution itself, which for low-rank data has no
    density, so it is rejected rather than clipped.
    """
    s = as_float64(sigma, "sigma")
    check_range("sigma", s, low=0.0, low_open=True)
    if num_points is not None and s.ndim != 0 and tuple(s.shape) != (num_points,):
        raise ValueError(f"sigma must be a scalar or have shape ({num_points},) (one level per point), got {tuple(s.shape)}")
    return s


def as_points(x, dim: int, name: str = "x", check_finite: bool = True) -> torch.Tensor:
    """Points as a float64 (N, dim) tensor; a single point of shape (dim,) is rejected to keep shapes explicit.

    check_finite=False is for callers that check a product of x instead (a NaN or Inf entry of x makes its whole
    row of x @ B non-finite, since 0 * inf = nan), which is cheaper when B has few columns.
    """
    if isinstance(x, (torch.Tensor, np.ndarray)) and not (x.dtype.is_floating_point if isinstance(x, torch.Tensor)
                                                         else np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"{name} must be a floating-point tensor or array (or a list of numbers), got dtype {x.dtype}")
    t = as_float64(x, name)
    if t.ndim != 2 or t.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {tuple(t.shape)}")
    if check_finite and not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t


def as_weights(weights, num_classes: int, name: str = "weights", atol: float | None = None) -> torch.Tensor:
    """Mixing weights as a float64 (K,) probability vector: non-negative, summing to 1 within `atol`.

    The default tolerance fits the input's precision, 4 K eps (eps of the input dtype; float64's for lists): each of
    the K entries is rounded by at most eps/2 relative, and a sum taken in that precision adds up to K more roundings.
    Weights that came in below float64 are divided by their float64 sum, so the float64 vector sums to 1 to rounding.
    weights: (K,) list, array or tensor of any floating precision.  ->  (K,) float64.
    """
    tol = 4 * num_classes * input_eps(weights) if atol is None else atol
    w = as_float64(weights, name)
    if w.shape != (num_classes,):
        raise ValueError(f"{name} must have shape ({num_classes},), got {tuple(w.shape)}")
    check_range(name, w, low=0.0, high=1.0)
    total = float(w.sum())
    if abs(total - 1.0) > tol:
        raise ValueError(f"{name} must sum to 1 (within {tol:.3g}, for {num_classes} weights given in "
                         f"{_precision(weights)}), got sum {total!r}")
    return w / w.sum() if input_eps(weights) > torch.finfo(DTYPE).eps else w


def as_labels(labels, num_points: int, num_classes: int, name: str = "c") -> torch.Tensor:
    """Class labels as a long (N,) tensor: one integer label for every point, or one per point, each in [0, K).

    labels: an int or (N,) integers (list, array or integer tensor).  ->  (num_points,) long.
    """
    c = torch.as_tensor(labels)
    if c.dtype.is_floating_point or c.dtype.is_complex or c.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer class label or (N,) integers, got dtype {c.dtype}")
    c = c.long().expand(num_points) if c.ndim == 0 else c.long()
    if c.shape != (num_points,):
        raise ValueError(f"{name} must be an integer or have shape ({num_points},), got {tuple(c.shape)}")
    if num_points and (c.min() < 0 or c.max() >= num_classes):
        raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got {c.unique().tolist()}")
    return c


def check_orthonormal(name: str, basis: torch.Tensor, atol: float = 1e-8) -> None:
    """Raise unless basis^T basis = I within `atol` (entrywise)."""
    gram = basis.T @ basis
    err = float((gram - torch.eye(gram.shape[0], dtype=gram.dtype)).abs().max()) if gram.numel() else 0.0
    if not math.isfinite(err) or err > atol:
        raise ValueError(f"{name} must have orthonormal columns (max |B^T B - I| <= {atol:g}), got {err:.3g}")


def _precision(value) -> str:
    dtype = getattr(value, "dtype", None)
    return str(dtype).replace("torch.", "") if dtype is not None else "float64"


def _show(t: torch.Tensor) -> str:
    return f"{t.item()!r}" if t.numel() == 1 else f"values in [{t.min().item():g}, {t.max().item():g}] (shape {tuple(t.shape)})"
