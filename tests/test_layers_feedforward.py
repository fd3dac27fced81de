"""Feed-forward network (and LLaMA's SwiGLU variant): gradients, values, bad input."""
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.feedforward import (
    feedforward_backward,
    feedforward_forward,
    swiglu_feedforward_backward,
    swiglu_feedforward_forward,
)

TOL = 1e-6
FFN_NAMES = ["x", "W1", "b1", "W2", "b2"]
SWIGLU_NAMES = ["x", "W_gate", "W_up", "W_down"]

# Independent element-wise formulas (math module / plain NumPy, not activations.py).
REFERENCE = {
    "relu": lambda a: np.maximum(a, 0.0),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "tanh": np.tanh,
    "silu": lambda a: a / (1.0 + np.exp(-a)),
    "gelu": lambda a: 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a**3))),
    "gelu_erf": np.vectorize(lambda t: 0.5 * t * (1.0 + math.erf(t / math.sqrt(2.0)))),
}


def assert_gradcheck(forward, backward, arrays, names, kwargs=None):
    results = check_layer(forward, backward, arrays, kwargs=kwargs, names=names)
    assert results
    for r in results:
        assert r.rel_error < TOL, str(r)


def ffn_arrays(rng, shape=(2, 3), C=4, d_ff=6, C_out=None, bias=True):
    C_out = C if C_out is None else C_out
    return [rng.standard_normal((*shape, C)),
            rng.standard_normal((C, d_ff)) / math.sqrt(C),
            0.1 * rng.standard_normal(d_ff) if bias else None,
            rng.standard_normal((d_ff, C_out)) / math.sqrt(d_ff),
            0.1 * rng.standard_normal(C_out) if bias else None]


@pytest.mark.parametrize("activation", sorted(REFERENCE))
def test_feedforward_gradcheck(rng, activation):
    assert_gradcheck(feedforward_forward, feedforward_backward, ffn_arrays(rng), FFN_NAMES,
                     kwargs={"activation": activation})


def test_feedforward_gradcheck_without_biases_and_other_width(rng):
    arrays = ffn_arrays(rng, shape=(5,), C=3, d_ff=4, C_out=2, bias=False)
    out, cache = feedforward_forward(*arrays)
    grads = feedforward_backward(np.ones_like(out), cache)
    assert grads[2] is None and grads[4] is None
    assert_gradcheck(feedforward_forward, feedforward_backward, arrays, FFN_NAMES)


def test_swiglu_feedforward_gradcheck(rng):
    x = rng.standard_normal((2, 3, 4))
    W_gate, W_up = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    W_down = rng.standard_normal((6, 4)) / math.sqrt(6)
    assert_gradcheck(swiglu_feedforward_forward, swiglu_feedforward_backward, [x, W_gate, W_up, W_down],
                     SWIGLU_NAMES)


def test_gradient_shapes_equal_parameter_shapes(rng):
    arrays = ffn_arrays(rng, C=4, d_ff=7, C_out=3)
    out, cache = feedforward_forward(*arrays)
    for a, g in zip(arrays, feedforward_backward(rng.standard_normal(out.shape), cache)):
        assert g.shape == a.shape
    arrays = [rng.standard_normal((2, 4)), rng.standard_normal((4, 5)), rng.standard_normal((4, 5)),
              rng.standard_normal((5, 3))]
    out, cache = swiglu_feedforward_forward(*arrays)
    for a, g in zip(arrays, swiglu_feedforward_backward(rng.standard_normal(out.shape), cache)):
        assert g.shape == a.shape


def test_feedforward_hand_computed():
    # a = x W1 + b1 = [1, -2, -0.5];  relu -> [1, 0, 0];  out = 1*2 + 0*3 + 0*4 - 5 = -3
    x = np.array([[1.0, -2.0]])
    W1 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    b1 = np.array([0.0, 0.0, 0.5])
    W2 = np.array([[2.0], [3.0], [4.0]])
    b2 = np.array([-5.0])
    out, _ = feedforward_forward(x, W1, b1, W2, b2, activation="relu")
    # -3 and not relu(-3) = 0 or sigmoid(-3): no activation on the output (unlike the article's formula)
    np.testing.assert_array_equal(out, [[-3.0]])
    # tanh: out = 2 tanh(1) + 3 tanh(-2) + 4 tanh(-0.5) - 5
    out, _ = feedforward_forward(x, W1, b1, W2, b2, activation="tanh")
    expected = 2 * math.tanh(1) + 3 * math.tanh(-2) + 4 * math.tanh(-0.5) - 5
    assert out[0, 0] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("activation", sorted(REFERENCE))
