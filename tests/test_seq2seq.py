"""The encoder-decoder end to end: every gradient, padding and causality, cross-attention, label smoothing."""
import math

import numpy as np
import pytest

from minillm.generate import greedy_decode
from minillm.gradcheck import compare, numerical_gradient
from minillm.layers import cross_entropy_forward, layernorm_forward, multihead_attention_forward
from minillm.models.seq2seq import (
    Seq2Seq,
    Seq2SeqConfig,
    smoothed_cross_entropy_backward,
    smoothed_cross_entropy_forward,
)

# two decoder blocks, so that the memory's gradient is the sum over blocks (the fan-out is tested)
TINY = dict(src_vocab_size=6, tgt_vocab_size=7, max_len=6, n_encoder_layer=1, n_decoder_layer=2, n_head=2,
            n_embd=4, ffn_hidden=8, dtype="float64")
# ids: 0 pad, 1 BOS, 2 EOS
SRC = np.array([[3, 4, 5, 2, 0], [1, 5, 2, 0, 0]])
TGT_IN = np.array([[1, 3, 4, 5], [1, 6, 4, 0]])
TGT_OUT = np.array([[3, 4, 5, 2], [6, 4, 2, 0]])


def _tiny(seed=1, **kw):
    model = Seq2Seq(Seq2SeqConfig(**{**TINY, **kw}), seed=seed)
    rng = np.random.default_rng(0)
    # larger weights than at init, so every path carries a visible gradient
    for p in model.params.values():
        p += rng.standard_normal(p.shape) * 0.3
    return model


def _check_all(model, names, loss_fn, grads):
    worst = 0.0
    for k in names:
        p = model.params[k]
        assert grads[k].shape == p.shape, k
        num = numerical_gradient(loss_fn, p, h=1e-3, order=4)
        if k.endswith(".bk"):
            # softmax(q.(k + b)) = softmax(q.k + q.b): the same shift for every key of a row, so the key
            # bias (self- and cross-attention alike) cannot change the loss: its gradient is exactly 0.
            assert np.abs(grads[k]).max() < 1e-12 and np.abs(num).max() < 1e-9, k
            continue
        r = compare(k, grads[k], num, scale="tensor")
        assert r.ok, str(r)
        worst = max(worst, r.rel_error)
    return worst


def test_every_parameter_gradient_matches_central_differences():
    model = _tiny()

    def loss():
        return model.forward(SRC, TGT_IN, TGT_OUT, label_smoothing=0.1)[1]

    _, _, cache = model.forward(SRC, TGT_IN, TGT_OUT, label_smoothing=0.1)
    grads = model.backward(cache)
    assert set(grads) == set(model.params)
    worst = _check_all(model, list(model.params), loss, grads)
    print(f"worst relative error {worst:.2e} (scaled by each tensor's largest entry)")


def test_shared_embedding_gradient_adds_three_uses():
    # one table read by the source lookup, the target lookup and the output head
    model = _tiny(src_vocab_size=7, share_embeddings=True)

    def loss():
        return model.forward(SRC, TGT_IN, TGT_OUT)[1]

    grads = model.backward(model.forward(SRC, TGT_IN, TGT_OUT)[2])
    assert set(grads) == set(model.params) and "emb" in grads and "src_emb" not in grads
    _check_all(model, ["emb", "enc.0.attn.Wq", "dec.1.cross.Wv"], loss, grads)


def test_gradient_with_dropout_uses_the_same_masks():
    model = _tiny(dropout=0.2)

    def loss():
        return model.forward(SRC, TGT_IN, TGT_OUT, rng=np.random.default_rng(7))[1]

    grads = model.backward(model.forward(SRC, TGT_IN, TGT_OUT, rng=np.random.default_rng(7))[2])
    _check_all(model, ["src_emb", "tgt_emb", "enc.0.mlp.W1", "dec.0.cross.Wk", "dec.1.ln2.gamma"], loss, grads)


