"""Issue #18: seeded byte flips and truncations of a saved checkpoint, a few hundred of each kind.

Every damaged checkpoint must either fail with the project's own error naming the damaged file,
or (a flip that changes nothing that is read, e.g. a zip timestamp) load exactly what was saved.
Loading only, no training inside the loops: the whole file runs in a few seconds.

Before the change, a flipped compression method in a zip header leaked NotImplementedError, and a
flipped tokenizer character loaded silently as another tokenizer.
"""
import shutil

import numpy as np
import pytest

from minillm.cli.args import UserError
from minillm.cli.lm import load_run
from minillm.io.checkpoint import CheckpointError, load_checkpoint
from minillm.models.gpt import GPT, GPTConfig
from minillm.tokenizers import CharTokenizer
from minillm.train import Trainer, TrainConfig

SEED = 18
TEXT = "a fuzzed checkpoint must fail loudly or load exactly. " * 12


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint folder as training writes it (Trainer.save): ckpt.npz, tokenizer.json, config.json."""
    tok = CharTokenizer.train(TEXT)
    tokens = np.array(tok.encode(TEXT))
    cfg = TrainConfig(batch_size=2, max_iters=2, warmup_iters=1, lr_decay_iters=2, eval_interval=2, eval_iters=1)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8), seed=0)
    trainer = Trainer(model, tokens[:500], tokens[500:], cfg, tokenizer=tok, progress=False)
    trainer.run()
    folder = tmp_path_factory.mktemp("fuzz") / "checkpoint"
    trainer.save(str(folder))
    return folder


def damaged(data, rng):
    """One seeded mutation: a truncation, or 1-3 flipped bytes (half of the flips in the zip's header areas)."""
    data = bytearray(data)
    if rng.random() < 0.3:
        return bytes(data[:rng.integers(0, len(data))])
    for _ in range(rng.integers(1, 4)):
        area = rng.choice(["anywhere", "start", "end"], p=[0.5, 0.15, 0.35])
        where = {"anywhere": rng.integers(0, len(data)),
                 "start": rng.integers(0, min(64, len(data))),                   # the first local header
                 "end": len(data) - 1 - rng.integers(0, min(400, len(data)))}[area]   # the central directory
        data[where] ^= rng.integers(1, 256)
    return bytes(data)


def same_model(a, b):
    return sorted(a.params) == sorted(b.params) and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


@pytest.mark.parametrize("name", ["ckpt.npz", "config.json", "tokenizer.json"])
def test_every_damaged_file_of_a_checkpoint_folder_is_one_clear_error(saved, tmp_path, name):
    model, tokenizer, _ = load_run(saved)
    original = (saved / name).read_bytes()
    folder = tmp_path / "checkpoint"
    shutil.copytree(saved, folder)
    rng = np.random.default_rng([SEED, len(name)])
    outcomes = {"refused": 0, "loaded the same": 0}
    for _ in range(150):
        (folder / name).write_bytes(damaged(original, rng))
        try:
            got_model, got_tokenizer, _ = load_run(folder)
        except UserError as e:
            assert name in str(e), str(e)                    # the message names the damaged file
            outcomes["refused"] += 1
        else:
            assert same_model(got_model, model) and got_tokenizer == tokenizer
            outcomes["loaded the same"] += 1
    assert outcomes["refused"] >= 140, outcomes


def test_every_damaged_ckpt_npz_is_a_checkpoint_error_even_without_the_folder_record(saved, tmp_path):
    # load_checkpoint alone (no SHA-256 to compare with): zip, npz and JSON damage must all be CheckpointError
    original = load_checkpoint(saved / "ckpt.npz")
    data = (saved / "ckpt.npz").read_bytes()
    path = tmp_path / "ckpt.npz"
    rng = np.random.default_rng(SEED)
    kinds = set()
    for _ in range(400):
        path.write_bytes(damaged(data, rng))
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as e:
            assert str(path) in str(e)
            kinds.add(str(e).split(": ")[1] if ": " in str(e) else str(e))
        else:                                                # a flip in a field nothing reads: same arrays
            assert sorted(ckpt.params) == sorted(original.params)
            assert all(np.array_equal(ckpt.params[k], original.params[k]) for k in ckpt.params)
    assert len(kinds) >= 3, kinds                            # several kinds of damage were met, not one
