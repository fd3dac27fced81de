"""How much memory a GPT run will need, and how much this machine has: checked before allocating.

The estimate counts the big arrays (s bytes per number: 4 for float32, 8 for float64):

    training:    parameters, their gradients and AdamW's m and v          4 P   (+ P per extra thread)
                 activations the backward keeps, per token and block       k C  (k = 20 NumPy, 24 numba)
                 logits, their softmax and its gradient                    3 V per token
                 NumPy attention's probabilities (B, H, T, T) per block,
                 and two more while one block computes them                (L + 2) B H T^2
                 (the numba backend streams attention: no T x T matrix)
    generation:  the same forward for one window (B = 1, no gradients), plus the KV cache 2 L T C
    the corpus:  its token ids, 8 bytes each

The constants are fitted to tracemalloc's peak on small runs and rounded down, so the estimate is a
floor (the real peak is 0-50 % higher): a setting it refuses cannot run here, and one close to the
limit may still run out (the CLI then prints the MemoryError as one line).
"""
import os

TOKEN_ID_BYTES = 8  # the corpus as int64 ids
# numbers per token and channel that one block keeps for its backward (measured, rounded down)
ACTIVATIONS_PER_CHANNEL = {"numpy": 20, "numba": 24}


def _itemsize(config):
    return 8 if config.dtype == "float64" else 4


def _attention_matrices(config, B, T):
    # (L + 2) B H T^2 with the NumPy backend: each block keeps its probabilities, and the block being
    # computed holds its scores and their exponentials as well; the numba kernels keep no T x T matrix
    # $$ (L + 2)\, B H T^2 \quad \text{(NumPy backend; 0 with numba)} $$
    if config.backend == "numba":
        return 0
    return (config.n_layer + 2) * B * config.n_head * T * T


# bytes = s [ (3 + threads) P + B T (k L C + 3 V) + (L + 2) B H T^2 ]  + 8 N_tokens
# $$ \text{bytes} = s \left[ (3 + n_\text{threads}) P + B T (k L C + 3 V) + (L + 2) B H T^2 \right] + 8 N_\text{tokens} $$
def gpt_training_bytes(config, n_params, batch_size, *, threads=1, n_tokens=0):
    """A floor on the peak memory of training the GPT of `config` (a GPTConfig), term by term:
    {"parameters and AdamW state", "activations", "attention probabilities", "corpus"} -> bytes."""
    B, T, C, L, V = batch_size, config.block_size, config.n_embd, config.n_layer, config.vocab_size
    s = _itemsize(config)
    return {"parameters and AdamW state": s * (3 + max(threads, 1)) * n_params,
            "activations": s * B * T * (ACTIVATIONS_PER_CHANNEL[config.backend] * L * C + 3 * V),
            "attention probabilities": s * _attention_matrices(config, B, T),
            "corpus": TOKEN_ID_BYTES * n_tokens}


# bytes = s [ P + 2 L T C + T (k L C + 3 V) + (L + 2) H T^2 ]          (B = 1, one window of T tokens)
# $$ \text{bytes} = s \left[ P + 2 L T C + T (k L C + 3 V) + (L + 2) H T^2 \right] $$
def gpt_generation_bytes(config, n_params):
    """A floor on the peak memory of sampling from the GPT of `config`, term by term (as gpt_training_bytes)."""
    T, C, L, V = config.block_size, config.n_embd, config.n_layer, config.vocab_size
    s = _itemsize(config)
    k = ACTIVATIONS_PER_CHANNEL[config.backend]
    return {"parameters": s * n_params,
            "activations and KV cache": s * (2 * L * T * C + T * (k * L * C + 3 * V)),
            "attention probabilities": s * _attention_matrices(config, 1, T)}


def available_memory():
    """Bytes this process may still allocate: MemAvailable, or the cgroup's limit if lower; None if unknown."""
    candidates = [_meminfo_available(), _cgroup_headroom()]
    known = [c for c in candidates if c is not None]
    if known:
        return min(known)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _meminfo_available():
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024        # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom():
    """cgroup v2: memory.max - memory.current of this container (None without a limit)."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def format_bytes(n):
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"
