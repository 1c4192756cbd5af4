"""Exact noisy Gaussian mixtures: the one core behind every exact model of the book.

Data p_0 = sum_k pi_k N(mu_k, Sigma_k) in R^n. At noise level sigma (VE: x = x_0 + sigma eps) the marginal is
p_sigma = sum_k pi_k N(mu_k, Sigma_k + sigma^2 I), and every quantity is exact.

The frame. All computations run in a `Frame`: m <= n orthonormal coordinates u = B^T x in which each component
covariance is diagonal after one rotation V_k (m x m), plus, when m < n, the off-frame part x_perp = x - B u, on
which component k has the single variance lam0_k:

    Sigma_k = B V_k diag(lam_k) V_k^T B^T + lam0_k (I - B B^T),        mu_k = B nu_k.

Three kinds: "axes" (B = I, V_k = I: diagonal covariances, every 1-D mixture), "span" (B a common m-dim span of
all components and means with one off-span variance per component; the MoLRG has lam0 = 0 and V_k = I when its
class bases are orthogonal) and "eigen" (B = I, V_k the eigenbasis of Sigma_k: the general dense route). With
y_k = V_k^T (u - nu_k), v_k = lam_k + sigma^2 and v0_k = lam0_k + sigma^2 (Woodbury / determinant lemma):

    log N(x; mu_k, Sigma_k + sigma^2 I) = -1/2 [ sum y_k^2 / v_k + |x_perp|^2 / v0_k
                                                 + sum log v_k + (n - m) log v0_k + n log 2 pi ],
    score_k(x) = -B V_k (y_k / v_k) - x_perp / v0_k,
    E[x_0 | x, k] = mu_k + B V_k (lam_k y_k / v_k) + (lam0_k / v0_k) x_perp.

Mixture quantities are posterior-weighted sums sum_k P(k|x) v_k(x) (posterior mean, score), accumulated in log
space (an online log-sum-exp over chunks of components, so memory stays O(N n) on the dense route). Grouping
components into classes (`ClassGrouping`) gives p(c|x) = sum_{k in c} P(k|x) and class-conditional scores: the
same sums restricted to the components of c. `GaussianMixture` always uses the eigen frame (the dense reference);
`representation.molrg.MoLRG` builds a span frame from its bases, and `guidance.LabelledMixture` picks the cheapest
frame that is exact (`Frame.detect`).
"""

from __future__ import annotations

import math

import torch

from lowdim.checks import DTYPE, LOG_2PI, as_points, as_sigma, as_weights, check_int, check_range, input_eps

__all__ = ["Frame", "ExactMixture", "GaussianMixture", "ClassGrouping", "diagonal_log_likelihoods",
           "posterior_average", "generator", "random_orthonormal", "span_basis"]

CHUNK_ELEMENTS = 2**22  # eigen frame: components per chunk so that one (k, N, n) tensor stays below 32 MiB


# ----------------------------------------------------------------------------------------------------------
# The frame.


