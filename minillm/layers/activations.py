"""Element-wise activations: the sigma of the article's F(x) = sigma(W_2 sigma(W_1 x)) (§4.1).

Every function works element by element, so any shape (...) is accepted and
out, dx have the shape of x.  float32 in gives float32 out; float64 stays float64.

    relu(x)    = max(x, 0)
    sigmoid(x) = 1 / (1 + exp(-x))
    tanh(x)
    silu(x)    = x * sigmoid(x)                          (also called swish)
    gelu(x)    = x * Phi(x)                              Phi = standard normal CDF
    swiglu(a, b) = silu(a) * b                           (LLaMA's gated feed-forward)

NumPy has no erf, so this file also carries a vectorised erf/erfc (float64,
about 1e-16 relative error) for the exact GELU.

Derived in notebooks/08_feedforward.ipynb.
"""
import math

import numpy as np

from minillm.checks import check_choice, check_float_array, check_same_shape

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
_GELU_VARIANTS = {"tanh", "none"}


# ---------------------------------------------------------------------------
# erf and erfc in NumPy (float64)
#
# Small |x| (< 2): a power series whose terms are all positive, so nothing cancels:
#   erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_{n>=0} 2^n x^(2n+1) / (1*3*5*...*(2n+1))
#   term_0 = x,   term_n = term_{n-1} * 2 x^2 / (2n + 1)
#   At |x| = 2 the ratio 2x^2/(2n+1) drops below 1e-16-worthy terms after ~40 steps.
#
# Large x (>= 2): erfc as a continued fraction (Laplace), evaluated bottom-up:
#   erfc(x) = exp(-x^2)/sqrt(pi) * 1 / (x + (1/2) / (x + (2/2) / (x + (3/2) / (x + ...))))
#   60 levels reach float64 round-off for x >= 2; it converges faster as x grows.
#   erfc is then accurate *relative to itself* (~1e-16) deep into the tail, which
#   1 - erf(x) could never be (erf(x) rounds to 1.0 once x > 6).
#
# exp(-x^2) for large x: x^2 rounds with a relative error ~1e-16, which exp turns
# into an error of x^2 * 1e-16 (1e-13 at x = 26).  So split x = x_hi + x_lo with
# x_hi having 24 significant bits: x_hi^2 is then exact in float64 and
#   exp(-x^2) = exp(-x_hi^2) * exp(-(x - x_hi)(x + x_hi)).
# ---------------------------------------------------------------------------
# $$ \operatorname{erf}(x) = \frac{2}{\sqrt{\pi}} \exp(-x^2) \sum_{n \ge 0} \frac{2^n x^{2n+1}}{1 \cdot 3 \cdot 5 \cdots (2n+1)} \qquad |x| < 2 $$
# $$ \mathrm{term}_0 = x, \qquad \mathrm{term}_n = \mathrm{term}_{n-1} \cdot \frac{2 x^2}{2n + 1} $$
# $$ \operatorname{erfc}(x) = \frac{\exp(-x^2)}{\sqrt{\pi}} \cdot \frac{1}{x + \frac{1/2}{x + \frac{2/2}{x + \frac{3/2}{x + \cdots}}}} \qquad x \ge 2 $$
# $$ \exp(-x^2) = \exp(-x_{\mathrm{hi}}^2) \cdot \exp\left(-(x - x_{\mathrm{hi}})(x + x_{\mathrm{hi}})\right) $$
# $$ x_{\mathrm{hi}} = x \text{ rounded to 24 significant bits} $$
_SERIES_TERMS = 40
_CF_DEPTH = 60
_SWITCH = 2.0
_ERFC_ZERO = 28.0  # erfc(x) < 5e-324, the smallest float64, once x > 27.3: exp(-28^2) is exactly 0


