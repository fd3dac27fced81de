"""AdamW in one jitted pass per parameter, and the global gradient norm: the optimizer's hot loops.

minillm.optim.AdamW.step walks every parameter tensor eight times (m *= b1,
m += ..., v *= b2, np.square, v += ..., decay, sqrt, divide ...), each with a
temporary.  Here each element of p, g, m, v is read once and p, m, v written
once:

    g_hat = g * grad_scale                          (grad_scale folds in gradient clipping)
    m     = b1 m + (1 - b1) g_hat
    v     = b2 v + (1 - b2) g_hat^2
    p     = p (1 - lr wd)                           (only for tensors in the decay set)
    p     = p - (lr / (1 - b1^t)) m / (sqrt(v / (1 - b2^t)) + eps)

Every line is evaluated in the parameter's dtype, in the same order as
minillm.optim.AdamW (whose scalars NumPy also rounds to the array's dtype), so
the result is the same bit for bit, float32 and float64
(tests/test_kernels_fused.py runs both side by side for several steps).

Inside a GPT-recipe training step (0.80M parameters, float32, 2 cores, quiet):
global_grad_norm + adamw_step 0.4 + 1.2 ms, against 0.9 + 3.1 ms for
optim.clip_grad_norm + AdamW.step.

    adamw_step(params, grads, m, v, lr=..., betas=..., eps=..., weight_decay=...,
               decay=..., t=...)            lists of arrays, one entry per tensor
"""
import math

import numpy as np
from numba import njit

from minillm.checks import check_int, check_number


# one tensor (flattened): the five lines of the module docstring, element by element
# $$ \hat{g} = g \cdot \mathrm{grad\_scale} $$
# $$ m \leftarrow \beta_1 m + (1 - \beta_1)\, \hat{g}, \qquad v \leftarrow \beta_2 v + (1 - \beta_2)\, \hat{g}^2 $$
# $$ p \leftarrow p\, (1 - \mathrm{lr} \cdot \mathrm{wd}) \quad \text{(decay set only)}, \qquad p \leftarrow p - \frac{\mathrm{lr}}{1 - \beta_1^t} \cdot \frac{m}{\sqrt{v / (1 - \beta_2^t)} + \epsilon} $$
@njit(cache=True, error_model="numpy")
def _adamw_update(p, g, m, v, grad_scale, b1, one_minus_b1, b2, one_minus_b2, decay_factor, step_size, bias2,
                  eps):
    for i in range(p.size):
        g_hat = g[i] * grad_scale
        m[i] = m[i] * b1 + one_minus_b1 * g_hat
        v[i] = v[i] * b2 + one_minus_b2 * (g_hat * g_hat)
        p_decayed = p[i] * decay_factor
        p[i] = p_decayed - step_size * m[i] / (np.sqrt(v[i] / bias2) + eps)


# a as a flat view; m and v are updated in place, so they must be C-contiguous (a read-only
# gradient may be any layout: it is copied if needed)
def _flat(name, k, a, shape, dtype, *, written=True):
    if (not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype
            or (written and not a.flags.c_contiguous)):
        got = f"shape {a.shape}, dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
        layout = "C-contiguous " if written else ""
        raise ValueError(f"{name}[{k}] must be a {layout}{dtype} array of shape {shape}, got {got}")
    return np.ascontiguousarray(a).reshape(-1)


# t is the step number after this update (1 for the first step), as in AdamW.step.
def adamw_step(params, grads, m, v, *, lr, betas, eps, weight_decay, decay, t, grad_scale=1.0):
    """One AdamW update of every tensor, in place: params[k], m[k], v[k] change; grads[k] is only read.

    params, grads, m, v: equally long lists of arrays (m and v are the moment buffers);
    decay: list of bools, True where weight decay applies (the matrices);
    grad_scale: multiplies every gradient first (clip_grad_norm's factor, or 1.0).
    """
    check_number("lr", lr, low=0.0)
    b1, b2 = betas
    check_number("betas[0]", b1, low=0.0, high=1.0, high_open=True)
    check_number("betas[1]", b2, low=0.0, high=1.0, high_open=True)
    check_number("eps", eps, low=0.0, low_open=True)
    check_number("weight_decay", weight_decay, low=0.0)
    check_int("t", t, low=1)
    n = len(params)
    for name, seq in (("grads", grads), ("m", m), ("v", v), ("decay", decay)):
        if len(seq) != n:
            raise ValueError(f"{name} must have one entry per parameter ({n}), got {len(seq)}")
    # bias corrections, in float64 as AdamW computes them
    bias1 = 1.0 - b1**t
    bias2 = 1.0 - b2**t
    for k in range(n):
        p = params[k]
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64) or not p.flags.c_contiguous:
            raise ValueError(f"params[{k}] must be a C-contiguous float32 or float64 array, got {p!r:.60}")
        dt = p.dtype.type  # every scalar rounded to the tensor's dtype, as NumPy does for p -= lr * ...
        decay_factor = dt(1.0 - lr * weight_decay) if (weight_decay and decay[k]) else dt(1.0)
        _adamw_update(p.reshape(-1), _flat("grads", k, grads[k], p.shape, p.dtype, written=False),
                      _flat("m", k, m[k], p.shape, p.dtype), _flat("v", k, v[k], p.shape, p.dtype),
                      dt(grad_scale), dt(b1), dt(1.0 - b1), dt(b2), dt(1.0 - b2), decay_factor,
                      dt(lr / bias1), dt(bias2), dt(eps))


# sum_i g_i^2 over one tensor, accumulated in float64.  fastmath={"reassoc"} lets
# LLVM keep vector-wide partial sums (the order of the additions changes, by
# ~1e-16 relative); it assumes nothing about inf or NaN, which still propagate.
# $$ \sum_i g_i^2 $$
@njit(cache=True, fastmath={"reassoc"})
def _sum_of_squares(g):
    s = 0.0
    for i in range(g.size):
        gi = np.float64(g[i])
        s += gi * gi
    return s


# ||g|| = sqrt( sum over all tensors of sum(g^2) )
# $$ \|g\| = \sqrt{\sum_\text{tensors} \sum_i g_i^2} $$
def global_grad_norm(grads):
    """The global L2 norm of a list of gradient arrays, accumulated in float64 (as clip_grad_norm does)."""
    return math.sqrt(sum(_sum_of_squares(np.ascontiguousarray(g).reshape(-1)) for g in grads))
