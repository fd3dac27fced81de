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

The second half of this file decodes a sequence-to-sequence model: greedy and beam search.
"""
from dataclasses import dataclass

import numpy as np

from minillm.checks import check_choice, check_int, check_int_array, check_number, check_rng


# p_i = exp(z_i / tau) / sum_j exp(z_j / tau)        (tau = temperature)
# $$ \hat{p}_i = \frac{\exp(z_i / \tau)}{\sum_j \exp(z_j / \tau)} $$
def softmax_with_temperature(logits, temperature=1.0):
    z = logits.astype(np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def filter_top_k(probs, k):
    """Keep the k most likely tokens (ties at the boundary kept), renormalise."""
    if k >= probs.shape[-1]:
        return probs
    ### BEGIN SOLUTION
    kth = np.sort(probs, axis=-1)[..., -k][..., None]
    kept = np.where(probs >= kth, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)
    ### END SOLUTION


def filter_top_p(probs, p):
    """Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches p, renormalise."""
    ### BEGIN SOLUTION
    order = np.argsort(-probs, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(probs, order, axis=-1)
    mass_before = np.cumsum(sorted_p, axis=-1) - sorted_p
    keep_sorted = mass_before < p  # a token is kept if the mass before it has not reached p yet
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    kept = np.where(keep, probs, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)
    ### END SOLUTION


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


# ============================================================================
# Greedy and beam-search decoding with a length penalty (the article's §4.3 case 2)
#
# A decoder gives a distribution over the next token given the source and the
# prefix written so far.  Both searches here only see it through one function:
#
#     step_fn(prefixes) -> log_probs      prefixes (K, t) int, BOS in column 0;  log_probs (K, V)
#
# so they work for any model (minillm.models.seq2seq, a GPT, or a hand-written
# table in a test).  A hypothesis y_1 .. y_L ends with EOS (which counts in L)
# or is cut at max_len.
#
# Greedy:  y_t = argmax_v log p(v | y_<t)  until EOS.  One hypothesis, no look-ahead.
#
# Beam search keeps the beam_size best prefixes by log-probability
# log P(y) = sum_t log p(y_t | y_<t).  At each step every alive prefix is
# extended by every token; the candidates are ranked by log P; walking down the
# ranking, a candidate ending in EOS becomes a finished hypothesis and any other
# becomes an alive prefix, until beam_size alive prefixes are collected (an EOS
# ranked below all of them is dropped).  Finished hypotheses are compared by
#
#     score(y) = log P(y) / lp(L)
#     lp(L) = ((5 + L) / 6) ** alpha        length_penalty="gnmt"   (Wu et al. 2016, GNMT)
#     lp(L) = L ** alpha                    length_penalty="simple"
#
# alpha = 0 compares raw log-probabilities, which favours short outputs (every
# extra token multiplies P by a number < 1); alpha > 0 divides longer
# hypotheses by more, which cancels part of that bias.
#
# Stopping is exact, not a heuristic: an alive prefix with log P = s at length t
# can at best finish with log P <= s and some length L in (t, max_len], so its
# score is at most max_L s / lp(L).  The search stops once n_best finished
# hypotheses score at least that bound for every alive prefix (or at max_len,
# where the alive prefixes are returned as unfinished hypotheses).
# $$ \text{Greedy:} \quad y_t = \operatorname{argmax}_v \log p(v \mid y_{<t}) $$
# $$ \log P(y) = \sum_t \log p(y_t \mid y_{<t}) $$
# $$ \operatorname{score}(y) = \frac{\log P(y)}{\mathrm{lp}(L)}, \qquad \mathrm{lp}(L) = \begin{cases} \left(\frac{5 + L}{6}\right)^{\alpha_\mathrm{lp}} & \text{gnmt} \\ L^{\alpha_\mathrm{lp}} & \text{simple} \end{cases} $$
# $$ \log P = s \text{ at length } t \;\Rightarrow\; \operatorname{score} \le \max_{t < L \le \mathrm{max\_len}} \frac{s}{\mathrm{lp}(L)} $$


@dataclass
class Hypothesis:
    tokens: list       # generated ids, BOS and EOS left out
    log_prob: float    # log P(y): sum of log p of every generated token, EOS included when finished
    score: float       # log_prob / lp(length)
    finished: bool     # True: ended with EOS;  False: cut at max_len

    @property
    def length(self):
        """L of the length penalty: the generated tokens, counting EOS."""
        return len(self.tokens) + (1 if self.finished else 0)


# gnmt:   lp(L) = ((5 + L) / 6)^alpha          simple:  lp(L) = L^alpha
# $$ \text{gnmt: } \mathrm{lp}(L) = \left(\frac{5 + L}{6}\right)^{\alpha_\mathrm{lp}} \qquad \text{simple: } \mathrm{lp}(L) = L^{\alpha_\mathrm{lp}} $$
def lp(length, alpha, kind="gnmt"):
    """The length penalty lp(L) that divides log P(y); length may be an int or an array."""
    check_choice("length_penalty", kind, {"gnmt", "simple"})
    length = np.asarray(length, dtype=np.float64)
    return ((5.0 + length) / 6.0) ** alpha if kind == "gnmt" else length ** alpha


def _check_common(bos_id, eos_id, max_len):
    check_int("bos_id", bos_id, low=0)
    check_int("eos_id", eos_id, low=0)
    check_int("max_len", max_len, low=1)


def _call(step_fn, prefixes):
    log_probs = np.asarray(step_fn(prefixes), dtype=np.float64)
    if log_probs.ndim != 2 or log_probs.shape[0] != prefixes.shape[0]:
        raise ValueError(f"step_fn must return log-probabilities of shape (K, V) = ({prefixes.shape[0]}, V) "
                         f"for prefixes of shape {prefixes.shape}, got {log_probs.shape}")
    return log_probs


def greedy_decode(step_fn, batch_size, *, bos_id, eos_id, max_len):
    """The argmax token at every step, for batch_size inputs at once; a list of Hypothesis (score = log_prob).

    step_fn(prefixes (B, t)) -> (B, V).  Rows that have finished keep being fed (their extra
    tokens are ignored), so step_fn always sees the whole batch.
    """
    check_int("batch_size", batch_size, low=1)
    _check_common(bos_id, eos_id, max_len)
    prefixes = np.full((batch_size, 1), bos_id, dtype=np.int64)           # (B, 1)
    log_prob = np.zeros(batch_size)
    done = np.zeros(batch_size, dtype=bool)
    length = np.zeros(batch_size, dtype=np.int64)                          # generated tokens, EOS excluded
    for _ in range(max_len):
        log_probs = _call(step_fn, prefixes)                               # (B, V)
        # y_t = argmax_v log p(v | y_<t)
        # $$ y_t = \operatorname{argmax}_v \log p(v \mid y_{<t}) $$
        best = log_probs.argmax(axis=1)                                    # (B,)
        alive = ~done
        log_prob[alive] += log_probs[alive, best[alive]]
        finishing = alive & (best == eos_id)
        length[alive & ~finishing] += 1
        done |= finishing
        prefixes = np.concatenate([prefixes, best[:, None]], axis=1)       # (B, t + 1)
        if done.all():
            break
    return [Hypothesis([int(v) for v in prefixes[b, 1:1 + length[b]]], float(log_prob[b]), float(log_prob[b]),
                       bool(done[b])) for b in range(batch_size)]


def beam_search(step_fn, *, bos_id, eos_id, beam_size=4, max_len=32, alpha=0.6, length_penalty="gnmt",
                n_best=1):
    """Beam search for one input; the n_best hypotheses, best score first (see the module docstring).

    step_fn(prefixes (K, t)) -> log-probabilities (K, V), K <= beam_size.
    """
    _check_common(bos_id, eos_id, max_len)
    check_int("beam_size", beam_size, low=1)
    check_int("n_best", n_best, low=1, high=beam_size)
    check_number("alpha", alpha)
    check_choice("length_penalty", length_penalty, {"gnmt", "simple"})

    def penalty(L):
        return lp(L, alpha, length_penalty)

    ### BEGIN SOLUTION
    alive = [([], 0.0)]                   # (tokens, log P) of each alive prefix, BOS left out
    finished = []
    for t in range(1, max_len + 1):       # t = number of generated tokens after this step
        prefixes = np.array([[bos_id] + tokens for tokens, _ in alive], dtype=np.int64)   # (K, t)
        log_probs = _call(step_fn, prefixes)                                              # (K, V)
        V = log_probs.shape[1]
        # log P(prefix + v) = log P(prefix) + log p(v | prefix), for every alive prefix and every v
        totals = np.array([s for _, s in alive])[:, None] + log_probs                      # (K, V)
        ranking = np.argsort(-totals, axis=None, kind="stable")                            # best first
        new_alive = []
        for flat in ranking:
            k, v = divmod(int(flat), V)
            total = float(totals[k, v])
            if total == -np.inf:
                break
            if v == eos_id:
                finished.append(Hypothesis(list(alive[k][0]), total, total / float(penalty(t)), True))
            else:
                new_alive.append((alive[k][0] + [v], total))
                if len(new_alive) == beam_size:
                    break
        alive = new_alive
        if t == max_len or not alive:
            break
        if len(finished) >= n_best:
            # the best score an alive prefix could still reach: max over L in (t, max_len] of s / lp(L)
            n_best_score = sorted((h.score for h in finished), reverse=True)[n_best - 1]
            lengths = np.arange(t + 1, max_len + 1)
            bound = max(float(np.max(s / penalty(lengths))) for _, s in alive)
            if n_best_score >= bound:
                alive = []
                break
    # cut at max_len: the alive prefixes become unfinished hypotheses
    finished += [Hypothesis(list(tokens), s, s / float(penalty(len(tokens))), False) for tokens, s in alive]
    finished.sort(key=lambda h: -h.score)
    ### END SOLUTION
    return finished[:n_best]
