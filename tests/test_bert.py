"""BERT end to end: every parameter's gradient for each head, padding invariance, the 80/10/10
masking rule, the forward against plain NumPy written from the formulas, HF config and names."""
import math

import numpy as np
import pytest

from minillm.gradcheck import compare, numerical_gradient
from minillm.io.huggingface import BERT_NAME_MAP, bert_name
from minillm.models.bert import (
    BertConfig, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, BertModel,
    backbone_shapes, mask_tokens,
)
from minillm.tokenizers import WordPieceTokenizer

TINY = dict(vocab_size=9, hidden_size=4, num_hidden_layers=2, num_attention_heads=2, intermediate_size=6,
            max_position_embeddings=5, type_vocab_size=2, hidden_dropout_prob=0.0, dtype="float64")


def _batch():
    # two sequences, the second padded (id 0) after 3 tokens; both segment ids used
    input_ids = np.array([[2, 5, 6, 7, 3], [2, 8, 3, 0, 0]])
    attention_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    token_type_ids = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]])
    return input_ids, attention_mask, token_type_ids


def _jitter(model, seed=0):
    # larger weights than BERT's 0.02 so every path carries a visible gradient
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p += rng.standard_normal(p.shape) * 0.3


HEADS = {
    "mlm": (BertForMaskedLM, {}, lambda ids, am: np.where(am == 1, (ids * 3 + 1) % 9, -100)),
    "sequence": (BertForSequenceClassification, {"num_labels": 3}, lambda ids, am: np.array([2, 0])),
    "token": (BertForTokenClassification, {"num_labels": 3}, lambda ids, am: np.where(am == 1, ids % 3, -100)),
}


def _head_and_batch(name):
    """The head `name` of HEADS on the tiny config with jittered weights, the batch, and its labels."""
    cls, kw, make_labels = HEADS[name]
    model = cls(BertConfig(**TINY), seed=1, **kw)
    _jitter(model)
    batch = _batch()
    return model, batch, make_labels(batch[0], batch[1])


@pytest.mark.parametrize("name", list(HEADS))
def test_every_parameter_gradient_of_each_head(name):
    model, (ids, am, tt), labels = _head_and_batch(name)
    if name == "mlm":
        labels[0, 0] = -100            # [CLS] ignored: the mean must skip it
    _, _, cache = model.forward(ids, labels, am, tt)
    grads = model.backward(cache)
    assert set(grads) == set(model.params)
    worst = 0.0
    for k, p in model.params.items():
        assert grads[k].shape == p.shape, k
        num = numerical_gradient(lambda: model.forward(ids, labels, am, tt)[1], p, h=1e-3, order=4)
        if k.endswith("attn.bk"):
            # q.(k + b_k) = q.k + q.b_k adds the same number to every key's score: softmax ignores it,
            # so the true gradient is exactly 0; judged in absolute terms.
            assert np.abs(grads[k]).max() < 1e-12 and np.abs(num).max() < 1e-9, k
            continue
        r = compare(k, grads[k], num, scale="tensor")
        assert r.ok, str(r)
        worst = max(worst, r.rel_error)
    print(f"{name}: worst relative error {worst:.2e}")


def test_bare_encoder_gradient_for_both_outputs():
    model = BertModel(BertConfig(**TINY), seed=2)
    _jitter(model, 1)
    ids, am, tt = _batch()
    rng = np.random.default_rng(5)
    out, cache = model.forward(ids, am, tt)
    d_last = rng.standard_normal(out.last_hidden_state.shape)
    d_pool = rng.standard_normal(out.pooler_output.shape)
    grads = model.backward(d_last, d_pool, cache)

    def projected():
        o = model.forward(ids, am, tt)[0]
        return float(np.sum(o.last_hidden_state * d_last) + np.sum(o.pooler_output * d_pool))

    for k, p in model.params.items():
        num = numerical_gradient(projected, p, h=1e-3, order=4)
        if k.endswith("attn.bk"):
            assert np.abs(grads[k]).max() < 1e-12 and np.abs(num).max() < 1e-9, k
            continue
        r = compare(k, grads[k], num, scale="tensor")
        assert r.ok, str(r)


# ---------------------------------------------------------------------------------- padding

