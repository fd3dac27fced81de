"""Evaluation metrics used by the article's case studies (§1, §4.3, §6).

    accuracy, precision_recall_f1, confusion_matrix   text classification (§4.3 case 1)
    perplexity, perplexity_from_log_probs             language models (§1)
    extract_spans, entity_precision_recall_f1         NER on BIO tags (§6)
    tokenize_13a, bleu, bleu_details, bleu_from_counts   translation (§4.3 case 2)

Classification scores follow scikit-learn's definitions, with "zero division"
giving 0.0 (never NaN, never a warning).  BLEU gives the same numbers as
sacrebleu's default `corpus_bleu` (13a tokenisation, n = 1..4, "exp"
smoothing, closest reference length, case-sensitive).
"""
import math
import re
from collections import Counter

import numpy as np

from minillm.checks import check_choice, check_int


# ----------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------

def _label_vectors(y_true, y_pred):
    """Both label sequences as 1-D arrays of equal, non-zero length."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence of labels, got shape {y.shape}")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("y_true must hold at least one label, got an empty sequence")
    if (y_true.dtype.kind in "US") != (y_pred.dtype.kind in "US"):
        raise TypeError(
            f"y_true and y_pred must both hold strings or both hold numbers, "
            f"got dtypes {y_true.dtype} and {y_pred.dtype}")
    return y_true, y_pred


def _ratio(numerator, denominator):
    """numerator / denominator, and 0.0 when the denominator is 0 (scikit-learn's zero_division=0)."""
    return float(numerator) / float(denominator) if denominator else 0.0


# P = TP / (TP + FP)    R = TP / (TP + FN)    F1 = 2PR / (P + R) = 2TP / (2TP + FP + FN)
def prf_from_counts(tp, fp, fn):
    """(precision, recall, F1) from true positives, false positives and false negatives; 0/0 -> 0."""
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


# accuracy = (1/N) sum_i [y_i == yhat_i]
def accuracy(y_true, y_pred):
    y_true, y_pred = _label_vectors(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def precision_recall_f1(y_true, y_pred, average="binary", pos_label=1):
    """(precision, recall, f1) as scikit-learn's precision_recall_fscore_support.

    average="binary": scores of the class `pos_label` (at most two classes allowed).
    average="macro":  unweighted mean over the classes seen in y_true or y_pred of the
                      per-class P, R and F1 (macro-F1 is the mean of per-class F1s).
    average="micro":  counts pooled over classes; for single-label data P = R = F1 = accuracy.
    A 0/0 ratio (e.g. no positive predictions) is 0.0.
    """
    y_true, y_pred = _label_vectors(y_true, y_pred)
    check_choice("average", average, {"binary", "macro", "micro"})
    labels = np.unique(np.concatenate([y_true, y_pred])).tolist()
    if average == "binary":
        if len(labels) > 2:
            raise ValueError(
                f"average='binary' needs at most two classes, got {len(labels)} ({labels}); "
                f"use average='macro' or 'micro'")
        if len(labels) == 2 and pos_label not in labels:
            raise ValueError(f"pos_label must be one of the labels {labels}, got {pos_label!r}")
        tp = np.sum((y_pred == pos_label) & (y_true == pos_label))
        fp = np.sum((y_pred == pos_label) & (y_true != pos_label))
        fn = np.sum((y_pred != pos_label) & (y_true == pos_label))
        return prf_from_counts(tp, fp, fn)
    if average == "micro":
        # Summed over classes: every prediction is one TP (if right) or one FP + one FN (if wrong).
        correct = np.sum(y_true == y_pred)
        wrong = len(y_true) - correct
        return prf_from_counts(correct, wrong, wrong)
    # macro: P_macro = (1/K) sum_k P_k, and likewise R and F1
    per_class = np.array([
        prf_from_counts(np.sum((y_pred == c) & (y_true == c)),
                         np.sum((y_pred == c) & (y_true != c)),
                         np.sum((y_pred != c) & (y_true == c)))
        for c in labels])                                            # (K, 3)
    precision, recall, f1 = per_class.mean(axis=0)
    return float(precision), float(recall), float(f1)


# M[i, j] = #{ n : y_n = labels[i] and yhat_n = labels[j] }    rows = true, columns = predicted
def confusion_matrix(y_true, y_pred, labels=None):
    """Square int64 matrix over `labels` (default: sorted union of both sequences).

    Pairs whose true or predicted label is not in `labels` are left out, as in scikit-learn.
    """
    y_true, y_pred = _label_vectors(y_true, y_pred)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    labels = np.asarray(labels).tolist()
    if not isinstance(labels, list) or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must not repeat a label, got {labels}")
    index = {label: i for i, label in enumerate(labels)}
    M = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t in index and p in index:
            M[index[t], index[p]] += 1
    return M


# ----------------------------------------------------------------------------
# Perplexity
# ----------------------------------------------------------------------------

# PPL = exp( -(1/N) sum_t ln p(w_t | w_<t) ) = exp(mean negative log-likelihood), natural logs
def perplexity(mean_nll=None, *, log_probs=None):
    """Perplexity from the mean negative log-likelihood per token in nats (the usual LM loss),
    or, with log_probs=..., from each token's ln p (see perplexity_from_log_probs)."""
    if (mean_nll is None) == (log_probs is None):
        raise TypeError("perplexity needs exactly one of mean_nll (a number) or log_probs (an array), "
                        f"got mean_nll={mean_nll!r} and log_probs={'None' if log_probs is None else '...'}")
    if log_probs is not None:
        return perplexity_from_log_probs(log_probs)
    if isinstance(mean_nll, np.ndarray) and mean_nll.ndim == 0:
        mean_nll = mean_nll.item()
    if isinstance(mean_nll, bool) or not isinstance(mean_nll, (int, float, np.integer, np.floating)):
        raise TypeError(f"mean_nll must be a number (mean loss in nats), got {mean_nll!r}")
    if math.isnan(mean_nll) or mean_nll < 0:
        raise ValueError(f"mean_nll must be a number >= 0 (a mean of -ln p), got {mean_nll}")
    with np.errstate(over="ignore"):
        return float(np.exp(mean_nll))                     # exp overflows to inf past ~709 nats


def perplexity_from_log_probs(log_probs):
    """Perplexity from the natural-log probabilities ln p(w_t | w_<t) of each predicted token."""
    log_probs = np.asarray(log_probs, dtype=np.float64).ravel()          # (N,)
    if log_probs.size == 0:
        raise ValueError("log_probs must hold at least one log-probability, got an empty sequence")
    if np.any(np.isnan(log_probs)) or np.any(log_probs > 0):
        raise ValueError(f"log_probs must be natural logs of probabilities (<= 0), got max {log_probs.max()}")
    return perplexity(float(-np.mean(log_probs)))


# ----------------------------------------------------------------------------
# Entity-level scores for BIO / IOB2 tags (conlleval and seqeval's default mode)
# ----------------------------------------------------------------------------

def _split_tag(tag, position):
    if tag == "O":
        return "O", None
    if not isinstance(tag, str) or len(tag) < 3 or tag[:2] not in ("B-", "I-"):
        raise ValueError(f"tags[{position}] must be 'O', 'B-<type>' or 'I-<type>', got {tag!r}")
    return tag[0], tag[2:]


def extract_spans(tags):
    """Entities of one tag sequence as a set of (type, start, end), `end` INCLUSIVE.

    The span covers tokens start..end, i.e. words[start:end + 1]; tuple order and the
    inclusive end are seqeval's get_entities convention.  Rules (conlleval / seqeval default):
      an entity starts at B-X, or at I-X when the previous token is O or of another type;
      it ends before the next B-*, O or token of another type.
    So an ill-formed "O I-PER I-PER" is one PER entity, and "B-PER I-LOC" is two entities.
    """
    if isinstance(tags, str):
        raise TypeError(f"tags must be a sequence of tag strings, got the string {tags!r}")
    spans = set()
    current_type, start = None, None
    for i, tag in enumerate(list(tags) + ["O"]):              # a final O closes the last entity
        prefix, entity_type = _split_tag(tag, i)
        if current_type is not None and (prefix != "I" or entity_type != current_type):
            spans.add((current_type, start, i - 1))
            current_type = None
        if prefix == "B" or (prefix == "I" and current_type is None):
            current_type, start = entity_type, i
    return spans


def entity_precision_recall_f1(true_tag_seqs, pred_tag_seqs):
    """Micro-averaged entity (P, R, F1): an entity counts only if type, start and end all match.

    Takes lists of sentences (each a list of tags); a single flat list of tags is one sentence.
    P = correct / predicted entities, R = correct / true entities; 0/0 gives 0.0.
    """
    if len(true_tag_seqs) > 0 and isinstance(true_tag_seqs[0], str):
        true_tag_seqs = [true_tag_seqs]
    if len(pred_tag_seqs) > 0 and isinstance(pred_tag_seqs[0], str):
        pred_tag_seqs = [pred_tag_seqs]
    if len(true_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"true_tag_seqs and pred_tag_seqs must hold the same number of sentences, "
                         f"got {len(true_tag_seqs)} and {len(pred_tag_seqs)}")
    true_spans, pred_spans = set(), set()
    for s, (true_tags, pred_tags) in enumerate(zip(true_tag_seqs, pred_tag_seqs)):
        if len(true_tags) != len(pred_tags):
            raise ValueError(f"sentence {s}: true and predicted tag sequences must have the same "
                             f"length, got {len(true_tags)} and {len(pred_tags)}")
        true_spans |= {(s,) + span for span in extract_spans(true_tags)}
        pred_spans |= {(s,) + span for span in extract_spans(pred_tags)}
    correct = len(true_spans & pred_spans)
    return prf_from_counts(correct, len(pred_spans) - correct, len(true_spans) - correct)


# ----------------------------------------------------------------------------
# BLEU (Papineni et al. 2002) with sacrebleu's defaults
# ----------------------------------------------------------------------------

# mteval-v13a.pl's tokenisation, language-dependent part (Western languages):
#   1. pad every one of these ASCII symbols with spaces:
#        space ! " # $ % &   ( ) * +   : ; < = > ? @   [ \ ] ^ _ `   { | } ~   /
#      (not the apostrophe, the hyphen, the period or the comma);
#   2. split a period or comma from a preceding non-digit;
#   3. split a period or comma from a following non-digit;
#   4. split a hyphen that follows a digit.
# Periods and commas inside numbers (3.14, 1,000) therefore stay in place.
_PUNCTUATION = re.compile(r'([ -&(-+:-@\[-`{-~/])')
_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r'([^0-9])([.,])')
_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r'([.,])([^0-9])')
_HYPHEN_AFTER_DIGIT = re.compile(r'([0-9])(-)')


