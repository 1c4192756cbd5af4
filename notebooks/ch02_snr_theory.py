# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. The SNR of the optimal denoiser and Theorem 1
#
# **Reproduces** paper 1 {cite}`li2025representation` (arXiv 2502.05743). Sections follow **v3** (the NeurIPS
# text) unless marked: Definition 1 (the representation SNR), Theorem 1 with Lemma 2 (the approximate SNR),
# Fig. 3(b) (exact vs approximate SNR), Fig. 4 (denoising rate vs class-confidence rate), Fig. 14 (parameter
# sweeps), and App. C: Table 4 (orthogonal and overlapping subspaces), Table 5 (unequal ranks), Table 6
# (non-uniform mixing) and Table 7 (non-zero-mean clusters). The last section follows **v1** (its abstract: a
# trade-off between generation and representation near the end of sampling) and v3 App. B.2 (clean inputs with
# time conditioning). Every number on this page is computed when the book is built, by the notebook
# `notebooks/ch02_snr_theory.py`; the headline numbers go to the [reproduction table](reproduction.md).
#
# All denoisers here are **exact**: the posterior mean $\mathbb E[x_0 \mid x_t]$ of chapter {doc}`ch01_molrg`, with
# $x_t = x_0 + \sigma_t \epsilon$. The paper's App. C tables come from its *trained* DAE; where the exact
# posterior and the paper's numbers differ, both are shown with the reason we can give.

# %% tags=["parameters", "remove-cell"]
seed = 0  # every random draw below derives from this seed
dim = 50  # ambient dimension n of the Table 4-6 and Fig. 3 models (paper: 50)
rank = 5  # class rank d (paper: 5)
delta = 0.2  # data-noise level (paper: 0.2)
num_samples = 30000  # points per noise level for the binary models of Tables 4-6 (paper: 30,000)
fig3_classes = 3  # K of Fig. 3 and 4 (paper: 3)
fig3_samples = 9000  # points per noise level for Fig. 3(b) (paper: 9,000 per test set)
fig3_levels = 25  # log-spaced noise levels for Fig. 3(b) and the trade-off
sweep_samples = 2400  # points per noise level in the Fig. 14 sweeps (paper: 2,400)
sweep_levels = 17  # log-spaced noise levels per Fig. 14 curve
table7_samples = 6000  # points per noise level for the non-zero-mean clusters of Table 7
table7_mean_norm = 3.0  # norm of each class mean in Table 7 (reconstructed; not given in the paper)
limit_samples = 20000  # points for the sigma to 0 and sigma to infinity limits

# %% tags=["remove-input"]
from lowdim.book.page import Chapter
from lowdim.book.style import relabel, use_book_style

chapter = Chapter("ch02_snr_theory", globals(), arxiv=["2502.05743v3", "2502.05743v1"])
chapter.header()

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from lowdim import MoLRG
from lowdim.book.reproduction import Reproduction
from lowdim.representation.curves import is_decreasing, is_unimodal, posterior_curve, with_class_means
from lowdim.schedules import ddpm_sigma_at, ddpm_sigmas, paper1_sigma_grid
from lowdim.metrics import snr_from_energies, subspace_energies
from lowdim.representation.network import fit_block_scales, paper_network, paper_snr_energies, scaled_blocks
from lowdim.representation.theory import confidence_rate, lemma2_weights, theorem1_snr

use_book_style()
rec = Reproduction(notebook="ch02_snr_theory")
colors = sns.color_palette("deep", 6)
edm_grid = paper1_sigma_grid(9)  # 0.002, 0.008, ..., 1.923 (Tables 4-6)


def exact_curve(model, num, sigmas, sample_seed, **kwargs):
    """posterior_curve on a fresh labelled sample of `model` (sample seed `sample_seed`, noise seed one more)."""
    x0, labels = model.sample(num, seed=sample_seed)
    return posterior_curve(model, x0, labels, sigmas, seed=sample_seed + 1, **kwargs)


# %% [markdown]
# ## Definition 1: the SNR of a denoiser (v3)
#
# For a denoiser (or any feature map) $\hat x$ and class subspaces $U_k^\star$,
#
# $$\mathrm{SNR}(\hat x, t) = \mathbb E_k\left[\frac{\mathbb E\big[\|P_k \hat x(x_t)\|^2 \mid k\big]}{\mathbb E\big[\|\hat x(x_t) - P_k \hat x(x_t)\|^2 \mid k\big]}\right],\qquad P_k = U_k^\star U_k^{\star\top},$$
#
# the energy on the true class's subspace over the energy elsewhere: a ratio of class-conditional expectations,
# then a mean over classes. `lowdim.metrics.snr` implements it for any outputs (exact, approximate or trained
# denoisers); for features of a real network, `class_subspaces` estimates the $U_k$ by a class-wise SVD after
# `normalize_features` (the recipe of the paper's App. D), and `class_mean_bases` uses the class-mean directions.
#
# Two limits follow from the model (our derivation, not stated in this form in the paper). As $\sigma_t \to 0$ the
# optimal denoiser returns the clean point, whose class-$k$ energy is $d$ and whose off-class energy is
# $\delta^2 (K-1) d$: $\mathrm{SNR} \to 1/((K-1)\delta^2)$. As $\sigma_t \to \infty$ every class is equally likely
# and the denoiser shrinks the isotropic noise equally in every class subspace: $\mathrm{SNR} \to 1/(K-1)$.
#
# Below, the exact-posterior SNR of the binary MoLRG ($n = 50$, $d = 5$, $\delta = 0.2$, orthogonal subspaces) is
# set beside the paper's Table 4 ($\theta = 90^\circ$, the paper's trained DAE).

# %% tags=["hide-input"]
paper_t4_90 = [24.88, 25.15, 26.95, 35.84, 58.27, 20.84, 4.05, 1.57]  # paper 1, Table 4, theta 90, sigma 0.008..1.923
paper_t4_30 = [16.70, 16.92, 18.39, 25.97, 38.54, 22.88, 14.56, 12.55]  # paper 1, Table 4, theta 30
binary = MoLRG.random(dim, [rank, rank], delta=delta, seed=seed)
overlap = MoLRG.random(dim, [rank, rank], delta=delta, angle_deg=30.0, seed=seed)
res90 = exact_curve(binary, num_samples, edm_grid, sample_seed=seed + 10)
res30 = exact_curve(overlap, num_samples, edm_grid, sample_seed=seed + 20)
t4 = pd.DataFrame(dict(sigma=edm_grid[1:].numpy(), paper_90=paper_t4_90, ours_90=res90["snr"][1:].numpy(),
                       paper_30=paper_t4_30, ours_30=res30["snr"][1:].numpy()))
t4["rel_diff_90"] = (t4["ours_90"] - t4["paper_90"]).abs() / t4["paper_90"]
for s, p, o in zip(t4["sigma"], t4["paper_90"], t4["ours_90"]):
    rec.add(item="Def. 1 / Table 4", figure="fig-ch02-table4", quantity=f"exact-posterior SNR, binary MoLRG, sigma {s:.3f}",
            ours=o, paper=p, tolerance=0.05, kind="rel",
            note=f"paper: trained DAE; ours: exact posterior, {num_samples} samples")
relabel(t4.style.format({"sigma": "{:.3f}", "paper_90": "{:.2f}", "ours_90": "{:.2f}", "paper_30": "{:.2f}",
                         "ours_30": "{:.2f}", "rel_diff_90": "{:.1%}"}).hide(axis="index"),
        {"sigma": "σ", "paper_90": "SNR 90°, paper", "ours_90": "SNR 90°, ours", "paper_30": "SNR 30°, paper",
         "ours_30": "SNR 30°, ours", "rel_diff_90": "relative difference 90°"})

