"""Log-likelihood by the probability-flow ODE (Song et al. 2021, "Score-based generative modeling through SDEs",
Sec. 4.3 and App. D.2), in the Li-Yan time of paper 2 (arXiv 2408.16765 v1, SDE (2.4)); the cross-check E12 of the
density formula (`lowdim.density.formula`).

The PF-ODE of the Li-Yan SDE dX_t = -X_t dt / (2(1-t)) + dB_t / sqrt(1-t) is

    dx/dt = v(x, t) = -(x + s_t(x)) / (2(1-t)),        s_t = grad log p_t,

and along its solutions the instantaneous change of variables (continuity equation) gives

    d/dt log p_t(x_t) = -div_x v(x_t, t),     div v = -(n + div s_t) / (2(1-t)).

Both ends of [0, 1] are awkward in t (v ~ (1-t)^{-1/2} as t -> 1; the small-t scale of thin data), so the ODE is
integrated in the log-SNR lambda = log((1-t)/t), t = sigmoid(-lambda), dt = -t(1-t) d lambda:

    dx/d lambda = t (x + s_t(x)) / 2,      d/d lambda log p(x_lambda) = -t (n + div s_t(x_lambda)) / 2 =: g,

which decays like e^{-lambda} at small noise and like e^{lambda/2} at large noise. Starting at x_{lambda_max} = x
and solving down to lambda_min,

    log p_{t(lambda_max)}(x) = log p_{t(lambda_min)}(x_{lambda_min}) - int_{lambda_max}^{lambda_min} g d lambda,

with the base log p_{t(lambda_min)} **exact** (a callable, e.g. the mixture's `liyan_log_prob`), so there is no
N(0, I) prior approximation; t(lambda_max) = sigmoid(-30) ~ 1e-13 makes log p_{t(lambda_max)} = log p_0 to ~1e-12
for data with a density. The divergence is either exact (n vector-Jacobian products per step, autograd) or the
Hutchinson-Skilling estimate eps^T (ds/dx) eps with Rademacher probes eps fixed along the path (unbiased: the path
x_lambda does not depend on eps). Cost is counted in score evaluations: one forward per ODE function evaluation
plus one per vector-Jacobian product.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from torchdiffeq import odeint

from lowdim.density import formula as D
from lowdim import schedules as S
from lowdim.checks import DTYPE, check_int, check_range

__all__ = ["DIVERGENCES", "MAX_STEP", "FIRST_STEP", "LikelihoodEstimate", "score_divergence", "rademacher",
           "pf_ode_log_density", "gauss_legendre_panels", "rotated_score_matrix", "rotated_score", "rotated_score_gap",
           "linear_chain_covariance"]

DIVERGENCES = ("exact", "hutchinson")
MAX_STEP = 4.0  # largest dopri5 step in lambda
FIRST_STEP = 0.1  # first step in lambda (the automatic choice overshoots: the field is ~e^{-30} at the start)
Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclasses.dataclass
class LikelihoodEstimate:
    """log_prob: (N,); x_end: (N, n) the ODE state at lambda_min; nfe: ODE function evaluations (shared by the
    batch); num_evals: score evaluations per point, nfe * (1 + number of vector-Jacobian products per step);
    probe_log_probs: (K, N) Hutchinson only, the estimate of each probe alone along the shared path (log_prob is
    their mean); x_nodes: (J, N, n) the path at the requested log-SNR nodes, or None."""

    log_prob: torch.Tensor
    x_end: torch.Tensor
    nfe: int
    num_evals: int
    probe_log_probs: torch.Tensor | None = None
    x_nodes: torch.Tensor | None = None

    @property
    def stderr(self) -> torch.Tensor | None:
        """(N,) standard error of log_prob over the K >= 2 probes (Hutchinson's noise, not the solver's error)."""
        if self.probe_log_probs is None or len(self.probe_log_probs) < 2:
            return None
        return self.probe_log_probs.std(dim=0) / math.sqrt(len(self.probe_log_probs))


def score_divergence(score: Score, x: torch.Tensor, t: torch.Tensor, probes: torch.Tensor | None = None,
                     per_probe: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """s_t(x) and its divergence: exact (probes None; n autograd passes) or Hutchinson, eps^T (ds/dx) eps averaged
    over the probes, or one per probe when per_probe.  x: (N, n); probes: (K, N, n) or None
    ->  (s (N, n), div (N,), or (K, N) when per_probe)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        s = score(x, t)
        if probes is None:
            cols = [torch.autograd.grad(s[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1])]
            div = torch.stack(cols, dim=1).sum(dim=1)
        else:
            div = torch.stack([(torch.autograd.grad((s * eps).sum(), x, retain_graph=True)[0] * eps).sum(dim=1)
                               for eps in probes])  # (K, N): eps^T ds/dx eps, per row
            if not per_probe:
                div = div.mean(dim=0)
    return s.detach(), div.detach()


