"""Where a GPT training step spends its time, op by op (nanoGPT's CPU recipe, float32).

    python -m minillm.bench.profile_gpt_step [--backend numpy|numba] [--fused] [--iters 50] [--cprofile]

Wraps every op of the model's `ops` namespace in a timer, runs the model's forward and
backward and then `Trainer.update` (clipping + AdamW, minillm/train.py; on the numba
backend global_grad_norm + adamw_step) on random Tiny-Shakespeare-sized batches (vocab 65,
B=12, T=64, C=128, 4 heads, 4 layers, bias=False), and prints ms per iteration for each
op, the update, and what is left (the model's own Python and NumPy glue: residual adds,
head split/merge, wpe, the tied-head transpose).  Medians over --iters iterations.
--fused swaps the ops of minillm.kernels.fused / minillm.kernels.norm into the chosen
backend's namespace.  Trainer keeps freed memory in glibc's heap, as training does.

On a shared machine, OpenBLAS's 2 threads contend with other processes' and a
step can take 10x longer: compare variants in one run, or set
OPENBLAS_NUM_THREADS=1 for a steadier (if slower) comparison.
"""
import argparse
import cProfile
import pstats
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np

from minillm.models.backend import OP_NAMES
from minillm.models.gpt import GPT, GPTConfig
from minillm.train import Trainer, TrainConfig


clock = time.perf_counter


def timed_ops(ops, totals):
    def wrap(name, fn):
        def timed(*args, **kwargs):
            t0 = clock()
            out = fn(*args, **kwargs)
            totals[name] += clock() - t0
            return out
        return timed
    return SimpleNamespace(**{name: wrap(name, getattr(ops, name)) for name in OP_NAMES})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--fused", action="store_true")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with time.thread_time (CPU time of this thread): steady on a loaded machine, "
                         "meaningful with OPENBLAS_NUM_THREADS=1 and serial kernels")
    a = ap.parse_args()
    global clock
    clock = time.thread_time if a.cpu_time else time.perf_counter
    cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, backend=a.backend)
    model = GPT(cfg, seed=0)
    totals = defaultdict(float)
    if a.fused:
        from minillm.kernels import fused, norm

        for module in (fused, norm):
            for name in OP_NAMES:
                if hasattr(module, name):
                    setattr(model.ops, name, getattr(module, name))
    model.ops = timed_ops(model.ops, totals)
    recipe = TrainConfig(batch_size=12, lr=1e-3, min_lr=1e-3, warmup_iters=0, beta1=0.9, beta2=0.99,
                         weight_decay=0.1, grad_clip=1.0, max_iters=10**6, checkpoint=False, threads=1)
    tokens = np.zeros(1000, dtype=np.int64)          # the trainer only updates: batches come from rng below
    trainer = Trainer(model, tokens, tokens, recipe, progress=False)
    rng = np.random.default_rng(0)
    per_iter = defaultdict(list)

    def one_step():
        x = rng.integers(0, 65, size=(12, 64))
        y = rng.integers(0, 65, size=(12, 64))
        t0 = clock()
        _, loss, cache = model.forward(x, y)
        t1 = clock()
        grads = model.backward(cache)
        t2 = clock()
        trainer.update(grads)
        t3 = clock()
        return t1 - t0, t2 - t1, t3 - t2

    for _ in range(5):
        one_step()
    if a.cprofile:
        pr = cProfile.Profile()
        pr.enable()
    for _ in range(a.iters):
        totals.clear()
        f, b, u = one_step()
        for k, v in totals.items():
            per_iter[k].append(v)
        per_iter["[forward total]"].append(f)
        per_iter["[backward total]"].append(b)
        per_iter["[Trainer.update: clip + AdamW]"].append(u)
        per_iter["[step total]"].append(f + b + u)
        per_iter["[glue: fwd+bwd minus ops]"].append(f + b - sum(totals.values()))
    if a.cprofile:
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)
    rows = sorted(per_iter.items(), key=lambda kv: -np.median(kv[1]))
    print(f"backend={a.backend}{' + fused' if a.fused else ''}  median {'CPU ' if a.cpu_time else ''}ms per iteration over {a.iters} iterations")
    for name, v in rows:
        print(f"  {name:32s} {1e3 * np.median(v):7.2f}")


if __name__ == "__main__":
    main()
