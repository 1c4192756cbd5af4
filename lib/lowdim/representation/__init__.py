"""Paper 1: representation dynamics of diffusion models via low-dimensional modelling (Li et al., arXiv 2502.05743).

    molrg    the mixture of low-rank Gaussians (Assumption 1), its exact posterior mean, the gated denoiser of eqs. 4-5
    theory   Theorem 1: the approximate SNR and Lemma 2's weights
    curves   SNR, posterior MSE and Bayes accuracy across noise levels (one or pooled noisy copies); unimodality
    dae      training the gated denoiser (App. D), principal angles, projection classifier, probe curves
    ensemble probes across noise levels, label noise, the ensemble of levels (v1 / v3 App. B.4)
    network  the network of eqs. 4-5 exactly as printed (any blocks), Definition 1 in the paper's form (App. C)
"""

from lowdim.representation import curves, dae, ensemble, theory
from lowdim.representation.curves import *  # noqa: F401,F403  (each module's __all__)
from lowdim.representation.dae import *  # noqa: F401,F403
from lowdim.representation.ensemble import *  # noqa: F401,F403
from lowdim.representation.molrg import MoLRG, gate_logit_coefficients, gated_denoiser, shrinkage_coefficients
from lowdim.representation.theory import *  # noqa: F401,F403

__all__ = ["MoLRG", "gated_denoiser", "shrinkage_coefficients", "gate_logit_coefficients",
           *curves.__all__, *dae.__all__, *ensemble.__all__, *theory.__all__]