def test_padding_changes_nothing_at_real_tokens():
    cfg = BertConfig(**{**TINY, "max_position_embeddings": 8})
    model = BertModel(cfg, seed=3)
    _jitter(model)
    ids = np.array([[2, 5, 6, 3, 0, 0, 0, 0]])
    am = np.array([[1, 1, 1, 1, 0, 0, 0, 0]])
    out = model(input_ids=ids, attention_mask=am)
    # other tokens and segments under the padding
    ids2, tt2 = ids.copy(), np.zeros_like(ids)
    ids2[0, 4:] = [7, 8, 1, 4]
    tt2[0, 4:] = 1
    out2 = model(input_ids=ids2, attention_mask=am, token_type_ids=tt2)
    np.testing.assert_allclose(out2.last_hidden_state[:, :4], out.last_hidden_state[:, :4], rtol=0, atol=1e-13)
    np.testing.assert_allclose(out2.pooler_output, out.pooler_output, rtol=0, atol=1e-13)
    # and the same as the sequence alone, without any padding
    alone = model(input_ids=ids[:, :4])
    np.testing.assert_allclose(alone.last_hidden_state, out.last_hidden_state[:, :4], rtol=0, atol=1e-13)
    # without the mask the padding does leak in: the test can fail
    leaky = model(input_ids=ids2)
    assert np.abs(leaky.last_hidden_state[:, :4] - out.last_hidden_state[:, :4]).max() > 1e-3


# ------------------------------------------------------------------------------ masking rule

def test_masking_rule_80_10_10_and_specials_never_chosen():
    V, mask_id, special = 1000, 4, [0, 1, 2, 3, 4]
    gen = np.random.default_rng(0)
    ids = gen.integers(5, V, size=(400, 128))
    ids[:, 0], ids[:, -1], ids[:, 100:] = 2, 3, 0           # [CLS] ... [SEP], then padding
    masked, labels = mask_tokens(ids, rng=np.random.default_rng(1), mask_id=mask_id, vocab_size=V,
                                 special_ids=special)
    ordinary = ~np.isin(ids, special)
    chosen = labels != -100
    assert not chosen[~ordinary].any()                        # specials and padding are never targets
    np.testing.assert_array_equal(masked[~chosen], ids[~chosen])   # unchosen inputs are untouched
    np.testing.assert_array_equal(labels[chosen], ids[chosen])     # the target is the original token
    n = chosen.sum()
    assert abs(n / ordinary.sum() - 0.15) < 0.01
    to_mask = (masked == mask_id) & chosen
    kept = (masked == ids) & chosen
    to_random = chosen & ~to_mask & ~kept
    assert abs(to_mask.sum() / n - 0.8) < 0.02
    assert abs(kept.sum() / n - 0.1) < 0.015                 # (+0.1% random draws that hit the original)
    assert abs(to_random.sum() / n - 0.1) < 0.015
    assert not np.isin(masked[to_random], special).any()      # a random token is never a special one
    again = mask_tokens(ids, rng=np.random.default_rng(1), mask_id=mask_id, vocab_size=V, special_ids=special)
    np.testing.assert_array_equal(again[0], masked)           # same seed, same masks


# ------------------------------------------------------------------- forward from the formulas

def _ln(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def test_one_layer_forward_equals_plain_numpy_from_the_formulas():
    cfg = BertConfig(**{**TINY, "num_hidden_layers": 1, "hidden_size": 6, "num_attention_heads": 3})
    model = BertModel(cfg, seed=4)
    _jitter(model)
    p, eps = model.params, cfg.layer_norm_eps
    ids, am, tt = _batch()
    out = model(ids, am, tt)

    x = p["embeddings.word"][ids] + p["embeddings.position"][:5] + p["embeddings.token_type"][tt]
    x = _ln(x, p["embeddings.ln.gamma"], p["embeddings.ln.beta"], eps)
    B, T, C, A = 2, 5, 6, 3
    D = C // A
    heads = []
    for a in range(A):
        cols = slice(a * D, (a + 1) * D)
        q = (x @ p["layer.0.attn.Wq"] + p["layer.0.attn.bq"])[..., cols]
        k = (x @ p["layer.0.attn.Wk"] + p["layer.0.attn.bk"])[..., cols]
        v = (x @ p["layer.0.attn.Wv"] + p["layer.0.attn.bv"])[..., cols]
        s = q @ k.transpose(0, 2, 1) / math.sqrt(D)
        s = np.where(am[:, None, :] == 1, s, -np.inf)          # no query looks at a padded key
        w = np.exp(s - s.max(-1, keepdims=True))
        heads.append((w / w.sum(-1, keepdims=True)) @ v)
    attn = np.concatenate(heads, -1) @ p["layer.0.attn.Wo"] + p["layer.0.attn.bo"]
    h = _ln(x + attn, p["layer.0.ln1.gamma"], p["layer.0.ln1.beta"], eps)
    a = h @ p["layer.0.mlp.W1"] + p["layer.0.mlp.b1"]
    gelu = a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))   # exact erf GELU
    y = _ln(h + gelu @ p["layer.0.mlp.W2"] + p["layer.0.mlp.b2"], p["layer.0.ln2.gamma"], p["layer.0.ln2.beta"], eps)
    pooled = np.tanh(y[:, 0] @ p["pooler.W"] + p["pooler.b"])
    np.testing.assert_allclose(out.last_hidden_state, y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.pooler_output, pooled, rtol=0, atol=1e-12)


