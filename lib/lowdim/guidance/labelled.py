"""Labelled Gaussian mixtures: classes made of mixture components (paper 3, Li & Jiao, arXiv 2505.01382 v1).

    p(x | c) = sum_{k in c} pi_k N(mu_k, Sigma_k) / p(c),   p(c) = sum_{k in c} pi_k.

In the VE convention (x_sigma = x_0 + sigma eps) every quantity is exact: log p_sigma(c | x), the conditional score
s_sigma(x | c), the unconditional score s_sigma(x), and the classifier gradient by autograd.
"""

from __future__ import annotations

import math

import torch

from lowdim.checks import DTYPE, as_points, check_range
from lowdim.gaussians import LOG_2PI, GaussianMixture


class LabelledMixture:
    """Components of a `GaussianMixture` grouped into classes: `component_class[k]` is the class of component k.

    Noise levels may be 0 when every component covariance is non-singular (the data law itself); otherwise > 0.

    All exact quantities are computed in a *frame* of m <= n coordinates, component-major (K, N, m):
    * diagonal covariances (all 1-D mixtures): the standard axes, no rotations;
    * covariances lam0_k I off a common m-dim subspace span(B) that also holds the means (MoLRG: m = the rank of
      the data span): coordinates u = B^T x, plus the off-frame part x_perp = x - B u, which enters every component
      through the scalar variance lam0_k + sigma^2 only (O(N n m) per level instead of O(N K n^2));
    * otherwise: the eigenbasis of each component (the dense route).
    """

    def __init__(self, mixture: GaussianMixture, component_class):
        if not isinstance(mixture, GaussianMixture):
            raise TypeError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
        labels = torch.as_tensor(component_class)
        K = mixture.num_classes
        if labels.dtype.is_floating_point or labels.shape != (K,):
            raise ValueError(f"component_class must hold {K} integers (one class per component), got {labels.tolist()}")
        C = int(labels.max()) + 1
        if labels.min() < 0 or set(labels.tolist()) != set(range(C)):
            raise ValueError(f"component_class must use every class 0..C-1 at least once, got {labels.tolist()}")
        self.mixture = mixture
        self.component_class = labels.long()
        self.onehot = torch.nn.functional.one_hot(self.component_class, C).to(DTYPE)  # (K, C)
        self.class_prior = self.onehot.T @ mixture.weights  # (C,)
        if (self.class_prior <= 0).any():
            raise ValueError(f"every class needs positive total weight, got p(c) = {self.class_prior.tolist()}")
        self._min_eig = float(mixture.eigvals.min())
        self._log_weights = torch.log(mixture.weights)
        self._basis, self._lam0, self._rot, self._lam, self._means = _frame(mixture)

    @classmethod
    def from_molrg(cls, model) -> "LabelledMixture":
        """One class per MoLRG subspace; exact quantities run in the m-dim data span (see the class docstring)."""
        return cls(model.to_mixture(), torch.arange(model.num_classes))

    @property
    def num_classes(self) -> int:
        return self.onehot.shape[1]

    @property
    def dim(self) -> int:
        return self.mixture.dim

    # ------------------------------------------------------------------------------------------------------

    def _variance(self, sigma, N: int):
        """sigma^2 as a float or an (N,) tensor (one noise level per point)."""
        s = torch.as_tensor(sigma, dtype=DTYPE)
        check_range("sigma", s, low=0.0)
        if s.ndim and tuple(s.shape) != (N,):
            raise ValueError(f"sigma must be a scalar or have shape ({N},), got {tuple(s.shape)}")
        if self._min_eig <= 0 and bool((s == 0).any()):
            raise ValueError("sigma must be > 0 for a mixture with singular component covariances")
        return s**2 if s.ndim else float(s) ** 2

    def _frame_terms(self, x, sigma):
        """Per-component log(pi_k N(x; mu_k, Sigma_k + sigma^2 I)) and the pieces of the component scores.

        -> logp (K, N); zr (K, N, m) with frame part of s_k = -zr_k; perp (N, n) or None and inv0 (K, N) or (K, 1)
        with off-frame part of s_k = -inv0_k perp (see the class docstring).
        """
        x = as_points(x, self.dim)
        var = self._variance(sigma, x.shape[0])
        v_row = var[None, :] if torch.is_tensor(var) else var  # (1, N) or float
        u = x if self._basis is None else x @ self._basis  # (N, m)
        d = u[None] - self._means[:, None, :]  # (K, N, m)
        y = d if self._rot is None else torch.bmm(d, self._rot)  # eigen-coordinates
        lam = self._lam[:, None, :] + (v_row[..., None] if torch.is_tensor(var) else var)  # (K, 1 or N, m)
        z = y / lam
        quad = (y * z).sum(-1)  # (K, N)
        logdet = torch.log(lam).sum(-1)  # (K, 1) or (K, N)
        perp = inv0 = None
        if self._basis is not None:  # off-frame: variance lam0_k + sigma^2 on the n - m remaining directions
            perp = x - u @ self._basis.T
            v0 = self._lam0[:, None] + v_row  # (K, 1) or (K, N)
            inv0 = 1.0 / v0
            quad = quad + (perp**2).sum(1)[None, :] * inv0
            logdet = logdet + (self.dim - u.shape[1]) * torch.log(v0)
        logp = self._log_weights[:, None] - 0.5 * (quad + logdet + self.dim * LOG_2PI)
        zr = z if self._rot is None else torch.bmm(z, self._rot.transpose(1, 2))
        return logp, zr, perp, inv0

    def _combine(self, a, zr, perp, inv0) -> torch.Tensor:
        """sum_k a_k s_k for responsibilities a (K, N)  ->  (N, n)."""
        s = -(a[..., None] * zr).sum(0)  # (N, m)
        if self._basis is None:
            return s
        return s @ self._basis.T - (a * inv0).sum(0)[:, None] * perp

    def components(self, x, sigma) -> torch.Tensor:
        """log(pi_k N(x; mu_k, Sigma_k + sigma^2 I)) for every component.  ->  (N, K)."""
        return self._frame_terms(x, sigma)[0].T

    def log_class_posterior(self, x, sigma) -> torch.Tensor:
        """log p_sigma(c | x) for every class.  ->  (N, C)."""
        logp = self.components(x, sigma)
        return _class_logits(logp, self.onehot) - torch.logsumexp(logp, 1, keepdim=True)

    def log_prob(self, x, sigma, c=None) -> torch.Tensor:
        """log p_sigma(x) (c None) or log p_sigma(x | c) (c an int or (N,) ints).  ->  (N,)."""
        logp = self.components(x, sigma)
        if c is None:
            return torch.logsumexp(logp, 1)
        c = self._classes(c, logp.shape[0])
        return _class_logits(logp, self.onehot).gather(1, c[:, None])[:, 0] - torch.log(self.class_prior[c])

    def scores(self, x, sigma, c):
        """(s_sigma(x | c), s_sigma(x), log p_sigma(c | x)) with c an int or (N,) ints; shapes (N, n), (N, n), (N,).

        Responsibilities in log space (log-sum-exp over the components of the class and over all), so p(c | x) far
        below the float64 range still gives finite scores and log-posteriors.
        """
        logp, zr, perp, inv0 = self._frame_terms(x, sigma)
        c = self._classes(c, logp.shape[1])
        in_c = self.component_class[:, None] == c[None, :]  # (K, N)
        lse = torch.logsumexp(logp, 0)
        logp_c = logp.masked_fill(~in_c, -math.inf)
        lse_c = torch.logsumexp(logp_c, 0)
        s_uncond = self._combine(torch.exp(logp - lse), zr, perp, inv0)
        s_cond = self._combine(torch.exp(logp_c - lse_c), zr, perp, inv0)
        return s_cond, s_uncond, lse_c - lse

    def classifier_gradient(self, x, sigma, c) -> torch.Tensor:
        """grad_x log p_sigma(c | x) by autograd (independent of `scores`).  ->  (N, n)."""
        c = self._classes(c, as_points(x, self.dim).shape[0])
        with torch.enable_grad():
            xr = torch.as_tensor(x, dtype=DTYPE).detach().requires_grad_(True)
            lp = self.log_class_posterior(xr, sigma).gather(1, c[:, None]).sum()
            (g,) = torch.autograd.grad(lp, xr)
        return g

    def sample_class(self, c: int, num_samples: int, seed: int, sigma: float = 0.0) -> torch.Tensor:
        """x ~ p_sigma(. | c) exactly (x_0 ~ p(.|c) plus sigma eps).  ->  (num_samples, n)."""
        self._classes(c, 1)
        idx = (self.component_class == c).nonzero().squeeze(1)
        mix = self.mixture
        sub = GaussianMixture(mix.means[idx], mix.covariances[idx], mix.weights[idx] / mix.weights[idx].sum())
        x0, _ = sub.sample(num_samples, seed)
        if sigma:
            check_range("sigma", sigma, low=0.0)
            gen = torch.Generator().manual_seed(seed + 7919)
            x0 = x0 + sigma * torch.randn(x0.shape, dtype=DTYPE, generator=gen)
        return x0

    def _classes(self, c, N: int) -> torch.Tensor:
        c = torch.as_tensor(c)
        if c.dtype.is_floating_point:
            raise ValueError(f"c must be an integer class label or (N,) integers, got dtype {c.dtype}")
        c = c.long().expand(N) if c.ndim == 0 else c.long()
        if c.shape != (N,):
            raise ValueError(f"c must be an integer or have shape ({N},), got {tuple(c.shape)}")
        if N and (c.min() < 0 or c.max() >= self.num_classes):
            raise ValueError(f"c must lie in [0, {self.num_classes - 1}], got {c.unique().tolist()}")
        return c


