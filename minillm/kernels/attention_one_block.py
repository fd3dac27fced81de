"""Attention when all keys fit in one block (Tk <= 64): one whole head at a time, read in place.

Same contract and the same arithmetic as the flash kernel (kernels/attention.py, which
dispatches here; both are built from the tiles and rows of kernels/_attention_tiles.py), for the case the GPT recipe lives in:
(B, H, T, D) = (12, 4, 64, 32).  With a single key block there is no online
softmax to run, and what cost the time was around the arithmetic: the
split_heads views copied into contiguous (B*H, T, D) arrays, K and V transposed
and padded, and merge_heads copying the results back: about a dozen copies of
a (B, H, T, D) array per layer.  Here

  * the kernels work on head-interleaved (X, T, Y*C) arrays, the layout the
    projections produce: q, k, v and dout from split_heads are views of such
    arrays, so nothing is copied going in (other layouts are copied once);
  * one head at a time is gathered into small zero-padded blocks (8 KiB
    each) that stay in L1 while its rows use them;
  * out, dq, dk, dv are written in the same layout and returned as
    (X, Y, T, C) views, so merge_heads after them is a free reshape;
  * with causal masking the products skip what the mask hides, one register
    tile (8 rows) at a time: a tile of queries stops at its last visible key
    (in Q K^T, dO V^T, P V and dS K), a tile of keys starts at the first query
    that sees it (in P^T dO and dS^T Q).  At T = 64 that leaves out 19% of
    Q K^T and ~45% of the others.

Measured at the recipe's shape, one thread: forward 0.6 ms, backward 1.0 ms
per layer before the causal skipping, spread over every step below (loads,
exp, the output's logs, the row reductions, the two products: 0.05-0.13 ms
each), against 0.7 / 1.4 ms for the flash kernel with its copies.  With it,
on one data-parallel shard (6, 4, 64, 32): forward 0.30 -> 0.27 ms, backward
0.46 -> 0.39 ms.

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

from minillm.kernels._attention_tiles import (
    BK, BQ, MR_ATT, NC, _dscores, _inv_sqrt, _mask_block, _round_up, _row_max, _row_sum, _tile,
)
from minillm.kernels.exp import _exp_rows
from minillm.kernels.threads import claim, in_parallel, new_work

TK_MAX = BK                    # keys this kernel takes: one block
PARALLEL_MIN_WORK = 1 << 24    # X*Y*Tq*Tk*D multiply-adds below which the heads run on one thread


# Every array here is head-interleaved, (X, T, Y*C) C-contiguous: head h of row t owns
# columns h*C .. h*C + C - 1, which is exactly the projections' (B, T, H*D) output.

# block[0:n, 0:C] = x[b, t0:t0+n, col0:col0+C], zeros below row n (columns past C stay zero)
@njit(cache=True, nogil=True)
def _load(x, b, col0, C, t0, n, block):
    xb = x[b]
    for t in range(n):
        for c in range(C):
            block[t, c] = xb[t0 + t, col0 + c]
    for t in range(n, block.shape[0]):
        for c in range(C):
            block[t, c] = 0.0


# block_T[0:C, 0:n] = x[b, t0:t0+n, col0:col0+C]^T, zeros right of column n
@njit(cache=True, nogil=True)
def _load_transposed(x, b, col0, C, t0, n, block_T):
    xb = x[b]
    for t in range(n):
        for c in range(C):
            block_T[c, t] = xb[t0 + t, col0 + c]
    for t in range(n, block_T.shape[1]):
        for c in range(C):
            block_T[c, t] = 0.0


# How many keys the 8 query rows q0 + i .. q0 + i + 7 can see between them: all Tk, or with causal
# (row t sees keys up to t + Tk - Tq) those up to the tile's last row's
# $$ n_\mathrm{seen} = \begin{cases} T_k & \text{not causal} \\ \max\left(0,\ \min\left(T_k,\ q_0 + i + 8 + T_k - T_q\right)\right) & \text{causal} \end{cases} \qquad (\text{row } t \text{ sees keys } j \le t + T_k - T_q) $$
@njit(cache=True, nogil=True)
def _keys_seen(i, q0, Tk, Tq, causal):
    if not causal:
        return Tk
    return max(0, min(Tk, q0 + i + MR_ATT + Tk - Tq))


# One register tile of a block product, C[c_row:c_row+8, c_col:c_col+32] = (or += when accumulate)
#   op(A)[a_row:a_row+8, 0:k] @ B[b_row:b_row+k, b_col:b_col+32]        (op: _attention_tiles.py's _tile)
# $$ C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} \leftarrow \begin{cases} \sum_{p<k} \operatorname{op}(A)_{a_\mathrm{row} + i,\ p}\, B_{b_\mathrm{row} + p,\ b_\mathrm{col} + j} & \\ C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} + \sum_{p<k} \operatorname{op}(A)_{a_\mathrm{row} + i,\ p}\, B_{b_\mathrm{row} + p,\ b_\mathrm{col} + j} & \mathrm{accumulate} \end{cases} \qquad i < 8,\ j < 32 $$
@njit(cache=True, nogil=True)
def _tile_product(k, A, a_row, a_transposed, B, b_row, b_col, C, c_row, c_col, accumulate):
    if not accumulate:
        C[c_row:c_row + MR_ATT, c_col:c_col + NC] = 0.0
    _tile(k, A, a_row, a_transposed, B, b_row, b_col, C, c_row, c_col)


#   q (X, Tq, Y*D)  k (X, Tk, Y*D)  v (X, Tk, Y*Dv)   ->  out (X, Tq, Y*Dv), lse (X, Y, Tq)
#   mask (n_slabs, 1 or Tq, 1 or Tk), slab[x * Y + y] = the slab of head (x, y)
@njit(cache=True, nogil=True)
def _forward_heads(work, Y, q, k, v, mask, slab, has_mask, causal, out, lse):
    X, Tq, D = q.shape[0], q.shape[1], q.shape[2] // Y
    Tk, Dv = k.shape[1], v.shape[2] // Y
    scale = _inv_sqrt(D, q)
    Q = np.zeros((BQ, D), dtype=q.dtype)
    K_T = np.zeros((D, BK), dtype=q.dtype)
    V = np.zeros((BK, _round_up(Dv, NC)), dtype=q.dtype)
    S = np.empty((BQ, BK), dtype=q.dtype)
    O = np.empty((BQ, V.shape[1]), dtype=q.dtype)
    shift = np.empty(BQ, dtype=q.dtype)
    scratch = np.empty(BK, dtype=q.dtype)
    head = claim(work)
    while head < X * Y:
        b, h = head // Y, head % Y
        _load_transposed(k, b, h * D, D, 0, Tk, K_T)
        _load(v, b, h * Dv, Dv, 0, Tk, V)
        for q0 in range(0, Tq, BQ):                      # one block of queries, unless Tq > 64
            rows = min(BQ, Tq - q0)
            _load(q, b, h * D, D, q0, rows, Q)
            # S = s Q K^T, -inf where masked; with causal, each 8-row tile only up to its last visible key
            # $$ S = s\, Q K^\top, \qquad S_{rc} = -\infty \ \text{where masked} $$
            for i in range(0, BQ, MR_ATT):
                seen = _keys_seen(i, q0, Tk, Tq, causal)
                for j in range(0, _round_up(seen, NC), NC):
                    _tile_product(D, Q, i, False, K_T, 0, j, S, i, j, False)
            for r in range(BQ):
                for c in range(BK):
                    S[r, c] *= scale
            _mask_block(S, q0, 0, Tq, Tk, causal, Tk - Tq, has_mask, mask, slab[head])
            # P = exp(S - m)       (a row with nothing visible: shift 0, so P = exp(-inf) = 0)
            # $$ m_r = \max_c S_{rc}, \qquad P_{rc} = \exp(S_{rc} - m_r) $$
            for r in range(BQ):
                m = _row_max(S, r, -np.inf)
                shift[r] = m if m > -np.inf else 0.0
            _exp_rows(S, shift, BQ, BK, scratch)
            # out = P V / l,   lse = m + log l     (the keys a tile cannot see have P = 0: left out)
            # $$ \mathrm{out}_r = \frac{(P V)_r}{\ell_r}, \qquad \ell_r = \sum_c P_{rc}, \qquad \mathrm{lse}_r = m_r + \log \ell_r $$
            for i in range(0, BQ, MR_ATT):
                seen = _keys_seen(i, q0, Tk, Tq, causal)
                for j in range(0, O.shape[1], NC):
                    _tile_product(seen, S, i, False, V, 0, j, O, i, j, False)
            for r in range(rows):
                l = _row_sum(S, r)
                if l != 0.0:                             # (NaN too: NaN in, NaN out)
                    inv = 1.0 / l
                    for d in range(Dv):
                        out[b, q0 + r, h * Dv + d] = O[r, d] * inv
                    lse[b, h, q0 + r] = shift[r] + math.log(l)
                else:
                    for d in range(Dv):
                        out[b, q0 + r, h * Dv + d] = 0.0
                    lse[b, h, q0 + r] = -np.inf
        head = claim(work)


#   dout, out (X, Tq, Y*Dv), lse (X, Y, Tq), q k v as in the forward  ->  dq, dk, dv (their shapes)
@njit(cache=True, nogil=True)
def _backward_heads(work, Y, q, k, v, out, lse, dout, mask, slab, has_mask, causal, dq, dk, dv):
    X, Tq, D = q.shape[0], q.shape[1], q.shape[2] // Y
    Tk, Dv = k.shape[1], v.shape[2] // Y
    D_pad, Dv_pad = _round_up(D, NC), _round_up(Dv, NC)
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
    head = claim(work)
    while head < X * Y:
        b, h = head // Y, head % Y
        _load(k, b, h * D, D, 0, Tk, K)
        _load_transposed(k, b, h * D, D, 0, Tk, K_T)
        _load_transposed(v, b, h * Dv, Dv, 0, Tk, V_T)
        for q0 in range(0, Tq, BQ):
            rows = min(BQ, Tq - q0)
            _load(q, b, h * D, D, q0, rows, Q)
            _load(dout, b, h * Dv, Dv, q0, rows, dO)
            # shift = lse (+inf for rows that saw nothing or do not exist: P = 0),  D_i = dout_i . out_i
            # $$ \mathrm{shift}_i = \begin{cases} \mathrm{lse}_i & \text{row } i \text{ saw a key} \\ +\infty & \text{otherwise (so } P_{ij} = 0) \end{cases} \qquad D_i = d\mathrm{out}_i \cdot \mathrm{out}_i $$
            for r in range(BQ):
                shift[r] = np.inf
                delta[r] = 0.0
                if r < rows and lse[b, h, q0 + r] != -np.inf:
                    shift[r] = lse[b, h, q0 + r]
                    for d in range(Dv):
                        delta[r] += dO[r, d] * out[b, q0 + r, h * Dv + d]
            # S = Q K^T, dP = dout V^T, each 8-row tile up to its last visible key (P = 0 beyond) ...
            # $$ S = Q K^\top, \qquad dP = d\mathrm{out}\, V^\top $$
            for i in range(0, BQ, MR_ATT):
                seen = _keys_seen(i, q0, Tk, Tq, causal)
                for j in range(0, BK, NC):
                    if j < seen:
                        _tile_product(D, Q, i, False, K_T, 0, j, S, i, j, False)
                        _tile_product(Dv, dO, i, False, V_T, 0, j, dP, i, j, False)
                    else:                                # hidden from every row of the tile
                        S[i:i + MR_ATT, j:j + NC] = 0.0
                        dP[i:i + MR_ATT, j:j + NC] = 0.0
            # ... then P = exp(s S - lse) into S,  dS = P (dP - D_i) into dP
            # $$ P_{ij} = \exp(s\, S_{ij} - \mathrm{lse}_i), \qquad dS_{ij} = P_{ij}\, (dP_{ij} - D_i) $$
            _dscores(S, dP, q0, 0, shift, delta, scratch, Tq, Tk, scale, causal, Tk - Tq, has_mask, mask,
                     slab[head])
            # dV (+)= P^T dout,  dK (+)= dS^T Q: keys j.. j+7 only from the queries that see key j on
            # $$ dV = \sum_{\text{query blocks}} P^\top d\mathrm{out}, \qquad dK = \sum_{\text{query blocks}} dS^\top Q $$
            for j in range(0, BK, MR_ATT):
                first = min(BQ, max(0, j - (Tk - Tq) - q0)) if causal else 0
                for c in range(0, Dv_pad, NC):
                    _tile_product(BQ - first, S[first:], j, True, dO, first, c, dV, j, c, q0 > 0)
                for c in range(0, D_pad, NC):
                    _tile_product(BQ - first, dP[first:], j, True, Q, first, c, dK, j, c, q0 > 0)
            # dQ = dS K: each tile up to its last visible key
            # $$ dQ = dS\, K $$
            for i in range(0, BQ, MR_ATT):
                seen = _keys_seen(i, q0, Tk, Tq, causal)
                for c in range(0, D_pad, NC):
                    _tile_product(seen, dP, i, False, K, 0, c, dQ, i, c, False)
            for r in range(rows):
                for d in range(D):
                    dq[b, q0 + r, h * D + d] = dQ[r, d] * scale
        for j in range(Tk):
            for d in range(D):
                dk[b, j, h * D + d] = dK[j, d] * scale
            for d in range(Dv):
                dv[b, j, h * Dv + d] = dV[j, d]
        head = claim(work)


def _run(kernel, multiply_adds, *args):
    if multiply_adds >= PARALLEL_MIN_WORK:
        in_parallel(kernel, *args)
    else:
        kernel(new_work(), *args)


# (..., T, C) -> (X, Y, T, C): the leading axes as two (a view whenever NumPy can make one)
def as_four_axes(x):
    lead = x.shape[:-2]
    return x.reshape(-1, lead[-1] if lead else 1, *x.shape[-2:])


# (X, Y, T, C) -> (X, T, Y*C) C-contiguous: a view when x4 is split_heads of such an array
# (as in the models), else one copy
def _interleaved(x4):
    X, Y, T, C = x4.shape
    return np.ascontiguousarray(x4.transpose(0, 2, 1, 3)).reshape(X, T, Y * C)


# (X, T, Y*C) -> (X, Y, T, C), a view
def _heads(x3, Y):
    X, T, YC = x3.shape
    return x3.reshape(X, T, Y, YC // Y).transpose(0, 2, 1, 3)


def forward(q4, k4, v4, slabs, slab, has_mask, causal):
    """q4 (X, Y, Tq, D), k4 (X, Y, Tk, D), v4 (X, Y, Tk, Dv), Tk <= TK_MAX
    -> out (X, Y, Tq, Dv) (a view of a head-interleaved array), lse (X, Y, Tq), saved (for backward)."""
    X, Y, Tq, D = q4.shape
    Tk, Dv = k4.shape[2], v4.shape[3]
    q3, k3, v3 = _interleaved(q4), _interleaved(k4), _interleaved(v4)
    out3 = np.empty((X, Tq, Y * Dv), dtype=q4.dtype)
    lse = np.empty((X, Y, Tq), dtype=q4.dtype)
    _run(_forward_heads, X * Y * Tq * Tk * D, Y, q3, k3, v3, slabs, slab, has_mask, causal, out3, lse)
    return _heads(out3, Y), lse, (Y, q3, k3, v3, out3)


def backward(dout4, saved, lse, slabs, slab, has_mask, causal):
    """(dq, dk, dv) as (X, Y, T, C) views of head-interleaved arrays."""
    Y, q3, k3, v3, out3 = saved
    dq3, dk3, dv3 = np.empty_like(q3), np.empty_like(k3), np.empty_like(v3)
    X, Tq, YD = q3.shape
    _run(_backward_heads, 2 * X * Tq * k3.shape[1] * YD, Y, q3, k3, v3, out3, lse, _interleaved(dout4),
         slabs, slab, has_mask, causal, dq3, dk3, dv3)
    return _heads(dq3, Y), _heads(dk3, Y), _heads(dv3, Y)
