"""THE training loop: every trainable model in minillm learns through `Trainer.run()`.

    for it in range(max_iters):
        inputs = source.batch(rng)                          LM windows, BERT rows, sentence pairs, or all rows
        _, loss, cache = model.forward(*inputs, training=True, rng=rng, **source.options)
        stop if loss is NaN/inf                             (TrainingDiverged)
        grads  = model.backward(cache)                      (threads > 1: the batch split over threads,
                                                             minillm/runtime/parallel.py; the same sums)
        clip_grad_norm(grads, grad_clip)
        opt.step(grads, lr=cosine_schedule(it))             AdamW, warmup + cosine
        every eval_interval, if the source has validation data: mean held-out loss; checkpoint if out_dir

The model interface (GPT, RNNLM, the BERT heads, Seq2Seq, the bag-of-words baseline):

    model.params                                            dict name -> array, updated in place
    model.forward(*inputs, training=True, rng=Generator)    -> (output, loss, cache)
    model.backward(cache, dloss=1.0)                        -> grads, a dict with the keys of params

The batch-source interface (BatchSource below; TokenWindows for the LMs, FullBatch, ShuffledRows here,
MaskedRows in tasks/classification.py, PairBatches in tasks/translation.py):

    source.batch(rng, split="train")  -> the tuple of arrays model.forward takes first
    source.options                    -> keyword options for every forward (MLM: only_labelled=True,
                                         seq2seq: label_smoothing): how the batch is to be scored
    source.has_validation             -> evaluate on source.batch(rng, "val") every eval_interval
    source.final_loss(model, parallel) -> the held-out number reported after max_iters (or None)

Random streams.  By default everything flows from cfg.seed through SeedSequence(seed).spawn(3):
one Generator picks the training batches, one the evaluation batches, one the dropout masks.
Trainer(..., rng=Generator) instead uses that ONE Generator for all of them, in the order
batch -> (masking, inside batch) -> dropout: the tasks' recipe.  The Generators are saved in the
checkpoint with the optimizer state, so training 20 steps straight and 10 + resume + 10 give
bit-identical parameters (tests/test_train.py).

Nothing is saved that cannot be used: a checkpoint is written as one folder (io/checkpoint.py,
save_checkpoint_folder), and never when the evaluation loss or a parameter is NaN/inf (the old one
stays, TrainingDiverged says which step it holds).  Ctrl-C lets the current step finish, saves it
and stops with TrainingInterrupted naming the step; a second Ctrl-C stops at once.
"""
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

import numpy as np

from minillm.kernels.allocator import keep_freed_memory
from minillm.checks import check_int, check_number
from minillm.optim import AdamW, clip_grad_norm, cosine_schedule
from minillm.runtime.parallel import DataParallel, default_threads


@dataclass
class TrainConfig:
    batch_size: int = 12
    max_iters: int = 2000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 2000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10
    seed: int = 1337
    checkpoint: bool = True
    threads: int = 1  # data parallel: the batch split over this many threads (0 = one per core)

    def __post_init__(self):
        check_int("batch_size", self.batch_size, low=1)
        check_int("max_iters", self.max_iters, low=0)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("min_lr", self.min_lr, low=0.0, high=self.lr)
        check_int("warmup_iters", self.warmup_iters, low=0)
        check_int("lr_decay_iters", self.lr_decay_iters, low=1)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_number("beta1", self.beta1, low=0.0, high=1.0, high_open=True)
        check_number("beta2", self.beta2, low=0.0, high=1.0, high_open=True)
        check_number("eps", self.eps, low=0.0, low_open=True)
        check_number("grad_clip", self.grad_clip, low=0.0)
        check_int("eval_interval", self.eval_interval, low=1)
        check_int("eval_iters", self.eval_iters, low=1)
        check_int("log_interval", self.log_interval, low=1)
        check_int("seed", self.seed, low=0)
        check_int("threads", self.threads, low=0)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class TrainingDiverged(RuntimeError):
    """The loss (or a parameter) became NaN or infinite; the message says what the checkpoint still holds."""


