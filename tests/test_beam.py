"""Greedy and beam search on hand-made scoring tables, where every score is computed by hand."""
import itertools
import math

import numpy as np
import pytest

from minillm.generate import Hypothesis, beam_search, greedy_decode, lp

BOS, EOS, A, B = 0, 1, 2, 3


def table_fn(table, default):
    """step_fn from a dict  prefix (tuple, BOS left out) -> {token: probability}."""
    def step(prefixes):
        rows = []
        for row in prefixes:
            assert row[0] == BOS
            probs = table.get(tuple(int(t) for t in row[1:]), default)
            p = np.zeros(4)
            for token, value in probs.items():
                p[token] = value
            with np.errstate(divide="ignore"):
                rows.append(np.log(p))
        return np.array(rows)
    return step


# greedy takes a (0.6) then EOS: P = 0.6 * 0.4 = 0.24;  b (0.4) then EOS has P = 0.4 * 0.9 = 0.36
TRAP = {(): {A: 0.6, B: 0.4},
        (A,): {EOS: 0.4, A: 0.35, B: 0.25},
        (B,): {EOS: 0.9, A: 0.05, B: 0.05}}
TRAP_DEFAULT = {EOS: 0.9, A: 0.05, B: 0.05}


def test_length_penalty_by_hand():
    assert lp(2, 1.0) == pytest.approx(7 / 6)                 # ((5 + 2) / 6)^1
    assert lp(7, 0.5) == pytest.approx(math.sqrt(2.0))        # ((5 + 7) / 6)^0.5
    assert lp(3, 2.0, "simple") == pytest.approx(9.0)
    assert lp(5, 0.0) == 1.0 and lp(5, 0.0, "simple") == 1.0
    with pytest.raises(ValueError, match="length_penalty must be one of"):
        lp(3, 1.0, "linear")


def test_greedy_falls_into_the_trap_that_beam_search_avoids():
    step = table_fn(TRAP, TRAP_DEFAULT)
    (g,) = greedy_decode(step, 1, bos_id=BOS, eos_id=EOS, max_len=5)
    assert g.tokens == [A] and g.finished
    assert g.log_prob == pytest.approx(math.log(0.6) + math.log(0.4))      # ln 0.24 = -1.427

    (best,) = beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=2, max_len=5, alpha=0.0)
    assert best.tokens == [B] and best.finished and best.length == 2
    assert best.log_prob == pytest.approx(math.log(0.4 * 0.9))             # ln 0.36 = -1.022
    assert best.score == pytest.approx(math.log(0.36))                     # alpha = 0: lp = 1


def test_n_best_list_and_gnmt_scores_by_hand():
    step = table_fn(TRAP, TRAP_DEFAULT)
    # step 1: alive [a] (0.6), [b] (0.4).  step 2, ranked: b EOS .36, a EOS .24, a a .21, a b .15 -> alive full.
    # Finished: [b] and [a] (length 2).  The best alive prefix [a a] (P = 0.21) could still reach
    # ln(0.21) / lp(5) = -1.5606 / (10/6) = -0.936 > score([a]) = ln(0.24) / (7/6) = -1.223: go on.
    # step 3: a a EOS (0.189, score -1.2495) and a b EOS (0.135, -1.502) finish; the alive a a a, a a b
    # (0.0105) can reach at most ln(0.0105) / (10/6) = -2.73 < -1.223: stop.
    hyps = beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=2, max_len=5, alpha=1.0, n_best=2)
    assert [h.tokens for h in hyps] == [[B], [A]]
    assert hyps[0].score == pytest.approx(math.log(0.36) / (7 / 6))          # -0.8757
    assert hyps[1].score == pytest.approx(math.log(0.24) / (7 / 6))          # -1.2232
    # [a a] finished would score ln(0.189) / (8/6) = -1.2495: worse than both, so it is not in the 2-best
    assert math.log(0.189) / (8 / 6) < hyps[1].score


# P(EOS | BOS) = 0.40 (the empty output);  P(a EOS) = 0.35 * 0.95 = 0.3325
SHORT = {(): {EOS: 0.40, A: 0.35, B: 0.25}, (A,): {EOS: 0.95, A: 0.025, B: 0.025}}
SHORT_DEFAULT = {EOS: 0.95, A: 0.025, B: 0.025}


@pytest.mark.parametrize("alpha, kind, winner, score", [
    # raw log-probability: ln 0.40 = -0.916 beats ln 0.3325 = -1.101; the empty output wins
    (0.0, "gnmt", [], math.log(0.40)),
    # gnmt alpha = 1: -0.916 / 1 vs -1.101 / (7/6) = -0.944: still the empty output
    (1.0, "gnmt", [], math.log(0.40)),
    # gnmt alpha = 2: -0.916 vs -1.101 / (7/6)^2 = -0.809: the longer output wins
    (2.0, "gnmt", [A], math.log(0.3325) / (7 / 6) ** 2),
    # simple alpha = 1: -0.916 / 1 vs -1.101 / 2 = -0.551
    (1.0, "simple", [A], math.log(0.3325) / 2),
])
def test_the_length_penalty_decides_between_short_and_long(alpha, kind, winner, score):
    step = table_fn(SHORT, SHORT_DEFAULT)
    (best,) = beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=3, max_len=4, alpha=alpha, length_penalty=kind)
    assert best.tokens == winner
    assert best.score == pytest.approx(score)


