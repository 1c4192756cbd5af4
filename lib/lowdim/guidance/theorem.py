"""Guided sampling on exact labelled Gaussian mixtures (paper 3, Li & Jiao, arXiv 2505.01382 v1).

A *labelled* mixture groups the components of a `GaussianMixture` into classes c = 0..C-1:

    p(x | c) = sum_{k in c} pi_k N(mu_k, Sigma_k) / p(c),   p(c) = sum_{k in c} pi_k.

In the VE convention (x_sigma = x_0 + sigma eps) every quantity is exact: log p_sigma(c | x), the conditional score
s_sigma(x | c), the unconditional score s_sigma(x). The guided scores (the reference's §1, "Guidance") are

    classifier guidance   s_sigma(x | c) + w grad log p_sigma(c | x)        (Dhariwal & Nichol 2021, eq. 10 form)
    classifier-free (CFG) (1 + w) s_sigma(x | c) - w s_sigma(x)              (Ho & Salimans 2022, eq. 6)

and they are identical with exact scores by Bayes' rule, grad log p_sigma(c|x) = s_sigma(x|c) - s_sigma(x). Here the
classifier gradient is computed by autograd of log p_sigma(c | x), independently of the scores, so the identity is a
real test.

Samplers follow k-diffusion's `sampling.py` (Crowson) with one shared signature
`sampler(score_fn, x, sigmas, generator=None, callback=None, progress=False)`, where `score_fn(x, sigma)` returns the
(guided) score at one noise level for all points, `sigmas` is a decreasing grid (it may end with 0) and `x` starts at
sigmas[0]:

* `sample_ancestral`: reverse SDE, DDPM ancestral step in VE form (k-diffusion `sample_euler_ancestral`, eta = 1;
  Ho et al. 2020, eq. 6-7 posterior q(x_{t-1} | x_t, x_0) at x_0 = the guided denoiser).
* `sample_ode`: probability-flow ODE dx/dsigma = -sigma s_sigma(x) (Karras et al. 2022, eq. 4 with sigma(t) = t),
  Euler (= DDIM, Song et al. 2021) or Heun (Karras et al. 2022, Algorithm 1 without churn).

w may be a scalar or one value per point, so one call runs a whole sweep over w. `martingale_callback` accumulates
the right-hand side of the identity behind paper 3's theorem (the reference's §3.2, *reconstructed* there and
verified by simulation; see the book chapter):

    p(c) E[1 / p(c | Y_0^w)] = 1 - w int E[R_sigma(Y) |grad log R_sigma(Y)|^2] d(sigma^2),   R_sigma = p(c)/p_sigma(c|x).

`tilted_quadrature` gives the "tilted" law p(x|c) p(c|x)^w / Z on a 1-D or 2-D grid, for comparison, and
`ode_quadrature` the law of the 1-D guided probability-flow ODE (adaptive quadrature with an error estimate).
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, as_points, check_int, check_range
from lowdim.guidance.labelled import LabelledMixture

__all__ = ["METHODS", "GuidedScore", "martingale_callback", "tilted_quadrature", "ode_quadrature"]

__all__ = ["METHODS", "GuidedScore", "martingale_callback", "tilted_quadrature", "ode_quadrature"]


# ----------------------------------------------------------------------------------------------------------
# Guided scores.

METHODS = ("cfg", "classifier")


class GuidedScore:
    """score_fn(x, sigma) for class c and guidance strength w (scalar or one per point).

    method "cfg": (1 + w) s(x|c) - w s(x) (Ho & Salimans 2022, eq. 6 with their w);
    method "classifier": s(x|c) + w grad log p(c|x), the gradient by autograd (Dhariwal & Nichol 2021, Sec. 4).
    After each call `last` holds (s_cond, s_uncond, log p_sigma(c|x)) at the evaluated points.
    """

    def __init__(self, model: LabelledMixture, c, w, method: str = "cfg"):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        w = torch.as_tensor(w, dtype=DTYPE)
        check_range("w", w)
        if w.ndim > 1:
            raise ValueError(f"w must be a scalar or have shape (N,), got {tuple(w.shape)}")
        self.model, self.c, self.w, self.method = model, c, w, method
        self.last = None

    def _w(self, N: int) -> torch.Tensor:
        if self.w.ndim == 0:
            return self.w
        if self.w.shape != (N,):
            raise ValueError(f"w must be a scalar or have shape ({N},), got {tuple(self.w.shape)}")
        return self.w[:, None]

    def __call__(self, x, sigma) -> torch.Tensor:
        s_cond, s_uncond, log_post = self.model.scores(x, sigma, self.c)
        self.last = (s_cond, s_uncond, log_post)
        w = self._w(x.shape[0])
        if self.method == "cfg":
            return (1.0 + w) * s_cond - w * s_uncond
        return s_cond + w * self.model.classifier_gradient(x, sigma, self.c)


class martingale_callback:  # noqa: N801 (used like a function: callback=martingale_callback(guide))
    """Accumulate, per path, w int R |grad log R|^2 d(sigma^2) along a guided run (trapezoid rule in sigma^2).

    Reads `guide.last` (s_cond, s_uncond, log p(c|x)) set by the sampler's score call at the same state, so it costs
    no extra model evaluation. After sampling call `finish(x_final, sigma_final)`; then `rhs` (N,) is the per-path
    1 - w int ..., whose mean estimates p(c) E[1/p(c | Y_0)]. R = p(c) / p_sigma(c | x) and grad log R = s - s(.|c).
    Use it with `sample_ancestral` (for the ODE the identity does not hold: there is no Ito term).
    """

    def __init__(self, guide: GuidedScore):
        self.guide = guide
        self.integral = None
        self._prev = None  # (integrand, sigma^2) at the previous level

    def _integrand(self, log_post, s_cond, s_uncond):
        c = self.guide.model.labels(self.guide.c, log_post.shape[0])
        R = self.guide.model.class_prior[c] * torch.exp(-log_post)
        return R * ((s_uncond - s_cond) ** 2).sum(1)

    def _add(self, f, s2):
        if self._prev is None:
            self.integral = torch.zeros_like(f)
        else:
            f0, s20 = self._prev
            self.integral = self.integral + 0.5 * (f0 + f) * (s20 - s2)
        self._prev = (f, s2)

    def __call__(self, info: dict) -> None:
        s_cond, s_uncond, log_post = self.guide.last
        self._add(self._integrand(log_post, s_cond, s_uncond), info["sigma"] ** 2)

    def finish(self, x_final, sigma_final: float) -> torch.Tensor:
        s_cond, s_uncond, log_post = self.guide.model.scores(x_final, sigma_final, self.guide.c)
        self._add(self._integrand(log_post, s_cond, s_uncond), float(sigma_final) ** 2)
        w = self.guide.w
        self.rhs = 1.0 - w * self.integral
        return self.rhs


# ----------------------------------------------------------------------------------------------------------
# The tilted law p(x|c) p(c|x)^w by quadrature, and the law of the 1-D ODE by quadrature in its output space.


def tilted_quadrature(model: LabelledMixture, c: int, w, grid: torch.Tensor) -> dict:
    """Tilted law p^(w)(x|c) ∝ p(x|c) p(c|x)^w on a regular grid (M, n) with n in {1, 2}.

    w: scalar or (W,). -> dict(weights (W, M) summing to 1 per row, p (M,) = p(c|x) on the grid); an expectation of
    f is weights @ f(grid). The target of "guidance as sampling the tilted law" (Chidambaram et al. 2024 show that
    guided diffusion does not sample it).
    """
    grid = as_points(grid, model.dim, name="grid")
    if model.dim > 2:
        raise ValueError(f"tilted_quadrature is for n <= 2 (grid quadrature), got n = {model.dim}")
    w = torch.atleast_1d(torch.as_tensor(w, dtype=DTYPE))
    check_range("w", w)
    log_pc = model.log_class_posterior(grid, 0.0)[:, c]
    log_px = model.log_prob(grid, 0.0, c)
    logits = log_px[None, :] + w[:, None] * log_pc[None, :]
    return dict(weights=torch.softmax(logits, dim=1), p=torch.exp(log_pc))


def _score_slope_1d(means, variances, log_weights, x, sigma):
    """Score s(x) and its slope ds/dx of a 1-D Gaussian mixture at noise level sigma (log-sum-exp weights).

    means, variances, log_weights: (K,); x: (M,).  ->  (s (M,), ds (M,)); with a_k = -(x - m_k)/v_k and
    responsibilities r_k: s = sum r_k a_k and ds = -sum r_k / v_k + sum r_k a_k^2 - s^2.
    """
    v = variances + sigma**2
    a = -(x[:, None] - means[None, :]) / v[None, :]
    logr = log_weights[None, :] - 0.5 * torch.log(v)[None, :] - 0.5 * (x[:, None] - means[None, :]) ** 2 / v[None, :]
    r = torch.softmax(logr, dim=1)
    score = (r * a).sum(1)
    return score, -(r / v[None, :]).sum(1) + (r * a**2).sum(1) - score**2


def _inverse_flow(model: LabelledMixture, c: int, w: torch.Tensor, x: torch.Tensor, sigmas: torch.Tensor):
    """Run the guided PF-ODE dx/dsigma = -sigma s_w(x) *backwards* (sigma increasing, RK4 on the reversed grid)
    from output points x (M,) for every w (W,), with the log-Jacobian d log(dx_sigma/dx_0)/dsigma = -sigma ds_w/dx.

    s_w = (1 + w) s(x | c) - w s(x) (CFG). -> (y (W, M) initial points at sigmas[0], log dy/dx (W, M)).
    """
    mix = model.mixture
    means, variances = mix.means[:, 0], mix.covariances[:, 0, 0]
    logw = torch.log(mix.weights)
    in_c = model.component_class == c
    logw_c = logw.masked_fill(~in_c, -float("inf"))
    W, M = w.numel(), x.numel()
    ww = w.repeat_interleave(M)

    def field(z, sigma):
        s_c, ds_c = _score_slope_1d(means, variances, logw_c, z, sigma)
        s_u, ds_u = _score_slope_1d(means, variances, logw, z, sigma)
        return -sigma * ((1 + ww) * s_c - ww * s_u), -sigma * ((1 + ww) * ds_c - ww * ds_u)

    z = x.repeat(W)
    logjac = torch.zeros_like(z)
    up = sigmas.flip(0)
    for i in range(len(up) - 1):  # classic Runge-Kutta 4 (fourth order in the step) on (z, log-Jacobian)
        s0, s1 = float(up[i]), float(up[i + 1])
        h, sm = s1 - s0, 0.5 * (s0 + s1)
        f1, g1 = field(z, s0)
        f2, g2 = field(z + 0.5 * h * f1, sm)
        f3, g3 = field(z + 0.5 * h * f2, sm)
        f4, g4 = field(z + h * f3, s1)
        z = z + h / 6 * (f1 + 2 * f2 + 2 * f3 + f4)
        logjac = logjac + h / 6 * (g1 + 2 * g2 + 2 * g3 + g4)
    return z.reshape(W, M), logjac.reshape(W, M)


def ode_quadrature(model: LabelledMixture, c: int, w, sigmas, rtol: float = 1e-5, width: float = 10.0,
                   init_nodes: int = 513, max_nodes: int = 400_001) -> dict:
    """Law of the 1-D guided probability-flow ODE by adaptive quadrature in the *output* space (no Monte Carlo).

    The ODE maps Y_{sigma_max} ~ p_{sigma_max}(. | c) monotonically onto Y_0 = Phi_w(Y_{sigma_max}), so Y_0 has the
    density q_w(x) = p_{sigma_max}(Phi_w^{-1}(x) | c) d Phi_w^{-1}/dx. Both factors come from running the ODE
    backwards from x with its variational equation (`_inverse_flow`; classic RK4 on the grid `sigmas`, which may end
    with 0). Integrating over the initial point instead fails: where Phi_w is steep (class c unlikely, 1/p(c | x) large)
    a tiny interval of initial points covers a wide output range, so no grid of initial points converges. In the
    output space the integrand q_w(x)/p(c | x) is smooth.

    The output grid spans `width` standard deviations (at sigmas[-1]) around every component mean, and is refined
    adaptively in panels (a, m, b): the panels with the largest |T_ab - T_am - T_mb| (trapezoid, coarse minus fine),
    relative to the total and maximised over w and over the two integrands q_w and q_w / p(c|x), are split until the
    sum of that indicator is below `rtol`. `inv_p_error` is the sum of |coarse - fine| per w, a conservative
    estimate of the quadrature error (the fine trapezoid error is about a third of it); `mass` (W,) is
    int q_w dx, which is 1 up to the grid range and the ODE's step error. The step error of the ODE itself (fourth
    order in the step) is not included.

    -> dict(x (M,) output nodes, weights (W, M) = q_w dx normalised to sum 1 per w, p (M,) = p(c | x) at
            sigmas[-1], inv_p (W,) = E[1/p(c | Y_0)], inv_p_error (W,), mass (W,), y (W, M) = Phi_w^{-1}(x),
            converged bool).
    """
    if model.dim != 1:
        raise ValueError(f"ode_quadrature needs a 1-D model, got n = {model.dim}")
    check_range("rtol", rtol, low=0.0, low_open=True)
    check_range("width", width, low=0.0, low_open=True)
    if check_int("init_nodes", init_nodes, low=3) % 2 == 0:
        raise ValueError(f"init_nodes must be an odd integer >= 3, got {init_nodes!r}")
    sigmas = torch.as_tensor(sigmas, dtype=DTYPE)
    if sigmas.ndim != 1 or sigmas.numel() < 2 or not (sigmas[1:] < sigmas[:-1]).all():
        raise ValueError("sigmas must be a strictly decreasing 1-D grid with at least 2 levels")
    check_range("sigmas", sigmas, low=0.0)  # it may end with 0: the field -sigma s vanishes there
    smax, sfin = float(sigmas[0]), float(sigmas[-1])
    mix = model.mixture
    sd = torch.sqrt(mix.covariances[:, 0, 0] + sfin**2)
    lo = float((mix.means[:, 0] - width * sd).min())
    hi = float((mix.means[:, 0] + width * sd).max())
    w = torch.atleast_1d(torch.as_tensor(w, dtype=DTYPE))
    check_range("w", w)

    def evaluate(x):
        y, logjac = _inverse_flow(model, c, w, x, sigmas)
        log_q = model.log_prob(y.reshape(-1, 1), smax, c).reshape(y.shape) + logjac  # log q_w(x)
        return y, log_q

    x = torch.linspace(lo, hi, init_nodes, dtype=DTYPE)
    y, log_q = evaluate(x)
    log_post = model.log_class_posterior(x[:, None], sfin)[:, c]
    converged = False
    while True:
        integrands = (torch.exp(log_q), torch.exp(log_q - log_post[None, :]))  # q_w and q_w / p(c | x)
        xa, xm, xb = x[0:-1:2], x[1::2], x[2::2]
        indicator = torch.zeros(xm.numel(), dtype=DTYPE)
        parts = []
        for g in integrands:
            ga, gm, gb = g[:, 0:-1:2], g[:, 1::2], g[:, 2::2]
            coarse = 0.5 * (ga + gb) * (xb - xa)
            fine = 0.5 * (ga + gm) * (xm - xa) + 0.5 * (gm + gb) * (xb - xm)
            indicator = torch.maximum(indicator, ((coarse - fine).abs() / fine.sum(1, keepdim=True)).max(0).values)
            parts.append((coarse, fine))
        if float(indicator.sum()) <= rtol:
            converged = True
            break
        order = torch.argsort(indicator, descending=True)
        rest = indicator[order].flip(0).cumsum(0).flip(0)  # rest[j] = sum of indicator[order[j:]]
        split = torch.zeros_like(indicator, dtype=torch.bool)
        split[order[rest > rtol / 2]] = True
        new_x = torch.cat([0.5 * (xa[split] + xm[split]), 0.5 * (xm[split] + xb[split])])
        if x.numel() + new_x.numel() > max_nodes:
            break
        new_y, new_lq = evaluate(new_x)
        x, order = torch.sort(torch.cat([x, new_x]))
        y, log_q = torch.cat([y, new_y], 1)[:, order], torch.cat([log_q, new_lq], 1)[:, order]
        log_post = model.log_class_posterior(x[:, None], sfin)[:, c]

    dx = torch.diff(x)
    trap = 0.5 * (torch.cat([dx, dx.new_zeros(1)]) + torch.cat([dx.new_zeros(1), dx]))
    q = torch.exp(log_q) * trap[None, :]
    mass = q.sum(1)
    weights = q / mass[:, None]
    p = torch.exp(log_post)
    inv_p = (q / p[None, :]).sum(1) / mass
    coarse, fine = parts[1]
    inv_p_error = (coarse - fine).abs().sum(1) / mass
    return dict(x=x, weights=weights, p=p, inv_p=inv_p, inv_p_error=inv_p_error, mass=mass, y=y,
                converged=converged)
