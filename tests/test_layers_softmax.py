"""Softmax, log-softmax and cross-entropy: gradient checks, independent values, stability, bad input."""
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.softmax import (
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_forward,
)


# ---- gradient checks -----------------------------------------------------------------------

@pytest.mark.parametrize("shape,axis", [((6,), -1), ((3, 5), -1), ((2, 3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), 0), ((1, 1, 4), -1)])
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_gradcheck(which, shape, axis, rng):
    forward, backward = {
        "softmax": (softmax_forward, softmax_backward),
        "log_softmax": (log_softmax_forward, log_softmax_backward),
    }[which]
    x = rng.standard_normal(shape) * 2
    (r,) = check_layer(forward, backward, [x], kwargs={"axis": axis}, names=["x"], rng=rng)
    assert r.rel_error < 1e-6, r
    assert r.analytic.shape == x.shape


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5), (1, 1, 5)])
def test_cross_entropy_gradcheck(shape, rng):
    V = shape[-1]
    # moderate logits: a scalar loss is differenced directly, so its round-off (~1e-16 * loss / h)
    # must stay small against the smallest gradient entry, probs / N ~ 1e-2
    logits = rng.standard_normal(shape)
    targets = rng.integers(0, V, size=shape[:-1])
    results = check_layer(cross_entropy_forward, cross_entropy_backward, [logits, targets], names=["logits", "targets"], rng=rng)
    assert len(results) == 1  # integer targets get no gradient
    assert results[0].rel_error < 1e-6, results[0]
    assert results[0].analytic.shape == logits.shape


def test_cross_entropy_gradcheck_with_ignore_index(rng):
    logits = rng.standard_normal((2, 4, 6))
    targets = np.array([[1, -100, 5, 0], [-100, 3, 3, -100]])
    (r,) = check_layer(cross_entropy_forward, cross_entropy_backward, [logits, targets], rng=rng)
    assert r.rel_error < 1e-6, r
    # ignored rows get exactly zero gradient
    _, cache = cross_entropy_forward(logits, targets)
    d = cross_entropy_backward(1.0, cache)
    assert np.all(d[targets == -100] == 0) and np.all(np.abs(d[targets != -100]).sum(axis=-1) > 0)
    # a custom ignore_index works the same way
    (r,) = check_layer(cross_entropy_forward, cross_entropy_backward, [logits, np.where(targets == -100, 7, targets)],
                       kwargs={"ignore_index": 7}, rng=rng)
    assert r.rel_error < 1e-6, r


# ---- values against independent computations ------------------------------------------------

def test_softmax_equals_exp_over_sum_in_plain_python():
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    out, _ = softmax_forward(x)
    for n in range(2):
        total = sum(math.exp(v) for v in x[n])
        np.testing.assert_allclose(out[n], [math.exp(v) / total for v in x[n]], rtol=1e-14)
    # along axis 0 of a 2x3 array: columns are normalised
    out0, _ = softmax_forward(x, axis=0)
    for j in range(3):
        total = math.exp(x[0, j]) + math.exp(x[1, j])
        np.testing.assert_allclose(out0[:, j], [math.exp(x[0, j]) / total, math.exp(x[1, j]) / total], rtol=1e-14)


def test_log_softmax_is_log_of_softmax(rng):
    x = rng.standard_normal((3, 4, 7))
    for axis in (-1, 1):
        ls, _ = log_softmax_forward(x, axis=axis)
        s, _ = softmax_forward(x, axis=axis)
        np.testing.assert_allclose(ls, np.log(s), rtol=1e-13, atol=1e-14)


def test_cross_entropy_by_hand():
    # two rows, V = 3.  log p picked by hand with math.log/exp:
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    targets = np.array([0, 2])
    loss, _ = cross_entropy_forward(logits, targets)
    lp0 = 2.0 - math.log(math.exp(2.0) + math.exp(1.0) + math.exp(0.1))
    lp1 = -1.0 - math.log(math.exp(0.5) + math.exp(2.5) + math.exp(-1.0))
    assert loss.shape == ()
    assert abs(float(loss) - (-(lp0 + lp1) / 2)) < 1e-14
    # ignoring the second row: the mean is over the one remaining target
    loss, _ = cross_entropy_forward(logits, np.array([0, -100]))
    assert abs(float(loss) - (-lp0)) < 1e-14


