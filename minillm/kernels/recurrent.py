"""The recurrent layers in Numba: RNN, LSTM and GRU sequences with the contract of minillm.layers.recurrent.

    hs, cache             = rnn_forward(x, h0, Wx, Wh, b)           x (B, T, d_in) -> hs (B, T, d_h)
    dx, dh0, dWx, dWh, db = rnn_backward(dhs, cache)
    hs, cache             = lstm_forward(x, h0, Wx, Wh, b, *, c0=None)
    dx, dh0, dWx, dWh, db = lstm_backward(dhs, cache)
    cs                    = lstm_cell_states(cache)                 (B, T, d_h)
    hs, cache             = gru_forward(x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = gru_backward(dhs, cache)

Same formulas, gate order (LSTM i, f, o, g; GRU r, z, n), caches' meaning and
gradients as the NumPy layers; tests/test_kernels_recurrent.py holds them equal.
Letters: B batch, T steps, D = d_in, H = d_h, k gates (RNN 1, GRU 3, LSTM 4).

What runs where.  The products that do not wait for the previous step are one
BLAS call each, over all B*T rows; the loop over t (h_t needs h_{t-1}) runs
inside ONE jitted call per direction:

    forward   x Wx                          np.matmul, before the loop
              for t = 0 .. T-1:             (jitted, the batch in tiles of MR = 8 rows)
                  ah = h_{t-1} Wh             a register-tile product against Wh packed once
                  gates, c_t, h_t             the row's a = (x_t Wx + b) + ah, its nonlinearities
                                              and the state update (the bias added here saves
                                              a pass over the (B*T, k H) product)
    backward  for t = T-1 .. 0:             (jitted, the same tiles)
                  da_t, dc_{t-1}              the row's gate derivatives
                  dh_{t-1} = da_t Wh^T        a register-tile product against Wh^T packed once
              dWh = h_prevs^T da            np.matmul over all steps, after the loop
              dx, dWx, db                   np.matmul / a sum, after it too

Rows of the batch never meet: row n's h_t depends only on row n's h_{t-1}.  So
each tile of MR rows runs all T steps on its own, the tiles are the work items
of minillm's thread pool (kernels/threads.py: B = 32 is 4 tiles, 2 per core),
and no thread waits for another between steps.  In a data-parallel shard
(runtime/parallel.py) the pool has one thread and the shard's tiles run in turn.

Why not np.matmul per step (the first version did that): OpenBLAS is built for
big matrices; it packs both operands at every call (Wh is 1 MB) for 17 MFLOP of
work when M = B = 32, and Python pays a round trip per step.  The register tile of
the matmul lesson (kernels/_attention_tiles.py's 8 x 32 `_tile`) against Wh
packed ONCE into panels of 32 columns: one thread, (16, 256) x (256, 1024),
145 GFLOP/s against OpenBLAS's 74 (32 rows: 143 vs 104); (16, 1024) x (1024,
256), the backward's shape: 168 vs 75.

Measured (python -m minillm.bench.recurrent: an LSTM character LM, V 65, C 64,
H 256, B 32, T 64, float32; one Trainer.step = forward, backward, clip, AdamW;
2 cores, medians, the two quietest runs of a shared machine): backend "numpy"
69-73 ms, "numba" 26-27 ms (2 data-parallel shards; 28-31 ms unsharded),
torch 2.13 eager nn.LSTM on 2 threads 23-27 ms in the same process.  The first
version, np.matmul per step, took 37-41 ms.

Inside a step, each batch row is one pass over its k H numbers (in L1), made of
short loops that write ONE array each: LLVM vectorises a loop with one output,
not one that writes five arrays it cannot prove apart (the LSTM's c, tanh c, h
update on (32, 256): 87 us as one loop, 16 us as four).

Nonlinearities without libm.  PyPI's llvmlite ships no vector math library, so
Numba's math.exp / math.tanh are scalar calls, several times slower per element
than NumPy's SIMD loops (kernels/exp.py, kernels/elementwise.py).  So:

    sigmoid   the NumPy layer's own stable form, z = exp(-|a|), sigmoid = 1/(1+z) (a >= 0) or z/(1+z),
              with exp from kernels/exp.py (vectorised; ~1 ulp float32, a few ulp float64)
    tanh      float32: the rational tanh of kernels/elementwise.py (|error| <= 3.6e-7, odd, exact +-1
              beyond +-9); float64: math.tanh (libm, ~1 ulp) -- float64 is the checking dtype

No fastmath; every element-wise expression is the NumPy layer's, in the same
order and dtype.  The products add in another order than OpenBLAS (fused
multiply-adds along K): float64 results agree with the layer to ~1e-16 relative.

Caches (a tuple whose first entry names the kernel, so the backward can tell them
from the NumPy layer's: a forward that falls back to the NumPy layer -- mixed or
exotic dtypes -- returns the layer's cache, and the backward hands it to the layer):

    rnn   ("rnn",  x, Wx, has_b, h0, Wh, hs)
    lstm  ("lstm", x, Wx, has_b, h0, c0, Wh, hs, cs, gates, tanh_cs)     gates (B, T, 4H): i, f, o, g
    gru   ("gru",  x, Wx, has_b, h0, Wh, hs, gates, ah_n)                gates (B, T, 3H): r, z, n

The LSTM keeps tanh(c_t) (B*T*H numbers) rather than recomputing it in the
backward, and the GRU keeps ah_n = (h_{t-1} Wh)_n, as the NumPy layers do.
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from minillm.kernels._attention_tiles import MR_ATT, NC, _round_up, _tile
from minillm.kernels.elementwise import _tanh_float32
from minillm.kernels.exp import _exp_rows
from minillm.kernels.threads import claim, in_parallel
from minillm.layers import recurrent as layers_recurrent
from minillm.layers.recurrent import _check_cell_args, _check_dout

MR = MR_ATT  # batch rows per tile (and per work item): the register tile's rows


# ---------------------------------------------------------------------------
# Scalar helpers (Numba only)
# ---------------------------------------------------------------------------
def _tanh(u):
    """tanh of one float32 or float64 number (Numba only)."""
    raise NotImplementedError("_tanh is compiled by Numba; call it from @njit code")


@overload(_tanh, jit_options={"cache": True})
def _tanh_numba(u):
    if u == types.float32:
        return lambda u: _tanh_float32(u)
    return lambda u: math.tanh(u)


# e = exp(-|a|) for the n_cols entries of a_row, written into e[0, :n_cols]   (the sigmoid's z)
# $$ z_j = \exp(-|a_j|) $$
@njit(cache=True, inline="always")
def _exp_minus_abs(a_row, e, n_cols, shift, scratch):
    for j in range(n_cols):
        e[0, j] = -abs(a_row[j])
    _exp_rows(e, shift, 1, n_cols, scratch)


# sigmoid(a) = 1 / (1 + z) for a >= 0,  z / (1 + z) for a < 0,  z = exp(-|a|)   (minillm.layers.activations)
# $$ \operatorname{sigmoid}(a) = \begin{cases} \frac{1}{1 + z} & a \ge 0 \\ \frac{z}{1 + z} & a < 0 \end{cases}, \qquad z = \exp(-|a|) $$
@njit(cache=True, inline="always")
def _sigmoid(a, z, one):
    return one / (one + z) if a >= 0 else z / (one + z)


# ---------------------------------------------------------------------------
# The recurrent product of a tile of rows:  out = A op(W)
# ---------------------------------------------------------------------------
# panels[q, p, j] = op(W)[p, q NC + j]   (0 past op(W)'s last column)        (N_pad / NC, K, NC)
# op(W) = W (the forward's Wh) or W^T (the backward's Wh^T, read transposed while packing)
# $$ \mathrm{panels}_{q, p, j} = \operatorname{op}(W)_{p,\ q N_C + j}, \qquad \operatorname{op}(W) \in \{W, W^\top\} $$
@njit(cache=True, nogil=True)
def _pack_panels(W, transpose, panels):
    n_panels, K, _ = panels.shape
    N = W.shape[0] if transpose else W.shape[1]
    for q in range(n_panels):
        for p in range(K):
            for j in range(NC):
                col = q * NC + j
                if col >= N:
                    panels[q, p, j] = 0.0
                elif transpose:
                    panels[q, p, j] = W[col, p]
                else:
                    panels[q, p, j] = W[p, col]


def _panels(W, transpose):
    """op(W) (K, N) packed for _tile_product: (ceil(N / NC), K, NC), zero-padded columns."""
    K, N = (W.shape[1], W.shape[0]) if transpose else W.shape
    panels = np.empty((_round_up(N, NC) // NC, K, NC), W.dtype)
    _pack_panels(np.ascontiguousarray(W), transpose, panels)
    return panels


# out = A op(W)   A (MR, K) one tile of rows, op(W) (K, N) as panels  ->  out (MR, N_pad)
# $$ \mathrm{out} = A \operatorname{op}(W) $$
@njit(cache=True)
def _tile_product(A, panels, out):
    out[:] = 0.0
    for q in range(panels.shape[0]):
        _tile(panels.shape[1], A, 0, False, panels[q], 0, 0, out, 0, q * NC)


# tile[i] = the state rows n0 + i start step t from: first[n0 + i] (t = 0) or states[n0 + i, t - 1]
# $$ \mathrm{tile}_i = h_{t-1}[n_0 + i] \qquad (h_{-1} = \text{first}) $$
@njit(cache=True)
def _load_previous(tile, first, states, n0, rows, t):
    for i in range(rows):
        src = first[n0 + i] if t == 0 else states[n0 + i, t - 1]
        for j in range(src.size):
            tile[i, j] = src[j]


@njit(cache=True)
def _copy_row(dst, src):
    for j in range(src.size):
        dst[j] = src[j]


# ---------------------------------------------------------------------------
# The input side, in NumPy (one BLAS product over all B*T rows each)
# ---------------------------------------------------------------------------
def _uniform_dtype(*arrays):
    """The common dtype when every array is float32, or every one float64; else None (use the NumPy layer)."""
    dtypes = {a.dtype for a in arrays if a is not None}
    dtype = dtypes.pop() if len(dtypes) == 1 else None
    return dtype if dtype in (np.float32, np.float64) else None


# xW = x Wx for all B*T rows at once (the bias is added in the loop's row pass)   (B, T, k H)
# $$ x W_x $$
def _input_part(x, Wx):
    B, T, D = x.shape
    xW = np.ascontiguousarray(x).reshape(B * T, D) @ Wx                        # (B*T, k H), one BLAS call
    return xW.reshape(B, T, Wx.shape[1])


def _bias(b, size, dtype):
    """b, or zeros when there is none ((x Wx + 0) + ah is exactly x Wx + ah)."""
    return np.zeros(size, dtype) if b is None else np.ascontiguousarray(b)


# dx = da Wx^T,  dWx = x_rows^T da_rows,  db = sum over rows of da           the input side, after the loop
# $$ dx = da\, W_x^\top, \qquad dW_x = x_\mathrm{rows}^\top\, da_\mathrm{rows}, \qquad db = \sum_\mathrm{rows} da $$
def _input_part_backward(da, x, Wx, has_b):
    B, T, D = x.shape
    da_rows = da.reshape(B * T, Wx.shape[1])                                  # (B*T, k H)
    dx = (da_rows @ Wx.T).reshape(B, T, D)
    dWx = np.ascontiguousarray(x).reshape(B * T, D).T @ da_rows
    db = da_rows.sum(axis=0) if has_b else None
    return dx, dWx, db


# dWh = h_prevs^T da over all B*T rows: ONE product after the loop           (H, k H)
# $$ dW_h = \sum_t h_{t-1}^\top\, da^{h}_t $$
def _recurrent_weight_grad(h0, hs, dah):
    B, T, H = hs.shape
    h_prevs = np.concatenate([h0[:, None, :], hs[:, :-1, :]], axis=1)       # (B, T, H): [h0, h_1 .. h_{T-1}]
    return h_prevs.reshape(B * T, H).T @ dah.reshape(B * T, dah.shape[-1])


# ===========================================================================
# RNN:   h_t = tanh(ax_t + h_{t-1} Wh)
# ===========================================================================
# one row:  h_t = tanh(ax_t + ah),  ax_t = x_t Wx + b,  ah = h_{t-1} Wh       (H,)
# $$ h_t = \tanh\left( (x_t W_x + b) + h_{t-1} W_h \right) $$
@njit(cache=True, error_model="numpy")
def _rnn_row(xW_t, b, ah, h):
    for j in range(h.size):
        h[j] = _tanh((xW_t[j] + b[j]) + ah[j])


# one row:  da_t = (dhs_t + dh_next) (1 - h_t^2),   dh_next = da_{t+1} Wh^T    (H,)
# $$ \frac{\partial \mathcal{L}}{\partial a_t} = \left( \frac{\partial \mathcal{L}}{\partial h_t} + \mathrm{dh}_\text{next} \right) \odot (1 - h_t^2) $$
@njit(cache=True, error_model="numpy")
def _rnn_row_backward(dhs_t, dh_next, h, da_t, one):
    for j in range(h.size):
        da_t[j] = (dhs_t[j] + dh_next[j]) * (one - h[j] * h[j])


# for each tile of MR rows (a work item), t = 0 .. T-1:  ah = h_{t-1} Wh,  h_t = tanh(ax_t + ah)
@njit(cache=True, nogil=True, error_model="numpy")
def _rnn_forward_tiles(work, xW, b, Wh_panels, h0, hs):
    B, T, H = hs.shape
    h_prev = np.empty((MR, H), hs.dtype)                                      # the tile's h_{t-1}
    ah = np.empty((MR, Wh_panels.shape[0] * NC), hs.dtype)                    # h_{t-1} Wh (padded columns)
    item = claim(work)
    while item * MR < B:
        n0, rows = item * MR, min(MR, B - item * MR)
        h_prev[:] = 0.0                                                       # rows past B stay 0
        for t in range(T):
            _load_previous(h_prev, h0, hs, n0, rows, t)
            _tile_product(h_prev, Wh_panels, ah)
            for i in range(rows):
                _rnn_row(xW[n0 + i, t], b, ah[i], hs[n0 + i, t])
        item = claim(work)


# for each tile, t = T-1 .. 0:  da_t (rows),  dh_next = da_t Wh^T;   then dh0 = dh_next
@njit(cache=True, nogil=True, error_model="numpy")
def _rnn_backward_tiles(work, dhs, WhT_panels, hs, da, dh0, one):
    B, T, H = hs.shape
    da_tile = np.empty((MR, H), hs.dtype)                                     # this step's da rows
    dh_next = np.empty((MR, WhT_panels.shape[0] * NC), hs.dtype)             # da_{t+1} Wh^T (padded)
    item = claim(work)
    while item * MR < B:
        n0, rows = item * MR, min(MR, B - item * MR)
        da_tile[:] = 0.0
        dh_next[:] = 0.0                                                      # nothing comes from step T
        for t in range(T - 1, -1, -1):
            for i in range(rows):
                _rnn_row_backward(dhs[n0 + i, t], dh_next[i], hs[n0 + i, t], da[n0 + i, t], one)
                _copy_row(da_tile[i], da[n0 + i, t])
            # a_t = ax_t + h_{t-1} Wh
            _tile_product(da_tile, WhT_panels, dh_next)
        for i in range(rows):
            _copy_row(dh0[n0 + i], dh_next[i, :H])
        item = claim(work)


def rnn_forward(x, h0, Wx, Wh, b):
    H = _check_cell_args(x, h0, Wx, Wh, b, k=1, sequence=True, h_name="h0")
    dtype = _uniform_dtype(x, h0, Wx, Wh, b)
    if dtype is None:
        return layers_recurrent.rnn_forward(x, h0, Wx, Wh, b)
    B, T, _ = x.shape
    h0 = np.ascontiguousarray(h0)
    xW = _input_part(x, Wx)                                                   # (B, T, H), all steps at once
    hs = np.empty((B, T, H), dtype)
    in_parallel(_rnn_forward_tiles, xW, _bias(b, H, dtype), _panels(Wh, False), h0, hs)
    cache = ("rnn", x, Wx, b is not None, h0, Wh, hs)
    return hs, cache


def rnn_backward(dhs, cache):
    if cache[0] != "rnn":
        return layers_recurrent.rnn_backward(dhs, cache)
    _, x, Wx, has_b, h0, Wh, hs = cache
    _check_dout("dhs", dhs, hs.shape, "(B, T, d_h)")
    dhs = np.ascontiguousarray(dhs, dtype=hs.dtype)
    da = np.empty_like(hs)                                                    # (B, T, H)
    dh0 = np.empty_like(h0)
    in_parallel(_rnn_backward_tiles, dhs, _panels(Wh, True), hs, da, dh0, hs.dtype.type(1))
    dWh = _recurrent_weight_grad(h0, hs, da)
    dx, dWx, db = _input_part_backward(da, x, Wx, has_b)
    return dx, dh0, dWx, dWh, db


# ===========================================================================
# LSTM (gates i, f, o, g in the columns of Wx, Wh, b)
# ===========================================================================
# one row:  a = ax_t + ah,  ax_t = x_t Wx + b,  ah = h_{t-1} Wh               (4H,)
# i, f, o = sigmoid(a[:3H]) (in blocks of H),  g = tanh(a[3H:])
# c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)                                  (H,)
# $$ a = (x_t W_x + b) + h_{t-1} W_h, \qquad (i, f, o) = \operatorname{sigmoid}(a_{0:3 d_h}), \qquad g = \tanh(a_{3 d_h:4 d_h}) $$
# $$ c_t = f \odot c_{t-1} + i \odot g \qquad h_t = o \odot \tanh(c_t) $$
@njit(cache=True, error_model="numpy")
def _lstm_row(xW_t, b, ah, c_prev, gate, c, tanh_c, h, e, shift, scratch, one):
    H = h.size
    # a = (x_t Wx + b) + h_{t-1} Wh  (into the gates' row, which the nonlinearities then overwrite)
    for j in range(4 * H):
        gate[j] = (xW_t[j] + b[j]) + ah[j]
    # i, f, o = sigmoid(a[:3H]):  z = exp(-|a|), then the stable form
    _exp_minus_abs(gate, e, 3 * H, shift, scratch)
    for j in range(3 * H):
        gate[j] = _sigmoid(gate[j], e[0, j], one)
    # g = tanh(a[3H:])
    for j in range(H):
        gate[3 * H + j] = _tanh(gate[3 * H + j])
    # c_t = f c_{t-1} + i g
    for j in range(H):
        c[j] = gate[H + j] * c_prev[j] + gate[j] * gate[3 * H + j]
    # h_t = o tanh(c_t)
    for j in range(H):
        tanh_c[j] = _tanh(c[j])
    for j in range(H):
        h[j] = gate[2 * H + j] * tanh_c[j]


# one row:  dh = dhs_t + dh_next  (dh_next = da_{t+1} Wh^T);   do = dh tanh(c_t)
# dc_t = dc + dh o (1 - tanh(c_t)^2)   (dc from step t+1);   di = dc_t g,  df = dc_t c_{t-1},  dg = dc_t i
# dc_{t-1} = dc_t f  (written over dc);   da_t = [di i(1-i), df f(1-f), do o(1-o), dg (1-g^2)]   (4H,)
# $$ \mathrm{dh} = \frac{\partial \mathcal{L}}{\partial h_t} + \mathrm{dh}_\text{next}, \qquad \mathrm{do} = \mathrm{dh} \odot \tanh(c_t) $$
# $$ \mathrm{dc}_t = \mathrm{dc} + \mathrm{dh} \odot o \odot \left(1 - \tanh(c_t)^2\right), \qquad \mathrm{di} = \mathrm{dc}_t \odot g, \quad \mathrm{df} = \mathrm{dc}_t \odot c_{t-1}, \quad \mathrm{dg} = \mathrm{dc}_t \odot i $$
# $$ \mathrm{dc}_{t-1} = \mathrm{dc}_t \odot f, \qquad da_t = \left[ \mathrm{di} \odot i (1 - i),\ \mathrm{df} \odot f (1 - f),\ \mathrm{do} \odot o (1 - o),\ \mathrm{dg} \odot (1 - g^2) \right] $$
@njit(cache=True, error_model="numpy")
def _lstm_row_backward(dhs_t, dh_next, dc, c_prev, gate, tanh_c, da_t, dh, dct, one):
    H = dc.size
    # h_t goes to the output at t and to step t+1
    for j in range(H):
        dh[j] = dhs_t[j] + dh_next[j]
    # h = o * tanh(c):  dc_t = dc + dh o (1 - tanh(c)^2)
    for j in range(H):
        dct[j] = dc[j] + dh[j] * gate[2 * H + j] * (one - tanh_c[j] * tanh_c[j])
    # o = sigmoid(.):  da_o = do o (1 - o),  do = dh tanh(c)
    for j in range(H):
        o = gate[2 * H + j]
        da_t[2 * H + j] = dh[j] * tanh_c[j] * o * (one - o)
    # c = f * c_prev + i * g, then i, f = sigmoid(.), g = tanh(.):  di = dc_t g,  df = dc_t c_prev,  dg = dc_t i
    for j in range(H):
        i = gate[j]
        da_t[j] = dct[j] * gate[3 * H + j] * i * (one - i)
    for j in range(H):
        f = gate[H + j]
        da_t[H + j] = dct[j] * c_prev[j] * f * (one - f)
    for j in range(H):
        g = gate[3 * H + j]
        da_t[3 * H + j] = dct[j] * gate[j] * (one - g * g)
    # dc_{t-1} = dc_t f
    for j in range(H):
        dc[j] = dct[j] * gate[H + j]


# for each tile of MR rows, t = 0 .. T-1:  ah = h_{t-1} Wh,  then each row's gates, c_t, h_t
@njit(cache=True, nogil=True, error_model="numpy")
def _lstm_forward_tiles(work, xW, b, Wh_panels, h0, c0, gates, cs, tanh_cs, hs, one):
    B, T, H = hs.shape
    h_prev = np.empty((MR, H), hs.dtype)                                      # the tile's h_{t-1}
    ah = np.empty((MR, Wh_panels.shape[0] * NC), hs.dtype)                    # h_{t-1} Wh (padded columns)
    e, shift, scratch = np.empty((1, 3 * H), hs.dtype), np.zeros(1, hs.dtype), np.empty(3 * H, hs.dtype)
    item = claim(work)
    while item * MR < B:
        n0, rows = item * MR, min(MR, B - item * MR)
        h_prev[:] = 0.0                                                       # rows past B stay 0
        for t in range(T):
            _load_previous(h_prev, h0, hs, n0, rows, t)
            _tile_product(h_prev, Wh_panels, ah)
            for i in range(rows):
                n = n0 + i
                c_prev = c0[n] if t == 0 else cs[n, t - 1]
                _lstm_row(xW[n, t], b, ah[i], c_prev, gates[n, t], cs[n, t], tanh_cs[n, t], hs[n, t],
                          e, shift, scratch, one)
        item = claim(work)


# for each tile, t = T-1 .. 0:  da_t and dc_{t-1} (rows),  dh_next = da_t Wh^T;   then dh0 = dh_next
@njit(cache=True, nogil=True, error_model="numpy")
def _lstm_backward_tiles(work, dhs, WhT_panels, c0, cs, gates, tanh_cs, da, dh0, one):
    B, T, H = cs.shape
    da_tile = np.empty((MR, 4 * H), cs.dtype)                                 # this step's da rows
    dh_next = np.empty((MR, WhT_panels.shape[0] * NC), cs.dtype)             # da_{t+1} Wh^T (padded)
    dc = np.empty((MR, H), cs.dtype)                                          # dc_t from step t+1, then dc_{t-1}
    dh, dct = np.empty(H, cs.dtype), np.empty(H, cs.dtype)
    item = claim(work)
    while item * MR < B:
        n0, rows = item * MR, min(MR, B - item * MR)
        da_tile[:] = 0.0
        dh_next[:] = 0.0                                                      # nothing comes from step T
        dc[:] = 0.0
        for t in range(T - 1, -1, -1):
            for i in range(rows):
                n = n0 + i
                c_prev = c0[n] if t == 0 else cs[n, t - 1]
                _lstm_row_backward(dhs[n, t], dh_next[i], dc[i], c_prev, gates[n, t], tanh_cs[n, t], da[n, t],
                                   dh, dct, one)
                _copy_row(da_tile[i], da[n, t])
            # a_t = ax_t + h_{t-1} Wh
            _tile_product(da_tile, WhT_panels, dh_next)
        for i in range(rows):
            _copy_row(dh0[n0 + i], dh_next[i, :H])
        item = claim(work)


# c0: the cell state carried from the previous chunk (default 0), a constant: no gradient.
def lstm_forward(x, h0, Wx, Wh, b, *, c0=None):
    H, c0 = layers_recurrent.check_lstm_args(x, h0, Wx, Wh, b, c0)
    B, T, _ = x.shape
    dtype = _uniform_dtype(x, h0, c0, Wx, Wh, b)
    if dtype is None:
        return layers_recurrent.lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    h0, c0 = np.ascontiguousarray(h0), np.ascontiguousarray(c0)
    xW = _input_part(x, Wx)                                                   # (B, T, 4H), all steps at once
    hs, cs, tanh_cs = (np.empty((B, T, H), dtype) for _ in range(3))
    gates = np.empty((B, T, 4 * H), dtype)                                    # i, f, o, g
    in_parallel(_lstm_forward_tiles, xW, _bias(b, 4 * H, dtype), _panels(Wh, False), h0, c0, gates, cs, tanh_cs,
                hs, dtype.type(1))
    cache = ("lstm", x, Wx, b is not None, h0, c0, Wh, hs, cs, gates, tanh_cs)
    return hs, cache


def lstm_backward(dhs, cache):
    if cache[0] != "lstm":
        return layers_recurrent.lstm_backward(dhs, cache)
    _, x, Wx, has_b, h0, c0, Wh, hs, cs, gates, tanh_cs = cache
    _check_dout("dhs", dhs, hs.shape, "(B, T, d_h)")
    dhs = np.ascontiguousarray(dhs, dtype=hs.dtype)
    da = np.empty_like(gates)                                                 # (B, T, 4H)
    dh0 = np.empty_like(h0)
    in_parallel(_lstm_backward_tiles, dhs, _panels(Wh, True), c0, cs, gates, tanh_cs, da, dh0, hs.dtype.type(1))
    dWh = _recurrent_weight_grad(h0, hs, da)
    dx, dWx, db = _input_part_backward(da, x, Wx, has_b)
    return dx, dh0, dWx, dWh, db


def lstm_cell_states(cache):
    """The cell states c_1..c_T of an lstm_forward call, (B, T, d_h) (a model carries c_T to the next chunk)."""
    return cache[8] if cache[0] == "lstm" else layers_recurrent.lstm_cell_states(cache)


# ===========================================================================
# GRU (gates r, z, n; bias on the input side only)
# ===========================================================================
# one row:  ax = x_t Wx + b,  ah = h_{t-1} Wh;   r = sigmoid(ax_r + ah_r),  z = sigmoid(ax_z + ah_z)
# n = tanh(ax_n + r ah_n),   h_t = (1 - z) n + z h_{t-1}                      (H,)
# $$ r = \operatorname{sigmoid}(a^{x}_r + a^{h}_r), \qquad u = \operatorname{sigmoid}(a^{x}_u + a^{h}_u) $$
# $$ n = \tanh(a^{x}_n + r \odot a^{h}_n), \qquad h_t = (1 - u) \odot n + u \odot h_{t-1} $$
@njit(cache=True, error_model="numpy")
def _gru_row(xW_t, b, ah, h_prev, gate, ahn, h, e, shift, scratch, one):
    H = h.size
    # r, z = sigmoid(ax[:2H] + ah[:2H]):  z = exp(-|a|), then the stable form
    for j in range(2 * H):
        gate[j] = (xW_t[j] + b[j]) + ah[j]
    _exp_minus_abs(gate, e, 2 * H, shift, scratch)
    for j in range(2 * H):
        gate[j] = _sigmoid(gate[j], e[0, j], one)
    # n = tanh(ax_n + r ah_n)   (ah_n kept for the backward)
    for j in range(H):
        ahn[j] = ah[2 * H + j]
    for j in range(H):
        gate[2 * H + j] = _tanh((xW_t[2 * H + j] + b[2 * H + j]) + gate[j] * ahn[j])
    # h_t = (1 - z) n + z h_{t-1}
    for j in range(H):
        h[j] = (one - gate[H + j]) * gate[2 * H + j] + gate[H + j] * h_prev[j]


# one row:  dh = dhs_t + (carry + dh_mm),  carry = (dh z)_{t+1} (the direct path), dh_mm = dah_{t+1} Wh^T
# dn = dh (1 - z),  dz = dh (h_prev - n),  carry = dh z   (the direct path to h_{t-1})
# da_n = dn (1 - n^2),  dr = da_n ah_n
# dax = [dr r(1-r), dz z(1-z), da_n],   dah = [dr r(1-r), dz z(1-z), da_n r]                   (3H,)
# $$ \mathrm{dh} = \frac{\partial \mathcal{L}}{\partial h_t} + \mathrm{dh}_\text{next}, \qquad \mathrm{dn} = \mathrm{dh} \odot (1 - u), \qquad \mathrm{du} = \mathrm{dh} \odot (h_{t-1} - n) $$
# $$ \mathrm{da}_n = \mathrm{dn} \odot (1 - n^2), \qquad \mathrm{dr} = \mathrm{da}_n \odot a^{h}_n $$
# $$ da^{x} = \left[ \mathrm{dr} \odot r (1 - r),\ \mathrm{du} \odot u (1 - u),\ \mathrm{da}_n \right], \qquad da^{h} = \left[ \mathrm{dr} \odot r (1 - r),\ \mathrm{du} \odot u (1 - u),\ \mathrm{da}_n \odot r \right] $$
# $$ \frac{\partial \mathcal{L}}{\partial h_{t-1}} = \mathrm{dh} \odot u + da^{h} W_h^\top $$
@njit(cache=True, error_model="numpy")
def _gru_row_backward(dhs_t, carry, dh_mm, h_prev, gate, ahn, dax_t, dah_t, dh, one):
    H = carry.size
    # h_t goes to the output at t and to step t+1 (directly, and through ah = h_t Wh)
    for j in range(H):
        dh[j] = dhs_t[j] + (carry[j] + dh_mm[j])
    # h = (1 - z) n + z h_prev:  the direct path to h_{t-1} carries dh z
    for j in range(H):
        carry[j] = dh[j] * gate[H + j]
    # n = tanh(ax_n + r ah_n):  da_n = dn (1 - n^2),  dn = dh (1 - z);   dah_n = da_n r
    for j in range(H):
        nn = gate[2 * H + j]
        dax_t[2 * H + j] = dh[j] * (one - gate[H + j]) * (one - nn * nn)
    for j in range(H):
        dah_t[2 * H + j] = dax_t[2 * H + j] * gate[j]
    # z = sigmoid(.):  da_z = dz z (1 - z),  dz = dh (h_prev - n)
    for j in range(H):
        z = gate[H + j]
        dax_t[H + j] = dh[j] * (h_prev[j] - gate[2 * H + j]) * z * (one - z)
    # r = sigmoid(.):  da_r = dr r (1 - r),  dr = da_n ah_n
    for j in range(H):
        r = gate[j]
        dax_t[j] = dax_t[2 * H + j] * ahn[j] * r * (one - r)
    # ax and ah are added inside the sigmoids: the same r and z gradients for both
    for j in range(2 * H):
        dah_t[j] = dax_t[j]


# for each tile of MR rows, t = 0 .. T-1:  ah = h_{t-1} Wh,  then each row's r, z, n, h_t
@njit(cache=True, nogil=True, error_model="numpy")
def _gru_forward_tiles(work, xW, b, Wh_panels, h0, gates, ah_n, hs, one):
    B, T, H = hs.shape
    h_prev = np.empty((MR, H), hs.dtype)                                      # the tile's h_{t-1}
    ah = np.empty((MR, Wh_panels.shape[0] * NC), hs.dtype)                    # h_{t-1} Wh (padded columns)
    e, shift, scratch = np.empty((1, 2 * H), hs.dtype), np.zeros(1, hs.dtype), np.empty(2 * H, hs.dtype)
    item = claim(work)
    while item * MR < B:
        n0, rows = item * MR, min(MR, B - item * MR)
        h_prev[:] = 0.0                                                       # rows past B stay 0
        for t in range(T):
            _load_previous(h_prev, h0, hs, n0, rows, t)
            _tile_product(h_prev, Wh_panels, ah)
            for i in range(rows):
                n = n0 + i
                _gru_row(xW[n, t], b, ah[i], h_prev[i], gates[n, t], ah_n[n, t], hs[n, t], e, shift, scratch, one)
        item = claim(work)


# for each tile, t = T-1 .. 0:  dax_t, dah_t (rows),  dh_mm = dah_t Wh^T;   then dh0 = carry + dh_mm
@njit(cache=True, nogil=True, error_model="numpy")
def _gru_backward_tiles(work, dhs, WhT_panels, h0, hs, gates, ah_n, dax, dah, dh0, one):
    B, T, H = hs.shape
    dah_tile = np.empty((MR, 3 * H), hs.dtype)                                # this step's dah rows
    dh_mm = np.empty((MR, WhT_panels.shape[0] * NC), hs.dtype)               # dah_{t+1} Wh^T (padded)
    carry = np.empty((MR, H), hs.dtype)                                       # dh_{t+1} z_{t+1}: the direct path
    dh = np.empty(H, hs.dtype)
    item = claim(work)
    while item * MR < B:
        n0, rows = item * MR, min(MR, B - item * MR)
        dah_tile[:] = 0.0
        dh_mm[:] = 0.0                                                        # nothing comes from step T
        carry[:] = 0.0
        for t in range(T - 1, -1, -1):
            for i in range(rows):
                n = n0 + i
                h_prev = h0[n] if t == 0 else hs[n, t - 1]
                _gru_row_backward(dhs[n, t], carry[i], dh_mm[i], h_prev, gates[n, t], ah_n[n, t], dax[n, t],
                                  dah[n, t], dh, one)
                _copy_row(dah_tile[i], dah[n, t])
            # ah = h_prev Wh: the second path from h_prev to h
            _tile_product(dah_tile, WhT_panels, dh_mm)
        for i in range(rows):
            for j in range(H):
                dh0[n0 + i, j] = carry[i, j] + dh_mm[i, j]
        item = claim(work)


def gru_forward(x, h0, Wx, Wh, b):
    H = _check_cell_args(x, h0, Wx, Wh, b, k=3, sequence=True, h_name="h0")
    dtype = _uniform_dtype(x, h0, Wx, Wh, b)
    if dtype is None:
        return layers_recurrent.gru_forward(x, h0, Wx, Wh, b)
    B, T, _ = x.shape
    h0 = np.ascontiguousarray(h0)
    xW = _input_part(x, Wx)                                                   # (B, T, 3H), all steps at once
    hs, ah_n = np.empty((B, T, H), dtype), np.empty((B, T, H), dtype)
    gates = np.empty((B, T, 3 * H), dtype)                                    # r, z, n
    in_parallel(_gru_forward_tiles, xW, _bias(b, 3 * H, dtype), _panels(Wh, False), h0, gates, ah_n, hs,
                dtype.type(1))
    cache = ("gru", x, Wx, b is not None, h0, Wh, hs, gates, ah_n)
    return hs, cache


def gru_backward(dhs, cache):
    if cache[0] != "gru":
        return layers_recurrent.gru_backward(dhs, cache)
    _, x, Wx, has_b, h0, Wh, hs, gates, ah_n = cache
    _check_dout("dhs", dhs, hs.shape, "(B, T, d_h)")
    dhs = np.ascontiguousarray(dhs, dtype=hs.dtype)
    dax, dah = np.empty_like(gates), np.empty_like(gates)                     # (B, T, 3H) each
    dh0 = np.empty_like(h0)
    in_parallel(_gru_backward_tiles, dhs, _panels(Wh, True), h0, hs, gates, ah_n, dax, dah, dh0, hs.dtype.type(1))
    dWh = _recurrent_weight_grad(h0, hs, dah)
    dx, dWx, db = _input_part_backward(dax, x, Wx, has_b)
    return dx, dh0, dWx, dWh, db
