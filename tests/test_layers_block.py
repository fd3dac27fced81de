"""Residual connection and Transformer blocks: gradients for x, memory and every dict parameter,
values against plain-NumPy compositions, causal leaks, padding masks, bad input."""
import math

from types import SimpleNamespace

import numpy as np
import pytest

from minillm.gradcheck import check_layer, compare, numerical_gradient_projected
from minillm.layers.block import (
    NUMPY_OPS,
    block_params,
    cross_decoder_block_backward,
    cross_decoder_block_forward,
    decoder_block_backward,
    decoder_block_forward,
    encoder_block_backward,
    encoder_block_forward,
    residual_backward,
    residual_forward,
)

TOL = 1e-6
B, T, C, D_FF, H = 2, 3, 4, 8, 2
T_MEM, C_MEM = 4, 6


def make_params(rng, *, bias=True, cross=False, C_mem=C_MEM):
    p = {}
    for ln in ("ln1", "ln2") + (("ln_cross",) if cross else ()):
        p[f"{ln}.gamma"] = 1.0 + 0.2 * rng.standard_normal(C)
        if bias:
            p[f"{ln}.beta"] = 0.2 * rng.standard_normal(C)
    for prefix, C_kv in (("attn", C),) + ((("cross", C_mem),) if cross else ()):
        for name, d_in in (("Wq", C), ("Wk", C_kv), ("Wv", C_kv), ("Wo", C)):
            p[f"{prefix}.{name}"] = rng.standard_normal((d_in, C)) / math.sqrt(d_in)
        if bias:
            for name in ("bq", "bk", "bv", "bo"):
                p[f"{prefix}.{name}"] = 0.1 * rng.standard_normal(C)
    p["mlp.W1"] = rng.standard_normal((C, D_FF)) / math.sqrt(C)
    p["mlp.W2"] = rng.standard_normal((D_FF, C)) / math.sqrt(D_FF)
    if bias:
        p["mlp.b1"] = 0.1 * rng.standard_normal(D_FF)
        p["mlp.b2"] = 0.1 * rng.standard_normal(C)
    return p


def check_dict_params(forward, grads, params, dout):
    """Numerically differentiate sum(forward() * dout) w.r.t. every entry of params, one key at a time."""
    assert set(grads) == set(params)
    results = []
    for key in params:
        assert grads[key].shape == params[key].shape, key
        numerical = numerical_gradient_projected(lambda: forward()[0], params[key], dout)
        r = compare(key, grads[key], numerical, TOL)
        if key.endswith(".bk") and np.abs(numerical).max() < 1e-9:
            # softmax ignores the constant q . b_K added to a whole row of scores: dL/db_K = 0 exactly
            assert np.abs(grads[key]).max() < 1e-12, str(r)
            continue
        assert r.ok, str(r)
        results.append(r)
    return results


def gradcheck_block(forward, backward, inputs, input_names, params, kwargs):
    """Check the inputs (via check_layer) and every dict parameter (via check_dict_params)."""
    def fwd(*arrays):
        return forward(*arrays, params, **kwargs)

    def bwd(dout, cache):
        *d_inputs, _ = backward(dout, cache)
        return tuple(d_inputs) if len(d_inputs) > 1 else d_inputs[0]

    for r in check_layer(fwd, bwd, inputs, names=input_names):
        assert r.ok, str(r)
    out, cache = forward(*inputs, params, **kwargs)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    *d_inputs, grads = backward(dout, cache)
    for a, d in zip(inputs, d_inputs):
        assert d.shape == a.shape
    check_dict_params(lambda: forward(*inputs, params, **kwargs), grads, params, dout)


# ----------------------------------------------------------------- plain-NumPy references

