"""Residual connections and Transformer blocks (the article's §2.2/§3.1/§4.2; the
article omits residuals and layer norm, the blocks here add them).

    pre-LN  (GPT-2):           h = x + Drop(Sublayer(LN(x)))
    post-LN (BERT, Vaswani):   h = LN(x + Drop(Sublayer(x)))

Three blocks, each `(out, cache) = *_forward(x, ..., params, *, options)` and
`(dx, ..., grads) = *_backward(dout, cache)`, with `params` a dict of arrays and
`grads` a dict with exactly the same keys:

    decoder_block        pre-LN causal self-attention + FFN        (GPT-2)
    encoder_block        post-LN (or pre-LN) self-attention + FFN  (BERT)
    cross_decoder_block  causal self-attention, cross-attention to the encoder's
                         memory, FFN                               (encoder-decoder translation)

Parameter names (GPT-2-like, so checkpoints map key by key); C = d_model, d_ff the hidden width:

    ln1.gamma, ln1.beta                   (C,)     norm of the self-attention sublayer
    attn.Wq, attn.Wk, attn.Wv, attn.Wo    (C, C)   self-attention projections
    attn.bq, attn.bk, attn.bv, attn.bo    (C,)
    ln2.gamma, ln2.beta                   (C,)     norm of the feed-forward sublayer
    mlp.W1 (C, d_ff), mlp.b1 (d_ff,), mlp.W2 (d_ff, C), mlp.b2 (C,)
  cross_decoder_block only (C_mem = memory.shape[-1]):
    ln_cross.gamma, ln_cross.beta         (C,)     norm of the cross-attention sublayer
    cross.Wq (C, C), cross.Wk (C_mem, C), cross.Wv (C_mem, C), cross.Wo (C, C)
    cross.bq, cross.bk, cross.bv, cross.bo (C,)

Every bias and every beta is optional: leave the key out for a bias-free block
(its gradient is then absent from grads too).  Unknown keys are refused.

Residual fan-out: a tensor that feeds both the skip path and a sublayer gets
the sum of both gradients, written in one visible line.

Derived in notebooks/10_transformer_block.ipynb.
"""
import numpy as np

from minillm.checks import (
    check_bool_mask,
    check_choice,
    check_float_array,
    check_int,
    check_same_shape,
    check_shape,
)
from minillm.layers.attention import multihead_attention_backward, multihead_attention_forward
from minillm.layers.dropout import dropout_backward, dropout_forward
from minillm.layers.feedforward import feedforward_backward, feedforward_forward
from minillm.layers.norm import layernorm_backward, layernorm_forward

_ATTN = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")
_OPTIONAL_SUFFIXES = (".beta", ".bq", ".bk", ".bv", ".bo", ".b1", ".b2")


# out = x + y                        x, y (...) -> out (...)
def residual_forward(x, y):
    check_float_array("x", x)
    check_float_array("y", y)
    check_same_shape("y", y, "x", x)
    out = x + y
    cache = None
    return out, cache


# dx = dout,  dy = dout              (a sum passes the gradient to both terms unchanged)
def residual_backward(dout, cache):
    return dout.copy(), dout.copy()


# --------------------------------------------------------------------------- parameter checks

def _param_shapes(params, C, C_mem, cross):
    """Expected shape of every known key; d_ff is read from mlp.W1 (None = any size)."""
    W1 = params.get("mlp.W1")
    d_ff = W1.shape[1] if isinstance(W1, np.ndarray) and W1.ndim == 2 else None
    shapes = {"ln1.gamma": (C,), "ln1.beta": (C,), "ln2.gamma": (C,), "ln2.beta": (C,),
              "mlp.W1": (C, None), "mlp.b1": (d_ff,), "mlp.W2": (d_ff, C), "mlp.b2": (C,)}
    sublayers = [("attn", C)] + ([("cross", C_mem)] if cross else [])
    for prefix, C_kv in sublayers:
        shapes.update({f"{prefix}.Wq": (C, C), f"{prefix}.Wk": (C_kv, C), f"{prefix}.Wv": (C_kv, C),
                       f"{prefix}.Wo": (C, C)})
        shapes.update({f"{prefix}.{b}": (C,) for b in ("bq", "bk", "bv", "bo")})
    if cross:
        shapes.update({"ln_cross.gamma": (C,), "ln_cross.beta": (C,)})
    return shapes


def _check_params(params, C, *, C_mem=None, cross=False):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays (name -> array), got a {type(params).__name__}")
    shapes = _param_shapes(params, C, C_mem, cross)
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


