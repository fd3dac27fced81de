"""One table for the road: every language model of the article's §1 scored the same way.

The article's §1 tells a history (n-grams -> HMM -> RNN/LSTM -> Transformers).
To put the stages in one table they must be scored on the SAME events:

Units.  Characters are the tokens of every model.  A text is a sequence of
    lines, each ending in "\\n".  The n-gram reads one "sentence" per line and
    its "</s>" is the end-of-line event, i.e. the "\\n" the other models
    predict as a character.  So every model predicts exactly len(text)
    events of the held-out text: each character and each newline.
Context.  The first held-out character is predicted after a newline: the
    n-gram pads each line with "<s>" (= "a line starts here"); the HMM, RNN
    and GPT read one "\\n" before the text and are not scored on it.  After
    that each model uses what it can: the n-gram the last n-1 characters of
    the line, the HMM its filtered state, the RNN its state (carried across
    lines), the GPT a window of block_size characters.
Vocabulary.  V = the characters of the training text (with "\\n") plus
    "<unk>", the same for every model (CharTokenizer.train(train_text); the
    n-gram's vocabulary is the same set, with "</s>" for "\\n").  A held-out
    character never seen in training is scored as the event "<unk>" by every
    model: the n-gram smooths mass onto it (add-k, Kneser-Ney), the neural
    models give it whatever their softmax gives an id never trained on, and
    the HMM's emissions are floored (below) because EM gives it exactly 0.

    PPL = exp(-(1/N) sum_{t=1..N} log P(x_t | x_<t)),   N = len(held-out text)

Every wrapper below exposes the same surface: fit(train_text),
logprob(text) -> (sum of log P, N predicted), perplexity(text),
generate(prompt, n, rng) -> str.  `evaluate` times fit and scores logprob;
`perplexity_table` refuses rows scored on different numbers of events.
Used by notebooks/16_comparing_language_models.ipynb; tests/test_compare.py.
"""
import contextlib
import io
import math
import time
import unicodedata

import numpy as np

from minillm.checks import check_choice, check_int, check_number, check_rng
from minillm.lang import tr
from minillm.models.gpt import GPT, GPTConfig
from minillm.models.hmm import HMM
from minillm.models.ngram import EOS, NGramLM
from minillm.models.rnn import RNNLM, RNNConfig
from minillm.tokenizers.char import CharTokenizer
from minillm.train import TrainConfig, Trainer

NEWLINE = "\n"


