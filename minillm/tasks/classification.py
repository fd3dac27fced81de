"""Fine-tuning BERT for the article's case 1 (§4.3): news (1) vs blog (0).

    1. tokenizer   a small WordPiece vocabulary built from the text at hand (tokenizers.wordpiece.build_vocab)
    2. pre-train   BERT with masked-language modelling on data/corpus_en.txt + corpus_zh.txt
    3. fine-tune   BertForSequenceClassification on the labelled training TSV
    4. evaluate    accuracy, precision, recall, F1 and the confusion matrix on the test TSV
and the two comparisons the class needs to judge step 2: the same BERT fine-tuned from random
weights (no pre-training), and a bag-of-words logistic regression built from minillm.layers.

    minillm finetune --train data/news_blog_train.tsv --test data/news_blog_test.tsv

Every random choice comes from one seed; every model learns through minillm.train.Trainer (its
batches: MaskedRows for MLM, train.ShuffledRows for fine-tuning, train.FullBatch for the baseline).
Walked through in notebooks/12_bert_classification.ipynb.
"""
import time
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from minillm.datasets import CORPUS_FILES, read_glue_tsv
from minillm.layers import (
    cross_entropy_backward, cross_entropy_forward, linear_backward, linear_forward, softmax_forward,
)
from minillm.metrics import accuracy, confusion_matrix, precision_recall_f1
from minillm.models.bert import (
    IGNORE_INDEX, BertConfig, BertForMaskedLM, BertForSequenceClassification, mask_tokens,
)
from minillm.tokenizers import WordPieceTokenizer
from minillm.tokenizers.wordpiece import basic_tokenize, build_vocab
from minillm.train import BatchSource, FullBatch, ShuffledRows, TrainConfig, Trainer, trim_padding

CORPORA = CORPUS_FILES  # data/corpus_en.txt, data/corpus_zh.txt
LABEL_NAMES = ("blog (0)", "news (1)")


# ---------------------------------------------------------------------------- 1. tokenizer

def read_corpora(paths=CORPORA):
    """The shipped corpus as a list of paragraphs (blank-line separated)."""
    paragraphs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            paragraphs += [p.strip() for p in f.read().split("\n\n") if p.strip()]
    return paragraphs


def read_classification_tsv(path):
    """(sentences, labels) of a GLUE-style TSV with columns "sentence" and "label" (0 = blog, 1 = news)."""
    columns = read_glue_tsv(path, label_column="label", text_columns=["sentence"])
    texts, labels = columns["sentence"], np.array(columns["label"], dtype=np.int64)
    if len(texts) == 0:
        raise ValueError(f"{path} has a header but no rows")
    bad = sorted(set(labels.tolist()) - {0, 1})
    if bad:
        raise ValueError(f"{path}: labels must be 0 (blog) or 1 (news), got {bad}")
    return texts, labels


# ---------------------------------------------------------------------------- 2. MLM pre-training

def mlm_windows(tokenizer, paragraphs, max_length):
    """Each paragraph's tokens cut into windows of max_length - 2, as [CLS] window [SEP], padded.

    -> input_ids (N, max_length), attention_mask (N, max_length)
    """
    rows = []
    for text in paragraphs:
        ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
        for start in range(0, len(ids), max_length - 2):
            piece = ids[start:start + max_length - 2]
            if len(piece) >= 4:
                rows.append([tokenizer.cls_id] + piece + [tokenizer.sep_id])
    input_ids = np.full((len(rows), max_length), tokenizer.pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), max_length), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, :len(row)] = row
        attention_mask[i, :len(row)] = 1
    return input_ids, attention_mask


def bert_train_config(*, steps, batch_size, lr, min_lr, warmup, weight_decay, log_every=100):
    """BERT's recipe for minillm.train: AdamW betas (0.9, 0.999), eps 1e-6, no decay on biases,
    LayerNorm gains or betas (AdamW skips the 1-D arrays), clip at 1, warmup over a fraction of
    the steps, cosine decay to min_lr at the last step."""
    return TrainConfig(batch_size=batch_size, max_iters=steps, lr=lr, min_lr=min_lr,
                       warmup_iters=max(1, int(warmup * steps)), lr_decay_iters=steps, weight_decay=weight_decay,
                       beta1=0.9, beta2=0.999, eps=1e-6, grad_clip=1.0, log_interval=log_every, threads=1)


def prefixed(log, prefix):
    """The Trainer's progress lines, each starting with `prefix` (None: silent)."""
    return None if log is None else (lambda line: log(prefix + line))


