"""HMM: a hand-worked example, brute force over every state path, Baum-Welch, the tagger, bad input."""
import itertools
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from minillm.models.hmm import HMM

DATA = Path(__file__).resolve().parents[1] / "data" / "pos_tagged_sample.txt"


def ice_cream():
    """Hot/Cold weather emitting 1, 2 or 3 ice creams (ids 0, 1, 2)."""
    return HMM(pi=[0.8, 0.2], A=[[0.6, 0.4], [0.5, 0.5]], B=[[0.2, 0.4, 0.4], [0.5, 0.4, 0.1]])


def random_hmm(S, K, seed):
    return HMM.random(S, K, np.random.default_rng(seed))


def brute_force(h, o):
    """Enumerate all S^T paths: joint probabilities (paths, p)."""
    paths = list(itertools.product(range(h.n_states), repeat=len(o)))
    probs = []
    for z in paths:
        p = h.pi[z[0]] * h.B[z[0], o[0]]
        for t in range(1, len(o)):
            p *= h.A[z[t - 1], z[t]] * h.B[z[t], o[t]]
        probs.append(p)
    return np.array(paths), np.array(probs)


# --------------------------------------------------------------- by hand
def test_forward_and_viterbi_by_hand_on_three_steps():
    h, o = ice_cream(), [2, 0, 2]                       # 3, 1, 3 ice creams
    a1 = [0.8 * 0.4, 0.2 * 0.1]                                              # 0.32, 0.02
    a2 = [(a1[0] * 0.6 + a1[1] * 0.5) * 0.2, (a1[0] * 0.4 + a1[1] * 0.5) * 0.5]   # 0.0404, 0.069
    a3 = [(a2[0] * 0.6 + a2[1] * 0.5) * 0.4, (a2[0] * 0.4 + a2[1] * 0.5) * 0.1]   # 0.023496, 0.005066
    assert math.isclose(sum(a3), 0.028562)
    assert math.isclose(h.log_likelihood(o), math.log(0.028562))
    alpha_hat, log_c = h.forward(o)
    assert np.allclose(alpha_hat[1], np.array(a2) / sum(a2))
    assert np.allclose(np.exp(np.cumsum(log_c)), [sum(a1), sum(a2), sum(a3)])
    # Viterbi: v2 = (0.32*0.6*0.2, 0.32*0.4*0.5) = (0.0384, 0.064); v3(H) = 0.064*0.5*0.4 = 0.0128
    path, logp = h.viterbi(o)
    assert path.tolist() == [0, 1, 0]                  # Hot, Cold, Hot
    assert math.isclose(logp, math.log(0.32 * 0.4 * 0.5 * 0.5 * 0.4))
    assert math.isclose(h.perplexity([o]), 0.028562 ** (-1 / 3))


# ------------------------------------------------- brute-force enumeration
@pytest.mark.parametrize("S, K, T, seed", [(2, 3, 1, 0), (2, 3, 4, 1), (3, 4, 5, 2), (3, 2, 6, 3), (4, 3, 3, 4)])
def test_forward_viterbi_posteriors_match_enumeration(S, K, T, seed):
    h = random_hmm(S, K, seed)
    o = np.random.default_rng(100 + seed).integers(0, K, size=T)
    paths, p = brute_force(h, o)
    assert math.isclose(h.log_likelihood(o), math.log(p.sum()), rel_tol=1e-12)
    path, logp = h.viterbi(o)
    assert path.tolist() == paths[p.argmax()].tolist()
    assert math.isclose(logp, math.log(p.max()), rel_tol=1e-12)
    gamma = h.posteriors(o)
    expected = np.array([[p[paths[:, t] == i].sum() for i in range(S)] for t in range(T)]) / p.sum()
    np.testing.assert_allclose(gamma, expected, rtol=1e-10, atol=1e-14)
    # chain rule: sum_t log P(o_t | o_<t) = log P(o)
    chain = sum(h.logprob(int(o[t]), o[:t]) for t in range(T))
    assert math.isclose(chain, math.log(p.sum()), rel_tol=1e-12)


