"""English -> French translation end to end: the article's §4.3 case 2.

    minillm translate --train data/en_fr_train.tsv --test data/en_fr_test.tsv [--steps N] [--beam N] [--out DIR]

The article's three steps, made concrete:
  1. data preprocessing   words -> ids (a word-level vocabulary per language, built from the
                          training pairs), embeddings + sinusoidal positions (inside the model)
  2. model training       an encoder-decoder Transformer (minillm/models/seq2seq.py), teacher-forced,
                          label-smoothed cross-entropy, AdamW with warmup + cosine decay
  3. model evaluation     greedy and beam-search translations of the held-out test pairs,
                          corpus BLEU (minillm.metrics.bleu, sacrebleu's default) for both

Default settings train for about 2-3 minutes on one core of a laptop and reach BLEU ~99 on the
shipped test set.  On a busy machine set OPENBLAS_NUM_THREADS=1 before starting: the matrices are
small, and BLAS threads competing for cores can make a step ten times slower.

Outputs in --out: metrics.json (BLEU, losses, settings, times), translations.tsv (source,
reference, greedy, beam) and cross_attention.png (what each French word read in the English).

The vocabulary is lossless: a word that follows a space is stored with a leading "▁"
(U+2581), so "l'arbre" is the two tokens "▁l'" + "arbre" and decode() rebuilds the
exact text (spaces before French "?" included) that BLEU then compares.
"""
import json
import re
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from minillm.atomic import write_text_atomic
from minillm.checks import check_int, check_number
from minillm.datasets import read_glue_tsv
from minillm.generate import beam_search, greedy_decode
from minillm.metrics import bleu
from minillm.models.seq2seq import Seq2Seq, Seq2SeqConfig
from minillm.train import BatchSource, TrainConfig, Trainer, trim_padding

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPACE = "\u2581"    # "▁": this token followed a space
# a word with its elided article (l', qu', j'), a word (hyphens inside: Est-ce), or one punctuation mark
_PIECE = re.compile(r"(\s*)(\w+'|[\w-]+|[^\w\s])")


# --------------------------------------------------------------------------- vocabulary

class WordVocab:
    """Word-level vocabulary: ids 0..3 are <pad>, <bos>, <eos>, <unk>, then the words of the
    training text, most frequent first (ties alphabetical), so the same text gives the same ids."""

    def __init__(self, tokens):
        self.itos = [PAD, BOS, EOS, UNK] + list(tokens)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("tokens must not repeat a token or use <pad>, <bos>, <eos>, <unk>")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    @staticmethod
    def pieces(text):
        """'Le chat dort ?' -> ['▁Le', '▁chat', '▁dort', '▁?'];  "l'arbre." -> ["▁l'", 'arbre', '.']."""
        out = []
        for match in _PIECE.finditer(text):
            space, word = match.groups()
            out.append((SPACE if (space or match.start() == 0) else "") + word)
        return out

    @classmethod
    def build(cls, texts, min_count=1):
        counts = {}
        for text in texts:
            for piece in cls.pieces(text):
                counts[piece] = counts.get(piece, 0) + 1
        kept = sorted((p for p, n in counts.items() if n >= min_count), key=lambda p: (-counts[p], p))
        return cls(kept)

    def __len__(self):
        return len(self.itos)

    def encode(self, text):
        return [self.stoi.get(p, self.unk_id) for p in self.pieces(text)]

    def decode(self, ids):
        """ids -> text: special tokens dropped, '▁' back to a space."""
        pieces = [self.itos[i] for i in ids if i >= 4]
        return "".join(pieces).replace(SPACE, " ").lstrip(" ")


def ascii_fold(token):
    """A plot label in ASCII: '▁élève' -> 'eleve', 'œuf' -> 'oeuf' (accents dropped, ligatures spelled)."""
    token = token.replace(SPACE, "").replace("œ", "oe").replace("Œ", "OE")
    decomposed = unicodedata.normalize("NFD", token)
    return "".join(ch for ch in decomposed if ord(ch) < 128)


# --------------------------------------------------------------------------- data

