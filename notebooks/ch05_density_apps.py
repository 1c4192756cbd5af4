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
# # 5. Applications of the density formula
#
# **Reproduces** three applications in §4 of paper 2 {cite}`li2024density` (Li & Yan, arXiv 2408.16765, **v1**):
# the diffusion classifier (§4.3), the score-matching regulariser of GANs (§4.2) and the diffusion loss of
# autoregressive models (§4.4), each on an exactly solvable model. Every number on this page is computed when the
# book is built, by `notebooks/ch05_density_apps.py` with `lowdim.density.classifier`, `lowdim.density.applications`
# and `lowdim.density.app_experiments`; the headline numbers go to the [reproduction table](reproduction.md).
#
# ```{admonition} Provenance
# :class: warning
# The paper's theorem environments and the text of §4 were not available to us. What these sections claim is
# **reconstructed** from the section titles ("Understanding the role of regularization in GAN", "Confirming the use
# of ELBO in diffusion classifier", "Demystifying the diffusion loss in autoregressive models") and the ICLR 2025
# reviews; the statements below are our derivations from the density formula of {doc}`ch04_density` (itself
# reconstructed), verified numerically here. The paper reports no experiments: every row of the reproduction table
# from this chapter compares with an exact or theoretical value, not with a paper number.
# ```
#
# Conventions as in {doc}`ch04_density`: Li–Yan time $X_t = \sqrt{1-t}\,X_0 + \sqrt t\,Z$, log-SNR
# $\lambda = \log((1-t)/t)$, $d\lambda = -dt/(t(1-t))$, noise prediction $\varepsilon_t(x) = \mathbb E[Z \mid X_t = x]$.
# The formula reads $\log p(x) = -\tfrac n2\log(2\pi e) - \tfrac12\int_{\mathbb R} \mathbb E\big[\|Z - \varepsilon_t(X_t)\|^2 -
# (1-t)\|Z\|^2\big]\,d\lambda$ with $X_t = \sqrt{1-t}\,x + \sqrt t\,Z$.

# %% tags=["parameters", "remove-cell"]
seed = 0  # every random draw below derives from this seed
num_points = 500  # test points per data set for the classifier
budgets = [4, 16, 64, 256]  # classifier budgets K (t-values, one noise each) per point and class
check_t = 64  # t-values of the large-budget classifier check
check_noise = 32  # noise replicates of the large-budget classifier check
check_points = 100  # points of the large-budget classifier check
molrg_dim = 16  # ambient dimension of the MoLRG
molrg_classes = 4  # classes of the MoLRG
molrg_rank = 2  # rank of each class subspace
molrg_delta = 0.3  # MoLRG data noise delta
gan_steps = 150  # Adam steps of the 1-D generator fits
ar_nodes = 10  # Gauss-Hermite nodes per component for the two-token data expectation

# %% tags=["remove-input"]
from lowdim.book.page import Chapter
from lowdim.book.style import relabel, use_book_style

chapter = Chapter("ch05_density_apps", globals(), arxiv=["2408.16765v1"])
chapter.header()

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from lowdim import GaussianMixture, MoLRG
from lowdim.book.reproduction import Reproduction
from lowdim.book.text import latex_sci
from lowdim.checks import DTYPE, LOG_2PI_E
from lowdim.density import app_experiments as E
from lowdim.density import applications as A
from lowdim.density import classifier as C
from lowdim.density import formula as D
from lowdim.metrics import accuracy

use_book_style()
rec = Reproduction(notebook="ch05_density_apps")

