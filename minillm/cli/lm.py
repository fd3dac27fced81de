"""`minillm demo | train | generate | eval`: a GPT trained on any UTF-8 text, sampled and scored.

    cmd_train:  lock --out (cli/runs.py) -> read the corpus -> tokenizer -> 90/10 split -> memory check
                -> GPT(GPTConfig) -> train.Trainer.run() -> checkpoint/, loss.png, summary.json
    cmd_generate, cmd_eval: load a checkpoint folder (ckpt.npz + tokenizer.json + config.json, every
                file checked against its SHA-256), sample or score

Every mistake a user can make here (a missing corpus, a bad flag, a damaged checkpoint, a
--resume that cannot be honoured) is a UserError: one line, exit status 2.
"""
import json
import math
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from minillm.cli.args import (
    UserError, boolean, non_negative_float, non_negative_int, open_unit_interval, positive_int, probability,
    unit_interval, user_input,
)
from minillm.cli.runs import (
    RESUMABLE, RunFolder, check_generation_memory, check_memory, resumed_settings, saved_settings,
)
from minillm.datasets import CORPUS_FILES, read_text

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

MODEL_FLAGS = ["block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "pos", "norm", "mlp", "backend", "dtype"]
MODEL_CHOICES = {"pos": ["learned", "sinusoidal", "rope"], "norm": ["layernorm", "rmsnorm"], "mlp": ["gelu", "swiglu"],
                 "backend": ["numba", "numpy"], "dtype": ["float32", "float64"]}
UNKNOWN_WARNING = 0.05   # eval warns when more than this share of the text is <unk>

# one line of --help per training flag (GPTConfig and TrainConfig fields; a --config file sets them too)
FLAG_HELP = {
    "block_size": "context length T", "n_layer": "decoder blocks", "n_head": "attention heads",
    "n_embd": "model width C (divisible by n_head)", "dropout": "dropout probability while training",
    "bias": "biases in the linear layers and LayerNorms (true/false)",
    "pos": "positions: learned, sinusoidal or rope", "norm": "layernorm or rmsnorm",
    "mlp": "feed-forward: gelu or swiglu", "backend": "numba (the kernels) or numpy (the readable layers)",
    "dtype": "float32 or float64",
    "batch_size": "windows per step B", "max_iters": "optimisation steps", "lr": "peak learning rate",
    "min_lr": "learning rate at the end of the cosine decay", "warmup_iters": "steps of linear warm-up",
    "lr_decay_iters": "step where the cosine decay reaches min_lr", "weight_decay": "AdamW decay of the matrices",
    "beta1": "AdamW beta1", "beta2": "AdamW beta2", "eps": "AdamW epsilon, added to sqrt(v_hat)",
    "grad_clip": "clip the global gradient norm to this (0: off)",
    "eval_interval": "evaluate (and checkpoint) every this many steps",
    "eval_iters": "random batches per evaluation", "log_interval": "progress-bar update every this many steps",
    "seed": "the seed of every random choice", "checkpoint": "write checkpoint/ at each evaluation (true/false)",
    "threads": "split each batch over this many threads (data parallel; 0: one per core)",
}


# ------------------------------------------------------------------ config files
DATA_SETTINGS = {"tokenizer": str, "bpe_vocab_size": int, "val_fraction": float}
DATA_DEFAULTS = {"tokenizer": "char", "bpe_vocab_size": 512, "val_fraction": 0.1}


def load_config_file(path):
    """A TOML (or JSON) run configuration with [data], [model] and [train] tables, each key type-checked."""
    path = Path(path)
    if not path.is_file():
        shipped = CONFIG_DIR / path.name
        if not path.suffix:
            shipped = CONFIG_DIR / (path.name + ".toml")
        if shipped.is_file():
            path = shipped
        else:
            raise UserError(f"config file {str(path)!r} does not exist (shipped configs: {shipped_configs()})")
    try:
        text = path.read_text(encoding="utf-8-sig")         # a BOM (some editors write one) is not TOML
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"config file {str(path)!r} could not be read as UTF-8: {e}") from None
    try:
        if path.suffix == ".json":
            cfg = json.loads(text)
        else:
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            cfg = tomllib.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error becomes one clear line
        raise UserError(f"config file {str(path)!r} could not be parsed: {e}") from None
    if not isinstance(cfg, dict):
        raise UserError(f"config file {str(path)!r} must hold tables [data], [model], [train]")
    unknown = sorted(set(cfg) - {"data", "model", "train"})
    if unknown:
        raise UserError(f"config file {str(path)!r} has unknown sections {unknown} (expected data, model, train)")
    cfg = {k: cfg.get(k, {}) for k in ("data", "model", "train")}
    for section, kinds in setting_types().items():
        check_settings(f"config file {str(path)!r}: [{section}]", cfg[section], kinds)
    return {k: dict(v) for k, v in cfg.items()}


