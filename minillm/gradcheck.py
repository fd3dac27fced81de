"""Numerical gradients: the referee for every backward in minillm.

A backward is trusted only after it agrees with a numerical gradient computed
by central differences in float64:

    df/dx_i  ~=  ( f(x + h e_i) - f(x - h e_i) ) / (2h)          error O(h^2)

For a layer with array output we check the *projected* scalar

    L(x) = sum( forward(x) * dout )          with a random dout

whose gradient is exactly what `backward(dout, cache)` returns.  A random dout
(not ones) makes a transposed or mis-summed gradient show up.  To keep the
round-off small, the difference of the two outputs is taken before projecting:

    dL/dx_i ~= sum( (out(x + h e_i) - out(x - h e_i)) * dout ) / (2h)

Agreement is scored as in CS231n, element by element with a floor:

    rel_error(a, b) = max_i |a_i - b_i| / max(floor, |a_i| + |b_i|)

Used by the tests (which assert the worst error is below 1e-6) and by the
notebooks (which print the report).
"""
from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 1e-6


def rel_error(a, b, floor=1e-8):
    """max_i |a_i - b_i| / max(floor, |a_i| + |b_i|)   (0.0 for empty arrays)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, h=1e-5, *, order=2):
    """Central-difference gradient of a scalar function f() with respect to array x.

    f takes no arguments and reads x, which is perturbed in place and restored.

        order=2:  grad_i = ( f(x + h e_i) - f(x - h e_i) ) / (2h)                       error O(h^2)
        order=4:  grad_i = ( -f(x+2h e_i) + 8 f(x+h e_i) - 8 f(x-h e_i) + f(x-2h e_i) ) / (12h)   O(h^4)

    The fourth-order stencil allows a larger h (1e-3), which divides the
    round-off error eps*|f|/h by 100: use it for deep compositions (a whole
    model), where many gradient entries are small and O(h^2) is not enough.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]

        def f_at(delta):
            x[i] = old + delta
            return f()

        if order == 2:
            grad[i] = (f_at(h) - f_at(-h)) / (2 * h)
        else:
            grad[i] = (-f_at(2 * h) + 8 * f_at(h) - 8 * f_at(-h) + f_at(-2 * h)) / (12 * h)
        x[i] = old
    return grad


def numerical_gradient_projected(forward, x, dout, h=1e-5):
    """Gradient of L = sum(forward() * dout) w.r.t. x, differencing outputs before projecting.

    forward takes no arguments, reads x and returns an array shaped like dout.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        out_plus = np.array(forward(), dtype=np.float64, copy=True)
        x[i] = old - h
        out_minus = np.array(forward(), dtype=np.float64, copy=True)
        x[i] = old
        grad[i] = np.sum((out_plus - out_minus) * dout) / (2 * h)
    return grad


@dataclass
class GradCheckResult:
    """How one analytic gradient compares with its numerical twin."""

    name: str
    rel_error: float
    abs_error: float
    worst_index: tuple
    analytic: np.ndarray
    numerical: np.ndarray
    threshold: float = DEFAULT_THRESHOLD

    @property
    def ok(self):
        return self.rel_error < self.threshold

    def __str__(self):
        verdict = "ok" if self.ok else "FAIL"
        return (
            f"{self.name:>10s}: rel {self.rel_error:.2e}  abs {self.abs_error:.2e}  "
            f"worst at {self.worst_index}  (threshold {self.threshold:.0e}) {verdict}"
        )


def compare(name, analytic, numerical, threshold=DEFAULT_THRESHOLD, floor=1e-8, scale="element"):
    """Score analytic vs numerical gradient; return a GradCheckResult.

    scale="element" (the default, CS231n's score) divides each error by its own element:
        max_i |a_i - b_i| / max(floor, |a_i| + |b_i|)
    scale="tensor" divides by the largest element of the tensor instead:
        max_i |a_i - b_i| / max(floor, max_j (|a_j| + |b_j|))
    A whole model has thousands of gradient entries, some a million times smaller
    than the largest; for those, the element score measures the round-off of the
    finite difference (~1e-12 absolute), not the backward.  The tensor score still
    catches every wrong term, transpose or missing path that matters at 1e-6 of
    the gradient's size; tests/test_gpt.py uses it for the end-to-end check.
    """
    if scale not in ("element", "tensor"):
        raise ValueError(f"scale must be 'element' or 'tensor', got {scale!r}")
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise ValueError(
            f"gradient of {name} has shape {analytic.shape}, but the parameter has shape {numerical.shape}"
        )
    if analytic.size == 0:
        return GradCheckResult(name, 0.0, 0.0, (), analytic, numerical, threshold)
    diff = np.abs(analytic - numerical)
    size = np.abs(analytic) + np.abs(numerical)
    denominator = np.maximum(floor, size if scale == "element" else size.max())
    ratio = diff / denominator
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return GradCheckResult(
        name, float(ratio[worst]), float(diff.max()), tuple(int(i) for i in worst), analytic, numerical, threshold
    )


def check_layer(forward, backward, arrays, *, kwargs=None, names=None, rng=None, h=1e-5, threshold=DEFAULT_THRESHOLD):
    """Projected gradient check of a forward/backward pair for every float array argument.

        out, cache = forward(*arrays, **kwargs)
        grads      = backward(dout, cache)      # one per array argument, in order

    `arrays` is the list of positional arguments; entries that are None or not
    floating point (token ids, targets) get no check.  Returns a list of
    GradCheckResult, one per checked argument.  Scalar outputs (losses) are
    handled too: dout is then a random scalar.
    """
    kwargs = kwargs or {}
    rng = np.random.default_rng(0) if rng is None else rng
    arrays = list(arrays)
    out, cache = forward(*arrays, **kwargs)
    out = np.asarray(out)
    dout = rng.standard_normal(out.shape)
    if out.ndim == 0:
        dout = float(dout)
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    # The contract: one gradient per float array argument (None for a None argument), in order.
    positions = [i for i, a in enumerate(arrays) if a is None or _differentiable(a)]
    if len(grads) != len(positions):
        raise ValueError(f"backward returned {len(grads)} gradients, the contract wants {len(positions)}")
    names = names or [f"arg{i}" for i in range(len(arrays))]
    results = []
    for g, i in zip(grads, positions):
        a = arrays[i]
        if a is None:
            if g is not None:
                raise ValueError(f"backward returned a gradient for {names[i]}, which is None")
            continue
        if g is None:
            raise ValueError(f"backward returned None for {names[i]}, which is a float array")
        numerical = numerical_gradient_projected(lambda: forward(*arrays, **kwargs)[0], a, dout, h=h)
        results.append(compare(names[i], g, numerical, threshold))
    return results


def _differentiable(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def report(results):
    """One line per checked argument; returns the text (notebooks print it)."""
    return "\n".join(str(r) for r in results)
