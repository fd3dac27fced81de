"""The recurrent LM end to end: every parameter's gradient, truncated BPTT, the shared evaluation surface."""
import math

import numpy as np
import pytest

from minillm.gradcheck import compare, numerical_gradient
from minillm.layers.recurrent import lstm_step_forward
from minillm.models.rnn import RNNConfig, RNNLM, stream_batches

CELLS = ["rnn", "lstm", "gru"]
TINY = dict(vocab_size=7, n_embd=3, n_hidden=4, n_layer=2, block_size=5, dtype="float64")


def _random_state(model, B, rng):
    state = model.initial_state(B)
    for key in state:
        state[key] = rng.standard_normal(state[key].shape) * 0.5
    return state


@pytest.mark.parametrize("cell", CELLS)
def test_every_parameter_gradient_matches_central_differences(cell):
    model = RNNLM(RNNConfig(cell=cell, **TINY), seed=1)
    rng = np.random.default_rng(0)
    model.params["W_out"] += rng.standard_normal(model.params["W_out"].shape) * 0.5  # a visible head
    idx = rng.integers(0, 7, size=(2, 4))
    targets = rng.integers(0, 7, size=(2, 4))
    targets[1, 2] = -100  # an ignored position must not disturb the gradient
    state = _random_state(model, 2, rng)  # a carried state: a constant of this chunk
    _, _, cache = model.forward(idx, targets, state)
    grads = model.backward(cache)
    assert set(grads) == set(model.params)
    worst = 0.0
    for k, p in model.params.items():
        assert grads[k].shape == p.shape, k
        num = numerical_gradient(lambda: model.forward(idx, targets, state)[1], p, h=1e-3, order=4)
        r = compare(k, grads[k], num, scale="tensor")
        assert r.ok, str(r)
        worst = max(worst, r.rel_error)
    print(f"{cell}: worst relative error {worst:.2e} (scaled by each tensor's largest entry)")


@pytest.mark.parametrize("cell", CELLS)
def test_logits_match_a_loop_over_the_layer_step_functions(cell):
    # One layer, written out: embedding row, cell step, head -- per time step, from the layer functions.
    from minillm.layers.recurrent import gru_step_forward, rnn_step_forward

    model = RNNLM(RNNConfig(cell=cell, **{**TINY, "n_layer": 1}), seed=2)
    p = model.params
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 7, size=(3, 6))
    logits, _, cache = model.forward(idx)
    h, c = np.zeros((3, 4)), np.zeros((3, 4))
    for t in range(6):
        x = p["wte"][idx[:, t]]
        if cell == "lstm":
            (h, c), _ = lstm_step_forward(x, h, c, p["cell.0.Wx"], p["cell.0.Wh"], p["cell.0.b"])
        else:
            step = rnn_step_forward if cell == "rnn" else gru_step_forward
            h, _ = step(x, h, p["cell.0.Wx"], p["cell.0.Wh"], p["cell.0.b"])
        np.testing.assert_allclose(logits[:, t], h @ p["W_out"] + p["b_out"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cache["state"]["h"][0], h, rtol=1e-13, atol=1e-15)
    if cell == "lstm":
        np.testing.assert_allclose(cache["state"]["c"][0], c, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("cell", CELLS)
def test_carrying_the_state_across_chunks_equals_one_long_forward(cell, backend):
    model = RNNLM(RNNConfig(cell=cell, backend=backend, **TINY), seed=3)
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 7, size=(2, 11))
    whole, _, whole_cache = model.forward(idx)
    pieces, state = [], None
    for start, stop in ((0, 4), (4, 5), (5, 11)):
        logits, _, cache = model.forward(idx[:, start:stop], state=state)
        pieces.append(logits)
        state = cache["state"]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=1e-12, atol=1e-14)
    for key in state:
        np.testing.assert_allclose(state[key], whole_cache["state"][key], rtol=1e-12, atol=1e-14)


def test_stream_batches_continue_each_row_and_shift_targets_by_one():
    tokens = np.arange(23)
    chunks = list(stream_batches(tokens, batch_size=3, block_size=3))
    # n = (23 - 1) // 3 = 7 tokens per stream: chunks of 3, 3, 1 columns
    assert [x.shape for x, _ in chunks] == [(3, 3), (3, 3), (3, 1)]
    x = np.concatenate([x for x, _ in chunks], axis=1)
    y = np.concatenate([y for _, y in chunks], axis=1)
    np.testing.assert_array_equal(x, [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 19, 20]])
    np.testing.assert_array_equal(y, x + 1)