# --------------------------------------------------------------------------- label smoothing

def test_smoothed_cross_entropy_by_hand():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 1.0], [3.0, 1.0, 0.0]])
    targets = np.array([0, 2, -100])           # the third row is ignored
    eps = 0.3
    expected = 0.0
    for z, t in zip(logits[:2], targets[:2]):
        lse = math.log(sum(math.exp(v) for v in z))
        log_p = [v - lse for v in z]
        q = [eps / 3 + (1 - eps if v == t else 0.0) for v in range(3)]
        expected += -sum(qv * lp for qv, lp in zip(q, log_p))
    expected /= 2
    loss, _ = smoothed_cross_entropy_forward(logits, targets, epsilon=eps)
    assert loss == pytest.approx(expected, rel=1e-12)
    # eps = 0 is the plain cross-entropy of minillm.layers (an independent implementation)
    plain, _ = cross_entropy_forward(logits, targets)
    assert smoothed_cross_entropy_forward(logits, targets, epsilon=0.0)[0] == pytest.approx(plain, rel=1e-12)
    # the smallest smoothed loss is the entropy of q (reached at softmax = q), not 0
    V, t = 5, 1
    q = np.full(V, 0.1 / V)
    q[t] += 0.9
    best, _ = smoothed_cross_entropy_forward(np.log(q)[None], np.array([t]), epsilon=0.1)
    assert best == pytest.approx(-(q * np.log(q)).sum(), rel=1e-12)


def test_smoothed_cross_entropy_gradient():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 3, 5))
    targets = rng.integers(0, 5, size=(2, 3))
    targets[1, 2] = 0
    loss, cache = smoothed_cross_entropy_forward(logits, targets, epsilon=0.2, ignore_index=0)
    dlogits = smoothed_cross_entropy_backward(1.0, cache)
    num = numerical_gradient(lambda: smoothed_cross_entropy_forward(logits, targets, epsilon=0.2,
                                                                    ignore_index=0)[0], logits)
    r = compare("logits", dlogits, num)
    assert r.ok, str(r)
    assert np.all(dlogits[targets == 0] == 0.0)      # ignored rows get no gradient


def test_smoothed_cross_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match="epsilon must be <= 1.0, got 1.5"):
        smoothed_cross_entropy_forward(np.zeros((2, 3)), np.array([0, 1]), epsilon=1.5)
    with pytest.raises(ValueError, match=r"targets must have the leading shape of logits \(2,\)"):
        smoothed_cross_entropy_forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"targets must hold class ids in \[0, 3\)"):
        smoothed_cross_entropy_forward(np.zeros((2, 3)), np.array([0, 3]))


# --------------------------------------------------------------------------- masks

def test_source_padding_changes_nothing():
    model = _tiny()
    src = np.array([[3, 4, 5, 2]])
    tgt_in = np.array([[1, 3, 4]])
    alone, _, _ = model.forward(src, tgt_in, training=False)
    # more padding columns
    padded, _, _ = model.forward(np.array([[3, 4, 5, 2, 0, 0]]), tgt_in, training=False)
    np.testing.assert_allclose(padded, alone, rtol=0, atol=1e-12)
    # batched with a longer sentence (so this one is padded), and a target padded as well
    src2 = np.array([[3, 4, 5, 2, 0, 0], [5, 4, 3, 3, 4, 2]])
    tgt2 = np.array([[1, 3, 4, 0, 0], [1, 6, 6, 5, 4]])
    batched, _, _ = model.forward(src2, tgt2, training=False)
    np.testing.assert_allclose(batched[0, :3], alone[0], rtol=0, atol=1e-12)


