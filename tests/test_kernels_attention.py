"""Fused Numba attention vs the NumPy reference (minillm.layers.attention).

Compile time counts: each test reuses the same two compiled signatures
(float32 and float64) and keeps the shapes small, but crosses the block sizes
(BQ = BK = 64) so that ragged blocks, several blocks and the causal pairing are
all exercised.
"""
import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.kernels import attention_backward, attention_forward
from minillm.kernels.attention import BK, BQ
from minillm.layers.attention import attention_backward as ref_backward
from minillm.layers.attention import attention_forward as ref_forward

EPS32 = np.finfo(np.float32).eps


@pytest.fixture(autouse=True, params=["short-if-it-fits", "flash-only"])
def kernel_path(request, monkeypatch):
    """Every test runs twice: with Tk <= 64 taking attention_one_block.py, and with the flash
    kernel forced for every shape, so both paths meet every check.  (Dispatched as in use, a few
    keys go to the NumPy layer itself, the reference: test_a_few_keys_take_the_numpy_layer.)"""
    import minillm.kernels.attention as fused
    monkeypatch.setattr(fused, "NUMPY_KEYS", 0)
    if request.param == "flash-only":
        monkeypatch.setattr(fused, "SHORT_KEYS", 0)
    return request.param


def make_qkv(rng, shape_q, Tk, Dv, dtype):
    *lead, Tq, D = shape_q
    q = rng.standard_normal((*lead, Tq, D)).astype(dtype)
    k = rng.standard_normal((*lead, Tk, D)).astype(dtype)
    v = rng.standard_normal((*lead, Tk, Dv)).astype(dtype)
    return q, k, v


def reference(q, k, v, dout, **kwargs):
    """The NumPy reference in float64 on the same numbers."""
    as64 = [x.astype(np.float64) for x in (q, k, v)]
    out, cache = ref_forward(*as64, **kwargs)
    return out, ref_backward(dout.astype(np.float64), cache)


def assert_close(name, got, want, dtype):
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)
    else:
        np.testing.assert_allclose(got, want, rtol=100 * EPS32, atol=100 * EPS32, err_msg=name)


def run_both(rng, shape_q, Tk, Dv, dtype, **kwargs):
    q, k, v = make_qkv(rng, shape_q, Tk, Dv, dtype)
    out, cache = attention_forward(q, k, v, **kwargs)
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = attention_backward(dout, cache)
    ref_out, ref_grads = reference(q, k, v, dout, **kwargs)
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    assert_close("out", out, ref_out, dtype)
    for name, g, rg, x in zip(("dq", "dk", "dv"), grads, ref_grads, (q, k, v)):
        assert g.shape == x.shape, name
        assert_close(name, g, rg, dtype)
    return out, grads


# ----------------------------------------------------------------- equality with the reference

CASES = [
    # (q shape (..., Tq, D), Tk, Dv, causal)
    ((1, 1, 1, 1), 1, 1, False),            # T = 1, D = 1
    ((1, 1, 1, 1), 1, 1, True),
    ((2, 2, 67, 8), 67, 5, True),           # T not a multiple of the block, Dv != D
    ((1, 3, 130, 16), 130, 16, True),       # three query and key blocks: the causal pairing
    ((2, 1, 5, 3), 150, 1, False),          # Tq != Tk, D = 3, Dv = 1
    ((1, 2, 20, 4), 150, 6, True),          # causal aligned to the end with Tq < Tk
    ((1, 2, 70, 64), 64, 64, False),        # D = 64 exactly one register tile
    ((3, 9, 4), 9, 4, True),                # other leading axes: (B, T, D)
    ((2, 70, 33), 50, 40, True),            # Tq > Tk = 50: several query blocks over one key block,
                                            # causal rows before Tq - Tk see nothing; D, Dv past a tile
    ((2, 3, 64, 32), 64, 32, True),         # the GPT recipe's head shape
    ((1, 1, 3, 2, 7, 5), 64, 3, False),     # four leading axes
]


