"""lowdim.representation.ensemble: per-level BatchNorm + linear probes and their soft vote (paper 1, v1; v3 App. B.4)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lowdim.representation.ensemble import (corrupt_labels, ensemble_predict, ensemble_window, evaluate_ensemble, fit_level_probes,
                             level_accuracy, level_logits)


def _views(num_levels, num, noise, seed, num_classes=3, dim=4):
    """Independent noisy views of class means: level i sees mean_y + noise_i * N(0, I)."""
    gen = torch.Generator().manual_seed(seed)
    means = 1.5 * torch.eye(num_classes, dim, dtype=torch.float64)
    y = torch.randint(0, num_classes, (num,), generator=gen)
    noise = torch.as_tensor(noise, dtype=torch.float64).reshape(-1, 1, 1)
    F = means[y].unsqueeze(0) + noise * torch.randn(num_levels, num, dim, dtype=torch.float64, generator=gen)
    return F, y


def test_corrupt_labels_flips_exactly_the_fraction_to_other_classes():
    y = torch.randint(0, 4, (20_000,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(corrupt_labels(y, 0.0, 4, seed=1), y)
    noisy = corrupt_labels(y, 0.6, 4, seed=1)
    assert torch.equal(noisy, corrupt_labels(y, 0.6, 4, seed=1))
    # the paper's definition: exactly a fraction p of the labels changed, each to a different class
    assert int((noisy != y).sum()) == 12_000
    assert int((corrupt_labels(y, 1.0, 4, seed=2) == y).sum()) == 0
    # the new class is uniform over the K - 1 others: counts of (true, noisy) pairs, chi-square against uniform
    changed = noisy != y
    offset = ((noisy[changed] - y[changed]) % 4).numpy()
    counts = np.bincount(offset, minlength=4)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > 1e-3  # uniform over {1, 2, 3} (fails only 1 time in 1000)
    with pytest.raises(ValueError, match="fraction"):
        corrupt_labels(y, 1.2, 4, seed=0)
    with pytest.raises(ValueError, match="labels"):
        corrupt_labels(y, 0.2, 3, seed=0)
    with pytest.raises(ValueError, match="num_classes"):
        corrupt_labels(torch.zeros(5, dtype=torch.long), 0.2, 1, seed=0)


def test_standardisation_is_batchnorm():
    F, y = _views(2, 500, [0.5, 2.0], seed=2)
    probes = fit_level_probes(F, y, 3)
    for level in range(2):
        bn = torch.nn.BatchNorm1d(4, dtype=torch.float64).train()
        ref = bn(F[level])  # train mode: batch statistics, gamma = 1, beta = 0
        ours = (F[level] - probes.mean[level]) / probes.scale[level]
        assert torch.allclose(ours, ref, atol=1e-12)


def test_probe_is_the_penalised_cross_entropy_minimiser():
    # scikit-learn minimises mean_i CE_i + |W|^2 / (2 C N) (C = 1, intercept unpenalised): its gradient must vanish
    F, y = _views(2, 800, [0.8, 1.5], seed=3)
    probes = fit_level_probes(F, y, 3)
    for level in range(2):
        Z = (F[level] - probes.mean[level]) / probes.scale[level]
        W = probes.weight[level].clone().requires_grad_(True)
        b = probes.bias[level].clone().requires_grad_(True)
        obj = torch.nn.functional.cross_entropy(Z @ W + b, y) + 0.5 * (W**2).sum() / y.numel()
        gW, gb = torch.autograd.grad(obj, (W, b))
        assert float(gW.abs().max()) < 2e-4 and float(gb.abs().max()) < 2e-4  # sklearn's L-BFGS stops at gradient 1e-4


def test_logits_and_soft_vote():
    F, y = _views(3, 200, [1.0, 1.0, 1.0], seed=4)
    probes = fit_level_probes(F, y, 3)
    logits = level_logits(probes, F)
    assert logits.shape == (3, 200, 3)
    manual = (logits[0] + logits[2]) / 2
    assert torch.equal(ensemble_predict(logits, [0, 2]), manual.argmax(dim=1))
    assert torch.allclose(level_accuracy(logits, y), (logits.argmax(2) == y).double().mean(1))


def test_binary_probes():
    F, y = _views(2, 400, [0.7, 0.7], seed=5, num_classes=2)
    acc = level_accuracy(level_logits(fit_level_probes(F, y, 2), F), y)
    assert (acc > 0.8).all()


def test_window():
    assert ensemble_window(5, 14, 2) == [3, 4, 5, 6, 7]
    assert ensemble_window(0, 14, 2) == [0, 1, 2, 3, 4]
    assert ensemble_window(13, 14, 2) == [9, 10, 11, 12, 13]
    assert ensemble_window(1, 3, 2) == [0, 1, 2]
    with pytest.raises(ValueError, match="best"):
        ensemble_window(14, 14, 2)


def test_ensemble_of_independent_views_beats_the_best_view():
    # five equally informative, independent views: averaging logits must help by a wide margin (about 10 points)
    noise = [1.6] * 7
    F_tr, y_tr = _views(7, 3000, noise, seed=6)
    F_va, y_va = _views(7, 1000, noise, seed=7)
    F_te, y_te = _views(7, 4000, noise, seed=8)
    out = evaluate_ensemble(F_tr, y_tr, F_va, y_va, F_te, y_te, 3, half_width=2)
    assert len(out["window"]) == 5 and out["best"] in out["window"]
    assert out["ensemble"] > out["single"] + 0.05


def test_bad_feature_shapes():
    F, y = _views(2, 50, [1.0, 1.0], seed=9)
    with pytest.raises(ValueError, match="features"):
        fit_level_probes(F[0], y, 3)
    with pytest.raises(ValueError, match="labels"):
        fit_level_probes(F, y[:10], 3)
    with pytest.raises(ValueError, match="classes"):
        fit_level_probes(F, torch.zeros(50, dtype=torch.long), 3)
