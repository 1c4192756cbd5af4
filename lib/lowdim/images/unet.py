"""The book's image denoiser: a small diffusers UNet2DModel trained as a DDPM, plus checksummed weight files.

Model (data.md §9): UNet2DModel with block channels (32, 64, 64), one ResNet layer per block, GroupNorm with 8
groups, self-attention only in the lowest-resolution level (28 -> 14 -> 7 for 28x28 inputs), about 1.1 M
parameters. It predicts the DDPM noise eps from (x_t, t), t in {0, ..., T-1}.

DDPM (Ho et al. 2020): linear beta_t from 1e-4 to 0.02 over T = 1000 steps, alpha_bar_t = prod_{s<=t} (1 - beta_s),
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps. In the VE/EDM convention of the book this is
x_t = (x_0 + sigma_t n) / sqrt(1 + sigma_t^2) with sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t).

Weights ship as safetensors next to a provenance JSON holding the model config and the file's sha256; loading
checks the sum. A public diffusers checkpoint saved with `save_pretrained` loads through `load_pretrained_folder`
(local files only: the book never downloads at run time).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from diffusers import UNet2DModel
from safetensors.torch import load_file, save_file

from lowdim.schedules import ddpm_alpha_bars, ddpm_sigmas

__all__ = ["NUM_TIMESTEPS", "timestep_for_sigma", "unet_config", "build_unet", "sha256_file", "save_weights", "checked_provenance", "load_weights", "load_pretrained_folder", "sample_ddim"]

NUM_TIMESTEPS = 1000  # linear beta from 1e-4 to 0.02 (lowdim.schedules.ddpm_alpha_bars defaults)


def timestep_for_sigma(sigma: float, num_timesteps: int = NUM_TIMESTEPS) -> float:
    """Fractional DDPM timestep whose sigma_t equals sigma: linear interpolation of t in log sigma_t.

    sigma must lie in [sigma_0, sigma_{T-1}] = [0.0100, 156.6] for T = 1000, since the network never saw a
    time outside {0, ..., T-1}; smaller levels are handled by the caller (`features.condition_timestep`).
    """
    sig = ddpm_sigmas(num_timesteps)
    lo, hi = float(sig[0]), float(sig[-1])
    if not lo <= sigma <= hi:
        raise ValueError(f"sigma must lie in [{lo:.4g}, {hi:.4g}] (the DDPM grid with T={num_timesteps}), got {sigma}")
    logs = torch.log(sig)
    s = torch.log(torch.tensor(sigma, dtype=torch.float64))
    i = int(torch.searchsorted(logs, s).clamp(1, num_timesteps - 1))
    frac = (s - logs[i - 1]) / (logs[i] - logs[i - 1])
    return float(i - 1 + frac)


def unet_config(sample_size: int = 28, in_channels: int = 1, channels: tuple[int, ...] = (32, 64, 64),
                norm_num_groups: int = 8, layers_per_block: int = 1, num_class_embeds: int = 0) -> dict:
    """Keyword arguments of UNet2DModel: plain down/up blocks, attention in the lowest level only; with
    num_class_embeds = M > 0 a learned class embedding table of M ids added to the time embedding."""
    if len(channels) < 2:
        raise ValueError(f"channels must have at least 2 levels, got {channels}")
    if any(c % norm_num_groups for c in channels):
        raise ValueError(f"every entry of channels must be divisible by norm_num_groups={norm_num_groups}, got {channels}")
    if num_class_embeds < 0:
        raise ValueError(f"num_class_embeds must be >= 0, got {num_class_embeds}")
    n = len(channels)
    extra = dict(class_embed_type=None, num_class_embeds=num_class_embeds) if num_class_embeds else {}
    return dict(**extra, sample_size=sample_size, in_channels=in_channels, out_channels=in_channels,
                block_out_channels=tuple(channels), layers_per_block=layers_per_block,
                norm_num_groups=norm_num_groups, attention_head_dim=8,
                down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
                up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1))


def build_unet(config: dict, seed: int) -> UNet2DModel:
    """A freshly initialised UNet2DModel(**config), parameters drawn with torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return UNet2DModel(**config)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_weights(model: UNet2DModel, path: Path, provenance: dict) -> dict:
    """Write model's state dict to `path` (.safetensors) and `path` with suffix .json (provenance + config + sha256).

    Returns the provenance dict as written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path))
    record = dict(provenance, config={k: v for k, v in model.config.items() if not k.startswith('_')}, sha256=sha256_file(path),
                  num_parameters=sum(v.numel() for v in state.values()))
    path.with_suffix(".json").write_text(json.dumps(record, indent=2, default=list) + "\n")
    return record


def checked_provenance(path: Path, what: str) -> dict:
    """The provenance JSON beside weights `path` (same name, suffix .json), after checking that both files exist and
    that the weights' sha256 is the recorded one. Raises FileNotFoundError / ValueError naming the file."""
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} is missing (the shipped {what} lives in data/checkpoints/)")
    meta = json.loads(meta_path.read_text())
    got = sha256_file(path)
    if got != meta["sha256"]:
        raise ValueError(f"{path} has sha256 {got}, but {meta_path} records {meta['sha256']}: the file is corrupted")
    return meta


