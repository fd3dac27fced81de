"""Scaled dot-product attention and multi-head attention: gradients, values, masks, bad input."""
import math
import warnings

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.attention import (
    attention_backward,
    attention_forward,
    causal_mask,
    multihead_attention_backward,
    multihead_attention_forward,
)

TOL = 1e-6


def assert_gradcheck(forward, backward, arrays, names, kwargs=None):
    results = check_layer(forward, backward, arrays, kwargs=kwargs, names=names)
    assert results, "nothing was checked"
    for r in results:
        assert r.analytic.shape == r.numerical.shape
        if r.name == "bk" and np.abs(r.numerical).max() < 1e-9:
            # Without RoPE the key bias adds q_i . b_K to every score of row i; softmax ignores
            # a constant shift, so dL/db_K is exactly 0 and both sides are round-off.
            assert np.abs(r.analytic).max() < 1e-12, str(r)
            continue
        assert r.rel_error < TOL, str(r)
    return results


def qkv(rng, B=2, H=2, Tq=3, Tk=3, D=4, Dv=None):
    Dv = D if Dv is None else Dv
    return (rng.standard_normal((B, H, Tq, D)), rng.standard_normal((B, H, Tk, D)),
            rng.standard_normal((B, H, Tk, Dv)))


# Reference: one query row at a time, with Python scalars for the softmax.
def loop_attention(q, k, v, allowed):
    *lead, Tq, D = q.shape
    Tk = k.shape[-2]
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for idx in np.ndindex(*lead):
        for i in range(Tq):
            scores = {j: float(q[idx][i] @ k[idx][j]) / math.sqrt(D) for j in range(Tk) if allowed[idx][i, j]}
            if not scores:
                continue
            top = max(scores.values())
            weights = {j: math.exp(s - top) for j, s in scores.items()}
            total = sum(weights.values())
            for j, w in weights.items():
                out[idx][i] += (w / total) * v[idx][j]
    return out


# ----------------------------------------------------------------- gradients: attention

def test_attention_gradcheck_no_mask(rng):
    q, k, v = qkv(rng)
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"])


def test_attention_gradcheck_padding_mask(rng):
    q, k, v = qkv(rng, Tk=4)
    mask = np.ones((2, 1, 1, 4), dtype=bool)
    mask[0, 0, 0, 3] = False          # batch row 0: last key is padding
    mask[1, 0, 0, 2:] = False         # batch row 1: two padded keys
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"], kwargs={"mask": mask})


def test_attention_gradcheck_causal(rng):
    q, k, v = qkv(rng, Tq=4, Tk=4)
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"], kwargs={"causal": True})


def test_attention_gradcheck_cross_tq_ne_tk(rng):
    q, k, v = qkv(rng, Tq=2, Tk=5, D=3, Dv=4)
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"])
    # and end-aligned causal with Tq != Tk (the KV-cache situation)
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"], kwargs={"causal": True})


def test_attention_gradcheck_single_position(rng):
    q, k, v = qkv(rng, Tq=1, Tk=1)
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"], kwargs={"causal": True})


def test_attention_gradcheck_fully_masked_row(rng):
    q, k, v = qkv(rng, B=1, H=1, Tq=3, Tk=3)
    mask = np.ones((3, 3), dtype=bool)
    mask[1, :] = False                # query 1 may attend to nothing
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"], kwargs={"mask": mask})
    out, cache = attention_forward(q, k, v, mask=mask)
    dq, dk, dv = attention_backward(np.ones_like(out), cache)
    assert np.all(dq[0, 0, 1] == 0.0)


def test_attention_gradcheck_leading_dims(rng):
    # any equal leading axes: here none (T, D) and three (2, 1, 2, T, D)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"], kwargs={"causal": True})
    q, k, v = (rng.standard_normal((2, 1, 2, 2, 3)) for _ in range(3))
    assert_gradcheck(attention_forward, attention_backward, [q, k, v], ["q", "k", "v"])


