"""Skip-gram with negative sampling: loss by hand, float64 gradient check, noise table, subsampling,
windows, learning-rate decay, and a planted-structure quality test that random vectors fail."""
import itertools
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.models.word2vec import (
    Word2Vec,
    Word2VecConfig,
    keep_probabilities,
    linear_lr,
    noise_table,
    sgns_loss_backward,
    sgns_loss_forward,
    skipgram_pairs,
)
from minillm.models.wordvectors import WordVectors, neighbour_purity
from minillm.datasets.synthetic import planted_analogy_corpus, planted_topic_corpus


def log_sigmoid(x):
    return -math.log(1.0 + math.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------- the loss
def test_sgns_forward_by_hand():
    # two (center, context) pairs, d = 2, K = 1 noise word each; the loss is the MEAN over the pairs
    v = np.array([[1.0, 2.0], [0.5, -1.0]])
    u_pos = np.array([[0.5, -1.0], [2.0, 0.0]])
    u_neg = np.array([[[1.0, 1.0]], [[0.0, 3.0]]])
    s = [1 * 0.5 + 2 * -1.0, 0.5 * 2.0 + -1.0 * 0.0]                 # -1.5, 1.0
    n = [1 * 1 + 2 * 1, 0.5 * 0.0 + -1.0 * 3.0]                     # 3.0, -3.0
    expected = -((log_sigmoid(s[0]) + log_sigmoid(-n[0])) + (log_sigmoid(s[1]) + log_sigmoid(-n[1]))) / 2
    loss, _ = sgns_loss_forward(v, u_pos, u_neg)
    assert math.isclose(loss, expected, rel_tol=1e-14)


def test_sgns_sums_over_negatives_and_starts_at_k_plus_one_log_two(rng):
    # with all output vectors zero (word2vec's init) every score is 0 and each of the 1 + K terms is log 2
    B, K, d = 7, 5, 4
    loss, _ = sgns_loss_forward(rng.standard_normal((B, d)), np.zeros((B, d)), np.zeros((B, K, d)))
    assert math.isclose(loss, (K + 1) * math.log(2), rel_tol=1e-14)
    # mean over the batch: repeating the batch leaves the loss unchanged
    v, u, un = rng.standard_normal((B, d)), rng.standard_normal((B, d)), rng.standard_normal((B, K, d))
    one, _ = sgns_loss_forward(v, u, un)
    two, _ = sgns_loss_forward(np.concatenate([v, v]), np.concatenate([u, u]), np.concatenate([un, un]))
    assert math.isclose(one, two, rel_tol=1e-13)


def test_sgns_backward_by_hand():
    v = np.array([[1.0, 2.0]])
    u_pos = np.array([[0.5, -1.0]])
    u_neg = np.array([[[1.0, 1.0], [-2.0, 0.5]]])
    s, n1, n2 = -1.5, 3.0, -1.0
    _, cache = sgns_loss_forward(v, u_pos, u_neg)
    dv, du_pos, du_neg = sgns_loss_backward(2.0, cache)
    # d/ds [-log σ(s)] = σ(s) - 1,   d/dn [-log σ(-n)] = σ(n)
    gs, g1, g2 = 2.0 * (sigmoid(s) - 1), 2.0 * sigmoid(n1), 2.0 * sigmoid(n2)
    assert np.allclose(dv, [[gs * 0.5 + g1 * 1.0 + g2 * -2.0, gs * -1.0 + g1 * 1.0 + g2 * 0.5]], rtol=1e-14)
    assert np.allclose(du_pos, [[gs * 1.0, gs * 2.0]], rtol=1e-14)
    assert np.allclose(du_neg, [[[g1 * 1.0, g1 * 2.0], [g2 * 1.0, g2 * 2.0]]], rtol=1e-14)


def test_sgns_gradcheck_float64(rng):
    B, K, d = 4, 3, 5
    arrays = [rng.standard_normal((B, d)), rng.standard_normal((B, d)), rng.standard_normal((B, K, d))]
    results = check_layer(sgns_loss_forward, sgns_loss_backward, arrays, names=["v", "u_pos", "u_neg"], rng=rng)
    assert len(results) == 3
    for r in results:
        assert r.rel_error < 1e-6, str(r)


def test_sgns_large_scores_stay_finite():
    v = np.array([[100.0, 0.0]])
    loss, cache = sgns_loss_forward(v, np.array([[-100.0, 0.0]]), np.array([[[100.0, 0.0]]]))
    assert math.isclose(loss, 2 * 1e4, rel_tol=1e-12)      # -log σ(-1e4) = 1e4 (+ e^-1e4)
    assert all(np.all(np.isfinite(g)) for g in sgns_loss_backward(1.0, cache))


def test_sgns_bad_input_is_named():
    v = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"u_pos must have shape \(B, d\) = \(2, 3\) like v, got \(2, 4\)"):
        sgns_loss_forward(v, np.zeros((2, 4)), np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"u_neg must have shape \(B, K, d\) = \(2, K, 3\), got \(2, 5, 4\)"):
        sgns_loss_forward(v, np.zeros((2, 3)), np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"u_neg must have 3 dimensions, got shape \(2, 3\)"):
        sgns_loss_forward(v, np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"v must be a floating-point array, got dtype int64"):
        sgns_loss_forward(np.zeros((2, 3), dtype=np.int64), np.zeros((2, 3)), np.zeros((2, 5, 3)))


