"""RNN, LSTM and GRU layers: gradient checks, independent references, BPTT by steps, gate behaviour, bad input."""
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.recurrent import (
    gru_backward, gru_forward, gru_step_backward, gru_step_forward,
    lstm_backward, lstm_cell_states, lstm_forward, lstm_step_backward, lstm_step_forward,
    rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward,
)

N_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
SEQUENCE = {
    "rnn": (rnn_forward, rnn_backward),
    "gru": (gru_forward, gru_backward),
    "lstm": (lstm_forward, lstm_backward),
}
STEP = {"rnn": (rnn_step_forward, rnn_step_backward), "gru": (gru_step_forward, gru_step_backward)}
NAMES = ["x", "h0", "Wx", "Wh", "b"]


def _weights(rng, D, H, k, scale=0.6):
    Wx = rng.standard_normal((D, k * H)) * scale
    Wh = rng.standard_normal((H, k * H)) * scale
    b = rng.standard_normal(k * H) * scale
    return Wx, Wh, b


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


# ---- gradient checks (float64, central differences, worst relative error < 1e-6) -----------------

@pytest.mark.parametrize("cell", list(SEQUENCE))
@pytest.mark.parametrize("T", [1, 6])
@pytest.mark.parametrize("bias", [True, False])
def test_sequence_gradcheck(cell, T, bias, rng):
    # The element-wise score (CS231n's) divides by each entry's own size.  An entry that cancels
    # to ~1e-5 of its tensor's largest then measures the finite difference's own error (~5e-11
    # absolute at h = 1e-5), not the backward: over 31 seeds x these 12 cases, about one case in
    # 372 scores a few 1e-6 that way (scaled by the tensor's largest entry instead: ~4e-11).  The
    # fixture's seed passes; a wrong term, transpose or missing path gives errors of order 1.
    B, D, H = 2, 3, 4
    x = rng.standard_normal((B, T, D))
    h0 = rng.standard_normal((B, H)) * 0.5
    Wx, Wh, b = _weights(rng, D, H, N_GATES[cell])
    forward, backward = SEQUENCE[cell]
    arrays = [x, h0, Wx, Wh, b if bias else None]
    results = check_layer(forward, backward, arrays, names=NAMES, rng=rng)
    assert len(results) == (5 if bias else 4)
    for r, a in zip(results, [a for a in arrays if a is not None]):
        assert r.analytic.shape == a.shape, r.name
        assert r.rel_error < 1e-6, str(r)
    if not bias:
        _, cache = forward(*arrays)
        assert backward(rng.standard_normal((B, T, H)), cache)[4] is None


def test_lstm_sequence_gradcheck_with_a_carried_cell_state(rng):
    # c0 is a constant of the chunk (truncated BPTT): every other argument must still check
    B, T, D, H = 2, 5, 3, 4
    x, h0, c0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    Wx, Wh, b = _weights(rng, D, H, 4)
    results = check_layer(lstm_forward, lstm_backward, [x, h0, Wx, Wh, b], kwargs={"c0": c0}, names=NAMES, rng=rng)
    assert all(r.rel_error < 1e-6 for r in results), [str(r) for r in results]


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_step_gradcheck(cell, bias, rng):
    B, D, H = 3, 4, 5
    forward, backward = STEP[cell]
    Wx, Wh, b = _weights(rng, D, H, N_GATES[cell])
    arrays = [rng.standard_normal((B, D)), rng.standard_normal((B, H)), Wx, Wh, b if bias else None]
    results = check_layer(forward, backward, arrays, names=["x", "h_prev", "Wx", "Wh", "b"], rng=rng)
    assert len(results) == (5 if bias else 4)
    assert all(r.rel_error < 1e-6 for r in results), [str(r) for r in results]


# The LSTM step has two outputs (h, c): check the projection sum(h * dh) + sum(c * dc).
def _lstm_step_stacked(x, h_prev, c_prev, Wx, Wh, b):
    (h, c), cache = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    return np.stack([h, c]), cache


