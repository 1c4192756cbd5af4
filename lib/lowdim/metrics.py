"""Representation metrics.

SNR of paper 1 (arXiv 2502.05743 v3), Definition 1:

    SNR = E_k [ E[ |P_k x_hat|^2 | k ] / E[ |x_hat - P_k x_hat|^2 | k ] ],   P_k = U_k U_k^T,

a ratio of class-conditional expectations (not a mean of per-sample ratios), then a mean over classes.
It works for any denoiser output or feature vector x_hat and any class bases U_k: the model's subspaces for
synthetic data, or bases estimated from features of a real network (`class_subspaces`, the class-wise SVD of
App. D, after `normalize_features`; `class_mean_bases` for clusters that differ by their means).

Also the classification accuracy used by every chapter (`accuracy`: Bayes classifiers, probes, diffusion
classifiers).
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, check_int

__all__ = ["snr", "snr_curve", "subspace_energies", "snr_from_energies", "REDUCTIONS", "accuracy",
           "normalize_features", "class_subspaces", "class_mean_bases"]


REDUCTIONS = ("classes", "pooled")


def snr(denoised, labels, bases, reduction: str = "classes") -> tuple[float, torch.Tensor]:
    """Definition 1.  denoised: (N, n) denoiser outputs or feature vectors; labels: (N,) ints in [0, K);
    bases: K tensors (n, d_k) with orthonormal columns (class subspaces, e.g. from `class_subspaces` or
    `class_mean_bases` for network features).

    reduction "classes" (Definition 1): the mean over classes of E[|P_k x|^2 | k] / E[|x - P_k x|^2 | k];
    "pooled": E[|P_k x|^2] / E[|x - P_k x|^2] with both expectations over all points (k = each point's class).
    ->  (SNR, per-class ratios (K,)).
    """
    x_hat = torch.as_tensor(denoised, dtype=DTYPE)
    if x_hat.ndim != 2:
        raise ValueError(f"denoised must be (N, n), got {tuple(x_hat.shape)}")
    values, per_class = snr_curve(x_hat.unsqueeze(0), labels, bases, reduction)
    return float(values[0]), per_class[0]


def snr_curve(denoised, labels, bases, reduction: str = "classes") -> tuple[torch.Tensor, torch.Tensor]:
    """Definition 1 at L noise levels at once.  denoised: (L, N, n), row i of every level from a point of class
    labels[i]; labels: (N,); bases: K tensors (n, d_k).  ->  (SNR (L,), per-class ratios (L, K)).
    """
    x_hat = torch.as_tensor(denoised, dtype=DTYPE)
    labels = torch.as_tensor(labels)
    if x_hat.ndim != 3 or labels.shape != x_hat.shape[1:2]:
        raise ValueError(f"denoised must be (L, N, n) and labels (N,), got {tuple(x_hat.shape)} and {tuple(labels.shape)}")
    signal, residual = subspace_energies(x_hat, labels, bases)
    return snr_from_energies(signal, residual, labels, len(bases), reduction)


def subspace_energies(denoised: torch.Tensor, labels: torch.Tensor, bases) -> tuple[torch.Tensor, torch.Tensor]:
    """|P_k x|^2 and |x - P_k x|^2 for each point's own class k.  denoised: (..., N, n)  ->  two (..., N) tensors."""
    K = len(bases)
    if labels.numel() and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"labels must lie in [0, {K - 1}] for {K} bases")
    signal = torch.zeros(denoised.shape[:-1], dtype=DTYPE)
    residual = torch.zeros(denoised.shape[:-1], dtype=DTYPE)
    for k, U in enumerate(bases):
        U = torch.as_tensor(U, dtype=DTYPE)
        if U.ndim != 2 or U.shape[0] != denoised.shape[-1]:
            raise ValueError(f"bases[{k}] must have shape ({denoised.shape[-1]}, d_k), got {tuple(U.shape)}")
        idx = (labels == k).nonzero().squeeze(1)
        if idx.numel() == 0:
            raise ValueError(f"class {k} has no samples; the SNR needs every class")
        xk = denoised[..., idx, :]
        coords = xk @ U  # coordinates of P_k x_hat in U_k
        signal[..., idx] = (coords**2).sum(dim=-1)
        residual[..., idx] = ((xk - coords @ U.T) ** 2).sum(dim=-1)  # explicit residual: no |x|^2 - |Px|^2 cancellation
    return signal, residual


