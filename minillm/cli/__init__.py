"""The command line: `minillm demo | train | generate | eval | finetune | ner | translate | bench | assignment | site`.

    args.py     argument types, UserError (printed as one line), user_input()
    lm.py       demo, train, generate, eval: a GPT on any text          (imports GPT when run)
    runs.py     what train checks first: --out (lock, no overwrite), --resume, memory
    cases.py    finetune, ner, translate: the article's cases            (imports its task when run)
    bench.py    bench
    assignment.py   assignment list | make | check | report: course workspaces and their grader
    site.py     site: the reading edition                                (imports minillm.site when run)

Building the parser imports no model: each command imports what it needs when it runs,
so `minillm train --help` loads no BERT.

One training step, read from here to the last backward, each file once (backend numpy):
    cli/__init__.py main -> cli/lm.py cmd_train -> train.py Trainer.step
    -> models/gpt.py GPT.forward, GPT.backward
    -> layers/block.py decoder_block_forward / decoder_block_backward
    -> layers/attention.py, norm.py, feedforward.py, ... (each forward beside its backward)
    -> optim.py clip_grad_norm, AdamW.step
"""
import argparse
import os
import sys

from minillm.assignments.markers import NOT_WRITTEN
from minillm.cli.args import UserError
from minillm.cli.assignment import add_assignment_parser
from minillm.cli.bench import add_bench_parser
from minillm.cli.cases import add_finetune_parser, add_ner_parser, add_translate_parser
from minillm.cli.lm import add_demo_parser, add_eval_parser, add_generate_parser, add_train_parser, load_config_file
from minillm.cli.site import add_site_parser

__all__ = ["UserError", "build_parser", "load_config_file", "main"]


def build_parser():
    p = argparse.ArgumentParser(prog="minillm", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    add_demo_parser(sub)
    add_train_parser(sub)
    add_generate_parser(sub)
    add_eval_parser(sub)
    add_finetune_parser(sub)     # case 1: news vs blog, accuracy/P/R/F1
    add_ner_parser(sub)          # token classification on a CoNLL file, entity-level F1
    add_translate_parser(sub)    # case 2: English -> French, BLEU
    add_bench_parser(sub)
    add_assignment_parser(sub)   # course workspaces and their grader
    add_site_parser(sub)         # the reading edition
    return p


def main(argv=None):
    """Parse argv, run the command; a UserError (or a training run that had to stop: diverged, its
    checkpoint not writable, out of memory) is one line and exit status 2; Ctrl-C is one line and 130."""
    from minillm.train import CheckpointNotSaved, TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, TrainingDiverged, CheckpointNotSaved) as e:
        print(f"minillm: error: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:
        # the estimate (runtime/memory.py) is a floor: a run it let through can still run out
        detail = f" ({e})" if str(e) else ""
        print(f"minillm: error: out of memory{detail}: the settings need more memory than this machine has; "
              f"lower --block-size, --batch-size or the model's size", file=sys.stderr)
        return 2
    except NotImplementedError as e:
        # an assignment workspace's stub: the function the student has not written yet, in one line
        if not NOT_WRITTEN.match(str(e)):
            raise
        print(f"minillm: {e} (minillm assignment check grades what is written)", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `minillm ... | head`: the reader of stdout went away; exit as a piped command does, without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt as e:
        # training says what it saved (train.TrainingInterrupted); elsewhere there is nothing to say
        print(f"minillm: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