# %% tags=["remove-input"] mystnb={"figure": {"caption": "SNR (Definition 1) of the exact posterior mean of the binary MoLRG ($n = 50$, $d = 5$, $\\delta = 0.2$) against the noise level, for orthogonal subspaces (90°) and subspaces at 30°, with the paper's Table 4 values (trained DAE) as markers and the two limits $1/((K-1)\\delta^2)$ (dashed) and $1/(K-1)$ (dotted). Made by notebook ch02_snr_theory.", "name": "fig-ch02-table4"}}
fig, ax = plt.subplots(figsize=(6.6, 3.8))
ax.loglog(edm_grid, res90["snr"], "o-", color=colors[0], label="exact posterior, 90°")
ax.loglog(edm_grid[1:], paper_t4_90, "x", ms=9, mew=2, color=colors[0], label="paper Table 4, 90°")
ax.loglog(edm_grid, res30["snr"], "s-", color=colors[1], label="exact posterior, 30°")
ax.loglog(edm_grid[1:], paper_t4_30, "x", ms=9, mew=2, color=colors[1], label="paper Table 4, 30°")
ax.axhline(1 / delta**2, color="0.4", ls="--", lw=1)
ax.axhline(1.0, color="0.4", ls=":", lw=1)
ax.text(edm_grid[-1], 1 / delta**2 * 1.1, r"$1/((K-1)\delta^2)$", fontsize=9, color="0.3", ha="right")
ax.text(edm_grid[-1], 1.1, r"$1/(K-1)$", fontsize=9, color="0.3", ha="right")
ax.set_xlabel(r"noise level $\sigma_t$")
ax.set_ylabel("SNR")
ax.legend(fontsize=9, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# At $\theta = 90^\circ$ the exact posterior agrees with the paper's trained DAE within a few percent at every noise
# level (see the table; the largest gap, about 4 % in the full run, is at $\sigma = 0.585$, just after the peak,
# where the SNR changes fastest, and the smaller quick run can exceed 5 % there): the paper's DAE has learned the
# optimal denoiser, as Proposition 1 predicts. The limits, checked below at $\sigma = 10^{-4}$ and $10^{3}$ with
# the same code, are $25$ and $1$.

# %% tags=["hide-input"]
limit_sigmas = torch.tensor([1e-4, 1e3], dtype=torch.float64)
limits = []
for K in (2, 3):
    model_k = MoLRG.random(dim, [rank] * K, delta=delta, seed=seed)
    lim = exact_curve(model_k, limit_samples, limit_sigmas, sample_seed=seed + 30 + K)["snr"]
    for value, target, where in ((lim[0], 1 / ((K - 1) * delta**2), "sigma 1e-4"), (lim[1], 1 / (K - 1), "sigma 1e3")):
        rec.add(item="Def. 1 limits", figure="fig-ch02-table4", quantity=f"exact SNR at {where}, K = {K}",
                ours=float(value), expected=target, tolerance=0.03, kind="rel",
                note=f"Monte Carlo, {limit_samples} samples (about 1 % standard error)")
        limits.append(dict(K=K, where=where, ours=float(value), limit=target))
pd.DataFrame(limits).style.format({"ours": "{:.3f}", "limit": "{:.3f}"}).hide(axis="index")

# %% [markdown]
# ## Theorem 1: the approximate SNR (v3, Fig. 3b)
#
# Theorem 1 replaces the softmax gate $w_k^\star(x_t)$ of the optimal denoiser by constants, the softmax of the
# expected logits (Lemma 2): $\hat w^+ = 1/(1 + (K-1)e^{-D_t})$ on the true class and $\hat w^- = e^{-D_t}/(1 + (K-1)e^{-D_t})$ on
# each other class. With $h(w, \delta) = (1-\delta^2) w + \delta^2$ and $C_t = (1+\sigma_t^2)/(\delta^2+\sigma_t^2)$,
#
# $$\mathrm{SNR} \approx \frac{C_t}{K-1}\left(\frac{1 + \frac{\sigma_t^2}{\delta^2} h(\hat w^+_t, \delta)}{1 + \frac{\sigma_t^2}{\delta^2} h(\hat w^-_t, \delta)}\right)^2 .$$
#
# The logit gap $D_t$ comes in two versions, and they differ: the paper prints
# $D_t = (1-\delta^2) d / (2\sigma_t^2(1+\sigma_t^2))$, while the expectation of the exact gate logits of eq. 5 over
# $x_t$ is $D_t = (1-\delta^2)^2 d / (2(1+\sigma_t^2)(\delta^2+\sigma_t^2))$ (our derivation, tested by Monte Carlo in
# `tests/test_theory.py`). The paper's version keeps the $\phi_t$ part of the gate and drops the $\psi_t$ part; the two
# agree once $\sigma_t \gg \delta$. Both are drawn against the exact SNR for the Fig. 3 model ($K = 3$).

# %% tags=["hide-input"]
fine_grid = torch.logspace(np.log10(0.002), np.log10(3.0), fig3_levels, dtype=torch.float64)
fig3_model = MoLRG.random(dim, [rank] * fig3_classes, delta=delta, seed=seed)
fig3 = exact_curve(fig3_model, fig3_samples, fine_grid, sample_seed=seed + 40)
fig3_clean = exact_curve(fig3_model, fig3_samples, fine_grid, sample_seed=seed + 40, input="clean")
approx = {kind: theorem1_snr(fine_grid, delta, rank, fig3_classes, kind) for kind in ("paper", "exact")}
peaks = {"exact posterior": float(fine_grid[fig3["snr"].argmax()])}
peaks.update({f"Theorem 1 ({kind} D_t)": float(fine_grid[v.argmax()]) for kind, v in approx.items()})
print("noise level of the SNR peak: " + "; ".join(f"{k}: sigma = {v:.3f}" for k, v in peaks.items()))

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Paper 1's Fig. 3(b) with exact denoisers: SNR of the exact posterior mean ($K = 3$, $n = 50$, $d = 5$, $\\delta = 0.2$) and the Theorem 1 approximation with the paper's logit gap $D_t$ and with the exact expected logit gap. Made by notebook ch02_snr_theory.", "name": "fig-ch02-theorem1"}}
fig, ax = plt.subplots(figsize=(6.6, 3.8))
ax.loglog(fine_grid, fig3["snr"], "o-", ms=4, color=colors[0], label="exact posterior (Monte Carlo)")
ax.loglog(fine_grid, approx["paper"], "-", color=colors[1], label=r"Theorem 1, paper's $D_t$")
ax.loglog(fine_grid, approx["exact"], "--", color=colors[2], label=r"Theorem 1, exact $\mathbb{E}$ of the logits")
ax.axhline(1 / ((fig3_classes - 1) * delta**2), color="0.4", ls=":", lw=1)
ax.set_xlabel(r"noise level $\sigma_t$")
ax.set_ylabel("SNR")
ax.legend(fontsize=9, loc="lower left")
plt.tight_layout()
plt.show()

# %% tags=["remove-cell"]
rec.add(item="Fig. 3(b)", figure="fig-ch02-theorem1", quantity="exact-posterior SNR unimodal along the grid (1 yes, 0 no), K = 3",
        ours=float(is_unimodal(fig3["snr"], atol=0.02 * float(fig3["snr"].max()))), expected=1.0, tolerance=0, kind="abs", source="claim",
        note="steps against the trend up to 2 % of the peak allowed (Monte Carlo noise)")
rec.add(item="Fig. 3(b)", figure="fig-ch02-theorem1", quantity="sigma of the exact-posterior SNR peak, K = 3",
        ours=peaks["exact posterior"], note="the paper's Fig. 3 peaks between timesteps 60 and 80 of T = 500 (sigma 0.28-0.38)")
for kind in ("paper", "exact"):
    rec.add(item="Theorem 1", figure="fig-ch02-theorem1", quantity=f"peak sigma of the approximate SNR ({kind} D_t) / exact peak sigma",
            ours=peaks[f"Theorem 1 ({kind} D_t)"] / peaks["exact posterior"],
            note="the approximation peaks later than the exact SNR (no paper value)")

# %% [markdown]
# **Tightness at the paper's Fig. 3 timesteps.** The paper says the approximation "consistently aligns" with the
# SNR of the optimal denoiser. We code that claim as: the ratio approximate / exact SNR stays within 10 % of 1 at every
# timestep the paper plots (T = 500 steps 5, 10, ..., 280, 0-indexed as in chapter 1); 10 % is our reading of
# "aligns", far above the Monte Carlo error of the exact SNR (about 1 %).

# %% tags=["hide-input"]
fig3_steps = [5, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180, 240, 260, 280]  # paper 1, App. D / Fig. 3 timesteps
fig3_step_sigmas = ddpm_sigma_at([t - 1 for t in fig3_steps], 500)
fig3_at_steps = exact_curve(fig3_model, fig3_samples, fig3_step_sigmas, sample_seed=seed + 45)["snr"]
tight = pd.DataFrame(dict(timestep=fig3_steps, sigma=fig3_step_sigmas.numpy(), exact=fig3_at_steps.numpy()))
for kind in ("paper", "exact"):
    tight[f"ratio ({kind} D_t)"] = theorem1_snr(fig3_step_sigmas, delta, rank, fig3_classes, kind).numpy() / tight["exact"]
    worst = int(np.abs(np.log(tight[f"ratio ({kind} D_t)"])).argmax())
    rec.add(item="Theorem 1 (tightness)", figure="fig-ch02-theorem1",
            quantity=f"approximate / exact SNR at the Fig. 3 timestep farthest from 1 ({kind} D_t), K = 3",
            ours=float(tight[f"ratio ({kind} D_t)"].iloc[worst]), expected=1.0, tolerance=0.1, kind="rel", source="claim",
            note=f"timestep {fig3_steps[worst]} (sigma {float(fig3_step_sigmas[worst]):.3f}); the paper's claim "
                 "'consistently aligns' read as within 10 %")
    rec.add(item="Theorem 1 (tightness)", figure="fig-ch02-theorem1",
            quantity=f"fraction of the 14 Fig. 3 timesteps where the approximation ({kind} D_t) is within 10 % of the exact SNR",
            ours=float((np.abs(tight[f"ratio ({kind} D_t)"] - 1) <= 0.1).mean()), expected=1.0, tolerance=0, kind="abs",
            source="claim", note="K = 3, n = 50, d = 5, delta = 0.2")
tight.style.format({"sigma": "{:.3f}", "exact": "{:.2f}", "ratio (paper D_t)": "{:.2f}", "ratio (exact D_t)": "{:.2f}"}).hide(axis="index")

# %% [markdown]
# The approximation has the right shape (unimodal, same limits) but it peaks later and higher than the exact SNR.
# Our explanation (not the paper's) is the only approximation it makes, the constant weights: the exact gate $w^\star(x_t)$ is a random
# softmax whose mean on the true class falls earlier than the softmax of the mean logits (Jensen's inequality on a
# convex-then-saturating map). The paper's $D_t$ is larger than the exact expected gap at small $\sigma_t$, so its
# curve stays on the high-confidence branch even longer. The paper presents Fig. 3(b) as showing that the
# approximation is tight; with exact computation the qualitative agreement holds, the numerical agreement near
# the peak does not.
#
# ## Denoising rate against class-confidence rate (v3, Fig. 4)
#
# In Theorem 1 the SNR grows with the *denoising rate* $\sigma_t^2/\delta^2$ (the class-irrelevant detail is removed
# faster than the class) as long as the *class-confidence rate* $h(\hat w^+_t, \delta)$ stays near 1, and collapses
# when $h(\hat w^+_t, \delta)$ falls to $h(\hat w^-_t, \delta)$. The figure also shows the confidence rate of the exact
# denoiser, $h(\mathbb E[w^\star_k(x_t) \mid k], \delta)$, measured by Monte Carlo.

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Paper 1's Fig. 4: the denoising rate $\\sigma^2/\\delta^2$ (rising) and the class-confidence rate $h(w_+, \\delta)$ (falling) for $K = 3$, $d = 5$, $\\delta = 0.2$, with Lemma 2's weights (paper and exact logit gap) and with the mean true-class posterior of the exact denoiser. The two rates have separate axes (left, log; right, linear): where the curves cross means nothing. Made by notebook ch02_snr_theory.", "name": "fig-ch02-rates"}}
fig, ax1 = plt.subplots(figsize=(6.6, 3.8))
ax1.loglog(fine_grid, fine_grid**2 / delta**2, color=colors[3], label=r"denoising rate $\sigma_t^2/\delta^2$")
ax1.set_xlabel(r"noise level $\sigma_t$")
ax1.set_ylabel("denoising rate", color=colors[3])
ax2 = ax1.twinx()
for kind, style in (("paper", "-"), ("exact", "--")):
    w_pos, _ = lemma2_weights(fine_grid, delta, rank, fig3_classes, kind)
    ax2.semilogx(fine_grid, confidence_rate(w_pos, delta), style, color=colors[1 if kind == "paper" else 2],
                 label=rf"$h(\hat w^+_t,\delta)$, {kind} $D_t$")
ax2.semilogx(fine_grid, confidence_rate(fig3["confidence"], delta), "o", ms=4, color=colors[0],
             label=r"$h(\mathbb{E}[w^\star_k \mid k],\delta)$, exact denoiser")
ax2.axhline(float(confidence_rate(1 / fig3_classes, delta)), color="0.5", ls=":", lw=1)
ax2.set_ylabel("class-confidence rate")
ax2.grid(False)
lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
ax2.legend(lines, [ln.get_label() for ln in lines], fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
plt.tight_layout()
plt.show()

# %% tags=["remove-input"]
crossing = float(fine_grid[(confidence_rate(fig3["confidence"], delta) < 0.5 * (1 + float(confidence_rate(1 / fig3_classes, delta)))).nonzero()[0, 0]])
rec.add(item="Fig. 4", figure="fig-ch02-rates", quantity="sigma where the exact confidence rate is halfway to its large-noise value",
        ours=crossing, note="no paper value; compare the sigma of the exact SNR peak")
print(f"exact confidence rate halfway down at sigma = {crossing:.3f}; exact SNR peak at {peaks['exact posterior']:.3f}")

# %% [markdown]
# ## Parameter sweeps (v3, App. C, Fig. 14)
#
# Defaults $n = 100$, $d = 5$, $K = 10$, $\delta = 0.3$, 2,400 samples per noise level; each panel varies one
# parameter. Solid: exact posterior; dashed: Theorem 1 with the exact logit gap; dotted: with the paper's $D_t$.
# The ambient dimension $n$ changes nothing (the data and the optimal denoiser live in the span of the class
# subspaces, and the noise outside it is removed exactly), which the first panel shows. The approximation
# depends on $d$ only through $D_t$.

# %% tags=["hide-input"]
sweep_grid = torch.logspace(np.log10(0.01), np.log10(3.0), sweep_levels, dtype=torch.float64)
defaults = dict(n=100, d=5, K=10, delta=0.3)
sweeps = dict(n=[50, 100, 200], d=[2, 5, 10], K=[3, 10, 20], delta=[0.1, 0.3, 0.5])
sweep_rows = []
for p_i, (name, values) in enumerate(sweeps.items()):
    for v_i, value in enumerate(values):
        par = {**defaults, name: value}
        model_s = MoLRG.random(par["n"], [par["d"]] * par["K"], delta=par["delta"], seed=seed + 100 + 10 * p_i + v_i)
        exact_s = exact_curve(model_s, sweep_samples, sweep_grid, sample_seed=seed + 100 + 10 * p_i + v_i)["snr"]
        for kind in ("exact", "paper"):
            appr = theorem1_snr(sweep_grid, par["delta"], par["d"], par["K"], kind)
            sweep_rows += [dict(param=name, value=value, kind=f"Theorem 1 ({kind} D_t)", sigma=float(s), snr=float(a))
                           for s, a in zip(sweep_grid, appr)]
        sweep_rows += [dict(param=name, value=value, kind="exact posterior", sigma=float(s), snr=float(e))
                       for s, e in zip(sweep_grid, exact_s)]
sweep_df = pd.DataFrame(sweep_rows)

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Paper 1's Fig. 14: exact-posterior SNR (solid) and Theorem 1 with the exact logit gap (dashed) and with the paper's $D_t$ (dotted) against the noise level; defaults $n = 100$, $d = 5$, $K = 10$, $\\delta = 0.3$, one parameter varied per panel. Made by notebook ch02_snr_theory.", "name": "fig-ch02-sweeps"}}
fig, axes = plt.subplots(2, 2, figsize=(10, 7))
axes = axes.ravel()  # 2 x 2 panels: tick labels stay readable at the book's width
styles = {"exact posterior": "-", "Theorem 1 (exact D_t)": "--", "Theorem 1 (paper D_t)": ":"}
for ax, (name, values) in zip(axes, sweeps.items()):
    for v_i, value in enumerate(values):
        for kind, style in styles.items():
            sel = sweep_df[(sweep_df.param == name) & (sweep_df.value == value) & (sweep_df.kind == kind)]
            ax.loglog(sel.sigma, sel.snr, style, color=colors[v_i], label=f"{name} = {value}" if kind == "exact posterior" else None)
    ax.set_title(f"vary {name}")
    ax.set_xlabel(r"$\sigma_t$")
    ax.legend(fontsize=9, loc="lower left")
axes[0].set_ylabel("SNR"), axes[2].set_ylabel("SNR")
plt.tight_layout()
plt.show()

# %% tags=["hide-input"]
def curve_summary(g):
    """Unimodality, peak sigma and peak SNR of one sweep curve."""
    snr_values = g.snr.to_numpy()
    return pd.Series(dict(unimodal=is_unimodal(snr_values, atol=0.03 * snr_values.max()),
                          peak_sigma=g.sigma.to_numpy()[snr_values.argmax()], peak_snr=snr_values.max()))


summary = sweep_df.groupby(["param", "value", "kind"], sort=False).apply(curve_summary, include_groups=False).reset_index()
exact_rows = summary[summary.kind == "exact posterior"]
rec.add(item="Fig. 14", figure="fig-ch02-sweeps", quantity="fraction of the 12 exact-posterior sweep curves that are unimodal",
        ours=float(exact_rows.unimodal.mean()), expected=1.0, tolerance=0, kind="abs", source="claim",
        note="steps against the trend up to 3 % of the peak allowed (Monte Carlo noise)")
rec.add(item="Fig. 14", figure="fig-ch02-sweeps", quantity="fraction of the 24 Theorem 1 sweep curves that are unimodal",
        ours=float(summary[summary.kind != "exact posterior"].unimodal.mean()), expected=1.0, tolerance=0, kind="abs", source="claim",
        note="closed form, both logit gaps")
exact_peaks = summary[summary.kind == "exact posterior"].peak_sigma.to_numpy()
approx_peaks = summary[summary.kind == "Theorem 1 (exact D_t)"].peak_sigma.to_numpy()
rec.add(item="Fig. 14", figure="fig-ch02-sweeps", quantity="fraction of the 12 sweep settings where Theorem 1 (exact D_t) peaks at or after the exact SNR",
        ours=float((approx_peaks >= exact_peaks).mean()), note="no paper value; grid resolution decides ties")
wide = sweep_df.pivot_table(index=["param", "value", "sigma"], columns="kind", values="snr", sort=False)
for kind in ("exact", "paper"):
    ratio = wide[f"Theorem 1 ({kind} D_t)"] / wide["exact posterior"]
    within = (np.abs(ratio - 1) <= 0.1).groupby(level=["param", "value"], sort=False).all()
    rec.add(item="Fig. 14 (tightness)", figure="fig-ch02-sweeps",
            quantity=f"fraction of the 12 sweep curves where Theorem 1 ({kind} D_t) stays within 10 % of the exact SNR",
            ours=float(within.mean()), expected=1.0, tolerance=0, kind="abs", source="claim",
            note="the paper's 'consistently aligns' read as within 10 % at every sweep level")
    rec.add(item="Fig. 14 (tightness)", figure="fig-ch02-sweeps",
            quantity=f"largest approximate / exact SNR over the 12 sweep curves ({kind} D_t)",
            ours=float(ratio.max()), expected=1.0, tolerance=0.1, kind="rel", source="claim",
            note=f"at {ratio.idxmax()[0]} = {ratio.idxmax()[1]:g}, sigma {ratio.idxmax()[2]:.3f}")
summary["value"] = summary["value"].map(lambda v: f"{v:g}")
summary.pivot_table(index=["param", "value"], columns="kind", values="peak_sigma", sort=False).style.format("{:.3f}")

# %% [markdown]
# The table gives the peak $\sigma_t$ of each curve on the sweep grid. The reproduction table records how many of
# the curves are unimodal and in how many settings the approximation peaks at or after the exact SNR; as in
# Fig. 3(b), it tends to peak later. The small-noise level of every curve is the data's $1/((K-1)\delta^2)$, so the
# $K$ and $\delta$ panels shift the curves vertically, and the $n$ panel shows three copies of one curve up to Monte
# Carlo noise.
#
# ## Appendix C variants (v3, Tables 4–7)
#
# The paper's App. C repeats the binary experiment of Table 4 with overlapping subspaces (Table 4, $\theta = 30^\circ$),
# unequal ranks $d_0 = 10$, $d_1 = 2$ (Table 5), non-uniform mixing $\pi = (0.8, 0.2)$ (Table 6), and clusters with
# well-separated non-zero means (Table 7), all with its trained DAE. Here each is computed with the exact
# posterior. Our overlapping bases put every principal angle between the two subspaces at $30^\circ$
# (`MoLRG.random(angle_deg=30)`); the paper does not say how it builds them. Tables 5 and 6 report per-class SNRs
# and an "overall" SNR that is not the mean of the two; we show the class mean (Definition 1) and the pooled ratio
# $\mathbb E\|P_k\hat x\|^2 / \mathbb E\|\hat x - P_k \hat x\|^2$ over all points (our guess at "overall").

# %% tags=["hide-input"]
paper_t5 = dict(class0=[68.94, 69.00, 69.83, 74.87, 102.24, 195.44, 215.31, 34.17, 8.44],
                class1=[7.75, 7.75, 7.80, 8.08, 8.79, 6.50, 1.80, 0.46, 0.27],
                overall=[24.12, 24.13, 24.28, 25.21, 28.19, 23.34, 8.18, 2.84, 1.45])  # paper 1, Table 5
paper_t6 = dict(class0=[52.35, 52.43, 52.98, 56.74, 75.61, 134.76, 72.38, 13.56, 4.50],
                class1=[12.15, 12.16, 12.31, 13.10, 17.49, 23.91, 6.05, 1.17, 0.52],
                overall=[38.69, 38.74, 39.17, 41.85, 55.77, 90.54, 35.28, 7.40, 2.81])  # paper 1, Table 6
ranks_model = MoLRG.random(dim, [2 * rank, 2], delta=delta, seed=seed)
mixing_model = MoLRG.random(dim, [rank, rank], delta=delta, weights=[0.8, 0.2], seed=seed)
variants = {}
appc_labels = {"sigma": "σ", "paper_c0": "class 0, paper", "ours_c0": "class 0, ours", "paper_c1": "class 1, paper",
               "ours_c1": "class 1, ours", "paper_overall": "overall, paper", "ours_mean": "mean of classes, ours",
               "ours_pooled": "pooled, ours"}
for name, model_v, paper_v, offset in (("Table 5 (unequal ranks)", ranks_model, paper_t5, 50),
                                       ("Table 6 (mixing 0.8/0.2)", mixing_model, paper_t6, 60)):
    res = exact_curve(model_v, num_samples, edm_grid, sample_seed=seed + offset)
    pooled = exact_curve(model_v, num_samples, edm_grid, sample_seed=seed + offset, reduction="pooled")["snr"]
    variants[name] = dict(res=res, pooled=pooled, paper=paper_v)
    rows = pd.DataFrame(dict(sigma=edm_grid.numpy(), paper_c0=paper_v["class0"], ours_c0=res["snr_per_class"][:, 0].numpy(),
                             paper_c1=paper_v["class1"], ours_c1=res["snr_per_class"][:, 1].numpy(),
                             paper_overall=paper_v["overall"], ours_mean=res["snr"].numpy(), ours_pooled=pooled.numpy()))
    display(Markdown(f"**{name}**: SNR per class, the paper's trained DAE against the exact posterior"),
            relabel(rows.style.format("{:.2f}").format("{:.3f}", subset=["sigma"]).hide(axis="index"), appc_labels))

# %% [markdown]
# Table 7's setting is not given beyond "well-separated clusters with non-zero means". Our **reconstruction**
# (an assumption, labelled as such in every row): the binary MoLRG above with class $k$ shifted by a mean of norm
# 3 orthogonal to every class subspace, SNR measured against the class subspaces $U_k$ (so the means count as
# off-class energy), accuracy of the Bayes classifier $\arg\max_k P(k \mid x_t)$ instead of the paper's linear probe.
# The mean norm was chosen so that the small-noise SNR lands near the paper's 0.54; the point tested is the
# shape, a monotone curve.

# %% tags=["hide-input"]
paper_t7_sigma = [0.030, 0.053, 0.098, 0.189, 0.282, 0.379, 0.480, 0.588, 0.704, 0.830, 0.989, 1.492]  # Table 7 header
paper_t7_snr = [0.540, 0.539, 0.535, 0.524, 0.513, 0.502, 0.484, 0.465, 0.436, 0.406, 0.370, 0.297]  # Table 7 SNR
paper_t7_acc = [100, 100, 100, 99.8, 97.7, 92.4, 85.7, 78.5, 71.8, 66.0, 61.6, 52.6]  # Table 7 accuracy, percent
t7_grid = torch.tensor(paper_t7_sigma, dtype=torch.float64)
free = torch.linalg.qr(torch.randn(dim, 2 * rank + 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 70)))[0]
directions = free[:, 2 * rank:] - torch.cat(binary.bases, 1) @ (torch.cat(binary.bases, 1).T @ free[:, 2 * rank:])
directions = torch.linalg.qr(directions)[0]  # two unit directions orthogonal to both class subspaces and each other
separated = with_class_means(binary, table7_mean_norm * directions.T)
t7 = exact_curve(separated, table7_samples, t7_grid, sample_seed=seed + 70, bases=binary.bases)
pd.DataFrame({"σ": paper_t7_sigma, "SNR, paper": paper_t7_snr, "SNR, ours": t7["snr"].numpy(),
              "accuracy (%), paper": paper_t7_acc, "Bayes accuracy (%), ours": 100 * t7["accuracy"].numpy()}).round(3)

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Paper 1, App. C variants with the exact posterior (lines) beside the paper's trained-DAE values (crosses): (a) unequal ranks $d = 10$ and $2$ (Table 5), per class and pooled over classes (beside the paper's overall column); (b) non-uniform mixing 0.8/0.2 (Table 6), likewise; (c) well-separated non-zero-mean clusters (Table 7, reconstructed setting), SNR and Bayes accuracy. Overlapping subspaces are in the Table 4 figure. Made by notebook ch02_snr_theory.", "name": "fig-ch02-appc"}}
fig = plt.figure(figsize=(10, 7.6))
grid = fig.add_gridspec(2, 2)  # (a), (b) side by side, (c) below at full width
axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])]
for ax, letter, (name, v) in zip(axes[:2], "ab", variants.items()):
    for c in (0, 1):
        ax.loglog(edm_grid, v["res"]["snr_per_class"][:, c], "o-", ms=4, color=colors[c], label=f"exact, class {c}")
        ax.loglog(edm_grid, v["paper"][f"class{c}"], "x", ms=8, mew=2, color=colors[c], label=f"paper, class {c}")
    ax.loglog(edm_grid, v["pooled"], "s--", ms=3, color=colors[2], label="exact, pooled")
    ax.loglog(edm_grid, v["paper"]["overall"], "x", ms=8, mew=2, color=colors[2], label="paper, overall")
    ax.set_title(f"({letter}) {name}")
    ax.set_xlabel(r"$\sigma_t$")
    if letter == "a":  # the same six entries in (a) and (b)
        ax.legend(fontsize=9, loc="lower left", ncol=2)
