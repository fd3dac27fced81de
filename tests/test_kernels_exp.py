"""kernels/exp.py: the vectorisable exp the attention and cross-entropy kernels use, against np.exp."""
import numpy as np
import pytest

from minillm.kernels.exp import exp_kernel

EPS32 = np.finfo(np.float32).eps


def test_exp_float32_matches_numpy_to_a_few_ulp():
    x = np.concatenate([np.linspace(-87.3, 0.0, 200_001), -np.logspace(-8, 0, 1001)]).astype(np.float32)
    got = exp_kernel(x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    rel = np.max(np.abs(got - want) / want)
    assert rel < 3 * EPS32, rel                       # measured: about 1.5 ulp


def test_exp_float64_matches_numpy_to_a_few_ulp():
    x = np.concatenate([np.linspace(-708.0, 0.0, 200_001), -np.logspace(-12, 0, 1001)])
    got = exp_kernel(x)
    want = np.exp(x)
    rel = np.max(np.abs(got - want) / want)
    assert rel < 4 * np.finfo(np.float64).eps, rel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_underflows_to_zero_and_minus_inf_gives_exactly_zero(dtype):
    tiny = np.finfo(dtype).tiny                        # smallest normal number
    x = np.array([-np.inf, -1e30, -1000.0, -200.0, -104.0, -88.0, -87.0], dtype=dtype)
    got = exp_kernel(x)
    assert got[0] == 0.0 and got[1] == 0.0 and got[2] == 0.0
    assert np.all(np.isfinite(got)) and np.all(got >= 0.0)
    # below log(tiny) the result is 0 (true values are subnormal: absolute error <= tiny)
    assert np.all(np.abs(got - np.exp(x.astype(np.float64))) <= tiny)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_overflows_to_inf_and_nan_stays_nan(dtype):
    # attention only asks for x <= 0, but the function should not return garbage elsewhere
    top = 88.0 if dtype == np.float32 else 709.0       # X_MAX: above it the result is +inf
    x = np.linspace(0.0, top, 10_001).astype(dtype)
    rel = np.max(np.abs(exp_kernel(x).astype(np.float64) / np.exp(x.astype(np.float64)) - 1.0))
    assert rel < 4 * np.finfo(dtype).eps, rel
    big = np.array([top + 0.5, 1e3, 1e30, np.inf], dtype=dtype)
    assert np.all(exp_kernel(big) == np.inf)
    assert np.isnan(exp_kernel(np.array([np.nan, 0.0], dtype=dtype)))[0]
