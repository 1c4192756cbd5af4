"""Tests for lowdim.guidance.theorem: guided scores, samplers, the martingale identity and the tilted law.

References: autograd (classifier gradient vs the CFG combination), scipy.stats (exact mixture CDFs for KS tests),
numpy quadrature (tilted law), scipy logsumexp (class posteriors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from lowdim import GaussianMixture, MoLRG
from lowdim.schedules import geometric_sigmas, karras_sigmas
from lowdim.guidance import (
    GuidedScore,
    LabelledMixture,
    initial_points,
    martingale_callback,
    ode_quadrature,
    sample_ancestral,
    sample_ode,
    tilted_quadrature,
)

DTYPE = torch.float64
MEANS, VARS, WEIGHTS, CLASSES = [-2.0, 1.0, 2.0], [0.25, 0.25, 1.0], [0.25, 0.25, 0.5], [0, 0, 1]


def toy_1d() -> LabelledMixture:
    """The reference's §3.2 example: class 0 = (N(-2, .25) + N(1, .25))/2, class 1 = N(2, 1), p(c) = 1/2."""
    gm = GaussianMixture([[m] for m in MEANS], [[[v]] for v in VARS], WEIGHTS)
    return LabelledMixture(gm, CLASSES)


def toy_2d() -> LabelledMixture:
    """Full (rotated) covariances, three classes over four components: exercises the non-diagonal path."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 2, 2))
    covs = A @ A.transpose(0, 2, 1) / 2 + 0.1 * np.eye(2)
    return LabelledMixture(GaussianMixture(rng.normal(0, 2, (4, 2)), covs, [0.1, 0.3, 0.4, 0.2]), [0, 1, 2, 0])


def class_cdf(x, c):
    """CDF of p(x | c) for the 1-D toy, with scipy."""
    idx = [k for k in range(3) if CLASSES[k] == c]
    w = np.array([WEIGHTS[k] for k in idx])
    return sum(wk * stats.norm.cdf(x, MEANS[k], math.sqrt(VARS[k])) for wk, k in zip(w / w.sum(), idx))


@pytest.mark.parametrize("model_fn", [toy_1d, toy_2d])
@pytest.mark.parametrize("sigma", [0.0, 0.05, 1.0, 10.0])
def test_cfg_equals_classifier_guidance(model_fn, sigma):
    model = model_fn()
    gen = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(200, model.dim, dtype=DTYPE, generator=gen)
    c = torch.randint(0, model.num_classes, (200,), generator=gen)
    w = 10 * torch.rand(200, dtype=DTYPE, generator=gen)
    a = GuidedScore(model, c, w, "cfg")(x, sigma)
    b = GuidedScore(model, c, w, "classifier")(x, sigma)
    # Same quantity by two routes (Bayes combination vs autograd of log p(c|x)): rounding only, ~1e3 eps of the scale.
    scale = a.abs().max().clamp_min(1.0)
    assert float((a - b).abs().max()) <= 1e-12 * float(scale)


@pytest.mark.parametrize("model_fn", [toy_1d, toy_2d])
def test_class_posterior_and_scores_match_scipy(model_fn):
    model = model_fn()
    mix = model.mixture
    x = torch.linspace(-4, 4, 50 * model.dim, dtype=DTYPE).reshape(50, model.dim)
    sigma = 0.7
    logits = np.stack([np.log(float(mix.weights[k])) + stats.multivariate_normal(
        mix.means[k].numpy(), mix.covariances[k].numpy() + sigma**2 * np.eye(model.dim)).logpdf(x.numpy())
        for k in range(mix.num_classes)], 1).reshape(50, -1)
    onehot = model.onehot.numpy().astype(bool)
    ref = np.stack([logsumexp(logits[:, onehot[:, c]], 1) for c in range(model.num_classes)], 1) - logsumexp(logits, 1)[:, None]
    np.testing.assert_allclose(model.log_class_posterior(x, sigma).numpy(), ref, rtol=1e-10, atol=1e-12)
    for c in range(model.num_classes):  # the diagonal fast path and the dense path agree with the class log-posterior
        _, _, lp = model.scores(x, sigma, c)
        np.testing.assert_allclose(lp.numpy(), ref[:, c], rtol=1e-10, atol=1e-12)
        sc, su, _ = model.scores(x, torch.full((50,), sigma, dtype=DTYPE), c)  # per-point sigma: general path
        sc2, su2, _ = model.scores(x, sigma, c)
        np.testing.assert_allclose(sc.numpy(), sc2.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(su.numpy(), mix.score(x, sigma).numpy(), rtol=1e-10, atol=1e-12)


def test_underflowing_class_posterior_is_finite():
    model = toy_1d()
    x = torch.tensor([[40.0], [-40.0]], dtype=DTYPE)  # p(c=0 | x=40) ~ exp(-600): below the float64 range of e^m sums
    s_cond, _, lp = model.scores(x, 0.0, 0)
    assert torch.isfinite(s_cond).all() and torch.isfinite(lp).all() and float(lp[0]) < -300


@pytest.mark.parametrize("sampler", ["sde", "ode"])
@pytest.mark.parametrize("c", [0, 1])
def test_w0_reproduces_exact_conditional_law(sampler, c):
    model = toy_1d()
    N = 6000
    sigmas = geometric_sigmas(250, 0.002, 80.0)
    x = initial_points(model, c, N, 80.0, seed=10 + c)
    guide = GuidedScore(model, c, 0.0)
    if sampler == "sde":
        y = sample_ancestral(guide, x, sigmas, generator=torch.Generator().manual_seed(5))
    else:
        y = sample_ode(guide, x, sigmas)
    ks = stats.kstest(y[:, 0].numpy(), lambda t: class_cdf(t, c)).statistic
    # KS 0.1%-critical value 1.95/sqrt(N) = 0.025 for N = 6000, plus 0.01 for the 250-step discretisation
    # (measured bias of the sampler's CDF at 250 steps is < 0.005 for both samplers on this law).
    assert ks < 1.95 / math.sqrt(N) + 0.01


def test_molrg_w0_second_moment():
    model = LabelledMixture.from_molrg(MoLRG.random(12, [2, 2], delta=0.3, seed=1))
    N = 4000
    x = initial_points(model, 1, N, 40.0, seed=3)
    y = sample_ode(GuidedScore(model, 1, 0.0), x, geometric_sigmas(200, 0.01, 40.0, append_zero=False))
    emp = (y.T @ y / N).numpy()
    true = model.mixture.covariances[1].numpy() + 0.01**2 * np.eye(12)
    # Entrywise s.e. of a second moment is sqrt((S_ii S_jj + S_ij^2)/N) <= sqrt(2/N) ~ 0.022 here; 5 s.e. ~ 0.11.
    assert np.abs(emp - true).max() < 0.11


def test_martingale_identity_matches_monte_carlo():
    model = toy_1d()
    N = 8000
    x = initial_points(model, 0, N, 80.0, seed=1)
    guide = GuidedScore(model, 0, 2.0)
    cb = martingale_callback(guide)
    y = sample_ancestral(guide, x, geometric_sigmas(300, 0.002, 80.0), torch.Generator().manual_seed(2), callback=cb)
    rhs = cb.finish(y, 0.0) / model.class_prior[0]
    inv = torch.exp(-model.log_class_posterior(y, 0.0)[:, 0])
    se = math.sqrt(float(inv.var() + rhs.var()) / N)
    # Both estimate E[1/p(c|Y^w)] (w = 2 makes 1/p light-tailed); 4 s.e. of the difference plus 0.01 step bias.
    assert abs(float(inv.mean() - rhs.mean())) < 4 * se + 0.01
    assert float(rhs.mean()) < 1 / float(model.class_prior[0])


def test_tilted_quadrature_w0_is_conditional_law():
    model = toy_1d()
    grid = torch.linspace(-12, 14, 20001, dtype=DTYPE)[:, None]
    q = tilted_quadrature(model, 0, [0.0, 3.0], grid)
    # E_{p(.|c)}[1/p(c|X)] = 1/p(c) exactly (Bayes), here 2; the tilted law at w > 0 lowers it.
    assert abs(float(q["weights"][0] @ (1 / q["p"])) - 2.0) < 1e-6
    assert float(q["weights"][1] @ (1 / q["p"])) < 2.0


def test_ode_quadrature_w0_mean():
    model = toy_1d()
    r = ode_quadrature(model, 1, [0.0], geometric_sigmas(200, 0.002, 80.0))
    # The PF-ODE transports p_{sigma_max}(.|c) to p(.|c) = N(2, 1): mean 2 (quadrature + step error << 0.01).
    assert abs(float(r["weights"][0] @ r["x"]) - 2.0) < 0.01
    assert r["converged"] and abs(float(r["weights"].sum()) - 1.0) < 1e-12


def test_ode_quadrature_w0_density_is_the_class_conditional():
    # At w = 0 the output density q_0(x) = p_{sigma_max}(Phi^{-1}(x)|c) dPhi^{-1}/dx must equal p_{sigma_min}(x|c)
    # pointwise (exact transport). Reference: the mixture's own log-density, independent of the backward flow.
    model = toy_1d()
    sig = karras_sigmas(200, 0.002, 20.0)
    r = ode_quadrature(model, 0, [0.0], sig, rtol=1e-4)
    dx = torch.diff(r["x"])
    trap = 0.5 * (torch.cat([dx, dx.new_zeros(1)]) + torch.cat([dx.new_zeros(1), dx]))
    density = r["weights"][0] * r["mass"][0] / trap
    exact = torch.exp(model.log_prob(r["x"][:, None], float(sig[-1]), 0))
    bulk = exact > 1e-3 * exact.max()
    # RK4 at 200 steps: relative error ~1e-6 in the trial runs; 1e-4 leaves room
    assert ((density[bulk] - exact[bulk]).abs() / exact[bulk]).max() < 1e-4


def nonuniform_mixture() -> LabelledMixture:
    """The reference's non-uniformity mixture (ch07), max_x p(c = 0 | x) = 0.81."""
    v = 0.5191
    weights = torch.cat([torch.tensor([0.1855, 0.4417, 0.3728], dtype=DTYPE) * 0.4302,
                         torch.tensor([0.3955, 0.2363, 0.3682], dtype=DTYPE) * (1 - 0.4302)])
    return LabelledMixture(GaussianMixture([[2.655], [0.146], [2.033], [-5.826], [2.625], [-0.396]], [[[v]]] * 6,
                                           weights), [0, 0, 0, 1, 1, 1])


