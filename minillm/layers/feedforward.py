"""The position-wise feed-forward network of a Transformer block (the article's §4.1).

    FFN(x) = sigma(x W_1 + b_1) W_2 + b_2          applied to every position on its own

The article writes F(x) = sigma(W_2 sigma(W_1 x)), with a second, outer sigma.
The standard FFN (Vaswani et al., GPT-2, BERT) has NO activation on the output:
its result is added to the residual stream, and an outer sigma would squash
that stream (a sigmoid/tanh bounds it, a ReLU deletes every negative update).
The feed-forward notebook shows the difference numerically.

LLaMA's gated variant (SwiGLU) replaces the activation by a product of two
projections and drops the biases:

    FFN_SwiGLU(x) = ( silu(x W_gate) * (x W_up) ) W_down

With three matrices instead of two, SwiGLU's 3 C F weights equal the GELU FFN's
8 C^2 only when F = 2/3 * 4C = 8C/3 exactly; GPTConfig.ffn_hidden rounds 8C/3 to
a multiple of 8, so the counts are only approximately equal (C = 128: F = 344,
132,096 vs 131,072 weights, +0.78%; C = 8: F = 24, 576 vs 512, +12.5%).

Derived in notebooks/08_feedforward.ipynb (section 8 counts the parameters).
"""
from minillm.checks import check_choice, check_float_array, check_shape
from minillm.layers.activations import (
    gelu_backward,
    gelu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    silu_backward,
    silu_forward,
    swiglu_backward,
    swiglu_forward,
    tanh_backward,
    tanh_forward,
)
from minillm.layers.linear import linear_backward, linear_forward

# name -> (forward, backward, keyword options of the forward)
ACTIVATIONS = {
    "gelu": (gelu_forward, gelu_backward, {"approximate": "tanh"}),      # GPT-2
    "gelu_erf": (gelu_forward, gelu_backward, {"approximate": "none"}),  # BERT (exact erf)
    "relu": (relu_forward, relu_backward, {}),                           # original Transformer
    "silu": (silu_forward, silu_backward, {}),
    "tanh": (tanh_forward, tanh_backward, {}),
    "sigmoid": (sigmoid_forward, sigmoid_backward, {}),
}


# a   = x W_1 + b_1          (..., d_ff)
# z   = sigma(a)             (..., d_ff)
# out = z W_2 + b_2          (..., C)        no activation here (the article's outer sigma is dropped)
#   x (..., C)   W1 (C, d_ff)   b1 (d_ff,) or None   W2 (d_ff, C_out)   b2 (C_out,) or None
# $$ a = x W_1 + b_1 \qquad z = \sigma(a) \qquad \mathrm{out} = z W_2 + b_2 $$
def feedforward_forward(x, W1, b1, W2, b2, *, activation="gelu"):
    check_choice("activation", activation, ACTIVATIONS.keys())
    check_float_array("x", x, min_ndim=1)
    check_float_array("W1", W1, ndim=2)
    check_float_array("W2", W2, ndim=2)
    C, d_ff = W1.shape
    check_shape("W1", W1, (x.shape[-1], None), what="(C, d_ff) with C = x.shape[-1]")
    check_shape("W2", W2, (d_ff, None), what="(d_ff, C_out) with d_ff = W1.shape[1]")
    if b1 is not None:
        check_float_array("b1", b1, ndim=1)
        check_shape("b1", b1, (d_ff,), what="(d_ff,)")
    if b2 is not None:
        check_float_array("b2", b2, ndim=1)
        check_shape("b2", b2, (W2.shape[1],), what="(C_out,)")
    act_forward, _, options = ACTIVATIONS[activation]
    ### BEGIN SOLUTION
    a, cache_1 = linear_forward(x, W1, b1)                    # (..., d_ff)
    z, cache_act = act_forward(a, **options)                  # (..., d_ff)
    out, cache_2 = linear_forward(z, W2, b2)                  # (..., C_out)
    ### END SOLUTION
    cache = (activation, cache_1, cache_act, cache_2)
    return out, cache


# Reverse order: out = z W_2 + b_2,  z = sigma(a),  a = x W_1 + b_1.
# Returns dx, dW1, db1, dW2, db2 (None for a None bias).
# $$ \text{in reverse order:} \quad \mathrm{out} = z W_2 + b_2, \quad z = \sigma(a), \quad a = x W_1 + b_1 $$
def feedforward_backward(dout, cache):
    activation, cache_1, cache_act, cache_2 = cache
    _, act_backward, _ = ACTIVATIONS[activation]
    ### BEGIN SOLUTION
    # out = z W_2 + b_2
    dz, dW2, db2 = linear_backward(dout, cache_2)
    # z = sigma(a)
    da = act_backward(dz, cache_act)
    # a = x W_1 + b_1
    dx, dW1, db1 = linear_backward(da, cache_1)
    ### END SOLUTION
    return dx, dW1, db1, dW2, db2


# g   = x W_gate             (..., d_ff)
# u   = x W_up               (..., d_ff)
# s   = silu(g) * u          (..., d_ff)      (swiglu(g, u) in activations.py)
# out = s W_down             (..., C_out)
#   x (..., C)   W_gate, W_up (C, d_ff)   W_down (d_ff, C_out)      no biases, as in LLaMA
# $$ g = x W_{\mathrm{gate}} \qquad u = x W_{\mathrm{up}} \qquad s = \operatorname{silu}(g) \odot u \qquad \mathrm{out} = s \, W_{\mathrm{down}} $$
def swiglu_feedforward_forward(x, W_gate, W_up, W_down):
    check_float_array("x", x, min_ndim=1)
    for name, W in (("W_gate", W_gate), ("W_up", W_up), ("W_down", W_down)):
        check_float_array(name, W, ndim=2)
    C, d_ff = W_gate.shape
    check_shape("W_gate", W_gate, (x.shape[-1], None), what="(C, d_ff) with C = x.shape[-1]")
    check_shape("W_up", W_up, (C, d_ff), what="(C, d_ff), the shape of W_gate")
    check_shape("W_down", W_down, (d_ff, None), what="(d_ff, C_out) with d_ff = W_gate.shape[1]")
    ### BEGIN SOLUTION
    g, cache_gate = linear_forward(x, W_gate)                 # (..., d_ff)
    u, cache_up = linear_forward(x, W_up)                     # (..., d_ff)
    s, cache_swiglu = swiglu_forward(g, u)                    # (..., d_ff)
    out, cache_down = linear_forward(s, W_down)               # (..., C_out)
    ### END SOLUTION
    cache = (cache_gate, cache_up, cache_swiglu, cache_down)
    return out, cache


# Reverse order; x feeds both g and u, so its two gradients add up.
# Returns dx, dW_gate, dW_up, dW_down.
def swiglu_feedforward_backward(dout, cache):
    cache_gate, cache_up, cache_swiglu, cache_down = cache
    ### BEGIN SOLUTION
    # out = s W_down
    ds, dW_down, _ = linear_backward(dout, cache_down)
    # s = silu(g) * u
    dg, du = swiglu_backward(ds, cache_swiglu)
    # g = x W_gate,  u = x W_up
    dx_from_gate, dW_gate, _ = linear_backward(dg, cache_gate)
    dx_from_up, dW_up, _ = linear_backward(du, cache_up)
    # x was used twice (gate and up projections): both gradient paths add up.
    dx = dx_from_gate + dx_from_up
    ### END SOLUTION
    return dx, dW_gate, dW_up, dW_down