def setting_types():
    """{section: {setting: Python type}} for [data], [model] (GPTConfig) and [train] (TrainConfig)."""
    from minillm.models.gpt import GPTConfig
    from minillm.train import TrainConfig

    def kinds(cls):
        by_name = {"int": int, "float": float, "bool": bool, "str": str}
        return {f.name: by_name[f.type if isinstance(f.type, str) else f.type.__name__] for f in fields(cls)}

    model = kinds(GPTConfig)
    del model["vocab_size"]                                 # the tokenizer decides it
    return {"data": DATA_SETTINGS, "model": model, "train": kinds(TrainConfig)}


def check_settings(where, values, kinds):
    """Every key known, every value of its type (an int is a number; a bool is not an int)."""
    if not isinstance(values, dict):
        raise UserError(f"{where} must be a table of settings, got {values!r}")
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise UserError(f"{where} has unknown keys {unknown} (expected some of {sorted(kinds)})")
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    for key, value in values.items():
        kind = kinds[key]
        accepted = (int, float) if kind is float else kind            # a TOML integer is a number too
        ok = isinstance(value, accepted) and (kind is bool or not isinstance(value, bool))
        if not ok:
            hint = " (without quotes)" if isinstance(value, str) and kind is not str else ""
            raise UserError(f"{where} {key} must be {words[kind]}{hint}, got {value!r}")


def shipped_configs():
    return sorted(p.name for p in CONFIG_DIR.glob("*.toml"))


# ------------------------------------------------------------------------ corpus
def read_corpus(path, flag="--data"):
    """A UTF-8 text file (datasets.read_text: BOM dropped, CRLF read as LF); a problem is a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{flag} {str(path)!r} does not exist")
    with user_input(f"{flag} {str(path)!r}"):
        text = read_text(path)
    if not text.strip():
        raise UserError(f"{flag} {str(path)!r} is empty (only white space)")
    return text


def corpus_fingerprint(path):
    """What --resume compares: the corpus's absolute path, its size and the SHA-256 of its bytes."""
    from minillm.io.checkpoint import file_sha256

    path = Path(path).resolve()
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def demo_corpus_texts():
    paths = CORPUS_FILES
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"the demo corpus is missing: {missing}. Run minillm from a clone of the repository "
                        f"(pip install -e .), or use `minillm train --data FILE`.")
    return [read_corpus(p, "the demo corpus") for p in paths]


def build_tokenizer(kind, text, bpe_vocab_size):
    from minillm.tokenizers import ByteBPETokenizer, CharTokenizer

    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "bpe":
        with user_input("--bpe-vocab-size"):
            return ByteBPETokenizer.train(text, bpe_vocab_size)
    raise UserError(f"--tokenizer must be 'char' or 'bpe', got {kind!r}")


def unknown_share(tokenizer, ids):
    """The fraction of `ids` that are the tokenizer's <unk> (0 for a tokenizer without one)."""
    unk = getattr(tokenizer, "unk_id", None)
    return 0.0 if unk is None or not len(ids) else float(np.mean(np.asarray(ids) == unk))