def random_mixture(rng: np.random.Generator) -> tuple[LabelledMixture, float]:
    """Two classes of three components each, widths (variances) from 0.03 to 3, random means and weights."""
    means = rng.uniform(-4.0, 4.0, size=6)
    variances = np.exp(rng.uniform(np.log(0.03), np.log(3.0), size=6))
    weights = rng.dirichlet(np.ones(6))
    gm = GaussianMixture([[m] for m in means], [[[v]] for v in variances], weights.tolist())
    return LabelledMixture(gm, [0, 0, 0, 1, 1, 1]), float(weights[:3].sum())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ode_quadrature_w0_gives_inverse_prior_on_random_mixtures(seed):
    # Property: for every mixture the w = 0 flow pushes p_{sigma_max}(.|c) onto p_{sigma_min}(.|c), and
    # E_{p_s(.|c)}[1/p_s(c|X)] = 1/p(c) at every s (Bayes). Independent reference: the class prior itself.
    # A uniform grid of 4,001 *initial* points was off by 5-16 % on such mixtures (the spikes of 1/p(c|Phi(y))).
    model, pc = random_mixture(np.random.default_rng(seed))
    r = ode_quadrature(model, 0, [0.0, 2.0], karras_sigmas(200, 0.002, 20.0), rtol=1e-4)
    assert r["converged"]
    # 1e-3 relative: quadrature (rtol 1e-4) plus RK4 step error at 200 steps (<= 1e-4 in trial runs)
    assert abs(float(r["inv_p"][0]) * pc - 1.0) < 1e-3
    assert (r["inv_p_error"] < 1e-3 * r["inv_p"]).all()
    assert float(r["inv_p"][1]) < float(r["inv_p"][0])  # guidance lowers it on these mixtures


