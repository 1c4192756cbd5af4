"""Tests for lowdim.density.likelihood (PF-ODE log-likelihood in Li-Yan log-SNR time) against exact mixture log-densities
from scipy.stats, and the Hutchinson estimator against the exact divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from lowdim import GaussianMixture
from lowdim.density import formula as D
from lowdim.density import likelihood as L
from lowdim import schedules as S

DTYPE = torch.float64
GM1 = GaussianMixture([[-2.0], [1.5]], [[[0.25]], [[1.0]]], [0.3, 0.7])
MEANS2 = np.array([[-1.0, 0.5], [1.5, -0.5]])
COVS2 = np.array([[[0.5, 0.35], [0.35, 0.4]], [[0.3, 0.0], [0.0, 1.2]]])
GM2 = GaussianMixture(MEANS2, COVS2, [0.4, 0.6])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one intra-op thread (on a loaded 2-core machine two threads make each op ~100x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def parts(model):
    return D.exact_predictor(model, "score"), lambda y, t: S.liyan_log_prob(model, y, t)


def test_pf_ode_matches_scipy_1d_and_2d():
    x1 = np.array([[-2.0], [0.0], [4.0]])
    ref1 = np.log(0.3 * norm.pdf(x1[:, 0], -2.0, 0.5) + 0.7 * norm.pdf(x1[:, 0], 1.5, 1.0))
    est1 = L.pf_ode_log_density(torch.as_tensor(x1), *parts(GM1), rtol=1e-9, atol=1e-11)
    # solver tolerance 1e-9 relative: a few 1e-9 nats measured; 1e-7 leaves room for platform rounding
    np.testing.assert_allclose(est1.log_prob.numpy(), ref1, atol=1e-7)
    x2 = np.array([[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5], [3.0, -2.0]])
    ref2 = np.logaddexp(np.log(0.4) + multivariate_normal(MEANS2[0], COVS2[0]).logpdf(x2),
                        np.log(0.6) + multivariate_normal(MEANS2[1], COVS2[1]).logpdf(x2))
    est2 = L.pf_ode_log_density(torch.as_tensor(x2), *parts(GM2))
    assert np.abs(est2.log_prob.numpy() - ref2).max() < 1e-6  # default rtol 1e-8: ~1e-8 measured
    assert est2.num_evals == est2.nfe * 3  # one score + two vector-Jacobian products per step in 2-D


def test_error_decreases_with_tolerance():
    x = torch.tensor([[-2.0], [0.5]], dtype=DTYPE)
    exact = GM1.log_prob(x, 1e-12)
    errs = [float((L.pf_ode_log_density(x, *parts(GM1), rtol=r, atol=r * 1e-2).log_prob - exact).abs().max())
            for r in (1e-3, 1e-6)]
    assert errs[1] < errs[0] / 30  # dopri5 (order 5): 3 decades of rtol give far more than 30x


def test_exact_divergence_matches_closed_form():
    # div s = sum_k r_k (||S_k^{-1}(x - m_k)||^2 - tr S_k^{-1}) - ||s||^2, with m_k, S_k the noised components
    t = torch.tensor(0.3, dtype=DTYPE)
    x = torch.tensor([[0.2, -0.4], [1.0, 1.5], [-2.0, 0.3]], dtype=DTYPE)
    s, div = L.score_divergence(D.exact_predictor(GM2, "score"), x, t)
    m = np.sqrt(0.7) * MEANS2
    Sk = 0.7 * COVS2 + 0.3 * np.eye(2)
    logw = np.stack([np.log(w) + multivariate_normal(mk, Sc).logpdf(x.numpy()) for w, mk, Sc in zip([0.4, 0.6], m, Sk)], 1)
    r = np.exp(logw - np.logaddexp.reduce(logw, axis=1, keepdims=True))
    terms = np.stack([(np.linalg.solve(Sc, (x.numpy() - mk).T).T ** 2).sum(1) - np.trace(np.linalg.inv(Sc))
                      for mk, Sc in zip(m, Sk)], 1)
    ref = (r * terms).sum(1) - (s.numpy() ** 2).sum(1)
    np.testing.assert_allclose(div.numpy(), ref, rtol=1e-10, atol=1e-12)  # float64 rounding only


def test_hutchinson_is_exact_in_1d_and_unbiased_in_2d():
    x1 = torch.tensor([[-1.0], [2.0]], dtype=DTYPE)
    exact = L.pf_ode_log_density(x1, *parts(GM1), rtol=1e-7, atol=1e-9).log_prob
    hutch = L.pf_ode_log_density(x1, *parts(GM1), divergence="hutchinson", rtol=1e-7, atol=1e-9).log_prob
    np.testing.assert_allclose(hutch.numpy(), exact.numpy(), atol=1e-12)  # eps^2 = 1: the same arithmetic
    reps = 100
    x2 = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=DTYPE)
    est = L.pf_ode_log_density(x2.repeat(reps, 1), *parts(GM2), divergence="hutchinson", seed=3, rtol=1e-5, atol=1e-7)
    err = (est.log_prob - GM2.log_prob(x2, 1e-12).repeat(reps)).reshape(reps, 2)
    z = err.mean(0) / (err.std(0) / reps**0.5)
    assert float(z.abs().max()) < 4.0  # unbiased; 4 standard errors (solver bias ~1e-5 is far below the s.e.)
    assert float(err.std(0).min()) > 1e-3  # and it really is random in 2-D


def test_per_probe_estimates_average_to_the_k_probe_estimate_and_nodes_follow_the_path():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]], dtype=DTYPE)
    nodes = torch.tensor([-3.0, 8.0, 0.5], dtype=DTYPE)  # any order
    est = L.pf_ode_log_density(x, *parts(GM2), divergence="hutchinson", num_probes=6, seed=2, rtol=1e-7, atol=1e-9,
                               logsnr_nodes=nodes)
    assert est.probe_log_probs.shape == (6, 3) and est.stderr.shape == (3,)
    # the K-probe divergence is the mean of the per-probe ones, and the integral is linear: one solve, K integrals
    np.testing.assert_allclose(est.log_prob.numpy(), est.probe_log_probs.mean(0).numpy(), rtol=0, atol=1e-12)
    exact = GM2.log_prob(x, 1e-12)
    assert float(((est.log_prob - exact).abs() / est.stderr).max()) < 5.0  # unbiased: within 5 of its own s.e.
    assert float(est.stderr.min()) > 1e-4  # the probes really differ in 2-D
    # the path at the nodes: integrate the ODE for x alone to each node (no divergence) and compare
    for j, lam in enumerate(nodes):
        alone = L.pf_ode_log_density(x, *parts(GM2), rtol=1e-7, atol=1e-9, logsnr_min=float(lam) - 1e-9,
                                     logsnr_nodes=torch.tensor([float(lam)], dtype=DTYPE))
        np.testing.assert_allclose(est.x_nodes[j].numpy(), alone.x_nodes[0].numpy(), atol=1e-5)  # two solves at rtol 1e-7
    exact_div = L.pf_ode_log_density(x, *parts(GM2), rtol=1e-7, atol=1e-9)
    assert exact_div.probe_log_probs is None and exact_div.stderr is None and exact_div.x_nodes is None
    with pytest.raises(ValueError, match="logsnr_nodes"):
        L.pf_ode_log_density(x, *parts(GM2), logsnr_nodes=[40.0])


def test_gauss_legendre_panels_integrate_polynomials_and_smooth_functions():
    pts, w = L.gauss_legendre_panels(-2.0, 3.0, panels=3, nodes=4)
    assert pts.shape == (12,) and bool((pts.diff() > 0).all())
    p = lambda x: 3 * x**7 - x**4 + 2 * x - 1  # degree 7 = 2 * 4 - 1: exact on each panel
    P = lambda x: 3 * x**8 / 8 - x**5 / 5 + x**2 - x
    assert abs(float((w * p(pts)).sum()) - (P(3.0) - P(-2.0))) < 1e-10 * abs(P(3.0) - P(-2.0))
    pts, w = L.gauss_legendre_panels(-10.0, 10.0, panels=4, nodes=8)
    assert abs(float((w * torch.sigmoid(pts) * torch.sigmoid(-pts)).sum()) - (torch.sigmoid(torch.tensor(10.0)) - torch.sigmoid(torch.tensor(-10.0)))) < 1e-6
    with pytest.raises(ValueError, match="high"):
        L.gauss_legendre_panels(1.0, 1.0, 2, 2)
    with pytest.raises(ValueError, match="nodes"):
        L.gauss_legendre_panels(0.0, 1.0, 2, 0)


def test_bad_inputs_are_rejected():
    x = torch.zeros(1, 1, dtype=DTYPE)
    with pytest.raises(ValueError, match="divergence"):
        L.pf_ode_log_density(x, *parts(GM1), divergence="trace")
    with pytest.raises(ValueError, match="num_probes"):
        L.pf_ode_log_density(x, *parts(GM1), divergence="hutchinson", num_probes=0)
    with pytest.raises(ValueError, match="logsnr_min"):
        L.pf_ode_log_density(x, *parts(GM1), logsnr_min=-40.0)
    with pytest.raises(ValueError, match="rtol"):
        L.pf_ode_log_density(x, *parts(GM1), rtol=0.0)


def test_linear_chain_covariance_matches_simulated_chain():
    ab = S.cosine_alpha_bars(50)
    A = lambda t: L.rotated_score_matrix(0.5, 0.8, t)
    C = L.linear_chain_covariance(ab, A)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40000, 2, dtype=DTYPE, generator=gen)
    betas = S.betas_from_alpha_bars(ab)
    for k in reversed(range(50)):
        mean = (x - betas[k] * x @ A(1.0 - ab[k]).T) / torch.sqrt(1.0 - betas[k])
        x = mean + torch.sqrt(betas[k]) * torch.randn(x.shape, dtype=DTYPE, generator=gen)
    emp = x.T @ x / x.shape[0]
    # entries of a sample covariance of 4e4 points have s.e. ~ 0.5 * sqrt(2/4e4) ~ 4e-3; 5 s.e.
    np.testing.assert_allclose(emp.numpy(), C.numpy(), atol=0.02)


def test_rotated_field_gap_and_invariance():
    from scipy.integrate import quad
    v, theta = 0.5, 0.7
    # E||theta sqrt(1-t) J X_t / V_t||^2 / (1-t) = theta^2 n V_t / V_t^2 with E||X_t||^2 = n V_t
    ref = 0.5 * quad(lambda t: theta**2 * 2 * ((1 - t) * v + t) / ((1 - t) * v + t) ** 2, 0, 1)[0]
    assert L.rotated_score_gap(v, theta) == pytest.approx(ref, rel=1e-10)  # quad is accurate to ~1e-14 here
    # the rotation leaves isotropic laws invariant: the chain output equals the theta = 0 one up to O(beta^2)
    ab = S.cosine_alpha_bars(2000)
    C0 = L.linear_chain_covariance(ab, lambda t: L.rotated_score_matrix(v, 0.0, t))
    C1 = L.linear_chain_covariance(ab, lambda t: L.rotated_score_matrix(v, theta, t))
    assert float((C1 - C0).abs().max()) < 1e-3  # sum of beta_k^2 theta^2 terms ~ 1/T
    assert float((C0 - v * torch.eye(2, dtype=DTYPE)).abs().max()) < 1e-3  # exact score: output -> p as T grows
    np.testing.assert_allclose(L.rotated_score(v, 0.0)(torch.ones(1, 2, dtype=DTYPE), torch.tensor(0.3, dtype=DTYPE)).numpy(),
                               -np.ones((1, 2)) / (0.7 * v + 0.3), rtol=1e-14)
