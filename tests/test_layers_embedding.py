"""Embedding lookup: gradient check (with repeated ids), values, scatter-add, bad input."""
import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.layers.embedding import embedding_backward, embedding_forward


@pytest.mark.parametrize("ids", [
    np.array([[1, 1, 5], [0, 1, 5]]),          # (B, T) with duplicates
    np.array([3]),                             # T = 1
    np.array([[[2, 2], [2, 0]]]),              # extra batch dim, one id three times
    np.array(4),                               # a single id (0-d)
])
def test_gradcheck(ids, rng):
    E = rng.standard_normal((6, 4))
    results = check_layer(embedding_forward, embedding_backward, [ids, E], names=["ids", "E"], rng=rng)
    assert len(results) == 1 and results[0].name == "E"
    assert results[0].rel_error < 1e-6, results[0]
    assert results[0].analytic.shape == E.shape


def test_lookup_reads_rows():
    E = np.arange(12, dtype=np.float64).reshape(4, 3)
    out, _ = embedding_forward(np.array([[3, 0], [1, 3]]), E)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 0], [9, 10, 11])
    np.testing.assert_array_equal(out[0, 1], [0, 1, 2])
    np.testing.assert_array_equal(out[1, 0], [3, 4, 5])
    # equals one_hot(ids) @ E
    one_hot = np.eye(4)[np.array([[3, 0], [1, 3]])]
    np.testing.assert_array_equal(out, one_hot @ E)


def test_backward_accumulates_repeated_ids():
    E = np.zeros((5, 2))
    ids = np.array([[2, 2, 4], [2, 0, 4]])
    _, cache = embedding_forward(ids, E)
    dout = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    dE = embedding_backward(dout, cache)
    # row 2 collects positions (0,0), (0,1), (1,0); row 4 collects (0,2), (1,2); rows 1, 3 untouched
    expected = np.zeros((5, 2))
    expected[2] = [0 + 2 + 6, 1 + 3 + 7]
    expected[4] = [4 + 10, 5 + 11]
    expected[0] = [8, 9]
    np.testing.assert_array_equal(dE, expected)


def test_float32_stays_float32(rng):
    E = rng.standard_normal((5, 3)).astype(np.float32)
    out, cache = embedding_forward(np.array([1, 2, 1], dtype=np.int32), E)
    assert out.dtype == np.float32
    assert embedding_backward(np.ones_like(out), cache).dtype == np.float32


def test_bad_input_messages():
    E = np.zeros((5, 3))
    with pytest.raises(TypeError, match="ids must be an integer array"):
        embedding_forward(np.array([1.0, 2.0]), E)
    with pytest.raises(ValueError, match=r"ids must hold ids in \[0, 5\), got 5"):
        embedding_forward(np.array([0, 5]), E)
    with pytest.raises(ValueError, match=r"ids must hold ids in \[0, 5\), got -1"):
        embedding_forward(np.array([-1, 2]), E)
    with pytest.raises(TypeError, match="ids must be a numpy.ndarray"):
        embedding_forward([1, 2], E)
    with pytest.raises(ValueError, match="E must have 2 dimensions"):
        embedding_forward(np.array([1]), np.zeros(5))
    with pytest.raises(TypeError, match="E must be a floating-point"):
        embedding_forward(np.array([1]), np.zeros((5, 3), dtype=np.int64))
