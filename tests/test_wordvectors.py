"""Shared word-vector tools: vocabulary, cosine, neighbours, 3CosAdd analogies, PCA, word2vec text format."""
import math
import os

import numpy as np
import pytest

from minillm.models import wordvectors as wvmod
from minillm.models.wordvectors import (
    WordVectors,
    analogy,
    build_vocab,
    cosine_similarity,
    encode_corpus,
    load_word2vec_format,
    most_similar,
    neighbour_purity,
    pca_2d,
    save_word2vec_format,
)
from minillm.datasets.synthetic import GENDER_WORDS, ROLES, planted_analogy_corpus, planted_topic_corpus


# ---------------------------------------------------------------- vocabulary
def test_build_vocab_orders_by_count_then_alphabet_and_applies_min_count():
    sentences = [["b", "a", "c", "a"], ["c", "d", "a", "b"], ["e"]]
    words, counts = build_vocab(sentences)
    assert words == ["a", "b", "c", "d", "e"]            # a:3, then b, c (2 each, alphabetical), then d, e
    assert counts.tolist() == [3, 2, 2, 1, 1]
    words, counts = build_vocab(sentences, min_count=2)
    assert words == ["a", "b", "c"] and counts.tolist() == [3, 2, 2]


def test_encode_corpus_drops_unknown_words_and_keeps_sentence_index():
    ids, sentence_of = encode_corpus([["a", "x", "b"], ["y"], ["b", "a"]], ["a", "b"])
    assert ids.tolist() == [0, 1, 1, 0]
    assert sentence_of.tolist() == [0, 0, 2, 2]


def test_bad_sentences_are_named():
    with pytest.raises(TypeError, match=r"sentences must be a list of token lists, got a str"):
        build_vocab("a b c")
    with pytest.raises(TypeError, match=r"sentences\[1\] must be a list of str tokens .* got a str"):
        build_vocab([["a"], "b c"])
    with pytest.raises(TypeError, match=r"sentences\[0\] must hold non-empty str tokens, got 3"):
        build_vocab([["a", 3]])
    with pytest.raises(ValueError, match=r"min_count=5"):
        build_vocab([["a", "b"]], min_count=5)


# ---------------------------------------------------------------- cosine
def test_cosine_similarity_by_hand():
    a = np.array([1.0, 0.0])
    B = np.array([[1.0, 1.0], [0.0, 2.0], [-3.0, 0.0], [0.0, 0.0]])
    # cos = a.b / (|a||b|):  1/sqrt(2), 0, -1, and 0 for the zero vector by convention
    assert np.allclose(cosine_similarity(a, B), [1 / math.sqrt(2), 0.0, -1.0, 0.0], atol=1e-15)
    M = cosine_similarity(B[:3], B[:3])
    assert M.shape == (3, 3) and np.allclose(np.diag(M), 1.0)
    assert math.isclose(M[0, 1], (1 * 0 + 1 * 2) / (math.sqrt(2) * 2))


def test_cosine_similarity_bad_input():
    with pytest.raises(ValueError, match=r"same dimension d, got shapes \(2,\) and \(3, 3\)"):
        cosine_similarity(np.ones(2), np.ones((3, 3)))
    with pytest.raises(TypeError, match=r"A must be a numpy.ndarray, got a list"):
        cosine_similarity([1.0, 0.0], np.ones((3, 2)))


# ---------------------------------------------------------------- neighbours and analogies
def _planted_geometry():
    """king = royal + male, queen = royal + female, man = person + male, woman = person + female, plus distractors."""
    royal, person, male, female, fruit = np.eye(5)
    words = ["king", "queen", "man", "woman", "apple", "pear", "princess"]
    vectors = np.array([
        royal + male,
        royal + female,
        person + male,
        person + female,
        fruit,
        fruit + 0.1 * person,
        royal + female + 0.6 * fruit,        # also royal and female, but further from royal + female
    ])
    return words, vectors


def test_most_similar_by_hand():
    words, vectors = _planted_geometry()
    top = most_similar(vectors, words, "king", topn=3)
    # cos(king, queen) = 1/2, cos(king, man) = 1/2, cos(king, princess) = 1/sqrt(2) * 1/sqrt(2.36)
    assert [w for w, _ in top][0:2] == ["queen", "man"]      # tie broken by vocabulary order (stable sort)
    assert math.isclose(top[0][1], 0.5, rel_tol=1e-12)
    assert math.isclose(top[2][1], 1 / (math.sqrt(2) * math.sqrt(2.36)), rel_tol=1e-12)
    assert "king" not in [w for w, _ in most_similar(vectors, words, "king", topn=10)]
    # a vector query keeps every word, the exclude list removes some
    v = vectors[0].copy()
    assert most_similar(vectors, words, v, topn=1)[0][0] == "king"
    assert most_similar(vectors, words, v, topn=1, exclude=["king", "queen"])[0][0] == "man"


