"""Dropout: gradient check with a fixed mask, keep fraction, expectation, determinism, bad input."""
import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.dropout import dropout_backward, dropout_forward


def _fixed_mask_forward(p, seed=7, training=True):
    # a fresh Generator with the same seed on every call: the mask stays the same while
    # the gradient check perturbs x, so the layer is a fixed (differentiable) function
    def forward(x):
        return dropout_forward(x, p=p, rng=np.random.default_rng(seed), training=training)
    return forward


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), (1, 1, 5)])
def test_gradcheck(p, shape, rng):
    x = rng.standard_normal(shape)
    (r,) = check_layer(_fixed_mask_forward(p), dropout_backward, [x], names=["x"], rng=rng)
    assert r.rel_error < 1e-6, r
    assert r.analytic.shape == x.shape


def test_gradcheck_eval_mode(rng):
    x = rng.standard_normal((2, 3))
    (r,) = check_layer(_fixed_mask_forward(0.5, training=False), dropout_backward, [x], rng=rng)
    assert r.rel_error < 1e-6, r


def test_kept_values_are_scaled_and_the_rest_zero():
    x = np.linspace(1.0, 2.0, 1000)
    out, _ = dropout_forward(x, p=0.25, rng=np.random.default_rng(0))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-15)
    # the backward uses the same mask and scale
    _, cache = dropout_forward(x, p=0.25, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), np.where(kept, 1 / 0.75, 0.0))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_fraction_and_expectation(p):
    n = 200_000
    x = np.full(n, 3.0)
    out, _ = dropout_forward(x, p=p, rng=np.random.default_rng(42))
    keep_fraction = np.mean(out != 0)
    # binomial standard deviation of the fraction is sqrt(p(1-p)/n) < 0.0012: allow 5 of them
    assert abs(keep_fraction - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    # inverted dropout preserves the mean: E[out] = x
    assert abs(out.mean() - 3.0) < 5 * 3.0 * np.sqrt(p / ((1 - p) * n))


def test_same_seed_same_mask_different_seed_different_mask():
    x = np.ones((4, 50))
    a, _ = dropout_forward(x, p=0.5, rng=np.random.default_rng(1))
    b, _ = dropout_forward(x, p=0.5, rng=np.random.default_rng(1))
    c, _ = dropout_forward(x, p=0.5, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_eval_and_p0_are_identity_and_need_no_rng():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    out, cache = dropout_forward(x, p=0.5, rng=None, training=False)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), np.ones_like(x))
    out, _ = dropout_forward(x, p=0.0, rng=None)
    np.testing.assert_array_equal(out, x)


def test_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out, cache = dropout_forward(x, p=0.3, rng=np.random.default_rng(0))
    assert out.dtype == np.float32
    assert dropout_backward(np.ones_like(out), cache).dtype == np.float32


def test_bad_input_messages():
    x = np.zeros(4)
    g = np.random.default_rng(0)
    with pytest.raises(ValueError, match="p must be < 1"):
        dropout_forward(x, p=1.0, rng=g)
    with pytest.raises(ValueError, match="p must be >= 0"):
        dropout_forward(x, p=-0.1, rng=g)
    with pytest.raises(TypeError, match="p must be a number"):
        dropout_forward(x, p="0.5", rng=g)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        dropout_forward(x, p=0.5, rng=0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        dropout_forward(x, p=0.5, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        dropout_forward(np.zeros(4, dtype=np.int64), p=0.5, rng=g)
    with pytest.raises(TypeError, match="training must be True or False"):
        dropout_forward(x, p=0.5, rng=g, training="yes")
