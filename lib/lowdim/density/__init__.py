"""Paper 2: a score-based density formula and its applications (Li & Yan, arXiv 2408.16765).

    formula       log p_0(x) from scores (three integrand forms), the discrete-time sum, the DDPM ELBO
    likelihood    the probability-flow ODE likelihood (torchdiffeq), the baseline the formula is compared with
    classifier    diffusion classifiers with ELBO or uniform time weights
    applications  the GAN score-matching regulariser and the autoregressive diffusion loss on 1-D mixtures
    app_experiments  chapter 5's experiments assembled from the two above (E6-E8)
"""

from lowdim.density import app_experiments, formula, likelihood
from lowdim.density.app_experiments import *  # noqa: F401,F403  (each module's __all__)
from lowdim.density.formula import *  # noqa: F401,F403
from lowdim.density.likelihood import *  # noqa: F401,F403

__all__ = [*formula.__all__, *likelihood.__all__, *app_experiments.__all__]
