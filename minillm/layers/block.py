"""Residual connections and Transformer blocks (the article's §2.2/§3.1/§4.2; the
article omits residuals and layer norm, the blocks here add them).

    pre-LN  (GPT-2):           h = x + Drop(Sublayer(LN(x)))
    post-LN (BERT, Vaswani):   h = LN(x + Drop(Sublayer(x)))

Three blocks, each `(out, cache) = *_forward(x, ..., params, *, options)` and
`(dx, ..., grads) = *_backward(dout, cache)`, with `params` a dict of arrays and
`grads` a dict with exactly the same keys:

    decoder_block        pre-LN causal self-attention + FFN        (GPT-2; LLaMA with RMSNorm, RoPE, SwiGLU)
    encoder_block        post-LN (or pre-LN) self-attention + FFN  (BERT)
    cross_decoder_block  causal self-attention, cross-attention to the encoder's
                         memory, FFN                               (encoder-decoder translation)

These are THE blocks: GPT, BERT and Seq2Seq call them, one call per layer.

Parameter names (GPT-2-like, so checkpoints map key by key); C = d_model, d_ff the hidden width:

    ln1.gamma, ln1.beta                   (C,)     norm of the self-attention sublayer
    attn.Wq, attn.Wk, attn.Wv, attn.Wo    (C, C)   self-attention projections
    attn.bq, attn.bk, attn.bv, attn.bo    (C,)
    ln2.gamma, ln2.beta                   (C,)     norm of the feed-forward sublayer
    mlp.W1 (C, d_ff), mlp.b1 (d_ff,), mlp.W2 (d_ff, C), mlp.b2 (C,)
  activation="swiglu" instead (LLaMA, no biases):
    mlp.W_gate (C, d_ff), mlp.W_up (C, d_ff), mlp.W_down (d_ff, C)
  norm_type="rmsnorm" (decoder_block): ln*.gamma only, there is no beta
  cross_decoder_block only (C_mem = memory.shape[-1]):
    ln_cross.gamma, ln_cross.beta         (C,)     norm of the cross-attention sublayer
    cross.Wq (C, C), cross.Wk (C_mem, C), cross.Wv (C_mem, C), cross.Wo (C, C)
    cross.bq, cross.bk, cross.bv, cross.bo (C,)

Every bias and every beta is optional: leave the key out for a bias-free block
(its gradient is then absent from grads too; a LayerNorm without beta has no shift).
Unknown keys are refused.  A model with one flat dict ("h.0.attn.Wq") hands a block
its share with block_params(params, "h.0.").

ops: every block calls its operations through `ops`, a namespace of forward/backward
functions with the layer contract (DESIGN.md): ops.linear_forward, ops.attention_forward,
ops.layernorm_forward, ...  The default, NUMPY_OPS, holds the NumPy layers of this
package; minillm.models.backend builds the same namespace with the Numba kernels
swapped in.  The backend changes the operations, never the block.  The backward
functions take the ops from the cache.

Residual fan-out: a tensor that feeds both the skip path and a sublayer gets
the sum of both gradients, written in one visible line.

Derived in notebooks/10_transformer_block.ipynb.
"""
from types import SimpleNamespace

import numpy as np

from minillm.checks import (
    check_bool_mask,
    check_choice,
    check_flag,
    check_float_array,
    check_int,
    check_number,
    check_same_shape,
    check_shape,
)
from minillm.layers.activations import gelu_backward, gelu_forward, tanh_backward, tanh_forward
from minillm.layers.attention import (
    attention_backward,
    attention_forward,
    merge_heads,
    split_heads,
)
from minillm.layers.dropout import dropout_backward, dropout_forward
from minillm.layers.embedding import embedding_backward, embedding_forward
from minillm.layers.feedforward import (
    ACTIVATIONS,
    feedforward_backward,
    feedforward_forward,
    swiglu_feedforward_backward,
    swiglu_feedforward_forward,
)
from minillm.layers.linear import linear_backward, linear_forward
from minillm.layers.norm import layernorm_backward, layernorm_forward, rmsnorm_backward, rmsnorm_forward
from minillm.layers.positional import rope_backward, rope_forward, sinusoidal_positional_encoding
from minillm.layers.recurrent import (
    gru_backward, gru_forward, lstm_backward, lstm_cell_states, lstm_forward, rnn_backward, rnn_forward,
)
from minillm.layers.softmax import cross_entropy_backward, cross_entropy_forward

