"""Benchmarks of the Numba kernels against their NumPy twins (for `minillm bench`).

    bench_attention(...) -> list of dicts, one per T: fwd and fwd+bwd ms, peak extra MiB
    bench_matmul(...)    -> list of dicts, one per shape: GFLOP/s of every version and np.matmul
    bench_compile()      -> dict: seconds to compile the kernels cold and to load them warm
    bench_call_order(...) -> list of dicts, one per kernel ratio: timed alone and interleaved with np.matmul

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


# The fastest of `repeats` calls, and of as many more as fit in min_seconds (a shared
# machine's other processes take a core now and then).  Before issue #17's fix OpenBLAS's
# worker kept spinning on the second core for ~0.1 s after every np.matmul, and a kernel
# started then waited for that core (seen: 10 ms calls of a 0.1 ms kernel); see
# bench_call_order for the measurement that keeps this honest.
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


# Each kernel ratio twice in this process: timed alone (a run of calls of one function, then a
# run of the other) and interleaved call by call with np.matmul, the order that once starved
# the kernels (kernels/threads.py).  Every call is timed; a round gives the median of its
# calls; the least disturbed round (the fastest median) is reported.  ratio = NumPy's ms /
# the kernel's ms, so > 1 means the kernel is faster:
#   packed sgemm      minillm.kernels.matmul vs np.matmul on each GPT shape;
#                     interleaved: matmul, np.matmul, matmul, np.matmul, ... (each after the other)
#   attention         fused fwd+bwd vs the NumPy layers (float32, causal, (B, H, T, D));
#                     interleaved: an np.matmul of the qkv shape before every attention call
# $$ \text{ratio} = \frac{t_\text{NumPy}}{t_\text{kernel}} $$
def bench_call_order(shapes=tuple(GPT_SHAPES), *, T=512, B=1, H=8, D=64, dtype=np.float32, calls=100,
                     attention_calls=8, rounds=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []

    def fastest_round(kernel, numpy, n, interleaved, between=None):
        # (kernel ms, numpy ms): the medians of the fastest round
        best = [np.inf, np.inf]
        for _ in range(rounds):
            times = ([], [])
            if interleaved:                              # kernel, numpy, kernel, numpy, ...
                for _ in range(n):
                    for which, fn in enumerate((kernel, numpy)):
                        if between is not None:
                            between()
                        times[which].append(_call_ms(fn))
            else:                                        # a run of each
                for which, fn in enumerate((kernel, numpy)):
                    times[which].extend(_call_ms(fn) for _ in range(n))
            best = [min(b, float(np.median(t))) for b, t in zip(best, times)]
        return best

    for M, K, N in shapes:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)

        def packed():
            return matmul_lesson.matmul(a, b)

        def blas():
            return np.matmul(a, b)

        packed(), blas()
        row = {"kernel": "packed sgemm", "case": f"({M},{K})x({K},{N})", "dtype": np.dtype(dtype).name}
        for mode in ("alone", "interleaved"):
            kernel_ms, numpy_ms = fastest_round(packed, blas, calls, mode == "interleaved")
            row.update({f"{mode}_kernel_ms": kernel_ms, f"{mode}_numpy_ms": numpy_ms,
                        f"{mode}_ratio": numpy_ms / kernel_ms})
        rows.append(row)

    q, k, v, dout = (rng.standard_normal((B, H, T, D)).astype(dtype) for _ in range(4))
    M, K, N = GPT_SHAPES[0]                                       # the qkv projection's product
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)

    def blas_between():
        return np.matmul(a, b)

    def attention(module):
        def fwd_bwd():
            out, cache = module.attention_forward(q, k, v, causal=True)
            return module.attention_backward(dout, cache)
        return fwd_bwd

    kernel, numpy = attention(fused), attention(reference)
    kernel(), numpy()
    row = {"kernel": "attention fwd+bwd", "case": f"B={B} H={H} T={T} D={D} causal", "dtype": np.dtype(dtype).name}
    for mode in ("alone", "interleaved"):
        kernel_ms, numpy_ms = fastest_round(kernel, numpy, attention_calls, mode == "interleaved", blas_between)
        row.update({f"{mode}_kernel_ms": kernel_ms, f"{mode}_numpy_ms": numpy_ms,
                    f"{mode}_ratio": numpy_ms / kernel_ms})
    rows.append(row)
    return rows


def _call_ms(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


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
    for row in bench_call_order():
        print(json.dumps(row))


if __name__ == "__main__":
    main()
