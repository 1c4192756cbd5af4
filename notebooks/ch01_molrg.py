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
# # Chapter 1 (placeholder)
#
# PLACEHOLDER written to test the notebook → book pipeline; the chapter on the mixture of low-rank Gaussians
# {cite}`li2025representation` replaces it. It draws standard normal samples, plots them and records one
# reproduction row: the sample mean against its theoretical value 0.

# %% tags=["parameters", "remove-cell"]
seed = 0
n_samples = 100

# %%
import matplotlib.pyplot as plt
import numpy as np

from lowdim.reproduction import Reproduction

rng = np.random.default_rng(seed)
x = rng.standard_normal(n_samples)
rec = Reproduction(notebook="ch01_molrg")
rec.add(item="placeholder", figure="fig-placeholder", quantity="|sample mean| of N(0, 1)",
        ours=abs(x.mean()), expected=0.0, tolerance=4 / np.sqrt(n_samples), note="4 standard errors")
print(f"n_samples={n_samples}, |mean|={abs(x.mean()):.4f}, saved {rec.save().name}")

# %% tags=["remove-input"] mystnb={"figure": {"caption": "Histogram of the standard normal samples (placeholder).", "name": "fig-placeholder"}}
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist(x, bins=30, density=True)
ax.set_xlabel("x")
ax.set_ylabel("density")
plt.show()
