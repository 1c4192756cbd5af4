"""Benchmark: MoLRG posterior mean, low-rank path vs dense general-mixture path vs the matmul floor.

For each ambient dimension n (K = 10 classes of rank d = 5, 10^4 points) it times, in one run:
  * lowrank: `MoLRG.posterior_mean` (one projection onto the Kd-dim data span, O(Kd) work per class, one lift);
  * dense:   `GaussianMixture.posterior_mean` on the same law (`MoLRG.to_mixture()`: two n x n products per class);
  * floor:   one (N x n) @ (n x Kd) matrix product, the least any exact method must do to read the data span.
and prints the ratios dense/lowrank and lowrank/floor. Timings are the median of `--repeats` runs after one
warm-up. The dense path is timed on `--dense-points` points and scaled linearly to N (its cost is linear in N;
stated in the output). Run:  python benchmarks/posterior.py [--dims 1000 4000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lowdim import MoLRG


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of fn() over `repeats` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_dim(n: int, num_classes: int, rank: int, num_points: int, dense_points: int, sigma: float,
              repeats: int, seed: int) -> dict:
    """Time the three computations at ambient dimension n.  ->  dict of seconds for num_points points."""
    model = MoLRG.random(n, [rank] * num_classes, delta=0.3, seed=seed)
    x0, _ = model.sample(num_points, seed=seed + 1)
    x = x0 + sigma * torch.randn(x0.shape, dtype=x0.dtype, generator=torch.Generator().manual_seed(seed + 2))
    dense = model.to_mixture()
    basis = torch.cat(model.bases, dim=1)
    x_dense = x[: min(dense_points, num_points)]
    max_diff = float((model.posterior_mean(x_dense, sigma) - dense.posterior_mean(x_dense, sigma)).abs().max())
    t_low = median_seconds(lambda: model.posterior_mean(x, sigma), repeats)
    t_floor = median_seconds(lambda: x @ basis, repeats)
    t_dense = median_seconds(lambda: dense.posterior_mean(x_dense, sigma), repeats) * num_points / x_dense.shape[0]
    return dict(n=n, lowrank=t_low, dense=t_dense, floor=t_floor, dense_points=x_dense.shape[0], max_diff=max_diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--dense-points", type=int, default=500)
    parser.add_argument("--sigma", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, K={args.classes}, d={args.rank}, "
          f"N={args.points} points (dense timed on {args.dense_points} and scaled to N)")
    print(f"{'n':>6} {'low-rank s':>11} {'dense s':>9} {'floor s':>9} {'dense/low-rank':>15} {'low-rank/floor':>15} {'max |diff|':>11}")
    for n in args.dims:
        r = bench_dim(n, args.classes, args.rank, args.points, args.dense_points, args.sigma, args.repeats, args.seed)
        print(f"{n:>6} {r['lowrank']:>11.4f} {r['dense']:>9.3f} {r['floor']:>9.4f} "
              f"{r['dense'] / r['lowrank']:>15.1f} {r['lowrank'] / r['floor']:>15.2f} {r['max_diff']:>11.1e}")


if __name__ == "__main__":
    main()