def rademacher(num_probes: int, shape: tuple[int, int], seed: int) -> torch.Tensor:
    """Rademacher probes (+-1 with probability 1/2).  ->  (num_probes, N, n)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (num_probes, *shape), generator=gen).to(DTYPE) * 2.0 - 1.0


def pf_ode_log_density(x, score: Score, base_log_prob: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       divergence: str = "exact", num_probes: int = 1, seed: int = 0, rtol: float = 1e-8,
                       atol: float = 1e-10, logsnr_min: float = -25.0, logsnr_max: float = 30.0,
                       logsnr_nodes=None) -> LikelihoodEstimate:
    """log p_0(x) by the PF-ODE in log-SNR time (module docstring), for all rows of x in one batched solve.

    x: (N, n); score(x_t (N, n), t 0-dim) -> (N, n) in Li-Yan time; base_log_prob(x (N, n), t 0-dim) -> (N,) the
    exact log p_t at t = sigmoid(-logsnr_min). divergence "exact" or "hutchinson" (`num_probes` Rademacher probes
    per point, seeded). rtol, atol: tolerances of torchdiffeq's adaptive dopri5 (error control over the whole batch),
    with steps of at most 4 in lambda, so trial stages past the end stay at lambda >= logsnr_min - 4 >= -34, where
    t = sigmoid(-lambda) < 1 in float64. Hutchinson keeps one accumulated integral per probe (probe_log_probs, their
    spread gives a standard error). logsnr_nodes: (J,) log-SNRs in (logsnr_min, logsnr_max) at which the path is
    also returned (x_nodes, in the order given; dense output of the same solve, which they do not change).
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
    check_int("num_probes", num_probes, low=1)
    check_range("rtol", rtol, low=0.0, low_open=True)
    check_range("atol", atol, low=0.0, low_open=True)
    check_range("logsnr_min", logsnr_min, low=-30.0)
    check_range("logsnr_max", logsnr_max, low=logsnr_min, low_open=True)
    x = torch.as_tensor(x, dtype=DTYPE)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, n), got {tuple(x.shape)}")
    N, n = x.shape
    probes = rademacher(num_probes, (N, n), seed) if divergence == "hutchinson" else None
    nodes = torch.zeros(0, dtype=DTYPE) if logsnr_nodes is None else torch.as_tensor(logsnr_nodes, dtype=DTYPE).reshape(-1)
    check_range("logsnr_nodes", nodes, low=logsnr_min, high=logsnr_max, low_open=True, high_open=True)
    order = torch.argsort(nodes, descending=True)  # the solve runs from logsnr_max down
    nfe = 0

    def rhs(lam, state):  # d/d lambda of (x, accumulated g per probe)
        nonlocal nfe
        nfe += 1
        x_lam = state[0]
        t = S.liyan_t_from_logsnr(lam)
        s, div = score_divergence(score, x_lam, t, probes, per_probe=True)
        return t * (x_lam + s) / 2.0, -t * (n + div) / 2.0  # dx/d lambda; g = d log p / d lambda, (K, N)

    span = torch.cat([torch.tensor([logsnr_max], dtype=DTYPE), nodes[order], torch.tensor([logsnr_min], dtype=DTYPE)])
    g0 = torch.zeros(1 if probes is None else num_probes, N, dtype=DTYPE)
    xs, gs = odeint(rhs, (x, g0), span, rtol=rtol, atol=atol, method="dopri5",
                    options={"max_step": MAX_STEP, "first_step": FIRST_STEP})
    x_end, integral = xs[-1], gs[-1]
    t_end = S.liyan_t_from_logsnr(torch.tensor(logsnr_min, dtype=DTYPE))
    per_probe = (base_log_prob(x_end, t_end) - integral).detach()  # (K, N)
    x_nodes = None
    if logsnr_nodes is not None:
        x_nodes = torch.empty(len(nodes), N, n, dtype=DTYPE)
        x_nodes[order] = xs[1:-1].detach()
    per_step = 1 + (n if divergence == "exact" else num_probes)
    return LikelihoodEstimate(per_probe.mean(dim=0), x_end.detach(), nfe, nfe * per_step,
                              per_probe if probes is not None else None, x_nodes)


