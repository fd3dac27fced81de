"""Recurrent layers: the RNN and LSTM of the article's §1 (and the GRU), one step and whole sequences.

A recurrent cell reads one input x_t per time step and carries a state from
step to step.  Row-vector convention, as everywhere in minillm: all gates'
pre-activations come from ONE product each with the input and the state,

    a_t = x_t Wx + h_{t-1} Wh + b          x_t (B, d_in), h (B, d_h), Wx (d_in, k d_h), Wh (d_h, k d_h), b (k d_h,)

and a_t is cut into k blocks of d_h columns, one per gate, in a fixed order:

    RNN   (k = 1)   h_t = tanh(a_t)
    LSTM  (k = 4)   gates i, f, o, g (input, forget, output, candidate) -- PyTorch stores
                    i, f, g, o (and W as (4 d_h, d_in)): load with a transpose and the
                    block permutation [0, 1, 3, 2]:
                    i = sigmoid(a_i)   f = sigmoid(a_f)   o = sigmoid(a_o)   g = tanh(a_g)
                    c_t = f * c_{t-1} + i * g
                    h_t = o * tanh(c_t)
    GRU   (k = 3)   gates r, u, n (reset, update, candidate; PyTorch and the code below call u "z"), PyTorch's formulation:
                    r = sigmoid(x Wx_r + b_r + h Wh_r)
                    u = sigmoid(x Wx_u + b_u + h Wh_u)
                    n = tanh(x Wx_n + b_n + r * (h Wh_n))
                    h_t = (1 - u) * n + u * h_{t-1}
                    The bias b sits on the input side only.  PyTorch has two biases,
                    b_ih and b_hh; for r and u they only ever appear summed, but
                    b_hn sits inside r * (h Wh_n + b_hn).  So a PyTorch GRU maps
                    onto this one exactly when b_hn = 0 (then b = b_ih + [b_hr, b_hz, 0]).

Functions (the layer contract of DESIGN.md; b may be None for no bias):

    h, cache      = rnn_step_forward(x, h_prev, Wx, Wh, b)           x (B, d_in)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh, cache)
    hs, cache     = rnn_forward(x, h0, Wx, Wh, b)                    x (B, T, d_in) -> hs (B, T, d_h)
    dx, dh0, dWx, dWh, db     = rnn_backward(dhs, cache)             dhs (B, T, d_h)

    (h, c), cache = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh, dc, cache)
    hs, cache     = lstm_forward(x, h0, Wx, Wh, b, *, c0=None)       c0 = 0 unless given
    dx, dh0, dWx, dWh, db     = lstm_backward(dhs, cache)
    cs            = lstm_cell_states(cache)                          (B, T, d_h)

    gru_step_forward / gru_step_backward / gru_forward / gru_backward: as the RNN.

Backpropagation through time (BPTT).  The sequence forward computes the input
part x_t Wx + b of every step at once (one matrix product over B*T rows: it
does not depend on the state); only h_{t-1} Wh and the gates run in the loop
over t.  The backward walks t = T-1 .. 0, adding the gradient arriving from the
output at step t to the gradient coming back from step t+1 through h_t (and
c_t); the weight gradients are sums over all steps, again taken in one product
after the loop.

Truncated BPTT: a model cuts a long text into chunks, passes the last state of
one chunk as h0 (and c0) of the next, and treats it as a constant: gradients
stop at the chunk boundary.  That is why c0 is a keyword option without a
gradient, and why sequence backwards return dh0 (for checking) but models drop it.

Derived in notebooks/03_rnn_lstm.ipynb.
"""
import numpy as np

from minillm.checks import check_float_array, check_shape
from minillm.layers.activations import sigmoid_forward, tanh_forward
from minillm.layers.linear import linear_backward, linear_forward


def _sigmoid(a):
    return sigmoid_forward(a)[0]


def _tanh(a):
    return tanh_forward(a)[0]


# ---------------------------------------------------------------------------
# Argument checks shared by every cell.  k = number of gates (RNN 1, GRU 3, LSTM 4).
#   step:     x (B, d_in),     h (B, d_h)
#   sequence: x (B, T, d_in),  h0 (B, d_h)
#   Wx (d_in, k d_h), Wh (d_h, k d_h), b (k d_h,) or None
# ---------------------------------------------------------------------------
_GATE_LABEL = {1: "d_h", 3: "3 d_h", 4: "4 d_h"}