def _lstm_step_stacked_backward(dout, cache):
    return lstm_step_backward(dout[0], dout[1], cache)


def _lstm_step_h_only(x, h_prev, c_prev, Wx, Wh, b):
    (h, _), cache = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    return h, cache


def _lstm_step_h_only_backward(dh, cache):
    return lstm_step_backward(dh, None, cache)  # dc = None: the cell state is not used further


@pytest.mark.parametrize("pair", [(_lstm_step_stacked, _lstm_step_stacked_backward),
                                  (_lstm_step_h_only, _lstm_step_h_only_backward)], ids=["h_and_c", "h_only"])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_step_gradcheck(pair, bias, rng):
    B, D, H = 3, 4, 5
    Wx, Wh, b = _weights(rng, D, H, 4)
    arrays = [rng.standard_normal((B, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H)), Wx, Wh,
              b if bias else None]
    results = check_layer(*pair, arrays, names=["x", "h_prev", "c_prev", "Wx", "Wh", "b"], rng=rng)
    assert len(results) == (6 if bias else 5)
    assert all(r.rel_error < 1e-6 for r in results), [str(r) for r in results]


# ---- forward values against independent references ------------------------------------------

# Plain per-step loops, one weight slice per gate, written from the textbook equations.
def _reference_rnn(x, h0, Wx, Wh, b):
    h, out = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        out.append(h)
    return np.stack(out, axis=1)


def _reference_lstm(x, h0, Wx, Wh, b, c0=None):
    H = h0.shape[1]
    W = {gate: (Wx[:, j * H:(j + 1) * H], Wh[:, j * H:(j + 1) * H], b[j * H:(j + 1) * H])
         for j, gate in enumerate("ifog")}
    h, c = h0, np.zeros_like(h0) if c0 is None else c0
    hs, cs = [], []
    for t in range(x.shape[1]):
        pre = {gate: x[:, t] @ Wxg + h @ Whg + bg for gate, (Wxg, Whg, bg) in W.items()}
        c = _sig(pre["f"]) * c + _sig(pre["i"]) * np.tanh(pre["g"])
        h = _sig(pre["o"]) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


# PyTorch's documented GRU with b_ih = b and b_hh = 0:
#   r = s(W_ir x + b_ir + W_hr h),  z = s(W_iz x + b_iz + W_hz h),  n = tanh(W_in x + b_in + r * (W_hn h))
#   h' = (1 - z) * n + z * h
def _reference_gru(x, h0, Wx, Wh, b, reset_after=True):
    H = h0.shape[1]
    Wi = [Wx[:, j * H:(j + 1) * H] for j in range(3)]
    Whh = [Wh[:, j * H:(j + 1) * H] for j in range(3)]
    bi = [b[j * H:(j + 1) * H] for j in range(3)]
    h, out = h0, []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r = _sig(xt @ Wi[0] + bi[0] + h @ Whh[0])
        z = _sig(xt @ Wi[1] + bi[1] + h @ Whh[1])
        if reset_after:
            n = np.tanh(xt @ Wi[2] + bi[2] + r * (h @ Whh[2]))
        else:  # Cho et al. (2014): the reset gate scales h before the product
            n = np.tanh(xt @ Wi[2] + bi[2] + (r * h) @ Whh[2])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("cell", list(SEQUENCE))