# ------------------------------------------------------------------- checkpoints
def load_run(checkpoint):
    """(model, tokenizer, CheckpointFolder) from a checkpoint folder (or its ckpt.npz), every file verified."""
    from minillm.io.checkpoint import NPZ_NAME, load_checkpoint_folder, verify_checkpoint_folder
    from minillm.models.gpt import GPT, GPTConfig
    from minillm.tokenizers import load_tokenizer

    path = Path(checkpoint)
    if path.is_file() and path.name != NPZ_NAME:
        raise UserError(f"--checkpoint {str(path)!r} is a file: expected a checkpoint folder or its {NPZ_NAME}")
    if (path / "checkpoint").is_dir() and not (path / NPZ_NAME).exists():
        raise UserError(f"--checkpoint {str(path)!r} is a run folder: its checkpoint is {str(path / 'checkpoint')!r}")
    with user_input(""):
        loaded = load_checkpoint_folder(path.parent if path.suffix == ".npz" else path, verify=False)
    folder = Path(loaded.path)
    with user_input(f"checkpoint {str(folder / NPZ_NAME)!r} holds a config this minillm cannot use"):
        config = GPTConfig.from_dict(loaded.checkpoint.config)
        model = GPT(config, params={k: np.asarray(v) for k, v in loaded.checkpoint.params.items()})
    tok_path = folder / "tokenizer.json"
    if not tok_path.is_file():
        raise UserError(f"checkpoint folder {str(folder)!r} has no tokenizer.json")
    with user_input(""):
        tokenizer = load_tokenizer(str(tok_path))
    if tokenizer.vocab_size != config.vocab_size:
        raise UserError(f"{tok_path} has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}")
    with user_input(""):        # last, so that a damaged file above got its own message; this catches the rest
        loaded = verify_checkpoint_folder(loaded)
    if loaded.manifest is None:
        print(f"minillm: note: {folder} carries no SHA-256 record (saved by an older minillm): its files are "
              f"not verified", file=sys.stderr)
    return model, tokenizer, loaded


# ---------------------------------------------------------------------- commands
def make_run(texts, data_cfg, model_cfg, train_cfg, out_dir, *, progress=True, tokenizer=None, data_info=None):
    """Tokenize, split each text 90/10 (first 90% train, last 10% val), check the memory the settings
    need, build the model and the trainer.

    `texts` is one string or a list of documents (the demo's English and Chinese files):
    each document is split on its own, so both splits hold every language.
    """
    from minillm.models.gpt import GPT, GPTConfig, param_shapes
    from minillm.runtime.parallel import default_threads
    from minillm.train import Trainer, TrainConfig

    texts = [texts] if isinstance(texts, str) else list(texts)
    if tokenizer is None:
        tokenizer = build_tokenizer(data_cfg.get("tokenizer", DATA_DEFAULTS["tokenizer"]), "".join(texts),
                                    int(data_cfg.get("bpe_vocab_size", DATA_DEFAULTS["bpe_vocab_size"])))
    val_fraction = float(data_cfg.get("val_fraction", DATA_DEFAULTS["val_fraction"]))
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction must be in (0, 1), got {val_fraction}")
    with user_input(""):
        gcfg = GPTConfig(vocab_size=tokenizer.vocab_size, **model_cfg)
        tcfg = TrainConfig(**train_cfg)
    train_parts, val_parts = [], []
    for text in texts:
        tokens = np.array(tokenizer.encode(text), dtype=np.int64)
        n_train = int(len(tokens) * (1 - val_fraction))
        train_parts.append(tokens[:n_train])
        val_parts.append(tokens[n_train:])
    train_tokens, val_tokens = np.concatenate(train_parts), np.concatenate(val_parts)
    block = gcfg.block_size
    for name, t in (("training split", train_tokens), ("validation split", val_tokens)):
        if len(t) < block + 1:
            raise UserError(f"the corpus is too short: its {name} has {len(t)} tokens, "
                            f"fewer than block_size + 1 = {block + 1}")
    n_params = sum(math.prod(shape) for shape, _ in param_shapes(gcfg).values())
    threads = min(tcfg.threads or default_threads(), tcfg.batch_size)
    check_memory(gcfg, n_params, tcfg.batch_size, threads, train_tokens.size + val_tokens.size)
    model = GPT(gcfg, seed=tcfg.seed)
    trainer = Trainer(model, train_tokens, val_tokens, tcfg, out_dir=out_dir, tokenizer=tokenizer, progress=progress,
                      data_info=data_info)
    return trainer, tokenizer


