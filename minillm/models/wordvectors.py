"""Word vectors, whatever trained them: the article's §2.1, "词向量（Word Vectors）".

    "Word vectors map words to high-dimensional vectors ... common models are
     Word2Vec and GloVe ... they capture semantic relations such as similarity
     and distance."

This module holds what word2vec.py and glove.py share:

    build_vocab / encode_corpus   sentences (lists of str) -> vocabulary, id stream
    cosine_similarity             cos(a, b) = a.b / (|a| |b|)
    most_similar                  the nearest neighbours of a word (or a vector) by cosine
    analogy                       a : b :: c : ?   by 3CosAdd, the query words excluded
    pca_2d                        a 2-D projection for plots (SVD of the centred matrix)
    neighbour_purity              how often a word's nearest neighbours share its label
    save/load_word2vec_format     the plain-text format of word2vec.c ("n d" header, then "word v1 .. vd")
    WordVectors                   words + a (V, d) matrix, with the functions above as methods

Derived in notebooks/04_word_vectors.ipynb; pinned by tests/test_wordvectors.py.
"""
from collections import Counter
from dataclasses import dataclass

import numpy as np

from minillm.atomic import write_text_atomic
from minillm.checks import check_float_array, check_int


def check_sentences(name, sentences):
    """sentences must be a list of token lists (tokens are non-empty str); returns the flat token list."""
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TypeError(f"{name} must be a list of token lists, got a {type(sentences).__name__}")
    flat = []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str) or not isinstance(sentence, (list, tuple)):
            raise TypeError(
                f"{name}[{i}] must be a list of str tokens (use line.split()), got a {type(sentence).__name__}"
            )
        for token in sentence:
            if not isinstance(token, str) or token == "":
                raise TypeError(f"{name}[{i}] must hold non-empty str tokens, got {token!r}")
        flat.extend(sentence)
    return flat


# ---------------------------------------------------------------------------
# Vocabulary: the words seen at least min_count times, most frequent first
# (ties in alphabetical order), as in word2vec.c.  counts[i] = c(words[i]).
# ---------------------------------------------------------------------------
# $$ \mathrm{counts}_i = c(\mathrm{words}_i) \ge \mathrm{min\_count} $$
def build_vocab(sentences, *, min_count=1):
    flat = check_sentences("sentences", sentences)
    check_int("min_count", min_count, low=1)
    counts = Counter(flat)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if not kept:
        raise ValueError(f"sentences must contain a word seen at least min_count={min_count} times, got none")
    return kept, np.array([counts[w] for w in kept], dtype=np.int64)


# sentences -> ids (N,) and sentence_of (N,): the id stream with the sentence
# each token came from.  Words outside the vocabulary are dropped (word2vec.c does too).
def encode_corpus(sentences, words):
    check_sentences("sentences", sentences)
    word_to_id = {w: i for i, w in enumerate(words)}
    ids, sentence_of = [], []
    for s, sentence in enumerate(sentences):
        kept = [word_to_id[w] for w in sentence if w in word_to_id]
        ids.extend(kept)
        sentence_of.extend([s] * len(kept))
    return np.array(ids, dtype=np.int64), np.array(sentence_of, dtype=np.int64)


# ---------------------------------------------------------------------------
# cos(a, b) = a . b / (|a| |b|)
#   A (n, d), B (m, d) -> (n, m);  a (d,) gives a row (m,);  a zero vector has cosine 0 with everything
# ---------------------------------------------------------------------------
# $$ \cos(a, b) = \frac{a \cdot b}{\|a\|\, \|b\|} \qquad (\cos(0, b) = 0) $$
def cosine_similarity(A, B):
    check_float_array("A", A)
    check_float_array("B", B)
    if A.ndim not in (1, 2) or B.ndim not in (1, 2):
        raise ValueError(f"A and B must be vectors (d,) or matrices (n, d), got shapes {A.shape} and {B.shape}")
    if A.shape[-1] != B.shape[-1]:
        raise ValueError(f"A and B must have the same dimension d, got shapes {A.shape} and {B.shape}")
    return _unit(A) @ _unit(B).T


def _unit(X):
    """Rows of X scaled to length 1 (zero rows stay zero)."""
    norm = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


def _row(words, index, word, name):
    if not isinstance(word, str):
        raise TypeError(f"{name} must be a word (str), got {word!r}")
    if word not in index:
        raise KeyError(f"{name} {word!r} is not in the vocabulary of {len(words)} words")
    return index[word]


def _check_table(vectors, words):
    check_float_array("vectors", vectors, ndim=2)
    if len(words) != vectors.shape[0]:
        raise ValueError(f"words must have one entry per row of vectors ({vectors.shape[0]}), got {len(words)}")


