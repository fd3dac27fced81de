"""Fast twins of the GPT's non-attention layers: products in BLAS, element-wise work fused.

Same contract as minillm.layers (DESIGN.md): identical signatures, the same
(out, cache) and gradient returns, float32 and float64.  What changes is only
how the work is done:

  linear            x (..., d_in) is viewed as one (N, d_in) matrix, so each
                    product is ONE np.matmul on 2-D arrays.  np.matmul on a
                    (B, T, C) array runs one small BLAS call per batch entry:
                    for (12, 64, 128) @ (128, 512) that measured 0.50 ms
                    against 0.27 ms for the same numbers as (768, 128).
  feedforward       the same 2-D products, with bias + GELU fused between them
                    (minillm.kernels.elementwise): for float32 one element-wise
                    pass forward and one backward, instead of ~22 NumPy passes.
                    Both GELUs: the tanh form (GPT-2) and the exact erf form
                    (BERT's, whose NumPy erf series was half of a BERT step).
  cross_entropy     after np.exp, one jitted pass per row gives the row's
                    log-likelihood and its gradient probs - onehot; backward
                    only scales the saved gradient.
  embedding         the scatter-add dE[ids[p]] += dout[p] as a plain loop
                    (0.02 ms) instead of np.add.at (0.6 ms on the GPT recipe).

Why BLAS for the products: np.matmul (OpenBLAS) beats the Numba matmul of
minillm.kernels.matmul on every GPT shape, and Numba's own np.dot needs SciPy.

Layers and options these kernels do not cover (activations other than the
two GELUs) fall back to minillm.layers, whose cache the backward recognises.
"""
import math

import numpy as np
from numba import njit

from minillm import layers
from minillm.checks import check_choice, check_float_array, check_shape
from minillm.kernels.elementwise import (
    bias_gelu_erf_forward, bias_gelu_forward, gelu_backward_inplace, gelu_erf_backward_inplace,
)
from minillm.kernels.exp import _exp_rows
from minillm.kernels.norm import _sum


def _rows(a, d):
    """a (..., d) as an (N, d) matrix: a view when a is contiguous, else one copy."""
    return a.reshape(-1, d)


# ---------------------------------------------------------------------------
# Linear
#   out = x W + b          x (..., d_in)  W (d_in, d_out)  b (d_out,) or None  ->  out (..., d_out)
# ---------------------------------------------------------------------------
# $$ \mathrm{out} = x W + b $$
def linear_forward(x, W, b=None):
    layers.linear.check_linear_args(x, W, b)
    out = _rows(x, W.shape[0]) @ W                               # (N, d_out), one BLAS call
    if b is not None and b.dtype == out.dtype:
        out += b                                                 # in place: out is the product's fresh array
    elif b is not None:
        out = out + b                                            # mixed dtypes: NumPy's promotion, as the layer
    cache = (x, W, b is not None)
    return out.reshape(*x.shape[:-1], W.shape[1]), cache


# dx = dout W^T       dW = x_rows^T dout_rows       db = sum over rows of dout
# $$ dx = d\mathrm{out}\, W^\top, \qquad dW = x_\mathrm{rows}^\top\, d\mathrm{out}_\mathrm{rows}, \qquad db = \sum_\mathrm{rows} d\mathrm{out} $$
def linear_backward(dout, cache):
    x, W, has_bias = cache
    d_in, d_out = W.shape
    dout_rows = _rows(dout, d_out)                               # (N, d_out)
    # out = x W + b: the gradient flows back through the product ...
    # $$ \mathrm{out} = x W + b $$
    dx = (dout_rows @ W.T).reshape(*x.shape[:-1], d_in)
    # ... and every row of x met the same W: one (d_in, N) x (N, d_out) product adds them up
    dW = _rows(x, d_in).T @ dout_rows
    db = dout_rows.sum(axis=0) if has_bias else None
    return dx, dW, db


