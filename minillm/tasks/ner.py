"""Named-entity recognition as token classification (the article's §6 applications, §7.2 CoNLL-2003).

    CoNLL file        words and IOB2 tags:  Amara/B-PER Okafor/I-PER joined/O Veltra/B-ORG
    align_labels      word pieces; each word's tag on its FIRST piece, -100 on the rest,
                      on [CLS], [SEP] and padding (cross-entropy skips -100)
    BERT              BertForTokenClassification: logits (B, T, K) over the K tags
    word_tags         each word's tag = argmax of the logits at its first piece
    entity_scores     entities (type, start, end) from the tags; precision, recall, F1 with
                      exact span matching (conlleval's rule), overall and per type

Two baselines show what the encoder has to beat: "all O" (the majority tag, entity F1 = 0)
and a dictionary (each word gets the tag it had most often in training: memory, no context).

    minillm ner --train data/ner_train.conll --test data/ner_test.conll

Every random choice comes from one seed.  Walked through in notebooks/13_ner.ipynb.
"""
import time
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from minillm.checks import check_int
from minillm.datasets import read_conll
from minillm.metrics import confusion_matrix, entity_precision_recall_f1, extract_spans, prf_from_counts
from minillm.models.bert import IGNORE_INDEX, BertConfig, BertForTokenClassification
from minillm.tasks.classification import bert_train_config, prefixed
from minillm.tokenizers import WordPieceTokenizer
from minillm.tokenizers.wordpiece import build_vocab
from minillm.train import ShuffledRows, Trainer, trim_padding


# ---------------------------------------------------------------------------- tags

def _tag_error(tag):
    """None if `tag` is "O", "B-<type>" or "I-<type>"; else what is wrong with it."""
    if tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-")):
        return None
    return f"tag {tag!r} must be 'O', 'B-<type>' or 'I-<type>' (IOB tags)"


# IOB1 (CoNLL-2003's own files): I-X inside every entity; B-X only opens an entity that directly
# follows another entity of the same type.  IOB2: B-X opens every entity.
#   I-X at the start, after O, or after a tag of another type  ->  B-X;  everything else unchanged
def iob1_to_iob2(tags):
    """IOB1 (or IOB2) tags -> IOB2; the entities, as extract_spans reads them, stay the same."""
    out = []
    for i, tag in enumerate(tags):
        previous = out[i - 1] if i > 0 else "O"
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def read_ner_file(path, word_column=0, tag_column=-1):
    """(words, IOB2 tags) per sentence of a CoNLL file; a tag that is not IOB is named with its place."""
    sentences = read_conll(path, word_column=word_column, tag_column=tag_column)
    for s, (words, tags) in enumerate(sentences, start=1):
        for i, (word, tag) in enumerate(zip(words, tags), start=1):
            problem = _tag_error(tag)
            if problem:
                raise ValueError(f"{path}: sentence {s}, word {i} ({word!r}): {problem}")
    return [(words, iob1_to_iob2(tags)) for words, tags in sentences]


def label_list(sentences):
    """The classifier's K outputs: "O", then B-X and I-X for every entity type X seen (sorted)."""
    types = sorted({tag[2:] for _, tags in sentences for tag in tags if tag != "O"})
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


def check_known_tags(sentences, label2id, what):
    """Refuse tags the classifier has no output for, naming them and where the first one is."""
    unknown = {}
    for s, (_, tags) in enumerate(sentences, start=1):
        for tag in tags:
            if tag not in label2id:
                unknown.setdefault(tag, s)
    if unknown:
        where = ", ".join(f"{tag!r} (first in sentence {s})" for tag, s in sorted(unknown.items()))
        raise ValueError(f"{what} has tags the model was not trained on: {where}; "
                         f"known tags: {sorted(label2id, key=label2id.get)}")


# ---------------------------------------------------------------------------- tokenizer

