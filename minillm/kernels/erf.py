"""The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 without libm: exact-erf GELU for the Numba kernels.

BERT's GELU is the exact one, x Phi(x) (minillm.layers.activations, approximate="none").
Numba's math.erf is a scalar libm call (PyPI's llvmlite ships no SVML vector math),
and the NumPy twin sums a 40-term series over the whole array: on all-MiniLM-L6-v2's
(992, 1536) activations it took about a quarter of a second per layer.  Here erfc is a
short Chebyshev series, one divide and the kernels' polynomial exp (kernels/exp.py):
plain arithmetic that LLVM vectorises.

    erfc(z) = t exp(-z^2 + P(t)),     t = 2 / (2 + z),    z >= 0
    P(t)    = sum_i c_i T_i(s),       s = (2 t - 1 - t_min) / (1 - t_min)  in [-1, 1]
    Phi(x)  = erfc(|x| / sqrt 2) / 2          x <= 0
            = 1 - erfc(|x| / sqrt 2) / 2      x >  0

z is clamped to Z_MAX = 28 (erfc(28) < 1e-341 is 0 in float64; t_min = 2 / 30).
The coefficients come from tools/fit_erfc.py: degree 26 for float64 (|P error| 2.5e-15,
so erfc is good to about 1e-14 relative), degree 11 for float32 (2.5e-8).
tests/test_kernels_erf.py measures Phi against math.erf and the NumPy twin.

    normal_cdf_rows(x, Phi)       Phi[n, f] = Phi(x[n, f]) for a 2-D float array (Numba)
    normal_cdf(x)                 the same on any float array (tests, notebooks)
"""
import math

import numpy as np
from numba import njit

from minillm.kernels.exp import _exp_rows

Z_MAX = 28.0
T_MIN = 2.0 / (2.0 + Z_MAX)

# tools/fit_erfc.py, lowest degree first
ERFC_CHEB_64 = (
    -0.6121127969475522, 0.6066093233955933, 0.014072164265718178, -0.00830924380805532,
    -0.0005536038880313176, 0.0002912283504420721, 1.6327895657085178e-05, -1.4009715542717105e-05,
    -3.7411213392723373e-08, 7.328204591054707e-07, -5.6968092734254316e-08, -3.55965752228754e-08,
    6.8448660750431285e-09, 1.2903532527320218e-09, -5.505183392760919e-10, -4.9901354218736395e-12,
    3.263445609410582e-11, -4.3462047217694345e-12, -1.2202382295168598e-12, 4.3554462656705255e-13,
    -3.318306978622195e-15, -2.3178677544920845e-14, 4.076262762345493e-15, 4.719625359383482e-16,
    -3.3781043744318163e-16, -8.537539229467337e-17, -2.2662498496051397e-16)
ERFC_CHEB_32 = tuple(np.float32(c) for c in (
    -0.6121127979929111, 0.6066093230034526, 0.014072162147293387, -0.00830924420913925,
    -0.0005536060966004753, 0.0002912279294838708, 1.6325507788029178e-05, -1.4010172705027665e-05,
    -4.014202787691922e-08, 7.322965797683984e-07, -6.04670209782963e-08, -3.626645682996661e-08))


def _constants(dtype):
    """(1/sqrt 2, Z_MAX, s = t * a + b: a, b, 1/2, 1, 2) in the array's dtype."""
    a = 2.0 / (1.0 - T_MIN)
    b = -(1.0 + T_MIN) / (1.0 - T_MIN)
    return tuple(dtype.type(v) for v in (1.0 / math.sqrt(2.0), Z_MAX, a, b, 0.5, 1.0, 2.0))


# Per row, three passes over F numbers:
#   z_f = min(|x_f| / sqrt 2, Z_MAX),   t_f = 2 / (2 + z_f),   y_f = P(t_f) - z_f^2      (Clenshaw's recurrence)
#   y_f = exp(y_f)                                                                      (kernels/exp.py)
#   e_f = t_f y_f / 2 = erfc(z_f) / 2,  Phi_f = e_f (x_f <= 0)  or  1 - e_f (x_f > 0);  NaN stays NaN
# $$ z = \min\left(\frac{|x|}{\sqrt 2}, Z_\mathrm{max}\right), \qquad t = \frac{2}{2 + z}, \qquad y = P(t) - z^2, \qquad P(t) = \sum_i c_i T_i(s) $$
# $$ \tfrac{1}{2} \operatorname{erfc}(z) = \tfrac{1}{2}\, t\, e^{y}, \qquad \Phi(x) = \begin{cases} \tfrac{1}{2} \operatorname{erfc}(z) & x \le 0 \\ 1 - \tfrac{1}{2} \operatorname{erfc}(z) & x > 0 \end{cases} $$
@njit(cache=True, nogil=True, error_model="numpy")
def _normal_cdf_row(x, Phi, c, k, y, t, scratch):
    """Phi[f] = Phi(x[f]) for one row x (F,); y (3, F), t and scratch (F,) are work space (Numba only).

    Each step is its own loop over the row, so that LLVM vectorises every one of them."""
    inv_sqrt2, z_max, s_scale, s_shift, half, one, two = k
    F = x.shape[0]
    n_c = len(c)
    s, b1, b2 = y[1], y[2], scratch
    for f in range(F):
        z = abs(x[f]) * inv_sqrt2
        z = z if z < z_max else z_max                      # (NaN becomes Z_MAX here; restored below)
        tt = two / (two + z)
        t[f] = tt
        s[f] = two * (tt * s_scale + s_shift)              # 2 s, for Clenshaw's recurrence
        b1[f] = c[n_c - 1]
        b2[f] = 0
        y[0, f] = z * z
    # Clenshaw: b_i = c_i + 2 s b_{i+1} - b_{i+2}, i = n - 2 .. 1;  P = c_0 + s b_1 - b_2
    for i in range(n_c - 2, 0, -1):
        ci = c[i]
        for f in range(F):
            b0 = ci + s[f] * b1[f] - b2[f]
            b2[f] = b1[f]
            b1[f] = b0
    for f in range(F):
        y[0, f] = c[0] + half * s[f] * b1[f] - b2[f] - y[0, f]
    _exp_rows(y, np.zeros(1, dtype=y.dtype), 1, F, scratch)
    for f in range(F):
        e = half * t[f] * y[0, f]
        v = x[f]
        p = one - e if v > 0 else e
        Phi[f] = p if v == v else v


@njit(cache=True, nogil=True)
def _normal_cdf_rows(x, Phi, c, k, y, t, scratch):
    for n in range(x.shape[0]):
        _normal_cdf_row(x[n], Phi[n], c, k, y, t, scratch)


def coefficients(dtype):
    """The Chebyshev coefficients and the constants of _normal_cdf_row, for float32 or float64."""
    return (ERFC_CHEB_32 if dtype == np.float32 else ERFC_CHEB_64), _constants(dtype)


def normal_cdf_rows(x, Phi):
    """Phi[n, f] = Phi(x[n, f]) for C-contiguous 2-D float32 or float64 arrays of one dtype."""
    F = x.shape[1]
    c, k = coefficients(x.dtype)
    _normal_cdf_rows(x, Phi, c, k, np.empty((3, F), x.dtype), np.empty(F, x.dtype), np.empty(F, x.dtype))
    return Phi


def normal_cdf(x):
    """Phi(x) of a float32 or float64 array of any shape, through the kernel (for tests and notebooks)."""
    x2 = np.ascontiguousarray(x).reshape(1, -1) if x.size else np.zeros((1, 0), x.dtype)
    return normal_cdf_rows(x2, np.empty_like(x2)).reshape(x.shape)

