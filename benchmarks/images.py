"""Benchmark: images/s of the real-image chapter's UNet, for feature extraction and for DDPM training steps.

In one run, on the book's model (UNet2DModel, channels (32, 64, 64), attention at 7x7, 28x28x1 inputs):
  * features: `lowdim.images.features.extract_features` (every block hooked, inference mode) on `--images`
    random images at the 9-level EDM grid, for each batch size of `--batches`;
  * training: `--train-steps` optimizer steps of `lowdim.images.train.ddpm_loss` + Adam at batch `--train-batch`,
    after one warm-up step.
It prints images/s, the projected time for the issue's target workload (10,000 test images x 9 levels, target
<= 300 s on 2 cores) and the projected time of one pass over Fashion-MNIST's 60,000 training images. No timing is
asserted. Run:  python benchmarks/images.py [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from lowdim.images.features import extract_features
from lowdim.images.train import ddpm_loss
from lowdim.images.unet import build_unet, unet_config
from lowdim.schedules import ddpm_alpha_bars, paper1_sigma_grid


def feature_rate(model, num_images: int, batch_size: int, seed: int) -> float:
    """Images per second (one image at one level = one image) of extract_features at the 9-level grid."""
    x = torch.rand(num_images, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    sigmas = paper1_sigma_grid(9)
    extract_features(model, x[:batch_size], sigmas[:1], seed=seed, batch_size=batch_size, progress=False)  # warm-up
    start = time.perf_counter()
    extract_features(model, x, sigmas, seed=seed, batch_size=batch_size, progress=False)
    return num_images * len(sigmas) / (time.perf_counter() - start)


def training_rate(model, batch_size: int, steps: int, seed: int) -> float:
    """Images per second of DDPM training steps (forward, backward, Adam) at the given batch size."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(4 * batch_size, 1, 28, 28, generator=gen) * 2 - 1
    ab = ddpm_alpha_bars(1000)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def step():
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        loss = ddpm_loss(model, x[idx], ab, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--train-batch", type=int, default=128)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = build_unet(unet_config(), seed=a.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(q.numel() for q in model.parameters()):,} parameters")
    print("| task | batch | images/s | projected |")
    print("|---|---|---|---|")
    for b in a.batches:
        r = feature_rate(model.eval(), a.images, b, a.seed)
        print(f"| features, all blocks, 9 levels | {b} | {r:.0f} | 10,000 x 9: {90000 / r:.0f} s (target 300 s) |")
    r = training_rate(model, a.train_batch, a.train_steps, a.seed)
    print(f"| DDPM training step | {a.train_batch} | {r:.0f} | one epoch of 60,000: {60000 / r / 60:.1f} min |")


if __name__ == "__main__":
    main()
