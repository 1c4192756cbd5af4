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