class CheckpointNotSaved(RuntimeError):
    """Writing a checkpoint failed (a full disk, a removed folder); the previous checkpoint is intact."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run between two steps; the message says which step was saved."""


# ---------------------------------------------------------------------------- batch sources

class BatchSource:
    """What the Trainer asks of its data (see the module docstring); the defaults: no options,
    no validation data, nothing to report at the end."""

    options = {}
    has_validation = False
    batch_tokens = None        # tokens per batch, for the progress bar's tok/s (None: not shown)

    def batch(self, rng, split="train"):
        raise NotImplementedError

    def final_loss(self, model, parallel=None):
        return None


# a batch is only as long as its longest row:  keep columns 0 .. t_last,  t_last = the last column any row uses
# $$ \text{keep columns } 0, \dots, t_\mathrm{last}, \qquad t_\mathrm{last} = \max\{ t : \mathrm{used}_{n t} \text{ for some row } n \} $$
def trim_padding(*arrays, used):
    """Cut every 2-D array (N, T) to the columns up to the last one that `used` (N, T) marks in any row.

    1-D arrays (one label per row) pass unchanged.  Less work for the same result: the padding
    columns are masked out anyway.
    """
    columns = np.nonzero(np.asarray(used).any(axis=0))[0]
    T = int(columns[-1]) + 1 if columns.size else 1
    return tuple(a[:, :T] if a.ndim == 2 else a for a in arrays)


# x = tokens[i : i+T],  y = tokens[i+1 : i+T+1]   for B random starts i
# $$ x_{b,t} = \mathrm{tokens}_{i_b + t}, \qquad y_{b,t} = \mathrm{tokens}_{i_b + t + 1}, \qquad t = 0, \dots, T-1, \qquad i_b \sim \operatorname{Uniform}\{0, \dots, N - T - 1\},\ b = 1, \dots, B $$
def get_batch(tokens, batch_size, block_size, rng):
    """B random contiguous windows of length T and the same windows shifted by one (the targets)."""
    if tokens.size < block_size + 1:
        raise ValueError(f"the token array has {tokens.size} tokens, fewer than block_size + 1 = {block_size + 1}")
    starts = rng.integers(0, tokens.size - block_size, size=batch_size)
    offsets = np.arange(block_size)
    x = tokens[starts[:, None] + offsets]
    y = tokens[starts[:, None] + offsets + 1]
    return x.astype(np.int64), y.astype(np.int64)


class TokenWindows(BatchSource):
    """Language-model batches: random windows of a training and a validation token stream (§2.3)."""

    has_validation = True

    def __init__(self, train_tokens, val_tokens, batch_size, block_size):
        self.tokens = {"train": np.asarray(train_tokens), "val": np.asarray(val_tokens)}
        for name, t in (("train data", self.tokens["train"]), ("validation data", self.tokens["val"])):
            if t.size < block_size + 1:
                raise ValueError(f"{name} has {t.size} tokens, fewer than block_size + 1 = {block_size + 1}")
        self.batch_size, self.block_size = batch_size, block_size
        self.batch_tokens = batch_size * block_size

    def batch(self, rng, split="train"):
        return get_batch(self.tokens[split], self.batch_size, self.block_size, rng)

    def final_loss(self, model, parallel=None):
        return full_split_loss(model, self.tokens["val"], self.batch_size, parallel)


class FullBatch(BatchSource):
    """Every row, every step (full-batch gradient descent: the data set is small)."""

    def __init__(self, *inputs):
        self.inputs = inputs

    def batch(self, rng, split="train"):
        return self.inputs


class ShuffledRows(BatchSource):
    """Fine-tuning batches: each epoch a fresh permutation of the N rows, B rows at a time (a last
    short batch is skipped), padding trimmed.

    inputs: the arrays model.forward takes first, in its order, each with N rows ((N, T) or (N,));
    used (N, T): the real tokens (the attention mask), which decides the trimming.
    The epoch's order lives here, not in the Generator, so it is not in a checkpoint: the tasks
    that use it train in one go.
    """

    def __init__(self, inputs, used, batch_size, options=None):
        self.inputs, self.used, self.batch_size = tuple(inputs), np.asarray(used), batch_size
        self.options = dict(options or {})
        self.order, self.pos = None, 0

    def batch(self, rng, split="train"):
        n = len(self.used)
        if self.order is None or self.pos + self.batch_size > n:        # a new epoch, newly shuffled
            self.order, self.pos = rng.permutation(n), 0
        rows = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return trim_padding(*(a[rows] for a in self.inputs), used=self.used[rows])


