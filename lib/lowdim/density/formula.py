"""The score-based density formula of Li & Yan (paper 2, arXiv 2408.16765 v1, Sec. 3.1, eq. (3.1a)) and its
discrete versions (Sec. 3.2, eq. (3.1c); the DDPM ELBO of Sec. 4.1).

The statement is **reconstructed** (the theorem text was not available; see the chapter): in the paper's time,
X_t = sqrt(1-t) x + sqrt(t) Z (`lowdim.schedules`, Li-Yan section), for any x where p_0 has a density,

    log p_0(x) = -(n/2) log(2 pi e) - 1/2 int_0^1 ( E|| grad log p_t(X_t) + Z / sqrt(t) ||^2 / (1-t) - n/t ) dt.

Writing r = Z - eps*(X_t) = Z + sqrt(t) grad log p_t(X_t) = sqrt((1-t)/t) (E[X_0 | X_t] - x), the integrand is
(E||r||^2 - n(1-t)) / (t(1-t)) in all three forms (score, noise prediction, MMSE). In the log-SNR variable
lambda = log((1-t)/t), dt = -t(1-t) d lambda, so

    log p_0(x) = -(n/2) log(2 pi e) - 1/2 int_R h(lambda) d lambda,   h = E[ ||r||^2 - (1-t) ||Z||^2 ],

with E||Z||^2 = n. This single expression is how the small-t cancellation of n/t is handled: nothing is divided
by t, and per sample ||r||^2 - (1-t)||Z||^2 -> 0 at both ends (r -> Z as t -> 0 for data with a density; r -> 0
and (1-t) -> 0 as t -> 1), so the term (1-t)||Z||^2 is also a control variate with known mean n(1-t). h decays
like e^{-lambda} (times the Fisher information, ~ 1/delta^2 for data of thickness delta) as lambda -> +inf and
like e^{lambda} as lambda -> -inf; a trapezoid rule uniform in lambda is then spectrally accurate once lambda_max
clears log(1/delta^2) by a margin (t_min << delta^2).

The expectation over Z is Gauss-Hermite (tensor grid) in low dimension and Monte Carlo in high dimension, with one
set of noises shared by every x and every t, antithetic pairs (Z, -Z) and the control variate ||Z||^2 - n with a
fitted coefficient; the standard error returned is that of the Monte Carlo average (the lambda-quadrature error is
not included: it is deterministic and checked separately).

A predictor is any callable fn(x_t (M, n), t (0-dim tensor)) -> (M, n) in Li-Yan time: a score
grad log p_t, a noise predictor E[Z | X_t] or a denoiser E[X_0 | X_t]; `exact_predictor` builds them from an exact
VE model (`GaussianMixture`, `MoLRG`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch

from lowdim import schedules as S
from lowdim.checks import DTYPE, LOG_2PI_E, check_int, check_range

__all__ = ["FORMS", "exact_predictor", "residual", "integrand_samples", "logsnr_grid", "gauss_hermite",
           "DensityEstimate", "log_density", "ALPHA_BAR_FLOOR", "usable_alpha_bars", "discrete_density",
           "ddpm_elbo"]

FORMS = ("score", "eps", "x0")
Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def exact_predictor(model, form: str) -> Predictor:
    """The exact score / noise prediction / denoiser of a VE model, in Li-Yan time."""
    _check_form(form)
    fn = {"score": S.liyan_score, "eps": S.liyan_noise_prediction, "x0": S.liyan_posterior_mean}[form]
    return lambda x_t, t: fn(model, x_t, t)


def residual(fn: Predictor, form: str, x: torch.Tensor, z: torch.Tensor, t) -> torch.Tensor:
    """r = Z - eps_hat(X_t) at X_t = sqrt(1-t) x + sqrt(t) z, from any of the three forms.

    x, z: (M, n) (one noise per row); t: scalar in (0, 1), or (M,) one level per row (fn then gets the (M,) t).
    ->  (M, n).  score: r = z + sqrt(t) s;  eps: r = z - eps_hat;  x0: r = sqrt((1-t)/t) (x0_hat - x).
    """
    _check_form(form)
    t = torch.as_tensor(t, dtype=DTYPE)
    tc = t[:, None] if t.ndim else t  # broadcasts over the n coordinates of each row
    x_t = torch.sqrt(1.0 - tc) * x + torch.sqrt(tc) * z
    out = fn(x_t, t)
    if form == "score":
        return z + torch.sqrt(tc) * out
    if form == "eps":
        return z - out
    return torch.sqrt((1.0 - tc) / tc) * (out - x)


def integrand_samples(fn: Predictor, form: str, x: torch.Tensor, z: torch.Tensor, t) -> torch.Tensor:
    """Per-sample integrand in the log-SNR variable, ||r||^2 - (1-t)||z||^2 (mean h(lambda)); t as in `residual`.
    ->  (M,).

    Divide the mean by t(1-t) for the integrand in t, (E||r||^2 - n(1-t)) / (t(1-t)).
    """
    t = torch.as_tensor(t, dtype=DTYPE)
    r = residual(fn, form, x, z, t)
    return (r**2).sum(dim=1) - (1.0 - t) * (z**2).sum(dim=1)


def logsnr_grid(num: int, logsnr_min: float = -25.0, logsnr_max: float = 30.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uniform grid in lambda = log SNR with trapezoid weights.  ->  (lambda (num,), t (num,), weights (num,)).

    t = sigmoid(-lambda): lambda_max = 30 reaches t ~ 1e-13, lambda_min = -25 leaves 1 - t ~ 1e-11.
    """
    check_int("num", num, low=2)
    check_range("logsnr_max", logsnr_max, low=logsnr_min, low_open=True)
    lam = torch.linspace(logsnr_min, logsnr_max, num, dtype=DTYPE)
    w = torch.full((num,), (logsnr_max - logsnr_min) / (num - 1), dtype=DTYPE)
    w[0] = w[-1] = w[0] / 2
    return lam, S.liyan_t_from_logsnr(lam), w