axes[0].set_ylabel("SNR")
ax = axes[2]
ax.semilogx(t7_grid, t7["snr"], "o-", ms=4, color=colors[0], label="exact SNR (reconstructed setting)")
ax.semilogx(t7_grid, paper_t7_snr, "x", ms=8, mew=2, color=colors[0], label="paper SNR")
ax.set_title("(c) Table 7 (non-zero means)")
ax.set_xlabel(r"$\sigma_t$")
ax.set_ylabel("SNR")
ax_acc = ax.twinx()
ax_acc.semilogx(t7_grid, 100 * t7["accuracy"], "s--", ms=3, color=colors[3], label="Bayes accuracy (ours)")
ax_acc.semilogx(t7_grid, paper_t7_acc, "+", ms=8, mew=2, color=colors[3], label="paper probe accuracy")
ax_acc.set_ylabel("accuracy (%)")
ax_acc.grid(False)
lines = ax.get_legend_handles_labels()[0] + ax_acc.get_legend_handles_labels()[0]
ax.legend(lines, [ln.get_label() for ln in lines], fontsize=9, loc="lower left")
plt.tight_layout()
plt.show()

# %% tags=["remove-input"]
def peak_sigma(values, grid):
    """The noise level of `grid` where a curve is largest."""
    return float(grid[int(torch.as_tensor(values).argmax())])


