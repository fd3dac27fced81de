"""GPT training step, side by side in one run: NumPy layers vs the fused kernels (nanoGPT's CPU recipe).

    python -m minillm.bench.gpt_step [--iters 50] [--dtype float32]

Variants (each its own model and optimizer, same seed and batches, iterations
interleaved so that machine noise hits all of them alike):

    numpy          backend="numpy": minillm.layers + optim.clip_grad_norm + optim.AdamW
    fused          the NumPy namespace with minillm.kernels.fused / .norm ops swapped in,
                   global_grad_norm + adamw_step (minillm.kernels.optim) for the update
    fused+kernels  as fused, plus every op that minillm.kernels itself exports (attention)

Prints median ms per iteration (forward + backward + clip + AdamW), tokens/s,
minor page faults per iteration, and the largest parameter difference to the
numpy variant after the run.

--mallopt keeps freed memory in glibc's heap, as training does (minillm/runtime/allocator.py).
Without it, every step gives ~26 MB of activations back to the OS and faults them
in again (~6500 minor page faults per step, each a zeroed 4 KiB page).
"""
import argparse
import resource
import time
from types import SimpleNamespace

import numpy as np

from minillm import layers
from minillm.models.backend import OP_NAMES
from minillm.models.gpt import GPT, GPTConfig
from minillm.optim import AdamW, clip_grad_norm
from minillm.runtime.allocator import keep_freed_memory

LR, BETAS, WEIGHT_DECAY, GRAD_CLIP = 1e-3, (0.9, 0.99), 0.1, 1.0


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


def numpy_update(model, opt, grads):
    clip_grad_norm(grads, GRAD_CLIP)
    opt.step(grads, lr=LR)


def fused_update(model, opt, grads):
    from minillm.kernels.optim import adamw_step, global_grad_norm

    keys = list(model.params)
    g = [grads[k] for k in keys]
    total = global_grad_norm(g)
    scale = GRAD_CLIP / (total + 1e-6) if total > GRAD_CLIP else 1.0     # clip_grad_norm's factor
    opt.t += 1
    adamw_step([model.params[k] for k in keys], g, [opt.m[k] for k in keys], [opt.v[k] for k in keys],
               lr=LR, betas=BETAS, eps=opt.eps, weight_decay=WEIGHT_DECAY,
               decay=[k in opt.decay for k in keys], t=opt.t, grad_scale=scale)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--no-kernels", action="store_true", help="skip the fused+kernels variant")
    ap.add_argument("--mallopt", action="store_true", help="glibc: never trim the heap, mmap only above 32 MiB")
    a = ap.parse_args()
    if a.mallopt:
        keep_freed_memory()  # what Trainer does (minillm/runtime/allocator.py)
    cfg = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, dtype=a.dtype)
    variants = {"numpy": (namespace(False, False), numpy_update), "fused": (namespace(True, False), fused_update)}
    if not a.no_kernels:
        variants["fused+kernels"] = (namespace(True, True), fused_update)
    runs = {}
    for name, (ops, update) in variants.items():
        model = GPT(cfg, seed=0)
        model.ops = ops
        runs[name] = (model, AdamW(model.params, lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY), update, [], [])
    rng = np.random.default_rng(0)
    B, T = 12, cfg.block_size
    for it in range(a.warmup + a.iters):
        x = rng.integers(0, cfg.vocab_size, size=(B, T))
        y = rng.integers(0, cfg.vocab_size, size=(B, T))
        for model, opt, update, times, faults in runs.values():
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            _, loss, cache = model.forward(x, y)
            update(model, opt, model.backward(cache))
            if it >= a.warmup:
                times.append(time.perf_counter() - t0)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    ref = runs["numpy"][0].params
    print(f"GPT step, nanoGPT CPU recipe (B={B}, T={T}, C=128, 4 layers, 4 heads, V=65, {a.dtype}), "
          f"median of {a.iters} interleaved iterations{', mallopt' if a.mallopt else ''}")
    for name, (model, _, _, times, faults) in runs.items():
        ms = 1e3 * float(np.median(times))
        diff = max(float(np.max(np.abs(model.params[k] - ref[k]))) for k in ref)
        print(f"  {name:14s} {ms:8.2f} ms/iter  {B * T / ms * 1e3:9.0f} tokens/s  "
              f"{np.median(faults):6.0f} page faults/iter   max |param - numpy's| {diff:.1e}")


if __name__ == "__main__":
    main()
