"""Benchmark: log p_0(x) of an exact Gaussian mixture by the score-based density formula (paper 2, eq. (3.1a),
reconstructed; `lowdim.density.formula`) and by the probability-flow ODE (`lowdim.density.likelihood`), error against cost.

Cases (one run each, exact log p by log-sum-exp as the reference):
  * d = 2: the 2-component mixture of chapter 4 (E1), 20 points drawn from it. Formula: Gauss-Hermite over Z
    (log-SNR points x nodes^2); PF-ODE: adaptive dopri5 at several tolerances, exact divergence (autograd, d
    vector-Jacobian products per step) and Hutchinson (one Rademacher probe).
  * d = 50: a random 3-component mixture with full covariances, 10 points. Formula: Monte Carlo over Z (antithetic,
    control variate; its error is statistical, the table also gives the mean standard error); PF-ODE as above.
Cost = score evaluations per point (one per right-hand side or grid point x noise, plus one per vector-Jacobian
product) and wall seconds for the whole batch. Prints a markdown table and, per dimension, the cost ratio
formula / PF-ODE (exact divergence) at the first settings that reach a target error. No timing is asserted.
Run:  python benchmarks/density.py [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from lowdim import GaussianMixture
from lowdim.density import formula as D
from lowdim.density import likelihood as L
from lowdim import schedules as S

DT = torch.float64


def mixture_2d() -> GaussianMixture:
    return GaussianMixture([[-1.0, 0.5], [1.5, -0.5]], [[[0.5, 0.35], [0.35, 0.4]], [[0.3, 0.0], [0.0, 1.2]]], [0.4, 0.6])


def mixture_50d(seed: int) -> GaussianMixture:
    gen = torch.Generator().manual_seed(seed)
    n = 50
    means = torch.randn(3, n, dtype=DT, generator=gen)
    factors = torch.randn(3, n, n, dtype=DT, generator=gen) / math.sqrt(n)
    covs = 0.5 * factors @ factors.transpose(1, 2) + 0.2 * torch.eye(n, dtype=DT)
    return GaussianMixture(means, covs, [0.3, 0.3, 0.4])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_case(model: GaussianMixture, num_points: int, formula: list, rtols: list, seed: int) -> list[dict]:
    """All methods on the same points.  ->  rows with method, setting, evals, mean/max |error|, stderr, seconds."""
    x, _ = model.sample(num_points, seed=seed)
    exact = model.log_prob(x, 1e-12)
    score = D.exact_predictor(model, "score")
    base = lambda y, t: S.liyan_log_prob(model, y, t)  # exact log p_t at the end of the ODE
    rows = []
    for num_t, q in formula:
        if model.dim <= 3:
            est, sec = timed(lambda: D.log_density(x, score, "score", num_t=num_t, gh_nodes=q))
            setting, method = f"{num_t} x {q}^{model.dim}", "formula, Gauss-Hermite"
        else:
            est, sec = timed(lambda: D.log_density(x, score, "score", method="mc", num_t=num_t, num_samples=q, seed=seed))
            setting, method = f"{num_t} x {q} noises", "formula, Monte Carlo"
        err = (est.log_prob - exact).abs()
        rows.append(dict(method=method, setting=setting, evals=est.num_evals, mean=float(err.mean()),
                         max=float(err.max()), stderr=float(est.stderr.mean()), seconds=sec))
    for rtol in rtols:
        for div in L.DIVERGENCES:
            est, sec = timed(lambda: L.pf_ode_log_density(x, score, base, divergence=div, seed=seed, rtol=rtol,
                                                          atol=1e-2 * rtol))
            err = (est.log_prob - exact).abs()
            name = "PF-ODE, exact divergence" if div == "exact" else "PF-ODE, Hutchinson (1 probe)"
            rows.append(dict(method=name, setting=f"rtol {rtol:g}", evals=est.num_evals, mean=float(err.mean()),
                             max=float(err.max()), stderr=0.0, seconds=sec))
    return rows


def cheapest(rows: list[dict], prefix: str, target: float) -> dict | None:
    ok = [r for r in rows if r["method"].startswith(prefix) and r["mean"] <= target]
    return min(ok, key=lambda r: r["evals"]) if ok else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (small tensors: 1 is fastest)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = [("2", mixture_2d(), 20, [[25, 4], [50, 6], [100, 8], [200, 12], [400, 20]], [1e-3, 1e-5, 1e-7, 1e-9], 1e-4),
             ("50", mixture_50d(args.seed), 10, [[50, 100], [100, 400], [100, 1600]], [1e-3, 1e-6], 0.2)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), float64\n")
    print("| d | method | setting | score evals / point | mean abs error | max abs error | mean MC s.e. | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    summary = []
    for d, model, pts, formula, rtols, target in cases:
        rows = run_case(model, pts, formula, rtols, args.seed)
        for r in rows:
            se = f"{r['stderr']:.1e}" if r["stderr"] else ""
            print(f"| {d} | {r['method']} | {r['setting']} | {r['evals']:,} | {r['mean']:.1e} | {r['max']:.1e} | {se} | "
                  f"{r['seconds']:.2f} |")
        f, o = cheapest(rows, "formula", target), cheapest(rows, "PF-ODE, exact", target)
        if f and o:
            summary.append(f"d = {d}: to reach mean error <= {target:g}, formula / PF-ODE (exact div.) = "
                           f"{f['evals'] / o['evals']:.1f}x score evaluations, {f['seconds'] / o['seconds']:.1f}x seconds")
        else:
            summary.append(f"d = {d}: target {target:g} not reached by " + ("the formula" if not f else "the PF-ODE"))
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()