@pytest.mark.parametrize("shape_q, Tk, Dv, causal", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference(rng, dtype, shape_q, Tk, Dv, causal):
    run_both(rng, shape_q, Tk, Dv, dtype, causal=causal)


@pytest.mark.parametrize("Tk", [50, 90])        # one key block (attention_one_block.py when dispatched) or two
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference_with_random_and_padding_masks(rng, dtype, Tk):
    B, H, Tq = 2, 2, 70
    random_mask = rng.random((B, 1, Tq, Tk)) > 0.4                  # broadcast over heads
    run_both(rng, (B, H, Tq, 8), Tk, 8, dtype, mask=random_mask)
    run_both(rng, (B, H, Tq, 8), Tk, 8, dtype, mask=random_mask, causal=True)
    lengths = np.array([Tk, 33])                                      # padding: keys past the length
    padding = (np.arange(Tk)[None, :] < lengths[:, None])[:, None, None, :]   # (B, 1, 1, Tk)
    run_both(rng, (B, H, Tq, 8), Tk, 8, dtype, mask=padding, causal=False)
    head_mask = rng.random((H, Tq, Tk)) > 0.5                         # (H, Tq, Tk): broadcast over B
    run_both(rng, (B, H, Tq, 8), Tk, 8, dtype, mask=head_mask)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fully_masked_rows_give_zeros_never_nan(rng, dtype):
    B, H, T, D = 1, 2, 70, 4     # Tk = 70: two key blocks; the short path gets its turn just below
    mask = rng.random((B, H, T, T)) > 0.5
    mask[0, 0, 3, :] = False                                          # a dead row in block 0
    mask[0, 1, 66, :] = False                                         # and one in block 1
    out, (dq, dk, dv) = run_both(rng, (B, H, T, D), T, D, dtype, mask=mask)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dq)) and np.all(np.isfinite(dk))
    assert np.all(out[0, 0, 3] == 0.0) and np.all(out[0, 1, 66] == 0.0)
    assert np.all(dq[0, 0, 3] == 0.0) and np.all(dq[0, 1, 66] == 0.0)
    # a whole batch row masked out: everything zero, no NaN anywhere
    q, k, v = make_qkv(rng, (B, H, T, D), T, D, dtype)
    out, cache = attention_forward(q, k, v, mask=np.zeros((T, T), dtype=bool))
    grads = attention_backward(np.ones_like(out), cache)
    assert np.all(out == 0.0) and all(np.all(g == 0.0) for g in grads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dead_rows_with_one_key_block(rng, dtype):
    B, H, Tq, Tk, D = 2, 2, 20, 30, 4
    mask = rng.random((B, H, Tq, Tk)) > 0.5
    mask[1, 0, 7, :] = False
    out, (dq, dk, dv) = run_both(rng, (B, H, Tq, D), Tk, D, dtype, mask=mask)
    assert np.all(out[1, 0, 7] == 0.0) and np.all(dq[1, 0, 7] == 0.0)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dk)) and np.all(np.isfinite(dv))


@pytest.mark.parametrize("T", [16, 130])
def test_nan_in_the_input_gives_nan_where_the_reference_does(rng, T):
    # a NaN score must not be quietly dropped from the softmax: a diverging model has to show
    q, k, v = make_qkv(rng, (1, 2, T, 4), T, 4, np.float32)
    k[0, 0, 3] = np.nan                                # one key: every row that sees it
    q[0, 1, 5] = np.nan                                # one query: its whole row
    out, cache = attention_forward(q, k, v, causal=True)
    ref_out, _ = ref_forward(q, k, v, causal=True)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref_out))
    assert np.isnan(out[0, 0, 3:]).all() and not np.isnan(out[0, 0, :3]).any() and np.isnan(out[0, 1, 5]).all()
    dq, dk, dv = attention_backward(np.ones_like(out), cache)
    assert np.isnan(dk[0, 0]).any() and np.isnan(dq[0, 1]).any()