def test_analogy_recovers_planted_geometry():
    words, vectors = _planted_geometry()
    assert analogy(vectors, words, "man", "king", "woman")[0][0] == "queen"
    assert analogy(vectors, words, "king", "queen", "man")[0][0] == "woman"
    assert analogy(vectors, words, "woman", "man", "queen")[0][0] == "king"


def test_analogy_excludes_the_query_words():
    # b - a + c = king - man + man' lands exactly on king; the answer must be another word
    words = ["king", "man", "man2", "queen"]
    vectors = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.01], [1.0, 0.2, 0.5]])
    answers = [w for w, _ in analogy(vectors, words, "man", "king", "man2", topn=4)]
    assert answers == ["queen"]


def test_3cosadd_ranks_as_sum_of_cosines(rng):
    # argmax cos(x, b^ - a^ + c^) == argmax cos(x,b) - cos(x,a) + cos(x,c)   (Levy & Goldberg 2014)
    V, d = 30, 6
    vectors = rng.standard_normal((V, d))
    words = [f"w{i}" for i in range(V)]
    C = cosine_similarity(vectors, vectors)
    for a, b, c in [(0, 1, 2), (3, 4, 5), (10, 20, 29)]:
        score = C[:, b] - C[:, a] + C[:, c]
        score[[a, b, c]] = -np.inf
        expected = [words[i] for i in np.argsort(-score)[:5]]
        got = [w for w, _ in analogy(vectors, words, words[a], words[b], words[c], topn=5)]
        assert got == expected


def test_unknown_words_are_named():
    words, vectors = _planted_geometry()
    with pytest.raises(KeyError, match=r"query 'emperor' is not in the vocabulary of 7 words"):
        most_similar(vectors, words, "emperor")
    with pytest.raises(KeyError, match=r"c 'girl' is not in the vocabulary"):
        analogy(vectors, words, "man", "king", "girl")
    with pytest.raises(ValueError, match=r"words must have one entry per row of vectors \(7\), got 6"):
        most_similar(vectors, words[:6], "king")
    with pytest.raises(ValueError, match=r"query vector must have d = 5 entries, got shape \(3,\)"):
        most_similar(vectors, words, np.ones(3))


# ---------------------------------------------------------------- PCA
def test_pca_2d_against_covariance_eigenvectors(rng):
    # points on a plane inside R^6 with standard deviations 5 and 1 along two known directions, tiny noise
    n, d = 200, 6
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    coords = rng.standard_normal((n, 2)) * [5.0, 1.0]
    X = coords @ Q[:, :2].T + 1e-3 * rng.standard_normal((n, d)) + 7.0
    Z, explained = pca_2d(X)
    # independent route: eigenvectors of the covariance matrix (X - mean)^T (X - mean)
    X_c = X - X.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(X_c.T @ X_c)
    top = eigvec[:, ::-1][:, :2]
    expected = X_c @ top
    for k in range(2):
        sign = np.sign(expected[:, k] @ Z[:, k])
        assert np.allclose(Z[:, k], sign * expected[:, k], atol=1e-9)
    assert np.allclose(explained, eigval[::-1][:2] / eigval.sum())
    assert explained[0] > 0.9 and abs(explained.sum() - 1) < 1e-4
    # sign convention: the largest-|entry| of each principal direction is positive, so the axes of -X are
    # the axes of X (an SVD alone may flip them) and -X projects to exactly -Z
    Z2, _ = pca_2d(-X)
    assert np.allclose(Z2, -Z, atol=1e-9)
    Z3, _ = pca_2d(X.copy())
    assert np.array_equal(Z3, Z)


def test_pca_2d_bad_input():
    with pytest.raises(ValueError, match=r"X must have at least 2 rows and 2 columns .* got shape \(1, 4\)"):
        pca_2d(np.ones((1, 4)))


# ---------------------------------------------------------------- purity
def test_neighbour_purity_by_hand():
    words = ["a1", "a2", "b1", "b2", "x"]
    labels = {"a1": 0, "a2": 0, "b1": 1, "b2": 1}         # "x" has no label and is ignored
    grouped = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])
    assert neighbour_purity(grouped, words, labels, k=1) == 1.0
    # k = 2: each word's 2nd neighbour is from the other label -> 1/2
    assert neighbour_purity(grouped, words, labels, k=2) == 0.5
    crossed = grouped[[0, 2, 1, 3, 4]]                     # a1 next to b1, a2 next to b2
    assert neighbour_purity(crossed, words, labels, k=1) == 0.0


