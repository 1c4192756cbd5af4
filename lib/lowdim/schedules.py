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

import math

import torch

from lowdim.checks import DTYPE, as_sigma, check_int, check_range

__all__ = ["alpha_bar_from_sigma", "sigma_from_alpha_bar", "vp_to_ve", "ve_to_vp", "vp_score_from_ve",
           "ddpm_betas", "ddpm_alpha_bars", "ddpm_sigmas", "ddpm_sigma_at", "karras_sigmas", "paper1_sigma_grid",
           "liyan_sigma_from_t", "liyan_t_from_sigma", "liyan_t_from_alpha_bar", "liyan_alpha_bar_from_t",
           "liyan_t_from_logsnr", "liyan_logsnr_from_t", "liyan_to_ve", "ve_to_liyan", "liyan_log_prob",
           "liyan_score", "liyan_posterior_mean", "liyan_noise_prediction", "alpha_bars_from_betas",
           "betas_from_alpha_bars", "vp_linear_alpha_bars", "cosine_alpha_bars", "li_alpha_bars",
           "geometric_sigmas"]


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
    check_int("num_steps", num_steps, low=2)
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
    check_int("num_steps", num_steps, low=2)
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
    check_int("num_levels", num_levels, 1, 18)
    return karras_sigmas().flip(0)[:num_levels]


# ----------------------------------------------------------------------------------------------------------
# Li & Yan time (paper 2, arXiv 2408.16765, Sec. 2.2, SDE (2.4) as quoted in its ICLR 2025 reviews):
#
#     dX_t = -X_t / (2(1-t)) dt + dB_t / sqrt(1-t),   t in [0, 1),   so   X_t = sqrt(1-t) X_0 + sqrt(t) Z.
#
# This is the VP SDE with beta(t) = g(t)^2 = 1/(1-t); alpha_bar = 1 - t, so on the grid t_k = 1 - alpha_bar_k it
# is exactly the DDPM chain, and X_1 = Z exactly. The VE state with the same posterior is x = X_t / sqrt(1-t) at
# sigma^2 = t/(1-t); log-SNR lambda = log((1-t)/t) = -2 log sigma, t = sigmoid(-lambda). Exact mixture quantities
# in this time come from the VE core (`GaussianMixture` / `MoLRG`) by the change of variables:
#
#     grad log p_t(X_t) = score_VE(X_t/sqrt(1-t), sigma) / sqrt(1-t),
#     log p_t(X_t)      = log p_VE(X_t/sqrt(1-t), sigma) - (n/2) log(1-t),
#     E[X_0 | X_t]      = posterior_mean_VE(X_t/sqrt(1-t), sigma),
#     eps*(X_t) = E[Z | X_t] = -sqrt(t) grad log p_t(X_t).


def _liyan_t(t) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=DTYPE)
    check_range("t", t, low=0.0, high=1.0, low_open=True, high_open=True)
    return t


def liyan_sigma_from_t(t) -> torch.Tensor:
    """sigma = sqrt(t / (1 - t)).  t: any shape, in (0, 1)  ->  same shape."""
    t = _liyan_t(t)
    return torch.sqrt(t / (1.0 - t))


def liyan_t_from_sigma(sigma) -> torch.Tensor:
    """t = sigma^2 / (1 + sigma^2) = 1 - alpha_bar.  sigma > 0  ->  same shape."""
    sigma = as_sigma(sigma)
    return sigma**2 / (1.0 + sigma**2)


def liyan_t_from_alpha_bar(alpha_bar) -> torch.Tensor:
    """t = 1 - alpha_bar (the DDPM step with cumulative product alpha_bar).  alpha_bar in (0, 1)."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=DTYPE)
    check_range("alpha_bar", alpha_bar, low=0.0, high=1.0, low_open=True, high_open=True)
    return 1.0 - alpha_bar


def liyan_alpha_bar_from_t(t) -> torch.Tensor:
    """alpha_bar = 1 - t."""
    return 1.0 - _liyan_t(t)


def liyan_t_from_logsnr(logsnr) -> torch.Tensor:
    """t = sigmoid(-lambda) for lambda = log SNR = log((1-t)/t).  Any finite lambda."""
    logsnr = torch.as_tensor(logsnr, dtype=DTYPE)
    check_range("logsnr", logsnr)
    return torch.sigmoid(-logsnr)


def liyan_logsnr_from_t(t) -> torch.Tensor:
    """lambda = log((1-t)/t) = -2 log sigma."""
    t = _liyan_t(t)
    return torch.log1p(-t) - torch.log(t)


def liyan_to_ve(x: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
    """Li-Yan state X_t (N, n) at t (scalar or (N,))  ->  (VE state X_t / sqrt(1-t), sigma)."""
    t = _liyan_t(t)
    return x / _per_row(torch.sqrt(1.0 - t), x), liyan_sigma_from_t(t)


def ve_to_liyan(x_ve: torch.Tensor, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `liyan_to_ve`: X_t = x_ve / sqrt(1 + sigma^2).  ->  (X_t, t)."""
    t = liyan_t_from_sigma(sigma)
    return x_ve * _per_row(torch.sqrt(1.0 - t), x_ve), t


def liyan_log_prob(model, x: torch.Tensor, t) -> torch.Tensor:
    """log p_{X_t}(x) for an exact VE model (`GaussianMixture`, `MoLRG`).  x: (N, n); t scalar or (N,)  ->  (N,)."""
    x_ve, sigma = liyan_to_ve(x, t)
    return model.log_prob(x_ve, sigma) - 0.5 * x.shape[1] * torch.log1p(-_liyan_t(t))


