"""The matmul lesson: every version against np.matmul, backward products, bad input."""
import numpy as np
import pytest

from minillm.kernels import matmul, matmul_backward, matmul_nt, matmul_tn
from minillm.kernels.matmul import KC, MR, NR, W, matmul_blocked, matmul_naive, matmul_reordered

VERSIONS = [matmul_naive, matmul_reordered, matmul_blocked, matmul]

SHAPES = [
    (1, 1, 1),
    (7, 1, 33),                 # K = 1
    (MR + 1, 5, NR + 1),        # one past a register tile in both directions
    (13, KC + 44, 70),          # K longer than one packed panel (KC)
    (2 * MR, 16, 2 * NR),       # exact tiles
    (MR - 1, 3, NR + W + 3),    # a last panel wider than one vector: the full micro-kernel, partly used
    (3, KC + 1, W),             # N = one vector: only the narrow micro-kernel, and two depth slices
    (96, 128, 65),              # the GPT head's shape (vocab 65 = 2 * NR + 1)
]


def assert_matmul_close(got, a, b):
    """|C - AB| <= 2 K eps (|A| |B|): the rounding bound of a K-term dot product."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = a64 @ b64
    K = a.shape[-1]
    bound = 2 * max(K, 1) * np.finfo(a.dtype).eps * (np.abs(a64) @ np.abs(b64)) + 1e-300
    assert got.shape == want.shape and got.dtype == a.dtype
    assert np.all(np.abs(got - want) <= bound), np.max(np.abs(got - want) / bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, K, N", SHAPES)
def test_every_version_matches_numpy(rng, dtype, M, K, N):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    for version in VERSIONS:
        assert_matmul_close(version(a, b), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_products_without_transposes(rng, dtype):
    M, K, N = 2 * MR + 3, 2 * KC + 5, NR + 7
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    dc = rng.standard_normal((M, N)).astype(dtype)
    assert_matmul_close(matmul_nt(dc, b), dc, b.T)          # dA = dC B^T
    assert_matmul_close(matmul_tn(a, dc), a.T, dc)          # dB = A^T dC
    da, db = matmul_backward(dc, a, b)
    assert da.shape == a.shape and db.shape == b.shape
    assert_matmul_close(da, dc, b.T)
    assert_matmul_close(db, a.T, dc)


def test_leading_batch_axes_and_strided_inputs(rng):
    a = rng.standard_normal((2, 3, 5, 10))
    b = rng.standard_normal((20, 7))[::2]                   # a non-contiguous view, (10, 7)
    c = matmul(a, b)
    assert c.shape == (2, 3, 5, 7)
    assert_matmul_close(c.reshape(-1, 7), a.reshape(-1, 10), b)
    dc = rng.standard_normal(c.shape)
    da, db = matmul_backward(dc, a, b)
    assert da.shape == a.shape and db.shape == b.shape
    assert_matmul_close(da.reshape(-1, 10), dc.reshape(-1, 7), b.T)
    assert_matmul_close(db, a.reshape(-1, 10).T, dc.reshape(-1, 7))


def test_hand_computed_values():
    a = np.linspace(-1.0, 1.0, 6).reshape(2, 3)             # [[-1, -.6, -.2], [.2, .6, 1]]
    b = np.arange(6.0).reshape(3, 2)                        # [[0, 1], [2, 3], [4, 5]]
    want = np.array([[-0.6 * 2 - 0.2 * 4, -1 - 0.6 * 3 - 0.2 * 5],
                     [0.6 * 2 + 1.0 * 4, 0.2 + 0.6 * 3 + 1.0 * 5]])
    for version in VERSIONS:
        np.testing.assert_allclose(version(a, b), want, rtol=1e-14, atol=1e-14)


def test_empty_inner_dimension_gives_zeros():
    c = matmul(np.zeros((3, 0)), np.zeros((0, 4)))
    assert c.shape == (3, 4) and np.all(c == 0.0)


def test_bad_input_names_the_argument():
    a = np.ones((3, 4))
    with pytest.raises(TypeError, match="a must be a numpy.ndarray, got a list"):
        matmul([[1.0]], a)
    with pytest.raises(ValueError,
                       match=r"b must have 4 along axis 0 to match a of shape \(3, 4\), got shape \(5, 2\)"):
        matmul(a, np.ones((5, 2)))
    with pytest.raises(TypeError, match="a and b must have the same dtype, got float64 and float32"):
        matmul(a, np.ones((4, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="b must be a floating-point array, got dtype int64"):
        matmul(a, np.ones((4, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"b must have 4 along axis 1 to match dc of shape \(3, 4\)"):
        matmul_nt(a, np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"dc must have 3 along axis 0 to match a of shape \(3, 4\)"):
        matmul_tn(a, np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"dc must have shape \(3, 2\)"):
        matmul_backward(np.ones((3, 3)), a, np.ones((4, 2)))


# --- threads (issue #17, minillm/kernels/threads.py): the set-up is checked, never timed ---------------
_SETUP_SCRIPT = """
import json, os
import numpy as np
import numba
import minillm.kernels
from minillm.kernels import threads
from minillm.kernels.matmul import matmul
report = {"layer": numba.threading_layer(), "gomp_env_left": "GOMP_SPINCOUNT" in os.environ,
          "spin_before": threads.blas_spin_exponent()}
numba.set_num_threads(2)
a = np.ones((40, 8))
matmul(a, a.T.copy())                                   # the first parallel kernel
report["spin_after"] = threads.blas_spin_exponent()
report["env_left"] = "OPENBLAS_THREAD_TIMEOUT" in os.environ
print(json.dumps(report))
"""


def _thread_setup(**env):
    import json
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
                          "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", _SETUP_SCRIPT], env={**clean, "NUMBA_NUM_THREADS": "2", **env},
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_openblas_lets_go_of_the_cores_once_a_parallel_kernel_runs():
    from minillm.kernels import threads

    report = _thread_setup()
    if report["spin_before"] is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS with its own thread pool")
    assert report["spin_before"] == 28                      # np.matmul alone: OpenBLAS's default, untouched
    assert report["spin_after"] == threads.BLAS_SPIN_EXPONENT == 15
    assert not report["env_left"] and not report["gomp_env_left"]   # the environment is as it was
    assert report["layer"] in ("omp", "tbb", "workqueue")


def test_your_own_openblas_spin_setting_wins():
    report = _thread_setup(OPENBLAS_THREAD_TIMEOUT="20")
    if report["spin_before"] is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS with its own thread pool")
    assert report["spin_before"] == report["spin_after"] == 20