def finish_run(trainer, out_dir, extra=None):
    """Final checkpoint, loss plot and summary.json; returns the summary."""
    from minillm.atomic import write_json_atomic
    from minillm.plot import loss_curve_figure, save_figure

    if trainer.saved_step != trainer.iter:
        trainer.save(os.path.join(out_dir, "checkpoint"))
    summary = {**trainer.summary(), **(extra or {})}

    def write(name, how):
        path = os.path.join(out_dir, name)
        try:
            how(path)
        except OSError as e:
            raise UserError(f"could not write {path}: {e.strerror or e}; the checkpoint of step "
                            f"{trainer.saved_step} is saved in {out_dir}/checkpoint") from None
    write("loss.png", lambda path: save_figure(loss_curve_figure(trainer.history), path))
    write("summary.json", lambda path: write_json_atomic(path, summary, allow_nan=False))
    return summary


def sample_text(model, tokenizer, prompt, n, *, seed=0, temperature=0.8, top_k=None, top_p=None, greedy=False):
    from minillm.generate import generate

    ids = tokenizer.encode(prompt) if prompt else [0]
    idx = np.array([ids[-model.config.block_size:]], dtype=np.int64)
    out = generate(model, idx, n, greedy=greedy, temperature=temperature, top_k=top_k, top_p=top_p,
                   rng=np.random.default_rng(seed))
    return tokenizer.decode(out[0].tolist())


def cmd_demo(args):
    out_dir = args.out
    cfg = load_config_file(CONFIG_DIR / "demo.toml")
    if args.max_iters is not None:
        cfg["train"]["max_iters"] = args.max_iters
        cfg["train"]["lr_decay_iters"] = args.max_iters
        cfg["train"]["eval_interval"] = max(1, min(cfg["train"].get("eval_interval", 250), args.max_iters))
    texts = demo_corpus_texts()
    with RunFolder(out_dir, overwrite=args.overwrite, can_resume=False) as run:
        trainer, tok = make_run(texts, cfg["data"], cfg["model"], cfg["train"], out_dir, progress=not args.quiet)
        m = trainer.model
        run.check_space(m.n_params, np.dtype(m.config.dtype).itemsize)
        run.start()
        print(f"minillm demo: a {m.config.n_layer}-layer GPT ({m.n_params:,} parameters, {tok.vocab_size} characters) "
              f"learns the corpus in data/ ({sum(map(len, texts)):,} characters, English and Chinese).")
        prompts = ["The model ", "语言模型"]
        print("\nBefore training (random weights):")
        for p in prompts:
            print(f"  {sample_text(m, tok, p, 60, seed=args.seed)!r}")
        t0 = time.time()
        trainer.run()
        summary = finish_run(trainer, out_dir, {"seconds": time.time() - t0})
    print(f"\nAfter {trainer.iter} steps ({summary['seconds']:.0f} s, {summary['tokens_per_s']:,.0f} tokens/s): "
          f"train loss {summary['train_loss']:.3f}, val loss {summary['val_loss']:.3f}")
    for p in prompts:
        print(f"\n--- {p}\n{sample_text(m, tok, p, 200, seed=args.seed)}")
    print(f"\nWrote {out_dir}/loss.png, {out_dir}/summary.json and the checkpoint {out_dir}/checkpoint/.")
    print(f"Try: minillm generate --checkpoint {out_dir}/checkpoint --prompt 'Attention ' --max-new-tokens 300")
    return 0


def given_settings(args):
    """{"data", "model", "train"} -> the settings the user gave: the --config file's, then the flags'."""
    from minillm.train import TrainConfig

    cfg = load_config_file(args.config) if args.config else {"data": {}, "model": {}, "train": {}}
    names = {"data": list(DATA_SETTINGS), "model": MODEL_FLAGS, "train": [f.name for f in fields(TrainConfig)]}
    for section, flags in names.items():
        for name in flags:
            if getattr(args, name, None) is not None:
                cfg[section][name] = getattr(args, name)
    return cfg


def fresh_data_settings(given):
    """The [data] settings of a new run: the defaults, then what was given; a BPE size needs a BPE tokenizer."""
    data = {**DATA_DEFAULTS, **given}
    if data["tokenizer"] != "bpe":
        if "bpe_vocab_size" in given:
            raise UserError(f"--bpe-vocab-size {given['bpe_vocab_size']} sets the size of a BPE vocabulary: it "
                            f"needs --tokenizer bpe (the tokenizer is {data['tokenizer']!r})")
        del data["bpe_vocab_size"]
    return data


