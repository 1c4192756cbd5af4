"""Training the gated denoiser of paper 1 (arXiv 2502.05743 v3), eqs. 4-5, and checking what it learned.

The network is `lowdim.molrg.gated_denoiser`: x_hat = U h,  h = D(x_t, t) U^T x_t, with a softmax gate over the
K blocks of U; its only parameters are U (n, K d). The noise level sigma and the data noise delta are known to
the network (the paper treats delta as known). Training minimises the denoising loss (eq. 2)

    E_{x_0, t, eps} || x_hat(x_0 + sigma_t eps, sigma_t) - x_0 ||^2,   t ~ Uniform{0, ..., T-1},

with sigma_t the VE-equivalent levels of a DDPM schedule (the VP state divided by sqrt(alpha_bar_t); see
`lowdim.schedules`). The paper (App. D) follows tanelp/tiny-diffusion: T = 500 linear-beta steps, 200 epochs,
Adam, lr 5e-4; the x_0 target, the uniform timestep weight and the batch size 256 are our reading (inferred).
The book uses larger batches with a larger, cosine-decayed learning rate to fit the CPU budget (see ch03).
U is free (not constrained to orthonormal columns); orthonormality is checked afterwards, not imposed.
A single run can end at a spurious stationary point (classes mixed across blocks); `train_gated_dae_restarts`
screens several random starts for a few epochs and keeps the one with the lowest training loss (our procedure).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch.func import vmap
from tqdm import tqdm  # plain tqdm: tqdm.auto warns in kernels without ipywidgets

from lowdim.checks import DTYPE, as_points, as_sigma, check_range
from lowdim.gaussians import random_orthonormal
from lowdim.representation.molrg import gated_denoiser


@dataclass
class TrainedDAE:
    """Result of `train_gated_dae`.

    U: learned basis (n, K d); epoch_loss: mean training loss per epoch (epochs,); snapshots: U at the start and
    after every `snapshot_every` epochs (S, n, K d); snapshot_epochs: their epoch numbers (S,).
    """

    U: torch.Tensor
    epoch_loss: torch.Tensor
    snapshots: torch.Tensor
    snapshot_epochs: torch.Tensor


def denoising_loss(U: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor, num_classes: int,
                   delta: float) -> torch.Tensor:
    """Mean over the batch of |x_hat(x0 + sigma eps) - x0|^2 (eq. 2 with lambda_t = 1, x_0 target).

    U: (n, K d); x0, eps: (B, n); sigma: (B,) one level per example.  ->  scalar.
    """
    x_hat, _, _ = gated_denoiser(x0 + sigma[:, None] * eps, sigma, U, num_classes, delta)
    return ((x_hat - x0) ** 2).sum(dim=1).mean()


def _check_training_inputs(x0, num_classes, rank, delta, sigmas, epochs, batch_size, lr, snapshot_every):
    """Validate the arguments shared by the training functions.  ->  (x0 (N, n), sigmas (T,)) as float64 tensors."""
    x0 = as_points(x0, torch.as_tensor(x0).shape[-1], name="x0")
    sigmas = as_sigma(sigmas)
    if sigmas.ndim != 1 or sigmas.numel() < 1:
        raise ValueError(f"sigmas must be a non-empty 1-D tensor (one level per schedule step), got {tuple(sigmas.shape)}")
    for name, value in (("num_classes", num_classes), ("rank", rank), ("epochs", epochs),
                        ("batch_size", batch_size), ("snapshot_every", snapshot_every)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    n = x0.shape[1]
    if num_classes * rank > n:
        raise ValueError(f"num_classes * rank = {num_classes * rank} must be <= the data dimension n = {n}")
    check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    check_range("lr", lr, low=0.0, low_open=True)
    return x0, sigmas


def train_gated_dae(x0, num_classes: int, rank: int, delta: float, sigmas, epochs: int, batch_size: int,
                    lr: float, seed: int, snapshot_every: int = 1) -> TrainedDAE:
    """Train U of eqs. 4-5 with Adam (cosine-decayed learning rate from `lr` to 0) on the denoising loss, one
    uniformly drawn timestep per example and step.

    x0: (N, n) clean training data; sigmas: (T,) noise level of each schedule step (e.g. `ddpm_sigmas(500)`);
    U starts at a random orthonormal (n, K d) matrix drawn from `seed`, which also seeds the shuffling, the
    timesteps and the noise. Each epoch visits every example once in mini-batches of `batch_size`.
    """
    x0, sigmas = _check_training_inputs(x0, num_classes, rank, delta, sigmas, epochs, batch_size, lr, snapshot_every)
    n = x0.shape[1]
    gen = torch.Generator().manual_seed(seed)
    U = random_orthonormal(n, num_classes * rank, gen).requires_grad_(True)
    opt = torch.optim.Adam([U], lr=lr)
    N, T = x0.shape[0], sigmas.numel()
    num_batches = -(-N // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * num_batches)  # lr -> 0: less SGD jitter in U
    epoch_loss = torch.empty(epochs, dtype=DTYPE)
    snapshots, snapshot_epochs = [U.detach().clone()], [0]
    for epoch in tqdm(range(epochs), desc="training the gated DAE", leave=False, disable=None):
        order = torch.randperm(N, generator=gen)
        steps = torch.randint(0, T, (N,), generator=gen)  # one timestep per example (vectorised)
        eps = torch.randn(N, n, dtype=DTYPE, generator=gen)
        total = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            loss = denoising_loss(U, x0[idx], sigmas[steps[idx]], eps[idx], num_classes, delta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.numel()
        epoch_loss[epoch] = total / N
        if (epoch + 1) % snapshot_every == 0:
            snapshots.append(U.detach().clone())
            snapshot_epochs.append(epoch + 1)
    return TrainedDAE(U=U.detach(), epoch_loss=epoch_loss, snapshots=torch.stack(snapshots),
                      snapshot_epochs=torch.tensor(snapshot_epochs))


@dataclass
class RestartedDAE:
    """Result of `train_gated_dae_restarts`.

    run: the selected candidate trained for all epochs (its epoch_loss and snapshots cover the screening epochs
    too); chosen: its index; screen_loss: training-set denoising loss of every candidate after the screening epochs
    (R,), the only quantity the selection looks at; screen_U: every candidate's U at that point (R, n, K d).
    """

    run: TrainedDAE
    chosen: int
    screen_loss: torch.Tensor
    screen_U: torch.Tensor


def _cosine_lr(lr: float, step: int, total_steps: int) -> float:
    """Cosine-annealed learning rate from `lr` to 0 over `total_steps` (as torch's CosineAnnealingLR, eta_min = 0)."""
    return 0.5 * lr * (1.0 + math.cos(math.pi * step / total_steps))


def _stacked_adam_epochs(U, opt, x0, sigmas, epochs, batch_size, lr, step, total_steps, num_classes, delta, gen,
                         snapshot_every, first_epoch):
    """Run `epochs` epochs of Adam on R stacked candidates U (R, n, K d) that share mini-batches, timesteps and noise.

    The summed loss has block-separable gradients and Adam is elementwise, so each candidate follows its own Adam
    trajectory.  ->  (per-epoch loss (epochs, R), snapshots list of (R, n, K d), their epoch numbers, next step).
    """
    losses = vmap(lambda V, x, s, e: denoising_loss(V, x, s, e, num_classes, delta), in_dims=(0, None, None, None))
    N, n, T = x0.shape[0], x0.shape[1], sigmas.numel()
    epoch_loss, snapshots, snapshot_epochs = torch.empty(epochs, U.shape[0], dtype=DTYPE), [], []
    for epoch in tqdm(range(epochs), desc=f"training {U.shape[0]} gated DAE(s)", leave=False, disable=None):
        order = torch.randperm(N, generator=gen)
        steps = torch.randint(0, T, (N,), generator=gen)  # one timestep per example
        eps = torch.randn(N, n, dtype=DTYPE, generator=gen)
        total = torch.zeros(U.shape[0], dtype=DTYPE)
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            loss = losses(U, x0[idx], sigmas[steps[idx]], eps[idx])  # (R,) eq. 2 per candidate
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            step += 1
            opt.param_groups[0]["lr"] = _cosine_lr(lr, step, total_steps)
            total += loss.detach() * idx.numel()
        epoch_loss[epoch] = total / N
        if (first_epoch + epoch + 1) % snapshot_every == 0:
            snapshots.append(U.detach().clone())
            snapshot_epochs.append(first_epoch + epoch + 1)
    return epoch_loss, snapshots, snapshot_epochs, step


def train_gated_dae_restarts(x0, num_classes: int, rank: int, delta: float, sigmas, epochs: int, batch_size: int,
                             lr: float, seed: int, restarts: int, screen_epochs: int,
                             snapshot_every: int = 1) -> RestartedDAE:
    """Train `restarts` candidate U of eqs. 4-5 from different random orthonormal starts for `screen_epochs` epochs,
    keep the one with the lowest denoising loss on the training set, and train it on to `epochs` epochs.

    Selection uses the training loss only (eq. 2 on x0 with one fixed draw of timesteps and noise shared by all
    candidates), never the true subspaces. The recipe is that of `train_gated_dae` (Adam, cosine-decayed learning
    rate from `lr` to 0 over all `epochs`, one uniform timestep per example and step); the candidates share
    mini-batches, timesteps and noise, and the selected one keeps its Adam state and its place in the learning-rate
    schedule. Everything (the fixed draw, the R starts, the batches) is drawn from `seed`.

    x0: (N, n) clean training data; sigmas: (T,) schedule levels.  ->  RestartedDAE (run.U (n, K d); snapshots at
    epoch 0 and every `snapshot_every` epochs).
    """
    x0, sigmas = _check_training_inputs(x0, num_classes, rank, delta, sigmas, epochs, batch_size, lr, snapshot_every)
    if not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
    if not isinstance(screen_epochs, int) or not 1 <= screen_epochs <= epochs:
        raise ValueError(f"screen_epochs must be an integer in [1, epochs={epochs}], got {screen_epochs!r}")
    (N, n), T = x0.shape, sigmas.numel()
    gen = torch.Generator().manual_seed(seed)
    screen_sigma = sigmas[torch.randint(0, T, (N,), generator=gen)]  # fixed draw for the selection loss
    screen_eps = torch.randn(N, n, dtype=DTYPE, generator=gen)
    U = torch.stack([random_orthonormal(n, num_classes * rank, gen) for _ in range(restarts)]).requires_grad_(True)
    opt = torch.optim.Adam([U], lr=lr)
    total_steps = epochs * -(-N // batch_size)
    kw = dict(x0=x0, sigmas=sigmas, batch_size=batch_size, lr=lr, total_steps=total_steps, num_classes=num_classes,
              delta=delta, gen=gen, snapshot_every=snapshot_every)
    start_U = U.detach().clone()
    loss_a, snaps_a, epochs_a, step = _stacked_adam_epochs(U, opt, epochs=screen_epochs, step=0, first_epoch=0, **kw)
    with torch.no_grad():
        screen_loss = torch.stack([denoising_loss(V, x0, screen_sigma, screen_eps, num_classes, delta) for V in U])
    c = int(screen_loss.argmin())
    # continue the chosen candidate alone, with its slice of the Adam state
    U_c = U.detach()[c:c + 1].clone().requires_grad_(True)
    opt_c = torch.optim.Adam([U_c], lr=opt.param_groups[0]["lr"])
    state = opt.state[U]
    opt_c.state[U_c] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][c:c + 1].clone(),
                        "exp_avg_sq": state["exp_avg_sq"][c:c + 1].clone()}
    loss_b, snaps_b, epochs_b, _ = _stacked_adam_epochs(U_c, opt_c, epochs=epochs - screen_epochs, step=step,
                                                        first_epoch=screen_epochs, **kw)
    snapshots = [start_U[c]] + [S[c] for S in snaps_a] + [S[0] for S in snaps_b]
    run = TrainedDAE(U=U_c.detach()[0], epoch_loss=torch.cat([loss_a[:, c], loss_b[:, 0]]),
                     snapshots=torch.stack(snapshots), snapshot_epochs=torch.tensor([0] + epochs_a + epochs_b))
    return RestartedDAE(run=run, chosen=c, screen_loss=screen_loss, screen_U=U.detach().clone())


