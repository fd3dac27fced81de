"""`minillm demo | train | generate | eval`: a GPT trained on any UTF-8 text, sampled and scored.

    cmd_train:  read the corpus -> tokenizer -> 90/10 split -> GPT(GPTConfig) -> train.Trainer.run()
                -> checkpoint/, loss.png, summary.json
    cmd_generate, cmd_eval: load a checkpoint folder (ckpt.npz + tokenizer.json), sample or score

Every mistake a user can make here (a missing corpus, a bad flag, a damaged checkpoint)
is a UserError: one line, exit status 2.
"""
import json
import math
import os
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from minillm.cli.args import UserError, boolean, non_negative_float, positive_int, probability, user_input
from minillm.datasets import CORPUS_FILES, read_text

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

MODEL_FLAGS = ["block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "pos", "norm", "mlp", "backend", "dtype"]

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
def load_config_file(path):
    """A TOML (or JSON) run configuration with [data], [model] and [train] tables."""
    path = Path(path)
    if not path.is_file():
        shipped = CONFIG_DIR / path.name
        if not path.suffix:
            shipped = CONFIG_DIR / (path.name + ".toml")
        if shipped.is_file():
            path = shipped
        else:
            raise UserError(f"config file {str(path)!r} does not exist (shipped configs: {shipped_configs()})")
    text = path.read_text(encoding="utf-8")
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
    unknown = sorted(set(cfg) - {"data", "model", "train"})
    if unknown:
        raise UserError(f"config file {str(path)!r} has unknown sections {unknown} (expected data, model, train)")
    return {k: dict(cfg.get(k, {})) for k in ("data", "model", "train")}


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
        return ByteBPETokenizer.train(text, bpe_vocab_size)
    raise UserError(f"--tokenizer must be 'char' or 'bpe', got {kind!r}")


# ------------------------------------------------------------------- checkpoints
def load_run(checkpoint):
    """(model, tokenizer, checkpoint) from a checkpoint folder (or its ckpt.npz)."""
    from minillm.io.checkpoint import load_checkpoint
    from minillm.models.gpt import GPT, GPTConfig
    from minillm.tokenizers import load_tokenizer

    path = Path(checkpoint)
    folder = path.parent if path.suffix == ".npz" else path
    npz = path if path.suffix == ".npz" else path / "ckpt.npz"
    if not npz.is_file():
        raise UserError(f"checkpoint {str(npz)!r} does not exist")
    with user_input(""):
        ckpt = load_checkpoint(str(npz))
    with user_input(f"checkpoint {str(npz)!r} holds a config this minillm cannot use"):
        config = GPTConfig.from_dict(ckpt.config)
        model = GPT(config, params={k: np.asarray(v) for k, v in ckpt.params.items()})
    tok_path = folder / "tokenizer.json"
    if not tok_path.is_file():
        raise UserError(f"checkpoint folder {str(folder)!r} has no tokenizer.json")
    with user_input(""):
        tokenizer = load_tokenizer(str(tok_path))
    if tokenizer.vocab_size != config.vocab_size:
        raise UserError(f"tokenizer.json has {tokenizer.vocab_size} tokens but the model expects {config.vocab_size}")
    return model, tokenizer, ckpt


# ---------------------------------------------------------------------- commands
def make_run(texts, data_cfg, model_cfg, train_cfg, out_dir, *, progress=True, tokenizer=None):
    """Tokenize, split each text 90/10 (first 90% train, last 10% val), build the model and the trainer.

    `texts` is one string or a list of documents (the demo's English and Chinese files):
    each document is split on its own, so both splits hold every language.
    """
    from minillm.models.gpt import GPT, GPTConfig
    from minillm.train import Trainer, TrainConfig

    texts = [texts] if isinstance(texts, str) else list(texts)
    if tokenizer is None:
        tokenizer = build_tokenizer(data_cfg.get("tokenizer", "char"), "".join(texts),
                                    int(data_cfg.get("bpe_vocab_size", 512)))
    val_fraction = float(data_cfg.get("val_fraction", 0.1))
    if not 0.0 < val_fraction < 1.0:
        raise UserError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train_parts, val_parts = [], []
    for text in texts:
        tokens = np.array(tokenizer.encode(text), dtype=np.int64)
        n_train = int(len(tokens) * (1 - val_fraction))
        train_parts.append(tokens[:n_train])
        val_parts.append(tokens[n_train:])
    train_tokens, val_tokens = np.concatenate(train_parts), np.concatenate(val_parts)
    block = int(model_cfg.get("block_size", 64))
    for name, t in (("training split", train_tokens), ("validation split", val_tokens)):
        if len(t) < block + 1:
            raise UserError(f"the corpus is too short: its {name} has {len(t)} tokens, "
                            f"fewer than block_size + 1 = {block + 1}")
    with user_input(""):
        gcfg = GPTConfig(vocab_size=tokenizer.vocab_size, **model_cfg)
        tcfg = TrainConfig(**train_cfg)
    model = GPT(gcfg, seed=tcfg.seed)
    trainer = Trainer(model, train_tokens, val_tokens, tcfg, out_dir=out_dir, tokenizer=tokenizer, progress=progress)
    return trainer, tokenizer


def finish_run(trainer, out_dir, extra=None):
    """Final checkpoint, loss plot and summary.json; returns the summary."""
    from minillm.atomic import write_json_atomic
    from minillm.plot import loss_curve_figure, save_figure

    os.makedirs(out_dir, exist_ok=True)
    trainer.save(os.path.join(out_dir, "checkpoint"))
    fig = loss_curve_figure(trainer.history)
    save_figure(fig, os.path.join(out_dir, "loss.png"))
    summary = {**trainer.summary(), **(extra or {})}
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
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
    trainer, tok = make_run(texts, cfg["data"], cfg["model"], cfg["train"], out_dir, progress=not args.quiet)
    m = trainer.model
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


def cmd_train(args):
    cfg = load_config_file(args.config) if args.config else {"data": {}, "model": {}, "train": {}}
    for name in ("tokenizer", "bpe_vocab_size", "val_fraction"):
        if getattr(args, name) is not None:
            cfg["data"][name] = getattr(args, name)
    for name in MODEL_FLAGS:
        if getattr(args, name) is not None:
            cfg["model"][name] = getattr(args, name)
    from minillm.train import TrainConfig

    for f in fields(TrainConfig):
        if getattr(args, f.name, None) is not None:
            cfg["train"][f.name] = getattr(args, f.name)
    text = read_corpus(args.data)
    out_dir = args.out
    tokenizer = None
    ckpt = None
    if args.resume:
        ckpt_folder = Path(out_dir) / "checkpoint"
        model, tokenizer, ckpt = load_run(ckpt_folder)
        cfg["model"] = {k: v for k, v in model.config.to_dict().items() if k != "vocab_size"}
    trainer, tok = make_run(text, cfg["data"], cfg["model"], cfg["train"], out_dir, progress=not args.quiet,
                            tokenizer=tokenizer)
    if ckpt is not None:
        trainer.restore(ckpt)
        print(f"resuming from step {trainer.iter}")
    m = trainer.model
    print(f"training a GPT with {m.n_params:,} parameters on {args.data} "
          f"({len(trainer.train_tokens):,} train / {len(trainer.val_tokens):,} val tokens, vocab {tok.vocab_size}, "
          f"backend {m.config.backend}, {1 if trainer.parallel is None else trainer.parallel.n_threads} thread(s))")
    t0 = time.time()
    trainer.run()
    summary = finish_run(trainer, out_dir, {"seconds": time.time() - t0, "data": str(args.data)})
    print(json.dumps(summary, indent=2))
    print(f"wrote {out_dir}/summary.json, {out_dir}/loss.png and {out_dir}/checkpoint/")
    return 0


def cmd_generate(args):
    model, tok, _ = load_run(args.checkpoint)
    print(sample_text(model, tok, args.prompt, args.max_new_tokens, seed=args.seed, temperature=args.temperature,
                      top_k=args.top_k, top_p=args.top_p, greedy=args.greedy))
    return 0


def cmd_eval(args):
    model, tok, _ = load_run(args.checkpoint)
    text = read_corpus(args.data)
    tokens = np.array(tok.encode(text), dtype=np.int64)
    if tokens.size < 2:
        raise UserError(f"{args.data!r} has fewer than 2 tokens")
    if args.max_tokens:
        tokens = tokens[: args.max_tokens]
    if args.stride is not None and args.stride > model.config.block_size:
        raise UserError(f"--stride must be at most block_size {model.config.block_size}, got {args.stride}")
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
    d.add_argument("--seed", type=int, default=0, help="sampling seed")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_demo)
    return d


