"""Optimisers, learning-rate schedules and gradient clipping, over dicts of arrays.

A model's parameters are a flat dict  name -> array, and its gradients a dict
with the same keys.  Every optimiser updates the parameter arrays *in place*
(so views held elsewhere stay valid) and keeps its state in plain dicts of
arrays, which `state_dict()` / `load_state_dict()` hand to checkpoints.

    opt = AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    for step in range(n):
        grads = model.backward(cache)
        clip_grad_norm(grads, 1.0)
        opt.step(grads, lr=cosine_schedule(step, ...))
"""
import math

import numpy as np

from minillm.checks import check_int, check_number


def _check_grads(params, grads):
    missing = sorted(set(params) - set(grads))
    unexpected = sorted(set(grads) - set(params))
    if missing or unexpected:
        raise ValueError(f"grads must have the same keys as params: missing {missing}, unexpected {unexpected}")
    for name, g in grads.items():
        if g.shape != params[name].shape:
            raise ValueError(f"grads[{name!r}] has shape {g.shape}, but params[{name!r}] has shape {params[name].shape}")


# global norm  ||g|| = sqrt( sum over all tensors of sum(g^2) )
# if ||g|| > max_norm:  g <- g * max_norm / (||g|| + 1e-6)
# $$ \|g\| = \sqrt{\sum_\text{tensors} \sum_i g_i^2} $$
# $$ \|g\| > \mathrm{max\_norm}: \quad g \leftarrow g \cdot \frac{\mathrm{max\_norm}}{\|g\| + 10^{-6}} $$
def clip_grad_norm(grads, max_norm):
    """Scale all gradients in place so their global L2 norm is at most max_norm; return the norm before."""
    check_number("max_norm", max_norm, low=0.0, low_open=True)
    ### BEGIN SOLUTION
    total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads.values():
            g *= g.dtype.type(scale)
    ### END SOLUTION
    return total


