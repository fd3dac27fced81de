"""The training loop: batches, exact resume, divergence, and the CLI's clear errors."""
import json
import os

import numpy as np
import pytest

from minillm.cli import main
from minillm.io.checkpoint import load_checkpoint
from minillm.models.gpt import GPT, GPTConfig
from minillm.train import Trainer, TrainConfig, TrainingDiverged, get_batch

TEXT = ("The model reads the text one character at a time. " * 40
        + "语言模型一次读一个字。" * 30)


def test_get_batch_windows_are_shifted_by_one():
    tokens = np.arange(100)
    x, y = get_batch(tokens, 4, 8, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    np.testing.assert_array_equal(y, x + 1)  # tokens are their own positions here
    np.testing.assert_array_equal(x[:, 1:], x[:, :-1] + 1)  # contiguous
    assert x.min() >= 0 and y.max() <= 99
    with pytest.raises(ValueError, match="block_size"):
        get_batch(np.arange(8), 2, 8, np.random.default_rng(0))


def _trainer(max_iters=20, seed=0, **kw):
    cfg = GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.1)
    # a learnable stream: counting 0..19 over and over, with 10% of the tokens replaced by noise
    rng = np.random.default_rng(42)
    tokens = np.tile(np.arange(20), 30)
    noise = rng.random(tokens.size) < 0.1
    tokens[noise] = rng.integers(0, 20, size=noise.sum())
    tcfg = TrainConfig(batch_size=4, max_iters=max_iters, warmup_iters=3, lr_decay_iters=max_iters,
                       eval_interval=5, eval_iters=2, seed=seed, **kw)
    return Trainer(GPT(cfg, seed=1), tokens[:500], tokens[500:], tcfg, progress=False)


@pytest.mark.parametrize("threads", [1, 2])
def test_twenty_steps_straight_equal_ten_resume_ten(tmp_path, threads):
    straight = _trainer(threads=threads)
    straight.run()

    first = _trainer(threads=threads)
    first.run(until=10)
    first.save(str(tmp_path / "ck"))
    resumed = _trainer(threads=threads)  # fresh objects, as in a new process
    resumed.restore(load_checkpoint(str(tmp_path / "ck" / "ckpt.npz")))
    assert resumed.iter == 10
    resumed.run()
    for k in straight.model.params:
        np.testing.assert_array_equal(resumed.model.params[k], straight.model.params[k], err_msg=k)
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    # and a run that does not resume differs (the test can fail)
    other = _trainer(seed=1, threads=threads)
    other.run()
    assert not np.array_equal(other.model.params["wte"], straight.model.params["wte"])


def test_training_lowers_the_loss():
    t = _trainer(max_iters=60)
    t.cfg.lr = 3e-3
    t.run()
    assert t.history["val_loss"][-1] < t.history["val_loss"][0]


@pytest.mark.parametrize("threads", [1, 2])
def test_nan_loss_stops_with_the_step_named(threads):
    t = _trainer(threads=threads)
    t.run(until=3)
    t.model.params["wte"][0, 0] = np.nan
    t.model.params["wte"][:] = np.nan
    with pytest.raises(TrainingDiverged, match="step 3"):
        t.step()


def test_threads_zero_means_one_per_core_and_never_more_than_the_batch(monkeypatch):
    import minillm.train as train_module

    monkeypatch.setattr(train_module, "default_threads", lambda: 3)
    assert _trainer(threads=0).parallel.n_threads == 3
    monkeypatch.setattr(train_module, "default_threads", lambda: 64)
    assert _trainer(threads=0).parallel.n_threads == 4  # batch_size 4: one window per thread at most
    monkeypatch.setattr(train_module, "default_threads", lambda: 1)
    assert _trainer(threads=0).parallel is None  # one core: the plain step, no pool


# ------------------------------------------------------------------------- CLI
@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


TINY_FLAGS = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
              "--max-iters", "6", "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2",
              "--lr-decay-iters", "6", "--quiet"]


