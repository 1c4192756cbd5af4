"""Variance-reduced density-formula estimators (lowdim.density.estimators) against exact Gaussian mixtures."""

import math

import pytest
import torch
from scipy.stats import multivariate_normal

from lowdim import GaussianMixture
from lowdim import schedules as S
from lowdim.density import estimators as E
from lowdim.density import formula as D

DT = torch.float64


def mixture_5d() -> GaussianMixture:
    gen = torch.Generator().manual_seed(3)
    means = 1.5 * torch.randn(2, 5, dtype=DT, generator=gen)
    factors = torch.randn(2, 5, 5, dtype=DT, generator=gen) / math.sqrt(5)
    covs = factors @ factors.transpose(1, 2) + 0.05 * torch.eye(5, dtype=DT)
    return GaussianMixture(means, covs, [0.35, 0.65])


def gaussian_model():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(4, 4, dtype=DT, generator=gen)
    cov = a @ a.T / 4 + 0.1 * torch.eye(4, dtype=DT)
    mean = torch.randn(4, dtype=DT, generator=gen)
    return GaussianMixture(mean[None], cov[None], [1.0]), E.GaussianFit.moments(mean, cov), mean, cov


def test_gaussian_fit_matches_the_mixture_core_and_scipy():
    model, g, mean, cov = gaussian_model()
    y = torch.randn(6, 4, dtype=DT, generator=torch.Generator().manual_seed(2))
    for t in (1e-6, 0.3, 1 - 1e-6):
        tt = torch.full((6,), t, dtype=DT)
        assert torch.allclose(g.eps(y, tt), S.liyan_noise_prediction(model, y, t), rtol=1e-9, atol=1e-10)
        ref = multivariate_normal(math.sqrt(1 - t) * mean.numpy(), (1 - t) * cov.numpy() + t * torch.eye(4, dtype=DT).numpy())
        assert torch.allclose(g.log_prob(y, tt), torch.as_tensor(ref.logpdf(y.numpy()), dtype=DT), rtol=1e-10), t


def test_fit_refuses_a_singular_covariance():
    x = torch.zeros(10, 3, dtype=DT)
    x[:, 0] = torch.arange(10, dtype=DT)
    with pytest.raises(ValueError, match="singular"):
        E.GaussianFit.fit(x)


@pytest.mark.parametrize("sampler", E.SAMPLERS)
def test_control_variate_is_exact_when_the_model_is_the_gaussian(sampler):
    # the integrand ||r||^2 - ||r_G||^2 is identically 0, so the estimate is log G_t0 to rounding
    model, g, _, _ = gaussian_model()
    y, _ = model.sample(5, seed=4)
    for t0 in (0.0, 0.2):
        est = E.formula_estimate(y, g.eps, 64, gauss=g, t0=t0, sampler=sampler, seed=1)
        assert torch.allclose(est.log_prob, g.log_prob(y, torch.full((5,), t0, dtype=DT)), atol=1e-9)
        assert est.stderr.max() < 1e-9


@pytest.mark.parametrize("sampler,cv", [("grid", False), ("mc", True), ("sobol", True), ("sobol", False), ("lattice", True)])
def test_estimators_are_unbiased_on_a_mixture(sampler, cv):
    # 5-D two-component mixture, exact log p by log-sum-exp; errors within 4.5 standard errors per point
    model = mixture_5d()
    y, _ = model.sample(6, seed=5)
    exact = model.log_prob(y, 1e-12)
    eps = D.exact_predictor(model, "eps")
    g = E.GaussianFit.fit(model.sample(20000, seed=6)[0]) if cv else None
    nodes = torch.linspace(-25.0, 30.0, 23, dtype=DT)
    q = E.ImportanceDensity.from_curve(nodes, E.pilot_curve(y[:2], eps, g, nodes)) if sampler != "grid" else None
    # 16 replicates (rounds / noises per node), so that the standard error has 15 degrees of freedom
    est = E.formula_estimate(y, eps, 4096, gauss=g, sampler=sampler, q=q, seed=2, rounds=16, noises_per_node=16)
    z = (est.log_prob - exact) / est.stderr
    assert z.abs().max() < 4.5, z
    assert est.stderr.max() < (0.1 if cv else 1.0)


