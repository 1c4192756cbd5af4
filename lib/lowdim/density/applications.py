"""Two applications of the density formula (Li & Yan, arXiv 2408.16765 v1; content reconstructed, see ch05):

* Sec. 4.2 (GAN regularisation): for a generator G_theta(z), the score-matching regulariser
  R(theta) = E_z 1/2 int ( E||grad log p_t(X_t) + Z/sqrt(t)||^2/(1-t) - n/t ) dt,  X_t = sqrt(1-t) G_theta(z) + sqrt(t) Z,
  equals the cross-entropy E_z[-log p(G_theta(z))] - (n/2) log(2 pi e) (eq. (3.1a) applied at x = G_theta(z)).
* Sec. 4.4 (diffusion loss of autoregressive models): per-token ELBO-weighted denoising losses sum to
  -log p(x_1, x_2) + const, so training the token heads with them is maximum likelihood.

All integrals use the log-SNR variable lambda = log((1-t)/t) (d lambda = dt/(t(1-t))), one batch per call: rows are
(point, noise node, t-node). 1-D tokens throughout; expectations over Z by Gauss-Hermite.
"""

from __future__ import annotations


import numpy as np
import torch
from scipy.optimize import minimize

from lowdim.checks import DTYPE
from lowdim.density import formula as D
from lowdim.density.classifier import TimeRule
from lowdim.checks import LOG_2PI, LOG_2PI_E
from lowdim.gaussians import diagonal_log_likelihoods, posterior_average

__all__ = ["affine_generator", "score_regulariser", "cross_entropy", "gaussian_entropy", "fit_adam",
           "fit_lbfgs", "mixture_eps", "mixture_log_prob", "diffusion_loss", "data_quadrature"]



# ----------------------------------------------------------------------------------------------------------
# Sec. 4.2: the GAN score-matching regulariser on a 1-D affine generator.