# --------------------------------------------------------------------------- sublayer helpers
# Thin wrappers that read a sublayer's arrays from the dict by prefix and write
# its gradients back under the same keys; the block functions stay a readable chain.

# LN(x) = (x - mean) / sqrt(var + eps) * gamma + beta      (beta = 0 when the key is absent)
def _layernorm(x, params, prefix, eps):
    gamma = params[f"{prefix}.gamma"]
    beta = params.get(f"{prefix}.beta")
    out, cache = layernorm_forward(x, gamma, np.zeros_like(gamma) if beta is None else beta, eps=eps)
    return out, (prefix, beta is not None, cache)


def _layernorm_back(dout, cache, grads):
    prefix, has_beta, ln_cache = cache
    dx, grads[f"{prefix}.gamma"], dbeta = layernorm_backward(dout, ln_cache)
    if has_beta:
        grads[f"{prefix}.beta"] = dbeta
    return dx


def _attention(x_q, x_kv, params, prefix, **options):
    arrays = [params.get(f"{prefix}.{name}") for name in _ATTN]
    out, cache = multihead_attention_forward(x_q, x_kv, *arrays, **options)
    return out, (prefix, cache)


def _attention_back(dout, cache, grads):
    prefix, mha_cache = cache
    dx_q, dx_kv, *dparams = multihead_attention_backward(dout, mha_cache)
    for name, g in zip(_ATTN, dparams):
        if g is not None:
            grads[f"{prefix}.{name}"] = g
    return dx_q, dx_kv


_MLP = ("W1", "b1", "W2", "b2")


def _mlp(x, params, activation):
    out, cache = feedforward_forward(x, *[params.get(f"mlp.{name}") for name in _MLP], activation=activation)
    return out, cache


def _mlp_back(dout, cache, grads):
    dx, *dparams = feedforward_backward(dout, cache)
    for name, g in zip(_MLP, dparams):
        if g is not None:
            grads[f"mlp.{name}"] = g
    return dx


def _check_x(x, name="x"):
    check_float_array(name, x, min_ndim=2)
    return x.shape[-1]


# --------------------------------------------------------------------------- decoder block (GPT-2)

# Pre-LN decoder block (GPT-2):
#   a   = LN1(x)                                  (B, T, C)
#   h   = x + Drop(MHA(a, a; causal, mask))       (B, T, C)     self-attention: Q, K, V all from a
#   b   = LN2(h)                                  (B, T, C)
#   out = h + Drop(FFN(b))                        (B, T, C)
#   x (B, T, C);  params: see the module docstring;  mask bool broadcastable to (B, H, T, T)
#   rope=True rotates q and k (LLaMA style); positions as in multihead_attention_forward.
def decoder_block_forward(x, params, *, n_heads, causal=True, mask=None, eps=1e-5, activation="gelu",
                          dropout=0.0, rng=None, training=True, rope=False, rope_base=10000.0, positions=None):
    C = _check_x(x)
    _check_params(params, C)
    # h = x + Drop(MHA(LN1(x)))
    a, cache_ln1 = _layernorm(x, params, "ln1", eps)
    m, cache_attn = _attention(a, a, params, "attn", n_heads=n_heads, mask=mask, causal=causal,
                               rope=rope, rope_base=rope_base, positions=positions)
    m, cache_drop1 = dropout_forward(m, p=dropout, rng=rng, training=training)
    h = x + m
    # out = h + Drop(FFN(LN2(h)))
    b, cache_ln2 = _layernorm(h, params, "ln2", eps)
    f, cache_mlp = _mlp(b, params, activation)
    f, cache_drop2 = dropout_forward(f, p=dropout, rng=rng, training=training)
    out = h + f
    cache = (cache_ln1, cache_attn, cache_drop1, cache_ln2, cache_mlp, cache_drop2)
    return out, cache


def decoder_block_backward(dout, cache):
    cache_ln1, cache_attn, cache_drop1, cache_ln2, cache_mlp, cache_drop2 = cache
    grads = {}
    # out = h + Drop(FFN(LN2(h)))
    df = dropout_backward(dout, cache_drop2)
    db = _mlp_back(df, cache_mlp, grads)
    dh_from_ln2 = _layernorm_back(db, cache_ln2, grads)
    # residual fan-out: h reached out through the skip path and through LN2
    dh = dout + dh_from_ln2
    # h = x + Drop(MHA(LN1(x)))
    dm = dropout_backward(dh, cache_drop1)
    da_q, da_kv = _attention_back(dm, cache_attn, grads)
    # self-attention: a fed the queries and the keys/values
    da = da_q + da_kv
    dx_from_ln1 = _layernorm_back(da, cache_ln1, grads)
    # residual fan-out: x reached h through the skip path and through LN1
    dx = dh + dx_from_ln1
    return dx, grads