def test_memory_at_padded_positions_is_never_read():
    model = _tiny()
    src = np.array([[3, 4, 2, 0, 0]])
    memory, keep = model.encode(src)
    assert keep.tolist() == [[True, True, True, False, False]]
    tgt_in = np.array([[1, 3, 4, 5]])
    logits, weights = model.decode(tgt_in, memory, keep)
    garbage = memory.copy()
    garbage[:, 3:] = np.random.default_rng(0).standard_normal(garbage[:, 3:].shape) * 100
    logits2, _ = model.decode(tgt_in, garbage, keep)
    np.testing.assert_array_equal(logits2, logits)
    for w in weights:                                  # (B, H, T, S)
        assert np.all(w[..., 3:] == 0.0)
        np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)


def test_no_causal_leak_in_the_decoder():
    model = _tiny()
    src = np.array([[3, 4, 5, 2]])
    tgt_in = np.array([[1, 3, 4, 5, 6]])
    base, _, _ = model.forward(src, tgt_in, training=False)
    for t in range(tgt_in.shape[1] - 1):
        changed = tgt_in.copy()
        changed[0, t + 1:] = (changed[0, t + 1:] + 2) % 7
        changed[changed == 0] = 3                       # keep them real tokens, not padding
        out, _, _ = model.forward(src, changed, training=False)
        np.testing.assert_array_equal(out[0, :t + 1], base[0, :t + 1])
        assert not np.allclose(out[0, t + 1:], base[0, t + 1:])


def test_source_is_read_in_both_directions():
    # the encoder has no causal mask: changing the last source word changes what position 0 decodes
    model = _tiny()
    a, _, _ = model.forward(np.array([[3, 4, 5, 2]]), np.array([[1]]), training=False)
    b, _, _ = model.forward(np.array([[3, 4, 4, 2]]), np.array([[1]]), training=False)
    assert not np.allclose(a, b)