def tokenize_13a(line):
    """Tokens of `line` by mteval-v13a's rules (as sacrebleu's default tokenize="13a")."""
    # language-independent part: drop <skipped> tags, join hyphenated line breaks, unescape SGML
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    line = _PUNCTUATION.sub(r" \1 ", line)
    line = _PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
    line = _PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    line = _HYPHEN_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return line.split()


def _ngram_counts(tokens, max_n):
    """Counter of every n-gram (as a tuple), n = 1..max_n."""
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_n + 1)
                   for i in range(len(tokens) - n + 1))


def _is_seq(x):
    return isinstance(x, (list, tuple))


def _references_per_hypothesis(references, n_hyp, ref_streams):
    """Normalise `references` to one list of reference strings per hypothesis."""
    if not _is_seq(references):
        raise TypeError(f"references must be a list, got {type(references).__name__}")
    if ref_streams is None:                 # decide: per-hypothesis form wins when it fits
        ref_streams = not (len(references) == n_hyp and
                           (all(_is_seq(r) for r in references) or
                            all(isinstance(r, str) for r in references)))
    if ref_streams:
        for k, stream in enumerate(references):
            if not _is_seq(stream) or len(stream) != n_hyp:
                got = f"length {len(stream)}" if _is_seq(stream) else type(stream).__name__
                raise ValueError(f"references[{k}] must be a reference stream with one string per "
                                 f"hypothesis ({n_hyp}), got {got}")
        if len(references) == 0:
            raise ValueError("references must hold at least one reference stream, got none")
        per_hyp = [[stream[i] for stream in references] for i in range(n_hyp)]
    else:
        if len(references) != n_hyp:
            raise ValueError(f"references must hold one entry per hypothesis ({n_hyp}), "
                             f"got {len(references)}")
        per_hyp = [[r] if isinstance(r, str) else r for r in references]
    for i, refs in enumerate(per_hyp):
        if not _is_seq(refs) or len(refs) == 0:
            raise ValueError(f"references for hypothesis {i} must be a non-empty list of strings, got {refs!r}")
        for r in refs:
            if r is not None and not isinstance(r, str):
                raise TypeError(f"references for hypothesis {i} must be strings, got {type(r).__name__}")
    return per_hyp