def _check_text(name, text):
    """text must be a non-empty str that ends with a newline (every line has its end-of-line event)."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got a {type(text).__name__}")
    if not text.endswith(NEWLINE):
        raise ValueError(f"{name} must be non-empty and end with '\\n' (each line's end is a predicted event), "
                         f"got {text[-20:]!r}")
    return text


# unit u = one non-blank line and the blank lines after it;  held out iff floor((u+1) f) > floor(u f)
def char_split(text, val_fraction=0.1):
    """Split a text into (train_text, val_text), both ending in "\\n".

    Every 1/val_fraction-th non-blank line (lines 9, 19, 29, .. for 0.1) is held
    out together with the blank lines that follow it, so the held-out text has
    the same mix of titles, paragraphs, dialogue and blank lines as the training
    text (a contiguous tail would test one genre only).  val_fraction counts
    non-blank lines, not characters.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got a {type(text).__name__}")
    check_number("val_fraction", val_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    units = []
    for line in text.splitlines():
        if line or not units:
            units.append([line])
        else:
            units[-1].append(line)
    held = [math.floor((u + 1) * val_fraction) > math.floor(u * val_fraction) for u in range(len(units))]
    if not any(held) or all(held):
        raise ValueError(f"text must have enough non-blank lines for both parts with val_fraction={val_fraction}, "
                         f"got {len(units)}")
    join = lambda keep: "".join(line + NEWLINE for u, h in zip(units, held) if h == keep for line in u)  # noqa: E731
    return join(False), join(True)


def lines_of(text):
    """A text ending in "\\n" -> its lines as character lists: the n-gram's sentences."""
    return [list(line) for line in _check_text("text", text)[:-1].split(NEWLINE)]


class NGramChars:
    """NGramLM over characters, one sentence per line; "</s>" is the newline."""

    family = "n-gram"

    def __init__(self, order, smoothing="kneser_ney", k=1.0, discount=0.75):
        self.model = NGramLM(order, smoothing=smoothing, k=k, discount=discount)
        self.name = f"{order}-gram"
        self.settings = {"add_k": f"add-k, k={k:g}", "kneser_ney": f"Kneser-Ney, d={discount:g}",
                         "mle": "MLE"}[smoothing]

    def fit(self, train_text):
        self.tokenizer = CharTokenizer.train(_check_text("train_text", train_text))
        self.model.fit(lines_of(train_text))
        return self

    def logprob(self, text):
        """(sum of log P over every character and newline of text, their number)."""
        lp = self.model.token_logprobs(lines_of(text))      # (N,), each line's </s> included
        return float(lp.sum()), lp.size

    def perplexity(self, text):
        return self.model.perplexity(lines_of(text))

    def generate(self, prompt, n, rng):
        """n characters after prompt; the n-gram sees only the prompt's last line."""
        line = _check_text("prompt", prompt + NEWLINE)[:-1].split(NEWLINE)[-1]
        out = self.model.generate(list(line), n, rng)
        return "".join(NEWLINE if w == EOS else w for w in out)


class HMMChars:
    """A discrete HMM over character ids, trained by Baum-Welch on the start of the training text.

    EM gives exactly 0 emission probability to a symbol absent from its data (such
    as <unk>), the n-gram's zero-probability problem again; after training every
    emission row is mixed with the uniform distribution:
        B' = (1 - floor) B + floor / |V|
    """

    family = "HMM"

    def __init__(self, n_states=16, n_iter=5, max_chars=8000, floor=0.01, seed=0):
        check_int("n_states", n_states, low=1)
        check_int("n_iter", n_iter, low=0)
        check_int("max_chars", max_chars, low=2)
        check_number("floor", floor, low=0.0, high=1.0, high_open=True)
        self.n_states, self.n_iter, self.max_chars, self.floor, self.seed = n_states, n_iter, max_chars, floor, seed
        self.name = "HMM"
        self.settings = f"{n_states} states, {n_iter} Baum-Welch iters on {max_chars} chars"

    def _ids(self, text):
        return np.array(self.tokenizer.encode(text), dtype=np.int64)

    def fit(self, train_text):
        self.tokenizer = CharTokenizer.train(_check_text("train_text", train_text))
        V = self.tokenizer.vocab_size
        hmm = HMM.random(self.n_states, V, np.random.default_rng(self.seed))
        hmm.fit([self._ids(NEWLINE + train_text[:self.max_chars])], n_iter=self.n_iter)
        self.history = hmm.history
        self.model = HMM(hmm.pi, hmm.A, (1 - self.floor) * hmm.B + self.floor / V)
        return self

    def logprob(self, text):
        # log P(x_1 .. x_N | "\n") = log P("\n", x_1 .. x_N) - log P("\n")
        o = self._ids(NEWLINE + _check_text("text", text))
        return self.model.log_likelihood(o) - self.model.log_likelihood(o[:1]), o.size - 1

    def perplexity(self, text):
        total, n = self.logprob(text)
        return math.exp(-total / n)

    def generate(self, prompt, n, rng):
        out = self.model.generate(self._ids(NEWLINE + prompt), n, rng)
        return self.tokenizer.decode(out)


class NeuralChars:
    """A char-level RNN/LSTM (minillm.models.rnn) or GPT (minillm.models.gpt) trained with minillm.train.Trainer.

    model: dict of RNNConfig / GPTConfig fields (vocab_size is filled in);
    train: dict of TrainConfig fields.  The held-out text never reaches the
    Trainer: its monitoring stream is the training text and its end-of-run eval
    line is swallowed (the notebook reports the held-out perplexity instead).
    """

    family = "neural"

    def __init__(self, kind, model=None, train=None, seed=0):
        check_choice("kind", kind, {"rnn", "lstm", "gru", "gpt"})
        self.kind, self.model_kwargs, self.seed = kind, dict(model or {}), seed
        self.train_config = TrainConfig(**{"checkpoint": False, "eval_iters": 1, **(train or {})})
        self.name = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "gpt": "GPT"}[kind]
        shown = {k: v for k, v in self.model_kwargs.items() if k not in ("dtype", "backend")}
        self.settings = ", ".join(f"{k}={v}" for k, v in shown.items()) + f", {self.train_config.max_iters} steps"

    def _ids(self, text):
        return np.array(self.tokenizer.encode(text), dtype=np.int64)

    def fit(self, train_text):
        self.tokenizer = CharTokenizer.train(_check_text("train_text", train_text))
        V = self.tokenizer.vocab_size
        if self.kind == "gpt":
            self.model = GPT(GPTConfig(vocab_size=V, **self.model_kwargs), seed=self.seed)
        else:
            self.model = RNNLM(RNNConfig(vocab_size=V, cell=self.kind, **self.model_kwargs), seed=self.seed)
        ids = self._ids(train_text)
        trainer = Trainer(self.model, ids, ids, self.train_config, progress=False)
        with contextlib.redirect_stdout(io.StringIO()):
            self.history = trainer.run()
        return self

    def logprob(self, text):
        # the model's own surface: log P of tokens[1:] given everything before, tokens[0] = "\n"
        tokens = self._ids(NEWLINE + _check_text("text", text))
        return float(self.model.logprob(tokens)), tokens.size - 1

    def perplexity(self, text):
        return self.model.perplexity(self._ids(NEWLINE + _check_text("text", text)))

    def generate(self, prompt, n, rng):
        check_rng("rng", rng)
        idx = self._ids(NEWLINE + prompt)
        if self.kind == "gpt":
            from minillm.generate import generate        # slides the block_size window, KV cache
            out = generate(self.model, idx[None], n, rng=rng)[0]
        else:
            out = self.model.generate(idx, n, rng=rng)
        return self.tokenizer.decode(out[idx.size:])


