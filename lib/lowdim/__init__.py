"""lowdim: exact low-dimensional models behind the companion book to three diffusion-theory papers.

Everything is float64 torch and written in the VE convention x_t = x_0 + sigma * eps (see `lowdim.schedules`).
"""

from lowdim.mixture import GaussianMixture
from lowdim.molrg import MoLRG

__all__ = ["GaussianMixture", "MoLRG"]
