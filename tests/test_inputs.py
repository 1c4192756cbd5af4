"""lowdim.checks: inputs of any floating precision (tensors, numpy arrays, lists) are accepted and converted to
float64, tolerances fit the input's precision, and every error names the parameter and the allowed range."""

import numpy as np
import pytest
import torch

from lowdim import GaussianMixture, MoLRG
from lowdim.checks import DTYPE, as_float64, as_labels, as_points, as_weights, check_int, input_eps

K = 10
W64 = [0.1] * K  # sums to 0.9999999999999999 in float64


@pytest.mark.parametrize("weights", [
    torch.full((K,), 0.1, dtype=torch.float32),  # float32 sum: 1.0000001
    torch.full((K,), 0.1, dtype=torch.float16),  # float16 sum of the rounded 0.1: 0.99975586
    torch.full((K,), 0.1, dtype=torch.bfloat16),
    np.full(K, 0.1, dtype=np.float32),
    np.full(K, 0.1, dtype=np.float16),
    np.full(K, 0.1),
    W64,
    tuple(W64),
])
def test_weights_of_any_precision_are_accepted_as_float64(weights):
    w = as_weights(weights, K)
    assert w.dtype == DTYPE and w.shape == (K,)
    assert abs(float(w.sum()) - 1.0) <= 4 * K * torch.finfo(DTYPE).eps  # renormalised if given below float64
    ref = np.asarray(torch.as_tensor(weights).float().numpy() if isinstance(weights, torch.Tensor) else weights, dtype=np.float64)
    np.testing.assert_allclose(w.numpy(), ref / ref.sum(), rtol=4 * K * 2.2e-16)


def test_float32_weights_that_sum_to_one_in_float32_build_a_mixture():
    w = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float32)  # sums to 1 in float32, to 1 + 2.2e-8 in float64
    assert abs(float(w.double().sum()) - 1.0) > 1e-9  # rejected by the old fixed tolerance 1e-9
    gm = GaussianMixture(torch.zeros(4, 2), torch.eye(2).expand(4, 2, 2), w)
    assert gm.weights.dtype == DTYPE and float(gm.weights.sum()) == pytest.approx(1.0, abs=1e-15)
    m = MoLRG.random(8, [2, 2, 2, 2], delta=0.1, weights=w, seed=0)
    assert m.weights.dtype == DTYPE


@pytest.mark.parametrize("weights, precision, tol", [
    (torch.tensor([0.5, 0.6], dtype=torch.float32), "float32", 8 * torch.finfo(torch.float32).eps),
    (torch.tensor([0.5, 0.52], dtype=torch.float16), "float16", 8 * torch.finfo(torch.float16).eps),
    (np.array([0.3, 0.3]), "float64", 8 * np.finfo(np.float64).eps),
    ([0.5, 0.5 + 1e-12], "float64", 8 * np.finfo(np.float64).eps),
])
def test_a_wrong_sum_is_rejected_with_the_parameter_and_tolerance(weights, precision, tol):
    with pytest.raises(ValueError) as err:
        as_weights(weights, 2, name="pi")
    msg = str(err.value)
    assert msg.startswith("pi must sum to 1") and f"within {tol:.3g}" in msg and precision in msg


def test_weights_shape_range_and_explicit_tolerance():
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\)"):
        as_weights([0.5, 0.5], 3)
    with pytest.raises(ValueError, match=r"weights must lie in \[0, 1\]"):
        as_weights([1.5, -0.5], 2)
    with pytest.raises(ValueError, match="weights must be finite"):
        as_weights([float("nan"), 1.0], 2)
    assert as_weights([0.5, 0.5 + 1e-10], 2, atol=1e-9).dtype == DTYPE  # an explicit tolerance overrides


