"""The tiles and rows both attention kernels are built from (private).

kernels/attention.py (the flash kernel, any number of keys, block by block) and
kernels/attention_one_block.py (all keys in one block, whole heads in place)
compute the same blocks the same way; this module holds what they share:

    BQ, BK, MR_ATT, NC          block and register-tile sizes
    _tile, _block_product       C (+)= op(A) B on the matmul lesson's register tile
    _row_max, _row_sum          per-row reductions of a (BQ, BK) block
    _mask_block                 -inf where a query may not see a key
    _dscores                    P = exp(s S - lse) and dS = P (dP - D_i) of one block
    _inv_sqrt, _round_up        1 / sqrt(D) in the arrays' dtype; padding sizes

Neither attention module imports the other for these (attention.py's
attention_forward only dispatches to attention_one_block.py).
"""
import math

import numpy as np
from numba import njit

from minillm.kernels.exp import _exp_rows
from minillm.kernels.matmul import W, _register_tile, _vector_fma

BQ = 64      # query rows per block
BK = 64      # keys per block
NC = 32      # columns of one register tile (2 vectors of 16)
MR_ATT = 8   # rows of one register tile


# 1 / sqrt(D) in the dtype of `like` (a Python float would make float32 loops float64)
# $$ s = \frac{1}{\sqrt{d_k}} $$
@njit(cache=True)
def _inv_sqrt(D, like):
    s = np.empty(1, dtype=like.dtype)
    s[0] = 1.0 / math.sqrt(D)
    return s[0]


# ---------------------------------------------------------------------------
# The register-tile product used by every step
# ---------------------------------------------------------------------------
# C[c_row:c_row+MR_ATT, c_col:c_col+NC] (+)= op(A)[a_row:a_row+MR_ATT, 0:k] @ B[b_row:b_row+k, b_col:b_col+NC]
#   op(A)[i, p] = A[i, p], or A[p, i] when a_transposed (so P^T and dS^T are never copied)
# (the matmul lesson's micro-kernel, 8 x 32 here: it divides the 64 x 64 blocks,
#  fits the register file, and heads of 32 or 64 need no padding)
# $$ C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} \leftarrow C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} + \sum_{p=0}^{k-1} \operatorname{op}(A)_{a_\mathrm{row} + i,\ p}\, B_{b_\mathrm{row} + p,\ b_\mathrm{col} + j}, \qquad i < 8,\ j < 32 $$
# $$ \operatorname{op}(A)_{ip} = \begin{cases} A_{ip} & \\ A_{pi} & \mathrm{a\_transposed} \end{cases} $$
@njit(cache=True)
def _tile(k, A, a_row, a_transposed, B, b_row, b_col, C, c_row, c_col):
    acc = _register_tile(MR_ATT, NC, C.dtype)
    for i in range(MR_ATT):
        for j in range(NC):
            acc[i, j] = 0.0
    for p in range(k):
        if a_transposed:
            a0, a1, a2, a3 = A[p, a_row], A[p, a_row + 1], A[p, a_row + 2], A[p, a_row + 3]
            a4, a5, a6, a7 = A[p, a_row + 4], A[p, a_row + 5], A[p, a_row + 6], A[p, a_row + 7]
        else:
            a0, a1, a2, a3 = A[a_row, p], A[a_row + 1, p], A[a_row + 2, p], A[a_row + 3, p]
            a4, a5, a6, a7 = A[a_row + 4, p], A[a_row + 5, p], A[a_row + 6, p], A[a_row + 7, p]
        for j in range(0, NC, W):
            _vector_fma(acc, 0, j, a0, B, b_row + p, b_col + j)
            _vector_fma(acc, 1, j, a1, B, b_row + p, b_col + j)
            _vector_fma(acc, 2, j, a2, B, b_row + p, b_col + j)
            _vector_fma(acc, 3, j, a3, B, b_row + p, b_col + j)
            _vector_fma(acc, 4, j, a4, B, b_row + p, b_col + j)
            _vector_fma(acc, 5, j, a5, B, b_row + p, b_col + j)
            _vector_fma(acc, 6, j, a6, B, b_row + p, b_col + j)
            _vector_fma(acc, 7, j, a7, B, b_row + p, b_col + j)
    # C tile += acc, a vector at a time (number by number, with Numba's index checks, this
    # load and store cost as much as the 64 steps above: 77 -> 1xx GFLOP/s per 64^3 block)
    for i in range(MR_ATT):
        for j in range(0, NC, W):
            _vector_fma(C, c_row + i, c_col + j, 1.0, acc, i, j)