def test_sub_process_gives_the_density_at_a_positive_level():
    # log p_{t0} of the mixture's own marginal at t0 = 0.3, from its noise prediction at t >= t0 only
    model = mixture_5d()
    t0 = 0.3
    x, _ = model.sample(4, seed=7)
    y = math.sqrt(1 - t0) * x + math.sqrt(t0) * torch.randn(4, 5, dtype=DT, generator=torch.Generator().manual_seed(8))
    eps = D.exact_predictor(model, "eps")
    seen = []

    def watched(z, t):
        seen.append(float(t.min()))
        return eps(z, t)

    g = E.GaussianFit.fit(model.sample(20000, seed=6)[0])
    est = E.formula_estimate(y, watched, 4096, gauss=g, t0=t0, sampler="sobol", seed=3, rounds=16)
    exact = S.liyan_log_prob(model, y, t0)
    assert min(seen) >= t0 - 1e-12
    assert ((est.log_prob - exact) / est.stderr).abs().max() < 4.5


def test_sobol_and_importance_reduce_the_error():
    # the same budget, 8 repetitions: importance + Sobol + control variate beats the plain grid by a wide margin
    model = mixture_5d()
    y, _ = model.sample(4, seed=9)
    exact = model.log_prob(y, 1e-12)
    eps = D.exact_predictor(model, "eps")
    g = E.GaussianFit.fit(model.sample(20000, seed=6)[0])
    nodes = torch.linspace(-25.0, 30.0, 23, dtype=DT)
    q = E.ImportanceDensity.from_curve(nodes, E.pilot_curve(y[:2], eps, g, nodes))

    def rmse(**kw):
        errs = torch.stack([E.formula_estimate(y, eps, 256, seed=s, **kw).log_prob - exact for s in range(8)])
        return float(errs.pow(2).mean().sqrt())

    plain = rmse(sampler="grid")
    for sampler in ("sobol", "lattice"):
        reduced = rmse(sampler=sampler, q=q, gauss=g)
        assert reduced < plain / 2, (sampler, plain, reduced)


def test_antithetic_pairs_mirror_the_noise():
    # with eps = 0 the integrand is ||Z||^2 - (1-s)||Z||^2 = s ||Z||^2, even in Z: antithetic rounds are exact
    # duplicates, so the estimate equals the non-antithetic one on half the points
    zero = lambda y, t: torch.zeros_like(y)
    y = torch.zeros(2, 3, dtype=DT)
    a = E.formula_estimate(y, zero, 32, sampler="mc", antithetic=True, seed=4)
    b = E.formula_estimate(y, zero, 16, sampler="mc", seed=4)
    assert torch.allclose(a.log_prob, b.log_prob, rtol=1e-13)


def test_importance_density_is_a_density_and_its_map_is_monotone():
    nodes = torch.linspace(-5.0, 5.0, 11, dtype=DT)
    q = E.ImportanceDensity.from_curve(nodes, torch.exp(-nodes**2))
    assert math.isclose(float(q.probs.sum()), 1.0, rel_tol=1e-12)
    u = torch.linspace(0.0, 1.0 - 1e-12, 1001, dtype=DT)
    lam, dens = q.map(u)
    assert (lam[1:] >= lam[:-1]).all() and lam.min() >= -5 and lam.max() <= 5
    assert torch.allclose((dens * 0 + 1)[:1], torch.ones(1, dtype=DT))
    # E_q[1/q] over [-5, 5] is the length of the interval
    uu = torch.rand(200000, dtype=DT, generator=torch.Generator().manual_seed(0))
    _, d = q.map(uu)
    assert abs(float((1 / d).mean()) - 10.0) < 0.1


def test_bad_inputs_name_the_parameter():
    model, g, _, _ = gaussian_model()
    y, _ = model.sample(2, seed=0)
    with pytest.raises(ValueError, match="sampler"):
        E.formula_estimate(y, g.eps, 64, sampler="halton")
    with pytest.raises(ValueError, match="power of 2"):
        E.formula_estimate(y, g.eps, 48, sampler="sobol")
    with pytest.raises(ValueError, match="noises_per_node"):
        E.formula_estimate(y, g.eps, 30, sampler="grid", noises_per_node=4)
    with pytest.raises(ValueError, match="rounds"):
        E.formula_estimate(y, g.eps, 64, sampler="lattice", rounds=1)
    with pytest.raises(ValueError, match="t0"):
        E.formula_estimate(y, g.eps, 64, t0=1.0)
    with pytest.raises(ValueError, match="floor"):
        E.ImportanceDensity.from_curve(torch.arange(3.0), torch.ones(3), floor=0.0)