# linear warmup, then cosine decay from max_lr to min_lr:
#   lr(t) = max_lr * (t+1) / warmup                                      t < warmup
#   lr(t) = min_lr + 0.5 (1 + cos(pi * (t - warmup)/max(1, decay - warmup))) (max_lr - min_lr)   warmup <= t <= decay
#   lr(t) = min_lr                                                       t > decay
# $$ \mathrm{lr}(t) = \begin{cases} \mathrm{max\_lr} \cdot \frac{t + 1}{\mathrm{warmup}} & t < \mathrm{warmup} \\ \mathrm{min\_lr} + \frac{1}{2} \left(1 + \cos\left(\pi\, \frac{t - \mathrm{warmup}}{\max(1,\ \mathrm{decay} - \mathrm{warmup})}\right)\right) (\mathrm{max\_lr} - \mathrm{min\_lr}) & \mathrm{warmup} \le t \le \mathrm{decay} \\ \mathrm{min\_lr} & t > \mathrm{decay} \end{cases} $$
def cosine_schedule(step, *, max_lr, min_lr, warmup_iters, decay_iters):
    """nanoGPT's schedule: linear warmup, cosine decay to min_lr at decay_iters, then flat."""
    if step < warmup_iters:
        return max_lr * (step + 1) / warmup_iters
    if step > decay_iters:
        return min_lr
    progress = (step - warmup_iters) / max(1, decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def constant_schedule(step, *, lr):
    return lr


class SGD:
    """SGD with momentum:   u <- mu u + g ;   p <- p - lr u     (mu = 0: plain SGD)."""

    def __init__(self, params, lr=0.1, momentum=0.0, weight_decay=0.0):
        check_number("lr", lr, low=0.0)
        check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        check_number("weight_decay", weight_decay, low=0.0)
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.u = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads, lr=None):
        _check_grads(self.params, grads)
        lr = self.lr if lr is None else lr
        for k, p in self.params.items():
            g = grads[k] + self.weight_decay * p if self.weight_decay else grads[k]
            # u <- mu u + g
            # $$ u \leftarrow \mu u + g $$
            self.u[k] *= self.momentum
            self.u[k] += g
            # p <- p - lr u
            # $$ p \leftarrow p - \mathrm{lr}\, u $$
            p -= lr * self.u[k]
        self.t += 1

    def state_dict(self):
        return {"t": np.array(self.t), "u": dict(self.u)}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        _copy_into(self.u, state["u"], "u")


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter).  weight_decay=0 gives Adam.

        m <- b1 m + (1 - b1) g
        v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t),   v_hat = v / (1 - b2^t)
        p <- p - lr * ( m_hat / (sqrt(v_hat) + eps) + wd * p )

    Weight decay applies only to the names in `decay` (by default: every
    parameter with 2 or more dimensions — matrices and embeddings, not biases
    or norm gains, as nanoGPT does).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decay=None, fused=False):
        check_number("lr", lr, low=0.0)
        for i, b in enumerate(betas):
            check_number(f"betas[{i}]", b, low=0.0, high=1.0, high_open=True)
        check_number("eps", eps, low=0.0, low_open=True)
        check_number("weight_decay", weight_decay, low=0.0)
        self.params, self.lr, self.betas, self.eps, self.weight_decay = params, lr, tuple(betas), eps, weight_decay
        self.decay = {k for k, p in params.items() if p.ndim >= 2} if decay is None else set(decay)
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0
        self.fused = fused  # True: the same update in one jitted pass per tensor (minillm.kernels.optim)

    def step(self, grads, lr=None, grad_scale=1.0):
        """One update; grad_scale multiplies every gradient first (how the fused path applies clipping)."""
        _check_grads(self.params, grads)
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        self.t += 1
        if self.fused:
            from minillm.kernels.optim import adamw_step

            keys = list(self.params)
            adamw_step([self.params[k] for k in keys], [grads[k] for k in keys], [self.m[k] for k in keys],
                       [self.v[k] for k in keys], lr=lr, betas=self.betas, eps=self.eps,
                       weight_decay=self.weight_decay, decay=[k in self.decay for k in keys], t=self.t,
                       grad_scale=grad_scale)
            return
        if grad_scale != 1.0:
            grads = {k: g * g.dtype.type(grad_scale) for k, g in grads.items()}
        ### BEGIN SOLUTION
        bias1 = 1.0 - b1**self.t
        bias2 = 1.0 - b2**self.t
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            # m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * np.square(g)
            # p <- p - lr wd p   (decoupled decay, matrices only)
            if self.weight_decay and k in self.decay:
                p *= 1.0 - lr * self.weight_decay
            # p <- p - lr m_hat / (sqrt(v_hat) + eps)
            p -= (lr / bias1) * m / (np.sqrt(v / bias2) + self.eps)
        ### END SOLUTION

    def state_dict(self):
        return {"t": np.array(self.t), "m": dict(self.m), "v": dict(self.v)}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        _copy_into(self.m, state["m"], "m")
        _copy_into(self.v, state["v"], "v")


def Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Adam is AdamW without weight decay."""
    return AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=0.0)


def _copy_into(dst, src, what):
    if set(dst) != set(src):
        raise ValueError(f"optimizer state {what!r} has keys {sorted(src)[:5]}..., expected the parameter names")
    for k in dst:
        if dst[k].shape != np.shape(src[k]):
            raise ValueError(f"optimizer state {what}[{k!r}] has shape {np.shape(src[k])}, expected {dst[k].shape}")
        dst[k][...] = src[k]


def check_schedule_args(*, max_lr, min_lr, warmup_iters, decay_iters):
    check_number("lr", max_lr, low=0.0, low_open=True)
    check_number("min_lr", min_lr, low=0.0, high=max_lr)
    check_int("warmup_iters", warmup_iters, low=0)
    check_int("lr_decay_iters", decay_iters, low=warmup_iters)