def estimate_loss(model, source, split, n_batches, rng, parallel=None):
    """Mean loss over n_batches random batches of one split, no dropout, no backward."""
    losses = [_batch_loss(model, source.batch(rng, split), source.options, parallel) for _ in range(n_batches)]
    return float(np.mean(losses))


def _batch_loss(model, inputs, options, parallel):
    return model.forward(*inputs, training=False, **options)[1] if parallel is None else parallel.loss(*inputs)


# mean over every window  x = tokens[iT : iT+T],  y = tokens[iT+1 : iT+T+1]
# $$ \mathcal{L}_\mathrm{split} = \frac{1}{n_w} \sum_{i=0}^{n_w - 1} \mathcal{L}\left(x^{(i)}, y^{(i)}\right), \qquad x^{(i)}_t = \mathrm{tokens}_{iT + t}, \qquad y^{(i)}_t = \mathrm{tokens}_{iT + t + 1}, \qquad n_w = \left\lfloor \frac{N - 1}{T} \right\rfloor $$
def full_split_loss(model, tokens, batch_size, parallel=None):
    """Mean loss over the whole split in non-overlapping windows: every token predicted once, no sampling noise."""
    T = model.config.block_size
    n_windows = (tokens.size - 1) // T
    if n_windows < 1:
        raise ValueError(f"the split has {tokens.size} tokens, fewer than block_size + 1 = {T + 1}")
    starts = np.arange(n_windows) * T
    total = 0.0
    for i in range(0, n_windows, batch_size):
        s = starts[i:i + batch_size, None] + np.arange(T)
        x, y = tokens[s].astype(np.int64), tokens[s + 1].astype(np.int64)
        total += _batch_loss(model, (x, y), {}, parallel) * x.size
    return total / (n_windows * T)


