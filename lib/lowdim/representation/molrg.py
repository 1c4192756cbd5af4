"""The noisy mixture of low-rank Gaussians (MoLRG), paper 1 (arXiv 2502.05743 v3), Assumption 1.

With probability pi_k (class k):   x_0 = U_k a + delta * Ut_k e,   a ~ N(0, I_{d_k}),  e ~ N(0, I_{D_k}),

where U_k (n x d_k) is an orthonormal basis of class subspace k and Ut_k (n x D_k) an orthonormal basis of the span
of the other classes' bases. So x_0 ~ sum_k pi_k N(0, Sigma_k) with Sigma_k = U_k U_k^T + delta^2 Ut_k Ut_k^T.

Exact quantities run on a span frame of the core (`lowdim.gaussians`), built from the bases alone: all data live
in the m-dimensional span of the class bases, with orthonormal basis B (n x m); there Sigma_k restricts to
S_k = B^T Sigma_k B (m x m), and on the orthogonal complement every class covariance is 0 (lam0_k = 0):

    log N(x; 0, Sigma_k + sigma^2 I) = -1/2 [ |V_k^T z|^2_{(lam_k+sigma^2)^{-1}} + |x_perp|^2 / sigma^2
                                             + sum log(lam_k + sigma^2) + (n - m) log sigma^2 + n log 2 pi ],
    z = B^T x,  x_perp = x - B z,  S_k = V_k diag(lam_k) V_k^T.

One (N x n)(n x m) product projects the batch; everything per class is O(m) per point when the bases are mutually
orthogonal (B = [U_1 ... U_K], S_k diagonal) and O(m^2) otherwise; one more (N x m)(m x n) product lifts the
posterior mean back. No n x n matrix is formed (only `to_mixture`, the dense reference, builds one).
"""

from __future__ import annotations

import math

import torch

from lowdim.checks import DTYPE, as_points, as_sigma, check_int, check_orthonormal, check_range
from lowdim.checks import input_eps
from lowdim.gaussians import ExactMixture, Frame, GaussianMixture, generator, random_orthonormal, span_basis

__all__ = ["MoLRG", "shrinkage_coefficients", "gate_logit_coefficients", "gated_denoiser"]