def _check_cell_args(x, h, Wx, Wh, b, *, k, sequence, h_name):
    label = _GATE_LABEL[k]
    check_float_array("x", x)
    want_x = "(B, T, d_in)" if sequence else "(B, d_in)"
    if x.ndim != (3 if sequence else 2):
        raise ValueError(f"x must have shape {want_x}, got {x.shape}")
    if sequence and x.shape[1] < 1:
        raise ValueError(f"x must have at least one time step (T >= 1), got shape {x.shape}")
    check_float_array("Wh", Wh)
    if Wh.ndim != 2 or Wh.shape[1] != k * Wh.shape[0]:
        raise ValueError(f"Wh must have shape (d_h, {label}), got {Wh.shape}")
    H = Wh.shape[0]
    B, D = x.shape[0], x.shape[-1]
    check_float_array(h_name, h)
    check_shape(h_name, h, (B, H), what="(B, d_h)")
    check_float_array("Wx", Wx)
    check_shape("Wx", Wx, (D, k * H), what=f"(d_in, {label})")
    if b is not None:
        check_float_array("b", b)
        check_shape("b", b, (k * H,), what=f"({label},)")
    return H


def _check_dout(name, dout, shape, what):
    check_float_array(name, dout)
    check_shape(name, dout, shape, what=what)


# dWh = sum over steps and batch rows of h_{t-1}^T da_t        (d_h, k d_h)
# $$ \frac{\partial \mathcal{L}}{\partial W_h} = \sum_{t=1}^{T} \sum_{\text{batch rows } n} h_{n, t-1}^\top \frac{\partial \mathcal{L}}{\partial a_{n, t}} $$
def _recurrent_weight_grad(h_prevs, dah):
    H = h_prevs.shape[-1]
    return h_prevs.reshape(-1, H).T @ dah.reshape(-1, dah.shape[-1])


# the state each step starts from: [h0, hs[:, 0], ..., hs[:, T-2]]        (B, T, d_h)
# $$ \left[ h_0, h_1, \dots, h_{T-1} \right] \qquad \text{(step } t \text{ starts from } h_{t-1}\text{)} $$
def _previous_states(h0, hs):
    return np.concatenate([h0[:, None, :], hs[:, :-1, :]], axis=1)


# ===========================================================================
# Vanilla (Elman) RNN with tanh
#   a_t = x_t Wx + h_{t-1} Wh + b        (B, d_h)
#   h_t = tanh(a_t)                      (B, d_h)
# ===========================================================================
# $$ a_t = x_t W_x + h_{t-1} W_h + b \qquad h_t = \tanh(a_t) $$
def _rnn_cell(ax, h_prev, Wh):
    ### BEGIN SOLUTION
    # ax = x_t Wx + b has been computed already; the cell adds the recurrent part
    return _tanh(ax + h_prev @ Wh)
    ### END SOLUTION


# da = dh * (1 - h^2);   dh_prev = da Wh^T
# $$ \frac{\partial \mathcal{L}}{\partial a_t} = \frac{\partial \mathcal{L}}{\partial h_t} \odot (1 - h_t^2) \qquad \frac{\partial \mathcal{L}}{\partial h_{t-1}} = \frac{\partial \mathcal{L}}{\partial a_t} \, W_h^\top $$
def _rnn_cell_backward(dh, h, Wh):
    ### BEGIN SOLUTION
    # h = tanh(a)
    da = dh * (1 - h * h)
    # a = ax + h_prev Wh
    dh_prev = da @ Wh.T
    ### END SOLUTION
    return da, dh_prev


def rnn_step_forward(x, h_prev, Wx, Wh, b):
    _check_cell_args(x, h_prev, Wx, Wh, b, k=1, sequence=False, h_name="h_prev")
    ax, lin_cache = linear_forward(x, Wx, b)                        # (B, d_h)
    h = _rnn_cell(ax, h_prev, Wh)                                   # (B, d_h)
    cache = (lin_cache, h_prev, Wh, h)
    return h, cache


