"""Labelled Gaussian mixtures: classes made of mixture components (paper 3, Li & Jiao, arXiv 2505.01382 v1).

    p(x | c) = sum_{k in c} pi_k N(mu_k, Sigma_k) / p(c),   p(c) = sum_{k in c} pi_k.

In the VE convention (x_sigma = x_0 + sigma eps) every quantity is exact: log p_sigma(c | x), the conditional score
s_sigma(x | c), the unconditional score s_sigma(x), and the classifier gradient by autograd. A thin layer over the
core (`lowdim.gaussians`): the components' frame and posterior-weighted sums, grouped by `ClassGrouping`.
"""

from __future__ import annotations

import torch

from lowdim.checks import DTYPE, as_points, check_range
from lowdim.gaussians import ClassGrouping, ExactMixture, Frame, GaussianMixture

__all__ = ["LabelledMixture"]


class LabelledMixture:
    """Components of an exact mixture grouped into classes: `component_class[k]` is the class of component k.

    mixture: a `GaussianMixture` or a `MoLRG`. Noise levels may be 0 when every component covariance is
    non-singular (the data law itself); otherwise > 0. Exact quantities run on `frame` (default: the cheapest exact
    one): for a `GaussianMixture` the standard axes when every covariance is diagonal (all 1-D mixtures), a common
    span with one off-span variance per component when there is one, else each component's eigenbasis
    (`Frame.detect`); for a `MoLRG` its own span frame, built from its bases.
    """

    def __init__(self, mixture, component_class, frame: Frame | None = None):
        if not isinstance(mixture, ExactMixture):
            raise TypeError(f"mixture must be a GaussianMixture or a MoLRG, got {type(mixture).__name__}")
        self.source = mixture
        if frame is None:
            frame = mixture.fastest_frame() if isinstance(mixture, GaussianMixture) else mixture.frame
        self.exact = ExactMixture(frame, mixture.weights, allow_zero_sigma=True)
        self.grouping = ClassGrouping(component_class, mixture.weights)
        self._dense = mixture if isinstance(mixture, GaussianMixture) else None

    @classmethod
    def from_molrg(cls, model) -> "LabelledMixture":
        """One class per MoLRG subspace; exact quantities run in the m-dim data span of the MoLRG's own frame."""
        return cls(model, torch.arange(model.num_classes))

    @property
    def mixture(self) -> GaussianMixture:
        """The components as a dense `GaussianMixture` (for a MoLRG built once, on first use: n x n covariances;
        used for sampling and as a reference, never by the exact quantities)."""
        if self._dense is None:
            self._dense = self.source.to_mixture()
        return self._dense

    @property
    def frame(self) -> Frame:
        return self.exact.frame

    @property
    def component_class(self) -> torch.Tensor:
        return self.grouping.component_class

    @property
    def onehot(self) -> torch.Tensor:
        return self.grouping.onehot

    @property
    def class_prior(self) -> torch.Tensor:
        return self.grouping.prior

    @property
    def num_classes(self) -> int:
        return self.grouping.num_classes

    @property
    def dim(self) -> int:
        return self.exact.dim

    # ------------------------------------------------------------------------------------------------------

    def components(self, x, sigma) -> torch.Tensor:
        """log(pi_k N(x; mu_k, Sigma_k + sigma^2 I)) for every component.  ->  (N, K)."""
        return self.exact.component_log_probs(x, sigma)

    def log_class_posterior(self, x, sigma) -> torch.Tensor:
        """log p_sigma(c | x) = logsumexp_{k in c} log pi_k N_k(x) - log p_sigma(x) for every class.  ->  (N, C)."""
        logp = self.components(x, sigma)
        return self.grouping.log_sum(logp) - torch.logsumexp(logp, 1, keepdim=True)

    def log_prob(self, x, sigma, c=None) -> torch.Tensor:
        """log p_sigma(x) (c None) or log p_sigma(x | c) (c an int or (N,) ints).  ->  (N,)."""
        logp = self.components(x, sigma)
        if c is None:
            return torch.logsumexp(logp, 1)
        c = self.labels(c, logp.shape[0])
        return self.grouping.log_sum(logp).gather(1, c[:, None])[:, 0] - torch.log(self.class_prior[c])

    def scores(self, x, sigma, c):
        """(s_sigma(x | c), s_sigma(x), log p_sigma(c | x)) with c an int or (N,) ints; shapes (N, n), (N, n), (N,).

        s(x | c) = sum_{k in c} P(k | x, c) s_k(x), s(x) = sum_k P(k | x) s_k(x): one pass of the core's
        posterior-weighted sums over all components and over those of c (log space, so p(c | x) far below the
        float64 range still gives finite scores and log-posteriors).
        """
        c = self.labels(c, as_points(x, self.dim, check_finite=False).shape[0])
        (s_uncond, lse), (s_cond, lse_c) = self.exact.posterior_sums(x, sigma, "score",
                                                                     masks=(None, self.grouping.mask(c)))
        return s_cond, s_uncond, lse_c - lse

    def classifier_gradient(self, x, sigma, c) -> torch.Tensor:
        """grad_x log p_sigma(c | x) by autograd (independent of `scores`).  ->  (N, n)."""
        c = self.labels(c, as_points(x, self.dim).shape[0])
        with torch.enable_grad():
            xr = torch.as_tensor(x, dtype=DTYPE).detach().requires_grad_(True)
            lp = self.log_class_posterior(xr, sigma).gather(1, c[:, None]).sum()
            (g,) = torch.autograd.grad(lp, xr)
        return g

    def sample_class(self, c: int, num_samples: int, seed: int, sigma: float = 0.0) -> torch.Tensor:
        """x ~ p_sigma(. | c) exactly (x_0 ~ p(.|c) plus sigma eps).  ->  (num_samples, n)."""
        self.labels(c, 1)
        x0, _ = self.mixture.restrict(self.grouping.members(c)).sample(num_samples, seed)
        if sigma:
            check_range("sigma", sigma, low=0.0)
            gen = torch.Generator().manual_seed(seed + 7919)
            x0 = x0 + sigma * torch.randn(x0.shape, dtype=DTYPE, generator=gen)
        return x0

    def labels(self, c, num_points: int) -> torch.Tensor:
        """c (an int or (N,) ints) as checked (N,) int64 class labels."""
        return self.grouping.labels(c, num_points)