# ---------------------------------------------------------------------------
# most_similar(w) = the topn words x != w with the largest cos(v_x, v_w)
#   query: a word of `words` (itself excluded) or a vector (d,);  exclude: more words to skip
# ---------------------------------------------------------------------------
# $$ \mathrm{most\_similar}(w) = \text{the } \mathrm{topn} \text{ words } x \ne w \text{ with the largest } \cos(v_x, v_w) $$
def most_similar(vectors, words, query, *, topn=10, exclude=()):
    _check_table(vectors, words)
    check_int("topn", topn, low=1)
    index = {w: i for i, w in enumerate(words)}
    skip = [_row(words, index, w, "exclude word") for w in exclude]
    if isinstance(query, str):
        skip.append(_row(words, index, query, "query"))
        target = vectors[index[query]]
    else:
        check_float_array("query", query, ndim=1)
        if query.shape[0] != vectors.shape[1]:
            raise ValueError(f"query vector must have d = {vectors.shape[1]} entries, got shape {query.shape}")
        target = query
    scores = cosine_similarity(target, vectors)                 # (V,)
    scores[skip] = -np.inf
    order = np.argsort(-scores, kind="stable")[:topn]
    return [(words[i], float(scores[i])) for i in order if np.isfinite(scores[i])]


# ---------------------------------------------------------------------------
# a : b :: c : ?   (3CosAdd, Mikolov et al. 2013)
#   ? = argmax_{x not in {a, b, c}} cos(v_x, t),   t = v̂_b - v̂_a + v̂_c,   v̂ = v / |v|
# Since cos(v_x, t) = v̂_x.t / |t| and |t| is the same for every x, this ranks x
# exactly as cos(x, b) - cos(x, a) + cos(x, c) (Levy & Goldberg 2014).
# "man : king :: woman : ?" -> queen when king - man + woman lands near queen.
# ---------------------------------------------------------------------------
# $$ ? = \operatorname{argmax}_{x \notin \{a, b, c\}} \cos(v_x, t), \qquad t = \hat{v}_b - \hat{v}_a + \hat{v}_c, \qquad \hat{v} = \frac{v}{\|v\|} $$
# $$ \cos(v_x, t) = \frac{\hat{v}_x \cdot t}{\|t\|} \;\Rightarrow\; \operatorname{argmax}_x \cos(v_x, t) = \operatorname{argmax}_x \left[ \cos(x, b) - \cos(x, a) + \cos(x, c) \right] $$
def analogy(vectors, words, a, b, c, *, topn=1):
    _check_table(vectors, words)
    index = {w: i for i, w in enumerate(words)}
    ia, ib, ic = (_row(words, index, w, n) for w, n in ((a, "a"), (b, "b"), (c, "c")))
    unit = _unit(vectors)
    t = unit[ib] - unit[ia] + unit[ic]                          # (d,)
    return most_similar(vectors, words, t, topn=topn, exclude=(a, b, c))


# ---------------------------------------------------------------------------
# PCA to 2-D:  X_c = X - mean(X)  = U S V^T  (thin SVD)  ->  Z = X_c V[:, :2] = U[:, :2] S[:2]
#   X (n, d) -> Z (n, 2), and the fraction of the variance each axis explains.
# The sign of each axis is fixed (largest |entry| of the axis positive) so figures are reproducible.
# ---------------------------------------------------------------------------
# $$ X_c = X - \bar{X} = U S V^\top \ \text{(thin SVD)} \;\Rightarrow\; Z = X_c\, V_{:,\,1..2} = U_{:,\,1..2}\, \operatorname{diag}(S_1, S_2) $$
def pca_2d(X):
    check_float_array("X", X, ndim=2)
    if X.shape[0] < 2 or X.shape[1] < 2:
        raise ValueError(f"X must have at least 2 rows and 2 columns to project to 2-D, got shape {X.shape}")
    X_c = X - X.mean(axis=0)                                    # (n, d)
    U, S, Vt = np.linalg.svd(X_c, full_matrices=False)         # U (n, r), S (r,), Vt (r, d)
    axes = Vt[:2]                                               # (2, d) principal directions
    signs = np.sign(axes[np.arange(2), np.argmax(np.abs(axes), axis=1)])
    Z = X_c @ (axes * signs[:, None]).T                         # (n, 2)
    total = float(np.sum(S**2))
    explained = (S[:2] ** 2 / total) if total > 0 else np.zeros(2)
    return Z, explained


