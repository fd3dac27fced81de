"""Bias + GELU in Numba: the element-wise middle of the feed-forward, fused (tanh form: GPT; exact erf: BERT).

    a   = h + b                                   h = x W_1 from BLAS, b (F,) or none
    u   = sqrt(2/pi) (a + 0.044715 a^3)
    t   = tanh(u)
    z   = 0.5 a (1 + t)                           a, t, z (N, F)

and the derivative used by the backward,

    dz/da = 0.5 (1 + t) + 0.5 a (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 a^2)

which needs no tanh at all once t is saved.  NumPy evaluates each of these
lines as its own pass over the (N, F) array with a temporary per operator
(about ten passes forward, twelve backward); here the backward is one jitted
pass, and the forward one pass in float32 (two around np.tanh in float64).

tanh.  Numba's math.tanh is a scalar libm call: PyPI's llvmlite ships no SVML
vector math library, so a jitted tanh loop measured 5.6 ms on (768, 512)
float32 against 0.13 ms for np.tanh (which uses SIMD).  So:

  float64  tanh is np.tanh, called in place between two jitted passes
           (argument u, then z).  Every expression is written in the same order
           as minillm.layers.activations and evaluated in float64, no
           fastmath: the results equal the NumPy layer's bit for bit.
  float32  one pass, with tanh as a rational function (tools/fit_tanh.py):
               tanh(u) ~= v P(w) / Q(w),  v = clamp(u, -9, 9),  w = v^2 / 81
           P and Q of degree 4: multiply-adds and one divide, which LLVM
           vectorises.  Max |error| 3.6e-7 against the exact tanh (np.tanh's
           own float32 error is 0.8e-7); for |u| >= 9, where float32 tanh is
           exactly +-1, it returns exactly +-1.  tests/test_kernels_fused.py
           checks both bounds.

Measured on the GPT recipe's (768, 512) float32 activations (2 cores, quiet):
forward 0.26 ms (0.41 ms with np.tanh between two passes; the NumPy layer
2.3 ms), backward 0.19 ms (NumPy 2.8 ms).  Serial loops on purpose: inside a
training step, prange versions of these kernels (and of LayerNorm and AdamW)
gave 39.9 vs 38.4 ms per step with OMP_WAIT_POLICY=passive and 183 vs 42 ms
with libgomp's default spin-waiting, whose threads fight OpenBLAS's for the
2 cores.

The exact GELU (BERT's "gelu"), z = a Phi(a), takes Phi from kernels/erf.py and
saves it for the backward,

    dz/da = Phi(a) + a phi(a),     phi(a) = exp(-a^2 / 2) / sqrt(2 pi)

with both exponentials through kernels/exp.py: one pass forward, one backward,
in float32 and float64 (results within a few ulp of the NumPy twin, not bit for bit).
"""
import math

import numpy as np
from numba import njit

from minillm.kernels.erf import _normal_cdf_row, coefficients
from minillm.kernels.exp import _exp_rows
from minillm.kernels.threads import claim, in_parallel, new_work

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715

# tanh(u) ~= v P(w) / Q(w) for float32, coefficients from tools/fit_tanh.py (lowest degree first)
# $$ \tanh(u) \approx \frac{v\, P(w)}{Q(w)}, \qquad P(w) = \sum_{i=0}^{4} p_i w^i, \qquad Q(w) = \sum_{i=0}^{4} q_i w^i $$
TANH_X = np.float32(9.0)
TANH_P = tuple(np.float32(c) for c in (0.9999998807907104, 10.832292556762695, 22.875486373901367,
                                        10.879597663879395, 0.5675402879714966))
TANH_Q = tuple(np.float32(c) for c in (1.0, 37.8322639465332, 169.54931640625, 173.85511779785156,
                                        33.15755844116211))


# float32 tanh without libm:  v = clamp(u, -9, 9),  w = v^2 / 81,  t = v P(w) / Q(w);  exactly +-1 beyond +-9
# $$ v = \operatorname{clamp}(u, -9, 9), \qquad w = \frac{v^2}{81}, \qquad t = \begin{cases} v\, P(w) / Q(w) & |u| < 9 \\ \operatorname{sign}(u) & |u| \ge 9 \end{cases} $$
@njit(cache=True, nogil=True, error_model="numpy")
def _tanh_float32(u):
    p, q = TANH_P, TANH_Q
    v = u
    if v > TANH_X:
        v = TANH_X
    if v < -TANH_X:
        v = -TANH_X
    w = v * v * np.float32(1.0 / 81.0)
    P = p[0] + w * (p[1] + w * (p[2] + w * (p[3] + w * p[4])))
    Q = q[0] + w * (q[1] + w * (q[2] + w * (q[3] + w * q[4])))
    t = v * P / Q
    if u >= TANH_X:
        t = np.float32(1.0)
    if u <= -TANH_X:
        t = np.float32(-1.0)
    return t