def test_random_vectors_have_low_purity(rng):
    sentences, labels = planted_topic_corpus(5, 8, 50, rng)
    words = sorted(labels)
    scores = [neighbour_purity(rng.standard_normal((len(words), 20)), words, labels, k=7) for _ in range(5)]
    # chance level is 7/39 ~= 0.18
    assert max(scores) < 0.4


def test_planted_corpora_have_the_promised_structure(rng):
    sentences, labels = planted_topic_corpus(3, 4, 100, rng, n_function_words=2, function_rate=0.25)
    assert len(sentences) == 100 and all(len(s) == 8 for s in sentences)
    for s in sentences:
        topics = {labels[w] for w in s if w in labels}
        assert len(topics) <= 1                           # one topic per sentence
    share = np.mean([w.startswith("f") for s in sentences for w in s])
    assert abs(share - 0.25) < 0.05
    sentences, pairs = planted_analogy_corpus(50, rng)
    assert ("king", "queen") in pairs
    for s in sentences:
        targets = [w for w in s if any(w in p for p in pairs)]
        assert len(targets) == 1
    # without noise a target only meets its own gender's and role's words; with noise it meets them all
    context = {w for words in GENDER_WORDS for w in words} | {w for _, words in ROLES.values() for w in words}

    def words_met_by_king(sentences):
        return set().union(*[set(s) & context for s in sentences if "king" in s])

    assert words_met_by_king(planted_analogy_corpus(500, rng)[0]) == set(GENDER_WORDS[0]) | set(ROLES["royal"][1])
    assert words_met_by_king(planted_analogy_corpus(2000, rng, noise=0.2)[0]) == context
    with pytest.raises(ValueError, match=r"function_rate > 0 needs n_function_words >= 1"):
        planted_topic_corpus(3, 4, 10, rng, function_rate=0.2)


# ---------------------------------------------------------------- word2vec text format
def test_word2vec_format_round_trip(tmp_path, rng):
    words = ["king", "queen", "词", "x_1"]
    vectors = rng.standard_normal((4, 3))
    path = tmp_path / "vectors.txt"
    save_word2vec_format(path, words, vectors)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "4 3"
    assert lines[3].split()[0] == "词" and len(lines[3].split()) == 4
    words2, vectors2 = load_word2vec_format(path)
    assert words2 == words
    assert np.array_equal(vectors2, vectors)               # repr() round-trips float64 exactly
    wv = WordVectors.load(path)
    assert wv.similarity("king", "queen") == pytest.approx(cosine_similarity(vectors[0], vectors[1:2])[0])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"line 1: expected the header 'n d', got an empty file"),
        ("2\na 1\nb 2\n", r"line 1: expected the header 'n d' \(two positive integers\), got '2'"),
        ("2 x\na 1\nb 2\n", r"line 1: expected the header"),
        ("2 2\na 1 2\nb 3\n", r"line 3: expected a word and d=2 numbers, got 2 fields"),
        ("2 2\na 1 oops\nb 3 4\n", r"line 2: expected 2 numbers after the word, got 'a 1 oops'"),
        ("3 1\na 1\nb 2\n", r"the header announces n=3 words, got 2 lines after it"),
        ("2 1\na 1\na 2\n", r"line 3: the word 'a' appears a second time"),
    ],
)
def test_malformed_word2vec_file_names_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_word2vec_format(path)


def test_save_refuses_words_the_format_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"words\[1\] must be a non-empty str without whitespace, got 'new york'"):
        save_word2vec_format(tmp_path / "v.txt", ["a", "new york"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"words must be unique, got 'a'"):
        save_word2vec_format(tmp_path / "v.txt", ["a", "a"], np.zeros((2, 2)))


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "v.txt"
    save_word2vec_format(path, ["a"], np.ones((1, 2)))
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    import minillm.atomic

    monkeypatch.setattr(minillm.atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_word2vec_format(path, ["b"], np.zeros((1, 2)))
    assert path.read_bytes() == before                     # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["v.txt"]       # and no temporary file is left behind


def test_word_vectors_object():
    words, vectors = _planted_geometry()
    wv = WordVectors(words, vectors)
    assert "king" in wv and "emperor" not in wv
    assert np.array_equal(wv["queen"], vectors[1])
    assert wv.similarity("king", "queen") == pytest.approx(0.5)
    assert wv.analogy("man", "king", "woman")[0][0] == "queen"
    with pytest.raises(KeyError, match=r"word 'emperor' is not in the vocabulary"):
        wv["emperor"]