def test_cli_train_generate_eval_and_resume(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out)] + TINY_FLAGS) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("val_loss", "train_loss", "iters", "ms_per_iter", "tokens_per_s", "params"):
        assert key in summary, key
    assert summary["iters"] == 6 and summary["val_loss"] > 0
    assert (out / "loss.png").stat().st_size > 1000
    assert (out / "checkpoint" / "tokenizer.json").is_file()
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(out / "checkpoint"), "--prompt", "The ",
                 "--max-new-tokens", "20", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("The ") and len(text.strip()) >= 20
    assert main(["eval", "--checkpoint", str(out / "checkpoint"), "--data", str(corpus)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 1.0 < result["perplexity"] < 40 and result["stride"] == 16      # block_size 16: non-overlapping
    assert main(["eval", "--checkpoint", str(out / "checkpoint"), "--data", str(corpus), "--stride", "4"]) == 0
    strided = json.loads(capsys.readouterr().out)
    assert strided["stride"] == 4 and strided["perplexity"] != result["perplexity"]
    err = _error(["eval", "--checkpoint", str(out / "checkpoint"), "--data", str(corpus), "--stride", "17"], capsys)
    assert "stride must be at most block_size 16, got 17" in err
    # resume to 10 steps
    flags = [f if f != "6" else "10" for f in TINY_FLAGS]
    assert main(["train", "--data", str(corpus), "--out", str(out), "--resume"] + flags) == 0
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["iters"] == 10


def _error(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


def test_cli_errors_are_one_clear_line(corpus, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert "does not exist" in _error(["train", "--data", str(tmp_path / "nope.txt"), "--out", out], capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    assert "is empty" in _error(["train", "--data", str(empty), "--out", out], capsys)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    assert "not valid UTF-8" in _error(["train", "--data", str(latin), "--out", out], capsys)
    short = tmp_path / "short.txt"
    short.write_text("abc abc abc", encoding="utf-8")
    assert "too short" in _error(["train", "--data", str(short), "--out", out], capsys)
    err = _error(["train", "--data", str(corpus), "--out", out, "--n-embd", "10", "--n-head", "3"], capsys)
    assert "n_embd must be divisible by n_head" in err
    assert "lr" in _error(["train", "--data", str(corpus), "--out", out, "--lr", "-1"], capsys)
    assert "config" in _error(["train", "--data", str(corpus), "--out", out, "--config", "nope.toml"], capsys)


def test_cli_rejects_damaged_checkpoints(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out)] + TINY_FLAGS) == 0
    ckpt = out / "checkpoint" / "ckpt.npz"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])  # truncated
    assert str(ckpt) in _error(["generate", "--checkpoint", str(out / "checkpoint")], capsys)
    ckpt.write_bytes(b"not a checkpoint at all")
    _error(["generate", "--checkpoint", str(out / "checkpoint")], capsys)
    assert "does not exist" in _error(["generate", "--checkpoint", str(tmp_path / "none")], capsys)


def test_shipped_shakespeare_config_is_nanogpts_cpu_recipe():
    from minillm.cli import load_config_file

    cfg = load_config_file("shakespeare_char_cpu")
    assert cfg["model"] == {**cfg["model"], "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64,
                            "dropout": 0.0, "bias": False}
    t = cfg["train"]
    assert (t["batch_size"], t["max_iters"], t["lr"], t["min_lr"], t["warmup_iters"], t["lr_decay_iters"]) == \
        (12, 2000, 1e-3, 1e-4, 100, 2000)
    assert (t["beta1"], t["beta2"], t["weight_decay"], t["grad_clip"]) == (0.9, 0.99, 0.1, 1.0)
    assert os.path.basename(load_config_file.__code__.co_filename) == "lm.py"      # minillm/cli/lm.py


def test_full_split_loss_predicts_every_token_once():
    from minillm.train import full_split_loss

    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16, dtype="float64"), seed=0)
    tokens = np.random.default_rng(0).integers(0, 20, size=8 * 5 + 3)
    # by hand: the 5 windows' losses, each a mean over 8 tokens, averaged
    losses = [model.forward(tokens[None, 8 * i:8 * i + 8], tokens[None, 8 * i + 1:8 * i + 9], training=False)[1]
              for i in range(5)]
    assert full_split_loss(model, tokens, batch_size=2) == pytest.approx(np.mean(losses), rel=1e-12)


def test_numba_backend_trains_like_the_numpy_backend():
    # same seed, same batches: the kernels (fused ops, jitted AdamW and clipping) follow the
    # readable NumPy path step for step, within float32 rounding
    runs = {}
    for backend in ("numpy", "numba"):
        cfg = GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16, bias=False, backend=backend)
        rng = np.random.default_rng(42)
        tokens = np.tile(np.arange(20), 30)
        tokens[rng.random(tokens.size) < 0.1] = 3
        tcfg = TrainConfig(batch_size=4, max_iters=15, warmup_iters=3, lr_decay_iters=15, eval_interval=15,
                           eval_iters=2, grad_clip=0.5)
        t = Trainer(GPT(cfg, seed=1), tokens[:500], tokens[500:], tcfg, progress=False)
        t.run()
        runs[backend] = t
    np.testing.assert_allclose(runs["numba"].history["train_loss"], runs["numpy"].history["train_loss"],
                               rtol=1e-4, atol=1e-5)
    for k, p in runs["numpy"].model.params.items():
        np.testing.assert_allclose(runs["numba"].model.params[k], p, rtol=1e-3, atol=1e-5, err_msg=k)


