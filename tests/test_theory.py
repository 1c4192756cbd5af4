"""Theorem 1 of paper 1 (lowdim.representation.theory) against Monte Carlo on the MoLRG and against its limits."""

import math

import pytest
import torch

from lowdim import MoLRG
from lowdim.metrics import snr
from lowdim.representation.molrg import gate_logit_coefficients, shrinkage_coefficients
from lowdim.representation.theory import lemma2_weights, logit_gap, theorem1_snr

DELTA, RANK = 0.2, 5


@pytest.fixture(scope="module")
def model():
    return MoLRG.random(40, [RANK] * 3, delta=DELTA, seed=0)


def _noisy(model, sigma, num, seed):
    x0, labels = model.sample(num, seed=seed)
    return x0 + sigma * torch.randn(x0.shape, dtype=x0.dtype, generator=torch.Generator().manual_seed(seed + 1)), labels


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_exact_logit_gap_is_the_expected_gate_logit_gap(model, sigma):
    x, labels = _noisy(model, sigma, 40_000, seed=1)
    phi, psi = gate_logit_coefficients(sigma, DELTA)
    energy = torch.stack([((x @ U) ** 2).sum(1) for U in model.bases], dim=1)  # |U_l^T x|^2
    logits = phi * energy + psi * (energy.sum(1, keepdim=True) - energy)  # eq. 5 logits
    own = logits.gather(1, labels[:, None]).squeeze(1)
    other = logits.gather(1, ((labels + 1) % 3)[:, None]).squeeze(1)
    gap = own - other
    se = gap.std() / math.sqrt(gap.numel())
    # Monte Carlo mean of the logit gap: within 4 standard errors of the closed form
    assert abs(float(gap.mean() - logit_gap(sigma, DELTA, RANK, "exact"))) < 4 * float(se)


@pytest.mark.parametrize("sigma", [0.06, 0.3, 1.088])
def test_theorem1_is_exact_snr_of_the_constant_weight_denoiser(model, sigma):
    """With the weights frozen at Lemma 2's constants the SNR formula is exact (the only approximation is the weights)."""
    x, labels = _noisy(model, sigma, 30_000, seed=2)
    w_pos, w_neg = lemma2_weights(sigma, DELTA, RANK, 3, "exact")
    zeta, xi = shrinkage_coefficients(sigma, DELTA)
    beta = torch.where(torch.nn.functional.one_hot(labels, 3).bool(), xi + (zeta - xi) * w_pos, xi + (zeta - xi) * w_neg)
    proj = [x @ U for U in model.bases]
    x_hat = sum(beta[:, l : l + 1] * (proj[l] @ model.bases[l].T) for l in range(3))
    got, _ = snr(x_hat, labels, model.bases)
    # ratio of class means over 10k samples per class of chi-square-like energies: ~1.3 % s.e., 4 % is ~3 s.e.
    assert got == pytest.approx(float(theorem1_snr(sigma, DELTA, RANK, 3, "exact")), rel=0.04)


@pytest.mark.parametrize("kind", ["paper", "exact"])
@pytest.mark.parametrize("K", [2, 3, 10])
def test_theorem1_limits(kind, K):
    # sigma -> 0: the SNR of the data, 1/((K-1) delta^2); sigma -> inf: 1/(K-1). Errors O(sigma^2) and O(1/sigma^2).
    assert float(theorem1_snr(1e-4, DELTA, RANK, K, kind)) == pytest.approx(1 / ((K - 1) * DELTA**2), rel=1e-5)
    assert float(theorem1_snr(1e4, DELTA, RANK, K, kind)) == pytest.approx(1 / (K - 1), rel=1e-5)


def test_paper_and_exact_gaps_agree_when_sigma_dominates_delta():
    sig = torch.tensor([3.0, 10.0, 100.0], dtype=torch.float64)
    ratio = logit_gap(sig, DELTA, RANK, "paper") / logit_gap(sig, DELTA, RANK, "exact")
    # ratio = (delta^2 + sigma^2) / ((1 - delta^2) sigma^2) -> 1/(1 - delta^2) exactly as sigma -> inf
    expected = (DELTA**2 + sig**2) / ((1 - DELTA**2) * sig**2)
    torch.testing.assert_close(ratio, expected, rtol=1e-12, atol=0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="kind"):
        logit_gap(0.1, DELTA, RANK, "approx")
    with pytest.raises(ValueError, match="num_classes"):
        theorem1_snr(0.1, DELTA, RANK, 1)
    with pytest.raises(ValueError, match="delta"):
        theorem1_snr(0.1, 1.5, RANK, 3)
    with pytest.raises(ValueError, match="sigma"):
        theorem1_snr(0.0, DELTA, RANK, 3)
