"""What the command line accepts: argument types, the user-error type, and one way to raise it.

A mistake the user made (a missing file, a bad flag value, a damaged checkpoint) is a
UserError: `minillm.cli.main` prints it as one line, `minillm: error: ...`, exit status 2.
Anything else is a bug and keeps its traceback.
"""
import argparse
import math
from contextlib import contextmanager
from pathlib import Path


class UserError(ValueError):
    """A problem with what the user asked for: printed as one line, without a traceback."""


@contextmanager
def user_input(what):
    """Inside the block, a ValueError or TypeError is about the user's input: it becomes a UserError.

        with user_input("--train"):
            texts, labels = read_classification_tsv(args.train)

    Used only around reading and checking what the user gave, never around training, so a
    ValueError from a bug inside a layer still shows its traceback.
    """
    try:
        yield
    except UserError:
        raise
    except (ValueError, TypeError) as e:
        raise UserError(f"{what}: {e}" if what else str(e)) from None


def existing_file(flag, path):
    """The path if it names a file, else a UserError naming the flag."""
    if not Path(path).is_file():
        raise UserError(f"{flag} {str(path)!r} does not exist or is not a file")
    return path


def non_negative_int(s):
    """argparse type: an integer >= 0."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


def positive_int(s):
    """argparse type: an integer >= 1."""
    v = non_negative_int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def positive_float(s):
    """argparse type: a number > 0."""
    v = _float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {s}")
    return v


def non_negative_float(s):
    """argparse type: a number >= 0."""
    v = _float(s)
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s}")
    return v


def probability(s):
    """argparse type: a number in (0, 1]."""
    v = _float(s)
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {s}")
    return v


def open_unit_interval(s):
    """argparse type: a number in (0, 1)."""
    v = _float(s)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {s}")
    return v


def unit_interval(s):
    """argparse type: a number in [0, 1)."""
    v = _float(s)
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {s}")
    return v


def boolean(s):
    """argparse type: true/false, yes/no, 1/0."""
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {s}")


def _float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {s!r}")
    return v