# %% [markdown]
# ## The diffusion classifier (§4.3)
#
# Li et al. {cite}`li2023diffclassifier` classify with a class-conditional noise predictor by
# $p(c\mid x) \approx \mathrm{softmax}_c\big(-\mathbb E_{t,\varepsilon}\|\varepsilon - \varepsilon_\theta(x_t, c)\|^2\big)$,
# with $t$ evenly spaced over the DDPM timesteps and the same noises for every class. Applying the density formula
# to each class-conditional law $p(x\mid c)$ gives the **exact** Bayes log-posterior (derived; §4.3 confirms
# "the use of ELBO" in the classifier):
#
# $$\log p(c\mid x) = \log\pi_c - \frac12\int_{\mathbb R} \mathbb E\,\|Z - \varepsilon_t(X_t\mid c)\|^2\,d\lambda +
#   \text{(the same for every class)},$$
#
# i.e. the noise-prediction error weighted by $dt/(t(1-t))$ (the ELBO weighting), with a factor $\tfrac12$. The
# heuristic changes both the weighting (uniform in DDPM steps) and the scale (a mean instead of the integral).
# `lowdim.density.classifier.diffusion_classifier` implements both as quadrature rules over $t$ applied to any
# class-conditional noise predictor: the **ELBO-weighted** rule is a trapezoid rule on $K$ points uniform in
# $\lambda \in [-10, 15]$ and subtracts the formula's control variate $(1-t)\|Z\|^2$ (the same mean for every
# class); the **uniform** rule takes $K$ evenly spaced steps of a 1000-step linear DDPM schedule with weight $1/K$
# (Li et al.'s code). Each $t$ gets one noise draw, so the budget is $K$ noise predictions per point and class;
# with *shared noise* all classes see the same draws.
#
# Two data sets, with the exact class-conditional noise predictors: a 2-D three-class mixture (the middle class is
# itself a two-component mixture) and a MoLRG with $K = 4$ classes of rank 2 in $n = 16$ dimensions. The MoLRG
# classes have no density in $\mathbb R^{16}$ (they live in an 8-dimensional subspace), so the density formula
# diverges for each class (as for the near-low-rank data of {doc}`ch04_density`), but the class *differences* are finite: with shared
# noise the divergent parts cancel exactly.

# %% tags=["hide-input"]
gm_2d = GaussianMixture([[-1.5, 0.0], [1.2, 1.0], [1.8, -0.8], [0.0, -1.8]],
                        [[[0.6, 0.0], [0.0, 0.6]], [[0.4, 0.2], [0.2, 0.5]], [[0.5, -0.1], [-0.1, 0.3]],
                         [[1.2, 0.0], [0.0, 0.2]]], [0.35, 0.2, 0.2, 0.25])
groups_2d = [[0], [1, 2], [3]]
molrg = MoLRG.random(molrg_dim, [molrg_rank] * molrg_classes, molrg_delta, seed=seed)
groups_mo = [[k] for k in range(molrg_classes)]

tasks = {"2-D, 3 classes": E.classification_task(gm_2d, gm_2d, groups_2d, num_points, seed + 1),
         f"MoLRG, {molrg_classes} classes in {molrg_dim}-D": E.classification_task(molrg, molrg.to_mixture(), groups_mo,
                                                                                  num_points, seed + 2)}
configs = {  # name: (rule factory, shared noise)
    "ELBO-weighted, shared noise": (lambda K: C.elbo_rule(K), True),
    "ELBO-weighted, independent noise": (lambda K: C.elbo_rule(K), False),
    "ELBO-weighted, independent, raw error": (lambda K: C.elbo_rule(K, control_variate=False), False),
    "uniform (Li et al.), shared noise": (lambda K: C.uniform_rule(K), True),
    "uniform (Li et al.), independent noise": (lambda K: C.uniform_rule(K), False),
}
rows = []
for tname, task in tasks.items():
    rows.append({"data": tname, "method": "exact Bayes", "budget": np.nan,
                 "accuracy": float(accuracy(task["exact"], task["labels"])),
                 "ECE": C.expected_calibration_error(task["exact"], task["labels"]), "log-odds error": 0.0,
                 "agrees with Bayes": 1.0})
    for cname, (rule_of, shared) in configs.items():
        for K in budgets:
            out = C.diffusion_classifier(task["x"], task["eps"], task["num_classes"], rule_of(K), 1,
                                         task["log_prior"], shared, seed)
            lp = out.log_posterior
            rows.append({"data": tname, "method": cname, "budget": K, "accuracy": float(accuracy(lp, task["labels"])),
                         "ECE": C.expected_calibration_error(lp, task["labels"]),
                         "log-odds error": float(C.log_odds_error(lp, task["exact"]).median()),
                         "agrees with Bayes": float(accuracy(lp, task["exact"].argmax(1)))})
