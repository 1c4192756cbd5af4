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
from tqdm import tqdm  # plain tqdm: tqdm.auto warns in kernels without ipywidgets

from lowdim.checks import DTYPE, as_points, as_sigma, check_int, check_range
from lowdim.gaussians import generator, random_orthonormal
from lowdim.metrics import accuracy, class_subspaces, snr
from lowdim.representation.ensemble import fit_level_probes, level_logits
from lowdim.representation.molrg import gated_denoiser

__all__ = ["TrainedDAE", "denoising_loss", "cosine_lr_step", "train_gated_dae", "RestartedDAE",
           "train_gated_dae_restarts", "principal_angles", "match_blocks", "recovery_angles",
           "orthonormality_error", "noisy_features", "block_log_energies", "fit_projection_classifier",
           "projection_energies", "projection_predict", "probe_curves"]


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
        check_int(name, value, low=1)
    n = x0.shape[1]
    if num_classes * rank > n:
        raise ValueError(f"num_classes * rank = {num_classes * rank} must be <= the data dimension n = {n}")
    check_range("delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    check_range("lr", lr, low=0.0, low_open=True)
    return x0, sigmas


def cosine_lr_step(lr: float, step: int, total_steps: int) -> float:
    """Learning rate after optimiser step `step` (1-based) of a cosine decay to 0 over `total_steps`, from the rate
    `lr` before it: lr_k = lr_{k-1} (1 + cos(pi k / K)) / (1 + cos(pi (k - 1) / K)), so lr_k = lr_0 (1 + cos(pi k / K))/2.

    The recursive form, with the operations in the order of torch's CosineAnnealingLR (eta_min = 0), so that a run
    reproduces one trained with that scheduler to the last bit.
    """
    return (1 + math.cos(math.pi * step / total_steps)) / (1 + math.cos(math.pi * (step - 1) / total_steps)) * lr


class _Candidates:
    """R candidate bases U (R, n, K d) trained by Adam side by side, with a cosine-decayed learning rate from `lr`
    to 0 over `total_steps` optimiser steps (lr -> 0: less SGD jitter in U at the end).

    The loss is the sum of the R candidates' losses, each computed on its own (no batching across candidates), so
    every candidate's gradient, Adam state and trajectory are bit for bit those of a run of that candidate alone
    from the same start in the same memory layout (a matmul rounds differently on a transposed layout: a single
    run keeps the column-major QR factor it starts from, stacked candidates are row-major).
    """

    def __init__(self, U: torch.Tensor, lr: float, total_steps: int):
        self.U = U.clone().requires_grad_(True)
        self.opt = torch.optim.Adam([self.U], lr=lr)
        self.step, self.total_steps = 0, total_steps

    def keep(self, c: int) -> None:
        """Continue with candidate c alone: its slice of U and of the Adam state, at the same learning rate."""
        U_c = self.U.detach()[c:c + 1].clone().requires_grad_(True)
        opt_c = torch.optim.Adam([U_c], lr=self.opt.param_groups[0]["lr"])
        state = self.opt.state[self.U]
        opt_c.state[U_c] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][c:c + 1].clone(),
                            "exp_avg_sq": state["exp_avg_sq"][c:c + 1].clone()}
        self.U, self.opt = U_c, opt_c

    def epochs(self, x0, sigmas, epochs, batch_size, num_classes, delta, gen, snapshot_every, first_epoch):
        """`epochs` epochs in which the candidates share mini-batches, timesteps and noise (one uniform timestep and
        one noise draw per example and epoch, all from `gen`; every example visited once per epoch).

        x0: (N, n); sigmas: (T,).  ->  (per-epoch mean loss (epochs, R), snapshots [(R, n, K d)], their epochs).
        """
        (N, n), T, R = x0.shape, sigmas.numel(), self.U.shape[0]
        epoch_loss, snapshots, snapshot_epochs = torch.empty(epochs, R, dtype=DTYPE), [], []
        for epoch in tqdm(range(epochs), desc=f"training {R} gated DAE(s)", leave=False, disable=None):
            order = torch.randperm(N, generator=gen)
            steps = torch.randint(0, T, (N,), generator=gen)  # one timestep per example (vectorised)
            eps = torch.randn(N, n, dtype=DTYPE, generator=gen)
            total = torch.zeros(R, dtype=DTYPE)
            for start in range(0, N, batch_size):
                idx = order[start:start + batch_size]
                x, s, e = x0[idx], sigmas[steps[idx]], eps[idx]
                loss = torch.stack([denoising_loss(V, x, s, e, num_classes, delta) for V in self.U])  # (R,) eq. 2
                self.opt.zero_grad()
                loss.sum().backward()
                self.opt.step()
                self.step += 1
                group = self.opt.param_groups[0]
                group["lr"] = cosine_lr_step(group["lr"], self.step, self.total_steps)
                total += loss.detach() * idx.numel()
            epoch_loss[epoch] = total / N
            if (first_epoch + epoch + 1) % snapshot_every == 0:
                snapshots.append(self.U.detach().clone())
                snapshot_epochs.append(first_epoch + epoch + 1)
        return epoch_loss, snapshots, snapshot_epochs