def add_train_parser(sub):
    from minillm.train import TrainConfig

    t = sub.add_parser("train", help="train a GPT on any UTF-8 text file")
    t.add_argument("--data", required=True, help="a UTF-8 text file")
    t.add_argument("--out", default="out/train", help="output folder (checkpoint/, loss.png, summary.json)")
    t.add_argument("--config", help=f"a TOML config ([data], [model], [train]); shipped: {', '.join(shipped_configs())}")
    t.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--tokenizer", choices=["char", "bpe"], help="characters, or byte-level BPE trained on the text")
    t.add_argument("--bpe-vocab-size", type=positive_int, help="BPE vocabulary size")
    t.add_argument("--val-fraction", type=float, help="the last fraction of the text held out for validation")
    kinds = {"dropout": float, "bias": boolean, "pos": str, "norm": str, "mlp": str, "backend": str, "dtype": str}
    for name in MODEL_FLAGS:
        t.add_argument("--" + name.replace("_", "-"), type=kinds.get(name, positive_int), dest=name,
                       help=FLAG_HELP[name])
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
    g.add_argument("--temperature", type=non_negative_float, default=0.8, help="0: greedy")
    g.add_argument("--top-k", type=positive_int)
    g.add_argument("--top-p", type=probability)
    g.add_argument("--greedy", action="store_true")
    g.add_argument("--seed", type=int, default=0)
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
