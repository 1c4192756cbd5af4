"""Noise conventions and the noise-level grids the papers use.

Two conventions for the forward (noising) process:

* VE / EDM-sigma (paper 1, Sec. 2 with s_t = 1):  x_t = x_0 + sigma * eps
* VP / DDPM:                                      x_t = sqrt(alpha_bar) * x_0 + sqrt(1 - alpha_bar) * eps

They describe the same family of posteriors: dividing a VP state by sqrt(alpha_bar) gives a VE state with
sigma = sqrt((1 - alpha_bar) / alpha_bar), equivalently alpha_bar = 1 / (1 + sigma^2) (EDM, Karras et al.
2022, Table 1). Every exact quantity in `lowdim` is written in the VE convention; use the conversions here
to move to and from VP.

Grids:
* DDPM linear-beta (Ho et al. 2020): beta from 1e-4 to 0.02 over T steps; step t (0-indexed) has
  alpha_bar_t = prod_{s <= t} (1 - beta_s). Paper 1 uses T = 500 (MoLRG, Table 7) and T = 1000 (DiT, Table 8).
* EDM / Karras (Karras et al. 2022, eq. 5): sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) -
  sigma_max^(1/rho)))^rho, N = 18, sigma in [0.002, 80], rho = 7. Its 9 smallest levels are paper 1's grid
  {0.002, 0.008, 0.023, 0.060, 0.140, 0.296, 0.585, 1.088, 1.923}.
"""

from __future__ import annotations

import torch

from lowdim._checks import as_sigma, check_range

DTYPE = torch.float64


# ----------------------------------------------------------------------------------------------------------
# VE <-> VP conversions (EDM, Table 1: s(t) = 1/sqrt(1 + sigma^2)).


def alpha_bar_from_sigma(sigma) -> torch.Tensor:
    """alpha_bar = 1 / (1 + sigma^2).  sigma: any shape, > 0  ->  same shape."""
    sigma = as_sigma(sigma)
    return 1.0 / (1.0 + sigma**2)


def sigma_from_alpha_bar(alpha_bar) -> torch.Tensor:
    """sigma = sqrt((1 - alpha_bar) / alpha_bar).  alpha_bar: any shape, in (0, 1)  ->  same shape."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=DTYPE)
    check_range("alpha_bar", alpha_bar, low=0.0, high=1.0, low_open=True, high_open=True)
    return torch.sqrt((1.0 - alpha_bar) / alpha_bar)


def vp_to_ve(x_vp: torch.Tensor, alpha_bar) -> tuple[torch.Tensor, torch.Tensor]:
    """Map a VP state to the VE state with the same posterior.

    x_vp: (N, n); alpha_bar: scalar or (N,)  ->  (x_ve (N, n), sigma (same shape as alpha_bar)),
    x_ve = x_vp / sqrt(alpha_bar).
    """
    sigma = sigma_from_alpha_bar(alpha_bar)
    scale = torch.sqrt(torch.as_tensor(alpha_bar, dtype=DTYPE))
    return x_vp / _per_row(scale, x_vp), sigma


def ve_to_vp(x_ve: torch.Tensor, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `vp_to_ve`: x_vp = x_ve / sqrt(1 + sigma^2).  ->  (x_vp (N, n), alpha_bar)."""
    alpha_bar = alpha_bar_from_sigma(sigma)
    return x_ve * _per_row(torch.sqrt(alpha_bar), x_ve), alpha_bar


def vp_score_from_ve(score_ve: torch.Tensor, alpha_bar) -> torch.Tensor:
    """Score in VP coordinates from the VE score at x_ve = x_vp / sqrt(alpha_bar).

    grad_{x_vp} log p_vp(x_vp) = grad_{x_ve} log p_ve(x_ve) / sqrt(alpha_bar)   (change of variables).
    """
    check_range("alpha_bar", alpha_bar, low=0.0, high=1.0, low_open=True, high_open=True)
    scale = torch.sqrt(torch.as_tensor(alpha_bar, dtype=DTYPE))
    return score_ve / _per_row(scale, score_ve)


def _per_row(scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar or (N,) scale against x of shape (N, n)."""
    if scale.ndim == 0:
        return scale
    if scale.shape != x.shape[:1]:
        raise ValueError(f"sigma / alpha_bar must be a scalar or have shape ({x.shape[0]},) (one level per point), "
                         f"got {tuple(scale.shape)}")
    return scale[:, None]


# ----------------------------------------------------------------------------------------------------------
# DDPM linear-beta schedule (Ho et al. 2020, Sec. 4).


def ddpm_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Linear beta grid.  ->  (num_steps,) float64."""
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    check_range("beta_start", beta_start, low=0.0, high=1.0, low_open=True, high_open=True)
    check_range("beta_end", beta_end, low=beta_start, high=1.0, high_open=True)
    return torch.linspace(beta_start, beta_end, num_steps, dtype=DTYPE)


def ddpm_alpha_bars(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """alpha_bar_t = prod_{s=0}^{t} (1 - beta_s), t = 0 .. num_steps-1 (0-indexed).  ->  (num_steps,)."""
    return torch.cumprod(1.0 - ddpm_betas(num_steps, beta_start, beta_end), dim=0)


def ddpm_sigmas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """VE-equivalent noise level of each DDPM step, sigma_t = sqrt((1 - alpha_bar_t)/alpha_bar_t).  ->  (num_steps,)."""
    return sigma_from_alpha_bar(ddpm_alpha_bars(num_steps, beta_start, beta_end))


def ddpm_sigma_at(steps, num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """sigma at 0-indexed DDPM steps (list or tensor of ints in [0, num_steps)).  ->  (len(steps),)."""
    steps = torch.as_tensor(steps)
    if steps.dtype.is_floating_point or steps.numel() == 0:
        raise ValueError(f"steps must be a non-empty list of integers, got {steps.tolist()!r}")
    if steps.min() < 0 or steps.max() >= num_steps:
        raise ValueError(f"steps must lie in [0, {num_steps - 1}] for num_steps={num_steps}, got {steps.tolist()}")
    return ddpm_sigmas(num_steps, beta_start, beta_end)[steps]


# ----------------------------------------------------------------------------------------------------------
# EDM / Karras schedule (Karras et al. 2022, eq. 5).


def karras_sigmas(num_steps: int = 18, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, i = 0..N-1.

    -> (num_steps,) float64, decreasing from sigma_max to sigma_min (sampling order, as in EDM).
    """
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    check_range("sigma_min", sigma_min, low=0.0, low_open=True)
    check_range("sigma_max", sigma_max, low=sigma_min, low_open=True)
    check_range("rho", rho, low=0.0, low_open=True)
    i = torch.arange(num_steps, dtype=DTYPE)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + i / (num_steps - 1) * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # (s^(1/rho))^rho is off by an ulp; the ends are exact by definition
    return sigmas


def paper1_sigma_grid(num_levels: int = 9) -> torch.Tensor:
    """The `num_levels` smallest EDM-18 levels in increasing order (paper 1, Fig. 1a, Fig. 5, Tables 4-6, 9)."""
    if not isinstance(num_levels, int) or not 1 <= num_levels <= 18:
        raise ValueError(f"num_levels must be an integer in [1, 18], got {num_levels!r}")
    return karras_sigmas().flip(0)[:num_levels]
