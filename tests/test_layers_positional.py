"""Positional encodings: the article's formula, sinusoids, learned embeddings, RoPE."""
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.positional import (
    article_positional_encoding,
    learned_positional_backward,
    learned_positional_forward,
    rope_angles,
    rope_backward,
    rope_forward,
    sinusoidal_positional_encoding,
)


# ---- sinusoidal ---------------------------------------------------------------------------

@pytest.mark.parametrize("T,d", [(1, 1), (7, 8), (5, 7), (3, 2)])
def test_sinusoidal_matches_formula_with_python_loops(T, d):
    PE = sinusoidal_positional_encoding(T, d)
    assert PE.shape == (T, d) and PE.dtype == np.float64
    for t in range(T):
        for j in range(d):
            i = j // 2  # column j belongs to pair i: 2i = j (sin) or 2i + 1 = j (cos)
            angle = t / 10000.0 ** (2 * i / d)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(PE[t, j] - expected) < 1e-15, (t, j)


def test_sinusoidal_base_and_dtype():
    PE = sinusoidal_positional_encoding(4, 4, base=100.0, dtype=np.float32)
    assert PE.dtype == np.float32
    assert abs(PE[3, 2] - math.sin(3 / 100.0 ** (2 / 4))) < 1e-7
    assert abs(PE[3, 3] - math.cos(3 / 100.0 ** (2 / 4))) < 1e-7


def test_sinusoidal_relative_shift_is_a_rotation():
    # PE[t + k] is PE[t] with each (sin, cos) pair rotated by k * w_i: a fixed linear map of PE[t]
    d, k = 8, 5
    PE = sinusoidal_positional_encoding(40, d)
    w = 1.0 / 10000.0 ** (np.arange(0, d, 2) / d)
    for t in (0, 3, 20):
        s, c = PE[t, 0::2], PE[t, 1::2]
        np.testing.assert_allclose(PE[t + k, 0::2], s * np.cos(k * w) + c * np.sin(k * w), atol=1e-13)
        np.testing.assert_allclose(PE[t + k, 1::2], c * np.cos(k * w) - s * np.sin(k * w), atol=1e-13)


def test_sinusoidal_bad_input():
    with pytest.raises(ValueError, match="T must be >= 1"):
        sinusoidal_positional_encoding(0, 4)
    with pytest.raises(ValueError, match="d must be >= 1"):
        sinusoidal_positional_encoding(4, 0)
    with pytest.raises(TypeError, match="T must be an integer"):
        sinusoidal_positional_encoding(4.0, 4)
    with pytest.raises(ValueError, match="base must be > 0"):
        sinusoidal_positional_encoding(4, 4, base=0.0)
    with pytest.raises(TypeError, match="dtype must be a floating-point"):
        sinusoidal_positional_encoding(4, 4, dtype=np.int64)


# ---- the article's formula ----------------------------------------------------------------

def test_article_formula_values_and_its_flaws():
    P = article_positional_encoding(700, 6)
    assert P.shape == (700, 6)
    for t in (0, 1, 57, 699):
        assert abs(P[t, 0] - (math.sin(t / 100.0) + math.cos(t / 100.0))) < 1e-15
    # identical in every dimension
    assert np.all(P == P[:, :1])
    # periodic with period 200*pi: positions 0 and 628 nearly collide
    assert abs(P[628, 0] - P[0, 0]) < 0.01
    # ... while the standard encoding keeps them well apart
    PE = sinusoidal_positional_encoding(700, 6)
    assert np.linalg.norm(PE[628] - PE[0]) > 0.5


# ---- learned positional embedding ---------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 1, 4), (2, 2, 5, 4), (5, 4)])
def test_learned_gradcheck(shape, rng):
    x = rng.standard_normal(shape)
    P = rng.standard_normal((6, 4))
    results = check_layer(learned_positional_forward, learned_positional_backward, [x, P], names=["x", "P"], rng=rng)
    for r, arg in zip(results, (x, P)):
        assert r.rel_error < 1e-6, r
        assert r.analytic.shape == arg.shape
    # rows of P beyond T received nothing
    T = shape[-2]
    assert np.all(results[1].analytic[T:] == 0)


def test_learned_values_and_full_block(rng):
    x = np.zeros((2, 3, 2))
    P = np.arange(8, dtype=np.float64).reshape(4, 2)
    out, cache = learned_positional_forward(x, P)
    np.testing.assert_array_equal(out[1], [[0, 1], [2, 3], [4, 5]])
    dx, dP = learned_positional_backward(np.ones((2, 3, 2)), cache)
    np.testing.assert_array_equal(dP, [[2, 2], [2, 2], [2, 2], [0, 0]])  # summed over B = 2
    out, _ = learned_positional_forward(np.zeros((1, 4, 2)), P)  # T == T_max is allowed
    np.testing.assert_array_equal(out[0], P)