def make_tokenizer(texts, *, min_count=2, max_words=2000):
    """A CASED WordPieceTokenizer over tokenizers.wordpiece.build_vocab(texts, lowercase=False, ...).

    Case is evidence for NER ("Lima" vs "lima"), as in bert-base-cased; a rare word, such as most
    names, is spelled in characters: "Okafor" -> O ##k ##a ##f ##o ##r, in training and test alike.
    """
    vocab = build_vocab(texts, lowercase=False, max_words=max_words, min_count=min_count)
    return WordPieceTokenizer(vocab, do_lower_case=False)


# ---------------------------------------------------------------------------- alignment

def align_labels(words, tags, tokenizer, label2id, max_length):
    """One sentence -> BERT's inputs, each word's tag on its first piece.

        words      Amara   Okafor                    joined
        tokens     [CLS]   Amara   O  ##k ##a ... ##r  joined  [SEP]  [PAD] ...
        labels     -100    B-PER   I-PER -100 ...     O       -100   -100
        word_ids   -1      0       1   1  ...   1     2       -1     -1

    Returns int64 arrays of length max_length: input_ids, attention_mask (1 = real token),
    labels (label2id of the tag on first pieces, -100 elsewhere), word_ids (which word a piece
    belongs to; -1 on [CLS], [SEP] and [PAD]).  With tags=None every label is -100 (prediction).
    Truncation, as a Hugging Face tokenizer does it: pieces past max_length - 2 are cut, so a
    word may lose its later pieces (it keeps its label) or vanish (no label, no prediction).
    """
    check_int("max_length", max_length, low=3)
    if tags is not None and len(tags) != len(words):
        raise ValueError(f"tags must have one tag per word ({len(words)}), got {len(tags)}")
    ids, labels, word_ids = [tokenizer.cls_id], [IGNORE_INDEX], [-1]
    for w, word in enumerate(words):
        # a word with no pieces at all (e.g. only a control character) still takes one position
        pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) or [tokenizer.unk_id]
        first = IGNORE_INDEX if tags is None else label2id[tags[w]]
        ids += pieces
        labels += [first] + [IGNORE_INDEX] * (len(pieces) - 1)
        word_ids += [w] * len(pieces)
    n = min(len(ids), max_length - 1)                     # keep room for [SEP]
    ids, labels, word_ids = ids[:n] + [tokenizer.sep_id], labels[:n] + [IGNORE_INDEX], word_ids[:n] + [-1]
    pad = max_length - len(ids)
    return {"input_ids": np.array(ids + [tokenizer.pad_id] * pad, dtype=np.int64),
            "attention_mask": np.array([1] * len(ids) + [0] * pad, dtype=np.int64),
            "labels": np.array(labels + [IGNORE_INDEX] * pad, dtype=np.int64),
            "word_ids": np.array(word_ids + [-1] * pad, dtype=np.int64)}


def encode_sentences(sentences, tokenizer, label2id, max_length):
    """align_labels for every (words, tags) -> the same four keys as (N, max_length) arrays."""
    rows = [align_labels(words, tags, tokenizer, label2id, max_length) for words, tags in sentences]
    return {key: np.stack([r[key] for r in rows]) for key in rows[0]}


# tag(word w) = id2label[ argmax_k logits[t_w, k] ],   t_w = position of the first piece of w
def word_tags(piece_ids, word_ids, n_words, id2label):
    """Per-piece predicted label ids (T,) -> one tag per word, read at each word's first piece.

    Later pieces' predictions are ignored (they were never trained); a word cut off by
    truncation gets "O".
    """
    tags = ["O"] * n_words
    done = set()
    for t, w in enumerate(np.asarray(word_ids).tolist()):
        if w >= 0 and w not in done:
            tags[w] = id2label[int(piece_ids[t])]
            done.add(w)
    return tags


# ---------------------------------------------------------------------------- training and prediction

def _trim(batch):
    """A dict batch cut to its longest real row (train.trim_padding on every array)."""
    return dict(zip(batch, trim_padding(*batch.values(), used=batch["attention_mask"] > 0)))


