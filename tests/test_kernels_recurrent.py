"""The recurrent kernels (minillm.kernels.recurrent) against their NumPy twins in minillm.layers.recurrent.

Every kernel is compared with the readable layer (the oracle): float64 within
1e-12 relative to the tensor's largest entry (the kernels evaluate the layer's
expressions in the same order; only exp, tanh and the BLAS products' summation
order differ, by ulps), float32 within atol + |ref| * tol with tol = 64 float32
epsilons and atol scaled by the largest |ref| (the rational float32 tanh is off
by up to 3.6e-7, and T steps pass the difference on).  Shapes are odd on
purpose (B = 3, T = 5, D = 7, H = 11), plus T = 1, B = 1 and batches of more than one
8-row tile; with and without
initial states and bias.  A float64 gradient check confirms the kernels'
backward independently, and the whole RNNLM must give the same loss and
gradients with either backend.
"""
import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.kernels import recurrent as kernels
from minillm.layers import recurrent as layers
from minillm.models.rnn import RNNConfig, RNNLM

CELLS = {"rnn": 1, "gru": 3, "lstm": 4}  # cell -> number of gates
DTYPES = [np.float64, np.float32]
F32_TOL = 64 * float(np.finfo(np.float32).eps)  # ~7.6e-6
# (B, T, D, H); the kernels cut the batch into tiles of 8 rows (the threads' work items) and pad
# the product's columns to multiples of 32: B = 11 and 17 leave a partial tile, k H = 132 a partial panel
SHAPES = [(3, 5, 7, 11), (1, 1, 2, 3), (2, 1, 4, 5), (4, 9, 3, 16), (11, 3, 5, 33), (17, 2, 3, 8)]


def assert_close(got, ref):
    """float64: within 1e-12 of the largest |ref|; float32: atol + |ref| * 64 eps, atol scaled the same way."""
    if ref is None:
        assert got is None
        return
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape, ref.dtype, ref.shape)
    tol = 1e-12 if ref.dtype == np.float64 else F32_TOL
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


def _arrays(rng, cell, B, T, D, H, dtype, *, states=True, bias=True, scale=0.6):
    k = CELLS[cell]
    x = rng.standard_normal((B, T, D))
    h0 = rng.standard_normal((B, H)) * 0.5 if states else np.zeros((B, H))
    Wx, Wh = rng.standard_normal((D, k * H)) * scale, rng.standard_normal((H, k * H)) * scale
    b = rng.standard_normal(k * H) * scale if bias else None
    kwargs = {"c0": (rng.standard_normal((B, H)) * 0.5).astype(dtype)} if cell == "lstm" and states else {}
    arrays = [a if a is None else a.astype(dtype) for a in (x, h0, Wx, Wh, b)]
    return arrays, kwargs


