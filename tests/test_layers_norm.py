"""LayerNorm and RMSNorm: gradient checks, statistics of the output, hand-computed values, bad input."""
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.norm import layernorm_backward, layernorm_forward, rmsnorm_backward, rmsnorm_forward


@pytest.mark.parametrize("shape", [(5,), (4, 6), (2, 3, 5), (2, 1, 4)])
def test_layernorm_gradcheck(shape, rng):
    C = shape[-1]
    x = rng.standard_normal(shape) * 3 + 1
    gamma = rng.standard_normal(C)
    beta = rng.standard_normal(C)
    results = check_layer(layernorm_forward, layernorm_backward, [x, gamma, beta], names=["x", "gamma", "beta"], rng=rng)
    assert [r.name for r in results] == ["x", "gamma", "beta"]
    for r, arg in zip(results, (x, gamma, beta)):
        assert r.rel_error < 1e-6, r
        assert r.analytic.shape == arg.shape


@pytest.mark.parametrize("shape", [(5,), (4, 6), (2, 3, 5), (2, 1, 4)])
def test_rmsnorm_gradcheck(shape, rng):
    C = shape[-1]
    x = rng.standard_normal(shape) * 3 + 1
    gamma = rng.standard_normal(C)
    results = check_layer(rmsnorm_forward, rmsnorm_backward, [x, gamma], names=["x", "gamma"], rng=rng)
    for r, arg in zip(results, (x, gamma)):
        assert r.rel_error < 1e-6, r
        assert r.analytic.shape == arg.shape


def test_layernorm_gradcheck_nondefault_eps(rng):
    x = rng.standard_normal((3, 4)) * 0.01  # small variance: eps matters
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    for r in check_layer(layernorm_forward, layernorm_backward, [x, gamma, beta], kwargs={"eps": 1e-3}, rng=rng):
        assert r.rel_error < 1e-6, r
    for r in check_layer(rmsnorm_forward, rmsnorm_backward, [x, gamma], kwargs={"eps": 1e-3}, rng=rng):
        assert r.rel_error < 1e-6, r


def test_layernorm_output_has_mean_0_var_1(rng):
    x = rng.standard_normal((3, 7, 64)) * 5 - 2
    out, _ = layernorm_forward(x, np.ones(64), np.zeros(64), eps=1e-12)
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-12)
    # biased variance (divide by C), like PyTorch
    np.testing.assert_allclose(out.var(axis=-1), 1.0, rtol=1e-10)


def test_layernorm_hand_example():
    # x = [1, 2, 3, 6]: mean 3, biased var (4 + 1 + 0 + 9)/4 = 3.5
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    gamma = np.array([1.0, 2.0, 0.5, -1.0])
    beta = np.array([0.0, 1.0, 0.0, 3.0])
    out, _ = layernorm_forward(x, gamma, beta, eps=1e-5)
    s = math.sqrt(3.5 + 1e-5)
    expected = [(1 - 3) / s * 1.0 + 0.0, (2 - 3) / s * 2.0 + 1.0, 0.0, (6 - 3) / s * -1.0 + 3.0]
    np.testing.assert_allclose(out[0], expected, rtol=1e-14, atol=1e-15)


def test_rmsnorm_output_has_rms_1(rng):
    x = rng.standard_normal((2, 5, 32)) * 4 + 3
    out, _ = rmsnorm_forward(x, np.ones(32), eps=1e-12)
    np.testing.assert_allclose(np.sqrt((out**2).mean(axis=-1)), 1.0, rtol=1e-10)
    # no centring: the mean is kept (positive inputs stay positive)
    assert np.all(out.mean(axis=-1) > 0.3)


def test_rmsnorm_hand_example():
    # x = [3, 4]: mean(x^2) = 12.5
    out, _ = rmsnorm_forward(np.array([3.0, 4.0]), np.array([2.0, 1.0]), eps=0.5)
    r = math.sqrt(12.5 + 0.5)
    np.testing.assert_allclose(out, [3 / r * 2, 4 / r], rtol=1e-15)


def test_layernorm_cache_keeps_statistics_not_xhat(rng):
    x = rng.standard_normal((2, 3, 4))
    _, cache = layernorm_forward(x, np.ones(4), np.zeros(4))
    x_c, mean, rstd, _ = cache
    assert mean.shape == rstd.shape == (2, 3, 1)
    np.testing.assert_allclose(rstd[..., 0], 1 / np.sqrt(x.var(axis=-1) + 1e-5), rtol=1e-13)


def test_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    g = rng.standard_normal(8).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    out, cache = layernorm_forward(x, g, b)
    grads = layernorm_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(d.dtype == np.float32 for d in grads)
    out64, _ = layernorm_forward(x.astype(np.float64), g.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(out, out64, rtol=1e-4, atol=1e-5)
    out, cache = rmsnorm_forward(x, g)
    grads = rmsnorm_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(d.dtype == np.float32 for d in grads)


def test_bad_input_messages():
    x = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"gamma must have shape \(C,\) \(4,\), got \(5,\)"):
        layernorm_forward(x, np.ones(5), np.zeros(4))
    with pytest.raises(ValueError, match=r"beta must have shape \(C,\) \(4,\)"):
        layernorm_forward(x, np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match="gamma must have 1 dimensions"):
        rmsnorm_forward(x, np.ones((1, 4)))
    with pytest.raises(TypeError, match="beta must be a numpy.ndarray"):
        layernorm_forward(x, np.ones(4), None)
    with pytest.raises(ValueError, match="x must have at least 1 dimensions"):
        layernorm_forward(np.array(1.0), np.ones(1), np.zeros(1))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        rmsnorm_forward(np.zeros((2, 4), dtype=np.int32), np.ones(4))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        rmsnorm_forward(x, np.ones(4), eps=-1.0)
