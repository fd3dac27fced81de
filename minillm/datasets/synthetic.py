"""Synthetic corpora with planted structure, to test what word vectors recover.

A quality test must be able to fail.  On real text nobody knows the right
answer; on these corpora we wrote the answer in:

planted_topic_corpus   every sentence is about one topic and draws its content
    words from that topic only (plus shared function words).  Words of one topic
    share their contexts, so their vectors should be neighbours.  Returns the
    sentences and the planted label of every topic word.
planted_analogy_corpus   every sentence holds one target word, some words that
    depend only on its gender (he/his ... she/her ...) and some that depend
    only on its role (throne/crown ... school/toy ...).  The co-occurrence
    statistics of a target are then a sum of a gender part and a role part, so
    king - man + woman should land on queen.  Returns the sentences and the
    (male, female) pairs.  With `noise` > 0 some context words are drawn
    at random, so that every (target, context) pair is seen at least sometimes.

Used by tests/test_word2vec.py, tests/test_glove.py and notebooks/04_word_vectors.ipynb.
"""
import numpy as np

from minillm.checks import check_int, check_number, check_rng


# ---------------------------------------------------------------------------
# Topic corpus.  For each sentence s:  z_s ~ Uniform{0 .. n_topics-1}; for each position
#   with probability function_rate:  a function word f_j, j ~ Zipf (p_j ∝ 1/(j+1))
#   otherwise:                       a topic word "t{z_s}w{i}", i ~ Uniform{0 .. words_per_topic-1}
# labels["t3w5"] = 3.  Function words carry no label (they are the frequent words
# that subsampling is meant to thin out).
# ---------------------------------------------------------------------------
def planted_topic_corpus(n_topics, words_per_topic, n_sentences, rng, *, sentence_length=8,
                         n_function_words=0, function_rate=0.0):
    check_int("n_topics", n_topics, low=2)
    check_int("words_per_topic", words_per_topic, low=2)
    check_int("n_sentences", n_sentences, low=1)
    check_rng("rng", rng)
    check_int("sentence_length", sentence_length, low=2)
    check_int("n_function_words", n_function_words, low=0)
    check_number("function_rate", function_rate, low=0.0, high=1.0, high_open=True)
    if function_rate > 0 and n_function_words == 0:
        raise ValueError(f"function_rate > 0 needs n_function_words >= 1, got n_function_words={n_function_words}")
    topic_words = np.array([[f"t{z}w{i}" for i in range(words_per_topic)] for z in range(n_topics)])
    function_words = np.array([f"f{j}" for j in range(n_function_words)])
    zipf = 1.0 / np.arange(1, n_function_words + 1)
    zipf = zipf / zipf.sum() if n_function_words else zipf

    S, L = n_sentences, sentence_length
    z = rng.integers(n_topics, size=S)                                   # (S,) topic of each sentence
    words = topic_words[z[:, None], rng.integers(words_per_topic, size=(S, L))]   # (S, L)
    if function_rate > 0:
        is_function = rng.random((S, L)) < function_rate                 # (S, L)
        picks = rng.choice(n_function_words, size=(S, L), p=zipf)
        words = np.where(is_function, function_words[picks], words)
    labels = {str(w): z_ for z_ in range(n_topics) for w in topic_words[z_]}
    return [row.tolist() for row in words], labels


# The analogy corpus's vocabulary: each role has a (male, female) pair of targets
# and its own context words; each gender has its own context words.
ROLES = {
    "royal": (("king", "queen"), ("throne", "crown", "palace", "reign")),
    "adult": (("man", "woman"), ("work", "office", "city", "job")),
    "child": (("boy", "girl"), ("school", "toy", "play", "lesson")),
    "parent": (("father", "mother"), ("home", "family", "kitchen", "garden")),
    "heir": (("prince", "princess"), ("castle", "heir", "horse", "sword")),
    "sibling": (("brother", "sister"), ("twin", "older", "younger", "shared")),
}
GENDER_WORDS = (("he", "his", "him", "himself"), ("she", "her", "hers", "herself"))
FILLER_WORDS = ("the", "a", "and", "of", "to", "in")


# ---------------------------------------------------------------------------
# Analogy corpus.  For each sentence:  role r ~ Uniform(ROLES), gender g ~ Uniform{0, 1};
#   target = ROLES[r] pair [g];  then n_gender words from GENDER_WORDS[g], n_role words
#   from the context words of r, n_filler words from FILLER_WORDS (all uniform), shuffled.
# With probability `noise` each gender/role word is then replaced by one drawn uniformly from all
# of them, so that every (target, context word) pair occurs: GloVe fits only the non-zero X_ij,
# and without noise the many zero cells leave its geometry unconstrained.
# Either way P(context | target) has a part that depends on the gender only and a part that depends
# on the role only, so the PMI row of "queen" equals that of "king" - "man" + "woman" (in expectation).
# ---------------------------------------------------------------------------
def planted_analogy_corpus(n_sentences, rng, *, n_gender=2, n_role=2, n_filler=2, noise=0.0):
    check_int("n_sentences", n_sentences, low=1)
    check_rng("rng", rng)
    check_int("n_gender", n_gender, low=1)
    check_int("n_role", n_role, low=1)
    check_int("n_filler", n_filler, low=0)
    check_number("noise", noise, low=0.0, high=1.0)
    roles = list(ROLES)
    all_context = [w for words in GENDER_WORDS for w in words] + [w for _, words in ROLES.values() for w in words]
    sentences = []
    for _ in range(n_sentences):
        r = roles[rng.integers(len(roles))]
        g = int(rng.integers(2))
        pair, role_words = ROLES[r]
        sentence = [pair[g]]
        sentence += [GENDER_WORDS[g][i] for i in rng.integers(len(GENDER_WORDS[g]), size=n_gender)]
        sentence += [role_words[i] for i in rng.integers(len(role_words), size=n_role)]
        for k in np.flatnonzero(rng.random(len(sentence)) < noise):
            if k > 0:                                                    # the target itself stays
                sentence[k] = all_context[rng.integers(len(all_context))]
        sentence += [FILLER_WORDS[i] for i in rng.integers(len(FILLER_WORDS), size=n_filler)]
        sentences.append([sentence[i] for i in rng.permutation(len(sentence))])
    pairs = [ROLES[r][0] for r in roles]
    return sentences, pairs