def train_gated_dae(x0, num_classes: int, rank: int, delta: float, sigmas, epochs: int, batch_size: int,
                    lr: float, seed: int, snapshot_every: int = 1) -> TrainedDAE:
    """Train U of eqs. 4-5 with Adam (cosine-decayed learning rate from `lr` to 0) on the denoising loss, one
    uniformly drawn timestep per example and step: the loop of `train_gated_dae_restarts` with one candidate.

    x0: (N, n) clean training data; sigmas: (T,) noise level of each schedule step (e.g. `ddpm_sigmas(500)`);
    U starts at a random orthonormal (n, K d) matrix drawn from `seed`, which also seeds the shuffling, the
    timesteps and the noise. Each epoch visits every example once in mini-batches of `batch_size`.
    """
    x0, sigmas = _check_training_inputs(x0, num_classes, rank, delta, sigmas, epochs, batch_size, lr, snapshot_every)
    gen = generator(seed)
    U0 = random_orthonormal(x0.shape[1], num_classes * rank, gen)[None]  # (1, n, K d)
    run = _Candidates(U0, lr, total_steps=epochs * -(-x0.shape[0] // batch_size))
    loss, snaps, snap_epochs = run.epochs(x0, sigmas, epochs, batch_size, num_classes, delta, gen, snapshot_every, 0)
    return TrainedDAE(U=run.U.detach()[0], epoch_loss=loss[:, 0], snapshots=torch.stack([U0[0]] + [S[0] for S in snaps]),
                      snapshot_epochs=torch.tensor([0] + snap_epochs))


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
    check_int("restarts", restarts, low=1)
    check_int("screen_epochs", screen_epochs, 1, epochs)
    (N, n), T = x0.shape, sigmas.numel()
    gen = generator(seed)
    screen_sigma = sigmas[torch.randint(0, T, (N,), generator=gen)]  # fixed draw for the selection loss
    screen_eps = torch.randn(N, n, dtype=DTYPE, generator=gen)
    U0 = torch.stack([random_orthonormal(n, num_classes * rank, gen) for _ in range(restarts)])  # (R, n, K d)
    run = _Candidates(U0, lr, total_steps=epochs * -(-N // batch_size))
    kw = dict(x0=x0, sigmas=sigmas, batch_size=batch_size, num_classes=num_classes, delta=delta, gen=gen,
              snapshot_every=snapshot_every)
    loss_a, snaps_a, epochs_a = run.epochs(epochs=screen_epochs, first_epoch=0, **kw)
    screen_U = run.U.detach().clone()
    with torch.no_grad():
        screen_loss = torch.stack([denoising_loss(V, x0, screen_sigma, screen_eps, num_classes, delta) for V in screen_U])
    c = int(screen_loss.argmin())
    run.keep(c)  # continue the chosen candidate alone, with its slice of the Adam state
    loss_b, snaps_b, epochs_b = run.epochs(epochs=epochs - screen_epochs, first_epoch=screen_epochs, **kw)
    snapshots = [U0[c]] + [S[c] for S in snaps_a] + [S[0] for S in snaps_b]
    trained = TrainedDAE(U=run.U.detach()[0], epoch_loss=torch.cat([loss_a[:, c], loss_b[:, 0]]),
                         snapshots=torch.stack(snapshots), snapshot_epochs=torch.tensor([0] + epochs_a + epochs_b))
    return RestartedDAE(run=trained, chosen=c, screen_loss=screen_loss, screen_U=screen_U)


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


def recovery_angles(U: torch.Tensor, bases) -> torch.Tensor:
    """Largest principal angle (degrees) between each class subspace and the block of U matched to it
    (`match_blocks`).  U: (n, K d); bases: K tensors (n, d)  ->  (K,)."""
    return match_blocks(U, bases)[1].amax(dim=1)


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
    check_int("num_classes", num_classes, low=1)
    if h.shape[-1] % num_classes:
        raise ValueError(f"num_classes must divide the feature size {h.shape[-1]}, got {num_classes!r}")
    energy = (h.reshape(*h.shape[:-1], num_classes, -1) ** 2).sum(dim=-1)
    return torch.log(energy)


def fit_projection_classifier(features: torch.Tensor, labels: torch.Tensor, num_classes: int, rank: int) -> torch.Tensor:
    """Class principal subspaces V_k (paper 1, Table 9): top-`rank` right singular vectors of each class's features.

    features: (N, p); labels: (N,).  ->  V (K, p, rank).  Predict with `projection_predict`.
    """
    return torch.stack(class_subspaces(features, labels, rank, num_classes))


def projection_energies(V: torch.Tensor, features) -> torch.Tensor:
    """|V_k^T h|^2 for every class k (the scores of Table 9's projection classifier).  V: (K, p, r); features: (N, p)
    ->  (N, K)."""
    return (torch.einsum("np,kpr->nkr", torch.as_tensor(features, dtype=DTYPE), V) ** 2).sum(dim=2)


def projection_predict(V: torch.Tensor, features) -> torch.Tensor:
    """argmax_k |V_k^T h|^2 (Table 9's projection classifier).  V: (K, p, r); features: (N, p)  ->  (N,)."""
    return projection_energies(V, features).argmax(dim=1)


def probe_curves(U: torch.Tensor, bases, x0_train, y_train, x0_test, y_test, sigmas, rank: int, delta: float,
                 noise_seed: int) -> dict:
    """Paper 1, Fig. 3(a)(b) and Table 9 for the gated denoiser with basis U, at every noise level.

    Features h (and outputs x_hat) of noisy training and test inputs (`noisy_features`, seeds noise_seed and
    noise_seed + 1); a logistic-regression probe per level fitted on the training features (`fit_level_probes`);
    the projection classifier of Table 9 (class subspaces of rank `rank` of the training features); the SNR of
    Definition 1 of the test outputs against the class bases U_k (`lowdim.metrics.snr`).
    U: (n, K d); bases: K tensors (n, d_k); x0_*: (N_*, n); y_*: (N_*,); sigmas: (L,).
    ->  dict(lr, proj, snr: (L,) test accuracies and SNR; h_tr (L, N_train, K d), h_te (L, N_test, K d),
    xt_te (L, N_test, n): the features and the noisy test inputs, for further probes).
    """
    num_classes = len(bases)
    h_tr, _, _ = noisy_features(U, x0_train, sigmas, num_classes, delta, seed=noise_seed)
    h_te, xhat_te, xt_te = noisy_features(U, x0_test, sigmas, num_classes, delta, seed=noise_seed + 1)
    lr_acc = accuracy(level_logits(fit_level_probes(h_tr, y_train, num_classes), h_te), y_test)
    proj_acc = torch.stack([accuracy(projection_energies(fit_projection_classifier(h_tr[i], y_train, num_classes, rank),
                                                         h_te[i]), y_test) for i in range(h_te.shape[0])])
    snrs = torch.tensor([snr(xhat_te[i], y_test, bases)[0] for i in range(h_te.shape[0])], dtype=DTYPE)
    return dict(lr=lr_acc, proj=proj_acc, snr=snrs, h_tr=h_tr, h_te=h_te, xt_te=xt_te)
