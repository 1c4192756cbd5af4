"""Input validation shared by the package: every error names the parameter and the allowed range."""

from __future__ import annotations

import math

import torch

DTYPE = torch.float64


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


def as_sigma(sigma, num_points: int | None = None) -> torch.Tensor:
    """Noise level as a float64 tensor: a scalar, or one level per point (shape (num_points,)).

    sigma must be finite and > 0; sigma = 0 is the data distribution itself, which for low-rank data has no
    density, so it is rejected rather than clipped.
    """
    s = torch.as_tensor(sigma, dtype=DTYPE)
    check_range("sigma", s, low=0.0, low_open=True)
    if num_points is not None and s.ndim != 0 and tuple(s.shape) != (num_points,):
        raise ValueError(f"sigma must be a scalar or have shape ({num_points},) (one level per point), got {tuple(s.shape)}")
    return s


def as_points(x, dim: int, name: str = "x", check_finite: bool = True) -> torch.Tensor:
    """Points as a float64 (N, dim) tensor; a single point of shape (dim,) is rejected to keep shapes explicit.

    check_finite=False is for callers that check a product of x instead (a NaN or Inf entry of x makes its whole
    row of x @ B non-finite, since 0 * inf = nan), which is cheaper when B has few columns.
    """
    t = torch.as_tensor(x)
    if not t.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if t.ndim != 2 or t.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {tuple(t.shape)}")
    if check_finite and not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t.to(DTYPE)


def as_weights(weights, num_classes: int, name: str = "weights", atol: float = 1e-9) -> torch.Tensor:
    """Mixing weights as a float64 (K,) probability vector (non-negative, summing to 1 within `atol`)."""
    w = torch.as_tensor(weights, dtype=DTYPE)
    if w.shape != (num_classes,):
        raise ValueError(f"{name} must have shape ({num_classes},), got {tuple(w.shape)}")
    check_range(name, w, low=0.0, high=1.0)
    if abs(float(w.sum()) - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1 (within {atol:g}), got sum {float(w.sum())!r}")
    return w


def check_orthonormal(name: str, basis: torch.Tensor, atol: float = 1e-8) -> None:
    """Raise unless basis^T basis = I within `atol` (entrywise)."""
    gram = basis.T @ basis
    err = float((gram - torch.eye(gram.shape[0], dtype=gram.dtype)).abs().max()) if gram.numel() else 0.0
    if not math.isfinite(err) or err > atol:
        raise ValueError(f"{name} must have orthonormal columns (max |B^T B - I| <= {atol:g}), got {err:.3g}")


def _show(t: torch.Tensor) -> str:
    return f"{t.item()!r}" if t.numel() == 1 else f"values in [{t.min().item():g}, {t.max().item():g}] (shape {tuple(t.shape)})"
