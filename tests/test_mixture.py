"""Tests for lowdim.mixture.GaussianMixture (the dense, general path).

References: scipy.stats.multivariate_normal + scipy.special.logsumexp + numpy linear solves (conftest.exact_posterior),
torch.autograd on log_prob, Monte Carlo (self-normalised importance sampling, sample moments).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lowdim import GaussianMixture

EPS = np.finfo(np.float64).eps
DTYPE = torch.float64
SIGMAS = [0.05, 0.5, 3.0]


def random_mixture(n, kind, seed, K=3):
    """Random mixture with non-zero means; kind 'full' (full-rank Sigma_k) or 'low' (rank max(1, n//3), from_factors).

    ->  (GaussianMixture, covariances as numpy (K, n, n)).
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 2.0, (K, n))
    weights = rng.dirichlet(2.0 * np.ones(K))
    if kind == "full":
        A = rng.normal(size=(K, n, n))
        covs = A @ A.transpose(0, 2, 1) / n + 0.05 * np.eye(n)
        return GaussianMixture(means, covs, weights), covs
    r = max(1, n // 3)
    F = rng.normal(size=(K, n, r)) / math.sqrt(r)
    return GaussianMixture.from_factors(means, F, weights), F @ F.transpose(0, 2, 1)


def query_points(gm, sigma, num, seed):
    """Points around the class means (not drawn with the library's sampler), plus noise of level sigma."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, gm.num_classes, num)
    n = gm.dim
    return gm.means.numpy()[k] + 1.5 * rng.normal(size=(num, n)) + sigma * rng.normal(size=(num, n))


def linalg_rtol(covs, sigma):
    """Perturbation bound for dense eigendecompositions / solves of Sigma_k + sigma^2 I: ~ n * kappa * eps (x10 margin)."""
    n = covs.shape[1]
    kappa = max(np.linalg.cond(c + sigma**2 * np.eye(n)) for c in covs)
    return 10 * n * kappa * EPS


CASES = [(n, kind) for n in (2, 5, 30) for kind in ("full", "low")]


@pytest.mark.parametrize("n, kind", CASES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_exact_quantities_match_scipy(n, kind, sigma, ref):
    gm, covs = random_mixture(n, kind, seed=n + (kind == "low"))
    x = query_points(gm, sigma, 40, seed=1)
    want = ref.exact_posterior(gm.means.numpy(), covs, gm.weights.numpy(), x, sigma)
    xt = torch.tensor(x)
    rtol = linalg_rtol(covs, sigma)  # see linalg_rtol: n * cond(Sigma_k + sigma^2 I) * eps, x10

    lp = gm.log_prob(xt, sigma).numpy()
    np.testing.assert_allclose(lp, want["log_prob"], rtol=0, atol=rtol * np.abs(want["log_prob"]).max())
    # a logit error e moves a softmax by <= e/2; logits are of the size of log_prob
    post = gm.class_posterior(xt, sigma).numpy()
    np.testing.assert_allclose(post, want["class_posterior"], rtol=0, atol=rtol * (1 + np.abs(want["log_prob"]).max()))
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-14)  # K-term sum of numbers in [0, 1]
    # posterior mean and score: same linear-algebra bound, relative to the largest entry
    for name in ("posterior_mean", "score"):
        got = getattr(gm, name)(xt, sigma).numpy()
        np.testing.assert_allclose(got, want[name], rtol=0, atol=rtol * np.abs(want[name]).max(), err_msg=name)


@pytest.mark.parametrize("n, kind", CASES)
def test_component_log_probs_match_scipy(n, kind, ref):
    gm, covs = random_mixture(n, kind, seed=10 + n)
    x = query_points(gm, 0.5, 25, seed=2)
    want = ref.component_logpdf(gm.means.numpy(), covs, gm.weights.numpy(), x, 0.5)
    got = gm.component_log_probs(torch.tensor(x), 0.5).numpy()
    # n * cond * eps bound (see linalg_rtol), relative to the largest |logit|
    np.testing.assert_allclose(got, want, rtol=0, atol=linalg_rtol(covs, 0.5) * np.abs(want).max())


@pytest.mark.parametrize("n, kind", CASES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_score_is_autograd_of_log_prob(n, kind, sigma):
    gm, covs = random_mixture(n, kind, seed=20 + n)
    x = torch.tensor(query_points(gm, sigma, 30, seed=3)).requires_grad_(True)
    (auto,) = torch.autograd.grad(gm.log_prob(x, sigma).sum(), x)
    got = gm.score(x.detach(), sigma)
    # two float64 evaluations of the same derivative: n * cond * eps bound (see linalg_rtol)
    tol = linalg_rtol(covs, sigma) * auto.abs().max().item()
    np.testing.assert_allclose(got.numpy(), auto.numpy(), rtol=0, atol=tol)


@pytest.mark.parametrize("n, kind", CASES)
@pytest.mark.parametrize("sigma", [0.05, 0.5, 3.0, 100.0])
def test_tweedie_posterior_mean_is_x_plus_sigma2_score(n, kind, sigma):
    gm, covs = random_mixture(n, kind, seed=30 + n)
    x = torch.tensor(query_points(gm, sigma, 30, seed=4))
    pm = gm.posterior_mean(x, sigma)
    tw = x + sigma**2 * gm.score(x, sigma)
    # x + sigma^2 score cancels terms of size |x|: error ~ n * cond * eps * max(|x|, |mu|)
    scale = max(x.abs().max().item(), gm.means.abs().max().item())
    np.testing.assert_allclose(pm.numpy(), tw.numpy(), rtol=0, atol=linalg_rtol(covs, sigma) * scale)


@pytest.mark.parametrize("kind", ["full", "low"])
def test_posterior_mean_matches_importance_sampling(kind, ref):
    """E[x0 | x] by self-normalised importance sampling: x0 ~ p_0 (the sampler), weights N(x; x0, sigma^2 I)."""
    gm, _ = random_mixture(3, kind, seed=40)
    sigma = 0.8
    xq = query_points(gm, sigma, 4, seed=5)
    x0, _ = gm.sample(200_000, seed=6)
    est, se, ess = ref.snis_posterior_mean(x0.numpy(), xq, sigma)
    assert ess.min() > 1000, "too few effective samples for the delta-method s.e. to be trusted"
    got = gm.posterior_mean(torch.tensor(xq), sigma).numpy()
    # 4 delta-method standard errors of the self-normalised IS estimate (12 coordinates checked)
    assert np.all(np.abs(got - est) <= 4 * se), np.abs(got - est) / se


@pytest.mark.parametrize("n, kind", [(5, "full"), (5, "low"), (30, "full")])
def test_sample_moments(n, kind, ref):
    gm, covs = random_mixture(n, kind, seed=50 + n)
    N = 100_000
    x0, labels = gm.sample(N, seed=7)
    assert x0.shape == (N, n) and labels.shape == (N,) and labels.dtype == torch.int64
    w, mu = gm.weights.numpy(), gm.means.numpy()
    # label frequencies: 4 binomial standard errors
    freq = np.bincount(labels.numpy(), minlength=gm.num_classes) / N
    assert np.all(np.abs(freq - w) <= 4 * np.sqrt(w * (1 - w) / N))
    mean_true = w @ mu
    cov_true = np.einsum("k,kij->ij", w, covs + mu[:, :, None] * mu[:, None, :]) - np.outer(mean_true, mean_true)
    x = x0.numpy()
    mean_se = x.std(axis=0) / math.sqrt(N)
    # 4 standard errors of a 1e5-sample mean, per coordinate
    assert np.all(np.abs(x.mean(axis=0) - mean_true) <= 4 * mean_se)
    cov_hat, cov_se = ref.moment_with_se(x)
    # 5 standard errors per entry (Bonferroni over <= 900 entries: P(any |z| > 5) ~ 5e-4)
    assert np.all(np.abs(cov_hat - cov_true) <= 5 * cov_se)
    # per class: each class's own sample covariance is Sigma_k (4.5 s.e. with Bonferroni over 3 x n^2 / 2 entries)
    for k in range(gm.num_classes):
        ck, sk = ref.moment_with_se(x[labels.numpy() == k])
        assert np.all(np.abs(ck - covs[k]) <= 5 * sk + 1e-12), k  # 1e-12: exact zeros of rank-deficient Sigma_k


@pytest.mark.parametrize("n, kind", [(5, "full"), (30, "low")])
def test_per_sample_sigma_equals_pointwise_scalar_sigma(n, kind):
    gm, _ = random_mixture(n, kind, seed=60 + n)
    sig = torch.tensor([1e-3, 0.05, 0.3, 1.0, 4.0, 50.0], dtype=DTYPE)
    x = torch.tensor(query_points(gm, 1.0, len(sig), seed=8))
    for name in ("log_prob", "class_posterior", "posterior_mean", "score", "component_log_probs"):
        batched = getattr(gm, name)(x, sig)
        looped = torch.cat([getattr(gm, name)(x[i : i + 1], sig[i].item()) for i in range(len(sig))])
        # same arithmetic per point, only reductions may be ordered differently: a few eps x n, relative
        scale = looped.abs().max().item()
        np.testing.assert_allclose(batched.numpy(), looped.numpy(), rtol=0, atol=100 * n * EPS * scale, err_msg=name)


def test_per_sample_sigma_matches_scipy(ref):
    gm, covs = random_mixture(5, "low", seed=70)
    sig = [0.02, 0.4, 2.0]
    x = query_points(gm, 0.5, 3, seed=9)
    got = gm.posterior_mean(torch.tensor(x), torch.tensor(sig, dtype=DTYPE)).numpy()
    for i, s in enumerate(sig):
        want = ref.exact_posterior(gm.means.numpy(), covs, gm.weights.numpy(), x[i : i + 2], s)["posterior_mean"][0]
        # n * cond * eps bound (see linalg_rtol)
        np.testing.assert_allclose(got[i], want, rtol=0, atol=linalg_rtol(covs, s) * np.abs(want).max())


@pytest.mark.parametrize("zero", [0, 1, 2])  # first, middle and last class (the online log-sum-exp starts at class 0)
def test_zero_weight_class_gets_zero_posterior_and_no_nan(zero, ref):
    gm3, covs = random_mixture(4, "low", seed=80)
    means = gm3.means.numpy()
    weights = np.full(3, 0.5)
    weights[zero] = 0.0
    keep = [k for k in range(3) if k != zero]
    gm = GaussianMixture(means, covs, weights)
    gm2 = GaussianMixture(means[keep], covs[keep], weights[keep])  # the same law without the zero-weight class
    # points near the zero-weight class's mean, where it would dominate if it had weight
    x = torch.tensor(means[zero] + 0.3 * np.random.default_rng(10).normal(size=(20, 4)))
    for sigma in (1e-3, 0.5, 1e3):
        post = gm.class_posterior(x, sigma)
        assert torch.isfinite(post).all()
        assert bool((post[:, zero] == 0).all())
        for name in ("log_prob", "posterior_mean", "score"):
            a, b = getattr(gm, name)(x, sigma), getattr(gm2, name)(x, sigma)
            assert torch.isfinite(a).all(), name
            # same computation with the zero-weight class skipped: rounding only
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=0, err_msg=name)
        # posteriors in [0, 1] from the same logits up to rounding: 1e-12 absolute
        np.testing.assert_allclose(post[:, keep].numpy(), gm2.class_posterior(x, sigma).numpy(), rtol=0, atol=1e-12)
    want = ref.exact_posterior(means, covs, weights, x.numpy(), 0.5)
    np.testing.assert_allclose(gm.log_prob(x, 0.5).numpy(), want["log_prob"], rtol=1e-11, atol=0)  # n * cond * eps
    x0, labels = gm.sample(5000, seed=11)
    assert not bool((labels == zero).any())


def test_from_factors_equals_explicit_covariances():
    rng = np.random.default_rng(90)
    means, F = rng.normal(size=(2, 6)), rng.normal(size=(2, 6, 2))
    a = GaussianMixture.from_factors(means, F, [0.3, 0.7])
    b = GaussianMixture(means, F @ F.transpose(0, 2, 1), [0.3, 0.7])
    x = torch.tensor(rng.normal(size=(10, 6)))
    # identical covariances up to the rounding of one matmul
    np.testing.assert_allclose(a.log_prob(x, 0.2).numpy(), b.log_prob(x, 0.2).numpy(), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------------------------
# Invalid inputs.


def _ok():
    means = np.zeros((2, 3))
    covs = np.stack([np.eye(3), 2 * np.eye(3)])
    return means, covs, np.array([0.5, 0.5])


@pytest.mark.parametrize(
    "mutate, name",
    [
        (lambda m, c, w: (m[0], c, w), "means"),  # (n,) instead of (K, n)
        (lambda m, c, w: (m[None], c, w), "means"),  # 3-D
        (lambda m, c, w: (m, c[:1], w), "covariances"),  # K mismatch
        (lambda m, c, w: (m, c[:, :2, :2], w), "covariances"),  # n mismatch
        (lambda m, c, w: (m, c[0], w), "covariances"),  # (n, n) instead of (K, n, n)
        (lambda m, c, w: (m, c + np.triu(np.ones((3, 3)), 1) * 0.1, w), "symmetric"),
        (lambda m, c, w: (m, c - 3 * np.eye(3), w), "semi-definite"),
        (lambda m, c, w: (m, np.stack([np.eye(3), np.diag([1.0, 1.0, -1e-3])]), w), "semi-definite"),
        (lambda m, c, w: (m, c, np.array([0.6, 0.6])), "weights"),
        (lambda m, c, w: (m, c, np.array([1.5, -0.5])), "weights"),
        (lambda m, c, w: (m, c, np.array([1.0])), "weights"),
        (lambda m, c, w: (m, c, np.array([np.nan, 0.5])), "weights"),
        (lambda m, c, w: (m * np.nan, c, w), "finite"),
    ],
)
def test_invalid_construction(mutate, name):
    with pytest.raises(ValueError, match=name):
        GaussianMixture(*mutate(*_ok()))


def test_invalid_factors():
    with pytest.raises(ValueError, match="factors"):
        GaussianMixture.from_factors(np.zeros((2, 3)), np.ones((3, 2)), [0.5, 0.5])


@pytest.mark.parametrize("method", ["log_prob", "class_posterior", "posterior_mean", "score", "component_log_probs"])
def test_invalid_query_inputs(method):
    gm = GaussianMixture(*_ok())
    f = getattr(gm, method)
    x = torch.zeros(4, 3, dtype=DTYPE)
    for bad_x in (torch.zeros(4, 2, dtype=DTYPE), torch.zeros(3, dtype=DTYPE), torch.zeros(2, 4, 3, dtype=DTYPE)):
        with pytest.raises(ValueError, match="x must have shape"):
            f(bad_x, 0.5)
    with pytest.raises(ValueError, match="x must be finite"):
        f(torch.full((4, 3), float("nan"), dtype=DTYPE), 0.5)
    for bad_sigma in (0.0, -1.0, float("nan"), float("inf"), torch.tensor([0.5, 0.5, 0.5, 0.0])):
        with pytest.raises(ValueError, match="sigma"):
            f(x, bad_sigma)
    with pytest.raises(ValueError, match="sigma"):
        f(x, torch.ones(3, dtype=DTYPE))  # wrong per-sample shape
    with pytest.raises(ValueError, match="sigma"):
        f(x, torch.ones(4, 1, dtype=DTYPE))


@pytest.mark.parametrize("bad", [0, -3, 10.0, 2.5, "5"])
def test_invalid_num_samples(bad):
    gm = GaussianMixture(*_ok())
    with pytest.raises(ValueError, match="num_samples"):
        gm.sample(bad, seed=0)