def _frame(mixture: GaussianMixture):
    """The coordinates of `LabelledMixture` (its class docstring): (basis (n, m) or None, lam0 (K,) or None,
    rot (K, m, m) or None, lam (K, m), means (K, m)).

    A common subspace is used when the eigenvectors of every Sigma_k whose eigenvalue differs from that component's
    smallest one (lam0_k, within 64 eps of the largest eigenvalue: the accuracy of eigh), together with the means,
    span m < n dimensions; the decomposition Sigma_k = B S_k B^T + lam0_k (I - B B^T) is then checked to 1e-10 of
    the largest eigenvalue.
    """
    cov, means = mixture.covariances, mixture.means
    if bool((cov - torch.diag_embed(torch.diagonal(cov, dim1=1, dim2=2))).abs().max() == 0):
        return None, None, None, torch.diagonal(cov, dim1=1, dim2=2).clone(), means
    ev, Q = mixture.eigvals, mixture.eigvecs  # (K, n) ascending, (K, n, n)
    K, n = ev.shape
    scale = float(ev.abs().max().clamp_min(1e-300))
    lam0 = ev[:, 0].clone()
    keep = ev > lam0[:, None] + 64 * torch.finfo(DTYPE).eps * scale
    mean_dirs = means.T / means.norm(dim=1).clamp_min(1e-300)
    cols = torch.cat([Q[k][:, keep[k]] for k in range(K)] + [mean_dirs], 1)
    U, S, _ = torch.linalg.svd(cols, full_matrices=False)
    m = int((S > 1e-10 * S.max()).sum()) if S.numel() else 0
    if 0 < m < n:
        B = U[:, :m]
        S_k = B.T @ cov @ B  # (K, m, m)
        P = torch.eye(n, dtype=DTYPE) - B @ B.T
        rebuilt = B @ S_k @ B.T + lam0[:, None, None] * P
        if float((rebuilt - cov).abs().max()) <= 1e-10 * scale:
            lam, rot = torch.linalg.eigh(0.5 * (S_k + S_k.transpose(1, 2)))
            return B, lam0, rot, lam.clamp_min(0.0), means @ B  # eigh rounding below 0, as GaussianMixture
    return None, None, Q, ev, means


def _class_logits(logp: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """log sum_{k in c} exp(logp_k) for each class.  (N, K), (K, C)  ->  (N, C)."""
    m = logp.max(dim=1, keepdim=True).values
    return torch.log(torch.exp(logp - m) @ onehot) + m
