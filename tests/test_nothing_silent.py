"""Issue #18, "nothing silent": each hostile input of the issue gets one clear line (or proceeds and says so).

Every test names, in a comment, what happened before the fix, which is what makes it fail there.
The --resume rows and Ctrl-C are in tests/test_resume_guard.py, the fuzzing in tests/test_checkpoint_fuzz.py.
"""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from minillm.cli import main

TEXT = "The model reads the text one character at a time. " * 40 + "语言模型一次读一个字。" * 30
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--max-iters", "6", "--eval-interval", "3", "--eval-iters", "2", "--warmup-iters", "2",
        "--lr-decay-iters", "6", "--quiet"]


def error_of(argv, capsys):
    """Run the CLI; it must exit 2 with one line on stderr and no traceback; return that line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("minillm: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny finished run; tests copy its folder before damaging anything."""
    root = tmp_path_factory.mktemp("run")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert main(["train", "--data", str(corpus), "--out", str(root / "run")] + TINY) == 0
    return root


@pytest.fixture
def run(trained, tmp_path):
    shutil.copytree(trained / "run", tmp_path / "run")
    shutil.copy(trained / "corpus.txt", tmp_path / "corpus.txt")
    return tmp_path / "run"


def checkpoint_step(folder):
    from minillm.io.checkpoint import load_checkpoint_folder

    loaded = load_checkpoint_folder(folder)
    return loaded.manifest["step"], loaded.checkpoint.extra["trainer"]["iter"]


# ----------------------------------------------------------------------------- the table

def test_a_flipped_byte_in_a_zip_header_is_one_clear_error(run, capsys):
    # before: NotImplementedError "That compression method is not supported", with a traceback
    from minillm.io.checkpoint import CheckpointError, load_checkpoint

    npz = run / "checkpoint" / "ckpt.npz"
    data = bytearray(npz.read_bytes())
    central = data.find(b"PK\x01\x02")              # the central directory's first entry
    data[central + 10] ^= 0x05                      # its compression method: 0 (stored) -> 5 (none known)
    npz.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="ckpt.npz is corrupt or truncated: NotImplementedError"):
        load_checkpoint(npz)
    assert "ckpt.npz" in error_of(["generate", "--checkpoint", str(run / "checkpoint")], capsys)


def test_nan_parameters_are_refused_naming_the_tensor(run, capsys):
    # before: loaded silently, and generate printed <unk><unk>...
    npz = run / "checkpoint" / "ckpt.npz"
    with np.load(npz) as f:
        arrays = dict(f)
    arrays["param/h.0.attn.Wq"] = arrays["param/h.0.attn.Wq"].copy()
    arrays["param/h.0.attn.Wq"][0, 0] = np.nan
    with open(npz, "wb") as f:
        np.savez(f, **arrays)
    err = error_of(["generate", "--checkpoint", str(run / "checkpoint")], capsys)
    assert "'h.0.attn.Wq' holds 1 NaN or infinite value" in err and "ckpt.npz" in err


def test_a_tokenizer_swapped_for_one_of_the_same_size_is_refused(run, capsys):
    # before: accepted silently (the sizes agree), and the samples were garbage
    path = run / "checkpoint" / "tokenizer.json"
    tok = json.loads(path.read_text(encoding="utf-8"))
    tok["chars"][0], tok["chars"][1] = tok["chars"][1], tok["chars"][0]
    path.write_text(json.dumps(tok), encoding="utf-8")
    err = error_of(["generate", "--checkpoint", str(run / "checkpoint")], capsys)
    assert "tokenizer.json does not match the SHA-256" in err


def test_a_block_size_too_large_for_memory_is_refused_before_starting(tmp_path, capsys, monkeypatch):
    # before: ArrayMemoryError "Unable to allocate 26.8 GiB" with a traceback, after starting
    import minillm.runtime.memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 8 * 2**30)      # the same 8 GiB machine everywhere
    corpus = tmp_path / "long.txt"
    corpus.write_text("The model reads the text one character at a time. " * 6600, encoding="utf-8")
    out = tmp_path / "out"
    err = error_of(["train", "--data", str(corpus), "--out", str(out), "--block-size", "30000", "--quiet"], capsys)
    assert "block_size 30000" in err and "GiB of memory" in err and "8.0 GiB available" in err
    assert not out.exists()                          # refused before anything was written


def test_a_memory_error_that_still_happens_is_one_line(run, capsys, monkeypatch):
    # before: the MemoryError left main with its traceback
    import minillm.cli.lm as lm

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 26.8 GiB for an array")
    monkeypatch.setattr(lm, "sample_text", out_of_memory)
    err = error_of(["generate", "--checkpoint", str(run / "checkpoint")], capsys)
    assert "out of memory (Unable to allocate 26.8 GiB for an array)" in err


