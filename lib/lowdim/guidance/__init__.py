"""Paper 3: guidance in diffusion models for general data (Li & Jiao, arXiv 2505.01382), on exact mixtures.

    labelled  classes made of mixture components: exact p_sigma(c | x), conditional and unconditional scores
    samplers  reverse-SDE (ancestral) and probability-flow ODE samplers with one shared signature
    theorem   guided scores (CFG, classifier guidance), the martingale identity, the tilted law, the ODE quadrature
"""

from lowdim.guidance import samplers, theorem
from lowdim.guidance.labelled import LabelledMixture
from lowdim.guidance.samplers import *  # noqa: F401,F403  (each module's __all__)
from lowdim.guidance.theorem import *  # noqa: F401,F403

__all__ = ["LabelledMixture", *samplers.__all__, *theorem.__all__]