# The operations the blocks and the models call, by name: the NumPy layers (the default `ops` of
# every block; minillm.models.backend swaps the Numba kernels in for the numba backend).
NUMPY_OPS = SimpleNamespace(
    linear_forward=linear_forward, linear_backward=linear_backward,
    embedding_forward=embedding_forward, embedding_backward=embedding_backward,
    sinusoidal_positional_encoding=sinusoidal_positional_encoding,
    layernorm_forward=layernorm_forward, layernorm_backward=layernorm_backward,
    rmsnorm_forward=rmsnorm_forward, rmsnorm_backward=rmsnorm_backward,
    rope_forward=rope_forward, rope_backward=rope_backward,
    dropout_forward=dropout_forward, dropout_backward=dropout_backward,
    attention_forward=attention_forward, attention_backward=attention_backward,
    feedforward_forward=feedforward_forward, feedforward_backward=feedforward_backward,
    swiglu_feedforward_forward=swiglu_feedforward_forward, swiglu_feedforward_backward=swiglu_feedforward_backward,
    cross_entropy_forward=cross_entropy_forward, cross_entropy_backward=cross_entropy_backward,
    gelu_forward=gelu_forward, gelu_backward=gelu_backward, tanh_forward=tanh_forward, tanh_backward=tanh_backward,
    rnn_forward=rnn_forward, rnn_backward=rnn_backward, lstm_forward=lstm_forward, lstm_backward=lstm_backward,
    lstm_cell_states=lstm_cell_states, gru_forward=gru_forward, gru_backward=gru_backward,
)

NORM_TYPES = ("layernorm", "rmsnorm")
BLOCK_ACTIVATIONS = (*ACTIVATIONS, "swiglu")     # the FFN's activations, plus the gated SwiGLU FFN
_OPTIONAL_SUFFIXES = (".beta", ".bq", ".bk", ".bv", ".bo", ".b1", ".b2")


def block_params(params, prefix):
    """The block's share of a model's flat dict: block_params(p, "h.0.")["attn.Wq"] is p["h.0.attn.Wq"]."""
    return {name[len(prefix):]: value for name, value in params.items() if name.startswith(prefix)}


# out = x + y                        x, y (...) -> out (...)
# $$ \mathrm{out} = x + y $$
def residual_forward(x, y):
    check_float_array("x", x)
    check_float_array("y", y)
    check_same_shape("y", y, "x", x)
    out = x + y
    cache = None
    return out, cache


# dx = dout,  dy = dout              (a sum passes the gradient to both terms unchanged)
# $$ \frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \qquad \frac{\partial \mathcal{L}}{\partial y} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} $$
def residual_backward(dout, cache):
    return dout.copy(), dout.copy()


# --------------------------------------------------------------------------- checks

def _param_shapes(params, C, C_mem, cross, norm_type, activation):
    """Expected shape of every known key; d_ff is read from mlp.W1 / mlp.W_gate (None = any size)."""
    W_in = params.get("mlp.W_gate" if activation == "swiglu" else "mlp.W1")
    d_ff = W_in.shape[1] if isinstance(W_in, np.ndarray) and W_in.ndim == 2 else None

    def add_norm(prefix):
        shapes[f"{prefix}.gamma"] = (C,)
        if norm_type == "layernorm":
            shapes[f"{prefix}.beta"] = (C,)

    shapes = {}
    add_norm("ln1")
    add_norm("ln2")
    if activation == "swiglu":
        shapes.update({"mlp.W_gate": (C, None), "mlp.W_up": (C, d_ff), "mlp.W_down": (d_ff, C)})
    else:
        shapes.update({"mlp.W1": (C, None), "mlp.b1": (d_ff,), "mlp.W2": (d_ff, C), "mlp.b2": (C,)})
    sublayers = [("attn", C)] + ([("cross", C_mem)] if cross else [])
    for prefix, C_kv in sublayers:
        shapes.update({f"{prefix}.Wq": (C, C), f"{prefix}.Wk": (C_kv, C), f"{prefix}.Wv": (C_kv, C),
                       f"{prefix}.Wo": (C, C)})
        shapes.update({f"{prefix}.{b}": (C,) for b in ("bq", "bk", "bv", "bo")})
    if cross:
        add_norm("ln_cross")
    return shapes


def _check_block(x, params, *, n_heads, C_mem=None, cross=False, norm_type="layernorm", activation="gelu",
                 eps=1e-5, dropout=0.0, training=True):
    """Every check a block needs before it computes; returns C = x.shape[-1]."""
    check_float_array("x", x, min_ndim=2)
    C = x.shape[-1]
    check_int("n_heads", n_heads, low=1)
    if C % n_heads != 0:
        raise ValueError(f"n_heads must divide d_model = {C} (d_k = d_model / n_heads), got n_heads = {n_heads}")
    check_choice("norm_type", norm_type, NORM_TYPES)
    check_choice("activation", activation, BLOCK_ACTIVATIONS)
    check_number("eps", eps, low=0.0, low_open=True)
    check_number("dropout", dropout, low=0.0, high=1.0, high_open=True)
    check_flag("training", training)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays (name -> array), got a {type(params).__name__}")
    shapes = _param_shapes(params, C, C_mem, cross, norm_type, activation)
    missing = [k for k in shapes if k not in params and not k.endswith(_OPTIONAL_SUFFIXES)]
    if missing:
        raise ValueError(f"params is missing the keys {missing}; got the keys {sorted(params)}")
    unexpected = sorted(set(params) - set(shapes))
    if unexpected:
        raise ValueError(f"params has unexpected keys {unexpected}; the known keys are {sorted(shapes)}")
    for key, value in params.items():
        name = f"params[{key!r}]"
        check_float_array(name, value, ndim=len(shapes[key]))
        check_shape(name, value, shapes[key])
    return C


