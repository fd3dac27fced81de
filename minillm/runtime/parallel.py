"""Data parallelism on one machine: each thread computes the gradient of one slice of the batch.

The batch loss is a mean over its n target tokens, so it splits exactly into
shards s = 1..S of n_s tokens each:

    loss  = sum_s (n_s / n) * loss_s            loss_s = mean loss over shard s
    grads = sum_s d[(n_s / n) * loss_s]/dθ      each shard's backward starts from dloss = n_s / n

so every shard runs the model's ordinary forward and backward on its own rows,
and the gradients are simply added.  This is PyTorch's DistributedDataParallel
in miniature: threads instead of processes, a sum instead of an all-reduce.

Why threads help in Python here: the heavy work never holds the GIL.
np.matmul hands the products to BLAS, which releases it, and the Numba kernels
are compiled with nogil=True.  While shards run, BLAS is kept to ONE thread
per call: otherwise each shard's product asks OpenBLAS for both cores, and
OpenBLAS's worker spin-waits on the core the other shard needs.  (Measured on
2 cores, nanoGPT's CPU recipe: 2 shards of 6 sequences take 0.75-0.85x the
time of one batch of 12 with 2 BLAS threads.)

Results are the same sums in a different order: float64 agrees with the
unsharded step to ~1e-15, float32 to rounding (tests/test_parallel.py).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from minillm.layers.softmax import IGNORE_INDEX  # targets that count for nothing in the loss
from minillm.runtime.blas import single_threaded_blas


class DataParallel:
    """Split batches over `n_threads` threads; `loss_and_grads` is forward + backward of the whole batch.

        with DataParallel(model, n_threads=2) as dp:
            loss, grads = dp.loss_and_grads(x, y, rng=dropout_rng)   # = forward(x, y) + backward, sharded
            loss = dp.loss(x, y)                                     # forward only, training=False

    The model needs forward(idx, targets, training=..., rng=...) and backward(cache, dloss=...).
    """

    def __init__(self, model, n_threads):
        if not isinstance(n_threads, int) or isinstance(n_threads, bool) or n_threads < 1:
            raise ValueError(f"n_threads must be an int >= 1, got {n_threads!r}")
        self.model, self.n_threads = model, n_threads
        self.pool = ThreadPoolExecutor(n_threads, thread_name_prefix="minillm-shard", initializer=_one_thread_each)

    def _shards(self, x, y):
        # contiguous row slices, as equal as B allows: B = 12, 2 threads -> rows 0..5 and 6..11
        bounds = np.linspace(0, x.shape[0], min(self.n_threads, x.shape[0]) + 1).astype(int)
        shards = [(x[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        counts = [int(np.count_nonzero(ys != IGNORE_INDEX)) for _, ys in shards]
        n = sum(counts)
        # n_s / n; a shard with no counted token adds nothing (and is not run)
        return [(xs, ys, c / n) for (xs, ys), c in zip(shards, counts) if c > 0]

    def loss_and_grads(self, x, y, rng=None):
        """Mean loss of the batch and its gradients, the shards computed at once on the threads."""
        shards = self._shards(x, y)
        # one Generator per shard for dropout, drawn from rng so that a run stays reproducible
        seeds = rng.integers(0, 2**63, size=len(shards)) if rng is not None else [None] * len(shards)
        with single_threaded_blas():
            jobs = [self.pool.submit(self._forward_backward, xs, ys, w, seed)
                    for (xs, ys, w), seed in zip(shards, seeds)]
            results = [job.result() for job in jobs]
        # loss = sum_s w_s loss_s;  grads = sum_s grads_s  (each already scaled by w_s)
        loss = sum(w * loss_s for (_, _, w), (loss_s, _) in zip(shards, results))
        grads = results[0][1]
        for _, g in results[1:]:
            for name in grads:
                grads[name] += g[name]
        return loss, grads

    def _forward_backward(self, x, y, weight, seed):
        rng = None if seed is None else np.random.default_rng(seed)
        _, loss, cache = self.model.forward(x, y, training=True, rng=rng)
        return loss, self.model.backward(cache, dloss=weight)

    def loss(self, x, y):
        """Mean loss of the batch without dropout or backward (evaluation)."""
        shards = self._shards(x, y)
        with single_threaded_blas():
            jobs = [self.pool.submit(self._loss, xs, ys) for xs, ys, _ in shards]
            losses = [job.result() for job in jobs]
        return sum(w * loss_s for (_, _, w), loss_s in zip(shards, losses))

    def _loss(self, x, y):
        return self.model.forward(x, y, training=False)[1]

    def close(self):
        self.pool.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _one_thread_each():
    # a shard thread runs its Numba kernels on itself alone (the attention kernel's own pool stays idle)
    import numba

    numba.set_num_threads(1)


def default_threads():
    """One shard thread per CPU core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