def gauss_legendre_panels(low: float, high: float, panels: int, nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss-Legendre rule on [low, high]: `panels` equal panels of `nodes` points each (exact for
    polynomials of degree 2 nodes - 1 on every panel).  ->  (points (panels * nodes,) increasing, weights)."""
    check_range("low", low)
    check_range("high", high, low=low, low_open=True)
    check_int("panels", panels, low=1)
    check_int("nodes", nodes, low=1)
    g, w = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(low, high, panels + 1)
    half, mid = np.diff(edges) / 2, (edges[1:] + edges[:-1]) / 2
    points = (half[:, None] * g[None] + mid[:, None]).reshape(-1)
    return torch.as_tensor(points, dtype=DTYPE), torch.as_tensor((half[:, None] * w[None]).reshape(-1), dtype=DTYPE)


# ----------------------------------------------------------------------------------------------------------
# Linear score fields: the exact law of the DDPM sampler (E5, paper 2 Sec. 4.1, reconstructed).
#
# With a linear score s_k(x) = -A_k x the reverse chain of `lowdim.density.ddpm_elbo` (sigma_k^2 = beta_k),
# x_T ~ N(0, I), x_{k-1} = M_k x_k + sqrt(beta_k) xi, M_k = (I - beta_k A_k)/sqrt(alpha_k), down to the decoder
# x_0 = M_1 x_1 + sqrt(beta_1) xi, outputs exactly N(0, C_0) with C_{k-1} = M_k C_k M_k^T + beta_k I, C_T = I.


def rotated_score_matrix(variance: float, theta: float, t) -> torch.Tensor:
    """A_t of the field s_t(x) = -A_t x = (-x + theta sqrt(1-t) J x) / V_t for data N(0, variance I_2), V_t =
    (1-t) variance + t, J the 90-degree rotation. theta = 0 is the exact score; theta != 0 adds a divergence-free,
    non-conservative part (A_t is not symmetric) that leaves every isotropic Gaussian law invariant.  ->  (2, 2)."""
    check_range("variance", variance, low=0.0, low_open=True)
    check_range("theta", theta)
    t = torch.as_tensor(t, dtype=DTYPE)
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=DTYPE)
    return (torch.eye(2, dtype=DTYPE) - theta * torch.sqrt(1.0 - t) * rot) / ((1.0 - t) * variance + t)


def rotated_score(variance: float, theta: float) -> Score:
    """The field of `rotated_score_matrix` as a predictor fn(x (N, 2), t) -> (N, 2)."""
    return lambda x, t: -x @ rotated_score_matrix(variance, theta, t).T


def rotated_score_gap(variance: float, theta: float, dim: int = 2) -> float:
    """-E_p[continuous ELBO] - H(p) for the rotated field: 1/2 int_0^1 E||theta sqrt(1-t) J X_t / V_t||^2 /(1-t) dt
    = (theta^2 n / 2) int_0^1 dt / V_t = (theta^2 n / 2) log(1/variance) / (1 - variance) (the variance-1 limit is
    theta^2 n / 2)."""
    check_range("variance", variance, low=0.0, low_open=True)
    ratio = 1.0 if variance == 1.0 else math.log(1.0 / variance) / (1.0 - variance)
    return 0.5 * theta**2 * dim * ratio


def linear_chain_covariance(alpha_bars, score_matrix: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Covariance C_0 of the output of the DDPM chain (sigma_k^2 = beta_k) driven by s_k(x) = -A_k x, A_k =
    score_matrix(t_k), t_k = 1 - alpha_bar_k; the same steps as `lowdim.density.ddpm_elbo` (alpha_bar < 1e-13
    dropped).  alpha_bars: (T,)  ->  (n, n)."""
    ab = D.usable_alpha_bars(alpha_bars)
    betas = S.betas_from_alpha_bars(ab)
    n = score_matrix(1.0 - ab[0]).shape[0]
    eye = torch.eye(n, dtype=DTYPE)
    C = eye.clone()
    for k in reversed(range(len(ab))):
        M = (eye - betas[k] * score_matrix(1.0 - ab[k])) / torch.sqrt(1.0 - betas[k])
        C = M @ C @ M.T + betas[k] * eye
    return C
