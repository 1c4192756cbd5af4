"""Paper 1 (arXiv 2502.05743 v3) on real-image features: probes, feature SNR, projection classifier, label noise.

Inputs are the pooled block features of `lowdim.images.features.extract_features`: {block: (L, N, p)} at L noise
levels. Per level and block, a linear probe is fitted on the training split and scored on the test split; the best
block per level is the one with the highest test accuracy (paper 1, Fig. 5: "best layer per timestep"). At that
block, per level:

* feature SNR (§5.4 / App. D): unit-norm, globally mean-subtracted training features, per-class top-5 right
  singular vectors U_k, SNR = mean_k E[|U_k U_k^T h|^2 | k] / E[|h - U_k U_k^T h|^2 | k]  (lowdim.metrics);
* projection classifier (Table 9): argmax_k |V_k^T h|^2 with V_k the class's top-5 principal subspace of the
  normalised training features; test features are normalised with the training mean.

The probe is the standardise-then-linear probe of lowdim.representation.ensemble (BatchNorm1d -> Linear, fitted
by multinomial logistic regression), the same function as the MoLRG chapter's ensemble.
Label noise (Tables 1-2): a fraction p of the training labels is replaced by a *different* class, drawn uniformly
among the K - 1 others (lowdim.representation.ensemble.corrupt_labels, as chapter 3).
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, check_range
from lowdim.metrics import class_subspaces, normalize_features, snr
from lowdim.representation.dae import fit_projection_classifier, projection_predict
from lowdim.representation.ensemble import (corrupt_labels, evaluate_ensemble, fit_level_probes, level_accuracy,
                                           level_logits)

__all__ = ["SUBSPACE_RANK", "probe_accuracy", "block_probe_table", "normalize_with", "feature_snr", "projection_accuracy", "level_summary", "split_train_val", "label_noise_run"]

SUBSPACE_RANK = 5  # App. D: top-5 singular vectors per class


def probe_accuracy(train_features, train_labels, test_features, test_labels, num_classes: int) -> torch.Tensor:
    """Test accuracy of one probe per level.  features: (L, N_split, p)  ->  (L,) float64."""
    probes = fit_level_probes(torch.as_tensor(train_features, dtype=DTYPE), train_labels, num_classes)
    return level_accuracy(level_logits(probes, torch.as_tensor(test_features, dtype=DTYPE)), test_labels)


def block_probe_table(train: dict, train_labels, test: dict, test_labels, num_classes: int) -> tuple[list, torch.Tensor]:
    """Probe test accuracy of every block at every level.  train/test: {block: (L, N, p)}.

    -> (block names (B,), accuracy (B, L)).
    """
    names = list(train)
    acc = torch.stack([probe_accuracy(train[b], train_labels, test[b], test_labels, num_classes) for b in names])
    return names, acc


def normalize_with(train_features, test_features) -> tuple[torch.Tensor, torch.Tensor]:
    """App. D normalisation: unit-norm rows, minus the *training* mean (also applied to test).  (N, p) each."""
    h_train = torch.as_tensor(train_features, dtype=DTYPE)
    h_test = torch.as_tensor(test_features, dtype=DTYPE)
    mean = (h_train / h_train.norm(dim=1, keepdim=True)).mean(dim=0)
    return normalize_features(h_train), h_test / h_test.norm(dim=1, keepdim=True) - mean


def feature_snr(train_features, train_labels, rank: int = SUBSPACE_RANK) -> float:
    """SNR of §5.4 on training features (N, p): normalise, class-wise top-`rank` SVD, Definition 1."""
    h = normalize_features(train_features)
    y = torch.as_tensor(train_labels)
    return snr(h, y, class_subspaces(h, y, rank))[0]


def projection_accuracy(train_features, train_labels, test_features, test_labels, num_classes: int,
                        rank: int = SUBSPACE_RANK) -> float:
    """Table 9's projection classifier argmax_k |V_k^T h|^2 on normalised features; test accuracy."""
    h_train, h_test = normalize_with(train_features, test_features)
    V = fit_projection_classifier(h_train, torch.as_tensor(train_labels), num_classes, rank)
    return float((projection_predict(V, h_test) == torch.as_tensor(test_labels)).to(DTYPE).mean())


def level_summary(train: dict, train_labels, test: dict, test_labels, num_classes: int) -> dict:
    """Everything Fig. 5 / Table 9 show, per level at the level's best block.

    -> dict(blocks (B,), block_accuracy (B, L), best_block (L,) names, probe (L,), snr (L,), projection (L,)).
    """
    names, acc = block_probe_table(train, train_labels, test, test_labels, num_classes)
    best = acc.argmax(dim=0)
    L = acc.shape[1]
    best_names = [names[int(b)] for b in best]
    snrs = torch.tensor([feature_snr(train[best_names[i]][i], train_labels) for i in range(L)], dtype=DTYPE)
    proj = torch.tensor([projection_accuracy(train[best_names[i]][i], train_labels, test[best_names[i]][i],
                                             test_labels, num_classes) for i in range(L)], dtype=DTYPE)
    return dict(blocks=names, block_accuracy=acc, best_block=best_names, probe=acc.max(dim=0).values,
                snr=snrs, projection=proj)


def split_train_val(num_points: int, num_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded permutation split of range(num_points) into (fit indices, validation indices)."""
    if not 0 < num_val < num_points:
        raise ValueError(f"num_val must lie in [1, {num_points - 1}], got {num_val}")
    perm = torch.randperm(num_points, generator=torch.Generator().manual_seed(seed))
    return perm[num_val:], perm[:num_val]


def label_noise_run(features, pixels_train, train_labels, features_test, pixels_test, test_labels, num_classes: int,
                    fraction: float, noise_seed: int, split_seed: int, num_val: int, half_width: int = 2) -> dict:
    """One row of the Tables 1-2 analogue at one label-noise fraction and seed.

    features: (L, N, p) training features of one block across levels; pixels_train: (N, D) flattened images;
    features_test: (L, M, p); pixels_test: (M, D). The training labels are corrupted (`corrupt_labels`, seeded by
    noise_seed); num_val of the training points (with their noisy labels; chosen by split_seed, which must differ
    from noise_seed, or the validation points would be exactly the corrupted ones) choose the best level; the probes
    are fitted on the rest. -> dict(single, ensemble, pixels (test accuracies), best (level index), window).
    """
    if split_seed == noise_seed:
        raise ValueError(f"split_seed must differ from noise_seed (both {noise_seed}): the same seed draws the same "
                         "permutation, so the validation split would be the corrupted labels")
    noisy = corrupt_labels(train_labels, fraction, num_classes, noise_seed)
    fit, val = split_train_val(len(noisy), num_val, split_seed)
    F = torch.as_tensor(features, dtype=DTYPE)
    res = evaluate_ensemble(F[:, fit], noisy[fit], F[:, val], noisy[val], torch.as_tensor(features_test, dtype=DTYPE),
                            test_labels, num_classes, half_width)
    P = torch.as_tensor(pixels_train, dtype=DTYPE)
    pix = probe_accuracy(P[fit][None], noisy[fit], torch.as_tensor(pixels_test, dtype=DTYPE)[None], test_labels,
                         num_classes)
    return dict(single=res["single"], ensemble=res["ensemble"], pixels=float(pix[0]), best=res["best"],
                window=res["window"])
