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

`tilted_quadrature` gives the "tilted" law p(x|c) p(c|x)^w / Z on a 1-D or 2-D grid, for comparison.
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, as_points, check_range
from lowdim.guidance.labelled import LabelledMixture
from lowdim.guidance.samplers import sample_ode

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
# The tilted law p(x|c) p(c|x)^w by quadrature, and the ODE by quadrature over its initial point (1-D).


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


def ode_quadrature(model: LabelledMixture, c: int, w, sigmas, num_nodes: int = 4001, width: float = 16.0,
                   method: str = "heun") -> dict:
    """1-D probability-flow ODE by deterministic quadrature over its initial point (no Monte Carlo noise).

    The ODE is a deterministic map of Y_{sigma_max} ~ p_{sigma_max}(.|c); integrating over a grid of initial points
    with weights p_{sigma_max}(y|c) dy gives E[f(Y_0)] up to quadrature and step error. w: scalar or (W,).
    The grid spans `width` standard deviations (of p_{sigma_max}) around the class's component means: E[1/p(c|Y)]
    is heavy-tailed, and 8 missed a sizeable part of it on the book's 1-D mixtures (16 reaches 1/p(c) at w = 0).
    -> dict(x (W, M) final points, weights (M,) summing to 1, p (W, M) = p(c | x)).
    """
    if model.dim != 1:
        raise ValueError(f"ode_quadrature needs a 1-D model, got n = {model.dim}")
    sigmas = torch.as_tensor(sigmas, dtype=DTYPE)
    smax = float(sigmas[0])
    mix = model.mixture
    idx = (model.component_class == c).nonzero().squeeze(1)
    sd = torch.sqrt(mix.covariances[idx, 0, 0] + smax**2)
    lo = float((mix.means[idx, 0] - width * sd).min())
    hi = float((mix.means[idx, 0] + width * sd).max())
    y = torch.linspace(lo, hi, num_nodes, dtype=DTYPE)[:, None]
    logw = model.log_prob(y, smax, c)
    weights = torch.softmax(logw, 0)
    w = torch.atleast_1d(torch.as_tensor(w, dtype=DTYPE))
    W, M = w.numel(), num_nodes
    x0 = y.repeat(W, 1)
    guide = GuidedScore(model, c, w.repeat_interleave(M), "cfg")
    x = sample_ode(guide, x0, sigmas, method=method)
    sfin = float(sigmas[-1])
    p = torch.exp(model.log_class_posterior(x, sfin)[:, c])
    return dict(x=x[:, 0].reshape(W, M), weights=weights, p=p.reshape(W, M))
