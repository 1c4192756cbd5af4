"""lowdim.representation.dae: training the gated DAE of paper 1 (eqs. 4-5), subspace recovery, probes."""

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from lowdim import MoLRG
from lowdim.representation.dae import (block_log_energies, denoising_loss, fit_projection_classifier, match_blocks, noisy_features, orthonormality_error,
                        principal_angles, projection_predict, train_gated_dae, train_gated_dae_restarts)
from lowdim.representation.molrg import gated_denoiser
from lowdim.schedules import ddpm_sigmas

DELTA = 0.2


@pytest.fixture(scope="module")
def small():
    return MoLRG.random(12, [2, 2], delta=DELTA, seed=3)


def test_principal_angles_match_scipy():
    gen = torch.Generator().manual_seed(0)
    A, B = torch.randn(20, 3, dtype=torch.float64, generator=gen), torch.randn(20, 5, dtype=torch.float64, generator=gen)
    ours = principal_angles(A, B).numpy()
    ref = np.sort(np.degrees(subspace_angles(A.numpy(), B.numpy())))
    assert np.allclose(ours, ref, atol=1e-9)  # two SVD routes, float64


def test_principal_angles_small_angle_accuracy():
    e = torch.eye(6, dtype=torch.float64)
    theta = 1e-9  # radians: the cosine route alone would round this to 0
    B = (torch.cos(torch.tensor(theta)) * e[:, :1] + torch.sin(torch.tensor(theta)) * e[:, 1:2]).to(torch.float64)
    assert float(principal_angles(e[:, :1], B)[0]) == pytest.approx(np.degrees(theta), rel=1e-6)


def test_match_blocks_undoes_a_permutation(small):
    U = torch.cat([small.bases[1], small.bases[0]], dim=1)
    perm, angles = match_blocks(U, small.bases)
    assert perm == [1, 0]
    assert float(angles.max()) < 1e-5  # exact same subspaces up to rounding (degrees)


def test_loss_gradient_matches_finite_differences(small):
    gen = torch.Generator().manual_seed(1)
    x0, _ = small.sample(64, seed=2)
    sigma = ddpm_sigmas(500)[torch.randint(0, 500, (64,), generator=gen)]
    eps = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
    U = torch.linalg.qr(torch.randn(12, 4, dtype=torch.float64, generator=gen))[0].requires_grad_(True)
    assert torch.autograd.gradcheck(lambda V: denoising_loss(V, x0, sigma, eps, 2, DELTA), (U,))


def test_U_star_is_a_stationary_point(small):
    # Prop. 1: U* minimises the expected loss, so its Monte Carlo gradient is small next to that of a perturbed U
    gen = torch.Generator().manual_seed(4)
    x0, _ = small.sample(40_000, seed=5)
    sigma = ddpm_sigmas(500)[torch.randint(0, 500, (40_000,), generator=gen)]
    eps = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
    U_star = torch.cat(small.bases, dim=1)
    grads = []
    for U in (U_star, U_star + 0.1 * torch.randn(U_star.shape, dtype=torch.float64, generator=gen)):
        U = U.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(denoising_loss(U, x0, sigma, eps, 2, DELTA), U)
        grads.append(float(g.norm()))
    assert grads[0] < 0.1 * grads[1]  # Monte Carlo gradient noise at 40k points is far below the perturbed gradient


def test_training_learns_the_data_span_and_is_deterministic(small):
    x0, _ = small.sample(2000, seed=6)
    kw = dict(epochs=30, batch_size=1000, lr=0.05, seed=7, snapshot_every=15)
    run = train_gated_dae(x0, 2, 2, DELTA, ddpm_sigmas(500), **kw)
    again = train_gated_dae(x0, 2, 2, DELTA, ddpm_sigmas(500), **kw)
    assert torch.equal(run.U, again.U)
    assert run.snapshots.shape == (3, 12, 4) and run.snapshot_epochs.tolist() == [0, 15, 30]
    assert float(run.epoch_loss[-1]) < float(run.epoch_loss[0])
    span_angle = principal_angles(run.U, torch.cat(small.bases, dim=1)).max()
    start_angle = principal_angles(run.snapshots[0], torch.cat(small.bases, dim=1)).max()
    assert start_angle > 45 and span_angle < 15  # the PCA-like part of the loss finds the span of all classes
    assert orthonormality_error(run.U) < 0.5


