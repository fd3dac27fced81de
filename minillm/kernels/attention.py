"""Fused scaled-dot-product attention in Numba (flash-attention style).

Same contract as minillm.layers.attention_forward / attention_backward:

    out, cache = attention_forward(q, k, v, *, mask=None, causal=False)
    dq, dk, dv = attention_backward(dout, cache)

    q (..., Tq, D)   k (..., Tk, D)   v (..., Tk, Dv)   out (..., Tq, Dv)   usually ... = (B, H)
    mask: bool, broadcastable to (..., Tq, Tk), True = may attend
    causal: query i may see keys j <= i + (Tk - Tq)   (aligned to the end)

The NumPy reference builds the whole (Tq, Tk) matrix of probabilities and keeps
it for backward: B*H*T*T numbers, 512 MiB at (1, 8, 4096) in float32.  This
kernel never does.  It walks the keys in blocks of BK and keeps, per query row,
a running maximum m, a running sum l and an unnormalised output O ("online
softmax"):

    for each key block j:   S = Q K_j^T / sqrt(D)                    (BQ, BK)
                            m_new = max(m, rowmax S)
                            P = exp(S - m_new)
                            l = l * exp(m - m_new) + rowsum P
                            O = O * exp(m - m_new) + P V_j
    out = O / l,   lse = m + log(l)      (the log-sum-exp of each row of S)

Only lse (one number per row) is kept for backward, which recomputes each block
of probabilities as P = exp(S - lse) and uses, with D_i = sum_d dout_id out_id,

    dV = P^T dout     dP = dout V^T     dS = P * (dP - D_i)
    dQ = dS K / sqrt(D)                 dK = dS^T Q / sqrt(D)

(D_i equals sum_j P_ij dP_ij, the term of the softmax backward, without P.)
Backward must not let two cores add into the same rows of dQ (or dK, dV) at
once.  With enough heads, each core takes whole heads and owns all their
gradients: one sweep over the block pairs.  Otherwise (say B*H = 1) it runs two
race-free passes: one parallel over key blocks that owns dK and dV, one
parallel over query blocks that owns dQ; each recomputes P.

Parallel work items are (batch*head, block pair), claimed one at a time from a
shared counter by one thread per core (kernels/threads.py's in_parallel, the pool
the packed matmul uses too): with causal=True, query block t costs t + 1 key
blocks, so each item takes a short block t and the long block n - 1 - t
together, and every item costs the same.

exp: Numba's math.exp is a scalar libm call (PyPI's llvmlite has no SVML), so
every exponential here goes through kernels/exp.py's vectorisable `_exp_rows`.

Block products (S = Q K^T, O += P V, dP = dO V^T, dV += P^T dO, dK += dS^T Q,
dQ += dS K) all run on the matmul lesson's register-tile micro-kernel (8 x 32
here); K and V are transposed once per call so every product reads rows.  The
tile starts at zero and is added into its block with vector FMAs: loading and
storing it number by number (each index checked for wrap-around by Numba) had
cost as much as the multiply-adds, halving the speed of every product.

Masked scores are -inf and never pass through fast-math code (there is none in
this file); a row with nothing to attend to has lse = -inf and gets zeros
(output and gradients).

When all keys fit in one block (Tk <= SHORT_KEYS = 64, the GPT recipe's case),
attention_forward hands the work to kernels/attention_one_block.py, which uses the
same helpers (kernels/_attention_tiles.py) on one whole head at a time, in the projections' head-interleaved
(B, T, H*D) layout in and out (no copies around split/merge_heads).

Measured on the development machine (2 cores, AVX-512, 2026-11-28), float32,
causal, (B, H, D) = (1, 8, 64), two threads, in one `minillm bench` run beside
PyTorch 2.13's scaled_dot_product_attention, in ms:

    T       fwd    fwd+bwd   NumPy fwd+bwd   torch SDPA fwd+bwd   peak extra memory (kernel / NumPy)
    64      0.15    0.40        0.40              0.38                0.7 MiB / 1 MiB
    512     2.3     7.6        22.6               7.9                 6 MiB / 29 MiB
    2048   30      83         502                76                  25 MiB / 404 MiB
    4096  117     314        2030               261                  50 MiB / 1580 MiB

`minillm bench` measures again on your machine.
"""
import math

import numba
import numpy as np
from numba import njit

