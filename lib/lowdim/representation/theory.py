"""Closed forms of paper 1 (arXiv 2502.05743 v3): Theorem 1 (approximate SNR) and its Lemma 2 weights.

Setting: K classes, mutually orthogonal bases of equal rank d, uniform weights, data noise delta, VE noise level
sigma. Theorem 1 replaces the softmax weights w_k*(x_t) of the optimal denoiser by constants (the softmax of the
expected logits) and gets

    SNR ~ C_t / (K - 1) * ((1 + sigma^2/delta^2 h(w+)) / (1 + sigma^2/delta^2 h(w-)))^2,
    h(w, delta) = (1 - delta^2) w + delta^2,   C_t = (1 + sigma^2) / (delta^2 + sigma^2),

with (Lemma 2) w+ = 1/(1 + (K-1) e^{-D_t}) on the true class and w- = e^{-D_t}/(1 + (K-1) e^{-D_t}) on each
other class. Two logit gaps D_t are implemented:

* "paper":  D_t = (1 - delta^2) d / (2 sigma^2 (1 + sigma^2)), as printed in the paper (it keeps the phi_t term of
  the gate and drops the psi_t term);
* "exact":  D_t = E[g_k - g_l] = (1 - delta^2)^2 d / (2 (1 + sigma^2)(delta^2 + sigma^2)), the expectation of the
  exact gate logits of eq. 5 over x_t from class k.

The two agree for sigma^2 >> delta^2; both give SNR -> 1/((K-1) delta^2) as sigma -> 0 and 1/(K-1) as sigma -> inf.
"""

from __future__ import annotations

import torch

from lowdim.checks import as_sigma, check_int, check_range

__all__ = ["LOGIT_GAPS", "logit_gap", "lemma2_weights", "confidence_rate", "theorem1_snr"]

LOGIT_GAPS = ("paper", "exact")


def logit_gap(sigma, delta: float, rank: int, kind: str = "paper") -> torch.Tensor:
    """D_t of Lemma 2 (kind "paper") or the exact expected logit gap (kind "exact").  sigma: any shape -> same."""
    s2 = as_sigma(sigma) ** 2
    check_range("delta", delta, low=0.0, high=1.0, high_open=True)
    if kind == "paper":
        return (1 - delta**2) * rank / (2 * s2 * (1 + s2))
    if kind == "exact":
        return (1 - delta**2) ** 2 * rank / (2 * (1 + s2) * (delta**2 + s2))
    raise ValueError(f"kind must be one of {LOGIT_GAPS}, got {kind!r}")


def lemma2_weights(sigma, delta: float, rank: int, num_classes: int, kind: str = "paper"):
    """(w+, w-) of Lemma 2: the constant softmax weights on the true class and on each other class."""
    check_int("num_classes", num_classes, low=2)
    e = torch.exp(-logit_gap(sigma, delta, rank, kind))
    denom = 1 + (num_classes - 1) * e
    return 1 / denom, e / denom


def confidence_rate(w, delta: float) -> torch.Tensor:
    """h(w, delta) = (1 - delta^2) w + delta^2, the class-confidence rate of Theorem 1."""
    return (1 - delta**2) * torch.as_tensor(w) + delta**2


def theorem1_snr(sigma, delta: float, rank: int, num_classes: int, kind: str = "paper") -> torch.Tensor:
    """Theorem 1's approximate SNR of the optimal denoiser.  sigma: any shape -> same shape."""
    s2 = as_sigma(sigma) ** 2
    w_pos, w_neg = lemma2_weights(sigma, delta, rank, num_classes, kind)
    c_t = (1 + s2) / (delta**2 + s2)
    rate = s2 / delta**2  # the denoising rate sigma_t^2 / delta^2
    ratio = (1 + rate * confidence_rate(w_pos, delta)) / (1 + rate * confidence_rate(w_neg, delta))
    return c_t / (num_classes - 1) * ratio**2
