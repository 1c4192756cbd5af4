"""lowdim.representation.network: paper 1's eqs. 4-5 as printed, Definition 1 in the paper's form, per-class scales.

Independent references: the dense Gaussian-mixture posterior (`MoLRG.to_mixture()`, eigendecomposition of each
covariance), numpy log-determinants, finite perturbations of the fitted scales.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lowdim import MoLRG
from lowdim.metrics import subspace_energies
from lowdim.representation.network import (denoising_loss, fit_block_scales, gate_logits, paper_network,
                                           paper_snr_energies, scaled_blocks)
from lowdim.schedules import ddpm_sigmas

DTYPE = torch.float64


def noisy(model, num, sigma, seed):
    x0, y = model.sample(num, seed=seed)
    return x0 + sigma * torch.randn(x0.shape, dtype=DTYPE, generator=torch.Generator().manual_seed(seed + 1)), y


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.5])
def test_network_at_true_bases_is_the_posterior_mean_for_equal_ranks_and_weights(sigma):
    # Prop. 1: orthogonal equal-rank blocks, equal weights -> eqs. 4-5 at U = U* give E[x_0 | x_t] exactly.
    model = MoLRG.random(20, [3, 3, 3], delta=0.3, seed=1)
    x, _ = noisy(model, 400, sigma, seed=2)
    out = paper_network(x, sigma, model.bases, model.delta)
    dense = model.to_mixture()
    assert torch.allclose(out.x_hat, dense.posterior_mean(x, sigma), atol=1e-10)
    assert torch.allclose(out.w, dense.class_posterior(x, sigma), atol=1e-10)


@pytest.mark.parametrize("ranks, weights", [([6, 2], [0.5, 0.5]), ([4, 4], [0.8, 0.2]), ([6, 2], [0.3, 0.7])])
def test_gate_misses_exactly_the_log_prior_and_log_determinant(ranks, weights):
    # The exact class posterior is softmax(logits + log pi_k - 1/2 log det(Sigma_k + sigma^2 I)); eq. 5 prints only
    # the logits. Reference: the dense mixture's posterior and numpy's slogdet of each covariance.
    sigma, delta = 0.4, 0.2
    model = MoLRG.random(15, ranks, delta=delta, weights=weights, seed=3)
    x, _ = noisy(model, 300, sigma, seed=4)
    dense = model.to_mixture()
    logdet = torch.tensor([np.linalg.slogdet(C.numpy() + sigma**2 * np.eye(15))[1] for C in dense.covariances],
                          dtype=DTYPE)
    corrected = gate_logits(x, sigma, model.bases, delta) + torch.log(model.weights) - 0.5 * logdet
    assert torch.allclose(torch.softmax(corrected, 1), dense.class_posterior(x, sigma), atol=1e-10)
    # and the printed gate alone is not the posterior here
    assert (paper_network(x, sigma, model.bases, delta).w - dense.class_posterior(x, sigma)).abs().max() > 1e-3


def test_paper_form_of_definition_1_equals_projection_form_only_at_orthogonal_true_bases():
    model = MoLRG.random(20, [3, 3], delta=0.2, seed=5)
    x, y = noisy(model, 500, 0.3, seed=6)
    out = paper_network(x, 0.3, model.bases, model.delta)
    sig_p, res_p = paper_snr_energies(out, y, model.bases)
    sig_j, res_j = subspace_energies(out.x_hat, y, model.bases)
    assert torch.allclose(sig_p, sig_j, atol=1e-10) and torch.allclose(res_p, res_j, atol=1e-10)
    # scaled blocks U_l = s_l U*_l: x_hat = sum s_l^2 beta_l P_l x, U*_k h_k = s_k beta_k P_k x (by hand)
    s = torch.tensor([1.3, 0.7], dtype=DTYPE)
    out = paper_network(x, 0.3, scaled_blocks(model.bases, s), model.delta)
    sig_p, res_p = paper_snr_energies(out, y, model.bases)
    beta_k = (0.2**2 / (0.2**2 + 0.09)) + (1 / 1.09 - 0.2**2 / (0.2**2 + 0.09)) * out.w[torch.arange(500), y]
    proj_k = torch.stack([model.bases[int(k)] @ (model.bases[int(k)].T @ xi) for k, xi in zip(y, x)])
    decoded = (s[y] * beta_k)[:, None] * proj_k
    assert torch.allclose(sig_p, (decoded**2).sum(1), atol=1e-10)
    assert torch.allclose(res_p, ((out.x_hat - decoded) ** 2).sum(1), atol=1e-10)
    sig_j, _ = subspace_energies(out.x_hat, y, model.bases)
    assert not torch.allclose(sig_p, sig_j, rtol=1e-3)


def test_fitted_scales_are_one_where_prop_1_holds():
    # Equal ranks and weights, orthogonal bases: U* minimises the population loss, so the fitted scales are 1 up to
    # Monte Carlo error (12,000 points; the fit moved them by < 0.002 in trial runs, 0.01 leaves room).
    model = MoLRG.random(30, [4, 4], delta=0.2, seed=7)
    x0, _ = model.sample(12000, seed=8)
    fit = fit_block_scales(model.bases, x0, ddpm_sigmas(500), 0.2, seed=9)
    assert (fit.scales - 1).abs().max() < 0.01
    assert fit.loss <= fit.loss_at_one + 1e-12


def test_fitted_scales_minimise_the_sampled_loss():
    # Unequal weights: the gate has no log-prior, so scales other than 1 lower the loss. Check optimality directly:
    # the same sampled loss (same draws as the fit) rises under +-1 % perturbations of each scale.
    model = MoLRG.random(30, [4, 4], delta=0.2, weights=[0.8, 0.2], seed=10)
    x0, _ = model.sample(6000, seed=11)
    sigmas = ddpm_sigmas(500)
    fit = fit_block_scales(model.bases, x0, sigmas, 0.2, seed=12)
    assert fit.loss < fit.loss_at_one and fit.grad_norm < 1e-5
    gen = torch.Generator().manual_seed(12)  # the fit's draws, in its order
    sig = sigmas[torch.randint(0, sigmas.numel(), (x0.shape[0],), generator=gen)]
    eps = torch.randn(x0.shape, dtype=DTYPE, generator=gen)
    best = float(denoising_loss(scaled_blocks(model.bases, fit.scales), x0, sig, eps, 0.2))
    assert abs(best - fit.loss) < 1e-12
    for k in range(2):
        for f in (0.99, 1.01):
            s = fit.scales.clone()
            s[k] *= f
            assert float(denoising_loss(scaled_blocks(model.bases, s), x0, sig, eps, 0.2)) > best


def test_bad_input_names_the_parameter():
    model = MoLRG.random(10, [2, 2], delta=0.2, seed=0)
    x = torch.zeros(4, 10, dtype=DTYPE)
    with pytest.raises(ValueError, match="blocks"):
        paper_network(x, 0.5, [torch.zeros(10, 2, dtype=DTYPE), torch.zeros(9, 2, dtype=DTYPE)], 0.2)
    with pytest.raises(ValueError, match="sigma"):
        paper_network(x, 0.0, model.bases, 0.2)
    with pytest.raises(ValueError, match="delta"):
        paper_network(x, 0.5, model.bases, -0.1)
    with pytest.raises(ValueError, match="scales"):
        scaled_blocks(model.bases, [1.0])
    with pytest.raises(ValueError, match="target"):
        denoising_loss(model.bases, x, torch.ones(4, dtype=DTYPE), x, 0.2, target="v")
    with pytest.raises(ValueError, match="max_iter"):
        fit_block_scales(model.bases, x, ddpm_sigmas(10), 0.2, seed=0, max_iter=0)
