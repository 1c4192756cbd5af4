"""One training loop for the gated DAE, and the analysis ch03 runs on it (recovery angles, probe curves across noise
levels, Bayes accuracy of one or several noisy copies), each against an independent computation."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from lowdim import GaussianMixture, MoLRG
from lowdim.representation.curves import bayes_accuracy, pooled_copies
from lowdim.representation.dae import (cosine_lr_step, denoising_loss, noisy_features, probe_curves, recovery_angles,
                                       train_gated_dae, train_gated_dae_restarts)
from lowdim.schedules import ddpm_sigmas

DELTA = 0.2
F64 = torch.float64


@pytest.fixture(scope="module")
def small():
    return MoLRG.random(12, [2, 2], delta=DELTA, seed=3)


def _haar(n, p, gen):
    """A random orthonormal frame drawn as the loop draws it: torch's QR of a Gaussian matrix, diag(R) > 0."""
    Q, R = torch.linalg.qr(torch.randn(n, p, dtype=F64, generator=gen))
    return Q * torch.sign(torch.diagonal(R))


def _reference_run(x0, U0, gen, epochs, total_epochs, batch_size, lr, sigmas, K):
    """The single-run recipe written out plainly: Adam on one (n, K d) matrix, torch's CosineAnnealingLR over all
    `total_epochs`, one (shuffle, timesteps, noise) draw per epoch, stopped after `epochs`.  ->  (U, epoch losses)."""
    U = U0.clone().requires_grad_(True)
    opt = torch.optim.Adam([U], lr=lr)
    N, n = x0.shape
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_epochs * math.ceil(N / batch_size))
    losses = []
    for _ in range(epochs):
        order = torch.randperm(N, generator=gen)
        steps = torch.randint(0, len(sigmas), (N,), generator=gen)
        eps = torch.randn(N, n, dtype=F64, generator=gen)
        total = 0.0
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]
            loss = denoising_loss(U, x0[idx], sigmas[steps[idx]], eps[idx], K, DELTA)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / N)
    return U.detach(), torch.tensor(losses, dtype=F64)


def test_a_single_run_is_the_plain_adam_loop_bit_for_bit(small):
    x0, _ = small.sample(900, seed=1)
    sig = ddpm_sigmas(200)
    run = train_gated_dae(x0, 2, 2, DELTA, sig, epochs=5, batch_size=400, lr=0.03, seed=2)
    gen = torch.Generator().manual_seed(2)
    U0 = _haar(12, 4, gen)
    U_ref, loss_ref = _reference_run(x0, U0, gen, 5, 5, 400, 0.03, sig, 2)
    assert torch.equal(run.snapshots[0], U0)
    assert torch.equal(run.U, U_ref) and torch.equal(run.epoch_loss, loss_ref)  # the same operations in the same order


def test_every_candidate_trains_exactly_as_if_alone(small):
    """The R candidates share draws but not arithmetic: each one's screened U is its own single run's."""
    x0, _ = small.sample(900, seed=3)
    sig = ddpm_sigmas(200)
    out = train_gated_dae_restarts(x0, 2, 2, DELTA, sig, epochs=6, batch_size=400, lr=0.03, seed=4, restarts=3,
                                   screen_epochs=2)
    for r in range(3):
        gen = torch.Generator().manual_seed(4)
        torch.randint(0, 200, (900,), generator=gen), torch.randn(900, 12, dtype=F64, generator=gen)  # selection draw
        starts = [_haar(12, 4, gen) for _ in range(3)]
        # stacked candidates are stored row-major (torch.stack), while a QR factor comes column-major, and a matmul
        # on the other layout rounds differently: compare with a single run from the same start in the same layout
        U_ref, _ = _reference_run(x0, starts[r].contiguous(), gen, 2, 6, 400, 0.03, sig, 2)
        assert torch.equal(out.screen_U[r], U_ref)


def test_cosine_lr_step_is_torch_scheduler_and_the_closed_form():
    lr, total = 0.02, 37
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    ours = lr
    for k in range(1, total + 1):
        opt.step()
        sched.step()
        ours = cosine_lr_step(ours, k, total)
        assert ours == opt.param_groups[0]["lr"]  # the same floating-point operations
        assert ours == pytest.approx(0.5 * lr * (1 + math.cos(math.pi * k / total)), rel=1e-13, abs=1e-18)
    assert ours == 0.0


def test_recovery_angles(small):
    gen = torch.Generator().manual_seed(5)
    rot = [torch.linalg.qr(torch.randn(2, 2, dtype=F64, generator=gen))[0] for _ in range(2)]
    U = torch.cat([small.bases[1] @ rot[0], small.bases[0] @ rot[1]], dim=1)  # blocks swapped and rotated
    assert float(recovery_angles(U, small.bases).max()) < 1e-6
    mixed = torch.cat([small.bases[0][:, :1], small.bases[1][:, :1], small.bases[1][:, 1:], small.bases[0][:, 1:]], dim=1)
    np.testing.assert_allclose(recovery_angles(mixed, small.bases).numpy(), [90.0, 90.0], atol=1e-6)