def test_noisy_features_match_the_gated_denoiser(small):
    x0, _ = small.sample(30, seed=8)
    sigmas = torch.tensor([0.1, 1.0], dtype=torch.float64)
    U = torch.cat(small.bases, dim=1)
    h, x_hat, x_t = noisy_features(U, x0, sigmas, 2, DELTA, seed=9)
    assert h.shape == (2, 30, 4) and x_hat.shape == x_t.shape == (2, 30, 12)
    for i, s in enumerate(sigmas.tolist()):
        ref_x, ref_h, _ = gated_denoiser(x_t[i], s, U, 2, DELTA)
        assert torch.allclose(h[i], ref_h, atol=1e-13) and torch.allclose(x_hat[i], ref_x, atol=1e-13)


def test_projection_classifier_is_bayes_on_exact_features():
    model = MoLRG.random(30, [3, 3, 3], delta=DELTA, seed=10)
    x0, y = model.sample(6000, seed=11)
    U = torch.cat(model.bases, dim=1)
    sigma = torch.tensor([0.3], dtype=torch.float64)
    h, _, x_t = noisy_features(U, x0, sigma, 3, DELTA, seed=12)
    V = fit_projection_classifier(h[0], y, 3, 3)
    pred = projection_predict(V, h[0])
    bayes = model.class_posterior(x_t[0], 0.3).argmax(dim=1)
    # argmax_k |V_k^T h|^2 = argmax_k beta_k^2 |U_k^T x|^2 = argmax_k P(k|x); V_k is estimated, so allow a few ties
    assert float((pred == bayes).double().mean()) > 0.995


def test_bad_inputs_name_the_parameter(small):
    x0, _ = small.sample(10, seed=0)
    with pytest.raises(ValueError, match="num_classes \\* rank"):
        train_gated_dae(x0, 3, 5, DELTA, ddpm_sigmas(10), epochs=1, batch_size=5, lr=0.01, seed=0)
    with pytest.raises(ValueError, match="delta"):
        train_gated_dae(x0, 2, 2, 1.5, ddpm_sigmas(10), epochs=1, batch_size=5, lr=0.01, seed=0)
    with pytest.raises(ValueError, match="epochs"):
        train_gated_dae(x0, 2, 2, DELTA, ddpm_sigmas(10), epochs=0, batch_size=5, lr=0.01, seed=0)
    with pytest.raises(ValueError, match="sigma"):
        train_gated_dae(x0, 2, 2, DELTA, torch.tensor([0.0, 1.0]), epochs=1, batch_size=5, lr=0.01, seed=0)


def test_block_log_energies_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(2, 7, 3 * 4, dtype=torch.float64, generator=gen)  # (L, N, K d), K = 3, d = 4
    expected = torch.stack([torch.log((h[..., 4 * k:4 * (k + 1)] ** 2).sum(-1)) for k in range(3)], dim=-1)
    assert torch.allclose(block_log_energies(h, 3), expected, rtol=1e-12, atol=0)  # same sums, float64 rounding
    # a rotation within a block keeps its energy (a trained DAE that recovered U* gives the same features)
    Q = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=gen))[0]
    h_rot = h.clone()
    h_rot[..., :4] = h[..., :4] @ Q
    assert torch.allclose(block_log_energies(h_rot, 3), block_log_energies(h, 3), atol=1e-12)  # float64 rounding
    with pytest.raises(ValueError, match="num_classes"):
        block_log_energies(h, 5)


def test_linear_probe_reads_block_energies_but_not_h():
    # zero-mean classes: the class information is second order, so a linear probe needs the block energies
    from lowdim.representation.ensemble import fit_level_probes, level_accuracy, level_logits
    model = MoLRG.random(20, [3, 3, 3], delta=0.2, seed=1)
    U = torch.cat(model.bases, dim=1)
    x_tr, y_tr = model.sample(1500, seed=2)
    x_te, y_te = model.sample(1500, seed=3)
    sigmas = torch.tensor([0.05, 0.3], dtype=torch.float64)
    h_tr, _, _ = noisy_features(U, x_tr, sigmas, 3, 0.2, seed=4)
    h_te, _, _ = noisy_features(U, x_te, sigmas, 3, 0.2, seed=5)
    acc_e = level_accuracy(level_logits(fit_level_probes(block_log_energies(h_tr, 3), y_tr, 3),
                                        block_log_energies(h_te, 3)), y_te)
    acc_h = level_accuracy(level_logits(fit_level_probes(h_tr, y_tr, 3), h_te), y_te)
    assert acc_e.min() > 0.9  # near-Bayes (about 0.99 at these levels); chance is 1/3
    assert (acc_h < acc_e - 0.3).all()  # a linear read of h stays near chance


