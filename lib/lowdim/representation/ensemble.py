"""Ensemble of linear probes across noise levels, paper 1 (arXiv 2502.05743): v1 main method, v3 App. B.4.

Protocol (paper text, v3 App. B.4): pick the noise level with the best probe accuracy, add its 2 finer and 2
coarser neighbours on the grid, train one BatchNorm1d -> Linear probe per level (the l-DAE protocol), and at test
time average the 5 probes' logits (soft vote):  y_hat = argmax_k (1/5) sum_tau (W_tau h_tau)_k.

Everything here works on generic per-level feature tensors (L levels, N points, p features) and integer labels,
so the same functions serve the MoLRG chapter and real-image features. Probes are trained full-batch, so
BatchNorm1d's batch statistics are the training set's mean and (biased) variance, which are also its running
statistics at convergence; the probe is therefore "standardise with the training statistics, then an affine map"
(BatchNorm's own affine parameters fold into the linear layer). The affine map is fitted by cross-entropy with
scikit-learn's L-BFGS logistic regression, which is deterministic without a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn.linear_model import LogisticRegression

from lowdim.checks import DTYPE, check_int, check_range
from lowdim.metrics import accuracy

__all__ = ["BATCHNORM_EPS", "LevelProbes", "corrupt_labels", "fit_level_probes", "level_logits", "level_accuracy",
           "ensemble_window", "ensemble_predict", "evaluate_ensemble"]

BATCHNORM_EPS = 1e-5  # torch.nn.BatchNorm1d default


@dataclass
class LevelProbes:
    """One standardise-then-linear probe per level: logits = ((h - mean) / scale) @ weight + bias.

    mean, scale: (L, p); weight: (L, p, K); bias: (L, K); final_loss: training cross-entropy per level (L,).
    """

    mean: torch.Tensor
    scale: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    final_loss: torch.Tensor


def _check_features(features, labels=None, name: str = "features") -> tuple[torch.Tensor, torch.Tensor | None]:
    F = torch.as_tensor(features, dtype=DTYPE)
    if F.ndim != 3:
        raise ValueError(f"{name} must have shape (levels L, points N, features p), got {tuple(F.shape)}")
    if not torch.isfinite(F).all():
        raise ValueError(f"{name} must be finite")
    if labels is None:
        return F, None
    y = torch.as_tensor(labels)
    if y.dtype.is_floating_point or y.shape != F.shape[1:2]:
        raise ValueError(f"labels must be integers of shape ({F.shape[1]},) (one per point), got {y.dtype} {tuple(y.shape)}")
    return F, y.long()


def corrupt_labels(labels, fraction: float, num_classes: int, seed: int) -> torch.Tensor:
    """Label noise as paper 1 (v3 App. B.4) applies it: a random subset of round(fraction * N) training labels is
    replaced by a *different* class, drawn uniformly from the other K - 1 classes.

    labels: (N,) ints in [0, K), K >= 2.  ->  (N,) noisy labels; exactly round(fraction * N) of them differ from
    `labels`. P(noisy label = j | true class k) is 1 - fraction for j = k and fraction / (K - 1) otherwise, so the true
    class stays the most frequent label of its points only while fraction < (K - 1) / K (below 2/3 for K = 3).
    """
    check_range("fraction", fraction, low=0.0, high=1.0)
    check_int("num_classes", num_classes, low=2)
    y = torch.as_tensor(labels).long()
    if y.ndim != 1 or (y.numel() and (y.min() < 0 or y.max() >= num_classes)):
        raise ValueError(f"labels must be a 1-D tensor of ints in [0, {num_classes - 1}]")
    gen = torch.Generator().manual_seed(seed)
    num = round(fraction * y.numel())
    idx = torch.randperm(y.numel(), generator=gen)[:num]
    shift = torch.randint(1, num_classes, (num,), generator=gen)  # 1..K-1: never the same class
    noisy = y.clone()
    noisy[idx] = (y[idx] + shift) % num_classes
    return noisy


def fit_level_probes(features, labels, num_classes: int, max_iter: int = 1000) -> LevelProbes:
    """Train one BatchNorm + linear probe per level with cross-entropy: scikit-learn's multinomial
    LogisticRegression (L-BFGS, its default L2 strength C = 1) on the standardised features of each level.

    features: (L, N, p); labels: (N,) ints in [0, K), the same labels at every level; every class must occur.
    ->  LevelProbes.
    """
    F, y = _check_features(features, labels)
    check_int("max_iter", max_iter, low=1)
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes - 1}]")
    if torch.unique(y).numel() != num_classes:
        raise ValueError(f"every one of the {num_classes} classes must occur in labels")
    L, N, p = F.shape
    mean = F.mean(dim=1)  # (L, p): BatchNorm1d batch mean
    scale = torch.sqrt(F.var(dim=1, unbiased=False) + BATCHNORM_EPS)  # (L, p): BatchNorm1d batch std
    Z = ((F - mean[:, None]) / scale[:, None]).numpy()
    weight = torch.empty(L, p, num_classes, dtype=DTYPE)
    bias = torch.empty(L, num_classes, dtype=DTYPE)
    for level in range(L):  # L small, independent problems
        clf = LogisticRegression(max_iter=max_iter).fit(Z[level], y.numpy())
        coef, intercept = torch.as_tensor(clf.coef_), torch.as_tensor(clf.intercept_)
        if num_classes == 2:  # sklearn keeps one logit (class 1 vs 0): logits (0, s) give the same softmax
            coef, intercept = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros_like(intercept), intercept])
        weight[level], bias[level] = coef.T, intercept
    probes = LevelProbes(mean=mean, scale=scale, weight=weight, bias=bias, final_loss=torch.empty(L, dtype=DTYPE))
    logits = level_logits(probes, F)  # training cross-entropy per level, for checks
    probes.final_loss = torch.nn.functional.cross_entropy(
        logits.reshape(L * N, -1), y.repeat(L), reduction="none").reshape(L, N).mean(dim=1)
    return probes


def level_logits(probes: LevelProbes, features) -> torch.Tensor:
    """Each level's probe applied to that level's features.  features: (L, N, p)  ->  logits (L, N, K)."""
    F, _ = _check_features(features)
    if F.shape[0] != probes.mean.shape[0] or F.shape[2] != probes.mean.shape[1]:
        raise ValueError(f"features must have shape (L={probes.mean.shape[0]}, N, p={probes.mean.shape[1]}), "
                         f"got {tuple(F.shape)}")
    Z = (F - probes.mean[:, None]) / probes.scale[:, None]
    return torch.baddbmm(probes.bias[:, None, :], Z, probes.weight)


def level_accuracy(logits: torch.Tensor, labels) -> torch.Tensor:
    """Accuracy of argmax logits per level (`lowdim.metrics.accuracy`).  logits: (L, N, K); labels: (N,)  ->  (L,)."""
    return accuracy(logits, labels)


def ensemble_window(best: int, num_levels: int, half_width: int) -> list[int]:
    """Indices best - half_width .. best + half_width, shifted inward at the ends of the grid (always
    min(2 half_width + 1, num_levels) levels).  Grid order: increasing noise."""
    check_int("num_levels", num_levels, low=1)
    check_int("best", best, 0, num_levels - 1)
    check_int("half_width", half_width, low=0)
    size = min(2 * half_width + 1, num_levels)
    start = min(max(best - half_width, 0), num_levels - size)
    return list(range(start, start + size))


def ensemble_predict(logits: torch.Tensor, window: list[int]) -> torch.Tensor:
    """Soft vote: argmax_k of the logits averaged over the window's levels.  logits: (L, N, K)  ->  (N,)."""
    return logits[window].mean(dim=0).argmax(dim=1)


def evaluate_ensemble(train_features, train_labels, val_features, val_labels, test_features, test_labels,
                      num_classes: int, half_width: int = 2) -> dict:
    """The whole protocol: fit per-level probes on (train), choose the best level on (val), test the best single
    level and the soft-vote ensemble of its window on (test). Features: (L, N_split, p); labels: (N_split,).

    ->  dict(val_accuracy (L,), test_accuracy (L,), best (int), window (list), single (float: test accuracy of
    the best level), ensemble (float: test accuracy of the soft vote), probes (LevelProbes)).
    """
    probes = fit_level_probes(train_features, train_labels, num_classes)
    val_acc = level_accuracy(level_logits(probes, val_features), val_labels)
    test_logits = level_logits(probes, test_features)
    test_acc = level_accuracy(test_logits, test_labels)
    best = int(val_acc.argmax())
    window = ensemble_window(best, val_acc.numel(), half_width)
    y_test = torch.as_tensor(test_labels).long()
    ensemble = float((ensemble_predict(test_logits, window) == y_test).to(DTYPE).mean())
    return dict(val_accuracy=val_acc, test_accuracy=test_acc, best=best, window=window,
                single=float(test_acc[best]), ensemble=ensemble, probes=probes)
