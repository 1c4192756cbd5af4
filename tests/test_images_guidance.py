"""Classifier-free guidance on real images (lowdim.images.guidance) and its judge (lowdim.images.judge)."""

import math

import pytest
import torch
from scipy.stats import multivariate_normal

from lowdim.images.data import load_dataset
from lowdim.images.guidance import (cfg_eps, class_entropy, confidence_metrics, drop_fraction, paired_difference, pca_basis,
                                    sample_ancestral, sample_cfg, sample_ddim, timestep_grid)
from lowdim.images.judge import JudgeConfig, evaluate_judge, fit_temperature, judge_outputs, load_judge, save_judge, train_judge
from lowdim.images.train import TrainConfig, model_config
from lowdim.images.unet import build_unet
from lowdim.schedules import ddpm_alpha_bars


@pytest.fixture(scope="module")
def cond_model():
    """An untrained conditional UNet on 8x8 images: 10 classes + the null id 10 (behaviour, not quality)."""
    torch.manual_seed(0)
    model = build_unet(model_config(TrainConfig(dataset="digits", channels=(8, 16, 16), num_classes=10)), 0).eval()
    with torch.no_grad():  # the default init gives a zero class embedding effect; make the label matter
        model.class_embedding.weight.normal_(0, 1.0)
    return model


def test_cfg_is_the_stated_combination_and_w0_is_the_conditional_model(cond_model):
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([10, 300, 600, 999])
    c = torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        e_c = cond_model(x, t, class_labels=c).sample
        e_u = cond_model(x, t, class_labels=torch.full_like(c, 10)).sample
        assert torch.equal(cfg_eps(cond_model, x, t, c, 0.0, 10), e_c)
        w = torch.tensor([0.0, 0.5, 2.0, 8.0])
        got = cfg_eps(cond_model, x, t, c, w, 10)
        assert torch.allclose(got, (1 + w.view(-1, 1, 1, 1)) * e_c - w.view(-1, 1, 1, 1) * e_u, atol=1e-5)
        assert torch.allclose(got[0], e_c[0], atol=1e-6)  # per-sample w = 0 is the conditional model too
        assert not torch.allclose(e_c, e_u)


def _gaussian_eps(v: float, alpha_bar: torch.Tensor):
    """Exact eps for data N(0, v I): x_t ~ N(0, (ab v + 1 - ab) I), eps* = sqrt(1 - ab) x / (ab v + 1 - ab)."""
    def eps_fn(x, t):
        a = float(alpha_bar[t])
        return math.sqrt(1 - a) * x / (a * v + 1 - a)
    return eps_fn


@pytest.mark.parametrize("sampler", [sample_ancestral, sample_ddim])
def test_samplers_reach_the_data_variance_with_exact_eps(sampler):
    ab = ddpm_alpha_bars(1000)
    v = 0.25
    errors = [abs(float(sampler(_gaussian_eps(v, ab), (20000, 1, 1, 1), steps, seed=0, alpha_bar=ab).var()) / v - 1)
              for steps in (50, 1000)]
    # on the full grid: 4 standard errors of a sample variance (sqrt(2 / N) relative) plus a 1 % discretisation
    # allowance; on 50 steps the plug-in x0_hat loses variance (up to 20 % here), so the error must shrink
    assert errors[1] < 4 * math.sqrt(2 / 20000) + 0.01 and errors[1] < errors[0]


def test_samplers_are_seeded_and_deterministic():
    ab = ddpm_alpha_bars(1000)
    eps = _gaussian_eps(1.0, ab)
    for sampler in (sample_ancestral, sample_ddim):
        a = sampler(eps, (3, 1, 4, 4), 10, 5, ab)
        assert a.shape == (3, 1, 4, 4) and torch.equal(a, sampler(eps, (3, 1, 4, 4), 10, 5, ab))
        assert not torch.equal(a, sampler(eps, (3, 1, 4, 4), 10, 6, ab))
    assert timestep_grid(5, 1000) == [999, 749, 500, 250, 0]


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_sweep_is_coupled_across_w(cond_model, sampler):
    labels = torch.arange(10).repeat(2)
    base = sample_cfg(cond_model, labels, 0.0, sampler, 8, seed=3, batch_size=8)
    near = sample_cfg(cond_model, labels, 1e-4, sampler, 8, seed=3, batch_size=8)
    other = sample_cfg(cond_model, labels, 0.0, sampler, 8, seed=4, batch_size=8)
    assert base.shape == (20, 1, 8, 8) and base.abs().max() <= 1
    assert (near - base).abs().max() < 0.01 < (other - base).abs().max()  # same noise, tiny w change: tiny effect