def rnn_step_backward(dh, cache):
    lin_cache, h_prev, Wh, h = cache
    _check_dout("dh", dh, h.shape, "(B, d_h)")
    da, dh_prev = _rnn_cell_backward(dh, h, Wh)
    dWh = h_prev.T @ da
    dx, dWx, db = linear_backward(da, lin_cache)
    return dx, dh_prev, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    H = _check_cell_args(x, h0, Wx, Wh, b, k=1, sequence=True, h_name="h0")
    B, T, _ = x.shape
    # the input part of every step in one product: ax_t = x_t Wx + b          (B, T, d_h)
    # $$ a^{x}_t = x_t W_x + b \qquad t = 1, \dots, T $$
    ax, lin_cache = linear_forward(x, Wx, b)
    hs = np.empty((B, T, H), dtype=np.result_type(ax, h0, Wh))
    h = h0
    for t in range(T):
        # h_t = tanh(ax_t + h_{t-1} Wh): the only part that must wait for the previous step
        # $$ h_t = \tanh\left( a^{x}_t + h_{t-1} W_h \right) $$
        h = _rnn_cell(ax[:, t], h, Wh)
        hs[:, t] = h
    cache = (lin_cache, h0, Wh, hs)
    return hs, cache


def rnn_backward(dhs, cache):
    lin_cache, h0, Wh, hs = cache
    _check_dout("dhs", dhs, hs.shape, "(B, T, d_h)")
    T = hs.shape[1]
    ### BEGIN SOLUTION
    da = np.empty_like(hs)                                          # (B, T, d_h)
    dh_next = np.zeros_like(h0)                                     # gradient reaching h_t from step t+1
    for t in reversed(range(T)):
        # h_t feeds the output at step t and the cell at step t+1: both gradients add
        dh = dhs[:, t] + dh_next
        da[:, t], dh_next = _rnn_cell_backward(dh, hs[:, t], Wh)
    dh0 = dh_next
    dWh = _recurrent_weight_grad(_previous_states(h0, hs), da)
    dx, dWx, db = linear_backward(da, lin_cache)
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# ===========================================================================
# LSTM (gates ordered i, f, o, g in the columns of Wx, Wh, b)
#   a_t = x_t Wx + h_{t-1} Wh + b                     (B, 4 d_h)
#   i = sigmoid(a[:, 0:d_h])     f = sigmoid(a[:, d_h:2 d_h])
#   o = sigmoid(a[:, 2 d_h:3 d_h])   g = tanh(a[:, 3 d_h:4 d_h])
#   c_t = f * c_{t-1} + i * g                          (B, d_h)
#   h_t = o * tanh(c_t)                                (B, d_h)
# ===========================================================================
# $$ a_t = x_t W_x + h_{t-1} W_h + b $$
# $$ i = \operatorname{sigmoid}(a_t[:, 0 : d_h]) \qquad f = \operatorname{sigmoid}(a_t[:, d_h : 2 d_h]) $$
# $$ o = \operatorname{sigmoid}(a_t[:, 2 d_h : 3 d_h]) \qquad g = \tanh(a_t[:, 3 d_h : 4 d_h]) $$
# $$ c_t = f \odot c_{t-1} + i \odot g \qquad h_t = o \odot \tanh(c_t) $$
def _lstm_cell(ax, h_prev, c_prev, Wh):
    ### BEGIN SOLUTION
    H = h_prev.shape[-1]
    a = ax + h_prev @ Wh                                            # (B, 4 d_h)
    # i, f, o: one sigmoid over the first 3 d_h columns, then cut into three (B, d_h) blocks
    i, f, o = np.split(_sigmoid(a[:, :3 * H]), 3, axis=1)
    g = _tanh(a[:, 3 * H:])
    c = f * c_prev + i * g
    tanh_c = _tanh(c)
    h = o * tanh_c
    return h, c, (i, f, o, g, tanh_c)
    ### END SOLUTION


