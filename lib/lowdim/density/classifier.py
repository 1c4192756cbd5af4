"""The diffusion classifier (Li et al. 2023, "Your diffusion model is secretly a zero-shot classifier") and its
exact, ELBO-weighted form from the density formula (Li & Yan, arXiv 2408.16765 v1, Sec. 4.3; reconstructed).

By the density formula (`lowdim.density.formula`, eq. (3.1a) as reconstructed) applied to each class-conditional law,
in Li-Yan time X_t = sqrt(1-t) x + sqrt(t) Z and log-SNR lambda = log((1-t)/t),

    log p(x | c) = -(n/2) log(2 pi e) - 1/2 int_R E[ ||Z - eps_c(X_t)||^2 - (1-t)||Z||^2 ] d lambda,

so  log p(c | x) = log pi_c - 1/2 int E||Z - eps_c(X_t)||^2 d lambda + (terms equal for every class), the
"ELBO weighting" dt / (t(1-t)) = d lambda of the noise-prediction error. Li et al. instead take a softmax of
-(mean error) over evenly spaced DDPM timesteps (uniform weights in t, no 1/2). Both are the same estimator with
different quadrature rules (t_j, w_j):

    energy_c(x) = 1/2 sum_j w_j mean_m e_c(x, t_j, Z_jm),    log p_hat(c | x) = log_softmax_c(log pi_c - energy_c),

with e = ||Z - eps_c(X_t)||^2 - b (1-t) ||Z||^2; b = 1 subtracts the density formula's control variate (mean
n(1-t), the same for every class), b = 0 is the raw error. With `shared_noise` every class sees the same noises
(paired differences), as in Li et al.'s code.

An eps-predictor is any callable eps_fn(x_t (B, n), t (B,), c: int) -> (B, n) in Li-Yan time;
`exact_class_eps` builds the exact one from the class-conditional mixtures of `split_classes`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch

from lowdim import schedules as S
from lowdim.checks import DTYPE, as_points, check_int
from lowdim.density.formula import logsnr_grid, residual
from lowdim.gaussians import ClassGrouping, ExactMixture

__all__ = ["ClassEps", "split_classes", "exact_class_eps", "exact_log_posterior", "TimeRule", "elbo_rule", "uniform_rule",
           "ClassifierOutput", "diffusion_classifier", "accuracy", "expected_calibration_error", "log_odds_error"]

ClassEps = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


# ----------------------------------------------------------------------------------------------------------
# Class-conditional models and their exact noise predictors.


def split_classes(mixture: ExactMixture, groups: list[list[int]]) -> tuple[torch.Tensor, list[ExactMixture]]:
    """Class c = the components groups[c] of `mixture` (the core's `ClassGrouping`).

    ->  (priors p(c) (C,), class-conditional mixtures p(x | c): the components of c with weights pi_k / p(c)).
    """
    grouping = ClassGrouping.from_groups(groups, mixture.weights)
    return grouping.prior, [mixture.restrict(grouping.members(c)) for c in range(grouping.num_classes)]


def exact_class_eps(models: list[ExactMixture]) -> ClassEps:
    """eps_c(x_t, t) = E[Z | X_t = x_t, class c], exact (Li-Yan time).  t: (B,) one level per row."""
    return lambda x_t, t, c: S.liyan_noise_prediction(models[c], x_t, t)


def exact_log_posterior(model: ExactMixture, groups: list[list[int]], x) -> torch.Tensor:
    """Bayes log p(c | x) = log sum_{k in groups[c]} P(k | x) at t = 0, from the component posterior of an exact
    model (`GaussianMixture` or `MoLRG`, VE sigma = 1e-12: an added variance of 1e-24, below float64 resolution
    for the covariances used here; `MoLRG.class_posterior` drops the orthogonal complement, where low-rank
    class covariances all vanish).  x: (N, n)  ->  (N, C)."""
    grouping = ClassGrouping.from_groups(groups, model.weights)
    return grouping.log_sum(torch.log(model.class_posterior(x, 1e-12)))


# ----------------------------------------------------------------------------------------------------------
# Quadrature rules over t.


@dataclasses.dataclass
class TimeRule:
    """Nodes t (K,) in (0, 1), weights (K,) and control-variate coefficient b (0 or 1) of a classifier."""

    t: torch.Tensor
    weights: torch.Tensor
    baseline: float
    name: str


def elbo_rule(num_t: int, logsnr_min: float = -10.0, logsnr_max: float = 15.0,
              control_variate: bool = True) -> TimeRule:
    """ELBO weighting: trapezoid rule uniform in log-SNR (d lambda = dt / (t(1-t))), with the density formula's
    control variate (b = 1) or the raw error (b = 0). Log-odds integrands decay like e^{-|lambda|}, so [-10, 15] loses < 1e-4 nats
    for data whose features are above t ~ 1e-6."""
    check_int("num_t", num_t, low=2)
    _, t, w = logsnr_grid(num_t, logsnr_min, logsnr_max)  # the density formula's own grid
    return TimeRule(t, w, 1.0 if control_variate else 0.0, "ELBO-weighted")


def uniform_rule(num_t: int, num_steps: int = 1000, schedule: str = "linear") -> TimeRule:
    """Li et al. (2023): `num_t` evenly spaced timesteps of a `num_steps`-step DDPM (Ho's "linear" betas, or the
    "cosine" schedule that MAR's diffusion loss uses), t_k =
    1 - alpha_bar_k, uniform weights 2/num_t so that energy = mean error (their softmax of -E||eps - eps_hat||^2);
    raw error (b = 0)."""
    check_int("num_t", num_t, 1, num_steps)
    if schedule not in ("linear", "cosine"):
        raise ValueError(f"schedule must be 'linear' or 'cosine', got {schedule!r}")
    ab = S.ddpm_alpha_bars(num_steps) if schedule == "linear" else S.cosine_alpha_bars(num_steps)
    stride = num_steps // num_t
    steps = torch.arange(stride // 2, num_steps, stride)[:num_t]  # their `range(start, T, T // n)`, start = T//n//2
    return TimeRule(1.0 - ab[steps], torch.full((num_t,), 2.0 / num_t, dtype=DTYPE), 0.0, "uniform (Li et al.)")


# ----------------------------------------------------------------------------------------------------------
# The classifier.


@dataclasses.dataclass
class ClassifierOutput:
    """log_posterior, energy: (N, C); log_odds_stderr: (N, C) standard error of energy_c - energy_0 over the
    num_noise independent replicates (zeros when num_noise = 1: no replicate to compare); num_evals: eps_fn
    evaluations per point and class (the budget K * M)."""

    log_posterior: torch.Tensor
    energy: torch.Tensor
    log_odds_stderr: torch.Tensor
    num_evals: int


def diffusion_classifier(x, eps_fn: ClassEps, num_classes: int, rule: TimeRule, num_noise: int = 1,
                         log_prior=None, shared_noise: bool = True, seed: int = 0) -> ClassifierOutput:
    """Class log-posteriors from noise-prediction errors (module docstring).  x: (N, n).

    Budget per point and class: K = len(rule.t) times num_noise (M) evaluations of eps_fn; all points, t-values and
    noises of one class go through eps_fn as one batch. With shared_noise the noise draws Z (N, K, M, n) are the same
    for every class; otherwise each class draws its own.
    """
    check_int("num_classes", num_classes, low=2)
    check_int("num_noise", num_noise, low=1)
    x = torch.as_tensor(x, dtype=DTYPE)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, n), got {tuple(x.shape)}")
    x = as_points(x, x.shape[1])
    N, n = x.shape
    log_prior = torch.full((num_classes,), -math.log(num_classes), dtype=DTYPE) if log_prior is None \
        else torch.as_tensor(log_prior, dtype=DTYPE)
    if log_prior.shape != (num_classes,):
        raise ValueError(f"log_prior must have shape ({num_classes},), got {tuple(log_prior.shape)}")
    t, w = rule.t, rule.weights
    K, M = t.numel(), num_noise
    gen = torch.Generator().manual_seed(seed)
    t_rows = t[None, :, None].expand(N, K, M).reshape(-1)  # (N K M,)
    x_rows = x[:, None, None, :].expand(N, K, M, n).reshape(-1, n)
    per_rep = torch.empty(num_classes, N, M, dtype=DTYPE)  # 1/2 sum_j w_j e(t_j, Z_jm): one replicate per m
    z = None
    for c in range(num_classes):
        if z is None or not shared_noise:
            z = torch.randn(N * K * M, n, dtype=DTYPE, generator=gen)
        r = residual(lambda x_t, t_c: eps_fn(x_t, t_c, c), "eps", x_rows, z, t_rows)  # Z - eps_c(X_t)
        err = (r**2).sum(dim=1) - rule.baseline * (1.0 - t_rows) * (z**2).sum(dim=1)
        per_rep[c] = 0.5 * (err.reshape(N, K, M) * w[None, :, None]).sum(dim=1)
    energy = per_rep.mean(dim=2).T  # (N, C)
    if M > 1:
        diff = per_rep - per_rep[:1]  # energy_c - energy_0 per replicate
        stderr = (diff.std(dim=2) / math.sqrt(M)).T
    else:
        stderr = torch.zeros(N, num_classes, dtype=DTYPE)
    log_post = torch.log_softmax(log_prior - energy, dim=1)
    return ClassifierOutput(log_post, energy, stderr, K * M)


# ----------------------------------------------------------------------------------------------------------
# Metrics.


def accuracy(log_posterior: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of points whose argmax class is the label.  (N, C), (N,)  ->  float."""
    return float((log_posterior.argmax(dim=1) == labels).to(DTYPE).mean())


def expected_calibration_error(log_posterior: torch.Tensor, labels: torch.Tensor, num_bins: int = 15) -> float:
    """ECE of the top-class probability: sum_bins (|bin| / N) |accuracy(bin) - mean confidence(bin)|, equal-width
    bins on [0, 1] (Guo et al. 2017)."""
    conf, pred = log_posterior.exp().max(dim=1)
    correct = (pred == labels).to(DTYPE)
    bins = torch.clamp((conf * num_bins).long(), max=num_bins - 1)
    ece = 0.0
    for b in range(num_bins):
        mask = bins == b
        if mask.any():
            ece += float(mask.to(DTYPE).mean() * (correct[mask].mean() - conf[mask].mean()).abs())
    return ece


def log_odds_error(log_posterior: torch.Tensor, exact_log_posterior: torch.Tensor) -> torch.Tensor:
    """Per point, max_c |(log p_hat(c|x) - log p_hat(c*|x)) - (log p(c|x) - log p(c*|x))|, c* the Bayes argmax.
    (N, C), (N, C)  ->  (N,)."""
    ref = exact_log_posterior.argmax(dim=1, keepdim=True)
    d = (log_posterior - log_posterior.gather(1, ref)) - (exact_log_posterior - exact_log_posterior.gather(1, ref))
    return d.abs().amax(dim=1)
