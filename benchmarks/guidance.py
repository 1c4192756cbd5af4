"""Benchmark: guided sampling on exact mixtures (issue target: <= 60 s each on 2 cores).

Cases (1,000 steps, CFG with exact scores, batched over points and over w):
  * 2-D: 10^5 points (5 values of w x 2 * 10^4 points), a 4-component 2-D mixture with diagonal covariances
    (no rotations), and the same with rotated, correlated (full) covariances (per-component eigenbases);
  * 50-D: 10^4 points (5 values of w x 2,000 points), a 3-class MoLRG (rank 5): exact scores computed in the
    15-dim data span (the MoLRG's own frame), and the same model forced onto the dense n x n eigen frame.
Each runs the reverse SDE (ancestral) and the probability-flow ODE (Euler; Heun costs twice as much).
Run:  python benchmarks/guidance.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import time

import torch

from lowdim import GaussianMixture, MoLRG
from lowdim.schedules import geometric_sigmas
from lowdim.guidance import GuidedScore, LabelledMixture, initial_points, sample_ancestral, sample_ode

__all__ = ["case", "main"]

D = torch.float64


def case(model: LabelledMixture, points: int, steps: int, sigma_min: float, zero: bool) -> dict:
    ws = torch.tensor([0.0, 0.5, 1.0, 2.0, 4.0], dtype=D)
    per = points // len(ws)
    x = initial_points(model, 0, per, 80.0, seed=0).repeat(len(ws), 1)
    guide = GuidedScore(model, 0, ws.repeat_interleave(per))
    sig = geometric_sigmas(steps, sigma_min, 80.0, append_zero=zero)
    out = {}
    for name, fn in [("SDE (ancestral)", lambda: sample_ancestral(guide, x, sig, torch.Generator().manual_seed(1))),
                     ("ODE (Euler)", lambda: sample_ode(guide, x, sig, method="euler"))]:
        t = time.perf_counter()
        fn()
        out[name] = time.perf_counter() - t
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    gm = GaussianMixture([[-2.0, 0.0], [1.0, 1.0], [2.0, -1.0], [0.0, 3.0]],
                         torch.diag_embed(torch.tensor([[0.3, 0.5], [0.2, 0.2], [1.0, 0.4], [0.5, 0.5]], dtype=D)),
                         [0.2, 0.3, 0.3, 0.2])
    two = LabelledMixture(gm, [0, 0, 1, 1])
    angles = torch.tensor([0.3, -0.7, 1.1, 0.5], dtype=D)
    rot = torch.stack([torch.stack([angles.cos(), -angles.sin()], -1), torch.stack([angles.sin(), angles.cos()], -1)], -2)
    two_full = LabelledMixture(GaussianMixture(gm.means, rot @ gm.covariances @ rot.transpose(1, 2), gm.weights),
                               [0, 0, 1, 1])
    molrg = MoLRG.random(50, [5, 5, 5], delta=0.7, seed=0)
    fifty = LabelledMixture.from_molrg(molrg)  # the MoLRG's own span frame (m = 15)
    dense = molrg.to_mixture()  # the same law forced onto the dense per-component eigen frame, for comparison
    fifty_dense = LabelledMixture(dense, [0, 1, 2], frame=dense.frame)
    print(f"torch threads: {torch.get_num_threads()}, steps: {args.steps}")
    print(f"{'case':<40}{'sampler':<18}{'seconds':>10}{'ratio to 60 s':>15}")
    for label, model, pts, smin, zero in [("2-D diagonal, 10^5 points", two, 100_000, 0.002, True),
                                          ("2-D full covariances, 10^5 points", two_full, 100_000, 0.002, True),
                                          ("50-D MoLRG data-span frame, 10^4 points", fifty, 10_000, 0.002, False),
                                          ("50-D MoLRG dense route, 10^4 points", fifty_dense, 10_000, 0.002, False)]:
        for name, sec in case(model, pts, args.steps, smin, zero).items():
            print(f"{label:<40}{name:<18}{sec:>10.1f}{sec / 60:>15.2f}")


if __name__ == "__main__":
    main()
