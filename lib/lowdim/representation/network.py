"""Paper 1's parameterised denoiser exactly as printed (eqs. 4-5), for any blocks U_l, and Definition 1 in the
paper's own form (arXiv 2502.05743 v3, Sec. 3.2 and Definition 1; App. C Tables 4-6).

Eq. 4:   x_hat(x_t) = U h(x_t),   h = D(x_t) U^T x_t,   D = diag(beta_1 I_{d_1}, ..., beta_K I_{d_K}),
         beta_l = xi_t + (zeta_t - xi_t) w_l,   zeta_t = 1/(1 + sigma^2),   xi_t = delta^2/(delta^2 + sigma^2).
Eq. 5:   w_l = softmax_l( phi_t |U_l^T x_t|^2 + psi_t |Ut_l^T x_t|^2 ),   Ut_l = [U_j]_{j != l},
         phi_t = 1/(2 sigma^2 (1 + sigma^2)),   psi_t = delta^2/(2 sigma^2 (delta^2 + sigma^2)).

As printed, the gate has no log-determinant term (-1/2 log det(Sigma_l + sigma^2 I)) and no log-prior (log pi_l), and
nothing keeps U = [U_1, ..., U_K] orthonormal. With orthonormal, mutually orthogonal, equal-rank blocks U = U* and
equal weights it is the posterior mean E[x_0 | x_t] (Prop. 1); with unequal ranks (Table 5), unequal weights
(Table 6) or overlapping subspaces (Table 4 at 30 degrees) it is not. Here the blocks are a list of K matrices
(n, d_l), so unequal ranks are allowed (`lowdim.representation.molrg.gated_denoiser` takes one (n, K d) matrix).

Definition 1 as the paper states it: SNR = E_k[ E|U*_k h_k|^2 / E|x_hat - U*_k h_k|^2 ], with h_k the network's
class-k feature block decoded with the true basis U*_k (`paper_snr_energies`). The projection form
|P_k x_hat|^2 / |x_hat - P_k x_hat|^2 (`lowdim.metrics.subspace_energies`) coincides with it when U = U* has
mutually orthogonal blocks, and not otherwise (scaled or overlapping blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lowdim.checks import DTYPE, as_points, as_sigma, check_int
from lowdim.representation.molrg import gate_logit_coefficients, shrinkage_coefficients

__all__ = ["gate_logits", "paper_network", "NetworkOutput", "paper_snr_energies", "scaled_blocks", "denoising_loss",
           "fit_block_scales", "ScaleFit", "TARGETS"]


def _blocks(blocks, n: int | None = None) -> list[torch.Tensor]:
    blocks = [torch.as_tensor(b, dtype=DTYPE) for b in blocks]
    if len(blocks) < 1:
        raise ValueError("blocks must hold at least one (n, d_l) matrix")
    n = blocks[0].shape[0] if n is None else n
    for i, b in enumerate(blocks):
        if b.ndim != 2 or b.shape[0] != n or b.shape[1] < 1:
            raise ValueError(f"blocks[{i}] must have shape ({n}, d_l) with d_l >= 1, got {tuple(b.shape)}")
    return blocks


def gate_logits(x, sigma, blocks, delta: float) -> torch.Tensor:
    """Eq. 5's logits phi_t |U_l^T x|^2 + psi_t sum_{j != l} |U_j^T x|^2.  x: (N, n)  ->  (N, K)."""
    blocks = _blocks(blocks)
    x = as_points(x, blocks[0].shape[0])
    s = as_sigma(sigma, num_points=x.shape[0]).reshape(-1, 1)
    phi, psi = gate_logit_coefficients(s, delta)
    energy = torch.stack([((x @ U) ** 2).sum(1) for U in blocks], 1)  # (N, K): |U_l^T x|^2
    return phi * energy + psi * (energy.sum(1, keepdim=True) - energy)


@dataclass
class NetworkOutput:
    """x_hat (N, n) = sum_l U_l h_l; h: K feature blocks h_l (N, d_l) = beta_l U_l^T x; w (N, K) the gate."""

    x_hat: torch.Tensor
    h: list
    w: torch.Tensor


def paper_network(x, sigma, blocks, delta: float) -> NetworkOutput:
    """Eqs. 4-5 as printed: x_hat = sum_l U_l beta_l U_l^T x, beta_l = xi_t + (zeta_t - xi_t) w_l, w = softmax(eq. 5).

    x: (N, n); sigma: scalar or (N,); blocks: K matrices U_l (n, d_l), any scale, any overlap (differentiable).
    """
    blocks = _blocks(blocks)
    x = as_points(x, blocks[0].shape[0])
    s = as_sigma(sigma, num_points=x.shape[0]).reshape(-1, 1)
    zeta, xi = shrinkage_coefficients(s, delta)
    w = torch.softmax(gate_logits(x, sigma, blocks, delta), dim=1)
    beta = xi + (zeta - xi) * w  # (N, K)
    h = [beta[:, l:l + 1] * (x @ U) for l, U in enumerate(blocks)]
    x_hat = sum(hl @ U.T for hl, U in zip(h, blocks))
    return NetworkOutput(x_hat=x_hat, h=h, w=w)


