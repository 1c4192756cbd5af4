"""Paper 1: representation dynamics of diffusion models via low-dimensional modelling (Li et al., arXiv 2502.05743).

    molrg    the mixture of low-rank Gaussians (Assumption 1), its exact posterior mean, the gated denoiser of eqs. 4-5
    theory   Theorem 1: the approximate SNR and Lemma 2's weights
    curves   SNR, posterior MSE and Bayes accuracy across noise levels; unimodality checks
    dae      training the gated denoiser (App. D), principal angles, projection classifier
    ensemble probes across noise levels, label noise, the ensemble of levels (v1 / v3 App. B.4)
    network  the network of eqs. 4-5 exactly as printed (any blocks), Definition 1 in the paper's form (App. C)
"""

from lowdim.representation.curves import is_decreasing, is_unimodal, posterior_curve, with_class_means
from lowdim.representation.molrg import MoLRG, gate_logit_coefficients, gated_denoiser, shrinkage_coefficients
from lowdim.representation.theory import confidence_rate, lemma2_weights, logit_gap, theorem1_snr

__all__ = ["MoLRG", "gated_denoiser", "shrinkage_coefficients", "gate_logit_coefficients",
           "logit_gap", "lemma2_weights", "confidence_rate", "theorem1_snr",
           "posterior_curve", "is_unimodal", "is_decreasing", "with_class_means"]