rec.add(item="Table 4 (30°)", figure="fig-ch02-table4", quantity="sigma of the SNR peak, subspaces at 30 degrees",
        ours=peak_sigma(res30["snr"], edm_grid), paper=0.296, tolerance=5e-4, kind="abs",
        note="our bases have all principal angles at 30 degrees; the paper's construction is not given")
rec.add(item="Table 4 (30°)", figure="fig-ch02-table4", quantity="SNR at sigma 0.008, subspaces at 30 degrees",
        ours=float(res30["snr"][1]), paper=paper_t4_30[0], tolerance=0.05, kind="rel",
        note="exact posterior: overlap raises the small-noise SNR to (1 + delta^2 cos^2)/(delta^2 sin^2); the paper's DAE lowers it")
v5, v6 = variants["Table 5 (unequal ranks)"], variants["Table 6 (mixing 0.8/0.2)"]
for c, paper_peak in ((0, 0.585), (1, 0.14)):
    rec.add(item="Table 5", figure="fig-ch02-appc", quantity=f"sigma of the class-{c} SNR peak (d_{c} = {ranks_model.ranks[c]})",
            ours=peak_sigma(v5["res"]["snr_per_class"][:, c], edm_grid), paper=paper_peak, tolerance=5e-4, kind="abs",
            note="exact posterior on the EDM grid")