@pytest.mark.parametrize("flags, named", [
    (["--greedy", "--top-p", "0.5", "--top-k", "3"], "--top-k and --top-p are for random sampling, but --greedy"),
    (["--temperature", "0", "--top-p", "0.5"], "--top-p is for random sampling, but --temperature 0"),
    (["--greedy", "--temperature", "0.7"], "--temperature is for random sampling"),
    (["--greedy", "--seed", "3"], "--seed is for random sampling"),
])
def test_sampling_flags_are_refused_with_greedy(run, capsys, flags, named):
    # before: accepted (exit 0), the sampling flags silently ignored
    assert named in error_of(["generate", "--checkpoint", str(run / "checkpoint")] + flags, capsys)


@pytest.mark.parametrize("flags", [["--greedy", "--top-p", "7"], ["--temperature", "0", "--top-p", "-3"],
                                   ["--top-k", "0"], ["--temperature", "-1"], ["--temperature", "nan"]])
def test_out_of_range_sampling_flags_are_refused_in_every_mode(run, capsys, flags):
    # the "--greedy --top-p 7": argparse's types refused these values already before this change
    # (so this one guards, it cannot fail there); the combinations it let through are the test above
    with pytest.raises(SystemExit) as stopped:
        main(["generate", "--checkpoint", str(run / "checkpoint")] + flags)
    assert stopped.value.code == 2 and "error: argument" in capsys.readouterr().err


# ----------------------------------------------------------------------------- runs never destroy or mix work

def test_an_existing_run_in_out_is_kept_unless_overwrite(run, capsys):
    # before: the old checkpoint and summary were replaced without a word (exit 0)
    corpus = run.parent / "corpus.txt"
    before = {p: p.read_bytes() for p in [run / "summary.json", run / "checkpoint" / "ckpt.npz"]}
    err = error_of(["train", "--data", str(corpus), "--out", str(run)] + TINY, capsys)
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert {p: p.read_bytes() for p in before} == before
    assert main(["train", "--data", str(corpus), "--out", str(run), "--overwrite", "--seed", "7"] + TINY) == 0
    assert "--overwrite: removed the previous run" in capsys.readouterr().out
    assert (run / "checkpoint" / "ckpt.npz").read_bytes() != before[run / "checkpoint" / "ckpt.npz"]


def test_a_second_run_into_a_folder_in_use_is_refused(run, capsys):
    # before: no lock; two runs mixed their files (ckpt.npz of one, tokenizer.json of the other)
    from minillm.atomic import FolderLock

    before = (run / "checkpoint" / "ckpt.npz").read_bytes()
    with FolderLock(run):                            # another training holds the folder
        err = error_of(["train", "--data", str(run.parent / "corpus.txt"), "--out", str(run), "--overwrite"]
                       + TINY, capsys)
    assert f"is in use by process {os.getpid()}" in err
    assert (run / "checkpoint" / "ckpt.npz").read_bytes() == before
    assert not (run / ".minillm.lock").exists()      # the lock goes with its holder


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # inf - inf inside the layer norm: the point
def test_a_diverged_model_is_never_saved_over_a_good_checkpoint(tmp_path):
    # before: the evaluation at step 6 saved the NaN model as the checkpoint, then step 7 stopped
    from minillm.models.gpt import GPT, GPTConfig
    from minillm.train import Trainer, TrainConfig, TrainingDiverged

    tokens = np.tile(np.arange(20), 30)
    cfg = TrainConfig(batch_size=4, max_iters=12, warmup_iters=2, lr_decay_iters=12, eval_interval=3, eval_iters=2)
    trainer = Trainer(GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16), seed=0),
                      tokens[:500], tokens[500:], cfg, out_dir=str(tmp_path), progress=False)
    update = trainer.update

    def update_that_blows_up(grads):           # the step's loss was finite; the update makes the model NaN
        update(grads)
        if trainer.iter == 5:
            trainer.model.params["wte"][:] = np.inf
    trainer.update = update_that_blows_up
    with pytest.raises(TrainingDiverged, match="step 6: the evaluation loss is NaN/inf.*not saved.*step 3"):
        trainer.run()
    assert checkpoint_step(tmp_path / "checkpoint") == (3, 3)
    with pytest.raises(TrainingDiverged, match="parameter 'wte' holds NaN/inf, so the model was not saved"):
        trainer.save(str(tmp_path / "checkpoint"))
    assert checkpoint_step(tmp_path / "checkpoint") == (3, 3)


