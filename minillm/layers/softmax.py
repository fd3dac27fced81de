"""Softmax, log-softmax and cross-entropy: the article's output layer Softmax(Linear(x)) (§4.1/4.2).

    softmax(x)_j     = exp(x_j) / sum_k exp(x_k)
    log_softmax(x)_j = x_j - log sum_k exp(x_k)
    cross_entropy    = -(1/N) sum_n log softmax(logits_n)[target_n]

All three subtract the row maximum m = max_k x_k first.  That changes nothing
mathematically (exp(x_j - m) / sum_k exp(x_k - m) is the same fraction) but keeps
every exp() argument <= 0, so logits of 1e4 do not overflow to inf.

cross_entropy_backward uses the softmax values but no softmax layer: it returns the
fused gradient (softmax(logits) - onehot) / N, which equals the route through a
separate softmax and its V x V Jacobian diag(p) - p p^T without building it.

Derived in notebooks/09_output_layer.ipynb (section 6 compares the two routes).
"""
import numpy as np

from minillm.checks import check_array, check_float_array, check_int

IGNORE_INDEX = -100  # the default target that counts for nothing in the cross-entropy (as in PyTorch)


def _check_axis(axis, x):
    check_int("axis", axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [{-x.ndim}, {x.ndim}) for x of shape {x.shape}, got {axis}")


# ---------------------------------------------------------------------------
# Softmax along `axis` (default: the last, e.g. V or Tk)
#   m   = max_k x_k
#   e_j = exp(x_j - m)
#   out_j = e_j / sum_k e_k                  x (...)  ->  out (...), same shape
# ---------------------------------------------------------------------------
# $$ m = \max_k x_k \qquad e_j = \exp(x_j - m) \qquad \mathrm{out}_j = \frac{e_j}{\sum_k e_k} $$
def softmax_forward(x, *, axis=-1):
    check_float_array("x", x, min_ndim=1)
    _check_axis(axis, x)
    ### BEGIN SOLUTION
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    out = e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION
    cache = (out, axis)
    return out, cache


# dx_j = out_j * (dout_j - sum_k dout_k out_k)
#   (the Jacobian of softmax is diag(out) - out^T out, out a row vector)
# $$ \frac{\partial \mathcal{L}}{\partial x_j} = \mathrm{out}_j \left( \frac{\partial \mathcal{L}}{\partial \mathrm{out}_j} - \sum_k \frac{\partial \mathcal{L}}{\partial \mathrm{out}_k} \, \mathrm{out}_k \right) $$
# $$ \frac{\partial \, \mathrm{out}_j}{\partial x_i} = \mathrm{out}_j \left( \delta_{ij} - \mathrm{out}_i \right) $$
# $$ \text{Jacobian: } \operatorname{diag}(\mathrm{out}) - \mathrm{out}^\top \mathrm{out} \quad \text{(out a row vector)} $$
def softmax_backward(dout, cache):
    out, axis = cache
    ### BEGIN SOLUTION
    # out_j = e_j / sum_k e_k:  d out_j / d x_i = out_j (delta_ij - out_i)
    dot = (dout * out).sum(axis=axis, keepdims=True)
    return out * (dout - dot)
    ### END SOLUTION


# ---------------------------------------------------------------------------
# Log-softmax along `axis`, by log-sum-exp:
#   m     = max_k x_k
#   lse   = m + log sum_k exp(x_k - m)
#   out_j = x_j - lse                        x (...)  ->  out (...)
# ---------------------------------------------------------------------------
# $$ m = \max_k x_k \qquad \mathrm{lse} = m + \log \sum_k \exp(x_k - m) \qquad \mathrm{out}_j = x_j - \mathrm{lse} $$
def log_softmax_forward(x, *, axis=-1):
    check_float_array("x", x, min_ndim=1)
    _check_axis(axis, x)
    ### BEGIN SOLUTION
    m = x.max(axis=axis, keepdims=True)
    shifted = x - m
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    ### END SOLUTION
    cache = (out, axis)
    return out, cache


# dx_j = dout_j - softmax(x)_j * sum_k dout_k,     softmax(x) = exp(out)
# $$ \frac{\partial \mathcal{L}}{\partial x_j} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}_j} - \operatorname{softmax}(x)_j \sum_k \frac{\partial \mathcal{L}}{\partial \mathrm{out}_k} \qquad \operatorname{softmax}(x) = \exp(\mathrm{out}) $$
def log_softmax_backward(dout, cache):
    out, axis = cache
    ### BEGIN SOLUTION
    # out_j = x_j - lse(x), and d lse / d x_j = softmax(x)_j
    return dout - np.exp(out) * dout.sum(axis=axis, keepdims=True)
    ### END SOLUTION


def check_cross_entropy_args(logits, targets, ignore_index):
    """Checks of cross_entropy_forward (shared with its Numba twin); returns t (N,) int64 and valid (N,) bool."""
    check_float_array("logits", logits, min_ndim=1)
    check_array("targets", targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be an integer array (class ids), got dtype {targets.dtype}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"targets must have the leading shape of logits {logits.shape[:-1]} (logits is (..., V)), "
            f"got {targets.shape}"
        )
    check_int("ignore_index", ignore_index)
    V = logits.shape[-1]
    t = targets.reshape(-1).astype(np.int64)                        # (N,)
    valid = t != ignore_index                                       # (N,)
    bad = valid & ((t < 0) | (t >= V))
    if bad.any():
        raise ValueError(
            f"targets must hold class ids in [0, {V}) or ignore_index={ignore_index}, got {t[bad][0]}"
        )
    return t, valid


# ---------------------------------------------------------------------------
# Cross-entropy over the last axis, mean over the targets that are not ignored:
#   logits (..., V) float,  targets (...) integer, each in [0, V) or == ignore_index
#   lse_n  = log sum_v exp(logits_{n,v})           (per row n, by log-sum-exp)
#   loss   = -(1/N_valid) sum_{n valid} (logits_{n, t_n} - lse_n)      scalar
# If every target is ignored, N_valid = 0 and the loss is defined as 0.
#
# The cache keeps the logits (already alive in the caller) and one lse per row;
# backward recomputes the probabilities exp(logits - lse) instead of storing a
# second (N, V) array -- for a GPT's vocabulary that is the largest activation.
# ---------------------------------------------------------------------------
# $$ \mathrm{lse}_n = \log \sum_{v} \exp(z_{n,v}) $$
# $$ \mathcal{L} = -\frac{1}{N_{\mathrm{valid}}} \sum_{n \text{ valid}} \left( z_{n, y_n} - \mathrm{lse}_n \right) \qquad \left(\mathcal{L} = 0 \text{ if } N_{\mathrm{valid}} = 0\right) $$
def cross_entropy_forward(logits, targets, *, ignore_index=IGNORE_INDEX):
    t, valid = check_cross_entropy_args(logits, targets, ignore_index)
    ### BEGIN SOLUTION
    V = logits.shape[-1]
    logits_2d = logits.reshape(-1, V)                               # (N, V)
    n_valid = int(valid.sum())
    m = logits_2d.max(axis=1, keepdims=True)                        # (N, 1)
    lse = m + np.log(np.exp(logits_2d - m).sum(axis=1, keepdims=True))  # (N, 1)
    rows = np.nonzero(valid)[0]
    # log p_n = logits_{n, t_n} - lse_n, only for the valid rows
    log_p = logits_2d[rows, t[rows]] - lse[rows, 0]                  # (N_valid,)
    loss = -log_p.sum() / n_valid if n_valid > 0 else 0.0
    loss = logits.dtype.type(loss)
    cache = (logits, lse, t, rows, n_valid)
    ### END SOLUTION
    return loss, cache


# dlogits_{n,v} = dloss * (softmax(logits_n)_v - [v == t_n]) / N_valid    for valid n
# dlogits_{n,:} = 0                                                       for ignored n
# This is the fused softmax + negative-log-likelihood gradient ("probs - onehot"):
# going through log_softmax_backward would give the same numbers with more work.
# $$ \frac{\partial \mathcal{L}}{\partial z_{n,v}} = \frac{\operatorname{softmax}(z_n)_v - \mathbb{1}[v = y_n]}{N_{\mathrm{valid}}} \quad \text{for valid } n $$
# $$ \frac{\partial \mathcal{L}}{\partial z_{n,:}} = 0 \quad \text{for ignored } n $$
# $$ \mathrm{dlogits} = \mathrm{dloss} \cdot \frac{\partial \mathcal{L}}{\partial z} $$
def cross_entropy_backward(dloss, cache):
    ### BEGIN SOLUTION
    logits, lse, t, rows, n_valid = cache
    V = logits.shape[-1]
    logits_2d = logits.reshape(-1, V)                               # (N, V)
    dlogits = np.zeros_like(logits_2d)
    if n_valid > 0:
        # recompute probs = exp(logits - lse) for the valid rows
        probs = np.exp(logits_2d[rows] - lse[rows])                 # (N_valid, V)
        # loss = -(1/N_valid) sum_n log p_{n, t_n}:  d/d logits_n = probs_n - onehot(t_n)
        probs[np.arange(rows.size), t[rows]] -= 1
        dlogits[rows] = probs * (dloss / n_valid)
    ### END SOLUTION
    return dlogits.reshape(logits.shape).astype(logits.dtype, copy=False)
