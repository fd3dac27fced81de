"""Scaled dot-product attention and multi-head attention (the article's §2.1, §3.2, §4.1).

    A = Q K^T / sqrt(d_k)  (-inf where the mask forbids)      the logits
    P = softmax(A)                                            the weights, row by row
    Attention(Q, K, V) = P V
    MultiHead(X_q, X_kv) = Concat(head_0, ..., head_{H-1}) W_O
        head_h = Attention(X_q W_Q[:, h*d_k:(h+1)*d_k], X_kv W_K[:, h*d_k:(h+1)*d_k], X_kv W_V[:, h*d_k:(h+1)*d_k])
    (head h owns a COLUMN BLOCK of d_k = C / H columns of each projection, not one column)

Two corrections to the article, both shown in notebooks/06_self_attention.ipynb and 07_multihead_attention.ipynb:
  * Q, K and V are three *different* projections of the same input (X W_Q, X W_K,
    X W_V); the article's "Q = K = V" is vague on this (charitably: all three come
    from the same x).  And A_ij = Q_i . K_j / sqrt(d_k) are only the logits, the
    weights are P = softmax(A) along j.
  * Multi-head attention splits the *feature* dimension C into H subspaces of
    d_k = C / H.  Every head sees the whole sequence.

Self-attention is multihead_attention_forward(x, x, ...); cross-attention takes
the queries from one sequence (the decoder) and keys/values from another (the
encoder's memory).

Masks are boolean, broadcastable to (B, H, Tq, Tk), True = "may attend".
Masked logits are set to -inf; a row with nothing to attend to is guarded
explicitly and yields an output of zeros and zero gradients, never NaN.

Memory: the forward caches the attention probabilities, one (Tq, Tk) matrix per
batch row and head, i.e. B * H * Tq * Tk numbers: at a fixed width C this grows
linearly with H, while the projections' and the two products' FLOPs do not
(counted in notebooks/07_multihead_attention.ipynb).  That is the simple,
readable choice; the Numba kernel (minillm/kernels/attention.py) keeps only one
log-sum-exp per row instead and recomputes the probabilities in backward.
"""
import math

import numpy as np

from minillm.checks import (
    check_bool_mask,
    check_flag,
    check_float_array,
    check_int,
    check_int_array,
    check_shape,
)
from minillm.layers.linear import linear_backward, linear_forward
from minillm.layers.positional import rope_backward, rope_forward


# The causal mask, aligned to the END of the keys when Tq != Tk:
#   allowed[i, j] = ( j <= i + (Tk - Tq) )                       (Tq, Tk)
# Query row i sits at absolute position i + Tk - Tq.  With Tq == Tk this is the
# usual lower triangle; with a KV cache (Tq new tokens after Tk - Tq cached ones)
# the last query sees every key, exactly as in the full-sequence computation.
# $$ M_{ij} = \mathrm{true} \iff j \le i + (T_k - T_q) $$
# $$ i = 0, \dots, T_q - 1, \quad j = 0, \dots, T_k - 1 $$
def causal_mask(Tq, Tk):
    i = np.arange(Tq)[:, None]       # (Tq, 1)
    j = np.arange(Tk)[None, :]       # (1, Tk)
    return j <= i + (Tk - Tq)        # (Tq, Tk) bool