@pytest.mark.parametrize("T", [60, 140])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_causal_no_leak_from_the_future(rng, dtype, T):
    B, H, D = 1, 2, 8
    q, k, v = make_qkv(rng, (B, H, T, D), T, D, dtype)
    out, _ = attention_forward(q, k, v, causal=True)
    for t in sorted({0, min(BQ - 1, T - 2), min(BQ, T - 2), T // 2}):
        q2, k2, v2 = q.copy(), k.copy(), v.copy()
        for x in (q2, k2, v2):
            x[:, :, t + 1:] = rng.standard_normal(x[:, :, t + 1:].shape) * 10
        out2, _ = attention_forward(q2, k2, v2, causal=True)
        np.testing.assert_array_equal(out2[:, :, :t + 1], out[:, :, :t + 1])
        assert not np.array_equal(out2[:, :, t + 1:], out[:, :, t + 1:])


def test_causal_gradients_do_not_reach_the_future(rng):
    # dL/dk_j and dL/dv_j are zero for every key j after the last query that sees it;
    # with Tq < Tk (aligned to the end) that is none, so take dout only at query 0.
    B, H, T, D = 1, 1, 100, 4
    q, k, v = make_qkv(rng, (B, H, T, D), T, D, np.float64)
    out, cache = attention_forward(q, k, v, causal=True)
    dout = np.zeros_like(out)
    dout[:, :, 10] = 1.0                                              # only query 10 matters
    dq, dk, dv = attention_backward(dout, cache)
    assert np.all(dk[:, :, 11:] == 0.0) and np.all(dv[:, :, 11:] == 0.0)
    assert np.all(dq[:, :, :10] == 0.0) and np.all(dq[:, :, 11:] == 0.0)


# ----------------------------------------------------------------- gradient check of the kernel itself

def test_gradcheck_kernel_float64(rng):
    q, k, v = make_qkv(rng, (1, 2, 5, 3), 7, 2, np.float64)
    mask = rng.random((1, 2, 5, 7)) > 0.3
    mask[0, 1, 2, :] = False
    for kwargs in ({"causal": True}, {"mask": mask}):
        results = check_layer(attention_forward, attention_backward, [q, k, v], kwargs=kwargs,
                              names=["q", "k", "v"])
        assert len(results) == 3
        for r in results:
            assert r.rel_error < 1e-6, str(r)


# ----------------------------------------------------------------- bad input

def test_bad_input_names_the_argument(rng):
    q, k, v = make_qkv(rng, (1, 2, 4, 3), 4, 3, np.float64)
    with pytest.raises(TypeError, match="q must be a numpy.ndarray, got a list"):
        attention_forward(q.tolist(), k, v)
    with pytest.raises(TypeError, match="k must have q's dtype float64, got float32"):
        attention_forward(q, k.astype(np.float32), v)
    with pytest.raises(ValueError, match=r"k must have shape .* got \(1, 2, 4, 5\)"):
        attention_forward(q, np.zeros((1, 2, 4, 5)), v)
    with pytest.raises(ValueError, match=r"v must have shape .* got \(1, 2, 3, 3\)"):
        attention_forward(q, k, np.zeros((1, 2, 3, 3)))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        attention_forward(q, k, v, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"mask must be broadcastable to \(1, 2, 4, 4\), got shape \(3, 4\)"):
        attention_forward(q, k, v, mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(TypeError, match="causal must be True or False, got 1"):
        attention_forward(q, k, v, causal=1)
    with pytest.raises(TypeError, match="q must be float32 or float64, got dtype float16"):
        attention_forward(q.astype(np.float16), k.astype(np.float16), v.astype(np.float16))
    out, cache = attention_forward(q, k, v)
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward's output \(1, 2, 4, 3\)"):
        attention_backward(np.zeros((1, 2, 4, 4)), cache)


def test_block_sizes_are_what_the_cases_assume():
    assert BQ == 64 and BK == 64


@pytest.mark.parametrize("per_head", [True, False])
def test_both_backward_schedules_match_the_reference(rng, monkeypatch, per_head):
    # one head per core, or the two race-free passes: forced here, chosen by B*H in use
    import minillm.kernels.attention as fused
    monkeypatch.setattr(fused, "_one_head_per_core", lambda BH: per_head)
    run_both(rng, (2, 2, 130, 8), 100, 8, np.float64, causal=True)
    run_both(rng, (1, 3, 70, 8), 70, 8, np.float32, mask=rng.random((70, 70)) > 0.5)


def test_work_items_are_claimed_once_each_whatever_the_threads():
    # kernels/threads.py: the items come from one atomic counter, so none is lost or done twice
    import numba
    from numba import njit

    from minillm.kernels.threads import claim, in_parallel

    @njit(nogil=True)
    def count_items(work, seen):
        item = claim(work)
        while item < seen.shape[0]:
            seen[item] += 1
            item = claim(work)

    seen = np.zeros(10_000, dtype=np.int64)
    threads_before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        for _ in range(20):
            in_parallel(count_items, seen)
    finally:
        numba.set_num_threads(threads_before)
    assert np.all(seen == 20)


def test_results_do_not_depend_on_which_thread_took_which_item(rng, kernel_path):
    # each work item is computed whole by one thread, so one thread and two give the same bits
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two threads")
    q, k, v = make_qkv(rng, (1, 4, 130, 16), 130, 16, np.float32)
    dout = rng.standard_normal(q.shape).astype(np.float32)
    runs = []
    threads_before = numba.get_num_threads()
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            out, cache = attention_forward(q, k, v, causal=True)
            runs.append((out, *attention_backward(dout, cache)))
    finally:
        numba.set_num_threads(threads_before)
    for one, two in zip(*runs):
        assert np.array_equal(one, two)


def test_a_few_keys_take_the_numpy_layer(rng, monkeypatch):
    """Up to NUMPY_KEYS keys the kernel hands the work to the NumPy layer (faster there), and its
    backward hands the layer's cache back to the layer's backward."""
    import minillm.kernels.attention as fused

    monkeypatch.undo()
    q, k, v = make_qkv(rng, (2, 3, 7, 8), fused.NUMPY_KEYS, 8, np.float32)
    out, cache = attention_forward(q, k, v, causal=True)
    ref, cache_ref = ref_forward(q, k, v, causal=True)
    assert not isinstance(cache[0], str) and len(cache) == len(cache_ref)
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    for got, want in zip(attention_backward(dout, cache), ref_backward(dout, cache_ref)):
        np.testing.assert_array_equal(got, want)
    q, k, v = make_qkv(rng, (2, 3, 7, 8), fused.NUMPY_KEYS + 1, 8, np.float32)
    assert isinstance(attention_forward(q, k, v)[1][0], str)                  # one more key: the kernel
