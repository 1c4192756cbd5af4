"""Bits per dimension of the book's DDPM (paper 2, arXiv 2408.16765 v1, on a network): the density formula from the
network's noise prediction, the DDPM ELBO of the same network, and the probability-flow ODE.

Data. 8-bit images k in {0..255}^n are dequantised uniformly (Theis et al. 2016; Ho et al. 2020 use a discrete
decoder instead): y = 2 (k + u) / 256 - 1, u ~ U[0, 1)^n, so that for any density p on [-1, 1]^n,
log P(k) >= E_u log p(y) + n log(2/256), and

    bits/dim = -E_u[log p(y)] / (n log 2) + log2(256/2) = -E_u[log p(y)] / (n log 2) + 7.

The model. The network eps_theta(x, i) was trained at the DDPM steps i = 0..T-1 (alpha_bar_i of the linear-beta
schedule, Li-Yan level t_i = 1 - alpha_bar_i from t_0 = 1e-4 to t_{T-1} = 0.99996). `NetworkNoise` evaluates it at
any t in [t_0, t_{T-1}] (fractional step, linear in log-SNR, as the UNet's sinusoidal embedding takes real steps)
and, above t_{T-1}, uses the Gaussian fitted to the data, whose marginal the data's is at alpha_bar < 4e-5 up to
O(alpha_bar). The density that all three methods estimate is that of the model at its smallest level t_0 (sigma =
0.01, finer than the 8-bit bin 2/256 = 0.0078): the network says nothing about finer scales.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from lowdim.checks import DTYPE, LOG_2PI, check_int, check_range
from lowdim.density import estimators as E
from lowdim.density import likelihood as L
from lowdim.schedules import ddpm_alpha_bars

__all__ = ["LEVELS", "dequantize", "bits_per_dim", "NetworkNoise", "network_formula", "ElboEstimate",
           "ddpm_elbo_terms", "ddpm_elbo", "network_pf_ode", "exact_divergence", "ExactPathEstimate",
           "network_pf_ode_exact"]

LEVELS = 256  # 8-bit images


def dequantize(x: torch.Tensor, seed: int) -> torch.Tensor:
    """y = 2 (k + u) / 256 - 1 for images x = 2 k / 255 - 1 (the loaders' scaling), u ~ U[0, 1) seeded.

    x: (N, C, H, W) or (N, n)  ->  (N, n) float64 in [-1, 1)."""
    k = torch.round((torch.as_tensor(x, dtype=DTYPE).reshape(len(x), -1) + 1.0) * (LEVELS - 1) / 2.0)
    if (k < 0).any() or (k > LEVELS - 1).any():
        raise ValueError("x must hold 8-bit images scaled to [-1, 1] (x = 2 k / 255 - 1)")
    u = torch.rand(k.shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    return 2.0 * (k + u) / LEVELS - 1.0


def bits_per_dim(log_prob: torch.Tensor, n: int) -> torch.Tensor:
    """-log p / (n log 2) + log2(256 / 2) for densities of dequantised images in [-1, 1]^n (module docstring)."""
    return -torch.as_tensor(log_prob, dtype=DTYPE) / (n * math.log(2.0)) + math.log2(LEVELS / 2)


class NetworkNoise:
    """eps(y, t) ~ E[Z | X_t = y] in Li-Yan time from a DDPM noise-prediction UNet; the Gaussian above t_{T-1}.

    Called as eps(y (M, n) float64, t (M,)) -> (M, n) float64; the network runs in float32 on batches of at most
    `batch` rows, with autograd when y requires grad (the PF-ODE's divergence) and in inference mode otherwise.
    `evals` counts network evaluations (rows).
    """

    def __init__(self, model, gauss: E.GaussianFit, num_timesteps: int = 1000, batch: int = 256):
        self.model, self.gauss, self.batch = model, gauss, check_int("batch", batch, low=1)
        self.shape = (model.config.in_channels, model.config.sample_size, model.config.sample_size)
        ab = ddpm_alpha_bars(num_timesteps)
        self.alpha_bars = ab
        self.t_min, self.t_max = float(1.0 - ab[0]), float(1.0 - ab[-1])
        self._logsnr = np.log(ab.numpy() / (1.0 - ab.numpy()))[::-1].copy()  # increasing
        self.evals = 0

    def timestep(self, t: torch.Tensor) -> torch.Tensor:
        """Fractional DDPM step with level t, linear in log-SNR between the integer steps.  t (M,) in [t_0, t_{T-1}]."""
        lam = torch.log1p(-t) - torch.log(t)
        steps = np.interp(lam.detach().numpy(), self._logsnr, np.arange(len(self._logsnr))[::-1].astype(float))
        return torch.as_tensor(steps, dtype=torch.float32)

    def at_steps(self, y: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """eps_theta(y, steps): y (M, n) float64, steps (M,) real DDPM steps  ->  (M, n) float64."""
        out = []
        for a in range(0, len(y), self.batch):
            xb = y[a:a + self.batch].to(torch.float32).reshape(-1, *self.shape)
            if y.requires_grad and torch.is_grad_enabled():
                eb = self.model(xb, steps[a:a + self.batch]).sample
            else:
                with torch.inference_mode():
                    eb = self.model(xb, steps[a:a + self.batch]).sample.clone()
            out.append(eb.reshape(len(xb), -1).to(DTYPE))
        self.evals += len(y)
        return torch.cat(out)

    def __call__(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=DTYPE).expand(len(y))
        if (t < self.t_min * (1 - 1e-9)).any():
            raise ValueError(f"t must be >= t_0 = {self.t_min:.3g} (the network's smallest level), got {float(t.min()):.3g}")
        net = t <= self.t_max
        if net.all():
            return self.at_steps(y, self.timestep(t))
        out = self.gauss.eps(y, t)
        if net.any():
            out = out.clone()
            out[net] = self.at_steps(y[net], self.timestep(t[net]))
        return out

    def logsnr_top(self) -> float:
        """Sub-process log-SNR at which t reaches t_{T-1}: above it (lambda smaller) the model is the Gaussian."""
        s = 1.0 - (1.0 - self.t_max) / (1.0 - self.t_min)
        return math.log((1.0 - s) / s)


def network_formula(y: torch.Tensor, eps: NetworkNoise, num_evals: int, q: E.ImportanceDensity | None = None,
                    control_variate: bool = True, sampler: str = "sobol", logsnr_max: float = 25.0,
                    seed: int = 0, **kw) -> E.FormulaEstimate:
    """log p_{t_0}(y) by the density formula (`lowdim.density.estimators`), y (N, n) dequantised images.

    With the control variate the integrand is 0 above t_{T-1}, so lambda runs from eps.logsnr_top(); without it,
    from -25 (where h ~ e^{-25} n). t0 = t_0."""
    lo = eps.logsnr_top() if control_variate else -25.0
    return E.formula_estimate(y, eps, num_evals, gauss=eps.gauss if control_variate else None, t0=eps.t_min,
                              sampler=sampler, q=q, logsnr_range=(lo, logsnr_max), seed=seed, **kw)


@dataclasses.dataclass
class ElboEstimate:
    """elbo, stderr: (N,) in nats; evals: network evaluations per point."""

    elbo: torch.Tensor
    stderr: torch.Tensor
    evals: int


def ddpm_elbo_terms(alpha_bars: torch.Tensor, variance: str = "beta") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step constants of the DDPM negative ELBO with eps-prediction (Ho et al. 2020, eqs. (5), (12)):

        L_k = c_k + a_k E||eps - eps_theta(x_k, k)||^2,   k = 1..T,
        k >= 2: a_k = beta_k^2 / (2 sigma_k^2 alpha_k (1 - alpha_bar_k)),  c_k = n/2 (beta_tilde_k/sigma_k^2 - 1
                + log(sigma_k^2 / beta_tilde_k)) [per dimension here: c_k / n],
        k = 1 (Gaussian decoder N(y; mu_theta(x_1), beta_1 I)): a_1 = 1 / (2 alpha_1), c_1 = 1/2 log(2 pi beta_1).

    sigma_k^2 = beta_k ("beta") or beta_tilde_k = beta_k (1 - alpha_bar_{k-1}) / (1 - alpha_bar_k) ("beta_tilde").
    -> (a (T,), c (T,) per dimension)."""
    if variance not in ("beta", "beta_tilde"):
        raise ValueError(f"variance must be 'beta' or 'beta_tilde', got {variance!r}")
    ab = torch.as_tensor(alpha_bars, dtype=DTYPE)
    ab_prev = torch.cat([torch.ones(1, dtype=DTYPE), ab[:-1]])
    beta = 1.0 - ab / ab_prev
    alpha = 1.0 - beta
    beta_tilde = beta * (1.0 - ab_prev) / (1.0 - ab)
    var = beta if variance == "beta" else beta_tilde
    a = beta**2 / (2.0 * var * alpha * (1.0 - ab))
    c = 0.5 * (beta_tilde / var - 1.0 + torch.log(var / beta_tilde))
    a[0], c[0] = 1.0 / (2.0 * alpha[0]), 0.5 * (LOG_2PI + torch.log(beta[0]))
    return a, c


def ddpm_elbo(y: torch.Tensor, eps_at_steps, alpha_bars: torch.Tensor, num_evals: int, rounds: int = 4,
              variance: str = "beta", seed: int = 0) -> ElboEstimate:
    """The DDPM ELBO of each row of y (N, n): -(sum_k L_k + prior KL), L_k = n c_k + a_k E||eps - eps_theta(x_k, k)||^2
    (`ddpm_elbo_terms`). The constants n sum_k c_k and the prior KL (N(sqrt(ab_T) y, (1-ab_T) I) || N(0, I)) are
    exact; the decoder step k = 1 gets one noise per round; the steps k >= 2 are sampled with probability
    proportional to a_k, stratified in the cumulative distribution (one step per stratum), one noise each, and
    weighted by 1 / probability. `rounds` independent sets of num_evals / rounds evaluations give the standard error.

    eps_at_steps(x (M, n), steps (M,) float, 0-based) -> (M, n).  ->  ElboEstimate (nats)."""
    y = torch.as_tensor(y, dtype=DTYPE)
    N, n = y.shape
    ab = torch.as_tensor(alpha_bars, dtype=DTYPE)
    T = len(ab)
    R = check_int("rounds", rounds, low=2)
    check_int("num_evals", num_evals, low=2 * R)
    m = num_evals // R - 1  # sampled steps per round besides the decoder
    if num_evals % R or m < 1:
        raise ValueError(f"num_evals must be a multiple of rounds={R} with at least 2 evaluations per round, got {num_evals}")
    a, c = ddpm_elbo_terms(ab, variance)
    prob = a[1:] / a[1:].sum()  # steps k = 2..T (indices 1..T-1)
    cdf = torch.cumsum(prob, 0)
    gen = torch.Generator().manual_seed(seed)
    per_round = torch.empty(N, R, dtype=DTYPE)
    for r in range(R):
        u = (torch.arange(m, dtype=DTYPE) + torch.rand(N, m, generator=gen, dtype=DTYPE)) / m
        k = 1 + torch.searchsorted(cdf, u * cdf[-1]).clamp(max=T - 2)  # (N, m) 0-based indices >= 1
        k = torch.cat([torch.zeros(N, 1, dtype=torch.long), k], dim=1)  # the decoder first
        w = torch.cat([torch.ones(N, 1, dtype=DTYPE), 1.0 / (m * prob[k[:, 1:] - 1])], dim=1)
        z = torch.randn(N, m + 1, n, generator=gen, dtype=DTYPE)
        abk = ab[k][..., None]
        x_k = torch.sqrt(abk) * y[:, None, :] + torch.sqrt(1.0 - abk) * z
        eps_hat = eps_at_steps(x_k.reshape(-1, n), k.reshape(-1).to(torch.float32)).reshape(N, m + 1, n)
        per_round[:, r] = (w * a[k] * ((z - eps_hat) ** 2).sum(dim=2)).sum(dim=1)
    a_T = ab[-1]
    prior = 0.5 * (n * (1.0 - a_T) + a_T * (y**2).sum(dim=1) - n - n * torch.log1p(-a_T))
    neg = n * c.sum() + per_round.mean(dim=1) + prior
    return ElboEstimate(-neg, per_round.std(dim=1) / math.sqrt(R), num_evals)


def _sub_score(eps: NetworkNoise):
    """Score of the sub-process at its time s: grad log p_t = -eps(x, t) / sqrt(t), t = 1 - (1-s)(1-t_0)."""
    def score(x, s):
        t = E.sub_process_t(torch.as_tensor(s, dtype=DTYPE), eps.t_min).expand(len(x))
        return -eps(x, t) / torch.sqrt(t)[:, None]
    return score


def _sub_base(eps: NetworkNoise):
    """The model's log-density at sub-process time s above t_{T-1}: the fitted Gaussian's (the PF-ODE's base law)."""
    def base(x, s):
        return eps.gauss.log_prob(x, E.sub_process_t(torch.as_tensor(s, dtype=DTYPE), eps.t_min).expand(len(x)))
    return base


def network_pf_ode(y: torch.Tensor, eps: NetworkNoise, num_probes: int = 1, seed: int = 0, rtol: float = 1e-3,
                   atol: float = 1e-5, logsnr_max: float = 25.0, logsnr_nodes=None) -> L.LikelihoodEstimate:
    """log p_{t_0}(y) by the PF-ODE (`lowdim.density.likelihood.pf_ode_log_density`, Hutchinson divergence with
    `num_probes` probes, each its own estimate) of the sub-process from level t_0 to t_{T-1}, whose base law is the
    Gaussian's (the model above t_{T-1}). y: (N, n); logsnr_nodes: see pf_ode_log_density."""
    return L.pf_ode_log_density(y, _sub_score(eps), _sub_base(eps), divergence="hutchinson", num_probes=num_probes, seed=seed,
                                rtol=rtol, atol=atol, logsnr_min=eps.logsnr_top(), logsnr_max=logsnr_max,
                                logsnr_nodes=logsnr_nodes)


def exact_divergence(score, x: torch.Tensor, s: torch.Tensor, chunk: int = 196) -> torch.Tensor:
    """div_x score(x, s) exactly, as the sum of n one-hot vector-Jacobian products e_i^T (d score / dx) e_i, batched
    `chunk` copies of the point at a time (one network pass per copy).  x: (N, n)  ->  (N,)."""
    check_int("chunk", chunk, low=1)
    N, n = x.shape
    out = torch.zeros(N, dtype=DTYPE)
    for p in range(N):
        for a in range(0, n, chunk):
            idx = torch.arange(a, min(a + chunk, n))
            rows = torch.arange(len(idx))
            xc = x[p].detach().repeat(len(idx), 1).requires_grad_(True)
            with torch.enable_grad():
                grad = torch.autograd.grad(score(xc, s)[rows, idx].sum(), xc)[0]
            out[p] += grad[rows, idx].sum()
    return out


@dataclasses.dataclass
class ExactPathEstimate:
    """PF-ODE log-likelihood with the exact divergence along the path (`network_pf_ode_exact`). All log p in nats.

    log_prob: (N,) the mean over probes of `corrected`; stderr: (N,) their standard error (what is left of
    Hutchinson's noise after the correction: the rule's error on the noise); corrected: (K, N) each probe's
    adaptive estimate plus sum_j w_j (g_exact - g_k)(lambda_j); quadrature: (N,) base + sum_j w_j g_exact(lambda_j),
    the exact divergence by the rule alone; hutchinson: the K-probe solve (LikelihoodEstimate); logsnr, weights: (J,)
    the rule; g_exact: (J, N) and g_probes: (J, K, N) the integrand d log p / d lambda = -s (n + div score) / 2 at the
    nodes; evals: network evaluations per image, a forward or a vector-Jacobian product each: the solve's, then
    2 n + 1 + K per node (n copies forward and back for the exact divergence, one forward and K products)."""

    log_prob: torch.Tensor
    stderr: torch.Tensor
    corrected: torch.Tensor
    quadrature: torch.Tensor
    hutchinson: L.LikelihoodEstimate
    logsnr: torch.Tensor
    weights: torch.Tensor
    g_exact: torch.Tensor
    g_probes: torch.Tensor
    evals: int


def network_pf_ode_exact(y: torch.Tensor, eps: NetworkNoise, num_probes: int = 4, panels: int = 4, nodes: int = 6,
                         seed: int = 0, rtol: float = 1e-3, atol: float = 1e-5, logsnr_max: float = 25.0,
                         chunk: int = 196) -> ExactPathEstimate:
    """log p_{t_0}(y) by the PF-ODE with the exact divergence (Song et al. 2021, App. D.2) along the whole path.

    The path x(lambda) does not depend on the divergence, so it comes from the K-probe Hutchinson solve
    (`network_pf_ode`, dense output at the nodes of a composite Gauss-Legendre rule with `panels` x `nodes` points
    on [logsnr_top, logsnr_max]), and the exact divergence is computed at those nodes only: n backward passes per
    node instead of n per ODE step. Each probe k's adaptive integral of its integrand g_k is exact up to the solver,
    so int g_exact = int g_k + int (g_exact - g_k), and only the last term, Hutchinson's noise along the path, is left
    to the rule; the K corrected estimates then differ only by the rule's error on that noise (stderr). The rule on
    g_exact alone (quadrature) is returned beside it. y: (N, n)."""
    check_int("num_probes", num_probes, low=2)  # the corrected estimates' spread is the standard error
    y = torch.as_tensor(y, dtype=DTYPE)
    lo = eps.logsnr_top()
    lams, weights = L.gauss_legendre_panels(lo, logsnr_max, panels, nodes)
    hutch = network_pf_ode(y, eps, num_probes=num_probes, seed=seed, rtol=rtol, atol=atol, logsnr_max=logsnr_max,
                           logsnr_nodes=lams)
    N, n = y.shape
    probes = L.rademacher(num_probes, (N, n), seed)  # the solve's probes
    score = _sub_score(eps)
    g_exact = torch.empty(len(lams), N, dtype=DTYPE)
    g_probes = torch.empty(len(lams), num_probes, N, dtype=DTYPE)
    for j, lam in enumerate(lams):
        s = torch.sigmoid(-lam)
        g_exact[j] = -s * (n + exact_divergence(score, hutch.x_nodes[j], s, chunk)) / 2
        _, div = L.score_divergence(score, hutch.x_nodes[j], s, probes, per_probe=True)
        g_probes[j] = -s * (n + div) / 2
    base = _sub_base(eps)(hutch.x_end, torch.sigmoid(-torch.tensor(lo, dtype=DTYPE)))
    quadrature = base + (weights[:, None] * g_exact).sum(dim=0)
    corrected = hutch.probe_log_probs + (weights[:, None, None] * (g_exact[:, None] - g_probes)).sum(dim=0)  # (K, N)
    stderr = corrected.std(dim=0) / math.sqrt(num_probes)
    evals = hutch.num_evals + len(lams) * (2 * n + 1 + num_probes)
    return ExactPathEstimate(corrected.mean(dim=0), stderr, corrected, quadrature, hutch, lams, weights, g_exact,
                             g_probes, evals)