def _exp_minus_square(x):
    """exp(-x^2) without the x^2 rounding error (x float64, |x| <= 28)."""
    x_hi = x.astype(np.float32).astype(np.float64)  # 24 bits: x_hi * x_hi is exact
    return np.exp(-x_hi * x_hi) * np.exp(-(x - x_hi) * (x + x_hi))


def _erf_series(x):
    """erf(x) for |x| < 2 by the all-positive series (x float64 array)."""
    two_x2 = 2.0 * x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, _SERIES_TERMS):
        term = term * two_x2 / (2 * n + 1)
        total = total + term
    return (2.0 / _SQRT_PI) * np.exp(-x * x) * total


def _erfc_continued_fraction(x):
    """erfc(x) for x >= 2 by Laplace's continued fraction (x float64 array)."""
    x = np.minimum(x, _ERFC_ZERO)  # beyond 28 the answer is 0.0 in float64 anyway
    f = x.copy()
    for k in range(_CF_DEPTH, 0, -1):
        f = x + (k / 2.0) / f
    return _exp_minus_square(x) / (_SQRT_PI * f)


def erf(x):
    """Error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, element-wise.

    Computed in float64 and returned in the dtype of x (float input) or float64.
    """
    x = np.asarray(x)
    z = x.astype(np.float64)
    a = np.abs(z)
    small = a < _SWITCH
    out = np.empty_like(z)
    out[small] = _erf_series(z[small])
    # erf(x) = sign(x) * (1 - erfc(|x|)) for |x| >= 2
    # $$ \operatorname{erf}(x) = \operatorname{sign}(x) \left(1 - \operatorname{erfc}(|x|)\right) \qquad |x| \ge 2 $$
    out[~small] = np.sign(z[~small]) * (1.0 - _erfc_continued_fraction(a[~small]))
    out[np.isnan(z)] = np.nan
    return out.astype(x.dtype) if x.dtype.kind == "f" else out


def erfc(x):
    """Complementary error function erfc(x) = 1 - erf(x), accurate in both tails."""
    x = np.asarray(x)
    z = x.astype(np.float64)
    out = np.empty_like(z)
    big = z >= _SWITCH
    tiny = z <= -_SWITCH
    middle = ~(big | tiny)
    out[big] = _erfc_continued_fraction(z[big])
    # erfc(-x) = 2 - erfc(x): no cancellation, erfc(x) is small there
    # $$ \operatorname{erfc}(-x) = 2 - \operatorname{erfc}(x) \qquad x \ge 2 $$
    out[tiny] = 2.0 - _erfc_continued_fraction(-z[tiny])
    # |x| < 2: erfc(x) >= 0.0046, so 1 - erf(x) loses at most ~3 digits to cancellation
    # (relative error ~1e-13 near |x| = 2, ~1e-16 elsewhere)
    out[middle] = 1.0 - _erf_series(z[middle])
    out[np.isnan(z)] = np.nan
    return out.astype(x.dtype) if x.dtype.kind == "f" else out


def _sigmoid(x):
    # sigmoid(x) = 1 / (1 + exp(-x)) overflows exp for x << 0 (exp(1e4) = inf), so use
    # z = exp(-|x|) in (0, 1], never overflowing:
    #   x >= 0:  sigmoid(x) = 1 / (1 + z)
    #   x <  0:  sigmoid(x) = z / (1 + z)      (multiply top and bottom by exp(x))
    # $$ \operatorname{sigmoid}(x) = \frac{1}{1 + \exp(-x)} = \begin{cases} \frac{1}{1 + z} & x \ge 0 \\ \frac{z}{1 + z} & x < 0 \end{cases} $$
    # $$ z = \exp(-|x|) \in (0, 1] $$
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z)).astype(x.dtype, copy=False)


# ---------------------------------------------------------------------------
# ReLU
#   out = max(x, 0)                           x (...)  ->  out (...)
# ---------------------------------------------------------------------------
# $$ \mathrm{out} = \max(x, 0) $$
def relu_forward(x):
    check_float_array("x", x)
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    cache = x
    return out, cache