class MaskedRows(BatchSource):
    """MLM batches: B random rows (with replacement), padding trimmed, masked by the 80/10/10 rule."""

    options = {"only_labelled": True}    # the MLM head runs only where a label is (the masked positions)

    def __init__(self, tokenizer, input_ids, attention_mask, batch_size):
        self.tokenizer, self.input_ids, self.attention_mask = tokenizer, input_ids, attention_mask
        self.batch_size = batch_size

    def batch(self, rng, split="train"):
        rows = rng.integers(0, len(self.input_ids), size=self.batch_size)
        ids, am = trim_padding(self.input_ids[rows], self.attention_mask[rows], used=self.attention_mask[rows] > 0)
        tok = self.tokenizer
        masked, labels = mask_tokens(ids, rng=rng, mask_id=tok.mask_id, vocab_size=tok.vocab_size,
                                     special_ids=tok.special_ids)
        return masked, labels, am


def pretrain_mlm(model, tokenizer, input_ids, attention_mask, *, steps, batch_size=32, lr=1e-3, warmup=0.1,
                 weight_decay=0.01, seed=0, log=None, log_every=100):
    """MLM pre-training: sample a batch, mask it by the 80/10/10 rule, one AdamW step.  -> losses.

    One Generator, default_rng(seed), draws the rows, the masks and the dropout, in that order.
    """
    cfg = bert_train_config(steps=steps, batch_size=batch_size, lr=lr, min_lr=lr / 10, warmup=warmup,
                            weight_decay=weight_decay, log_every=log_every)
    trainer = Trainer(model, MaskedRows(tokenizer, input_ids, attention_mask, batch_size), cfg=cfg,
                      rng=np.random.default_rng(seed), progress=False, log=prefixed(log, "  MLM "))
    return trainer.run()["train_loss"]


def mlm_eval(model, tokenizer, input_ids, attention_mask, *, seed=0, batch_size=64):
    """(mean loss, accuracy) of predicting the masked tokens, with a fixed masking seed."""
    rng = np.random.default_rng(seed)
    total, n, correct = 0.0, 0, 0
    for start in range(0, len(input_ids), batch_size):
        am = attention_mask[start:start + batch_size]
        ids, am = trim_padding(input_ids[start:start + batch_size], am, used=am > 0)
        masked, labels = mask_tokens(ids, rng=rng, mask_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
                                     special_ids=tokenizer.special_ids)
        logits, loss, _ = model.forward(masked, labels, am, only_labelled=True)     # (N, V)
        targets = labels[labels != IGNORE_INDEX]
        total, n = total + loss * len(targets), n + len(targets)
        correct += int((logits.argmax(-1) == targets).sum())
    return total / max(n, 1), correct / max(n, 1)


# ---------------------------------------------------------------------------- 3. fine-tuning

def finetune_classifier(model, input_ids, attention_mask, labels, *, steps, batch_size=32, lr=5e-4, warmup=0.1,
                        weight_decay=0.01, seed=0, log=None, log_every=100):
    """Fine-tune every weight (encoder and head) on the labelled batches.  -> losses.

    One Generator, default_rng(seed), shuffles each epoch and draws the dropout.
    """
    cfg = bert_train_config(steps=steps, batch_size=batch_size, lr=lr, min_lr=0.0, warmup=warmup,
                            weight_decay=weight_decay, log_every=log_every)
    batches = ShuffledRows((input_ids, labels, attention_mask), attention_mask > 0, batch_size)
    trainer = Trainer(model, batches, cfg=cfg, rng=np.random.default_rng(seed), progress=False,
                      log=prefixed(log, "  fine-tune "))
    return trainer.run()["train_loss"]


def predict(model, input_ids, attention_mask, batch_size=64):
    """Predicted labels (N,) and class probabilities (N, K), dropout off."""
    probs = []
    for start in range(0, len(input_ids), batch_size):
        am = attention_mask[start:start + batch_size]
        ids, am = trim_padding(input_ids[start:start + batch_size], am, used=am > 0)
        logits = model.forward(ids, None, am)[0]                                       # (B, K)
        probs.append(softmax_forward(logits)[0])
    probs = np.concatenate(probs)
    return probs.argmax(-1), probs


# ---------------------------------------------------------------------------- the baseline

