"""GPT training step, side by side in one run: NumPy layers vs the fused kernels (nanoGPT's CPU recipe).

    python -m minillm.bench.gpt_step [--iters 50] [--dtype float32]

Variants (each its own model and optimizer, same seed and batches, iterations
interleaved so that machine noise hits all of them alike):

    numpy          backend="numpy": minillm.layers; Trainer clips with optim.clip_grad_norm, steps optim.AdamW
    fused          the NumPy namespace with minillm.kernels.fused / .norm ops swapped in; backend "numba",
                   so Trainer updates with global_grad_norm + adamw_step (minillm.kernels.optim)
    fused+kernels  as fused, plus every op that minillm.kernels itself exports (attention)

Each step is `Trainer.step()` (minillm/train.py, one thread, constant learning rate), so
this times exactly what `minillm train` runs.  Prints median ms per iteration (forward +
backward + clip + AdamW), tokens/s, minor page faults per iteration, and the largest
parameter difference to the numpy variant after the run.  Trainer keeps freed memory in
glibc's heap (minillm/kernels/allocator.py): without that, every step gives ~26 MB of
activations back to the OS and faults them in again (~6500 minor page faults per step).
"""
import argparse
import resource
import time
from types import SimpleNamespace

import numpy as np

from minillm import layers
from minillm.models.backend import OP_NAMES
from minillm.models.gpt import GPT, GPTConfig
from minillm.train import Trainer, TrainConfig

# nanoGPT's CPU recipe at its peak learning rate, one thread, no evaluation
RECIPE = TrainConfig(batch_size=12, lr=1e-3, min_lr=1e-3, warmup_iters=0, beta1=0.9, beta2=0.99, weight_decay=0.1,
                     grad_clip=1.0, max_iters=10**6, eval_interval=10**6, checkpoint=False, threads=1)


def namespace(fused_ops, kernel_ops):
    from minillm.kernels import fused, norm

    ops = {name: getattr(layers, name) for name in OP_NAMES}
    if kernel_ops:
        import minillm.kernels as kernels

        ops.update({name: getattr(kernels, name) for name in OP_NAMES if hasattr(kernels, name)})
    if fused_ops:
        for module in (fused, norm):
            ops.update({name: getattr(module, name) for name in OP_NAMES if hasattr(module, name)})
    return SimpleNamespace(**ops)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--no-kernels", action="store_true", help="skip the fused+kernels variant")
    a = ap.parse_args()
    variants = {"numpy": ("numpy", namespace(False, False)), "fused": ("numba", namespace(True, False))}
    if not a.no_kernels:
        variants["fused+kernels"] = ("numba", namespace(True, True))
    tokens = np.random.default_rng(0).integers(0, 65, size=20_000)        # the same batches for every variant
    runs = {}
    for name, (backend, ops) in variants.items():
        cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, dtype=a.dtype,
                        backend=backend)
        model = GPT(cfg, seed=0)
        model.ops = ops
        runs[name] = (Trainer(model, tokens[:18_000], tokens[18_000:], RECIPE, progress=False), [], [])
    B, T = RECIPE.batch_size, 64
    for it in range(a.warmup + a.iters):
        for trainer, times, faults in runs.values():
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            trainer.step()
            if it >= a.warmup:
                times.append(time.perf_counter() - t0)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    ref = runs["numpy"][0].model.params
    print(f"GPT step, nanoGPT CPU recipe (B={B}, T={T}, C=128, 4 layers, 4 heads, V=65, {a.dtype}), "
          f"median of {a.iters} interleaved iterations")
    for name, (trainer, times, faults) in runs.items():
        model = trainer.model
        ms = 1e3 * float(np.median(times))
        diff = max(float(np.max(np.abs(model.params[k] - ref[k]))) for k in ref)
        print(f"  {name:14s} {ms:8.2f} ms/iter  {B * T / ms * 1e3:9.0f} tokens/s  "
              f"{np.median(faults):6.0f} page faults/iter   max |param - numpy's| {diff:.1e}")


if __name__ == "__main__":
    main()
