"""Classifier-free guidance (paper 3 on real images): guided noise prediction, two samplers, and the sweep metrics.

Parameterisation (Ho & Salimans 2022, eq. 6, with their w; the same w as chapters 6-7 and `lowdim.guidance`):

    eps_w(x_t, t, c) = (1 + w) eps(x_t, t, c) - w eps(x_t, t, null),

so w = 0 is the plain conditional model and w > 0 extrapolates away from the unconditional one. Since
eps = -sqrt(1 - ab_t) * score, this is the score (1 + w) s_t(x | c) - w s_t(x), i.e. s_t(x | c) + w grad log p_t(c | x)
when both scores are exact (Bayes), which is paper 3's guided score. (Some codes write the scale as w' = 1 + w.)

Samplers (one shared signature `sampler(eps_fn, shape, num_steps, seed, alpha_bar) -> x_0`), on `num_steps` evenly
spaced DDPM timesteps t_0 = T-1 > ... > t_{S-1} = 0 of the linear-beta schedule, with ab = alpha_bar:

    x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)
    x_t'   = sqrt(ab_t') x0_hat + sqrt(1 - ab_t' - s^2) eps + s z,     z ~ N(0, I)
    s^2    = eta^2 (1 - ab_t') / (1 - ab_t) (1 - ab_t / ab_t')                 (Song et al. 2021, eq. 12 and 16)

* `sample_ancestral` (eta = 1): the DDPM posterior q(x_t' | x_t, x_0 = x0_hat) (Ho et al. 2020, eq. 6-7): the
  discretised reverse SDE.
* `sample_ddim` (eta = 0): deterministic DDIM, a discretisation of the probability-flow ODE.

The last step returns x0_hat. The initial noise x_T and (ancestral) every z come from one torch.Generator seeded
with `seed`, drawn in a fixed order, so two calls with the same seed and shape see the same noise: sweeping w with
one seed gives *coupled* samples (the same x_T and Brownian increments for every w).

Metrics (`confidence_metrics`, `class_entropy`, `drop_fraction`) take the judge's log p(c | x) of the class c each
sample was guided towards.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from lowdim.schedules import ddpm_alpha_bars

__all__ = ["cfg_eps", "guided_eps_fn", "timestep_grid", "sample_ancestral", "sample_ddim", "SAMPLERS", "sample_cfg",
           "confidence_metrics", "pca_basis", "class_entropy", "paired_difference",
           "drop_fraction"]


# ---- guided noise prediction (Ho & Salimans 2022, eq. 6) ------------------------------------------------------

def cfg_eps(model, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, w, null_label: int) -> torch.Tensor:
    """eps_w = (1 + w) eps(x, t, c) - w eps(x, t, null), both branches in one forward pass.

    x: (B, C, H, W); t: (B,) timesteps; labels: (B,) int64 class ids c; w: float or (B,) tensor (>= 0 not required);
    null_label: the null class id (= number of classes). When w is the scalar 0, only the conditional branch runs.
    -> (B, C, H, W).
    """
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= null_label:
        raise ValueError(f"labels must lie in [0, {null_label - 1}] (null_label={null_label} is the null class)")
    if not torch.is_tensor(w) and float(w) == 0.0:
        return model(x, t, class_labels=labels).sample
    both = model(torch.cat([x, x]), torch.cat([t, t]),
                 class_labels=torch.cat([labels, torch.full_like(labels, null_label)])).sample
    eps_c, eps_u = both.chunk(2)
    w = torch.as_tensor(w, dtype=x.dtype, device=x.device)
    w = w.view(-1, 1, 1, 1) if w.ndim == 1 else w
    return eps_c + w * (eps_c - eps_u)


def guided_eps_fn(model, labels: torch.Tensor, w, null_label: int) -> Callable:
    """eps_fn(x, t) for the samplers: `cfg_eps` with the labels and w fixed, t an int broadcast over the batch."""
    def eps_fn(x, t):
        return cfg_eps(model, x, torch.full((x.shape[0],), t, device=x.device), labels, w, null_label)
    return eps_fn


# ---- samplers (Song et al. 2021, eq. 12; eta = 1 ancestral, eta = 0 DDIM) ---------------------------------------

def timestep_grid(num_steps: int, num_timesteps: int) -> list[int]:
    """num_steps evenly spaced DDPM timesteps from T-1 down to 0 (rounded; the DDIM 'linspace' spacing)."""
    if not 2 <= num_steps <= num_timesteps:
        raise ValueError(f"num_steps must lie in [2, {num_timesteps}], got {num_steps}")
    return torch.linspace(num_timesteps - 1, 0, num_steps).round().long().tolist()


def _sample(eps_fn: Callable, shape: tuple, num_steps: int, seed: int, alpha_bar: torch.Tensor, eta: float,
            device=None) -> torch.Tensor:
    """The generalised DDIM step of the module docstring, from x_T ~ N(0, I) (drawn first) to x0_hat."""
    steps = timestep_grid(num_steps, len(alpha_bar))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen).to(device)
    for i, t in enumerate(steps):
        eps = eps_fn(x, t)
        a = float(alpha_bar[t])
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        if i + 1 == len(steps):
            return x0
        a_next = float(alpha_bar[steps[i + 1]])
        s2 = eta**2 * (1 - a_next) / (1 - a) * (1 - a / a_next)
        x = math.sqrt(a_next) * x0 + math.sqrt(max(1 - a_next - s2, 0.0)) * eps
        if s2 > 0:
            x = x + math.sqrt(s2) * torch.randn(shape, generator=gen).to(device)
    return x


def sample_ancestral(eps_fn: Callable, shape: tuple, num_steps: int, seed: int, alpha_bar: torch.Tensor,
                     device=None) -> torch.Tensor:
    """DDPM ancestral sampling (eta = 1, the reverse SDE) on num_steps timesteps; x_T and every z from `seed`.

    eps_fn(x, t) -> (B, C, H, W); shape = (B, C, H, W); alpha_bar: (T,). -> x0_hat (B, C, H, W), not clipped.
    """
    return _sample(eps_fn, shape, num_steps, seed, alpha_bar, 1.0, device)


def sample_ddim(eps_fn: Callable, shape: tuple, num_steps: int, seed: int, alpha_bar: torch.Tensor,
                device=None) -> torch.Tensor:
    """Deterministic DDIM (eta = 0, the probability-flow ODE) on num_steps timesteps; x_T from `seed`.

    Same signature and output as `sample_ancestral`.
    """
    return _sample(eps_fn, shape, num_steps, seed, alpha_bar, 0.0, device)


SAMPLERS = {"ancestral": sample_ancestral, "ddim": sample_ddim}


@torch.inference_mode()
def sample_cfg(model, labels: torch.Tensor, w: float, sampler: str, num_steps: int, seed: int, batch_size: int = 64,
               num_timesteps: int = 1000) -> torch.Tensor:
    """Guided samples for `labels` (N,) with strength w: chunks of batch_size, chunk j seeded with seed + j.

    The null id is model.config.num_class_embeds - 1. Calls with the same labels, seed and batch_size are coupled
    across w. -> (N, C, H, W) float32 on the CPU, clipped to the data range [-1, 1] (after sampling, not inside it).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {tuple(SAMPLERS)}, got {sampler!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    num_embeds = getattr(model.config, "num_class_embeds", None)
    if not num_embeds:
        raise ValueError("model must be class-conditional (num_class_embeds > 0; train with --num-classes)")
    device = next(model.parameters()).device
    c, s = model.config.in_channels, model.config.sample_size
    alpha_bar = ddpm_alpha_bars(num_timesteps)
    out = []
    for j, chunk in enumerate(labels.split(batch_size)):
        eps_fn = guided_eps_fn(model, chunk.to(device), w, num_embeds - 1)
        x = SAMPLERS[sampler](eps_fn, (len(chunk), c, s, s), num_steps, seed + j, alpha_bar, device)
        out.append(x.float().cpu().clamp(-1, 1))
    return torch.cat(out)


# ---- metrics of the sweep ------------------------------------------------------------------------------------

def confidence_metrics(log_p: torch.Tensor, threshold: float = 0.8) -> dict:
    """From log p(c | x_i) (N,) of the guided-for class: E[1/p] and its standard error, E[p], P(p > threshold).

    E[1/p] = mean_i exp(-log p_i), s.e. = std_i(1/p_i) / sqrt(N) (sample std, ddof = 1).
    """
    if log_p.ndim != 1 or len(log_p) < 2:
        raise ValueError(f"log_p must be a 1-D tensor with at least 2 entries, got shape {tuple(log_p.shape)}")
    if (log_p > 1e-6).any() or not torch.isfinite(log_p).all():
        raise ValueError("log_p must be finite log-probabilities (<= 0)")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    lp = log_p.double()
    inv, p = torch.exp(-lp), torch.exp(lp)
    return dict(mean_inv_p=float(inv.mean()), se_inv_p=float(inv.std() / math.sqrt(len(lp))), mean_p=float(p.mean()),
                frac_confident=float((p > threshold).double().mean()))


def pca_basis(features: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (D,), top-`dim` principal axes (D, dim)) of reference features (N, D), float64."""
    if features.ndim != 2 or not 1 <= dim <= min(features.shape):
        raise ValueError(f"dim must lie in [1, {min(features.shape)}] for features of shape {tuple(features.shape)}, got {dim}")
    f = features.double()
    mean = f.mean(0)
    _, _, vh = torch.linalg.svd(f - mean, full_matrices=False)
    return mean, vh[:dim].T


def class_entropy(features: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor) -> float:
    """Mean over classes of the Gaussian entropy 1/2 log det(2 pi e Cov_c) of the features projected on `basis`.

    features: (N, D); labels: (N,); mean: (D,); basis: (D, k) (from `pca_basis` on real data, fixed across w).
    Each class needs more than k samples (else its covariance is singular). -> nats.
    """
    z = (features.double() - mean.double()) @ basis.double()
    k = basis.shape[1]
    ents = []
    for c in labels.unique():
        zc = z[labels == c]
        if len(zc) <= k:
            raise ValueError(f"class {int(c)} has {len(zc)} samples; class_entropy needs more than k={k} per class")
        ents.append(0.5 * float(torch.logdet(2 * math.pi * math.e * torch.cov(zc.T).reshape(k, k))))
    return sum(ents) / len(ents)


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(mean of a_i - b_i, its standard error std(a - b) / sqrt(N)) for coupled samples a, b of shape (N,).

    Coupling makes the paired standard error smaller than that of two independent means when a and b correlate.
    """
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"a and b must be 1-D of the same length >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    d = a.double() - b.double()
    return float(d.mean()), float(d.std() / math.sqrt(len(d)))


def drop_fraction(p_w: torch.Tensor, p_0: torch.Tensor, tol: float = 0.0) -> float:
    """Fraction of coupled samples whose p(c | x) under guidance w is below its value at w = 0 by more than tol."""
    if p_w.shape != p_0.shape:
        raise ValueError(f"p_w and p_0 must have the same shape, got {tuple(p_w.shape)} and {tuple(p_0.shape)}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    return float((p_w < p_0 - tol).double().mean())
