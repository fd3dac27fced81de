"""GloVe: co-occurrence counts by hand, the weighting f, the loss by hand, float64 gradient check,
AdaGrad by hand, and a planted-topic quality test that random vectors fail."""
import itertools
import math

import numpy as np
import pytest

from minillm.gradcheck import check_layer
from minillm.models.glove import (
    GloVe,
    GloVeConfig,
    adagrad_scatter_step,
    cooccurrence_counts,
    glove_loss_backward,
    glove_loss_forward,
    glove_weights,
)
from minillm.models.wordvectors import encode_corpus, neighbour_purity
from minillm.datasets.synthetic import planted_analogy_corpus, planted_topic_corpus


def _dense(rows, cols, x, V):
    X = np.zeros((V, V))
    X[rows, cols] = x
    return X


# ---------------------------------------------------------------- co-occurrence counts
def test_cooccurrence_by_hand():
    # sentence 1: a b a c,  sentence 2: c a   (a=0, b=1, c=2), window 2, weight 1/distance, both directions
    ids = np.array([0, 1, 0, 2, 2, 0])
    sentence_of = np.array([0, 0, 0, 0, 1, 1])
    rows, cols, x = cooccurrence_counts(ids, sentence_of, 3, window=2)
    X = _dense(rows, cols, x, 3)
    expected = np.array([
        #  a    b    c
        [1.0, 2.0, 2.0],   # a: a..a at distance 2 seen from both ends (1/2 + 1/2); a-b twice; a-c in each sentence
        [2.0, 0.0, 0.5],   # b: b-c at distance 2
        [2.0, 0.5, 0.0],   # c: the c at the end of sentence 1 and the c opening sentence 2 are not neighbours
    ])
    assert np.array_equal(X, expected)
    assert np.all(x > 0) and len(x) == 7                  # only non-zero cells are stored
    keys = rows * 3 + cols
    assert np.all(np.diff(keys) > 0)                      # sorted by (row, col), no duplicates


def test_cooccurrence_matches_a_plain_loop(rng):
    sentences = [[f"w{i}" for i in rng.integers(12, size=rng.integers(1, 15))] for _ in range(40)]
    words = sorted({w for s in sentences for w in s})
    ids, sentence_of = encode_corpus(sentences, words)
    V, window = len(words), 4
    index = {w: i for i, w in enumerate(words)}
    X_loop = np.zeros((V, V))
    for s in sentences:
        for t, w in enumerate(s):
            for u in range(max(0, t - window), min(len(s), t + window + 1)):
                if u != t:
                    X_loop[index[w], index[s[u]]] += 1.0 / abs(u - t)
    X = _dense(*cooccurrence_counts(ids, sentence_of, V, window=window), V)
    assert np.allclose(X, X_loop, rtol=1e-14, atol=0)
    assert np.allclose(X, X.T)


def test_glove_weights_by_hand():
    x = np.array([1.0, 50.0, 100.0, 200.0])
    assert np.allclose(glove_weights(x), [0.01**0.75, 0.5**0.75, 1.0, 1.0], rtol=1e-14)
    assert np.allclose(glove_weights(x, x_max=10.0, alpha=1.0), [0.1, 1.0, 1.0, 1.0], rtol=1e-14)


# ---------------------------------------------------------------- the loss
def test_glove_forward_by_hand():
    # two cells, d = 2:  J = Σ f (w_i·w̃_j + b_i + b̃_j - log x)^2, a sum and no 1/2
    W_i = np.array([[1.0, 2.0], [0.5, -1.0]])
    W_j = np.array([[0.5, 0.5], [2.0, 1.0]])
    b_i, b_j = np.array([0.1, -0.2]), np.array([0.3, 0.0])
    x = np.array([4.0, 150.0])
    f = np.array([(4.0 / 100) ** 0.75, 1.0])
    d0 = 1 * 0.5 + 2 * 0.5 + 0.1 + 0.3 - math.log(4.0)
    d1 = 0.5 * 2 + -1.0 * 1.0 - 0.2 + 0.0 - math.log(150.0)
    expected = f[0] * d0**2 + f[1] * d1**2
    J, _ = glove_loss_forward(W_i, W_j, b_i, b_j, log_x=np.log(x), weights=f)
    assert math.isclose(J, expected, rel_tol=1e-14)
    # backward by hand: dJ/d diff = 2 f diff
    _, cache = glove_loss_forward(W_i, W_j, b_i, b_j, log_x=np.log(x), weights=f)
    dW_i, dW_j, db_i, db_j = glove_loss_backward(1.0, cache)
    g = np.array([2 * f[0] * d0, 2 * f[1] * d1])
    assert np.allclose(db_i, g, rtol=1e-14) and np.allclose(db_j, g, rtol=1e-14)
    assert np.allclose(dW_i, g[:, None] * W_j, rtol=1e-14)
    assert np.allclose(dW_j, g[:, None] * W_i, rtol=1e-14)


