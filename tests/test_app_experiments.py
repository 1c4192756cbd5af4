"""lowdim.density.app_experiments (chapter 5's E6-E8 assembled from the library) and lowdim.book.text, against
independent references: scipy.stats densities and posteriors, scipy.integrate quadrature of the KL."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.stats import multivariate_normal, norm

from lowdim import GaussianMixture, MoLRG
from lowdim.book.text import latex_sci
from lowdim.checks import LOG_2PI_E
from lowdim.density import app_experiments as E
from lowdim.density import classifier as C
from lowdim.density import formula as D

F64 = torch.float64
GM1 = GaussianMixture([[-2.0], [1.5]], [[[0.25]], [[1.0]]], [0.3, 0.7])


def _gm1_pdf(x):
    return 0.3 * norm.pdf(x, -2.0, 0.5) + 0.7 * norm.pdf(x, 1.5, 1.0)


def test_classification_task_against_scipy():
    means = np.array([[-1.5, 0.0], [1.2, 1.0], [1.8, -0.8]])
    covs = np.array([[[0.6, 0.0], [0.0, 0.6]], [[0.4, 0.2], [0.2, 0.5]], [[0.5, -0.1], [-0.1, 0.3]]])
    weights = np.array([0.4, 0.3, 0.3])
    gm = GaussianMixture(means, covs, weights)
    groups = [[1], [0, 2]]  # class 0 = component 1; class 1 = components 0 and 2
    task = E.classification_task(gm, gm, groups, 300, seed=1)
    x, comp = gm.sample(300, 1)
    assert torch.equal(task["x"], x) and task["num_classes"] == 2
    np.testing.assert_array_equal(task["labels"].numpy(), np.where(comp.numpy() == 1, 0, 1))
    np.testing.assert_allclose(task["log_prior"].numpy(), np.log([0.3, 0.7]), atol=1e-15)
    logc = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(x.numpy()) for m, c, w in zip(means, covs, weights)], 1)
    cls = np.stack([np.logaddexp.reduce(logc[:, g], axis=1) for g in groups], 1)
    np.testing.assert_allclose(task["exact"].numpy(), cls - np.logaddexp.reduce(cls, axis=1, keepdims=True), atol=1e-10)
    # the class-conditional noise predictor at t -> 0 of class 0 is that of component 1 alone (Li-Yan time)
    t = torch.full((300,), 0.3, dtype=F64)
    xt = math.sqrt(0.7) * x + math.sqrt(0.3) * torch.randn(x.shape, dtype=F64, generator=torch.Generator().manual_seed(2))
    S = 0.7 * covs[1] + 0.3 * np.eye(2)  # Cov of X_t = sqrt(1-t) X + sqrt(t) Z for component 1
    score = -np.linalg.solve(S, (xt.numpy() - math.sqrt(0.7) * means[1]).T).T
    np.testing.assert_allclose(task["eps"](xt, t, 0).numpy(), -math.sqrt(0.3) * score, atol=1e-10)


def test_classification_task_on_a_molrg_maps_components_to_classes():
    m = MoLRG.random(8, [2, 2, 2], delta=0.1, seed=3)
    task = E.classification_task(m, m.to_mixture(), [[0], [1], [2]], 50, seed=4)
    _, comp = m.sample(50, 4)
    assert torch.equal(task["labels"], comp) and task["exact"].shape == (50, 3)
    np.testing.assert_allclose(task["exact"].exp().sum(1).numpy(), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="num_points"):
        E.classification_task(m, m.to_mixture(), [[0], [1], [2]], 0, seed=4)


@pytest.mark.parametrize("a, log_b", [(-2.0, -1.0), (1.5, -0.5)])  # b <= 0.6: -log p is smooth on the z-rule
def test_generator_reverse_kl_against_scipy_quad(a, log_b):
    z, zw = D.gauss_hermite(60, 1)
    th = torch.tensor([a, log_b], dtype=F64)
    b = math.exp(log_b)
    ref = quad(lambda x: norm.pdf(x, a, b) * (norm.logpdf(x, a, b) - np.log(_gm1_pdf(x))), a - 12 * b, a + 12 * b,
               limit=200)[0]
    assert float(E.generator_reverse_kl(GM1, th, z[:, 0], zw)) == pytest.approx(ref, abs=1e-6)  # Gauss-Hermite error


def test_score_objective_is_the_cross_entropy_and_the_reverse_kl():
    """R(theta) = H(p_theta, p) - log(2 pi e)/2 (the density formula), so R - H(p_theta) = KL - log(2 pi e)/2."""
    z, zw = D.gauss_hermite(30, 1)
    rule = C.elbo_rule(400, -25.0, 30.0)
    th = torch.tensor([0.4, -0.3], dtype=F64, requires_grad=True)
    R = E.score_objective(GM1, th, z[:, 0], zw, rule, 40, with_entropy=False)
    KL_part = E.score_objective(GM1, th, z[:, 0], zw, rule, 40, with_entropy=True)
    x = 0.4 + math.exp(-0.3) * z[:, 0].numpy()
    H = -(zw.numpy() * np.log(_gm1_pdf(x))).sum()  # scipy cross-entropy with the same z rule
    assert float(R.detach()) + 0.5 * LOG_2PI_E == pytest.approx(H, abs=1e-5)  # quadrature error of the formula
    entropy = norm(0.4, math.exp(-0.3)).entropy()
    assert float(KL_part.detach()) == pytest.approx(H - entropy - 0.5 * LOG_2PI_E, abs=1e-5)
    (g,) = torch.autograd.grad(KL_part, th)
    (g_ref,) = torch.autograd.grad(E.generator_reverse_kl(GM1, th, z[:, 0], zw), th)
    assert torch.allclose(g, g_ref, atol=1e-5)


def _head_data():
    x1 = torch.tensor([-1.0, 0.0, 0.7, 1.5], dtype=F64)
    x2 = torch.tensor([0.2, -1.1, 1.4, 2.0], dtype=F64)
    w = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=F64)
    theta = torch.tensor([1.0, 0.5, -1.0, -0.3, math.log(0.6)], dtype=F64)
    return theta, x1, x2, w


def test_mixture_head_and_its_nll_against_scipy():
    theta, x1, x2, w = _head_data()
    means, var, log_w = E.mixture_head(theta, x1)
    np.testing.assert_allclose(means.numpy(), np.stack([1.0 + 0.5 * x1.numpy(), -1.0 - 0.3 * x1.numpy()], 1), atol=1e-15)
    np.testing.assert_allclose(var.numpy(), [0.36, 0.36], rtol=1e-14)
    np.testing.assert_allclose(log_w.exp().numpy(), [0.5, 0.5], atol=1e-16)
    q = 0.5 * norm.pdf(x2.numpy(), means[:, 0].numpy(), 0.6) + 0.5 * norm.pdf(x2.numpy(), means[:, 1].numpy(), 0.6)
    assert float(E.head_nll(theta, x1, x2, w)) == pytest.approx(-(w.numpy() * np.log(q)).sum(), rel=1e-13)


def test_head_loss_with_elbo_weights_is_the_nll():
    """The ELBO-weighted denoising loss is -log q - log(2 pi e)/2 per point (the density formula), so the two head
    objectives differ by a constant and have the same gradient; the uniform weighting does not."""
    theta, x1, x2, w = _head_data()
    theta = theta.clone().requires_grad_(True)
    elbo = E.head_loss(theta, x1, x2, w, C.elbo_rule(400, -25.0, 30.0), 40)
    nll = E.head_nll(theta, x1, x2, w)
    assert float(elbo.detach()) == pytest.approx(float(nll.detach()) - 0.5 * LOG_2PI_E * float(w.sum()), abs=1e-5)
    (g_elbo,) = torch.autograd.grad(elbo, theta)
    (g_nll,) = torch.autograd.grad(E.head_nll(theta, x1, x2, w), theta)
    assert torch.allclose(g_elbo, g_nll, atol=1e-5)
    (g_uni,) = torch.autograd.grad(E.head_loss(theta, x1, x2, w, C.uniform_rule(100, schedule="cosine"), 30), theta)
    assert float((g_uni - g_nll).abs().max()) > 1e-3


def test_latex_sci():
    assert latex_sci(65432.1) == "6.5\\cdot10^{4}"
    assert latex_sci(0.000123456, digits=3) == "1.23\\cdot10^{-4}"
    assert latex_sci(-2.0) == "-2.0\\cdot10^{0}"
    with pytest.raises(ValueError, match="value must be finite"):
        latex_sci(float("inf"))
