"""What `minillm train` and `minillm demo` check before they start, so that no run destroys or mixes work.

    RunFolder(out, resume=, overwrite=)   --out is a folder minillm can write; one run at a time in it
                                          (a lock); a run already there is kept unless --resume or
                                          --overwrite; what a killed save left behind is removed
    resumed_settings(...)                 --resume: the checkpoint's settings; a flag that would change
                                          the model, the tokenizer, the data or the optimisation is
                                          refused (only RESUMABLE settings may change)
    check_memory(...)                     the memory the settings need against what the machine has

Every refusal is a UserError: one line that says what is wrong and how to go on.
"""
import shutil
from pathlib import Path

from minillm.atomic import FolderInUse, FolderLock, remove_leftovers
from minillm.cli.args import UserError

RUN_FILES = ("checkpoint", "summary.json", "loss.png")    # what a run writes into --out
# training settings --resume may change: how long to train and how often to look, not what is learnt
RESUMABLE = ("max_iters", "lr_decay_iters", "eval_interval", "eval_iters", "log_interval", "checkpoint", "threads")


class RunFolder:
    """The --out folder of a run, locked while the block runs.

        with RunFolder(args.out, resume=args.resume, overwrite=args.overwrite) as run:
            ...                      # check everything, build the trainer
            run.start()              # only now: --overwrite removes the old run
    """

    def __init__(self, out, *, resume=False, overwrite=False, can_resume=True):
        self.out, self.resume, self.overwrite, self.can_resume = str(out), resume, overwrite, can_resume
        self.path = Path(out)
        self.lock, self.created = None, False

    @property
    def checkpoint(self):
        return self.path / "checkpoint"

    def __enter__(self):
        if not self.out.strip():
            raise UserError("--out is empty: give the folder the run writes into, e.g. --out out/train")
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--out {self.out!r} is a file, expected a folder (the run writes checkpoint/, "
                            f"summary.json and loss.png into it)")
        self.created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock = FolderLock(self.path).__enter__()       # opening the lock file: --out is writable
        except FolderInUse as e:
            raise UserError(f"--out {self.out!r}: {e}. Two runs in one folder would mix their files: wait for "
                            f"the other one or choose another --out") from None
        except OSError as e:
            self._remove_if_created()
            raise UserError(f"--out {self.out!r} cannot be used: {e.strerror or e} (expected a folder minillm "
                            f"can create and write)") from None
        try:
            self._check_the_run_there()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.__exit__()
            self.lock = None
        self._remove_if_created()

    def _check_the_run_there(self):
        removed = remove_leftovers(self.path, ["checkpoint"])
        if removed:
            print(f"removed what an interrupted save left in {self.out}: {', '.join(removed)}")
        present = [name for name in RUN_FILES if (self.path / name).exists()]
        if self.resume and not self.checkpoint.is_dir():
            raise UserError(f"--resume: {self.checkpoint} is not a checkpoint folder, there is no run to continue "
                            f"(drop --resume to start one)")
        if present and not (self.resume or self.overwrite):
            ways = "--resume to continue it, --overwrite" if self.can_resume else "--overwrite"
            raise UserError(f"--out {self.out!r} already holds a run ({', '.join(present)}): pass {ways} to "
                            f"replace it, or choose another --out")

    def check_space(self, n_params, itemsize):
        """A checkpoint holds the parameters and AdamW's m and v; while it is replaced, two are on disk."""
        needed = 2 * 3 * n_params * itemsize + (1 << 20)
        free = shutil.disk_usage(self.path).free
        if free < needed:
            raise UserError(f"--out {self.out!r}: its disk has {_mib(free)} free, but the run needs about "
                            f"{_mib(needed)} (a checkpoint of {n_params:,} parameters with AdamW's moments, twice "
                            f"while it is replaced); free some space or choose another --out")

    def start(self):
        """Everything is checked and training starts: --overwrite removes the previous run now."""
        if not self.overwrite:
            return
        removed = [name for name in RUN_FILES if (self.path / name).exists()]
        for name in removed:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        if removed:
            print(f"--overwrite: removed the previous run in {self.out} ({', '.join(removed)})")

    def _remove_if_created(self):
        """A run that never started leaves no empty folder behind."""
        if self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()
            self.created = False


def _mib(n):
    return f"{n / 2**20:,.1f} MiB"


# ------------------------------------------------------------------------------ --resume

def saved_settings(loaded):
    """The settings a checkpoint folder (io.checkpoint.CheckpointFolder) was trained with."""
    ckpt, manifest = loaded.checkpoint, loaded.manifest or {}
    trainer = (ckpt.extra or {}).get("trainer", {})
    data = manifest.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("corpus"), dict):
        raise UserError(f"--resume: the checkpoint in {loaded.path} records no fingerprint of its corpus (it "
                        f"was saved by an older minillm), so it cannot be checked against --data; start a "
                        f"fresh run with --overwrite")
    return {"step": int(trainer.get("iter", 0)),
            "model": {k: v for k, v in ckpt.config.items() if k != "vocab_size"},
            "train": dict(trainer.get("train_config", {})),
            "data": {k: v for k, v in data.items() if k != "corpus"},
            "corpus": data["corpus"]}