def read_pairs(path, what="pairs file"):
    """(english, french) pairs from a TSV with the header 'en<TAB>fr'."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist (expected a TSV with the header 'en<TAB>fr')")
    columns = read_glue_tsv(path, label_column=None, text_columns=["en", "fr"])
    pairs = list(zip(columns["en"], columns["fr"]))
    if not pairs:
        raise ValueError(f"{what} {str(path)!r} has a header but no sentence pairs")
    for i, (en, fr) in enumerate(pairs):
        if not en.strip() or not fr.strip():
            raise ValueError(f"{what} {str(path)!r}: pair {i + 1} has an empty sentence: {(en, fr)!r}")
    return pairs


def encode_pairs(pairs, src_vocab, tgt_vocab, max_len):
    """Padded id arrays for teacher forcing:

        src     = x_1 .. x_S EOS          (N, S_max)
        tgt_in  = BOS y_1 .. y_T          (N, T_max)   what the decoder reads
        tgt_out = y_1 .. y_T EOS          (N, T_max)   what it must predict
    """
    src_ids = [src_vocab.encode(en) + [src_vocab.eos_id] for en, _ in pairs]
    tgt_ids = [tgt_vocab.encode(fr) for _, fr in pairs]
    for i, (s, t) in enumerate(zip(src_ids, tgt_ids)):
        if len(s) > max_len or len(t) + 1 > max_len:
            raise ValueError(f"pair {i + 1} is too long for max_len={max_len}: {len(s)} source and {len(t) + 1} "
                             f"target tokens (EOS included); raise max_len or shorten {pairs[i]!r}")
    S = max(len(s) for s in src_ids)
    T = max(len(t) for t in tgt_ids) + 1
    src = np.full((len(pairs), S), src_vocab.pad_id, dtype=np.int64)
    tgt_in = np.full((len(pairs), T), tgt_vocab.pad_id, dtype=np.int64)
    tgt_out = np.full((len(pairs), T), tgt_vocab.pad_id, dtype=np.int64)
    for i, (s, t) in enumerate(zip(src_ids, tgt_ids)):
        src[i, :len(s)] = s
        tgt_in[i, :len(t) + 1] = [tgt_vocab.bos_id] + t
        tgt_out[i, :len(t) + 1] = t + [tgt_vocab.eos_id]
    return src, tgt_in, tgt_out


class PairBatches(BatchSource):
    """B random pairs (with replacement) per step, each side cut to its longest sentence."""

    def __init__(self, src, tgt_in, tgt_out, batch_size, *, pad_id, label_smoothing):
        self.src, self.tgt_in, self.tgt_out, self.batch_size, self.pad_id = src, tgt_in, tgt_out, batch_size, pad_id
        self.options = {"label_smoothing": label_smoothing}     # the loss every batch is scored with

    def batch(self, rng, split="train"):
        rows = rng.integers(0, len(self.src), size=self.batch_size)
        src, tgt_in, tgt_out = self.src[rows], self.tgt_in[rows], self.tgt_out[rows]
        (src,) = trim_padding(src, used=src != self.pad_id)
        tgt_in, tgt_out = trim_padding(tgt_in, tgt_out, used=tgt_in != self.pad_id)   # BOS y.. and y.. EOS align
        return src, tgt_in, tgt_out


# --------------------------------------------------------------------------- training

@dataclass
class TranslationConfig:
    """The model and its training; the defaults train in 2-3 minutes on one laptop core (BLEU ~99 greedy and beam)."""

    steps: int = 1500
    batch_size: int = 48
    lr: float = 3e-3
    warmup: int = 100               # steps of linear warm-up, then cosine decay to lr / 10 at the last step
    label_smoothing: float = 0.1
    weight_decay: float = 0.01
    n_embd: int = 64
    n_head: int = 4
    n_encoder_layer: int = 2
    n_decoder_layer: int = 2
    dropout: float = 0.1
    max_len: int = 32
    seed: int = 0
    backend: str = "numba"   # the kernels; "numpy" runs the readable layers (the same results within float32 rounding)

    def __post_init__(self):
        check_int("steps", self.steps, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_int("warmup", self.warmup, low=0)
        check_number("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_open=True)


def train_translation(pairs, cfg=None, *, log_every=100, log=None, **overrides):
    """Train a Seq2Seq model on (english, french) pairs; returns (model, src_vocab, tgt_vocab, history).

    cfg: a TranslationConfig; keyword overrides replace its fields (train_translation(pairs, steps=200)).
    Each step (minillm.train.Trainer): B random pairs, padding trimmed, forward with teacher forcing
    and label smoothing, backward, clip the global gradient norm to 1, AdamW (betas 0.9, 0.98) with
    lr = cosine_schedule(step).  One Generator, default_rng(seed), draws the pairs and the dropout.
    history: {"step": [...], "loss": [...]} (mean training loss over each log_every steps).
    log: a function called with one line of progress (e.g. print), or None.
    """
    cfg = replace(cfg or TranslationConfig(), **overrides)
    src_vocab = WordVocab.build(en for en, _ in pairs)
    tgt_vocab = WordVocab.build(fr for _, fr in pairs)
    src, tgt_in, tgt_out = encode_pairs(pairs, src_vocab, tgt_vocab, cfg.max_len)
    config = Seq2SeqConfig(src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab), max_len=cfg.max_len,
                           n_encoder_layer=cfg.n_encoder_layer, n_decoder_layer=cfg.n_decoder_layer,
                           n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout, pad_id=src_vocab.pad_id,
                           backend=cfg.backend)
    model = Seq2Seq(config, seed=cfg.seed)
    train_cfg = TrainConfig(batch_size=cfg.batch_size, max_iters=cfg.steps, lr=cfg.lr, min_lr=cfg.lr / 10,
                            warmup_iters=cfg.warmup, lr_decay_iters=cfg.steps, weight_decay=cfg.weight_decay,
                            beta1=0.9, beta2=0.98, grad_clip=1.0, log_interval=log_every, threads=1)
    batches = PairBatches(src, tgt_in, tgt_out, cfg.batch_size, pad_id=config.pad_id,
                          label_smoothing=cfg.label_smoothing)
    losses = Trainer(model, batches, cfg=train_cfg, rng=np.random.default_rng(cfg.seed), progress=False,
                     log=log).run()["train_loss"]
    # the mean loss of each log_every steps (the last group may be shorter)
    history = {"step": [], "loss": []}
    for end in sorted(set(range(log_every, cfg.steps + 1, log_every)) | {cfg.steps}):
        chunk = losses[(end - 1) // log_every * log_every:end]
        history["step"].append(end)
        history["loss"].append(sum(chunk) / len(chunk))
    return model, src_vocab, tgt_vocab, history


# --------------------------------------------------------------------------- decoding

def _encode_sources(sentences, src_vocab, max_len):
    ids = [src_vocab.encode(s)[:max_len - 1] + [src_vocab.eos_id] for s in sentences]
    src = np.full((len(ids), max(map(len, ids))), src_vocab.pad_id, dtype=np.int64)
    for i, s in enumerate(ids):
        src[i, :len(s)] = s
    return src


def translate(model, src_vocab, tgt_vocab, sentences, *, beam_size=1, alpha=0.6, max_len=None, batch_size=64):
    """English sentences -> French strings.  beam_size=1: greedy (batched); > 1: beam search per sentence."""
    check_int("beam_size", beam_size, low=1)
    max_len = model.config.max_len if max_len is None else max_len
    out = []
    for start in range(0, len(sentences), batch_size):
        src = _encode_sources(sentences[start:start + batch_size], src_vocab, model.config.max_len)
        memory, keep = model.encode(src)
        if beam_size == 1:
            def step(prefixes):
                return model.next_token_log_probs(prefixes, memory, keep)
            hyps = greedy_decode(step, len(src), bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id, max_len=max_len)
            out += [tgt_vocab.decode(h.tokens) for h in hyps]
            continue
        for b in range(len(src)):
            # one sentence: its memory, repeated for the K prefixes of the beam
            def step(prefixes, b=b):
                K = len(prefixes)
                return model.next_token_log_probs(prefixes, np.repeat(memory[b:b + 1], K, axis=0),
                                                  np.repeat(keep[b:b + 1], K, axis=0))
            best = beam_search(step, bos_id=tgt_vocab.bos_id, eos_id=tgt_vocab.eos_id, beam_size=beam_size,
                               max_len=max_len, alpha=alpha)[0]
            out.append(tgt_vocab.decode(best.tokens))
    return out


def cross_attention_for(model, src_vocab, tgt_vocab, english, french):
    """Teacher-forced cross-attention of one pair: (list of (H, T, S) arrays per decoder block,
    target labels (the token each row predicts), source labels)."""
    src = _encode_sources([english], src_vocab, model.config.max_len)
    t = tgt_vocab.encode(french)
    tgt_in = np.array([[tgt_vocab.bos_id] + t], dtype=np.int64)
    weights = [w[0] for w in model.cross_attention(src, tgt_in)]
    tgt_labels = [tgt_vocab.itos[i] for i in t] + [EOS]
    src_labels = [src_vocab.itos[i] for i in src[0]]
    return weights, tgt_labels, src_labels


def plot_cross_attention(model, src_vocab, tgt_vocab, english, french, path=None):
    """One panel per decoder block: the cross-attention weights averaged over the heads (plot.py)."""
    from minillm.plot import cross_attention_figure, save_figure

    weights, tgt_labels, src_labels = cross_attention_for(model, src_vocab, tgt_vocab, english, french)
    fig = cross_attention_figure(weights, [ascii_fold(s) for s in tgt_labels], [ascii_fold(s) for s in src_labels])
    if path is not None:
        save_figure(fig, path)
    return fig


# --------------------------------------------------------------------------- the command


def run(train_path, test_path, out_dir, cfg=None, *, beam=4, alpha=0.6, log=print):
    """Train (cfg: a TranslationConfig), translate the test set greedy and with beam search, score BLEU,
    write metrics.json, translations.tsv and cross_attention.png to out_dir; return the metrics."""
    cfg = cfg or TranslationConfig()
    check_int("beam", beam, low=1)
    train_pairs = read_pairs(train_path, "--train file")
    test_pairs = read_pairs(test_path, "--test file")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model, src_vocab, tgt_vocab, history = train_translation(train_pairs, cfg, log=log)
    t1 = time.perf_counter()
    sources = [en for en, _ in test_pairs]
    references = [[fr] for _, fr in test_pairs]
    greedy = translate(model, src_vocab, tgt_vocab, sources, beam_size=1)
    t2 = time.perf_counter()
    beamed = translate(model, src_vocab, tgt_vocab, sources, beam_size=beam, alpha=alpha) if beam > 1 else greedy
    t3 = time.perf_counter()
    metrics = {
        "bleu_greedy": bleu(greedy, references),
        "bleu_beam": bleu(beamed, references),
        "exact_match_greedy": float(np.mean([g == r[0] for g, r in zip(greedy, references)])),
        "exact_match_beam": float(np.mean([b == r[0] for b, r in zip(beamed, references)])),
        "beam_size": beam, "alpha": alpha, "length_penalty": "gnmt",
        "n_train_pairs": len(train_pairs), "n_test_pairs": len(test_pairs),
        "src_vocab_size": len(src_vocab), "tgt_vocab_size": len(tgt_vocab), "n_params": model.n_params,
        "steps": cfg.steps, "final_train_loss": history["loss"][-1], "loss_history": history,
        "config": model.config.to_dict(),
        "seconds_train": round(t1 - t0, 1), "seconds_greedy": round(t2 - t1, 1), "seconds_beam": round(t3 - t2, 1),
    }
    # the heatmap: the first test pair translated exactly with at least 6 target tokens (else the first pair)
    index = next((i for i, (g, r) in enumerate(zip(greedy, references))
                  if g == r[0] and len(tgt_vocab.encode(g)) >= 6), 0)
    metrics["heatmap_pair"] = [sources[index], references[index][0]]
    plot_cross_attention(model, src_vocab, tgt_vocab, sources[index], references[index][0],
                         out / "cross_attention.png")
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    rows = "".join(f"{s}\t{r[0]}\t{g}\t{b}\n" for s, r, g, b in zip(sources, references, greedy, beamed))
    write_text_atomic(out / "translations.tsv", "en\treference\tgreedy\tbeam\n" + rows)
    if log is not None:
        log(f"BLEU greedy {metrics['bleu_greedy']:.2f}   BLEU beam (k={beam}, alpha={alpha}) "
            f"{metrics['bleu_beam']:.2f}   exact match {metrics['exact_match_greedy']:.1%} / "
            f"{metrics['exact_match_beam']:.1%}")
        log(f"wrote {out / 'metrics.json'}, {out / 'translations.tsv'}, {out / 'cross_attention.png'}")
    return metrics