def bleu_details(hypotheses, references, *, ref_streams=None, lowercase=False, tokenize="13a",
                 smooth_method="exp", smooth_value=None, max_ngram_order=4, effective_order=False):
    """Corpus BLEU with its statistics, as a dict.  See `bleu` for the arguments.

    Keys: score (0..100), precisions (list, in %), counts (matched n-grams per order),
    totals (hypothesis n-grams per order), bp, sys_len, ref_len, ratio.
    """
    if isinstance(hypotheses, str) or not _is_seq(hypotheses):
        raise TypeError(f"hypotheses must be a list of strings, got {type(hypotheses).__name__}")
    if len(hypotheses) == 0:
        raise ValueError("hypotheses must hold at least one sentence, got an empty list")
    for i, h in enumerate(hypotheses):
        if not isinstance(h, str):
            raise TypeError(f"hypotheses[{i}] must be a string, got {type(h).__name__}")
    check_choice("tokenize", tokenize, {"13a", "none"})
    check_choice("smooth_method", smooth_method, {"exp", "none", "floor", "add-k"})
    check_int("max_ngram_order", max_ngram_order, low=1)
    per_hyp = _references_per_hypothesis(references, len(hypotheses), ref_streams)
    N = max_ngram_order

    def tokens(text):
        text = text.lower() if lowercase else text
        text = text.rstrip()                                  # sacrebleu strips trailing whitespace first
        return tokenize_13a(text) if tokenize == "13a" else text.split()

    correct, total = [0] * N, [0] * N
    sys_len = ref_len = 0
    for i, (hyp, refs) in enumerate(zip(hypotheses, per_hyp)):
        # A None reference is missing (a variable number of references per sentence);
        # "" is a real reference of length 0, as in sacrebleu 2.x.
        ref_tokens = [tokens(r) for r in refs if r is not None]
        if not ref_tokens:
            raise ValueError(f"references for hypothesis {i} must hold at least one string, got only None")
        hyp_tokens = tokens(hyp)
        # clip: an n-gram is matched at most as often as it appears in any single reference
        max_ref_counts = Counter()
        for rt in ref_tokens:
            max_ref_counts |= _ngram_counts(rt, N)            # |= keeps the maximum count
        for ngram, count in _ngram_counts(hyp_tokens, N).items():
            total[len(ngram) - 1] += count
            correct[len(ngram) - 1] += min(count, max_ref_counts[ngram])
        # r: the reference length closest to the hypothesis length, the shorter one on ties
        c = len(hyp_tokens)
        sys_len += c
        ref_len += min((abs(len(rt) - c), len(rt)) for rt in ref_tokens)[1]
    return bleu_from_counts(correct, total, sys_len, ref_len, smooth_method, smooth_value,
                             effective_order)


