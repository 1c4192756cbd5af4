"""Paper 3: guidance in diffusion models for general data (Li & Jiao, arXiv 2505.01382), on exact mixtures.

    labelled  classes made of mixture components: exact p_sigma(c | x), conditional and unconditional scores
    samplers  reverse-SDE (ancestral) and probability-flow ODE samplers with one shared signature
    theorem   guided scores (CFG, classifier guidance), the martingale identity, the tilted law, the ODE quadrature
"""

from lowdim.guidance.labelled import LabelledMixture
from lowdim.guidance.samplers import coupled_noise, initial_points, sample_ancestral, sample_ode
from lowdim.guidance.theorem import METHODS, GuidedScore, martingale_callback, ode_quadrature, tilted_quadrature

__all__ = ["LabelledMixture", "GuidedScore", "METHODS", "martingale_callback", "tilted_quadrature", "ode_quadrature",
           "initial_points", "sample_ancestral", "sample_ode", "coupled_noise"]