rec.add(item="Table 5", figure="fig-ch02-appc", quantity="pooled SNR at sigma 0.002 vs the paper's overall",
        ours=float(v5["pooled"][0]), paper=paper_t5["overall"][0], tolerance=0.05, kind="rel",
        note="Monte Carlo; the per-class values differ (exact limits d_k/(delta^2 d_l) = 125 and 5)")
peak5 = [peak_sigma(v5["res"]["snr_per_class"][:, c], edm_grid) for c in (0, 1)]
order5 = "later than" if peak5[0] > peak5[1] else ("at the same noise level as" if peak5[0] == peak5[1] else "earlier than")
display(Markdown(f"**Table 5 in this build:** the exact SNR of the high-rank class (d = {ranks_model.ranks[0]}) peaks at "
                 f"$\\sigma$ = {peak5[0]:.3f}, {order5} the low-rank class (d = {ranks_model.ranks[1]}, $\\sigma$ = {peak5[1]:.3f}). "
                 "The paper's DAE peaks later for the high-rank class (0.585) and earlier for the low-rank class (0.14)"
                 + (": that ordering is reproduced." if peak5[0] > peak5[1] else ": the exact posterior does not reproduce that ordering.")))
for c in (0, 1):
    rec.add(item="Table 6", figure="fig-ch02-appc", quantity=f"sigma of the class-{c} SNR peak (pi = {[0.8, 0.2][c]})",
            ours=peak_sigma(v6["res"]["snr_per_class"][:, c], edm_grid), paper=0.296, tolerance=5e-4, kind="abs",
            note="exact posterior on the EDM grid; the paper prints 3 decimals")
