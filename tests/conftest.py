"""Shared reference computations for the exact-math tests.

Everything here is written independently of `lowdim` (numpy / scipy only), so that the library is always compared
against a second implementation, never against itself. The helpers are handed to tests through the `ref` fixture.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

EPS = np.finfo(np.float64).eps

# The tests use small tensors, where intra-op threads cost more in synchronisation than they save (and CI has 2
# cores); one thread also keeps the results independent of the machine's core count.
torch.set_num_threads(1)


def component_logpdf(means, covs, weights, x, sigma):
    """log pi_k + log N(x; mu_k, Sigma_k + sigma^2 I) with scipy (sigma scalar).  ->  (N, K)."""
    means, covs, weights, x = (np.asarray(a, dtype=np.float64) for a in (means, covs, weights, x))
    K, n = means.shape
    out = np.empty((x.shape[0], K))
    for k in range(K):
        if weights[k] == 0:
            out[:, k] = -np.inf
            continue
        dist = multivariate_normal(means[k], covs[k] + sigma**2 * np.eye(n), allow_singular=False)
        out[:, k] = np.log(weights[k]) + np.atleast_1d(dist.logpdf(x))
    return out


def exact_posterior(means, covs, weights, x, sigma):
    """Exact noisy-mixture quantities by Bayes' rule and dense linear solves (numpy / scipy).

    ->  dict(log_prob (N,), class_posterior (N, K), posterior_mean (N, n), score (N, n)).
    """
    means, covs, x = (np.asarray(a, dtype=np.float64) for a in (means, covs, x))
    K, n = means.shape
    logits = component_logpdf(means, covs, weights, x, sigma)
    log_prob = logsumexp(logits, axis=1)
    post = np.exp(logits - log_prob[:, None])
    mean = np.zeros_like(x)
    score = np.zeros_like(x)
    for k in range(K):
        if not np.any(post[:, k]):
            continue
        sol = np.linalg.solve(covs[k] + sigma**2 * np.eye(n), (x - means[k]).T).T  # (Sigma_k + s^2 I)^{-1}(x - mu_k)
        mean += post[:, k : k + 1] * (means[k] + sol @ covs[k].T)
        score -= post[:, k : k + 1] * sol
    return dict(log_prob=log_prob, class_posterior=post, posterior_mean=mean, score=score)


def snis_posterior_mean(x0, xq, sigma):
    """Self-normalised importance sampling of E[x0 | x = xq] with prior draws x0 (M, n), likelihood N(xq; x0, s^2 I).

    ->  (estimate (Q, n), delta-method standard error (Q, n), effective sample size (Q,)).
    Var(sum_i w_i f_i / sum_i w_i) ~ sum_i wbar_i^2 (f_i - mu)^2 (wbar normalised weights; Owen 2013, eq. 9.8).
    """
    x0, xq = np.asarray(x0, dtype=np.float64), np.asarray(xq, dtype=np.float64)
    est, se, ess = [], [], []
    for x in xq:
        logw = -((x0 - x) ** 2).sum(axis=1) / (2 * sigma**2)
        w = np.exp(logw - logw.max())
        w /= w.sum()
        mu = w @ x0
        est.append(mu)
        se.append(np.sqrt((w[:, None] ** 2 * (x0 - mu) ** 2).sum(axis=0)))
        ess.append(1.0 / (w**2).sum())
    return np.array(est), np.array(se), np.array(ess)


def moment_with_se(x, center=True):
    """Sample covariance (center=True) or raw second moment (center=False) of x (N, n) with entrywise standard errors.

    s.e._ij = sqrt(Var(c_i c_j) / N), Var(c_i c_j) = E[c_i^2 c_j^2] - E[c_i c_j]^2 estimated from the sample.
    ->  (moment (n, n), s.e. (n, n)).
    """
    x = np.asarray(x, dtype=np.float64)
    N = x.shape[0]
    c = x - x.mean(axis=0) if center else x
    m2 = c.T @ c / N
    m4 = (c**2).T @ (c**2) / N
    return m2, np.sqrt(np.maximum(m4 - m2**2, 0.0) / N)


def span_projector(mats):
    """Orthogonal projector onto the span of the columns of the given matrices (scipy.linalg.orth)."""
    from scipy.linalg import orth

    Q = orth(np.concatenate([np.asarray(m, dtype=np.float64) for m in mats], axis=1))
    return Q @ Q.T


def molrg_covariances(bases, delta):
    """Sigma_k = U_k U_k^T + delta^2 P_{span of the other bases} (Assumption 1), built from scratch.  ->  (K, n, n)."""
    bases = [np.asarray(U, dtype=np.float64) for U in bases]
    K, n = len(bases), bases[0].shape[0]
    covs = []
    for k in range(K):
        others = [bases[l] for l in range(K) if l != k]
        P_other = span_projector(others) if others else np.zeros((n, n))
        covs.append(bases[k] @ bases[k].T + delta**2 * P_other)
    return np.stack(covs)


@pytest.fixture(scope="session")
def ref():
    return SimpleNamespace(
        EPS=EPS,
        component_logpdf=component_logpdf,
        exact_posterior=exact_posterior,
        snis_posterior_mean=snis_posterior_mean,
        moment_with_se=moment_with_se,
        span_projector=span_projector,
        molrg_covariances=molrg_covariances,
    )
