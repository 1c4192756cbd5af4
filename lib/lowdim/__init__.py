"""lowdim: exact low-dimensional models behind the companion book to three diffusion-theory papers.

Everything is float64 torch and written in the VE convention x_t = x_0 + sigma * eps (see `lowdim.schedules`).

    checks, gaussians, schedules, metrics   the core: input checks, exact Gaussian mixtures, noise schedules, SNR
    representation                          paper 1 (Li et al., arXiv 2502.05743): MoLRG, Theorem 1, DAE, ensemble
    density                                 paper 2 (Li & Yan, arXiv 2408.16765): the score-based density formula
    guidance                                paper 3 (Li & Jiao, arXiv 2505.01382): guidance on exact mixtures
    book                                    the notebook driver and the reproduction table
"""

from lowdim.checks import DTYPE
from lowdim.gaussians import GaussianMixture
from lowdim.guidance.labelled import LabelledMixture
from lowdim.representation.molrg import MoLRG

__all__ = ["DTYPE", "GaussianMixture", "LabelledMixture", "MoLRG"]