# ---------------------------------------------------------------------------
# Feed-forward with a GELU, the tanh form (GPT-2, "gelu") or the exact one (BERT, "gelu_erf"):
#   a = x W_1 + b_1,   z = gelu(a),   out = z W_2 + b_2
# The cache has the NumPy layer's layout, so either backward accepts it.
# ---------------------------------------------------------------------------
# GELU variant (the NumPy layer's `approximate`) -> (bias + GELU forward, backward in place)
GELU_KERNELS = {"tanh": (bias_gelu_forward, gelu_backward_inplace),
                "none": (bias_gelu_erf_forward, gelu_erf_backward_inplace)}
# the feed-forward activations that are a GELU -> its variant, read from the layer's own table
FUSED_GELUS = {name: options["approximate"] for name, (forward, _, options) in layers.feedforward.ACTIVATIONS.items()
               if forward is layers.gelu_forward}


# $$ a = x W_1 + b_1, \qquad z = \operatorname{GELU}(a), \qquad \mathrm{out} = z W_2 + b_2 $$
def feedforward_forward(x, W1, b1, W2, b2, *, activation="gelu"):
    check_choice("activation", activation, layers.feedforward.ACTIVATIONS.keys())
    if activation not in FUSED_GELUS or x.dtype not in (np.float32, np.float64):
        return layers.feedforward_forward(x, W1, b1, W2, b2, activation=activation)
    check_float_array("x", x, min_ndim=1)
    check_float_array("W1", W1, ndim=2)
    check_float_array("W2", W2, ndim=2)
    d_ff = W1.shape[1]
    check_shape("W1", W1, (x.shape[-1], None), what="(C, d_ff) with C = x.shape[-1]")
    check_shape("W2", W2, (d_ff, None), what="(d_ff, C_out) with d_ff = W1.shape[1]")
    for name, b, size, what in (("b1", b1, d_ff, "(d_ff,)"), ("b2", b2, W2.shape[1], "(C_out,)")):
        if b is not None:
            check_float_array(name, b, ndim=1)
            check_shape(name, b, (size,), what=what)
    if len({a.dtype for a in (x, W1, W2, b1, b2) if a is not None}) > 1:
        return layers.feedforward_forward(x, W1, b1, W2, b2, activation=activation)  # mixed dtypes: NumPy's rules
    lead = x.shape[:-1]
    approximate = FUSED_GELUS[activation]
    bias_gelu, _ = GELU_KERNELS[approximate]
    a = _rows(x, W1.shape[0]) @ W1                               # (N, d_ff)
    z, t = bias_gelu(a, b1)                                      # a += b1;  z = gelu(a), t = tanh(u) or Phi(a)
    out = z @ W2                                                 # (N, C_out)
    if b2 is not None:
        out += b2
    cache = (activation,
             (x, W1, b1 is not None),
             (a.reshape(*lead, d_ff), approximate, t.reshape(*lead, d_ff)),
             (z.reshape(*lead, d_ff), W2, b2 is not None))
    return out.reshape(*lead, W2.shape[1]), cache


# Reverse order: out = z W_2 + b_2,  z = gelu(a),  a = x W_1 + b_1.   Returns dx, dW1, db1, dW2, db2.
# $$ \mathrm{out} = z W_2 + b_2, \qquad z = \operatorname{GELU}(a), \qquad a = x W_1 + b_1 $$
def feedforward_backward(dout, cache):
    if cache[0] not in FUSED_GELUS or cache[2][0].dtype != dout.dtype:
        return layers.feedforward_backward(dout, cache)
    activation, (x, W1, has_b1), (a, approximate, t), (z, W2, has_b2) = cache
    d_ff = W1.shape[1]
    dout_rows = _rows(dout, W2.shape[1])                         # (N, C_out)
    # out = z W_2 + b_2
    # $$ \mathrm{out} = z W_2 + b_2 $$
    dz = dout_rows @ W2.T                                        # (N, d_ff)
    dW2 = _rows(z, d_ff).T @ dout_rows
    db2 = dout_rows.sum(axis=0) if has_b2 else None
    # z = gelu(a)            (dz becomes da, in place)
    # $$ z = \operatorname{GELU}(a) $$
    da = GELU_KERNELS[approximate][1](dz, _rows(a, d_ff), _rows(t, d_ff))
    # a = x W_1 + b_1
    # $$ a = x W_1 + b_1 $$
    db1 = da.sum(axis=0) if has_b1 else None
    dW1 = _rows(x, W1.shape[0]).T @ da
    dx = (da @ W1.T).reshape(x.shape)
    return dx, dW1, db1, dW2, db2


