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

import math
from typing import Callable

import torch

from lowdim._checks import DTYPE, as_points, check_range
from lowdim.mixture import LOG_2PI, GaussianMixture

from tqdm import tqdm  # plain tqdm: tqdm.auto warns in kernels without ipywidgets


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


def initial_points(model: LabelledMixture, c: int, num_samples: int, sigma_max: float, seed: int) -> torch.Tensor:
    """Exact initialisation Y_{sigma_max} ~ p_{sigma_max}(. | c) (the theorem's setting; no prior mismatch)."""
    check_range("sigma_max", sigma_max, low=0.0, low_open=True)
    return model.sample_class(c, num_samples, seed, sigma=sigma_max)


def geometric_sigmas(num_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0,
                     append_zero: bool = True) -> torch.Tensor:
    """num_steps levels log-uniform from sigma_max down to sigma_min (uniform in log-SNR), then 0 if asked."""
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    check_range("sigma_min", sigma_min, low=0.0, low_open=True)
    check_range("sigma_max", sigma_max, low=sigma_min, low_open=True)
    s = torch.logspace(math.log10(sigma_max), math.log10(sigma_min), num_steps, dtype=DTYPE)
    s[0], s[-1] = sigma_max, sigma_min
    return torch.cat([s, s.new_zeros(1)]) if append_zero else s


# ----------------------------------------------------------------------------------------------------------
# Samplers (shared signature, k-diffusion style).


def _check_grid(x, sigmas) -> torch.Tensor:
    sigmas = torch.as_tensor(sigmas, dtype=DTYPE)
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError(f"sigmas must be a 1-D grid with at least 2 levels, got shape {tuple(sigmas.shape)}")
    check_range("sigmas", sigmas, low=0.0)
    if not (sigmas[1:] < sigmas[:-1]).all():
        raise ValueError("sigmas must be strictly decreasing (sampling order)")
    if not (sigmas[:-1] > 0).all():
        raise ValueError("sigmas may reach 0 only at the last level")
    if not torch.is_tensor(x) or x.ndim != 2:
        raise ValueError(f"x must be an (N, n) tensor, got {type(x).__name__}")
    return sigmas


def _steps(n: int, progress: bool):
    if progress:
        return tqdm(range(n), leave=False)
    return range(n)


def sample_ancestral(score_fn: Callable, x: torch.Tensor, sigmas, generator: torch.Generator | None = None,
                     callback: Callable | None = None, progress: bool = False,
                     noise_sampler: Callable | None = None) -> torch.Tensor:
    """Reverse SDE, DDPM ancestral sampling in the VE parameterisation (k-diffusion `sample_euler_ancestral`, eta=1).

    From sigma to sigma' < sigma: denoised D = x + sigma^2 s(x, sigma) (Tweedie), sigma_up^2 = sigma'^2 (sigma^2 -
    sigma'^2) / sigma^2, sigma_down^2 = sigma'^2 - sigma_up^2, x <- D + (sigma_down / sigma)(x - D) + sigma_up z.
    This is the DDPM posterior q(x_{t-1} | x_t, x_0 = D) (Ho et al. 2020, eq. 7) written in VE coordinates.
    callback(dict(i, x, sigma, sigma_next)) is called before each step with the state at sigma = sigmas[i].
    noise_sampler(x) -> standard normal noise shaped like x (default: torch.randn with `generator`); pass one that
    repeats the same draws across a batch of w values to couple the paths (k-diffusion's `noise_sampler`).
    """
    sigmas = _check_grid(x, sigmas)
    x = x.to(DTYPE).clone()
    for i in _steps(len(sigmas) - 1, progress):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        score = score_fn(x, s)
        if callback is not None:
            callback(dict(i=i, x=x, sigma=s, sigma_next=s_next))
        denoised = x + s**2 * score
        sigma_up = math.sqrt(max(s_next**2 * (s**2 - s_next**2) / s**2, 0.0))
        sigma_down = math.sqrt(max(s_next**2 - sigma_up**2, 0.0))
        x = denoised + (sigma_down / s) * (x - denoised)
        if sigma_up > 0:
            z = noise_sampler(x) if noise_sampler is not None else torch.randn(x.shape, dtype=DTYPE, generator=generator)
            x = x + sigma_up * z
    return x


def sample_ode(score_fn: Callable, x: torch.Tensor, sigmas, generator: torch.Generator | None = None,
               callback: Callable | None = None, progress: bool = False, method: str = "heun") -> torch.Tensor:
    """Probability-flow ODE dx/dsigma = -sigma s_sigma(x) (Karras et al. 2022, eq. 4 with sigma(t) = t, s(t) = 1).

    method "euler": one step x += (sigma' - sigma) d, d = -sigma s (= DDIM, eta = 0);
    method "heun": Karras et al. 2022, Algorithm 1 without churn (Euler step on the last interval when sigma' = 0).
    `generator` is unused (deterministic); it is accepted for the shared signature.
    """
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}")
    sigmas = _check_grid(x, sigmas)
    x = x.to(DTYPE).clone()
    for i in _steps(len(sigmas) - 1, progress):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = -s * score_fn(x, s)
        if callback is not None:
            callback(dict(i=i, x=x, sigma=s, sigma_next=s_next))
        x_new = x + (s_next - s) * d
        if method == "heun" and s_next > 0:
            d2 = -s_next * score_fn(x_new, s_next)
            x_new = x + (s_next - s) * 0.5 * (d + d2)
        x = x_new
    return x


def coupled_noise(num_copies: int, generator: torch.Generator) -> Callable:
    """noise_sampler that draws noise for the first len(x)/num_copies points and repeats it num_copies times, so
    that copies of the same initial points run with different w see the same Brownian increments."""
    if not isinstance(num_copies, int) or num_copies < 1:
        raise ValueError(f"num_copies must be a positive integer, got {num_copies!r}")

    def noise(x):
        if x.shape[0] % num_copies:
            raise ValueError(f"x has {x.shape[0]} rows, not a multiple of num_copies={num_copies}")
        z = torch.randn(x.shape[0] // num_copies, x.shape[1], dtype=DTYPE, generator=generator)
        return z.repeat(num_copies, 1)

    return noise


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
        c = self.guide.model._classes(self.guide.c, log_post.shape[0])
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
