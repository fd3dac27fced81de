"""Sampling strategies, and the KV cache against full recomputation at every step."""
import numpy as np
import pytest

from minillm.generate import filter_top_k, filter_top_p, generate, pick_next, softmax_with_temperature
from minillm.models.gpt import GPT, GPTConfig

TINY = dict(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=16)


def _model(**kw):
    model = GPT(GPTConfig(**{**TINY, **kw}), seed=5)
    rng = np.random.default_rng(0)
    for p in model.params.values():  # sharper predictions than the 0.02 init, so sampling matters
        p += rng.standard_normal(p.shape).astype(p.dtype) * 0.2
    return model


@pytest.mark.parametrize("kw", [{}, {"pos": "sinusoidal"}, {"pos": "rope", "norm": "rmsnorm", "mlp": "swiglu"}])
def test_kv_cache_logits_equal_full_recomputation_at_every_step(kw):
    model = _model(dtype="float64", **kw)
    rng = np.random.default_rng(1)
    seq = rng.integers(0, 17, size=(2, 8))
    kv = model.new_kv_cache(batch_size=2)
    # the prompt (3 tokens) in one call, then one token per call
    logits, _, _ = model.forward(seq[:, :3], kv_cache=kv, training=False)
    full, _, _ = model.forward(seq[:, :3], training=False)
    np.testing.assert_allclose(logits, full, rtol=1e-10, atol=1e-12)
    for t in range(3, 8):
        step_logits, _, _ = model.forward(seq[:, t:t + 1], kv_cache=kv, training=False)
        full, _, _ = model.forward(seq[:, :t + 1], training=False)
        np.testing.assert_allclose(step_logits[:, 0], full[:, -1], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="block_size"):
        model.forward(seq[:, :1], kv_cache=kv, training=False)


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_generation_with_cache_equals_without_past_the_block_size(pos):
    # 20 new tokens with block_size 8: the window slides and the cache is rebuilt
    model = _model(pos=pos, dtype="float64")
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    a = generate(model, prompt, 20, temperature=1.0, rng=np.random.default_rng(7), use_cache=True)
    b = generate(model, prompt, 20, temperature=1.0, rng=np.random.default_rng(7), use_cache=False)
    assert a.shape == (2, 23)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, :3], prompt)


def test_greedy_picks_the_argmax_of_the_full_forward():
    model = _model()
    out = generate(model, np.array([[3]]), 5, greedy=True)
    for t in range(1, 6):
        logits, _, _ = model.forward(out[:, :t], training=False)
        assert out[0, t] == int(np.argmax(logits[0, -1]))


def test_stop_tokens_end_generation():
    model = _model()
    first = generate(model, np.array([[3]]), 1, greedy=True)[0, 1]
    out = generate(model, np.array([[3]]), 10, greedy=True, stop_tokens=[first])
    assert out.shape == (1, 2) and out[0, 1] == first


def test_temperature_top_k_top_p_by_hand():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    np.testing.assert_allclose(softmax_with_temperature(logits, 1.0), [[0.5, 0.3, 0.15, 0.05]])
    # tau = 0.5 squares and renormalises: p^2 / sum p^2
    sq = np.array([0.25, 0.09, 0.0225, 0.0025])
    np.testing.assert_allclose(softmax_with_temperature(logits, 0.5), [sq / sq.sum()])
    np.testing.assert_allclose(filter_top_k(np.array([[0.5, 0.3, 0.15, 0.05]]), 2), [[0.625, 0.375, 0, 0]])
    # top-p 0.8: 0.5 (mass before 0) and 0.3 (mass before 0.5) kept; 0.15 has 0.8 before it -> dropped
    np.testing.assert_allclose(filter_top_p(np.array([[0.5, 0.3, 0.15, 0.05]]), 0.8), [[0.625, 0.375, 0, 0]])
    np.testing.assert_allclose(filter_top_p(np.array([[0.05, 0.5, 0.15, 0.3]]), 0.81),
                               [[0, 0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]])


def test_sampling_frequencies_follow_the_filtered_distribution():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 20000))
    rng = np.random.default_rng(3)
    draws = pick_next(logits, temperature=1.0, top_k=3, rng=rng)
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0], atol=0.015)


def test_bad_sampling_arguments_are_named():
    logits = np.zeros((1, 4))
    with pytest.raises(TypeError, match="rng"):
        pick_next(logits, temperature=1.0, rng=None)
    with pytest.raises(ValueError, match="top_p"):
        pick_next(logits, top_p=1.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="top_k"):
        pick_next(logits, top_k=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="temperature"):
        pick_next(logits, temperature=-1.0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="idx"):
        generate(_model(), np.array([[99]]), 3, greedy=True)
