"""Token-by-token generation: the last box of the article's §2.4 flowchart.

    repeat max_new_tokens times:
        logits = model(context)[:, -1]            the distribution over the next token
        next   = pick(logits)                     greedy / temperature / top-k / top-p
        context = context + [next]

With a KV cache the keys and values of earlier positions are kept, so each step
feeds only the one new token through the network; its logits equal the full
recomputation (tests/test_generate.py checks every step).  When the context
would outgrow block_size, the window slides: the oldest tokens are dropped and
the cache is rebuilt from the last block_size tokens, which is again exactly
what a full forward on the cropped context computes.

Every random choice takes an explicit numpy.random.Generator.
"""
import numpy as np

from minillm.checks import check_int, check_int_array, check_number, check_rng


# p_i = exp(z_i / tau) / sum_j exp(z_j / tau)        (tau = temperature)
def softmax_with_temperature(logits, temperature=1.0):
    z = logits.astype(np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def filter_top_k(probs, k):
    """Keep the k most likely tokens (ties at the boundary kept), renormalise."""
    if k >= probs.shape[-1]:
        return probs
    kth = np.sort(probs, axis=-1)[..., -k][..., None]
    kept = np.where(probs >= kth, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def filter_top_p(probs, p):
    """Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches p, renormalise."""
    order = np.argsort(-probs, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(probs, order, axis=-1)
    mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p
    keep_sorted = mass_before < p  # a token is kept if the mass before it has not reached p yet
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    kept = np.where(keep, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def pick_next(logits, *, greedy=False, temperature=1.0, top_k=None, top_p=None, rng=None):
    """logits (B, V) -> next token ids (B,)."""
    if greedy or temperature == 0:
        return np.argmax(logits, axis=-1)
    check_number("temperature", temperature, low=0.0, low_open=True)
    check_rng("rng", rng)
    probs = softmax_with_temperature(logits, temperature)
    if top_k is not None:
        check_int("top_k", top_k, low=1)
        probs = filter_top_k(probs, top_k)
    if top_p is not None:
        check_number("top_p", top_p, low=0.0, high=1.0, low_open=True)
        probs = filter_top_p(probs, top_p)
    # inverse-CDF sampling, one uniform draw per row
    u = rng.random((probs.shape[0], 1))
    return np.minimum((np.cumsum(probs, axis=-1) < u).sum(axis=-1), probs.shape[-1] - 1)


def generate(model, idx, max_new_tokens, *, greedy=False, temperature=1.0, top_k=None, top_p=None,
             rng=None, stop_tokens=None, use_cache=True):
    """Extend idx (B, T) by up to max_new_tokens tokens; returns the new (B, T + n) array.

    Generation stops early when every row has produced one of `stop_tokens`
    (the stop token is kept; rows that stopped keep repeating it).
    """
    check_int_array("idx", idx, high=model.config.vocab_size)
    if idx.ndim != 2 or idx.shape[1] < 1:
        raise ValueError(f"idx must have shape (B, T) with T >= 1, got {idx.shape}")
    check_int("max_new_tokens", max_new_tokens, low=0)
    block = model.config.block_size
    stop = set() if stop_tokens is None else {int(t) for t in stop_tokens}
    done = np.zeros(idx.shape[0], dtype=bool)
    out = idx.copy()
    kv, fed = None, 0  # fed: how many tokens of `out` the cache has seen
    for _ in range(max_new_tokens):
        if not use_cache:
            logits, _, _ = model.forward(out[:, -block:], training=False)
        elif kv is None or kv[0].t + (out.shape[1] - fed) > block:
            # start, or the window slides: rebuild the cache from the last block_size tokens
            kv = model.new_kv_cache(out.shape[0])
            logits, _, _ = model.forward(out[:, -block:], kv_cache=kv, training=False)
        else:
            # only the tokens the cache has not seen yet (one per step) go through the network
            logits, _, _ = model.forward(out[:, fed:], kv_cache=kv, training=False)
        fed = out.shape[1]
        nxt = pick_next(logits[:, -1], greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p, rng=rng)
        nxt = np.where(done, out[:, -1], nxt)
        out = np.concatenate([out, nxt[:, None].astype(out.dtype)], axis=1)
        if stop:
            done |= np.isin(nxt, list(stop))
            if done.all():
                break
    return out