# ---------------------------------------------------------------------------
# purity = mean over labelled words w of  #{x in kNN(w) : label(x) = label(w)} / k
#   kNN by cosine among the labelled words only;  labels: dict word -> label
# A table of random vectors scores about (words per label - 1) / (labelled words - 1).
# ---------------------------------------------------------------------------
# $$ \mathrm{purity} = \operatorname{mean}_{w\ \text{labelled}} \frac{\left|\{ x \in \operatorname{kNN}(w) : \operatorname{label}(x) = \operatorname{label}(w) \}\right|}{k} $$
def neighbour_purity(vectors, words, labels, *, k):
    _check_table(vectors, words)
    check_int("k", k, low=1)
    rows = [i for i, w in enumerate(words) if w in labels]
    if len(rows) <= k:
        raise ValueError(f"labels must cover more than k={k} words of the vocabulary, got {len(rows)}")
    y = np.array([labels[words[i]] for i in rows])              # (n,)
    sim = cosine_similarity(vectors[rows], vectors[rows])       # (n, n)
    np.fill_diagonal(sim, -np.inf)
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]    # (n, k)
    return float(np.mean(y[nearest] == y[:, None]))


# ---------------------------------------------------------------------------
# The word2vec text format (word2vec.c -binary 0, gensim's binary=False):
#   line 1:        "n d"
#   lines 2..n+1:  "word v1 v2 ... vd"      one word per line, values separated by single spaces
# Values are written with repr(), which reads back to the same float64.
# ---------------------------------------------------------------------------
def save_word2vec_format(path, words, vectors):
    _check_table(vectors, words)
    for i, w in enumerate(words):
        if not isinstance(w, str) or w == "" or any(ch.isspace() for ch in w):
            raise ValueError(f"words[{i}] must be a non-empty str without whitespace, got {w!r}")
    if len(set(words)) != len(words):
        dup = next(w for w, c in Counter(words).items() if c > 1)
        raise ValueError(f"words must be unique, got {dup!r} twice or more")
    n, d = vectors.shape
    lines = [f"{n} {d}\n"]
    for w, row in zip(words, vectors.tolist()):
        lines.append(w + " " + " ".join(repr(v) for v in row) + "\n")
    # atomic: write a temporary file next to the target, then rename over it
    write_text_atomic(path, "".join(lines))


def load_word2vec_format(path):
    """Read a word2vec text file -> (words, vectors (n, d) float64); ValueError names the bad line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines:
        raise ValueError(f"{path}: line 1: expected the header 'n d', got an empty file")
    header = lines[0].split()
    try:
        n, d = (int(x) for x in header)
        if n < 0 or d < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"{path}: line 1: expected the header 'n d' (two positive integers), got {lines[0]!r}") from None
    body = lines[1:]
    while body and body[-1].strip() == "":
        body.pop()                                              # tolerate trailing blank lines
    if len(body) != n:
        raise ValueError(f"{path}: the header announces n={n} words, got {len(body)} lines after it")
    words, vectors, seen = [], np.empty((n, d), dtype=np.float64), set()
    for i, line in enumerate(body):
        lineno = i + 2
        fields = line.split()
        if len(fields) != d + 1:
            raise ValueError(f"{path}: line {lineno}: expected a word and d={d} numbers, got {len(fields)} fields")
        try:
            vectors[i] = [float(x) for x in fields[1:]]
        except ValueError:
            raise ValueError(f"{path}: line {lineno}: expected {d} numbers after the word, got {line!r}") from None
        if fields[0] in seen:
            raise ValueError(f"{path}: line {lineno}: the word {fields[0]!r} appears a second time")
        seen.add(fields[0])
        words.append(fields[0])
    return words, vectors


@dataclass
class WordVectors:
    """A vocabulary and its vectors: words[i] has the vector vectors[i] (V, d)."""

    words: list
    vectors: np.ndarray

    def __post_init__(self):
        _check_table(self.vectors, self.words)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __repr__(self):
        return f"WordVectors(V={len(self.words)}, d={self.vectors.shape[1]})"

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word):
        return self.vectors[_row(self.words, self.index, word, "word")]

    def similarity(self, w1, w2):
        """cos(v_w1, v_w2)"""
        return float(cosine_similarity(self[w1], self[w2][None, :])[0])

    def most_similar(self, query, *, topn=10, exclude=()):
        return most_similar(self.vectors, self.words, query, topn=topn, exclude=exclude)

    def analogy(self, a, b, c, *, topn=1):
        return analogy(self.vectors, self.words, a, b, c, topn=topn)

    def neighbour_purity(self, labels, *, k):
        return neighbour_purity(self.vectors, self.words, labels, k=k)

    def save(self, path):
        save_word2vec_format(path, self.words, self.vectors)

    @classmethod
    def load(cls, path):
        return cls(*load_word2vec_format(path))