# ---------------------------------------------------------------- noise, subsampling, windows, lr
def test_noise_table_follows_counts_to_the_three_quarters(rng):
    counts = np.array([1, 16, 81, 256])                   # c^0.75 = 1, 8, 27, 64: shares 1%, 8%, 27%, 64%
    table = noise_table(counts, size=1000)
    assert len(table) == 1000
    assert np.bincount(table).tolist() == [10, 80, 270, 640]
    big = np.array([5, 1, 300, 42, 7])
    table = noise_table(big, size=100_000)
    expected = big**0.75 / np.sum(big**0.75)
    assert np.allclose(np.bincount(table, minlength=5) / len(table), expected, atol=1e-5)
    draws = table[rng.integers(len(table), size=200_000)]  # sampling = a uniform slot of the table
    assert np.allclose(np.bincount(draws, minlength=5) / len(draws), expected, atol=0.005)
    assert np.bincount(noise_table(counts, power=1.0, size=354)).tolist() == [1, 16, 81, 256]


def test_noise_table_bad_counts():
    with pytest.raises(ValueError, match=r"counts must be a non-empty 1-D array of positive word counts"):
        noise_table(np.array([3, 0, 1]))
    with pytest.raises(TypeError, match=r"counts must be an integer array"):
        noise_table(np.array([1.0, 2.0]))


def test_keep_probabilities_by_hand():
    counts = np.array([89, 10, 1])                        # f = 0.89, 0.10, 0.01
    t = 0.01
    expected = [math.sqrt(t / 0.89), math.sqrt(t / 0.10), 1.0]   # P_discard = 1 - sqrt(t/f), capped at keep 1
    assert np.allclose(keep_probabilities(counts, t=t), expected, rtol=1e-14)
    assert keep_probabilities(counts, t=None).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"t must be > 0.0, got -1"):
        keep_probabilities(counts, t=-1)


def test_skipgram_pairs_fixed_window_by_hand():
    # sentences "a b c" and "d e" as ids 0 1 2 | 3 4; no pair crosses the sentence boundary
    ids = np.array([0, 1, 2, 3, 4])
    sentence_of = np.array([0, 0, 0, 1, 1])
    c, o = skipgram_pairs(ids, sentence_of, window=1, dynamic=False)
    assert sorted(zip(c.tolist(), o.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1), (3, 4), (4, 3)]
    c, o = skipgram_pairs(ids, sentence_of, window=2, dynamic=False)
    assert sorted(zip(c.tolist(), o.tolist())) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (3, 4), (4, 3)]


def test_dynamic_window_shrinks_as_in_word2vec(rng):
    # each center draws b ~ U{1..W}: a context at distance o is used with probability (W - o + 1) / W
    N, W = 20_000, 4
    ids = np.arange(N)
    c, o = skipgram_pairs(ids, np.zeros(N, dtype=np.int64), window=W, rng=rng)
    distance = np.abs(c - o)
    for k in range(1, W + 1):
        rate = np.sum(distance == k) / (2 * (N - k))
        assert abs(rate - (W - k + 1) / W) < 0.02, (k, rate)


