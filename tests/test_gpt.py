"""The GPT end to end: every parameter's gradient, the sanity checks students remember, no causal leak."""
import math

import numpy as np
import pytest

from minillm.gradcheck import compare, numerical_gradient
from minillm.models.gpt import GPT, GPTConfig

TINY = dict(vocab_size=11, block_size=6, n_layer=2, n_head=2, n_embd=8, dtype="float64")
VARIANTS = {
    "gpt2": GPTConfig(**TINY),
    "gpt2-nobias-sinusoidal": GPTConfig(**TINY, bias=False, pos="sinusoidal"),
    "llama": GPTConfig.llama(**TINY),
}


def _batch(rng, cfg, B=2, T=5):
    idx = rng.integers(0, cfg.vocab_size, size=(B, T))
    targets = rng.integers(0, cfg.vocab_size, size=(B, T))
    return idx, targets


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_parameter_gradient_matches_central_differences(name):
    cfg = VARIANTS[name]
    model = GPT(cfg, seed=3)
    rng = np.random.default_rng(0)
    # larger weights than GPT-2's 0.02 so that every path carries a visible gradient
    for k, p in model.params.items():
        p += rng.standard_normal(p.shape) * 0.3
    idx, targets = _batch(rng, cfg, T=cfg.block_size)  # every position row of wpe is used
    targets[0, 1] = -100  # an ignored position must not disturb the gradient
    _, _, cache = model.forward(idx, targets)
    grads = model.backward(cache)
    assert set(grads) == set(model.params)
    worst = 0.0
    for k, p in model.params.items():
        assert grads[k].shape == p.shape, k
        num = numerical_gradient(lambda: model.forward(idx, targets)[1], p, h=1e-3, order=4)
        if k.endswith("attn.bk"):
            # softmax(q.(k + b)) = softmax(q.k + q.b): the same shift for every key, so the key
            # bias cannot change the loss and its true gradient is exactly 0 (a classic result).
            assert np.abs(grads[k]).max() < 1e-12 and np.abs(num).max() < 1e-9
            continue
        r = compare(k, grads[k], num, scale="tensor")
        assert r.ok, str(r)
        worst = max(worst, r.rel_error)
    print(f"{name}: worst relative error {worst:.2e} (scaled by each tensor's largest entry)")


def test_initial_loss_is_log_vocab_size():
    cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = GPT(cfg, seed=0)
    rng = np.random.default_rng(1)
    idx, targets = _batch(rng, cfg, B=8, T=16)
    _, loss, _ = model.forward(idx, targets)
    # small init => nearly uniform predictions => loss ~ ln V = 4.174
    assert loss == pytest.approx(math.log(65), abs=0.05)


@pytest.mark.parametrize("llama", [False, True])
def test_overfits_one_small_batch(llama):
    from minillm.optim import AdamW

    kw = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16)
    cfg = GPTConfig.llama(**kw) if llama else GPTConfig(**kw)
    model = GPT(cfg, seed=0)
    rng = np.random.default_rng(2)
    idx, targets = _batch(rng, cfg, B=4, T=8)
    opt = AdamW(model.params, lr=1e-2)
    first = None
    for _ in range(200):
        _, loss, cache = model.forward(idx, targets)
        first = loss if first is None else first
        opt.step(model.backward(cache))
    assert first > 2.0 and loss < 0.05


@pytest.mark.parametrize("name", list(VARIANTS))
def test_no_causal_leak_through_the_whole_model(name):
    model = GPT(VARIANTS[name], seed=1)
    rng = np.random.default_rng(3)
    idx, _ = _batch(rng, model.config, B=2, T=6)
    logits, _, _ = model.forward(idx)
    for t in range(5):
        changed = idx.copy()
        changed[:, t + 1:] = (changed[:, t + 1:] + 1) % model.config.vocab_size
        logits2, _, _ = model.forward(changed)
        np.testing.assert_array_equal(logits2[:, : t + 1], logits[:, : t + 1])
        assert not np.allclose(logits2[:, t + 1:], logits[:, t + 1:])


def test_weight_tying_both_uses_contribute():
    cfg = VARIANTS["gpt2"]
    model = GPT(cfg, seed=0)
    rng = np.random.default_rng(4)
    idx, targets = _batch(rng, cfg)
    _, _, cache = model.forward(idx, targets)
    g = model.backward(cache)["wte"]
    unused = sorted(set(range(cfg.vocab_size)) - set(idx.ravel().tolist()))
    # rows of tokens never looked up still get the output-head gradient
    assert unused and np.abs(g[unused]).sum() > 0


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match="n_embd must be divisible by n_head"):
        GPTConfig(vocab_size=10, n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="pos"):
        GPTConfig(vocab_size=10, pos="alibi")
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(vocab_size=10, dropout=1.0)
    model = GPT(VARIANTS["gpt2"])
    with pytest.raises(TypeError, match="idx"):
        model.forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="idx"):
        model.forward(np.array([[1, 2, 11]]))
    with pytest.raises(ValueError, match="block_size"):
        model.forward(np.zeros((1, 7), dtype=np.int64))
    with pytest.raises(ValueError, match="missing"):
        GPT(VARIANTS["gpt2"], params={"wte": np.zeros((11, 8))})