# ------------------------------------------------------------------ batch sources: every model, one loop

def test_trim_padding_keeps_the_longest_row():
    from minillm.train import trim_padding

    ids = np.array([[5, 6, 0, 0, 0], [5, 6, 7, 0, 0]])
    labels = np.array([1, 0])
    a, b = trim_padding(ids, labels, used=ids != 0)
    np.testing.assert_array_equal(a, ids[:, :3])
    assert b is labels                                          # one label per row: unchanged


def test_shuffled_rows_visit_every_row_once_per_epoch():
    from minillm.train import ShuffledRows

    ids = np.arange(10)[:, None] * np.ones((1, 4), dtype=np.int64)
    rows = ShuffledRows((ids, np.arange(10)), np.ones((10, 4)), batch_size=3)
    rng = np.random.default_rng(0)
    seen = np.concatenate([rows.batch(rng)[1] for _ in range(3)])          # 9 of 10 rows, none twice
    assert len(set(seen.tolist())) == 9
    expected = np.random.default_rng(0).permutation(10)[:9]
    np.testing.assert_array_equal(seen, expected)               # the permutation of the Generator, in order


class _LeastSquares:
    """The smallest model of the interface: loss = mean (x w - y)^2 / 2."""

    def __init__(self):
        self.params = {"w": np.zeros(3)}

    def forward(self, x, y, *, training=False, rng=None, scale=1.0):
        r = x @ self.params["w"] - y
        return r, scale * 0.5 * float(np.mean(r * r)), (x, r, scale)

    def backward(self, cache, dloss=1.0):
        x, r, scale = cache
        return {"w": dloss * scale * x.T @ r / len(r)}


def test_one_loop_trains_any_model_of_the_interface_full_batch():
    from minillm.train import FullBatch

    x = np.random.default_rng(0).standard_normal((20, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    cfg = TrainConfig(max_iters=300, lr=0.1, min_lr=0.1, warmup_iters=0, lr_decay_iters=300, weight_decay=0.0,
                      grad_clip=0.0)
    model = _LeastSquares()
    source = FullBatch(x, y)
    source.options = {"scale": 2.0}                             # keyword options reach every forward
    losses = Trainer(model, source, cfg=cfg, progress=False).run()["train_loss"]
    assert losses[-1] < 1e-4 < losses[0]
    np.testing.assert_allclose(model.params["w"], [1.0, -2.0, 0.5], atol=1e-2)


def test_one_generator_serves_batches_and_dropout_in_turn():
    # rng=Generator: the same stream draws the batch, then the model's dropout (the tasks' recipe)
    from minillm.train import BatchSource

    draws = []

    class Source(BatchSource):
        def batch(self, rng, split="train"):
            draws.append(("batch", rng.integers(1000)))
            return np.ones((4, 3)), np.zeros(4)

    class Model(_LeastSquares):
        def forward(self, x, y, *, training=False, rng=None):
            draws.append(("dropout", rng.integers(1000)))
            return super().forward(x, y)

    cfg = TrainConfig(max_iters=2, warmup_iters=0, lr_decay_iters=2)
    Trainer(Model(), Source(), cfg=cfg, rng=np.random.default_rng(7), progress=False).run()
    reference = np.random.default_rng(7).integers(1000, size=4).tolist()
    assert draws == list(zip(["batch", "dropout"] * 2, reference))


def test_a_batch_source_comes_without_val_tokens():
    from minillm.train import FullBatch

    with pytest.raises(ValueError, match="val_tokens goes with token arrays"):
        Trainer(_LeastSquares(), FullBatch(np.ones((2, 3)), np.zeros(2)), np.zeros(5))


def test_threads_are_refused_for_a_source_they_cannot_split():
    # the batch split over threads shards (x, y) windows: a row source would be cut wrongly or crash later
    from minillm.train import ShuffledRows

    class Tiny:
        params = {"w": np.zeros(2)}

    ids = np.zeros((4, 3), dtype=np.int64)
    source = ShuffledRows((ids, np.zeros(4, dtype=np.int64)), np.ones((4, 3)), batch_size=2)
    with pytest.raises(ValueError, match="threads must be 1 for a ShuffledRows batch source"):
        Trainer(Tiny(), source, cfg=TrainConfig(batch_size=2, threads=2), progress=False)