def gauss_hermite(num_nodes: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensor-product Gauss-Hermite rule for E f(Z), Z ~ N(0, I_dim).  ->  (nodes (num_nodes^dim, dim), weights)."""
    check_int("num_nodes", num_nodes, low=2)
    if num_nodes**dim > 2_000_000:
        raise ValueError(f"{num_nodes}^{dim} Gauss-Hermite nodes is too many; use method='mc' in dimension {dim}")
    z1, w1 = np.polynomial.hermite_e.hermegauss(num_nodes)
    w1 = w1 / math.sqrt(2.0 * math.pi)
    grids = np.meshgrid(*([z1] * dim), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.prod(np.stack(np.meshgrid(*([w1] * dim), indexing="ij"), axis=0).reshape(dim, -1), axis=0)
    return torch.as_tensor(nodes, dtype=DTYPE), torch.as_tensor(weights, dtype=DTYPE)


@dataclasses.dataclass
class DensityEstimate:
    """log_prob and stderr: (N,); stderr is 0 for Gauss-Hermite. logsnr, t: (num_t,); curve: (N, num_t) the
    estimated h(lambda) at each grid point; num_evals: predictor evaluations per point x."""

    log_prob: torch.Tensor
    stderr: torch.Tensor
    logsnr: torch.Tensor
    t: torch.Tensor
    curve: torch.Tensor
    num_evals: int


def log_density(x, fn: Predictor, form: str = "score", method: str = "gh", num_t: int = 400,
                logsnr_min: float = -25.0, logsnr_max: float = 30.0, gh_nodes: int = 40,
                num_samples: int = 1000, seed: int = 0, control_variate: bool = True) -> DensityEstimate:
    """log p_0(x) by the density formula from a predictor `fn` of the given `form`.

    x: (N, n). method "gh": tensor Gauss-Hermite over Z with `gh_nodes` per dimension (n <= 3 or so);
    "mc": `num_samples` noises (rounded up to an even number; antithetic pairs) shared by all x and all t.
    """
    _check_form(form)
    x = torch.as_tensor(x, dtype=DTYPE)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, n), got {tuple(x.shape)}")
    N, n = x.shape
    lam, ts, w = logsnr_grid(num_t, logsnr_min, logsnr_max)
    if method == "gh":
        z, zw = gauss_hermite(gh_nodes, n)
    elif method == "mc":
        check_int("num_samples", num_samples, low=4)
        half = torch.randn((num_samples + 1) // 2, n, dtype=DTYPE, generator=torch.Generator().manual_seed(seed))
        z = torch.cat([half, -half])
        zw = None
    else:
        raise ValueError(f"method must be 'gh' or 'mc', got {method!r}")
    Q = z.shape[0]
    xs = x.repeat_interleave(Q, dim=0)  # (N Q, n): point i uses rows i Q .. (i+1) Q - 1
    zs = z.repeat(N, 1)
    per_sample = torch.zeros(N, Q, dtype=DTYPE)  # sum_t w_t h(x_i, z_j, t)
    curve = torch.empty(N, num_t, dtype=DTYPE)
    for j, t in enumerate(ts):
        h = integrand_samples(fn, form, xs, zs, t).reshape(N, Q)
        per_sample += w[j] * h
        curve[:, j] = h @ zw if zw is not None else h.mean(dim=1)
    if zw is not None:
        integral = per_sample @ zw
        stderr = torch.zeros(N, dtype=DTYPE)
    else:
        half = Q // 2
        pairs = 0.5 * (per_sample[:, :half] + per_sample[:, half:])  # (N, Q/2), i.i.d. over pairs
        if control_variate:
            c = (z[:half] ** 2).sum(dim=1) - n  # mean exactly 0
            c = c - c.mean()
            g = pairs - pairs.mean(dim=1, keepdim=True)
            beta = (g @ c) / (c @ c)
            resid = pairs - beta[:, None] * ((z[:half] ** 2).sum(dim=1) - n)
        else:
            resid = pairs
        integral = resid.mean(dim=1)
        stderr = 0.5 * resid.std(dim=1) / math.sqrt(half)
    log_prob = -0.5 * n * LOG_2PI_E - 0.5 * integral
    return DensityEstimate(log_prob, stderr, lam, ts, curve, num_evals=num_t * Q)


# ----------------------------------------------------------------------------------------------------------
# Discrete time (paper 2, Sec. 3.2 and 4.1): on t_k = 1 - alpha_bar_k, k = 1..T.


ALPHA_BAR_FLOOR = 1e-13


def usable_alpha_bars(alpha_bars) -> torch.Tensor:
    """Drop the final steps with alpha_bar_k < 1e-13, where t_k = 1 - alpha_bar_k is 1 to float64 precision (the
    exact score at t = 1 is undefined in the VE core). Their total contribution to either sum is below
    alpha_bar_K * O(1) ~ 1e-13 nats: the Riemann widths t_k - t_{k-1} sum to < 1e-13 and the ELBO terms are KLs
    between laws that differ by O(sqrt(alpha_bar)) in the mean, with the prior term then taken at the last kept step."""
    ab = torch.as_tensor(alpha_bars, dtype=DTYPE)
    if ab.ndim != 1 or ab.numel() < 1:
        raise ValueError(f"alpha_bars must be a non-empty 1-D sequence, got shape {tuple(ab.shape)}")
    check_range("alpha_bars", ab, low=0.0, high=1.0, high_open=True)
    if (ab[1:] > ab[:-1]).any():
        raise ValueError("alpha_bars must be non-increasing")
    keep = ab >= ALPHA_BAR_FLOOR
    if not keep[0]:
        raise ValueError(f"alpha_bar_1 = {float(ab[0]):.3g} is below {ALPHA_BAR_FLOOR:g}")
    return ab[keep]


def discrete_density(x, alpha_bars, score: Predictor, gh_nodes: int = 40) -> torch.Tensor:
    """Right-endpoint Riemann sum of the formula on t_k = 1 - alpha_bar_k (eq. (3.1c) as reconstructed):

        log p(x) ~ -(n/2) log(2 pi e) - 1/2 sum_k (t_k - t_{k-1}) (E||r_k||^2 - n(1 - t_k)) / (t_k (1 - t_k)),

    t_0 = 0, r_k = Z + sqrt(t_k) s_k(X_k); with (t_k - t_{k-1})/(1 - t_k) = beta_k/alpha_k this is the sum of
    DDPM-ELBO weights beta_k/alpha_k times E||s_k + (X_k - sqrt(alpha_bar_k) x)/(1 - alpha_bar_k)||^2 minus an
    x-independent constant. Gauss-Hermite over Z (low dimension). Steps with alpha_bar < 1e-13 are dropped
    (`usable_alpha_bars`).  x: (N, n) -> (N,)."""
    x = torch.as_tensor(x, dtype=DTYPE)
    N, n = x.shape
    t = 1.0 - usable_alpha_bars(alpha_bars)
    t_prev = torch.cat([torch.zeros(1, dtype=DTYPE), t[:-1]])
    z, zw = gauss_hermite(gh_nodes, n)
    xs, zs = x.repeat_interleave(z.shape[0], dim=0), z.repeat(N, 1)
    total = torch.zeros(N, dtype=DTYPE)
    for tk, tp in zip(t, t_prev):
        h = integrand_samples(score, "score", xs, zs, tk).reshape(N, -1) @ zw
        total += (tk - tp) * h / (tk * (1.0 - tk))
    return -0.5 * n * LOG_2PI_E - 0.5 * total


def ddpm_elbo(x, alpha_bars, score: Predictor, variance: str = "beta", gh_nodes: int = 40) -> torch.Tensor:
    """Ho et al.'s ELBO of x under the reverse chain p(x_{k-1} | x_k) = N((x_k + beta_k s_k(x_k))/sqrt(alpha_k),
    sigma_k^2 I), sigma_k^2 = beta_k ("beta") or the posterior variance beta_tilde_k ("beta_tilde"; k >= 2), with
    the decoder N(x; mu(x_1), beta_1 I) and the prior N(0, I) at step T. Every KL is the exact Gaussian formula;
    expectations over X_k | x by Gauss-Hermite.  x: (N, n)  ->  (N,)."""
    if variance not in ("beta", "beta_tilde"):
        raise ValueError(f"variance must be 'beta' or 'beta_tilde', got {variance!r}")
    x = torch.as_tensor(x, dtype=DTYPE)
    N, n = x.shape
    ab = usable_alpha_bars(alpha_bars)
    ab_prev = torch.cat([torch.ones(1, dtype=DTYPE), ab[:-1]])
    betas = 1.0 - ab / ab_prev
    z, zw = gauss_hermite(gh_nodes, n)
    xs, zs = x.repeat_interleave(z.shape[0], dim=0), z.repeat(N, 1)
    elbo = torch.zeros(N, dtype=DTYPE)
    for k in range(len(ab)):
        a_bar, a_bar_prev, beta = ab[k], ab_prev[k], betas[k]
        alpha = 1.0 - beta
        t = 1.0 - a_bar
        x_k = torch.sqrt(a_bar) * xs + torch.sqrt(t) * zs
        mu_model = (x_k + beta * score(x_k, t)) / torch.sqrt(alpha)
        if k == 0:  # decoder log N(x; mu, beta_1 I)
            sq = ((xs - mu_model) ** 2).sum(dim=1).reshape(N, -1) @ zw
            elbo += -0.5 * n * torch.log(2 * math.pi * beta) - 0.5 * sq / beta
            continue
        beta_tilde = (1.0 - a_bar_prev) * beta / (1.0 - a_bar)
        mu_post = (torch.sqrt(a_bar_prev) * beta * xs + torch.sqrt(alpha) * (1.0 - a_bar_prev) * x_k) / (1.0 - a_bar)
        var = beta if variance == "beta" else beta_tilde
        sq = ((mu_post - mu_model) ** 2).sum(dim=1).reshape(N, -1) @ zw
        elbo -= 0.5 * (n * beta_tilde / var + sq / var - n + n * torch.log(var / beta_tilde))
    a_T = ab[-1]
    elbo -= 0.5 * (n * (1.0 - a_T) + a_T * (x**2).sum(dim=1) - n - n * torch.log1p(-a_T))
    return elbo


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
