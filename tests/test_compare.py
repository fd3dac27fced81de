"""The comparison helpers: one split, one vocabulary, the same predicted events for every model family."""
import math

import numpy as np
import pytest

from minillm.tasks.comparison import (
    HMMChars, NGramChars, NeuralChars, char_split, evaluate, lines_of, perplexity_table,
)

# 12 non-blank lines, blank lines after some; with val_fraction 0.25 units 3, 7, 11 are held out.
# "z" and "?" occur only in a held-out line: every model must score them as <unk>.
LINES = ["the cat sat", "", "a dog ran", "the cat ran", "", "a dog sat", "", "the end", "the cat sat on a mat",
         "a dog ran to the cat", "", "zed?", "a cat", "the dog ran", "the dog sat", "", "a cat sat"]
TEXT = "\n".join(LINES) + "\n"
TRAIN, VAL = char_split(TEXT, 0.25)

RNN_TINY = dict(n_embd=4, n_hidden=6, block_size=4, dtype="float64")
GPT_TINY = dict(block_size=8, n_layer=1, n_head=2, n_embd=8, dtype="float64")
TRAIN_TINY = dict(batch_size=2, max_iters=3, warmup_iters=0, lr=1e-2, min_lr=1e-3, lr_decay_iters=3)


def _families():
    return [NGramChars(3, "kneser_ney"), NGramChars(2, "add_k", k=0.5), HMMChars(n_states=3, n_iter=2),
            NeuralChars("rnn", RNN_TINY, TRAIN_TINY), NeuralChars("lstm", RNN_TINY, TRAIN_TINY),
            NeuralChars("gpt", GPT_TINY, TRAIN_TINY)]


def test_char_split_holds_out_every_kth_nonblank_line_with_the_blank_lines_after_it():
    # units (a non-blank line + the blank lines after it), numbered from 0:
    # 3 = "a dog sat" and its blank line, 7 = "zed?", 11 = "a cat sat"
    assert VAL == "a dog sat\n\nzed?\na cat sat\n"
    assert TRAIN == ("the cat sat\n\na dog ran\nthe cat ran\n\nthe end\nthe cat sat on a mat\n"
                     "a dog ran to the cat\n\na cat\nthe dog ran\nthe dog sat\n\n")
    assert "z" not in TRAIN and "?" not in TRAIN
    assert sorted(TRAIN + VAL) == sorted(TEXT)           # nothing lost, nothing doubled


def test_char_split_puts_unseen_characters_where_the_rule_says():
    train, val = char_split("ab\ncd\nzz\n", 1 / 3)           # unit 2 ("zz") is held out
    assert (train, val) == ("ab\ncd\n", "zz\n")


def test_char_split_rejects_bad_input():
    with pytest.raises(ValueError, match="val_fraction must be < 1.0, got 1.0"):
        char_split(TEXT, 1.0)
    with pytest.raises(ValueError, match="val_fraction must be > 0.0, got 0.0"):
        char_split(TEXT, 0.0)
    with pytest.raises(TypeError, match="text must be a str, got a list"):
        char_split(LINES, 0.1)
    with pytest.raises(ValueError, match="enough non-blank lines.*got 2"):
        char_split("one\ntwo\n", 0.1)


def test_every_family_predicts_every_held_out_character_and_newline_once():
    N = len(VAL)                                            # characters + one newline per line
    assert N == sum(len(line) + 1 for line in lines_of(VAL))
    rows = [evaluate(lm, TRAIN, VAL) for lm in _families()]
    for row in rows:
        assert row["n_predicted"] == N, row
        assert math.isfinite(row["ppl"]) and row["ppl"] > 1.0, row
    assert "held-out" in perplexity_table(rows)             # accepted: same number of events everywhere


def test_every_family_uses_the_same_vocabulary_and_scores_unseen_characters_as_unk():
    train, val = "ab a\nba\n", "abz\n"                    # "z" never seen in training
    ngram, hmm, rnn = NGramChars(2, "add_k", k=1.0), HMMChars(2, 1), NeuralChars("rnn", RNN_TINY, TRAIN_TINY)
    for lm in (ngram, hmm, rnn):
        lm.fit(train)
    expected = {"<unk>", "\n", " ", "a", "b"}
    for lm in (ngram, hmm, rnn):
        assert set(lm.tokenizer.itos) == expected
    assert {"\n" if w == "</s>" else w for w in ngram.model.vocab} == expected
    # the bigram's P(z | b) is its P(<unk> | b) = (c(b <unk>) + 1) / (c(b) + |V|) = (0 + 1) / (2 + 5)
    assert ngram.model.logprob("z", ["a", "b"]) == pytest.approx(math.log(1 / 7), abs=1e-12)
    for lm in (ngram, hmm, rnn):
        # two different unseen characters are the same event, <unk>
        assert lm.logprob("abq\n") == lm.logprob(val)
        assert lm.logprob("abq\n") != lm.logprob("aba\n")
    for lm in (hmm, rnn):
        assert lm._ids("\n" + val).tolist() == [1, 3, 4, 0, 1]   # itos: <unk> \n " " a b


