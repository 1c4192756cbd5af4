"""Tests for lowdim.density.classifier (diffusion classifier) and lowdim.density.applications (GAN regulariser, AR diffusion loss).

References are independent: scipy.stats for the Bayes posterior and the log-densities, closed-form Gaussian
entropy/moments, and autograd.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from lowdim import GaussianMixture, MoLRG
from lowdim.checks import LOG_2PI_E
from lowdim.density import applications as A
from lowdim.density import classifier as C
from lowdim.density import formula as D

DT = torch.float64
MEANS = np.array([[-1.5, 0.0], [1.2, 1.0], [1.8, -0.8]])
COVS = np.array([[[0.6, 0.0], [0.0, 0.6]], [[0.4, 0.2], [0.2, 0.5]], [[0.5, -0.1], [-0.1, 0.3]]])
WEIGHTS = np.array([0.4, 0.3, 0.3])
GROUPS = [[0], [1, 2]]
GM = GaussianMixture(MEANS, COVS, WEIGHTS)
X = torch.tensor([[-1.0, 0.2], [0.3, 0.1], [1.5, 0.0], [0.8, 1.5]], dtype=DT)


def scipy_log_posterior(x):
    comp = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(x) for m, c, w in zip(MEANS, COVS, WEIGHTS)], 1)
    cls = np.stack([np.logaddexp.reduce(comp[:, g], axis=1) for g in GROUPS], 1)
    return cls - np.logaddexp.reduce(cls, axis=1, keepdims=True)


def test_exact_log_posterior_matches_scipy():
    ref = scipy_log_posterior(X.numpy())
    assert np.allclose(C.exact_log_posterior(GM, GROUPS, X).numpy(), ref, atol=1e-12)  # float64 rounding


def test_split_classes():
    priors, models = C.split_classes(GM, GROUPS)
    assert torch.allclose(priors, torch.tensor([0.4, 0.6], dtype=DT))
    assert torch.allclose(models[1].weights, torch.tensor([0.5, 0.5], dtype=DT))
    with pytest.raises(ValueError, match="groups"):
        C.split_classes(GM, [[0], [1]])


def test_elbo_classifier_converges_to_bayes_posterior():
    """Shared noise, 160 t-values x 64 replicates: log-odds within 4 standard errors plus the quadrature error."""
    priors, models = C.split_classes(GM, GROUPS)
    out = C.diffusion_classifier(X, C.exact_class_eps(models), 2, C.elbo_rule(160), 64, torch.log(priors), True, 3)
    exact = torch.as_tensor(scipy_log_posterior(X.numpy()))
    err = (out.log_posterior[:, 1] - out.log_posterior[:, 0]) - (exact[:, 1] - exact[:, 0])
    # 4 s.e. (4 points, a >4-sigma miss has probability < 3e-4) plus 1e-3 for the lambda-truncation/trapezoid error
    assert (err.abs() <= 4 * out.log_odds_stderr[:, 1] + 1e-3).all(), (err, out.log_odds_stderr[:, 1])
    assert out.num_evals == 160 * 64


def test_elbo_energy_is_the_density_formula():
    """With the control variate and a wide log-SNR range the energy is -log p(x | c) - (n/2) log(2 pi e)."""
    priors, models = C.split_classes(GM, GROUPS)
    out = C.diffusion_classifier(X, C.exact_class_eps(models), 2, C.elbo_rule(200, -25.0, 30.0), 2000, None, True, 1)
    for c, m in enumerate(models):
        est = -out.energy[:, c] - math.log(2 * math.pi * math.e)
        exact = m.log_prob(X, 1e-12)
        # Monte Carlo over 2000 noises (no antithetics): s.e. ~ 0.03; allow 0.15
        assert (est - exact).abs().max() < 0.15


def test_shared_noise_cuts_variance_for_molrg():
    """16-D MoLRG: class differences with shared noise vary far less across seeds than with independent noise."""
    mo = MoLRG.random(16, [2, 2, 2], 0.3, seed=0)
    priors, models = C.split_classes(mo.to_mixture(), [[0], [1], [2]])
    x, _ = mo.sample(20, 1)
    eps = C.exact_class_eps(models)
    spread = {}
    for shared in (True, False):
        runs = torch.stack([C.diffusion_classifier(x, eps, 3, C.elbo_rule(32), 1, None, shared, s).log_posterior
                            for s in range(4)])
        spread[shared] = float(runs.std(dim=0).mean())
    assert spread[True] < 0.5 * spread[False]


def test_uniform_rule_matches_li_et_al_timesteps():
    rule = C.uniform_rule(10)
    ab = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=DT), 0)
    steps = list(range(50, 1000, 100))  # their range(T // n // 2, T, T // n)
    assert torch.allclose(rule.t, 1 - ab[steps])
    assert rule.baseline == 0.0 and torch.allclose(rule.weights.sum(), torch.tensor(2.0, dtype=DT))
    with pytest.raises(ValueError, match="schedule"):
        C.uniform_rule(10, schedule="quadratic")


def test_metrics():
    lp = torch.log(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=DT))
    labels = torch.tensor([0, 1, 1])
    assert C.accuracy(lp, labels) == pytest.approx(2 / 3)
    # bins: 0.9 -> correct, 0.8 -> correct, 0.6 -> wrong: (|1 - .9| + |1 - .8| + |0 - .6|) / 3
    assert C.expected_calibration_error(lp, labels, num_bins=10) == pytest.approx((0.1 + 0.2 + 0.6) / 3)
    assert torch.allclose(C.log_odds_error(lp, lp), torch.zeros(3, dtype=DT))


def test_bad_inputs():
    priors, models = C.split_classes(GM, GROUPS)
    eps = C.exact_class_eps(models)
    with pytest.raises(ValueError, match="num_noise"):
        C.diffusion_classifier(X, eps, 2, C.elbo_rule(8), 0)
    with pytest.raises(ValueError, match="x must have shape"):
        C.diffusion_classifier(X[0], eps, 2, C.elbo_rule(8))
    with pytest.raises(ValueError, match="num_t"):
        C.elbo_rule(1)


# ----------------------------------------------------------------------------------------------------------
# applications

GM1 = GaussianMixture([[-2.0], [1.5]], [[[0.25]], [[1.0]]], [0.3, 0.7])


def test_regulariser_is_cross_entropy_with_gradient():
    z, zw = D.gauss_hermite(20, 1)
    th = torch.tensor([0.3, -0.4], dtype=DT, requires_grad=True)
    R = A.score_regulariser(GM1, th, z[:, 0], zw, C.elbo_rule(400, -25.0, 30.0), 40)
    # independent cross-entropy: scipy log-density at the generator's Gauss-Hermite points
    x = 0.3 + math.exp(-0.4) * z[:, 0].numpy()
    H = -(zw.numpy() * np.log(0.3 * norm.pdf(x, -2, 0.5) + 0.7 * norm.pdf(x, 1.5, 1.0))).sum()
    assert abs(float(R.detach()) + 0.5 * LOG_2PI_E - H) < 1e-5  # quadrature error of the formula (ch04: < 1e-6)
    gR, = torch.autograd.grad(R, th)
    gH, = torch.autograd.grad(A.cross_entropy(GM1, th, z[:, 0], zw), th)
    assert torch.allclose(gR, gH, atol=1e-5)


def test_gaussian_entropy():
    th = torch.tensor([0.0, math.log(1.7)], dtype=DT)
    assert float(A.gaussian_entropy(th)) == pytest.approx(norm(0, 1.7).entropy(), abs=1e-12)


def test_fit_adam_reaches_minimum():
    theta, path = A.fit_adam(lambda th: ((th - torch.tensor([1.0, -2.0], dtype=DT)) ** 2).sum(), [0.0, 0.0], 400, 0.1)
    assert path.shape == (401, 2)
    assert torch.allclose(theta, torch.tensor([1.0, -2.0], dtype=DT), atol=1e-3)


def test_mixture_eps_is_minus_sqrt_t_score():
    """Against autograd of the exact Li-Yan log-density of a 1-D mixture with per-row means."""
    x = torch.tensor([-1.0, 0.2, 2.0], dtype=DT, requires_grad=True)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=DT)
    means = torch.tensor([[0.0, 1.0], [-1.0, 2.0], [0.5, 0.7]], dtype=DT)
    var, lw = torch.tensor([0.3, 1.2], dtype=DT), torch.log(torch.tensor([0.4, 0.6], dtype=DT))
    a = torch.sqrt(1 - t)[:, None]
    logp = torch.logsumexp(lw - 0.5 * ((x[:, None] - a * means) ** 2 / ((1 - t)[:, None] * var + t[:, None])
                                       + torch.log((1 - t)[:, None] * var + t[:, None])), dim=1)
    score, = torch.autograd.grad(logp.sum(), x)
    assert torch.allclose(A.mixture_eps(x.detach(), t, means, var, lw), -torch.sqrt(t) * score, atol=1e-12)


def test_diffusion_loss_is_density_formula_and_data_quadrature():
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=DT)
    means = torch.tensor([[-2.0, 1.5]], dtype=DT).expand(3, 2)
    loss = A.diffusion_loss(x, means, torch.tensor([0.25, 1.0], dtype=DT), torch.log(torch.tensor([0.3, 0.7], dtype=DT)),
                            C.elbo_rule(400, -25.0, 30.0), 40)
    ref = np.log(0.3 * norm.pdf(x.numpy(), -2, 0.5) + 0.7 * norm.pdf(x.numpy(), 1.5, 1.0))
    assert np.allclose(-loss.numpy() - 0.5 * LOG_2PI_E, ref, atol=1e-5)  # quadrature error, as in ch04
    # data quadrature: E x2 = sum_k w2_k (c_k + a_k E x1), exact for this linear moment
    m1, v1, w1 = (torch.tensor(v, dtype=DT) for v in ([-1.0, 1.5], [0.3, 0.5], [0.5, 0.5]))
    c2, a2, u2, w2 = (torch.tensor(v, dtype=DT) for v in ([1.0, -1.0], [0.8, -0.5], [0.1, 1.0], [0.75, 0.25]))
    x1, x2, w = A.data_quadrature(m1, v1, w1, c2, a2, u2, w2, 5)
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float((w * x2).sum()) == pytest.approx(float((w2 * (c2 + a2 * 0.25)).sum()), abs=1e-12)
    assert float((w * x1**2).sum()) == pytest.approx(0.5 * (0.3 + 1) + 0.5 * (0.5 + 2.25), abs=1e-12)


def test_fit_lbfgs_reaches_the_quadratic_minimiser():
    A_mat = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=DT)
    b = torch.tensor([1.0, -2.0], dtype=DT)
    theta = A.fit_lbfgs(lambda th: 0.5 * th @ A_mat @ th - b @ th, [5.0, 5.0], gtol=1e-12)
    # minimiser A^{-1} b by a dense solve; L-BFGS-B stops at |grad| <= 1e-12, i.e. within ~1e-12 / lambda_min(A)
    assert np.allclose(theta.numpy(), np.linalg.solve(A_mat.numpy(), b.numpy()), atol=1e-9)
