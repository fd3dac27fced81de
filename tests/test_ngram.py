"""NGramLM: hand-computed probabilities, an independent dict-based reference, sums to 1, bad input."""
import math
from collections import Counter

import numpy as np
import pytest

from minillm.models.ngram import BOS, EOS, UNK, NGramLM

# "a b" and "b a b": small enough to count by hand.
TINY = [["a", "b"], ["b", "a", "b"]]
CORPUS = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat saw a dog",
    "the end", "on the mat the cat slept", "a dog and a cat",
]]


# ------------------------------------------------------------------ by hand
def test_vocab_is_types_plus_eos_and_unk():
    lm = NGramLM(2).fit(TINY)
    assert lm.vocab == [EOS, UNK, "a", "b"]
    assert BOS not in lm.vocab


def test_kneser_ney_bigram_by_hand():
    # padded: <s> a b </s> | <s> b a b </s>, V = {</s>, <unk>, a, b}, d = 0.75
    d, V = 0.75, 4
    # unigram continuation counts: a <- {<s>, b}, b <- {a, <s>}, </s> <- {b}; total 5, 3 types
    p1 = {"a": (2 - d) / 5 + d * 3 / 5 / V, "b": (2 - d) / 5 + d * 3 / 5 / V,
          EOS: (1 - d) / 5 + d * 3 / 5 / V, UNK: 0 + d * 3 / 5 / V}
    assert math.isclose(sum(p1.values()), 1.0)
    lm = NGramLM(2, "kneser_ney", discount=d).fit(TINY)
    # raw bigram counts: (a,b)=2 so c(a)=2 with 1 type; (b,</s>)=2, (b,a)=1 so c(b)=3 with 2 types
    assert math.isclose(lm.logprob("b", ["a"]), math.log((2 - d) / 2 + d * 1 / 2 * p1["b"]))
    assert math.isclose(lm.logprob("a", ["b"]), math.log((1 - d) / 3 + d * 2 / 3 * p1["a"]))
    assert math.isclose(lm.logprob(EOS, ["b"]), math.log((2 - d) / 3 + d * 2 / 3 * p1[EOS]))
    assert math.isclose(lm.logprob(UNK, ["a"]), math.log(0 + d * 1 / 2 * p1[UNK]))
    # (<s>, a) = 1 and (<s>, b) = 1: c(<s>) = 2, 2 types
    assert math.isclose(lm.logprob("a", []), math.log((1 - d) / 2 + d * 2 / 2 * p1["a"]))
    # unseen context "zzz" -> <unk>, never a context: back off entirely to the unigram level
    assert math.isclose(lm.logprob("a", ["zzz"]), math.log(p1["a"]))


def test_kneser_ney_trigram_by_hand_uses_continuation_counts():
    # padded: <s> <s> a b </s> | <s> <s> b a b </s>
    d, V = 0.75, 4
    p1 = {"b": (2 - d) / 5 + d * 3 / 5 / V, EOS: (1 - d) / 5 + d * 3 / 5 / V}
    # bigram continuation counts: (a,b) <- {<s>, b} = 2 and c_cont(a) = 2 with 1 type;
    # (b,</s>) <- {a} = 1, (b,a) <- {<s>} = 1: c_cont(b) = 2 with 2 types
    p2_b_a = (2 - d) / 2 + d * 1 / 2 * p1["b"]
    p2_eos_b = (1 - d) / 2 + d * 2 / 2 * p1[EOS]
    lm = NGramLM(3, "kneser_ney", discount=d).fit(TINY)
    # trigram raw counts: (<s> a, b) = 1, one type; (a b, </s>) = 2, one type
    assert math.isclose(lm.logprob("b", ["<s>", "a"]), math.log((1 - d) / 1 + d * 1 / 1 * p2_b_a))
    assert math.isclose(lm.logprob("b", ["a"]), math.log((1 - d) / 1 + d * 1 / 1 * p2_b_a))  # left-padded
    assert math.isclose(lm.logprob(EOS, ["a", "b"]), math.log((2 - d) / 2 + d * 1 / 2 * p2_eos_b))
    # unseen trigram context (a, a): back off entirely to P_2(b | a)
    assert math.isclose(lm.logprob("b", ["a", "a"]), math.log(p2_b_a))


def test_add_k_by_hand():
    k, V = 0.5, 4
    lm = NGramLM(2, "add_k", k=k).fit(TINY)
    assert math.isclose(lm.logprob("b", ["a"]), math.log((2 + k) / (2 + k * V)))
    assert math.isclose(lm.logprob("a", ["b"]), math.log((1 + k) / (3 + k * V)))
    assert math.isclose(lm.logprob(UNK, ["b"]), math.log((0 + k) / (3 + k * V)))
    assert math.isclose(lm.logprob("a", ["zzz"]), math.log(1 / V))     # unseen context: uniform
    uni = NGramLM(1, "add_k", k=1).fit(TINY)                             # Laplace unigram, N = 7 tokens
    assert math.isclose(uni.logprob("b", ["a", "b"]), math.log((3 + 1) / (7 + 4)))