def test_cross_entropy_backward_by_hand():
    logits = np.array([[0.0, 0.0, 0.0, 0.0]])
    _, cache = cross_entropy_forward(logits, np.array([1]))
    d = cross_entropy_backward(2.0, cache)
    np.testing.assert_allclose(d, [[0.5, -1.5, 0.5, 0.5]], rtol=1e-15)  # 2 * (1/4 - onehot)


def test_cross_entropy_uniform_logits_is_log_V():
    V = 50
    loss, _ = cross_entropy_forward(np.zeros((4, 6, V)), np.arange(24).reshape(4, 6) % V)
    assert abs(float(loss) - math.log(V)) < 1e-13


def test_cross_entropy_all_ignored_is_zero_not_nan():
    logits = np.ones((2, 3, 4))
    targets = np.full((2, 3), -100)
    loss, cache = cross_entropy_forward(logits, targets)
    assert float(loss) == 0.0
    d = cross_entropy_backward(1.0, cache)
    assert d.shape == logits.shape and np.all(d == 0)


# ---- stability -----------------------------------------------------------------------------

def test_huge_logits_stay_finite_and_correct():
    x = np.array([[1e4, -1e4, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s, s_cache = softmax_forward(x)
        ls, _ = log_softmax_forward(x)
        loss, cache = cross_entropy_forward(x, np.array([1, 0, 2]))
        d = cross_entropy_backward(1.0, cache)
    np.testing.assert_allclose(s, [[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-15)
    np.testing.assert_allclose(ls[0], [0.0, -2e4, -1e4], rtol=1e-15)
    np.testing.assert_allclose(ls[1], [-math.log(2), -math.log(2), -2e4 - math.log(2)], rtol=1e-15)
    # row losses: 2e4, log 2, log 3
    np.testing.assert_allclose(float(loss), (2e4 + math.log(2) + math.log(3)) / 3, rtol=1e-14)
    assert np.all(np.isfinite(d))
    np.testing.assert_allclose(d, np.array([[1, -1, 0], [-0.5, 0.5, 0], [1 / 3, 1 / 3, -2 / 3]]) / 3, atol=1e-15)
    assert np.all(np.isfinite(softmax_backward(np.ones_like(s), s_cache)))


# ---- dtype ---------------------------------------------------------------------------------

def test_float32_stays_float32(rng):
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    for forward, backward in ((softmax_forward, softmax_backward), (log_softmax_forward, log_softmax_backward)):
        out, cache = forward(x)
        assert out.dtype == np.float32 and backward(np.ones_like(out), cache).dtype == np.float32
    loss, cache = cross_entropy_forward(x, np.zeros((2, 3), dtype=np.int64))
    assert loss.dtype == np.float32
    assert cross_entropy_backward(np.float64(1.0), cache).dtype == np.float32


# ---- bad input -----------------------------------------------------------------------------

def test_bad_input_messages():
    logits = np.zeros((2, 3, 5))
    with pytest.raises(TypeError, match="targets must be an integer array"):
        cross_entropy_forward(logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"targets must have the leading shape of logits \(2, 3\)"):
        cross_entropy_forward(logits, np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"targets must hold class ids in \[0, 5\) or ignore_index=-100, got 5"):
        cross_entropy_forward(logits, np.full((2, 3), 5))
    with pytest.raises(ValueError, match="targets .* got -1"):
        cross_entropy_forward(logits, np.full((2, 3), -1))
    with pytest.raises(TypeError, match="logits must be a floating-point"):
        cross_entropy_forward(np.zeros((2, 5), dtype=np.int64), np.zeros(2, dtype=np.int64))
    with pytest.raises(TypeError, match="targets must be a numpy.ndarray"):
        cross_entropy_forward(np.zeros((2, 5)), [0, 1])
    with pytest.raises(ValueError, match="axis must be in"):
        softmax_forward(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="x must have at least 1 dimensions"):
        log_softmax_forward(np.array(1.0))