def test_truncated_bptt_over_stream_batches_gives_the_exact_text_logprob():
    # The state carried chunk after chunk makes the chunked losses add up to one pass over each stream.
    model = RNNLM(RNNConfig(cell="lstm", **TINY), seed=4)
    tokens = np.random.default_rng(3).integers(0, 7, size=41)
    total, state = 0.0, None
    for x, y in stream_batches(tokens, batch_size=2, block_size=3):
        _, loss, cache = model.forward(x, y, state)
        total += loss * y.size
        state = cache["state"]
    rows = tokens[:40].reshape(2, 20), tokens[1:41].reshape(2, 20)
    _, loss_whole, _ = model.forward(*rows)
    assert total == pytest.approx(loss_whole * 40, rel=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_logprob_and_perplexity_read_the_whole_prefix(cell):
    model = RNNLM(RNNConfig(cell=cell, **TINY), seed=5)  # block_size 5: several chunks
    tokens = np.random.default_rng(4).integers(0, 7, size=13)
    # token by token, carrying the state, with an explicit log-softmax
    expected, state = 0.0, None
    for t in range(12):
        logits, _, cache = model.forward(tokens[t:t + 1][None], state=state)
        z = logits[0, 0]
        expected += z[tokens[t + 1]] - (z.max() + math.log(np.exp(z - z.max()).sum()))
        state = cache["state"]
    assert model.logprob(tokens) == pytest.approx(expected, rel=1e-12)
    assert model.perplexity(tokens) == pytest.approx(math.exp(-expected / 12), rel=1e-12)
    # and the chunk length does not matter (an RNN has no window)
    long = RNNLM(RNNConfig(cell=cell, **{**TINY, "block_size": 64}), params=model.params)
    assert long.logprob(tokens) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_initial_loss_is_log_vocab_size(cell):
    cfg = RNNConfig(vocab_size=65, cell=cell, n_embd=16, n_hidden=64)
    model = RNNLM(cfg, seed=0)
    rng = np.random.default_rng(5)
    idx, targets = rng.integers(0, 65, size=(2, 8, 16))
    _, loss, _ = model.forward(idx, targets)
    assert loss == pytest.approx(math.log(65), abs=0.02)


@pytest.mark.parametrize("cell", CELLS)
def test_overfits_a_tiny_sequence(cell):
    from minillm.optim import AdamW

    model = RNNLM(RNNConfig(vocab_size=11, cell=cell, n_embd=8, n_hidden=32), seed=0)
    rng = np.random.default_rng(8)
    # two rows of one random text, targets = the next token (random targets would contradict each
    # other at t = 0, where the state is still zero: rows starting with the same token)
    text = rng.integers(0, 11, size=25)
    idx, targets = text[:24].reshape(2, 12), text[1:].reshape(2, 12)
    assert idx[0, 0] != idx[1, 0]
    opt = AdamW(model.params, lr=3e-2)
    first = None
    for _ in range(150):
        _, loss, cache = model.forward(idx, targets)
        first = loss if first is None else first
        opt.step(model.backward(cache))
    assert first > 2.0 and loss < 0.05, (first, loss)


def test_generate_greedy_equals_argmax_of_full_recomputation():
    model = RNNLM(RNNConfig(cell="gru", **TINY), seed=6)
    model.params["W_out"] *= 50  # sharp predictions, so greedy has no near-ties
    prompt = np.array([[1, 2, 3], [4, 4, 0]])
    out = model.generate(prompt, 6, temperature=0)
    assert out.shape == (2, 9)
    np.testing.assert_array_equal(out[:, :3], prompt)
    for t in range(3, 9):
        logits, _, _ = model.forward(out[:, :t])  # from scratch, no carried state
        np.testing.assert_array_equal(out[:, t], logits[:, -1].argmax(axis=-1))
    # a 1-D prompt gives a 1-D answer
    np.testing.assert_array_equal(model.generate(prompt[0], 6, temperature=0), out[0])


def test_sampling_follows_the_softmax_and_the_seed():
    model = RNNLM(RNNConfig(cell="rnn", **TINY), seed=7)
    prompt = np.zeros((4000, 1), dtype=np.int64)
    out = model.generate(prompt, 1, rng=np.random.default_rng(0), temperature=1.0)
    logits, _, _ = model.forward(prompt[:1])
    p = np.exp(logits[0, -1] - logits[0, -1].max())
    p /= p.sum()
    freq = np.bincount(out[:, 1], minlength=7) / 4000
    assert np.abs(freq - p).max() < 0.03  # ~4 standard errors of a frequency at p ~ 0.15
    again = model.generate(prompt[:5], 4, rng=np.random.default_rng(0), temperature=0.7)
    np.testing.assert_array_equal(again, model.generate(prompt[:5], 4, rng=np.random.default_rng(0), temperature=0.7))


def test_the_shared_trainer_trains_it():
    from minillm.train import TrainConfig, Trainer

    model = RNNLM(RNNConfig(vocab_size=5, cell="lstm", n_embd=4, n_hidden=8, block_size=8), seed=0)
    tokens = np.tile(np.arange(5), 40)
    cfg = TrainConfig(batch_size=4, max_iters=60, lr=3e-2, min_lr=3e-3, warmup_iters=5, lr_decay_iters=60,
                      eval_interval=60, eval_iters=2, checkpoint=False)
    history = Trainer(model, tokens, tokens, cfg, progress=False).run()
    assert history["train_loss"][0] > 1.4 and history["val_loss"][-1] < 0.25


def test_forget_bias_sits_in_the_second_gate_block():
    model = RNNLM(RNNConfig(vocab_size=5, cell="lstm", n_hidden=6, forget_bias=2.5), seed=0)
    b = model.params["cell.0.b"]
    assert np.all(b[6:12] == 2.5) and np.all(np.abs(np.delete(b, np.s_[6:12])) <= 1 / math.sqrt(6))


def test_bad_configs_and_inputs_are_named():
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lstm', 'rnn'\], got 'transformer'"):
        RNNConfig(vocab_size=5, cell="transformer")
    with pytest.raises(ValueError, match="n_hidden must be >= 1, got 0"):
        RNNConfig(vocab_size=5, n_hidden=0)
    with pytest.raises(ValueError, match=r"unknown fields \['n_head'\]"):
        RNNConfig.from_dict({"vocab_size": 5, "n_head": 2})
    model = RNNLM(RNNConfig(cell="lstm", **TINY))
    with pytest.raises(TypeError, match="idx must be an integer array"):
        model.forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"idx must hold ids in \[0, 7\), got 7"):
        model.forward(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"idx must have shape \(B, T\) with T >= 1, got \(3,\)"):
        model.forward(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"targets must have the shape of idx \(1, 3\), got \(1, 2\)"):
        model.forward(np.array([[1, 2, 3]]), np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"state for a lstm must have the keys \['c', 'h'\], got \['h'\]"):
        model.forward(np.array([[1, 2]]), state={"h": np.zeros((2, 1, 4))})
    with pytest.raises(ValueError, match=r"state\['h'\] must have shape \(L, B, H\) = \(2, 1, 4\), got \(2, 3, 4\)"):
        model.forward(np.array([[1, 2]]), state=model.initial_state(3))
    with pytest.raises(TypeError, match="state must be a dict"):
        model.forward(np.array([[1, 2]]), state=np.zeros((2, 1, 4)))
    with pytest.raises(ValueError, match="cache must come from forward"):
        model.backward(model.forward(np.array([[1, 2]]))[2])
    with pytest.raises(ValueError, match=r"tokens must be a 1-D array of at least 2 ids, got shape \(1, 3\)"):
        model.perplexity(np.array([[1, 2, 3]]))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        model.generate(np.array([1, 2]), 3, temperature=1.0)
    with pytest.raises(ValueError, match="missing"):
        RNNLM(RNNConfig(cell="gru", **TINY), params={"wte": np.zeros((7, 3))})
    with pytest.raises(ValueError, match=r"wrong shape \['cell.0.Wh'"):
        RNNLM(RNNConfig(cell="gru", **TINY), params=RNNLM(RNNConfig(cell="lstm", **TINY)).params)
    with pytest.raises(ValueError, match="too few for batch_size 4"):
        next(stream_batches(np.arange(4), 4, 2))