# ------------------------------------------------------------------ perplexity windows
def _tiny_gpt64(block_size=8):
    cfg = GPTConfig(vocab_size=11, block_size=block_size, n_layer=1, n_head=2, n_embd=8, dtype="float64")
    return GPT(cfg, seed=4)


def test_perplexity_in_non_overlapping_windows_is_the_mean_window_loss():
    model = _tiny_gpt64()
    tokens = np.random.default_rng(0).integers(0, 11, size=30)    # 29 targets: windows of 8, 8, 8, 5
    total, n = 0.0, 0
    for start in range(0, 29, 8):
        x, y = tokens[start:start + 8], tokens[start + 1:start + 9]
        x = x[:y.size]
        total += model.forward(x[None], y[None], training=False)[1] * y.size
        n += y.size
    assert n == 29
    assert model.perplexity(tokens) == pytest.approx(math.exp(total / n), rel=1e-12)
    assert model.perplexity(tokens, stride=8) == model.perplexity(tokens)
    assert model.logprob(tokens) == pytest.approx(-total, rel=1e-12)


def test_perplexity_with_stride_one_gives_every_token_its_full_context():
    model = _tiny_gpt64()
    tokens = np.random.default_rng(1).integers(0, 11, size=21)
    nll = []
    for j in range(1, tokens.size):           # target j, predicted from up to block_size tokens before it
        context = tokens[max(0, j - 8):j]
        logits = model.forward(context[None], training=False)[0][0, -1]
        logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        nll.append(-logp[tokens[j]])
    assert model.perplexity(tokens, stride=1) == pytest.approx(math.exp(np.mean(nll)), rel=1e-12)
    # a middle stride is a measure of its own: after the first window each target sees >= 8 - 3 = 5 tokens
    assert model.logprob(tokens, stride=3) != model.logprob(tokens)
    for bad in (0, 9, 1.5):
        with pytest.raises((ValueError, TypeError), match="stride"):
            model.perplexity(tokens, stride=bad)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backward_scales_with_dloss(backend):
    # backward(cache, dloss) = gradients of dloss * loss: a data-parallel shard passes its share n_s / n
    model = GPT(GPTConfig(**{**TINY, "backend": backend}), seed=2)
    idx, targets = _batch(np.random.default_rng(3), model.config)
    _, _, cache = model.forward(idx, targets)
    full, half = model.backward(cache), model.backward(cache, dloss=0.5)
    assert list(half) == list(full)
    for k in full:
        np.testing.assert_allclose(half[k], 0.5 * full[k], rtol=1e-12, atol=1e-15, err_msg=k)


def test_gpt_composes_the_decoder_block_and_has_no_generate_method():
    # one decoder block: the layer functions of minillm/layers/block.py, one call per layer
    from minillm.layers import decoder_block_forward

    model = GPT(GPTConfig.llama(**TINY), seed=4)
    idx, _ = _batch(np.random.default_rng(5), model.config)
    x = model.params["wte"][idx]
    c = model.config
    for i in range(c.n_layer):
        block = {k[len(f"h.{i}."):]: v for k, v in model.params.items() if k.startswith(f"h.{i}.")}
        x, _ = decoder_block_forward(x, block, n_heads=c.n_head, norm_type="rmsnorm", eps=c.norm_eps,
                                     activation="swiglu", rope=True)
    gamma = model.params["ln_f.gamma"]
    x = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + c.norm_eps) * gamma
    np.testing.assert_allclose(model.forward(idx, training=False)[0], x @ model.params["wte"].T,
                               rtol=1e-12, atol=1e-12)
    assert not hasattr(model, "generate")           # minillm.generate.generate(model, idx, n) instead


def test_config_refuses_a_string_for_a_flag():
    """bias = "false" (a string, as a careless config file has it) is truthy: it must be refused, not obeyed as True."""
    with pytest.raises(TypeError, match="bias must be True or False, got 'false'"):
        GPTConfig(vocab_size=5, bias="false")
    with pytest.raises(ValueError, match="norm_eps"):
        GPTConfig(vocab_size=5, norm_eps=0.0)