class BagOfWordsLogReg:
    """Logistic regression on word counts, from minillm.layers.

        x_w   = log(1 + count of word w in the text)         (N, F)   words as BERT's basic tokenizer cuts them
        logits = x W + b                                      (N, K)   linear_forward
        loss   = cross-entropy(logits, y) + (l2 / 2) ||W||^2          cross_entropy_forward
    With K = 2 classes, softmax over two logits is the logistic sigmoid of their difference.
    """

    def __init__(self, texts, *, num_labels=2, min_count=1, l2=1e-3):
        counts = Counter(w for t in texts for w in basic_tokenize(t))
        self.vocab = {w: i for i, w in enumerate(sorted(w for w, n in counts.items() if n >= min_count))}
        self.l2 = l2
        self.params = {"W": np.zeros((len(self.vocab), num_labels)), "b": np.zeros(num_labels)}

    def features(self, texts):
        X = np.zeros((len(texts), len(self.vocab)))
        for i, text in enumerate(texts):
            for w in basic_tokenize(text):
                if w in self.vocab:
                    X[i, self.vocab[w]] += 1
        return np.log1p(X)

    def forward(self, X, y=None, *, training=False, rng=None):
        """-> logits (N, K), loss (or None without y), cache.  (No dropout: training and rng are unused.)"""
        W, b = self.params["W"], self.params["b"]
        logits, cache_linear = linear_forward(X, W, b)
        if y is None:
            return logits, None, None
        loss, cache_loss = cross_entropy_forward(logits, y)
        # loss += (l2 / 2) ||W||^2
        loss = float(loss) + 0.5 * self.l2 * float(np.sum(W * W))
        return logits, loss, (cache_linear, cache_loss)

    def backward(self, cache, dloss=1.0):
        cache_linear, cache_loss = cache
        dlogits = cross_entropy_backward(dloss, cache_loss)
        _, dW, db = linear_backward(dlogits, cache_linear)
        return {"W": dW + dloss * self.l2 * self.params["W"], "b": db}

    def loss_and_grads(self, X, y):
        _, loss, cache = self.forward(X, y)
        return loss, self.backward(cache)

    def fit(self, texts, labels, *, steps=300, lr=0.1):
        """Adam (no decay, no clipping) at a constant lr on the whole training set every step.  -> losses."""
        cfg = TrainConfig(batch_size=len(texts), max_iters=steps, lr=lr, min_lr=lr, warmup_iters=0,   # min_lr = lr:
                          lr_decay_iters=max(steps, 1), weight_decay=0.0, beta1=0.9, beta2=0.999,  # constant
                          grad_clip=0.0, threads=1)
        trainer = Trainer(self, FullBatch(self.features(texts), labels), cfg=cfg, progress=False)
        return trainer.run()["train_loss"]

    def predict(self, texts):
        logits = linear_forward(self.features(texts), self.params["W"], self.params["b"])[0]
        return logits.argmax(-1)

    def top_words(self, k=10):
        """The words that push most towards news (1) and towards blog (0)."""
        w = self.params["W"][:, 1] - self.params["W"][:, 0]
        words = np.array(sorted(self.vocab, key=self.vocab.get))
        order = np.argsort(w)
        return list(words[order[::-1][:k]]), list(words[order[:k]])


# ---------------------------------------------------------------------------- 4. evaluation

def classification_report(y_true, y_pred):
    """accuracy, precision, recall, F1 of the news class (1), and the confusion matrix (rows = truth)."""
    p, r, f1 = precision_recall_f1(y_true, y_pred, average="binary", pos_label=1)
    return {"accuracy": accuracy(y_true, y_pred), "precision": p, "recall": r, "f1": f1,
            "confusion": confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist()}


# ---------------------------------------------------------------------------- the whole case

