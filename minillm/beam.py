"""Greedy and beam-search decoding with a length penalty (the article's §4.3 case 2).

A decoder gives a distribution over the next token given the source and the
prefix written so far.  Both searches here only see it through one function:

    step_fn(prefixes) -> log_probs      prefixes (K, t) int, BOS in column 0;  log_probs (K, V)

so they work for any model (minillm.models.seq2seq, a GPT, or a hand-written
table in a test).  A hypothesis y_1 .. y_L ends with EOS (which counts in L)
or is cut at max_len.

Greedy:  y_t = argmax_v log p(v | y_<t)  until EOS.  One hypothesis, no look-ahead.

Beam search keeps the beam_size best prefixes by log-probability
log P(y) = sum_t log p(y_t | y_<t).  At each step every alive prefix is
extended by every token; the candidates are ranked by log P; walking down the
ranking, a candidate ending in EOS becomes a finished hypothesis and any other
becomes an alive prefix, until beam_size alive prefixes are collected (an EOS
ranked below all of them is dropped).  Finished hypotheses are compared by

    score(y) = log P(y) / lp(L)
    lp(L) = ((5 + L) / 6) ** alpha        length_penalty="gnmt"   (Wu et al. 2016, GNMT)
    lp(L) = L ** alpha                    length_penalty="simple"

alpha = 0 compares raw log-probabilities, which favours short outputs (every
extra token multiplies P by a number < 1); alpha > 0 divides longer
hypotheses by more, which cancels part of that bias.

Stopping is exact, not a heuristic: an alive prefix with log P = s at length t
can at best finish with log P <= s and some length L in (t, max_len], so its
score is at most max_L s / lp(L).  The search stops once n_best finished
hypotheses score at least that bound for every alive prefix (or at max_len,
where the alive prefixes are returned as unfinished hypotheses).
"""
from dataclasses import dataclass

import numpy as np

from minillm.checks import check_choice, check_int, check_number


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
    return finished[:n_best]
