"""Positional information: the article's p_t (§4.1), the standard sinusoids, learned
position embeddings (GPT-2) and rotary embeddings (RoPE, LLaMA).

    article:     p_t = sin(t / 10000^(1/2)) + cos(t / 10000^(1/2))   (one number per t)
    sinusoidal:  PE[t, 2i] = sin(t / base^(2i/d)),  PE[t, 2i+1] = cos(t / base^(2i/d))
    learned:     out = x + P[:T]                      P a trained (T_max, C) table
    RoPE:        rotate each pair (x_2i, x_2i+1) of q and k by the angle t * theta_i,
                 theta_i = base^(-2i/d_k)  (d_k the head size)

Derived in notebooks/05_embedding_positional_encoding.ipynb: the embedding, the sinusoidal
and learned tables in its sections 2-4, the article's p_t and why it fails in section 6 (errata),
RoPE (formula, a worked example, the check that q_t . k_s depends only on t - s) in section 7.
"""
import numpy as np

from minillm.checks import check_array, check_float_array, check_int, check_number


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    return dtype


# ---------------------------------------------------------------------------
# Standard sinusoidal encoding ("Attention Is All You Need", §3.5):
#   PE[t, 2i]   = sin(t / base^(2i/d))
#   PE[t, 2i+1] = cos(t / base^(2i/d))          t = 0..T-1,  i = 0..ceil(d/2)-1
#   -> (T, d).  For odd d the last column is a sin without its cos partner.
# Each pair of columns is a clock turning at its own speed: pair i turns by
# base^(-2i/d) radians per step, from 1 radian (i = 0) down to base^(-2(ceil(d/2)-1)/d)
# for the last pair -- base^(-(d-2)/d) for even d, e.g. 10000^(-62/64) ~ 1.3e-4 for
# d = 64 (it approaches 1/base only as d grows).  Every position gets a distinct code
# and PE[t + k] is a fixed rotation of PE[t] (relative positions are linear).
# ---------------------------------------------------------------------------
# $$ PE_{t, 2i} = \sin\left(\frac{t}{\mathrm{base}^{2i/d}}\right) \qquad PE_{t, 2i+1} = \cos\left(\frac{t}{\mathrm{base}^{2i/d}}\right) $$
# $$ t = 0, \dots, T - 1, \quad i = 0, \dots, \lceil d/2 \rceil - 1 $$
def sinusoidal_positional_encoding(T, d, *, base=10000.0, dtype=np.float64):
    check_int("T", T, low=1)
    check_int("d", d, low=1)
    check_number("base", base, low=0.0, low_open=True)
    dtype = _check_dtype(dtype)
    ### BEGIN SOLUTION
    t = np.arange(T, dtype=np.float64)[:, None]                 # (T, 1)
    two_i = np.arange(0, d, 2, dtype=np.float64)                # (ceil(d/2),)  = 2i
    angle = t / base ** (two_i / d)                             # (T, ceil(d/2))
    PE = np.empty((T, d), dtype=np.float64)
    PE[:, 0::2] = np.sin(angle)
    PE[:, 1::2] = np.cos(angle[:, : d // 2])
    ### END SOLUTION
    return PE.astype(dtype)


# ---------------------------------------------------------------------------
# THE ARTICLE'S formula (§4.1), kept as written so notebooks can show why it fails;
# it is NOT the standard encoding:
#   p_t = sin(t / 10000^(1/2)) + cos(t / 10000^(1/2)) = sin(t/100) + cos(t/100)
#   -> (T, d), the same value in every one of the d dimensions.
# One scalar per position, periodic with period 200*pi ~ 628: positions t and
# t + 628 get (almost) the same code, and all dimensions carry identical copies.
# ---------------------------------------------------------------------------
# $$ p_t = \sin\left(\frac{t}{10000^{1/2}}\right) + \cos\left(\frac{t}{10000^{1/2}}\right) = \sin\left(\frac{t}{100}\right) + \cos\left(\frac{t}{100}\right) $$
# $$ \mathrm{out}[t, c] = p_t \text{ for every } c $$
def article_positional_encoding(T, d, *, dtype=np.float64):
    check_int("T", T, low=1)
    check_int("d", d, low=1)
    dtype = _check_dtype(dtype)
    t = np.arange(T, dtype=np.float64)                          # (T,)
    p = np.sin(t / 10000**0.5) + np.cos(t / 10000**0.5)          # (T,)
    return np.repeat(p[:, None], d, axis=1).astype(dtype)       # (T, d)


# ---------------------------------------------------------------------------
# Learned positional embedding (GPT-2's wpe):
#   out[b, t, :] = x[b, t, :] + P[t, :]
#   x (B, T, C) (any leading dims (..., T, C)),  P (T_max, C),  T <= T_max  ->  out (B, T, C)
# ---------------------------------------------------------------------------
# $$ \mathrm{out}[b, t, :] = x[b, t, :] + PE[t, :] \qquad t < T \le T_{\mathrm{max}} $$
def learned_positional_forward(x, P):
    check_float_array("x", x, min_ndim=2)
    check_float_array("P", P, ndim=2)
    T, C = x.shape[-2:]
    T_max = P.shape[0]
    if P.shape[1] != C:
        raise ValueError(f"P must have shape (T_max, C) with C = x.shape[-1] = {C}, got {P.shape}")
    if T > T_max:
        raise ValueError(
            f"x has T = {T} positions (shape {x.shape}), more than the block size T_max = {T_max} "
            f"that P of shape {P.shape} covers"
        )
    out = x + P[:T]                                              # (..., T, C)
    cache = (T, P.shape, P.dtype)
    return out, cache


# dx = dout                                                      (..., T, C)
# dP[:T] = dout summed over the batch dims;  dP[T:] = 0            (T_max, C)
# $$ \frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} $$
# $$ \frac{\partial \mathcal{L}}{\partial PE[t, :]} = \sum_{b} \frac{\partial \mathcal{L}}{\partial \mathrm{out}[b, t, :]} \quad (t < T) \qquad \frac{\partial \mathcal{L}}{\partial PE[t, :]} = 0 \quad (t \ge T) $$
def learned_positional_backward(dout, cache):
    T, P_shape, P_dtype = cache
    C = P_shape[1]
    # out = x + P[:T]: the sum passes dout to both terms unchanged ...
    dx = dout.copy()
    # ... and P[:T] was broadcast over the batch, so its rows collect every batch entry.
    dP = np.zeros(P_shape, dtype=P_dtype)
    dP[:T] = dout.reshape(-1, T, C).sum(axis=0)
    return dx, dP


# ---------------------------------------------------------------------------
# RoPE angles (RoFormer's interleaved pairs), for a head of size D = d_k:
#   theta_i = base^(-2i/d_k),   i = 0..d_k/2-1   (pair i turns by theta_i radians per position:
#                                                1 for i = 0 down to base^(-(d_k-2)/d_k))
#   angle[t, i] = positions[t] * theta_i          positions (T,)  ->  cos, sin (T, d_k/2)
# ---------------------------------------------------------------------------
# $$ \theta_i = \mathrm{base}^{-2i/d_k}, \quad i = 0, \dots, d_k/2 - 1 \qquad \mathrm{angle}[t, i] = \mathrm{positions}[t] \, \theta_i $$
def rope_angles(positions, D, *, base=10000.0):
    two_i = np.arange(0, D, 2, dtype=np.float64)                # (D/2,)  = 2i
    theta = base ** (-two_i / D)                                # (D/2,)
    angle = np.asarray(positions, dtype=np.float64)[:, None] * theta  # (T, D/2)
    return np.cos(angle), np.sin(angle)


# ---------------------------------------------------------------------------
# RoPE, applied to queries and keys before q k^T (RoFormer, eq. 34):
#   for each pair (x_2i, x_2i+1) at position t, with c = cos(t theta_i), s = sin(t theta_i):
#     out_2i   = x_2i c - x_2i+1 s
#     out_2i+1 = x_2i s + x_2i+1 c
#   x (B, H, T, d_k), d_k even (D in the code; any leading dims (..., T, d_k)),  positions (T,) integer,
#   default 0..T-1 (a KV cache passes its offset: positions = arange(T) + t0)  ->  out (B, H, T, d_k)
# A rotation keeps norms, and <R(t1) q, R(t2) k> depends only on t1 - t2.
# ---------------------------------------------------------------------------
# $$ \mathrm{out}_{2i} = x_{2i} \, c - x_{2i+1} \, s \qquad \mathrm{out}_{2i+1} = x_{2i} \, s + x_{2i+1} \, c $$
# $$ c = \cos(t \theta_i), \quad s = \sin(t \theta_i) $$
def rope_forward(x, *, positions=None, base=10000.0):
    check_float_array("x", x, min_ndim=2)
    T, D = x.shape[-2:]
    if D % 2 != 0:
        raise ValueError(f"x must have an even last dimension D (pairs are rotated), got shape {x.shape}")
    check_number("base", base, low=0.0, low_open=True)
    if positions is None:
        positions = np.arange(T)
    else:
        check_array("positions", positions)
        if positions.dtype.kind not in "iu":
            raise TypeError(f"positions must be an integer array, got dtype {positions.dtype}")
        if positions.shape != (T,):
            raise ValueError(f"positions must have shape (T,) = ({T},) to match x {x.shape}, got {positions.shape}")
    ### BEGIN SOLUTION
    cos, sin = rope_angles(positions, D, base=base)              # (T, D/2) each
    cos = cos.astype(x.dtype)
    sin = sin.astype(x.dtype)
    x_even = x[..., 0::2]                                        # (..., T, D/2)  x_2i
    x_odd = x[..., 1::2]                                         # (..., T, D/2)  x_2i+1
    out = np.empty_like(x)
    out[..., 0::2] = x_even * cos - x_odd * sin
    out[..., 1::2] = x_even * sin + x_odd * cos
    ### END SOLUTION
    cache = (cos, sin)
    return out, cache


# The rotation is orthogonal, so its gradient is the inverse rotation R(-t theta_i):
#   dx_2i   =  dout_2i c + dout_2i+1 s
#   dx_2i+1 = -dout_2i s + dout_2i+1 c
# $$ \frac{\partial \mathcal{L}}{\partial x_{2i}} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}_{2i}} \, c + \frac{\partial \mathcal{L}}{\partial \mathrm{out}_{2i+1}} \, s \qquad \frac{\partial \mathcal{L}}{\partial x_{2i+1}} = -\frac{\partial \mathcal{L}}{\partial \mathrm{out}_{2i}} \, s + \frac{\partial \mathcal{L}}{\partial \mathrm{out}_{2i+1}} \, c $$
def rope_backward(dout, cache):
    cos, sin = cache
    ### BEGIN SOLUTION
    dout_even = dout[..., 0::2]
    dout_odd = dout[..., 1::2]
    dx = np.empty_like(dout)
    # out_2i = x_2i c - x_2i+1 s  and  out_2i+1 = x_2i s + x_2i+1 c,  transposed:
    dx[..., 0::2] = dout_even * cos + dout_odd * sin
    dx[..., 1::2] = -dout_even * sin + dout_odd * cos
    ### END SOLUTION
    return dx