# do = dh * tanh(c)
# dc_total = dc + dh * o * (1 - tanh(c)^2)
# di = dc_total * g,  df = dc_total * c_prev,  dg = dc_total * i,  dc_prev = dc_total * f
# da = [di i(1-i), df f(1-f), do o(1-o), dg (1-g^2)];   dh_prev = da Wh^T
# $$ \frac{\partial \mathcal{L}}{\partial o} = \frac{\partial \mathcal{L}}{\partial h_t} \odot \tanh(c_t) $$
# $$ \frac{\partial \mathcal{L}}{\partial c_t} = \mathrm{dc} + \frac{\partial \mathcal{L}}{\partial h_t} \odot o \odot \left(1 - \tanh(c_t)^2\right) \qquad (\mathrm{dc} \text{ from step } t + 1) $$
# $$ \frac{\partial \mathcal{L}}{\partial i} = \frac{\partial \mathcal{L}}{\partial c_t} \odot g \qquad \frac{\partial \mathcal{L}}{\partial f} = \frac{\partial \mathcal{L}}{\partial c_t} \odot c_{t-1} $$
# $$ \frac{\partial \mathcal{L}}{\partial g} = \frac{\partial \mathcal{L}}{\partial c_t} \odot i \qquad \frac{\partial \mathcal{L}}{\partial c_{t-1}} = \frac{\partial \mathcal{L}}{\partial c_t} \odot f $$
# $$ \frac{\partial \mathcal{L}}{\partial a_t[:, 0 : d_h]} = \frac{\partial \mathcal{L}}{\partial i} \odot i (1 - i) $$
# $$ \frac{\partial \mathcal{L}}{\partial a_t[:, d_h : 2 d_h]} = \frac{\partial \mathcal{L}}{\partial f} \odot f (1 - f) $$
# $$ \frac{\partial \mathcal{L}}{\partial a_t[:, 2 d_h : 3 d_h]} = \frac{\partial \mathcal{L}}{\partial o} \odot o (1 - o) $$
# $$ \frac{\partial \mathcal{L}}{\partial a_t[:, 3 d_h : 4 d_h]} = \frac{\partial \mathcal{L}}{\partial g} \odot (1 - g^2) $$
# $$ \frac{\partial \mathcal{L}}{\partial h_{t-1}} = \frac{\partial \mathcal{L}}{\partial a_t} \, W_h^\top $$
def _lstm_cell_backward(dh, dc, c_prev, gates, Wh):
    ### BEGIN SOLUTION
    i, f, o, g, tanh_c = gates
    # h = o * tanh(c)
    do = dh * tanh_c
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    # c = f * c_prev + i * g
    di = dc * g
    dg = dc * i
    df = dc * c_prev
    dc_prev = dc * f
    # i, f, o = sigmoid(.), g = tanh(.)
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g * g)], axis=-1)
    # a = ax + h_prev Wh
    dh_prev = da @ Wh.T
    ### END SOLUTION
    return da, dh_prev, dc_prev


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    H = _check_cell_args(x, h_prev, Wx, Wh, b, k=4, sequence=False, h_name="h_prev")
    check_float_array("c_prev", c_prev)
    check_shape("c_prev", c_prev, (x.shape[0], H), what="(B, d_h)")
    ax, lin_cache = linear_forward(x, Wx, b)                        # (B, 4 d_h)
    h, c, gates = _lstm_cell(ax, h_prev, c_prev, Wh)
    cache = (lin_cache, h_prev, c_prev, Wh, gates)
    return (h, c), cache


# dc may be None: the cell state is not used after this step (only h is), dc = 0.
def lstm_step_backward(dh, dc, cache):
    lin_cache, h_prev, c_prev, Wh, gates = cache
    _check_dout("dh", dh, c_prev.shape, "(B, d_h)")
    if dc is None:
        dc = np.zeros_like(dh)
    _check_dout("dc", dc, c_prev.shape, "(B, d_h)")
    da, dh_prev, dc_prev = _lstm_cell_backward(dh, dc, c_prev, gates, Wh)
    dWh = h_prev.T @ da
    dx, dWx, db = linear_backward(da, lin_cache)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def check_lstm_args(x, h0, Wx, Wh, b, c0):
    """The argument checks of lstm_forward (shared with its Numba twin); -> d_h and c0 (zeros when None)."""
    H = _check_cell_args(x, h0, Wx, Wh, b, k=4, sequence=True, h_name="h0")
    if c0 is None:
        c0 = np.zeros_like(h0)
    check_float_array("c0", c0)
    check_shape("c0", c0, (x.shape[0], H), what="(B, d_h)")
    return H, c0