# --------------------------------------------------------------------------- encoder block (BERT)

# norm="post" (BERT, the original Transformer):
#   s1  = x + Drop(MHA(x, x; mask))          h   = LN1(s1)          (B, T, C)
#   s2  = h + Drop(FFN(h))                   out = LN2(s2)          (B, T, C)
# norm="pre": the decoder block above without the causal mask:
#   h   = x + Drop(MHA(LN1(x)))              out = h + Drop(FFN(LN2(h)))
#   x (B, T, C);  mask: bool padding mask broadcastable to (B, H, T, T), e.g. (B, 1, 1, T)
#   BERT uses eps = 1e-12 and activation = "gelu_erf".
def encoder_block_forward(x, params, *, n_heads, mask=None, norm="post", eps=1e-5, activation="gelu_erf",
                          dropout=0.0, rng=None, training=True):
    check_choice("norm", norm, {"pre", "post"})
    if norm == "pre":
        out, cache = decoder_block_forward(x, params, n_heads=n_heads, causal=False, mask=mask, eps=eps,
                                           activation=activation, dropout=dropout, rng=rng, training=training)
        return out, ("pre", cache)
    C = _check_x(x)
    _check_params(params, C)
    # h = LN1(x + Drop(MHA(x, x)))
    m, cache_attn = _attention(x, x, params, "attn", n_heads=n_heads, mask=mask)
    m, cache_drop1 = dropout_forward(m, p=dropout, rng=rng, training=training)
    s1 = x + m
    h, cache_ln1 = _layernorm(s1, params, "ln1", eps)
    # out = LN2(h + Drop(FFN(h)))
    f, cache_mlp = _mlp(h, params, activation)
    f, cache_drop2 = dropout_forward(f, p=dropout, rng=rng, training=training)
    s2 = h + f
    out, cache_ln2 = _layernorm(s2, params, "ln2", eps)
    return out, ("post", (cache_attn, cache_drop1, cache_ln1, cache_mlp, cache_drop2, cache_ln2))


def encoder_block_backward(dout, cache):
    norm, cache = cache
    if norm == "pre":
        return decoder_block_backward(dout, cache)
    cache_attn, cache_drop1, cache_ln1, cache_mlp, cache_drop2, cache_ln2 = cache
    grads = {}
    # out = LN2(s2),  s2 = h + Drop(FFN(h))
    ds2 = _layernorm_back(dout, cache_ln2, grads)
    df = dropout_backward(ds2, cache_drop2)
    dh_from_mlp = _mlp_back(df, cache_mlp, grads)
    # residual fan-out: h reached s2 through the skip path and through the FFN
    dh = ds2 + dh_from_mlp
    # h = LN1(s1),  s1 = x + Drop(MHA(x, x))
    ds1 = _layernorm_back(dh, cache_ln1, grads)
    dm = dropout_backward(ds1, cache_drop1)
    dx_q, dx_kv = _attention_back(dm, cache_attn, grads)
    # residual fan-out: x reached s1 through the skip path, the queries and the keys/values
    dx = ds1 + dx_q + dx_kv
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
def cross_decoder_block_forward(x, memory, params, *, n_heads, self_mask=None, memory_mask=None, causal=True,
                                norm="pre", eps=1e-5, activation="gelu", dropout=0.0, rng=None, training=True):
    C = _check_x(x)
    C_mem = _check_x(memory, "memory")
    check_shape("memory", memory, (*x.shape[:-2], None, None), what="(B, T_mem, C_mem) with x's batch axes")
    _check_params(params, C, C_mem=C_mem, cross=True)
    check_choice("norm", norm, {"pre", "post"})
    check_int("n_heads", n_heads, low=1)
    *lead, T, _ = x.shape
    T_mem = memory.shape[-2]
    if self_mask is not None:
        check_bool_mask("self_mask", self_mask, (*lead, n_heads, T, T))
    if memory_mask is not None:
        check_bool_mask("memory_mask", memory_mask, (*lead, n_heads, T, T_mem))

    def drop(y):
        return dropout_forward(y, p=dropout, rng=rng, training=training)

    if norm == "pre":
        # h1 = x + Drop(MHA_self(LN1(x)))
        a, cache_ln1 = _layernorm(x, params, "ln1", eps)
        m, cache_self = _attention(a, a, params, "attn", n_heads=n_heads, mask=self_mask, causal=causal)
        m, cache_drop1 = drop(m)
        h1 = x + m
        # h2 = h1 + Drop(MHA_cross(LN_cross(h1), memory))
        c, cache_ln_cross = _layernorm(h1, params, "ln_cross", eps)
        m, cache_cross = _attention(c, memory, params, "cross", n_heads=n_heads, mask=memory_mask)
        m, cache_drop2 = drop(m)
        h2 = h1 + m
        # out = h2 + Drop(FFN(LN2(h2)))
        b, cache_ln2 = _layernorm(h2, params, "ln2", eps)
        f, cache_mlp = _mlp(b, params, activation)
        f, cache_drop3 = drop(f)
        out = h2 + f
    else:
        # h1 = LN1(x + Drop(MHA_self(x)))
        m, cache_self = _attention(x, x, params, "attn", n_heads=n_heads, mask=self_mask, causal=causal)
        m, cache_drop1 = drop(m)
        h1, cache_ln1 = _layernorm(x + m, params, "ln1", eps)
        # h2 = LN_cross(h1 + Drop(MHA_cross(h1, memory)))
        m, cache_cross = _attention(h1, memory, params, "cross", n_heads=n_heads, mask=memory_mask)
        m, cache_drop2 = drop(m)
        h2, cache_ln_cross = _layernorm(h1 + m, params, "ln_cross", eps)
        # out = LN2(h2 + Drop(FFN(h2)))
        f, cache_mlp = _mlp(h2, params, activation)
        f, cache_drop3 = drop(f)
        out, cache_ln2 = _layernorm(h2 + f, params, "ln2", eps)
    cache = (norm, cache_ln1, cache_self, cache_drop1, cache_ln_cross, cache_cross, cache_drop2,
             cache_ln2, cache_mlp, cache_drop3)
    return out, cache