# A = Q K^T / sqrt(d_k)                   (..., Tq, Tk)   the logits (`scores` in the code)
# A_ij = -inf where the mask forbids it (mask False, or, when causal, j > i + Tk - Tq: the causal_mask above)
# P = softmax_j(A)                        (..., Tq, Tk)   the weights (`probs`); a fully masked row -> P = 0
# out = P V                               (..., Tq, d_v)
#   q (..., Tq, d_k)   k (..., Tk, d_k)   v (..., Tk, d_v)   (usually ... = (B, H); d_k is `D` in the code)
#   mask: bool, broadcastable to (..., Tq, Tk), True = may attend
# $$ A = \frac{Q K^\top}{\sqrt{d_k}} $$
# $$ A_{ij} = -\infty \quad \text{where } \mathrm{mask}_{ij} \text{ is false, or (causal) } j > i + T_k - T_q $$
# $$ P = \operatorname{softmax}_j(A) \quad (P_{i,:} = 0 \text{ for a fully masked row } i) \qquad \mathrm{out} = P V $$
def attention_forward(q, k, v, *, mask=None, causal=False):
    check_float_array("q", q, min_ndim=2)
    check_float_array("k", k, min_ndim=2)
    check_float_array("v", v, min_ndim=2)
    check_flag("causal", causal)
    *lead, Tq, D = q.shape
    Tk = k.shape[-2]
    check_shape("k", k, (*lead, None, D), what="(..., Tk, D) with q's leading axes and D")
    check_shape("v", v, (*lead, Tk, None), what="(..., T_k, d_v) with k's leading axes and T_k")
    if Tk == 0:
        raise ValueError(f"k must hold at least one key (T_k >= 1) to attend to, got shape {k.shape}")
    if D == 0:
        raise ValueError(f"q must have d_k >= 1 (the scale is 1 / sqrt(d_k)), got shape {q.shape}")
    if mask is not None:
        check_bool_mask("mask", mask, (*lead, Tq, Tk))

    ### BEGIN SOLUTION
    allowed = mask                                            # broadcastable bool, or None
    if causal:
        tri = causal_mask(Tq, Tk)                             # (Tq, Tk)
        allowed = tri if allowed is None else (allowed & tri)

    scale = 1.0 / math.sqrt(D)                                # a Python float keeps q's dtype
    scores = (q @ k.swapaxes(-1, -2)) * scale                 # (..., Tq, Tk)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    # Stable softmax: subtract the row maximum.  A fully masked row has max -inf,
    # and -inf - (-inf) would be NaN, so such rows subtract 0 instead ...
    row_max = scores.max(axis=-1, keepdims=True)              # (..., Tq, 1)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    e = np.exp(scores - row_max)                              # exp(-inf) = 0 at masked entries
    denom = e.sum(axis=-1, keepdims=True)                     # (..., Tq, 1)
    # ... and divide by 1 instead of 0, which leaves them all zeros.
    denom = np.where(denom > 0, denom, 1.0)
    probs = e / denom                                         # (..., Tq, Tk)
    out = probs @ v                                           # (..., Tq, d_v)
    ### END SOLUTION
    cache = (q, k, v, probs, scale)
    return out, cache


# out = P V            ->  dV = P^T dout,   dP = dout V^T
# P = softmax_j(A)     ->  dA_ij = P_ij (dP_ij - sum_l dP_il P_il)
# A = Q K^T * scale    ->  dQ = dA K * scale,   dK = dA^T Q * scale      (scale = 1/sqrt(d_k))
# Masked entries have P_ij = 0, so they receive dA_ij = 0: no gradient leaks
# through the mask, and a fully masked row gives zero gradients.
# $$ \frac{\partial \mathcal{L}}{\partial V} = P^\top \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \qquad \frac{\partial \mathcal{L}}{\partial P} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \, V^\top $$
# $$ \frac{\partial \mathcal{L}}{\partial A_{ij}} = P_{ij} \left( \frac{\partial \mathcal{L}}{\partial P_{ij}} - \sum_l \frac{\partial \mathcal{L}}{\partial P_{il}} P_{il} \right) $$
# $$ \frac{\partial \mathcal{L}}{\partial Q} = \frac{1}{\sqrt{d_k}} \frac{\partial \mathcal{L}}{\partial A} K \qquad \frac{\partial \mathcal{L}}{\partial K} = \frac{1}{\sqrt{d_k}} \left( \frac{\partial \mathcal{L}}{\partial A} \right)^\top Q $$
def attention_backward(dout, cache):
    q, k, v, probs, scale = cache
    ### BEGIN SOLUTION
    # out = P V
    dv = probs.swapaxes(-1, -2) @ dout                        # (..., Tk, d_v)
    dprobs = dout @ v.swapaxes(-1, -2)                        # (..., Tq, Tk)
    # P = softmax(A)
    dscores = probs * (dprobs - np.sum(dprobs * probs, axis=-1, keepdims=True))
    # A = Q K^T * scale
    dq = (dscores @ k) * scale                                # (..., Tq, D)
    dk = (dscores.swapaxes(-1, -2) @ q) * scale               # (..., Tk, D)
    ### END SOLUTION
    return dq, dk, dv


