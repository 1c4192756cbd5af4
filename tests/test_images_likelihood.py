"""Likelihood of a DDPM network (lowdim.images.likelihood): dequantisation, ELBO, network noise, divergences."""

import math

import pytest
import torch

from lowdim import GaussianMixture
from lowdim import schedules as S
from lowdim.density import estimators as E
from lowdim.density import formula as D
from lowdim.images import likelihood as IL
from lowdim.images.unet import build_unet, unet_config

DT = torch.float64


def eight_bit(num: int, side: int = 8, seed: int = 0) -> torch.Tensor:
    """Smooth random 8-bit images scaled like the loaders: x = 2 k / 255 - 1.  ->  (num, 1, side, side)."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(num, 1, 3, 3, generator=gen)
    img = torch.nn.functional.interpolate(base, size=(side, side), mode="bilinear", align_corners=False)
    k = torch.round(255 * img)
    return 2 * k / 255 - 1


@pytest.fixture(scope="module")
def tiny():
    model = build_unet(unet_config(sample_size=8, channels=(8, 16, 16)), seed=0).eval()
    g = E.GaussianFit.fit(IL.dequantize(eight_bit(400), seed=1))
    return IL.NetworkNoise(model, g, batch=64)


def test_dequantize_keeps_the_bin_and_is_seeded():
    x = eight_bit(5)
    y = IL.dequantize(x, seed=3)
    k = torch.round((x.reshape(5, -1).double() + 1) * 127.5)
    assert torch.equal(torch.floor((y + 1) * 128), k)
    assert torch.equal(y, IL.dequantize(x, seed=3)) and not torch.equal(y, IL.dequantize(x, seed=4))
    with pytest.raises(ValueError, match="8-bit"):
        IL.dequantize(torch.full((1, 4), 1.5), seed=0)


def test_uniform_density_is_eight_bits():
    n = 10
    assert math.isclose(float(IL.bits_per_dim(torch.tensor(-n * math.log(2.0), dtype=DT), n)), 8.0, rel_tol=1e-14)


def test_elbo_terms_by_hand():
    ab = S.ddpm_alpha_bars(50)
    a, c = IL.ddpm_elbo_terms(ab, "beta_tilde")
    assert torch.allclose(c[1:], torch.zeros(49, dtype=DT), atol=1e-15)  # sigma^2 = beta_tilde: no variance mismatch
    beta1 = 1 - ab[0]
    assert math.isclose(float(a[0]), 1 / (2 * float(ab[0])), rel_tol=1e-14)
    assert math.isclose(float(c[0]), 0.5 * math.log(2 * math.pi * float(beta1)), rel_tol=1e-14)
    with pytest.raises(ValueError, match="variance"):
        IL.ddpm_elbo_terms(ab, "fixed")


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_monte_carlo_elbo_matches_gauss_hermite(variance):
    # the exact noise prediction of a 2-D mixture; lowdim.density.ddpm_elbo computes every expectation by quadrature
    model = GaussianMixture([[-1.0, 0.5], [1.5, -0.5]], [[[0.5, 0.3], [0.3, 0.4]], [[0.3, 0.0], [0.0, 1.2]]], [0.4, 0.6])
    ab = S.ddpm_alpha_bars(40, beta_start=1e-3, beta_end=0.2)
    x, _ = model.sample(5, seed=0)

    def eps_at_steps(z, steps):
        return S.liyan_noise_prediction(model, z, 1 - ab[steps.long()])

    reference = D.ddpm_elbo(x, ab, D.exact_predictor(model, "score"), variance=variance, gh_nodes=30)
    est = IL.ddpm_elbo(x, eps_at_steps, ab, num_evals=16 * 41, rounds=16, variance=variance, seed=1)
    z = (est.elbo - reference) / est.stderr
    assert z.abs().max() < 4.5, z
    assert est.stderr.max() < 1.0  # sanity: the chi-square noise of each step, 16 rounds


def test_network_noise_steps_ranges_and_grad(tiny):
    ab = tiny.alpha_bars
    for i in (0, 1, 37, 500, 999):
        assert abs(float(tiny.timestep(torch.tensor([1 - ab[i]], dtype=DT))[0]) - i) < 1e-3
    y = IL.dequantize(eight_bit(3, seed=5), seed=0)
    t = torch.tensor([0.5, 1 - 1e-6, 1e-4], dtype=DT)
    out = tiny(y, t)
    assert out.shape == y.shape and torch.isfinite(out).all() and not out.requires_grad
    assert torch.allclose(out[1], tiny.gauss.eps(y[1:2], t[1:2])[0], rtol=1e-12, atol=1e-14)  # above t_{T-1}: the Gaussian
    with pytest.raises(ValueError, match="t must be >= t_0"):
        tiny(y, torch.full((3,), 1e-6, dtype=DT))
    assert tiny(y.clone().requires_grad_(True), t).requires_grad


def test_three_estimates_are_finite_and_ordered_in_cost(tiny):
    y = IL.dequantize(eight_bit(2, seed=6), seed=2)
    f = IL.network_formula(y, tiny, 32, sampler="sobol", rounds=4)
    e = IL.ddpm_elbo(y, tiny.at_steps, tiny.alpha_bars, 32)
    o = IL.network_pf_ode(y, tiny, rtol=1e-2)
    for v in (f.log_prob, e.elbo, o.log_prob):
        assert v.shape == (2,) and torch.isfinite(v).all()
    assert o.num_evals == 2 * o.nfe


def test_exact_divergence_is_the_jacobian_trace(tiny):
    y = IL.dequantize(eight_bit(2, seed=7), seed=3)
    s = torch.tensor(0.3, dtype=DT)
    t = E.sub_process_t(s, tiny.t_min)
    score = IL._sub_score(tiny)
    div = IL.exact_divergence(score, y, s, chunk=40)
    for p in range(2):
        jac = torch.autograd.functional.jacobian(lambda x: -tiny(x[None], t[None])[0] / torch.sqrt(t), y[p].clone())
        # float32 network: batched and single-row passes round differently, ~1e-7 per term over n = 64 terms
        assert math.isclose(float(torch.trace(jac)), float(div[p]), rel_tol=2e-5)
    with pytest.raises(ValueError, match="chunk"):
        IL.exact_divergence(score, y, s, chunk=0)


@pytest.fixture(scope="module")
def tiny_static():
    """The tiny UNet with its time embedding's input weights zeroed: eps(x, t) = eps(x), smooth in t. (A random
    embedding of fractional steps oscillates ~16 times per unit of log-SNR, which no 24-node rule resolves.)"""
    model = build_unet(unet_config(sample_size=8, channels=(8, 16, 16)), seed=0).eval()
    with torch.no_grad():
        model.time_embedding.linear_1.weight.zero_()
    g = E.GaussianFit.fit(IL.dequantize(eight_bit(400), seed=1))
    return IL.NetworkNoise(model, g, batch=64)


def test_pf_ode_with_the_exact_divergence_along_the_path(tiny_static):
    y = IL.dequantize(eight_bit(2, seed=8), seed=4)
    K, J, n = 8, 64, y.shape[1]
    out = IL.network_pf_ode_exact(y, tiny_static, num_probes=K, panels=8, nodes=8, seed=0, rtol=1e-4, atol=1e-6,
                                  chunk=64)
    assert out.log_prob.shape == (2,) and torch.isfinite(out.log_prob).all() and torch.isfinite(out.stderr).all()
    assert out.g_exact.shape == (J, 2) and out.g_probes.shape == (J, K, 2) and out.corrected.shape == (K, 2)
    # the correction removes Hutchinson's noise: the corrected estimates agree far better than the probes' own
    spread = out.hutchinson.probe_log_probs.std(0)
    assert bool((out.corrected.std(0) < 0.2 * spread).all()), (out.corrected.std(0), spread)
    # Hutchinson is unbiased along the whole path: its K-probe mean lies within 5 s.e. of the exact-divergence value
    z = (out.hutchinson.log_prob - out.log_prob) / out.hutchinson.stderr
    assert float(z.abs().max()) < 5.0, z
    # at every node the probes' mean integrand is unbiased for the exact one
    zg = (out.g_probes.mean(1) - out.g_exact) / (out.g_probes.std(1) / math.sqrt(K))
    assert float(zg.abs().max()) < 5.0
    # the rule alone on the exact integrand converges to the corrected value (16 x 8 nodes: within ~0.1 nat measured)
    fine = IL.network_pf_ode_exact(y[:1], tiny_static, num_probes=2, panels=16, nodes=8, seed=1, rtol=1e-4,
                                   atol=1e-6, chunk=64)
    assert abs(float(fine.quadrature[0] - out.log_prob[0])) < 1.0 + 5 * float(out.stderr[0])
    assert out.evals == out.hutchinson.num_evals + J * (2 * n + 1 + K)
    with pytest.raises(ValueError, match="num_probes"):
        IL.network_pf_ode_exact(y, tiny_static, num_probes=1)