def test_probe_curves_against_numpy():
    model = MoLRG.random(16, [2, 2, 2], delta=DELTA, seed=6)
    x_tr, y_tr = model.sample(600, seed=7)
    x_te, y_te = model.sample(400, seed=8)
    sigmas = torch.tensor([0.05, 0.5, 3.0], dtype=F64)
    U = torch.cat(model.bases, dim=1)
    out = probe_curves(U, model.bases, x_tr, y_tr, x_te, y_te, sigmas, rank=2, delta=DELTA, noise_seed=9)
    assert out["lr"].shape == out["proj"].shape == out["snr"].shape == (3,)
    assert out["h_tr"].shape == (3, 600, 6) and out["h_te"].shape == (3, 400, 6) and out["xt_te"].shape == (3, 400, 16)
    h_te, xhat_te, xt_te = noisy_features(U, x_te, sigmas, 3, DELTA, seed=10)  # the test draw (noise_seed + 1)
    assert torch.equal(xt_te, out["xt_te"]) and torch.equal(h_te, out["h_te"])
    y_tr_np, y_te_np = y_tr.numpy(), y_te.numpy()
    for i in range(3):
        # Table 9's projection classifier by numpy SVDs
        h_tr_i, h_te_i = out["h_tr"][i].numpy(), h_te[i].numpy()
        V = [np.linalg.svd(h_tr_i[y_tr_np == k], full_matrices=False)[2][:2].T for k in range(3)]
        pred = np.argmax(np.stack([((h_te_i @ Vk) ** 2).sum(1) for Vk in V], 1), 1)
        assert float(out["proj"][i]) == pytest.approx(np.mean(pred == y_te_np), abs=1e-12)
        # Definition 1 by numpy: per class, E|P_k x|^2 / E|x - P_k x|^2, then the mean over classes
        xh = xhat_te[i].numpy()
        ratios = []
        for k, B in enumerate(model.bases):
            xk = xh[y_te_np == k]
            P = xk @ B.numpy() @ B.numpy().T
            ratios.append((P**2).sum(1).mean() / ((xk - P) ** 2).sum(1).mean())
        assert float(out["snr"][i]) == pytest.approx(np.mean(ratios), rel=1e-10)
    assert ((out["lr"] >= 0) & (out["lr"] <= 1)).all()
    # on exact features the projection classifier is the Bayes classifier (up to the estimated V_k), whose accuracy
    # only falls with the noise level
    for i, s in enumerate(sigmas.tolist()):
        assert abs(float(out["proj"][i]) - bayes_accuracy(model, xt_te[i], s, y_te)) < 0.03
    assert float(out["proj"][2]) < float(out["proj"][1]) < float(out["proj"][0])


def _mixture():
    return GaussianMixture([[0.0, 0.0], [1.5, 0.5]], [[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 1.2]]], [0.4, 0.6])


def test_pooled_copies_are_sufficient_for_the_class():
    """P(k | x_1..x_m) from the joint Gaussian of the m copies (dimension m n, scipy) = P(k | x_bar) at sigma_eff."""
    gm = _mixture()
    sig = torch.tensor([0.3, 0.8, 1.5], dtype=F64)
    x0, _ = gm.sample(50, seed=11)
    gen = torch.Generator().manual_seed(12)
    copies = x0[None] + sig[:, None, None] * torch.randn(3, 50, 2, dtype=F64, generator=gen)
    x_bar, sigma_eff = pooled_copies(copies, sig)
    assert sigma_eff == pytest.approx(float((sig**-2).sum() ** -0.5), rel=1e-15)
    stacked = copies.permute(1, 0, 2).reshape(50, 6).numpy()  # (N, m n): copy-major per point
    logj = []
    for k in range(2):
        mu, S = gm.means[k].numpy(), gm.covariances[k].numpy()
        cov = np.kron(np.ones((3, 3)), S) + np.kron(np.diag(sig.numpy() ** 2), np.eye(2))
        logj.append(np.log(gm.weights[k].item()) + multivariate_normal(np.tile(mu, 3), cov).logpdf(stacked))
    logj = np.stack(logj, 1)
    ref = np.exp(logj - logj.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(gm.class_posterior(x_bar, sigma_eff).numpy(), ref, atol=1e-10)  # float64 rounding
    one, s1 = pooled_copies(copies[:1], sig[:1])
    assert torch.allclose(one, copies[0], atol=1e-15) and s1 == pytest.approx(0.3, rel=1e-15)
    with pytest.raises(ValueError, match="x_t must be"):
        pooled_copies(copies, sig[:2])
    with pytest.raises(ValueError, match="sigma"):
        pooled_copies(copies, torch.tensor([0.3, 0.0, 1.0]))


def test_bayes_accuracy_against_scipy():
    gm = _mixture()
    x0, y = gm.sample(400, seed=13)
    x = x0 + 0.7 * torch.randn(x0.shape, dtype=F64, generator=torch.Generator().manual_seed(14))
    logp = np.stack([np.log(gm.weights[k].item()) + multivariate_normal(gm.means[k].numpy(), gm.covariances[k].numpy()
                                                                          + 0.49 * np.eye(2)).logpdf(x.numpy())
                     for k in range(2)], 1)
    assert bayes_accuracy(gm, x, 0.7, y) == pytest.approx(np.mean(logp.argmax(1) == y.numpy()), abs=1e-12)
