"""Exact noisy Gaussian mixtures: the dense, general path.

Data p_0 = sum_k pi_k N(mu_k, Sigma_k) in R^n. At noise level sigma (VE: x = x_0 + sigma eps) the marginal is
p_sigma = sum_k pi_k N(mu_k, Sigma_k + sigma^2 I), and every quantity below is exact:

    log p_sigma(x),   P(k | x),   E[x_0 | x] = sum_k P(k|x) (mu_k + Sigma_k (Sigma_k + sigma^2 I)^{-1} (x - mu_k)),
    grad log p_sigma(x) = -sum_k P(k|x) (Sigma_k + sigma^2 I)^{-1} (x - mu_k).

Each class covariance is eigendecomposed once, Sigma_k = Q_k diag(lam_k) Q_k^T, so any sigma (also one per point)
costs two n x n products per class and point. Classes are visited one at a time with an online log-sum-exp
(running maximum), so memory stays O(N n) whatever K is. `lowdim.molrg.MoLRG` is the fast low-rank path for the
paper's model; this class is the reference it is tested against.
"""

from __future__ import annotations

import math

import torch

from lowdim.checks import DTYPE, as_points, as_sigma, as_weights

LOG_2PI = math.log(2.0 * math.pi)


class GaussianMixture:
    """sum_k weights[k] N(means[k], covariances[k]) in R^n, float64.

    means: (K, n); covariances: (K, n, n) symmetric positive semi-definite; weights: (K,) probability vector.
    """

    def __init__(self, means, covariances, weights, psd_rtol: float = 1e-10):
        means = torch.as_tensor(means, dtype=DTYPE)
        covariances = torch.as_tensor(covariances, dtype=DTYPE)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, n), got {tuple(means.shape)}")
        K, n = means.shape
        if covariances.shape != (K, n, n):
            raise ValueError(f"covariances must have shape ({K}, {n}, {n}) to match means, got {tuple(covariances.shape)}")
        if not (torch.isfinite(means).all() and torch.isfinite(covariances).all()):
            raise ValueError("means and covariances must be finite")
        asym = (covariances - covariances.transpose(1, 2)).abs().amax()
        scale = covariances.abs().amax().clamp_min(1e-300)
        if asym > 1e-12 * scale:
            raise ValueError(f"covariances must be symmetric, max |C - C^T| = {float(asym):.3g}")
        self.weights = as_weights(weights, K, name="weights")
        self.means = means
        self.covariances = covariances
        lam, Q = torch.linalg.eigh(covariances)  # (K, n), (K, n, n)
        if (lam < -psd_rtol * lam.abs().amax(dim=1, keepdim=True).clamp_min(1e-300)).any():
            raise ValueError(f"covariances must be positive semi-definite, smallest eigenvalue {float(lam.min()):.3g}")
        # eigh of a PSD matrix can return eigenvalues of -1e-17 from rounding; they are zeros (checked just above).
        self.eigvals = lam.clamp_min(0.0)
        self.eigvecs = Q

    @classmethod
    def from_factors(cls, means, factors, weights) -> "GaussianMixture":
        """Low-rank covariances Sigma_k = F_k F_k^T.  factors: (K, n, r)."""
        factors = torch.as_tensor(factors, dtype=DTYPE)
        if factors.ndim != 3:
            raise ValueError(f"factors must have shape (K, n, r), got {tuple(factors.shape)}")
        return cls(means, factors @ factors.transpose(1, 2), weights)

    @property
    def num_classes(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    # ------------------------------------------------------------------------------------------------------
    # Sampling from p_0.

    def sample(self, num_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw x_0 ~ p_0.  ->  (x0 (num_samples, n), labels (num_samples,) int64)."""
        gen = _generator(num_samples, seed)
        labels = torch.multinomial(self.weights, num_samples, replacement=True, generator=gen)
        eps = torch.randn(num_samples, self.dim, dtype=DTYPE, generator=gen)
        root = self.eigvecs * self.eigvals.sqrt()[:, None, :]  # (K, n, n): Sigma_k = root root^T
        x0 = self.means[labels] + torch.einsum("bij,bj->bi", root[labels], eps)
        return x0, labels

    # ------------------------------------------------------------------------------------------------------
    # Exact quantities at noise level sigma (shared signature: x (N, n), sigma scalar or (N,)).

    def component_log_probs(self, x, sigma) -> torch.Tensor:
        """log pi_k + log N(x; mu_k, Sigma_k + sigma^2 I).  ->  (N, K)."""
        x, var = self._inputs(x, sigma)
        return torch.stack([self._class_terms(x, var, k)[0] for k in range(self.num_classes)], dim=1)

    def log_prob(self, x, sigma) -> torch.Tensor:
        """log p_sigma(x) (log-sum-exp over classes).  ->  (N,)."""
        return torch.logsumexp(self.component_log_probs(x, sigma), dim=1)

    def class_posterior(self, x, sigma) -> torch.Tensor:
        """P(k | x_sigma = x).  ->  (N, K), rows sum to 1."""
        return torch.softmax(self.component_log_probs(x, sigma), dim=1)

    def posterior_mean(self, x, sigma) -> torch.Tensor:
        """E[x_0 | x_sigma = x] (the optimal denoiser).  ->  (N, n)."""
        return self._weighted(x, sigma, want="mean")

    def score(self, x, sigma) -> torch.Tensor:
        """grad_x log p_sigma(x).  ->  (N, n)."""
        return self._weighted(x, sigma, want="score")

    # ------------------------------------------------------------------------------------------------------

    def _inputs(self, x, sigma):
        x = as_points(x, self.dim)
        s = as_sigma(sigma, num_points=x.shape[0])
        var = (s**2).reshape(-1, 1) if s.ndim else s**2  # (N, 1) or ()
        return x, var

    def _class_terms(self, x, var, k):
        """Log-likelihood (N,), eigen-coordinates y (N, n) and 1/(lam + sigma^2) (N or 1, n) for class k."""
        lam = self.eigvals[k]
        y = (x - self.means[k]) @ self.eigvecs[k]  # (N, n)
        inv = 1.0 / (lam + var)  # (N, n) or (n,)
        logdet = torch.log(lam + var).sum(dim=-1)
        loglik = -0.5 * ((y**2 * inv).sum(dim=1) + logdet + self.dim * LOG_2PI)
        return torch.log(self.weights[k]) + loglik, y, inv

    def _weighted(self, x, sigma, want: str) -> torch.Tensor:
        """sum_k P(k|x) v_k(x) with an online log-sum-exp over classes (one class in memory at a time)."""
        x, var = self._inputs(x, sigma)
        run_max = torch.full((x.shape[0], 1), -math.inf, dtype=DTYPE)
        run_sum = torch.zeros(x.shape[0], 1, dtype=DTYPE)
        acc = torch.zeros_like(x)
        for k in range(self.num_classes):
            if self.weights[k] == 0:  # contributes exactly nothing (and log 0 would poison the running max)
                continue
            logit, y, inv = self._class_terms(x, var, k)
            if want == "mean":  # mu_k + Q diag(lam/(lam+s^2)) Q^T (x - mu_k)
                v = self.means[k] + (y * (self.eigvals[k] * inv)) @ self.eigvecs[k].T
            else:  # -Q diag(1/(lam+s^2)) Q^T (x - mu_k)
                v = -(y * inv) @ self.eigvecs[k].T
            logit = logit[:, None]
            new_max = torch.maximum(run_max, logit)
            keep = torch.exp(run_max - new_max)  # exp(-inf) = 0 on the first class
            new = torch.exp(logit - new_max)
            acc = acc * keep + new * v
            run_sum = run_sum * keep + new
            run_max = new_max
        return acc / run_sum


def _generator(num_samples: int, seed: int) -> torch.Generator:
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    if not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)