# a_nf = h_nf + b_f   (in place, when there is a bias); returns a_nf
# $$ a_{nf} = h_{nf} + b_f $$
@njit(cache=True, nogil=True, inline="always")
def _add_bias(a, b, has_bias, n, f):
    if has_bias:
        a[n, f] = a[n, f] + b[f]
    return a[n, f]


# float32, one pass:  a = h + b;  u = sqrt(2/pi) (a + 0.044715 a^3);  t = tanh(u);  z = 0.5 a (1 + t)
# $$ a = h + b, \qquad u = \sqrt{\frac{2}{\pi}}\, (a + 0.044715\, a^3), \qquad t = \tanh(u), \qquad z = \frac{1}{2}\, a\, (1 + t) $$
@njit(cache=True, nogil=True, error_model="numpy")
def _bias_gelu_float32(a, b, has_bias, t, z):
    c, k = np.float32(SQRT_2_OVER_PI), np.float32(GELU_CUBIC)
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            x = _add_bias(a, b, has_bias, n, f)
            tt = _tanh_float32(c * (x + k * (x * x * x)))
            t[n, f] = tt
            z[n, f] = np.float32(0.5) * x * (np.float32(1.0) + tt)


@njit(cache=True, nogil=True, error_model="numpy")
def _tanh_float32_array(u, out):
    for i in range(u.size):
        out[i] = _tanh_float32(u[i])


def tanh_float32(u):
    """The float32 kernel's rational tanh on a 1-D float32 array (for tests and notebooks)."""
    out = np.empty_like(u)
    _tanh_float32_array(u, out)
    return out


# a_nf = h_nf + b_f   (in place, when there is a bias)
# u_nf = sqrt(2/pi) (a_nf + 0.044715 a_nf^3)      written into t, which np.tanh then overwrites
# $$ a_{nf} = h_{nf} + b_f $$
# $$ u_{nf} = \sqrt{\frac{2}{\pi}}\, (a_{nf} + 0.044715\, a_{nf}^3) $$
@njit(cache=True, nogil=True, error_model="numpy")
def _bias_gelu_argument(a, b, has_bias, t, sqrt_2_over_pi, cubic):
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            x = _add_bias(a, b, has_bias, n, f)
            t[n, f] = sqrt_2_over_pi * (x + cubic * (x * x * x))


# z_nf = 0.5 a_nf (1 + t_nf)
# $$ z_{nf} = \frac{1}{2}\, a_{nf}\, (1 + t_{nf}) $$
@njit(cache=True, nogil=True, error_model="numpy")
def _gelu_output(a, t, z, half, one):
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            z[n, f] = half * a[n, f] * (one + t[n, f])


# da_nf = dz_nf * (0.5 (1 + t) + 0.5 a (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 a^2))    in place of dz
# $$ da_{nf} = dz_{nf} \left( \frac{1}{2}(1 + t_{nf}) + \frac{1}{2}\, a_{nf}\, (1 - t_{nf}^2)\, \sqrt{\frac{2}{\pi}} \left(1 + 3 \cdot 0.044715\, a_{nf}^2\right) \right) $$
@njit(cache=True, nogil=True, error_model="numpy")
def _gelu_backward(dz, a, t, sqrt_2_over_pi, three_cubic, half, one):
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            x = a[n, f]
            tt = t[n, f]
            du_dx = sqrt_2_over_pi * (one + three_cubic * x * x)
            dz[n, f] = dz[n, f] * (half * (one + tt) + half * x * (one - tt * tt) * du_dx)


# a (N, F) = x W_1 (modified in place to x W_1 + b),  b (F,) or None   ->   z (N, F), t (N, F)
# $$ a \leftarrow x W_1 + b $$
def bias_gelu_forward(a, b):
    """Add the bias to a (in place) and return (z, t): z = gelu_tanh(a), t = tanh(u) saved for backward."""
    dt = a.dtype.type
    t, z = np.empty_like(a), np.empty_like(a)
    bias = np.empty(0, a.dtype) if b is None else b.astype(a.dtype, copy=False)  # a typed placeholder if none
    if a.dtype == np.float32:
        _bias_gelu_float32(a, bias, b is not None, t, z)
        return z, t
    _bias_gelu_argument(a, bias, b is not None, t, dt(SQRT_2_OVER_PI), dt(GELU_CUBIC))
    np.tanh(t, out=t)
    _gelu_output(a, t, z, dt(0.5), dt(1.0))
    return z, t