# ----------------------------------------------------------------- values: attention

def test_attention_one_hot_score_picks_value_row():
    D, Tk = 4, 4
    k = np.eye(Tk, D)[None, None]                     # key j = e_j
    v = np.arange(Tk * 3, dtype=float).reshape(1, 1, Tk, 3)
    target = [2, 0, 3]
    q = 200.0 * np.eye(D)[target][None, None]          # query i scores 100 on key target[i], 0 elsewhere
    out, _ = attention_forward(q, k, v)
    np.testing.assert_allclose(out[0, 0], v[0, 0, target], rtol=0, atol=1e-12)


def test_attention_equals_row_loop(rng):
    q, k, v = qkv(rng, B=2, H=2, Tq=3, Tk=5, D=4, Dv=2)
    mask = rng.random((2, 1, 3, 5)) > 0.3
    mask[:, :, :, 0] = True
    for causal in (False, True):
        out, _ = attention_forward(q, k, v, mask=mask, causal=causal)
        allowed = np.broadcast_to(mask, (2, 2, 3, 5))
        if causal:
            allowed = allowed & np.array([[j <= i + 2 for j in range(5)] for i in range(3)])
        np.testing.assert_allclose(out, loop_attention(q, k, v, allowed), rtol=1e-12, atol=1e-12)


def test_attention_uniform_weights_when_scores_equal():
    # q = 0 gives equal scores: the output is the plain mean of the allowed values
    q = np.zeros((1, 1, 3, 2))
    k = np.ones((1, 1, 3, 2))
    v = np.array([[[[3.0], [6.0], [9.0]]]])
    out, _ = attention_forward(q, k, v, causal=True)
    np.testing.assert_allclose(out[0, 0, :, 0], [3.0, 4.5, 6.0], rtol=1e-15)


def test_attention_fully_masked_row_zero_without_nan_or_warnings(rng):
    q, k, v = qkv(rng, B=1, H=2, Tq=3, Tk=4)
    mask = np.ones((1, 1, 3, 4), dtype=bool)
    mask[0, 0, 2] = False
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out, cache = attention_forward(q, k, v, mask=mask)
        dq, dk, dv = attention_backward(rng.standard_normal(out.shape), cache)
    assert np.all(out[:, :, 2] == 0.0)
    for a in (out, dq, dk, dv):
        assert np.all(np.isfinite(a))
    assert np.all(dq[:, :, 2] == 0.0)
    # causal with more queries than keys: the first Tq - Tk queries see nothing either
    out, _ = attention_forward(*qkv(rng, Tq=4, Tk=2), causal=True)
    assert np.all(out[:, :, :2] == 0.0) and np.all(out[:, :, 2:] != 0.0)


def test_attention_causal_no_leak(rng):
    q, k, v = qkv(rng, Tq=5, Tk=5)
    out, _ = attention_forward(q, k, v, causal=True)
    for t in range(5):
        q2, k2, v2 = q.copy(), k.copy(), v.copy()
        q2[:, :, t + 1:] += 10.0
        k2[:, :, t + 1:] -= 7.0
        v2[:, :, t + 1:] *= 3.0
        out2, _ = attention_forward(q2, k2, v2, causal=True)
        np.testing.assert_array_equal(out2[:, :, :t + 1], out[:, :, :t + 1])


def test_causal_mask_end_aligned_matches_full_sequence(rng):
    # KV cache: the last 2 queries against all 5 keys equal the last 2 rows of the full causal run
    np.testing.assert_array_equal(causal_mask(2, 4), [[1, 1, 1, 0], [1, 1, 1, 1]])
    q, k, v = qkv(rng, Tq=5, Tk=5)
    full, _ = attention_forward(q, k, v, causal=True)
    tail, _ = attention_forward(q[:, :, 3:], k, v, causal=True)
    np.testing.assert_allclose(tail, full[:, :, 3:], rtol=1e-13, atol=1e-14)