def evaluate(lm, train_text, val_text):
    """Fit lm on train_text and score val_text -> one table row (a dict).

    train_s is wall-clock seconds of fit; cpu_s the CPU seconds of this process
    (steadier than wall time on a shared machine).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    lm.fit(train_text)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    total, n = lm.logprob(val_text)
    return {"model": lm.name, "settings": lm.settings, "ppl": math.exp(-total / n),
            "n_predicted": n, "train_s": seconds, "cpu_s": cpu_seconds}


def _width(text):
    """Columns `text` takes on a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text, width, right=False):
    space = " " * max(0, width - _width(text))
    return space + text if right else text + space


def perplexity_table(rows):
    """Rows from `evaluate` -> a fixed-width text table.  All rows must predict the same number of events."""
    if not rows:
        raise ValueError("rows must hold at least one row, got none")
    counts = sorted({row["n_predicted"] for row in rows})
    if len(counts) != 1:
        raise ValueError(f"rows must all be scored on the same number of predicted tokens, got {counts}")
    # the header in the notebook's language (a Chinese character is two columns wide: the widths count that)
    model, settings = tr("model", "模型"), tr("settings", "设置")
    ppl, train, cpu = tr("held-out PPL", "留出困惑度"), tr("train s", "训练秒"), tr("CPU s", "CPU 秒")
    w_model = max(_width(model), *(len(r["model"]) for r in rows))
    w_set = max(_width(settings), *(len(r["settings"]) for r in rows))
    head = (f"{_pad(model, w_model)}  {_pad(settings, w_set)}  {_pad(ppl, 12, right=True)}  "
            f"{_pad(train, 8, right=True)}  {_pad(cpu, 6, right=True)}")
    lines = [head, "-" * _width(head)]
    for r in rows:
        lines.append(f"{r['model']:<{w_model}}  {r['settings']:<{w_set}}  {r['ppl']:12.2f}  "
                     f"{r['train_s']:8.2f}  {r['cpu_s']:6.2f}")
    lines.append(tr(f"(perplexity per character over the same {counts[0]:,} held-out characters, newlines included)",
                    f"（在同样的 {counts[0]:,} 个留出字符上计算的每字符困惑度，包括换行符）"))
    return "\n".join(lines)