def test_confidence_metrics_by_hand():
    p = torch.tensor([0.5, 0.9, 0.25, 1.0], dtype=torch.float64)
    m = confidence_metrics(p.log())
    inv = torch.tensor([2.0, 1 / 0.9, 4.0, 1.0], dtype=torch.float64)
    assert m["mean_inv_p"] == pytest.approx(float(inv.mean()))
    assert m["se_inv_p"] == pytest.approx(float(inv.std()) / 2)
    assert m["mean_p"] == pytest.approx(0.6625) and m["frac_confident"] == 0.5


def test_class_entropy_matches_scipy():
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(400, 5, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 2, 1, 0.5, 0.1], dtype=torch.float64)
    y = torch.arange(2).repeat(200)
    mean, basis = pca_basis(f, 3)
    z = (f - mean) @ basis
    want = sum(multivariate_normal(cov=torch.cov(z[y == c].T).numpy()).entropy() for c in (0, 1)) / 2
    assert class_entropy(f, y, mean, basis) == pytest.approx(float(want), abs=1e-10)
    assert basis.shape == (5, 3) and torch.allclose(basis.T @ basis, torch.eye(3, dtype=torch.float64), atol=1e-12)


def test_paired_difference_by_hand():
    a, b = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.0, 1.0, 1.0])
    mean, se = paired_difference(a, b)  # differences 1, 1, 3: mean 5/3, std sqrt(4/3)
    assert mean == pytest.approx(5 / 3) and se == pytest.approx(math.sqrt(4 / 3) / math.sqrt(3))
    with pytest.raises(ValueError, match="same length"):
        paired_difference(a, b[:2])


def test_drop_fraction_by_hand():
    p0 = torch.tensor([0.9, 0.5, 0.7, 0.2])
    assert drop_fraction(torch.tensor([0.8, 0.6, 0.69, 0.2]), p0) == 0.5
    assert drop_fraction(torch.tensor([0.8, 0.6, 0.69, 0.2]), p0, tol=0.05) == 0.25


def test_bad_inputs_are_named(cond_model):
    with pytest.raises(ValueError, match="sampler"):
        sample_cfg(cond_model, torch.arange(3), 1.0, "heun", 5, 0)
    with pytest.raises(ValueError, match="labels must lie"):
        cfg_eps(cond_model, torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 10]), 1.0, 10)
    with pytest.raises(ValueError, match="num_steps"):
        timestep_grid(1, 1000)
    with pytest.raises(ValueError, match="log_p"):
        confidence_metrics(torch.tensor([0.1, -0.2]))
    with pytest.raises(ValueError, match="more than k"):
        class_entropy(torch.randn(6, 4), torch.tensor([0, 0, 0, 1, 1, 1]), torch.zeros(4), torch.eye(4)[:, :3])
    with pytest.raises(ValueError, match="tol"):
        drop_fraction(torch.ones(2), torch.ones(2), tol=-1)
    unconditional = build_unet(model_config(TrainConfig(dataset="digits", channels=(8, 16, 16))), 0)
    with pytest.raises(ValueError, match="class-conditional"):
        sample_cfg(unconditional, torch.arange(3), 1.0, "ddim", 5, 0)
    with pytest.raises(ValueError, match="num_val"):
        train_judge(JudgeConfig(dataset="digits", num_val=10**6, steps=2))
    with pytest.raises(ValueError, match="hidden"):
        train_judge(JudgeConfig(dataset="digits", hidden=0, steps=2))


def test_temperature_scaling_recovers_a_known_temperature():
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(20000, 5, generator=gen, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(logits / 2.0, 1), 1, generator=gen)[:, 0]
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.05)  # ~4 s.e. of the MLE at N = 2e4


def test_judge_training_lowers_the_loss_and_round_trips(tmp_path):
    data = load_dataset("digits")
    cfg = JudgeConfig(dataset="digits", channels=(4, 8), hidden=16, steps=150, batch_size=32, num_val=200, lr=5e-3)
    judge, log = train_judge(cfg, data)
    assert log[-1][1] < 0.5 * log[0][1], log
    metrics = evaluate_judge(judge, data.x_test, data.y_test)
    assert metrics["accuracy"] > 0.5 and 0 <= metrics["ece"] <= 1
    logp, feats = judge_outputs(judge, data.x_test[:7])
    assert logp.shape == (7, 10) and feats.shape == (7, 16)
    assert torch.allclose(logp.exp().sum(1), torch.ones(7, dtype=torch.float64))
    out = tmp_path / "judge.safetensors"
    save_judge(judge, cfg, out, dict(source="test"))
    loaded, meta = load_judge(out)
    assert meta["temperature"] == judge.temperature
    assert torch.equal(judge_outputs(loaded, data.x_test[:7])[0], logp)
    raw = bytearray(out.read_bytes())
    raw[-1] ^= 1
    out.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        load_judge(out)