# ---------------------------------------------------------------------------
# GELU on its own (BERT's MLM head: t = LN(GELU(x W_d + b_d))), with the NumPy layer's
# signature and cache (x, approximate, t or Phi):
#   "tanh":  out = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
#   "none":  out = x Phi(x)
# ---------------------------------------------------------------------------
# $$ \text{tanh:} \ \mathrm{out} = \tfrac{1}{2} x (1 + \tanh(u)), \quad u = \sqrt{2/\pi}\,(x + 0.044715\, x^3) \qquad \text{none:} \ \mathrm{out} = x\, \Phi(x) $$
def gelu_forward(x, *, approximate="tanh"):
    check_float_array("x", x)
    check_choice("approximate", approximate, GELU_KERNELS.keys())
    if x.dtype not in (np.float32, np.float64) or x.ndim == 0 or x.size == 0:
        return layers.gelu_forward(x, approximate=approximate)
    bias_gelu, _ = GELU_KERNELS[approximate]
    a = np.array(x, order="C").reshape(-1, x.shape[-1])         # a copy: bias_gelu works in place
    out, saved = bias_gelu(a, None)
    return out.reshape(x.shape), (x, approximate, saved.reshape(x.shape))


# dx = dout * gelu'(x)
# $$ dx = d\mathrm{out} \odot \operatorname{GELU}'(x) $$
def gelu_backward(dout, cache):
    x, approximate, saved = cache
    if saved.dtype != dout.dtype or saved.shape != x.shape or x.ndim == 0 or x.size == 0 or \
            x.dtype not in (np.float32, np.float64):
        return layers.gelu_backward(dout, cache)
    _, backward = GELU_KERNELS[approximate]
    F = x.shape[-1]
    dx = backward(np.array(dout, order="C").reshape(-1, F), np.ascontiguousarray(x).reshape(-1, F),
                  np.ascontiguousarray(saved).reshape(-1, F))
    return dx.reshape(x.shape)


# ---------------------------------------------------------------------------
# Cross-entropy over the last axis, mean over targets != ignore_index, with its
# gradient computed in the same sweep (llm.c's fused softmax + NLL), row n:
#   m_n    = max_v logits_nv
#   e_nv   = exp(logits_nv - m_n)                         (kernels/exp.py, vectorised)
#   s_n    = sum_v e_nv
#   logp_n = logits_{n,t_n} - (m_n + log s_n)             (valid rows)
#   g_nv   = e_nv (1/s_n) - [v == t_n]                    (valid rows; 0 for ignored ones)
#   loss   = -(1/N_valid) sum_{valid n} logp_n,     dlogits = dloss / N_valid * g
# m_n is NumPy's row max (SIMD, and NaN-propagating); each valid row is then
# copied, exponentiated, summed and normalised while it is in cache, with no
# (N, V) temporaries: 0.9 ms instead of 2.9 ms for the demo's vocabulary of 976
# (np.exp(logits - m) alone allocated and wrote two such arrays per step).
# The sum s_n (kernels/norm.py's float64 _sum) is the one reassociated (fastmath) line:
# vector-wide partial sums instead of a serial chain of V additions; it changes s_n by
# ~1e-16 relative.
# ---------------------------------------------------------------------------
# $$ m_n = \max_v z_{nv}, \qquad e_{nv} = \exp(z_{nv} - m_n), \qquad s_n = \sum_v e_{nv} $$
# $$ \log p_n = z_{n y_n} - (m_n + \log s_n), \qquad g_{nv} = \frac{e_{nv}}{s_n} - \mathbb{1}[v = y_n] \quad (\text{valid rows; } 0 \text{ for ignored ones}) $$
# $$ \mathcal{L} = -\frac{1}{N_\text{valid}} \sum_{\text{valid } n} \log p_n, \qquad dz = \frac{\mathrm{dloss}}{N_\text{valid}}\, g $$
@njit(cache=True, nogil=True, error_model="numpy")
def _softmax_xent(logits, m, targets, valid, logp, g):
    N, V = logits.shape
    shift = np.empty(1, dtype=logits.dtype)
    scratch = np.empty(V, dtype=logits.dtype)
    for n in range(N):
        if not valid[n]:
            logp[n] = 0
            for v in range(V):
                g[n, v] = 0
            continue
        for v in range(V):
            g[n, v] = logits[n, v]
        shift[0] = m[n]
        _exp_rows(g[n:n + 1], shift, 1, V, scratch)             # e_nv = exp(logits_nv - m_n)
        s = _sum(g[n])                                           # float64 sum of the exps
        logp[n] = logits[n, targets[n]] - (m[n] + math.log(s))
        shift[0] = 1.0 / s                                       # 1/s_n in the logits' dtype
        inv_s = shift[0]
        for v in range(V):
            g[n, v] *= inv_s
        g[n, targets[n]] -= 1