def _pair(module, cell):
    return getattr(module, f"{cell}_forward"), getattr(module, f"{cell}_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("states", [True, False], ids=["carried-state-with-bias", "zero-state-no-bias"])
def test_kernel_equals_numpy(cell, shape, dtype, states, rng):
    B, T, D, H = shape
    arrays, kwargs = _arrays(rng, cell, B, T, D, H, dtype, states=states, bias=states)
    dhs = rng.standard_normal((B, T, H)).astype(dtype)
    forward, backward = _pair(kernels, cell)
    forward_ref, backward_ref = _pair(layers, cell)
    hs, cache = forward(*arrays, **kwargs)
    hs_ref, cache_ref = forward_ref(*arrays, **kwargs)
    assert_close(hs, hs_ref)
    if cell == "lstm":
        assert_close(kernels.lstm_cell_states(cache), layers.lstm_cell_states(cache_ref))
    grads, grads_ref = backward(dhs, cache), backward_ref(dhs, cache_ref)
    assert len(grads) == len(grads_ref) == 5  # dx, dh0, dWx, dWh, db
    for got, ref in zip(grads, grads_ref):
        assert_close(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", list(CELLS))
def test_saturated_gates_give_no_nan_and_match(cell, dtype, rng):
    # Pre-activations of +-50 and more: exp(-|a|) never overflows, tanh is +-1 there.  In float32 the
    # gradients through saturated units are products of 1 - h^2 ~ 1e-7, rounding noise in both
    # implementations (the rational tanh gives exactly 1 a little before np.tanh does): only the
    # forward is compared there, and every gradient must be finite.
    arrays, kwargs = _arrays(rng, cell, 3, 4, 5, 6, dtype, scale=30.0)
    dhs = rng.standard_normal((3, 4, 6)).astype(dtype)
    forward, backward = _pair(kernels, cell)
    forward_ref, backward_ref = _pair(layers, cell)
    hs, cache = forward(*arrays, **kwargs)
    hs_ref, cache_ref = forward_ref(*arrays, **kwargs)
    assert np.all(np.isfinite(hs))
    assert_close(hs, hs_ref)
    for got, ref in zip(backward(dhs, cache), backward_ref(dhs, cache_ref)):
        assert np.all(np.isfinite(got))
        if dtype == np.float64:
            assert_close(got, ref)


@pytest.mark.parametrize("cell", list(CELLS))
def test_gradcheck_of_the_kernel_path(cell, rng):
    # central differences in float64 on a tiny case: the kernels' backward on its own, not via the layer
    arrays, kwargs = _arrays(rng, cell, 2, 4, 3, 4, np.float64)
    forward, backward = _pair(kernels, cell)
    results = check_layer(forward, backward, arrays, kwargs=kwargs, names=["x", "h0", "Wx", "Wh", "b"], rng=rng)
    assert len(results) == 5
    for r, a in zip(results, arrays):
        assert r.analytic.shape == a.shape, r.name
        assert r.rel_error < 1e-6, str(r)


@pytest.mark.parametrize("cell", list(CELLS))
def test_mixed_dtypes_fall_back_to_the_numpy_layer(cell, rng):
    arrays, kwargs = _arrays(rng, cell, 2, 3, 4, 5, np.float64)
    arrays[2] = arrays[2].astype(np.float32)  # Wx float32, the rest float64: NumPy's promotion rules decide
    dhs = rng.standard_normal((2, 3, 5))
    forward, backward = _pair(kernels, cell)
    forward_ref, backward_ref = _pair(layers, cell)
    hs, cache = forward(*arrays, **kwargs)
    hs_ref, cache_ref = forward_ref(*arrays, **kwargs)
    np.testing.assert_array_equal(hs, hs_ref)
    for got, ref in zip(backward(dhs, cache), backward_ref(dhs, cache_ref)):
        np.testing.assert_array_equal(got, ref)


def test_bad_input_is_named_as_by_the_layer(rng):
    (x, h0, Wx, Wh, b), _ = _arrays(rng, "lstm", 2, 3, 4, 5, np.float32, states=True)
    with pytest.raises(ValueError, match=r"Wh must have shape \(d_h, 4 d_h\)"):
        kernels.lstm_forward(x, h0, Wx, Wh[:, :5], b)
    with pytest.raises(ValueError, match="c0"):
        kernels.lstm_forward(x, h0, Wx, Wh, b, c0=np.zeros((2, 4), np.float32))
    _, cache = kernels.lstm_forward(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match="dhs"):
        kernels.lstm_backward(np.zeros((2, 3, 4), np.float32), cache)


# ---------------------------------------------------------------------------
# The whole model: backend "numba" against backend "numpy"
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_rnnlm_loss_and_gradients_equal_across_backends(cell, dtype, rng):
    cfg = dict(vocab_size=13, cell=cell, n_embd=5, n_hidden=9, n_layer=2, block_size=6, dtype=dtype)
    ref = RNNLM(RNNConfig(**cfg, backend="numpy"), seed=3)
    model = RNNLM(RNNConfig(**cfg, backend="numba"), params={k: v.copy() for k, v in ref.params.items()})
    idx, targets = rng.integers(0, 13, size=(3, 6)), rng.integers(0, 13, size=(3, 6))
    targets[1, 2] = -100
    state = ref.initial_state(3)
    for key in state:
        state[key] = (rng.standard_normal(state[key].shape) * 0.5).astype(dtype)  # a carried state
    logits_ref, loss_ref, cache_ref = ref.forward(idx, targets, state)
    logits, loss, cache = model.forward(idx, targets, state)
    tol = 1e-12 if dtype == "float64" else F32_TOL
    assert abs(loss - loss_ref) <= tol * abs(loss_ref)
    assert_close(logits, logits_ref)
    for key in cache_ref["state"]:
        assert_close(cache["state"][key], cache_ref["state"][key])
    grads, grads_ref = model.backward(cache), ref.backward(cache_ref)
    assert set(grads) == set(grads_ref) == set(ref.params)
    for key in grads_ref:
        assert grads[key].shape == ref.params[key].shape, key
        assert_close(grads[key], grads_ref[key])