def paper_snr_energies(out: NetworkOutput, labels, true_bases) -> tuple[torch.Tensor, torch.Tensor]:
    """Definition 1's energies in the paper's form: |U*_k h_k|^2 and |x_hat - U*_k h_k|^2 for each point's class k.

    out: a `paper_network` output for N points; labels: (N,); true_bases: K orthonormal U*_k (n, d_k), block k of the
    network having d_k columns.  ->  (signal (N,), residual (N,)); feed them to `lowdim.metrics.snr_from_energies`.
    """
    labels = torch.as_tensor(labels).long()
    true_bases = _blocks(true_bases, out.x_hat.shape[1])
    if len(true_bases) != len(out.h):
        raise ValueError(f"true_bases must hold one basis per block ({len(out.h)}), got {len(true_bases)}")
    signal = torch.zeros(labels.shape, dtype=DTYPE)
    residual = torch.zeros(labels.shape, dtype=DTYPE)
    for k, (Us, hk) in enumerate(zip(true_bases, out.h)):
        if Us.shape[1] != hk.shape[1]:
            raise ValueError(f"true_bases[{k}] has {Us.shape[1]} columns, block {k} of the network {hk.shape[1]}")
        idx = (labels == k).nonzero().squeeze(1)
        decoded = hk[idx] @ Us.T  # U*_k h_k
        signal[idx] = (decoded**2).sum(1)
        residual[idx] = ((out.x_hat[idx] - decoded) ** 2).sum(1)
    return signal, residual


def scaled_blocks(bases, scales) -> list[torch.Tensor]:
    """The per-class-scale family U_l = s_l U*_l (scales (K,), > 0) inside the paper's parameterisation."""
    bases = _blocks(bases)
    scales = torch.as_tensor(scales, dtype=DTYPE)
    if scales.shape != (len(bases),):
        raise ValueError(f"scales must have shape ({len(bases)},), got {tuple(scales.shape)}")
    return [s * U for s, U in zip(scales, bases)]


TARGETS = ("x0", "eps")


def denoising_loss(blocks, x0, sigma, eps, delta: float, target: str = "x0") -> torch.Tensor:
    """Mean over the batch of |x_hat(x0 + sigma eps) - x0|^2 (target "x0": eq. 2 with lambda_t = 1) or of
    |eps_hat - eps|^2 = |x_hat - x0|^2 / sigma^2 (target "eps": the epsilon-prediction loss of DDPM / tiny-diffusion,
    i.e. lambda_t = 1/sigma^2).  x0, eps: (B, n); sigma: (B,).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    x0 = torch.as_tensor(x0, dtype=DTYPE)
    sigma = torch.as_tensor(sigma, dtype=DTYPE)
    out = paper_network(x0 + sigma[:, None] * eps, sigma, blocks, delta)
    err = ((out.x_hat - x0) ** 2).sum(1)
    return (err if target == "x0" else err / sigma**2).mean()


@dataclass
class ScaleFit:
    """scales (K,) minimising the sampled loss; loss at them and at scales 1 (U = U*); grad_norm at the optimum."""

    scales: torch.Tensor
    loss: float
    loss_at_one: float
    grad_norm: float


def fit_block_scales(bases, x0, sigmas, delta: float, seed: int, target: str = "x0", max_iter: int = 200) -> ScaleFit:
    """Per-class scales s minimising the training loss of eqs. 4-5 over U_l = s_l U*_l (one U for all noise levels).

    x0: (N, n) clean training points; sigmas: (T,) the training noise levels (e.g. `ddpm_sigmas(500)`), one drawn
    uniformly per point with one noise draw (fixed by `seed`: common random numbers make the sampled loss a smooth
    function of s). target: the loss weighting of `denoising_loss`. L-BFGS on log s (strong Wolfe line search),
    starting at s = 1.
    """
    bases = _blocks(bases)
    x0 = as_points(x0, bases[0].shape[0], name="x0")
    sigmas = as_sigma(sigmas)
    if sigmas.ndim != 1:
        raise ValueError(f"sigmas must be a 1-D tensor of training levels, got shape {tuple(sigmas.shape)}")
    check_int("max_iter", max_iter, low=1)
    gen = torch.Generator().manual_seed(seed)
    sig = sigmas[torch.randint(0, sigmas.numel(), (x0.shape[0],), generator=gen)]
    eps = torch.randn(x0.shape, dtype=DTYPE, generator=gen)
    log_s = torch.zeros(len(bases), dtype=DTYPE, requires_grad=True)

    def loss_fn():
        return denoising_loss(scaled_blocks(bases, torch.exp(log_s)), x0, sig, eps, delta, target)

    with torch.no_grad():
        loss_at_one = float(loss_fn())
    opt = torch.optim.LBFGS([log_s], max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = loss_fn()
        value.backward()
        return value

    opt.step(closure)
    value = loss_fn()
    (grad,) = torch.autograd.grad(value, log_s)
    return ScaleFit(scales=torch.exp(log_s.detach()), loss=float(value.detach()), loss_at_one=loss_at_one,
                    grad_norm=float(grad.norm()))

