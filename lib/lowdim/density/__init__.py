"""Paper 2: a score-based density formula and its applications (Li & Yan, arXiv 2408.16765).

    formula       log p_0(x) from scores (three integrand forms), the discrete-time sum, the DDPM ELBO
    likelihood    the probability-flow ODE likelihood (torchdiffeq), the baseline the formula is compared with
    classifier    diffusion classifiers with ELBO or uniform time weights
    applications  the GAN score-matching regulariser and the autoregressive diffusion loss on 1-D mixtures
"""

from lowdim.density.formula import DensityEstimate, ddpm_elbo, discrete_density, log_density, logsnr_grid
from lowdim.density.likelihood import LikelihoodEstimate, pf_ode_log_density

__all__ = ["log_density", "DensityEstimate", "discrete_density", "ddpm_elbo", "logsnr_grid",
           "pf_ode_log_density", "LikelihoodEstimate"]
