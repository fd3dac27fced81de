"""exp without SVML: a vectorisable exp for the kernels' softmaxes.

PyPI's llvmlite ships no vector math library (SVML), so Numba's math.exp is a
scalar libm call, 4-5x slower per element than np.exp.  `_exp_rows` computes
exp(x) = 2^n e^r with n = round(x / ln 2), |r| <= ln(2)/2, e^r by its Taylor
polynomial and 2^n by writing n straight into a float's exponent bits: plain
arithmetic that LLVM vectorises.  Attention (kernels/attention.py,
attention_one_block.py) and the fused cross-entropy (kernels/fused.py) call it on
rows of scores minus their maximum, so their arguments are <= 0;
tests/test_kernels_attention.py measures its error against np.exp over its
whole range (about 1 ulp in float32, a few in float64).

    _exp_rows(S, shift, n_rows, n_cols, scratch)   S[r, c] = exp(S[r, c] - shift[r]), in place (Numba only)
    exp_kernel(x)                                  exp of a 1-D array through it (tests, notebooks)
"""
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# exp(x) = 2^n * e^r,   n = round(x log2(e)),   r = x - n ln(2) in [-ln2/2, ln2/2]
# e^r = 1 + r + r^2/2! + ... + r^d/d!   (d = 7 for float32, 13 for float64:
#       the first dropped term, (ln2/2)^(d+1)/(d+1)!, is below half an ulp)
# ln(2) is split in a short high part (n * LN2_HI is exact) and a low part.
# 2^n is built by writing n + bias into the exponent field of a float.
# Below X_MIN (the log of the smallest normal number) the result is 0 (-inf gives 0);
# above X_MAX (where 2^n would leave the exponent range) it is +inf; NaN gives NaN.
# Attention only ever asks for x <= 0 (scores minus their row maximum or logsumexp).
# $$ e^x = 2^n e^r, \qquad n = \operatorname{round}(x \log_2 e), \qquad r = x - n \ln 2 \in \left[-\frac{\ln 2}{2}, \frac{\ln 2}{2}\right] $$
# $$ e^r \approx \sum_{i=0}^{d} \frac{r^i}{i!}, \quad d = 7 \ \text{(float32)},\ 13 \ \text{(float64)}, \qquad \frac{(\ln 2 / 2)^{d+1}}{(d+1)!} < \frac{1}{2}\, \mathrm{ulp} $$
# $$ \ln 2 = \mathrm{LN2}_\mathrm{hi} + \mathrm{LN2}_\mathrm{lo}, \qquad r = (x - n\, \mathrm{LN2}_\mathrm{hi}) - n\, \mathrm{LN2}_\mathrm{lo} $$
# $$ e^x = \begin{cases} 0 & x < X_\mathrm{min} \ (\text{and } x = -\infty) \\ +\infty & x > X_\mathrm{max} \\ \mathrm{NaN} & x = \mathrm{NaN} \end{cases} $$
LOG2E_32, ROUND_32 = np.float32(1.4426950408889634), np.float32(12582912.0)      # 1.5 * 2^23
LN2_HI_32, LN2_LO_32 = np.float32(0.693359375), np.float32(-2.12194440e-4)
X_MIN_32, X_MAX_32 = np.float32(-87.3365), np.float32(88.0)
TAYLOR_32 = tuple(np.float32(1.0 / math.factorial(i)) for i in range(8))
LOG2E_64, ROUND_64 = 1.4426950408889634, 6755399441055744.0                       # 1.5 * 2^52
LN2_HI_64, LN2_LO_64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10
X_MIN_64, X_MAX_64 = -708.3964, 709.0
TAYLOR_64 = tuple(1.0 / math.factorial(i) for i in range(14))


def _exp_rows(S, shift, n_rows, n_cols, scratch):
    """S[r, c] = exp(S[r, c] - shift[r]) for r < n_rows, c < n_cols (Numba only)."""
    raise NotImplementedError("_exp_rows is compiled by Numba; call it from @njit code")


def _exp_rows_32(S, shift, n_rows, n_cols, scratch):
    c = TAYLOR_32
    bits = scratch.view(np.int32)
    two_n = scratch
    for i in range(n_rows):
        s = shift[i]
        for j in range(n_cols):
            x = S[i, j] - s
            x_c = x if x > X_MIN_32 else X_MIN_32         # keeps n in range: -inf and NaN -> X_MIN
            x_c = x_c if x_c < X_MAX_32 else X_MAX_32
            n = (x_c * LOG2E_32 + ROUND_32) - ROUND_32   # round to nearest integer
            r = (x_c - n * LN2_HI_32) - n * LN2_LO_32
            p = c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * (c[6] + r * c[7]))))))
            bits[j] = (np.int32(n) + 127) << 23          # the float 2^n
            if x < X_MIN_32:                             # out of range: 0, +inf, NaN
                p = np.float32(0.0)
            if x > X_MAX_32:
                p = np.float32(np.inf)
            if x != x:
                p = x
            S[i, j] = p
        for j in range(n_cols):
            S[i, j] *= two_n[j]


def _exp_rows_64(S, shift, n_rows, n_cols, scratch):
    c = TAYLOR_64
    bits = scratch.view(np.int64)
    two_n = scratch
    for i in range(n_rows):
        s = shift[i]
        for j in range(n_cols):
            x = S[i, j] - s
            x_c = x if x > X_MIN_64 else X_MIN_64
            x_c = x_c if x_c < X_MAX_64 else X_MAX_64
            n = (x_c * LOG2E_64 + ROUND_64) - ROUND_64
            r = (x_c - n * LN2_HI_64) - n * LN2_LO_64
            p = c[13]
            for t in range(12, -1, -1):
                p = c[t] + r * p
            bits[j] = (np.int64(n) + 1023) << 52
            if x < X_MIN_64:
                p = 0.0
            if x > X_MAX_64:
                p = np.inf
            if x != x:
                p = x
            S[i, j] = p
        for j in range(n_cols):
            S[i, j] *= two_n[j]


@overload(_exp_rows, jit_options={"cache": True})
def _exp_rows_numba(S, shift, n_rows, n_cols, scratch):
    return _exp_rows_32 if S.dtype == types.float32 else _exp_rows_64


@njit(cache=True, nogil=True)
def exp_kernel(x):
    """exp of a 1-D array through _exp_rows (for tests and the notebook)."""
    S = x.copy().reshape(1, x.size)
    _exp_rows(S, np.zeros(1, dtype=x.dtype), 1, x.size, np.empty(x.size, dtype=x.dtype))
    return S.reshape(x.size)
