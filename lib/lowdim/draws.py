"""Seeded random draws shared by the package: a generator from a checked seed, random orthonormal frames."""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, check_int

__all__ = ["seeded_generator", "random_orthonormal"]


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator seeded with `seed` (an integer, checked: a float seed is usually a bug upstream)."""
    return torch.Generator().manual_seed(check_int("seed", seed))


def random_orthonormal(dim: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """Q factor of a dim x cols standard Gaussian matrix, sign-fixed (diag R > 0) so the draw is unique: a uniformly
    random (Haar) point of the Stiefel manifold.  ->  (dim, cols) float64 with orthonormal columns."""
    check_int("dim", dim, low=1)
    check_int("cols", cols, 1, dim)
    Q, R = torch.linalg.qr(torch.randn(dim, cols, dtype=DTYPE, generator=generator))
    return Q * torch.sign(torch.diagonal(R))