class Trainer:
    """Holds the model, the optimizer, the batch source, the Generators and the history;
    `run()` trains to max_iters.

        Trainer(model, source, cfg=None, *, rng=None, out_dir=None, tokenizer=None, progress=True, log=None)
        Trainer(model, train_tokens, val_tokens, cfg, ...)       a language model: source = TokenWindows

    rng: None -> three Generators from SeedSequence(cfg.seed).spawn(3) (batches, evaluation, dropout);
    one Generator -> used for all three.  progress: a tqdm bar; else, with log (a function of
    one line), a line every log_interval steps.  out_dir (optional) receives checkpoint/
    (ckpt.npz, config.json, tokenizer.json) at each evaluation.  data_info (optional JSON data:
    the CLI gives the corpus fingerprint and split) is saved in each checkpoint's record.
    """

    def __init__(self, model, source, val_tokens=None, cfg=None, *, rng=None, out_dir=None, tokenizer=None,
                 progress=True, log=None, data_info=None):
        cfg = TrainConfig() if cfg is None else cfg
        self.model, self.cfg = model, cfg
        if not isinstance(source, BatchSource):          # token arrays: a language model's windows
            source = TokenWindows(source, val_tokens, cfg.batch_size, model.config.block_size)
        elif val_tokens is not None:
            raise ValueError("val_tokens goes with token arrays; a batch source brings its own validation data")
        self.source = source
        self.out_dir, self.tokenizer, self.progress, self.log = out_dir, tokenizer, progress, log
        self.data_info = data_info
        self.saved_step = None      # the step of the last checkpoint written (or restored) ...
        self.saved_folder = None    # ... and where save() wrote it (None: restored, or out_dir/checkpoint)
        keep_freed_memory()  # each step's arrays reuse the last step's memory (no page faults; kernels/allocator.py)
        # backend "numba" (the model's config says so): the AdamW update and the clipping norm run as kernels too
        self.backend = getattr(getattr(model, "config", None), "backend", None)
        self.fused = self.backend == "numba"
        self.opt = AdamW(model.params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                         weight_decay=cfg.weight_decay, fused=self.fused)
        if rng is None:
            seeds = np.random.SeedSequence(cfg.seed).spawn(3)
            self.batch_rng = np.random.default_rng(seeds[0])  # which windows we train on
            self.eval_rng = np.random.default_rng(seeds[1])  # which windows we evaluate on
            self.dropout_rng = np.random.default_rng(seeds[2])  # dropout masks
        else:
            self.batch_rng = self.eval_rng = self.dropout_rng = rng  # one stream: rows, masks, dropout in turn
        threads = min(cfg.threads or default_threads(), cfg.batch_size)
        if threads > 1 and not isinstance(source, TokenWindows):
            # DataParallel shards (x, y) windows; other sources' batches (and options) it cannot split
            raise ValueError(f"threads must be 1 for a {type(source).__name__} batch source (the batch split over "
                             f"threads is for language-model windows), got threads={cfg.threads}")
        self.parallel = DataParallel(model, threads) if threads > 1 else None
        self.iter = 0
        self.history = {"iter": [], "train_loss": [], "lr": [], "eval_iter": [], "val_loss": [], "eval_train_loss": []}
        self.iter_times = []
        self.final_val_loss = None

    @property
    def train_tokens(self):
        """The training token stream of a language model's windows (None for other batch sources)."""
        return self.source.tokens["train"] if isinstance(self.source, TokenWindows) else None

    @property
    def val_tokens(self):
        return self.source.tokens["val"] if isinstance(self.source, TokenWindows) else None

    def lr_at(self, it):
        c = self.cfg
        return cosine_schedule(it, max_lr=c.lr, min_lr=c.min_lr, warmup_iters=c.warmup_iters,
                               decay_iters=c.lr_decay_iters)

    def step(self):
        """One optimisation step; returns the training loss of the batch."""
        model = self.model
        inputs = self.source.batch(self.batch_rng)
        if self.parallel is None:
            _, loss, cache = model.forward(*inputs, training=True, rng=self.dropout_rng, **self.source.options)
            grads = model.backward(cache) if math.isfinite(loss) else None
        else:
            loss, grads = self.parallel.loss_and_grads(*inputs, rng=self.dropout_rng)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training stopped at step {self.iter}: the loss is {loss} (NaN/inf); {self._kept()}. "
                f"Try a lower learning rate (now {self.lr_at(self.iter):.2e}) or gradient clipping."
            )
        self.update(grads)
        self.history["train_loss"].append(loss)
        self.iter += 1
        return loss

    def update(self, grads):
        """Clip the global gradient norm to grad_clip, then one AdamW step at this step's learning rate."""
        c, lr = self.cfg, self.lr_at(self.iter)
        if self.fused:
            # the same clipping, folded into the update as one scale factor
            from minillm.kernels.optim import global_grad_norm

            total = global_grad_norm(list(grads.values()))
            scale = c.grad_clip / (total + 1e-6) if 0 < c.grad_clip < total else 1.0
            self.opt.step(grads, lr=lr, grad_scale=scale)
        else:
            if c.grad_clip > 0:
                clip_grad_norm(grads, c.grad_clip)
            self.opt.step(grads, lr=lr)
        self.history["iter"].append(self.iter)
        self.history["lr"].append(lr)

    def evaluate(self):
        """Mean loss of eval_iters random batches of each split (validation first, then training)."""
        args = (self.cfg.eval_iters, self.eval_rng, self.parallel)
        val = estimate_loss(self.model, self.source, "val", *args)
        train = estimate_loss(self.model, self.source, "train", *args)
        self.history["eval_iter"].append(self.iter)
        self.history["val_loss"].append(val)
        self.history["eval_train_loss"].append(train)
        return train, val

    def run(self, until=None):
        """Train up to iteration `until` (default max_iters), evaluating and checkpointing on the way."""
        c = self.cfg
        until = c.max_iters if until is None else min(until, c.max_iters)
        bar = _progress(range(self.iter, until), self.progress, initial=self.iter, total=c.max_iters)
        try:
            with _ctrl_c_waits_for_the_step() as pressed:
                for _ in bar:
                    self._one_step(bar, until)
                    if pressed:
                        self._stop_after_ctrl_c()
            if hasattr(bar, "close"):
                bar.close()         # before the last line; `finally` closes it on the paths that raise
            if self.iter == c.max_iters and self.final_val_loss is None:
                # the number summary.json reports: the whole validation split, not a sample of it
                self.final_val_loss = self.source.final_loss(self.model, self.parallel)
                if self.final_val_loss is not None and self.progress:
                    print(f"final val loss over the whole validation split: {self.final_val_loss:.4f}", flush=True)
        except KeyboardInterrupt as e:          # a second Ctrl-C, or one outside the steps
            if isinstance(e, TrainingInterrupted):
                raise
            raise TrainingInterrupted(f"stopped by Ctrl-C at step {self.iter}: {self._kept()}") from None
        finally:
            if hasattr(bar, "close"):
                bar.close()
        return self.history

    def _one_step(self, bar, until):
        """One step, its progress line, and (every eval_interval) the evaluation and the checkpoint."""
        c = self.cfg
        t0 = time.perf_counter()
        loss = self.step()
        dt = time.perf_counter() - t0
        self.iter_times.append(dt)
        if self.iter % c.log_interval == 0 or self.iter == until:
            if hasattr(bar, "set_postfix_str"):
                tokens_per_iter = self.source.batch_tokens
                speed = f" {tokens_per_iter / dt:,.0f} tok/s" if tokens_per_iter else ""
                bar.set_postfix_str(f"loss {loss:.4f} lr {self.history['lr'][-1]:.2e}{speed}")
            elif self.log is not None and self.iter % c.log_interval == 0:
                mean = np.mean(self.history["train_loss"][-c.log_interval:])
                self.log(f"step {self.iter}/{c.max_iters}: loss {mean:.3f}")
        if self.source.has_validation and (self.iter % c.eval_interval == 0 or self.iter == c.max_iters):
            train, val = self.evaluate()
            self._say(bar, f"step {self.iter}: train loss {train:.4f}, val loss {val:.4f}")
            if not (math.isfinite(train) and math.isfinite(val)):
                raise TrainingDiverged(f"training stopped at step {self.iter}: the evaluation loss is NaN/inf "
                                       f"(train {train}, val {val}), so the model was not saved; {self._kept()}. "
                                       f"Try a lower learning rate or gradient clipping.")
            if self.out_dir and c.checkpoint:
                self.save(self.checkpoint_folder)

    @property
    def checkpoint_folder(self):
        """out_dir/checkpoint, where run() saves (None without an out_dir)."""
        return os.path.join(self.out_dir, "checkpoint") if self.out_dir else None

    def _stop_after_ctrl_c(self):
        if self.out_dir and self.cfg.checkpoint and self.saved_step != self.iter:
            self.save(self.checkpoint_folder)
        exact = "; resuming from it continues the run exactly" if self.saved_step == self.iter else ""
        raise TrainingInterrupted(f"stopped by Ctrl-C after step {self.iter} of {self.cfg.max_iters}: "
                                  f"{self._kept()}{exact}")

    def _kept(self):
        """What the checkpoint folder holds now, for the message of a run that stops."""
        folder = self.saved_folder or self.checkpoint_folder
        if self.saved_step is None or folder is None:
            return "no checkpoint was saved"
        return f"the checkpoint in {folder} is the one of step {self.saved_step}"

    def _say(self, bar, msg):
        if hasattr(bar, "write"):
            bar.write(msg)
        elif self.log is not None:
            self.log(msg)
        else:
            print(msg, flush=True)

    # ------------------------------------------------------------ persistence
    def state(self):
        return {
            "iter": self.iter,
            "batch_rng": self.batch_rng.bit_generator.state,
            "eval_rng": self.eval_rng.bit_generator.state,
            "dropout_rng": self.dropout_rng.bit_generator.state,
            "history": self.history,
            "train_config": asdict(self.cfg),
        }

    def save(self, folder):
        """The checkpoint folder, written as one unit: tokenizer.json, ckpt.npz (params + optimizer +
        trainer state), config.json (the record, with each file's SHA-256).  A model holding NaN/inf
        is never saved (TrainingDiverged); a write that fails is CheckpointNotSaved."""
        from minillm.io.checkpoint import save_checkpoint_folder

        bad = [k for k, p in self.model.params.items() if not np.isfinite(p).all()]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise TrainingDiverged(f"training stopped at step {self.iter}: parameter {bad[0]!r}{more} holds "
                                   f"NaN/inf, so the model was not saved; {self._kept()}")
        config = self.model.config.to_dict()
        companions = {} if self.tokenizer is None else {"tokenizer.json": self.tokenizer.save}
        manifest = {"step": self.iter, "model": config, "train": asdict(self.cfg), "data": self.data_info}
        try:
            os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
            save_checkpoint_folder(folder, self.model.params, config, optimizer_state=self.opt.state_dict(),
                                   extra={"trainer": _jsonable(self.state())}, companions=companions,
                                   manifest=_jsonable(manifest))
        except OSError as e:
            raise CheckpointNotSaved(f"could not save the checkpoint of step {self.iter} in {folder}: "
                                     f"{e.strerror or e}; {self._kept()}") from None
        self.saved_step, self.saved_folder = self.iter, os.fspath(folder)

    def restore(self, ckpt):
        """Continue from a loaded checkpoint (minillm.io.checkpoint.load_checkpoint)."""
        for k, v in ckpt.params.items():
            self.model.params[k][...] = v
        self.opt.load_state_dict(ckpt.optimizer_state)
        st = ckpt.extra["trainer"]
        self.iter = int(st["iter"])
        self.batch_rng.bit_generator.state = st["batch_rng"]
        self.eval_rng.bit_generator.state = st["eval_rng"]
        self.dropout_rng.bit_generator.state = st["dropout_rng"]
        self.history = {k: list(v) for k, v in st["history"].items()}
        self.saved_step = self.iter

    def summary(self):
        times = self.iter_times[5:] or self.iter_times  # the first steps pay compile/cache warm-up
        ms = 1000 * float(np.median(times)) if times else None      # no step run: nothing to time (JSON has no NaN)
        tokens = self.source.batch_tokens
        h = self.history
        return {
            # val_loss: every validation token once (after max_iters); else the last sampled estimate
            "val_loss": self.final_val_loss if self.final_val_loss is not None else
            (h["val_loss"][-1] if h["val_loss"] else None),
            "val_loss_sampled": h["val_loss"][-1] if h["val_loss"] else None,
            "train_loss": h["eval_train_loss"][-1] if h["eval_train_loss"] else None,
            "last_batch_loss": h["train_loss"][-1] if h["train_loss"] else None,
            "iters": self.iter,
            "ms_per_iter": ms,
            "tokens_per_s": tokens / (ms / 1000) if times and tokens else None,
            "params": self.model.n_params,
            "wall_time_s": float(np.sum(self.iter_times)),
            "backend": self.backend,
            "threads": 1 if self.parallel is None else self.parallel.n_threads,
        }


@contextmanager
def _ctrl_c_waits_for_the_step():
    """Inside the block the first Ctrl-C only fills the list it yields (the loop stops after the step);
    a second one raises KeyboardInterrupt at once.  Outside the main thread, or where Ctrl-C is
    ignored, nothing changes."""
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        print("\nCtrl-C: stopping after this step (Ctrl-C again stops at once, without saving)",
              file=sys.stderr, flush=True)

    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None))
    if installed:
        previous = signal.signal(signal.SIGINT, handler)
    try:
        yield pressed
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous)


def _progress(iterable, enabled, initial, total):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, initial=initial, total=total, dynamic_ncols=True, desc="train", mininterval=0.5)


def _jsonable(obj):
    """Bit-generator states hold big ints and numpy scalars: make them plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