# dx = dout * [x > 0]      (the subgradient at x = 0 is taken as 0, as in PyTorch)
# $$ \frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \mathbb{1}[x > 0] $$
def relu_backward(dout, cache):
    x = cache
    ### BEGIN SOLUTION
    # out = max(x, 0): slope 1 where x > 0, else 0
    return dout * (x > 0)
    ### END SOLUTION


# ---------------------------------------------------------------------------
# Sigmoid
#   out = 1 / (1 + exp(-x))                   x (...)  ->  out (...)
# ---------------------------------------------------------------------------
# $$ \mathrm{out} = \frac{1}{1 + \exp(-x)} $$
def sigmoid_forward(x):
    check_float_array("x", x)
    out = _sigmoid(x)
    cache = out  # the derivative needs only the output
    return out, cache


# dx = dout * out * (1 - out)
# $$ \frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \mathrm{out} \odot (1 - \mathrm{out}) $$
def sigmoid_backward(dout, cache):
    out = cache
    # out = sigmoid(x):  d out / dx = sigmoid(x) (1 - sigmoid(x))
    # $$ \frac{\partial \, \mathrm{out}}{\partial x} = \operatorname{sigmoid}(x) \left(1 - \operatorname{sigmoid}(x)\right) $$
    return dout * out * (1 - out)


# ---------------------------------------------------------------------------
# Tanh
#   out = tanh(x)                             x (...)  ->  out (...)
# ---------------------------------------------------------------------------
# $$ \mathrm{out} = \tanh(x) $$
def tanh_forward(x):
    check_float_array("x", x)
    out = np.tanh(x)
    cache = out
    return out, cache


# dx = dout * (1 - out^2)
# $$ \frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot (1 - \mathrm{out}^2) $$
def tanh_backward(dout, cache):
    out = cache
    # out = tanh(x):  d out / dx = 1 - tanh(x)^2
    # $$ \frac{\partial \, \mathrm{out}}{\partial x} = 1 - \tanh(x)^2 $$
    return dout * (1 - out * out)


# ---------------------------------------------------------------------------
# SiLU (swish)
#   s = sigmoid(x)
#   out = x * s                               x (...)  ->  out (...)
# ---------------------------------------------------------------------------
# $$ s = \operatorname{sigmoid}(x) \qquad \mathrm{out} = x \odot s $$
def silu_forward(x):
    check_float_array("x", x)
    s = _sigmoid(x)
    out = x * s
    cache = (x, s)
    return out, cache


# d out / dx = s + x s (1 - s) = s (1 + x (1 - s))
# $$ \frac{\partial \, \mathrm{out}}{\partial x} = s + x s (1 - s) = s \left(1 + x (1 - s)\right) $$
def silu_backward(dout, cache):
    x, s = cache
    # out = x * s, with s = sigmoid(x) and ds/dx = s (1 - s)  (product rule)
    # $$ \mathrm{out} = x s, \quad s = \operatorname{sigmoid}(x), \quad \frac{\partial s}{\partial x} = s (1 - s) $$
    return dout * s * (1 + x * (1 - s))