# BP = 1 if c >= r else exp(1 - r/c)              c = sys_len, r = ref_len (summed over sentences)
# p_n = 100 * matched_n / total_n;  "exp" smoothing: the k-th order with matched_n = 0 gets
#       p_n = 100 / (2^k * total_n)               (mteval-v13a's NIST smoothing)
# BLEU = BP * exp( (1/N) sum_n ln p_n )           in 0..100
def bleu_from_counts(correct, total, sys_len, ref_len, smooth_method="exp", smooth_value=None,
                      effective_order=False):
    """BLEU from its sufficient statistics (sacrebleu's compute_bleu), as the bleu_details dict.

    correct[n-1] / total[n-1]: clipped matches / hypothesis n-grams of order n, summed over the
    corpus; sys_len, ref_len: summed hypothesis and closest-reference lengths.
    """
    check_choice("smooth_method", smooth_method, {"exp", "none", "floor", "add-k"})
    if len(correct) != len(total) or len(correct) == 0:
        raise ValueError(f"correct and total must be non-empty lists of the same length (one entry "
                         f"per n-gram order), got lengths {len(correct)} and {len(total)}")
    N = len(correct)
    correct, total = list(correct), list(total)
    if smooth_value is None:
        smooth_value = {"floor": 0.1, "add-k": 1}.get(smooth_method)
    ### BEGIN SOLUTION
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    else:
        bp = 1.0
    precisions = [0.0] * N
    details = dict(precisions=precisions, counts=correct, totals=total, bp=bp,
                   sys_len=sys_len, ref_len=ref_len, ratio=sys_len / ref_len if ref_len else 0.0)
    if not any(correct):                                  # nothing matched at all: BLEU = 0
        return dict(score=0.0, **details)
    k = 0                                                 # how many orders had no match so far
    orders_used = N
    for n in range(1, N + 1):
        if smooth_method == "add-k" and n > 1:
            correct[n - 1] += smooth_value
            total[n - 1] += smooth_value
        if total[n - 1] == 0:                             # hypothesis too short for n-grams: p_n = 0
            break
        if effective_order:
            orders_used = n
        if correct[n - 1] == 0 and smooth_method == "exp":
            k += 1
            precisions[n - 1] = 100.0 / (2 ** k * total[n - 1])
        elif correct[n - 1] == 0 and smooth_method == "floor":
            precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    if any(p == 0.0 for p in precisions[:orders_used]):   # ln 0 = -inf: the geometric mean is 0
        return dict(score=0.0, **details)
    score = bp * math.exp(sum(math.log(p) for p in precisions[:orders_used]) / orders_used)
    return dict(score=score, **details)
    ### END SOLUTION


