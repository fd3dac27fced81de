"""Normalisation over the feature axis: LayerNorm (GPT-2, BERT) and RMSNorm (LLaMA).

The article (§4.2) adds residual connections and normalisation nowhere; every
real Transformer does.  Both layers normalise each position's feature vector
(the last axis, C) on its own, then rescale it with a learned gain gamma:

    LayerNorm:  out = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta
    RMSNorm:    out = x / sqrt(mean(x^2) + eps) * gamma

x (..., C), gamma (C,), beta (C,), out (..., C).

RMSNorm drops LayerNorm's mean subtraction and beta; its backward loses the
-mean_c(dxhat) term with them.  Neither output has RMS exactly 1: with gamma = 1,
beta = 0 a row's RMS is sqrt(s / (s + eps)), s its variance (LN) or mean square (RMSNorm).

Derived in notebooks/10_transformer_block.ipynb: LayerNorm in sections 2 and 5,
RMSNorm beside it in section 8 (formula, backward, numbers, gradient check).
"""
import numpy as np

from minillm.checks import check_float_array, check_number, check_shape


def check_norm_args(x, gamma, beta, eps):
    """The argument checks of layernorm/rmsnorm (shared with their Numba twins in minillm.kernels)."""
    check_float_array("x", x, min_ndim=1)
    C = x.shape[-1]
    check_float_array("gamma", gamma, ndim=1)
    check_shape("gamma", gamma, (C,), what="(C,)")
    if beta is not None:
        check_float_array("beta", beta, ndim=1)
        check_shape("beta", beta, (C,), what="(C,)")
    check_number("eps", eps, low=0.0)


# ---------------------------------------------------------------------------
# LayerNorm, over the last axis, with the biased variance (divide by C, as PyTorch):
#   mean = (1/C) sum_c x_c                                   (..., 1)
#   var  = (1/C) sum_c (x_c - mean)^2                        (..., 1)
#   rstd = 1 / sqrt(var + eps)                               (..., 1)
#   xhat = (x - mean) * rstd                                 (..., C)
#   out  = xhat * gamma + beta                               (..., C)
#
# The cache keeps x plus the two cheap per-row statistics mean and rstd (2 numbers
# per row instead of C), and backward recomputes xhat from them: one extra
# subtract-and-multiply per element in exchange for not storing a second (..., C)
# array.  On a GPT activation that is the difference between 1x and 2x the memory.
# ---------------------------------------------------------------------------
# $$ \mu = \frac{1}{C} \sum_{c} x_c \qquad \sigma^2 = \frac{1}{C} \sum_{c} (x_c - \mu)^2 \qquad \mathrm{rstd} = \frac{1}{\sqrt{\sigma^2 + \epsilon}} $$
# $$ \hat{x} = (x - \mu) \, \mathrm{rstd} \qquad \mathrm{out} = \hat{x} \odot \gamma + \beta $$
def layernorm_forward(x, gamma, beta, *, eps=1e-5):
    check_norm_args(x, gamma, beta, eps)
    check_float_array("beta", beta, ndim=1)  # beta is required here (not None)
    ### BEGIN SOLUTION
    mean = x.mean(axis=-1, keepdims=True)                    # (..., 1)
    xc = x - mean                                            # (..., C)
    var = (xc * xc).mean(axis=-1, keepdims=True)             # (..., 1)
    rstd = 1.0 / np.sqrt(var + eps)                          # (..., 1)
    xhat = xc * rstd                                         # (..., C)
    out = xhat * gamma + beta                                # (..., C)
    ### END SOLUTION
    cache = (x, mean, rstd, gamma)
    return out, cache


