"""BERT (the encoder and its three heads) and the encoder-decoder on backend "numba" against "numpy".

The backend swaps the operations (models/backend.py), never the model: the same parameters must
give the same logits, loss and every gradient.  float64 within 1e-9 relative (the exact-erf GELU
kernel differs from the NumPy series by ~1e-14, sums are taken in another order), float32 within
atol + |ref| * 1e-4 after six layers of float32 rounding.  Odd sizes, padded batches (a key mask
per sequence, one sequence with a single real token) and sequences longer than one key block
(T = 70 > 64: the flash path of the attention kernel) are all covered.
"""
import numpy as np
import pytest

from minillm.kernels import attention_backward, attention_forward
from minillm import layers
from minillm.models.bert import (
    BertConfig, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, BertModel,
)
from minillm.models.seq2seq import Seq2Seq, Seq2SeqConfig


def assert_close(got, ref, dtype, what, scale=None):
    """Within tol relative, plus tol * scale absolute (scale: the largest |ref|, or what the caller passes)."""
    tol = 1e-9 if dtype == np.float64 else 1e-4
    if scale is None:
        scale = float(np.max(np.abs(ref))) if np.size(ref) else 0.0
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale, err_msg=what)


def assert_grads_close(g, g_ref, dtype):
    """Every gradient, with the absolute floor set by the largest gradient of the model: the key
    biases' true gradient is exactly 0 (softmax ignores a constant per row), so theirs is round-off."""
    assert g.keys() == g_ref.keys()
    scale = max(float(np.max(np.abs(v))) for v in g_ref.values())
    for name in g_ref:
        assert_close(g[name], g_ref[name], dtype, name, scale=scale)


def padded_batch(rng, B, T, vocab):
    ids = rng.integers(4, vocab, size=(B, T))
    mask = np.ones((B, T), np.int64)
    for b in range(1, B):
        mask[b, max(1, T - 3 * b):] = 0                 # shorter and shorter; the last row nearly all padding
    mask[-1, 1:] = 0                                    # one real token only
    return ids * mask, mask


def bert_config(dtype, backend, **kw):
    return BertConfig(vocab_size=37, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                      intermediate_size=20, max_position_embeddings=80, hidden_dropout_prob=0.0, dtype=dtype,
                      backend=backend, **kw)


