"""Activations: gradient checks, values against plain-Python formulas, erf against math.erf."""
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.activations import (
    erf,
    erfc,
    gelu_backward,
    gelu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    silu_backward,
    silu_forward,
    swiglu_backward,
    swiglu_forward,
    tanh_backward,
    tanh_forward,
)

UNARY = {
    "relu": (relu_forward, relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "silu": (silu_forward, silu_backward),
    "gelu_tanh": (lambda x: gelu_forward(x, approximate="tanh"), gelu_backward),
    "gelu_none": (lambda x: gelu_forward(x, approximate="none"), gelu_backward),
}

# Plain-Python scalar formulas, written independently of the library.
def _py_sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


PY_FORMULAS = {
    "relu": lambda v: v if v > 0 else 0.0,
    "sigmoid": _py_sigmoid,
    "tanh": math.tanh,
    "silu": lambda v: v * _py_sigmoid(v),
    "gelu_tanh": lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
    "gelu_none": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
}


def _away_from_kink(shape, rng):
    # ReLU is not differentiable at 0: keep every entry at least 0.1 away from it
    x = rng.standard_normal(shape) * 2
    return np.where(np.abs(x) < 0.1, 0.5, x)


# ---- gradient checks -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), (1, 1, 5)])
def test_unary_gradcheck(name, shape, rng):
    forward, backward = UNARY[name]
    x = _away_from_kink(shape, rng)
    (result,) = check_layer(forward, backward, [x], names=["x"], rng=rng)
    assert result.rel_error < 1e-6, result
    assert result.analytic.shape == x.shape


def test_swiglu_gradcheck(rng):
    a = rng.standard_normal((2, 3, 4)) * 2
    b = rng.standard_normal((2, 3, 4))
    results = check_layer(swiglu_forward, swiglu_backward, [a, b], names=["a", "b"], rng=rng)
    assert len(results) == 2
    for r, arg in zip(results, (a, b)):
        assert r.rel_error < 1e-6, r
        assert r.analytic.shape == arg.shape


# ---- forward values against independent formulas --------------------------------------------

@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_match_plain_python(name):
    xs = np.linspace(-4.0, 4.0, 17)
    out, _ = UNARY[name][0](xs.copy())
    expected = np.array([PY_FORMULAS[name](float(v)) for v in xs])
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


def test_gelu_known_points():
    # hand values: x * Phi(x), with Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707
    out, _ = gelu_forward(np.array([0.0, 1.0, -1.0]), approximate="none")
    np.testing.assert_allclose(out, [0.0, 0.8413447460685429, -0.15865525393145707], rtol=1e-14)
    # the tanh approximation differs from the exact form by < 1e-3 on [-5, 5] (and is not equal)
    xs = np.linspace(-5, 5, 101)
    exact, _ = gelu_forward(xs, approximate="none")
    approx, _ = gelu_forward(xs, approximate="tanh")
    diff = np.max(np.abs(exact - approx))
    assert 1e-5 < diff < 1e-3


def test_gelu_default_is_tanh():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(gelu_forward(x)[0], gelu_forward(x, approximate="tanh")[0])


def test_gelu_exact_tail_is_accurate():
    # far left, x*Phi(x) is tiny; 1 + erf would cancel to 0, erfc keeps it: compare with math.erfc
    xs = np.array([-8.0, -12.0, -20.0])
    out, _ = gelu_forward(xs, approximate="none")
    expected = [v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in xs]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert np.all(out < 0)


def test_swiglu_values():
    a = np.array([[-2.0, 0.0, 1.5]])
    b = np.array([[3.0, -1.0, 0.5]])
    out, _ = swiglu_forward(a, b)
    expected = [[(v * _py_sigmoid(v)) * w for v, w in zip(a[0], b[0])]]
    np.testing.assert_allclose(out, expected, rtol=1e-14)


# ---- erf ------------------------------------------------------------------------------------

def test_erf_matches_math_erf_on_dense_grid():
    xs = np.concatenate([
        np.linspace(-30, 30, 60001),
        np.linspace(-2.5, 2.5, 20001),          # around the series / continued-fraction switch
        np.geomspace(1e-300, 1e-2, 200),
        -np.geomspace(1e-300, 1e-2, 200),
        [0.0, 5.9, 6.0, 26.0, 1e10, -1e10],
    ])
    got = erf(xs)
    expected = np.array([math.erf(v) for v in xs])
    assert np.max(np.abs(got - expected)) < 1e-14
    nonzero = expected != 0
    assert np.max(np.abs(got[nonzero] - expected[nonzero]) / np.abs(expected[nonzero])) < 1e-14


def test_erfc_tail_relative_accuracy():
    xs = np.linspace(2.0, 26.0, 2401)
    got = erfc(xs)
    expected = np.array([math.erfc(v) for v in xs])
    assert np.max(np.abs(got - expected) / expected) < 1e-14
    # the whole line, absolutely
    xs = np.linspace(-10, 10, 4001)
    expected = np.array([math.erfc(v) for v in xs])
    assert np.max(np.abs(erfc(xs) - expected)) < 1e-14


def test_erf_special_values():
    out = erf(np.array([np.inf, -np.inf, np.nan]))
    assert out[0] == 1.0 and out[1] == -1.0 and np.isnan(out[2])
    assert erf(np.float32([0.5])).dtype == np.float32


# ---- stability and dtype --------------------------------------------------------------------

def test_sigmoid_stable_for_huge_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow either
        out, _ = sigmoid_forward(np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4]))
    assert np.all(np.isfinite(out))
    assert out[0] == 0.0 and out[-1] == 1.0 and out[3] == 0.5
    # tiny but exact where float64 can still represent it: sigmoid(-40) = exp(-40)/(1+exp(-40))
    np.testing.assert_allclose(out[2], math.exp(-40) / (1 + math.exp(-40)), rtol=1e-14)
    out, _ = silu_forward(np.array([-1e4, 1e4]))
    np.testing.assert_array_equal(out, [-0.0, 1e4])
    out, _ = gelu_forward(np.array([-1e4, 1e4]), approximate="none")
    np.testing.assert_array_equal(out, [-0.0, 1e4])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_float32_stays_float32(name, rng):
    forward, backward = UNARY[name]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out, cache = forward(x)
    dx = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    # float32 result agrees with the float64 one to float32 precision
    out64, _ = forward(x.astype(np.float64))
    np.testing.assert_allclose(out, out64, rtol=1e-5, atol=1e-6)


def test_swiglu_float32(rng):
    a = rng.standard_normal(5).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    out, cache = swiglu_forward(a, b)
    da, db = swiglu_backward(np.ones_like(out), cache)
    assert out.dtype == da.dtype == db.dtype == np.float32


# ---- bad input ------------------------------------------------------------------------------

def test_bad_input_messages():
    with pytest.raises(ValueError, match="approximate"):
        gelu_forward(np.zeros(3), approximate="erf")
    with pytest.raises(TypeError, match="x"):
        relu_forward([1.0, 2.0])
    with pytest.raises(TypeError, match="x must be a floating-point"):
        sigmoid_forward(np.arange(3))
    with pytest.raises(ValueError, match="b must have the same shape as a"):
        swiglu_forward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="a must be a floating-point"):
        swiglu_forward(np.zeros(3, dtype=np.int64), np.zeros(3))