# ---------------------------------------------------------------------------
# GELU
#   "none" (exact):  out = x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))
#   "tanh" (GPT-2):  u = sqrt(2/pi) (x + 0.044715 x^3)
#                    out = 0.5 x (1 + tanh(u))
#                                             x (...)  ->  out (...)
# The exact form is computed as x * 0.5 * erfc(-x / sqrt(2)), the same value, but
# accurate to the last digit also for x << 0 where 1 + erf(...) would cancel.
# ---------------------------------------------------------------------------
# $$ \text{none (exact):} \quad \mathrm{out} = x \, \Phi(x) = \frac{1}{2} x \left(1 + \operatorname{erf}(x / \sqrt{2})\right) $$
# $$ \text{computed as } \mathrm{out} = x \cdot \frac{1}{2} \operatorname{erfc}(-x / \sqrt{2}) $$
# $$ \text{tanh (GPT-2):} \quad u = \sqrt{2 / \pi} \left(x + 0.044715 \, x^3\right) \qquad \mathrm{out} = \frac{1}{2} x \left(1 + \tanh(u)\right) $$
def gelu_forward(x, *, approximate="tanh"):
    check_float_array("x", x)
    check_choice("approximate", approximate, _GELU_VARIANTS)
    ### BEGIN SOLUTION
    if approximate == "tanh":
        # (x*x*x, not x**3: NumPy computes a float power through pow(), ten times slower)
        u = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * (x * x * x))
        t = np.tanh(u)
        out = 0.5 * x * (1 + t)
        cache = (x, approximate, t)
    else:
        Phi = (0.5 * erfc(-x / _SQRT_2)).astype(x.dtype, copy=False)
        out = x * Phi
        cache = (x, approximate, Phi)
    ### END SOLUTION
    return out, cache


# "tanh":  d out / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
# "none":  d out / dx = Phi(x) + x phi(x),     phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
# $$ \text{tanh:} \quad \frac{\partial \, \mathrm{out}}{\partial x} = \frac{1}{2} (1 + t) + \frac{1}{2} x (1 - t^2) \sqrt{2 / \pi} \left(1 + 3 \cdot 0.044715 \, x^2\right) $$
# $$ t = \tanh(u) $$
# $$ \text{none:} \quad \frac{\partial \, \mathrm{out}}{\partial x} = \Phi(x) + x \, \phi(x) \qquad \phi(x) = \frac{\exp(-x^2 / 2)}{\sqrt{2 \pi}} $$
def gelu_backward(dout, cache):
    x, approximate, t_or_Phi = cache
    ### BEGIN SOLUTION
    if approximate == "tanh":
        t = t_or_Phi
        # u = sqrt(2/pi) (x + 0.044715 x^3)
        du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
        # out = 0.5 x (1 + tanh(u)): product rule, tanh' = 1 - tanh^2
        dout_dx = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx
    else:
        Phi = t_or_Phi
        # out = x * Phi(x), and Phi'(x) = phi(x), the normal density
        phi = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        dout_dx = Phi + x * phi
    ### END SOLUTION
    return dout * dout_dx


# ---------------------------------------------------------------------------
# SwiGLU (the gate of LLaMA's feed-forward)
#   s = sigmoid(a)
#   out = silu(a) * b = a s b                 a (...), b (same shape)  ->  out (...)
# ---------------------------------------------------------------------------
# $$ s = \operatorname{sigmoid}(a) \qquad \mathrm{out} = \operatorname{silu}(a) \odot b = a \odot s \odot b $$
def swiglu_forward(a, b):
    check_float_array("a", a)
    check_float_array("b", b)
    check_same_shape("b", b, "a", a)
    ### BEGIN SOLUTION
    s = _sigmoid(a)
    silu_a = a * s
    out = silu_a * b
    ### END SOLUTION
    cache = (a, b, s, silu_a)
    return out, cache


# da = dout * b * s (1 + a (1 - s))
# db = dout * silu(a)
# $$ \frac{\partial \mathcal{L}}{\partial a} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot b \odot s \odot \left(1 + a \odot (1 - s)\right) \qquad \frac{\partial \mathcal{L}}{\partial b} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \operatorname{silu}(a) $$
def swiglu_backward(dout, cache):
    a, b, s, silu_a = cache
    ### BEGIN SOLUTION
    # out = silu_a * b: each factor receives dout times the other
    db = dout * silu_a
    dsilu_a = dout * b
    # silu_a = a * s: the SiLU derivative, as in silu_backward
    da = dsilu_a * s * (1 + a * (1 - s))
    ### END SOLUTION
    return da, db