def test_one_baum_welch_step_matches_expected_counts_by_enumeration():
    h = random_hmm(2, 3, 7)
    seqs = [np.array([0, 2, 1, 1]), np.array([2, 2, 0])]
    pi_num, A_num, B_num = np.zeros(2), np.zeros((2, 2)), np.zeros((2, 3))
    for o in seqs:
        paths, p = brute_force(h, o)
        w = p / p.sum()                                 # posterior of each path
        for z, wz in zip(paths, w):
            pi_num[z[0]] += wz
            for t in range(len(o)):
                B_num[z[t], o[t]] += wz
                if t > 0:
                    A_num[z[t - 1], z[t]] += wz
    h.fit(seqs, n_iter=1)
    np.testing.assert_allclose(h.pi, pi_num / 2, rtol=1e-10)
    np.testing.assert_allclose(h.A, A_num / A_num.sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(h.B, B_num / B_num.sum(axis=1, keepdims=True), rtol=1e-10)


# --------------------------------------------------- long sequences, EM
def log_space_forward(h, o):
    """An independent forward pass with log-sum-exp."""
    with np.errstate(divide="ignore"):
        log_A, log_B = np.log(h.A), np.log(h.B)
        a = np.log(h.pi) + log_B[:, o[0]]
    for t in range(1, len(o)):
        m = a[:, None] + log_A
        top = m.max(axis=0)
        a = top + np.log(np.exp(m - top).sum(axis=0)) + log_B[:, o[t]]
    top = a.max()
    return top + math.log(np.exp(a - top).sum())


def test_ten_thousand_steps_do_not_underflow(rng):
    h = random_hmm(4, 6, 11)
    _, o = h.sample(10_000, rng)
    ll = h.log_likelihood(o)
    assert np.isfinite(ll) and ll < -5_000                    # far below float64's smallest exponent
    assert math.isclose(ll, log_space_forward(h, o), rel_tol=1e-10)
    path, logp = h.viterbi(o)
    assert np.isfinite(logp) and logp <= ll and path.shape == (10_000,)
    assert np.allclose(h.posteriors(o).sum(axis=1), 1.0)


def test_baum_welch_never_decreases_the_log_likelihood(rng):
    truth = HMM(pi=[0.9, 0.1, 0.0], A=[[0.8, 0.2, 0.0], [0.0, 0.7, 0.3], [0.3, 0.0, 0.7]],
                B=[[0.7, 0.2, 0.1, 0.0], [0.0, 0.1, 0.6, 0.3], [0.1, 0.0, 0.1, 0.8]])
    seqs = [truth.sample(60, rng)[1] for _ in range(15)]
    h = random_hmm(3, 4, 3).fit(seqs, n_iter=40)
    ll = np.array(h.history)
    assert ll.shape == (41,)
    assert np.all(np.diff(ll) >= -1e-9 * np.abs(ll[1:]))
    assert ll[-1] > ll[0] + 10                                # it learned something
    assert math.isclose(ll[-1], sum(h.log_likelihood(s) for s in seqs), rel_tol=1e-12)
    for M in (h.A, h.B):
        assert np.allclose(M.sum(axis=1), 1.0)


# ------------------------------------------------------- the LM surface
def test_distribution_sampling_and_generation(rng):
    h = ice_cream()
    assert np.allclose(h.prob_distribution([]), h.pi @ h.B)
    assert math.isclose(h.prob_distribution([2, 0]).sum(), 1.0)
    firsts = np.array([h.sample(1, rng)[1][0] for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(firsts, minlength=3) / 4000, h.pi @ h.B, atol=0.03)
    a = h.generate([2, 2], 25, np.random.default_rng(3))
    assert np.array_equal(a, h.generate([2, 2], 25, np.random.default_rng(3)))
    assert a.shape == (25,) and a.min() >= 0 and a.max() < 3


def test_from_tagged_counts_by_hand():
    # tags 0 0 1 and 1 0 ; words 0 1 1 and 2 0 ; alpha = 1
    h = HMM.from_tagged([[0, 0, 1], [1, 0]], [[0, 1, 1], [2, 0]], n_states=2, n_symbols=3, alpha=1.0)
    np.testing.assert_allclose(h.pi, [(1 + 1) / (2 + 2), (1 + 1) / (2 + 2)])
    np.testing.assert_allclose(h.A, [[(1 + 1) / (2 + 2), (1 + 1) / (2 + 2)], [(1 + 1) / (1 + 2), (0 + 1) / (1 + 2)]])
    np.testing.assert_allclose(h.B, [[(2 + 1) / (3 + 3), (1 + 1) / (3 + 3), (0 + 1) / (3 + 3)],
                                     [(0 + 1) / (2 + 3), (1 + 1) / (2 + 3), (1 + 1) / (2 + 3)]])


def read_tagged(path):
    with open(path, encoding="utf-8") as f:
        return [[tuple(tok.rsplit("/", 1)) for tok in line.split()] for line in f if line.strip()]


def test_pos_tagger_on_the_sample_beats_most_frequent_tag():
    sentences = read_tagged(DATA)
    assert len(sentences) >= 150
    train, test = sentences[:120], sentences[120:]
    tags = sorted({t for s in sentences for _, t in s})
    freq = Counter(w.lower() for s in train for w, _ in s)
    words = ["<unk>"] + sorted(w for w, c in freq.items() if c >= 2)   # training hapaxes teach <unk>
    word_id, tag_id = {w: i for i, w in enumerate(words)}, {t: i for i, t in enumerate(tags)}
    enc = lambda s: np.array([word_id.get(w.lower(), 0) for w, _ in s])      # noqa: E731
    tag_enc = lambda s: np.array([tag_id[t] for _, t in s])                  # noqa: E731
    h = HMM.from_tagged([tag_enc(s) for s in train], [enc(s) for s in train], len(tags), len(words), alpha=0.01)
    accuracy = np.mean(np.concatenate([h.viterbi(enc(s))[0] == tag_enc(s) for s in test]))
    # baseline: each word's most frequent training tag, NOUN for unknown words
    seen = defaultdict(Counter)
    for s in train:
        for w, t in s:
            seen[w.lower()][t] += 1
    baseline = np.mean([(seen[w.lower()].most_common(1)[0][0] if w.lower() in seen else "NOUN") == t
                        for s in test for w, t in s])
    assert accuracy > 0.8
    assert accuracy > baseline + 0.03


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("pi, A, B, err, match", [
    ([0.5, 0.4], [[0.5, 0.5], [0.5, 0.5]], [[1.0], [1.0]], ValueError, "pi rows must sum to 1, but it sums to 0.9"),
    ([0.5, 0.5], [[0.5, 0.5], [0.2, 0.5]], [[1.0], [1.0]], ValueError, "A rows must sum to 1, but row 1 sums to 0.7"),
    ([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]], [[0.6, 0.6], [0.5, 0.5]], ValueError, "B rows must sum to 1, but row 0"),
    ([0.5, 0.5], [[1.5, -0.5], [0.5, 0.5]], [[1.0], [1.0]], ValueError, r"A must hold probabilities in \[0, 1\]"),
    ([0.5, 0.5], [[1.0]], [[1.0], [1.0]], ValueError, r"A must have shape \(2, 2\), got \(1, 1\)"),
    ([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]], [1.0, 1.0], ValueError, r"B must be a \(states, symbols\) matrix"),
    ([], [[1.0]], [[1.0]], ValueError, "pi must be a non-empty 1-D vector"),
])
def test_bad_parameters(pi, A, B, err, match):
    with pytest.raises(err, match=match):
        HMM(pi, A, B)