def test_input_eps():
    assert input_eps(torch.zeros(2, dtype=torch.float16)) == torch.finfo(torch.float16).eps
    assert input_eps(np.zeros(2, dtype=np.float32)) == np.finfo(np.float32).eps
    assert input_eps([0.5, 0.5]) == input_eps(0.5) == input_eps(np.zeros(2, dtype=np.int64)) == np.finfo(np.float64).eps


def test_points_of_any_precision_and_lists_go_straight_to_float64():
    x = as_points([[0.1, 0.2]], 2)
    assert x.dtype == DTYPE and float(x[0, 0]) == 0.1  # not float32's 0.10000000149
    for arr in (np.array([[0.5, 1.5]], dtype=np.float16), torch.tensor([[0.5, 1.5]], dtype=torch.float32)):
        np.testing.assert_array_equal(as_points(arr, 2).numpy(), [[0.5, 1.5]])
    assert as_points([[1, 2]], 2).dtype == DTYPE  # a list of numbers denotes values
    with pytest.raises(TypeError, match="x must be a floating-point"):
        as_points(torch.tensor([[1, 2]]), 2)  # an integer tensor is more likely labels than points
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        as_points([0.1, 0.2], 2)
    gm = GaussianMixture([[0.0], [1.0]], [[[1.0]], [[0.5]]], np.array([0.5, 0.5], dtype=np.float32))
    lp32 = gm.log_prob(torch.tensor([[0.25]], dtype=torch.float32), np.float32(0.5))
    assert lp32.dtype == DTYPE and torch.equal(lp32, gm.log_prob([[0.25]], 0.5))


def test_as_float64_keeps_autograd_and_values():
    t = torch.tensor([0.1], dtype=torch.float32, requires_grad=True)
    y = as_float64(t)
    assert y.dtype == DTYPE and y.requires_grad
    y.sum().backward()
    assert float(t.grad) == 1.0
    same = torch.tensor([0.1], dtype=DTYPE)
    assert as_float64(same) is same
    with pytest.raises(TypeError, match="z must be real numbers"):
        as_float64(torch.tensor([1 + 1j]), "z")


def test_check_int():
    assert check_int("n", 3, 1, 5) == 3 and type(check_int("n", np.int64(3), 1)) is int
    for bad in (True, 3.0, "3", None, torch.tensor(3), 0, 6):
        with pytest.raises(ValueError, match=r"^n must be an integer in \[1, 5\], got"):
            check_int("n", bad, 1, 5)
    with pytest.raises(ValueError, match=r"m must be an integer in \[-inf, 2\]"):
        check_int("m", 3, high=2)


def test_integer_checks_across_the_package_name_the_parameter():
    from lowdim.density.formula import gauss_hermite
    from lowdim.representation.ensemble import ensemble_window
    from lowdim.schedules import ddpm_betas, paper1_sigma_grid
    with pytest.raises(ValueError, match=r"num_steps must be an integer in \[2, inf\], got 2.0"):
        ddpm_betas(2.0)
    with pytest.raises(ValueError, match=r"num_levels must be an integer in \[1, 18\], got 19"):
        paper1_sigma_grid(19)
    with pytest.raises(ValueError, match=r"best must be an integer in \[0, 4\], got 5"):
        ensemble_window(5, 5, 1)
    assert len(ensemble_window(np.int64(2), 5, 1)) == 3  # numpy integers are integers
    assert gauss_hermite(np.int32(3), 1)[0].shape == (3, 1)


def test_as_labels():
    np.testing.assert_array_equal(as_labels(1, 3, 2).numpy(), [1, 1, 1])
    np.testing.assert_array_equal(as_labels(np.array([0, 1]), 2, 2).numpy(), [0, 1])
    with pytest.raises(ValueError, match="c must be an integer class label"):
        as_labels(1.0, 3, 2)
    with pytest.raises(ValueError, match=r"c must lie in \[0, 1\]"):
        as_labels([0, 2], 2, 2)
    with pytest.raises(ValueError, match=r"c must be an integer or have shape \(3,\)"):
        as_labels([0, 1], 3, 2)
