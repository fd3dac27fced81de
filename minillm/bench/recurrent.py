"""One training step of the recurrent LMs, side by side in one run: backend "numpy" vs "numba" vs torch eager.

    python -m minillm.bench.recurrent [--cell lstm] [--iters 30] [--threads 2]
    rows = lstm_step_rows()             # list of dicts, one per implementation (what `minillm bench` prints)

The recipe (no shipped config trains an RNN LM; notebook 03's demo is smaller):
a character LM with V = 65, C = n_embd = 64, H = n_hidden = 256, one layer,
batch B = 32 of T = 64 steps, float32.

    minillm-numpy            RNNConfig(backend="numpy"): minillm.layers.recurrent, optim.AdamW
    minillm-numba            backend="numba": minillm.kernels.recurrent (+ the fused head, cross-entropy and AdamW)
    minillm-numba-unsharded  the same on one data-parallel shard (BLAS's own 2 threads instead)
    torch-eager              nn.Embedding -> nn.LSTM / nn.GRU / nn.RNN (tanh) -> nn.Linear, cross-entropy,
                             clip_grad_norm_(1.0), AdamW, torch.set_num_threads(2)

Each minillm step is `Trainer.step()` (minillm/train.py: forward, backward, clip, AdamW)
with the data-parallel threads given (2 = the batch split over the 2 cores, as the
shipped configs run), so it times what `minillm train` runs.  The minillm variants
run interleaved, iteration by iteration, so machine noise hits them alike; torch
runs after all of them (its OpenMP threads would otherwise spin on the cores the
others need).  Times are medians; the machine is shared, so only the ratios of
one run mean much.
"""
import argparse
import time

import numpy as np

RECIPE = dict(vocab_size=65, n_embd=64, n_hidden=256, n_layer=1, block_size=64)
BATCH = 32
# (impl, backend, data-parallel threads)
VARIANTS = (("minillm-numpy", "numpy", 2), ("minillm-numba", "numba", 2), ("minillm-numba-unsharded", "numba", 1))


def _torch():
    try:
        import torch  # noqa: F401  (a reference column only: never a dependency)

        return torch
    except Exception:  # noqa: BLE001
        return None


def _trainer(cell, backend, threads, steps, seed):
    from minillm.models.rnn import RNNConfig, RNNLM
    from minillm.train import Trainer, TrainConfig

    model = RNNLM(RNNConfig(cell=cell, backend=backend, **RECIPE), seed=seed)
    tokens = np.random.default_rng(seed).integers(0, RECIPE["vocab_size"], size=20_000)   # the same for every variant
    cfg = TrainConfig(batch_size=BATCH, max_iters=steps, lr=1e-3, min_lr=1e-3, warmup_iters=0, lr_decay_iters=steps,
                      eval_interval=10**6, checkpoint=False, threads=threads)
    return Trainer(model, tokens[:18_000], tokens[18_000:], cfg, progress=False)


def minillm_step_ms(cell="lstm", *, variants=VARIANTS, iters=30, warmup=5, seed=0):
    """impl -> (median ms of Trainer.step, the first losses), the variants' iterations interleaved."""
    runs = {impl: (_trainer(cell, backend, threads, warmup + iters, seed), [], []) for impl, backend, threads in variants}
    for it in range(warmup + iters):
        for trainer, times, losses in runs.values():
            t0 = time.perf_counter()
            losses.append(trainer.step())
            if it >= warmup:
                times.append(time.perf_counter() - t0)
    return {impl: (1000 * float(np.median(times)), losses[:3]) for impl, (_, times, losses) in runs.items()}


def torch_step_ms(cell="lstm", *, iters=30, warmup=10, threads=2, seed=0):
    """The same step in PyTorch eager (nn.LSTM / nn.GRU / nn.RNN), or None when torch is not importable."""
    torch = _torch()
    if torch is None:
        return None
    import torch.nn as nn
    import torch.nn.functional as F

    V, C, H, L, T = (RECIPE[k] for k in ("vocab_size", "n_embd", "n_hidden", "n_layer", "block_size"))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](C, H, num_layers=L, batch_first=True)
        wte, head = nn.Embedding(V, C), nn.Linear(H, V)
        params = list(wte.parameters()) + list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
        g = torch.Generator().manual_seed(seed)
        times = []
        for i in range(warmup + iters):
            x = torch.randint(0, V, (BATCH, T), generator=g)
            y = torch.randint(0, V, (BATCH, T), generator=g)
            t0 = time.perf_counter()
            out, _ = rnn(wte(x))
            loss = F.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return 1000 * float(np.median(times))


def step_rows(cell="lstm", *, iters=30, warmup=5, variants=VARIANTS):
    """One row per implementation: impl, threads, ms_per_iter, tokens_per_s, ratio_to_numpy (and ratio_to_torch)."""
    tokens = BATCH * RECIPE["block_size"]
    threads = {impl: t for impl, _, t in variants}
    rows = []
    for impl, (ms, losses) in minillm_step_ms(cell, variants=variants, iters=iters, warmup=warmup).items():
        rows.append({"cell": cell, "impl": impl, "threads": threads[impl], "ms_per_iter": ms,
                     "tokens_per_s": tokens / ms * 1e3, "first_losses": losses})
    # torch only now, after every minillm measurement (see the module's docstring)
    tms = torch_step_ms(cell, iters=iters)
    if tms is not None:
        rows.append({"cell": cell, "impl": "torch-eager", "threads": 2, "ms_per_iter": tms,
                     "tokens_per_s": tokens / tms * 1e3})
    numpy_ms = next((r["ms_per_iter"] for r in rows if r["impl"] == "minillm-numpy"), None)
    for r in rows:
        if numpy_ms is not None:
            r["ratio_to_numpy"] = r["ms_per_iter"] / numpy_ms
        if tms is not None:
            r["ratio_to_torch"] = r["ms_per_iter"] / tms
    return rows


def lstm_step_rows(*, iters=30, warmup=5):
    """The LSTM LM step (the issue's benchmark): numpy vs numba vs torch.nn.LSTM."""
    return step_rows("lstm", iters=iters, warmup=warmup)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn", "all"])
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    r = RECIPE
    print(f"recurrent LM training step (V={r['vocab_size']}, C={r['n_embd']}, H={r['n_hidden']}, "
          f"{r['n_layer']} layer, B={BATCH}, T={r['block_size']}, float32), median of {a.iters} iterations")
    for cell in (("lstm", "gru", "rnn") if a.cell == "all" else (a.cell,)):
        for row in step_rows(cell, iters=a.iters, warmup=a.warmup):
            ratios = "  ".join(f"{k} {row[k]:.2f}" for k in ("ratio_to_numpy", "ratio_to_torch") if k in row)
            print(f"  {cell:4s} {row['impl']:24s} threads {row['threads']}  {row['ms_per_iter']:8.2f} ms/iter  "
                  f"{row['tokens_per_s']:9.0f} tokens/s  {ratios}")


if __name__ == "__main__":
    main()
