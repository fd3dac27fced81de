"""Metrics against values worked out by hand (the arithmetic is in the comments)."""
import math
import warnings

import numpy as np
import pytest

from minillm.metrics import (
    accuracy, bleu, bleu_details, bleu_from_counts, confusion_matrix, entity_precision_recall_f1,
    extract_spans, perplexity, perplexity_from_log_probs, precision_recall_f1, tokenize_13a,
)


@pytest.fixture(autouse=True)
def no_warnings():
    """Zero divisions must give 0.0 quietly: any warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------- classification
#            index: 0  1  2  3  4  5
Y_TRUE = [1, 0, 1, 1, 0, 1]
Y_PRED = [1, 1, 0, 1, 0, 0]
# positive class 1: TP = {0, 3} = 2, FP = {1} = 1, FN = {2, 5} = 2, TN = {4} = 1


def test_accuracy_counts_equal_positions():
    # right at 0, 3, 4 -> 3 / 6
    assert accuracy(Y_TRUE, Y_PRED) == 0.5
    assert accuracy(np.array(["a", "b"]), np.array(["a", "a"])) == 0.5


def test_binary_precision_recall_f1():
    p, r, f1 = precision_recall_f1(Y_TRUE, Y_PRED)
    assert p == pytest.approx(2 / 3)               # TP / (TP + FP) = 2 / 3
    assert r == pytest.approx(2 / 4)               # TP / (TP + FN) = 2 / 4
    assert f1 == pytest.approx(4 / 7)              # 2TP / (2TP + FP + FN) = 4 / 7
    assert f1 == pytest.approx(2 * p * r / (p + r))


def test_binary_with_pos_label_zero_swaps_roles():
    # class 0: TP = {4} = 1, FP = {2, 5} = 2, FN = {1} = 1
    p, r, f1 = precision_recall_f1(Y_TRUE, Y_PRED, pos_label=0)
    assert (p, r, f1) == pytest.approx((1 / 3, 1 / 2, 2 / 5))


def test_macro_and_micro_average():
    # class 0: P = 1/3, R = 1/2, F1 = 2/5;  class 1: P = 2/3, R = 1/2, F1 = 4/7
    p, r, f1 = precision_recall_f1(Y_TRUE, Y_PRED, average="macro")
    assert p == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert r == pytest.approx(0.5)
    assert f1 == pytest.approx((2 / 5 + 4 / 7) / 2)     # = 17/35, mean of per-class F1s
    # micro: pooled counts; every wrong prediction is one FP and one FN -> all equal accuracy
    assert precision_recall_f1(Y_TRUE, Y_PRED, average="micro") == pytest.approx((0.5, 0.5, 0.5))


def test_macro_three_classes_with_string_labels():
    y_true = ["cat", "dog", "dog", "eel"]
    y_pred = ["cat", "dog", "cat", "cat"]
    # cat: TP 1, FP 2, FN 0 -> P 1/3, R 1, F1 2/4;  dog: TP 1, FP 0, FN 1 -> P 1, R 1/2, F1 2/3
    # eel: TP 0, FP 0, FN 1 -> P 0 (0/0), R 0, F1 0
    p, r, f1 = precision_recall_f1(y_true, y_pred, average="macro")
    assert p == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert r == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert f1 == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)


def test_zero_division_gives_zero_without_warning():
    # no positive predictions: precision 0/0 -> 0.0, recall 0/2 = 0, F1 0/(0+0+2) = 0
    assert precision_recall_f1([1, 0, 1], [0, 0, 0]) == (0.0, 0.0, 0.0)
    # no positives anywhere: everything 0/0 -> 0.0
    assert precision_recall_f1([0, 0], [0, 0]) == (0.0, 0.0, 0.0)


def test_named_positive_class():
    p, r, f1 = precision_recall_f1(["news", "blog", "news"], ["news", "news", "blog"], pos_label="news")
    assert (p, r, f1) == pytest.approx((1 / 2, 1 / 2, 1 / 2))


def test_classification_bad_input():
    with pytest.raises(ValueError, match="average='binary' needs at most two classes"):
        precision_recall_f1([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match=r"pos_label must be one of the labels \['blog', 'news'\], got 1"):
        precision_recall_f1(["news", "blog"], ["news", "news"])
    with pytest.raises(ValueError, match="average must be one of"):
        precision_recall_f1([0, 1], [0, 1], average="weighted")
    with pytest.raises(ValueError, match="same length, got 2 and 3"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="y_true must hold at least one label"):
        accuracy([], [])
    with pytest.raises(ValueError, match=r"y_pred must be a 1-D sequence of labels, got shape \(1, 2\)"):
        accuracy([0, 1], [[0, 1]])
    with pytest.raises(TypeError, match="both hold strings or both hold numbers"):
        accuracy(["1", "0"], [1, 0])


def test_confusion_matrix_rows_true_columns_predicted():
    # true 0 -> predicted 0 once (4), predicted 1 once (1); true 1 -> predicted 0 twice, 1 twice
    M = confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(M, [[1, 1], [2, 2]])
    assert M.dtype.kind == "i"
    # labels fix the order; pairs with a label outside `labels` are left out
    M = confusion_matrix([0, 1, 2, 2], [2, 1, 2, 0], labels=[2, 0])
    np.testing.assert_array_equal(M, [[1, 1], [1, 0]])
    with pytest.raises(ValueError, match="labels must not repeat a label"):
        confusion_matrix([0], [0], labels=[0, 0])


# ---------------------------------------------------------------- perplexity
def test_perplexity_is_exp_of_mean_nll():
    assert perplexity(math.log(50.0)) == pytest.approx(50.0)
    assert perplexity(0.0) == 1.0
    assert perplexity(np.float32(0.0)) == 1.0
    assert perplexity(1000.0) == math.inf                   # overflow is inf, not an error


def test_perplexity_from_log_probs():
    # ln(1/2) and ln(1/8): mean NLL = (ln 2 + ln 8) / 2 = ln 16 / 2 = ln 4 -> perplexity 4
    assert perplexity_from_log_probs([math.log(1 / 2), math.log(1 / 8)]) == pytest.approx(4.0)
    # a uniform model over V = 7 symbols has perplexity V
    assert perplexity_from_log_probs(np.full((2, 3), -math.log(7))) == pytest.approx(7.0)
    assert perplexity(log_probs=[math.log(1 / 2), math.log(1 / 8)]) == pytest.approx(4.0)


def test_perplexity_bad_input():
    with pytest.raises(ValueError, match="mean_nll must be a number >= 0"):
        perplexity(-0.5)
    with pytest.raises(TypeError, match="mean_nll must be a number"):
        perplexity("2.0")
    with pytest.raises(TypeError, match="exactly one of mean_nll .* or log_probs"):
        perplexity(1.0, log_probs=[-1.0])
    with pytest.raises(ValueError, match=r"log_probs must be natural logs of probabilities \(<= 0\)"):
        perplexity_from_log_probs([-1.0, 0.5])
    with pytest.raises(ValueError, match="log_probs must hold at least one"):
        perplexity_from_log_probs([])


# ---------------------------------------------------------------- entities (BIO)
def test_extract_spans_well_formed():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC"]
    # end is inclusive (seqeval's convention): PER covers tokens 0..1
    assert extract_spans(tags) == {("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 6)}
    assert extract_spans(["O", "O"]) == set()
    assert extract_spans([]) == set()


def test_extract_spans_ill_formed_i_tags_start_entities():
    # I-X after O starts an entity (conlleval/seqeval), and it continues with further I-X
    assert extract_spans(["O", "I-PER", "I-PER", "O"]) == {("PER", 1, 2)}
    assert extract_spans(["I-ORG"]) == {("ORG", 0, 0)}
    # I-X after another type closes that entity and starts a new one
    assert extract_spans(["B-PER", "I-LOC", "I-LOC"]) == {("PER", 0, 0), ("LOC", 1, 2)}
    # B-X always starts a new entity, even right after X
    assert extract_spans(["B-PER", "B-PER"]) == {("PER", 0, 0), ("PER", 1, 1)}
    # types may contain hyphens
    assert extract_spans(["B-GPE-LOC", "I-GPE-LOC"]) == {("GPE-LOC", 0, 1)}


def test_entity_precision_recall_f1_exact_match():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG"], ["O", "O"], ["B-PER"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG"], ["B-MISC", "O"], ["B-LOC"]]
    # true: PER(0..1), LOC(3), ORG(0..1), PER(0)          = 4 entities
    # pred: PER(0) wrong end, LOC(3) ok, ORG ok, MISC, LOC(0) wrong type = 5 entities, 2 correct
    p, r, f1 = entity_precision_recall_f1(true, pred)
    assert (p, r, f1) == pytest.approx((2 / 5, 2 / 4, 2 * 2 / (4 + 5)))
    # one flat sequence is one sentence; nothing predicted -> 0.0 without warnings
    assert entity_precision_recall_f1(["B-PER", "O"], ["O", "O"]) == (0.0, 0.0, 0.0)
    assert entity_precision_recall_f1([["O"]], [["O"]]) == (0.0, 0.0, 0.0)


def test_entity_bad_input():
    with pytest.raises(ValueError, match=r"tags\[1\] must be 'O', 'B-<type>' or 'I-<type>', got 'X-PER'"):
        extract_spans(["O", "X-PER"])
    with pytest.raises(ValueError, match=r"tags\[0\] .* got 'B-'"):
        extract_spans(["B-"])
    with pytest.raises(ValueError, match="sentence 0: .* same length, got 2 and 1"):
        entity_precision_recall_f1([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="same number of sentences, got 2 and 1"):
        entity_precision_recall_f1([["O"], ["O"]], [["O"]])


# ---------------------------------------------------------------- 13a tokenisation
@pytest.mark.parametrize("text, tokens", [
    # punctuation becomes its own token
    ("Hello, world!", "Hello , world !"),
    # periods and commas between digits stay: 3.14 and 1,000 are one token each
    ("It costs 3.14 dollars, or 1,000 cents.", "It costs 3.14 dollars , or 1,000 cents ."),
    # a comma next to a non-digit on either side is split off
    ("a,b 3,b a,3", "a , b 3 , b a , 3"),
    # &quot; is unescaped to " and then split like any other symbol
    ("&quot;Yes,&quot; she said.", '" Yes , " she said .'),
    ("R&amp;D (beta) x/y", "R & D ( beta ) x / y"),
    # apostrophes and hyphens inside words stay; a hyphen after a digit is split
    ("don't stop", "don't stop"),
    ("well-known 1990-1995", "well-known 1990 - 1995"),
    # $ is a symbol; e.g. loses its periods (each period follows a letter)
    ("e.g. $5.00", "e . g . $ 5.00"),
    # <skipped> tags vanish; a hyphen at a line break joins the two halves
    ("A <skipped>gap", "A gap"),
    ("end-\nof line", "endof line"),
])
def test_tokenize_13a(text, tokens):
    assert tokenize_13a(text) == tokens.split()


# ---------------------------------------------------------------- BLEU
def test_bleu_multi_reference_by_hand():
    hyp = "the cat sat on the mat"
    refs = ["the cat is on the mat", "there is a cat on the mat"]
    # 1-grams: the x2 (a reference has 2) + cat + on + mat match, sat does not: 5/6
    # 2-grams: the cat (ref 1), on the, the mat match; cat sat, sat on do not:    3/5
    # 3-grams: only "on the mat":                                                 1/4
    # 4-grams: none of 3 -> exp smoothing, first zero order: 100 / (2^1 * 3) -> 1/6
    # lengths: hyp 6, refs 6 and 7 -> r = 6, BP = 1
    # BLEU = 100 * (5/6 * 3/5 * 1/4 * 1/6) ** (1/4) = 100 * (1/48) ** (1/4) = 37.9918
    expected = 100 * (1 / 48) ** 0.25
    assert bleu([hyp], [refs]) == pytest.approx(expected, abs=1e-9)
    d = bleu_details([hyp], [refs])
    assert d["counts"] == [5, 3, 1, 0] and d["totals"] == [6, 5, 4, 3]
    assert d["precisions"] == pytest.approx([500 / 6, 60.0, 25.0, 100 / 6])
    assert (d["bp"], d["sys_len"], d["ref_len"]) == (1.0, 6, 6)


def test_bleu_exp_smoothing_halves_for_each_further_zero_order():
    # hyp a b c d e vs ref a b x d e
    # 1-grams 4/5; 2-grams "a b", "d e" = 2/4; 3-grams 0/3 -> 1/(2*3); 4-grams 0/2 -> 1/(4*2)
    # BLEU = 100 * (4/5 * 2/4 * 1/6 * 1/8) ** (1/4) = 100 * (1/120) ** (1/4) = 30.2138
    d = bleu_details(["a b c d e"], [["a b x d e"]])
    assert d["precisions"] == pytest.approx([80.0, 50.0, 100 / 6, 12.5])
    assert d["score"] == pytest.approx(100 * (1 / 120) ** 0.25, abs=1e-9)
    # three zero orders: hyp a b c d e vs ref a x b y c
    # 1-grams a, b, c: 3/5; 2-, 3-, 4-grams all miss: 1/(2*4), 1/(4*3), 1/(8*2)
    # BLEU = 100 * (3/5 * 1/8 * 1/12 * 1/16) ** (1/4) = 100 * (1/2560) ** (1/4) = 14.0580
    d = bleu_details(["a b c d e"], [["a x b y c"]])
    assert d["precisions"] == pytest.approx([60.0, 12.5, 100 / 12, 6.25])
    assert d["score"] == pytest.approx(100 * (1 / 2560) ** 0.25, abs=1e-9)
    # without smoothing a zero precision makes the geometric mean 0
    assert bleu(["a b c d e"], [["a b x d e"]], smooth_method="none") == 0.0


def test_bleu_brevity_penalty():
    # every n-gram of "the cat sat on" matches; c = 4, r = 7 -> BP = exp(1 - 7/4) = exp(-0.75)
    d = bleu_details(["the cat sat on"], [["the cat sat on the mat today"]])
    assert d["precisions"] == [100.0] * 4
    assert d["bp"] == pytest.approx(math.exp(-0.75))
    assert d["score"] == pytest.approx(100 * math.exp(-0.75), abs=1e-9)     # 47.2367


def test_bleu_closest_reference_length_and_ties():
    # c = 5, refs of length 4 and 6 are equally close: the shorter (4) is r; c > r -> BP = 1
    d = bleu_details(["a b c d e"], [["a b c d", "a b c d e f"]])
    assert (d["ref_len"], d["bp"]) == (4, 1.0) and d["score"] == pytest.approx(100.0)
    # c = 5, refs 3 and 8: 3 is closer (|5-3| = 2 < 3); longer than every ref -> BP = 1
    d = bleu_details(["a b c d e"], [["a b c", "a b c d e f g h"]])
    assert (d["ref_len"], d["bp"]) == (3, 1.0)


def test_bleu_statistics_are_pooled_over_the_corpus():
    # "a b" alone has no 3-grams (its own BLEU would be 0), but the corpus pools counts:
    # 1-grams 6+2 / 6+2, 2-grams 5+1 / 5+1, 3-grams 4/4, 4-grams 3/3; c = 6+2 = 8, r = 6+3 = 9
    # BLEU = 100 * exp(1 - 9/8) = 88.2497
    d = bleu_details(["the cat sat on the mat", "a b"], [["the cat sat on the mat"], ["a b c"]])
    assert d["counts"] == [8, 6, 4, 3] and (d["sys_len"], d["ref_len"]) == (8, 9)
    assert d["score"] == pytest.approx(100 * math.exp(-1 / 8), abs=1e-9)


def test_bleu_is_case_sensitive_by_default():
    # The, Cat miss: 1-grams 4/6, 2-grams 3/5, 3-grams 2/4, 4-grams 1/3
    # BLEU = 100 * (4/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 100 * (1/15) ** (1/4) = 50.81
    hyp, ref = ["The Cat sat on the mat"], [["the cat sat on the mat"]]
    assert bleu(hyp, ref) == pytest.approx(100 * (1 / 15) ** 0.25, abs=1e-9)
    assert bleu(hyp, ref, lowercase=True) == pytest.approx(100.0)


def test_bleu_edge_cases():
    # empty hypothesis: no n-grams match -> 0.0 (and c = 0 -> BP = 0)
    d = bleu_details([""], [["the cat"]])
    assert (d["score"], d["bp"], d["sys_len"]) == (0.0, 0.0, 0)
    # empty reference: a reference of length 0 that matches nothing -> 0.0
    d = bleu_details(["the cat sat on"], [[""]])
    assert (d["score"], d["ref_len"], d["bp"]) == (0.0, 0, 1.0)
    # hypothesis of fewer than 4 tokens: no 4-grams at all -> 0.0 even when it is perfect
    assert bleu(["the cat"], [["the cat"]]) == 0.0
    # (sacrebleu too gives 100.00000000000004 here: exp(ln(100)) is not exactly 100)
    assert bleu(["the cat sat on"], [["the cat sat on"]]) == pytest.approx(100.0)
    # a None reference is missing: the other reference is used alone
    assert bleu(["a b c d"], [[None, "a b c d"]]) == pytest.approx(100.0)


def test_bleu_reference_forms():
    hyps = ["the cat sat on the mat", "a dog ran in the park"]
    per_hyp = [["the cat is on the mat", "there is a cat on the mat"], ["a dog ran in a park"]]
    # sacrebleu's streams: stream k holds reference k of every hypothesis (None = missing)
    streams = [["the cat is on the mat", "a dog ran in a park"], ["there is a cat on the mat", None]]
    expected = bleu(hyps, per_hyp)
    assert bleu(hyps, streams, ref_streams=True) == expected
    # 2 hypotheses and 2 lists is ambiguous: without ref_streams=True it is read per hypothesis
    # (hypothesis 0 would get the two "the cat ..." strings of stream 0 -- a different score)
    assert bleu(hyps, streams) == bleu(hyps, streams, ref_streams=False) != expected
    # one string per hypothesis is a single reference each
    assert bleu(["a b c d"], ["a b c d"]) == pytest.approx(100.0)
    # 3 streams for 2 hypotheses cannot be per-hypothesis: read as streams automatically
    three = [["a b c d", "e f g h"], ["x", "y"], ["z", "w"]]
    assert bleu(["a b c d", "e f g h"], three) == pytest.approx(100.0)


def test_bleu_sacrebleu_readme_example():
    # Published numbers from sacrebleu's README ("In [3]: bleu.corpus_score(sys, refs)") and
    # test/test_bleu.py (test_corpus_bleu_cases: 48.530827), https://github.com/mjpost/sacrebleu:
    # BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)
    refs = [['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
            ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.']]
    sys = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.']
    d = bleu_details(sys, refs, ref_streams=True)
    assert d["score"] == pytest.approx(48.530827, abs=1e-6)
    assert [round(p, 1) for p in d["precisions"]] == [82.4, 50.0, 45.5, 37.5]
    assert (d["sys_len"], d["ref_len"], round(d["bp"], 3)) == (17, 18, 0.943)
    # the same test file: tokenize='none' gives 49.1919566; three empty hypotheses give 0.0
    assert bleu(sys, refs, ref_streams=True, tokenize="none") == pytest.approx(49.1919566, abs=1e-6)
    assert bleu(["", "", ""], refs, ref_streams=True) == 0.0
    # README "Variable Number of References": BLEU = 29.44 82.4/42.9/27.3/12.5 (ref_len = 19)
    refs[0][0] = None
    d = bleu_details(sys, refs, ref_streams=True)
    assert round(d["score"], 2) == 29.44 and d["ref_len"] == 19


def test_bleu_from_counts_sacrebleu_scoring_case():
    # sacrebleu test/test_bleu.py test_case_scoring: counts [9,7,5,3] of [10,8,6,4], c = r = 11
    # BLEU = 100 * (0.9 * 0.875 * 5/6 * 0.75) ** (1/4) = 83.759224
    d = bleu_from_counts([9, 7, 5, 3], [10, 8, 6, 4], 11, 11)
    assert d["score"] == pytest.approx(83.75922397, abs=1e-7)
    # and its test_case_statistics: clipped counts of one sentence pair
    d = bleu_details(["am I am a character sequence"], [["I am a symbol string sequence a a"]])
    assert d["counts"] == [4, 2, 1, 0] and d["totals"] == [6, 5, 4, 3]


def test_bleu_bad_input():
    with pytest.raises(ValueError, match="hypotheses must hold at least one sentence"):
        bleu([], [])
    with pytest.raises(TypeError, match="hypotheses must be a list of strings, got str"):
        bleu("the cat", [["the cat"]])
    with pytest.raises(ValueError, match=r"references\[0\] must be a reference stream with one string "
                                         r"per hypothesis \(2\), got length 1"):
        bleu(["a", "b"], [["a"]], ref_streams=True)
    with pytest.raises(ValueError, match="references must hold one entry per hypothesis"):
        bleu(["a", "b"], [["a"], ["b"], ["c"]], ref_streams=False)
    with pytest.raises(ValueError, match="references for hypothesis 0 must hold at least one string"):
        bleu(["a"], [[None]])
    with pytest.raises(ValueError, match="tokenize must be one of"):
        bleu(["a"], [["a"]], tokenize="intl")