def test_mle_by_hand_and_the_zero_probability_problem():
    lm = NGramLM(2, "mle").fit(TINY)
    assert math.isclose(lm.logprob("a", ["b"]), math.log(1 / 3))
    assert math.isclose(lm.logprob("a", ["zzz"]), math.log(2 / 7))     # unseen context: unigram MLE
    assert lm.logprob("a", ["a"]) == -math.inf                          # (a, a) never seen
    assert lm.perplexity([["a", "a"]]) == math.inf


def test_perplexity_by_hand():
    # Laplace bigram on "a b": P(a|<s>) = 2/6, P(b|a) = 3/6, P(</s>|b) = 3/7
    lm = NGramLM(2, "add_k", k=1).fit(TINY)
    expected = math.exp(-(math.log(2 / 6) + math.log(3 / 6) + math.log(3 / 7)) / 3)
    assert math.isclose(lm.perplexity([["a", "b"]]), expected)
    assert math.isclose(expected, 14 ** (1 / 3))
    lp = lm.token_logprobs([["a", "b"], ["b"]])
    assert lp.shape == (5,)                                             # 3 tokens + 2 </s>
    assert math.isclose(lp[3], math.log((1 + 1) / (2 + 4)))             # P(b|<s>)


def test_count_and_min_count():
    lm = NGramLM(3).fit(CORPUS)
    assert lm.count(["the"]) == 7 and lm.count(["the", "cat"]) == 2 and lm.count(["sat", "on", "the"]) == 2
    assert lm.count([EOS]) == len(CORPUS)
    rare = NGramLM(2, min_count=2).fit(CORPUS)
    assert "log" not in rare.vocab and "cat" in rare.vocab
    assert rare.count([UNK]) == sum(c for w, c in Counter(w for s in CORPUS for w in s).items() if c < 2)
    assert rare.logprob("log", ["the"]) == rare.logprob(UNK, ["the"]) == rare.logprob("never-seen", ["the"])


def test_context_truncation_and_padding():
    lm = NGramLM(3).fit(CORPUS)
    assert lm.logprob("sat", ["x", "y", "the", "cat"]) == lm.logprob("sat", ["the", "cat"])
    assert lm.logprob("cat", ["the"]) == lm.logprob("cat", [BOS, "the"])
    assert lm.logprob("the", []) == lm.logprob("the", [BOS, BOS])
    uni = NGramLM(1).fit(CORPUS)
    assert uni.logprob("cat", ["the", "dog"]) == uni.logprob("cat")


def test_characters_work_too():
    lm = NGramLM(3).fit([list("abracadabra"), list("cadabra")])
    assert set(lm.vocab) == {EOS, UNK, "a", "b", "c", "d", "r"}
    assert math.isclose(lm.prob_distribution(list("ab")).sum(), 1.0)


# ------------------------------------------------------- sums to 1 over V
CONTEXTS = [[], ["the"], ["the", "cat"], ["sat", "on", "the"], ["a", "dog", "and", "a"],
            ["zzz"], ["qq", "zzz", "ww", "the"], [BOS], [EOS, "the"], ["cat", "the", "cat", "the", "cat"]]


@pytest.mark.parametrize("smoothing", ["mle", "add_k", "kneser_ney"])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_distribution_sums_to_one_for_seen_and_unseen_contexts(smoothing, order):
    lm = NGramLM(order, smoothing, k=0.3, discount=0.6, min_count=1).fit(CORPUS)
    for context in CONTEXTS:
        p = lm.prob_distribution(context)
        assert p.shape == (len(lm.vocab),)
        assert np.all(p >= 0)
        assert math.isclose(p.sum(), 1.0, rel_tol=1e-12), (context, p.sum())
        # the vector and logprob agree
        w = lm.vocab.index("cat")
        assert math.isclose(p[w], math.exp(lm.logprob("cat", context)))


# ------------------------------------- an independent, dict-based reference
def reference_probability(train, order, smoothing, k, d, min_count, word, context):
    """The module docstring's conventions, written with Counters and recursion."""
    n = order
    freq = Counter(w for s in train for w in s)
    vocab = sorted({w for w, c in freq.items() if c >= min_count} | {EOS, UNK})
    norm = lambda w: w if w in vocab or w == BOS else UNK                      # noqa: E731
    raw, left = Counter(), {}
    for s in train:
        padded = [BOS] * (n - 1) + [norm(w) for w in s] + [EOS]
        for i in range(n - 1, len(padded)):
            for m in range(1, n + 1):
                gram = tuple(padded[i - m + 1:i + 1])
                raw[gram] += 1
                if m < n:
                    left.setdefault(gram, set()).add(padded[i - m])
    cont = {gram: len(s) for gram, s in left.items()}
    h = tuple(norm(w) for w in context)
    h = h[max(0, len(h) - (n - 1)):] if n > 1 else ()
    h = (BOS,) * (n - 1 - len(h)) + h

    def table(m):
        return raw if m == n or smoothing == "mle" else cont

    def p(m, h, w):
        if m == 0:
            return 1 / len(vocab)
        counts = table(m)
        c_h = sum(counts.get(h + (v,), 0) for v in vocab)
        if smoothing == "add_k":
            return (raw.get(h + (w,), 0) + k) / (c_h + k * len(vocab))
        if c_h == 0:
            return p(m - 1, h[1:], w)
        c = counts.get(h + (w,), 0)
        if smoothing == "mle":
            return c / c_h
        types = sum(counts.get(h + (v,), 0) > 0 for v in vocab)
        return max(c - d, 0) / c_h + d * types / c_h * p(m - 1, h[1:], w)

    return p(n, h, norm(word))