def load_weights(path: Path) -> tuple[UNet2DModel, dict]:
    """Load weights written by `save_weights`, checking the sha256 recorded in the provenance JSON.

    -> (model in eval mode on the CPU, provenance dict). Raises FileNotFoundError / ValueError naming the file.
    """
    path = Path(path)
    meta = checked_provenance(path, "checkpoint")
    model = UNet2DModel.from_config(meta["config"])
    model.load_state_dict(load_file(str(path)))
    return model.eval(), meta


def load_pretrained_folder(folder: Path) -> UNet2DModel:
    """A diffusers UNet2DModel from a local folder: a `save_pretrained` folder (config.json at its top) or a pipeline
    snapshot with the UNet in `unet/` (e.g. google/ddpm-cifar10-32). Local files only: no network."""
    folder = Path(folder)
    for candidate in (folder, folder / "unet"):
        if (candidate / "config.json").is_file():
            return UNet2DModel.from_pretrained(str(candidate), local_files_only=True).eval()
    raise FileNotFoundError(f"{folder} is not a diffusers save_pretrained folder (no config.json in it or in unet/)")


@torch.inference_mode()
def sample_ddim(model: UNet2DModel, num_images: int, num_steps: int, seed: int,
                num_timesteps: int = NUM_TIMESTEPS) -> torch.Tensor:
    """Deterministic DDIM sampling (Song et al. 2021, eta = 0) on `num_steps` evenly spaced DDPM timesteps.

    x_T ~ N(0, I); for t > t' on the grid: x0_hat = (x_t - sqrt(1 - ab_t) eps_theta) / sqrt(ab_t),
    x_t' = sqrt(ab_t') x0_hat + sqrt(1 - ab_t') eps_theta; the last step returns x0_hat.
    -> (num_images, C, H, W) float32 on the model's device (not clipped; images live in [-1, 1]).
    """
    if num_images < 1 or not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"num_images must be >= 1 and num_steps in [1, {num_timesteps}], got {num_images}, {num_steps}")
    device = next(model.parameters()).device
    ab = ddpm_alpha_bars(num_timesteps).to(device)
    steps = torch.linspace(num_timesteps - 1, 0, num_steps).round().long().tolist()
    c, s = model.config.in_channels, model.config.sample_size
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_images, c, s, s, generator=gen).to(device)
    for i, t in enumerate(steps):
        eps = model(x, torch.full((num_images,), t, device=device)).sample
        a = ab[t].float()
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        if i + 1 == len(steps):
            return x0
        a_next = ab[steps[i + 1]].float()
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
    return x
