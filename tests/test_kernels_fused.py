"""The fused Numba ops against their NumPy twins in minillm.layers / minillm.optim.

Every kernel is compared with the readable NumPy layer it replaces (the oracle):
float64 within 1e-12 relative (most are equal bit for bit), float32 within
atol + |ref| * tol with tol = 64 float32 epsilons and atol scaled by the
largest |ref| (sums of up to a few hundred terms in a different order).
Shapes are odd on purpose: one row, C = 1, sizes that are no multiple of a
vector width.  Gradient checks in float64 confirm two kernels independently.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from minillm import layers
from minillm.gradcheck import check_layer
from minillm.kernels import fused, norm
from minillm.kernels.elementwise import bias_gelu_forward, gelu_backward_inplace, tanh_float32
from minillm.kernels.optim import adamw_step, global_grad_norm
from minillm.models.backend import OP_NAMES
from minillm.models.gpt import GPT, GPTConfig
from minillm.optim import AdamW, clip_grad_norm

DTYPES = [np.float64, np.float32]
F32_TOL = 64 * float(np.finfo(np.float32).eps)  # ~7.6e-6


def assert_close(got, ref, *, exact=False):
    """float64: within 1e-12 relative (or identical when exact); float32: atol + |ref| * 64 eps."""
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape, ref.dtype, ref.shape)
    if exact:
        np.testing.assert_array_equal(got, ref)
        return
    tol = 1e-12 if ref.dtype == np.float64 else F32_TOL
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


def data(rng, shape, dtype, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


# ---------------------------------------------------------------------------
# LayerNorm / RMSNorm
# ---------------------------------------------------------------------------
NORM_SHAPES = [(1, 1), (1, 7), (3, 1), (2, 5, 33), (4, 130), (65,)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", NORM_SHAPES)
def test_layernorm_equals_numpy(shape, dtype, rng):
    C = shape[-1]
    x, gamma, beta = data(rng, shape, dtype, 3, 1), data(rng, C, dtype), data(rng, C, dtype)
    dout = data(rng, shape, dtype)
    out, cache = norm.layernorm_forward(x, gamma, beta, eps=1e-5)
    out_ref, cache_ref = layers.layernorm_forward(x, gamma, beta, eps=1e-5)
    assert_close(out, out_ref)
    for got, ref in zip(norm.layernorm_backward(dout, cache), layers.layernorm_backward(dout, cache_ref)):
        assert_close(got, ref)
    # the cache has the NumPy layer's layout: its backward accepts ours
    for got, ref in zip(layers.layernorm_backward(dout, cache), layers.layernorm_backward(dout, cache_ref)):
        assert_close(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", NORM_SHAPES)
def test_rmsnorm_equals_numpy(shape, dtype, rng):
    C = shape[-1]
    x, gamma, dout = data(rng, shape, dtype, 3, 1), data(rng, C, dtype), data(rng, shape, dtype)
    out, cache = norm.rmsnorm_forward(x, gamma, eps=1e-6)
    out_ref, cache_ref = layers.rmsnorm_forward(x, gamma, eps=1e-6)
    assert_close(out, out_ref)
    for got, ref in zip(norm.rmsnorm_backward(dout, cache), layers.rmsnorm_backward(dout, cache_ref)):
        assert_close(got, ref)


def test_layernorm_hand_example():
    # x = [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    gamma, beta = np.array([1.0, 2.0, 0.5, -1.0]), np.array([0.0, 1.0, 0.0, 3.0])
    out, _ = norm.layernorm_forward(x, gamma, beta, eps=1e-5)
    s = math.sqrt(3.5 + 1e-5)
    np.testing.assert_allclose(out[0], [-2 / s, -2 / s + 1.0, 0.0, -3 / s + 3.0], rtol=1e-14, atol=1e-15)


def test_norm_gradchecks(rng):
    x = rng.standard_normal((3, 2, 6)) * 3 + 1
    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    for r in check_layer(norm.layernorm_forward, norm.layernorm_backward, [x, gamma, beta], rng=rng):
        assert r.rel_error < 1e-6, r
    for r in check_layer(norm.rmsnorm_forward, norm.rmsnorm_backward, [x, gamma], rng=rng):
        assert r.rel_error < 1e-6, r


def test_norm_bad_input():
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"gamma must have shape \(C,\) \(4,\), got \(5,\)"):
        norm.layernorm_forward(x, np.ones(5, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="x must be float32 or float64 for the Numba kernels, got dtype float16"):
        norm.rmsnorm_forward(x.astype(np.float16), np.ones(4, np.float16))
    with pytest.raises(TypeError, match="beta must be a numpy.ndarray, got a NoneType"):
        norm.layernorm_forward(x, np.ones(4, np.float32), None)


# ---------------------------------------------------------------------------
# Linear and feed-forward (bias + GELU fused between two BLAS products)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, d_out", [((7,), 3), ((1, 1), 1), ((2, 5, 9), 4), ((3, 4, 6), 65)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_numpy(x_shape, d_out, bias, dtype, rng):
    x, W = data(rng, x_shape, dtype), data(rng, (x_shape[-1], d_out), dtype)
    b = data(rng, d_out, dtype) if bias else None
    dout = data(rng, (*x_shape[:-1], d_out), dtype)
    out, cache = fused.linear_forward(x, W, b)
    out_ref, cache_ref = layers.linear_forward(x, W, b)
    assert_close(out, out_ref)
    got, ref = fused.linear_backward(dout, cache), layers.linear_backward(dout, cache_ref)
    for g, r in zip(got, ref):
        assert (g is None) == (r is None)
        if r is not None:
            assert_close(g, r)


def test_linear_transposed_views(rng):
    # the GPT's tied head passes W = E^T (a transposed view); x may be a non-contiguous view too
    E = rng.standard_normal((11, 6))
    x = rng.standard_normal((6, 2, 5)).transpose(1, 2, 0)          # (2, 5, 6), not contiguous
    dout = rng.standard_normal((2, 5, 11))
    out, cache = fused.linear_forward(x, E.T)
    out_ref, cache_ref = layers.linear_forward(x, E.T)
    assert_close(out, out_ref)
    for g, r in zip(fused.linear_backward(dout, cache)[:2], layers.linear_backward(dout, cache_ref)[:2]):
        assert_close(g, r)


FFN_CASES = [((1, 1), 1, 1), ((5,), 3, 2), ((2, 3, 8), 33, 8), ((4, 16, 24), 96, 24)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, d_ff, c_out", FFN_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_feedforward_gelu_equals_numpy(x_shape, d_ff, c_out, bias, dtype, rng):
    C = x_shape[-1]
    x = data(rng, x_shape, dtype, 2)
    W1, W2 = data(rng, (C, d_ff), dtype, 0.5), data(rng, (d_ff, c_out), dtype, 0.5)
    b1 = data(rng, d_ff, dtype) if bias else None
    b2 = data(rng, c_out, dtype) if bias else None
    dout = data(rng, (*x_shape[:-1], c_out), dtype)
    out, cache = fused.feedforward_forward(x, W1, b1, W2, b2)
    out_ref, cache_ref = layers.feedforward_forward(x, W1, b1, W2, b2)
    assert_close(out, out_ref)
    for g, r in zip(fused.feedforward_backward(dout, cache), layers.feedforward_backward(dout, cache_ref)):
        assert (g is None) == (r is None)
        if r is not None:
            assert_close(g, r)


def test_bias_gelu_float64_is_the_numpy_gelu_bit_for_bit(rng):
    # float64: np.tanh between two passes that evaluate the NumPy layer's expressions in its order
    h, b, dz = rng.standard_normal((37, 29)) * 3, rng.standard_normal(29), rng.standard_normal((37, 29))
    a = h.copy()
    z, t = bias_gelu_forward(a, b)
    z_ref, cache_ref = layers.gelu_forward(h + b)
    assert_close(z, z_ref, exact=True)
    assert_close(gelu_backward_inplace(dz.copy(), a, t), layers.gelu_backward(dz, cache_ref), exact=True)


def test_float32_rational_tanh_accuracy():
    # 2 million points in [-12, 12] and a wide range: |error| < 4e-7 vs the exact tanh
    u = np.concatenate([np.linspace(-12, 12, 2_000_001), np.linspace(-1e4, 1e4, 20_001)]).astype(np.float32)
    t = tanh_float32(u)
    exact = np.tanh(u.astype(np.float64))
    assert np.max(np.abs(t - exact)) < 4e-7
    assert np.max(np.abs(np.tanh(u) - exact)) < 1e-7             # (what np.tanh itself achieves)
    np.testing.assert_array_equal(t[np.abs(u) >= 9], np.sign(u[np.abs(u) >= 9]))   # exactly +-1, like tanh
    assert np.all(t[u == 0] == 0) and np.array_equal(tanh_float32(-u), -t)   # odd
    assert np.isnan(tanh_float32(np.array([np.nan], np.float32)))[0]


def test_bias_gelu_float32_within_rounding_of_numpy(rng):
    # float32 runs one pass with the rational tanh: within 1e-6 + |ref| * eps of the NumPy layer
    h = np.concatenate([rng.standard_normal(20000) * 3, np.linspace(-50, 50, 10000)]).astype(np.float32)
    h, b = h.reshape(60, 500), (rng.standard_normal(500) * 0.5).astype(np.float32)
    dz = rng.standard_normal(h.shape).astype(np.float32)
    a = h.copy()
    z, t = bias_gelu_forward(a, b)
    z_ref, cache_ref = layers.gelu_forward(h + b)
    eps = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(z, z_ref, rtol=4 * eps, atol=1e-6)
    # the derivative amplifies the tanh error by at most |d gelu' / dt| * 3.6e-7 ~ 4e-6 on these inputs
    da = gelu_backward_inplace(dz.copy(), a, t)
    np.testing.assert_allclose(da, layers.gelu_backward(dz, cache_ref), rtol=4 * eps, atol=4e-6 * np.abs(dz).max())


def test_feedforward_other_activations_fall_back_to_numpy(rng):
    """Activations without a fused kernel take the NumPy layer's path (the exact-erf GELU has one now:
    tests/test_kernels_erf.py)."""
    x, W1, W2 = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 6)), rng.standard_normal((6, 4))
    dout = rng.standard_normal((2, 3, 4))
    for activation in ("relu", "silu"):
        out, cache = fused.feedforward_forward(x, W1, None, W2, None, activation=activation)
        out_ref, cache_ref = layers.feedforward_forward(x, W1, None, W2, None, activation=activation)
        assert_close(out, out_ref, exact=True)
        for g, r in zip(fused.feedforward_backward(dout, cache), layers.feedforward_backward(dout, cache_ref)):
            assert (g is None and r is None) or np.array_equal(g, r)
    with pytest.raises(ValueError, match="activation"):
        fused.feedforward_forward(x, W1, None, W2, None, activation="swish")


def test_feedforward_gradcheck(rng):
    x = rng.standard_normal((2, 3, 4))
    W1, b1 = rng.standard_normal((4, 7)) * 0.7, rng.standard_normal(7)
    W2, b2 = rng.standard_normal((7, 5)) * 0.7, rng.standard_normal(5)
    results = check_layer(fused.feedforward_forward, fused.feedforward_backward, [x, W1, b1, W2, b2],
                          names=["x", "W1", "b1", "W2", "b2"], rng=rng)
    assert [r.name for r in results] == ["x", "W1", "b1", "W2", "b2"]
    for r in results:
        assert r.rel_error < 1e-6, r


def test_linear_bad_input():
    with pytest.raises(ValueError, match=r"x must have last dimension d_in = W.shape\[0\] = 3, got shape \(2, 4\)"):
        fused.linear_forward(np.zeros((2, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"W2 must have shape \(d_ff, C_out\) with d_ff = W1.shape\[1\]"):
        fused.feedforward_forward(np.zeros((2, 4)), np.zeros((4, 6)), None, np.zeros((5, 4)), None)


# ---------------------------------------------------------------------------
# Cross-entropy: softmax + log-likelihood + (probs - onehot) in one pass
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 65), (7, 5), (3, 4, 65), (2, 3)])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_equals_numpy(shape, ignore, dtype, rng):
    logits = data(rng, shape, dtype, 3)
    targets = rng.integers(0, shape[-1], size=shape[:-1])
    if ignore:
        targets.reshape(-1)[::2] = -100                          # every other target ignored
    loss, cache = fused.cross_entropy_forward(logits, targets)
    loss_ref, cache_ref = layers.cross_entropy_forward(logits, targets)
    assert type(loss) is type(loss_ref)
    assert_close(np.asarray(loss), np.asarray(loss_ref))
    for dloss in (1.0, 0.37):
        assert_close(fused.cross_entropy_backward(dloss, cache), layers.cross_entropy_backward(dloss, cache_ref))


def test_cross_entropy_edge_cases(rng):
    # huge logits do not overflow; all-ignored batches give loss 0 and zero gradient
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    loss, cache = fused.cross_entropy_forward(logits, np.array([1, 2]))
    assert loss == pytest.approx(1e4, rel=1e-12)                 # row 0 pays 2e4, row 1 pays 0
    np.testing.assert_allclose(fused.cross_entropy_backward(1.0, cache), [[0.5, -0.5, 0], [0, 0, 0]], atol=1e-300)
    loss, cache = fused.cross_entropy_forward(logits, np.array([-100, -100]))
    assert loss == 0.0 and not np.any(fused.cross_entropy_backward(1.0, cache))
    # a custom ignore_index
    t = np.array([7, 0])
    loss, _ = fused.cross_entropy_forward(logits, t, ignore_index=7)
    assert loss == pytest.approx(2e4, rel=1e-12)


def test_cross_entropy_gradcheck(rng):
    logits = rng.standard_normal((2, 4, 6))
    targets = np.array([[1, -100, 5, 0], [-100, 3, 3, -100]])
    (r,) = check_layer(fused.cross_entropy_forward, fused.cross_entropy_backward, [logits, targets], rng=rng)
    assert r.rel_error < 1e-6, r


def test_cross_entropy_bad_input():
    with pytest.raises(ValueError, match=r"targets must hold class ids in \[0, 3\) or ignore_index=-100, got 3"):
        fused.cross_entropy_forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="targets must be an integer array"):
        fused.cross_entropy_forward(np.zeros((2, 3)), np.array([0.0, 1.0]))


# ---------------------------------------------------------------------------
# Embedding backward: the scatter-add
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_backward_equals_np_add_at(dtype, rng):
    E = data(rng, (10, 5), dtype)
    ids = np.array([[3, 3, 3, 0], [9, 3, 0, 1]])                   # duplicates, some ids unused
    dout = data(rng, (2, 4, 5), dtype)
    _, cache = layers.embedding_forward(ids, E)
    dE = fused.embedding_backward(dout, cache)
    assert_close(dE, layers.embedding_backward(dout, cache), exact=True)   # same order of additions
    np.testing.assert_array_equal(dE[[2, 4, 5, 6, 7, 8]], 0)
    # by hand: row 3 collects positions (0,0), (0,1), (0,2), (1,1)
    np.testing.assert_allclose(dE[3], dout[0, 0] + dout[0, 1] + dout[0, 2] + dout[1, 1], rtol=1e-6)


# ---------------------------------------------------------------------------
# AdamW: the fused step equals minillm.optim.AdamW bit for bit
# ---------------------------------------------------------------------------
def _params(rng, dtype):
    return {"W": data(rng, (5, 7), dtype), "E": data(rng, (3, 4), dtype), "b": data(rng, 7, dtype),
            "gamma": data(rng, 1, dtype)}


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_step_is_bit_identical_to_optim_adamw(dtype, rng):
    params_ref = _params(rng, dtype)
    params = {k: p.copy() for k, p in params_ref.items()}
    opt_ref = AdamW(params_ref, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    keys = list(params)
    decay = [params[k].ndim >= 2 for k in keys]                  # matrices only, as AdamW's default
    assert decay == [k in opt_ref.decay for k in keys] == [True, True, False, False]
    for t in range(1, 7):
        grads = {k: data(rng, p.shape, dtype, 2) for k, p in params.items()}
        lr = 1e-2 * t / 6
        opt_ref.step({k: g.copy() for k, g in grads.items()}, lr=lr)
        adamw_step([params[k] for k in keys], [grads[k] for k in keys], [m[k] for k in keys], [v[k] for k in keys],
                   lr=lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, decay=decay, t=t)
        for k in keys:
            np.testing.assert_array_equal(params[k], params_ref[k])
            np.testing.assert_array_equal(m[k], opt_ref.m[k])
            np.testing.assert_array_equal(v[k], opt_ref.v[k])


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_grad_scale_equals_clip_then_step(dtype, rng):
    params_ref = _params(rng, dtype)
    params = {k: p.copy() for k, p in params_ref.items()}
    opt_ref = AdamW(params_ref, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.2)
    keys = list(params)
    m = [np.zeros_like(params[k]) for k in keys]
    v = [np.zeros_like(params[k]) for k in keys]
    for t in range(1, 4):
        grads = {k: data(rng, p.shape, dtype, 3) for k, p in params.items()}
        norm_ref = clip_grad_norm(grads_ref := {k: g.copy() for k, g in grads.items()}, 1.0)
        opt_ref.step(grads_ref)
        g_list = [grads[k] for k in keys]
        total = global_grad_norm(g_list)
        assert total == pytest.approx(norm_ref, rel=1e-12)
        # clip_grad_norm's factor; computed from its own norm so that both sides round alike
        adamw_step([params[k] for k in keys], g_list, m, v, lr=1e-2, betas=(0.9, 0.95), eps=1e-8,
                   weight_decay=0.2, decay=[k in opt_ref.decay for k in keys], t=t,
                   grad_scale=1.0 / (norm_ref + 1e-6))
        for k in keys:
            np.testing.assert_array_equal(params[k], params_ref[k])
        np.testing.assert_array_equal(g_list[0], grads["W"])      # the gradients themselves are left alone


def test_adamw_step_reads_gradients_of_any_layout(rng):
    # a gradient may be a transposed view (e.g. dW_head.T); it is only read
    p = rng.standard_normal((3, 4))
    p_ref = p.copy()
    g = rng.standard_normal((4, 3)).T
    state = [np.zeros_like(p) for _ in range(4)]
    kw = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.1, "decay": [True], "t": 1}
    adamw_step([p], [g], [state[0]], [state[1]], **kw)
    adamw_step([p_ref], [np.ascontiguousarray(g)], [state[2]], [state[3]], **kw)
    np.testing.assert_array_equal(p, p_ref)


def test_adamw_step_bad_input(rng):
    p = [np.zeros((2, 3))]
    with pytest.raises(ValueError, match=r"grads must have one entry per parameter \(1\), got 2"):
        adamw_step(p, [np.zeros((2, 3))] * 2, [np.zeros((2, 3))], [np.zeros((2, 3))], lr=1e-3, betas=(0.9, 0.99),
                   eps=1e-8, weight_decay=0.0, decay=[True], t=1)
    with pytest.raises(ValueError, match=r"m\[0\] must be a C-contiguous float64 array of shape \(2, 3\), got shape"):
        adamw_step(p, [np.zeros((2, 3))], [np.zeros((3, 2))], [np.zeros((2, 3))], lr=1e-3, betas=(0.9, 0.99),
                   eps=1e-8, weight_decay=0.0, decay=[True], t=1)
    with pytest.raises(ValueError, match="t must be"):
        adamw_step(p, p, p, p, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0, decay=[True], t=0)


# ---------------------------------------------------------------------------
# The whole GPT step with every fused op swapped in, against the NumPy backend
# ---------------------------------------------------------------------------
def _ops_with_kernels():
    ops = {name: getattr(layers, name) for name in OP_NAMES}
    for module in (fused, norm):
        ops.update({name: getattr(module, name) for name in OP_NAMES if hasattr(module, name)})
    return SimpleNamespace(**ops)


@pytest.mark.parametrize("dtype, variant", [("float64", "gpt2+bias"), ("float32", "gpt2"), ("float64", "llama")])
def test_gpt_step_with_fused_ops_equals_numpy(dtype, variant, rng):
    # GPT-2 (layernorm, GELU MLP; with biases, and without as in the recipe) and LLaMA (rmsnorm, RoPE, SwiGLU)
    size = {"vocab_size": 13, "block_size": 9, "n_layer": 2, "n_head": 2, "n_embd": 8, "dtype": dtype}
    if variant == "llama":
        cfg = GPTConfig.llama(**size)
    else:
        cfg = GPTConfig(**size, bias=variant == "gpt2+bias")
    ref, model = GPT(cfg, seed=3), GPT(cfg, seed=3)
    model.ops = _ops_with_kernels()
    idx, targets = rng.integers(0, 13, size=(3, 9)), rng.integers(0, 13, size=(3, 9))
    targets[0, :4] = -100
    logits_ref, loss_ref, cache_ref = ref.forward(idx, targets)
    logits, loss, cache = model.forward(idx, targets)
    assert_close(logits, logits_ref)
    tol = 1e-12 if dtype == "float64" else F32_TOL
    assert loss == pytest.approx(loss_ref, rel=tol)
    grads, grads_ref = model.backward(cache), ref.backward(cache_ref)
    assert grads.keys() == grads_ref.keys()
    largest = max(float(np.max(np.abs(g))) for g in grads_ref.values())
    for k in grads_ref:
        # a whole network's worth of reordered sums, so compare at the scale of each tensor; the key
        # bias's gradient is exactly 0 in theory (softmax ignores a shift of a whole row), round-off here
        scale = max(float(np.max(np.abs(grads_ref[k]))), 1e-6 * largest)
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=tol * 8, atol=tol * 8 * scale, err_msg=k)