# ----------------------------------------------------------------------------------------------------------
# Subspace recovery.


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (degrees, increasing) between span(A) and span(B).  A: (n, p), B: (n, q) -> (min(p, q),).

    Björck-Golub: the cosines are the singular values of Q_A^T Q_B with orthonormal bases Q_A, Q_B (QR); the
    angles come from atan2(sin, cos) with sines from the residual (I - Q_A Q_A^T) Q_B, accurate at small angles.
    """
    A, B = torch.as_tensor(A, dtype=DTYPE), torch.as_tensor(B, dtype=DTYPE)
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise ValueError(f"A and B must be matrices with the same number of rows, got {tuple(A.shape)} and {tuple(B.shape)}")
    QA, QB = torch.linalg.qr(A)[0], torch.linalg.qr(B)[0]
    if QA.shape[1] > QB.shape[1]:
        QA, QB = QB, QA
    cos = torch.linalg.svdvals(QA.T @ QB)[: QA.shape[1]]  # decreasing
    sin = torch.linalg.svdvals(QA - QB @ (QB.T @ QA)).flip(0)  # increasing, paired with decreasing cosines
    return torch.rad2deg(torch.atan2(sin, cos))


def match_blocks(U: torch.Tensor, bases) -> tuple[list[int], torch.Tensor]:
    """Assign the K learned blocks U_l = U[:, l d:(l+1) d] to the true class bases (the loss is invariant to a
    permutation of the blocks), minimising the total sum of squared sines of the principal angles.

    U: (n, K d); bases: K tensors (n, d).  ->  (perm with block perm[k] matched to class k, angles (K, d) degrees).
    """
    K = len(bases)
    if K > 8:
        raise ValueError(f"match_blocks tries all K! permutations; K must be <= 8, got {K}")
    d = U.shape[1] // K
    if U.shape[1] != K * d:
        raise ValueError(f"U has {U.shape[1]} columns, which the number of bases K={K} must divide")
    angles = torch.stack([torch.stack([principal_angles(U[:, l * d:(l + 1) * d], Bk) for Bk in bases])
                          for l in range(K)])  # (block l, class k, d)
    cost = (torch.sin(torch.deg2rad(angles)) ** 2).sum(dim=2)  # (K, K)
    perm = min(itertools.permutations(range(K)), key=lambda p: float(sum(cost[p[k], k] for k in range(K))))
    return list(perm), torch.stack([angles[perm[k], k] for k in range(K)])


def orthonormality_error(U: torch.Tensor) -> float:
    """|| U^T U - I ||_max: how far the learned U is from having orthonormal columns."""
    U = torch.as_tensor(U, dtype=DTYPE)
    return float((U.T @ U - torch.eye(U.shape[1], dtype=DTYPE)).abs().max())


# ----------------------------------------------------------------------------------------------------------
# Features and probes across noise levels.


def noisy_features(U: torch.Tensor, x0: torch.Tensor, sigmas, num_classes: int, delta: float, seed: int):
    """h and x_hat of the gated denoiser at each level, one independent noise draw per point and level.

    U: (n, K d); x0: (N, n); sigmas: (L,).  ->  (h (L, N, K d), x_hat (L, N, n), x_t (L, N, n)).
    """
    sigmas = as_sigma(sigmas).reshape(-1)
    gen = torch.Generator().manual_seed(seed)
    L, (N, n) = sigmas.numel(), x0.shape
    x_t = x0.unsqueeze(0) + sigmas[:, None, None] * torch.randn(L, N, n, dtype=DTYPE, generator=gen)
    x_hat, h, _ = gated_denoiser(x_t.reshape(L * N, n), sigmas.repeat_interleave(N), U.to(DTYPE), num_classes, delta)
    return h.reshape(L, N, -1), x_hat.reshape(L, N, n), x_t


def block_log_energies(h: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Log energy of each class block of the representation: log |h_k|^2, k = 1..K (the statistic the projection
    classifier of Table 9 (v3) compares; the MoLRG class posterior is a softmax of the energies |U_k^T x_t|^2).

    h: (..., K d)  ->  (..., K); a block that is exactly zero gives -inf (never for noisy inputs).
    """
    h = torch.as_tensor(h, dtype=DTYPE)
    if not isinstance(num_classes, int) or num_classes < 1 or h.shape[-1] % num_classes:
        raise ValueError(f"num_classes must be a positive integer dividing the feature size {h.shape[-1]}, got {num_classes!r}")
    energy = (h.reshape(*h.shape[:-1], num_classes, -1) ** 2).sum(dim=-1)
    return torch.log(energy)


def fit_projection_classifier(features: torch.Tensor, labels: torch.Tensor, num_classes: int, rank: int) -> torch.Tensor:
    """Class principal subspaces V_k (paper 1, Table 9): top-`rank` right singular vectors of each class's features.

    features: (N, p); labels: (N,).  ->  V (K, p, rank).  Predict with `projection_predict`.
    """
    features = torch.as_tensor(features, dtype=DTYPE)
    if not 1 <= rank <= features.shape[1]:
        raise ValueError(f"rank must lie in [1, {features.shape[1]}] (the feature dimension), got {rank}")
    V = []
    for k in range(num_classes):
        Fk = features[labels == k]
        if Fk.shape[0] < rank:
            raise ValueError(f"class {k} has {Fk.shape[0]} samples, fewer than rank={rank}")
        V.append(torch.linalg.svd(Fk, full_matrices=False)[2][:rank].T)
    return torch.stack(V)


def projection_predict(V: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """argmax_k |V_k^T h|^2 (Table 9's projection classifier).  V: (K, p, r); features: (N, p)  ->  (N,)."""
    energy = (torch.einsum("np,kpr->nkr", torch.as_tensor(features, dtype=DTYPE), V) ** 2).sum(dim=2)
    return energy.argmax(dim=1)
