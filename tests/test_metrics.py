"""Tests for lowdim.metrics.snr (paper 1, Definition 1) against a direct computation with explicit projections."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lowdim.metrics import snr

EPS = np.finfo(np.float64).eps


def _orth(n, d, rng):
    q, _ = np.linalg.qr(rng.normal(size=(n, d)))
    return q


def snr_direct(x, labels, bases):
    """Definition 1 written out: per class E|P_k x|^2 / E|x - P_k x|^2 with P_k = U_k U_k^T; then the class mean."""
    per_class = []
    for k, U in enumerate(bases):
        xk = x[labels == k]
        P = U @ U.T
        num = np.mean(np.sum((xk @ P) ** 2, axis=1))
        den = np.mean(np.sum((xk - xk @ P) ** 2, axis=1))
        per_class.append(num / den)
    return float(np.mean(per_class)), np.array(per_class)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_snr_matches_direct_computation(seed):
    rng = np.random.default_rng(seed)
    n, ranks = 12, [3, 1, 5]
    bases = [_orth(n, d, rng) for d in ranks]  # each orthonormal, not orthogonal to each other
    labels = rng.permutation(np.repeat([0, 1, 2], [50, 7, 143]))  # unequal class sizes
    # features with class-dependent structure plus isotropic noise
    x = np.stack([bases[k] @ rng.normal(size=ranks[k]) * 3 for k in labels]) + 0.5 * rng.normal(size=(len(labels), n))
    want, want_pc = snr_direct(x, labels, bases)
    got, got_pc = snr(torch.tensor(x), torch.tensor(labels), [torch.tensor(U) for U in bases])
    assert isinstance(got, float) and got_pc.shape == (3,)
    # ratios of sums of ~n * N squares in float64: relative rounding ~1e-14; the signal/residual split by subtraction
    # (|x|^2 - |P x|^2) loses a factor |x|^2 / |x - P x|^2 <= 1e2 here, hence 1e-12
    np.testing.assert_allclose(got_pc.numpy(), want_pc, rtol=1e-12, atol=0)
    assert got == pytest.approx(want, rel=1e-12)
    assert got == pytest.approx(float(np.mean(got_pc.numpy())), rel=1e-15)  # the mean over classes, uniformly


def test_snr_is_ratio_of_means_not_mean_of_ratios():
    # one class, two samples: |Px|^2 = (4, 1), |x - Px|^2 = (1, 4) -> ratio of means = 1, mean of ratios = 2.125
    U = np.array([[1.0], [0.0]])
    x = np.array([[2.0, 1.0], [1.0, 2.0]])
    got, pc = snr(x, np.array([0, 0]), [U])
    assert got == pytest.approx(1.0, rel=1e-15)  # exact small integers: rounding only


def test_snr_accepts_numpy_and_lists():
    U = [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    x = [[1.0, 1.0, 1.0], [2.0, 0.0, 1.0]]
    got, _ = snr(x, [0, 0], [U])
    # E|Px|^2 = (2 + 4)/2 = 3, E|x - Px|^2 = (1 + 1)/2 = 1: exact small integers
    assert got == pytest.approx(3.0, rel=1e-15)


def test_snr_accurate_when_residual_is_tiny():
    rng = np.random.default_rng(3)
    n, d = 50, 5
    Q = _orth(n, 2 * d, rng)
    bases = [Q[:, :d], Q[:, d:]]
    labels = np.repeat([0, 1], 1000)
    delta = 1e-7  # energy outside the class subspace: delta^2 relative
    x = np.stack([bases[k] @ rng.normal(size=d) + delta * bases[1 - k] @ rng.normal(size=d) for k in labels])
    want, want_pc = snr_direct(x, labels, bases)
    got, got_pc = snr(torch.tensor(x), torch.tensor(labels), [torch.tensor(U) for U in bases])
    # direct computation of |x - P x|^2 is accurate to ~n eps relative to the residual itself; 1e-6 is generous
    np.testing.assert_allclose(got_pc.numpy(), want_pc, rtol=1e-6, atol=0)


def test_snr_raises_on_missing_class():
    rng = np.random.default_rng(4)
    bases = [_orth(6, 2, rng) for _ in range(3)]
    x = rng.normal(size=(10, 6))
    with pytest.raises(ValueError, match="class 1"):
        snr(x, np.array([0, 2] * 5), bases)


@pytest.mark.parametrize("bad", [[0, 1, 3, 0], [0, 1, -1, 2]])
def test_snr_raises_on_out_of_range_labels(bad):
    rng = np.random.default_rng(5)
    bases = [_orth(6, 2, rng) for _ in range(3)]
    x = rng.normal(size=(4, 6))
    with pytest.raises(ValueError, match="labels"):
        snr(x, np.array(bad), bases)


def test_snr_raises_on_shape_mismatch():
    rng = np.random.default_rng(6)
    bases = [_orth(6, 2, rng)]
    with pytest.raises(ValueError, match="labels"):
        snr(rng.normal(size=(4, 6)), np.zeros(3, dtype=int), bases)
    with pytest.raises(ValueError, match="denoised"):
        snr(rng.normal(size=6), np.zeros(6, dtype=int), bases)


# ----------------------------------------------------------------------------------------------------------
# snr_curve, the pooled reduction and bases estimated from features.

from lowdim.metrics import class_mean_bases, class_subspaces, normalize_features, snr_curve  # noqa: E402


def _features(seed, n=10, ranks=(2, 3), sizes=(60, 90)):
    rng = np.random.default_rng(seed)
    bases = [_orth(n, d, rng) for d in ranks]
    labels = rng.permutation(np.repeat(np.arange(len(ranks)), sizes))
    x = np.stack([bases[k] @ rng.normal(size=ranks[k]) for k in labels]) + 0.3 * rng.normal(size=(len(labels), n))
    return x, labels, bases


def test_snr_curve_is_snr_at_each_level():
    x, labels, bases = _features(7)
    levels = np.stack([x, 2 * x + 0.1, x**2])  # three unrelated "levels"
    values, per_class = snr_curve(torch.tensor(levels), torch.tensor(labels), [torch.tensor(U) for U in bases])
    for l in range(3):
        want, want_pc = snr_direct(levels[l], labels, bases)
        # same float64 operations up to summation order: rounding only
        assert float(values[l]) == pytest.approx(want, rel=1e-12)
        np.testing.assert_allclose(per_class[l].numpy(), want_pc, rtol=1e-12)


def test_snr_pooled_is_ratio_of_pooled_means():
    x, labels, bases = _features(8)
    num = sum(np.sum((x[labels == k] @ U) ** 2) for k, U in enumerate(bases))
    den = sum(np.sum((x[labels == k] - x[labels == k] @ U @ U.T) ** 2) for k, U in enumerate(bases))
    got, _ = snr(x, labels, bases, reduction="pooled")
    assert got == pytest.approx(num / den, rel=1e-12)  # rounding only
    with pytest.raises(ValueError, match="reduction"):
        snr(x, labels, bases, reduction="median")


def test_class_subspaces_recover_exact_low_rank_classes():
    rng = np.random.default_rng(9)
    n, ranks = 12, [2, 4]
    bases = [_orth(n, d, rng) for d in ranks]
    labels = np.repeat([0, 1], [40, 50])
    x = np.stack([bases[k] @ rng.normal(size=ranks[k]) for k in labels])  # exactly rank d_k per class
    got = class_subspaces(x, labels, rank=2)
    assert got[0].shape == (n, 2)
    # the top-2 singular space of class 0 is its whole subspace: projectors equal to rounding (SVD accuracy ~1e-15)
    np.testing.assert_allclose((got[0] @ got[0].T).numpy(), bases[0] @ bases[0].T, atol=1e-12)
    # for class 1 the top-2 space lies inside the true 4-dim subspace
    P1 = bases[1] @ bases[1].T
    np.testing.assert_allclose((P1 @ got[1].numpy()), got[1].numpy(), atol=1e-12)
    np.testing.assert_allclose((got[1].T @ got[1]).numpy(), np.eye(2), atol=1e-12)
    with pytest.raises(ValueError, match="rank"):
        class_subspaces(x, labels, rank=13)


def test_normalize_features_and_class_mean_bases():
    x, labels, _ = _features(10)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(normalize_features(x).numpy(), unit - unit.mean(axis=0), atol=1e-15)  # rounding only
    got = class_mean_bases(x, labels)
    for k, b in enumerate(got):
        mean = x[labels == k].mean(axis=0)
        np.testing.assert_allclose(b[:, 0].numpy(), mean / np.linalg.norm(mean), atol=1e-14)
    with pytest.raises(ValueError, match="zero"):
        normalize_features(np.zeros((3, 4)))