def cross_entropy_forward(logits, targets, *, ignore_index=layers.softmax.IGNORE_INDEX):
    t, valid = layers.softmax.check_cross_entropy_args(logits, targets, ignore_index)
    if logits.dtype not in (np.float32, np.float64):
        return layers.cross_entropy_forward(logits, targets, ignore_index=ignore_index)
    V = logits.shape[-1]
    logits_rows = np.ascontiguousarray(logits).reshape(-1, V)   # (N, V)
    logp = np.empty(t.size, dtype=logits.dtype)                  # (N,)
    m = logits_rows.max(axis=1) if V else np.zeros(t.size, logits.dtype)   # (N,)
    g = np.empty_like(logits_rows)                               # (N, V): e, then probs - onehot
    _softmax_xent(logits_rows, m, t, valid, logp, g)
    n_valid = int(valid.sum())
    loss = -logp[valid].sum() / n_valid if n_valid > 0 else 0.0
    cache = (g, n_valid, logits.shape)
    return logits.dtype.type(loss), cache


# dlogits = dloss * (probs - onehot) / N_valid       (0 for ignored rows)
# $$ dz = \mathrm{dloss} \cdot \frac{\hat{p} - \operatorname{onehot}(y)}{N_\text{valid}} \quad (0 \text{ for ignored rows}) $$
def cross_entropy_backward(dloss, cache):
    g, n_valid, shape = cache
    if n_valid == 0:
        return np.zeros(shape, dtype=g.dtype)
    return (g * g.dtype.type(dloss / n_valid)).reshape(shape)


# ---------------------------------------------------------------------------
# Embedding backward (the forward stays NumPy's E[ids]; its cache is used as is):
#   dE[v, :] = sum over positions p with ids[p] == v of dout[p, :]        (V, C)
# One loop in position order, so repeated ids add up exactly as np.add.at adds them.
# ---------------------------------------------------------------------------
# $$ dE_{v,:} = \sum_{p:\ \mathrm{ids}_p = v} d\mathrm{out}_{p,:} $$
@njit(cache=True, nogil=True)
def _scatter_add_rows(ids, dout, dE):
    for p in range(ids.size):
        row = ids[p]
        for c in range(dout.shape[1]):
            dE[row, c] += dout[p, c]


def embedding_backward(dout, cache):
    ids, E_shape, E_dtype = cache
    V, C = E_shape
    dE = np.zeros(E_shape, dtype=E_dtype)
    if dE.dtype not in (np.float32, np.float64) or dout.dtype != dE.dtype:
        return layers.embedding_backward(dout, cache)
    _scatter_add_rows(ids.reshape(-1).astype(np.int64, copy=False), np.ascontiguousarray(dout).reshape(-1, C), dE)
    return dE
