"""The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 without libm: exact-erf GELU for the Numba kernels.

BERT's GELU is the exact one, x Phi(x) (minillm.layers.activations, approximate="none").
Numba's math.erf is a scalar libm call (PyPI's llvmlite ships no SVML vector math),
and the NumPy twin sums a 40-term series over the whole array: on all-MiniLM-L6-v2's
(992, 1536) activations it took about a quarter of a second per layer.  Here erfc is a
short Chebyshev series, one divide and the kernels' polynomial exp (kernels/exp.py):
plain arithmetic that LLVM vectorises.

    erfc(z) = t exp(-z^2 + P(t)),     t = 2 / (2 + z),    z >= 0
    P(t)    = sum_i c_i T_i(s),       s = (2 t - 1 - t_min) / (1 - t_min)  in [-1, 1]
            = sum_i a_i s^i           (the same polynomial in powers of s, evaluated by Horner's rule)
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
#   z_f = min(|x_f| / sqrt 2, Z_MAX),   t_f = 2 / (2 + z_f),   y_f = P(t_f) - z_f^2      (P by Horner's rule in s)
#   y_f = exp(y_f)                                                                      (kernels/exp.py)
#   e_f = t_f y_f / 2 = erfc(z_f) / 2,  Phi_f = e_f (x_f <= 0)  or  1 - e_f (x_f > 0);  NaN stays NaN
# $$ z = \min\left(\frac{|x|}{\sqrt 2}, Z_\mathrm{max}\right), \qquad t = \frac{2}{2 + z}, \qquad y = P(t) - z^2, \qquad P(t) = \sum_i c_i T_i(s) = \sum_i a_i s^i $$
# $$ \tfrac{1}{2} \operatorname{erfc}(z) = \tfrac{1}{2}\, t\, e^{y}, \qquad \Phi(x) = \begin{cases} \tfrac{1}{2} \operatorname{erfc}(z) & x \le 0 \\ 1 - \tfrac{1}{2} \operatorname{erfc}(z) & x > 0 \end{cases} $$
@njit(cache=True, nogil=True, error_model="numpy")
def _normal_cdf_row(x, Phi, a, k, y, t, scratch):
    """Phi[f] = Phi(x[f]) for one row x (F,); y (1, F), t and scratch (F,) are work space (Numba only)."""
    inv_sqrt2, z_max, s_scale, s_shift, half, one, two = k
    F = x.shape[0]
    n_a = len(a)
    for f in range(F):
        z = abs(x[f]) * inv_sqrt2
        z = min(z, z_max)                                  # (NaN stays NaN or becomes Z_MAX; restored below)
        tt = two / (two + z)
        s = tt * s_scale + s_shift
        P = a[n_a - 1]
        for i in range(n_a - 2, -1, -1):                   # Horner: P = a_0 + s (a_1 + s (a_2 + ...))
            P = P * s + a[i]
        y[0, f] = P - z * z
        t[f] = tt
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


def power_series(chebyshev_coefficients, dtype):
    """sum_i c_i T_i(s) rewritten as sum_i a_i s^i (numpy's cheb2poly, in float64), in `dtype`.

    The a_i are small (sum |a_i| = 1.35), so Horner's rule loses nothing to cancellation; and a
    Horner loop in registers vectorises, where Clenshaw's recurrence over the same row did not."""
    a = np.polynomial.chebyshev.cheb2poly(np.array(chebyshev_coefficients, dtype=np.float64))
    return tuple(dtype.type(v) for v in a)


ERFC_POWERS = {np.dtype(np.float64): power_series(ERFC_CHEB_64, np.dtype(np.float64)),
               np.dtype(np.float32): power_series(ERFC_CHEB_32, np.dtype(np.float32))}


def coefficients(dtype):
    """The power-series coefficients and the constants of _normal_cdf_row, for float32 or float64."""
    return ERFC_POWERS[np.dtype(dtype)], _constants(np.dtype(dtype))


def normal_cdf_rows(x, Phi):
    """Phi[n, f] = Phi(x[n, f]) for C-contiguous 2-D float32 or float64 arrays of one dtype."""
    F = x.shape[1]
    c, k = coefficients(x.dtype)
    _normal_cdf_rows(x, Phi, c, k, np.empty((1, F), x.dtype), np.empty(F, x.dtype), np.empty(F, x.dtype))
    return Phi


def normal_cdf(x):
    """Phi(x) of a float32 or float64 array of any shape, through the kernel (for tests and notebooks)."""
    x2 = np.ascontiguousarray(x).reshape(1, -1) if x.size else np.zeros((1, 0), x.dtype)
    return normal_cdf_rows(x2, np.empty_like(x2)).reshape(x.shape)

