"""Tests for the Li-Yan time convention (lowdim.schedules) and the score-based density formula (lowdim.density.formula).

References are independent: scipy.stats (exact log-densities of the noised mixtures), numpy re-implementations of
the schedules, and values from the project's reference notes (paper2-density-and-paper3-guidance.md, Sec. 2.2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from lowdim import GaussianMixture
from lowdim.density import formula as D
from lowdim import schedules as S

DTYPE = torch.float64

# The reference's 1-D mixture (Sec. 2.1): pi = (0.3, 0.7), mu = (-2, 1.5), var = (0.25, 1).
GM1 = GaussianMixture([[-2.0], [1.5]], [[[0.25]], [[1.0]]], [0.3, 0.7])


def gm1_logpdf(x):
    x = np.asarray(x, dtype=float)
    return np.log(0.3 * norm.pdf(x, -2.0, 0.5) + 0.7 * norm.pdf(x, 1.5, 1.0))


def scipy_mixture_logpdf(means, covs, weights, x):
    comps = [np.log(w) + multivariate_normal(m, c).logpdf(x) for m, c, w in zip(means, covs, weights)]
    return np.logaddexp.reduce(np.stack(comps, axis=0), axis=0)


MEANS2 = np.array([[-1.0, 0.5], [1.5, -0.5]])
COVS2 = np.array([[[0.5, 0.35], [0.35, 0.4]], [[0.3, 0.0], [0.0, 1.2]]])
W2 = np.array([0.4, 0.6])
GM2 = GaussianMixture(MEANS2, COVS2, W2)


# ------------------------------------------------------------------------------------------------------------
# Li-Yan time.


def test_liyan_conversions_roundtrip_and_values():
    t = torch.tensor([1e-12, 1e-4, 0.3, 0.5, 0.9, 1 - 1e-9], dtype=DTYPE)
    sigma = S.liyan_sigma_from_t(t)
    np.testing.assert_allclose(sigma.numpy(), np.sqrt(t.numpy() / (1 - t.numpy())), rtol=1e-15)
    # sigma^2/(1+sigma^2) loses ~ eps/(1-t) relative near t = 1
    np.testing.assert_allclose(S.liyan_t_from_sigma(sigma).numpy(), t.numpy(), rtol=1e-6)
    np.testing.assert_allclose(S.liyan_t_from_logsnr(S.liyan_logsnr_from_t(t)).numpy(), t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(S.liyan_alpha_bar_from_t(t).numpy(), 1 - t.numpy(), rtol=0, atol=0)
    # t_k = 1 - alpha_bar_k: the Li-Yan sigma equals the DDPM step's VE sigma (same posterior)
    ab = S.ddpm_alpha_bars(1000)
    np.testing.assert_allclose(S.liyan_sigma_from_t(S.liyan_t_from_alpha_bar(ab)).numpy(),
                               S.sigma_from_alpha_bar(ab).numpy(), rtol=1e-12)
    x = torch.randn(5, 3, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    x_ve, s = S.liyan_to_ve(x, 0.36)
    back, tt = S.ve_to_liyan(x_ve, s)
    np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=1e-14)
    assert float(tt) == pytest.approx(0.36, rel=1e-14)
    with pytest.raises(ValueError, match="t must lie in"):
        S.liyan_sigma_from_t(1.0)
    with pytest.raises(ValueError, match="t must lie in"):
        S.liyan_sigma_from_t(0.0)


@pytest.mark.parametrize("t", [1e-6, 0.2, 0.7, 0.999])
def test_liyan_log_prob_score_and_denoisers_match_scipy(t):
    # X_t = sqrt(1-t) X_0 + sqrt(t) Z  ~  sum_k pi_k N(sqrt(1-t) mu_k, (1-t) Sigma_k + t I)
    x = np.random.default_rng(1).normal(size=(20, 2)) * 2
    covs = (1 - t) * COVS2 + t * np.eye(2)
    ref = scipy_mixture_logpdf(math.sqrt(1 - t) * MEANS2, covs, W2, x)
    xt = torch.as_tensor(x, dtype=DTYPE)
    np.testing.assert_allclose(S.liyan_log_prob(GM2, xt, t).numpy(), ref, rtol=1e-12, atol=1e-12)
    # score by autograd of the independent-looking route: compare with the analytic mixture score from scipy weights
    comps = np.stack([np.log(w) + multivariate_normal(math.sqrt(1 - t) * m, c).logpdf(x)
                      for m, c, w in zip(MEANS2, covs, W2)], axis=1)
    resp = np.exp(comps - np.logaddexp.reduce(comps, axis=1, keepdims=True))
    score = -sum(resp[:, [k]] * np.linalg.solve(covs[k], (x - math.sqrt(1 - t) * MEANS2[k]).T).T for k in range(2))
    np.testing.assert_allclose(S.liyan_score(GM2, xt, t).numpy(), score, rtol=1e-9, atol=1e-9)
    # Tweedie in Li-Yan time: E[X_0 | x] = (x + t s) / sqrt(1-t); eps* = -sqrt(t) s
    np.testing.assert_allclose(S.liyan_posterior_mean(GM2, xt, t).numpy(), (x + t * score) / math.sqrt(1 - t),
                               rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(S.liyan_noise_prediction(GM2, xt, t).numpy(), -math.sqrt(t) * score,
                               rtol=1e-7, atol=1e-7)


def test_discrete_schedules():
    # cosine (Nichol & Dhariwal 2021), numpy re-implementation
    T = 50
    s = np.arange(T + 1) / T
    f = np.cos((s + 0.008) / 1.008 * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    np.testing.assert_allclose(S.cosine_alpha_bars(T).numpy(), np.cumprod(1 - betas), rtol=1e-12)
    # the T-independent linear schedule reproduces Ho's betas at T = 1000 up to 1 - exp(-b) = b - b^2/2 + ... and the
    # half-step offset of the integral: |diff| <= 0.02^2/2 + 0.02/1000 = 2.2e-4
    b = S.betas_from_alpha_bars(S.vp_linear_alpha_bars(1000)).numpy()
    np.testing.assert_allclose(b, np.linspace(1e-4, 0.02, 1000), rtol=0, atol=2.2e-4)
    assert float(S.vp_linear_alpha_bars(1000)[-1]) == pytest.approx(math.exp(-10.05), rel=1e-12)
    # Li-Wei-Chen-Chi: beta_1 = T^-c0, then geometric growth capped at c1 log T / T
    a = S.li_alpha_bars(1000)
    b = S.betas_from_alpha_bars(a).numpy()
    assert b[0] == pytest.approx(1000.0**-2, rel=1e-10)
    assert b.max() == pytest.approx(6 * math.log(1000) / 1000, rel=1e-12)
    assert float(a[-1]) < 1e-10
    np.testing.assert_allclose(S.alpha_bars_from_betas(torch.as_tensor(b)).numpy(), a.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------------------------------------
# The density formula.


@pytest.mark.parametrize("form", D.FORMS)
def test_formula_1d_matches_scipy(form):
    # GH 40 nodes + 400-point log-SNR trapezoid: measured error < 1e-8 (it is 4e-5 with 20 nodes / 200 points);
    # tolerance 1e-6 is the 1e-5-nats target of the reference with a margin of 10
    x = torch.tensor([[-2.0], [0.0], [1.0], [4.0]], dtype=DTYPE)
    est = D.log_density(x, D.exact_predictor(GM1, form), form, num_t=400, gh_nodes=40)
    np.testing.assert_allclose(est.log_prob.numpy(), gm1_logpdf(x.numpy()[:, 0]), rtol=0, atol=1e-6)
    assert float(est.log_prob[0]) == pytest.approx(-1.427215, abs=1e-6)  # reference value (Sec. 2.1)
    assert (est.stderr == 0).all()


def test_integrand_forms_coincide():
    x = torch.tensor([[-1.0, 0.3], [2.0, 1.0]], dtype=DTYPE).repeat_interleave(50, 0)
    z = torch.randn(100, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(3))
    for t in [1e-10, 1e-3, 0.5, 1 - 1e-8]:
        vals = [D.integrand_samples(D.exact_predictor(GM2, f), f, x, z, t) for f in D.FORMS]
        # the x0 form recovers r from sqrt((1-t)/t) (x0_hat - x): cancellation costs ~ eps / sqrt(t) ~ 1e-11
        for v in vals[1:]:
            np.testing.assert_allclose(v.numpy(), vals[0].numpy(), rtol=0, atol=1e-7)


def test_formula_2d_correlated_and_near_low_rank():
    x = torch.tensor([[-1.0, 0.5], [0.0, 0.0], [2.0, -1.0], [1.0, 2.0]], dtype=DTYPE)
    est = D.log_density(x, D.exact_predictor(GM2, "score"), "score", num_t=300, gh_nodes=30)
    np.testing.assert_allclose(est.log_prob.numpy(), scipy_mixture_logpdf(MEANS2, COVS2, W2, x.numpy()), atol=1e-6)
    # near-low-rank: Sigma = u u^T + delta^2 I with delta^2 = 1e-3; the integrand moves at t ~ delta^2, well inside
    # the default grid (t_min ~ 1e-13)
    u = np.array([[0.6], [0.8]])
    cov = u @ u.T + 1e-3 * np.eye(2)
    gm = GaussianMixture([[0.0, 0.0]], cov[None], [1.0])
    pts = np.array([[0.6, 0.8], [-0.3, -0.42], [0.05, 0.0]])
    est = D.log_density(torch.as_tensor(pts), D.exact_predictor(gm, "eps"), "eps", num_t=400, gh_nodes=40)
    np.testing.assert_allclose(est.log_prob.numpy(), multivariate_normal([0, 0], cov).logpdf(pts), atol=1e-5)


def test_formula_monte_carlo_high_dim_within_standard_errors():
    n = 10
    gen = torch.Generator().manual_seed(5)
    means = torch.randn(3, n, dtype=DTYPE, generator=gen)
    A = torch.randn(3, n, n, dtype=DTYPE, generator=gen) / math.sqrt(n)
    covs = A @ A.transpose(1, 2) + 0.2 * torch.eye(n, dtype=DTYPE)
    gm = GaussianMixture(means, covs, [0.2, 0.3, 0.5])
    x, _ = gm.sample(6, seed=9)
    ref = scipy_mixture_logpdf(means.numpy(), covs.numpy(), [0.2, 0.3, 0.5], x.numpy())
    est = D.log_density(x, D.exact_predictor(gm, "score"), "score", method="mc", num_samples=1000, num_t=120, seed=1)
    z = (est.log_prob.numpy() - ref) / est.stderr.numpy()
    # 6 points: |z| <= 4 each fails by chance with probability ~ 4e-4 (the seed is fixed, so the test is deterministic)
    assert np.abs(z).max() < 4, z
    assert est.stderr.max() < 0.15  # measured 0.09-0.10 with 1000 noises
    # the control variate and the antithetic pairs both reduce the standard error
    raw = D.log_density(x, D.exact_predictor(gm, "score"), "score", method="mc", num_samples=1000, num_t=120,
                        seed=1, control_variate=False)
    assert (est.stderr <= raw.stderr + 1e-12).all()


def test_discrete_versions_match_reference_and_converge():
    x = torch.tensor([[-2.0]], dtype=DTYPE)
    sc = D.exact_predictor(GM1, "score")
    exact = gm1_logpdf(-2.0)
    # reference Sec. 2.2 (cosine schedule): Riemann = ELBO(beta) = -1.4305, ELBO(beta_tilde) = -1.830 at T = 1000
    a = S.cosine_alpha_bars(1000)
    assert float(D.discrete_density(x, a, sc)) == pytest.approx(-1.4305, abs=1e-4)
    assert float(D.ddpm_elbo(x, a, sc, "beta")) == pytest.approx(-1.4305, abs=1e-4)
    assert float(D.ddpm_elbo(x, a, sc, "beta_tilde")) == pytest.approx(-1.830, abs=1e-3)
    errs = [abs(float(D.discrete_density(x, S.li_alpha_bars(T), sc)) - exact) for T in (10, 100, 1000)]
    assert errs[0] > errs[1] > errs[2]
    # Li schedule (alpha_bar_T ~ 0, beta_1 tiny): Riemann sum and ELBO(sigma^2 = beta) coincide to 1e-8
    a = S.li_alpha_bars(200)
    assert float(D.discrete_density(x, a, sc)) == pytest.approx(float(D.ddpm_elbo(x, a, sc)), abs=1e-7)


def test_input_validation():
    x = torch.zeros(2, 1, dtype=DTYPE)
    with pytest.raises(ValueError, match="form must be one of"):
        D.log_density(x, D.exact_predictor(GM1, "score"), "hyvarinen")
    with pytest.raises(ValueError, match="method must be"):
        D.log_density(x, D.exact_predictor(GM1, "score"), "score", method="qmc")
    with pytest.raises(ValueError, match="too many"):
        D.gauss_hermite(40, 5)


def test_discrete_versions_drop_steps_at_float64_t_equal_one():
    # Li schedule at T = 10000 has alpha_bar_T ~ 3e-17, so 1 - alpha_bar_T == 1.0 in float64; those final steps
    # are dropped and the sums still agree with a schedule truncated by hand
    x = torch.tensor([[0.5]], dtype=DTYPE)
    sc = D.exact_predictor(GM1, "score")
    a = S.li_alpha_bars(2000)
    a_tail = torch.cat([a, torch.full((3,), 1e-18, dtype=DTYPE)])
    assert float(D.discrete_density(x, a_tail, sc, gh_nodes=10)) == float(D.discrete_density(x, a, sc, gh_nodes=10))
    assert float(D.ddpm_elbo(x, a_tail, sc, gh_nodes=10)) == float(D.ddpm_elbo(x, a, sc, gh_nodes=10))
    with pytest.raises(ValueError, match="non-increasing"):
        D.discrete_density(x, torch.tensor([0.5, 0.9], dtype=DTYPE), sc)
