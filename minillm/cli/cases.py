"""`minillm finetune | ner | translate`: the article's cases, each a pipeline of minillm/tasks/.

The parsers import no task: a command imports its pipeline when it runs.  A flag left
out takes the pipeline's own default (Case1Config, NerConfig, TranslationConfig), so
each default is written once, in the task.
"""
import os
import time
from pathlib import Path

from minillm.cli.args import (
    UserError, existing_file, non_negative_int, positive_float, positive_int, unit_interval, user_input,
)
from minillm.datasets import DATA_DIR


def _given(args, names):
    """The flags among `names` that the user set (the rest keep the task's defaults)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _print_results(table, took, out, files):
    print()
    print(table)
    print(f"\n({took}) wrote " + " and ".join(f"{out}/{name}" for name in files))
    return 0


def add_backend_flag(parser):
    parser.add_argument("--backend", choices=("numba", "numpy"),
                        help="numba (the kernels, the default) or numpy (the readable layers; slower, the same "
                             "results within float32 rounding)")


# ---------------------------------------------------------------------------- finetune (case 1)

def add_finetune_parser(sub):
    f = sub.add_parser("finetune", help="case 1: pre-train a small BERT (MLM), fine-tune it on a classification "
                       "TSV, compare with bag-of-words LR; writes metrics.json, confusion.png")
    f.add_argument("--train", required=True, help="GLUE-style TSV with columns sentence, label (0/1)")
    f.add_argument("--test", required=True, help="the same format, for the reported metrics")
    f.add_argument("--pretrain-steps", type=non_negative_int,
                   help="MLM steps on data/corpus_*.txt (0 = skip pre-training; default 600)")
    f.add_argument("--steps", type=positive_int, help="fine-tuning steps (default 300)")
    f.add_argument("--seed", type=non_negative_int, help="the seed of every random choice (default 0)")
    add_backend_flag(f)
    f.add_argument("--out", default="out/finetune", help="output folder (default out/finetune)")
    f.set_defaults(func=cmd_finetune)
    return f


def cmd_finetune(args):
    from dataclasses import replace

    from minillm.atomic import write_json_atomic
    from minillm.plot import confusion_figures, save_figure
    from minillm.tasks.classification import CORPORA, LABEL_NAMES, Case1Config, format_table, read_classification_tsv, run_case1

    for flag in ("--train", "--test"):
        path = existing_file(flag, getattr(args, flag[2:]))
        with user_input(f"{flag} {str(path)!r}"):
            read_classification_tsv(path)
    cfg = replace(Case1Config(), **_given(args, ("pretrain_steps", "steps", "seed", "backend")))
    missing = [str(p) for p in CORPORA if not p.is_file()]
    if missing and cfg.pretrain_steps > 0:
        raise UserError(f"the pre-training corpus is missing: {missing}; run from a clone of the repository "
                        f"or pass --pretrain-steps 0")
    t0 = time.perf_counter()
    run = run_case1(args.train, args.test, cfg)
    run["seconds"]["total"] = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    write_json_atomic(os.path.join(args.out, "metrics.json"), {**run, "train": str(args.train),
                                                              "test": str(args.test)})
    save_figure(confusion_figures(run["results"], LABEL_NAMES), os.path.join(args.out, "confusion.png"))
    return _print_results(format_table(run["results"]), f"{run['seconds']['total']:.0f} s", args.out,
                          ["metrics.json", "confusion.png"])


# ---------------------------------------------------------------------------- ner

def add_ner_parser(sub):
    p = sub.add_parser("ner", help="named-entity recognition: train a small BERT token classifier on a CoNLL "
                       "file, report entity P/R/F1 against baselines; writes metrics.json")
    p.add_argument("--train", required=True, help="CoNLL file (word ... tag per line, IOB1 or IOB2 tags)")
    p.add_argument("--test", required=True, help="the same format, for the reported scores")
    p.add_argument("--steps", type=positive_int, help="training steps (default 600)")
    p.add_argument("--max-length", type=positive_int,
                   help="pieces per sentence, [CLS] and [SEP] included; words beyond are tagged O (default 48)")
    p.add_argument("--seed", type=non_negative_int, help="the seed of every random choice (default 0)")
    add_backend_flag(p)
    p.add_argument("--out", default="out/ner", help="output folder (default out/ner)")
    p.set_defaults(func=cmd_ner)
    return p


def cmd_ner(args):
    from dataclasses import replace

    import numpy as np

    from minillm.atomic import write_json_atomic, write_text_atomic
    from minillm.tasks.ner import (
        NerConfig, check_known_tags, conll_predictions_text, format_table, label_list, read_ner_file, run_ner,
    )

    sentences = {}
    for flag in ("--train", "--test"):
        path = existing_file(flag, getattr(args, flag[2:]))
        with user_input(f"{flag} {str(path)!r}"):
            sentences[flag] = read_ner_file(path)
    with user_input(""):
        # a tag in the test file that the training file never had: no output of the classifier can predict it
        label2id = {tag: i for i, tag in enumerate(label_list(sentences["--train"]))}
        check_known_tags(sentences["--test"], label2id, f"--test file {args.test!r}")
    if args.max_length is not None and args.max_length < 3:
        raise UserError(f"--max-length must be >= 3 ([CLS], one piece, [SEP]), got {args.max_length}")
    cfg = replace(NerConfig(), **_given(args, ("steps", "seed", "max_length", "backend")))
    run = run_ner(args.train, args.test, cfg)
    os.makedirs(args.out, exist_ok=True)
    keep = ("results", "labels", "train_seconds", "settings", "vocab_size", "n_train", "n_test", "words_cut")
    write_json_atomic(os.path.join(args.out, "metrics.json"),
                      {**{k: run[k] for k in keep}, "first_loss": run["losses"][0],
                       "last_loss": float(np.mean(run["losses"][-20:])), "train": str(args.train),
                       "test": str(args.test)})
    write_text_atomic(os.path.join(args.out, "predictions.conll"),
                      conll_predictions_text(sentences["--test"], run["predictions"]))
    return _print_results(format_table(run["results"]), f"trained {run['train_seconds']:.0f} s", args.out,
                          ["metrics.json", "predictions.conll"])


# ---------------------------------------------------------------------------- translate (case 2)

def add_translate_parser(sub):
    p = sub.add_parser("translate", help="train an English->French encoder-decoder and report BLEU "
                                         "(greedy and beam search)")
    p.add_argument("--train", default=str(DATA_DIR / "en_fr_train.tsv"),
                   help="TSV of pairs with header en<TAB>fr (default: the shipped data/en_fr_train.tsv)")
    p.add_argument("--test", default=str(DATA_DIR / "en_fr_test.tsv"),
                   help="held-out TSV of pairs, same format (default: the shipped data/en_fr_test.tsv)")
    p.add_argument("--steps", type=positive_int, help="training steps (default 1500)")
    p.add_argument("--beam", type=positive_int, default=4, help="beam size for the second decoding "
                                                               "(default 4; 1 = greedy only)")
    p.add_argument("--alpha", type=float, default=0.6, help="GNMT length penalty exponent (default 0.6)")
    p.add_argument("--batch-size", type=positive_int, help="pairs per step (default 48)")
    p.add_argument("--lr", type=positive_float, help="peak learning rate (default 3e-3)")
    p.add_argument("--label-smoothing", type=unit_interval, help="epsilon of the smoothed targets (default 0.1)")
    p.add_argument("--seed", type=non_negative_int, help="the seed of every random choice (default 0)")
    add_backend_flag(p)
    p.add_argument("--out", default="out/translate", help="output folder (metrics.json, translations.tsv, "
                                                          "cross_attention.png)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_translate)
    return p


def cmd_translate(args):
    from dataclasses import replace

    from minillm.tasks.translation import TranslationConfig, read_pairs, run

    for flag in ("--train", "--test"):
        path = getattr(args, flag[2:])
        if not Path(path).is_file():
            raise UserError(f"{flag} file {str(path)!r} does not exist or is not a file")
        with user_input(f"{flag} {str(path)!r}"):
            read_pairs(path, f"{flag} file")
    cfg = replace(TranslationConfig(),
                  **_given(args, ("steps", "batch_size", "lr", "label_smoothing", "seed", "backend")))
    run(args.train, args.test, args.out, cfg, beam=args.beam, alpha=args.alpha, log=None if args.quiet else print)
    return 0