def test_bad_observations():
    h = ice_cream()
    with pytest.raises(ValueError, match=r"obs must hold symbols of the alphabet \[0, 3\), got 3"):
        h.log_likelihood([0, 3, 1])
    with pytest.raises(ValueError, match=r"obs must hold symbols of the alphabet \[0, 3\), got -1"):
        h.viterbi([0, -1])
    with pytest.raises(TypeError, match="obs must be a sequence of integer symbol ids, got dtype float64"):
        h.log_likelihood([0.0, 1.0])
    with pytest.raises(ValueError, match="obs must be a non-empty 1-D sequence"):
        h.log_likelihood([])
    with pytest.raises(ValueError, match=r"sequences\[1\] must hold symbols of the alphabet"):
        h.fit([[0, 1], [5]], n_iter=1)
    with pytest.raises(ValueError, match="sequences must hold at least one observation sequence"):
        h.fit([], n_iter=1)
    with pytest.raises(ValueError, match=r"symbol must be <= 2, got 3"):
        h.logprob(3, [0])
    with pytest.raises(ValueError, match=r"context must hold symbols of the alphabet"):
        h.logprob(0, [7])
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        h.sample(5, rng=None)
    with pytest.raises(ValueError, match="n_states must be >= 1, got 0"):
        HMM.random(0, 3, np.random.default_rng(0))
    impossible = HMM([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
    assert impossible.log_likelihood([0, 1]) == -math.inf
    with pytest.raises(ValueError, match="probability 0"):
        impossible.fit([[0, 1]], n_iter=1)