def test_sequence_forward_matches_a_plain_per_step_loop(cell, rng):
    B, T, D, H = 2, 7, 3, 4
    x, h0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H))
    Wx, Wh, b = _weights(rng, D, H, N_GATES[cell])
    hs, cache = SEQUENCE[cell][0](x, h0, Wx, Wh, b)
    if cell == "rnn":
        expected = _reference_rnn(x, h0, Wx, Wh, b)
    elif cell == "gru":
        expected = _reference_gru(x, h0, Wx, Wh, b)
    else:
        expected, expected_c = _reference_lstm(x, h0, Wx, Wh, b)
        np.testing.assert_allclose(lstm_cell_states(cache), expected_c, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(hs, expected, rtol=1e-13, atol=1e-14)


def test_gru_resets_after_the_hidden_product_as_pytorch_does(rng):
    # With H > 1, r * (h Wh_n) and (r * h) Wh_n differ: the test pins the first.
    B, T, D, H = 2, 4, 3, 5
    x, h0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H))
    Wx, Wh, b = _weights(rng, D, H, 3, scale=1.0)
    hs, _ = gru_forward(x, h0, Wx, Wh, b)
    np.testing.assert_allclose(hs, _reference_gru(x, h0, Wx, Wh, b, reset_after=True), rtol=1e-13, atol=1e-14)
    assert np.abs(hs - _reference_gru(x, h0, Wx, Wh, b, reset_after=False)).max() > 1e-3


def test_one_step_values_by_hand():
    one = lambda v: np.array([[v]])  # noqa: E731  a (1, 1) array
    # RNN: a = 0.5*1 + (-0.5)*2 + 0.25 = -0.25,  h = tanh(-0.25)
    h, _ = rnn_step_forward(one(0.5), one(-0.5), one(1.0), one(2.0), np.array([0.25]))
    assert h[0, 0] == pytest.approx(math.tanh(-0.25), abs=1e-15)
    assert h[0, 0] == pytest.approx(-0.2449186624037092, abs=1e-15)
    # LSTM with every pre-activation 0: i = f = o = 1/2, g = 0  ->  c = c_prev / 2 = 1,  h = tanh(1) / 2
    (h, c), _ = lstm_step_forward(one(3.0), one(-1.0), one(2.0), np.zeros((1, 4)), np.zeros((1, 4)), None)
    assert c[0, 0] == 1.0
    assert h[0, 0] == pytest.approx(0.5 * math.tanh(1.0), abs=1e-15)
    # LSTM, input gate only: a = [x, 0, 0, x] with x = 1:  c = 0.5*c_prev + s(1)*tanh(1)
    (h, c), _ = lstm_step_forward(one(1.0), one(0.0), one(0.4), np.array([[1.0, 0.0, 0.0, 1.0]]),
                                  np.zeros((1, 4)), None)
    s1 = 1 / (1 + math.exp(-1))
    assert c[0, 0] == pytest.approx(0.2 + s1 * math.tanh(1.0), abs=1e-15)
    assert h[0, 0] == pytest.approx(0.5 * math.tanh(0.2 + s1 * math.tanh(1.0)), abs=1e-15)
    # GRU: h_prev = 1, only Wh_n = 2:  r = z = 1/2,  n = tanh(0 + 0.5 * 2) = tanh(1),  h = tanh(1)/2 + 1/2
    h, _ = gru_step_forward(one(7.0), one(1.0), np.zeros((1, 3)), np.array([[0.0, 0.0, 2.0]]), None)
    assert h[0, 0] == pytest.approx(0.5 * math.tanh(1.0) + 0.5, abs=1e-15)
    assert h[0, 0] == pytest.approx(0.8807970779778823, abs=1e-15)


def _linspace_inputs(N, D, H, k):
    x = np.linspace(-0.4, 0.7, N * D).reshape(N, D)
    h = np.linspace(-0.2, 0.5, N * H).reshape(N, H)
    c = np.linspace(-0.4, 0.9, N * H).reshape(N, H)
    Wx = np.linspace(-0.9, 0.9, D * k * H).reshape(D, k * H)
    Wh = np.linspace(-0.7, 1.1, H * k * H).reshape(H, k * H)
    b = np.linspace(-0.2, 0.4, k * H)
    return x, h, c, Wx, Wh, b


# a_j = sum_d x_d Wx[d, j] + sum_m h_m Wh[m, j] + b_j, scalar by scalar, in plain Python
def _preactivations_in_python(x, h, Wx, Wh, b):
    N, D = x.shape
    H = h.shape[1]
    return [[sum(x[n, d] * Wx[d, j] for d in range(D)) + sum(h[n, m] * Wh[m, j] for m in range(H)) + b[j]
             for j in range(Wx.shape[1])] for n in range(N)]


