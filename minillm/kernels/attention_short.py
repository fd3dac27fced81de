"""Attention when all keys fit in one block (Tk <= 64): one whole head at a time, read in place.

Same contract and the same arithmetic as the flash kernel (kernels/attention.py,
whose block helpers this module calls), for the case the GPT recipe lives in:
(B, H, T, D) = (12, 4, 64, 32).  With a single key block there is no online
softmax to run, and what cost the time was around the arithmetic: the
split_heads views copied into contiguous (B*H, T, D) arrays, K and V transposed
and padded, and merge_heads copying the results back: about a dozen copies of
a (B, H, T, D) array per layer.  Here

  * q, k, v (and dout) are read through their strides, one head at a time,
    into small zero-padded scratch blocks (8 KiB each) that stay in L1;
  * out, dq, dk, dv are written into (X, T, Y, C) arrays and returned as
    (X, Y, T, C) views, so merge_heads after them is a free reshape.

Per head, with Q, K, V the head's blocks and s = 1/sqrt(D):

    forward    S = s Q K^T (masked: -inf)    m = rowmax S    P = exp(S - m)    l = rowsum P
               out = P V / l                 lse = m + log l
    backward   P = exp(s Q K^T - lse)        dP = dout V^T   dS = P (dP - D_i),  D_i = dout_i . out_i
               dV = P^T dout                 dQ = s dS K     dK = s dS^T Q

Small problems run on the calling thread: inside a training step the second
core is still busy with OpenBLAS's thread right after a matmul, and handing
half the heads to it measured slower than doing them all here.
"""
import math

import numpy as np
from numba import njit

from minillm.kernels.attention import (
    BK, BQ, NC, _block_product, _exp_rows, _in_parallel, _inv_sqrt, _mask_block, _probs_and_dscores, _row_max,
    _row_sum,
)

TK_MAX = BK                    # keys this kernel takes: one block
PARALLEL_MIN_WORK = 1 << 24    # X*Y*Tq*Tk*D multiply-adds below which the heads run on one thread


# C rounded up to whole register tiles (NC columns)
@njit(cache=True)
def _padded_width(C):
    return (C + NC - 1) // NC * NC


# block[0:n, 0:C] = x[b, h, t0:t0+n, 0:C], zeros below row n (columns past C are never written: zero)
@njit(cache=True)
def _load(x, b, h, t0, n, block):
    xh = x[b, h]                                     # (T, C) view: two strides instead of four
    for t in range(n):
        for c in range(xh.shape[1]):
            block[t, c] = xh[t0 + t, c]
    for t in range(n, block.shape[0]):
        for c in range(xh.shape[1]):
            block[t, c] = 0.0


# block_T[0:C, 0:n] = x[b, h, t0:t0+n, 0:C]^T, zeros right of column n
@njit(cache=True)
def _load_transposed(x, b, h, t0, n, block_T):
    xh = x[b, h]
    for t in range(n):
        for c in range(xh.shape[1]):
            block_T[c, t] = xh[t0 + t, c]
    for t in range(n, block_T.shape[1]):
        for c in range(xh.shape[1]):
            block_T[c, t] = 0.0


#   q (X, Y, Tq, D)  k (X, Y, Tk, D)  v (X, Y, Tk, Dv), any strides  ->  out (X, Y, Tq, Dv), lse (X, Y, Tq)
#   mask (n_slabs, 1 or Tq, 1 or Tk), slab[x * Y + y] = the slab of head (x, y)
@njit(cache=True, nogil=True)
def _forward_heads(worker, n_workers, q, k, v, mask, slab, has_mask, causal, out, lse):
    X, Y, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    scale = _inv_sqrt(D, q)
    Q = np.zeros((BQ, D), dtype=q.dtype)
    K_T = np.zeros((D, BK), dtype=q.dtype)
    V = np.zeros((BK, _padded_width(Dv)), dtype=q.dtype)
    S = np.empty((BQ, BK), dtype=q.dtype)
    O = np.empty((BQ, V.shape[1]), dtype=q.dtype)
    shift = np.empty(BQ, dtype=q.dtype)
    scratch = np.empty(BK, dtype=q.dtype)
    for head in range(worker, X * Y, n_workers):
        b, h = head // Y, head % Y
        _load_transposed(k, b, h, 0, Tk, K_T)
        _load(v, b, h, 0, Tk, V)
        for q0 in range(0, Tq, BQ):                      # one block of queries, unless Tq > 64
            rows = min(BQ, Tq - q0)
            _load(q, b, h, q0, rows, Q)
            # S = s Q K^T, -inf where masked
            _block_product(BQ, BK, D, Q, 0, False, K_T, 0, 0, S, False)
            for r in range(BQ):
                for c in range(BK):
                    S[r, c] *= scale
            _mask_block(S, q0, 0, Tq, Tk, causal, Tk - Tq, has_mask, mask, slab[head])
            # P = exp(S - m)       (a row with nothing visible: shift 0, so P = exp(-inf) = 0)
            for r in range(BQ):
                m = _row_max(S, r, -np.inf)
                shift[r] = m if m > -np.inf else 0.0
            _exp_rows(S, shift, BQ, BK, scratch)
            # out = P V / l,   lse = m + log l
            _block_product(BQ, O.shape[1], BK, S, 0, False, V, 0, 0, O, False)
            for r in range(rows):
                l = _row_sum(S, r)
                if l != 0.0:                             # (NaN too: NaN in, NaN out)
                    inv = 1.0 / l
                    for d in range(Dv):
                        out[b, h, q0 + r, d] = O[r, d] * inv
                    lse[b, h, q0 + r] = shift[r] + math.log(l)
                else:
                    for d in range(Dv):
                        out[b, h, q0 + r, d] = 0.0
                    lse[b, h, q0 + r] = -np.inf