def snr_from_energies(signal, residual, labels, num_classes: int, reduction: str = "classes"):
    """Definition 1 from per-point energies.  signal, residual: (L, N); labels: (N,).  ->  (SNR (L,), per class (L, K))."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    onehot = torch.nn.functional.one_hot(torch.as_tensor(labels), num_classes).to(DTYPE)  # (N, K)
    per_class = (signal @ onehot) / (residual @ onehot)  # ratio of class sums = ratio of class means
    if reduction == "classes":
        return per_class.mean(dim=1), per_class
    return signal.sum(dim=1) / residual.sum(dim=1), per_class


# ----------------------------------------------------------------------------------------------------------
# Classification accuracy.


def accuracy(scores, labels) -> torch.Tensor:
    """Fraction of points whose highest score is their label: mean_i 1[argmax_k scores[..., i, k] = labels[i]].

    scores: (..., N, K) logits, log-posteriors or any per-class scores (a leading axis for noise levels, seeds...);
    labels: (N,) ints in [0, K).  ->  float64 tensor of shape (...) (0-dim for (N, K) scores; `float()` it).
    Ties go to the lowest class index (torch.argmax).
    """
    s = torch.as_tensor(scores)
    y = torch.as_tensor(labels)
    if s.ndim < 2 or y.shape != s.shape[-2:-1]:
        raise ValueError(f"scores must be (..., N, K) and labels (N,), got {tuple(s.shape)} and {tuple(y.shape)}")
    if y.dtype.is_floating_point:
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if y.numel() and (y.min() < 0 or y.max() >= s.shape[-1]):
        raise ValueError(f"labels must lie in [0, {s.shape[-1] - 1}] for {s.shape[-1]} classes")
    return (s.argmax(dim=-1) == y.long()).to(DTYPE).mean(dim=-1)


# ----------------------------------------------------------------------------------------------------------
# Class bases for features of any network (paper 1, App. D, Fig. 5).


def normalize_features(features) -> torch.Tensor:
    """Each feature vector scaled to unit norm, then the global mean subtracted (paper 1, App. D).  (N, p) -> (N, p)."""
    h = torch.as_tensor(features, dtype=DTYPE)
    if h.ndim != 2:
        raise ValueError(f"features must be (N, p), got {tuple(h.shape)}")
    norms = h.norm(dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError("features must have no all-zero row (unit-norm scaling needs a nonzero norm)")
    h = h / norms
    return h - h.mean(dim=0)


def class_subspaces(features, labels, rank: int, num_classes: int | None = None) -> list[torch.Tensor]:
    """Top-`rank` right singular vectors of each class's features (paper 1, App. D: class-wise SVD, rank 5; the
    class subspaces V_k of Table 9's projection classifier).

    features: (N, p); labels: (N,) in [0, K), K = num_classes or (if None) labels.max() + 1
    ->  K tensors (p, rank) with orthonormal columns.
    """
    h = torch.as_tensor(features, dtype=DTYPE)
    labels = torch.as_tensor(labels)
    if h.ndim != 2 or labels.shape != h.shape[:1]:
        raise ValueError(f"features must be (N, p) and labels (N,), got {tuple(h.shape)} and {tuple(labels.shape)}")
    K = (int(labels.max()) + 1 if labels.numel() else 0) if num_classes is None else check_int("num_classes", num_classes, low=1)
    bases = []
    for k in range(K):
        hk = h[labels == k]
        if min(hk.shape) < 1:
            raise ValueError(f"class {k} has no points; rank must be an integer in [1, min(points, p)] for every class")
        check_int(f"rank (class {k}: {hk.shape[0]} points, p = {hk.shape[1]})", rank, 1, min(hk.shape))
        _, _, Vh = torch.linalg.svd(hk, full_matrices=False)
        bases.append(Vh[:rank].T.contiguous())
    return bases


def class_mean_bases(features, labels) -> list[torch.Tensor]:
    """Unit vector along each class mean, as a rank-1 basis (for clusters told apart by their means).

    features: (N, p); labels: (N,) in [0, K)  ->  K tensors (p, 1).
    """
    h = torch.as_tensor(features, dtype=DTYPE)
    labels = torch.as_tensor(labels)
    if h.ndim != 2 or labels.shape != h.shape[:1]:
        raise ValueError(f"features must be (N, p) and labels (N,), got {tuple(h.shape)} and {tuple(labels.shape)}")
    bases = []
    for k in range(int(labels.max()) + 1):
        mean = h[labels == k].mean(dim=0)
        if not torch.isfinite(mean).all() or float(mean.norm()) == 0.0:
            raise ValueError(f"class {k} has no samples or a zero mean; it has no mean direction")
        bases.append((mean / mean.norm()).unsqueeze(1))
    return bases
