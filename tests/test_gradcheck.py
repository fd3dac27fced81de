"""The referee itself: it must agree with known derivatives and catch wrong ones."""
import numpy as np
import pytest

from minillm.gradcheck import check_layer, compare, numerical_gradient, rel_error
from minillm.layers.linear import linear_backward, linear_forward


def test_numerical_gradient_of_a_known_function():
    x = np.array([0.5, -1.0, 2.0])
    # f(x) = sum(x^3)  ->  df/dx = 3 x^2
    g = numerical_gradient(lambda: float(np.sum(x**3)), x)
    assert rel_error(g, 3 * x**2) < 1e-8
    np.testing.assert_array_equal(x, [0.5, -1.0, 2.0])  # restored after perturbing


def test_rel_error_is_floored_and_elementwise():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1.0, 100.0]), np.array([1.0, 101.0])) == pytest.approx(1 / 201)
    assert rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-4)  # floor 1e-8


def test_linear_gradients_pass():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)]
    results = check_layer(linear_forward, linear_backward, arrays, names=["x", "W", "b"])
    assert [r.name for r in results] == ["x", "W", "b"]
    assert max(r.rel_error for r in results) < 1e-6


def test_a_transposed_gradient_is_caught():
    def wrong_backward(dout, cache):
        dx, dW, db = linear_backward(dout, cache)
        return dx, dW.T.reshape(dW.shape), db  # a classic transpose slip

    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), None]
    results = check_layer(linear_forward, wrong_backward, arrays, names=["x", "W", "b"])
    by_name = {r.name: r for r in results}
    assert by_name["x"].ok
    assert not by_name["W"].ok and by_name["W"].rel_error > 1e-2
    assert "FAIL" in str(by_name["W"])


def test_wrong_number_of_gradients_is_an_error():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), None]
    with pytest.raises(ValueError, match="gradients"):
        check_layer(linear_forward, lambda d, c: linear_backward(d, c)[:2], arrays)


def test_shape_mismatch_in_compare_is_reported():
    with pytest.raises(ValueError, match="shape"):
        compare("W", np.zeros((2, 3)), np.zeros((3, 2)))


def test_linear_forward_value_and_bad_input():
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    W = np.arange(6.0).reshape(3, 2)
    out, _ = linear_forward(x, W, np.array([1.0, -1.0]))
    # row 0 = [-1, -0.6, -0.2] @ W + b computed by hand
    np.testing.assert_allclose(out[0], [-1 * 0 - 0.6 * 2 - 0.2 * 4 + 1, -1 * 1 - 0.6 * 3 - 0.2 * 5 - 1])
    with pytest.raises(ValueError, match="x must have last dimension"):
        linear_forward(np.zeros((2, 4)), W)
    with pytest.raises(ValueError, match="b must have shape"):
        linear_forward(x, W, np.zeros(3))
    with pytest.raises(TypeError, match="W must be a floating-point array"):
        linear_forward(x, W.astype(int))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        linear_forward([[1.0, 2.0, 3.0]], W)