# --------------------------------------------------------------------------- sublayers
# Each reads its arrays from the dict by prefix and writes their gradients back under the
# same keys (an absent bias or beta gets none), so the blocks below stay a readable chain.

# LayerNorm(x) = (x - mean) / sqrt(var + eps) * gamma + beta      (beta = 0 when the key is absent)
# RMSNorm(x)   = x / sqrt(mean(x^2) + eps) * gamma                (B, T, C)
# The norm named `prefix` of a params dict ("ln1" reads ln1.gamma, ln1.beta); the backward writes
# grads[prefix + ".gamma"] (and ".beta" when there is one).  GPT's final norm ln_f uses them too.
# $$ \operatorname{LayerNorm}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta \quad (\beta = 0 \text{ when the key is absent}) $$
# $$ \operatorname{RMSNorm}(x) = \frac{x}{\sqrt{\frac{1}{C} \sum_c x_c^2 + \epsilon}} \odot \gamma $$
def named_norm_forward(x, params, prefix, norm_type, eps, ops=NUMPY_OPS):
    gamma = params[f"{prefix}.gamma"]
    if norm_type == "rmsnorm":
        out, cache = ops.rmsnorm_forward(x, gamma, eps=eps)
        return out, (prefix, norm_type, False, cache)
    beta = params.get(f"{prefix}.beta")
    out, cache = ops.layernorm_forward(x, gamma, np.zeros_like(gamma) if beta is None else beta, eps=eps)
    return out, (prefix, norm_type, beta is not None, cache)


def named_norm_backward(dout, cache, grads, ops=NUMPY_OPS):
    prefix, norm_type, has_beta, norm_cache = cache
    if norm_type == "rmsnorm":
        dx, grads[f"{prefix}.gamma"] = ops.rmsnorm_backward(dout, norm_cache)
        return dx
    dx, grads[f"{prefix}.gamma"], dbeta = ops.layernorm_backward(dout, norm_cache)
    if has_beta:
        grads[f"{prefix}.beta"] = dbeta
    return dx


# Multi-head attention, composed from ops (one linear per projection, heads as views):
#   q = x_q W_q + b_q,   k = x_kv W_k + b_k,   v = x_kv W_v + b_v              (B, T, C)
#   split C into H heads of D = C / H: transposed VIEWS, no copy               (B, H, T, D)
#     (the Numba kernel for short sequences reads the (B, T, H*D) layout through them)
#   rope: q, k = RoPE(q), RoPE(k) at the tokens' absolute positions
#   kv_cache: k, v = the cached keys/values followed by the new ones           (B, H, T_k, D)
#   y = softmax(q k^T / sqrt(D) + mask) v                                       (B, H, T, D)
#   out = Concat(heads) W_o + b_o                                               (B, T, C)
# $$ Q = x_q W_Q + b_Q \qquad K = x_{\mathrm{kv}} W_K + b_K \qquad V = x_{\mathrm{kv}} W_V + b_V $$
# $$ \text{split } C \text{ into } H \text{ heads of } d_k = C / H $$
# $$ \text{rope: } Q, K \leftarrow \operatorname{RoPE}(Q), \operatorname{RoPE}(K) $$
# $$ \text{KV cache: } K, V \leftarrow \text{the cached keys, values followed by the new ones} $$
# $$ \mathrm{heads} = \operatorname{softmax}\left( \frac{Q K^\top}{\sqrt{d_k}} + \mathrm{mask} \right) V \qquad \mathrm{out} = \operatorname{Concat}(\mathrm{heads}) \, W_O + b_O $$
def _attention(x_q, x_kv, params, prefix, ops, *, n_heads, causal=False, mask=None, rope=False,
               rope_base=10000.0, positions=None, kv_cache=None):
    def w(name):
        return params.get(f"{prefix}.{name}")

    q, cache_q = ops.linear_forward(x_q, w("Wq"), w("bq"))                     # (B, T, C)
    k, cache_k = ops.linear_forward(x_kv, w("Wk"), w("bk"))                    # (B, T_kv, C)
    v, cache_v = ops.linear_forward(x_kv, w("Wv"), w("bv"))                    # (B, T_kv, C)
    q, k, v = split_heads(q, n_heads), split_heads(k, n_heads), split_heads(v, n_heads)  # (B, H, T, D)
    cache_rope = None
    if rope:
        q, cache_rope_q = ops.rope_forward(q, positions=positions, base=rope_base)
        k, cache_rope_k = ops.rope_forward(k, positions=positions, base=rope_base)
        cache_rope = (cache_rope_q, cache_rope_k)
    if kv_cache is not None:
        k, v = kv_cache.append(k, v)                                           # (B, H, T_k, D)
    if mask is not None:
        check_bool_mask("mask", mask, (*q.shape[:-1], k.shape[-2]))
    y, cache_att = ops.attention_forward(q, k, v, causal=causal, mask=mask)    # (B, H, T, D)
    out, cache_o = ops.linear_forward(merge_heads(y), w("Wo"), w("bo"))        # (B, T, C)
    return out, (prefix, n_heads, cache_q, cache_k, cache_v, cache_rope, cache_att, cache_o)