rec.add(item="Table 6", figure="fig-ch02-appc", quantity="class-0 / class-1 SNR at the peak (majority class higher)",
        ours=float(v6["res"]["snr_per_class"][:, 0].max() / v6["res"]["snr_per_class"][:, 1].max()), paper=134.76 / 23.91,
        tolerance=0.5, kind="rel", note="at sigma 0.002 the exact SNR is 25 for both classes; the paper's 52 vs 12 cannot be an optimal denoiser's")
rec.add(item="Table 7", figure="fig-ch02-appc", quantity="SNR decreasing along the Table 7 grid (1 yes, 0 no)",
        ours=float(is_decreasing(t7["snr"], atol=0.01 * float(t7["snr"].max()))), expected=1.0, tolerance=0, kind="abs", source="claim",
        note="reconstructed setting (mean norm 3, Bayes classifier)")
rec.add(item="Table 7", figure="fig-ch02-appc", quantity="SNR at sigma 1.492 / SNR at sigma 0.030",
        ours=float(t7["snr"][-1] / t7["snr"][0]), paper=paper_t7_snr[-1] / paper_t7_snr[0], tolerance=0.3, kind="rel",
        note="reconstructed setting; the mean norm 3 was picked to match the small-noise SNR, not this ratio")
rec.add(item="Table 7", figure="fig-ch02-appc", quantity="accuracy (%) at sigma 1.492",
        ours=100 * float(t7["accuracy"][-1]), paper=paper_t7_acc[-1], tolerance=5, kind="abs",
        note="ours: Bayes classifier of the reconstructed model; paper: linear probe on the trained DAE");

# %% [markdown]
# What agrees and what does not:
#
# * **Non-uniform mixing (Table 6).** As in the paper, the majority class has the higher SNR and both classes peak at
#   $\sigma = 0.296$. The paper's small-noise values (52.35 and 12.15) cannot come from an optimal denoiser: as
#   $\sigma \to 0$ it returns the clean point, whose SNR is $1/\delta^2 = 25$ in both classes whatever $\pi$ is. The
#   paper's DAE (or its data) differ from the model as stated; the next section tests its network.
# * **Unequal ranks (Table 5).** The exact per-class limits are $d_k/(\delta^2 d_l)$ (125 and 5), not the paper's
#   68.94 and 7.75 (the paper's DAE, with one shared gate, is not the exact posterior for unequal ranks), and the
#   sentence in bold above says where each class of the exact posterior peaks against the paper. The pooled ratio is close to the paper's
#   "overall" column at small noise (its limit is $(d_0 + d_1)/(\delta^2 (d_0 + d_1)) = 25$ for equal class
#   weights), which supports reading "overall" as pooled.
# * **Overlapping subspaces (Table 4, 30°).** With every principal angle at 30°, part of each class's "noise"
#   $\delta \tilde U_k e$ lies inside its own subspace, so the exact SNR *rises* (about 103 at small noise) and peaks
#   earlier; the paper reports a lower SNR (16.7) with the peak kept at 0.296. The paper's DAE has orthonormal
#   $U = [U_1, U_2]$ (eq. 4), so it cannot represent overlapping subspaces, and its SNR is that of a misspecified
#   model (the next section evaluates it).
# * **Non-zero means (Table 7).** In the reconstruction the SNR falls monotonically, as the paper reports: the
#   class means are kept by the denoiser at every noise level while the class-subspace energy shrinks, so there is
#   no rising phase. The exact Bayes classifier stays far more accurate than the paper's probe at large noise.
#
# The next section tests the obvious explanation of the first three bullets: that the tables measure the paper's
# network, not the optimal denoiser.

# %% [markdown]
# ## The paper's network as printed: is it what Tables 4–6 measure?
#
# The App. C tables come from the paper's *trained parameterised network* (eqs. 4–5), not from the Bayes posterior.
# As printed, its gate is $w_l = \mathrm{softmax}_l(\phi_t\|U_l^\top x_t\|^2 + \psi_t\|\tilde U_l^\top x_t\|^2)$ with no
# log-determinant and no $\log\pi_l$ term, and nothing keeps $U = [U_1, \dots, U_K]$ orthonormal. With equal ranks
# and equal weights this is the posterior mean (Prop. 1); with unequal ranks (Table 5) or weights (Table 6) the gate
# lacks exactly the terms that make it the class posterior (tested in `tests/test_network.py`), and with
# overlapping subspaces (Table 4 at 30°) the blocks are not orthogonal. `lowdim.representation.network` implements
# it for any blocks. We evaluate it (a) at $U = U^\star$ and (b) at the $U$ that minimises the training loss
# (eq. 2 with an $x_0$ target and $\lambda_t = 1$, as in chapter 3, uniform over the $T = 500$ DDPM levels, 12,000
# training points as in App. D) within the family $U_l = s_l U_l^\star$ (one scale per class block;
# `fit_block_scales`). Training the full $U$ is chapter 3's subject.
#
# **Definition 1 as the paper states it** takes the network's class-$k$ feature block $h_k$ and decodes it with the
# true basis: $\|U_k^\star h_k\|^2 / \|\hat x - U_k^\star h_k\|^2$. The projection form used elsewhere in this book,
# $\|P_k \hat x\|^2 / \|\hat x - P_k\hat x\|^2$, coincides with it when $U = U^\star$ has mutually orthogonal blocks
# (Table 4 at 90°, Tables 5 and 6 at $U^\star$); it differs for scaled blocks, and sharply for overlapping ones (at
# 30°, $\hat x - U_k^\star h_k$ is the other block's decoded feature, which carries most of a class-$k$ point's
# energy). The rows below use the paper's form; the printed table gives both.