def test_ode_quadrature_reaches_the_heavy_tail_of_inverse_confidence():
    # The ch07 mixture: much of E[1/p] comes from points near the class-1 component at -5.826, where class 0 is very
    # unlikely (an 8 sd grid of initial points gave 1.99 instead of 2.32).
    r = ode_quadrature(nonuniform_mixture(), 0, [0.0], karras_sigmas(200, 0.002, 20.0), rtol=1e-4)
    assert abs(float(r["inv_p"][0]) * 0.4302 - 1.0) < 1e-3


def test_ode_quadrature_error_estimate_bounds_the_error_against_a_finer_grid():
    # Same ODE grid (same step error): the rtol = 1e-3 result lies within its own error estimate of a rtol = 1e-6
    # result (the reference), for every w.
    model = nonuniform_mixture()
    sig = karras_sigmas(50, 0.002, 20.0)
    ws = [0.0, 1.0, 5.0]
    coarse = ode_quadrature(model, 0, ws, sig, rtol=1e-3, init_nodes=129)
    ref = ode_quadrature(model, 0, ws, sig, rtol=1e-6)
    assert ((coarse["inv_p"] - ref["inv_p"]).abs() <= coarse["inv_p_error"]).all()
    assert (coarse["inv_p_error"] <= 1e-3 * coarse["inv_p"]).all()