def cmd_train(args):
    given = given_settings(args)
    if args.resume and args.overwrite:
        raise UserError("--resume continues the run in --out and --overwrite replaces it: give one of them")
    data = None if args.resume else fresh_data_settings(given["data"])
    with RunFolder(args.out, resume=args.resume, overwrite=args.overwrite) as run:
        text = read_corpus(args.data)
        corpus = corpus_fingerprint(args.data)
        tokenizer = loaded = None
        if args.resume:
            _, tokenizer, loaded = load_run(run.checkpoint)
            cfg = resumed_settings(args.out, given, saved_settings(loaded), corpus)
        else:
            cfg = {"data": data, "model": given["model"], "train": given["train"]}
        trainer, tok = make_run(text, cfg["data"], cfg["model"], cfg["train"], args.out, progress=not args.quiet,
                                tokenizer=tokenizer, data_info={"corpus": corpus, **cfg["data"]})
        m = trainer.model
        run.check_space(m.n_params, np.dtype(m.config.dtype).itemsize)
        if loaded is not None:
            trainer.restore(loaded.checkpoint)
        run.start()
        print(f"training a GPT with {m.n_params:,} parameters on {args.data} "
              f"({len(trainer.train_tokens):,} train / {len(trainer.val_tokens):,} val tokens, vocab {tok.vocab_size}, "
              f"backend {m.config.backend}, {1 if trainer.parallel is None else trainer.parallel.n_threads} thread(s))")
        t0 = time.time()
        trainer.run()
        summary = finish_run(trainer, args.out, {"seconds": time.time() - t0, "data": str(args.data)})
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/summary.json, {args.out}/loss.png and {args.out}/checkpoint/")
    return 0


def check_sampling_flags(args):
    """--greedy (or --temperature 0) takes the most likely token: flags that shape sampling are refused with it."""
    greedy = args.greedy or args.temperature == 0
    if not greedy:
        return
    mode = "--greedy" if args.greedy else "--temperature 0"
    sampling = [flag for flag, value in (("--temperature", None if args.temperature in (None, 0) else args.temperature),
                                         ("--top-k", args.top_k), ("--top-p", args.top_p), ("--seed", args.seed))
                if value is not None]
    if sampling:
        raise UserError(f"{' and '.join(sampling)} {'is' if len(sampling) == 1 else 'are'} for random sampling, but "
                        f"{mode} always takes the most likely token: drop {' and '.join(sampling)}, or drop {mode} "
                        f"to sample")


def cmd_generate(args):
    check_sampling_flags(args)
    model, tok, _ = load_run(args.checkpoint)
    check_generation_memory(model)
    ids = tok.encode(args.prompt)
    if unknown_share(tok, ids) > 0:
        print(f"minillm: note: {sum(1 for i in ids if i == tok.unk_id)} character(s) of --prompt are not in the "
              f"checkpoint's vocabulary: they are read as <unk>", file=sys.stderr)
    if len(ids) > model.config.block_size:
        print(f"minillm: note: --prompt is {len(ids)} tokens; the model sees its last block_size = "
              f"{model.config.block_size}", file=sys.stderr)
    temperature = 0.8 if args.temperature is None else args.temperature
    seed = 0 if args.seed is None else args.seed
    print(sample_text(model, tok, args.prompt, args.max_new_tokens, seed=seed, temperature=temperature,
                      top_k=args.top_k, top_p=args.top_p, greedy=args.greedy))
    return 0