RESTART_KW = dict(epochs=12, batch_size=500, lr=0.05, restarts=4, screen_epochs=4, snapshot_every=4)


def test_restarts_select_the_lowest_training_loss_and_are_deterministic(small):
    x0, _ = small.sample(1000, seed=13)
    out = train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(500), seed=14, **RESTART_KW)
    again = train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(500), seed=14, **RESTART_KW)
    other = train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(500), seed=15, **RESTART_KW)
    assert torch.equal(out.run.U, again.run.U) and torch.equal(out.screen_loss, again.screen_loss)
    assert not torch.equal(out.screen_U, other.screen_U)
    assert out.screen_loss.shape == (4,) and out.screen_U.shape == (4, 12, 4)
    assert out.chosen == int(out.screen_loss.argmin())
    assert len(set(out.screen_loss.tolist())) == 4  # distinct starts give distinct candidates
    # the selected run passes through its screened U, and its history covers all epochs
    assert out.run.snapshot_epochs.tolist() == [0, 4, 8, 12] and out.run.epoch_loss.shape == (12,)
    assert torch.equal(out.run.snapshots[1], out.screen_U[out.chosen])
    # screen_loss is the training-set denoising loss: compare with fresh draws of (t, eps) on the same x0
    gen = torch.Generator().manual_seed(16)
    sig = ddpm_sigmas(500)
    draws = []
    for _ in range(40):
        t = sig[torch.randint(0, 500, (1000,), generator=gen)]
        eps = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
        draws.append(torch.stack([denoising_loss(U, x0, t, eps, 2, DELTA) for U in out.screen_U]))
    draws = torch.stack(draws)  # (40, R)
    spread = draws.std(dim=0)  # standard deviation of one draw's loss, the size of the fixed draw's error
    assert ((out.screen_loss - draws.mean(dim=0)).abs() < 5 * spread).all()
    # differences between candidates under one shared draw are far less noisy: compare them too (4 sigma)
    diff = draws - draws[:, :1]
    assert ((out.screen_loss - out.screen_loss[0] - diff.mean(dim=0)).abs() <= 4 * diff.std(dim=0)).all()


def test_restarts_continue_the_chosen_candidate_seamlessly(small):
    # one candidate: screening then continuing must equal screening through all epochs (Adam state and lr carried)
    x0, _ = small.sample(1000, seed=17)
    kw = dict(RESTART_KW, restarts=1)
    split = train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(500), seed=18, **kw)
    whole = train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(500), seed=18, **dict(kw, screen_epochs=12))
    assert torch.allclose(split.run.U, whole.run.U, atol=1e-12)  # same arithmetic, float64 rounding at most
    assert torch.allclose(split.run.epoch_loss, whole.run.epoch_loss, atol=1e-12)
    assert float(split.run.epoch_loss[-1]) < float(split.run.epoch_loss[0])


def test_restarts_bad_inputs_name_the_parameter(small):
    x0, _ = small.sample(10, seed=0)
    kw = dict(epochs=3, batch_size=5, lr=0.01, seed=0)
    with pytest.raises(ValueError, match="restarts"):
        train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(10), restarts=0, screen_epochs=1, **kw)
    with pytest.raises(ValueError, match="screen_epochs"):
        train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(10), restarts=2, screen_epochs=4, **kw)
    with pytest.raises(ValueError, match="screen_epochs"):
        train_gated_dae_restarts(x0, 2, 2, DELTA, ddpm_sigmas(10), restarts=2, screen_epochs=0, **kw)
    with pytest.raises(ValueError, match="delta"):
        train_gated_dae_restarts(x0, 2, 2, 1.5, ddpm_sigmas(10), restarts=2, screen_epochs=1, **kw)
