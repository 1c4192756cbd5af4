"""Memorization vs generalization of image diffusion models (paper 1, arXiv 2502.05743 v3: §4, Figs. 6-8, 13, Table 3).

* Memorization score (no external network; the nearest-neighbour ratio test of Carlini et al. 2023 / Yoon et al.
  2023 in pixel space, where the paper uses SSCD copy-detection features): a generated sample x is *memorized* when
  its nearest training image is much closer than the second nearest,

      d_1(x) < ratio * d_2(x),   d_k(x) = k-th smallest ||x - x_i||_2 over the training images x_i,

  with ratio = 1/3; the score is the share of memorized samples. (The paper's generalization score is 1 minus a
  share of copies, so it moves the other way.)
* Representation curves (Figs. 6-8): linear-probe test accuracy against the noise level sigma, the probe of every
  UNet block fitted on one fixed labelled set (`lowdim.images.features`, `lowdim.images.probing`), best block per
  level.
* Feature distance between two networks (Fig. 13 analogue): linear CKA (Kornblith et al. 2019) of their pooled
  features of the same images at the same noise level,

      CKA(X, Y) = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F),

  X (N, p), Y (N, q), columns centred (X_c = X - mean). CKA is 1 for features equal up to a rotation and an
  isotropic scaling, near 0 for unrelated ones; the distance shown is 1 - CKA. (The paper uses a sliced-Wasserstein
  distance to the optimal features; CKA needs no reference model.)
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, check_range
from lowdim.images.features import extract_features
from lowdim.images.probing import block_probe_table

__all__ = ["MEMORIZATION_RATIO", "nearest_two", "memorized", "memorization_score", "nearest_pairs",
           "representation_curve", "linear_cka", "block_cka"]

MEMORIZATION_RATIO = 1.0 / 3.0  # Carlini et al. 2023: nearest training image closer than 1/3 of the second nearest


def _flat(name: str, x) -> torch.Tensor:
    """(M, ...) images or vectors -> (M, D) float64; raises ValueError naming `name` for fewer than 2 dims or NaN."""
    t = torch.as_tensor(x)
    if t.ndim < 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must have shape (M, ...) with M >= 1, got {tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1).to(DTYPE)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t


def nearest_two(samples, train, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices of each sample's nearest and second-nearest training image (pixel L2, float64).

    samples: (M, C, H, W) or (M, D); train: (N, C, H, W) or (N, D), N >= 2, same D.
    -> (distances (M, 2) with d_1 <= d_2, indices (M, 2) int64 into train).
    """
    X, Y = _flat("samples", samples), _flat("train", train)
    if Y.shape[0] < 2:
        raise ValueError(f"train must hold at least 2 images (a second nearest), got {Y.shape[0]}")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"samples and train must have the same number of pixels, got {X.shape[1]} and {Y.shape[1]}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    dists, idx = [], []
    y2 = (Y**2).sum(1)
    for start in range(0, X.shape[0], chunk):
        xb = X[start:start + chunk]
        d2 = ((xb**2).sum(1, keepdim=True) - 2 * xb @ Y.T + y2).clamp(min=0)  # ||x - y||^2 expanded
        v, i = torch.topk(d2, 2, dim=1, largest=False)
        dists.append(v.sqrt()), idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def memorized(samples, train, ratio: float = MEMORIZATION_RATIO) -> torch.Tensor:
    """(M,) bool: d_1(x) < ratio * d_2(x) for each sample x (see the module docstring). ratio in (0, 1]."""
    check_range("ratio", ratio, low=0.0, high=1.0, low_open=True)
    d, _ = nearest_two(samples, train)
    return d[:, 0] < ratio * d[:, 1]


def memorization_score(samples, train, ratio: float = MEMORIZATION_RATIO) -> float:
    """Share of samples that are memorized: (1/M) sum_j 1[d_1(x_j) < ratio d_2(x_j)], in [0, 1]."""
    return float(memorized(samples, train, ratio).to(DTYPE).mean())


def nearest_pairs(samples, train, num: int) -> dict:
    """The `num` samples with the smallest ratio d_1 / d_2 (the clearest copies first) and their nearest training
    images, for display.  samples (M, C, H, W), train (N, C, H, W)  ->  dict(sample (num, C, H, W),
    neighbour (num, C, H, W), ratio (num,), distance (num,), index (num,) into train)."""
    if not 1 <= num <= len(samples):
        raise ValueError(f"num must lie in [1, {len(samples)}] (the number of samples), got {num}")
    d, i = nearest_two(samples, train)
    r = d[:, 0] / d[:, 1].clamp(min=torch.finfo(DTYPE).tiny)
    order = torch.argsort(r)[:num]
    samples, train = torch.as_tensor(samples), torch.as_tensor(train)
    return dict(sample=samples[order], neighbour=train[i[order, 0]], ratio=r[order], distance=d[order, 0],
                index=i[order, 0])


def representation_curve(model, x_fit, y_fit, x_test, y_test, sigmas, num_classes: int, seed: int,
                         batch_size: int = 128) -> dict:
    """Probe test accuracy against sigma (Figs. 6-8): pooled block features of the fixed fit and test sets at every
    level (the same noise draws for every model: seeds `seed` and `seed + 1`), one logistic probe per block and
    level fitted on (x_fit, y_fit), scored on (x_test, y_test).

    x_fit (N, C, H, W), x_test (M, C, H, W); sigmas (L,).  ->  dict(blocks (B,), block_accuracy (B, L) float64,
    probe (L,) = best block per level, best_block (L,) names).
    """
    f_fit = extract_features(model, x_fit, sigmas, seed=seed, batch_size=batch_size, progress=False)
    f_test = extract_features(model, x_test, sigmas, seed=seed + 1, batch_size=batch_size, progress=False)
    names, acc = block_probe_table(f_fit, y_fit, f_test, y_test, num_classes)
    best = acc.argmax(dim=0)
    return dict(blocks=names, block_accuracy=acc, probe=acc.max(dim=0).values,
                best_block=[names[int(b)] for b in best])


def linear_cka(X, Y) -> float:
    """Linear CKA of two feature matrices of the same N inputs (see the module docstring), in [0, 1].

    X: (N, p), Y: (N, q), N >= 2; a constant feature matrix (zero after centring) raises ValueError.
    """
    X, Y = _flat("X", X), _flat("Y", Y)
    if X.shape[0] != Y.shape[0] or X.shape[0] < 2:
        raise ValueError(f"X and Y must have the same number N >= 2 of rows, got {X.shape[0]} and {Y.shape[0]}")
    X, Y = X - X.mean(0), Y - Y.mean(0)
    xx, yy = torch.linalg.matrix_norm(X.T @ X), torch.linalg.matrix_norm(Y.T @ Y)
    if xx == 0 or yy == 0:
        raise ValueError("X and Y must not be constant across rows (CKA is undefined)")
    return float(torch.linalg.matrix_norm(Y.T @ X) ** 2 / (xx * yy))


def block_cka(features_a: dict, features_b: dict, level: int) -> dict[str, float]:
    """Linear CKA per block between two models' features {block: (L, N, p)} of the same images at level index
    `level`.  ->  {block: CKA}."""
    if set(features_a) != set(features_b):
        raise ValueError(f"features_a and features_b must have the same blocks, got {sorted(features_a)} and "
                         f"{sorted(features_b)}")
    return {b: linear_cka(features_a[b][level], features_b[b][level]) for b in features_a}
