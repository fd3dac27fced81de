"""`minillm bench`: how fast, measured side by side in one run, printed as tables and written to bench.json.

    (a) attention fwd and fwd+bwd: Numba kernel vs NumPy reference (vs torch SDPA if importable)
    (b) the matmul lesson's kernels and np.matmul, GFLOP/s on the GPT's shapes and on squares
    (c) one GPT training step on nanoGPT's CPU recipe, backend "numpy" vs "numba" (vs torch eager):
        ms/iter, tokens/s, model-FLOPs utilisation against the measured fp32 matmul peak
    (d) compile time of everything the GPT step needs, in a fresh process: cold cache, then warm
    (e) the n-gram model: trigram Kneser-Ney fit and scoring on Tiny Shakespeare's words
    (f) BERT: all-MiniLM-L6-v2's forward vs transformers, a case-1 fine-tuning step vs PyTorch (bench/models.py)
    (g) the LSTM language model's training step, numpy vs numba vs torch.nn.LSTM (bench/recurrent.py)
    (h) the kernel ratios (packed sgemm / np.matmul, fused attention / NumPy at T = 512) timed alone and
        interleaved call by call with np.matmul in the same process (bench/kernels.py bench_call_order)

Timings are the best (kernels) or median (training steps) of several runs:
the machine is shared and noisy, so only ratios measured in the same run mean much.
"""
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

RECIPE = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, dropout=0.0)
BATCH = 12


def _torch():
    try:
        import torch  # noqa: F401  (a reference column only: never a dependency)

        return torch
    except Exception:  # noqa: BLE001
        return None


# ------------------------------------------------------------------ (c) the GPT step
def model_flops_per_token(n_layer, n_embd, block_size, vocab_size):
    """Training FLOPs per token: 6 N (matmul weights, N = 12 L C^2 + C V) + 12 L T C (QK^T and PV)."""
    N = 12 * n_layer * n_embd**2 + n_embd * vocab_size
    return 6 * N + 12 * n_layer * block_size * n_embd


def gpt_step_ms(backend, *, threads=1, iters=30, warmup=5, seed=0):
    """Median ms of one full training step (Trainer.step: forward, backward, clip, AdamW) on the recipe.

    threads: the data-parallel shards (minillm/runtime/parallel.py); the shipped config uses 2."""
    from minillm.models.gpt import GPT, GPTConfig
    from minillm.train import Trainer, TrainConfig

    model = GPT(GPTConfig(**RECIPE, backend=backend), seed=seed)
    tokens = np.random.default_rng(seed).integers(0, RECIPE["vocab_size"], size=20_000)
    cfg = TrainConfig(batch_size=BATCH, max_iters=warmup + iters, warmup_iters=10, lr_decay_iters=warmup + iters,
                      threads=threads)
    trainer = Trainer(model, tokens[:15_000], tokens[15_000:], cfg, progress=False)
    times, losses = [], []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        losses.append(trainer.step())
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)), losses