#   dout, out (X, Y, Tq, Dv), lse (X, Y, Tq), q k v as in the forward  ->  dq, dk, dv (their shapes)
@njit(cache=True, nogil=True)
def _backward_heads(worker, n_workers, q, k, v, out, lse, dout, mask, slab, has_mask, causal, dq, dk, dv):
    X, Y, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    D_pad, Dv_pad = _padded_width(D), _padded_width(Dv)
    scale = _inv_sqrt(D, q)
    Q = np.zeros((BQ, D_pad), dtype=q.dtype)
    K = np.zeros((BK, D_pad), dtype=q.dtype)
    K_T = np.zeros((D, BK), dtype=q.dtype)
    V_T = np.zeros((Dv, BK), dtype=q.dtype)
    dO = np.zeros((BQ, Dv_pad), dtype=q.dtype)
    S = np.empty((BQ, BK), dtype=q.dtype)
    dP = np.empty((BQ, BK), dtype=q.dtype)
    dQ = np.empty((BQ, D_pad), dtype=q.dtype)
    dK = np.empty((BK, D_pad), dtype=q.dtype)
    dV = np.empty((BK, Dv_pad), dtype=q.dtype)
    shift = np.empty(BQ, dtype=q.dtype)
    delta = np.empty(BQ, dtype=q.dtype)
    scratch = np.empty(BK, dtype=q.dtype)
    for head in range(worker, X * Y, n_workers):
        b, h = head // Y, head % Y
        _load(k, b, h, 0, Tk, K)
        _load_transposed(k, b, h, 0, Tk, K_T)
        _load_transposed(v, b, h, 0, Tk, V_T)
        for q0 in range(0, Tq, BQ):
            rows = min(BQ, Tq - q0)
            _load(q, b, h, q0, rows, Q)
            _load(dout, b, h, q0, rows, dO)
            # shift = lse (+inf for rows that saw nothing or do not exist: P = 0),  D_i = dout_i . out_i
            for r in range(BQ):
                shift[r] = np.inf
                delta[r] = 0.0
                if r < rows and lse[b, h, q0 + r] != -np.inf:
                    shift[r] = lse[b, h, q0 + r]
                    for d in range(Dv):
                        delta[r] += dO[r, d] * out[b, h, q0 + r, d]
            # P = exp(s Q K^T - lse) into S,  dS = P (dout V^T - D_i) into dP
            _probs_and_dscores(Q, K_T, dO, V_T, 0, q0, 0, shift, delta, S, dP, scratch,
                               Tq, Tk, D, Dv, scale, causal, Tk - Tq, has_mask, mask, slab[head])
            # dV (+)= P^T dout,   dK (+)= dS^T Q,   dQ = dS K
            _block_product(BK, Dv_pad, BQ, S, 0, True, dO, 0, 0, dV, q0 > 0)
            _block_product(BK, D_pad, BQ, dP, 0, True, Q, 0, 0, dK, q0 > 0)
            _block_product(BQ, D_pad, BK, dP, 0, False, K, 0, 0, dQ, False)
            for r in range(rows):
                for d in range(D):
                    dq[b, h, q0 + r, d] = dQ[r, d] * scale
        for j in range(Tk):
            for d in range(D):
                dk[b, h, j, d] = dK[j, d] * scale
            for d in range(Dv):
                dv[b, h, j, d] = dV[j, d]


def _run(kernel, work, *args):
    if work >= PARALLEL_MIN_WORK:
        _in_parallel(kernel, *args)
    else:
        kernel(0, 1, *args)


# (..., T, C) -> (X, Y, T, C): the leading axes as two (a view whenever NumPy can make one)
def as_four_axes(x):
    lead = x.shape[:-2]
    return x.reshape(-1, lead[-1] if lead else 1, *x.shape[-2:])


# an (X, Y, T, C) array laid out as (X, T, Y, C): merge_heads of it is a free reshape
def _heads_view(X, Y, T, C, dtype):
    return np.empty((X, T, Y, C), dtype=dtype).transpose(0, 2, 1, 3)


def forward(q4, k4, v4, slabs, slab, has_mask, causal):
    """q4 (X, Y, Tq, D), k4 (X, Y, Tk, D), v4 (X, Y, Tk, Dv), Tk <= TK_MAX -> out (X, Y, Tq, Dv), lse (X, Y, Tq)."""
    X, Y, Tq, D = q4.shape
    Tk, Dv = k4.shape[2], v4.shape[3]
    out = _heads_view(X, Y, Tq, Dv, q4.dtype)
    lse = np.empty((X, Y, Tq), dtype=q4.dtype)
    _run(_forward_heads, X * Y * Tq * Tk * D, q4, k4, v4, slabs, slab, has_mask, causal, out, lse)
    return out, lse


def backward(dout4, q4, k4, v4, out, lse, slabs, slab, has_mask, causal):
    """(dq, dk, dv) with the shapes of q4, k4, v4 (views of head-interleaved arrays)."""
    X, Y, Tq, D = q4.shape
    Tk, Dv = k4.shape[2], v4.shape[3]
    dq, dk, dv = _heads_view(X, Y, Tq, D, q4.dtype), _heads_view(X, Y, Tk, D, q4.dtype), _heads_view(X, Y, Tk, Dv, q4.dtype)
    _run(_backward_heads, 2 * X * Y * Tq * Tk * D, q4, k4, v4, out, lse, dout4, slabs, slab, has_mask, causal,
         dq, dk, dv)
    return dq, dk, dv