def test_cross_attention_weights_equal_an_independent_recomputation():
    # decoder block 0 by hand from the library's layers: y = sqrt(C) E[tgt] + PE;
    # h1 = y + SelfAttn(LN1(y)); c = LN_cross(h1); P = softmax((c Wq + bq)(m Wk + bk)^T / sqrt(d_k))
    model = _tiny()
    p, C, H = model.params, 4, 2
    src, tgt_in = SRC[:1, :4], TGT_IN[:1]
    memory, keep = model.encode(src)
    from minillm.layers import sinusoidal_positional_encoding
    y = p["tgt_emb"][tgt_in] * math.sqrt(C) + sinusoidal_positional_encoding(tgt_in.shape[1], C)
    a, _ = layernorm_forward(y, p["dec.0.ln1.gamma"], p["dec.0.ln1.beta"])
    m, _ = multihead_attention_forward(a, a, *[p[f"dec.0.attn.{n}"] for n in ("Wq", "bq", "Wk", "bk", "Wv", "bv",
                                                                                "Wo", "bo")],
                                       n_heads=H, causal=True)
    c, _ = layernorm_forward(y + m, p["dec.0.ln_cross.gamma"], p["dec.0.ln_cross.beta"])
    q = (c @ p["dec.0.cross.Wq"] + p["dec.0.cross.bq"]).reshape(1, -1, H, C // H).transpose(0, 2, 1, 3)
    k = (memory @ p["dec.0.cross.Wk"] + p["dec.0.cross.bk"]).reshape(1, -1, H, C // H).transpose(0, 2, 1, 3)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(C // H)
    expected = np.exp(s - s.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    weights = model.cross_attention(src, tgt_in)
    assert len(weights) == 2 and weights[0].shape == (1, H, 4, 4)
    np.testing.assert_allclose(weights[0], expected, rtol=1e-10, atol=1e-12)


def test_next_token_log_probs_match_the_teacher_forced_forward():
    model = _tiny()
    logits, _, _ = model.forward(SRC, TGT_IN, training=False)
    memory, keep = model.encode(SRC)
    for t in range(1, TGT_IN.shape[1] + 1):
        log_probs = model.next_token_log_probs(TGT_IN[:, :t], memory, keep)
        z = logits[:, t - 1]
        expected = z - np.log(np.exp(z).sum(-1, keepdims=True))
        np.testing.assert_allclose(log_probs, expected, atol=1e-12)


# --------------------------------------------------------------------------- learning

def test_overfits_a_few_pairs_and_greedy_decodes_them():
    from minillm.optim import AdamW

    cfg = Seq2SeqConfig(src_vocab_size=9, tgt_vocab_size=10, max_len=8, n_encoder_layer=1, n_decoder_layer=1,
                        n_head=2, n_embd=32)
    model = Seq2Seq(cfg, seed=0)
    # reversal with a relabelling: the decoder must read the source through cross-attention
    src = np.array([[3, 4, 5, 2, 0], [6, 7, 2, 0, 0], [8, 3, 6, 7, 2], [5, 5, 8, 2, 0]])
    targets = [[t + 1 for t in reversed(s[:list(s).index(2)])] for s in src]
    T = max(map(len, targets)) + 1
    tgt_in = np.zeros((4, T), dtype=np.int64)
    tgt_out = np.zeros((4, T), dtype=np.int64)
    for i, t in enumerate(targets):
        tgt_in[i, :len(t) + 1] = [1] + t
        tgt_out[i, :len(t) + 1] = t + [2]
    opt = AdamW(model.params, lr=3e-3)
    first = None
    for _ in range(150):
        _, loss, cache = model.forward(src, tgt_in, tgt_out)
        first = loss if first is None else first
        opt.step(model.backward(cache))
    assert loss < 0.02 * first
    memory, keep = model.encode(src)
    hyps = greedy_decode(lambda prefixes: model.next_token_log_probs(prefixes, memory, keep), 4,
                         bos_id=1, eos_id=2, max_len=7)
    assert [h.tokens for h in hyps] == targets


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_named():
    model = _tiny()
    with pytest.raises(ValueError, match=r"src must hold ids in \[0, 6\), got 6"):
        model.forward(np.array([[6, 2]]), TGT_IN[:1])
    with pytest.raises(ValueError, match="src and tgt_in must have the same batch size, got 2 and 1"):
        model.forward(SRC, TGT_IN[:1])
    with pytest.raises(ValueError, match=r"tgt_out must have the shape of tgt_in \(2, 4\), got \(2, 3\)"):
        model.forward(SRC, TGT_IN, TGT_OUT[:, :3])
    with pytest.raises(ValueError, match="tgt_in must have 1 to max_len=6 positions, got 7"):
        model.forward(SRC, np.ones((2, 7), dtype=np.int64))
    with pytest.raises(ValueError, match=r"src must have shape \(B, length\), got \(5,\)"):
        model.forward(SRC[0], TGT_IN)
    with pytest.raises(ValueError, match="cache must come from forward"):
        model.backward(model.forward(SRC, TGT_IN)[2])
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator when dropout > 0"):
        _tiny(dropout=0.1).forward(SRC, TGT_IN, TGT_OUT)
    with pytest.raises(ValueError, match="n_embd must be divisible by n_head: got n_embd=4, n_head=3"):
        Seq2SeqConfig(**{**TINY, "n_head": 3})
    with pytest.raises(ValueError, match="share_embeddings=True needs one vocabulary"):
        Seq2SeqConfig(**{**TINY, "share_embeddings": True})
    with pytest.raises(ValueError, match=r"params do not fit the config: missing \['src_emb'\]"):
        params = dict(model.params)
        del params["src_emb"]
        Seq2Seq(model.config, params=params)


def test_backward_scales_with_dloss():
    # backward(cache, dloss) = gradients of dloss * loss: a data-parallel shard passes its share n_s / n
    model = _tiny()
    _, _, cache = model.forward(SRC, TGT_IN, TGT_OUT, label_smoothing=0.1)
    full, half = model.backward(cache), model.backward(cache, dloss=0.5)
    assert list(half) == list(full)
    for k in full:
        np.testing.assert_allclose(half[k], 0.5 * full[k], rtol=1e-12, atol=1e-15, err_msg=k)