def test_learned_bad_input():
    P = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"x has T = 5 positions .* block size T_max = 4"):
        learned_positional_forward(np.zeros((2, 5, 3)), P)
    with pytest.raises(ValueError, match="P must have shape"):
        learned_positional_forward(np.zeros((2, 3, 2)), P)
    with pytest.raises(ValueError, match="x must have at least 2 dimensions"):
        learned_positional_forward(np.zeros(3), P)
    with pytest.raises(TypeError, match="P must be a floating-point"):
        learned_positional_forward(np.zeros((2, 3, 3)), np.zeros((4, 3), dtype=np.int64))


# ---- RoPE ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 2, 3, 6), (1, 1, 1, 4), (2, 3, 5, 2)])
def test_rope_gradcheck(shape, rng):
    x = rng.standard_normal(shape)
    (r,) = check_layer(rope_forward, rope_backward, [x], names=["x"], rng=rng)
    assert r.rel_error < 1e-6, r
    assert r.analytic.shape == x.shape


def test_rope_gradcheck_with_positions_and_base(rng):
    x = rng.standard_normal((2, 2, 3, 8))
    kwargs = {"positions": np.array([7, 8, 9]), "base": 500.0}
    (r,) = check_layer(rope_forward, rope_backward, [x], kwargs=kwargs, rng=rng)
    assert r.rel_error < 1e-6, r


def test_rope_values_by_hand():
    # D = 4: pair 0 turns by t * 1, pair 1 by t * base^(-2/4) = t / 100
    x = np.array([1.0, 2.0, 3.0, -1.0]).reshape(1, 1, 1, 4)
    out, _ = rope_forward(x, positions=np.array([3]))
    a0, a1 = 3.0, 3.0 / 100.0
    expected = [
        1 * math.cos(a0) - 2 * math.sin(a0), 1 * math.sin(a0) + 2 * math.cos(a0),
        3 * math.cos(a1) + 1 * math.sin(a1), 3 * math.sin(a1) - 1 * math.cos(a1),
    ]
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-14)
    # position 0 is the identity
    out0, _ = rope_forward(x)
    np.testing.assert_array_equal(out0, x)


def test_rope_preserves_norms(rng):
    x = rng.standard_normal((2, 3, 9, 8))
    out, _ = rope_forward(x)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-13)
    # and each pair's norm
    np.testing.assert_allclose(out[..., 0::2] ** 2 + out[..., 1::2] ** 2, x[..., 0::2] ** 2 + x[..., 1::2] ** 2, rtol=1e-12)


def test_rope_scores_depend_only_on_position_difference(rng):
    D = 8
    q = rng.standard_normal(D).reshape(1, 1, 1, D)
    k = rng.standard_normal(D).reshape(1, 1, 1, D)

    def score(tq, tk):
        rq, _ = rope_forward(q, positions=np.array([tq]))
        rk, _ = rope_forward(k, positions=np.array([tk]))
        return float(np.sum(rq * rk))

    for diff in (0, 1, 5):
        scores = [score(t + diff, t) for t in (0, 3, 17, 100)]
        np.testing.assert_allclose(scores, scores[0], rtol=1e-11)
    assert abs(score(1, 0) - score(5, 0)) > 1e-3  # but it does change with the difference


def test_rope_positions_offset_equals_slice_of_longer_sequence(rng):
    # a KV cache rotates the new token at its absolute position t0
    x = rng.standard_normal((1, 2, 6, 4))
    full, _ = rope_forward(x)
    tail, _ = rope_forward(x[:, :, 4:], positions=np.arange(4, 6))
    np.testing.assert_allclose(tail, full[:, :, 4:], rtol=1e-15)


def test_rope_angles():
    cos, sin = rope_angles(np.array([0, 2]), 4, base=10000.0)
    assert cos.shape == sin.shape == (2, 2)
    np.testing.assert_allclose(sin[1], [math.sin(2.0), math.sin(2.0 / 100.0)], rtol=1e-15)


def test_rope_float32(rng):
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    out, cache = rope_forward(x)
    assert out.dtype == np.float32 and rope_backward(np.ones_like(out), cache).dtype == np.float32


def test_rope_bad_input():
    with pytest.raises(ValueError, match="x must have an even last dimension"):
        rope_forward(np.zeros((1, 1, 3, 5)))
    with pytest.raises(ValueError, match=r"positions must have shape \(T,\) = \(3,\)"):
        rope_forward(np.zeros((1, 1, 3, 4)), positions=np.arange(4))
    with pytest.raises(TypeError, match="positions must be an integer array"):
        rope_forward(np.zeros((1, 1, 3, 4)), positions=np.arange(3.0))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        rope_forward(np.zeros((1, 1, 3, 4), dtype=np.int64))