def test_called_like_transformers_with_a_tokenizer():
    text = "这是一个简单的示例文本。"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(text))
    tok = WordPieceTokenizer(vocab)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=32))
    enc = tok(text, return_tensors="np")
    out = model(**enc)
    # the article prints [1, 512, 768]: the real length is the characters + [CLS] + [SEP]
    assert out.last_hidden_state.shape == (1, len(text) + 2, 8)
    assert out.pooler_output.shape == (1, 8)
    assert np.abs(out.pooler_output).max() < 1                # tanh


def test_dropout_is_on_only_in_training_and_needs_an_rng():
    cfg = BertConfig(**{**TINY, "hidden_dropout_prob": 0.5})
    model = BertForSequenceClassification(cfg)
    ids, am, tt = _batch()
    eval_a = model.forward(ids, None, am, tt)[0]
    eval_b = model.forward(ids, None, am, tt)[0]
    np.testing.assert_array_equal(eval_a, eval_b)
    train = model.forward(ids, None, am, tt, training=True, rng=np.random.default_rng(0))[0]
    assert np.abs(train - eval_a).max() > 1e-6
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        model.forward(ids, None, am, tt, training=True)


def test_mlm_learns_a_fixed_batch():
    from minillm.optim import AdamW

    cfg = BertConfig(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=8, hidden_dropout_prob=0.0)
    model = BertForMaskedLM(cfg, seed=0)
    ids = np.array([[2, 5, 6, 7, 8, 3], [2, 9, 10, 11, 5, 3]])
    masked, labels = ids.copy(), np.full_like(ids, -100)
    masked[:, 2], labels[:, 2] = 4, ids[:, 2]
    opt = AdamW(model.params, lr=3e-3)
    first = model.forward(masked, labels)[1]
    assert first == pytest.approx(math.log(12), abs=0.1)      # small init: nearly uniform
    for _ in range(120):
        _, loss, cache = model.forward(masked, labels)
        opt.step(model.backward(cache))
    assert loss < 0.1


# ------------------------------------------------------------------ config and checkpoint names

BERT_BASE_CHINESE = {  # the config.json of bert-base-chinese
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "directionality": "bidi",
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "pooler_fc_size": 768,
    "pooler_num_attention_heads": 12, "pooler_num_fc_layers": 3, "pooler_size_per_head": 128,
    "pooler_type": "first_token_transform", "type_vocab_size": 2, "vocab_size": 21128,
}


def test_hf_config_and_parameter_count_of_bert_base_chinese():
    cfg = BertConfig.from_dict(BERT_BASE_CHINESE)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size, cfg.activation) == (768, 12, 21128, "gelu_erf")
    n = sum(math.prod(s) for s in backbone_shapes(cfg).values())
    # embeddings 16,622,592 + 12 x 7,087,872 per layer + pooler 590,592
    assert n == 16_622_592 + 12 * 7_087_872 + 590_592 == 102_267_648
    assert BertConfig.from_dict(cfg.to_dict()) == cfg


def test_every_parameter_has_one_hf_name_with_the_right_orientation():
    cfg = BertConfig(**{**TINY, "hidden_size": 6, "num_attention_heads": 3, "intermediate_size": 10})
    models = [BertModel(cfg), BertForMaskedLM(cfg), BertForSequenceClassification(cfg, num_labels=4)]
    for model in models:
        names = {k: bert_name(k) for k in model.params}
        assert len({hf for hf, _ in names.values()}) == len(names)
        for k, (hf, transposed) in names.items():
            # HF nn.Linear weights are (out, in): exactly the 2-D matrices that are not embeddings
            assert transposed == (model.params[k].ndim == 2 and not k.startswith("embeddings."))
    assert bert_name("layer.1.mlp.W1") == ("encoder.layer.1.intermediate.dense.weight", True)
    assert bert_name("layer.0.ln1.gamma") == ("encoder.layer.0.attention.output.LayerNorm.weight", False)
    assert bert_name("pooler.W") == ("pooler.dense.weight", True)
    assert len(BERT_NAME_MAP) == 30