# dz (N, F) is overwritten by da = dz * gelu'(a)
# $$ da = dz \odot \operatorname{GELU}'(a) $$
def gelu_backward_inplace(dz, a, t):
    """da = dz * d gelu_tanh(a) / da, written into dz (which is returned)."""
    dt = a.dtype.type
    _gelu_backward(dz, a, t, dt(SQRT_2_OVER_PI), dt(3 * GELU_CUBIC), dt(0.5), dt(1.0))
    return dz


# ---------------------------------------------------------------------------
# Exact GELU (erf form), row by row:  a = h + b,  Phi = Phi(a),  z = a Phi
# Unlike the tanh form, the rows are shared out to both cores (kernels/threads.py's pool:
# each thread claims blocks of ROWS rows from one counter): Phi costs a few times the tanh
# form, and BERT's activations are big (all-MiniLM-L6-v2 on 16 x 62 tokens: 992 x 1536 per
# layer).  Inside a data-parallel shard the pool has one thread and this runs serially.
# ---------------------------------------------------------------------------
ROWS = 16                  # rows per work item
PARALLEL_MIN = 1 << 16     # fewer elements than this: one thread (waking a helper costs more)


# $$ a = h + b, \qquad z = a\, \Phi(a) $$
@njit(cache=True, nogil=True, error_model="numpy")
def _bias_gelu_erf(work, a, b, has_bias, Phi, z, c, k):
    N, F = a.shape
    y, t, scratch = np.empty((1, F), a.dtype), np.empty(F, a.dtype), np.empty(F, a.dtype)
    item = claim(work)
    while item * ROWS < N:
        for n in range(item * ROWS, min(N, (item + 1) * ROWS)):
            if has_bias:
                for f in range(F):
                    a[n, f] = a[n, f] + b[f]
            _normal_cdf_row(a[n], Phi[n], c, k, y, t, scratch)
            for f in range(F):
                z[n, f] = a[n, f] * Phi[n, f]
        item = claim(work)


# da_nf = dz_nf (Phi_nf + a_nf phi(a_nf)),   phi(a) = exp(-a^2 / 2) / sqrt(2 pi)      in place of dz
# $$ da_{nf} = dz_{nf} \left( \Phi(a_{nf}) + a_{nf}\, \phi(a_{nf}) \right), \qquad \phi(a) = \frac{e^{-a^2/2}}{\sqrt{2\pi}} $$
@njit(cache=True, nogil=True, error_model="numpy")
def _gelu_erf_backward(work, a, dz, Phi, minus_half, inv_sqrt_2pi):
    N, F = a.shape
    y, scratch = np.empty((1, F), a.dtype), np.empty(F, a.dtype)
    zero = np.zeros(1, dtype=a.dtype)
    item = claim(work)
    while item * ROWS < N:
        for n in range(item * ROWS, min(N, (item + 1) * ROWS)):
            for f in range(F):
                y[0, f] = minus_half * a[n, f] * a[n, f]
            _exp_rows(y, zero, 1, F, scratch)                 # y = exp(-a^2 / 2)
            for f in range(F):
                dz[n, f] = dz[n, f] * (Phi[n, f] + a[n, f] * (y[0, f] * inv_sqrt_2pi))
        item = claim(work)


def _run(kernel, a, *args):
    """kernel(work, a, *args) on the pool's threads when a is big, else on this thread alone."""
    if a.size >= PARALLEL_MIN:
        in_parallel(kernel, a, *args)
    else:
        kernel(new_work(), a, *args)


# a (N, F) = x W_1 (modified in place to x W_1 + b),  b (F,) or None   ->   z (N, F), Phi (N, F)
# $$ a \leftarrow x W_1 + b, \qquad z = a\, \Phi(a) $$
def bias_gelu_erf_forward(a, b):
    """Add the bias to a (in place) and return (z, Phi): z = gelu_erf(a), Phi = Phi(a) saved for backward."""
    Phi, z = np.empty_like(a), np.empty_like(a)
    bias = np.empty(0, a.dtype) if b is None else b.astype(a.dtype, copy=False)
    c, k = coefficients(a.dtype)
    _run(_bias_gelu_erf, a, bias, b is not None, Phi, z, c, k)
    return z, Phi


# dz (N, F) is overwritten by da = dz * gelu_erf'(a)
# $$ da = dz \odot \left( \Phi(a) + a\, \phi(a) \right) $$
def gelu_erf_backward_inplace(dz, a, Phi):
    """da = dz * d gelu_erf(a) / da, written into dz (which is returned)."""
    dt = a.dtype.type
    _run(_gelu_erf_backward, a, dz, Phi, dt(-0.5), dt(1.0 / math.sqrt(2.0 * math.pi)))
    return dz