class MoLRG(ExactMixture):
    """Noisy MoLRG with class bases `bases[k]` (n, d_k), data noise `delta` >= 0 and mixing weights `weights` (K,).

    Use `MoLRG.random(...)` to draw bases (mutually orthogonal, or at a chosen principal angle). The exact
    quantities (`component_log_probs`, `log_prob`, `class_posterior`, `posterior_mean`, `score`) are those of the
    core on the span frame (module docstring); `class_posterior` is the softmax gate w_k* of eq. 5 at U = U*, and
    `posterior_mean` is Prop. 1's E[x_0 | x] = sum_k P(k|x) Sigma_k (Sigma_k + sigma^2 I)^{-1} x.
    """

    def __init__(self, bases, delta: float, weights=None, basis_atol: float = 1e-8):
        """basis_atol: tolerance of the orthonormality check |U_k^T U_k - I|; bases given in lower precision
        (float32, float16) are checked to max(basis_atol, 10 n eps) of that precision."""
        if len(bases) < 1:
            raise ValueError("bases must hold at least one class basis")
        atols = [max(basis_atol, 10 * len(U) * input_eps(U)) for U in bases]
        bases = [torch.as_tensor(U, dtype=DTYPE) for U in bases]
        n = bases[0].shape[0]
        for k, U in enumerate(bases):
            if U.ndim != 2 or U.shape[0] != n or not 1 <= U.shape[1] <= n:
                raise ValueError(f"bases[{k}] must have shape (n={n}, d_k) with 1 <= d_k <= n, got {tuple(U.shape)}")
            check_orthonormal(f"bases[{k}]", U, atol=atols[k])
        check_range("delta", delta, low=0.0)
        K = len(bases)
        self.bases = bases
        self.delta = float(delta)
        self.noise_bases = [span_basis([bases[l] for l in range(K) if l != k], n) for k in range(K)]
        weights = torch.full((K,), 1.0 / K, dtype=DTYPE) if weights is None else weights
        super().__init__(self._span_frame(), weights)

    def _span_frame(self) -> Frame:
        """B = an orthonormal basis of the span of the class bases; S_k = B^T Sigma_k B; lam0_k = 0."""
        basis = span_basis(self.bases, self.dim)  # (n, m)
        S = torch.stack([_restricted_covariance(basis, U, Ut, self.delta) for U, Ut in zip(self.bases, self.noise_bases)])
        K, m = len(self.bases), basis.shape[1]
        return Frame.span(basis, S, torch.zeros(K, m, dtype=DTYPE), torch.zeros(K, dtype=DTYPE))

    # ------------------------------------------------------------------------------------------------------
    # Construction.

    @classmethod
    def random(cls, dim: int, ranks, delta: float, weights=None, angle_deg: float = 90.0, seed: int = 0) -> "MoLRG":
        """MoLRG with random bases in R^dim: mutually orthogonal (angle_deg = 90) or with every pair of class
        subspaces at principal angles all equal to `angle_deg`.

        ranks: list of d_k, one per class. The orthogonal bases are disjoint column blocks of the Q factor of a Gaussian matrix (as in Wang et al. 2024).
        At angle theta < 90 degrees, U_k = cos(phi) A + sin(phi) C_k with orthonormal blocks A, C_1..C_K and
        cos^2(phi) = cos(theta), so U_k^T U_l = cos(theta) I (equal ranks needed, dim >= (K+1) d).
        """
        ranks = list(ranks)
        if not ranks:
            raise ValueError(f"ranks must be a non-empty list of positive integers, got {ranks}")
        for r in ranks:
            check_int("ranks", r, low=1)
        check_int("dim", dim, low=1)
        if max(ranks) > dim:
            raise ValueError(f"every rank d_k must be <= dim={dim}, got ranks {ranks}")
        check_range("angle_deg", angle_deg, low=0.0, high=90.0, low_open=True)
        gen = torch.Generator().manual_seed(seed)
        K = len(ranks)
        if angle_deg == 90.0:
            if sum(ranks) > dim:
                raise ValueError(f"mutually orthogonal bases need sum(ranks) = {sum(ranks)} <= dim = {dim}")
            Q = random_orthonormal(dim, sum(ranks), gen)
            bases = list(torch.split(Q, ranks, dim=1))
        else:
            d = ranks[0]
            if any(r != d for r in ranks):
                raise ValueError(f"bases at angle_deg < 90 need equal ranks, got {ranks}")
            if (K + 1) * d > dim:
                raise ValueError(f"bases at angle_deg < 90 need (K + 1) * d = {(K + 1) * d} <= dim = {dim}")
            Q = random_orthonormal(dim, (K + 1) * d, gen)
            A, Cs = Q[:, :d], torch.split(Q[:, d:], d, dim=1)
            cos_phi = math.sqrt(math.cos(math.radians(angle_deg)))
            sin_phi = math.sqrt(1.0 - cos_phi**2)
            bases = [cos_phi * A + sin_phi * C for C in Cs]
        return cls([U.contiguous() for U in bases], delta=delta, weights=weights)

    def to_mixture(self) -> GaussianMixture:
        """The same law as a dense `GaussianMixture` (means 0, Sigma_k = U_k U_k^T + delta^2 Ut_k Ut_k^T): the
        n x n reference the low-rank path is tested against."""
        covs = torch.stack(
            [U @ U.T + self.delta**2 * (Ut @ Ut.T) for U, Ut in zip(self.bases, self.noise_bases)]
        )
        return GaussianMixture(torch.zeros(self.num_classes, self.dim, dtype=DTYPE), covs, self.weights)

    @property
    def basis(self) -> torch.Tensor:
        """(n, m) orthonormal basis B of the data span."""
        return self.frame.basis

    @property
    def diagonal(self) -> bool:
        """True when every S_k is diagonal in B (mutually orthogonal bases): the O(m) per-class path."""
        return self.frame.rot is None

    @property
    def num_classes(self) -> int:
        return len(self.bases)

    @property
    def dim(self) -> int:
        return self.bases[0].shape[0]

    @property
    def ranks(self) -> list[int]:
        return [U.shape[1] for U in self.bases]

    # ------------------------------------------------------------------------------------------------------
    # Sampling (Assumption 1).

    def sample(self, num_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x_0 = U_k a + delta Ut_k e for k ~ pi.  ->  (x0 (num_samples, n), labels (num_samples,) int64)."""
        gen = generator(seed, num_samples)
        labels = torch.multinomial(self.weights, num_samples, replacement=True, generator=gen)
        x0 = torch.empty(num_samples, self.dim, dtype=DTYPE)
        for k, (U, Ut) in enumerate(zip(self.bases, self.noise_bases)):
            idx = (labels == k).nonzero().squeeze(1)
            a = torch.randn(len(idx), U.shape[1], dtype=DTYPE, generator=gen)
            e = torch.randn(len(idx), Ut.shape[1], dtype=DTYPE, generator=gen)
            x0[idx] = a @ U.T + self.delta * (e @ Ut.T)
        return x0, labels


def _restricted_covariance(basis, U, Ut, delta: float) -> torch.Tensor:
    """S_k = B^T (U_k U_k^T + delta^2 Ut_k Ut_k^T) B.  ->  (m, m)."""
    P = basis.T @ U
    Pt = basis.T @ Ut
    return P @ P.T + delta**2 * (Pt @ Pt.T)


# ----------------------------------------------------------------------------------------------------------
# Paper 1, eqs. 4-5: the gated denoiser (a shallow "U-Net" with a softmax gate over classes). With U = U*,
# mutually orthogonal equal-rank bases and uniform weights it equals the posterior mean (Prop. 1).


def shrinkage_coefficients(sigma, delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """zeta_t = 1/(1 + sigma^2) (class subspace) and xi_t = delta^2/(delta^2 + sigma^2) (other classes' subspaces).

    sigma: scalar or (N,)  ->  (zeta, xi), each of sigma's shape. Paper 1, eq. 4 / Prop. 1.
    """
    s = as_sigma(sigma)
    check_range("delta", delta, low=0.0)
    return 1.0 / (1.0 + s**2), delta**2 / (delta**2 + s**2)


def gate_logit_coefficients(sigma, delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """phi_t = 1/(2 sigma^2 (1 + sigma^2)) and psi_t = delta^2/(2 sigma^2 (delta^2 + sigma^2)) (proof of Prop. 1)."""
    s = as_sigma(sigma)
    check_range("delta", delta, low=0.0)
    return 1.0 / (2 * s**2 * (1 + s**2)), delta**2 / (2 * s**2 * (delta**2 + s**2))


def gated_denoiser(x, sigma, U: torch.Tensor, num_classes: int, delta: float):
    """x_hat = U h,  h = D(x, t) U^T x,  D = diag(beta_l I_d),  beta_l = xi_t + (zeta_t - xi_t) w_l  (eq. 4),
    w_l = softmax_l(phi_t |U_l^T x|^2 + psi_t |Ut_l^T x|^2) with Ut_l = the other blocks of U  (eq. 5).

    x: (N, n); sigma: scalar or (N,); U: (n, K d), blocks U_l = U[:, l d:(l+1) d] (differentiable: the trained
    DAE of paper 1 learns U).  ->  (x_hat (N, n), h (N, K d), w (N, K)).
    """
    n, Kd = U.shape
    if num_classes < 1 or Kd % num_classes:
        raise ValueError(f"U has {Kd} columns, which num_classes={num_classes} must divide")
    x = as_points(x, n).to(U.dtype)
    s = as_sigma(sigma, num_points=x.shape[0]).to(U.dtype).reshape(-1, 1)  # (N or 1, 1)
    zeta, xi = shrinkage_coefficients(s, delta)
    phi, psi = gate_logit_coefficients(s, delta)
    proj = (x @ U).reshape(x.shape[0], num_classes, Kd // num_classes)  # (N, K, d): U_l^T x
    energy = (proj**2).sum(dim=2)  # (N, K): |U_l^T x|^2
    w = torch.softmax(phi * energy + psi * (energy.sum(dim=1, keepdim=True) - energy), dim=1)
    beta = xi + (zeta - xi) * w  # (N, K)
    h = (beta.unsqueeze(2) * proj).reshape(x.shape[0], Kd)
    return h @ U.T, h, w