def test_glove_gradcheck_float64(rng):
    P, d = 6, 4
    arrays = [rng.standard_normal((P, d)), rng.standard_normal((P, d)), rng.standard_normal(P), rng.standard_normal(P)]
    data = {"log_x": np.log(rng.uniform(0.5, 200.0, size=P)), "weights": rng.uniform(0.1, 1.0, size=P)}
    results = check_layer(glove_loss_forward, glove_loss_backward, arrays, kwargs=data,
                          names=["W_i", "W_j", "b_i", "b_j"], rng=rng)
    assert len(results) == 4
    for r in results:
        assert r.rel_error < 1e-6, str(r)


def test_glove_bad_input_is_named():
    W = np.zeros((3, 2))
    b = np.zeros(3)
    with pytest.raises(ValueError, match=r"W_j must have shape \(P, d\) = \(3, 2\) like W_i, got \(3, 4\)"):
        glove_loss_forward(W, np.zeros((3, 4)), b, b, log_x=b, weights=b)
    with pytest.raises(ValueError, match=r"log_x must have shape \(P,\) = \(3,\), one entry per row of W_i, got \(2,\)"):
        glove_loss_forward(W, W, b, b, log_x=np.zeros(2), weights=b)
    with pytest.raises(TypeError, match=r"weights must be a floating-point array, got dtype int64"):
        glove_loss_forward(W, W, b, b, log_x=b, weights=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"ids must hold ids in \[0, 2\), got 5"):
        cooccurrence_counts(np.array([0, 5]), np.array([0, 0]), 2, window=1)


# ---------------------------------------------------------------- AdaGrad
def test_adagrad_scatter_step_by_hand():
    theta = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    G = np.ones_like(theta)
    index = np.array([0, 2, 0])                           # row 0 twice: its gradients are summed first
    grad = np.array([[1.0, -2.0], [0.5, 0.0], [1.0, 1.0]])
    adagrad_scatter_step(theta, G, index, grad, lr=0.1)
    g0, g2 = np.array([2.0, -1.0]), np.array([0.5, 0.0])
    assert np.allclose(G, [1 + g0**2, [1.0, 1.0], 1 + g2**2])
    assert np.allclose(theta[0], 1.0 - 0.1 * g0 / np.sqrt(1 + g0**2))
    assert np.array_equal(theta[1], [2.0, 2.0])           # untouched row
    assert np.allclose(theta[2], 3.0 - 0.1 * g2 / np.sqrt(1 + g2**2))


# ---------------------------------------------------------------- training
def _fit(sentences, seed, **overrides):
    options = dict(dim=20, window=3, epochs=20, x_max=10.0, batch_size=256)
    options.update(overrides)
    return GloVe(GloVeConfig(**options)).fit(sentences, np.random.default_rng(seed))


def test_planted_topics_are_recovered_and_random_vectors_are_not(rng):
    sentences, labels = planted_topic_corpus(5, 8, 1000, rng, n_function_words=5, function_rate=0.3)
    model = _fit(sentences, seed=0)
    purity = model.wv.neighbour_purity(labels, k=7)
    assert purity >= 0.9, purity
    random_purity = neighbour_purity(rng.standard_normal(model.wv.vectors.shape), model.wv.words, labels, k=7)
    assert random_purity < 0.4, random_purity
    assert model.loss_history[-1] < 0.1 * model.loss_history[0]


def test_planted_analogies_are_recovered_once_every_pair_occurs(rng):
    # GloVe fits only X_ij > 0: with noise = 0.2 every (target, context word) pair occurs at least sometimes
    sentences, pairs = planted_analogy_corpus(3000, rng, noise=0.2)
    wv = _fit(sentences, seed=0, window=5, epochs=100, batch_size=128).wv
    questions = [(a, b, c, d) for (a, b), (c, d) in itertools.permutations(pairs, 2)]
    questions += [(b, a, d, c) for a, b, c, d in questions]
    accuracy = np.mean([wv.analogy(a, b, c)[0][0] == d for a, b, c, d in questions])
    assert accuracy >= 0.9, accuracy


def test_final_vectors_are_w_plus_w_tilde_and_training_is_deterministic(rng):
    sentences, _ = planted_topic_corpus(3, 4, 100, rng)
    a, b, c = _fit(sentences, 3, epochs=2), _fit(sentences, 3, epochs=2), _fit(sentences, 4, epochs=2)
    assert np.array_equal(a.wv.vectors, a.params["W"] + a.params["W_tilde"])
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert not np.array_equal(a.wv.vectors, c.wv.vectors)
    # the counts it trained on are those of the corpus
    ids, sentence_of = encode_corpus(sentences, a.words)
    expected = cooccurrence_counts(ids, sentence_of, len(a.words), window=3)
    assert all(np.array_equal(u, v) for u, v in zip(a.cooccurrence, expected))


def test_glove_bad_input_names_the_argument():
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator"):
        GloVe().fit([["a", "b"]], None)
    with pytest.raises(TypeError, match=r"config must be a GloVeConfig, got a Word2VecConfig"):
        from minillm.models.word2vec import Word2VecConfig
        GloVe(Word2VecConfig())
    with pytest.raises(ValueError, match=r"x_max must be > 0.0, got 0"):
        GloVeConfig(x_max=0)