def ref_ln(x, p, name, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * p[f"{name}.gamma"] + p.get(f"{name}.beta", 0.0)


def ref_heads(Q, K, V, allowed):
    """Concat_h softmax(Q_h K_h^T / sqrt(d_k), masked) V_h, one head (a column block of d_k) at a time."""
    d_k = C // H
    heads = []
    for h in range(H):
        cols = slice(h * d_k, (h + 1) * d_k)
        S = np.where(allowed, Q[..., cols] @ np.swapaxes(K[..., cols], -1, -2) / math.sqrt(d_k), -np.inf)
        P = np.exp(S - S.max(-1, keepdims=True))
        heads.append(P / P.sum(-1, keepdims=True) @ V[..., cols])
    return np.concatenate(heads, -1)


def ref_mha(x_q, x_kv, p, prefix, allowed):
    g = lambda k: p.get(f"{prefix}.{k}", 0.0)
    Q, K, V = x_q @ g("Wq") + g("bq"), x_kv @ g("Wk") + g("bk"), x_kv @ g("Wv") + g("bv")
    return ref_heads(Q, K, V, allowed) @ g("Wo") + g("bo")


def ref_ffn(x, p, activation):
    a = x @ p["mlp.W1"] + p.get("mlp.b1", 0.0)
    if activation == "gelu":
        z = 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
    elif activation == "gelu_erf":
        z = np.vectorize(lambda t: 0.5 * t * (1 + math.erf(t / math.sqrt(2))))(a)
    else:
        z = np.maximum(a, 0.0)
    return z @ p["mlp.W2"] + p.get("mlp.b2", 0.0)


CAUSAL = np.tril(np.ones((T, T), dtype=bool))
FULL = np.ones((T, T), dtype=bool)


# ----------------------------------------------------------------- residual

def test_residual(rng):
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    out, _ = residual_forward(x, y)
    np.testing.assert_array_equal(out, x + y)
    for r in check_layer(residual_forward, residual_backward, [x, y], names=["x", "y"]):
        assert r.ok, str(r)
    with pytest.raises(ValueError, match=r"y must have the same shape as x \(2, 3, 4\), got \(3, 4\)"):
        residual_forward(x, y[0])


# ----------------------------------------------------------------- decoder block (pre-LN, GPT-2)

@pytest.mark.parametrize("bias", [True, False])
def test_decoder_block_gradcheck(rng, bias):
    x = rng.standard_normal((B, T, C))
    gradcheck_block(decoder_block_forward, decoder_block_backward, [x], ["x"], make_params(rng, bias=bias),
                    {"n_heads": H})


def test_decoder_block_gradcheck_with_dropout_and_padding_mask(rng):
    x = rng.standard_normal((B, T, C))
    mask = np.array([[True, True, True], [True, True, False]])[:, None, None, :]

    def forward(x, params, **kw):       # a fresh, equally seeded rng per call: the same dropout mask
        return decoder_block_forward(x, params, rng=np.random.default_rng(7), **kw)

    gradcheck_block(forward, decoder_block_backward, [x], ["x"], make_params(rng),
                    {"n_heads": H, "mask": mask, "dropout": 0.3})


def test_decoder_block_gradcheck_rope(rng):
    x = rng.standard_normal((1, T, C))
    gradcheck_block(decoder_block_forward, decoder_block_backward, [x], ["x"], make_params(rng),
                    {"n_heads": H, "rope": True})


def make_llama_params(rng):
    """RMSNorm (gamma only), no biases, SwiGLU: the LLaMA decoder block."""
    p = {"ln1.gamma": 1.0 + 0.2 * rng.standard_normal(C), "ln2.gamma": 1.0 + 0.2 * rng.standard_normal(C)}
    for name in ("Wq", "Wk", "Wv", "Wo"):
        p[f"attn.{name}"] = rng.standard_normal((C, C)) / math.sqrt(C)
    p["mlp.W_gate"] = rng.standard_normal((C, D_FF)) / math.sqrt(C)
    p["mlp.W_up"] = rng.standard_normal((C, D_FF)) / math.sqrt(C)
    p["mlp.W_down"] = rng.standard_normal((D_FF, C)) / math.sqrt(D_FF)
    return p


LLAMA = {"n_heads": H, "norm_type": "rmsnorm", "eps": 1e-6, "activation": "swiglu", "rope": True}


def test_decoder_block_gradcheck_rmsnorm_rope_swiglu(rng):
    x = rng.standard_normal((B, T, C))
    gradcheck_block(decoder_block_forward, decoder_block_backward, [x], ["x"], make_llama_params(rng),
                    {**LLAMA, "positions": np.arange(3, 3 + T)})


def test_decoder_block_llama_equals_hand_composition(rng):
    x, p = rng.standard_normal((B, T, C)), make_llama_params(rng)
    out, _ = decoder_block_forward(x, p, **LLAMA)

    def rms(y, g):
        return y / np.sqrt(np.mean(y ** 2, -1, keepdims=True) + 1e-6) * g

    def rope(y):                                            # y (B, T, C): rotate pairs within each head
        d = C // H
        theta = 10000.0 ** (-np.arange(0, d, 2) / d)        # (d/2,)
        angle = np.arange(T)[:, None] * theta                # (T, d/2)
        y = y.reshape(B, T, H, d // 2, 2)
        c, s = np.cos(angle)[None, :, None], np.sin(angle)[None, :, None]
        out = np.stack([y[..., 0] * c - y[..., 1] * s, y[..., 0] * s + y[..., 1] * c], -1)
        return out.reshape(B, T, C)

    a = rms(x, p["ln1.gamma"])
    Q, K, V = rope(a @ p["attn.Wq"]), rope(a @ p["attn.Wk"]), a @ p["attn.Wv"]
    hid = x + ref_heads(Q, K, V, CAUSAL) @ p["attn.Wo"]
    b = rms(hid, p["ln2.gamma"])
    g = b @ p["mlp.W_gate"]
    expected = hid + (g / (1 + np.exp(-g)) * (b @ p["mlp.W_up"])) @ p["mlp.W_down"]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_decoder_block_kv_cache_equals_the_full_sequence(rng):
    class Cache:                                           # the smallest object with .append(k, v)
        def __init__(self):
            self.k = self.v = None

        def append(self, k, v):
            self.k = k if self.k is None else np.concatenate([self.k, k], axis=-2)
            self.v = v if self.v is None else np.concatenate([self.v, v], axis=-2)
            return self.k, self.v

    x, p = rng.standard_normal((B, 5, C)), make_llama_params(rng)
    full, _ = decoder_block_forward(x, p, **LLAMA)
    kv = Cache()
    first, cache = decoder_block_forward(x[:, :2], p, **LLAMA, positions=np.arange(2), kv_cache=kv)
    assert cache is None                                   # generation keeps no backward cache
    steps = [first] + [decoder_block_forward(x[:, t:t + 1], p, **LLAMA, positions=np.array([t]), kv_cache=kv)[0]
                       for t in range(2, 5)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-12, atol=1e-12)


def test_blocks_call_their_operations_through_ops(rng):
    # the backend swaps the operations, not the block: every op goes through the namespace given
    calls = []

    def counted(name):
        def op(*args, **kwargs):
            calls.append(name)
            return getattr(NUMPY_OPS, name)(*args, **kwargs)
        return op

    ops = SimpleNamespace(**{name: counted(name) for name in vars(NUMPY_OPS)})
    x, p = rng.standard_normal((B, T, C)), make_llama_params(rng)
    out, cache = decoder_block_forward(x, p, **LLAMA, ops=ops)
    dx, grads = decoder_block_backward(np.ones_like(out), cache)
    plain, plain_cache = decoder_block_forward(x, p, **LLAMA)
    np.testing.assert_array_equal(out, plain)
    np.testing.assert_array_equal(dx, decoder_block_backward(np.ones_like(out), plain_cache)[0])
    assert calls.count("linear_forward") == 4 and calls.count("linear_backward") == 4
    assert {"rmsnorm_forward", "rope_forward", "attention_forward", "swiglu_feedforward_forward",
            "attention_backward", "rope_backward", "swiglu_feedforward_backward", "rmsnorm_backward"} <= set(calls)
    assert "dropout_forward" not in calls                  # dropout 0: the identity, nothing called
    calls.clear()
    pe = make_params(rng)
    out, cache = encoder_block_forward(x, pe, n_heads=H, ops=ops)
    encoder_block_backward(out, cache)
    assert calls.count("layernorm_forward") == 2 and calls.count("feedforward_backward") == 1
    calls.clear()
    pc = make_params(rng, cross=True)
    out, cache = cross_decoder_block_forward(x, rng.standard_normal((B, T_MEM, C_MEM)), pc, n_heads=H, ops=ops)
    cross_decoder_block_backward(out, cache)
    assert calls.count("attention_forward") == 2 and calls.count("attention_backward") == 2


def test_block_params_reads_one_block_of_a_flat_dict():
    flat = {"h.0.attn.Wq": 1, "h.1.attn.Wq": 2, "h.10.attn.Wq": 3, "wte": 4}
    assert block_params(flat, "h.1.") == {"attn.Wq": 2}


def test_decoder_block_equals_hand_composition(rng):
    x, p = rng.standard_normal((B, T, C)), make_params(rng)
    out, _ = decoder_block_forward(x, p, n_heads=H)
    h = x + ref_mha(ref_ln(x, p, "ln1", 1e-5), ref_ln(x, p, "ln1", 1e-5), p, "attn", CAUSAL)
    expected = h + ref_ffn(ref_ln(h, p, "ln2", 1e-5), p, "gelu")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # bias-free, non-causal, other eps and activation
    p = make_params(rng, bias=False)
    out, _ = decoder_block_forward(x, p, n_heads=H, causal=False, eps=1e-3, activation="relu")
    a = ref_ln(x, p, "ln1", 1e-3)
    h = x + ref_mha(a, a, p, "attn", FULL)
    np.testing.assert_allclose(out, h + ref_ffn(ref_ln(h, p, "ln2", 1e-3), p, "relu"), rtol=1e-12, atol=1e-12)


def test_decoder_block_causal_no_leak(rng):
    x, p = rng.standard_normal((B, 5, C)), make_params(rng)
    out, _ = decoder_block_forward(x, p, n_heads=H)
    for t in range(4):
        x2 = x.copy()
        x2[:, t + 1:] = rng.standard_normal(x2[:, t + 1:].shape)
        out2, _ = decoder_block_forward(x2, p, n_heads=H)
        np.testing.assert_array_equal(out2[:, :t + 1], out[:, :t + 1])


def test_decoder_block_dropout_is_seeded_and_off_in_eval(rng):
    x, p = rng.standard_normal((B, T, C)), make_params(rng)
    plain, _ = decoder_block_forward(x, p, n_heads=H)
    evaluated, _ = decoder_block_forward(x, p, n_heads=H, dropout=0.5, training=False)
    np.testing.assert_array_equal(evaluated, plain)
    one, _ = decoder_block_forward(x, p, n_heads=H, dropout=0.5, rng=np.random.default_rng(3))
    two, _ = decoder_block_forward(x, p, n_heads=H, dropout=0.5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(one, two)
    assert not np.allclose(one, plain)
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator"):
        decoder_block_forward(x, p, n_heads=H, dropout=0.5)


def test_decoder_block_float32(rng):
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    p = {k: v.astype(np.float32) for k, v in make_params(rng).items()}
    out, cache = decoder_block_forward(x, p, n_heads=H)
    dx, grads = decoder_block_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


# ----------------------------------------------------------------- encoder block (post-LN, BERT)

@pytest.mark.parametrize("norm", ["post", "pre"])
def test_encoder_block_gradcheck(rng, norm):
    x = rng.standard_normal((B, T, C))
    mask = np.array([[True, True, False], [True, True, True]])[:, None, None, :]
    gradcheck_block(encoder_block_forward, encoder_block_backward, [x], ["x"], make_params(rng),
                    {"n_heads": H, "mask": mask, "norm": norm})


def test_encoder_block_gradcheck_bias_free_bert_eps(rng):
    x = rng.standard_normal((B, T, C))
    gradcheck_block(encoder_block_forward, encoder_block_backward, [x], ["x"], make_params(rng, bias=False),
                    {"n_heads": H, "eps": 1e-12})


def test_encoder_block_equals_hand_composition(rng):
    x, p = rng.standard_normal((B, T, C)), make_params(rng)
    out, _ = encoder_block_forward(x, p, n_heads=H, eps=1e-12)
    h = ref_ln(x + ref_mha(x, x, p, "attn", FULL), p, "ln1", 1e-12)
    expected = ref_ln(h + ref_ffn(h, p, "gelu_erf"), p, "ln2", 1e-12)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out, _ = encoder_block_forward(x, p, n_heads=H, norm="pre")
    a = ref_ln(x, p, "ln1", 1e-5)
    h = x + ref_mha(a, a, p, "attn", FULL)
    expected = h + ref_ffn(ref_ln(h, p, "ln2", 1e-5), p, "gelu_erf")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_encoder_block_sees_both_directions_but_not_padding(rng):
    x, p = rng.standard_normal((1, 4, C)), make_params(rng)
    mask = np.array([True, True, True, False])            # position 3 is padding
    out, _ = encoder_block_forward(x, p, n_heads=H, mask=mask)
    x2 = x.copy()
    x2[0, 3] += 5.0                                        # change the pad token
    out2, _ = encoder_block_forward(x2, p, n_heads=H, mask=mask)
    np.testing.assert_allclose(out2[0, :3], out[0, :3], rtol=1e-13, atol=1e-13)
    x3 = x.copy()
    x3[0, 2] += 5.0                                        # change a later real token
    out3, _ = encoder_block_forward(x3, p, n_heads=H, mask=mask)
    assert not np.allclose(out3[0, 0], out[0, 0])         # position 0 sees it: bidirectional


# ----------------------------------------------------------------- decoder block with cross-attention

@pytest.mark.parametrize("norm", ["pre", "post"])
def test_cross_decoder_block_gradcheck(rng, norm):
    x, memory = rng.standard_normal((B, T, C)), rng.standard_normal((B, T_MEM, C_MEM))
    memory_mask = np.array([[True, True, True, False], [True, True, True, True]])[:, None, None, :]
    gradcheck_block(cross_decoder_block_forward, cross_decoder_block_backward, [x, memory], ["x", "memory"],
                    make_params(rng, cross=True), {"n_heads": H, "memory_mask": memory_mask, "norm": norm})


def test_cross_decoder_block_gradcheck_bias_free(rng):
    x, memory = rng.standard_normal((1, T, C)), rng.standard_normal((1, 2, C_MEM))
    gradcheck_block(cross_decoder_block_forward, cross_decoder_block_backward, [x, memory], ["x", "memory"],
                    make_params(rng, cross=True, bias=False), {"n_heads": H, "activation": "relu"})


def test_cross_decoder_block_equals_hand_composition(rng):
    x, memory, p = rng.standard_normal((B, T, C)), rng.standard_normal((B, T_MEM, C_MEM)), make_params(rng, cross=True)
    mem_allowed = np.array([True, True, False, True])
    out, _ = cross_decoder_block_forward(x, memory, p, n_heads=H, memory_mask=mem_allowed)
    a = ref_ln(x, p, "ln1", 1e-5)
    h1 = x + ref_mha(a, a, p, "attn", CAUSAL)
    h2 = h1 + ref_mha(ref_ln(h1, p, "ln_cross", 1e-5), memory, p, "cross", mem_allowed)
    expected = h2 + ref_ffn(ref_ln(h2, p, "ln2", 1e-5), p, "gelu")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    out, _ = cross_decoder_block_forward(x, memory, p, n_heads=H, norm="post", activation="relu")
    h1 = ref_ln(x + ref_mha(x, x, p, "attn", CAUSAL), p, "ln1", 1e-5)
    h2 = ref_ln(h1 + ref_mha(h1, memory, p, "cross", np.ones(T_MEM, dtype=bool)), p, "ln_cross", 1e-5)
    expected = ref_ln(h2 + ref_ffn(h2, p, "relu"), p, "ln2", 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_cross_decoder_block_causal_no_leak_and_memory_is_seen(rng):
    x, memory, p = rng.standard_normal((B, 5, C)), rng.standard_normal((B, T_MEM, C_MEM)), make_params(rng, cross=True)
    for norm in ("pre", "post"):
        out, _ = cross_decoder_block_forward(x, memory, p, n_heads=H, norm=norm)
        for t in range(4):
            x2 = x.copy()
            x2[:, t + 1:] = rng.standard_normal(x2[:, t + 1:].shape)
            out2, _ = cross_decoder_block_forward(x2, memory, p, n_heads=H, norm=norm)
            np.testing.assert_array_equal(out2[:, :t + 1], out[:, :t + 1])
        memory2 = memory.copy()
        memory2[:, -1] += 3.0                              # every position may read all of memory
        out2, _ = cross_decoder_block_forward(x, memory2, p, n_heads=H, norm=norm)
        assert not np.allclose(out2[:, 0], out[:, 0])


# ----------------------------------------------------------------- bad input

def test_block_bad_params(rng):
    x, p = rng.standard_normal((B, T, C)), make_params(rng)
    missing = {k: v for k, v in p.items() if k != "attn.Wq"}
    with pytest.raises(ValueError, match=r"params is missing the keys \['attn.Wq'\]"):
        decoder_block_forward(x, missing, n_heads=H)
    with pytest.raises(ValueError, match=r"params has unexpected keys \['attn.Wx'\]"):
        decoder_block_forward(x, {**p, "attn.Wx": p["attn.Wq"]}, n_heads=H)
    with pytest.raises(ValueError, match=r"params\['attn.Wv'\] must have shape \(4, 4\), got \(4, 5\)"):
        encoder_block_forward(x, {**p, "attn.Wv": np.zeros((4, 5))}, n_heads=H)
    with pytest.raises(ValueError, match=r"params\['mlp.W2'\] must have shape \(8, 4\), got \(4, 8\)"):
        decoder_block_forward(x, {**p, "mlp.W2": np.zeros((4, 8))}, n_heads=H)
    with pytest.raises(ValueError, match=r"params\['ln2.gamma'\] must have 1 dimensions, got shape \(1, 4\)"):
        decoder_block_forward(x, {**p, "ln2.gamma": np.ones((1, 4))}, n_heads=H)
    with pytest.raises(TypeError, match=r"params must be a dict of arrays.*got a list"):
        decoder_block_forward(x, list(p.values()), n_heads=H)
    pl = make_llama_params(rng)
    with pytest.raises(ValueError, match=r"params has unexpected keys \['ln1.beta'\]"):      # RMSNorm has no shift
        decoder_block_forward(x, {**pl, "ln1.beta": np.zeros(C)}, n_heads=H, norm_type="rmsnorm", activation="swiglu")
    with pytest.raises(ValueError, match=r"params is missing the keys \['mlp.W_gate', 'mlp.W_up', 'mlp.W_down'\]"):
        decoder_block_forward(x, p, n_heads=H, activation="swiglu")
    with pytest.raises(ValueError, match=r"params\['mlp.W_up'\] must have shape \(4, 8\), got \(4, 6\)"):
        decoder_block_forward(x, {**pl, "mlp.W_up": np.zeros((4, 6))}, n_heads=H, norm_type="rmsnorm",
                              activation="swiglu")
    missing = r"params is missing the keys \['cross.Wq', 'cross.Wk', 'cross.Wv', 'cross.Wo', 'ln_cross.gamma'\]"
    with pytest.raises(ValueError, match=missing):
        cross_decoder_block_forward(x, rng.standard_normal((B, T_MEM, C)), p, n_heads=H)


def test_block_bad_options_and_inputs(rng):
    x, p, pc = rng.standard_normal((B, T, C)), make_params(rng), make_params(rng, cross=True)
    memory = rng.standard_normal((B, T_MEM, C_MEM))
    with pytest.raises(ValueError, match=r"n_heads must divide d_model = 4.*got n_heads = 3"):
        decoder_block_forward(x, p, n_heads=3)
    with pytest.raises(ValueError, match=r"n_heads must divide d_model = 4.*got n_heads = 3"):
        cross_decoder_block_forward(x, memory, pc, n_heads=3)
    with pytest.raises(ValueError, match=r"norm must be one of \['post', 'pre'\], got 'sandwich'"):
        encoder_block_forward(x, p, n_heads=H, norm="sandwich")
    with pytest.raises(ValueError, match=r"activation must be one of .* got 'swish'"):
        decoder_block_forward(x, p, n_heads=H, activation="swish")
    with pytest.raises(ValueError, match=r"norm_type must be one of \['layernorm', 'rmsnorm'\], got 'batchnorm'"):
        decoder_block_forward(x, p, n_heads=H, norm_type="batchnorm")
    with pytest.raises(ValueError, match=r"positions is only used with rope=True"):
        decoder_block_forward(x, p, n_heads=H, positions=np.arange(T))
    with pytest.raises(ValueError, match=r"positions must have shape \(T,\) = \(3,\)"):
        decoder_block_forward(x, p, n_heads=H, rope=True, positions=np.arange(T + 1))
    with pytest.raises(ValueError, match=r"n_heads must leave an even d_k.*got d_k = 1"):
        decoder_block_forward(x, p, n_heads=4, rope=True)
    with pytest.raises(ValueError, match=r"dropout must be"):
        decoder_block_forward(x, p, n_heads=H, dropout=1.5)
    with pytest.raises(ValueError, match=r"x must have at least 2 dimensions, got shape \(4,\)"):
        decoder_block_forward(x[0, 0], p, n_heads=H)
    with pytest.raises(TypeError, match=r"mask must be a boolean array"):
        encoder_block_forward(x, p, n_heads=H, mask=np.ones(T))
    with pytest.raises(ValueError, match=r"memory must have shape.*got \(3, 4, 6\)"):
        cross_decoder_block_forward(x, rng.standard_normal((3, T_MEM, C_MEM)), pc, n_heads=H)
    with pytest.raises(ValueError, match=r"memory_mask must be broadcastable to \(2, 2, 3, 4\), got shape \(3,\)"):
        cross_decoder_block_forward(x, memory, pc, n_heads=H, memory_mask=np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match=r"self_mask must be a boolean array"):
        cross_decoder_block_forward(x, memory, pc, n_heads=H, self_mask=np.ones((T, T)))
    with pytest.raises(ValueError, match=r"params\['cross.Wk'\] must have shape \(4, 4\), got \(6, 4\)"):
        cross_decoder_block_forward(x, memory[..., :4], pc, n_heads=H)


def test_attention_probs_are_read_from_the_caches_by_name():
    # the weights the blocks keep equal softmax(q k^T / sqrt(d_k) + mask) recomputed from the params
    from minillm.layers import attention_forward, self_attention_probs, split_heads

    rng = np.random.default_rng(3)
    C, H, T = 8, 2, 5
    params = {"ln1.gamma": np.ones(C), "ln2.gamma": np.ones(C),
              **{f"attn.W{n}": rng.standard_normal((C, C)) * 0.3 for n in "qkvo"},
              "mlp.W1": rng.standard_normal((C, 16)) * 0.3, "mlp.W2": rng.standard_normal((16, C)) * 0.3}
    x = rng.standard_normal((1, T, C))
    _, cache = decoder_block_forward(x, params, n_heads=H)
    a = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    q, k, v = (split_heads(a @ params[f"attn.W{n}"], H) for n in "qkv")
    _, (_, _, _, probs, _) = attention_forward(q, k, v, causal=True)
    np.testing.assert_allclose(self_attention_probs(cache), probs, rtol=1e-12)
    assert np.allclose(self_attention_probs(cache).sum(-1), 1.0)