KILL_AFTER_SECOND_NPZ = textwrap.dedent("""
    import os, signal, sys
    import minillm.io.checkpoint as checkpoint
    real, saved = checkpoint.save_checkpoint, []

    def save_then_die(path, *args, **kwargs):       # kill -9 right after ckpt.npz is written, the second time
        real(path, *args, **kwargs)
        saved.append(path)
        if len(saved) == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoint.save_checkpoint = save_then_die
    from minillm.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_kill_while_saving_leaves_the_old_checkpoint_whole_and_its_leftovers_are_cleaned(tmp_path, capsys):
    # before: kill -9 after ckpt.npz left the new ckpt.npz beside the old config.json (no tokenizer.json at all
    # on a first save), and .tmp files that stayed
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", KILL_AFTER_SECOND_NPZ, "train", "--data", str(corpus),
                            "--out", str(out)] + TINY, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert checkpoint_step(out / "checkpoint") == (3, 3)        # the save of step 3, whole; nothing of step 6
    leftovers = [name for name in os.listdir(out) if name.endswith(".tmp")]
    assert leftovers                                            # what kill -9 left
    (out / ".summary.json.abcd1234.tmp").write_text("half", encoding="utf-8")   # an atomic write killed too
    assert main(["train", "--data", str(corpus), "--out", str(out), "--resume"] + TINY) == 0
    said = capsys.readouterr().out
    assert "removed what an interrupted save left" in said and leftovers[0] in said
    assert sorted(os.listdir(out)) == ["checkpoint", "loss.png", "summary.json"]
    assert checkpoint_step(out / "checkpoint") == (6, 6)


def test_a_kill_between_the_two_renames_of_a_swap_keeps_the_old_checkpoint_readable(run, capsys):
    # the one moment without a checkpoint/ folder: the old one is .checkpoint.previous, and is read from there
    from minillm.atomic import previous_path

    os.rename(run / "checkpoint", previous_path(run / "checkpoint"))
    assert main(["generate", "--checkpoint", str(run / "checkpoint"), "--max-new-tokens", "3"]) == 0
    assert main(["train", "--data", str(run.parent / "corpus.txt"), "--out", str(run), "--resume"] + TINY
                + ["--max-iters", "7"]) == 0
    assert checkpoint_step(run / "checkpoint") == (7, 7) and not os.path.exists(previous_path(run / "checkpoint"))


@pytest.mark.parametrize("out, said", [("a_file", "is a file, expected a folder"), ("", "--out is empty"),
                                       ("a_file/sub", "cannot be used")])
def test_an_unusable_out_is_refused_before_training(tmp_path, capsys, out, said):
    # before: found only at the first save, with a traceback, after the training was done
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = str(tmp_path / out) if out else out
    assert said in error_of(["train", "--data", str(corpus), "--out", out] + TINY, capsys)
    assert "training a GPT" not in capsys.readouterr().out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_out_under_proc_is_refused(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert "cannot be used" in error_of(["train", "--data", str(corpus), "--out", "/proc/minillm-x"] + TINY, capsys)


def test_a_full_disk_is_found_before_training(tmp_path, capsys, monkeypatch):
    # before: no check; the run trained and failed at its first save
    import minillm.cli.runs as runs

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runs.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    err = error_of(["train", "--data", str(corpus), "--out", str(tmp_path / "out")] + TINY, capsys)
    assert "its disk has 0.0 MiB free" in err


def test_a_save_that_fails_mid_run_keeps_the_last_checkpoint_and_says_so(tmp_path, capsys, monkeypatch):
    # before: the OSError left main with a traceback
    import errno

    import minillm.io.checkpoint as checkpoint

    real, calls = checkpoint.save_checkpoint, []

    def disk_full_the_second_time(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, *args, **kwargs)
    monkeypatch.setattr(checkpoint, "save_checkpoint", disk_full_the_second_time)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    err = error_of(["train", "--data", str(corpus), "--out", str(tmp_path / "out")] + TINY, capsys)
    assert "could not save the checkpoint of step 6" in err and "No space left on device" in err
    assert "is the one of step 3" in err
    assert checkpoint_step(tmp_path / "out" / "checkpoint") == (3, 3)
    assert not [name for name in os.listdir(tmp_path / "out") if name.endswith(".tmp")]


# ----------------------------------------------------------------------------- the rest of the audit

@pytest.mark.parametrize("toml, said", [
    ('[model]\nbias = "false"\n', "[model] bias must be true or false (without quotes), got 'false'"),
    ("[data]\ntokeniser = \"char\"\n", "[data] has unknown keys ['tokeniser']"),
    ("[train]\nmax_iters = 1.5\n", "[train] max_iters must be an integer, got 1.5"),
    ("[train]\ncheckpoint = 1\n", "[train] checkpoint must be true or false, got 1"),
])
def test_config_values_are_type_checked(tmp_path, capsys, toml, said):
    # before: bias = "false" gave biases (a non-empty string is true), unknown [data] keys were ignored
    config = tmp_path / "run.toml"
    config.write_text(toml, encoding="utf-8")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert said in error_of(["train", "--data", str(corpus), "--out", str(tmp_path / "o"), "--config", str(config)]
                            + TINY, capsys)


def test_max_iters_zero_writes_valid_json(tmp_path):
    # before: "ms_per_iter": NaN, which is not JSON
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "o")] + TINY + ["--max-iters", "0"]) == 0
    text = (tmp_path / "o" / "summary.json").read_text(encoding="utf-8")

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    summary = json.loads(text, parse_constant=refuse)
    assert summary["iters"] == 0 and summary["ms_per_iter"] is None


def test_a_bom_is_neither_a_vocabulary_character_nor_a_config_error(tmp_path):
    # before: the corpus's BOM was already dropped, but a config file saved with a BOM did not parse
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    config = tmp_path / "run.toml"
    config.write_bytes(b"\xef\xbb\xbf[model]\nn_layer = 1\n")
    assert main(["train", "--data", str(corpus), "--out", str(tmp_path / "o"), "--config", str(config)] + TINY) == 0
    chars = json.loads((tmp_path / "o" / "checkpoint" / "tokenizer.json").read_text(encoding="utf-8"))["chars"]
    assert "\ufeff" not in chars and "T" in chars


def test_eval_warns_when_the_text_is_mostly_unknown_characters(run, capsys):
    # before: a perplexity and no word about the text being nearly all <unk>
    foreign = run.parent / "foreign.txt"
    foreign.write_text("ΑΒΓΔΕΖΗΘ ΙΚΛΜ " * 40, encoding="utf-8")
    assert main(["eval", "--checkpoint", str(run / "checkpoint"), "--data", str(foreign)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {12 / 14:.0%} of the tokens" in err and "<unk>" in err     # 12 unseen letters, 2 spaces


def test_bench_checks_its_flags_before_any_work(tmp_path, capsys, monkeypatch):
    # before: a missing --data was found after 31 s of timing
    import minillm.bench.run as bench

    def work(args):
        raise AssertionError("the benchmark started")
    monkeypatch.setattr(bench, "run_bench", work)
    assert "--data" in error_of(["bench", "--quick", "--data", str(tmp_path / "nope.txt")], capsys)
    assert "not a folder" in error_of(["bench", "--quick", "--out", str(tmp_path)], capsys)
    for bad in ("-1", "0", "inf"):
        with pytest.raises(SystemExit):
            main(["bench", "--quick", "--peak-gflops", bad])
        assert "--peak-gflops" in capsys.readouterr().err


def test_attention_refuses_no_keys_and_no_width_with_a_value_error():
    # before: numpy's "zero-size array to reduction operation maximum" and a ZeroDivisionError
    from minillm.layers import attention_forward

    q = np.zeros((1, 2, 3))
    with pytest.raises(ValueError, match=r"k must hold at least one key \(T_k >= 1\).*\(1, 0, 3\)"):
        attention_forward(q, np.zeros((1, 0, 3)), np.zeros((1, 0, 3)))
    with pytest.raises(ValueError, match=r"q must have d_k >= 1.*\(1, 2, 0\)"):
        attention_forward(np.zeros((1, 2, 0)), np.zeros((1, 2, 0)), np.zeros((1, 2, 3)))


@pytest.mark.parametrize("dtype", [[], {}, 3, None])
def test_a_safetensors_dtype_that_is_not_a_name_is_a_value_error(dtype):
    # before: TypeError "unhashable type: 'list'" for "dtype": []
    from minillm.io.safetensors import load_bytes

    header = json.dumps({"w": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * (-len(header) % 8)
    data = len(header).to_bytes(8, "little") + header + b"\x00" * 4
    with pytest.raises(ValueError, match="tensor 'w': unknown or unsupported dtype"):
        load_bytes(data)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_memory_estimate_is_a_floor_of_the_measured_peak(backend):
    # the estimate refuses only what cannot run: below tracemalloc's peak of two real steps, yet not far below
    import tracemalloc

    from minillm.models.gpt import GPT, GPTConfig
    from minillm.runtime.memory import gpt_training_bytes
    from minillm.train import Trainer, TrainConfig

    config = GPTConfig(vocab_size=65, block_size=128, n_layer=2, n_head=4, n_embd=32, backend=backend)
    tokens = np.random.default_rng(0).integers(0, 65, size=128 * 40)
    cfg = TrainConfig(batch_size=4, max_iters=2, warmup_iters=0, lr_decay_iters=2, eval_interval=10, eval_iters=1)
    Trainer(GPT(config), tokens[:4096], tokens[4096:], cfg, progress=False).step()     # compile, warm up
    tracemalloc.start()
    try:
        trainer = Trainer(GPT(config), tokens[:4096], tokens[4096:], cfg, progress=False)
        trainer.step()
        trainer.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = sum(gpt_training_bytes(config, trainer.model.n_params, 4).values())
    assert 0.5 * peak < estimate <= peak, (estimate, peak)