def bleu(hypotheses, references, *, ref_streams=None, lowercase=False, tokenize="13a",
         smooth_method="exp", smooth_value=None, max_ngram_order=4, effective_order=False,
         return_details=False):
    """Corpus BLEU in 0..100, equal to sacrebleu.corpus_bleu(hypotheses, streams).score.

    references, primary form: one entry per hypothesis, `references[i]` = the list of
        reference strings of hypothesis i (a bare string means a single reference).
    references, sacrebleu's form: a list of reference streams, each holding one string per
        hypothesis.  Pass ref_streams=True to force this reading.  Without it (None), the
        per-hypothesis form is chosen whenever len(references) == len(hypotheses) and every
        entry is a list/tuple (or every entry is a string); otherwise streams are assumed.
        ref_streams=False forces the per-hypothesis form.
    A None reference is skipped (a variable number of references per sentence); an empty
    string is an empty reference (length 0, matches nothing), as in sacrebleu 2.x.

    Defaults are sacrebleu's: 13a tokenisation (tokenize="none" only splits on whitespace),
    case-sensitive (lowercase=False), max_ngram_order=4, smooth_method="exp" ("none", "floor"
    and "add-k" with smooth_value are also accepted), effective_order=False.
    Edge cases: empty hypotheses score 0.0 (BP = 0 when all are empty); a hypothesis longer
    than every reference has BP = 1; no hypotheses raise ValueError.  return_details=True returns (score, bleu_details dict).
    """
    details = bleu_details(hypotheses, references, ref_streams=ref_streams, lowercase=lowercase,
                           tokenize=tokenize, smooth_method=smooth_method, smooth_value=smooth_value,
                           max_ngram_order=max_ngram_order, effective_order=effective_order)
    return (details["score"], details) if return_details else details["score"]
