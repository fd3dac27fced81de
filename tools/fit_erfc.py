"""Fit the Chebyshev series of minillm/kernels/erf.py, the Numba kernels' erfc (and so GELU's Phi).

    erfc(z) = t exp(-z^2 + P(t)),    t = 2 / (2 + z),   z >= 0
    P(t) = sum_i c_i T_i(s),         s = (2 t - 1 - t_min) / (1 - t_min)  in [-1, 1]

t maps z in [0, Z_MAX] to [t_min, 1] (t_min = 2 / (2 + Z_MAX)); beyond Z_MAX = 28,
erfc(z) < exp(-784) is 0 in float64, so nothing is lost by clamping z there.
P is smooth in t (it tends to log(1 / (2 sqrt(pi))) as z -> infinity), so a short
Chebyshev series fits it: degree 26 for float64, 11 for float32.

Why: Numba's math.erfc is a scalar libm call (PyPI's llvmlite has no SVML, so it
does not vectorise); a series, a divide and the kernels' polynomial exp
(kernels/exp.py) are plain arithmetic that LLVM vectorises.

The data: g(z) = exp(z^2) erfc(z), from math.erfc for z < 2 and, for z >= 2, from
Laplace's continued fraction (the same one as minillm.layers.activations.erfc)
without its exp(-z^2), so nothing underflows; then P = log(g / t).  Least squares
on 200 001 points (numpy's chebfit).

    python tools/fit_erfc.py       prints the coefficients and the fit's max |error|
"""
import math

import numpy as np
from numpy.polynomial import chebyshev

Z_MAX = 28.0
T_MIN = 2.0 / (2.0 + Z_MAX)
DEGREES = {"float64": 26, "float32": 11}


def scaled_erfc(z):
    """g(z) = exp(z^2) erfc(z) for z >= 0 (float64 array)."""
    g = np.empty_like(z)
    small = z < 2.0
    g[small] = np.exp(z[small] ** 2) * np.array([math.erfc(v) for v in z[small]])
    x = z[~small]
    f = x.copy()
    for k in range(100, 0, -1):                    # f = x + (1/2) / (x + (2/2) / (x + ...))
        f = x + (k / 2.0) / f
    g[~small] = 1.0 / (math.sqrt(math.pi) * f)
    return g


def fit(degree):
    t = np.linspace(T_MIN, 1.0, 200_001)
    z = 2.0 / t - 2.0
    P = np.log(scaled_erfc(z) / t)
    s = (2.0 * t - 1.0 - T_MIN) / (1.0 - T_MIN)
    c = chebyshev.chebfit(s, P, degree)
    return c, float(np.abs(chebyshev.chebval(s, c) - P).max())


if __name__ == "__main__":
    for name, degree in DEGREES.items():
        c, err = fit(degree)
        print(f"{name}: degree {degree}, max |P error| {err:.2e}")
        print("(" + ", ".join(repr(float(v)) for v in c) + ")")