# c0: the cell state carried from the previous chunk in truncated BPTT (default 0).
# It is a constant for this chunk: no gradient is returned for it.
def lstm_forward(x, h0, Wx, Wh, b, *, c0=None):
    H, c0 = check_lstm_args(x, h0, Wx, Wh, b, c0)
    B, T, _ = x.shape
    ax, lin_cache = linear_forward(x, Wx, b)                        # (B, T, 4 d_h), all steps at once
    dtype = np.result_type(ax, h0, Wh)
    hs = np.empty((B, T, H), dtype=dtype)
    cs = np.empty((B, T, H), dtype=dtype)
    gates = []
    h, c = h0, c0
    for t in range(T):
        h, c, gates_t = _lstm_cell(ax[:, t], h, c, Wh)
        hs[:, t], cs[:, t] = h, c
        gates.append(gates_t)
    cache = (lin_cache, h0, c0, Wh, hs, cs, gates)
    return hs, cache


def lstm_backward(dhs, cache):
    lin_cache, h0, c0, Wh, hs, cs, gates = cache
    _check_dout("dhs", dhs, hs.shape, "(B, T, d_h)")
    B, T, H = hs.shape
    ### BEGIN SOLUTION
    da = np.empty((B, T, 4 * H), dtype=hs.dtype)
    dh_next = np.zeros_like(h0)
    dc_next = np.zeros_like(h0)
    c_prevs = _previous_states(c0, cs)
    for t in reversed(range(T)):
        # h_t goes to the output at t and to step t+1; c_t only to step t+1
        dh = dhs[:, t] + dh_next
        da[:, t], dh_next, dc_next = _lstm_cell_backward(dh, dc_next, c_prevs[:, t], gates[t], Wh)
    dh0 = dh_next
    dWh = _recurrent_weight_grad(_previous_states(h0, hs), da)
    dx, dWx, db = linear_backward(da, lin_cache)
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


def lstm_cell_states(cache):
    """The cell states c_1..c_T of an lstm_forward call, (B, T, d_h) (a model carries c_T to the next chunk)."""
    return cache[5]


# ===========================================================================
# GRU (gates ordered r, z, n; bias on the input side only, i.e. b_hn = 0)
#   ax = x_t Wx + b,   ah = h_{t-1} Wh                 (B, 3 d_h) each
#   r = sigmoid(ax_r + ah_r)      z = sigmoid(ax_z + ah_z)
#   n = tanh(ax_n + r * ah_n)
#   h_t = (1 - z) * n + z * h_{t-1}                    (B, d_h)
# ===========================================================================
# $$ a^{x} = x_t W_x + b \qquad a^{h} = h_{t-1} W_h $$
# $$ r = \operatorname{sigmoid}(a^{x}_r + a^{h}_r) \qquad u = \operatorname{sigmoid}(a^{x}_u + a^{h}_u) $$
# $$ n = \tanh(a^{x}_n + r \odot a^{h}_n) $$
# $$ h_t = (1 - u) \odot n + u \odot h_{t-1} $$
def _gru_cell(ax, h_prev, Wh):
    ### BEGIN SOLUTION
    H = h_prev.shape[-1]
    ah = h_prev @ Wh                                                # (B, 3 d_h)
    # r, z: one sigmoid over the first 2 d_h columns, then cut into two (B, d_h) blocks
    r, z = np.split(_sigmoid(ax[:, :2 * H] + ah[:, :2 * H]), 2, axis=1)
    ah_n = ah[:, 2 * H:]
    n = _tanh(ax[:, 2 * H:] + r * ah_n)
    h = (1 - z) * n + z * h_prev
    return h, (r, z, n, ah_n)
    ### END SOLUTION