from minillm import layers
from minillm.checks import check_bool_mask, check_flag, check_float_array
from minillm.kernels import attention_one_block
from minillm.kernels._attention_tiles import (
    BK, BQ, NC, _block_product, _dscores, _inv_sqrt, _mask_block, _round_up, _row_max, _row_sum,
)
from minillm.kernels.exp import _exp_rows
from minillm.kernels.threads import claim, in_parallel

SHORT_KEYS = 64   # up to this many keys (one block), attention_one_block.py does whole heads in place
# Up to this many keys the NumPy layer itself is faster: its few batched np.matmul calls beat the
# kernels' 64-wide tiles, most of which are padding (measured on 2 cores, B*H = 192, D = 16 or 32,
# float32, fwd+bwd: T = 16: kernel 6.3-6.8 ms, NumPy 1.2-1.3 ms; T = 32: 6.9-8.0 vs 3.1;
# T = 48: 8.4-8.7 vs 6.4-7.3; T = 64: 8.5-8.7 vs 13-15).  The translation model's sentences
# (~15 tokens) take this path; the GPT recipe (T = 64) and MiniLM's batch (T = 62) do not.
NUMPY_KEYS = 48


# ---------------------------------------------------------------------------
# The causal block structure (the tiles, rows and masks are in _attention_tiles.py)
# ---------------------------------------------------------------------------
# How many key blocks query block qb needs: with causal, only those up to the
# last key its last row may see.
@njit(cache=True)
def _n_key_blocks(qb, Tq, Tk, causal, offset):
    n = (Tk + BK - 1) // BK
    if causal:
        last_key = min((qb + 1) * BQ, Tq) - 1 + offset
        if last_key < 0:
            return 0
        n = min(n, last_key // BK + 1)
    return n


# The first query block that sees key block kb (causal), else 0.
@njit(cache=True)
def _first_query_block(kb, Tq, causal, offset):
    if not causal:
        return 0
    first_row = max(kb * BK - offset, 0)           # row i sees key kb*BK once i + offset >= kb*BK
    return min(first_row // BQ, (Tq + BQ - 1) // BQ)


# Pair t holds blocks t and n - 1 - t: with causal masking their costs add up to
# the same for every t, so the work items are balanced.  n rows make n_blocks blocks, dealt in n_pairs pairs.
@njit(cache=True)
def _block_pairs(n, block):
    n_blocks = (n + block - 1) // block
    return n_blocks, (n_blocks + 1) // 2


@njit(cache=True)
def _pair_block(t, half, n_blocks):
    return t if half == 0 else n_blocks - 1 - t


# ---------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------
#   q (BH, Tq_pad, D_pad)   k_T (BH, D, Tk_pad)   v (BH, Tk_pad, Dv_pad): zero-padded to the blocks
#   -> out (BH, Tq, Dv), lse (BH, Tq)
#   mask (n_slabs, 1 or Tq, 1 or Tk) bool; slab[bh] = the slab batch-head bh uses
@njit(cache=True, nogil=True)
def _forward_kernel(work, q, k_T, v, Tq, Tk, D, Dv, mask, slab, has_mask, causal, out, lse):
    BH, Dv_pad = q.shape[0], v.shape[2]
    offset = Tk - Tq
    scale = _inv_sqrt(D, q)
    n_q_blocks, n_pairs = _block_pairs(Tq, BQ)
    item = claim(work)
    while item < BH * n_pairs:
        bh, t = item // n_pairs, item % n_pairs
        S = np.empty((BQ, BK), dtype=q.dtype)           # scores, then probabilities
        O = np.empty((BQ, Dv_pad), dtype=q.dtype)       # unnormalised output
        m = np.empty(BQ, dtype=q.dtype)                 # running row maximum
        l = np.empty(BQ, dtype=q.dtype)                 # running row sum of exp
        shift = np.empty(BQ, dtype=q.dtype)
        alpha = np.empty((1, BQ), dtype=q.dtype)        # exp(m - m_new), as one row for _exp_rows
        no_shift = np.zeros(1, dtype=q.dtype)
        scratch = np.empty(BK, dtype=q.dtype)
        for half in range(2):
            qb = _pair_block(t, half, n_q_blocks)
            if half == 1 and qb == t:
                break
            q0 = qb * BQ
            O[:] = 0.0
            m[:] = -np.inf
            l[:] = 0.0
            for kb in range(_n_key_blocks(qb, Tq, Tk, causal, offset)):
                k0 = kb * BK
                # S = Q K^T / sqrt(D), -inf where masked
                # $$ S = \frac{Q K^\top}{\sqrt{d_k}}, \qquad S_{rc} = -\infty \ \text{where masked} $$
                _block_product(BQ, BK, D, q[bh], q0, False, k_T[bh], 0, k0, S, False)
                for r in range(BQ):
                    for c in range(BK):
                        S[r, c] *= scale
                _mask_block(S, q0, k0, Tq, Tk, causal, offset, has_mask, mask, slab[bh])
                # m_new = max(m, rowmax S);  alpha = exp(m - m_new)   (0 while m = -inf: O and l are 0 then)
                # $$ m^\mathrm{new}_r = \max\left(m_r,\ \max_c S_{rc}\right), \qquad \alpha_r = \exp\left(m_r - m^\mathrm{new}_r\right) \quad (\alpha_r = 0 \text{ while } m_r = -\infty) $$
                for r in range(BQ):
                    m_new = _row_max(S, r, m[r])
                    if m_new == -np.inf:       # nothing visible yet: P = exp(-inf) = 0, alpha = exp(0) = 1
                        shift[r] = 0.0
                        alpha[0, r] = 0.0
                    else:
                        shift[r] = m_new
                        alpha[0, r] = m[r] - m_new     # exponentiated below, with P
                    m[r] = m_new
                # P = exp(S - m_new);  l = l alpha + rowsum P;  O = O alpha + P V
                # $$ P_{rc} = \exp\left(S_{rc} - m^\mathrm{new}_r\right), \qquad \ell_r \leftarrow \ell_r\, \alpha_r + \sum_c P_{rc}, \qquad O_r \leftarrow O_r\, \alpha_r + (P V)_r $$
                _exp_rows(alpha, no_shift, 1, BQ, scratch)
                _exp_rows(S, shift, BQ, BK, scratch)
                for r in range(BQ):
                    l[r] = l[r] * alpha[0, r] + _row_sum(S, r)
                    for d in range(Dv_pad):
                        O[r, d] *= alpha[0, r]
                _block_product(BQ, Dv_pad, BK, S, 0, False, v[bh], k0, 0, O, True)
            # out = O / l,  lse = m + log(l);  rows that saw nothing: 0 and -inf
            # $$ \mathrm{out}_r = \frac{O_r}{\ell_r}, \qquad \mathrm{lse}_r = m_r + \log \ell_r \qquad (\ell_r = 0:\ \mathrm{out}_r = 0,\ \mathrm{lse}_r = -\infty) $$
            for r in range(min(BQ, Tq - q0)):
                if l[r] != 0.0:                # (NaN too: NaN in, NaN out)
                    inv = 1.0 / l[r]
                    for d in range(Dv):
                        out[bh, q0 + r, d] = O[r, d] * inv
                    lse[bh, q0 + r] = m[r] + math.log(l[r])
                else:
                    for d in range(Dv):
                        out[bh, q0 + r, d] = 0.0
                    lse[bh, q0 + r] = -np.inf
        item = claim(work)


# ---------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------
# The per-block part every backward shares, for query block q0 and key block k0:
#   S = Q K^T / sqrt(D) (masked)   P = exp(S - lse)   dP = dO V^T   dS = P (dP - D_i)
# leaves P in S and dS in dP.  shift = lse, or +inf for rows that saw nothing (or do
# not exist), so that their P = exp(S - inf) = 0.  The block's rows start at `row` of
# q and dout (q0 for the whole padded arrays here; 0 for attention_one_block.py's
# one-block copies, which still mask as queries q0, q0 + 1, ...).
# $$ S = \frac{Q K^\top}{\sqrt{d_k}} \ \text{(masked)}, \qquad P_{ij} = \exp(S_{ij} - \mathrm{lse}_i), \qquad dP = dO\, V^\top, \qquad dS_{ij} = P_{ij}\, (dP_{ij} - D_i) $$
# $$ \mathrm{shift}_i = \begin{cases} \mathrm{lse}_i & \text{row } i \text{ saw a key} \\ +\infty & \text{otherwise (so } P_{ij} = 0) \end{cases} $$
@njit(cache=True)
def _probs_and_dscores(q, k_T, dout, v_T, row, q0, k0, shift, delta, S, dP, scratch,
                       Tq, Tk, D, Dv, scale, causal, offset, has_mask, mask, slab):
    _block_product(BQ, BK, D, q, row, False, k_T, 0, k0, S, False)
    _block_product(BQ, BK, Dv, dout, row, False, v_T, 0, k0, dP, False)
    _dscores(S, dP, q0, k0, shift, delta, scratch, Tq, Tk, scale, causal, offset, has_mask, mask, slab)



@njit(cache=True)
def _query_rows(lse, delta, bh, q0, Tq, shift, delta_b):
    for r in range(BQ):
        i = q0 + r
        if i < Tq and lse[bh, i] != -np.inf:
            shift[r] = lse[bh, i]
            delta_b[r] = delta[bh, i]
        else:
            shift[r] = np.inf
            delta_b[r] = 0.0


# One worker's blocks: S, dP (BQ, BK) probabilities and score gradients; dK (BK, D_pad), dV (BK, Dv_pad)
# one key block's gradients; dQ (BQ, D_pad) one query block's; shift, delta_b (BQ,) the rows' lse and D_i
@njit(cache=True, nogil=True)
def _work_blocks(q, dout):
    D_pad, Dv_pad = q.shape[2], dout.shape[2]
    return (np.empty((BQ, BK), dtype=q.dtype), np.empty((BQ, BK), dtype=q.dtype),
            np.empty((BK, D_pad), dtype=q.dtype), np.empty((BK, Dv_pad), dtype=q.dtype),
            np.empty((BQ, D_pad), dtype=q.dtype), np.empty(BQ, dtype=q.dtype), np.empty(BQ, dtype=q.dtype),
            np.empty(BK, dtype=q.dtype))


#   q (BH, Tq_pad, D_pad)  k (BH, Tk_pad, D_pad)  k_T (BH, D, Tk_pad)  v_T (BH, Dv, Tk_pad)
#   dout (BH, Tq_pad, Dv_pad), all zero-padded;  lse, delta (BH, Tq)
# Key block kb of head bh against every query block that sees it:
#   dV = sum_qb P^T dO,   dK = sum_qb dS^T Q / sqrt(D)                written into dk, dv
#   with_dq (the per-head pass, whose core owns the head's dq too): dQ_all[qb] += dS K in the same sweep
# $$ dV = \sum_{qb} P^\top dO, \qquad dK = \frac{1}{\sqrt{d_k}} \sum_{qb} dS^\top Q, \qquad \mathrm{with\_dq}:\ dQ^{(qb)} \leftarrow dQ^{(qb)} + dS\, K $$
@njit(cache=True, nogil=True)
def _key_block_sweep(bh, kb, q, k, k_T, v_T, dout, lse, delta, Tq, Tk, D, Dv, mask, slab, has_mask, causal,
                     blocks, with_dq, dQ_all, dk, dv):
    S, dP, dK, dV, _, shift, delta_b, scratch = blocks
    D_pad, Dv_pad = q.shape[2], dout.shape[2]
    offset = Tk - Tq
    scale = _inv_sqrt(D, q)
    k0 = kb * BK
    dK[:] = 0.0
    dV[:] = 0.0
    for qb in range(_first_query_block(kb, Tq, causal, offset), (Tq + BQ - 1) // BQ):
        q0 = qb * BQ
        _query_rows(lse, delta, bh, q0, Tq, shift, delta_b)
        _probs_and_dscores(q[bh], k_T[bh], dout[bh], v_T[bh], q0, q0, k0, shift, delta_b, S, dP,
                           scratch, Tq, Tk, D, Dv, scale, causal, offset, has_mask, mask, slab[bh])
        _block_product(BK, Dv_pad, BQ, S, 0, True, dout[bh], q0, 0, dV, True)   # dV += P^T dO
        _block_product(BK, D_pad, BQ, dP, 0, True, q[bh], q0, 0, dK, True)     # dK += dS^T Q
        if with_dq:
            _block_product(BQ, D_pad, BK, dP, 0, False, k[bh], k0, 0, dQ_all[qb], True)  # dQ += dS K
    for c in range(min(BK, Tk - k0)):
        for d in range(D):
            dk[bh, k0 + c, d] = dK[c, d] * scale
        for d in range(Dv):
            dv[bh, k0 + c, d] = dV[c, d]


# Pass 1 of 2, work items over key blocks (a short block t with the long block n - 1 - t): dK, dV
@njit(cache=True, nogil=True)
def _backward_key_blocks(work, q, k, k_T, v_T, dout, lse, delta, Tq, Tk, D, Dv,
                         mask, slab, has_mask, causal, dq, dk, dv):
    BH = q.shape[0]
    n_k_blocks, n_pairs = _block_pairs(Tk, BK)
    no_dq = np.empty((0, BQ, q.shape[2]), dtype=q.dtype)
    item = claim(work)
    while item < BH * n_pairs:
        bh, t = item // n_pairs, item % n_pairs
        blocks = _work_blocks(q, dout)
        for half in range(2):
            kb = _pair_block(t, half, n_k_blocks)
            if half == 1 and kb == t:
                break
            _key_block_sweep(bh, kb, q, k, k_T, v_T, dout, lse, delta, Tq, Tk, D, Dv, mask, slab, has_mask,
                             causal, blocks, False, no_dq, dk, dv)
        item = claim(work)


# Pass 2 of 2, work items over query blocks: dQ = dS K / sqrt(D)
# $$ dQ = \frac{1}{\sqrt{d_k}} \sum_{kb} dS\, K $$
@njit(cache=True, nogil=True)
def _backward_query_blocks(work, q, k, k_T, v_T, dout, lse, delta, Tq, Tk, D, Dv,
                           mask, slab, has_mask, causal, dq, dk, dv):
    BH, D_pad = q.shape[0], q.shape[2]
    offset = Tk - Tq
    scale = _inv_sqrt(D, q)
    n_q_blocks, n_pairs = _block_pairs(Tq, BQ)
    item = claim(work)
    while item < BH * n_pairs:
        bh, t = item // n_pairs, item % n_pairs
        S, dP, _, _, dQ, shift, delta_b, scratch = _work_blocks(q, dout)
        for half in range(2):
            qb = _pair_block(t, half, n_q_blocks)
            if half == 1 and qb == t:
                break
            q0 = qb * BQ
            _query_rows(lse, delta, bh, q0, Tq, shift, delta_b)
            dQ[:] = 0.0
            for kb in range(_n_key_blocks(qb, Tq, Tk, causal, offset)):
                k0 = kb * BK
                _probs_and_dscores(q[bh], k_T[bh], dout[bh], v_T[bh], q0, q0, k0, shift, delta_b, S, dP,
                                   scratch, Tq, Tk, D, Dv, scale, causal, offset, has_mask, mask, slab[bh])
                _block_product(BQ, D_pad, BK, dP, 0, False, k[bh], k0, 0, dQ, True)    # dQ += dS K
            for r in range(min(BQ, Tq - q0)):
                for d in range(D):
                    dq[bh, q0 + r, d] = dQ[r, d] * scale
        item = claim(work)


# One pass, parallel over batch*head: a head belongs to one core, which owns its
# dq as well, so dQ += dS K is accumulated in the same sweep as dK and dV (5 block
# products per block pair instead of 7).  Used when there are enough heads to
# keep every core busy; same arguments as the two passes.
@njit(cache=True, nogil=True)
def _backward_per_head(work, q, k, k_T, v_T, dout, lse, delta, Tq, Tk, D, Dv,
                       mask, slab, has_mask, causal, dq, dk, dv):
    BH = q.shape[0]
    scale = _inv_sqrt(D, q)
    n_q_blocks = (Tq + BQ - 1) // BQ
    bh = claim(work)
    while bh < BH:
        blocks = _work_blocks(q, dout)
        dQ_all = np.zeros((n_q_blocks, BQ, q.shape[2]), dtype=q.dtype)
        for kb in range((Tk + BK - 1) // BK):
            _key_block_sweep(bh, kb, q, k, k_T, v_T, dout, lse, delta, Tq, Tk, D, Dv, mask, slab, has_mask,
                             causal, blocks, True, dQ_all, dk, dv)
        for i in range(Tq):
            for d in range(D):
                dq[bh, i, d] = dQ_all[i // BQ, i % BQ, d] * scale
        bh = claim(work)


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------
# mask broadcastable to (*lead, Tq, Tk)  ->  slabs (n_slabs, mq, mk) and slab index per batch-head
def _mask_slabs(mask, lead):
    BH = int(np.prod(lead, dtype=np.int64))
    if mask is None:
        return np.ones((1, 1, 1), dtype=np.bool_), np.zeros(BH, dtype=np.int64), False
    full = mask.reshape((1,) * (len(lead) + 2 - mask.ndim) + mask.shape)
    mask_lead = full.shape[:-2]
    n_slabs = int(np.prod(mask_lead, dtype=np.int64))
    slab = np.broadcast_to(np.arange(n_slabs).reshape(mask_lead), lead).reshape(BH).astype(np.int64)
    slabs = np.ascontiguousarray(full.reshape(n_slabs, full.shape[-2], full.shape[-1]))
    return slabs, slab, True
# Backward one head per core when the heads split evenly over the cores (or there
# are so many that the last uneven round hardly matters); else the two passes.
def _one_head_per_core(BH):
    threads = numba.get_num_threads()
    return BH % threads == 0 or BH >= 4 * threads


# x (BH, T, C) -> (BH, rows, cols) with zeros past the end (x itself when it already fits)
def _padded(x, rows, cols):
    if x.shape[1:] == (rows, cols):
        return x
    y = np.zeros((x.shape[0], rows, cols), dtype=x.dtype)
    y[:, :x.shape[1], :x.shape[2]] = x
    return y


# x (BH, T, C) -> x^T (BH, C, rows) with zeros past T
def _transposed(x, rows):
    y = np.zeros((x.shape[0], x.shape[2], rows), dtype=x.dtype)
    y[:, :, :x.shape[1]] = x.swapaxes(1, 2)
    return y


# out = softmax(Q K^T / sqrt(D) + mask) V, computed block by block (see the module docstring)
#   q (..., Tq, D)   k (..., Tk, D)   v (..., Tk, Dv)   ->   out (..., Tq, Dv)
# $$ \mathrm{out} = \operatorname{softmax}(A)\, V, \qquad A_{ij} = \begin{cases} q_i k_j^\top / \sqrt{d_k} & M_{ij} \text{ and (not causal or } j \le i + T_k - T_q) \\ -\infty & \text{otherwise} \end{cases} $$
def attention_forward(q, k, v, *, mask=None, causal=False):
    check_float_array("q", q, min_ndim=2)
    check_float_array("k", k, min_ndim=2)
    check_float_array("v", v, min_ndim=2)
    check_flag("causal", causal)
    if q.dtype not in (np.float32, np.float64):
        raise TypeError(f"q must be float32 or float64, got dtype {q.dtype}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name} must have q's dtype {q.dtype}, got {x.dtype}")
    *lead, Tq, D = q.shape
    lead = tuple(lead)
    Tk = k.shape[-2]
    if k.shape != (*lead, Tk, D):
        raise ValueError(f"k must have shape (..., Tk, D) = {(*lead, 'Tk', D)} with q's leading axes and D, "
                         f"got {k.shape}")
    if v.ndim != k.ndim or v.shape[:-1] != k.shape[:-1]:
        raise ValueError(f"v must have shape (..., Tk, Dv) = {(*lead, Tk, 'Dv')} with k's leading axes and Tk, "
                         f"got {v.shape}")
    if mask is not None:
        check_bool_mask("mask", mask, (*lead, Tq, Tk))
    if D == 0:
        raise ValueError(f"q must have a head dimension D >= 1, got shape {q.shape}")
    Dv = v.shape[-1]
    if 0 < Tk <= NUMPY_KEYS:
        # a few keys: the NumPy layer (its cache, which attention_backward hands back to it)
        return layers.attention_forward(q, k, v, mask=mask, causal=causal)
    BH = int(np.prod(lead, dtype=np.int64))
    slabs, slab, has_mask = _mask_slabs(mask, lead)
    if 0 < Tk <= SHORT_KEYS and BH and Tq and Dv:
        # all keys in one block (the GPT recipe's T = 64): whole heads, read in place (attention_one_block.py)
        q4, k4, v4 = (attention_one_block.as_four_axes(x) for x in (q, k, v))
        out4, lse, saved = attention_one_block.forward(q4, k4, v4, slabs, slab, has_mask, bool(causal))
        cache = ("one block", saved, lse, (slabs, slab, has_mask), bool(causal), q.shape, k.shape, v.shape)
        return out4.reshape(*lead, Tq, Dv), cache
    q3 = np.ascontiguousarray(q.reshape(BH, Tq, D))
    k3 = np.ascontiguousarray(k.reshape(BH, Tk, D))
    v3 = np.ascontiguousarray(v.reshape(BH, Tk, Dv))
    out = np.empty((BH, Tq, Dv), dtype=q.dtype)
    lse = np.full((BH, Tq), -np.inf, dtype=q.dtype)
    if out.size and Tk:
        Tq_pad, Tk_pad = _round_up(Tq, BQ), _round_up(Tk, BK)
        in_parallel(_forward_kernel, _padded(q3, Tq_pad, D), _transposed(k3, Tk_pad),
                     _padded(v3, Tk_pad, _round_up(Dv, NC)), Tq, Tk, D, Dv, slabs, slab, has_mask, bool(causal),
                     out, lse)
    elif out.size:               # no keys at all: every row sees nothing
        out[:] = 0.0
    cache = ("flash", q3, k3, v3, out, lse, (slabs, slab, has_mask), bool(causal), q.shape, k.shape, v.shape)
    return out.reshape(*lead, Tq, Dv), cache


# dV = P^T dout,  dS = P (dout V^T - D),  dQ = dS K / sqrt(D),  dK = dS^T Q / sqrt(D)
#   with P recomputed from q, k and the saved lse; D_i = sum_d dout_id out_id
# $$ dV = P^\top d\mathrm{out}, \qquad dS_{ij} = P_{ij} \left( (d\mathrm{out}\, V^\top)_{ij} - D_i \right), \qquad dQ = \frac{dS\, K}{\sqrt{d_k}}, \qquad dK = \frac{dS^\top Q}{\sqrt{d_k}} $$
# $$ P = \exp\left(\frac{Q K^\top}{\sqrt{d_k}} - \mathrm{lse}\right), \qquad D_i = \sum_d d\mathrm{out}_{id}\, \mathrm{out}_{id} $$
def attention_backward(dout, cache):
    if not isinstance(cache[0], str):                      # the NumPy layer's cache (q, k, v, probs, scale)
        return layers.attention_backward(dout, cache)
    q_shape, k_shape, v_shape = cache[-3:]
    check_float_array("dout", dout)
    expected = (*q_shape[:-1], v_shape[-1])
    if dout.shape != expected:
        raise ValueError(f"dout must have the shape of the forward's output {expected}, got {dout.shape}")
    if cache[0] == "one block":
        _, saved, lse, (slabs, slab, has_mask), causal = cache[:5]
        dout4 = attention_one_block.as_four_axes(dout.astype(lse.dtype, copy=False))
        grads = attention_one_block.backward(dout4, saved, lse, slabs, slab, has_mask, causal)
        return tuple(g.reshape(shape) for g, shape in zip(grads, (q_shape, k_shape, v_shape)))
    _, q3, k3, v3, out, lse, (slabs, slab, has_mask), causal = cache[:8]
    dout3 = np.ascontiguousarray(dout.reshape(out.shape), dtype=out.dtype)
    BH, Tq, D = q3.shape
    Tk, Dv = v3.shape[1], v3.shape[2]
    dq = np.zeros(q3.shape, dtype=q3.dtype)
    dk = np.zeros(k3.shape, dtype=k3.dtype)
    dv = np.zeros(v3.shape, dtype=v3.dtype)
    if out.size and D and Tk:
        delta = np.einsum("btd,btd->bt", dout3, out)                 # D_i = sum_d dout_id out_id
        Tq_pad, Tk_pad = _round_up(Tq, BQ), _round_up(Tk, BK)
        D_pad, Dv_pad = _round_up(D, NC), _round_up(Dv, NC)
        args = (_padded(q3, Tq_pad, D_pad), _padded(k3, Tk_pad, D_pad), _transposed(k3, Tk_pad),
                _transposed(v3, Tk_pad), _padded(dout3, Tq_pad, Dv_pad), lse, delta,
                Tq, Tk, D, Dv, slabs, slab, has_mask, causal, dq, dk, dv)
        if _one_head_per_core(BH):
            in_parallel(_backward_per_head, *args)
        else:
            in_parallel(_backward_key_blocks, *args)
            in_parallel(_backward_query_blocks, *args)
    return dq.reshape(q_shape), dk.reshape(k_shape), dv.reshape(v_shape)