def torch_step_ms(iters=30, warmup=10):
    """The same step in PyTorch eager (the shared reference model), if torch is importable."""
    torch = _torch()
    if torch is None:
        return None
    import torch.nn as nn
    import torch.nn.functional as F

    C, H, L, T, V = RECIPE["n_embd"], RECIPE["n_head"], RECIPE["n_layer"], RECIPE["block_size"], RECIPE["vocab_size"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(C, bias=False), nn.LayerNorm(C, bias=False)
            self.qkv, self.proj = nn.Linear(C, 3 * C, bias=False), nn.Linear(C, C, bias=False)
            self.fc, self.out = nn.Linear(C, 4 * C, bias=False), nn.Linear(4 * C, C, bias=False)

        def forward(self, x):
            B = x.shape[0]
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (z.view(B, T, H, C // H).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    torch.manual_seed(0)
    wte, wpe = nn.Embedding(V, C), nn.Embedding(T, C)
    blocks = nn.ModuleList(Block() for _ in range(L))
    ln_f = nn.LayerNorm(C, bias=False)
    params = list(wte.parameters()) + list(wpe.parameters()) + list(blocks.parameters()) + list(ln_f.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    times = []
    for i in range(warmup + iters):
        x = torch.randint(0, V, (BATCH, T))
        y = torch.randint(0, V, (BATCH, T))
        t0 = time.perf_counter()
        h = wte(x) + wpe(torch.arange(T))
        for b in blocks:
            h = b(h)
        logits = ln_f(h) @ wte.weight.T
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def measure_peak_gflops(dtype=np.float32, seconds=1.0):
    """fp32 matmul peak as the best np.matmul rate over a few square sizes."""
    best = 0.0
    for n in (256, 384, 512, 768, 1024):
        a = np.ones((n, n), dtype)
        b = np.ones((n, n), dtype)
        a @ b
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 5:
            a @ b
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


# -------------------------------------------------------------- (d) compile time
_STEP_SCRIPT = """
import time
t0 = time.perf_counter()
import numpy as np
from minillm.models.gpt import GPT, GPTConfig
from minillm.train import Trainer, TrainConfig
m = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=1, n_head=4, n_embd=128, bias=False, backend="numba"))
tokens = np.zeros(200, dtype=np.int64)
Trainer(m, tokens, tokens, TrainConfig(batch_size=2, threads=1), progress=False).step()
print(time.perf_counter() - t0)
"""


def compile_times():
    """Seconds for a fresh process to import, compile and run one numba GPT step: cold cache, then warm."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", _STEP_SCRIPT], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"compile benchmark failed:\n{r.stderr[-2000:]}")
            out.append(float(r.stdout.strip().splitlines()[-1]))
    return {"cold_s": out[0], "warm_s": out[1]}


# ---------------------------------------------------------------- (e) n-gram timings
def ngram_timings(text):
    from minillm.models.ngram import NGramLM

    sents = [line.split() for line in text.split("\n") if line.strip()]
    t0 = time.perf_counter()
    NGramLM(3, smoothing="kneser_ney").fit(sents)
    fit_s = time.perf_counter() - t0
    cut = int(0.9 * len(sents))
    lm = NGramLM(3, smoothing="kneser_ney").fit(sents[:cut])
    held = sents[cut:]
    while sum(len(s) + 1 for s in held) < 100_000:
        held = held + sents[cut:]
    t0 = time.perf_counter()
    lp = lm.token_logprobs(held)
    score_s = time.perf_counter() - t0
    return {"fit_trigram_kn_s": fit_s, "score_s": score_s, "ngrams_scored": int(len(lp)),
            "heldout_perplexity": float(np.exp(-np.mean(lp)))}


# -------------------------------------------------------------------------- driver
def run_bench(args):
    quick = getattr(args, "quick", False)
    result = {"machine": {"python": platform.python_version(), "numpy": np.__version__, "cpu_count": os.cpu_count(),
                          "processor": platform.processor() or platform.machine()}}

    def show(title, rows):
        print(f"\n== {title}")
        for row in rows:
            print("  " + "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))

    # (d) first, so that it measures a cold cache in a clean subprocess
    result["compile"] = compile_times()
    show("compile (fresh process, GPT step with backend numba)", [result["compile"]])

    from minillm.bench.kernels import GPT_SHAPES, SQUARES, bench_attention, bench_call_order, bench_matmul

    # (c) before (a), (b): the GPT step runs no parallel kernel, so OpenBLAS keeps its long idle spin
    # (minillm train's setting); the first parallel kernel below shortens it for good (kernels/threads.py)
    peak = args.peak_gflops or measure_peak_gflops()
    flops_tok = model_flops_per_token(RECIPE["n_layer"], RECIPE["n_embd"], RECIPE["block_size"], RECIPE["vocab_size"])
    tokens = BATCH * RECIPE["block_size"]
    steps = []
    iters = 10 if quick else 30
    # both backends as the shipped config runs them (2 data-parallel threads), and numba on one shard
    for impl, backend, threads in (("minillm-numpy", "numpy", 2), ("minillm-numba", "numba", 2),
                                   ("minillm-numba-unsharded", "numba", 1)):
        ms, losses = gpt_step_ms(backend, threads=threads, iters=iters)
        steps.append({"impl": impl, "threads": threads, "ms_per_iter": ms, "tokens_per_s": tokens / ms * 1e3,
                      "mfu": flops_tok * tokens / (ms / 1e3) / (peak * 1e9), "first_losses": losses[:3]})

    T_values = (64, 512) if quick else (64, 512, 2048, 4096)
    att = bench_attention(T_values)
    # --quick: the qkv projection's shape and the vocab-65 head, the widest and the most ragged
    result["matmul"] = bench_matmul((GPT_SHAPES[0], GPT_SHAPES[-1]) if quick else tuple(GPT_SHAPES) + tuple(SQUARES))
    # the kernel ratios timed alone and interleaved call by call with np.matmul, in this one process
    result["call_order"] = bench_call_order((GPT_SHAPES[0],) if quick else GPT_SHAPES,
                                            calls=30 if quick else 100, rounds=2 if quick else 3)

    # PyTorch only now, after every minillm measurement, so that its own OpenMP runtime and
    # threads cannot disturb them (a second runtime's spinning threads on 2 cores)
    torch = _torch()
    result["machine"]["torch"] = getattr(torch, "__version__", None)
    if torch is not None:
        for row in att:
            row.update(_torch_attention(torch, row["T"]))
    result["attention"] = att
    show("attention (B=1, H=8, D=64, causal, float32): ms and peak extra MiB", att)
    show("matmul GFLOP/s (M, K, N)", result["matmul"])
    show("kernel ratios alone and interleaved with np.matmul (ratio = NumPy ms / kernel ms)", result["call_order"])
    tms = torch_step_ms(iters=iters) if torch is not None else None
    if tms is not None:
        steps.append({"impl": "torch-eager", "ms_per_iter": tms, "tokens_per_s": tokens / tms * 1e3,
                      "mfu": flops_tok * tokens / (tms / 1e3) / (peak * 1e9)})
        for s in steps[:-1]:
            s["ratio_to_torch"] = s["ms_per_iter"] / tms
    result["gpt_step"] = {"recipe": {**RECIPE, "batch_size": BATCH}, "peak_gflops": peak,
                          "flops_per_token": flops_tok, "rows": steps}
    show(f"GPT training step (nanoGPT CPU recipe; peak {peak:.0f} GFLOP/s)",
         [{k: v for k, v in s.items() if k != "first_losses"} for s in steps])

    result["bert"] = bert_rows(quick)
    show("BERT: MiniLM forward vs transformers, case-1 fine-tuning step vs PyTorch eager (ms; ratio = numba / reference)",
         result["bert"])
    from minillm.bench.recurrent import lstm_step_rows

    result["lstm_step"] = lstm_step_rows(iters=10 if quick else 30)
    show("LSTM language-model training step (ms; ratio_to_torch = minillm / torch.nn.LSTM)",
         [{k: v for k, v in r.items() if k != "first_losses"} for r in result["lstm_step"]])

    text = _shakespeare_text(getattr(args, "data", None))
    if text is not None:
        result["ngram"] = ngram_timings(text)
        show("n-gram (trigram Kneser-Ney on Tiny Shakespeare words)", [result["ngram"]])
    else:
        result["ngram"] = None
        print("\n== n-gram: skipped (give --data path/to/tinyshakespeare.txt)")

    from minillm.atomic import write_json_atomic

    write_json_atomic(args.out, result)
    print(f"\nwrote {args.out}")
    return 0


def bert_rows(quick=False):
    """(f): MiniLM's forward (when the `pretrained` extra is installed) and the fine-tuning step."""
    from minillm.bench.models import finetune_step_row, minilm_forward_rows

    rows = []
    try:
        rows += minilm_forward_rows(repeats=3 if quick else 9, numpy_repeats=1 if quick else 2)
    except ModuleNotFoundError as e:                       # the MiniLM weights come with the `pretrained` extra
        print(f"\n== MiniLM forward: skipped ({e})")
    rows.append(finetune_step_row(iters=5 if quick else 20))
    return rows


def _shakespeare_text(path):
    if path:
        from minillm.datasets import read_text

        return read_text(path)
    return None


def _torch_attention(torch, T, B=1, H=8, D=64):
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, T, D, generator=g, requires_grad=True) for _ in range(3))
    dout = torch.randn(B, H, T, D, generator=g)

    def fwd():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def fwd_bwd():
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(dout)

    best = {}
    for name, fn in (("torch_fwd_ms", fwd), ("torch_fwd_bwd_ms", fwd_bwd)):
        fn()
        t = np.inf
        for _ in range(3 if T > 512 else 10):
            t0 = time.perf_counter()
            fn()
            t = min(t, time.perf_counter() - t0)
        best[name] = 1000 * t
    return best


