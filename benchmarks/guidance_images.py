"""Benchmark: images/s of classifier-free guided sampling with chapter 9's class-conditional UNet, per sampler.

In one run, on a conditional UNet2DModel of chapter 9's size (channels `--channels`, 10 classes + the null label,
28x28x1; fresh weights: the cost does not depend on their values), `lowdim.images.guidance.sample_cfg` draws
`--images` samples with the DDPM ancestral sampler (`--ancestral-steps`) and with DDIM (`--ddim-steps`), at w = 0
(one forward pass per step: only the conditional branch) and at w > 0 (two branches in one doubled batch), for each
batch size of `--batches`. It prints images/s (whole samples, all steps) and projects chapter 9's full sweep
(6 values of w, 200 samples each, both samplers). No timing is asserted. Run:
    python benchmarks/guidance_images.py [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from lowdim.images.guidance import sample_cfg
from lowdim.images.train import TrainConfig, model_config
from lowdim.images.unet import build_unet


def rate(model, num_images: int, w: float, sampler: str, steps: int, batch_size: int) -> float:
    """Guided samples per second (each with all its steps)."""
    labels = torch.arange(10).repeat(num_images // 10 + 1)[:num_images]
    sample_cfg(model, labels[:batch_size], w, sampler, 2, seed=0, batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    sample_cfg(model, labels, w, sampler, steps, seed=0, batch_size=batch_size)
    return num_images / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32, 32])
    p.add_argument("--images", type=int, default=128)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--ancestral-steps", type=int, default=50)
    p.add_argument("--ddim-steps", type=int, default=25)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = TrainConfig(dataset="mnist", channels=tuple(a.channels), num_classes=10)
    model = build_unet(model_config(cfg), 0).eval()
    print(f"conditional UNet {tuple(a.channels)}, {sum(q.numel() for q in model.parameters()):,} parameters, "
          f"{torch.get_num_threads()} thread(s), {a.images} images per measurement")
    print("| sampler | steps | w | batch | images/s | image-steps/s |")
    print("|---|---|---|---|---|---|")
    best = {}
    for sampler, steps in (("ancestral", a.ancestral_steps), ("ddim", a.ddim_steps)):
        for w in (0.0, 1.0):
            for b in a.batches:
                r = rate(model, a.images, w, sampler, steps, b)
                best[sampler, w] = max(best.get((sampler, w), 0.0), r)
                print(f"| {sampler} | {steps} | {w:g} | {b} | {r:.2f} | {r * steps:.0f} |")
    sweep = sum(200 / best[s, 0.0] + 5 * 200 / best[s, 1.0] for s in ("ancestral", "ddim"))
    print(f"projected chapter-9 full sweep (6 w x 200 samples x 2 samplers, best batch): {sweep:.0f} s")


if __name__ == "__main__":
    main()