# %% tags=["hide-input"]
net_seed = seed + 200
net_models = {"Table 4 (30°)": (overlap, dict(overall=paper_t4_30), 1),  # Table 4 starts at sigma = 0.008
              "Table 5 (unequal ranks)": (ranks_model, paper_t5, 0),
              "Table 6 (mixing 0.8/0.2)": (mixing_model, paper_t6, 0)}
net_rows, net_curves, net_scales = [], {}, {}
for t_i, (table, (model_t, paper_v, first)) in enumerate(net_models.items()):
    x_train, _ = model_t.sample(12000, seed=net_seed + 10 * t_i)
    net_scales[table] = fit_block_scales(model_t.bases, x_train, ddpm_sigmas(500), delta, seed=net_seed + 10 * t_i + 1)
    x0_t, y_t = model_t.sample(num_samples, seed=net_seed + 10 * t_i + 2)
    gen_t = torch.Generator().manual_seed(net_seed + 10 * t_i + 3)
    for variant, blocks in (("U = U*", model_t.bases), ("fitted scales", scaled_blocks(model_t.bases, net_scales[table].scales))):
        energies = {"paper form": ([], []), "projection form": ([], [])}
        for s_l in edm_grid[first:]:
            x_t = x0_t + s_l * torch.randn(x0_t.shape, dtype=torch.float64, generator=gen_t)
            out = paper_network(x_t, float(s_l), blocks, delta)
            for form, (sig_e, res_e) in energies.items():
                e = paper_snr_energies(out, y_t, model_t.bases) if form == "paper form" else subspace_energies(out.x_hat, y_t, model_t.bases)
                sig_e.append(e[0])
                res_e.append(e[1])
        for form, (sig_e, res_e) in energies.items():
            mean_snr, per_class = snr_from_energies(torch.stack(sig_e), torch.stack(res_e), y_t, 2)
            pooled_snr, _ = snr_from_energies(torch.stack(sig_e), torch.stack(res_e), y_t, 2, "pooled")
            cols = dict(class0=per_class[:, 0], class1=per_class[:, 1],
                        overall=mean_snr if table == "Table 4 (30°)" else pooled_snr)  # Table 4: Definition 1's class mean
            net_curves[(table, variant, form)] = cols
            net_rows += [dict(table=table, variant=variant, form=form, column=col, sigma=float(s_l), ours=float(v))
                         for col in paper_v for s_l, v in zip(edm_grid[first:], cols[col])]
net_df = pd.DataFrame(net_rows)
print("fitted per-class scales:", {t: [round(v, 3) for v in f.scales.tolist()] for t, f in net_scales.items()})
net_df.pivot_table(index=["table", "column", "sigma"], columns=["variant", "form"], values="ours", sort=False).round(2)

# %% tags=["hide-input"]
net_tol = 0.15  # relative: a two-parameter family fitted by us against the paper's fully trained U (Monte Carlo ~1 %)
bayes_curves = {"Table 4 (30°)": dict(overall=res30["snr"][1:]),
                "Table 5 (unequal ranks)": dict(class0=v5["res"]["snr_per_class"][:, 0], class1=v5["res"]["snr_per_class"][:, 1],
                                                overall=v5["pooled"]),
                "Table 6 (mixing 0.8/0.2)": dict(class0=v6["res"]["snr_per_class"][:, 0], class1=v6["res"]["snr_per_class"][:, 1],
                                                 overall=v6["pooled"])}
tally = []
for table, (model_t, paper_v, first) in net_models.items():
    grid_t = edm_grid[first:]
    candidates = {"Bayes posterior": bayes_curves[table],
                  "network, U = U*": net_curves[(table, "U = U*", "paper form")],
                  "network, fitted scales": net_curves[(table, "fitted scales", "paper form")]}
    if table == "Table 4 (30°)":
        candidates["network, U = U*, projection form"] = net_curves[(table, "U = U*", "projection form")]
    for name, cols in candidates.items():
        form = "projection form" if name == "Bayes posterior" or "projection" in name else "Def. 1 in the paper's form"
        note = ("exact E[x_0 | x_t]" if name == "Bayes posterior" else "eqs. 4-5 as printed, " + (
            f"per-class scales {[round(v, 3) for v in net_scales[table].scales.tolist()]}" if "fitted" in name else "true bases"))
        for col, paper_col in paper_v.items():
            values = torch.as_tensor(cols[col])
            checks = [("SNR at the smallest sigma", float(values[0]), paper_col[0], net_tol, "rel"),
                      ("sigma of the SNR peak", peak_sigma(values, grid_t), float(grid_t[int(np.argmax(paper_col))]), 5e-4, "abs"),
                      ("peak SNR", float(values.max()), max(paper_col), net_tol, "rel")]
            for what, ours_v, paper_value, tol, kind_v in checks:
                row = rec.add(item=f"{table.split(' (')[0]} ({table.split(' (')[1][:-1]}): {name}", figure="fig-ch02-network",
                              quantity=f"{col} {what}, {name} ({form})", ours=ours_v, paper=paper_value, tolerance=tol,
                              kind=kind_v, note=note)
                tally.append(dict(table=table, denoiser=name, reproduced=row["status"] == "reproduced"))
tally = pd.DataFrame(tally)
score = tally.groupby(["table", "denoiser"], sort=False).reproduced.agg(["sum", "count"])
score

# %% tags=["remove-input"] mystnb={"figure": {"caption": "App. C tables against three denoisers: the Bayes posterior (dotted), the paper's network of eqs. 4–5 as printed at $U = U^\\star$ (dashed) and at the loss-minimising per-class scales (solid), SNR in the paper's form of Definition 1 (for 30° also the projection form at $U^\\star$, dash-dot); crosses: the paper's values. (a) Table 4 at 30° (class mean); (b) Table 5 per class and pooled; (c) Table 6 likewise. Made by notebook ch02_snr_theory.", "name": "fig-ch02-network"}}
fig, axes = plt.subplots(3, 1, figsize=(7.5, 11))  # stacked: three log-log panels stay readable at the book's width
for ax, letter, (table, (model_t, paper_v, first)) in zip(axes, "abc", net_models.items()):
    grid_t = edm_grid[first:]
    for c_i, col in enumerate(paper_v):
        color = colors[2] if col == "overall" else colors[c_i]
        ax.loglog(grid_t, paper_v[col], "x", ms=8, mew=2, color=color, label=f"paper, {col}")
        ax.loglog(grid_t, torch.as_tensor(bayes_curves[table][col]), ":", color=color)
        ax.loglog(grid_t, net_curves[(table, "U = U*", "paper form")][col], "--", color=color)
        ax.loglog(grid_t, net_curves[(table, "fitted scales", "paper form")][col], "-", color=color)
    if table == "Table 4 (30°)":
        ax.loglog(grid_t, net_curves[(table, "U = U*", "projection form")]["overall"], "-.", color=colors[4],
                  label="network at U*, projection form")
    ax.plot([], [], "k:", label="Bayes posterior")
    ax.plot([], [], "k--", label="network, U = U*")
    ax.plot([], [], "k-", label="network, fitted scales")
    ax.set_title(f"({letter}) {table}", fontsize=10)
    ax.set_xlabel(r"$\sigma_t$")
    ax.legend(fontsize=8, loc="lower left", ncol=2)
    ax.set_ylabel("SNR")