def resumed_settings(out, given, saved, corpus):
    """The settings to resume with: the checkpoint's, with the RESUMABLE ones the user gave.

    given: {"data", "model", "train"} -> the settings the user gave (flags and --config), only those;
    saved: saved_settings(...); corpus: the fingerprint of --data now.  Anything else the user gave
    that differs from the checkpoint is refused, every mismatch listed in one line.
    """
    problems, changes = [], []
    for section in ("data", "model", "train"):
        for name, value in given[section].items():
            was = saved[section].get(name)
            if value == was:
                continue
            if section == "train" and name in RESUMABLE:
                changes.append(f"{name} {was} -> {value}")
            else:
                problems.append(f"{_flag(name)} {value!r} (the checkpoint has {was!r})")
    max_iters = given["train"].get("max_iters", saved["train"].get("max_iters"))
    if max_iters is not None and max_iters < saved["step"]:
        problems.append(f"--max-iters {max_iters} is below the checkpoint's step {saved['step']}")
    problem, note = _compare_corpus(saved["corpus"], corpus)
    problems += [problem] if problem else []
    changes += [note] if note else []
    if problems:
        raise UserError(f"--resume cannot continue the run in {out} exactly: {'; '.join(problems)}. To continue "
                        f"it, give the corpus it was trained on and leave out the flags that differ (left out, "
                        f"they take the checkpoint's values); to start a fresh run, pass --overwrite (replaces "
                        f"{out}) or choose another --out")
    train = {**saved["train"], **{k: v for k, v in given["train"].items() if k in RESUMABLE}}
    notes = changes[:]
    if "threads" in given["train"] and given["train"]["threads"] != saved["train"].get("threads"):
        notes.append("another thread count sums each batch in another order, so the last bits may differ")
    stretched = "max_iters" in given["train"] and "lr_decay_iters" not in given["train"]
    if stretched and train.get("max_iters", 0) > train.get("lr_decay_iters", 0):
        notes.append(f"steps after lr_decay_iters {train['lr_decay_iters']} run at min_lr {train.get('min_lr')} "
                     f"(pass --lr-decay-iters to stretch the schedule)")
    print(f"resuming the run in {out} from step {saved['step']}" + (f": {'; '.join(notes)}" if notes else ""))
    return {"data": saved["data"], "model": saved["model"], "train": train}


def _compare_corpus(saved, now):
    """(a refusal or None, a note or None): other bytes cannot resume; the same bytes elsewhere can."""
    if saved.get("sha256") != now["sha256"] or saved.get("bytes") != now["bytes"]:
        return (f"--data {now['path']} ({now['bytes']:,} bytes, SHA-256 {now['sha256'][:12]}...) is not the corpus "
                f"the checkpoint was trained on ({saved.get('path')}, {saved.get('bytes')} bytes, SHA-256 "
                f"{str(saved.get('sha256'))[:12]}...)"), None
    if saved.get("path") != now["path"]:
        return None, f"the corpus is now at {now['path']} (was {saved.get('path')}, the same bytes)"
    return None, None


def _flag(name):
    return "--" + name.replace("_", "-")


# ------------------------------------------------------------------------------ memory

# what to lower when one term of the estimate dominates
LOWER = {"parameters and AdamW state": "lower --n-layer or --n-embd",
         "activations": "lower --batch-size or --block-size",
         "attention probabilities": "lower --block-size or --batch-size, or use --backend numba (no T x T matrix)",
         "corpus": "use a smaller --data"}


def check_memory(config, n_params, batch_size, threads, n_tokens):
    """Refuse settings whose estimated peak memory (runtime/memory.py) exceeds what this machine has."""
    from minillm.runtime.memory import gpt_training_bytes

    c = config
    parts = gpt_training_bytes(c, n_params, batch_size, threads=threads, n_tokens=n_tokens)
    _refuse_beyond_available(parts, f"these settings (block_size {c.block_size}, batch_size {batch_size}, n_layer "
                                    f"{c.n_layer}, n_head {c.n_head}, n_embd {c.n_embd}, vocab {c.vocab_size}: "
                                    f"{n_params:,} parameters, backend {c.backend})", LOWER)


def check_generation_memory(model):
    from minillm.runtime.memory import gpt_generation_bytes

    c = model.config
    _refuse_beyond_available(gpt_generation_bytes(c, model.n_params),
                             f"sampling from this checkpoint (block_size {c.block_size}, n_layer {c.n_layer}, n_head "
                             f"{c.n_head}, n_embd {c.n_embd}, backend {c.backend})",
                             {"attention probabilities": "its block_size is too long for the NumPy backend here"})


def _refuse_beyond_available(parts, what, advice):
    from minillm.runtime.memory import available_memory, format_bytes

    need, have = sum(parts.values()), available_memory()
    if have is None or need <= have:
        return
    biggest = max(parts, key=parts.get)
    raise UserError(f"not enough memory for {what}: at least {format_bytes(need)} of memory is needed ({biggest} "
                    f"{format_bytes(parts[biggest])}), this machine has {format_bytes(have)} available; "
                    f"{advice.get(biggest, 'use a machine with more memory')}")


__all__ = ["RESUMABLE", "RunFolder", "check_generation_memory", "check_memory", "resumed_settings", "saved_settings"]