# ---- backend "numba" (minillm.kernels.recurrent; equality with "numpy" is in tests/test_kernels_recurrent.py) ----

def test_backend_is_chosen_in_the_config_and_survives_a_checkpoint(tmp_path):
    from minillm.io import load_checkpoint, save_checkpoint

    with pytest.raises(ValueError, match=r"backend must be one of \['numba', 'numpy'\], got 'torch'"):
        RNNConfig(vocab_size=5, backend="torch")
    cfg = RNNConfig(cell="gru", backend="numba", **TINY)
    assert RNNConfig.from_dict(cfg.to_dict()) == cfg
    model = RNNLM(cfg, seed=4)
    save_checkpoint(tmp_path / "ckpt.npz", model.params, cfg.to_dict())
    ckpt = load_checkpoint(tmp_path / "ckpt.npz")
    again = RNNLM(RNNConfig.from_dict(ckpt.config), params=ckpt.params)
    assert again.config.backend == "numba"
    idx = np.random.default_rng(0).integers(0, 7, size=(2, 5))
    assert again.loss(idx, idx) == model.loss(idx, idx)


def test_the_shared_trainer_trains_the_numba_backend_like_the_numpy_one():
    from minillm.train import TrainConfig, Trainer

    tokens = np.tile(np.arange(5), 40)
    cfg = TrainConfig(batch_size=4, max_iters=30, lr=3e-2, min_lr=3e-3, warmup_iters=5, lr_decay_iters=30,
                      eval_interval=30, eval_iters=2, checkpoint=False)
    history = {}
    for backend in ("numpy", "numba"):
        model = RNNLM(RNNConfig(vocab_size=5, cell="lstm", n_embd=4, n_hidden=8, block_size=8, dtype="float64",
                                backend=backend), seed=0)
        history[backend] = Trainer(model, tokens, tokens, cfg, progress=False).run()
    # the same batches and the same gradients (AdamW's fused kernel for numba): the same losses to rounding
    np.testing.assert_allclose(history["numba"]["train_loss"], history["numpy"]["train_loss"], rtol=1e-9)
    assert history["numba"]["val_loss"][-1] < 0.6
