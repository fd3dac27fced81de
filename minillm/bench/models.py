"""`minillm bench` rows for BERT: the pretrained MiniLM's forward and a fine-tuning step, each beside PyTorch.

    (f) all-MiniLM-L6-v2 forward, a padded batch of 16 x 62 tokens and the article's one sentence:
        minillm on backend "numba" (and "numpy") vs transformers' BertModel, as the article calls them:
            BertModel.from_pretrained(folder)(**tokenizer(texts, padding=True, return_tensors=...))
    (g) one BERT fine-tuning step at the size of the article's case 1 (minillm/tasks/classification.py:
        2 layers, hidden 64, 4 heads, FFN 128, batch 32 x 64 tokens, dropout 0.1, AdamW, clipping at 1):
        minillm's Trainer.step on both backends vs the same model in PyTorch eager
        (transformers' BertForSequenceClassification, attn_implementation="eager").

The reference columns need torch and transformers (never dependencies of minillm: install them
in another environment to see them); without them the rows carry minillm's own times.  Each
system is timed in turn, call after call (interleaved), in one process; the times are medians.
"""
import os
import time

import numpy as np

from minillm.datasets import PROJECT_DIR

ARTICLE_SENTENCE = "这是一个简单的示例文本。"     # the article's §5 input text
BATCH, LENGTH = 16, 62


def _transformers():
    try:
        import torch
        import transformers

        return torch, transformers
    except Exception:  # noqa: BLE001  (a reference column only)
        return None, None


def minilm_texts(tokenizer, batch=BATCH, length=LENGTH):
    """`batch` paragraphs of data/corpus_en.txt, the first one at least `length` tokens long, each cut to `length`."""
    with open(os.path.join(PROJECT_DIR, "data", "corpus_en.txt"), encoding="utf-8") as f:
        paragraphs = [p.strip().replace("\n", " ") for p in f.read().split("\n\n") if p.strip()]
    long_one = next(i for i, p in enumerate(paragraphs) if len(tokenizer.tokenize(p)) >= length)
    texts = [paragraphs[long_one]] + [p for i, p in enumerate(paragraphs) if i != long_one][:batch - 1]
    cut = []
    for text in texts:
        n = len(text.split())
        while len(tokenizer.tokenize(text)) > length - 2:           # [CLS] ... [SEP]
            n -= 1
            text = " ".join(text.split()[:n])
        cut.append(text)
    assert len(cut) == batch
    return cut


def _median_ms(times):
    return 1000 * float(np.median(times))


def minilm_forward_rows(folder=None, *, repeats=9, numpy_repeats=2):
    """Rows {what, shape, minillm_numba_ms, minillm_numpy_ms, transformers_ms, ratio, max_abs_diff}."""
    from minillm.datasets.pretrained import minilm_path
    from minillm.models.bert import BertModel
    from minillm import BertTokenizer

    folder = folder or minilm_path()
    tokenizer = BertTokenizer.from_pretrained(folder)
    fast = BertModel.from_pretrained(folder)                          # backend="numba", the default
    slow = BertModel.from_pretrained(folder, backend="numpy")
    torch, transformers = _transformers()
    reference = None
    if torch is not None:
        reference = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    rows = []
    for what, texts in ((f"MiniLM forward, batch {BATCH} x {LENGTH}", minilm_texts(tokenizer)),
                        ("MiniLM forward, the article's sentence", ARTICLE_SENTENCE)):
        enc = tokenizer(texts, padding=True, return_tensors="np")
        fast(**enc)                                                   # compile / warm up
        times = {"numba": [], "transformers": []}
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fast(**enc)
            times["numba"].append(time.perf_counter() - t0)
            if reference is not None:
                with torch.no_grad():
                    t0 = time.perf_counter()
                    ref = reference(**{k: torch.from_numpy(v) for k, v in enc.items()})
                    times["transformers"].append(time.perf_counter() - t0)
        slow_times = []
        for _ in range(numpy_repeats):
            t0 = time.perf_counter()
            slow(**enc)
            slow_times.append(time.perf_counter() - t0)
        row = {"what": what, "shape": list(enc["input_ids"].shape), "minillm_numba_ms": _median_ms(times["numba"]),
               "minillm_numpy_ms": _median_ms(slow_times), "transformers_ms": None, "ratio": None,
               "max_abs_diff": None}
        if reference is not None:
            row["transformers_ms"] = _median_ms(times["transformers"])
            row["ratio"] = row["minillm_numba_ms"] / row["transformers_ms"]
            row["max_abs_diff"] = float(np.abs(out.last_hidden_state - ref.last_hidden_state.numpy()).max())
        rows.append(row)
    return rows


# ------------------------------------------------------------------ (g) the BERT fine-tuning step
CASE1 = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
             max_position_embeddings=64, hidden_dropout_prob=0.1)
CASE1_VOCAB, CASE1_BATCH = 1500, 32


def case1_batch(seed=0):
    """32 sequences of 10-64 random ids ([CLS] = 2 first), padded to 64, and labels 0/1."""
    rng = np.random.default_rng(seed)
    T = CASE1["max_position_embeddings"]
    lengths = rng.integers(10, T + 1, size=CASE1_BATCH)
    lengths[0] = T
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(5, CASE1_VOCAB, size=(CASE1_BATCH, T)) * mask
    ids[:, 0] = 2
    return ids, mask, rng.integers(0, 2, size=CASE1_BATCH)


def minillm_finetune_step_ms(backend, *, iters=20, warmup=3, seed=0):
    """Median ms of Trainer.step on BertForSequenceClassification at the case-1 size (forward, backward, clip, AdamW)."""
    from minillm.models.bert import BertConfig, BertForSequenceClassification
    from minillm.tasks.classification import bert_train_config
    from minillm.train import FullBatch, Trainer

    ids, mask, labels = case1_batch(seed)
    model = BertForSequenceClassification(BertConfig(vocab_size=CASE1_VOCAB, **CASE1, backend=backend), seed=seed)
    source = FullBatch(ids, labels, mask)                             # the same batch at every step
    cfg = bert_train_config(steps=warmup + iters, batch_size=CASE1_BATCH, lr=5e-4, min_lr=0.0, warmup=0.1,
                            weight_decay=0.01)
    trainer = Trainer(model, source, cfg=cfg, rng=np.random.default_rng(seed), progress=False)
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        trainer.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return _median_ms(times)


def torch_finetune_step_ms(*, iters=20, warmup=3, seed=0):
    """The same step in PyTorch eager (transformers' BERT), or None without torch and transformers."""
    torch, transformers = _transformers()
    if torch is None:
        return None
    ids, mask, labels = case1_batch(seed)
    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=CASE1_VOCAB, attention_probs_dropout_prob=0.0, **CASE1)
    config._attn_implementation = "eager"
    model = transformers.BertForSequenceClassification(config).train()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.999), eps=1e-6)
    inputs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
              "labels": torch.from_numpy(labels)}
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        loss = model(**inputs).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return _median_ms(times)


def finetune_step_row(iters=20):
    """{numba_ms, numpy_ms, torch_ms, ratio (numba / torch)}, each measured in turn in this process."""
    row = {"what": "BERT fine-tuning step (case 1: 2 x 64, batch 32 x 64)",
           "minillm_numba_ms": minillm_finetune_step_ms("numba", iters=iters),
           "minillm_numpy_ms": minillm_finetune_step_ms("numpy", iters=max(3, iters // 4)),
           "torch_ms": torch_finetune_step_ms(iters=iters)}
    row["ratio"] = None if row["torch_ms"] is None else row["minillm_numba_ms"] / row["torch_ms"]
    return row
