"""Issue #18: `minillm train --resume` continues a run exactly, or refuses and says why; Ctrl-C says what it saved.

Before the change, --resume silently ignored different model flags and a different corpus, kept
going with the checkpoint's model on the new text, and Ctrl-C said only "interrupted".
"""
import json
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from minillm.cli import main
from minillm.io.checkpoint import load_checkpoint_folder

TEXT = "The model reads the text one character at a time. " * 40 + "语言模型一次读一个字。" * 30
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--warmup-iters", "2", "--quiet"]
SIX_STEPS = TINY + ["--max-iters", "6", "--eval-interval", "3", "--lr-decay-iters", "10"]


def error_of(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def six_steps(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    assert main(["train", "--data", str(root / "corpus.txt"), "--out", str(root / "run")] + SIX_STEPS) == 0
    return root


@pytest.fixture
def run(six_steps, tmp_path):
    shutil.copytree(six_steps / "run", tmp_path / "run")
    shutil.copy(six_steps / "corpus.txt", tmp_path / "corpus.txt")
    return tmp_path / "run"


def resume(run, *flags, data=None):
    return ["train", "--data", str(data or run.parent / "corpus.txt"), "--out", str(run), "--resume", *flags]


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def params_of(folder):
    return load_checkpoint_folder(folder).checkpoint.params


def test_resume_refuses_other_model_flags_and_lists_each(run, capsys):
    # before: "--n-layer 3 --n-embd 64 --tokenizer bpe" were ignored; training went on with the checkpoint's model
    before = folder_bytes(run / "checkpoint")
    err = error_of(resume(run, *SIX_STEPS, "--n-layer", "3", "--n-embd", "64", "--tokenizer", "bpe"), capsys)
    for said in ("--n-layer 3 (the checkpoint has 1)", "--n-embd 64 (the checkpoint has 16)",
                 "--tokenizer 'bpe' (the checkpoint has 'char')", "--overwrite"):
        assert said in err, said
    assert folder_bytes(run / "checkpoint") == before


def test_resume_refuses_another_corpus(run, capsys):
    # before: it continued silently on the new corpus
    other = run.parent / "other.txt"
    other.write_text(TEXT[::-1], encoding="utf-8")                  # same size, other bytes
    before = folder_bytes(run / "checkpoint")
    err = error_of(resume(run, data=other), capsys)
    assert f"--data {other.resolve()}" in err and "is not the corpus the checkpoint was trained on" in err
    trained_on = load_checkpoint_folder(run / "checkpoint").manifest["data"]["corpus"]["path"]
    assert f"({trained_on}, " in err and "SHA-256" in err
    assert folder_bytes(run / "checkpoint") == before


@pytest.mark.parametrize("flags, said", [
    (["--lr", "0.01"], "--lr 0.01 (the checkpoint has 0.001)"),
    (["--batch-size", "8"], "--batch-size 8 (the checkpoint has 4)"),
    (["--seed", "5"], "--seed 5 (the checkpoint has 1337)"),
    (["--val-fraction", "0.2"], "--val-fraction 0.2 (the checkpoint has 0.1)"),
    (["--bpe-vocab-size", "300"], "--bpe-vocab-size 300 (the checkpoint has None)"),
    (["--max-iters", "4"], "--max-iters 4 is below the checkpoint's step 6"),
])
def test_resume_refuses_settings_it_cannot_honour(run, capsys, flags, said):
    # before: each of these was silently ignored (the optimiser, the split and the seed came from elsewhere)
    assert said in error_of(resume(run, *flags), capsys)


def test_resume_and_overwrite_together_are_refused(run, capsys):
    assert "give one of them" in error_of(resume(run, "--overwrite"), capsys)


def test_resume_without_a_run_is_refused(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text(TEXT, encoding="utf-8")
    assert "there is no run to continue" in error_of(resume(tmp_path / "nothing"), capsys)


def test_training_longer_is_allowed_said_and_exact(run, capsys, tmp_path):
    # 6 steps + resume to 10 == 10 steps straight; --max-iters may change, and the corpus may move (same bytes)
    moved = tmp_path / "moved.txt"
    shutil.copy(run.parent / "corpus.txt", moved)
    assert main(resume(run, "--max-iters", "10", data=moved)) == 0
    said = capsys.readouterr().out
    assert "resuming the run" in said and "from step 6" in said and "max_iters 6 -> 10" in said
    assert f"the corpus is now at {moved.resolve()}" in said
    straight = tmp_path / "straight"
    flags = [f if f != "6" else "10" for f in SIX_STEPS]
    assert main(["train", "--data", str(run.parent / "corpus.txt"), "--out", str(straight)] + flags) == 0
    resumed, direct = params_of(run / "checkpoint"), params_of(straight / "checkpoint")
    for name in direct:
        np.testing.assert_array_equal(resumed[name], direct[name], err_msg=name)
    assert json.loads((run / "summary.json").read_text(encoding="utf-8"))["iters"] == 10


def test_ctrl_c_saves_the_step_it_names_and_resume_continues_exactly(tmp_path):
    # before: "minillm: interrupted", nothing saved since the last evaluation, no step named
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    flags = TINY + ["--eval-interval", "5", "--lr-decay-iters", "400"]
    out = tmp_path / "interrupted"
    child = subprocess.Popen([sys.executable, "-u", "-m", "minillm", "train", "--data", str(corpus), "--out", str(out),
                              "--max-iters", "100000"] + flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        for line in child.stdout:                    # it has trained: the first evaluation is printed
            if line.startswith("step 5:"):
                child.send_signal(signal.SIGINT)
                break
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    said = re.search(r"minillm: interrupted: stopped by Ctrl-C after step (\d+) of 100000: the checkpoint in "
                     r"\S+ is the one of step (\d+); resuming from it continues the run exactly", err)
    assert said and said.group(1) == said.group(2), err
    step = int(said.group(1))
    assert load_checkpoint_folder(out / "checkpoint").manifest["step"] == step < 400
    assert main(["train", "--data", str(corpus), "--out", str(out), "--resume", "--max-iters", "400"]) == 0
    straight = tmp_path / "straight"
    assert main(["train", "--data", str(corpus), "--out", str(straight), "--max-iters", "400"] + flags) == 0
    resumed, direct = params_of(out / "checkpoint"), params_of(straight / "checkpoint")
    for name in direct:
        np.testing.assert_array_equal(resumed[name], direct[name], err_msg=name)
