"""Tests for lowdim.schedules: DDPM / EDM noise grids and the VE <-> VP conversions.

Reference values are the paper's own tables (paper 1, Tables 7 and 8; EDM-18 grid of Sec. 8) and independent numpy
re-implementations written here; nothing is compared against the code under test itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lowdim import schedules as S

EPS = np.finfo(np.float64).eps
DTYPE = torch.float64


# ------------------------------------------------------------------------------------------------------------
# DDPM linear-beta schedule.


@pytest.mark.parametrize("num_steps", [2, 500, 1000])
def test_ddpm_alpha_bar_matches_numpy_cumprod(num_steps):
    betas = np.linspace(1e-4, 0.02, num_steps)
    alpha_bar = np.cumprod(1.0 - betas)
    # float64 rounding over a cumulative product of <= 1000 factors: <= T * eps ~ 2e-13 relative
    np.testing.assert_allclose(S.ddpm_betas(num_steps).numpy(), betas, rtol=1e-14, atol=0)
    np.testing.assert_allclose(S.ddpm_alpha_bars(num_steps).numpy(), alpha_bar, rtol=1e-12, atol=0)
    sigma = np.sqrt((1.0 - alpha_bar) / alpha_bar)
    # one division and one sqrt more than the product above: same bound, relative
    np.testing.assert_allclose(S.ddpm_sigmas(num_steps).numpy(), sigma, rtol=1e-12, atol=0)


def test_ddpm_custom_beta_range_matches_numpy():
    betas = np.linspace(5e-4, 0.05, 300)
    alpha_bar = np.cumprod(1.0 - betas)
    # float64 rounding over a 300-factor cumulative product: ~ 300 * eps relative
    np.testing.assert_allclose(S.ddpm_alpha_bars(300, 5e-4, 0.05).numpy(), alpha_bar, rtol=1e-12, atol=0)


def test_ddpm_sigma_T500_matches_paper_table7():
    steps = [4, 9, 19, 39, 59, 79, 99, 119, 139, 159]  # 0-indexed; paper timesteps 5, 10, ..., 160
    paper = [0.030, 0.053, 0.098, 0.189, 0.282, 0.379, 0.480, 0.588, 0.704, 0.830]
    got = S.ddpm_sigma_at(steps, 500).numpy()
    # the paper prints 3 decimals: rounding error <= 5e-4
    np.testing.assert_allclose(got, paper, rtol=0, atol=5e-4)


def test_ddpm_sigma_T1000_matches_paper_table8():
    steps = [0, 4, 9, 19, 29, 39, 59, 79, 99, 199, 299, 399, 499, 599]
    paper = [0.010, 0.026, 0.044, 0.076, 0.108, 0.140, 0.205, 0.271, 0.339, 0.719, 1.234, 2.031, 3.424, 6.135]
    got = S.ddpm_sigma_at(steps, 1000).numpy()
    # the paper prints 3 decimals: rounding error <= 5e-4
    np.testing.assert_allclose(got, paper, rtol=0, atol=5e-4)


def test_ddpm_sigma_at_is_zero_indexed_and_accepts_tensors():
    # step 0 has alpha_bar = 1 - beta_0 exactly, so sigma_0 = sqrt(beta_0 / (1 - beta_0)) (T-independent)
    expected = math.sqrt(1e-4 / (1 - 1e-4))
    for T in (10, 500, 1000):
        got = S.ddpm_sigma_at(torch.tensor([0]), T)
        assert got.shape == (1,)
        # three float64 operations on a number of order 1e-2: a few eps relative
        assert got.item() == pytest.approx(expected, rel=1e-14)
    # the last step is the last entry of the full grid, and the grid increases strictly
    full = S.ddpm_sigmas(500)
    assert S.ddpm_sigma_at([499], 500).item() == full[-1].item()
    assert bool((full[1:] > full[:-1]).all())


# ------------------------------------------------------------------------------------------------------------
# EDM / Karras grid.


def _karras_numpy(N, smin, smax, rho):
    i = np.arange(N)
    return (smax ** (1 / rho) + i / (N - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho


def test_paper1_grid_is_the_nine_smallest_edm18_levels():
    paper = [0.002, 0.008, 0.023, 0.060, 0.140, 0.296, 0.585, 1.088, 1.923]
    grid = S.paper1_sigma_grid()
    assert grid.shape == (9,)
    # the paper prints 3 decimals: rounding error <= 5e-4
    np.testing.assert_allclose(grid.numpy(), paper, rtol=0, atol=5e-4)
    nxt = S.paper1_sigma_grid(12)[9:].numpy()
    # 3 decimals again (paper 1 ref. Sec. 8: 3.257, 5.315, 8.401)
    np.testing.assert_allclose(nxt, [3.257, 5.315, 8.401], rtol=0, atol=5e-4)
    assert bool((S.paper1_sigma_grid(18).diff() > 0).all())


@pytest.mark.parametrize("N, smin, smax, rho", [(18, 0.002, 80.0, 7.0), (5, 0.01, 10.0, 3.0), (40, 1e-3, 1e3, 7.0)])
def test_karras_matches_numpy_formula(N, smin, smax, rho):
    got = S.karras_sigmas(N, smin, smax, rho).numpy()
    # same formula in numpy; the power rho amplifies the rounding of the base: ~ rho * eps * few relative
    np.testing.assert_allclose(got, _karras_numpy(N, smin, smax, rho), rtol=1e-13, atol=0)
    assert bool(np.all(np.diff(got) < 0)), "EDM sampling order: decreasing"


@pytest.mark.parametrize("N, smin, smax, rho", [(18, 0.002, 80.0, 7.0), (5, 0.01, 10.0, 3.0), (40, 1e-3, 1e3, 7.0)])
def test_karras_endpoints_are_exact(N, smin, smax, rho):
    sig = S.karras_sigmas(N, smin, smax, rho)
    assert (sig[0].item(), sig[-1].item()) == (smax, smin)


# ------------------------------------------------------------------------------------------------------------
# VE <-> VP conversions.


def test_alpha_bar_sigma_formulas_and_round_trip():
    sigma = np.logspace(-3, 3, 61)
    ab = S.alpha_bar_from_sigma(torch.tensor(sigma)).numpy()
    # one square, one add, one division: a few eps relative
    np.testing.assert_allclose(ab, 1.0 / (1.0 + sigma**2), rtol=4 * EPS, atol=0)
    back = S.sigma_from_alpha_bar(torch.tensor(ab)).numpy()
    # 1 - alpha_bar cancels for small sigma: relative error of sigma ~ eps * (1 + 1/sigma^2) (x4 margin)
    assert np.all(np.abs(back / sigma - 1) <= 4 * EPS * (1 + 1 / sigma**2))

    alpha_bar = np.linspace(1e-3, 1 - 1e-3, 41)
    s = S.sigma_from_alpha_bar(torch.tensor(alpha_bar)).numpy()
    np.testing.assert_allclose(s, np.sqrt((1 - alpha_bar) / alpha_bar), rtol=4 * EPS, atol=0)  # a few eps
    ab2 = S.alpha_bar_from_sigma(torch.tensor(s)).numpy()
    # sigma^2 = (1 - ab)/ab then 1/(1 + sigma^2): relative error ~ eps / ab (x8 margin)
    assert np.all(np.abs(ab2 / alpha_bar - 1) <= 8 * EPS / alpha_bar)


@pytest.mark.parametrize("per_sample", [False, True])
def test_state_round_trip_ve_vp_ve(per_sample):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, dtype=DTYPE, generator=gen) * 3
    sigma = torch.tensor([1e-3, 0.05, 0.3, 1.0, 10.0, 300.0], dtype=DTYPE) if per_sample else torch.tensor(0.7, dtype=DTYPE)
    x_vp, ab = S.ve_to_vp(x, sigma)
    assert ab.shape == sigma.shape
    ab_np = 1.0 / (1.0 + sigma.numpy() ** 2)
    scale = np.sqrt(ab_np)[:, None] if per_sample else np.sqrt(ab_np)
    # x_vp = sqrt(alpha_bar) x_ve, computed in numpy: a few eps relative
    np.testing.assert_allclose(x_vp.numpy(), x.numpy() * scale, rtol=8 * EPS, atol=0)
    x_ve, sigma_back = S.vp_to_ve(x_vp, ab)
    # multiply then divide by the same sqrt(alpha_bar): two roundings
    np.testing.assert_allclose(x_ve.numpy(), x.numpy(), rtol=8 * EPS, atol=0)
    # sigma recovered from alpha_bar: relative error ~ eps (1 + 1/sigma^2), see the scalar round trip
    s = sigma.numpy()
    assert np.all(np.abs(sigma_back.numpy() / s - 1) <= 4 * EPS * (1 + 1 / s**2))


def test_vp_to_ve_state_has_variance_var_x0_plus_sigma2():
    """x_vp = sqrt(ab) x0 + sqrt(1-ab) eps, mapped to VE, must be distributed as x0 + sigma eps: var = v0 + sigma^2."""
    N, v0 = 200_000, 2.5
    gen = torch.Generator().manual_seed(1)
    for ab in (0.95, 0.5, 0.02):
        x0 = math.sqrt(v0) * torch.randn(N, 1, dtype=DTYPE, generator=gen)
        eps = torch.randn(N, 1, dtype=DTYPE, generator=gen)
        x_vp = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
        x_ve, sigma = S.vp_to_ve(x_vp, ab)
        sigma_ref = math.sqrt((1 - ab) / ab)
        assert sigma.item() == pytest.approx(sigma_ref, rel=1e-14)  # a few float64 operations
        var_true = v0 + sigma_ref**2
        var_hat = x_ve.var().item()
        se = var_true * math.sqrt(2.0 / (N - 1))  # s.e. of a Gaussian sample variance
        # 3 standard errors of a 2e5-sample Monte Carlo variance
        assert abs(var_hat - var_true) <= 3 * se, (ab, var_hat, var_true, se)
        # and its mean is 0: 3 s.e. of a 2e5-sample mean
        assert abs(x_ve.mean().item()) <= 3 * math.sqrt(var_true / N)


@pytest.mark.parametrize("per_sample", [False, True])
def test_vp_score_from_ve_matches_autograd_of_vp_density(per_sample):
    """1-D Gaussian x0 ~ N(mu, s2).  VE: x ~ N(mu, s2 + sigma^2).  VP: x ~ N(sqrt(ab) mu, ab s2 + 1 - ab)."""
    mu, s2 = 0.7, 1.8
    if per_sample:
        ab = torch.tensor([0.99, 0.9, 0.5, 0.1, 1e-3], dtype=DTYPE)
    else:
        ab = torch.tensor(0.3, dtype=DTYPE)
    x_vp = torch.linspace(-4, 5, 5, dtype=DTYPE).reshape(5, 1).requires_grad_(True)
    ab_col = ab.reshape(-1, 1)
    mean_vp, var_vp = ab_col.sqrt() * mu, ab_col * s2 + 1 - ab_col
    logp = -0.5 * ((x_vp - mean_vp) ** 2 / var_vp + torch.log(2 * math.pi * var_vp))
    (score_vp_ref,) = torch.autograd.grad(logp.sum(), x_vp)

    sigma2 = ((1 - ab_col) / ab_col).detach()
    x_ve = x_vp.detach() / ab_col.sqrt()
    score_ve = -(x_ve - mu) / (s2 + sigma2)  # closed-form VE score of the Gaussian
    got = S.vp_score_from_ve(score_ve, ab)
    # a handful of float64 operations on O(1) numbers: 1e-13 relative leaves a large margin over eps
    np.testing.assert_allclose(got.numpy(), score_vp_ref.numpy(), rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------------------------------------------------
# Invalid inputs: ValueError naming the parameter.


@pytest.mark.parametrize("fn", [S.ddpm_betas, S.ddpm_alpha_bars, S.ddpm_sigmas, S.karras_sigmas])
@pytest.mark.parametrize("bad", [1, 0, -5, 2.0, 500.5, "10", None])
def test_num_steps_must_be_integer_at_least_2(fn, bad):
    with pytest.raises(ValueError, match="num_steps"):
        fn(bad)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(beta_start=0.0), "beta_start"),
        (dict(beta_start=-1e-4), "beta_start"),
        (dict(beta_start=1.0, beta_end=1.0), "beta_start"),
        (dict(beta_start=float("nan")), "beta_start"),
        (dict(beta_end=1.0), "beta_end"),
        (dict(beta_end=1.5), "beta_end"),
        (dict(beta_start=0.02, beta_end=1e-4), "beta_end"),
        (dict(beta_end=float("nan")), "beta_end"),
    ],
)
def test_betas_out_of_range(kwargs, name):
    with pytest.raises(ValueError, match=name):
        S.ddpm_betas(100, **kwargs)
    with pytest.raises(ValueError, match=name):
        S.ddpm_sigma_at([0, 1], 100, **kwargs)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.3, float("nan"), float("inf"), [0.5, 1.0], [0.0, 0.5]])
def test_alpha_bar_outside_open_unit_interval(bad):
    with pytest.raises(ValueError, match="alpha_bar"):
        S.sigma_from_alpha_bar(bad)
    n = len(bad) if isinstance(bad, list) else 2
    with pytest.raises(ValueError, match="alpha_bar"):
        S.vp_to_ve(torch.ones(n, 3, dtype=DTYPE), torch.tensor(bad, dtype=DTYPE))
    with pytest.raises(ValueError, match="alpha_bar"):
        S.vp_score_from_ve(torch.ones(n, 3, dtype=DTYPE), torch.tensor(bad, dtype=DTYPE))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), [0.3, 0.0], [0.3, float("nan")]])
def test_sigma_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="sigma"):
        S.alpha_bar_from_sigma(bad)
    n = len(bad) if isinstance(bad, list) else 2
    with pytest.raises(ValueError, match="sigma"):
        S.ve_to_vp(torch.ones(n, 3, dtype=DTYPE), torch.tensor(bad, dtype=DTYPE))


def test_per_sample_level_with_wrong_length_raises():
    x = torch.ones(4, 3, dtype=DTYPE)
    for fn, level in ((S.ve_to_vp, [0.5, 1.0, 2.0]), (S.vp_to_ve, [0.5, 0.4, 0.3]), (S.vp_score_from_ve, [0.5, 0.4, 0.3])):
        with pytest.raises(ValueError, match="shape"):
            fn(x, torch.tensor(level, dtype=DTYPE))


@pytest.mark.parametrize("steps", [[500], [-1], [0, 500], [], [1.0], [2.5]])
def test_steps_out_of_range_or_not_integer(steps):
    with pytest.raises(ValueError, match="steps"):
        S.ddpm_sigma_at(steps, 500)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(sigma_min=0.0), "sigma_min"),
        (dict(sigma_min=-0.1), "sigma_min"),
        (dict(sigma_min=float("nan")), "sigma_min"),
        (dict(sigma_max=0.001), "sigma_max"),
        (dict(sigma_max=float("inf")), "sigma_max"),
        (dict(rho=0.0), "rho"),
        (dict(rho=-7.0), "rho"),
    ],
)
def test_karras_invalid_levels(kwargs, name):
    with pytest.raises(ValueError, match=name):
        S.karras_sigmas(18, **kwargs)


@pytest.mark.parametrize("bad", [0, 19, 9.0, -1])
def test_paper1_grid_num_levels(bad):
    with pytest.raises(ValueError, match="num_levels"):
        S.paper1_sigma_grid(bad)
