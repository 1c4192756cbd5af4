"""Benchmark: log p_0(x) of an exact Gaussian mixture by the score-based density formula (paper 2, eq. (3.1a),
reconstructed; `lowdim.density.formula`) and by the probability-flow ODE (`lowdim.density.likelihood`), error against cost.

Cases (one run each, exact log p by log-sum-exp as the reference):
  * d = 2: the 2-component mixture of chapter 4 (E1), 20 points drawn from it. Formula: Gauss-Hermite over Z
    (log-SNR points x nodes^2); PF-ODE: adaptive dopri5 at several tolerances, exact divergence (autograd, d
    vector-Jacobian products per step) and Hutchinson (one Rademacher probe).
  * d = 50: a random 3-component mixture with full covariances, 10 points. Formula: Monte Carlo over Z (antithetic,
    control variate; its error is statistical, the table also gives the mean standard error); PF-ODE as above.
  * d = 50, variance-reduced formula (`lowdim.density.estimators`: Gaussian control variate, importance-placed
    log-SNR, scrambled Sobol / shifted lattice) against the PF-ODE with one Hutchinson probe: RMSE over repetitions.
  * --network: the shipped Fashion-MNIST DDPM (chapter 11; `lowdim.images.likelihood`), a few test images: the
    spread of log p over repetitions (new seeds) against network evaluations per image, for the formula (plain grid
    and variance-reduced) and the PF-ODE with one Hutchinson probe, plus the mean log p of each (they estimate
    different quantities for a network: the formula is the continuous-time ELBO).
Cost = score evaluations per point (one per right-hand side or grid point x noise, plus one per vector-Jacobian
product) and wall seconds for the whole batch. Prints markdown tables and, per dimension, the cost ratio
formula / PF-ODE (exact divergence) at the first settings that reach a target error. No timing is asserted.
Run:  python benchmarks/density.py [--threads 1] [--network] [--images 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from lowdim import GaussianMixture
from lowdim.density import estimators as E
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


def variance_reduced(model: GaussianMixture, num_points: int, budgets: list, rtols: list, repeats: int, seed: int) -> list[dict]:
    """RMSE over points and repetitions of the variance-reduced formula and of the Hutchinson PF-ODE."""
    x, _ = model.sample(num_points, seed=seed)
    exact = model.log_prob(x, 1e-12)
    eps = D.exact_predictor(model, "eps")
    gauss = E.GaussianFit.fit(model.sample(20000, seed=seed + 1)[0])
    nodes = torch.linspace(-25.0, 30.0, 15, dtype=DT)
    q = E.ImportanceDensity.from_curve(nodes, E.pilot_curve(x[:4], eps, gauss, nodes, seed=seed))
    variants = {"grid (chapter 4)": dict(sampler="grid"), "grid + control variate": dict(sampler="grid", gauss=gauss),
                "importance + CV + Sobol": dict(sampler="sobol", q=q, gauss=gauss),
                "importance + CV + lattice": dict(sampler="lattice", q=q, gauss=gauss)}
    rows = []
    for name, kw in variants.items():
        for B in budgets:
            (errs, sec) = timed(lambda: torch.stack([E.formula_estimate(x, eps, B, seed=seed + r, **kw).log_prob - exact
                                                     for r in range(repeats)]))
            rows.append(dict(method=f"formula: {name}", evals=B, rmse=float(errs.pow(2).mean().sqrt()), seconds=sec / repeats))
    score = D.exact_predictor(model, "score")
    base = lambda y, t: S.liyan_log_prob(model, y, t)
    for rtol in rtols:
        ests, sec = timed(lambda: [L.pf_ode_log_density(x, score, base, divergence="hutchinson", seed=seed + r, rtol=rtol,
                                                        atol=1e-2 * rtol) for r in range(repeats)])
        errs = torch.stack([e.log_prob - exact for e in ests])
        rows.append(dict(method=f"PF-ODE: Hutchinson, rtol {rtol:g}", evals=sum(e.num_evals for e in ests) / repeats,
                         rmse=float(errs.pow(2).mean().sqrt()), seconds=sec / repeats))
    return rows


def network_case(num_images: int, budgets: list, rtols: list, repeats: int, seed: int) -> list[dict]:
    """Spread (sd over repetitions, mean over images) and mean log p on the shipped DDPM."""
    from lowdim.images import likelihood as IL
    from lowdim.images.data import REPO_ROOT, load_dataset
    from lowdim.images.unet import load_weights

    model, _ = load_weights(REPO_ROOT / "data/checkpoints/fmnist_unet.safetensors")
    data = load_dataset("fashion-mnist")
    gauss = E.GaussianFit.fit(IL.dequantize(data.x_train[:10000], seed=seed))
    y = IL.dequantize(data.x_test[:num_images], seed=seed + 1)
    eps = IL.NetworkNoise(model, gauss)
    nodes = torch.linspace(eps.logsnr_top(), 25.0, 15, dtype=DT)
    q = E.ImportanceDensity.from_curve(nodes, E.pilot_curve(y, eps, gauss, nodes, t0=eps.t_min, num_noises=1, seed=seed))
    variants = {"grid (chapter 4)": dict(sampler="grid", control_variate=False),
                "importance + CV + Sobol": dict(sampler="sobol", q=q), "importance + CV + lattice": dict(sampler="lattice", q=q)}
    rows = []
    for name, kw in variants.items():
        for B in budgets:
            runs, sec = timed(lambda: torch.stack([IL.network_formula(y, eps, B, seed=seed + r, **kw).log_prob
                                                   for r in range(repeats)]))
            rows.append(dict(method=f"formula: {name}", evals=B, spread=float(runs.std(dim=0).mean()),
                             mean=float(runs.mean()), seconds=sec / repeats))
    for rtol in rtols:
        ests, sec = timed(lambda: [IL.network_pf_ode(y, eps, seed=seed + r, rtol=rtol) for r in range(repeats)])
        runs = torch.stack([e.log_prob for e in ests])
        rows.append(dict(method=f"PF-ODE: Hutchinson, rtol {rtol:g}", evals=sum(e.num_evals for e in ests) / repeats,
                         spread=float(runs.std(dim=0).mean()), mean=float(runs.mean()), seconds=sec / repeats))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (small tensors: 1 is fastest)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--network", action="store_true", help="also the shipped Fashion-MNIST DDPM (minutes)")
    parser.add_argument("--images", type=int, default=4, help="test images of the network case")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per setting (variance-reduced cases)")
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
    print("\n| d | method | score evals / point | RMSE of log p | seconds per repetition |\n|---|---|---|---|---|")
    rows = variance_reduced(mixture_50d(args.seed), 10, [64, 256, 1024], [1e-2, 1e-3, 1e-4], args.repeats, args.seed)
    for r in rows:
        print(f"| 50 | {r['method']} | {r['evals']:,.0f} | {r['rmse']:.3g} | {r['seconds']:.2f} |")
    if args.network:
        print("\n| Fashion-MNIST DDPM | method | network evals / image | spread of log p (nats) | mean log p | "
              "seconds per repetition |\n|---|---|---|---|---|---|")
        for r in network_case(args.images, [32, 128, 512], [1e-2, 1e-3], args.repeats, args.seed):
            print(f"| {args.images} images | {r['method']} | {r['evals']:,.0f} | {r['spread']:.2f} | {r['mean']:.1f} | "
                  f"{r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