# C[0:rows, 0:cols] (+)= op(A)[a_row:a_row+rows, 0:k] @ B[b_row:b_row+k, b_col:b_col+cols]
#   rows % 8 == 0 and cols % 32 == 0: callers pad with zeros
# $$ C_{ij} \leftarrow \begin{cases} \sum_{p<k} \operatorname{op}(A)_{a_\mathrm{row} + i,\ p}\, B_{b_\mathrm{row} + p,\ b_\mathrm{col} + j} & \\ C_{ij} + \sum_{p<k} \operatorname{op}(A)_{a_\mathrm{row} + i,\ p}\, B_{b_\mathrm{row} + p,\ b_\mathrm{col} + j} & \mathrm{accumulate} \end{cases} \qquad i < \mathrm{rows},\ j < \mathrm{cols} $$
@njit(cache=True)
def _block_product(rows, cols, k, A, a_row, a_transposed, B, b_row, b_col, C, accumulate):
    if not accumulate:
        C[:rows, :cols] = 0.0
    for i in range(0, rows, MR_ATT):
        for j in range(0, cols, NC):
            _tile(k, A, a_row + i, a_transposed, B, b_row, b_col + j, C, i, j)


# max_c S[r, c] and sum_c S[r, c], 16 columns at a time (a vector of partial results:
# a plain running max or sum is a serial chain the compiler may not reorder).
# $$ \max\left(\mathrm{start},\ \max_c S_{rc}\right) \qquad \sum_c S_{rc} $$
@njit(cache=True)
def _row_max(S, r, start):
    part = _register_tile(1, W, S.dtype)
    for j in range(W):
        part[0, j] = start
    for c0 in range(0, BK, W):
        for j in range(W):
            x = S[r, c0 + j]
            part[0, j] = x if x > part[0, j] else part[0, j]
    m = start
    for j in range(W):
        m = max(m, part[0, j])
    return m


@njit(cache=True)
def _row_sum(S, r):
    part = _register_tile(1, W, S.dtype)
    for j in range(W):
        part[0, j] = 0.0
    for c0 in range(0, BK, W):
        for j in range(W):
            part[0, j] += S[r, c0 + j]
    total = 0.0
    for j in range(W):
        total += part[0, j]
    return total


# ---------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------
# S[r, c] = -inf where query q0 + r may not see key k0 + c:
#   key past the end, causal (k0 + c > q0 + r + offset), or mask False.
# Returns at once when the whole block is visible.
# $$ S_{rc} = -\infty \quad \text{where } k_0 + c \ge T_k \ \text{ or } \ (\text{causal and } k_0 + c > q_0 + r + \mathrm{offset}) \ \text{ or } \ \neg M_{q_0 + r,\ k_0 + c} $$
@njit(cache=True)
def _mask_block(S, q0, k0, Tq, Tk, causal, offset, has_mask, mask, slab):
    last_key = min(k0 + BK, Tk) - 1
    whole = k0 + BK <= Tk and not has_mask and (not causal or last_key <= q0 + offset)
    if whole:
        return
    mq, mk = mask.shape[1], mask.shape[2]
    for r in range(BQ):
        i = q0 + r
        # columns from `hidden` on are hidden: keys past Tk, and with causal keys after i + offset
        hidden = min(BK, Tk - k0)
        if causal:
            hidden = max(0, min(hidden, i + offset - k0 + 1))
        for c in range(hidden, BK):
            S[r, c] = -np.inf
        if has_mask and i < Tq:
            for c in range(hidden):
                if not mask[slab, i if mq > 1 else 0, k0 + c if mk > 1 else 0]:
                    S[r, c] = -np.inf


# ---------------------------------------------------------------------------
# Backward: one block's probabilities and score gradients
# ---------------------------------------------------------------------------
# From S = Q K^T and dP = dO V^T of a block:  P = exp(s S - lse) into S,  dS = P (dP - D_i) into dP
# $$ S = Q K^\top,\ dP = dO\, V^\top \;\Rightarrow\; P_{ij} = \exp(s\, S_{ij} - \mathrm{lse}_i), \qquad dS_{ij} = P_{ij}\, (dP_{ij} - D_i) $$
@njit(cache=True)
def _dscores(S, dP, q0, k0, shift, delta, scratch, Tq, Tk, scale, causal, offset, has_mask, mask, slab):
    for r in range(BQ):
        for c in range(BK):
            S[r, c] *= scale
    _mask_block(S, q0, k0, Tq, Tk, causal, offset, has_mask, mask, slab)
    _exp_rows(S, shift, BQ, BK, scratch)
    for r in range(BQ):
        for c in range(BK):
            dP[r, c] = S[r, c] * (dP[r, c] - delta[r])


# n rounded up to a multiple (jitted so that the kernels call it too)
@njit(cache=True)
def _round_up(n, multiple):
    return (n + multiple - 1) // multiple * multiple
