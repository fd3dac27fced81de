"""Input checks shared by every layer, kernel and model.

Every check fails early and says three things: which argument, what arrived,
and what was expected.  Layers call these on their first lines so that a wrong
shape never reaches NumPy's broadcasting (which would silently "work").

    >>> check_float_array("x", np.zeros((2, 3)), ndim=2)
    >>> check_float_array("x", [1.0], ndim=1)
    Traceback (most recent call last):
    TypeError: x must be a numpy.ndarray, got list
"""
import dataclasses
import numbers

import numpy as np

from minillm.lang import tr


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"a {type(x).__name__}"


def check_array(name, x):
    """x must be a NumPy array (lists are refused: shapes must be explicit)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {_describe(x)}")


def check_float_array(name, x, *, ndim=None, min_ndim=None):
    """x must be a floating-point ndarray, with exactly `ndim` or at least `min_ndim` axes."""
    check_array(name, x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {x.shape}")


def check_shape(name, x, expected, *, what=""):
    """x.shape must equal `expected`; None in `expected` matches any size.

    `what` names the axes for the message, e.g. "(B, T, C)".
    """
    expected = tuple(expected)
    ok = x.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, x.shape))
    if not ok:
        want = tuple("any" if e is None else e for e in expected)
        label = f" {what}" if what else ""
        raise ValueError(f"{name} must have shape{label} {want}, got {x.shape}")


def check_same_shape(name, x, ref_name, ref):
    if x.shape != ref.shape:
        raise ValueError(f"{name} must have the same shape as {ref_name} {ref.shape}, got {x.shape}")


def check_int_array(name, ids, *, high=None):
    """ids must be an integer array with values in [0, high)."""
    check_array(name, ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array (token ids), got dtype {ids.dtype}")
    if high is not None and ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= high:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} must hold ids in [0, {high}), got {bad}")


def check_bool_mask(name, mask, target_shape):
    """mask must be a boolean array broadcastable to `target_shape` (True = may attend)."""
    check_array(name, mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array (True = may attend), got dtype {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, tuple(target_shape))
    except ValueError:
        raise ValueError(
            f"{name} must be broadcastable to {tuple(target_shape)}, got shape {mask.shape}"
        ) from None
    if mask.ndim > len(target_shape):
        raise ValueError(f"{name} must have at most {len(target_shape)} dimensions, got shape {mask.shape}")


def check_int(name, value, *, low=None, high=None):
    """value must be a Python/NumPy integer (not bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")


def check_known_fields(cls, d, what):
    """d (a dict for the dataclass cls) must use only cls's field names."""
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"{what} has unknown fields {unknown}")


def check_flag(name, value):
    """value must be True or False (a Python or NumPy bool; 0 and 1 are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_number(name, value, *, low=None, high=None, low_open=False, high_open=False):
    """value must be a real number in the given interval (open ends where asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")


def check_rng(name, rng):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got {_describe(rng)}"
        )


def check_params(params, shapes, what):
    """A model's params dict must hold exactly the expected names with the expected shapes.

    Names the missing, unexpected and wrongly shaped keys in one ValueError (never a
    silent partial model):  "params do not fit <what>: missing [...], unexpected [...],
    wrong shape [...] (got ... , expected ...)".
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got a {type(params).__name__}")
    missing = sorted(set(shapes) - set(params))
    unexpected = sorted(set(params) - set(shapes))
    wrong = sorted(k for k in shapes if k in params and np.shape(params[k]) != tuple(shapes[k]))
    if missing or unexpected or wrong:
        details = ", ".join(f"{k}: got {np.shape(params[k])}, expected {tuple(shapes[k])}" for k in wrong)
        raise ValueError(f"params do not fit {what}: missing {missing}, unexpected {unexpected}, "
                         f"wrong shape {wrong}" + (f" ({details})" if wrong else ""))


# ------------------------------------------------------------------ numbers the prose states
# A notebook's markdown says "add-0.01 improves from 398 to 276"; the code cell right after
# computes both and calls
#     stated("398", ppl[1]);  stated("276", ppl[2])
# so the run fails the moment code and prose part ways.  `written` is the number exactly as the
# prose writes it (tests/test_notebook_claims.py matches the prose against these strings).
# By default the computed value must round to what is written (|value - written| <= half a unit
# of its last digit); tol= (absolute) or rel= (relative) widen that for seed-dependent numbers.
def stated(written, value, *, tol=None, rel=None, what=""):
    """Assert that `value` is the number the prose writes as `written`; print one line saying so."""
    if not isinstance(written, str):
        raise TypeError(f"written must be the number as the prose writes it (a str such as '0.958'), got "
                        f"{_describe(written)}")
    text = written.replace(",", "").replace("−", "-").replace("×", "").strip()
    scale = 100.0 if text.endswith("%") else 1.0
    text = text.rstrip("%")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"written must be a number as the prose writes it, got {written!r}") from None
    if tol is None and rel is None:
        mantissa = text.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
        tol = 0.5 * 10.0 ** (exponent - decimals) * (1 + 1e-9)
    bound = max(tol or 0.0, abs(number) * (rel or 0.0))
    shown = float(value) * scale
    if not abs(shown - number) <= bound:
        raise AssertionError(f"the prose says {written}{' (' + what + ')' if what else ''}, but the notebook "
                             f"computes {shown:.6g}: update the prose or find what changed")
    label = tr(f" ({what})", f"（{what}）") if what else ""
    print(tr(f"  as stated: {written}{label}, computed {shown:.6g}", f"  与正文一致：{written}{label}，计算值 {shown:.6g}"))


# ------------------------------------------------------------------ notebook exercises
# An exercise's answer goes between "### BEGIN SOLUTION" / "### END SOLUTION" lines (stripped from the
# students' notebooks by `minillm assignment make`); the check cell after it calls
#     verdict("6.3", np.allclose(before[:5], after[:5]), right="positions 0..4 did not move",
#             wrong="an earlier position changed: does the mask hide the future?")
# and says right, or wrong and why (an AssertionError, so "run all" stops at the first wrong answer).
def verdict(exercise, ok, *, right, wrong):
    """The check cell of notebook exercise `exercise`: print why `ok` is right, or raise saying why not."""
    if not isinstance(exercise, str):
        raise TypeError(f"exercise must name the exercise as a str such as '6.3', got {_describe(exercise)}")
    if not isinstance(ok, (bool, np.bool_)):
        raise TypeError(f"ok must be a bool (the outcome of the check), got {_describe(ok)}")
    if not ok:
        raise AssertionError(tr(f"Exercise {exercise}: wrong. {wrong}", f"练习 {exercise}：错误。{wrong}"))
    print(tr(f"Exercise {exercise}: right. {right}", f"练习 {exercise}：正确。{right}"))