@dataclass
class Case1Config:
    """Sizes and steps; the defaults run in a few minutes on 2 CPU cores."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 128
    max_length: int = 64
    dropout: float = 0.1
    max_words: int = 1500
    pretrain_steps: int = 600
    pretrain_batch_size: int = 32
    pretrain_lr: float = 1e-3
    steps: int = 300
    batch_size: int = 32
    lr: float = 5e-4
    bow_steps: int = 300
    bow_lr: float = 0.1
    bow_l2: float = 1e-3
    seed: int = 0
    backend: str = "numba"   # the kernels; "numpy" runs the readable layers (the same results within float32 rounding)


def run_case1(train_path, test_path, cfg=None, *, corpus_paths=CORPORA, log=print):
    """Run all three systems; -> dict with per-system metrics, the settings and timings."""
    cfg = cfg or Case1Config()
    log = log or (lambda *_: None)
    train_texts, y_train = read_classification_tsv(train_path)
    test_texts, y_test = read_classification_tsv(test_path)
    paragraphs = read_corpora(corpus_paths)
    # the vocabulary sees the corpus and the unlabelled training sentences, never the test set
    tokenizer = WordPieceTokenizer(build_vocab(paragraphs + train_texts, lowercase=True, max_words=cfg.max_words))
    bert_cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=cfg.hidden_size,
                          num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
                          intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.max_length,
                          hidden_dropout_prob=cfg.dropout, backend=cfg.backend)
    enc = {}
    for split, texts in (("train", train_texts), ("test", test_texts)):
        e = tokenizer(texts, padding="max_length", truncation=True, max_length=cfg.max_length, return_tensors="np")
        enc[split] = (e["input_ids"], e["attention_mask"])
    log(f"data: {len(train_texts)} train / {len(test_texts)} test sentences; vocabulary {tokenizer.vocab_size} "
        f"WordPiece tokens; BERT {cfg.num_hidden_layers} layers x {cfg.hidden_size} hidden")
    results, timings = {}, {}

    t0 = time.perf_counter()
    bow = BagOfWordsLogReg(train_texts, l2=cfg.bow_l2)
    bow.fit(train_texts, y_train, steps=cfg.bow_steps, lr=cfg.bow_lr)
    results["bag-of-words LR"] = classification_report(y_test, bow.predict(test_texts))
    timings["bag-of-words LR"] = time.perf_counter() - t0
    log(f"bag-of-words logistic regression ({len(bow.vocab)} words): accuracy "
        f"{results['bag-of-words LR']['accuracy']:.3f}")

    pretrain = {}
    systems = [("BERT from scratch", None)]
    if cfg.pretrain_steps > 0:
        t0 = time.perf_counter()
        mlm_ids, mlm_mask = mlm_windows(tokenizer, paragraphs, cfg.max_length)
        val = np.arange(len(mlm_ids)) % 10 == 0              # every 10th window is held out
        mlm = BertForMaskedLM(bert_cfg, seed=cfg.seed)
        before = mlm_eval(mlm, tokenizer, mlm_ids[val], mlm_mask[val])
        log(f"MLM pre-training on {int((~val).sum())} windows of the corpus ({cfg.pretrain_steps} steps)")
        losses = pretrain_mlm(mlm, tokenizer, mlm_ids[~val], mlm_mask[~val], steps=cfg.pretrain_steps,
                              batch_size=cfg.pretrain_batch_size, lr=cfg.pretrain_lr, seed=cfg.seed, log=log)
        after = mlm_eval(mlm, tokenizer, mlm_ids[val], mlm_mask[val])
        timings["MLM pre-training"] = time.perf_counter() - t0
        pretrain = {"windows": int(len(mlm_ids)), "held_out_loss_before": before[0], "held_out_loss_after": after[0],
                    "held_out_accuracy_before": before[1], "held_out_accuracy_after": after[1],
                    "first_loss": losses[0], "last_loss": float(np.mean(losses[-20:]))}
        log(f"  held-out masked-token loss {before[0]:.2f} -> {after[0]:.2f}, accuracy {before[1]:.3f} -> "
            f"{after[1]:.3f}")
        systems.append(("BERT pre-trained (MLM)", mlm.params))
    for name, backbone in systems:
        t0 = time.perf_counter()
        if backbone is None:
            model = BertForSequenceClassification(bert_cfg, seed=cfg.seed + 1)
        else:
            model = BertForSequenceClassification.from_backbone(backbone, bert_cfg, seed=cfg.seed + 1)
        log(f"fine-tuning {name} ({model.n_params:,} parameters, {cfg.steps} steps)")
        finetune_classifier(model, *enc["train"], y_train, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                            seed=cfg.seed, log=log)
        results[name] = classification_report(y_test, predict(model, *enc["test"])[0])
        timings[name] = time.perf_counter() - t0
    return {"results": results, "pretraining": pretrain, "seconds": timings, "settings": asdict(cfg),
            "vocab_size": tokenizer.vocab_size, "n_train": len(train_texts), "n_test": len(test_texts)}


def format_table(results):
    """One line per system: accuracy, precision, recall, F1 and the confusion matrix."""
    header = f"{'system':26s} {'accuracy':>8s} {'precision':>9s} {'recall':>7s} {'F1':>6s}"
    lines = [header + "   confusion [[TN FP] [FN TP]]"]
    for name, r in results.items():
        lines.append(f"{name:26s} {r['accuracy']:8.3f} {r['precision']:9.3f} {r['recall']:7.3f} {r['f1']:6.3f}   "
                     f"{r['confusion']}")
    return "\n".join(lines)
