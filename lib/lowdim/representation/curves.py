"""Representation dynamics of an exact denoiser across noise levels (paper 1, arXiv 2502.05743).

For a mixture model with an exact posterior (`MoLRG` or `GaussianMixture`) and a labelled clean sample x_0,
`posterior_curve` evaluates the optimal denoiser E[x_0 | x_t] at each noise level sigma_l and records

* the SNR of Definition 1 (v3) of the denoised points, per class and averaged (`lowdim.metrics`),
* the posterior MSE E|E[x_0 | x_t] - x_0|^2, the quantity that falls to 0 as sigma -> 0 (the generation side of
  the v1 trade-off),
* the mean class posterior on the true class, E[w_k*(x_t) | k] (the gate of eq. 5, Prop. 1), and the accuracy of
  the Bayes classifier argmax_k P(k | x_t).

`bayes_accuracy` and `pooled_copies` give the Bayes accuracy from one noisy copy or from several copies of the same
points at different levels (the ceilings of the ensemble across noise levels).

`input="clean"` evaluates the same denoiser at the clean point, E[x_0 | x_t = x_0] at level sigma_l: the
clean-input, time-conditioned features x_theta(x_0, t) of App. B.2 (v3).

Each level is one batched evaluation over all points (a loop over the L levels, never over points), so memory
stays O(N n) per level whatever L is.
"""

from __future__ import annotations

import numpy as np
import torch

from lowdim import metrics
from lowdim.checks import DTYPE, as_points, as_sigma
from lowdim.metrics import snr_from_energies, subspace_energies

__all__ = ["INPUTS", "posterior_curve", "bayes_accuracy", "pooled_copies", "is_unimodal", "is_decreasing",
           "with_class_means"]

INPUTS = ("noisy", "clean")


def posterior_curve(model, x0, labels, sigmas, seed: int, bases=None, input: str = "noisy",
                    reduction: str = "classes") -> dict:
    """Exact-denoiser SNR, posterior MSE, true-class confidence and Bayes accuracy at each sigma.

    model: `MoLRG` or `GaussianMixture`; x0: (N, n) clean points; labels: (N,) their classes; sigmas: (L,) > 0;
    seed: noise seed (level l uses x_t = x0 + sigma_l eps_l with independent eps_l); bases: class bases for the
    SNR (default: model.bases); input: "noisy" (x_t) or "clean" (x_0, App. B.2); reduction: see `metrics.snr`.
    ->  dict of tensors: snr (L,), snr_per_class (L, K), mse (L,), confidence (L,), accuracy (L,).
    """
    if input not in INPUTS:
        raise ValueError(f"input must be one of {INPUTS}, got {input!r}")
    x0 = as_points(x0, model.dim, name="x0")
    labels = torch.as_tensor(labels)
    if labels.shape != x0.shape[:1]:
        raise ValueError(f"labels must have shape ({x0.shape[0]},), got {tuple(labels.shape)}")
    sigmas = as_sigma(sigmas).reshape(-1)
    bases = model.bases if bases is None else bases
    gen = torch.Generator().manual_seed(seed)
    L, N = sigmas.numel(), x0.shape[0]
    signal, residual = torch.empty(L, N, dtype=DTYPE), torch.empty(L, N, dtype=DTYPE)
    mse, confidence, accuracy = (torch.empty(L, dtype=DTYPE) for _ in range(3))
    for l, sigma in enumerate(sigmas.tolist()):
        x = x0 if input == "clean" else x0 + sigma * torch.randn(x0.shape, dtype=DTYPE, generator=gen)
        denoised = model.posterior_mean(x, sigma)  # E[x_0 | x_t = x] (Prop. 1)
        signal[l], residual[l] = subspace_energies(denoised, labels, bases)
        mse[l] = ((denoised - x0) ** 2).sum(dim=1).mean()
        post = model.class_posterior(x, sigma)  # w_k*(x) of eq. 5 = P(k | x)
        confidence[l] = post.gather(1, labels[:, None]).mean()
        accuracy[l] = metrics.accuracy(post, labels)
    values, per_class = snr_from_energies(signal, residual, labels, len(bases), reduction)
    return dict(snr=values, snr_per_class=per_class, mse=mse, confidence=confidence, accuracy=accuracy)


# ----------------------------------------------------------------------------------------------------------
# Bayes accuracy from one or several noisy copies of a clean point (the ceilings of the ensemble, v1 / v3 App. B.4).


def bayes_accuracy(model, x, sigma, labels) -> float:
    """Accuracy of the Bayes classifier argmax_k P(k | x_sigma = x) at noise level sigma.

    model: `MoLRG` or `GaussianMixture`; x: (N, n) noisy points (or clean points with a tiny sigma); sigma: scalar or
    (N,) > 0; labels: (N,) the classes of the clean points.  ->  float.
    """
    return float(metrics.accuracy(model.class_posterior(x, sigma), labels))


def pooled_copies(x_t, sigmas) -> tuple[torch.Tensor, float]:
    """The sufficient statistic of independent noisy copies x_i = x_0 + sigma_i eps_i, i = 1..m, of the same points:
    the precision-weighted mean x_bar = sum_i x_i / sigma_i^2 / sum_i sigma_i^-2, which is x_0 + sigma_eff eps with
    sigma_eff = (sum_i sigma_i^-2)^(-1/2). So the Bayes classifier on all m copies is argmax_k P(k | x_bar) at sigma_eff.

    x_t: (m, N, n) the copies; sigmas: (m,) their levels.  ->  (x_bar (N, n), sigma_eff).
    """
    x_t = torch.as_tensor(x_t, dtype=DTYPE)
    sigmas = as_sigma(sigmas).reshape(-1)
    if x_t.ndim != 3 or x_t.shape[0] != sigmas.numel():
        raise ValueError(f"x_t must be (m, N, n) with m = len(sigmas) = {sigmas.numel()}, got {tuple(x_t.shape)}")
    prec = 1.0 / sigmas**2
    x_bar = (x_t * prec[:, None, None]).sum(0) / prec.sum()
    return x_bar, float(prec.sum() ** -0.5)


def is_unimodal(values, atol: float = 0.0) -> bool:
    """True when `values` (a curve along increasing sigma) rises to one maximum and then falls, each step allowed
    to go the wrong way by at most `atol` (Monte Carlo noise); a monotone curve is not unimodal."""
    v = _curve(values)
    peak = int(v.argmax())
    if peak == 0 or peak == v.numel() - 1:
        return False
    steps = v.diff()
    return bool((steps[:peak] >= -atol).all() and (steps[peak:] <= atol).all())


def is_decreasing(values, atol: float = 0.0) -> bool:
    """True when every step of `values` along increasing sigma goes down, up to `atol`."""
    return bool((_curve(values).diff() <= atol).all())


def _curve(values) -> torch.Tensor:
    """A 1-D float64 copy of a curve given as a tensor, array or list."""
    if isinstance(values, torch.Tensor):
        return values.detach().to(DTYPE).reshape(-1).clone()
    return torch.from_numpy(np.array(values, dtype=np.float64).reshape(-1))


def with_class_means(model, means):
    """The MoLRG `model` with class k shifted to mean means[k] (App. C, Table 7: non-zero-mean clusters).

    means: (K, n)  ->  `GaussianMixture` with the same covariances and weights (dense, exact).
    """
    mixture = model.to_mixture()
    means = torch.as_tensor(means, dtype=DTYPE)
    if means.shape != mixture.means.shape:
        raise ValueError(f"means must have shape {tuple(mixture.means.shape)}, got {tuple(means.shape)}")
    return type(mixture)(means, mixture.covariances, mixture.weights)