def test_linspace_step_values_against_plain_python():
    N, D, H = 3, 4, 5
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    # RNN
    x, h, _, Wx, Wh, b = _linspace_inputs(N, D, H, 1)
    out, _ = rnn_step_forward(x, h, Wx, Wh, b)
    a = _preactivations_in_python(x, h, Wx, Wh, b)
    np.testing.assert_allclose(out, [[math.tanh(v) for v in row] for row in a], rtol=1e-14, atol=1e-15)
    # LSTM
    x, h, c, Wx, Wh, b = _linspace_inputs(N, D, H, 4)
    (h_new, c_new), _ = lstm_step_forward(x, h, c, Wx, Wh, b)
    a = _preactivations_in_python(x, h, Wx, Wh, b)
    for n in range(N):
        for j in range(H):
            i, f, o, g = sig(a[n][j]), sig(a[n][H + j]), sig(a[n][2 * H + j]), math.tanh(a[n][3 * H + j])
            c_expected = f * c[n, j] + i * g
            assert c_new[n, j] == pytest.approx(c_expected, rel=1e-14, abs=1e-15)
            assert h_new[n, j] == pytest.approx(o * math.tanh(c_expected), rel=1e-14, abs=1e-15)
    # GRU: the input and hidden halves separately, because r multiplies only the hidden part of n
    x, h, _, Wx, Wh, b = _linspace_inputs(N, D, H, 3)
    out, _ = gru_step_forward(x, h, Wx, Wh, b)
    ax = _preactivations_in_python(x, np.zeros_like(h), Wx, np.zeros_like(Wh), b)
    ah = _preactivations_in_python(np.zeros_like(x), h, np.zeros_like(Wx), Wh, np.zeros_like(b))
    for n in range(N):
        for j in range(H):
            r = sig(ax[n][j] + ah[n][j])
            z = sig(ax[n][H + j] + ah[n][H + j])
            new = math.tanh(ax[n][2 * H + j] + r * ah[n][2 * H + j])
            assert out[n, j] == pytest.approx((1 - z) * new + z * h[n, j], rel=1e-14, abs=1e-15)


# ---- BPTT: the sequence functions equal a loop over the step functions, forward and backward ----

@pytest.mark.parametrize("cell", list(SEQUENCE))
def test_sequence_equals_a_loop_of_steps_forward_and_backward(cell, rng):
    B, T, D, H = 2, 5, 3, 4
    x, h0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H))
    Wx, Wh, b = _weights(rng, D, H, N_GATES[cell])
    dhs = rng.standard_normal((B, T, H))
    hs, cache = SEQUENCE[cell][0](x, h0, Wx, Wh, b)
    grads = SEQUENCE[cell][1](dhs, cache)

    # forward by steps
    h, c, caches = h0, np.zeros_like(h0), []
    for t in range(T):
        if cell == "lstm":
            (h, c), step_cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        else:
            step = rnn_step_forward if cell == "rnn" else gru_step_forward
            h, step_cache = step(x[:, t], h, Wx, Wh, b)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-14, atol=1e-15)
        caches.append(step_cache)
    # backward by steps: dh_t = dout_t + (gradient from step t+1); weight gradients summed over t
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(h0)
    for t in reversed(range(T)):
        if cell == "lstm":
            dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(dhs[:, t] + dh_next, dc_next, caches[t])
        else:
            step_backward = rnn_step_backward if cell == "rnn" else gru_step_backward
            dx[:, t], dh_next, dWx_t, dWh_t, db_t = step_backward(dhs[:, t] + dh_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    for got, want in zip(grads, (dx, dh_next, dWx, dWh, db)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


# ---- truncated BPTT: carrying the last state reproduces the long sequence -----------------------

@pytest.mark.parametrize("cell", list(SEQUENCE))
def test_carrying_the_state_across_chunks_equals_the_whole_sequence(cell, rng):
    B, T, D, H = 3, 9, 2, 4
    x, h0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H))
    Wx, Wh, b = _weights(rng, D, H, N_GATES[cell])
    forward = SEQUENCE[cell][0]
    whole, whole_cache = forward(x, h0, Wx, Wh, b)
    pieces, h, c = [], h0, None
    for start, stop in ((0, 4), (4, 5), (5, 9)):
        if cell == "lstm":
            hs, cache = lstm_forward(x[:, start:stop], h, Wx, Wh, b, c0=c)
            c = lstm_cell_states(cache)[:, -1]
        else:
            hs, cache = forward(x[:, start:stop], h, Wx, Wh, b)
        h = hs[:, -1]
        pieces.append(hs)
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=1e-13, atol=1e-14)
    if cell == "lstm":
        np.testing.assert_allclose(c, lstm_cell_states(whole_cache)[:, -1], rtol=1e-13, atol=1e-14)


