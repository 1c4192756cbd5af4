"""Representation metrics.

SNR of paper 1 (arXiv 2502.05743 v3), Definition 1:

    SNR = E_k [ E[ |P_k x_hat|^2 | k ] / E[ |x_hat - P_k x_hat|^2 | k ] ],   P_k = U_k U_k^T,

a ratio of class-conditional expectations (not a mean of per-sample ratios), then a mean over classes.
It works for any denoiser output or feature vector x_hat and any class bases U_k.
"""

from __future__ import annotations

import torch

from lowdim._checks import DTYPE


def snr(denoised, labels, bases) -> tuple[float, torch.Tensor]:
    """Definition 1.  denoised: (N, n); labels: (N,) ints in [0, K); bases: K tensors (n, d_k).

    ->  (SNR averaged uniformly over classes, per-class ratios (K,)).
    """
    x_hat = torch.as_tensor(denoised, dtype=DTYPE)
    labels = torch.as_tensor(labels)
    if x_hat.ndim != 2 or labels.shape != x_hat.shape[:1]:
        raise ValueError(f"denoised must be (N, n) and labels (N,), got {tuple(x_hat.shape)} and {tuple(labels.shape)}")
    K = len(bases)
    if labels.numel() and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"labels must lie in [0, {K - 1}] for {K} bases")
    per_class = torch.empty(K, dtype=DTYPE)
    for k, U in enumerate(bases):
        xk = x_hat[labels == k]
        if xk.shape[0] == 0:
            raise ValueError(f"class {k} has no samples; the SNR needs every class")
        U = torch.as_tensor(U, dtype=DTYPE)
        signal = xk @ U  # coordinates of P_k x_hat in U_k
        sig_energy = (signal**2).sum(dim=1).mean()
        res_energy = ((xk - signal @ U.T) ** 2).sum(dim=1).mean()  # explicit residual: no |x|^2 - |Px|^2 cancellation
        per_class[k] = sig_energy / res_energy
    return float(per_class.mean()), per_class