def random_table_fn(seed, V=4):
    """A fixed random distribution per prefix (BOS never generated), reproducible from the prefix."""
    def step(prefixes):
        rows = []
        for row in prefixes:
            rng = np.random.default_rng([seed] + [int(t) for t in row])
            p = rng.dirichlet(np.ones(V - 1))
            with np.errstate(divide="ignore"):
                rows.append(np.log(np.concatenate([[0.0], p])))         # id 0 = BOS: probability 0
        return np.array(rows)
    return step


def brute_force(step, max_len, alpha, kind):
    """Score every sequence over {a, b} of length < max_len followed by EOS, and every cut one of max_len."""
    best = None
    for L in range(0, max_len + 1):
        for body in itertools.product([A, B], repeat=L):
            prefix = [BOS]
            s = 0.0
            for token in body:
                s += step(np.array([prefix]))[0, token]
                prefix.append(token)
            if L < max_len:
                s += step(np.array([prefix]))[0, EOS]
                score = s / lp(L + 1, alpha, kind)
            else:
                score = s / lp(L, alpha, kind)
            if best is None or score > best[0]:
                best = (score, list(body))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha, kind", [(0.0, "gnmt"), (0.6, "gnmt"), (1.5, "simple")])
def test_a_wide_beam_finds_the_exhaustive_optimum(seed, alpha, kind):
    # beam_size 16 >= 2^4 keeps every prefix: the search is exhaustive, and the early stop must not cut it short
    step = random_table_fn(seed)
    (best,) = beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=16, max_len=4, alpha=alpha, length_penalty=kind)
    score, tokens = brute_force(step, 4, alpha, kind)
    assert best.tokens == tokens
    assert best.score == pytest.approx(score)


@pytest.mark.parametrize("seed", range(5))
def test_beam_of_one_without_penalty_is_greedy(seed):
    step = random_table_fn(seed)
    (g,) = greedy_decode(step, 1, bos_id=BOS, eos_id=EOS, max_len=6)
    (b,) = beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=1, max_len=6, alpha=0.0)
    assert b.tokens == g.tokens and b.log_prob == pytest.approx(g.log_prob) and b.finished == g.finished


def test_max_len_cuts_unfinished_hypotheses():
    step = table_fn({}, {A: 0.9, B: 0.1})  # EOS has probability 0
    (g,) = greedy_decode(step, 1, bos_id=BOS, eos_id=EOS, max_len=3)
    assert g.tokens == [A, A, A] and not g.finished and g.length == 3
    assert g.log_prob == pytest.approx(3 * math.log(0.9))
    (b,) = beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=2, max_len=3, alpha=1.0)
    assert b.tokens == [A, A, A] and not b.finished
    assert b.score == pytest.approx(3 * math.log(0.9) / (8 / 6))


def test_greedy_batch_rows_stop_independently():
    # row b of the batch emits EOS after b + 1 tokens of "a" (row 2 never within max_len = 3)
    def step(prefixes):
        out = np.full((len(prefixes), 4), -np.inf)
        for b, row in enumerate(prefixes):
            t = len(row) - 1                       # tokens generated so far
            if t == b + 1:
                out[b, EOS], out[b, A] = math.log(0.8), math.log(0.2)
            else:
                out[b, A], out[b, B] = math.log(0.7), math.log(0.3)
        return out

    hyps = greedy_decode(step, 3, bos_id=BOS, eos_id=EOS, max_len=3)
    assert [h.tokens for h in hyps] == [[A], [A, A], [A, A, A]]
    assert [h.finished for h in hyps] == [True, True, False]
    assert hyps[0].log_prob == pytest.approx(math.log(0.7) + math.log(0.8))
    assert hyps[1].log_prob == pytest.approx(2 * math.log(0.7) + math.log(0.8))
    assert hyps[2].log_prob == pytest.approx(3 * math.log(0.7))
    assert isinstance(hyps[0], Hypothesis) and hyps[1].length == 3


def test_bad_arguments_are_named():
    step = table_fn(TRAP, TRAP_DEFAULT)
    with pytest.raises(ValueError, match="beam_size must be >= 1, got 0"):
        beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=0)
    with pytest.raises(ValueError, match="n_best must be <= 2, got 3"):
        beam_search(step, bos_id=BOS, eos_id=EOS, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="length_penalty must be one of"):
        beam_search(step, bos_id=BOS, eos_id=EOS, length_penalty="none")
    with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
        greedy_decode(step, 1, bos_id=BOS, eos_id=EOS, max_len=0)
    with pytest.raises(ValueError, match=r"step_fn must return log-probabilities of shape \(K, V\)"):
        greedy_decode(lambda p: np.zeros(4), 1, bos_id=BOS, eos_id=EOS, max_len=3)