# Returns dx_q and x_kv's two gradients, through the keys and through the values (the caller
# adds them, in one visible line, to whatever else x_kv fed).
def _attention_back(dout, cache, grads, ops):
    prefix, n_heads, cache_q, cache_k, cache_v, cache_rope, cache_att, cache_o = cache
    # out = Concat(heads) W_o + b_o
    dy, grads[f"{prefix}.Wo"], dbo = ops.linear_backward(dout, cache_o)
    # y = softmax(q k^T / sqrt(D) + mask) v        (dout, like y, in heads: a view)
    dq, dk, dv = ops.attention_backward(split_heads(dy, n_heads), cache_att)
    # q, k = RoPE(q), RoPE(k)
    if cache_rope is not None:
        cache_rope_q, cache_rope_k = cache_rope
        dk = ops.rope_backward(dk, cache_rope_k)
        dq = ops.rope_backward(dq, cache_rope_q)
    # split heads
    dq, dk, dv = merge_heads(dq), merge_heads(dk), merge_heads(dv)             # (B, T, C)
    # q = x_q W_q + b_q,  k = x_kv W_k + b_k,  v = x_kv W_v + b_v
    dx_v, grads[f"{prefix}.Wv"], dbv = ops.linear_backward(dv, cache_v)
    dx_k, grads[f"{prefix}.Wk"], dbk = ops.linear_backward(dk, cache_k)
    dx_q, grads[f"{prefix}.Wq"], dbq = ops.linear_backward(dq, cache_q)
    for name, db in (("bo", dbo), ("bq", dbq), ("bk", dbk), ("bv", dbv)):
        if db is not None:                   # a bias-free projection has no bias gradient
            grads[f"{prefix}.{name}"] = db
    return dx_q, dx_k, dx_v


# FFN(x) = act(x W_1 + b_1) W_2 + b_2                          (B, T, C)
# SwiGLU: FFN(x) = (silu(x W_gate) * (x W_up)) W_down           (LLaMA, no biases)
# $$ \operatorname{FFN}(x) = \operatorname{act}(x W_1 + b_1) \, W_2 + b_2 $$
# $$ \text{SwiGLU: } \operatorname{FFN}(x) = \left( \operatorname{silu}(x W_{\mathrm{gate}}) \odot x W_{\mathrm{up}} \right) W_{\mathrm{down}} $$
def _mlp(x, params, activation, ops):
    if activation == "swiglu":
        out, cache = ops.swiglu_feedforward_forward(x, params["mlp.W_gate"], params["mlp.W_up"],
                                                    params["mlp.W_down"])
    else:
        out, cache = ops.feedforward_forward(x, params["mlp.W1"], params.get("mlp.b1"), params["mlp.W2"],
                                             params.get("mlp.b2"), activation=activation)
    return out, (activation, cache)


def _mlp_back(dout, cache, grads, ops):
    activation, mlp_cache = cache
    if activation == "swiglu":
        dx, grads["mlp.W_gate"], grads["mlp.W_up"], grads["mlp.W_down"] = ops.swiglu_feedforward_backward(
            dout, mlp_cache)
        return dx
    dx, grads["mlp.W1"], db1, grads["mlp.W2"], db2 = ops.feedforward_backward(dout, mlp_cache)
    for name, db in (("mlp.b1", db1), ("mlp.b2", db2)):
        if db is not None:
            grads[name] = db
    return dx