def twins(cls, dtype, **kw):
    """The same model (same parameters) on both backends."""
    ref = cls(bert_config(dtype, "numpy"), seed=3, **kw)
    fast = cls(bert_config(dtype, "numba"), params={k: v.copy() for k, v in ref.params.items()}, **kw)
    return ref, fast


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("T", [9, 70])
@pytest.mark.parametrize("head", ["mlm", "sequence", "token"])
def test_bert_heads_equal_across_backends(rng, dtype, T, head):
    ids, mask = padded_batch(rng, 4, T, 37)
    if head == "mlm":
        ref, fast = twins(BertForMaskedLM, dtype)
        labels = np.where(rng.random(ids.shape) < 0.3, ids, -100)
        labels[0, 0] = ids[0, 0]
    elif head == "sequence":
        ref, fast = twins(BertForSequenceClassification, dtype, num_labels=3)
        labels = rng.integers(0, 3, size=4)
    else:
        ref, fast = twins(BertForTokenClassification, dtype, num_labels=5)
        labels = np.where(mask == 1, rng.integers(0, 5, size=ids.shape), -100)
    out_ref, loss_ref, cache_ref = ref.forward(ids, labels, mask)
    out, loss, cache = fast.forward(ids, labels, mask)
    assert cache["ops"] is fast.ops and cache_ref["ops"] is ref.ops
    assert out.dtype == np.dtype(dtype)
    assert_close(out, out_ref, out.dtype, "logits")
    assert_close(loss, loss_ref, out.dtype, "loss")
    g_ref, g = ref.backward(cache_ref), fast.backward(cache)
    assert g_ref.keys() == ref.params.keys()
    assert_grads_close(g, g_ref, out.dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bert_model_and_pooler_equal_across_backends(rng, dtype):
    ids, mask = padded_batch(rng, 3, 11, 37)
    ref, fast = twins(BertModel, dtype)
    (o_ref, c_ref), (o, c) = ref.forward(ids, mask), fast.forward(ids, mask)
    assert_close(o.last_hidden_state, o_ref.last_hidden_state, o.last_hidden_state.dtype, "last_hidden_state")
    assert_close(o.pooler_output, o_ref.pooler_output, o.pooler_output.dtype, "pooler_output")
    d_last, d_pool = rng.standard_normal(o.last_hidden_state.shape), rng.standard_normal(o.pooler_output.shape)
    d_last, d_pool = d_last.astype(dtype), d_pool.astype(dtype)
    assert_grads_close(fast.backward(d_last, d_pool, c), ref.backward(d_last, d_pool, c_ref), np.dtype(dtype))


def test_padding_never_reaches_a_real_token_on_the_kernels(rng):
    """Changing what sits at padded positions leaves every real position's output unchanged."""
    ids, mask = padded_batch(rng, 3, 70, 37)
    _, fast = twins(BertModel, "float64")
    other = np.where(mask == 1, ids, rng.integers(4, 37, size=ids.shape))
    a = fast(ids, mask).last_hidden_state
    b = fast(other, mask).last_hidden_state
    real = mask == 1
    np.testing.assert_array_equal(a[real], b[real])
    assert not np.array_equal(a[~real], b[~real])      # the padded positions did change: the test can fail


@pytest.mark.parametrize("T", [62, 130])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_kernel_with_bert_key_masks(rng, T, causal):
    """The padded-batch case BERT and the seq2seq model send the kernel: a key mask (B, 1, 1, T)."""
    B, H, D = 3, 4, 16
    q, k, v = (rng.standard_normal((B, H, T, D)) for _ in range(3))
    keep = np.ones((B, T), bool)
    keep[1, T // 2:] = False
    keep[2, 1:] = False
    mask = keep[:, None, None, :]
    out, cache = attention_forward(q, k, v, mask=mask, causal=causal)
    ref, cache_ref = layers.attention_forward(q, k, v, mask=mask, causal=causal)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(attention_backward(dout, cache), layers.attention_backward(dout, cache_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
    # padded keys (and, with causal, later keys) never reach an output
    k2, v2 = k.copy(), v.copy()
    k2[1, :, T // 2:] += 5.0
    v2[1, :, T // 2:] += 5.0
    np.testing.assert_array_equal(attention_forward(q, k2, v2, mask=mask, causal=causal)[0][1], out[1])
    if causal:
        k3, v3 = k.copy(), v.copy()
        k3[0, :, T - 5:] += 5.0
        v3[0, :, T - 5:] += 5.0
        np.testing.assert_array_equal(attention_forward(q, k3, v3, mask=mask, causal=True)[0][0, :, :T - 5],
                                      out[0, :, :T - 5])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["gelu", "gelu_erf", "relu"])
def test_seq2seq_equal_across_backends(rng, dtype, activation):
    kw = dict(src_vocab_size=23, tgt_vocab_size=19, max_len=12, n_encoder_layer=2, n_decoder_layer=2, n_head=2,
              n_embd=10, ffn_hidden=14, activation=activation, dtype=dtype)
    ref = Seq2Seq(Seq2SeqConfig(**kw, backend="numpy"), seed=5)
    fast = Seq2Seq(Seq2SeqConfig(**kw, backend="numba"), params={k: v.copy() for k, v in ref.params.items()})
    src = rng.integers(1, 23, size=(3, 9))
    src[1, 6:] = 0
    src[2, 2:] = 0
    tgt = rng.integers(1, 19, size=(3, 8))
    tgt[2, 5:] = 0
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    l_ref, loss_ref, c_ref = ref.forward(src, tgt_in, tgt_out, label_smoothing=0.1)
    l, loss, c = fast.forward(src, tgt_in, tgt_out, label_smoothing=0.1)
    assert_close(l, l_ref, l.dtype, "logits")
    assert_close(loss, loss_ref, l.dtype, "loss")
    assert_grads_close(fast.backward(c), ref.backward(c_ref), l.dtype)
    memory, keep = fast.encode(src)
    assert_close(fast.next_token_log_probs(tgt_in, memory, keep), ref.next_token_log_probs(tgt_in, *ref.encode(src)),
                 l.dtype, "next-token log-probabilities")
    # the cross-attention weights come from the NumPy attention on either backend
    for w, w_ref in zip(fast.cross_attention(src, tgt_in), ref.cross_attention(src, tgt_in)):
        assert_close(w, w_ref, l.dtype, "cross-attention weights")


def test_from_pretrained_defaults_to_the_kernels(tmp_path):
    model = BertModel(bert_config("float32", "numpy"), seed=0)
    model.save_pretrained(tmp_path)
    assert "backend" not in (tmp_path / "config.json").read_text()      # not a Hugging Face field
    fast = BertModel.from_pretrained(tmp_path)
    slow = BertModel.from_pretrained(tmp_path, backend="numpy")
    assert fast.config.backend == "numba" and slow.config.backend == "numpy"
    from minillm import kernels

    assert fast.ops.attention_forward is kernels.attention_forward
    assert fast.ops.feedforward_forward is kernels.feedforward_forward
    with pytest.raises(ValueError, match="backend"):
        BertModel.from_pretrained(tmp_path, backend="torch")