def train_token_classifier(model, enc, *, steps, batch_size=16, lr=3e-3, warmup=0.1, weight_decay=0.01, seed=0,
                           log=None, log_every=50):
    """AdamW on the mean cross-entropy over first pieces (enc from encode_sentences).  -> losses.

    minillm.train.Trainer with BERT's recipe (tasks.classification.bert_train_config); one
    Generator, default_rng(seed), shuffles each epoch and draws the dropout.
    """
    check_int("steps", steps, low=1)
    cfg = bert_train_config(steps=steps, batch_size=batch_size, lr=lr, min_lr=0.0, warmup=warmup,
                            weight_decay=weight_decay, log_every=log_every)
    batches = ShuffledRows((enc["input_ids"], enc["labels"], enc["attention_mask"]), enc["attention_mask"] > 0,
                           batch_size)
    trainer = Trainer(model, batches, cfg=cfg, rng=np.random.default_rng(seed), progress=False,
                      log=prefixed(log, "  "))
    return trainer.run()["train_loss"]


def predict_tags(model, tokenizer, word_lists, id2label, max_length, batch_size=64):
    """One list of tags per sentence (first-piece rule), dropout off."""
    enc = encode_sentences([(words, None) for words in word_lists], tokenizer, None, max_length)
    out = []
    for start in range(0, len(word_lists), batch_size):
        batch = _trim({k: v[start:start + batch_size] for k, v in enc.items()})
        piece_ids = model.forward(batch["input_ids"], None, batch["attention_mask"])[0].argmax(-1)   # (B, T)
        for row, words in enumerate(word_lists[start:start + batch_size]):
            out.append(word_tags(piece_ids[row], batch["word_ids"][row], len(words), id2label))
    return out


class DictionaryTagger:
    """Baseline: every word gets the tag it had most often in training (ties: the earlier in
    sorted order); a word never seen gets "O".  Pure memory: no context, nothing for new names."""

    def fit(self, sentences):
        counts = {}
        for words, tags in sentences:
            for word, tag in zip(words, tags):
                counts.setdefault(word, Counter())[tag] += 1
        self.tag_of = {w: min(c, key=lambda tag: (-c[tag], tag)) for w, c in counts.items()}
        return self

    def predict(self, word_lists):
        return [[self.tag_of.get(w, "O") for w in words] for words in word_lists]


# ---------------------------------------------------------------------------- evaluation

def entity_scores(true_seqs, pred_seqs):
    """Entity-level precision/recall/F1 (exact type, start and end), overall and per type, and the
    token accuracy for comparison.  true_seqs, pred_seqs: one list of tags per sentence."""
    p, r, f1 = entity_precision_recall_f1(true_seqs, pred_seqs)
    true_spans = {(s,) + span for s, tags in enumerate(true_seqs) for span in extract_spans(tags)}
    pred_spans = {(s,) + span for s, tags in enumerate(pred_seqs) for span in extract_spans(tags)}
    per_type = {}
    for t in sorted({span[1] for span in true_spans | pred_spans}):
        true_t = {span for span in true_spans if span[1] == t}
        pred_t = {span for span in pred_spans if span[1] == t}
        correct = len(true_t & pred_t)
        pt, rt, ft = prf_from_counts(correct, len(pred_t) - correct, len(true_t) - correct)
        per_type[t] = {"precision": pt, "recall": rt, "f1": ft, "support": len(true_t)}
    flat_true = [tag for tags in true_seqs for tag in tags]
    flat_pred = [tag for tags in pred_seqs for tag in tags]
    token_accuracy = sum(a == b for a, b in zip(flat_true, flat_pred)) / len(flat_true) if flat_true else 0.0
    return {"precision": p, "recall": r, "f1": f1, "token_accuracy": token_accuracy,
            "n_true": len(true_spans), "n_pred": len(pred_spans), "n_correct": len(true_spans & pred_spans),
            "per_type": per_type}


def tag_confusion(true_seqs, pred_seqs, labels):
    """Word-level confusion matrix over the tags (rows = true tag, columns = predicted)."""
    return confusion_matrix([t for tags in true_seqs for t in tags], [t for tags in pred_seqs for t in tags],
                            labels=list(labels))


# ---------------------------------------------------------------------------- the whole task

