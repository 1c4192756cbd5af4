"""The experiments of chapter 5 on the applications of the density formula (Li & Yan, arXiv 2408.16765 v1, §4.2-4.4;
content reconstructed): a classification task with the exact Bayes posterior (E7), the generator objectives built
from the score (E6), and the misspecified mixture head of the autoregressive toy (E8).

The formula-side building blocks live in `lowdim.density.applications` and `lowdim.density.classifier`; this
module only assembles them into the quantities the chapter compares.
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, check_int
from lowdim.density import applications as A
from lowdim.density import classifier as C

__all__ = ["classification_task", "generator_reverse_kl", "score_objective", "mixture_head", "head_nll", "head_loss"]


# ----------------------------------------------------------------------------------------------------------
# E7 (§4.3): a test set with labels, priors, exact class-conditional noise predictors and the Bayes posterior.


def classification_task(model, mixture, groups: list[list[int]], num_points: int, seed: int) -> dict:
    """Class c = the components groups[c] of `mixture` (the exact model `model` written as a `GaussianMixture`:
    `model` itself, or `MoLRG.to_mixture()`); `num_points` test points drawn from `model` with `seed`.

    ->  dict(x (N, n), labels (N,) classes, log_prior (C,), eps (the exact class-conditional noise predictor,
    `classifier.exact_class_eps`), exact (N, C) the Bayes log p(c | x), num_classes C).
    """
    check_int("num_points", num_points, low=1)
    priors, models = C.split_classes(mixture, groups)
    x, comp = model.sample(num_points, seed)
    to_class = torch.tensor([c for i in range(mixture.num_classes) for c, g in enumerate(groups) if i in g])
    return dict(x=x, labels=to_class[comp], log_prior=torch.log(priors), eps=C.exact_class_eps(models),
                exact=C.exact_log_posterior(model, groups, x), num_classes=len(groups))


# ----------------------------------------------------------------------------------------------------------
# E6 (§4.2): objectives of the 1-D affine generator G_theta(z) = a + b z, theta = (a, log b).


def generator_reverse_kl(mixture, theta: torch.Tensor, z_nodes, z_weights) -> torch.Tensor:
    """KL(p_theta || p) = H(p_theta, p) - H(p_theta) from the exact log-density of the 1-D `mixture`, with the rule
    (z_nodes (Q,), z_weights (Q,)) for E_z.  ->  0-dim (differentiable in theta)."""
    return A.cross_entropy(mixture, theta, z_nodes, z_weights) - A.gaussian_entropy(theta)


def score_objective(mixture, theta: torch.Tensor, z_nodes, z_weights, rule: C.TimeRule, noise_nodes: int,
                    with_entropy: bool) -> torch.Tensor:
    """The score-matching regulariser R(theta) computed from the exact score (`applications.score_regulariser`: the
    log-SNR rule `rule`, `noise_nodes` Gauss-Hermite nodes over Z, the rule (z_nodes, z_weights) over z), minus the
    generator entropy H(p_theta) if `with_entropy` (then it is the reverse KL up to the constant log(2 pi e)/2).
    ->  0-dim (differentiable in theta)."""
    R = A.score_regulariser(mixture, theta, z_nodes, z_weights, rule, noise_nodes)
    return R - A.gaussian_entropy(theta) if with_entropy else R


# ----------------------------------------------------------------------------------------------------------
# E8 (§4.4): the misspecified head q_theta(x2 | x1) = 1/2 N(th0 + th1 x1, e^{2 th4}) + 1/2 N(th2 + th3 x1, e^{2 th4}).


def mixture_head(theta: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The head's mixture for each conditioning token.  theta: (5,); x1: (P,)
    ->  (means (P, 2), variances (2,), log_weights (2,)), the arguments of `applications.mixture_log_prob`."""
    means = torch.stack([theta[0] + theta[1] * x1, theta[2] + theta[3] * x1], dim=1)
    return means, torch.exp(2 * theta[4]).expand(2), torch.log(torch.full((2,), 0.5, dtype=DTYPE))


def head_nll(theta: torch.Tensor, x1, x2, weights) -> torch.Tensor:
    """Expected negative log-likelihood -sum_p weights_p log q_theta(x2_p | x1_p) (a quadrature over the data law).
    x1, x2, weights: (P,)  ->  0-dim."""
    return -(A.mixture_log_prob(x2, *mixture_head(theta, x1)) * weights).sum()


def head_loss(theta: torch.Tensor, x1, x2, weights, rule: C.TimeRule, noise_nodes: int) -> torch.Tensor:
    """Expected denoising loss of the head's exact noise predictor, weighted by `rule` over t (`applications.
    diffusion_loss`, `noise_nodes` Gauss-Hermite nodes over the noise): with `classifier.elbo_rule` it is
    head_nll - log(2 pi e)/2 (the density formula), with other weightings a different objective.
    x1, x2, weights: (P,)  ->  0-dim."""
    return (A.diffusion_loss(x2, *mixture_head(theta, x1), rule, noise_nodes) * weights).sum()