# ---------------------------------------------------------------------------------- bad input

def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match="hidden_size must be divisible by num_attention_heads"):
        BertConfig(vocab_size=5, hidden_size=10, num_attention_heads=3)
    with pytest.raises(ValueError, match="hidden_act must be one of .* got 'swish'"):
        BertConfig(vocab_size=5, hidden_act="swish")
    with pytest.raises(ValueError, match="config\\['position_embedding_type'\\] must be 'absolute'"):
        BertConfig.from_dict({**BERT_BASE_CHINESE, "position_embedding_type": "relative_key"})
    with pytest.raises(ValueError, match="config has no 'vocab_size'"):
        BertConfig.from_dict({"hidden_size": 8})
    with pytest.raises(TypeError, match="num_hidden_layers must be an integer"):
        BertConfig.from_dict({**BERT_BASE_CHINESE, "num_hidden_layers": "12"})
    model = BertModel(BertConfig(**TINY))
    ids, am, tt = _batch()
    with pytest.raises(ValueError, match="input_ids must hold ids in \\[0, 9\\), got 12"):
        model(ids + 4)
    with pytest.raises(ValueError, match="input_ids must have shape \\(B, T\\).*got \\(5,\\)"):
        model(ids[0])
    with pytest.raises(ValueError, match="input_ids is too long: T = 6 > max_position_embeddings 5"):
        model(np.zeros((1, 6), np.int64))
    with pytest.raises(ValueError, match="attention_mask must have the shape of input_ids \\(2, 5\\), got \\(2, 4\\)"):
        model(ids, am[:, :4])
    with pytest.raises(ValueError, match="attention_mask must hold ids in \\[0, 2\\), got 2"):
        model(ids, am * 2)
    with pytest.raises(ValueError, match="attention_mask row 1 is all 0"):
        model(ids, am * np.array([[1], [0]]))
    with pytest.raises(ValueError, match="token_type_ids must hold ids in \\[0, 2\\), got 2"):
        model(ids, am, tt + 1)
    with pytest.raises(ValueError, match="params do not fit BertModel: missing \\['pooler.W'"):
        BertModel(BertConfig(**TINY), params={k: v for k, v in model.params.items() if k != "pooler.W"})
    clf = BertForSequenceClassification(BertConfig(**TINY))
    with pytest.raises(ValueError, match="labels must have shape \\(2,\\), got \\(2, 5\\)"):
        clf.forward(ids, ids, am)
    with pytest.raises(TypeError, match="labels must be an integer numpy array"):
        clf.forward(ids, np.array([0.0, 1.0]), am)
    with pytest.raises(ValueError, match="cache must come from forward\\(..., labels=...\\)"):
        clf.backward(clf.forward(ids, None, am)[2])
    with pytest.raises(ValueError, match="special_ids must include mask_id 4"):
        mask_tokens(ids, rng=np.random.default_rng(0), mask_id=4, vocab_size=9, special_ids=[0, 2, 3])
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        mask_tokens(ids, rng=0, mask_id=4, vocab_size=9, special_ids=[0, 2, 3, 4])


def test_mlm_head_on_labelled_positions_only_gives_the_same_loss_and_gradients():
    model = BertForMaskedLM(BertConfig(**TINY), seed=5)
    _jitter(model, 2)
    ids, am, tt = _batch()
    labels = np.full_like(ids, -100)
    labels[0, 1], labels[0, 3], labels[1, 2] = 4, 7, 1
    logits, loss, cache = model.forward(ids, labels, am, tt)
    logits_sel, loss_sel, cache_sel = model.forward(ids, labels, am, tt, only_labelled=True)
    assert logits_sel.shape == (3, 9)
    np.testing.assert_allclose(logits_sel, logits[labels != -100], rtol=0, atol=1e-12)
    assert loss_sel == pytest.approx(loss, abs=1e-12)
    full, sel = model.backward(cache), model.backward(cache_sel)
    for k in full:
        np.testing.assert_allclose(sel[k], full[k], rtol=0, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name", list(HEADS))
def test_backward_scales_with_dloss(name):
    # backward(cache, dloss) = gradients of dloss * loss: a data-parallel shard passes its share n_s / n
    model, (ids, am, tt), labels = _head_and_batch(name)
    _, _, cache = model.forward(ids, labels, am, tt)
    full, half = model.backward(cache), model.backward(cache, dloss=0.5)
    assert list(half) == list(full)
    for k in full:
        np.testing.assert_allclose(half[k], 0.5 * full[k], rtol=1e-12, atol=1e-15, err_msg=k)