def cmd_eval(args):
    model, tok, _ = load_run(args.checkpoint)
    text = read_corpus(args.data)
    tokens = np.array(tok.encode(text), dtype=np.int64)
    if args.max_tokens:
        tokens = tokens[: args.max_tokens]
    if tokens.size < 2:
        raise UserError(f"{args.data!r} has {tokens.size} token(s) to score (with --max-tokens {args.max_tokens}); "
                        f"a perplexity needs at least 2")
    if args.stride is not None and args.stride > model.config.block_size:
        raise UserError(f"--stride must be at most block_size {model.config.block_size}, got {args.stride}")
    unknown = unknown_share(tok, tokens)
    if unknown > UNKNOWN_WARNING:
        print(f"minillm: warning: {unknown:.0%} of the tokens of {args.data} are <unk> (characters the "
              f"checkpoint's tokenizer never saw): the perplexity says little about this text", file=sys.stderr)
    ppl = model.perplexity(tokens, stride=args.stride)
    print(json.dumps({"perplexity": ppl, "nll_per_token": math.log(ppl), "tokens": int(tokens.size),
                      "stride": args.stride or model.config.block_size}))
    return 0


# ------------------------------------------------------------------------ parsers
def add_demo_parser(sub):
    d = sub.add_parser("demo", help="train a small GPT on the shipped corpus (about a minute and a quarter on "
                       "2 cores) and sample from it")
    d.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    d.add_argument("--max-iters", type=positive_int, default=None, help="override the number of steps")
    d.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    d.set_defaults(func=cmd_demo)
    return d


def add_train_parser(sub):
    from minillm.train import TrainConfig

    t = sub.add_parser("train", help="train a GPT on any UTF-8 text file")
    t.add_argument("--data", required=True, help="a UTF-8 text file")
    t.add_argument("--out", default="out/train", help="output folder (checkpoint/, loss.png, summary.json)")
    t.add_argument("--config", help=f"a TOML config ([data], [model], [train]); shipped: {', '.join(shipped_configs())}")
    t.add_argument("--resume", action="store_true",
                   help="continue from <out>/checkpoint, exactly: the same corpus (checked by its SHA-256) and the "
                        "checkpoint's settings; only " + ", ".join("--" + n.replace("_", "-") for n in RESUMABLE)
                        + " may change")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out (refused otherwise)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--tokenizer", choices=["char", "bpe"], help="characters, or byte-level BPE trained on the text")
    t.add_argument("--bpe-vocab-size", type=positive_int, help="BPE vocabulary size (with --tokenizer bpe)")
    t.add_argument("--val-fraction", type=open_unit_interval,
                   help="the last fraction of the text held out for validation")
    kinds = {"dropout": unit_interval, "bias": boolean, **{name: str for name in MODEL_CHOICES}}
    for name in MODEL_FLAGS:
        t.add_argument("--" + name.replace("_", "-"), type=kinds.get(name, positive_int),
                       choices=MODEL_CHOICES.get(name), dest=name, help=FLAG_HELP[name])
    for f in fields(TrainConfig):
        kind = {"int": int, "float": float, "bool": boolean}[f.type if isinstance(f.type, str) else f.type.__name__]
        t.add_argument("--" + f.name.replace("_", "-"), type=kind, dest=f.name, help=FLAG_HELP[f.name])
    t.set_defaults(func=cmd_train)
    return t


def add_generate_parser(sub):
    g = sub.add_parser("generate", help="sample text from a checkpoint")
    g.add_argument("--checkpoint", required=True, help="a checkpoint folder (or its ckpt.npz)")
    g.add_argument("--prompt", default="")
    g.add_argument("--max-new-tokens", type=positive_int, default=200)
    g.add_argument("--temperature", type=non_negative_float, help="default 0.8; 0: greedy")
    g.add_argument("--top-k", type=positive_int, help="sample among the k most likely tokens")
    g.add_argument("--top-p", type=probability, help="sample among the most likely tokens holding this mass")
    g.add_argument("--greedy", action="store_true",
                   help="always the most likely token (refused with --temperature, --top-k, --top-p, --seed)")
    g.add_argument("--seed", type=non_negative_int, help="the sampling seed (default 0)")
    g.set_defaults(func=cmd_generate)
    return g


def add_eval_parser(sub):
    e = sub.add_parser("eval", help="perplexity of a checkpoint on a text file")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--max-tokens", type=positive_int)
    e.add_argument("--stride", type=positive_int,
                   help="score in windows of block_size moved this many tokens at a time, each scoring the "
                        "tokens it adds (default block_size: non-overlapping windows; 1: every token with "
                        "the most context)")
    e.set_defaults(func=cmd_eval)
    return e