@pytest.mark.parametrize("smoothing", ["mle", "add_k", "kneser_ney"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_matches_reference_on_held_out_text(smoothing, order, rng):
    words = "the a cat dog sat on mat log saw and ran far".split()
    train = [list(rng.choice(words, size=rng.integers(0, 9))) for _ in range(40)]
    held = [list(rng.choice(words + ["unseen"], size=rng.integers(1, 7))) for _ in range(8)]
    lm = NGramLM(order, smoothing, k=0.4, discount=0.7, min_count=2).fit(train)
    lp = lm.token_logprobs(held)
    i = 0
    for s in held:
        for t, w in enumerate(s + [EOS]):
            expected = reference_probability(train, order, smoothing, 0.4, 0.7, 2, w, s[:t])
            got = math.exp(lp[i])
            assert math.isclose(got, expected, rel_tol=1e-10, abs_tol=1e-15), (s, t, w)
            assert math.isclose(got, math.exp(lm.logprob(w, s[:t])), rel_tol=1e-12, abs_tol=1e-15)
            i += 1
    assert i == len(lp)


# ------------------------------------------------------ generation and speed
def test_generate_is_seeded_and_stays_in_vocab():
    lm = NGramLM(3, "kneser_ney").fit(CORPUS)
    a = lm.generate(["the"], 30, np.random.default_rng(7))
    b = lm.generate(["the"], 30, np.random.default_rng(7))
    assert a == b and len(a) == 30 and set(a) <= set(lm.vocab)
    mle = NGramLM(2, "mle").fit([["x", "y"]])                 # deterministic chain x y </s> x y ...
    assert mle.generate([], 6, np.random.default_rng(0)) == ["x", "y", EOS, "x", "y", EOS]


def test_vectorised_counting_handles_a_large_stream(rng):
    # 200,000 tokens: a Python loop per n-gram would be slow here; the counts must add up
    words = np.array([f"w{i}" for i in range(5000)])
    sentences = [list(words[rng.zipf(1.3, size=20) % 5000]) for _ in range(10_000)]
    lm = NGramLM(3, "kneser_ney").fit(sentences)
    assert lm.count([EOS]) == 10_000
    assert sum(lm.count([w]) for w in lm.vocab) == 210_000
    assert math.isclose(lm.prob_distribution(sentences[0][:2]).sum(), 1.0)
    assert np.isfinite(lm.perplexity(sentences[:500]))


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    (dict(order=0), "order must be >= 1, got 0"),
    (dict(order=2, smoothing="witten_bell"), "smoothing must be one of .*'witten_bell'"),
    (dict(order=2, k=0), "k must be > 0, got 0"),
    (dict(order=2, k=-1.0), "k must be > 0, got -1.0"),
    (dict(order=2, discount=0.0), "discount must be > 0, got 0.0"),
    (dict(order=2, discount=1.0), "discount must be < 1, got 1.0"),
    (dict(order=2, discount=1.5), "discount must be < 1, got 1.5"),
    (dict(order=2, min_count=0), "min_count must be >= 1, got 0"),
])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs)


def test_bad_corpus_and_queries():
    with pytest.raises(ValueError, match="sentences must contain at least one token"):
        NGramLM(2).fit([])
    with pytest.raises(ValueError, match="sentences must contain at least one token"):
        NGramLM(2).fit([[], []])
    with pytest.raises(TypeError, match=r"sentences\[0\] must be a list of tokens, got a str"):
        NGramLM(2).fit(["the cat sat"])
    with pytest.raises(TypeError, match="sentences must be a list of token lists, got a str"):
        NGramLM(2).fit("the cat")
    with pytest.raises(ValueError, match="sentences must not contain '</s>'"):
        NGramLM(2).fit([["a", "</s>"]])
    with pytest.raises(ValueError, match="not fitted"):
        NGramLM(2).logprob("a", [])
    lm = NGramLM(2).fit(TINY)
    with pytest.raises(ValueError, match="word must be in the vocabulary V, got '<s>'"):
        lm.logprob(BOS, ["a"])
    with pytest.raises(TypeError, match="context must be a list of tokens, got a str"):
        lm.logprob("a", "b")
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        lm.generate([], 3, rng=0)
    with pytest.raises(TypeError, match="context must hold str tokens, got 3"):
        lm.logprob("a", ["b", 3])
