"""Data parallelism (minillm/runtime/parallel.py): sharding the batch over threads computes the same loss and gradients."""
import numpy as np
import pytest

from minillm.models.gpt import GPT, GPTConfig
from minillm.models.rnn import RNNConfig, RNNLM
from minillm.runtime.blas import blas_threads, single_threaded_blas
from minillm.runtime.parallel import DataParallel
from minillm.train import Trainer, TrainConfig


def _gpt(backend="numpy", dtype="float64", dropout=0.0):
    cfg = GPTConfig(vocab_size=23, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=dropout, bias=False,
                    backend=backend, dtype=dtype)
    return GPT(cfg, seed=3)


def _batch(B, T=8, V=23, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))


def _worst_relative(g, ref):
    return max(float(np.abs(g[k] - ref[k]).max() / np.abs(ref[k]).max()) for k in ref)


def _whole_and_sharded(model, x, y, threads=2):
    """(loss, grads) of the whole batch, then (loss, grads) of the same batch split over threads."""
    _, loss, cache = model.forward(x, y)
    whole = (loss, model.backward(cache))
    with DataParallel(model, threads) as dp:
        return whole, dp.loss_and_grads(x, y)


@pytest.mark.parametrize("B,threads", [(6, 2), (5, 2), (7, 3), (2, 4)])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sharded_loss_and_grads_equal_the_whole_batch(B, threads, backend):
    model = _gpt(backend)
    x, y = _batch(B)
    _, loss, cache = model.forward(x, y)
    ref = model.backward(cache)
    with DataParallel(model, threads) as dp:
        loss_dp, grads = dp.loss_and_grads(x, y)
        assert dp.loss(x, y) == pytest.approx(loss, rel=1e-13)
    assert sorted(grads) == sorted(ref)
    assert loss_dp == pytest.approx(loss, rel=1e-13)
    worst = _worst_relative(grads, ref)
    print(f"worst relative gradient difference, {threads} threads, B={B}: {worst:.1e}")
    assert worst < 1e-12
    # the test can fail: weighting the shards equally is wrong when they differ in size
    if B % min(threads, B):
        halves = [model.forward(x[s], y[s])[1] for s in (slice(0, 3), slice(3, None))]
        assert abs(np.mean(halves) - loss) > 1e-6


def test_shards_on_the_flash_path_too():
    # block_size 80 > 64: attention runs the flash kernel, whose own thread pool the shard threads leave idle
    cfg = GPTConfig(vocab_size=23, block_size=80, n_layer=1, n_head=2, n_embd=16, bias=False, backend="numba",
                    dtype="float64")
    model = GPT(cfg, seed=3)
    (loss, ref), (loss_dp, grads) = _whole_and_sharded(model, *_batch(4, T=80))
    assert loss_dp == pytest.approx(loss, rel=1e-13)
    assert _worst_relative(grads, ref) < 1e-12


def test_ignored_targets_weigh_nothing():
    model = _gpt()
    x, y = _batch(6)
    y[0, :] = -100  # all of shard 0's first row and most of the second are ignored
    y[1, :6] = -100
    (loss, ref), (loss_dp, grads) = _whole_and_sharded(model, x, y)
    assert loss_dp == pytest.approx(loss, rel=1e-13)
    assert _worst_relative(grads, ref) < 1e-12


def test_a_shard_with_no_counted_target_is_skipped():
    model = _gpt()
    x, y = _batch(4)
    y[:2] = -100  # shard 0 has nothing to predict
    (loss, ref), (loss_dp, grads) = _whole_and_sharded(model, x, y)
    assert np.isfinite(loss_dp) and loss_dp == pytest.approx(loss, rel=1e-13)
    assert _worst_relative(grads, ref) < 1e-12


def test_backward_scales_with_dloss():
    for model, (x, y) in ((_gpt(), _batch(3)),
                          (RNNLM(RNNConfig(vocab_size=23, n_embd=8, n_hidden=8, dtype="float64"), seed=0),
                           _batch(3))):
        _, _, cache = model.forward(x, y)
        g1 = model.backward(cache)
        _, _, cache = model.forward(x, y)
        g3 = model.backward(cache, dloss=0.25)
        for k in g1:
            np.testing.assert_allclose(g3[k], 0.25 * g1[k], rtol=1e-12, atol=1e-300, err_msg=k)


def test_float32_numba_shards_agree_to_rounding():
    (loss, ref), (loss_dp, grads) = _whole_and_sharded(_gpt("numba", "float32"), *_batch(12, seed=1))
    assert loss_dp == pytest.approx(loss, rel=1e-5)
    assert _worst_relative(grads, ref) < 1e-4


def test_dropout_shards_are_reproducible_and_differ_by_seed():
    model = _gpt(dropout=0.2)
    x, y = _batch(6)
    with DataParallel(model, 2) as dp:
        a = dp.loss_and_grads(x, y, rng=np.random.default_rng(5))
        b = dp.loss_and_grads(x, y, rng=np.random.default_rng(5))
        c = dp.loss_and_grads(x, y, rng=np.random.default_rng(6))
    assert a[0] == b[0] and all(np.array_equal(a[1][k], b[1][k]) for k in a[1])
    assert a[0] != c[0]


def test_trainer_with_two_threads_follows_the_one_thread_run():
    def run(threads):
        cfg = GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16, dtype="float64")
        tokens = np.tile(np.arange(20), 30)
        tcfg = TrainConfig(batch_size=4, max_iters=15, warmup_iters=3, lr_decay_iters=15, eval_interval=5,
                           eval_iters=2, threads=threads, checkpoint=False)
        trainer = Trainer(GPT(cfg, seed=1), tokens[:500], tokens[500:], tcfg, progress=False)
        trainer.run()
        return trainer

    one, two = run(1), run(2)
    assert two.summary()["threads"] == 2 and one.summary()["threads"] == 1
    np.testing.assert_allclose(two.history["train_loss"], one.history["train_loss"], rtol=1e-10)
    np.testing.assert_allclose(two.history["val_loss"], one.history["val_loss"], rtol=1e-10)
    assert two.final_val_loss == pytest.approx(one.final_val_loss, rel=1e-10)
    for k in one.model.params:
        np.testing.assert_allclose(two.model.params[k], one.model.params[k], rtol=1e-8, atol=1e-12, err_msg=k)


def test_single_threaded_blas_restores_the_count():
    before = blas_threads()
    with single_threaded_blas():
        inside = blas_threads()
    assert blas_threads() == before
    if before is None:  # NumPy's BLAS is not OpenBLAS here: the block must be a no-op
        assert inside is None
    else:
        assert inside == 1


def test_bad_thread_counts_are_rejected():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_threads"):
            DataParallel(_gpt(), bad)
    with pytest.raises(ValueError, match="threads"):
        TrainConfig(threads=-1)