# dbeta  = sum over rows of dout                                          (C,)
# dgamma = sum over rows of dout * xhat                                   (C,)
# dxhat  = dout * gamma                                                   (..., C)
# dx     = rstd * (dxhat - mean_c(dxhat) - xhat * mean_c(dxhat * xhat))   (..., C)
#
# The last line is the compact closed form of the chain rule through mean and var:
# subtracting mean_c(dxhat) removes the part of the gradient that would shift the
# row's mean, the xhat term removes the part that would change its spread; both
# are invisible after normalisation, so their gradient is zero.
# $$ \frac{\partial \mathcal{L}}{\partial \beta} = \sum_{\text{rows}} \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \qquad \frac{\partial \mathcal{L}}{\partial \gamma} = \sum_{\text{rows}} \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \hat{x} \qquad \frac{\partial \mathcal{L}}{\partial \hat{x}} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \gamma $$
# $$ \frac{\partial \mathcal{L}}{\partial x_j} = \mathrm{rstd} \left( \frac{\partial \mathcal{L}}{\partial \hat{x}_j} - \frac{1}{C} \sum_{c} \frac{\partial \mathcal{L}}{\partial \hat{x}_c} - \hat{x}_j \, \frac{1}{C} \sum_{c} \frac{\partial \mathcal{L}}{\partial \hat{x}_c} \hat{x}_c \right) $$
def layernorm_backward(dout, cache):
    x, mean, rstd, gamma = cache
    C = x.shape[-1]
    ### BEGIN SOLUTION
    # recompute xhat = (x - mean) * rstd from the saved statistics
    xhat = (x - mean) * rstd                                 # (..., C)
    # out = xhat * gamma + beta
    dbeta = dout.reshape(-1, C).sum(axis=0)                  # (C,)
    dgamma = (dout * xhat).reshape(-1, C).sum(axis=0)        # (C,)
    dxhat = dout * gamma                                     # (..., C)
    # xhat = (x - mean) * rstd, with mean and rstd themselves functions of x
    mean_dxhat = dxhat.mean(axis=-1, keepdims=True)          # (..., 1)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=-1, keepdims=True)  # (..., 1)
    dx = rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)
    ### END SOLUTION
    return dx, dgamma, dbeta


# ---------------------------------------------------------------------------
# RMSNorm (no centring, no beta; LLaMA uses eps = 1e-6):
#   ms   = (1/C) sum_c x_c^2                                 (..., 1)
#   rrms = 1 / sqrt(ms + eps)                                (..., 1)
#   xhat = x * rrms                                          (..., C)
#   out  = xhat * gamma                                      (..., C)
# Cached: x and the per-row rrms; xhat is recomputed in backward (as in LayerNorm).
# ---------------------------------------------------------------------------
# $$ \mathrm{ms} = \frac{1}{C} \sum_{c} x_c^2 \qquad \mathrm{rrms} = \frac{1}{\sqrt{\mathrm{ms} + \epsilon}} \qquad \hat{x} = x \, \mathrm{rrms} \qquad \mathrm{out} = \hat{x} \odot \gamma $$
def rmsnorm_forward(x, gamma, *, eps=1e-6):
    check_norm_args(x, gamma, None, eps)
    ### BEGIN SOLUTION
    ms = (x * x).mean(axis=-1, keepdims=True)                # (..., 1)
    rrms = 1.0 / np.sqrt(ms + eps)                           # (..., 1)
    xhat = x * rrms                                          # (..., C)
    out = xhat * gamma                                       # (..., C)
    ### END SOLUTION
    cache = (x, rrms, gamma)
    return out, cache


# dgamma = sum over rows of dout * xhat                                   (C,)
# dxhat  = dout * gamma                                                   (..., C)
# dx     = rrms * (dxhat - xhat * mean_c(dxhat * xhat))                   (..., C)
#   (from d rrms / d x_j = -rrms^3 x_j / C)
# $$ \frac{\partial \mathcal{L}}{\partial \gamma} = \sum_{\text{rows}} \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \hat{x} \qquad \frac{\partial \mathcal{L}}{\partial \hat{x}} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \odot \gamma $$
# $$ \frac{\partial \mathcal{L}}{\partial x_j} = \mathrm{rrms} \left( \frac{\partial \mathcal{L}}{\partial \hat{x}_j} - \hat{x}_j \, \frac{1}{C} \sum_{c} \frac{\partial \mathcal{L}}{\partial \hat{x}_c} \hat{x}_c \right) \qquad \left( \frac{\partial \, \mathrm{rrms}}{\partial x_j} = -\frac{\mathrm{rrms}^3 \, x_j}{C} \right) $$
def rmsnorm_backward(dout, cache):
    x, rrms, gamma = cache
    C = x.shape[-1]
    ### BEGIN SOLUTION
    # recompute xhat = x * rrms
    xhat = x * rrms                                          # (..., C)
    # out = xhat * gamma
    dgamma = (dout * xhat).reshape(-1, C).sum(axis=0)        # (C,)
    dxhat = dout * gamma                                     # (..., C)
    # xhat = x * rrms, with rrms = (mean(x^2) + eps)^(-1/2) a function of x
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=-1, keepdims=True)  # (..., 1)
    dx = rrms * (dxhat - xhat * mean_dxhat_xhat)
    ### END SOLUTION
    return dx, dgamma
