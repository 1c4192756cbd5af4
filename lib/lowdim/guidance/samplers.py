"""Samplers for guided scores on exact mixtures (paper 3), k-diffusion style.

One shared signature `sampler(score_fn, x, sigmas, generator=None, callback=None, progress=False)`, where
`score_fn(x, sigma)` returns the (guided) score at one noise level for all points, `sigmas` is a decreasing grid (it
may end with 0) and `x` starts at sigmas[0]:

* `sample_ancestral`: reverse SDE, DDPM ancestral step in VE form (k-diffusion `sample_euler_ancestral`, eta = 1;
  Ho et al. 2020, eq. 6-7 posterior q(x_{t-1} | x_t, x_0) at x_0 = the guided denoiser).
* `sample_ode`: probability-flow ODE dx/dsigma = -sigma s_sigma(x) (Karras et al. 2022, eq. 4 with sigma(t) = t),
  Euler (= DDIM, Song et al. 2021) or Heun (Karras et al. 2022, Algorithm 1 without churn).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm import tqdm  # plain tqdm: tqdm.auto warns in kernels without ipywidgets

from lowdim.checks import DTYPE, check_int, check_range
from lowdim.guidance.labelled import LabelledMixture

__all__ = ["initial_points", "sample_ancestral", "sample_ode", "coupled_noise"]


def initial_points(model: LabelledMixture, c: int, num_samples: int, sigma_max: float, seed: int) -> torch.Tensor:
    """Exact initialisation Y_{sigma_max} ~ p_{sigma_max}(. | c) (the theorem's setting; no prior mismatch)."""
    check_range("sigma_max", sigma_max, low=0.0, low_open=True)
    return model.sample_class(c, num_samples, seed, sigma=sigma_max)


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
    check_int("num_copies", num_copies, low=1)

    def noise(x):
        if x.shape[0] % num_copies:
            raise ValueError(f"x has {x.shape[0]} rows, not a multiple of num_copies={num_copies}")
        z = torch.randn(x.shape[0] // num_copies, x.shape[1], dtype=DTYPE, generator=generator)
        return z.repeat(num_copies, 1)

    return noise