def test_ngram_perplexity_equals_exp_mean_nll_from_logprob_calls():
    lm = NGramChars(3, "kneser_ney").fit(TRAIN)
    nll = []
    for line in lines_of(VAL):
        for i, ch in enumerate(line + ["</s>"]):
            nll.append(-lm.model.logprob(ch, line[:i]))      # context: the line so far (<s>-padded)
    total, n = lm.logprob(VAL)
    assert n == len(nll) == len(VAL)
    assert total == pytest.approx(-sum(nll), rel=1e-12)
    expected = math.exp(sum(nll) / len(nll))
    assert lm.perplexity(VAL) == pytest.approx(expected, rel=1e-12)
    assert evaluate(NGramChars(3, "kneser_ney"), TRAIN, VAL)["ppl"] == pytest.approx(expected, rel=1e-12)


def test_rnn_perplexity_equals_exp_mean_nll_from_one_unchunked_forward():
    lm = NeuralChars("lstm", RNN_TINY, TRAIN_TINY, seed=3).fit(TRAIN)  # block_size 4: scored in chunks
    ids = lm._ids("\n" + VAL)                                         # (N + 1,)
    logits, _, _ = lm.model.forward(ids[None, :-1], training=False)   # (1, N, V), all at once
    z = logits[0] - logits[0].max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))          # log softmax by hand
    nll = -log_p[np.arange(ids.size - 1), ids[1:]]                    # (N,)
    total, n = lm.logprob(VAL)
    assert n == nll.size == len(VAL)
    assert total == pytest.approx(-nll.sum(), rel=1e-10)
    assert lm.perplexity(VAL) == pytest.approx(math.exp(nll.mean()), rel=1e-10)
    # and the model's logprob is the chain of its own one-token steps: log P(x_t | x_<t) from prefixes
    m = lm.model
    steps = [m.logprob(ids[:t + 2]) - m.logprob(ids[:t + 1]) if t else m.logprob(ids[:2]) for t in range(5)]
    assert np.allclose(steps, -nll[:5], atol=1e-10)


def test_hmm_logprob_is_the_chain_of_next_symbol_probabilities_after_a_newline():
    lm = HMMChars(n_states=3, n_iter=3, seed=1).fit(TRAIN)
    ids = lm._ids("\n" + VAL)
    chain = sum(lm.model.logprob(int(ids[t]), ids[:t]) for t in range(1, ids.size))
    total, n = lm.logprob(VAL)
    assert n == len(VAL)
    assert total == pytest.approx(chain, rel=1e-10)
    # the floored emissions: every symbol, <unk> too, has probability >= floor / |V| in every state
    assert lm.model.B.min() >= lm.floor / lm.tokenizer.vocab_size - 1e-15


def test_generate_is_seeded_and_speaks_characters():
    for lm in _families():
        lm.fit(TRAIN)
        a = lm.generate("the ", 12, np.random.default_rng(0))
        b = lm.generate("the ", 12, np.random.default_rng(0))
        assert isinstance(a, str) and a == b
        assert set(a.replace("<unk>", "")) <= set(TRAIN)


def test_text_must_end_with_a_newline():
    lm = NGramChars(2).fit(TRAIN)
    with pytest.raises(ValueError, match=r"text must be non-empty and end with '\\n'.*'a dog'"):
        lm.logprob("a dog")
    with pytest.raises(ValueError, match="train_text must be non-empty"):
        NGramChars(2).fit("")


def test_perplexity_table_prints_one_aligned_row_per_model():
    rows = [{"model": "3-gram", "settings": "Kneser-Ney, d=0.75", "ppl": 6.514, "n_predicted": 1234,
             "train_s": 0.0412, "cpu_s": 0.04},
            {"model": "LSTM", "settings": "H=128", "ppl": 7.5, "n_predicted": 1234, "train_s": 7.234, "cpu_s": 2.5}]
    assert perplexity_table(rows).split("\n") == [
        "model   settings            held-out PPL   train s   CPU s",
        "----------------------------------------------------------",
        "3-gram  Kneser-Ney, d=0.75          6.51      0.04    0.04",
        "LSTM    H=128                       7.50      7.23    2.50",
        "(perplexity per character over the same 1,234 held-out characters, newlines included)",
    ]


def test_perplexity_table_refuses_rows_scored_on_different_events():
    row = {"model": "m", "settings": "s", "ppl": 2.0, "n_predicted": 10, "train_s": 0.0, "cpu_s": 0.0}
    with pytest.raises(ValueError, match=r"same number of predicted tokens, got \[9, 10\]"):
        perplexity_table([row, {**row, "n_predicted": 9}])
    with pytest.raises(ValueError, match="at least one row"):
        perplexity_table([])
