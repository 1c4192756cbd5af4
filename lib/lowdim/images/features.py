"""Features of a diffusion UNet across noise levels (paper 1, arXiv 2502.05743 v3: Fig. 1a, Fig. 5, Table 9).

At each noise level sigma (VE/EDM convention) the clean image x_0 is noised in the DDPM (VP) scaling the network
was trained on,

    x_t = (x_0 + sigma n) / sqrt(1 + sigma^2),   n ~ N(0, I),

and fed with the DDPM timestep t(sigma) whose sigma_t equals sigma (`condition_timestep`). Forward hooks on every
block of the UNet (each down block, the mid block, each up block) record its output, global-average-pooled over
the spatial positions: one feature vector of the block's channel count per image. One forward pass per sigma gives
every block at once. The same noise draw n (one per image, from `seed`) is used at every sigma (common random
numbers), so differences between levels are not Monte Carlo noise, and the features of an image do not depend on
the batch it was computed in.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DModel
from tqdm import tqdm

from lowdim.checks import check_range
from lowdim.images.unet import NUM_TIMESTEPS, timestep_for_sigma
from lowdim.schedules import ddpm_sigmas

__all__ = ["block_modules", "condition_timestep", "noisy_input", "extract_features"]


def block_modules(model: UNet2DModel) -> dict[str, torch.nn.Module]:
    """The UNet's blocks in forward order: down_0.., mid, up_0.. (names used as feature keys)."""
    blocks = {f"down_{i}": b for i, b in enumerate(model.down_blocks)}
    blocks["mid"] = model.mid_block
    blocks.update({f"up_{i}": b for i, b in enumerate(model.up_blocks)})
    return blocks


def condition_timestep(sigma: float, num_timesteps: int = NUM_TIMESTEPS) -> float:
    """DDPM timestep given to the network at noise level sigma.

    sigma >= sigma_0 (= 0.0100 for T = 1000): the fractional t with sigma_t = sigma (`timestep_for_sigma`).
    0 < sigma < sigma_0: t = 0, the smallest noise the network was trained at; the input itself still carries
    noise of level sigma. (The EDM grid's 0.002 and 0.008 lie below the DDPM grid.)
    """
    check_range("sigma", sigma, low=0.0, low_open=True)
    sigma0 = float(ddpm_sigmas(num_timesteps)[0])
    return 0.0 if sigma < sigma0 else timestep_for_sigma(sigma, num_timesteps)


def noisy_input(x0: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """x_t = (x_0 + sigma n) / sqrt(1 + sigma^2).  x0, noise: (N, C, H, W)  ->  (N, C, H, W)."""
    return (x0 + sigma * noise) / (1.0 + sigma**2) ** 0.5


@torch.inference_mode()
def extract_features(model: UNet2DModel, x0: torch.Tensor, sigmas, seed: int, batch_size: int = 128,
                     progress: bool = True) -> dict[str, torch.Tensor]:
    """Pooled block outputs at every noise level.

    x0: (N, C, H, W) images in [-1, 1]; sigmas: L noise levels (> 0).
    -> {block name: (L, N, channels) float32 on the CPU}.
    """
    sigmas = [float(s) for s in sigmas]
    check_range("sigmas", sigmas, low=0.0, low_open=True)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if x0.ndim != 4:
        raise ValueError(f"x0 must have shape (N, C, H, W), got {tuple(x0.shape)}")
    device = next(model.parameters()).device
    model.eval()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=x0.dtype)
    blocks = block_modules(model)
    current: dict[str, torch.Tensor] = {}

    def hook(name):
        def record(_module, _inputs, output):
            h = output[0] if isinstance(output, tuple) else output
            current[name] = h.float().mean(dim=(2, 3)).cpu()
        return record

    handles = [b.register_forward_hook(hook(name)) for name, b in blocks.items()]
    out: dict[str, list] = {name: [[] for _ in sigmas] for name in blocks}
    try:
        bar = tqdm(total=len(sigmas) * len(x0), desc="features", disable=not progress, mininterval=5, unit="img")
        for i, sigma in enumerate(sigmas):
            t = condition_timestep(sigma)
            for start in range(0, len(x0), batch_size):
                xb = noisy_input(x0[start:start + batch_size], noise[start:start + batch_size], sigma).to(device)
                model(xb, torch.full((len(xb),), t, device=device))
                for name in blocks:
                    out[name][i].append(current[name])
                bar.update(len(xb))
        bar.close()
    finally:
        for h in handles:
            h.remove()
    return {name: torch.stack([torch.cat(parts) for parts in levels]) for name, levels in out.items()}
