"""Memorization score, nearest pairs and linear CKA (lowdim.images.memorization) against brute force."""

import pytest
import torch

from lowdim.images.memorization import (block_cka, linear_cka, memorization_score, memorized, nearest_pairs,
                                        nearest_two, representation_curve)


def _brute_two(samples, train):
    d = torch.tensor([[float(torch.linalg.norm((s - t).double())) for t in train] for s in samples], dtype=torch.float64)
    v, i = torch.sort(d, dim=1)
    return v[:, :2], i[:, :2]


def test_nearest_two_matches_a_python_loop():
    g = torch.Generator().manual_seed(0)
    train, samples = torch.randn(37, 1, 4, 4, generator=g), torch.randn(11, 1, 4, 4, generator=g)
    d, i = nearest_two(samples, train, chunk=4)  # chunked: same answer as one block
    dw, iw = _brute_two(samples, train)
    assert torch.equal(i, iw) and torch.allclose(d, dw, atol=1e-10)  # float64 expansion: rounding only


def test_score_by_hand():
    train = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = torch.tensor([[1.0, 0.0],    # d1 = 1, d2 = 9 -> 1 < 3: memorized
                            [5.0, 0.0],    # d1 = d2 = 5: not
                            [0.0, 2.9],    # d1 = 2.9, d2 = 7.1 -> 2.9 > 2.37: not
                            [0.0, 9.5]])   # d1 = 0.5, d2 = 9.5: memorized
    assert memorized(samples, train).tolist() == [True, False, False, True]
    assert memorization_score(samples, train) == 0.5
    assert memorization_score(samples, train, ratio=0.5) == 0.75  # third sample: 2.9 < 0.5 * 7.1 = 3.55


def test_training_images_themselves_are_memorized_and_fresh_noise_is_not():
    g = torch.Generator().manual_seed(1)
    train = torch.rand(50, 1, 8, 8, generator=g) * 2 - 1
    assert memorization_score(train[:20] + 1e-3 * torch.randn(20, 1, 8, 8, generator=g), train) == 1.0
    assert memorization_score(torch.rand(40, 1, 8, 8, generator=g) * 2 - 1, train) == 0.0


def test_nearest_pairs_orders_the_clearest_copies_first():
    train = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = torch.tensor([[5.0, 0.0], [1.0, 0.0], [0.0, 9.9]])
    out = nearest_pairs(samples, train, 2)
    assert out["index"].tolist() == [2, 0] and torch.equal(out["neighbour"], train[[2, 0]])
    assert torch.equal(out["sample"], samples[[2, 1]]) and out["ratio"][0] < out["ratio"][1]


def test_bad_inputs_are_named():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="ratio"):
        memorization_score(x, x, ratio=0.0)
    with pytest.raises(ValueError, match="at least 2"):
        nearest_two(x, x[:1])
    with pytest.raises(ValueError, match="same number of pixels"):
        nearest_two(x, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="samples must be finite"):
        nearest_two(torch.full((2, 4), float("nan")), x)
    with pytest.raises(ValueError, match="num"):
        nearest_pairs(x, x, 4)
    with pytest.raises(ValueError, match="constant"):
        linear_cka(x, torch.randn(3, 2))
    with pytest.raises(ValueError, match="same number N"):
        linear_cka(torch.randn(3, 2), torch.randn(4, 2))


def test_linear_cka_equals_the_gram_matrix_hsic_form():
    g = torch.Generator().manual_seed(2)
    X, Y = torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randn(30, 7, generator=g, dtype=torch.float64)
    Y[:, :3] += 2 * X[:, :3]
    H = torch.eye(30, dtype=torch.float64) - 1 / 30  # centring matrix

    def hsic(K, L):
        return torch.trace(K @ H @ L @ H)

    K, L = X @ X.T, Y @ Y.T
    want = hsic(K, L) / torch.sqrt(hsic(K, K) * hsic(L, L))
    assert linear_cka(X, Y) == pytest.approx(float(want), rel=1e-10)  # same algebra in another order


def test_linear_cka_invariances():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    assert linear_cka(X, 3.0 * X @ Q + 5.0) == pytest.approx(1.0, abs=1e-12)  # rotation, scale, shift
    assert linear_cka(X, torch.randn(40, 6, generator=g, dtype=torch.float64)) < 0.4  # unrelated: small
    feats = {"a": X[None].repeat(2, 1, 1), "b": X[None].repeat(2, 1, 1)}
    assert block_cka(feats, feats, level=1) == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}


def test_representation_curve_shapes_on_a_tiny_model(tmp_path):
    from lowdim.images.data import load_digits_dataset
    from lowdim.images.train import TrainConfig, train

    state = train(tmp_path / "run", TrainConfig(dataset="digits", channels=(8, 16, 16), batch_size=16), steps=2,
                  progress=False)
    d = load_digits_dataset()
    out = representation_curve(state.ema, d.x_train[:200], d.y_train[:200], d.x_test[:100], d.y_test[:100],
                               [0.05, 0.5], 10, seed=0)
    assert out["block_accuracy"].shape == (len(out["blocks"]), 2) and out["probe"].shape == (2,)
    assert torch.equal(out["probe"], out["block_accuracy"].max(0).values)
    assert (out["probe"] > 0.1).all()  # above chance (10 classes) even for an untrained UNet's features
