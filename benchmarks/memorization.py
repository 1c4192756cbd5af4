"""Benchmark: training images/s and sampling images/s of chapter 10's tiny UNet (16x16 Fashion-MNIST).

In one run, on chapter 10's model (UNet2DModel, block channels (16, 32, 32), 16x16x1 inputs):
  * training: `--train-steps` steps of `lowdim.images.train.train` (the chapter's training command: loss, Adam,
    gradient clipping, EMA) on the first 1024 Fashion-MNIST images downsampled to 16x16, at batch `--train-batch`;
  * sampling: `lowdim.images.unet.sample_ddim` of `--samples` images with `--sample-steps` DDIM steps (one image =
    one full sample, all its steps);
  * features: `lowdim.images.features.extract_features` at the 9-level EDM grid (one image at one level = one image).
It prints images/s and the projected times of the chapter's workloads (one 3000-step training run at batch 32;
256 samples x 50 steps per model). No timing is asserted. Run:  python benchmarks/memorization.py [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from lowdim.images.features import extract_features
from lowdim.images.train import TrainConfig, train
from lowdim.images.unet import sample_ddim
from lowdim.schedules import paper1_sigma_grid


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-batch", type=int, default=32)
    p.add_argument("--train-steps", type=int, default=40)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--sample-steps", type=int, default=50)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = TrainConfig(num_train=1024, channels=(16, 32, 32), batch_size=a.train_batch, image_size=16, seed=a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        train(Path(tmp), cfg, 2, progress=False)  # warm-up (data loading, first allocations)
        start = time.perf_counter()
        state = train(Path(tmp), cfg, 2 + a.train_steps, progress=False)
        train_rate = a.train_steps * a.train_batch / (time.perf_counter() - start)
    model = state.ema.eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(q.numel() for q in model.parameters()):,} parameters")
    print("| task | batch | images/s | projected |")
    print("|---|---|---|---|")
    print(f"| training step (train()) | {a.train_batch} | {train_rate:.0f} | 3000 steps: "
          f"{3000 * a.train_batch / train_rate / 60:.1f} min |")
    start = time.perf_counter()
    sample_ddim(model, a.samples, a.sample_steps, seed=a.seed)
    rate = a.samples / (time.perf_counter() - start)
    print(f"| DDIM sampling, {a.sample_steps} steps | {a.samples} | {rate:.1f} | 256 samples: {256 / rate:.0f} s |")
    x = torch.rand(a.images, 1, 16, 16, generator=torch.Generator().manual_seed(a.seed)) * 2 - 1
    sigmas = paper1_sigma_grid(9)
    start = time.perf_counter()
    extract_features(model, x, sigmas, seed=a.seed, batch_size=128, progress=False)
    rate = a.images * len(sigmas) / (time.perf_counter() - start)
    print(f"| features, all blocks, 9 levels | 128 | {rate:.0f} | 4000 images x 9: {36000 / rate:.0f} s |")


if __name__ == "__main__":
    main()