table_clf = pd.DataFrame(rows)
Kmax = max(budgets)
table_clf[(table_clf.budget == Kmax) | table_clf.budget.isna()].style.format(
    {"budget": "{:.0f}", "accuracy": "{:.1%}", "ECE": "{:.3f}", "log-odds error": "{:.2f}",
     "agrees with Bayes": "{:.1%}"}).hide(axis="index")

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Diffusion classifiers against the budget $K$ (noise predictions per point and class, one noise per $t$-value), for the 2-D three-class mixture (top) and the 16-D MoLRG (bottom): accuracy (%; Bayes accuracy dashed), expected calibration error (15 bins; the exact posterior's dashed) and the median over points of the largest log-odds error against the exact Bayes posterior. Rules: ELBO-weighted (trapezoid in log-SNR, with the control variate $(1-t)\\|Z\\|^2$ subtracted) and uniform (evenly spaced DDPM steps, Li et al.), each with noise shared by all classes or drawn independently per class; 'independent, raw error' is the ELBO-weighted rule with independent noise and without the control variate. Made by notebook ch05_density_apps.", "name": "fig-ch05-classifier"}}
fig, axes = plt.subplots(2, 3, figsize=(10, 7.2))
colors = dict(zip(configs, sns.color_palette("deep", len(configs))))
styles = dict(zip(configs, ["-", "--", ":", "-", "--"]))
for row, tname in zip(axes, tasks):
    sub = table_clf[table_clf.data == tname]
    bayes = sub[sub.method == "exact Bayes"].iloc[0]
    for cname in configs:
        s = sub[sub.method == cname]
        for ax, col in zip(row, ["accuracy", "ECE", "log-odds error"]):
            scale = 100 if col == "accuracy" else 1  # accuracy in percent
            ax.plot(s.budget, scale * s[col], styles[cname], marker="o", ms=4, color=colors[cname], label=cname)
    row[0].axhline(100 * bayes["accuracy"], color="k", ls="--", lw=1, label="exact Bayes")
    row[1].axhline(bayes["ECE"], color="k", ls="--", lw=1)
    row[2].set_yscale("log")
    for ax, col in zip(row, ["accuracy (%)", "ECE", "median log-odds error"]):
        ax.set_xscale("log", base=2), ax.set_ylabel(col), ax.set_title(tname)
for ax in axes[1]:
    ax.set_xlabel("budget K per point and class")
handles, labels = axes[0, 0].get_legend_handles_labels()
fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
plt.tight_layout(rect=(0, 0.09, 1, 1))
plt.show()

# %% [markdown]
# The ELBO-weighted classifier with shared noise converges to the Bayes posterior: its accuracy reaches the Bayes
# accuracy, its calibration error reaches that of the exact posterior (which is not 0 on a finite test set), and its
# log-odds error falls like $K^{-1/2}$ (Monte Carlo error of a consistent estimator). The uniform heuristic picks
# nearly the same class (its accuracy is close to Bayes) but its probabilities are far too flat: a mean of errors
# instead of half their $\lambda$-integral is a much higher temperature, and the weighting differs, so its log-odds
# error does not decrease with the budget and its calibration error stays large. Shared noise matters most in the
# 16-D MoLRG, where the 8 directions outside the data span contribute class-independent noise that only cancels
# when the classes share it; in 2-D the control variate alone already removes most of the independent-noise
# penalty of the ELBO-weighted rule.

# %% tags=["remove-input"]
target_err, target_K = 0.05, 200  # target set when this book was planned: median log-odds error < 0.05 at K = 200
K_hi, K_lo = sorted(budgets)[-1], sorted(budgets)[-2]


parts, needs, rates = [], [], []
for tname in tasks:
    e7 = table_clf[(table_clf.data == tname) & (table_clf.method == "ELBO-weighted, shared noise")].set_index("budget")
    e_hi, e_lo = float(e7.loc[K_hi, "log-odds error"]), float(e7.loc[K_lo, "log-odds error"])
    rate = float(np.log(e_hi / e_lo) / np.log(K_hi / K_lo))  # log-log slope between the two largest budgets
    needs.append(K_hi * (e_hi / target_err) ** (-1.0 / rate))  # budget at which this rate reaches the target
    rates.append(rate)
    parts.append(f"{e_hi:.2f} for the {tname} data (log-log slope {rate:.2f} between $K = {K_lo}$ and $K = {K_hi}$)")
display(Markdown(
    f"**The target set when this book was planned is not reached.** It asks for a median log-odds error below {target_err:g} at "
    f"$K = {target_K}$ evaluations; with shared noise and the ELBO weighting, the median over points of the largest "
    f"log-odds error (over classes) at $K = {K_hi}$ is " + "; and ".join(parts) + ". "
    f"Slopes of {min(rates):.2f} to {max(rates):.2f} are close to the Monte Carlo rate $K^{{-1/2}}$ of one noise draw per "
    f"$t$-value, and at the measured rates the error reaches {target_err:g} only at $K \\approx {latex_sci(min(needs))}$ to "
    f"${latex_sci(max(needs))}$ noise predictions per point and class, {min(needs) / target_K:.0f} to "
    f"{max(needs) / target_K:.0f} times the target budget. The book therefore does not test the size of the error at "
    f"a fixed budget; it tests that the estimator is unbiased, with correctly estimated standard errors, by the "
    f"$z$-scores below."))

# %% [markdown]
# A larger budget at a subset of the points checks that the estimator is unbiased: the ELBO-weighted rule with
# shared noise is repeated with independent replicates (each a full $t$-grid with its own noises; the budget column
# counts all evaluations per point and class), so each log-odds $\log p(c\mid x) - \log p(0\mid x)$ gets a standard
# error. The $z$-scores of the errors against the exact log-odds should have mean square 1.

# %% tags=["hide-input"]
check_rows = []
for tname, task in tasks.items():
    xs = task["x"][:check_points]
    out = C.diffusion_classifier(xs, task["eps"], task["num_classes"], C.elbo_rule(check_t), check_noise,
                                 task["log_prior"], True, seed + 7)
    ex = task["exact"][:check_points]
    err = (out.log_posterior - out.log_posterior[:, :1]) - (ex - ex[:, :1])
    z = (err[:, 1:] / out.log_odds_stderr[:, 1:]).reshape(-1)
    z1 = err[:, 1] / out.log_odds_stderr[:, 1]  # one log-odds per point: independent across points
    check_rows.append({"data": tname, "budget": out.num_evals, "mean |log-odds error|": float(err[:, 1:].abs().mean()),
                       "mean standard error": float(out.log_odds_stderr[:, 1:].mean()),
                       "mean z^2": float((z**2).mean()), "mean z (class 1 vs 0)": float(z1.mean())})
table_check = pd.DataFrame(check_rows)
for r in check_rows:
    rec.add(item="P2 §4.3 (diffusion classifier)", figure="fig-ch05-classifier",
            quantity=f"{r['data']}: mean z-score of the log-odds error (bias)", ours=r["mean z (class 1 vs 0)"],
            expected=0.0, tolerance=3.0 / np.sqrt(check_points), kind="abs",
            note=f"ELBO-weighted, shared noise, {r['budget']} evaluations, {check_points} points; "
                 "Monte Carlo within 3 standard errors of the mean")
    rec.add(item="P2 §4.3 (diffusion classifier)", figure="fig-ch05-classifier",
            quantity=f"{r['data']}: mean squared z-score of the log-odds", ours=r["mean z^2"], expected=1.0,
            tolerance=0.5, kind="abs",
            note=f"{check_points} points; about 1 for an unbiased estimator with correct errors "
                 f"({check_noise - 1}/{check_noise - 3} for errors estimated from {check_noise} replicates)")
for tname in tasks:
    sub = table_clf[(table_clf.data == tname)]
    bayes_acc = float(sub[sub.method == "exact Bayes"].accuracy.iloc[0])
    for cname in ["ELBO-weighted, shared noise", "uniform (Li et al.), shared noise"]:
        s = sub[(sub.method == cname) & (sub.budget == Kmax)].iloc[0]
        rec.add(item="P2 §4.3 (diffusion classifier)", figure="fig-ch05-classifier",
                quantity=f"{tname}, {cname}, K = {Kmax}: accuracy - Bayes accuracy",
                ours=float(s.accuracy) - bayes_acc, expected=0.0, tolerance=0.05, kind="abs",
                note=f"{num_points} test points; similar argmax")
        rec.add(item="P2 §4.3 (diffusion classifier)", figure="fig-ch05-classifier",
                quantity=f"{tname}, {cname}, K = {Kmax}: ECE", ours=float(s.ECE),
                note="calibration: no reference value (exact posterior's ECE in the table)")
relabel(table_check.style.format({"mean |log-odds error|": "{:.3f}", "mean standard error": "{:.3f}", "mean z^2": "{:.2f}",
                                  "mean z (class 1 vs 0)": "{:.3f}"}).hide(axis="index"), {"mean z^2": "mean z²"})

# %% [markdown]
# ## The score-matching regulariser of GANs is a cross-entropy (§4.2)
#
# A generator $G_\theta(z)$ is regularised with a pretrained diffusion model's score by a denoising score-matching
# term (SMaRt-style; which GAN paper §4.2 discusses is our guess). Evaluated with the *true* data score,
#
# $$\begin{aligned}\mathcal R(\theta) &= \mathbb E_z\,\frac12\int_0^1\Big(\frac{1}{1-t}\,\mathbb E\Big\|\nabla\log p_t(X_t) + \frac{X_t - \sqrt{1-t}\,G_\theta(z)}{t}\Big\|^2 - \frac nt\Big)dt \\
#   &= \mathbb E_z\big[-\log p(G_\theta(z))\big] - \frac n2\log(2\pi e),\end{aligned}$$
#
# by the density formula at $x = G_\theta(z)$ (derived; reconstructed content of §4.2): the regulariser is the
# cross-entropy $H(p_\theta, p) = \mathrm{KL}(p_\theta\,\|\,p) + H(p_\theta)$. Without an entropy term it is
# minimised by a point mass at the highest mode of $p$: **mode collapse**, and together with $-H(p_\theta)$ it is the
# reverse KL, which is mode seeking. We check the identity and its gradient (autograd through the exact score,
# keeping the score's Jacobian) for the 1-D affine generator $G_\theta(z) = a + bz$, $z\sim\mathcal N(0,1)$, and the
# data $p = 0.3\,\mathcal N(-2, 0.25) + 0.7\,\mathcal N(1.5, 1)$ of {doc}`ch04_density`; expectations over $z$ and
# $Z$ by Gauss–Hermite.

# %% tags=["remove-input"]
gm1 = GaussianMixture([[-2.0], [1.5]], [[[0.25]], [[1.0]]], [0.3, 0.7])
z30, zw30 = D.gauss_hermite(30, 1)
fine = C.elbo_rule(400, -25.0, 30.0)
gaps, grad_gaps = [], []
for a, log_b in [(-2.0, -1.0), (0.5, 0.0), (1.5, -0.5), (3.0, 0.3)]:
    th = torch.tensor([a, log_b], dtype=DTYPE, requires_grad=True)
    R = A.score_regulariser(gm1, th, z30[:, 0], zw30, fine, 40)
    H = A.cross_entropy(gm1, th, z30[:, 0], zw30)
    gR, = torch.autograd.grad(R, th)
    gH, = torch.autograd.grad(H, th)
    gaps.append(abs(float(R.detach()) + 0.5 * LOG_2PI_E - float(H.detach())))
    grad_gaps.append(float((gR - gH).abs().max()))
rec.add(item="P2 §4.2 (GAN regulariser)", figure="fig-ch05-gan", quantity="max |R + log(2 pi e)/2 - cross-entropy|, 4 generators",
        ours=max(gaps), expected=0.0, tolerance=1e-5, kind="abs", note="Gauss-Hermite 30 x 40 nodes, 400-point log-SNR grid")
rec.add(item="P2 §4.2 (GAN regulariser)", figure="fig-ch05-gan", quantity="max |grad R - grad cross-entropy|, 4 generators",
        ours=max(grad_gaps), expected=0.0, tolerance=1e-5, kind="abs", note="autograd through the exact score")
print(f"identity gap {max(gaps):.1e}, gradient gap {max(grad_gaps):.1e}")

# %% [markdown]
# Now fit $\theta = (a, \log b)$ from two starting points with (i) the regulariser alone (Adam, step size
# decaying from 0.05 to 0.0005, to show the path) and (ii) the regulariser minus the entropy
# $H(p_\theta) = \tfrac12\log(2\pi e) + \log b$ (the reverse KL; L-BFGS), both computed from the
# score through the formula on a cheaper grid (80 log-SNR points, 16 Gauss–Hermite nodes over $Z$, and 16 nodes over
# $z$ for the Adam paths but 40 for the L-BFGS fits: $-\log p(a + bz)$ is far from polynomial in $z$ when $b$ is
# large, so the $z$-quadrature limits the accuracy). For comparison, the optimum of the reverse KL computed from
# the exact log-density with the same $z$-rule (scipy L-BFGS; so the comparison isolates the formula) and the forward-KL (maximum-likelihood) fit $a = \mathbb E X$,
# $b^2 = \mathrm{Var}\,X$.

# %% tags=["hide-input"]
z16, zw16 = D.gauss_hermite(16, 1)
coarse = C.elbo_rule(80, -12.0, 16.0)
z40, zw40 = D.gauss_hermite(40, 1)


fits = {}
for a0 in [-3.0, 3.0]:
    fits[("cross-entropy (regulariser alone)", a0)] = A.fit_adam(lambda th: E.score_objective(gm1, th, z16[:, 0], zw16, coarse, 16, False), [a0, 0.0],
                                                                 gan_steps, 0.05)
    fits[("reverse KL (regulariser - entropy)", a0)] = (A.fit_lbfgs(lambda th: E.score_objective(gm1, th, z40[:, 0], zw40, coarse, 16, True), [a0, 0.0], gtol=1e-9),
                                                   None)
mean_p = float((gm1.weights * gm1.means[:, 0]).sum())
var_p = float((gm1.weights * (gm1.covariances[:, 0, 0] + gm1.means[:, 0] ** 2)).sum()) - mean_p**2
rows_gan = []
for (obj, a0), (th, _) in fits.items():
    row = {"objective": obj, "start a": a0, "a": float(th[0]), "b": float(torch.exp(th[1]))}
    if obj.startswith("reverse"):
        ref = A.fit_lbfgs(lambda th: E.generator_reverse_kl(gm1, th, z40[:, 0], zw40), [a0, 0.0], gtol=1e-10)
        row.update({"exact-density optimum a": float(ref[0]), "exact-density optimum b": float(torch.exp(ref[1]))})
        rec.add(item="P2 §4.2 (GAN regulariser)", figure="fig-ch05-gan",
                quantity=f"|score-based - exact-density reverse-KL optimum| (a, log b), start a = {a0:g}",
                ours=float((th - ref).abs().max()), expected=0.0, tolerance=1e-2, kind="abs",
                note="L-BFGS on the score-based objective (40 x 16 nodes, 80 log-SNR points)")
    rows_gan.append(row)
rows_gan.append({"objective": "forward KL (maximum likelihood)", "start a": np.nan, "a": mean_p, "b": var_p**0.5})
table_gan = pd.DataFrame(rows_gan)
b_collapse = max(r["b"] for r in rows_gan if r["objective"].startswith("cross"))
rec.add(item="P2 §4.2 (GAN regulariser)", figure="fig-ch05-gan", quantity="largest b after fitting the regulariser alone",
        ours=b_collapse, note=f"mode collapse: b decreases towards 0 (from b = 1, {gan_steps} Adam steps)")
table_gan.style.format(precision=3).hide(axis="index")

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Left: the data density (grey) and the generator laws $\\mathcal N(a, b^2)$ fitted from two starts by the score-matching regulariser alone (the cross-entropy: collapses onto a mode), by the regulariser minus the generator entropy (the reverse KL: mode seeking) and by maximum likelihood (forward KL: covers both modes). Right: $b$ along the Adam iterations of the regulariser-alone fits. Made by notebook ch05_density_apps.", "name": "fig-ch05-gan"}}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
xs = torch.linspace(-5, 5.5, 600, dtype=DTYPE)
axes[0].fill_between(xs, gm1.log_prob(xs[:, None], 1e-12).exp(), color="0.85", label="data p")
pal = sns.color_palette("deep", 4)
for (obj, a0), (th, path) in fits.items():
    c = pal[0] if obj.startswith("cross") else pal[1]
    ls = "-" if a0 < 0 else "--"
    b = float(torch.exp(th[1]))
    dens = torch.exp(-0.5 * ((xs - th[0]) / max(b, 0.02)) ** 2) / (max(b, 0.02) * np.sqrt(2 * np.pi))
    axes[0].plot(xs, dens.clamp(max=1.5), ls, color=c, lw=1.5, label=f"{obj.split(' (')[0]}, start {a0:g}")
    if path is not None:
        axes[1].semilogy(torch.exp(path[:, 1]), ls, color=c, label=f"{obj.split(' (')[0]}, start {a0:g}")
mle = torch.exp(-0.5 * ((xs - mean_p) / var_p**0.5) ** 2) / np.sqrt(2 * np.pi * var_p)
axes[0].plot(xs, mle, color=pal[2], lw=1.5, label="maximum likelihood")
axes[0].set_ylim(0, 1.0), axes[0].set_xlabel("x"), axes[0].set_ylabel("density (clipped)"), axes[0].legend(fontsize=9)
axes[1].set_xlabel("Adam step"), axes[1].set_ylabel("b"), axes[1].legend(fontsize=9)
plt.tight_layout()
plt.show()

# %%
path_rows = []
for (obj, a0), (th, path) in fits.items():
    if path is None:
        continue
    b_path = torch.exp(path[:, 1]).numpy()
    fifth = max(len(b_path) // 5, 1)
    first, last = b_path[0] - b_path[fifth], b_path[-1 - fifth] - b_path[-1]  # decrease over the first / last fifth
    path_rows.append(dict(start=a0, b_end=float(b_path[-1]), monotone=bool((np.diff(b_path) <= 0).all()),
                          last_over_first=float(last / first)))
    rec.add(item="P2 §4.2 (GAN regulariser)", figure="fig-ch05-gan",
            quantity=f"decrease of b over the last fifth of the Adam steps / over the first fifth, start a = {a0:g}",
            ours=float(last / first), note=f"b ends at {b_path[-1]:.3f}; the step size decays from 0.05 to 0.0005")
path_df = pd.DataFrame(path_rows)
display(Markdown(
    "**Reading the right panel, per path.** From start "
    + "; from start ".join(f"{r.start:g}, $b$ falls from 1 to {r.b_end:.3f}"
                + (" at every step" if r.monotone else " (not at every step)")
                + f", and over the last fifth of the steps it falls by only {r.last_over_first:.1%} of its fall over the first fifth"
                for r in path_df.itertuples())
    + ". So the path levels off: the Adam step size has decayed to 0.0005 by then, so the panel shows the decay of the "
    "step, not a limit of the objective. The objective itself keeps decreasing as $b \\to 0$ (a cross-entropy is "
    "minimised by collapse onto a point mass at the nearest mode), and which mode depends on the start."))

# %% [markdown]
# With the entropy added it is the
# reverse KL, whose optimum matches the exact one from each start: a Gaussian on *one* mode (the right one
# stretched somewhat towards the left), never the two-mode cover of maximum likelihood. So a score-matching
# regulariser needs the adversarial (or an entropy) term to avoid collapse, and is mode seeking even then.
#
# ## The diffusion loss of autoregressive models is approximate maximum likelihood (§4.4)
#
# MAR-style models generate token $i$ with a small diffusion model conditioned on the previous tokens and train it with
# a denoising loss. Per token, the density formula gives $\log p(x_i\mid x_{<i})$ from the conditional noise
# predictor, and the chain rule sums these into $\log p(x_1,\dots,x_n)$ (derived): with ELBO weights and a
# noise predictor that is the exact one of a model $q_\theta$, the summed loss is $-\log q_\theta + \text{const}$,
# so training is maximum likelihood; a uniform weighting in $t$ (as in MAR's code) optimises something else. Toy:
# two 1-D tokens, $x_1 \sim \tfrac12\mathcal N(-1, 0.3) + \tfrac12\mathcal N(1.5, 0.5)$ and
# $x_2\mid x_1 \sim \tfrac34\mathcal N(1 + 0.8x_1, 0.1) + \tfrac14\mathcal N(-1 - 0.5x_1, 1)$, whose joint is a
# four-component 2-D mixture (exact $\log p(x_1, x_2)$).

# %% tags=["remove-input"]
m1, v1, w1 = torch.tensor([-1.0, 1.5], dtype=DTYPE), torch.tensor([0.3, 0.5], dtype=DTYPE), torch.tensor([0.5, 0.5], dtype=DTYPE)
c2, a2, u2, w2 = (torch.tensor(v, dtype=DTYPE) for v in ([1.0, -1.0], [0.8, -0.5], [0.1, 1.0], [0.75, 0.25]))
joint = GaussianMixture(
    [[m1[j], c2[k] + a2[k] * m1[j]] for j in range(2) for k in range(2)],
    [[[v1[j], a2[k] * v1[j]], [a2[k] * v1[j], a2[k] ** 2 * v1[j] + u2[k]]] for j in range(2) for k in range(2)],
    [w1[j] * w2[k] for j in range(2) for k in range(2)])
pts = torch.tensor([[-1.0, 0.5], [1.5, 2.0], [0.3, -1.2], [2.5, -2.0]], dtype=DTYPE)
tok1 = A.diffusion_loss(pts[:, 0], m1.expand(len(pts), 2), v1, torch.log(w1), fine, 40)
tok2 = A.diffusion_loss(pts[:, 1], c2[None, :] + a2[None, :] * pts[:, :1], u2, torch.log(w2), fine, 40)
ar_sum = -LOG_2PI_E - tok1 - tok2  # log p(x1) + log p(x2 | x1) by the formula, one token at a time
ar_gap = float((ar_sum - joint.log_prob(pts, 1e-12)).abs().max())
rec.add(item="P2 §4.4 (AR diffusion loss)", figure=None, quantity="max |sum of per-token formulas - log p(x1, x2)|, 4 points",
        ours=ar_gap, expected=0.0, tolerance=1e-5, kind="abs", note="Gauss-Hermite 40 nodes, 400-point log-SNR grid")
print(f"chain rule gap {ar_gap:.1e}")

# %% [markdown]
# Fit the second token's head with a misspecified family, an equal-weight two-component mixture with a shared
# variance, $q_\theta(x_2\mid x_1) = \tfrac12\mathcal N(\theta_0 + \theta_1x_1, e^{2\theta_4}) +
# \tfrac12\mathcal N(\theta_2 + \theta_3x_1, e^{2\theta_4})$, whose exact noise predictor is the "network". Minimise
# the data expectation (Gauss–Hermite over both tokens) of the ELBO-weighted loss (100 log-SNR points on
# $[-10, 16]$; 30 Gauss–Hermite nodes over the noise) and of the uniform loss (100 evenly spaced steps of a 1000-step cosine schedule, MAR's choice), and
# compare with the maximum-likelihood fit (L-BFGS on the exact expected log-likelihood, same quadrature). A
# Gaussian head would not do: for a Gaussian family every weighting has the same minimiser (the moment-matched
# Gaussian is the best linear denoiser at every noise level), so the weighting only matters beyond Gaussians.

# %% tags=["hide-input"]
x1q, x2q, wq = A.data_quadrature(m1, v1, w1, c2, a2, u2, w2, ar_nodes)
ar_rules = {"ELBO-weighted": C.elbo_rule(100, -10.0, 16.0), "uniform (cosine, MAR)": C.uniform_rule(100, schedule="cosine")}
head_start = [1.0, 0.5, -1.0, -0.3, np.log(0.5)]  # theta0 of every fit of the head
theta_mle = A.fit_lbfgs(lambda t: E.head_nll(t, x1q, x2q, wq), head_start, gtol=1e-10).numpy()
nll_mle = float(E.head_nll(torch.as_tensor(theta_mle), x1q, x2q, wq))
rows_ar = [dict({f"theta{i}": v for i, v in enumerate(theta_mle)}, fit="maximum likelihood", **{"excess NLL (nats)": 0.0})]
for name, rule in ar_rules.items():
    th = A.fit_lbfgs(lambda t: E.head_loss(t, x1q, x2q, wq, rule, 30), head_start, gtol=1e-10).numpy()
    excess = float(E.head_nll(torch.as_tensor(th), x1q, x2q, wq)) - nll_mle
    rows_ar.append(dict({f"theta{i}": v for i, v in enumerate(th)}, fit=name, **{"excess NLL (nats)": excess}))
    if name == "ELBO-weighted":
        rec.add(item="P2 §4.4 (AR diffusion loss)", figure=None, quantity="|ELBO-weighted fit - maximum likelihood| (max over theta)",
                ours=float(np.abs(th - theta_mle).max()), expected=0.0, tolerance=1e-3, kind="abs",
                note="misspecified mixture head; quadrature over data, noise and log-SNR")
    else:
        rec.add(item="P2 §4.4 (AR diffusion loss)", figure=None, quantity="|uniform-weighted fit - maximum likelihood| (max over theta)",
                ours=float(np.abs(th - theta_mle).max()), note=f"biased; excess NLL {excess:.1e} nats")
table_ar = pd.DataFrame(rows_ar)[["fit"] + [f"theta{i}" for i in range(5)] + ["excess NLL (nats)"]]
table_ar.style.format(precision=4).format({"excess NLL (nats)": "{:.1e}"}).hide(axis="index")

# %% [markdown]
# The sum of the per-token formulas equals the joint log-density, and the ELBO-weighted denoising loss is minimised
# at the maximum-likelihood parameters although the head is misspecified. The uniformly weighted loss gives a
# different head with a larger negative log-likelihood (by a small amount in this toy): "approximate MLE" holds up to
# the weighting, and in practice also up to the discretisation of $t$ and the network's denoising error.

# %% tags=["remove-cell"]
rec.save()
chapter.finish(rec);