def cross_decoder_block_backward(dout, cache):
    (norm, cache_ln1, cache_self, cache_drop1, cache_ln_cross, cache_cross, cache_drop2,
     cache_ln2, cache_mlp, cache_drop3) = cache
    grads = {}
    if norm == "pre":
        # out = h2 + Drop(FFN(LN2(h2)))
        db = _mlp_back(dropout_backward(dout, cache_drop3), cache_mlp, grads)
        # residual fan-out: h2 went to the skip path and into LN2
        dh2 = dout + _layernorm_back(db, cache_ln2, grads)
        # h2 = h1 + Drop(MHA_cross(LN_cross(h1), memory))
        dc, dmemory = _attention_back(dropout_backward(dh2, cache_drop2), cache_cross, grads)
        # residual fan-out: h1 went to the skip path and into LN_cross
        dh1 = dh2 + _layernorm_back(dc, cache_ln_cross, grads)
        # h1 = x + Drop(MHA_self(LN1(x)))
        da_q, da_kv = _attention_back(dropout_backward(dh1, cache_drop1), cache_self, grads)
        # residual fan-out: x went to the skip path and into LN1 (whose output fed q and k, v)
        dx = dh1 + _layernorm_back(da_q + da_kv, cache_ln1, grads)
    else:
        # out = LN2(s3),  s3 = h2 + Drop(FFN(h2))
        ds3 = _layernorm_back(dout, cache_ln2, grads)
        # residual fan-out: h2 went to the skip path and into the FFN
        dh2 = ds3 + _mlp_back(dropout_backward(ds3, cache_drop3), cache_mlp, grads)
        # h2 = LN_cross(s2),  s2 = h1 + Drop(MHA_cross(h1, memory))
        ds2 = _layernorm_back(dh2, cache_ln_cross, grads)
        dh1_from_cross, dmemory = _attention_back(dropout_backward(ds2, cache_drop2), cache_cross, grads)
        # residual fan-out: h1 went to the skip path and into the queries of the cross-attention
        dh1 = ds2 + dh1_from_cross
        # h1 = LN1(s1),  s1 = x + Drop(MHA_self(x))
        ds1 = _layernorm_back(dh1, cache_ln1, grads)
        dx_q, dx_kv = _attention_back(dropout_backward(ds1, cache_drop1), cache_self, grads)
        # residual fan-out: x went to the skip path, the queries and the keys/values
        dx = ds1 + dx_q + dx_kv
    return dx, dmemory, grads