# dn = dh (1 - z),  dz = dh (h_prev - n),  dh_prev (direct) = dh z
# da_n = dn (1 - n^2),  dr = da_n * ah_n
# dax = [dr r(1-r), dz z(1-z), da_n]        dah = [dr r(1-r), dz z(1-z), da_n * r]
# dh_prev = dh z + dah Wh^T
# $$ \frac{\partial \mathcal{L}}{\partial n} = \frac{\partial \mathcal{L}}{\partial h_t} \odot (1 - u) \qquad \frac{\partial \mathcal{L}}{\partial u} = \frac{\partial \mathcal{L}}{\partial h_t} \odot (h_{t-1} - n) $$
# $$ \frac{\partial \mathcal{L}}{\partial a_n} = \frac{\partial \mathcal{L}}{\partial n} \odot (1 - n^2) \qquad \frac{\partial \mathcal{L}}{\partial r} = \frac{\partial \mathcal{L}}{\partial a_n} \odot a^{h}_n $$
# $$ \frac{\partial \mathcal{L}}{\partial a^{x}_r} = \frac{\partial \mathcal{L}}{\partial a^{h}_r} = \frac{\partial \mathcal{L}}{\partial r} \odot r (1 - r) \qquad \frac{\partial \mathcal{L}}{\partial a^{x}_u} = \frac{\partial \mathcal{L}}{\partial a^{h}_u} = \frac{\partial \mathcal{L}}{\partial u} \odot u (1 - u) $$
# $$ \frac{\partial \mathcal{L}}{\partial a^{x}_n} = \frac{\partial \mathcal{L}}{\partial a_n} \qquad \frac{\partial \mathcal{L}}{\partial a^{h}_n} = \frac{\partial \mathcal{L}}{\partial a_n} \odot r $$
# $$ \frac{\partial \mathcal{L}}{\partial h_{t-1}} = \frac{\partial \mathcal{L}}{\partial h_t} \odot u + \frac{\partial \mathcal{L}}{\partial a^{h}} \, W_h^\top $$
def _gru_cell_backward(dh, h_prev, parts, Wh):
    ### BEGIN SOLUTION
    r, z, n, ah_n = parts
    # h = (1 - z) * n + z * h_prev
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    dh_prev = dh * z
    # n = tanh(ax_n + r * ah_n)
    da_n = dn * (1 - n * n)
    dr = da_n * ah_n
    # r, z = sigmoid(ax + ah)
    da_r = dr * r * (1 - r)
    da_z = dz * z * (1 - z)
    dax = np.concatenate([da_r, da_z, da_n], axis=-1)
    dah = np.concatenate([da_r, da_z, da_n * r], axis=-1)
    # ah = h_prev Wh: the second path from h_prev to h
    dh_prev = dh_prev + dah @ Wh.T
    ### END SOLUTION
    return dax, dah, dh_prev


def gru_step_forward(x, h_prev, Wx, Wh, b):
    _check_cell_args(x, h_prev, Wx, Wh, b, k=3, sequence=False, h_name="h_prev")
    ax, lin_cache = linear_forward(x, Wx, b)                        # (B, 3 d_h)
    h, parts = _gru_cell(ax, h_prev, Wh)
    cache = (lin_cache, h_prev, Wh, parts)
    return h, cache


def gru_step_backward(dh, cache):
    lin_cache, h_prev, Wh, parts = cache
    _check_dout("dh", dh, h_prev.shape, "(B, d_h)")
    dax, dah, dh_prev = _gru_cell_backward(dh, h_prev, parts, Wh)
    dWh = h_prev.T @ dah
    dx, dWx, db = linear_backward(dax, lin_cache)
    return dx, dh_prev, dWx, dWh, db


def gru_forward(x, h0, Wx, Wh, b):
    H = _check_cell_args(x, h0, Wx, Wh, b, k=3, sequence=True, h_name="h0")
    B, T, _ = x.shape
    ax, lin_cache = linear_forward(x, Wx, b)                        # (B, T, 3 d_h), all steps at once
    hs = np.empty((B, T, H), dtype=np.result_type(ax, h0, Wh))
    parts = []
    h = h0
    for t in range(T):
        h, parts_t = _gru_cell(ax[:, t], h, Wh)
        hs[:, t] = h
        parts.append(parts_t)
    cache = (lin_cache, h0, Wh, hs, parts)
    return hs, cache


def gru_backward(dhs, cache):
    lin_cache, h0, Wh, hs, parts = cache
    _check_dout("dhs", dhs, hs.shape, "(B, T, d_h)")
    B, T, H = hs.shape
    ### BEGIN SOLUTION
    dax = np.empty((B, T, 3 * H), dtype=hs.dtype)
    dah = np.empty((B, T, 3 * H), dtype=hs.dtype)
    h_prevs = _previous_states(h0, hs)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        dh = dhs[:, t] + dh_next
        dax[:, t], dah[:, t], dh_next = _gru_cell_backward(dh, h_prevs[:, t], parts[t], Wh)
    dh0 = dh_next
    dWh = _recurrent_weight_grad(h_prevs, dah)
    dx, dWx, db = linear_backward(dax, lin_cache)
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db
