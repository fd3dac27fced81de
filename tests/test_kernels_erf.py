"""The kernels' normal CDF and exact-erf GELU (kernels/erf.py, kernels/elementwise.py) against
math.erf / math.erfc (an independent implementation: the C library's) and the NumPy twin.

Accuracy bounds, float64: Phi within 5e-13 relative wherever Phi(x) > 1e-300 (1e-13 for x > -10;
the rounding of z^2 sets the far tail) and within 8 ulp of 1 absolutely; float32: within 4 float32
ulp of 1 absolutely and 2e-5 relative.
"""
import math

import numpy as np
import pytest

from minillm import layers
from minillm.gradcheck import check_layer
from minillm.kernels import fused
from minillm.kernels.elementwise import bias_gelu_erf_forward, gelu_erf_backward_inplace
from minillm.kernels.erf import normal_cdf

F32_EPS = float(np.finfo(np.float32).eps)


def phi_libm(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 from math.erfc, accurate in both tails; and (1 + erf) / 2 from math.erf."""
    via_erfc = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2.0)) for v in x.ravel()]).reshape(x.shape)
    via_erf = np.array([0.5 * (1.0 + math.erf(float(v) / math.sqrt(2.0))) for v in x.ravel()]).reshape(x.shape)
    return via_erfc, via_erf


GRID = np.concatenate([np.linspace(-40.0, 10.0, 20_001), np.linspace(-1e-3, 1e-3, 1001),
                       np.array([-38.5, -27.0, -8.5, -2.0 * math.sqrt(2), 2.0 * math.sqrt(2), 0.0, 40.0, 1e300])])


def test_float64_against_math_erf_and_erfc():
    got = normal_cdf(GRID)
    via_erfc, via_erf = phi_libm(GRID)
    assert np.abs(got - via_erf).max() < 8 * np.finfo(np.float64).eps          # absolutely, as (1 + erf) / 2
    tail = via_erfc > 1e-300
    rel = np.abs(got[tail] - via_erfc[tail]) / via_erfc[tail]
    assert rel.max() < 5e-13
    assert rel[GRID[tail] > -10].max() < 1e-13
    assert np.all(got[via_erfc == 0.0] < 1e-300)


def test_float32_against_math_erfc():
    x = GRID[np.abs(GRID) < 1e30].astype(np.float32)
    got = normal_cdf(x)
    assert got.dtype == np.float32
    via_erfc, _ = phi_libm(x.astype(np.float64))
    assert np.abs(got - via_erfc).max() < 4 * F32_EPS
    normal = via_erfc > 1e-37
    assert (np.abs(got[normal] - via_erfc[normal]) / via_erfc[normal]).max() < 2e-5


def test_against_the_numpy_twin_and_special_values():
    x = np.linspace(-12, 12, 4001)
    ref = 0.5 * layers.erfc(-x / math.sqrt(2.0))
    np.testing.assert_allclose(normal_cdf(x), ref, rtol=2e-13, atol=1e-300)
    special = normal_cdf(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]))
    assert np.isnan(special[0]) and special[1] == 1.0 and special[2] == 0.0 and special[3] == special[4]
    assert abs(special[3] - 0.5) < 4 * np.finfo(np.float64).eps
    assert normal_cdf(np.zeros((0,))).shape == (0,)


def test_a_planted_coefficient_error_is_caught(monkeypatch):
    """The bounds above are tight enough to notice a wrong coefficient (here the 6th, off by 1e-9)."""
    from minillm.kernels import erf

    wrong = list(erf.ERFC_CHEB_64)
    wrong[5] += 1e-9
    monkeypatch.setitem(erf.ERFC_POWERS, np.dtype(np.float64), erf.power_series(wrong, np.dtype(np.float64)))
    x = GRID[:2001]
    via_erfc, _ = phi_libm(x)
    tail = via_erfc > 1e-300
    assert (np.abs(normal_cdf(x)[tail] - via_erfc[tail]) / via_erfc[tail]).max() > 1e-10


# ------------------------------------------------------------------ GELU (erf) against the NumPy layer

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 5, 33), (130,)])
def test_gelu_erf_kernel_equals_numpy(rng, dtype, shape):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out, cache = fused.gelu_forward(x, approximate="none")
    ref, cache_ref = layers.gelu_forward(x, approximate="none")
    dx, dx_ref = fused.gelu_backward(dout, cache), layers.gelu_backward(dout, cache_ref)
    tol = 1e-13 if dtype == np.float64 else 8 * F32_EPS
    for got, want in ((out, ref), (dx, dx_ref)):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * float(np.abs(want).max()))
    # the caches agree in layout: each backward reads the other's
    np.testing.assert_allclose(layers.gelu_backward(dout, cache), dx_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_gelu_erf_equals_numpy(rng, dtype, with_bias):
    h = (rng.standard_normal((5, 37)) * 2).astype(dtype)
    b = rng.standard_normal(37).astype(dtype) if with_bias else None
    a = h.copy()
    z, Phi = bias_gelu_erf_forward(a, b)
    a_ref = h + b if with_bias else h
    z_ref, (_, _, Phi_ref) = layers.gelu_forward(a_ref, approximate="none")
    tol = 1e-13 if dtype == np.float64 else 8 * F32_EPS
    np.testing.assert_allclose(a, a_ref, rtol=tol)
    np.testing.assert_allclose(Phi, Phi_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(z, z_ref, rtol=tol, atol=tol * float(np.abs(z_ref).max()))
    dz = rng.standard_normal(a.shape).astype(dtype)
    da = gelu_erf_backward_inplace(dz.copy(), a, Phi)
    da_ref = layers.gelu_backward(dz, (a_ref, "none", Phi_ref))
    np.testing.assert_allclose(da, da_ref, rtol=tol, atol=tol * float(np.abs(da_ref).max()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_feedforward_gelu_erf_kernel_equals_numpy(rng, dtype):
    x = rng.standard_normal((2, 9, 11)).astype(dtype)
    W1, b1 = (rng.standard_normal((11, 29)) * 0.5).astype(dtype), rng.standard_normal(29).astype(dtype)
    W2, b2 = (rng.standard_normal((29, 11)) * 0.3).astype(dtype), rng.standard_normal(11).astype(dtype)
    out, cache = fused.feedforward_forward(x, W1, b1, W2, b2, activation="gelu_erf")
    ref, cache_ref = layers.feedforward_forward(x, W1, b1, W2, b2, activation="gelu_erf")
    assert cache[0] == "gelu_erf" and cache[2][1] == "none"          # the fused path, not the fallback
    dout = rng.standard_normal(out.shape).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 64 * F32_EPS
    for got, want in zip((out, *fused.feedforward_backward(dout, cache)),
                         (ref, *layers.feedforward_backward(dout, cache_ref))):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * float(np.abs(want).max()))


def test_gradcheck_gelu_erf_kernels_float64(rng):
    x = rng.standard_normal((3, 13)) * 2
    for r in check_layer(lambda x: fused.gelu_forward(x, approximate="none"), fused.gelu_backward, [x], rng=rng):
        assert r.ok, str(r)
    W1, b1, W2, b2 = (rng.standard_normal((13, 17)) * 0.5, rng.standard_normal(17), rng.standard_normal((17, 5)),
                      rng.standard_normal(5))
    forward = lambda *a: fused.feedforward_forward(*a, activation="gelu_erf")  # noqa: E731
    for r in check_layer(forward, fused.feedforward_backward, [x, W1, b1, W2, b2], rng=rng):
        assert r.ok, str(r)