def test_linear_lr_decay():
    assert linear_lr(0.025, 0.0) == 0.025
    assert math.isclose(linear_lr(0.025, 0.5), 0.0125)
    assert math.isclose(linear_lr(0.025, 1.0, min_lr_fraction=1e-4), 0.025 * 1e-4)
    with pytest.raises(ValueError, match=r"progress must be <= 1.0, got 1.5"):
        linear_lr(0.025, 1.5)


# ---------------------------------------------------------------- training
def _fit(sentences, seed, **overrides):
    options = dict(dim=20, window=3, epochs=3, subsample_t=1e-2)
    options.update(overrides)
    return Word2Vec(Word2VecConfig(**options)).fit(sentences, np.random.default_rng(seed))


def test_planted_topics_are_recovered_and_random_vectors_are_not(rng):
    # 5 topics x 8 words, plus 5 Zipf-distributed function words in 30% of the positions
    sentences, labels = planted_topic_corpus(5, 8, 1000, rng, n_function_words=5, function_rate=0.3)
    model = _fit(sentences, seed=0)
    purity = model.wv.neighbour_purity(labels, k=7)
    assert purity >= 0.9, purity
    random_purity = neighbour_purity(rng.standard_normal(model.wv.vectors.shape), model.wv.words, labels, k=7)
    assert random_purity < 0.4, random_purity
    assert model.loss_history[-1] < model.loss_history[0]


def test_planted_analogies_are_recovered(rng):
    sentences, pairs = planted_analogy_corpus(3000, rng)
    wv = _fit(sentences, seed=1, window=5, epochs=5, subsample_t=None).wv
    questions = [(a, b, c, d) for (a, b), (c, d) in itertools.permutations(pairs, 2)]   # man:woman :: king:queen
    questions += [(b, a, d, c) for a, b, c, d in questions]
    accuracy = np.mean([wv.analogy(a, b, c)[0][0] == d for a, b, c, d in questions])
    assert accuracy >= 0.9, accuracy
    shuffled = WordVectors(wv.words, np.random.default_rng(0).permutation(wv.vectors))
    assert np.mean([shuffled.analogy(a, b, c)[0][0] == d for a, b, c, d in questions]) < 0.3


def test_subsampling_thins_frequent_words(rng):
    # t = 1e-3 on a 45-word vocabulary discards most tokens (every f > t): the structure is lost,
    # so the quality test above would fail with the C code's default t on this tiny corpus.
    sentences, labels = planted_topic_corpus(5, 8, 1000, rng, n_function_words=5, function_rate=0.3)
    kept = _fit(sentences, seed=0, subsample_t=1e-1, epochs=1)
    thinned = _fit(sentences, seed=0, subsample_t=1e-3, epochs=1)
    assert kept.wv.neighbour_purity(labels, k=7) > thinned.wv.neighbour_purity(labels, k=7)


def test_training_is_deterministic(rng):
    sentences, _ = planted_topic_corpus(3, 4, 100, rng)
    a, b, c = _fit(sentences, 7), _fit(sentences, 7), _fit(sentences, 8)
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert not np.array_equal(a.wv.vectors, c.wv.vectors)
    assert a.params["W_in"].shape == (12, 20) and a.params["W_out"].shape == (12, 20)


def test_word2vec_bad_input_is_named():
    with pytest.raises(TypeError, match=r"sentences must be a list of token lists, got a str"):
        Word2Vec().fit("a b c", np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator"):
        Word2Vec().fit([["a", "b"]], 0)
    with pytest.raises(TypeError, match=r"config must be a Word2VecConfig, got a dict"):
        Word2Vec({"dim": 3})
    with pytest.raises(ValueError, match=r"negative must be >= 1, got 0"):
        Word2VecConfig(negative=0)
    with pytest.raises(RuntimeError, match=r"not fitted yet"):
        Word2Vec().wv