def test_ode_quadrature_rejects_bad_input():
    model = toy_1d()
    with pytest.raises(ValueError, match="rtol"):
        ode_quadrature(model, 0, [0.0], karras_sigmas(10, 0.002, 20.0), rtol=0.0)
    with pytest.raises(ValueError, match="init_nodes"):
        ode_quadrature(model, 0, [0.0], karras_sigmas(10, 0.002, 20.0), init_nodes=100)
    with pytest.raises(ValueError, match="sigmas"):
        ode_quadrature(model, 0, [0.0], torch.tensor([1.0, 2.0], dtype=DTYPE))


def test_invalid_inputs_name_the_parameter():
    model = toy_1d()
    x = torch.zeros(3, 1, dtype=DTYPE)
    with pytest.raises(ValueError, match="method"):
        GuidedScore(model, 0, 1.0, method="foo")
    with pytest.raises(ValueError, match="w"):
        GuidedScore(model, 0, float("nan"))
    with pytest.raises(ValueError, match="w"):
        GuidedScore(model, 0, torch.ones(5, dtype=DTYPE))(x, 1.0)
    with pytest.raises(ValueError, match="c must lie"):
        model.scores(x, 1.0, 2)
    with pytest.raises(ValueError, match="sigma"):
        model.scores(x, -1.0, 0)
    with pytest.raises(ValueError, match="sigmas"):
        sample_ancestral(GuidedScore(model, 0, 1.0), x, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="sigmas"):
        sample_ode(GuidedScore(model, 0, 1.0), x, torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="method"):
        sample_ode(GuidedScore(model, 0, 1.0), x, torch.tensor([1.0, 0.0]), method="rk4")
    with pytest.raises(ValueError, match="component_class"):
        LabelledMixture(model.mixture, [0, 2, 2])
    with pytest.raises(ValueError, match="num_steps"):
        geometric_sigmas(1)
    molrg = LabelledMixture.from_molrg(MoLRG.random(6, [1, 1], delta=0.0, seed=0))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        molrg.log_class_posterior(torch.zeros(2, 6, dtype=DTYPE), 0.0)


def test_tilted_quadrature_2d_matches_importance_sampling():
    model = toy_2d()
    c, w, N = 0, 2.0, 200_000
    g = torch.linspace(-14, 14, 561, dtype=DTYPE)
    g1, g2 = torch.meshgrid(g, g, indexing="ij")
    grid = torch.stack([g1.reshape(-1), g2.reshape(-1)], 1)
    q = tilted_quadrature(model, c, [0.0, w], grid)
    # Independent route: X ~ p(.|c) exactly, self-normalised weights p(c|X)^w, p(c|x) from scipy densities.
    x = model.sample_class(c, N, seed=11).numpy()
    mix = model.mixture
    logits = np.stack([np.log(float(mix.weights[k])) + stats.multivariate_normal(
        mix.means[k].numpy(), mix.covariances[k].numpy()).logpdf(x) for k in range(mix.num_classes)], 1)
    in_c = model.onehot[:, c].numpy().astype(bool)
    log_pc = logsumexp(logits[:, in_c], 1) - logsumexp(logits, 1)
    iw = np.exp(w * (log_pc - log_pc.max()))
    iw /= iw.sum()
    ess = 1.0 / (iw**2).sum()
    for f_grid, f_x in [(grid[:, 0], x[:, 0]), (grid[:, 1], x[:, 1]), (torch.exp(torch.log(q["p"])), np.exp(log_pc))]:
        est = float(iw @ f_x)
        se = math.sqrt(float(iw @ (f_x - est) ** 2) / ess)
        # 5 s.e. of the importance-sampling estimate (ESS-based) plus 1e-4 for the grid (spacing 0.05, smooth density)
        assert abs(float(q["weights"][1] @ f_grid) - est) < 5 * se + 1e-4
    # w = 0 row is p(x|c): its mean is the class-weighted component mean, exactly.
    idx = model.component_class == c
    mean_c = (mix.weights[idx, None] * mix.means[idx]).sum(0) / mix.weights[idx].sum()
    assert float((q["weights"][0] @ grid - mean_c).abs().max()) < 1e-6


