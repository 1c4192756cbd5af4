"""Tests for the exact core lowdim.gaussians: the three frame kinds, log-space posterior sums, class grouping.

References: scipy.stats.multivariate_normal and dense numpy solves (conftest.exact_posterior), torch.autograd of
log p, Tweedie's identity, class sums done by hand with scipy.special.logsumexp.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import lowdim.gaussians as core
from lowdim import GaussianMixture, LabelledMixture, MoLRG
from lowdim.gaussians import ClassGrouping, ExactMixture, Frame

DTYPE = torch.float64
EPS = np.finfo(np.float64).eps
N_DIM, K = 6, 3


def dense_parts(kind: str, seed: int = 0):
    """(means (K, n), covariances (K, n, n), frame) of one mixture per frame kind, built independently of Frame.detect.

    axes: diagonal covariances; span: Sigma_k = B S_k B^T + lam0_k (I - B B^T) with m = 3, means in span(B) and a
    different off-span variance per component; eigen: full-rank covariances in general position.
    """
    rng = np.random.default_rng(seed)
    if kind == "axes":
        var = rng.uniform(0.2, 2.0, (K, N_DIM))
        means = rng.normal(0, 2, (K, N_DIM))
        return means, np.stack([np.diag(v) for v in var]), Frame.axes(torch.tensor(var), torch.tensor(means))
    if kind == "span":
        B, _ = np.linalg.qr(rng.normal(size=(N_DIM, 3)))
        A = rng.normal(size=(K, 3, 3))
        S = A @ A.transpose(0, 2, 1) / 3 + 0.6 * np.eye(3)  # in-span variances above every lam0 (what detect needs)
        lam0 = np.array([0.1, 0.5, 0.0])
        nu = rng.normal(0, 2, (K, 3))
        covs = B @ S @ B.T + lam0[:, None, None] * (np.eye(N_DIM) - B @ B.T)
        frame = Frame.span(torch.tensor(B), torch.tensor(S), torch.tensor(nu), torch.tensor(lam0))
        return nu @ B.T, covs, frame
    A = rng.normal(size=(K, N_DIM, N_DIM))
    covs = A @ A.transpose(0, 2, 1) / N_DIM + 0.05 * np.eye(N_DIM)
    means = rng.normal(0, 2, (K, N_DIM))
    lam, Q = np.linalg.eigh(covs)
    return means, covs, Frame.eigen(torch.tensor(lam), torch.tensor(Q), torch.tensor(means))


WEIGHTS = np.array([0.2, 0.5, 0.3])
KINDS = ["axes", "span", "eigen"]


def points(means, sigma, num=30, seed=1):
    rng = np.random.default_rng(seed)
    return means[rng.integers(0, K, num)] + 1.5 * rng.normal(size=(num, N_DIM)) + sigma * rng.normal(size=(num, N_DIM))


def rtol_for(covs, sigma):
    """n * cond(Sigma_k + sigma^2 I) * eps, x10: the accuracy of a dense solve / eigendecomposition."""
    return 10 * N_DIM * EPS * max(np.linalg.cond(c + sigma**2 * np.eye(N_DIM)) for c in covs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sigma", [0.05, 0.7, 5.0])
def test_every_frame_matches_scipy_and_dense_solves(kind, sigma, ref):
    means, covs, frame = dense_parts(kind)
    assert frame.kind == kind
    mix = ExactMixture(frame, WEIGHTS)
    x = points(means, sigma)
    want = ref.exact_posterior(means, covs, WEIGHTS, x, sigma)
    comp = ref.component_logpdf(means, covs, WEIGHTS, x, sigma)
    xt = torch.tensor(x)
    tol = rtol_for(covs, sigma)  # see rtol_for
    np.testing.assert_allclose(mix.component_log_probs(xt, sigma).numpy(), comp, rtol=0, atol=tol * np.abs(comp).max())
    np.testing.assert_allclose(mix.log_prob(xt, sigma).numpy(), want["log_prob"], rtol=0,
                               atol=tol * np.abs(want["log_prob"]).max())
    # a logit error e moves a softmax by <= e/2; logits are of the size of the component log-densities
    np.testing.assert_allclose(mix.class_posterior(xt, sigma).numpy(), want["class_posterior"], rtol=0,
                               atol=tol * (1 + np.abs(comp).max()))
    for name in ("posterior_mean", "score"):  # posterior errors times the size of the component terms
        got = getattr(mix, name)(xt, sigma).numpy()
        np.testing.assert_allclose(got, want[name], rtol=0, atol=tol * (1 + np.abs(comp).max()) * np.abs(want[name]).max(),
                                   err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_detect_finds_the_frame_of_a_dense_mixture(kind):
    means, covs, frame = dense_parts(kind)
    gm = GaussianMixture(means, covs, WEIGHTS)
    assert gm.frame.kind == "eigen"  # GaussianMixture is the dense reference: always the eigen frame
    found = gm.fastest_frame()
    assert found.kind == kind
    if kind == "span":
        assert found.basis.shape == (N_DIM, 3)
        np.testing.assert_allclose(np.sort(found.lam0.numpy()), [0.0, 0.1, 0.5], atol=1e-12)
    x = torch.tensor(points(means, 0.3, seed=2))
    # same law on two frames: eigen rounding (64 eps of the largest eigenvalue) times cond ~ 1e-12 here
    np.testing.assert_allclose(ExactMixture(found, WEIGHTS).score(x, 0.3).numpy(), gm.score(x, 0.3).numpy(),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sigma", [0.05, 1.0])
@pytest.mark.parametrize("per_point", [False, True])
def test_score_is_autograd_and_tweedie_holds(kind, sigma, per_point):
    means, covs, frame = dense_parts(kind)
    mix = ExactMixture(frame, WEIGHTS)
    x = torch.tensor(points(means, sigma, seed=3))
    s = torch.full((x.shape[0],), sigma, dtype=DTYPE) * torch.linspace(0.5, 2.0, x.shape[0], dtype=DTYPE) \
        if per_point else sigma
    xr = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(mix.log_prob(xr, s).sum(), xr)
    score = mix.score(x, s)
    # two float64 evaluations of one derivative: the solve accuracy (rtol_for) at the smallest sigma used
    tol = rtol_for(covs, 0.5 * sigma) * auto.abs().max().item()
    np.testing.assert_allclose(score.numpy(), auto.numpy(), rtol=0, atol=tol)
    var = torch.as_tensor(s, dtype=DTYPE).reshape(-1, 1) ** 2
    # Tweedie: E[x0|x] = x + sigma^2 score; the right side cancels terms of size |x|: n * cond * eps * |x|
    np.testing.assert_allclose(mix.posterior_mean(x, s).numpy(), (x + var * score).numpy(), rtol=0,
                               atol=rtol_for(covs, 0.5 * sigma) * x.abs().max().item())


@pytest.mark.parametrize("kind", KINDS)
def test_chunked_online_log_sum_exp_equals_one_chunk(kind, monkeypatch):
    means, covs, frame = dense_parts(kind)
    mix = ExactMixture(frame, [0.0, 0.6, 0.4])  # a zero weight: P(k|x) = 0 exactly, no NaN
    x = torch.tensor(points(means, 0.5, seed=4))
    whole = {m: getattr(mix, m)(x, 0.5) for m in ("class_posterior", "posterior_mean", "score", "log_prob")}
    monkeypatch.setattr(core, "CHUNK_ELEMENTS", 1)  # eigen frame: one component per chunk (the online path)
    if kind == "eigen":
        assert len(frame.chunks(x.shape[0])) == K
    for m, v in whole.items():
        got = getattr(mix, m)(x, 0.5)
        assert torch.isfinite(got).all()
        # same terms, summed in another order: a few eps relative
        np.testing.assert_allclose(got.numpy(), v.numpy(), rtol=1e-13, atol=1e-13, err_msg=m)
    assert bool((whole["class_posterior"][:, 0] == 0).all())


@pytest.mark.parametrize("kind", KINDS)
def test_finite_from_sigma_1e_minus_5_to_1e5(kind):
    means, covs, frame = dense_parts(kind)
    if kind == "span":  # lam0 = 0 for one component: singular, so sigma > 0 only
        assert frame.min_variance == 0.0
    mix = ExactMixture(frame, WEIGHTS)
    lab = LabelledMixture(GaussianMixture(means, covs, WEIGHTS), [0, 1, 0])
    for sigma in [1e-5, 1e-3, 1.0, 1e3, 1e5]:
        x = torch.tensor(points(means, sigma, seed=5))
        for m in ("log_prob", "class_posterior", "posterior_mean", "score", "component_log_probs"):
            assert torch.isfinite(getattr(mix, m)(x, sigma)).all(), (m, sigma)
        for out in lab.scores(x, sigma, 1):
            assert torch.isfinite(out).all(), sigma
        assert torch.isfinite(lab.log_class_posterior(x, sigma)).all(), sigma


# ----------------------------------------------------------------------------------------------------------
# Classes.


def test_class_grouping_equals_summing_components_by_hand(ref):
    means, covs, _ = dense_parts("eigen", seed=7)
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    means, covs = np.concatenate([means, means[:1] + 1.0]), np.concatenate([covs, covs[:1]])
    labels = [1, 0, 1, 1]
    lab = LabelledMixture(GaussianMixture(means, covs, weights), labels)
    sigma = 0.4
    x = points(means[:3], sigma, seed=8)
    comp = ref.component_logpdf(means, covs, weights, x, sigma)  # scipy
    by_hand = np.stack([logsumexp(comp[:, [k for k in range(4) if labels[k] == c]], axis=1) for c in (0, 1)], 1)
    xt = torch.tensor(x)
    # scipy and eigh log-densities agree to n * cond * eps relative to the log-density size
    tol = rtol_for(covs, sigma) * np.abs(comp).max()
    np.testing.assert_allclose(lab.log_class_posterior(xt, sigma).numpy(), by_hand - logsumexp(comp, 1)[:, None],
                               rtol=0, atol=tol)
    np.testing.assert_allclose(lab.log_prob(xt, sigma, 1).numpy(), by_hand[:, 1] - math.log(0.8), rtol=0, atol=tol)
    # class-conditional score = score of the mixture of the class's components (dense solves, by hand)
    members = [0, 2, 3]
    want = ref.exact_posterior(means[members], covs[members], weights[members] / 0.8, x, sigma)["score"]
    s_cond, s_uncond, lp = lab.scores(xt, sigma, 1)
    np.testing.assert_allclose(s_cond.numpy(), want, rtol=0, atol=tol * np.abs(want).max())
    full = ref.exact_posterior(means, covs, weights, x, sigma)["score"]
    np.testing.assert_allclose(s_uncond.numpy(), full, rtol=0, atol=tol * np.abs(full).max())
    np.testing.assert_allclose(lp.numpy(), by_hand[:, 1] - logsumexp(comp, 1), rtol=0, atol=tol)


def test_class_grouping_from_groups_and_bad_groups():
    w = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=DTYPE)
    g = ClassGrouping.from_groups([[1], [0, 3], [2]], w)
    assert g.component_class.tolist() == [1, 0, 2, 1]
    np.testing.assert_allclose(g.prior.numpy(), [0.2, 0.5, 0.3], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="groups"):
        ClassGrouping.from_groups([[0], [1, 2]], w)
    with pytest.raises(ValueError, match="component_class"):
        ClassGrouping([0, 2, 2, 0], w)
    with pytest.raises(ValueError, match="c must lie"):
        g.labels(3, 2)
    lp = torch.tensor([[-1000.0, -2.0, -1001.0, -3.0]], dtype=DTYPE)  # class 1 underflows a shared exp
    assert math.isclose(float(g.log_sum(lp)[0, 1]), float(torch.logsumexp(lp[0, [0, 3]], 0)), abs_tol=1e-12)
    assert float(g.log_sum(lp)[0, 2]) == -1001.0


# ----------------------------------------------------------------------------------------------------------
# MoLRG: the span frame from the bases, never an n x n matrix.


def test_molrg_and_its_labelled_mixture_never_build_an_n_by_n_matrix(monkeypatch):
    def forbidden(self):
        raise AssertionError("to_mixture (n x n covariances) called")

    monkeypatch.setattr(MoLRG, "to_mixture", forbidden)
    for angle in (90.0, 30.0):
        m = MoLRG.random(3000, [4, 4, 4], delta=0.3, angle_deg=angle, seed=0)
        assert m.frame.kind == "span" and m.basis.shape == (3000, 12)
        lab = LabelledMixture.from_molrg(m)
        x, _ = m.sample(50, seed=1)
        x = x + 0.5 * torch.randn(x.shape, dtype=DTYPE, generator=torch.Generator().manual_seed(2))
        s_cond, s_uncond, lp = lab.scores(x, 0.5, 0)
        # the unconditional score of the labelled mixture is the MoLRG's own (one frame, same arithmetic)
        np.testing.assert_allclose(s_uncond.numpy(), m.score(x, 0.5).numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(torch.exp(lp).numpy(), m.class_posterior(x, 0.5)[:, 0].numpy(), rtol=1e-10,
                                   atol=1e-14)


def test_labelled_molrg_matches_dense_solve(ref):
    m = MoLRG.random(12, [3, 3], delta=0.2, angle_deg=40.0, seed=3)
    lab = LabelledMixture.from_molrg(m)
    covs = ref.molrg_covariances(m.bases, m.delta)
    x = torch.randn(20, 12, dtype=DTYPE, generator=torch.Generator().manual_seed(4))
    s_cond, _, _ = lab.scores(x, 0.3, 1)
    want = -np.linalg.solve(covs[1] + 0.09 * np.eye(12), x.numpy().T).T
    # cond(Sigma + 0.09 I) ~ 12: rounding only
    np.testing.assert_allclose(s_cond.numpy(), want, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Inputs.


def test_float32_inputs_are_converted_to_float64():
    means, covs, _ = dense_parts("eigen", seed=9)
    gm64 = GaussianMixture(torch.tensor(means, dtype=torch.float32).double(),
                           torch.tensor(covs, dtype=torch.float32).double(), [0.25, 0.25, 0.5])
    gm32 = GaussianMixture(torch.tensor(means, dtype=torch.float32), torch.tensor(covs, dtype=torch.float32),
                           torch.tensor([0.25, 0.25, 0.5], dtype=torch.float32))
    x32 = torch.tensor(points(means, 0.5, seed=10), dtype=torch.float32)
    s32 = torch.tensor(0.5, dtype=torch.float32)
    for name in ("log_prob", "posterior_mean", "score"):
        got = getattr(gm32, name)(x32, s32)
        assert got.dtype == torch.float64, name
        # the same float64 computation on the same (converted) values: identical
        assert torch.equal(got, getattr(gm64, name)(x32.double(), float(s32)))
    lab = LabelledMixture(gm32, [0, 1, 0])
    assert lab.scores(x32, s32, 1)[0].dtype == torch.float64


def test_public_helpers():
    q = core.random_orthonormal(7, 3, core.generator(0))
    np.testing.assert_allclose((q.T @ q).numpy(), np.eye(3), atol=1e-14)  # Householder QR: a few eps
    with pytest.raises(ValueError, match="num_samples"):
        core.generator(0, num_samples=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        core.generator(1.5)
    assert core.span_basis([q[:, :1], q[:, 1:]], 7).shape == (7, 3)
    assert core.span_basis([], 7).shape == (7, 0)


def test_posterior_average_and_diagonal_log_likelihoods():
    rng = np.random.default_rng(11)
    y, v = rng.normal(size=(3, 5, 2)), rng.uniform(0.1, 2, (3, 5, 2))
    ll, z = core.diagonal_log_likelihoods(torch.tensor(y), torch.tensor(v))
    np.testing.assert_allclose(z.numpy(), y / v, rtol=1e-15)
    ll = ll.numpy()
    want = np.stack([[multivariate_normal(np.zeros(2), np.diag(v[k, i])).logpdf(y[k, i]) for i in range(5)]
                     for k in range(3)]) + math.log(2 * math.pi)  # the helper leaves out (m/2) log 2 pi
    np.testing.assert_allclose(ll, want, rtol=1e-13)
    logits = torch.tensor([[-800.0, 0.0], [-801.0, 1.0], [-2000.0, 2.0]], dtype=DTYPE)  # (K=3, N=2)
    values = torch.tensor(rng.normal(size=(3, 2, 4)))
    avg, lse = core.posterior_average(logits, values)
    p = torch.softmax(logits, dim=0)
    assert torch.isfinite(avg).all()
    np.testing.assert_allclose(avg.numpy(), (p[..., None] * values).sum(0).numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(lse.numpy(), torch.logsumexp(logits, 0).numpy(), rtol=1e-15)


def test_float32_molrg_bases_and_covariances_are_checked_to_float32_rounding(ref):
    m64 = MoLRG.random(40, [3, 3], delta=0.2, angle_deg=50.0, seed=5)
    bases32 = [U.float() for U in m64.bases]  # orthonormal only to float32 rounding (~1e-7)
    m32 = MoLRG(bases32, delta=0.2)
    covs = ref.molrg_covariances([U.double() for U in bases32], 0.2)  # the law of the converted bases
    x = torch.randn(10, 40, dtype=DTYPE, generator=torch.Generator().manual_seed(6))
    want = ref.exact_posterior(np.zeros((2, 40)), covs, [0.5, 0.5], x.numpy(), 0.3)
    # cond(Sigma_k + 0.09 I) ~ 12: the low-rank route and scipy agree to rounding
    np.testing.assert_allclose(m32.log_prob(x, 0.3).numpy(), want["log_prob"], rtol=1e-11)
    with pytest.raises(ValueError, match="orthonormal"):  # the same bases as float64 input: held to 1e-8
        MoLRG([U.double() for U in bases32], delta=0.2)
    gm32 = GaussianMixture(torch.zeros(2, 40), torch.tensor(covs, dtype=torch.float32), [0.5, 0.5])
    assert gm32.covariances.dtype == DTYPE
    with pytest.raises(ValueError, match="symmetric"):  # float32 tolerance is 1e-6 relative, not more
        bad = torch.tensor(covs, dtype=torch.float32)
        bad[0, 0, 1] += 1e-3
        GaussianMixture(torch.zeros(2, 40), bad, [0.5, 0.5])