def liyan_score(model, x: torch.Tensor, t) -> torch.Tensor:
    """grad log p_{X_t}(x) = score_VE(x / sqrt(1-t), sigma) / sqrt(1-t).  ->  (N, n)."""
    x_ve, sigma = liyan_to_ve(x, t)
    return model.score(x_ve, sigma) / _per_row(torch.sqrt(1.0 - _liyan_t(t)), x)


def liyan_posterior_mean(model, x: torch.Tensor, t) -> torch.Tensor:
    """E[X_0 | X_t = x] (the MMSE denoiser).  ->  (N, n)."""
    x_ve, sigma = liyan_to_ve(x, t)
    return model.posterior_mean(x_ve, sigma)


def liyan_noise_prediction(model, x: torch.Tensor, t) -> torch.Tensor:
    """eps*(x) = E[Z | X_t = x] = (x - sqrt(1-t) E[X_0 | X_t = x]) / sqrt(t).  ->  (N, n)."""
    t = _liyan_t(t)
    return (x - _per_row(torch.sqrt(1.0 - t), x) * liyan_posterior_mean(model, x, t)) / _per_row(torch.sqrt(t), x)


# ----------------------------------------------------------------------------------------------------------
# Discrete schedules for any T, as alpha_bar_1..alpha_bar_T (1-indexed in the text; index 0 here is step 1).


def alpha_bars_from_betas(betas) -> torch.Tensor:
    """alpha_bar_k = prod_{i <= k} (1 - beta_i).  betas: (T,) in (0, 1]."""
    betas = torch.as_tensor(betas, dtype=DTYPE)
    check_range("betas", betas, low=0.0, high=1.0, low_open=True)
    return torch.cumprod(1.0 - betas, dim=0)


def betas_from_alpha_bars(alpha_bars) -> torch.Tensor:
    """beta_k = 1 - alpha_bar_k / alpha_bar_{k-1}, alpha_bar_0 = 1."""
    alpha_bars = torch.as_tensor(alpha_bars, dtype=DTYPE)
    prev = torch.cat([torch.ones(1, dtype=DTYPE), alpha_bars[:-1]])
    return 1.0 - alpha_bars / prev


def vp_linear_alpha_bars(num_steps: int, beta_min: float = 0.1, beta_max: float = 20.0) -> torch.Tensor:
    """Ho et al.'s linear schedule in its T-independent form (Song et al. 2021, VP SDE): alpha_bar_k =
    exp(-(beta_min s + (beta_max - beta_min) s^2 / 2)) at s = k/T. For T = 1000 the betas are Ho's
    linspace(1e-4, 0.02) to O(1/T^2); alpha_bar_T = e^{-10.05} ~ 4.3e-5, not 0.  ->  (T,)."""
    check_int("num_steps", num_steps, low=1)
    s = torch.arange(1, num_steps + 1, dtype=DTYPE) / num_steps
    return torch.exp(-(beta_min * s + 0.5 * (beta_max - beta_min) * s**2))


def cosine_alpha_bars(num_steps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021) cosine schedule, f(s) = cos^2((s + offset)/(1 + offset) pi/2), alpha_bar_k =
    f(k/T)/f(0), with each beta clipped at `max_beta` (so alpha_bar_T > 0).  ->  (T,)."""
    check_int("num_steps", num_steps, low=1)
    s = torch.arange(0, num_steps + 1, dtype=DTYPE) / num_steps
    f = torch.cos((s + offset) / (1 + offset) * torch.pi / 2) ** 2
    betas = (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
    return alpha_bars_from_betas(betas)


def li_alpha_bars(num_steps: int, c0: float = 2.0, c1: float = 6.0) -> torch.Tensor:
    """The Li-Wei-Chen-Chi schedule used throughout the Li-Yan papers (reconstructed):
    beta_1 = T^{-c0},  beta_{k+1} = (c1 log T / T) min{beta_1 (1 + c1 log T / T)^k, 1}.  ->  (T,).
    The constants c0, c1 are not given in the sources available; c0 = 2, c1 = 6 are our choice (beta grows
    geometrically over the first ~c0/c1 = 1/3 of the steps, then stays at c1 log T / T, so alpha_bar_T ~ T^-4)."""
    check_int("num_steps", num_steps, low=2)
    T = num_steps
    rate = c1 * torch.log(torch.tensor(float(T), dtype=DTYPE)) / T
    beta1 = torch.tensor(float(T), dtype=DTYPE) ** (-c0)
    k = torch.arange(1, T, dtype=DTYPE)
    rest = rate * torch.clamp(beta1 * (1.0 + rate) ** k, max=1.0)
    betas = torch.cat([beta1.reshape(1), rest]).clamp(max=0.999)
    return alpha_bars_from_betas(betas)


def geometric_sigmas(num_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0,
                     append_zero: bool = True) -> torch.Tensor:
    """num_steps levels log-uniform from sigma_max down to sigma_min (uniform in log-SNR), then 0 if asked."""
    check_int("num_steps", num_steps, low=2)
    check_range("sigma_min", sigma_min, low=0.0, low_open=True)
    check_range("sigma_max", sigma_max, low=sigma_min, low_open=True)
    s = torch.logspace(math.log10(sigma_max), math.log10(sigma_min), num_steps, dtype=DTYPE)
    s[0], s[-1] = sigma_max, sigma_min
    return torch.cat([s, s.new_zeros(1)]) if append_zero else s