# (..., T, C) -> (..., H, T, d_k): column block h*d_k:(h+1)*d_k of C is head h.
# A transposed VIEW of x, no copy: a head's rows stay interleaved with the other heads' in
# x's (..., T, H*d_k) layout (the Numba kernel for short sequences reads them there).
# $$ x_h = x[\dots, h d_k : (h+1) d_k] \qquad h = 0, \dots, H - 1 $$
# $$ (\dots, T, C) \to (\dots, H, T, d_k) $$
def split_heads(x, n_heads):
    *lead, T, C = x.shape
    return x.reshape(*lead, T, n_heads, C // n_heads).swapaxes(-2, -3)


# (..., H, T, d_k) -> (..., T, C): the concatenation of the heads along features
# (a free reshape when x is the view split_heads made, a copy otherwise).
def merge_heads(x):
    x = x.swapaxes(-2, -3)                                    # (..., T, H, d_k)
    return x.reshape(*x.shape[:-2], -1)


# Q = X_q W_Q + b_Q        (..., Tq, C)        K = X_kv W_K + b_K   (..., Tk, C)
#                                              V = X_kv W_V + b_V   (..., Tk, C)
# split C into H heads of d_k = C / H:  Q_h = Q[..., h*d_k:(h+1)*d_k]  -> (..., H, Tq, d_k)
# rope=True: Q_h, K_h = RoPE(Q_h), RoPE(K_h)   (rotations by absolute position)
# head_h = Attention(Q_h, K_h, V_h; mask, causal)                           (..., H, Tq, d_k)
# out = Concat(head_1 .. head_H) W_O + b_O                                  (..., Tq, C)
#   x_q (B, Tq, C)   x_kv (B, Tk, C_kv)   Wq (C, C)   Wk, Wv (C_kv, C)   Wo (C, C)   biases (C,) or None
# positions (rope only): int array (Tk,) of the keys' absolute positions, default
#   arange(Tk).  The queries are the LAST Tq of them (positions[Tk - Tq:]), the
#   same end alignment as the causal mask; for a chunk starting at offset t0 of
#   a longer text pass positions = t0 + arange(Tk).
# $$ Q = X_q W_Q + b_Q \qquad K = X_{\mathrm{kv}} W_K + b_K \qquad V = X_{\mathrm{kv}} W_V + b_V $$
# $$ Q_h = Q[\dots, h d_k : (h+1) d_k] \text{ (and so } K_h, V_h\text{)}, \qquad d_k = C / H $$
# $$ \text{rope: } Q_h, K_h \leftarrow \operatorname{RoPE}(Q_h), \operatorname{RoPE}(K_h) $$
# $$ \mathrm{head}_h = \operatorname{Attention}(Q_h, K_h, V_h) $$
# $$ \mathrm{out} = \operatorname{Concat}(\mathrm{head}_0, \dots, \mathrm{head}_{H-1}) \, W_O + b_O $$
def multihead_attention_forward(x_q, x_kv, Wq, bq, Wk, bk, Wv, bv, Wo, bo, *, n_heads, mask=None,
                                causal=False, rope=False, rope_base=10000.0, positions=None):
    check_float_array("x_q", x_q, min_ndim=2)
    check_float_array("x_kv", x_kv, min_ndim=2)
    *lead, Tq, C = x_q.shape
    Tk, C_kv = x_kv.shape[-2], x_kv.shape[-1]
    check_shape("x_kv", x_kv, (*lead, None, None), what="(..., Tk, C_kv) with x_q's leading axes")
    for name, W, shape, what in (("Wq", Wq, (C, C), "(C, C)"), ("Wk", Wk, (C_kv, C), "(C_kv, C)"),
                                 ("Wv", Wv, (C_kv, C), "(C_kv, C)"), ("Wo", Wo, (C, C), "(C, C)")):
        check_float_array(name, W, ndim=2)
        check_shape(name, W, shape, what=what)
    for name, b in (("bq", bq), ("bk", bk), ("bv", bv), ("bo", bo)):
        if b is not None:
            check_float_array(name, b, ndim=1)
            check_shape(name, b, (C,), what="(C,)")
    check_int("n_heads", n_heads, low=1)
    if C % n_heads != 0:
        raise ValueError(f"n_heads must divide the width C = {C} (d_k = C / n_heads), got n_heads = {n_heads}")
    check_flag("rope", rope)
    if positions is not None and not rope:
        raise ValueError("positions is only used with rope=True, got positions with rope=False")

    ### BEGIN SOLUTION
    # Q = X_q W_Q + b_Q,  K = X_kv W_K + b_K,  V = X_kv W_V + b_V
    q, cache_q = linear_forward(x_q, Wq, bq)                  # (..., Tq, C)
    k, cache_k = linear_forward(x_kv, Wk, bk)                 # (..., Tk, C)
    v, cache_v = linear_forward(x_kv, Wv, bv)                 # (..., Tk, C)
    # split the features into heads; every head keeps the whole sequence
    q_h = split_heads(q, n_heads)                             # (..., H, Tq, d_k)
    k_h = split_heads(k, n_heads)                             # (..., H, Tk, d_k)
    v_h = split_heads(v, n_heads)                             # (..., H, Tk, d_k)
    cache_rope = None
    if rope:
        if positions is None:
            positions = np.arange(Tk)
        check_int_array("positions", positions)
        check_shape("positions", positions, (Tk,), what="(Tk,) = one absolute position per key")
        if (C // n_heads) % 2 != 0:
            raise ValueError(f"n_heads must leave an even d_k = C / n_heads for rope=True (RoPE rotates "
                             f"pairs), got d_k = {C // n_heads} from C = {C}, n_heads = {n_heads}")
        if Tq > Tk:
            raise ValueError(f"x_q must not be longer than x_kv with rope=True (queries are the last Tq "
                             f"positions of the keys), got Tq = {Tq} and Tk = {Tk}")
        q_h, cache_rope_q = rope_forward(q_h, positions=positions[Tk - Tq:], base=rope_base)
        k_h, cache_rope_k = rope_forward(k_h, positions=positions, base=rope_base)
        cache_rope = (cache_rope_q, cache_rope_k)
    heads, cache_att = attention_forward(q_h, k_h, v_h, mask=mask, causal=causal)  # (..., H, Tq, d_k)
    # out = Concat(head_1 .. head_H) W_O + b_O
    concat = merge_heads(heads)                               # (..., Tq, C)
    out, cache_o = linear_forward(concat, Wo, bo)             # (..., Tq, C)
    ### END SOLUTION
    cache = (n_heads, cache_q, cache_k, cache_v, cache_rope, cache_att, cache_o)
    return out, cache


# Backward walks the forward in reverse; x_kv feeds both K and V, so its two
# gradients are added.  Without RoPE, dbk is zero up to round-off: b_K adds
# q_i . b_K to every score of row i, and softmax ignores a constant shift (the
# parameter is kept because GPT-2 and BERT checkpoints carry it).
# Returns the gradients in the forward's argument order:
#   dx_q, dx_kv, dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo     (None for a None bias)
def multihead_attention_backward(dout, cache):
    n_heads, cache_q, cache_k, cache_v, cache_rope, cache_att, cache_o = cache
    ### BEGIN SOLUTION
    # out = Concat(heads) W_O + b_O
    dconcat, dWo, dbo = linear_backward(dout, cache_o)        # (..., Tq, C)
    dheads = split_heads(dconcat, n_heads)                    # (..., H, Tq, d_k)
    # head_h = Attention(Q_h, K_h, V_h)
    dq_h, dk_h, dv_h = attention_backward(dheads, cache_att)
    # Q_h, K_h = RoPE(Q_h), RoPE(K_h)
    if cache_rope is not None:
        cache_rope_q, cache_rope_k = cache_rope
        dq_h = rope_backward(dq_h, cache_rope_q)
        dk_h = rope_backward(dk_h, cache_rope_k)
    # split heads
    dq = merge_heads(dq_h)                                    # (..., Tq, C)
    dk = merge_heads(dk_h)                                    # (..., Tk, C)
    dv = merge_heads(dv_h)                                    # (..., Tk, C)
    # Q = X_q W_Q + b_Q,  K = X_kv W_K + b_K,  V = X_kv W_V + b_V
    dx_q, dWq, dbq = linear_backward(dq, cache_q)
    dx_kv_from_k, dWk, dbk = linear_backward(dk, cache_k)
    dx_kv_from_v, dWv, dbv = linear_backward(dv, cache_v)
    # x_kv was used twice (for K and for V): both gradient paths add up.
    dx_kv = dx_kv_from_k + dx_kv_from_v
    ### END SOLUTION
    return dx_q, dx_kv, dWq, dbq, dWk, dbk, dWv, dbv, dWo, dbo
