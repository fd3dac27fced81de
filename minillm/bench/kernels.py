"""Benchmarks of the Numba kernels against their NumPy twins (for `minillm bench`).

    bench_attention(...) -> list of dicts, one per T: fwd and fwd+bwd ms, peak extra MiB
    bench_matmul(...)    -> list of dicts, one per shape: GFLOP/s of every version and np.matmul
    bench_compile()      -> dict: seconds to compile the kernels cold and to load them warm

Timings are the best of `repeats` runs (the minimum is the least disturbed by
other processes on a shared machine); every comparison is made in one run.
Peak extra memory is measured with tracemalloc, which sees every NumPy array
(NumPy reports its allocations to it) but not the small per-thread scratch
buffers that the kernels allocate inside Numba (a few hundred KiB).
Run as `python -m minillm.bench.kernels` for a quick table.
"""
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from minillm.kernels import attention as fused
from minillm.layers import attention as reference

# the module (the package attribute `minillm.kernels.matmul` is the function)
matmul_lesson = importlib.import_module("minillm.kernels.matmul")

# nanoGPT's CPU recipe: B*T = 12*64 = 768 rows, C = 128, 4C = 512, vocab 65, qkv = 3C = 384
GPT_SHAPES = [(768, 128, 384), (768, 128, 128), (768, 128, 512), (768, 512, 128), (768, 128, 65)]
SQUARES = [(256, 256, 256), (1024, 1024, 1024)]


# The fastest of `repeats` calls, and of as many more as fit in min_seconds: right after an
# np.matmul, OpenBLAS's worker keeps spinning on the second core for ~0.1 s, and a Numba
# kernel started then can wait for that core (seen: 10 ms calls of a 0.1 ms kernel).
def _best_ms(fn, repeats, min_seconds=0.25):
    best, spent, runs = np.inf, 0.0, 0
    while runs < repeats or spent < min_seconds:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best * 1e3


def _peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def bench_attention(T_values=(64, 512, 2048, 4096), *, B=1, H=8, D=64, causal=True, dtype=np.float32,
                    repeats=3, numpy_max_T=4096, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for T in T_values:
        q, k, v, dout = (rng.standard_normal((B, H, T, D)).astype(dtype) for _ in range(4))
        n = repeats if T > 512 else 5 * repeats
        row = {"B": B, "H": H, "T": T, "D": D, "causal": causal, "dtype": np.dtype(dtype).name}
        for name, module, enabled in (("numba", fused, True), ("numpy", reference, T <= numpy_max_T)):
            if not enabled:
                continue

            def fwd():
                return module.attention_forward(q, k, v, causal=causal)

            def fwd_bwd():
                out, cache = module.attention_forward(q, k, v, causal=causal)
                return module.attention_backward(dout, cache)

            fwd_bwd()                                                    # compile / warm up
            row[f"{name}_fwd_ms"] = _best_ms(fwd, n)
            row[f"{name}_fwd_bwd_ms"] = _best_ms(fwd_bwd, n)
            row[f"{name}_peak_extra_mib"] = _peak_mib(fwd_bwd)
        if "numpy_fwd_bwd_ms" in row:
            row["speedup_fwd_bwd"] = row["numpy_fwd_bwd_ms"] / row["numba_fwd_bwd_ms"]
        rows.append(row)
    return rows


def bench_matmul(shapes=tuple(GPT_SHAPES) + tuple(SQUARES), *, dtype=np.float32, repeats=10, naive_max_flops=2e8,
                 seed=0):
    rng = np.random.default_rng(seed)
    versions = {
        "naive": matmul_lesson.matmul_naive,
        "reordered": matmul_lesson.matmul_reordered,
        "blocked": matmul_lesson.matmul_blocked,
        "packed": matmul_lesson.matmul,
        "np.matmul": np.matmul,
    }
    rows = []
    for M, K, N in shapes:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        dc = rng.standard_normal((M, N)).astype(dtype)
        flops = 2.0 * M * N * K
        row = {"M": M, "K": K, "N": N, "dtype": np.dtype(dtype).name}
        for name, fn in versions.items():
            if name == "naive" and flops > naive_max_flops:
                continue
            fn(a, b)
            row[f"{name}_gflops"] = flops / _best_ms(lambda: fn(a, b), repeats) / 1e6
        # the backward products: packed without transposes vs NumPy on transposed views
        for name, fn in (("packed_nt", lambda: matmul_lesson.matmul_nt(dc, b)), ("np_nt", lambda: dc @ b.T),
                         ("packed_tn", lambda: matmul_lesson.matmul_tn(a, dc)), ("np_tn", lambda: a.T @ dc)):
            fn()
            row[f"{name}_gflops"] = flops / _best_ms(fn, repeats) / 1e6
        row["packed_over_np"] = row["packed_gflops"] / row["np.matmul_gflops"]
        rows.append(row)
    return rows


_COMPILE_SCRIPT = """
import time, numpy as np
t0, c0 = time.perf_counter(), time.process_time()
import minillm.kernels as K
q = np.ones((1, 2, 70, 16), dtype=np.float32)
out, cache = K.attention_forward(q, q, q, causal=True)
K.attention_backward(out, cache)
a = np.ones((9, 5), dtype=np.float32)
K.matmul_backward(K.matmul(a, a.T.copy()), a, a.T.copy())
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def bench_compile():
    """Seconds (wall and CPU) for a fresh process to import and run the float32 attention
    and matmul kernels: with an empty cache (cold), then with the cache it left (warm)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        times = []
        for _ in range(2):
            result = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True,
                                    text=True, check=True)
            times.append([float(x) for x in result.stdout.strip().splitlines()[-1].split()])
    return {"cold_s": times[0][0], "cold_cpu_s": times[0][1], "warm_s": times[1][0], "warm_cpu_s": times[1][1]}


def main():
    print(json.dumps({"compile": bench_compile()}, indent=1))
    for row in bench_matmul():
        print(json.dumps(row))
    for row in bench_attention():
        print(json.dumps(row))


if __name__ == "__main__":
    main()