class Frame:
    """Coordinates in which every component covariance is diagonal (module docstring).

    lam: (K, m) in-frame variances; means: (K, m) nu_k; rot: (K, m, m) V_k or None (V_k = I); basis: (n, m) B or
    None (B = I, m = n); lam0: (K,) off-frame variances (only with a basis).
    """

    def __init__(self, lam, means, rot=None, basis=None, lam0=None):
        if (basis is None) != (lam0 is None):
            raise ValueError("lam0 (off-frame variances) must be given exactly when a basis is given")
        as64 = (lambda t: None if t is None else torch.as_tensor(t, dtype=DTYPE))
        self.lam, self.means, self.rot, self.basis, self.lam0 = map(as64, (lam, means, rot, basis, lam0))
        self.dim = self.lam.shape[1] if basis is None else self.basis.shape[0]
        self.means_are_zero = bool((self.means == 0).all())
        self._shared_coordinates = self.means_are_zero and rot is None  # y_k = u for every component
        self.has_perp = basis is not None and self.basis.shape[1] < self.basis.shape[0]
        self.common_lam0 = not self.has_perp or bool((self.lam0 == self.lam0[0]).all())
        self.min_variance = min(float(self.lam.amin()), float(self.lam0.amin()) if self.has_perp else math.inf)

    @property
    def kind(self) -> str:
        if self.basis is not None:
            return "span"
        return "axes" if self.rot is None else "eigen"

    @property
    def num_components(self) -> int:
        return self.lam.shape[0]

    # Constructors, one per kind.

    @classmethod
    def axes(cls, variances, means) -> "Frame":
        """Diagonal covariances diag(variances[k]).  variances, means: (K, n)."""
        return cls(variances, means)

    @classmethod
    def eigen(cls, eigvals, eigvecs, means) -> "Frame":
        """Sigma_k = Q_k diag(eigvals[k]) Q_k^T.  eigvals: (K, n); eigvecs: (K, n, n); means: (K, n)."""
        return cls(eigvals, means, rot=eigvecs)

    @classmethod
    def span(cls, basis, covariances, means, lam0, diagonal_atol: float = 1e-12) -> "Frame":
        """Sigma_k = B S_k B^T + lam0_k (I - B B^T).  basis: (n, m); covariances: (K, m, m) S_k; means: (K, m) nu_k;
        lam0: (K,). S_k diagonal within `diagonal_atol` (orthogonal MoLRG bases): V_k = I, else eigh of S_k."""
        off = covariances - torch.diag_embed(torch.diagonal(covariances, dim1=1, dim2=2))
        if covariances.shape[1] <= 1 or float(off.abs().amax()) <= diagonal_atol:
            return cls(torch.diagonal(covariances, dim1=1, dim2=2).clone(), means, basis=basis, lam0=lam0)
        lam, rot = torch.linalg.eigh(0.5 * (covariances + covariances.transpose(1, 2)))
        return cls(lam.clamp_min(0.0), means, rot=rot, basis=basis, lam0=lam0)  # PSD: clamp only eigh rounding

    @classmethod
    def detect(cls, means, covariances, eigvals, eigvecs) -> "Frame":
        """The cheapest exact frame of a dense mixture: axes if every Sigma_k is diagonal; else a common span if the
        eigenvectors of every Sigma_k whose eigenvalue exceeds that component's smallest one (lam0_k, by more than
        64 eps of the largest eigenvalue: the accuracy of eigh), together with the means, span m < n dimensions and
        Sigma_k = B S_k B^T + lam0_k (I - B B^T) holds to 1e-10 of the largest eigenvalue; else the eigen frame.
        means: (K, n); covariances: (K, n, n); eigvals (K, n) ascending, eigvecs (K, n, n) from eigh."""
        diag = torch.diagonal(covariances, dim1=1, dim2=2)
        if bool((covariances - torch.diag_embed(diag)).abs().max() == 0):
            return cls.axes(diag.clone(), means)
        K, n = eigvals.shape
        scale = float(eigvals.abs().max().clamp_min(1e-300))
        lam0 = eigvals[:, 0].clone()
        keep = eigvals > lam0[:, None] + 64 * torch.finfo(DTYPE).eps * scale
        mean_dirs = means.T / means.norm(dim=1).clamp_min(1e-300)
        cols = torch.cat([eigvecs[k][:, keep[k]] for k in range(K)] + [mean_dirs], 1)
        U, S, _ = torch.linalg.svd(cols, full_matrices=False)
        m = int((S > 1e-10 * S.max()).sum()) if S.numel() else 0
        if 0 < m < n:
            B = U[:, :m]
            S_k = B.T @ covariances @ B  # (K, m, m)
            rebuilt = B @ S_k @ B.T + lam0[:, None, None] * (torch.eye(n, dtype=DTYPE) - B @ B.T)
            if float((rebuilt - covariances).abs().max()) <= 1e-10 * scale:
                lam, rot = torch.linalg.eigh(0.5 * (S_k + S_k.transpose(1, 2)))
                return cls(lam.clamp_min(0.0), means @ B, rot=rot, basis=B, lam0=lam0)
        return cls.eigen(eigvals, eigvecs, means)

    def restrict(self, idx) -> "Frame":
        """The frame of the components idx (same basis)."""
        pick = (lambda t: None if t is None else t[idx])
        return Frame(self.lam[idx], self.means[idx], pick(self.rot), self.basis, pick(self.lam0))

    def chunks(self, num_points: int) -> list[torch.Tensor]:
        """Component index chunks: all at once, except on the eigen frame (<= CHUNK_ELEMENTS per (k, N, n))."""
        K = self.num_components
        size = K if self.kind != "eigen" else max(1, CHUNK_ELEMENTS // max(1, num_points * self.dim))
        return list(torch.arange(K).split(size))

    # Per-component terms and their posterior-weighted combination.

    def project(self, x: torch.Tensor, need_perp: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """u = B^T x (N, m) and x_perp = x - B u (N, n) (None unless need_perp and m < n).  x: (N, n) float64."""
        if self.basis is None:
            return x, None
        u = x @ self.basis
        if not torch.isfinite(u).all():  # a NaN/Inf entry of x spoils its whole row of u (0 * inf = nan)
            raise ValueError("x must be finite (a non-finite entry or an overflow in x @ basis)")
        return u, (x - u @ self.basis.T if need_perp and self.has_perp else None)

    def log_likelihoods(self, u, perp, var, idx, absolute: bool) -> tuple[torch.Tensor, dict]:
        """log N(x; mu_k, Sigma_k + sigma^2 I) for the components idx  ->  ((k, N), pieces for `combine`).

        u: (N, m); perp: (N, n) or None; var: sigma^2 as () or (N, 1). With absolute=False the off-frame term and
        n log 2 pi are left out (they are the same for every component when lam0 is common).
        """
        lam = self.lam[idx][:, None, :]  # (k, 1, m)
        v = lam + var.unsqueeze(0)  # (k, 1 or N, m)
        y = self._eigen_coordinates(u, idx)  # (k or 1, N, m)
        if self._shared_coordinates and v.shape[1] == 1:  # y_k = u for all k, one sigma: sum y^2 / v as one matmul
            loglik, z = -0.5 * (((u**2) @ (1.0 / v[:, 0, :]).T).T + torch.log(v).sum(dim=2)), None
        else:
            loglik, z = diagonal_log_likelihoods(y, v)  # (k, N), (k, N, m)
        pieces = dict(u=u, z=z, lam=lam, inv=1.0 / v, perp=perp, idx=idx)
        if perp is not None:
            v0 = self.lam0[idx][:, None] + var.reshape(1, -1)  # (k, 1 or N)
            pieces["inv0"] = 1.0 / v0
            if absolute or not self.common_lam0:
                m = u.shape[1]
                loglik = loglik - 0.5 * ((perp**2).sum(dim=1)[None, :] / v0 + (self.dim - m) * torch.log(v0))
        if absolute:
            loglik = loglik - 0.5 * self.dim * LOG_2PI
        return loglik, pieces

    def _eigen_coordinates(self, u, idx) -> torch.Tensor:
        """y_k = V_k^T (u - nu_k).  ->  (k, N, m), or (1, N, m) when it is u itself (`_shared_coordinates`)."""
        d = u.unsqueeze(0) if self.means_are_zero else u.unsqueeze(0) - self.means[idx][:, None, :]
        if self.rot is None:
            return d
        if self.means_are_zero:
            return torch.einsum("nm,kmj->knj", u, self.rot[idx])
        return torch.bmm(d, self.rot[idx])

    def combine(self, a: torch.Tensor, p: dict, want: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """sum_k a_k v_k for v = the component score ("score") or E[x_0 | x, k] ("mean"), a: (k, N) >= 0.

        -> (frame part (N, m), coefficient of x_perp (N,) or None); `lift` maps them to R^n.
        """
        idx = p["idx"]
        if p["z"] is None:  # y_k = u for all k, one sigma: (sum_k a_k diag_k) * u, diag = -1/v or lam/v
            diag = -p["inv"] if want == "score" else p["lam"] * p["inv"]  # (k, 1, m)
            frame = (a.T @ diag[:, 0, :]) * p["u"]
        else:
            if want not in p:  # V_k (y_k / v_k) or V_k (lam_k y_k / v_k) (k, N, m), shared by every mask of a chunk
                v = p["z"] if want == "score" else p["lam"] * p["z"]
                p[want] = v if self.rot is None else torch.bmm(v, self.rot[idx].transpose(1, 2))
            frame = (a[..., None] * p[want]).sum(dim=0)
            frame = -frame if want == "score" else frame  # score_k = -V_k (y_k / v_k): sign after the sum
        if want == "mean" and not self.means_are_zero:
            frame = frame + a.T @ self.means[idx]
        coef = None
        if p["perp"] is not None:
            coef = -(a * p["inv0"]).sum(dim=0) if want == "score" else (a * self.lam0[idx][:, None] * p["inv0"]).sum(0)
        return frame, coef

    def lift(self, frame: torch.Tensor, coef, perp) -> torch.Tensor:
        """B frame + coef x_perp.  frame: (N, m); coef: (N,) or None  ->  (N, n)."""
        out = frame if self.basis is None else frame @ self.basis.T
        return out if coef is None else out + coef[:, None] * perp


def diagonal_log_likelihoods(y: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log N(y; 0, diag(v)) + (m/2) log 2 pi = -1/2 sum_j (y_j^2 / v_j + log v_j), per component and point.

    y: (K, N, m) coordinates in each component's eigenbasis; v: (K, N or 1, m) variances
    ->  (log-likelihoods (K, N), y / v (K, N, m): minus the component score in those coordinates).
    """
    z = y / v
    return -0.5 * ((y * z).sum(dim=2) + torch.log(v).sum(dim=2)), z


def posterior_average(logits: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sum_k P(k) values_k with P(k) = softmax_k(logits), in log space.

    logits: (K, N); values: (K, N, m)  ->  (average (N, m), log sum_k exp(logits_k) (N,)).
    """
    acc = _LogSumExp()
    acc.add(logits, lambda a: ((a[..., None] * values).sum(dim=0), None))
    return acc.mean()[0], acc.log_total()


class _LogSumExp:
    """Online sum_k exp(l_k) v_k and log sum_k exp(l_k) over chunks of components (running maximum)."""

    def __init__(self):
        self.max = self.sum = self.frame = self.coef = None

    def add(self, logits: torch.Tensor, combine) -> None:
        """logits: (k, N); combine(a (k, N)) -> (frame (N, m), coef (N,) or None)."""
        chunk_max = logits.amax(dim=0)
        new_max = chunk_max if self.max is None else torch.maximum(self.max, chunk_max)
        shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))  # all -inf: nothing yet
        a = torch.exp(logits - shift)
        frame, coef = combine(a)
        if self.max is None:
            self.sum, self.frame, self.coef = a.sum(dim=0), frame, coef
        else:
            keep = torch.exp(self.max - shift)
            self.sum = self.sum * keep + a.sum(dim=0)
            self.frame = self.frame * keep[:, None] + frame
            self.coef = None if coef is None else self.coef * keep + coef
        self.max = new_max

    def mean(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(frame part, x_perp coefficient) of the normalised sum."""
        return self.frame / self.sum[:, None], (None if self.coef is None else self.coef / self.sum)

    def log_total(self) -> torch.Tensor:
        """log sum_k exp(l_k).  ->  (N,)."""
        return self.max + torch.log(self.sum)


# ----------------------------------------------------------------------------------------------------------
# A mixture on a frame.


class ExactMixture:
    """sum_k weights[k] N(mu_k, Sigma_k) given by its frame; exact quantities at noise level sigma.

    Shared signature: x (N, n) (float64; float32/16 converted), sigma a scalar or (N,) (one level per point).
    sigma = 0 (the data law itself) is accepted only with allow_zero_sigma and non-singular covariances.
    """

    def __init__(self, frame: Frame, weights, allow_zero_sigma: bool = False):
        self.frame = frame
        self.allow_zero_sigma = allow_zero_sigma
        self.weights = as_weights(weights, frame.num_components, name="weights")
        self.log_weights = torch.log(self.weights)  # -inf for a zero weight: P(k|x) = 0 exactly

    @property
    def num_components(self) -> int:
        return self.frame.num_components

    @property
    def dim(self) -> int:
        return self.frame.dim

    def restrict(self, idx) -> "ExactMixture":
        """The mixture of the components idx, weights renormalised (the same frame, nothing recomputed)."""
        w = self.weights[idx]
        return ExactMixture(self.frame.restrict(idx), w / w.sum(), self.allow_zero_sigma)

    # Inputs.

    def _inputs(self, x, sigma) -> tuple[torch.Tensor, torch.Tensor]:
        """x as float64 (N, n) and sigma^2 as () or (N, 1)."""
        x = as_points(x, self.dim, check_finite=self.frame.basis is None)
        if self.allow_zero_sigma:
            s = torch.as_tensor(sigma, dtype=DTYPE)
            check_range("sigma", s, low=0.0)
            if s.ndim and tuple(s.shape) != (x.shape[0],):
                raise ValueError(f"sigma must be a scalar or have shape ({x.shape[0]},), got {tuple(s.shape)}")
            if self.frame.min_variance <= 0 and bool((s == 0).any()):
                raise ValueError("sigma must be > 0 for a mixture with singular component covariances")
        else:
            s = as_sigma(sigma, num_points=x.shape[0])
        return x, (s**2).reshape(-1, 1) if s.ndim else s**2

    # Per-component log-likelihoods and posterior-weighted sums.

    def component_log_probs(self, x, sigma) -> torch.Tensor:
        """log pi_k + log N(x; mu_k, Sigma_k + sigma^2 I).  ->  (N, K)."""
        x, var = self._inputs(x, sigma)
        u, perp = self.frame.project(x, need_perp=True)
        rows = [self.log_weights[idx][:, None] + self.frame.log_likelihoods(u, perp, var, idx, absolute=True)[0]
                for idx in self.frame.chunks(x.shape[0])]
        return torch.cat(rows, dim=0).T

    def log_prob(self, x, sigma) -> torch.Tensor:
        """log p_sigma(x) (log-sum-exp over components).  ->  (N,)."""
        return torch.logsumexp(self.component_log_probs(x, sigma), dim=1)

    def class_posterior(self, x, sigma) -> torch.Tensor:
        """P(k | x_sigma = x).  ->  (N, K), rows sum to 1."""
        x, var = self._inputs(x, sigma)
        absolute = not self.frame.common_lam0
        u, perp = self.frame.project(x, need_perp=absolute)
        rows = [self.log_weights[idx][:, None] + self.frame.log_likelihoods(u, perp, var, idx, absolute)[0]
                for idx in self.frame.chunks(x.shape[0])]
        return torch.softmax(torch.cat(rows, dim=0).T, dim=1)

    def posterior_mean(self, x, sigma) -> torch.Tensor:
        """E[x_0 | x_sigma = x] = sum_k P(k|x) E[x_0 | x, k] (the optimal denoiser).  ->  (N, n)."""
        return self.posterior_sums(x, sigma, "mean")[0][0]

    def score(self, x, sigma) -> torch.Tensor:
        """grad_x log p_sigma(x) = sum_k P(k|x) score_k(x).  ->  (N, n)."""
        return self.posterior_sums(x, sigma, "score")[0][0]

    def posterior_sums(self, x, sigma, want: str, masks=(None,), absolute: bool = False):
        """sum_{k in S} P(k | x, k in S) v_k(x) for v = "score" or "mean", one sum per component set S.

        masks: sequence of None (all components) or (K, N) booleans (components allowed for each point).
        -> list of (sum (N, n), log sum_{k in S} pi_k N_k(x) (N,)); the log-normaliser is exact (with every
        constant) only when absolute=True, otherwise it is exact up to a term common to all components.
        """
        if want not in ("mean", "score"):
            raise ValueError(f"want must be 'mean' or 'score', got {want!r}")
        x, var = self._inputs(x, sigma)
        f = self.frame
        need_perp = f.has_perp and (want == "score" or absolute or not f.common_lam0 or bool(f.lam0.any()))
        u, perp = f.project(x, need_perp)
        accs = [_LogSumExp() for _ in masks]
        for idx in f.chunks(x.shape[0]):
            loglik, pieces = f.log_likelihoods(u, perp, var, idx, absolute)
            logits = self.log_weights[idx][:, None] + loglik
            for acc, mask in zip(accs, masks):
                lg = logits if mask is None else logits.masked_fill(~mask[idx], -math.inf)
                acc.add(lg, lambda a: f.combine(a, pieces, want))
        return [(f.lift(*acc.mean(), perp), acc.log_total()) for acc in accs]


# ----------------------------------------------------------------------------------------------------------
# Classes made of components.


class ClassGrouping:
    """Components grouped into classes: `component_class[k]` is the class of component k (every class 0..C-1 used).

    p(c) = sum_{k in c} pi_k,   log p(x, c) = logsumexp_{k in c} log pi_k N_k(x),   p(c | x) = sum_{k in c} P(k | x).
    """

    def __init__(self, component_class, weights):
        labels = torch.as_tensor(component_class)
        K = weights.shape[0]
        if labels.dtype.is_floating_point or labels.shape != (K,):
            raise ValueError(f"component_class must hold {K} integers (one class per component), got {labels.tolist()}")
        C = int(labels.max()) + 1
        if labels.min() < 0 or set(labels.tolist()) != set(range(C)):
            raise ValueError(f"component_class must use every class 0..C-1 at least once, got {labels.tolist()}")
        self.component_class = labels.long()
        self.onehot = torch.nn.functional.one_hot(self.component_class, C).to(DTYPE)  # (K, C)
        self.prior = self.onehot.T @ weights  # (C,)
        if (self.prior <= 0).any():
            raise ValueError(f"every class needs positive total weight, got p(c) = {self.prior.tolist()}")

    @classmethod
    def from_groups(cls, groups: list[list[int]], weights) -> "ClassGrouping":
        """Class c = the components groups[c] (a partition of 0..K-1)."""
        K = weights.shape[0]
        if sorted(i for g in groups for i in g) != list(range(K)):
            raise ValueError(f"groups must partition the components 0..{K - 1}, got {groups}")
        labels = torch.empty(K, dtype=torch.long)
        for c, g in enumerate(groups):
            labels[list(g)] = c
        return cls(labels, weights)

    @property
    def num_classes(self) -> int:
        return self.onehot.shape[1]

    def members(self, c: int) -> torch.Tensor:
        """Indices of the components of class c."""
        return (self.component_class == c).nonzero().squeeze(1)

    def log_sum(self, log_probs: torch.Tensor) -> torch.Tensor:
        """log sum_{k in c} exp(log_probs[:, k]) per class (a log-sum-exp within each class).  (N, K)  ->  (N, C)."""
        masked = log_probs[:, :, None].masked_fill(self.onehot[None] == 0, -math.inf)  # (N, K, C)
        return torch.logsumexp(masked, dim=1)

    def labels(self, c, num_points: int) -> torch.Tensor:
        """c (an int or (N,) ints) as (N,) int64 class labels, checked."""
        c = torch.as_tensor(c)
        if c.dtype.is_floating_point:
            raise ValueError(f"c must be an integer class label or (N,) integers, got dtype {c.dtype}")
        c = c.long().expand(num_points) if c.ndim == 0 else c.long()
        if c.shape != (num_points,):
            raise ValueError(f"c must be an integer or have shape ({num_points},), got {tuple(c.shape)}")
        if num_points and (c.min() < 0 or c.max() >= self.num_classes):
            raise ValueError(f"c must lie in [0, {self.num_classes - 1}], got {c.unique().tolist()}")
        return c

    def mask(self, c: torch.Tensor) -> torch.Tensor:
        """Components of each point's class.  c: (N,) labels  ->  (K, N) boolean."""
        return self.component_class[:, None] == c[None, :]


# ----------------------------------------------------------------------------------------------------------
# The dense, general mixture.


class GaussianMixture(ExactMixture):
    """sum_k weights[k] N(means[k], covariances[k]) in R^n, float64, on the eigen frame (the dense reference).

    means: (K, n); covariances: (K, n, n) symmetric positive semi-definite (checked to 1e-12, or to the rounding of
    the precision they are given in: 10 eps relative for symmetry, 10 n eps for eigenvalues); weights: (K,)
    probability vector.
    Each covariance is eigendecomposed once, Sigma_k = Q_k diag(lam_k) Q_k^T, so any sigma (also one per point)
    costs two n x n products per component and point.
    """

    def __init__(self, means, covariances, weights, psd_rtol: float = 1e-10):
        eps_in = input_eps(covariances)  # float32 input: symmetric and PSD only to float32 rounding
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
        if asym > max(1e-12, 10 * eps_in) * scale:
            raise ValueError(f"covariances must be symmetric, max |C - C^T| = {float(asym):.3g}")
        lam, Q = torch.linalg.eigh(covariances)  # (K, n), (K, n, n)
        if (lam < -max(psd_rtol, 10 * n * eps_in) * lam.abs().amax(dim=1, keepdim=True).clamp_min(1e-300)).any():
            raise ValueError(f"covariances must be positive semi-definite, smallest eigenvalue {float(lam.min()):.3g}")
        # eigh of a PSD matrix can return eigenvalues of -1e-17 from rounding; they are zeros (checked just above).
        super().__init__(Frame.eigen(lam.clamp_min(0.0), Q, means), weights)
        self.means = means
        self.covariances = covariances

    @classmethod
    def from_factors(cls, means, factors, weights) -> "GaussianMixture":
        """Low-rank covariances Sigma_k = F_k F_k^T.  factors: (K, n, r)."""
        factors = torch.as_tensor(factors, dtype=DTYPE)
        if factors.ndim != 3:
            raise ValueError(f"factors must have shape (K, n, r), got {tuple(factors.shape)}")
        return cls(means, factors @ factors.transpose(1, 2), weights)

    @property
    def eigvals(self) -> torch.Tensor:
        """(K, n) eigenvalues of the covariances (ascending)."""
        return self.frame.lam

    @property
    def eigvecs(self) -> torch.Tensor:
        """(K, n, n) eigenvectors of the covariances (columns)."""
        return self.frame.rot

    @property
    def num_classes(self) -> int:
        return self.num_components

    def restrict(self, idx) -> "GaussianMixture":
        """The mixture of the components idx, weights renormalised."""
        w = self.weights[idx]
        return GaussianMixture(self.means[idx], self.covariances[idx], w / w.sum())

    def fastest_frame(self) -> Frame:
        """The cheapest exact frame of this mixture (`Frame.detect`)."""
        return Frame.detect(self.means, self.covariances, self.eigvals, self.eigvecs)

    def sample(self, num_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw x_0 ~ p_0.  ->  (x0 (num_samples, n), labels (num_samples,) int64)."""
        gen = generator(seed, num_samples)
        labels = torch.multinomial(self.weights, num_samples, replacement=True, generator=gen)
        eps = torch.randn(num_samples, self.dim, dtype=DTYPE, generator=gen)
        root = self.eigvecs * self.eigvals.sqrt()[:, None, :]  # (K, n, n): Sigma_k = root root^T
        x0 = self.means[labels] + torch.einsum("bij,bj->bi", root[labels], eps)
        return x0, labels


# ----------------------------------------------------------------------------------------------------------
# Helpers shared by the exact models.


def generator(seed: int, num_samples: int | None = None) -> torch.Generator:
    """A CPU torch.Generator seeded with `seed`, after checking seed (an int) and num_samples (a positive int)."""
    if num_samples is not None:
        check_int("num_samples", num_samples, low=1)
    return torch.Generator().manual_seed(check_int("seed", seed))


def random_orthonormal(dim: int, cols: int, gen: torch.Generator) -> torch.Tensor:
    """Q factor of a dim x cols standard Gaussian matrix, sign-fixed (diag R > 0) so the draw is unique: a uniformly
    random (Haar) point of the Stiefel manifold.  ->  (dim, cols) float64 with orthonormal columns."""
    check_int("dim", dim, low=1)
    check_int("cols", cols, 1, dim)
    Q, R = torch.linalg.qr(torch.randn(dim, cols, dtype=DTYPE, generator=gen))
    return Q * torch.sign(torch.diagonal(R))


def span_basis(mats: list[torch.Tensor], dim: int, rtol: float = 1e-10) -> torch.Tensor:
    """Orthonormal basis (dim, r) of the span of the columns of `mats`; r = 0 for an empty list.

    If the columns are already orthonormal (mutually orthogonal class bases) they are returned as they are, so
    that B = [U_1 ... U_K]; otherwise the left singular vectors above rtol times the largest singular value.
    """
    if not mats:
        return torch.zeros(dim, 0, dtype=DTYPE)
    M = torch.cat(mats, dim=1)
    gram = M.T @ M
    if (gram - torch.eye(M.shape[1], dtype=DTYPE)).abs().amax() <= 1e-12:
        return M
    Uv, sv, _ = torch.linalg.svd(M, full_matrices=False)
    return Uv[:, sv > rtol * sv[0]]