def affine_generator(theta: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """G_theta(z) = a + exp(log_b) z, theta = (a, log_b).  z: (Q,)  ->  (Q,)."""
    return theta[0] + torch.exp(theta[1]) * z


def score_regulariser(model, theta: torch.Tensor, z_nodes, z_weights, rule: TimeRule, gh_nodes: int) -> torch.Tensor:
    """R(theta) (module docstring) for a 1-D exact model, by the log-SNR rule `rule` (its weights; the control
    variate (1-t) Z^2 is always subtracted, as the -n/t of the formula) and Gauss-Hermite over Z and over z.
    Differentiable in theta (autograd through the exact score: the Jacobian of s_t is kept).  ->  0-dim."""
    x = affine_generator(theta, z_nodes)  # (Q,)
    Z, Zw = D.gauss_hermite(gh_nodes, 1)
    t = rule.t
    Q, G, K = x.shape[0], Z.shape[0], t.shape[0]
    x_r = x[:, None, None].expand(Q, G, K).reshape(-1, 1)
    z_r = Z[None, :, 0, None].expand(Q, G, K).reshape(-1, 1)
    t_r = t[None, None, :].expand(Q, G, K).reshape(-1)
    h = D.integrand_samples(D.exact_predictor(model, "score"), "score", x_r, z_r, t_r).reshape(Q, G, K)
    per_x = 0.5 * (h * Zw[None, :, None] * rule.weights[None, None, :]).sum(dim=(1, 2))
    return (per_x * z_weights).sum()


def cross_entropy(model, theta: torch.Tensor, z_nodes, z_weights) -> torch.Tensor:
    """H(p_theta, p) = E_z[-log p(G_theta(z))] with the exact log-density (t = 0).  ->  0-dim."""
    x = affine_generator(theta, z_nodes)[:, None]
    return -(model.log_prob(x, 1e-12) * z_weights).sum()


def gaussian_entropy(theta: torch.Tensor) -> torch.Tensor:
    """H(N(a, b^2)) = 1/2 log(2 pi e) + log b."""
    return 0.5 * LOG_2PI_E + theta[1]


def fit_adam(loss_fn, theta0, steps: int, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise loss_fn(theta) by Adam from theta0, the step size decaying geometrically from lr to lr / 100.
    ->  (final theta, path (steps + 1, len(theta)))."""
    theta = torch.tensor(theta0, dtype=DTYPE, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.01 ** (1.0 / max(steps, 1)))
    path = [theta.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(theta).backward()
        opt.step()
        sched.step()
        path.append(theta.detach().clone())
    return theta.detach(), torch.stack(path)


def fit_lbfgs(loss_fn, theta0, gtol: float) -> torch.Tensor:
    """Minimise a torch objective loss_fn(theta (P,)) -> 0-dim by scipy's L-BFGS-B, with the gradient by autograd
    (deterministic, no step size to tune).  ->  theta (P,)."""
    def value_and_grad(th):
        th = torch.tensor(th, dtype=DTYPE, requires_grad=True)
        value = loss_fn(th)
        (g,) = torch.autograd.grad(value, th)
        return float(value.detach()), g.numpy()

    x0 = np.asarray(theta0, dtype=np.float64)
    return torch.as_tensor(minimize(value_and_grad, x0=x0, jac=True, method="L-BFGS-B", options=dict(gtol=gtol)).x)


# ----------------------------------------------------------------------------------------------------------
# Sec. 4.4: a two-token autoregressive toy with 1-D tokens.
#   x1 ~ sum_j pi_j N(m_j, v_j);   x2 | x1 ~ sum_k rho_k N(c_k + a_k x1, u_k).


def mixture_eps(x_t, t, means, variances, log_weights) -> torch.Tensor:
    """E[Z | X_t] for a 1-D mixture sum_k w_k N(means[:, k], variances[k]) with one set of means per row, Li-Yan
    time: component k gives X_t ~ N(sqrt(1-t) m_k, v_k) with v_k = (1-t) variances_k + t, and
    E[Z | X_t] = -sqrt(t) score = sqrt(t) sum_k P(k | X_t) (X_t - sqrt(1-t) m_k) / v_k (the core's posterior
    average).  x_t, t: (B,); means: (B, K)  ->  (B,)."""
    var = ((1.0 - t)[:, None] * variances[None, :] + t[:, None]).T[..., None]  # (K, B, 1)
    d = (x_t[:, None] - torch.sqrt(1.0 - t)[:, None] * means).T[..., None]  # (K, B, 1)
    loglik, d_over_var = diagonal_log_likelihoods(d, var)
    return torch.sqrt(t) * posterior_average(log_weights[:, None] + loglik, d_over_var)[0][:, 0]


def mixture_log_prob(x, means, variances, log_weights) -> torch.Tensor:
    """log sum_k w_k N(x; means[:, k], variances[k]).  x: (B,); means: (B, K)  ->  (B,)."""
    d = (x[:, None] - means).T[..., None]  # (K, B, 1)
    logits = log_weights[:, None] + diagonal_log_likelihoods(d, variances[:, None, None])[0] - 0.5 * LOG_2PI
    return torch.logsumexp(logits, dim=0)


def diffusion_loss(x, means, variances, log_weights, rule: TimeRule, gh_nodes: int) -> torch.Tensor:
    """Per-point denoising loss 1/2 sum_j w_j E_Z[(Z - eps(X_tj))^2 - b (1-t_j) Z^2] of a 1-D token with the
    mixture noise predictor above (per-point means (N, K)); with `elbo_rule` this is -log q(x) - 1/2 log(2 pi e)
    (the density formula).  x: (N,)  ->  (N,)."""
    Z, Zw = D.gauss_hermite(gh_nodes, 1)
    t = rule.t
    N, G, K = x.shape[0], Z.shape[0], t.shape[0]
    z_r = Z[None, :, 0, None].expand(N, G, K).reshape(-1)
    t_r = t[None, None, :].expand(N, G, K).reshape(-1)
    x_t = torch.sqrt(1.0 - t_r) * x[:, None, None].expand(N, G, K).reshape(-1) + torch.sqrt(t_r) * z_r
    m_r = means[:, None, None, :].expand(N, G, K, means.shape[1]).reshape(-1, means.shape[1])
    e = (z_r - mixture_eps(x_t, t_r, m_r, variances, log_weights)) ** 2 - rule.baseline * (1.0 - t_r) * z_r**2
    return 0.5 * (e.reshape(N, G, K) * Zw[None, :, None] * rule.weights[None, None, :]).sum(dim=(1, 2))


def data_quadrature(m1, v1, w1, c2, a2, u2, w2, nodes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gauss-Hermite rule for E f(x1, x2) under the two-token law (exact for polynomials of degree < 2 nodes in
    each component's standard normal).  ->  (x1 (P,), x2 (P,), weights (P,))."""
    g, gw = D.gauss_hermite(nodes, 1)
    g, gw = g[:, 0], gw
    x1 = (m1[:, None] + torch.sqrt(v1)[:, None] * g[None, :]).reshape(-1)  # (J G,)
    p1 = (w1[:, None] * gw[None, :]).reshape(-1)
    mean2 = c2[None, :] + a2[None, :] * x1[:, None]  # (J G, K)
    x2 = (mean2[:, :, None] + torch.sqrt(u2)[None, :, None] * g[None, None, :]).reshape(x1.shape[0], -1)
    p2 = (w2[:, None] * gw[None, :]).reshape(-1)
    P = x2.shape[1]
    return x1[:, None].expand(-1, P).reshape(-1), x2.reshape(-1), (p1[:, None] * p2[None, :]).reshape(-1)