def _spiked_off_span(n: int = 20) -> LabelledMixture:
    """Sigma_k = U_k U_k^T + a_k I with a different isotropic floor a_k per component: frame plus per-k lam0."""
    m = MoLRG.random(n, [2, 3], delta=0.0, seed=4)
    covs = torch.stack([U @ U.T + a * torch.eye(n, dtype=DTYPE) for U, a in zip(m.bases, [0.1, 0.5])])
    return LabelledMixture(GaussianMixture(torch.zeros(2, n, dtype=DTYPE), covs, [0.4, 0.6]), [0, 1])


@pytest.mark.parametrize("model_fn", [lambda: LabelledMixture.from_molrg(MoLRG.random(20, [2, 3], delta=0.0, seed=4)),
                                      lambda: LabelledMixture.from_molrg(MoLRG.random(20, [2, 3], delta=0.3, seed=4)),
                                      _spiked_off_span], ids=["molrg-delta0", "molrg-delta0.3", "per-component-floor"])
def test_data_span_frame_matches_dense_solve(model_fn):
    model = model_fn()
    assert model.frame.basis is not None and model.frame.basis.shape == (20, 5)  # the 5-dim data-span frame is under test
    mix = model.mixture
    x = 2 * torch.randn(40, 20, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    for sigma in [0.05, 1.0, torch.linspace(0.1, 3.0, 40, dtype=DTYPE)]:
        s_cond, s_uncond, lp = model.scores(x, sigma, 1)
        ref = mix.class_posterior(x, sigma)[:, 1]  # GaussianMixture: dense n x n eigen-route
        # Same exact quantities by two routes: rounding only (eigenvalue tolerance 64 eps of the largest).
        np.testing.assert_allclose(torch.exp(lp).numpy(), ref.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(s_uncond.numpy(), mix.score(x, sigma).numpy(), rtol=1e-9, atol=1e-9)
        # class 1 is one component: s(x|1) = -(Sigma_1 + sigma^2 I)^{-1} (x - mu_1) by a dense solve per point
        s2 = torch.as_tensor(sigma, dtype=DTYPE).reshape(-1, 1, 1) ** 2
        A = mix.covariances[1] + s2 * torch.eye(20, dtype=DTYPE)
        dense = -torch.linalg.solve(A, (x - mix.means[1]).unsqueeze(-1)).squeeze(-1)
        np.testing.assert_allclose(s_cond.numpy(), dense.numpy(), rtol=1e-9, atol=1e-9)


def test_backward_flow_field_matches_autograd_of_the_log_density():
    # The score and its slope used by ode_quadrature's backward flow, against autograd (first and second derivative)
    # of the mixture's own log-density, unconditional and class-conditional.
    from lowdim.guidance.theorem import _score_slope_1d

    model = nonuniform_mixture()
    mix = model.mixture
    x = torch.linspace(-9.0, 7.0, 41, dtype=DTYPE)
    logw = torch.log(mix.weights)
    for c, lw in ((None, logw), (0, logw.masked_fill(model.component_class != 0, -float("inf")))):
        s, ds = _score_slope_1d(mix.means[:, 0], mix.covariances[:, 0, 0], lw, x, 0.7)
        xr = x.clone().requires_grad_(True)
        logp = model.log_prob(xr[:, None], 0.7, c)
        (g,) = torch.autograd.grad(logp.sum(), xr, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), xr)
        assert torch.allclose(s, g.detach(), rtol=1e-10, atol=1e-10)
        assert torch.allclose(ds, h, rtol=1e-8, atol=1e-10)