# ---- the LSTM's gates do what their names say ---------------------------------------------------

def _lstm_gate_bias(H, i=0.0, f=0.0, o=0.0, g=0.0):
    return np.concatenate([np.full(H, v) for v in (i, f, o, g)])


def test_lstm_forget_gate_keeps_or_erases_the_cell(rng):
    B, T, D, H = 2, 40, 3, 4
    x, h0, c0 = rng.standard_normal((B, T, D)), np.zeros((B, H)), rng.standard_normal((B, H))
    Wx, Wh = np.zeros((D, 4 * H)), np.zeros((H, 4 * H))
    Wx[:, 3 * H:] = rng.standard_normal((D, H))  # the candidate g depends on the input
    # forget gate open (f ~ 1), input gate shut (i ~ 0): the cell remembers c0 for 40 steps
    _, cache = lstm_forward(x, h0, Wx, Wh, _lstm_gate_bias(H, i=-30.0, f=30.0), c0=c0)
    np.testing.assert_allclose(lstm_cell_states(cache)[:, -1], c0, atol=1e-10)
    # forget gate shut (f ~ 0), input gate open (i ~ 1): the cell is only the current candidate
    _, cache = lstm_forward(x, h0, Wx, Wh, _lstm_gate_bias(H, i=30.0, f=-30.0), c0=c0)
    np.testing.assert_allclose(lstm_cell_states(cache), np.tanh(x @ Wx[:, 3 * H:]), atol=1e-10)
    # output gate shut: h = o * tanh(c) ~ 0 whatever the cell holds
    hs, _ = lstm_forward(x, h0, Wx, Wh, _lstm_gate_bias(H, o=-30.0), c0=c0)
    assert np.abs(hs).max() < 1e-12


def test_open_forget_gate_carries_the_gradient_that_a_tanh_rnn_loses(rng):
    # d c_T / d c_0 = prod_t f_t: with f ~ 1 it stays ~1 after 30 steps; a small-weight RNN's d h_T / d h_0 vanishes.
    B, T, D, H = 1, 30, 2, 3
    x = rng.standard_normal((B, T, D))
    Wx, Wh = rng.standard_normal((D, 4 * H)) * 0.1, rng.standard_normal((H, 4 * H)) * 0.1
    h, c, caches = np.zeros((B, H)), np.ones((B, H)), []
    for t in range(T):
        (h, c), step_cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, _lstm_gate_bias(H, f=20.0, i=-20.0))
        caches.append(step_cache)
    dh, dc = np.zeros((B, H)), np.ones((B, H))
    for step_cache in reversed(caches):
        _, dh, dc, *_ = lstm_step_backward(dh, dc, step_cache)
    np.testing.assert_allclose(dc, 1.0, atol=1e-6)

    Wx_r, Wh_r = rng.standard_normal((D, H)) * 0.1, rng.standard_normal((H, H)) * 0.3
    hs, cache = rnn_forward(x, np.zeros((B, H)), Wx_r, Wh_r, None)
    dhs = np.zeros_like(hs)
    dhs[:, -1] = 1.0
    _, dh0, *_ = rnn_backward(dhs, cache)
    assert np.abs(dh0).max() < 1e-8