def test_attention_float32_stays_float32(rng):
    q, k, v = (a.astype(np.float32) for a in qkv(rng))
    out, cache = attention_forward(q, k, v, causal=True)
    grads = attention_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


# ----------------------------------------------------------------- bad input: attention

def test_attention_bad_input(rng):
    q, k, v = qkv(rng)
    with pytest.raises(TypeError, match=r"mask must be a boolean array.*int64"):
        attention_forward(q, k, v, mask=np.ones((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"mask must be broadcastable to \(2, 2, 3, 3\), got shape \(4,\)"):
        attention_forward(q, k, v, mask=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match=r"k must have shape.*got \(2, 2, 3, 5\)"):
        attention_forward(q, rng.standard_normal((2, 2, 3, 5)), v)
    with pytest.raises(ValueError, match=r"v must have shape.*got \(2, 2, 4, 4\)"):
        attention_forward(q, k, rng.standard_normal((2, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"k must have shape.*got \(3, 2, 3, 4\)"):
        attention_forward(q, rng.standard_normal((3, 2, 3, 4)), v)
    with pytest.raises(ValueError, match=r"q must have at least 2 dimensions, got shape \(4,\)"):
        attention_forward(q[0, 0, 0], k, v)
    with pytest.raises(TypeError, match=r"q must be a floating-point array, got dtype int64"):
        attention_forward(np.ones((2, 2, 3, 4), dtype=np.int64), k, v)
    with pytest.raises(TypeError, match=r"causal must be True or False, got 1"):
        attention_forward(q, k, v, causal=1)


# ----------------------------------------------------------------- multi-head

MHA_NAMES = ["x_q", "x_kv", "Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo"]


def mha_arrays(rng, B=2, Tq=3, Tk=3, C=4, C_kv=None, bias=True):
    C_kv = C if C_kv is None else C_kv
    x_q = rng.standard_normal((B, Tq, C))
    x_kv = rng.standard_normal((B, Tk, C_kv))
    W = lambda d_in: rng.standard_normal((d_in, C)) / math.sqrt(d_in)
    b = (lambda: 0.1 * rng.standard_normal(C)) if bias else (lambda: None)
    return [x_q, x_kv, W(C), b(), W(C_kv), b(), W(C_kv), b(), W(C), b()]


def reference_mha(x_q, x_kv, Wq, bq, Wk, bk, Wv, bv, Wo, bo, n_heads, allowed):
    """Per-head loop with explicit column slices, then concatenation and W_O."""
    C = Wq.shape[1]
    d_k = C // n_heads
    add = lambda b: 0.0 if b is None else b
    Q, K, V = x_q @ Wq + add(bq), x_kv @ Wk + add(bk), x_kv @ Wv + add(bv)
    heads = []
    for h in range(n_heads):
        cols = slice(h * d_k, (h + 1) * d_k)
        A = Q[..., cols] @ np.swapaxes(K[..., cols], -1, -2) / math.sqrt(d_k)     # (B, Tq, Tk)
        A = np.where(allowed, A, -np.inf)
        weights = np.exp(A - A.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        heads.append(weights @ V[..., cols])
    return np.concatenate(heads, axis=-1) @ Wo + add(bo)


def test_mha_gradcheck_self_separate_arrays(rng):
    arrays = mha_arrays(rng, Tq=3, Tk=3)
    arrays[1] = arrays[0].copy()       # same values, separate arrays: dx_q and dx_kv checked one at a time
    assert_gradcheck(multihead_attention_forward, multihead_attention_backward, arrays, MHA_NAMES,
                     kwargs={"n_heads": 2, "causal": True})


def test_mha_gradcheck_self_attention_sum_of_paths(rng):
    # Self-attention as one function of x: the caller adds dx_q + dx_kv.
    x, _, *params = mha_arrays(rng, B=1, Tq=4, Tk=4)

    def self_attention_forward(x):
        return multihead_attention_forward(x, x, *params, n_heads=2, causal=True)

    def self_attention_backward(dout, cache):
        dx_q, dx_kv, *_ = multihead_attention_backward(dout, cache)
        return dx_q + dx_kv            # x fed both the queries and the keys/values

    assert_gradcheck(self_attention_forward, self_attention_backward, [x], ["x"])


def test_mha_gradcheck_cross_tq_ne_tk_with_biases(rng):
    arrays = mha_arrays(rng, Tq=2, Tk=4, C=4, C_kv=3)
    mask = np.array([[True, True, True, False], [True, True, False, False]])[:, None, None, :]  # (B, 1, 1, Tk)
    assert_gradcheck(multihead_attention_forward, multihead_attention_backward, arrays, MHA_NAMES,
                     kwargs={"n_heads": 2, "mask": mask})


def test_mha_gradcheck_cross_without_biases(rng):
    arrays = mha_arrays(rng, Tq=3, Tk=2, C=6, C_kv=5, bias=False)
    out, cache = multihead_attention_forward(*arrays, n_heads=3)
    grads = multihead_attention_backward(np.ones_like(out), cache)
    assert [g is None for g in grads] == [a is None for a in arrays]
    assert_gradcheck(multihead_attention_forward, multihead_attention_backward, arrays, MHA_NAMES,
                     kwargs={"n_heads": 3})


def test_mha_gradcheck_rope(rng):
    arrays = mha_arrays(rng, Tq=3, Tk=3)
    arrays[1] = arrays[0].copy()
    assert_gradcheck(multihead_attention_forward, multihead_attention_backward, arrays, MHA_NAMES,
                     kwargs={"n_heads": 2, "causal": True, "rope": True})
    arrays = mha_arrays(rng, Tq=2, Tk=4, bias=False)
    assert_gradcheck(multihead_attention_forward, multihead_attention_backward, arrays, MHA_NAMES,
                     kwargs={"n_heads": 2, "causal": True, "rope": True, "positions": np.arange(5, 9)})


def test_mha_gradient_shapes_equal_parameter_shapes(rng):
    arrays = mha_arrays(rng, Tq=2, Tk=5, C=6, C_kv=4)
    out, cache = multihead_attention_forward(*arrays, n_heads=3)
    grads = multihead_attention_backward(rng.standard_normal(out.shape), cache)
    assert len(grads) == len(arrays)
    for name, a, g in zip(MHA_NAMES, arrays, grads):
        assert g.shape == a.shape, name


def test_mha_equals_per_head_loop(rng):
    for bias in (True, False):
        arrays = mha_arrays(rng, B=2, Tq=3, Tk=5, C=6, C_kv=4, bias=bias)
        out, _ = multihead_attention_forward(*arrays, n_heads=3)
        ref = reference_mha(*arrays, n_heads=3, allowed=np.ones((3, 5), dtype=bool))
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    arrays = mha_arrays(rng, B=2, Tq=4, Tk=4, C=6)
    out, _ = multihead_attention_forward(*arrays, n_heads=2, causal=True)
    ref = reference_mha(*arrays, n_heads=2, allowed=np.tril(np.ones((4, 4), dtype=bool)))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_mha_one_head_equals_single_attention(rng):
    # H = 1: d_k = C, one attention over the full projections
    x_q, x_kv, Wq, bq, Wk, bk, Wv, bv, Wo, bo = mha_arrays(rng, Tq=2, Tk=3)
    out, _ = multihead_attention_forward(x_q, x_kv, Wq, bq, Wk, bk, Wv, bv, Wo, bo, n_heads=1)
    ref = loop_attention((x_q @ Wq + bq)[:, None], (x_kv @ Wk + bk)[:, None], (x_kv @ Wv + bv)[:, None],
                         np.ones((2, 1, 2, 3), dtype=bool))[:, 0] @ Wo + bo
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_mha_causal_no_leak(rng):
    x_q, _, *params = mha_arrays(rng, Tq=5, Tk=5)
    for rope in (False, True):
        out, _ = multihead_attention_forward(x_q, x_q, *params, n_heads=2, causal=True, rope=rope)
        for t in range(4):
            x2 = x_q.copy()
            x2[:, t + 1:] = rng.standard_normal(x2[:, t + 1:].shape)
            out2, _ = multihead_attention_forward(x2, x2, *params, n_heads=2, causal=True, rope=rope)
            np.testing.assert_array_equal(out2[:, :t + 1], out[:, :t + 1])
            assert not np.allclose(out2[:, t + 1:], out[:, t + 1:])


def test_mha_rope_depends_only_on_relative_position(rng):
    x, _, *params = mha_arrays(rng, Tq=4, Tk=4)
    plain, _ = multihead_attention_forward(x, x, *params, n_heads=2, causal=True, rope=True)
    shifted, _ = multihead_attention_forward(x, x, *params, n_heads=2, causal=True, rope=True,
                                             positions=np.arange(4) + 17)
    np.testing.assert_allclose(shifted, plain, rtol=1e-10, atol=1e-12)
    without, _ = multihead_attention_forward(x, x, *params, n_heads=2, causal=True)
    assert not np.allclose(without, plain)


def test_mha_kv_cache_tail_equals_full_sequence(rng):
    # The last query against all keys (rope positions end-aligned) = the last row of the full run.
    x, _, *params = mha_arrays(rng, Tq=5, Tk=5)
    for rope in (False, True):
        full, _ = multihead_attention_forward(x, x, *params, n_heads=2, causal=True, rope=rope)
        tail, _ = multihead_attention_forward(x[:, -1:], x, *params, n_heads=2, causal=True, rope=rope)
        np.testing.assert_allclose(tail, full[:, -1:], rtol=1e-12, atol=1e-12)


def test_mha_bad_input(rng):
    arrays = mha_arrays(rng, Tq=2, Tk=3, C=6, C_kv=4)
    with pytest.raises(ValueError, match=r"n_heads must divide the width C = 6.*got n_heads = 4"):
        multihead_attention_forward(*arrays, n_heads=4)
    with pytest.raises(ValueError, match=r"n_heads must be >= 1, got 0"):
        multihead_attention_forward(*arrays, n_heads=0)
    bad = list(arrays)
    bad[4] = rng.standard_normal((6, 6))
    with pytest.raises(ValueError, match=r"Wk must have shape \(C_kv, C\) \(4, 6\), got \(6, 6\)"):
        multihead_attention_forward(*bad, n_heads=2)
    bad = list(arrays)
    bad[9] = np.zeros(4)
    with pytest.raises(ValueError, match=r"bo must have shape \(C,\) \(6,\), got \(4,\)"):
        multihead_attention_forward(*bad, n_heads=2)
    bad = list(arrays)
    bad[1] = rng.standard_normal((3, 3, 4))
    with pytest.raises(ValueError, match=r"x_kv must have shape.*got \(3, 3, 4\)"):
        multihead_attention_forward(*bad, n_heads=2)
    bad[1] = rng.standard_normal(4)
    with pytest.raises(ValueError, match=r"x_kv must have at least 2 dimensions, got shape \(4,\)"):
        multihead_attention_forward(*bad, n_heads=2)
    with pytest.raises(TypeError, match=r"mask must be a boolean array"):
        multihead_attention_forward(*arrays, n_heads=2, mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"mask must be broadcastable to \(2, 2, 2, 3\), got shape \(3, 2\)"):
        multihead_attention_forward(*arrays, n_heads=2, mask=np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"positions must have shape \(Tk,\).*got \(2,\)"):
        multihead_attention_forward(*arrays, n_heads=3, rope=True, positions=np.arange(2))
    with pytest.raises(ValueError, match=r"n_heads must leave an even d_k.*got d_k = 3"):
        multihead_attention_forward(*arrays, n_heads=2, rope=True)
    with pytest.raises(ValueError, match=r"positions is only used with rope=True"):
        multihead_attention_forward(*arrays, n_heads=2, positions=np.arange(3))