# Drop(y) = y * keep / (1 - p) while training.  p = 0 or evaluating: the identity, with
# nothing drawn, cached or copied (cache None).
# $$ \operatorname{Drop}(y) = \begin{cases} y \odot \mathrm{keep} / (1 - p) & \text{training, } p > 0 \\ y & p = 0 \text{ or evaluating} \end{cases} $$
def _dropout(y, p, rng, training, ops):
    if p == 0 or not training:
        return y, None
    return ops.dropout_forward(y, p=p, rng=rng, training=True)


def _dropout_back(dout, cache, ops):
    return dout if cache is None else ops.dropout_backward(dout, cache)


# --------------------------------------------------------------------------- decoder block (GPT-2, LLaMA)

# Pre-LN decoder block (GPT-2):
#   a   = Norm1(x)                                (B, T, C)     LayerNorm, or RMSNorm (norm_type="rmsnorm")
#   h   = x + Drop(MHA(a, a; causal, mask))       (B, T, C)     self-attention: Q, K, V all from a
#   b   = Norm2(h)                                (B, T, C)
#   out = h + Drop(FFN(b))                        (B, T, C)     GELU FFN, or SwiGLU (activation="swiglu")
#   x (B, T, C);  params: see the module docstring;  mask bool broadcastable to (B, H, T, T_k)
# rope=True rotates q and k (LLaMA style) at `positions`, int (T,): the absolute positions of
#   x's tokens, default arange(T).
# kv_cache (generation): an object whose .append(k, v) stores the new keys/values (B, H, T, D)
#   and returns all of them (B, H, T_k, D); x holds only the new tokens (pass their positions),
#   and the block keeps no backward cache (returns cache None).
# ops: the operations (module docstring); the backward reads them from the cache.
# $$ a = \operatorname{Norm}_1(x) \qquad h = x + \operatorname{Drop}\left( \operatorname{MHA}(a, a;\ \mathrm{causal}, \mathrm{mask}) \right) $$
# $$ b = \operatorname{Norm}_2(h) \qquad \mathrm{out} = h + \operatorname{Drop}\left( \operatorname{FFN}(b) \right) $$
def decoder_block_forward(x, params, *, n_heads, causal=True, mask=None, norm_type="layernorm", eps=1e-5,
                          activation="gelu", dropout=0.0, rng=None, training=True, rope=False, rope_base=10000.0,
                          positions=None, kv_cache=None, ops=NUMPY_OPS):
    _check_block(x, params, n_heads=n_heads, norm_type=norm_type, activation=activation, eps=eps,
                 dropout=dropout, training=training)
    check_flag("rope", rope)
    if positions is not None and not rope:
        raise ValueError("positions is only used with rope=True, got positions with rope=False")
    if rope and (x.shape[-1] // n_heads) % 2 != 0:
        raise ValueError(f"n_heads must leave an even d_k = C / n_heads for rope=True (RoPE rotates pairs), "
                         f"got d_k = {x.shape[-1] // n_heads} from C = {x.shape[-1]}, n_heads = {n_heads}")
    ### BEGIN SOLUTION
    # h = x + Drop(MHA(Norm1(x)))
    a, cache_ln1 = named_norm_forward(x, params, "ln1", norm_type, eps, ops)
    m, cache_attn = _attention(a, a, params, "attn", ops, n_heads=n_heads, causal=causal, mask=mask, rope=rope,
                               rope_base=rope_base, positions=positions, kv_cache=kv_cache)
    m, cache_drop1 = _dropout(m, dropout, rng, training, ops)
    h = x + m
    # out = h + Drop(FFN(Norm2(h)))
    b, cache_ln2 = named_norm_forward(h, params, "ln2", norm_type, eps, ops)
    f, cache_mlp = _mlp(b, params, activation, ops)
    f, cache_drop2 = _dropout(f, dropout, rng, training, ops)
    out = h + f
    ### END SOLUTION
    if kv_cache is not None:
        return out, None
    cache = (ops, cache_ln1, cache_attn, cache_drop1, cache_ln2, cache_mlp, cache_drop2)
    return out, cache


def decoder_block_backward(dout, cache):
    if cache is None:
        raise ValueError("cache is None: decoder_block_forward keeps no backward cache when given a kv_cache")
    ops, cache_ln1, cache_attn, cache_drop1, cache_ln2, cache_mlp, cache_drop2 = cache
    ### BEGIN SOLUTION
    grads = {}
    # out = h + Drop(FFN(Norm2(h)))
    df = _dropout_back(dout, cache_drop2, ops)
    db = _mlp_back(df, cache_mlp, grads, ops)
    # residual fan-out: h reached out through the skip path and through Norm2
    dh = dout + named_norm_backward(db, cache_ln2, grads, ops)
    # h = x + Drop(MHA(Norm1(x)))
    dm = _dropout_back(dh, cache_drop1, ops)
    da_q, da_k, da_v = _attention_back(dm, cache_attn, grads, ops)
    # self-attention: a fed the queries, the keys and the values
    da = da_q + da_k + da_v
    # residual fan-out: x reached h through the skip path and through Norm1
    dx = dh + named_norm_backward(da, cache_ln1, grads, ops)
    ### END SOLUTION
    return dx, grads


# --------------------------------------------------------------------------- encoder block (BERT)

# norm="post" (BERT, the original Transformer):
#   s1  = x + Drop(MHA(x, x; mask))          h   = LN1(s1)          (B, T, C)
#   s2  = h + Drop(FFN(h))                   out = LN2(s2)          (B, T, C)
# norm="pre": the decoder block above without the causal mask:
#   h   = x + Drop(MHA(LN1(x)))              out = h + Drop(FFN(LN2(h)))
#   x (B, T, C);  mask: bool padding mask broadcastable to (B, H, T, T), e.g. (B, 1, 1, T)
#   BERT uses eps = 1e-12 and activation = "gelu_erf".
# $$ \text{post:} \quad s_1 = x + \operatorname{Drop}\left( \operatorname{MHA}(x, x;\ \mathrm{mask}) \right) \qquad h = \operatorname{LN}_1(s_1) $$
# $$ s_2 = h + \operatorname{Drop}\left( \operatorname{FFN}(h) \right) \qquad \mathrm{out} = \operatorname{LN}_2(s_2) $$
# $$ \text{pre:} \quad h = x + \operatorname{Drop}\left( \operatorname{MHA}(\operatorname{LN}_1(x)) \right) $$
# $$ \mathrm{out} = h + \operatorname{Drop}\left( \operatorname{FFN}(\operatorname{LN}_2(h)) \right) $$
def encoder_block_forward(x, params, *, n_heads, mask=None, norm="post", eps=1e-5, activation="gelu_erf",
                          dropout=0.0, rng=None, training=True, ops=NUMPY_OPS):
    check_choice("norm", norm, {"pre", "post"})
    if norm == "pre":
        out, cache = decoder_block_forward(x, params, n_heads=n_heads, causal=False, mask=mask, eps=eps,
                                           activation=activation, dropout=dropout, rng=rng, training=training,
                                           ops=ops)
        return out, ("pre", cache)
    _check_block(x, params, n_heads=n_heads, activation=activation, eps=eps, dropout=dropout, training=training)
    ### BEGIN SOLUTION
    # h = LN1(x + Drop(MHA(x, x)))
    m, cache_attn = _attention(x, x, params, "attn", ops, n_heads=n_heads, mask=mask)
    m, cache_drop1 = _dropout(m, dropout, rng, training, ops)
    h, cache_ln1 = named_norm_forward(x + m, params, "ln1", "layernorm", eps, ops)
    # out = LN2(h + Drop(FFN(h)))
    f, cache_mlp = _mlp(h, params, activation, ops)
    f, cache_drop2 = _dropout(f, dropout, rng, training, ops)
    out, cache_ln2 = named_norm_forward(h + f, params, "ln2", "layernorm", eps, ops)
    ### END SOLUTION
    return out, ("post", (ops, cache_attn, cache_drop1, cache_ln1, cache_mlp, cache_drop2, cache_ln2))


def encoder_block_backward(dout, cache):
    norm, cache = cache
    if norm == "pre":
        return decoder_block_backward(dout, cache)
    ops, cache_attn, cache_drop1, cache_ln1, cache_mlp, cache_drop2, cache_ln2 = cache
    ### BEGIN SOLUTION
    grads = {}
    # out = LN2(s2),  s2 = h + Drop(FFN(h))
    ds2 = named_norm_backward(dout, cache_ln2, grads, ops)
    df = _dropout_back(ds2, cache_drop2, ops)
    # residual fan-out: h reached s2 through the skip path and through the FFN
    dh = ds2 + _mlp_back(df, cache_mlp, grads, ops)
    # h = LN1(s1),  s1 = x + Drop(MHA(x, x))
    ds1 = named_norm_backward(dh, cache_ln1, grads, ops)
    dm = _dropout_back(ds1, cache_drop1, ops)
    dx_q, dx_k, dx_v = _attention_back(dm, cache_attn, grads, ops)
    # residual fan-out: x reached s1 through the skip path, the queries, the keys and the values
    dx = ds1 + dx_q + dx_k + dx_v
    ### END SOLUTION
    return dx, grads


# --------------------------------------------------------------------------- decoder block with cross-attention

# norm="pre" (default):
#   h1  = x  + Drop(MHA_self(LN1(x); causal, self_mask))                       (B, T, C)
#   h2  = h1 + Drop(MHA_cross(Q from LN_cross(h1), K, V from memory; memory_mask))
#   out = h2 + Drop(FFN(LN2(h2)))
# norm="post" (the original Transformer):
#   h1  = LN1(x + Drop(MHA_self(x)))
#   h2  = LN_cross(h1 + Drop(MHA_cross(h1, memory)))
#   out = LN2(h2 + Drop(FFN(h2)))
#   x (B, T, C)   memory (B, T_mem, C_mem) the encoder's output (not normalised here)
#   self_mask broadcastable to (B, H, T, T);  memory_mask to (B, H, T, T_mem), e.g. (B, 1, 1, T_mem)
#   params: the decoder block's keys plus ln_cross.* and cross.* (module docstring).
# $$ \text{pre:} \quad h_1 = x + \operatorname{Drop}\left( \operatorname{MHA}_{\mathrm{self}}(\operatorname{LN}_1(x);\ \mathrm{causal}, M_{\mathrm{self}}) \right) $$
# $$ h_2 = h_1 + \operatorname{Drop}\left( \operatorname{MHA}_{\mathrm{cross}}(\operatorname{LN}_{\mathrm{cross}}(h_1), m;\ M_{\mathrm{mem}}) \right) $$
# $$ \text{queries from } \operatorname{LN}_{\mathrm{cross}}(h_1), \quad \text{keys and values from the memory } m $$
# $$ \mathrm{out} = h_2 + \operatorname{Drop}\left( \operatorname{FFN}(\operatorname{LN}_2(h_2)) \right) $$
# $$ \text{post:} \quad h_1 = \operatorname{LN}_1\left( x + \operatorname{Drop}(\operatorname{MHA}_{\mathrm{self}}(x)) \right) $$
# $$ h_2 = \operatorname{LN}_{\mathrm{cross}}\left( h_1 + \operatorname{Drop}(\operatorname{MHA}_{\mathrm{cross}}(h_1, m)) \right) $$
# $$ \mathrm{out} = \operatorname{LN}_2\left( h_2 + \operatorname{Drop}(\operatorname{FFN}(h_2)) \right) $$
def cross_decoder_block_forward(x, memory, params, *, n_heads, self_mask=None, memory_mask=None, causal=True,
                                norm="pre", eps=1e-5, activation="gelu", dropout=0.0, rng=None, training=True,
                                ops=NUMPY_OPS):
    check_float_array("x", x, min_ndim=2)
    check_float_array("memory", memory, min_ndim=2)
    check_shape("memory", memory, (*x.shape[:-2], None, None), what="(B, T_mem, C_mem) with x's batch axes")
    _check_block(x, params, n_heads=n_heads, C_mem=memory.shape[-1], cross=True, activation=activation, eps=eps,
                 dropout=dropout, training=training)
    check_choice("norm", norm, {"pre", "post"})
    *lead, T, _ = x.shape
    T_mem = memory.shape[-2]
    if self_mask is not None:
        check_bool_mask("self_mask", self_mask, (*lead, n_heads, T, T))
    if memory_mask is not None:
        check_bool_mask("memory_mask", memory_mask, (*lead, n_heads, T, T_mem))

    def attention(x_q, x_kv, prefix, **options):
        return _attention(x_q, x_kv, params, prefix, ops, n_heads=n_heads, **options)

    def drop(y):
        return _dropout(y, dropout, rng, training, ops)

    def layernorm(y, prefix):
        return named_norm_forward(y, params, prefix, "layernorm", eps, ops)

    if norm == "pre":
        # h1 = x + Drop(MHA_self(LN1(x)))
        a, cache_ln1 = layernorm(x, "ln1")
        m, cache_self = attention(a, a, "attn", mask=self_mask, causal=causal)
        m, cache_drop1 = drop(m)
        h1 = x + m
        # h2 = h1 + Drop(MHA_cross(LN_cross(h1), memory))
        c, cache_ln_cross = layernorm(h1, "ln_cross")
        m, cache_cross = attention(c, memory, "cross", mask=memory_mask)
        m, cache_drop2 = drop(m)
        h2 = h1 + m
        # out = h2 + Drop(FFN(LN2(h2)))
        b, cache_ln2 = layernorm(h2, "ln2")
        f, cache_mlp = _mlp(b, params, activation, ops)
        f, cache_drop3 = drop(f)
        out = h2 + f
    else:
        # h1 = LN1(x + Drop(MHA_self(x)))
        m, cache_self = attention(x, x, "attn", mask=self_mask, causal=causal)
        m, cache_drop1 = drop(m)
        h1, cache_ln1 = layernorm(x + m, "ln1")
        # h2 = LN_cross(h1 + Drop(MHA_cross(h1, memory)))
        m, cache_cross = attention(h1, memory, "cross", mask=memory_mask)
        m, cache_drop2 = drop(m)
        h2, cache_ln_cross = layernorm(h1 + m, "ln_cross")
        # out = LN2(h2 + Drop(FFN(h2)))
        f, cache_mlp = _mlp(h2, params, activation, ops)
        f, cache_drop3 = drop(f)
        out, cache_ln2 = layernorm(h2 + f, "ln2")
    cache = (ops, norm, cache_ln1, cache_self, cache_drop1, cache_ln_cross, cache_cross, cache_drop2,
             cache_ln2, cache_mlp, cache_drop3)
    return out, cache


def cross_decoder_block_backward(dout, cache):
    (ops, norm, cache_ln1, cache_self, cache_drop1, cache_ln_cross, cache_cross, cache_drop2,
     cache_ln2, cache_mlp, cache_drop3) = cache
    grads = {}
    if norm == "pre":
        # out = h2 + Drop(FFN(LN2(h2)))
        db = _mlp_back(_dropout_back(dout, cache_drop3, ops), cache_mlp, grads, ops)
        # residual fan-out: h2 went to the skip path and into LN2
        dh2 = dout + named_norm_backward(db, cache_ln2, grads, ops)
        # h2 = h1 + Drop(MHA_cross(LN_cross(h1), memory))
        dc, dmemory_k, dmemory_v = _attention_back(_dropout_back(dh2, cache_drop2, ops), cache_cross, grads, ops)
        # residual fan-out: h1 went to the skip path and into LN_cross
        dh1 = dh2 + named_norm_backward(dc, cache_ln_cross, grads, ops)
        # h1 = x + Drop(MHA_self(LN1(x)))
        da_q, da_k, da_v = _attention_back(_dropout_back(dh1, cache_drop1, ops), cache_self, grads, ops)
        # residual fan-out: x went to the skip path and into LN1 (whose output fed q, k and v)
        dx = dh1 + named_norm_backward(da_q + da_k + da_v, cache_ln1, grads, ops)
    else:
        # out = LN2(s3),  s3 = h2 + Drop(FFN(h2))
        ds3 = named_norm_backward(dout, cache_ln2, grads, ops)
        # residual fan-out: h2 went to the skip path and into the FFN
        dh2 = ds3 + _mlp_back(_dropout_back(ds3, cache_drop3, ops), cache_mlp, grads, ops)
        # h2 = LN_cross(s2),  s2 = h1 + Drop(MHA_cross(h1, memory))
        ds2 = named_norm_backward(dh2, cache_ln_cross, grads, ops)
        dh1_from_cross, dmemory_k, dmemory_v = _attention_back(_dropout_back(ds2, cache_drop2, ops), cache_cross,
                                                               grads, ops)
        # residual fan-out: h1 went to the skip path and into the queries of the cross-attention
        dh1 = ds2 + dh1_from_cross
        # h1 = LN1(s1),  s1 = x + Drop(MHA_self(x))
        ds1 = named_norm_backward(dh1, cache_ln1, grads, ops)
        dx_q, dx_k, dx_v = _attention_back(_dropout_back(ds1, cache_drop1, ops), cache_self, grads, ops)
        # residual fan-out: x went to the skip path, the queries, the keys and the values
        dx = ds1 + dx_q + dx_k + dx_v
    # memory fed the cross-attention's keys and values
    dmemory = dmemory_k + dmemory_v
    return dx, dmemory, grads


# The attention weights P = softmax(q k^T / sqrt(d_k) + mask) that a block's cache keeps,
# read by name: self_attention_probs of a decoder block (B, H, T, T), row t = how much position t
# reads each earlier position; cross_attention_probs of a cross-attention decoder block
# (B, H, T, T_mem), row t = how much target position t reads each memory position.
# Both need the NumPy attention (NUMPY_OPS keeps P; the fused kernel keeps one log-sum-exp per row).
# $$ P = \operatorname{softmax}\left( \frac{Q K^\top}{\sqrt{d_k}} + \mathrm{mask} \right) $$
def self_attention_probs(cache):
    ops, cache_ln1, cache_attn, cache_drop1, cache_ln2, cache_mlp, cache_drop2 = cache
    return _probs_of(cache_attn)


def cross_attention_probs(cache):
    (ops, norm, cache_ln1, cache_self, cache_drop1, cache_ln_cross, cache_cross, cache_drop2,
     cache_ln2, cache_mlp, cache_drop3) = cache
    return _probs_of(cache_cross)


def _probs_of(cache_attn):
    prefix, n_heads, cache_q, cache_k, cache_v, cache_rope, cache_att, cache_o = cache_attn
    if len(cache_att) != 5:
        raise ValueError("the attention weights are kept only by the NumPy attention (backend='numpy'); "
                         "the fused kernel keeps one log-sum-exp per row")
    q, k, v, probs, scale = cache_att
    return probs
