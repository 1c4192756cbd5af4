"""Variance-reduced estimators of the density formula (paper 2, arXiv 2408.16765 v1, eq. (3.1a), reconstructed; see
`lowdim.density.formula`) for a noise predictor that is costly to evaluate, with the cost counted in predictor
evaluations per point.

Setting. A model is given by its noise prediction eps(y, t) ~ E[Z | X_t = y] in Li-Yan time (X_t = sqrt(1-t) X_0 +
sqrt(t) Z) for t in [t0, 1), and its density at level t0 is wanted: t0 = 0 for a model of the data itself, t0 =
1 - alpha_bar_1 for a DDPM, whose network never saw a smaller noise. The sub-process Y_s = sqrt(1-s) y + sqrt(s) Z,
s in (0, 1), has the law of X_t at t = 1 - (1-s)(1-t0), so the formula applied to it reads

    log p_{t0}(y) = -(n/2) log(2 pi e) - 1/2 int_R h(lambda) d lambda,         lambda = log((1-s)/s),
    h = E[ ||r||^2 - (1-s) ||Z||^2 ],   r = Z - sqrt(s/t) eps(Y_s, t)         (score form: grad log p_t = -eps/sqrt(t)).

Gaussian control variate. The same identity holds for the Gaussian G = N(mu, Sigma) fitted to the data, whose noise
prediction eps_G and log-density log G_t are closed form (`GaussianFit`). Subtracting the two with the same
(lambda, Z),

    log p_{t0}(y) = log G_{t0}(y) - 1/2 int_R E[ ||r||^2 - ||r_G||^2 ] d lambda,

whose integrand vanishes where the model is Gaussian-like (large noise) and no longer carries the chi-square
fluctuation of ||Z||^2 at any level.

Estimators of I = int E[d(lambda, Z)] d lambda with B predictor evaluations per point (`formula_estimate`):
  * "grid": trapezoid rule on a uniform lambda grid of B/Q nodes, Q i.i.d. noises per node (chapter 4's estimator);
  * "mc": B i.i.d. pairs, lambda ~ q and Z ~ N(0, I), I ~ mean d(lambda_j, Z_j) / q(lambda_j);
  * "sobol": the same pairs from R scrambled Sobol point sets of B/R points in dimension 1 + n, mapped through the
    inverse CDFs of q and of N(0, 1) (randomised quasi-Monte Carlo, Owen 1997; scipy.stats.qmc);
  * "lattice": lambda on a randomly shifted midpoint lattice in the CDF of q, u_j = (j + U)/m with one U ~ U[0, 1)
    per round (a deterministic importance quadrature made unbiased by the shift), i.i.d. Z;
  for "mc", "sobol" and "lattice" the standard error is that of R independent rounds.
q (`ImportanceDensity`) is piecewise constant on a grid, proportional to a pilot estimate of |E d| plus a floor, so
that evaluations go where the integrand lives; with q uniform, "mc" is plain Monte Carlo over lambda.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from scipy.stats import norm, qmc

from lowdim.checks import DTYPE, LOG_2PI, LOG_2PI_E, check_int, check_range

__all__ = ["SAMPLERS", "GaussianFit", "sub_process_t", "ImportanceDensity", "integrand", "FormulaEstimate",
           "formula_estimate", "pilot_curve"]

SAMPLERS = ("grid", "mc", "sobol", "lattice")
NoisePredictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (M, n), t (M,) -> (M, n)


@dataclasses.dataclass
class GaussianFit:
    """N(mean, eigvecs diag(eigvals) eigvecs^T): mean (n,), eigvals (n,) > 0, eigvecs (n, n) orthonormal columns."""

    mean: torch.Tensor
    eigvals: torch.Tensor
    eigvecs: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> "GaussianFit":
        """Sample mean and covariance (divisor N) of x (N, n); raises if the covariance is singular."""
        x = torch.as_tensor(x, dtype=DTYPE)
        mean = x.mean(dim=0)
        cov = (x - mean).T @ (x - mean) / x.shape[0]
        eigvals, eigvecs = torch.linalg.eigh(cov)
        if eigvals.min() <= 0:
            raise ValueError(f"the covariance of x is singular (smallest eigenvalue {float(eigvals.min()):.3g}); "
                             "dequantise or add noise before fitting")
        return cls(mean, eigvals, eigvecs)

    @classmethod
    def moments(cls, mean, cov) -> "GaussianFit":
        """From a mean (n,) and a positive definite covariance (n, n)."""
        eigvals, eigvecs = torch.linalg.eigh(torch.as_tensor(cov, dtype=DTYPE))
        check_range("eigenvalues of cov", eigvals, low=0.0, low_open=True)
        return cls(torch.as_tensor(mean, dtype=DTYPE), eigvals, eigvecs)

    def _coords(self, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """u = V^T (y - sqrt(1-t) mu) (M, n) and the eigenvalues (1-t) d + t of Sigma_t (M, n)."""
        tc = t[:, None]
        u = (y - torch.sqrt(1.0 - tc) * self.mean) @ self.eigvecs
        return u, (1.0 - tc) * self.eigvals + tc

    def eps(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[Z | X_t = y] = sqrt(t) Sigma_t^{-1} (y - sqrt(1-t) mu), Sigma_t = (1-t) Sigma + t I.  y (M, n), t (M,)."""
        u, e = self._coords(y, t)
        return (torch.sqrt(t)[:, None] * u / e) @ self.eigvecs.T

    def log_prob(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log N(y; sqrt(1-t) mu, Sigma_t).  y (M, n), t (M,)  ->  (M,)."""
        u, e = self._coords(y, t)
        return -0.5 * (y.shape[1] * LOG_2PI + torch.log(e).sum(dim=1) + (u**2 / e).sum(dim=1))


def sub_process_t(s: torch.Tensor, t0: float) -> torch.Tensor:
    """Level t of X_t with the law of Y_s = sqrt(1-s) Y + sqrt(s) Z, Y ~ p_{t0}:  t = 1 - (1-s)(1-t0)."""
    return 1.0 - (1.0 - s) * (1.0 - t0)


@dataclasses.dataclass
class ImportanceDensity:
    """Piecewise-constant density on the cells of `edges` (K+1,), with cell probabilities `probs` (K,)."""

    edges: torch.Tensor
    probs: torch.Tensor

    @classmethod
    def from_curve(cls, nodes: torch.Tensor, values: torch.Tensor, floor: float = 0.05) -> "ImportanceDensity":
        """q on [nodes[0], nodes[-1]] proportional to |values| (at the nodes, averaged per cell) + floor * max|values|."""
        check_range("floor", floor, low=0.0, low_open=True)
        v = torch.as_tensor(values, dtype=DTYPE).abs()
        nodes = torch.as_tensor(nodes, dtype=DTYPE)
        if nodes.ndim != 1 or nodes.shape != v.shape or len(nodes) < 2 or (nodes[1:] <= nodes[:-1]).any():
            raise ValueError("nodes must be an increasing 1-D grid with one value per node")
        cell = 0.5 * (v[1:] + v[:-1]) + floor * float(v.max() if v.max() > 0 else 1.0)
        mass = cell * (nodes[1:] - nodes[:-1])
        return cls(nodes, mass / mass.sum())

    @classmethod
    def uniform(cls, lo: float, hi: float) -> "ImportanceDensity":
        check_range("hi", hi, low=lo, low_open=True)
        return cls(torch.tensor([lo, hi], dtype=DTYPE), torch.ones(1, dtype=DTYPE))

    def map(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inverse CDF: u (M,) in [0, 1) -> (lambda (M,), q(lambda) (M,)); monotone, so stratification is kept."""
        cdf = torch.cat([torch.zeros(1, dtype=DTYPE), torch.cumsum(self.probs, 0)])
        k = torch.searchsorted(cdf, u, right=True).clamp(1, len(self.probs)) - 1
        width = self.edges[k + 1] - self.edges[k]
        frac = ((u - cdf[k]) / self.probs[k]).clamp(0.0, 1.0)
        return self.edges[k] + frac * width, self.probs[k] / width


def integrand(eps: NoisePredictor, gauss: GaussianFit | None, y: torch.Tensor, z: torch.Tensor, logsnr: torch.Tensor,
              t0: float) -> torch.Tensor:
    """d(lambda, Z) per row: ||r||^2 - ||r_G||^2 (gauss given) or ||r||^2 - (1-s)||Z||^2 (gauss None).

    y, z: (M, n); logsnr: (M,) the sub-process log-SNR lambda = log((1-s)/s) of each row.  ->  (M,).
    """
    s = torch.sigmoid(-logsnr)
    t = sub_process_t(s, t0)
    y_s = torch.sqrt(1.0 - s)[:, None] * y + torch.sqrt(s)[:, None] * z
    scale = torch.sqrt(s / t)[:, None]
    r2 = ((z - scale * eps(y_s, t)) ** 2).sum(dim=1)
    if gauss is None:
        return r2 - (1.0 - s) * (z**2).sum(dim=1)
    return r2 - ((z - scale * gauss.eps(y_s, t)) ** 2).sum(dim=1)


@dataclasses.dataclass
class FormulaEstimate:
    """log_prob, stderr: (N,); evals: predictor evaluations per point."""

    log_prob: torch.Tensor
    stderr: torch.Tensor
    evals: int


def _normal_from_uniform(u: np.ndarray) -> torch.Tensor:
    """Phi^{-1}(u) with u kept inside (0, 1) by half a float64 ulp at the ends (scrambled Sobol never returns 0)."""
    return torch.as_tensor(norm.ppf(np.clip(u, 1e-300, 1.0 - 1e-16)), dtype=DTYPE)


def _draw(sampler: str, num: int, n: int, q: ImportanceDensity, gen: torch.Generator, seed: int, rounds: int):
    """(lambda (R, m), weight 1/q (R, m), Z (R, m, n)) with R = rounds independent sets of m = num / R points."""
    m = num // rounds
    if sampler in ("mc", "lattice"):
        if sampler == "mc":
            u = torch.rand(rounds, m, generator=gen, dtype=DTYPE)
        else:  # a randomly shifted midpoint lattice in the CDF of q: u_j = (j + U) / m, one U per round
            u = (torch.arange(m, dtype=DTYPE) + torch.rand(rounds, 1, generator=gen, dtype=DTYPE)) / m
        z = torch.randn(rounds, m, n, generator=gen, dtype=DTYPE)
    else:
        pts = [qmc.Sobol(d=n + 1, scramble=True, seed=seed * 1000 + r).random(m) for r in range(rounds)]
        u = torch.as_tensor(np.stack([p[:, 0] for p in pts]), dtype=DTYPE)
        z = _normal_from_uniform(np.stack([p[:, 1:] for p in pts]))
    lam, dens = q.map(u.reshape(-1))
    return lam.reshape(rounds, m), (1.0 / dens).reshape(rounds, m), z


def formula_estimate(y, eps: NoisePredictor, num_evals: int, gauss: GaussianFit | None = None, t0: float = 0.0,
                     sampler: str = "sobol", q: ImportanceDensity | None = None, logsnr_range=(-25.0, 30.0),
                     noises_per_node: int = 4, rounds: int = 4, antithetic: bool = False, seed: int = 0,
                     batch: int = 4096) -> FormulaEstimate:
    """log p_{t0}(y) by the density formula with `num_evals` predictor evaluations per point (module docstring).

    y: (N, n). gauss: the control variate (None: none). sampler "grid" (uniform trapezoid grid on logsnr_range with
    `noises_per_node` i.i.d. noises per node; num_evals must be a multiple of it), "mc" or "sobol" (lambda ~ q, the
    uniform density on logsnr_range when q is None; `rounds` independent sets, num_evals / rounds a power of 2 for
    Sobol; "lattice" likewise). antithetic (mc / sobol / lattice): half the pairs are drawn and each is also used as (lambda, -Z), which cancels
    the part of the integrand odd in Z (at small noise, the cross term 2 sqrt(s/t) Z . (eps_G - eps)). The same
    (lambda, Z) are used for every point. eps is called on at most `batch` rows at a time.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    check_int("num_evals", num_evals, low=2)
    check_range("t0", t0, low=0.0, high=1.0, high_open=True)
    lo, hi = (float(v) for v in logsnr_range)
    check_range("logsnr_range[1]", hi, low=lo, low_open=True)
    y = torch.as_tensor(y, dtype=DTYPE)
    if y.ndim != 2:
        raise ValueError(f"y must have shape (N, n), got {tuple(y.shape)}")
    N, n = y.shape
    gen = torch.Generator().manual_seed(seed)
    if sampler == "grid":
        Q = check_int("noises_per_node", noises_per_node, low=2)
        if num_evals % Q or num_evals // Q < 2:
            raise ValueError(f"num_evals must be a multiple of noises_per_node={Q} with at least 2 nodes, got {num_evals}")
        K = num_evals // Q
        lam = torch.linspace(lo, hi, K, dtype=DTYPE).repeat(Q, 1)  # (Q, K): replicate r uses its own noises
        w = torch.full((K,), (hi - lo) / (K - 1), dtype=DTYPE)
        w[0] = w[-1] = w[0] / 2
        weight = w.repeat(Q, 1)
        z = torch.randn(Q, K, n, generator=gen, dtype=DTYPE)
    else:
        R = check_int("rounds", rounds, low=2)
        pairs = 2 if antithetic else 1
        m = num_evals // (R * pairs)
        if num_evals % (R * pairs) or m < 1 or (sampler == "sobol" and m & (m - 1)):
            raise ValueError(f"num_evals / (rounds * {pairs}) must be a positive integer"
                             f"{' power of 2' if sampler == 'sobol' else ''}, got {num_evals} / {R * pairs}")
        q = q or ImportanceDensity.uniform(lo, hi)
        lam, weight, z = _draw(sampler, m * R, n, q, gen, seed, R)
        if antithetic:
            lam, weight, z = torch.cat([lam, lam], 1), torch.cat([weight, weight], 1), torch.cat([z, -z], 1)
        weight = weight / (m * pairs)  # each round's sum of d / q over its points estimates I
    R, m = lam.shape
    flat_lam, flat_z = lam.reshape(-1), z.reshape(-1, n)
    d = torch.empty(N, R * m, dtype=DTYPE)
    rows = max(1, batch // N)
    for a in range(0, R * m, rows):  # every point against a block of (lambda, Z) pairs
        b = min(a + rows, R * m)
        k = b - a
        yy = y.repeat_interleave(k, dim=0)
        d[:, a:b] = integrand(eps, gauss, yy, flat_z[a:b].repeat(N, 1), flat_lam[a:b].repeat(N), t0).reshape(N, k)
    per_round = (d.reshape(N, R, m) * weight.reshape(1, R, m)).sum(dim=2)  # (N, R), i.i.d. over rounds
    integral = per_round.mean(dim=1)
    stderr = 0.5 * per_round.std(dim=1) / math.sqrt(R)
    if gauss is None:
        base = torch.full((N,), -0.5 * n * LOG_2PI_E, dtype=DTYPE)
    else:
        base = gauss.log_prob(y, torch.full((N,), t0, dtype=DTYPE))
    return FormulaEstimate(base - 0.5 * integral, stderr, num_evals)


def pilot_curve(y, eps: NoisePredictor, gauss: GaussianFit | None, nodes: torch.Tensor, t0: float = 0.0,
                num_noises: int = 2, seed: int = 0) -> torch.Tensor:
    """Mean over the rows of y (N, n) and `num_noises` noises of |d(lambda, Z)| at each node (K,)  ->  (K,): the
    pilot from which `ImportanceDensity.from_curve` places the evaluations."""
    y = torch.as_tensor(y, dtype=DTYPE)
    nodes = torch.as_tensor(nodes, dtype=DTYPE)
    N, n = y.shape
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(len(nodes), dtype=DTYPE)
    for k, lam in enumerate(nodes):
        z = torch.randn(N * num_noises, n, generator=gen, dtype=DTYPE)
        out[k] = integrand(eps, gauss, y.repeat(num_noises, 1), z, lam.repeat(N * num_noises), t0).abs().mean()
    return out