def test_feedforward_equals_formula(rng, activation):
    x, W1, b1, W2, b2 = ffn_arrays(rng, C=4, d_ff=5, C_out=3)
    out, _ = feedforward_forward(x, W1, b1, W2, b2, activation=activation)
    expected = REFERENCE[activation](x @ W1 + b1) @ W2 + b2
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


def test_gelu_default_is_tanh_approximation(rng):
    arrays = ffn_arrays(rng)
    default, _ = feedforward_forward(*arrays)
    tanh_gelu, _ = feedforward_forward(*arrays, activation="gelu")
    exact, _ = feedforward_forward(*arrays, activation="gelu_erf")
    np.testing.assert_array_equal(default, tanh_gelu)
    assert 1e-6 < np.abs(default - exact).max() < 1e-2      # close, but a different function


def test_swiglu_feedforward_equals_formula(rng):
    x = rng.standard_normal((2, 3, 4))
    W_gate, W_up, W_down = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), rng.standard_normal((5, 2))
    out, _ = swiglu_feedforward_forward(x, W_gate, W_up, W_down)
    g, u = x @ W_gate, x @ W_up
    np.testing.assert_allclose(out, (g / (1 + np.exp(-g)) * u) @ W_down, rtol=1e-13, atol=1e-14)
    # hand-computed: x = [1], W_gate = [[2]], W_up = [[3]], W_down = [[0.5]] -> silu(2) * 3 * 0.5
    out, _ = swiglu_feedforward_forward(np.array([[1.0]]), np.array([[2.0]]), np.array([[3.0]]), np.array([[0.5]]))
    assert out[0, 0] == pytest.approx(2.0 / (1 + math.exp(-2.0)) * 1.5, rel=1e-15)


def test_position_wise(rng):
    # each position is transformed on its own: permuting positions permutes the outputs
    arrays = ffn_arrays(rng, shape=(1, 5))
    out, _ = feedforward_forward(*arrays)
    perm = [3, 0, 4, 1, 2]
    out_perm, _ = feedforward_forward(arrays[0][:, perm], *arrays[1:])
    np.testing.assert_allclose(out_perm, out[:, perm], rtol=1e-15)


def test_float32_stays_float32(rng):
    arrays = [a.astype(np.float32) for a in ffn_arrays(rng)]
    for activation in REFERENCE:
        out, cache = feedforward_forward(*arrays, activation=activation)
        assert out.dtype == np.float32, activation
        assert all(g.dtype == np.float32 for g in feedforward_backward(np.ones_like(out), cache)), activation
    x = arrays[0]
    W = np.ones((4, 3), dtype=np.float32)
    out, cache = swiglu_feedforward_forward(x, W, W, W.T.copy())
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in swiglu_feedforward_backward(np.ones_like(out), cache))


def test_bad_input(rng):
    x, W1, b1, W2, b2 = ffn_arrays(rng, C=4, d_ff=6)
    with pytest.raises(ValueError, match=r"activation must be one of \[.*'gelu_erf'.*\], got 'swish'"):
        feedforward_forward(x, W1, b1, W2, b2, activation="swish")
    with pytest.raises(ValueError, match=r"W1 must have shape \(C, d_ff\).*\(4, 'any'\), got \(5, 6\)"):
        feedforward_forward(x, np.zeros((5, 6)), b1, W2, b2)
    with pytest.raises(ValueError, match=r"W2 must have shape \(d_ff, C_out\).*\(6, 'any'\), got \(4, 4\)"):
        feedforward_forward(x, W1, b1, np.zeros((4, 4)), b2)
    with pytest.raises(ValueError, match=r"b1 must have shape \(d_ff,\) \(6,\), got \(4,\)"):
        feedforward_forward(x, W1, np.zeros(4), W2, b2)
    with pytest.raises(ValueError, match=r"W1 must have 2 dimensions, got shape \(4,\)"):
        feedforward_forward(x, np.zeros(4), b1, W2, b2)
    with pytest.raises(TypeError, match=r"x must be a floating-point array, got dtype int64"):
        feedforward_forward(np.ones((2, 4), dtype=np.int64), W1, b1, W2, b2)
    with pytest.raises(ValueError, match=r"W_up must have shape \(C, d_ff\).*\(4, 6\), got \(4, 5\)"):
        swiglu_feedforward_forward(x, W1, np.zeros((4, 5)), W2)
    with pytest.raises(ValueError, match=r"W_down must have shape.*\(6, 'any'\), got \(5, 4\)"):
        swiglu_feedforward_forward(x, W1, W1, np.zeros((5, 4)))