plt.tight_layout()
plt.show()

# %% tags=["remove-input"]
per_table = tally.groupby(["table", "denoiser"], sort=False).reproduced.agg(["sum", "count"])


def table_sentence(table):
    """Counts of reproduced checks per denoiser for one table, and the plain verdict."""
    sc = per_table.loc[table]
    counts = ", ".join(f"{name} {int(sc.loc[name, 'sum'])}" for name in sc.index)
    best = sc["sum"].idxmax()
    ties = sc.index[sc["sum"] == sc["sum"].max()].tolist()
    if "Bayes posterior" in ties:
        verdict = "the paper's network does not match it better than the Bayes posterior"
    else:
        verdict = (f"**the paper's network ({' / '.join(t.replace('network, ', '') for t in ties)}) matches it better than "
                   "the Bayes posterior does: this table measures the paper's architecture, not the optimal denoiser**")
    return f"{table} ({int(sc['count'].iloc[0])} checks each): {counts} reproduced; {verdict}."


# direction of the small-noise values in Table 6: does fitting the scales move them the way the paper's numbers lie?
t6 = "Table 6 (mixing 0.8/0.2)"
moves = [np.sign(float(net_curves[(t6, "fitted scales", "paper form")][col][0] - net_curves[(t6, "U = U*", "paper form")][col][0]))
         == np.sign(paper_t6[col][0] - float(net_curves[(t6, "U = U*", "paper form")][col][0])) for col in ("class0", "class1")]
t30 = tally[tally.table == "Table 4 (30°)"].groupby("denoiser", sort=False).reproduced.sum()
best30 = t30["network, U = U*, projection form"] > t30.drop("network, U = U*, projection form").max()
display(Markdown(
    f"**Verdict (computed from the rows above; small-noise SNR, peak location and peak value of each column, "
    f"{net_tol:.0%} tolerance on values).** " + " ".join(table_sentence(t) for t in net_models)
    + (" In Table 6 the scales the loss picks (to make up for the gate's missing log-prior) move both classes' "
       "small-noise SNR in the direction of the paper's values (class 0 up, class 1 down), but not far enough to "
       "reproduce them within tolerance." if all(moves) else "")
    + (" For Table 4 at 30°, the paper's numbers fit its network at $U^\\star$ evaluated with the projection form of "
       f"Definition 1, not the form the paper prints (the printed form gives "
       f"{float(net_curves[('Table 4 (30°)', 'U = U*', 'paper form')]['overall'][0]):.2f} at $\\sigma$ = 0.008 against the "
       f"paper's {paper_t4_30[0]})." if best30 else
       " No single form of the paper's network explains the 30° column.")))

# %% [markdown]
# ## The trade-off near $\sigma \to 0$ (v1 abstract) and clean inputs (v3, App. B.2)
#
# The v1 abstract speaks of "a fundamental trade-off between generation and representation quality near the final
# stage of image generation". The v1 body was not available to us; the statement below is **our reconstruction**
# from the v3 model. As $\sigma_t \to 0$ the optimal denoiser becomes exact, its posterior MSE
# $\mathbb E\|\mathbb E[x_0\mid x_t] - x_0\|^2$ falls to 0 (like $\sigma_t^2 K d$: the noise left in the $K d$-dimensional
# data span), so generation is best there; but its SNR falls to the data's $1/((K-1)\delta^2)$, below its value at
# intermediate noise. The right panel evaluates the same optimal denoiser at the *clean* point,
# $\hat x^\star(x_0, t)$, the time-conditioned variant of App. B.2: the SNR is again unimodal, with a later and
# higher peak, as the paper reports for real networks (Fig. 11).

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Left: posterior MSE (falling to 0) and SNR (falling to $1/((K-1)\\delta^2)$) of the optimal denoiser as $\\sigma \\to 0$, $K = 3$ MoLRG ($n = 50$, $d = 5$, $\\delta = 0.2$). Right: SNR of the optimal denoiser with noisy input $x_t$ and with clean input $x_0$ plus time conditioning (App. B.2). Made by notebook ch02_snr_theory.", "name": "fig-ch02-tradeoff"}}
fig, (ax1, ax3) = plt.subplots(1, 2, figsize=(10, 3.8))
ax1.loglog(fine_grid, fig3["mse"], "o-", ms=4, color=colors[3], label="posterior MSE")
ax1.loglog(fine_grid, fine_grid**2 * fig3_classes * rank, ":", color=colors[3], label=r"$\sigma_t^2 K d$")
ax1.set_xlabel(r"noise level $\sigma_t$")
ax1.set_ylabel("posterior MSE", color=colors[3])
ax2 = ax1.twinx()
ax2.semilogx(fine_grid, fig3["snr"], "s-", ms=4, color=colors[0], label="SNR")
ax2.axhline(1 / ((fig3_classes - 1) * delta**2), color=colors[0], ls="--", lw=1, label=r"$1/((K-1)\delta^2)$")
ax2.set_ylabel("SNR", color=colors[0])
ax2.grid(False)
lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
ax1.legend(lines, [ln.get_label() for ln in lines], fontsize=9, loc="upper left")
ax3.loglog(fine_grid, fig3["snr"], "o-", ms=4, color=colors[0], label=r"noisy input $\hat x^\star(x_t, t)$")
ax3.loglog(fine_grid, fig3_clean["snr"], "s-", ms=4, color=colors[1], label=r"clean input $\hat x^\star(x_0, t)$")
ax3.set_xlabel(r"noise level $\sigma_t$")
ax3.set_ylabel("SNR")
ax3.legend(fontsize=9, loc="upper left")
plt.tight_layout()
plt.show()

# %% tags=["remove-cell"]
small = 0  # index of the smallest noise level of the fine grid
rec.add(item="Trade-off (v1)", figure="fig-ch02-tradeoff", quantity="posterior MSE / (sigma^2 K d) at the smallest sigma",
        ours=float(fig3["mse"][small] / (fine_grid[small] ** 2 * fig3_classes * rank)), expected=1.0, tolerance=0.05, kind="rel",
        note=f"sigma {float(fine_grid[small]):.3f}; Monte Carlo ({fig3_samples} samples)")
rec.add(item="Trade-off (v1)", figure="fig-ch02-tradeoff", quantity="SNR at the smallest sigma vs 1/((K-1) delta^2), K = 3",
        ours=float(fig3["snr"][small]), expected=1 / ((fig3_classes - 1) * delta**2), tolerance=0.05, kind="rel",
        note="Monte Carlo")
rec.add(item="Trade-off (v1)", figure="fig-ch02-tradeoff", quantity="peak SNR / SNR at the smallest sigma (> 1: representation is worse at sigma to 0)",
        ours=float(fig3["snr"].max() / fig3["snr"][small]), note="reconstructed statement; no paper value")
rec.add(item="App. B.2", figure="fig-ch02-tradeoff", quantity="clean-input SNR unimodal (1 yes, 0 no)",
        ours=float(is_unimodal(fig3_clean["snr"], atol=0.02 * float(fig3_clean["snr"].max()))), expected=1.0, tolerance=0, kind="abs", source="claim",
        note="optimal denoiser at x_0 with time conditioning")
rec.add(item="App. B.2", figure="fig-ch02-tradeoff", quantity="peak sigma, clean input / noisy input",
        ours=float(fine_grid[fig3_clean["snr"].argmax()] / fine_grid[fig3["snr"].argmax()]),
        note="> 1: the clean-input peak comes later (no paper value)")
rec.save()
chapter.finish(rec);