def test_float32_in_float32_out(rng):
    B, T, D, H = 2, 3, 4, 5
    for cell, (forward, backward) in SEQUENCE.items():
        Wx, Wh, b = (a.astype(np.float32) for a in _weights(rng, D, H, N_GATES[cell]))
        x, h0 = rng.standard_normal((B, T, D)).astype(np.float32), np.zeros((B, H), np.float32)
        hs, cache = forward(x, h0, Wx, Wh, b)
        assert hs.dtype == np.float32, cell
        assert all(g.dtype == np.float32 for g in backward(np.ones_like(hs), cache)), cell


# ---- bad input is named ------------------------------------------------------------------------

def test_bad_input_is_named(rng):
    B, T, D, H = 2, 3, 4, 5
    x, h0 = rng.standard_normal((B, T, D)), np.zeros((B, H))
    Wx, Wh, b = _weights(rng, D, H, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, d_in\), got \(2, 4\)"):
        lstm_forward(x[:, 0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"x must have shape \(B, d_in\), got \(2, 3, 4\)"):
        lstm_step_forward(x, h0, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"x must have at least one time step"):
        lstm_forward(x[:, :0], h0, Wx, Wh, b)
    with pytest.raises(TypeError, match="x must be a floating-point array, got dtype int64"):
        rnn_forward(np.zeros((B, T, D), dtype=np.int64), h0, Wx[:, :H], Wh[:, :H], b[:H])
    with pytest.raises(TypeError, match="x must be a numpy.ndarray, got a list"):
        rnn_forward(x.tolist(), h0, Wx[:, :H], Wh[:, :H], b[:H])
    # an LSTM's weights handed to a GRU: Wh is (d_h, 4 d_h), the GRU wants (d_h, 3 d_h)
    with pytest.raises(ValueError, match=r"Wh must have shape \(d_h, 3 d_h\), got \(5, 20\)"):
        gru_forward(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"Wh must have shape \(d_h, d_h\), got \(5, 6\)"):
        rnn_forward(x, h0, Wx[:, :H], np.zeros((H, 6)), b[:H])
    with pytest.raises(ValueError, match=r"Wx must have shape \(d_in, 4 d_h\) \(4, 20\), got \(3, 20\)"):
        lstm_forward(x, h0, Wx[:3], Wh, b)
    with pytest.raises(ValueError, match=r"h0 must have shape \(B, d_h\) \(2, 5\), got \(3, 5\)"):
        lstm_forward(x, np.zeros((3, H)), Wx, Wh, b)
    with pytest.raises(ValueError, match=r"h_prev must have shape \(B, d_h\) \(2, 5\), got \(2, 4\)"):
        rnn_step_forward(x[:, 0], np.zeros((B, 4)), Wx[:, :H], Wh[:, :H], b[:H])
    with pytest.raises(ValueError, match=r"b must have shape \(4 d_h,\) \(20,\), got \(5,\)"):
        lstm_forward(x, h0, Wx, Wh, b[:H])
    with pytest.raises(ValueError, match=r"c_prev must have shape \(B, d_h\) \(2, 5\), got \(2, 1\)"):
        lstm_step_forward(x[:, 0], h0, np.zeros((B, 1)), Wx, Wh, b)
    with pytest.raises(ValueError, match=r"c0 must have shape \(B, d_h\) \(2, 5\), got \(5,\)"):
        lstm_forward(x, h0, Wx, Wh, b, c0=np.zeros(H))
    hs, cache = lstm_forward(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"dhs must have shape \(B, T, d_h\) \(2, 3, 5\), got \(2, 5\)"):
        lstm_backward(hs[:, -1], cache)
    _, cache = lstm_step_forward(x[:, 0], h0, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"dc must have shape \(B, d_h\) \(2, 5\), got \(2, 3, 5\)"):
        lstm_step_backward(h0, hs, cache)
