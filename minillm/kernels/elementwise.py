"""Bias + GELU (tanh form) in Numba: the element-wise middle of the GPT feed-forward, fused.

    a   = h + b                                   h = x W_1 from BLAS, b (F,) or none
    u   = sqrt(2/pi) (a + 0.044715 a^3)
    t   = tanh(u)
    z   = 0.5 a (1 + t)                           a, t, z (N, F)

and the derivative used by the backward,

    dz/da = 0.5 (1 + t) + 0.5 a (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 a^2)

which needs no tanh at all once t is saved.  NumPy evaluates each of these
lines as its own pass over the (N, F) array with a temporary per operator
(about ten passes forward, twelve backward); here the forward is two passes
and the backward one.

tanh itself is left to np.tanh, called in place between the two forward
passes.  Numba's math.tanh is a scalar libm call: PyPI's llvmlite ships no
SVML vector math library, so a jitted tanh loop measured 5.6 ms on (768, 512)
float32 against 0.13 ms for np.tanh (which uses SIMD).

Every expression is written in the same order as minillm.layers.activations
and evaluated in the array's dtype (the constants arrive as scalars of that
dtype), no fastmath: float64 results equal the NumPy layer's bit for bit in
practice, float32 ones to rounding.
"""
import math

import numpy as np
from numba import njit

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715


# a_nf = h_nf + b_f   (in place, when there is a bias)
# u_nf = sqrt(2/pi) (a_nf + 0.044715 a_nf^3)      written into t, which np.tanh then overwrites
@njit(cache=True, error_model="numpy")
def _bias_gelu_argument(a, b, has_bias, t, sqrt_2_over_pi, cubic):
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            if has_bias:
                a[n, f] = a[n, f] + b[f]
            x = a[n, f]
            t[n, f] = sqrt_2_over_pi * (x + cubic * (x * x * x))


# z_nf = 0.5 a_nf (1 + t_nf)
@njit(cache=True, error_model="numpy")
def _gelu_output(a, t, z, half, one):
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            z[n, f] = half * a[n, f] * (one + t[n, f])


# da_nf = dz_nf * (0.5 (1 + t) + 0.5 a (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 a^2))    in place of dz
@njit(cache=True, error_model="numpy")
def _gelu_backward(dz, a, t, sqrt_2_over_pi, three_cubic, half, one):
    N, F = a.shape
    for n in range(N):
        for f in range(F):
            x = a[n, f]
            tt = t[n, f]
            du_dx = sqrt_2_over_pi * (one + three_cubic * x * x)
            dz[n, f] = dz[n, f] * (half * (one + tt) + half * x * (one - tt * tt) * du_dx)


# a (N, F) = x W_1 (modified in place to x W_1 + b),  b (F,) or None   ->   z (N, F), t (N, F)
def bias_gelu_forward(a, b):
    """Add the bias to a (in place) and return (z, t): z = gelu_tanh(a), t = tanh(u) saved for backward."""
    dt = a.dtype.type
    t = np.empty_like(a)
    bias = np.empty(0, a.dtype) if b is None else b.astype(a.dtype, copy=False)  # a typed placeholder if none
    _bias_gelu_argument(a, bias, b is not None, t, dt(SQRT_2_OVER_PI), dt(GELU_CUBIC))
    np.tanh(t, out=t)
    z = np.empty_like(a)
    _gelu_output(a, t, z, dt(0.5), dt(1.0))
    return z, t


# dz (N, F) is overwritten by da = dz * gelu'(a)
def gelu_backward_inplace(dz, a, t):
    """da = dz * d gelu_tanh(a) / da, written into dz (which is returned)."""
    dt = a.dtype.type
    _gelu_backward(dz, a, t, dt(SQRT_2_OVER_PI), dt(3 * GELU_CUBIC), dt(0.5), dt(1.0))
    return dz