@dataclass
class NerConfig:
    """Sizes and steps; the defaults train in well under a minute on 2 CPU cores."""

    hidden_size: int = 64
    num_hidden_layers: int = 1
    num_attention_heads: int = 4
    intermediate_size: int = 128
    max_length: int = 48
    dropout: float = 0.1
    hidden_act: str = "gelu_new"    # tanh GELU (on the NumPy backend the exact erf one cost ~40% of a step here)
    min_count: int = 2
    steps: int = 600
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    backend: str = "numba"   # the kernels; "numpy" runs the readable layers (the same results within float32 rounding)


def run_ner(train_path, test_path, cfg=None, *, log=print):
    """Train on one CoNLL file, test on another; -> dict of per-system scores, predictions, settings."""
    cfg = cfg or NerConfig()
    log = log or (lambda *_: None)
    train = read_ner_file(train_path)
    test = read_ner_file(test_path)
    labels = label_list(train)
    label2id = {tag: i for i, tag in enumerate(labels)}
    check_known_tags(test, label2id, f"test file {test_path}")
    tokenizer = make_tokenizer([" ".join(words) for words, _ in train], min_count=cfg.min_count)   # training text only
    enc = encode_sentences(train, tokenizer, label2id, cfg.max_length)
    bert_cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=cfg.hidden_size,
                          num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
                          intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.max_length,
                          hidden_dropout_prob=cfg.dropout, hidden_act=cfg.hidden_act, backend=cfg.backend)
    model = BertForTokenClassification(bert_cfg, seed=cfg.seed, num_labels=len(labels))
    log(f"data: {len(train)} train / {len(test)} test sentences, tags {labels}; vocabulary "
        f"{tokenizer.vocab_size} pieces; BERT {cfg.num_hidden_layers} layer(s) x {cfg.hidden_size}, "
        f"{model.n_params:,} parameters")
    t0 = time.perf_counter()
    losses = train_token_classifier(model, enc, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                    seed=cfg.seed, log=log)
    seconds = time.perf_counter() - t0
    test_words, test_tags = [w for w, _ in test], [t for _, t in test]
    word_ids = encode_sentences(test, tokenizer, label2id, cfg.max_length)["word_ids"]
    cut = sum(len(words) - len(set(ids[ids >= 0].tolist())) for words, ids in zip(test_words, word_ids))
    if cut:
        log(f"note: {cut} test words lie beyond max_length = {cfg.max_length} pieces: cut off, tagged O")
    majority = Counter(t for _, tags in train for t in tags).most_common(1)[0][0]
    predictions = {
        f"majority tag ({majority})": [[majority] * len(w) for w in test_words],
        "dictionary": DictionaryTagger().fit(train).predict(test_words),
        "BERT token classifier": predict_tags(model, tokenizer, test_words, labels, cfg.max_length),
    }
    return {"results": {name: entity_scores(test_tags, pred) for name, pred in predictions.items()},
            "predictions": predictions["BERT token classifier"], "labels": labels, "losses": losses,
            "train_seconds": seconds, "settings": asdict(cfg), "vocab_size": tokenizer.vocab_size, "words_cut": cut,
            "n_train": len(train), "n_test": len(test), "model": model, "tokenizer": tokenizer}


def format_table(results):
    types = sorted({t for r in results.values() for t in r["per_type"]})
    head = f"{'system':24s} {'P':>6s} {'R':>6s} {'F1':>6s} {'tok acc':>8s}   " + " ".join(f"{t:>5s}" for t in types)
    lines = [head + "   (per-type F1)"]
    for name, r in results.items():
        per = " ".join(f"{r['per_type'].get(t, {'f1': 0.0})['f1']:5.2f}" for t in types)
        lines.append(f"{name:24s} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
                     f"{r['token_accuracy']:8.3f}   {per}")
    return "\n".join(lines)


def conll_predictions_text(sentences, pred_seqs):
    """conlleval's input: "word gold predicted" per line, a blank line after each sentence."""
    return "".join("".join(f"{w} {g} {p}\n" for w, g, p in zip(words, tags, pred)) + "\n"
                   for (words, tags), pred in zip(sentences, pred_seqs))
