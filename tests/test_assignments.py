"""Assignments: the workspaces `minillm assignment make` writes, and the grader that checks them.

Each workspace is made in a temporary folder from this clone (the reference) and graded by
`python -m minillm assignment check` run inside it, with the workspace first on PYTHONPATH,
exactly as a student's `pip install -e .` would import it.
"""
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minillm.assignments.markers import BEGIN, functions, regions, solution_lines, source_regions, stub_cell
from minillm.assignments.sets import FUNCTIONS, SETS, chosen_sets
from minillm.assignments.workspace import make, module_path

ROOT = Path(__file__).resolve().parent.parent


def check(workspace, *args):
    """Run the grader inside `workspace`: (exit code, the --json report)."""
    report = workspace / "report.json"
    env = {**os.environ, "PYTHONPATH": str(workspace)}
    done = subprocess.run([sys.executable, "-m", "minillm", "assignment", "check", "--json", str(report), *args],
                          cwd=workspace, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(report.read_text())


@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    """The teacher's copy of every set (made once; the bug tests copy its package)."""
    return make(tmp_path_factory.mktemp("teacher") / "ws", ["all"], with_solutions=True)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    return make(tmp_path_factory.mktemp("student") / "ws", ["all"])


# ------------------------------------------------------------------ the markers in the reference
def test_every_graded_function_has_one_region_and_every_region_is_graded():
    marked = {}
    for path in sorted((ROOT / "minillm").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and path.parent.name != "assignments" and path.name != "checks.py":
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            marked.update({(module, q): r for q, r in source_regions(text, str(path)).items()})
    wanted = {(g.module, q) for g in FUNCTIONS.values() for q in g.regions}
    assert sorted(wanted - set(marked)) == [], "graded functions without a solution region"
    assert sorted(set(marked) - wanted) == [], "solution regions that no set grades"


def test_the_sets_cover_what_the_issue_lists_and_depend_backwards():
    names = set(FUNCTIONS)
    for required in ("linear_backward", "relu_backward", "gelu_backward", "softmax_backward", "log_softmax_backward",
                     "cross_entropy_backward", "embedding_backward", "sinusoidal_positional_encoding", "rope_backward",
                     "layernorm_backward", "rmsnorm_backward", "dropout_backward", "attention_backward",
                     "multihead_attention_backward", "feedforward_backward", "swiglu_feedforward_backward",
                     "decoder_block_backward", "encoder_block_backward", "rnn_step_backward", "lstm_step_backward",
                     "gru_step_backward", "rnn_backward", "GPT.backward", "AdamW.step", "clip_grad_norm",
                     "filter_top_k", "filter_top_p", "beam_search", "NGramLM.kneser_ney_probs", "HMM.forward",
                     "HMM.viterbi", "sgns_loss_backward", "bleu_from_counts"):
        assert required in names
    order = [s.name for s in SETS]
    for s in SETS:
        assert all(order.index(d) < order.index(s.name) for d in s.depends_on)
        for g in s.functions:
            for need in g.needs:
                assert FUNCTIONS[need] is not g
                need_set = next(t.name for t in SETS if FUNCTIONS[need] in t.functions)
                assert need_set == s.name or need_set in s.depends_on, f"{g.name} needs {need} of {need_set}"
            assert (ROOT / g.section.split(" §")[0]).is_file(), g.section


def test_stub_replaces_exactly_the_region():
    text = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    z = x + y\n    ### END SOLUTION\n    return z\n"
    from minillm.assignments.markers import stub_source

    out = stub_source(text, {"f": "f is not written yet (assignment A1): z = x + y. See nb §1."}, "t.py")
    assert out.split("\n")[:4] == ["def f(x):", "    y = 1", "    # YOUR CODE HERE",
                                   "    raise NotImplementedError('f is not written yet (assignment A1): z = x + y. "
                                   "See nb §1.')"]
    assert "z = x + y\n" not in out and out.endswith("    return z\n")
    with pytest.raises(ValueError, match="never closed"):
        regions(["### BEGIN SOLUTION", "x = 1"], "t.py")
    assert stub_cell("markdown", "a\n### BEGIN SOLUTION\nsecret\n### END SOLUTION", "") == "a\nYOUR ANSWER HERE"


# ------------------------------------------------------------------ per set: nothing written, everything written
@pytest.mark.parametrize("name", [s.name for s in SETS])
def test_a_fresh_student_workspace_reports_every_function_not_attempted(name, tmp_path):
    workspace = make(tmp_path / "ws", [name])
    code, report = check(workspace)
    assert code == 1
    wanted = [g.name for g in chosen_sets([name])[0].functions]
    assert list(report["functions"]) == wanted
    assert {n: r["status"] for n, r in report["functions"].items()} == {n: "not_attempted" for n in wanted}
    assert report["score"] == {"passed": 0, "total": len(wanted)}


@pytest.mark.parametrize("name", [s.name for s in SETS])
def test_the_teachers_copy_passes_everything(name, tmp_path):
    workspace = make(tmp_path / "ws", [name], with_solutions=True)
    code, report = check(workspace)
    failed = {n: r for n, r in report["functions"].items() if r["status"] != "pass"}
    assert failed == {} and code == 0
    for n, r in report["functions"].items():
        assert r["set"] == name and 0.0 <= r["worst_rel_error"] < 1e-6


def test_the_student_copy_holds_no_solution_body(student):
    for g in FUNCTIONS.values():
        reference = module_path(ROOT, g.module).read_text(encoding="utf-8")
        copy = module_path(student, g.module).read_text(encoding="utf-8")
        tree = ast.parse(copy)
        for qualname, (begin, end) in source_regions(reference, g.module).items():
            if qualname not in g.regions:
                continue
            node = functions(tree)[qualname]
            body = {line.strip() for line in ast.get_source_segment(copy, node).split("\n")}
            leaked = [line for line in solution_lines(reference, begin, end) if line in body]
            assert leaked == [], f"{g.name}: the student copy of {qualname} keeps {leaked}"
            assert f"{g.name} is not written yet" in ast.get_source_segment(copy, node)


def test_the_student_notebooks_hold_no_solution_and_stay_valid(student):
    stubbed = 0
    for path in sorted((student / "notebooks").rglob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        reference = json.loads((ROOT / path.relative_to(student)).read_text(encoding="utf-8"))
        assert len(nb["cells"]) == len(reference["cells"])
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            assert regions(source.split("\n"), path.name) == []
            if "YOUR CODE HERE" in source or "YOUR ANSWER HERE" in source:
                stubbed += 1
            if cell["cell_type"] == "code":
                ast.parse("\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))))
    assert stubbed > 0


# ------------------------------------------------------------------ the grader on partly written work
def _write_back(workspace, name, source=ROOT):
    """Copy the reference body of `name` (every module holding it) into `workspace`: the student wrote it."""
    g = FUNCTIONS[name]
    shutil.copy(module_path(source, g.module), module_path(workspace, g.module))


def test_blocked_and_partly_written(tmp_path):
    workspace = make(tmp_path / "ws", ["A1"])
    path = module_path(workspace, "minillm.layers.linear")
    reference = module_path(ROOT, "minillm.layers.linear").read_text(encoding="utf-8")
    # the student writes linear_backward only: it is blocked by the unwritten forward
    begin, end = source_regions(reference, "linear")["linear_backward"]
    body = reference.split("\n")[begin + 1:end]
    text = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(text) if "linear_backward is not written yet" in line)
    path.write_text("\n".join(text[:at - 1] + body + text[at + 1:]), encoding="utf-8")
    code, report = check(workspace, "--set", "A1")
    assert report["functions"]["linear_backward"]["status"] == "blocked"
    assert report["functions"]["linear_backward"]["blocked_by"] == ["linear_forward"]
    assert report["functions"]["linear_forward"]["status"] == "not_attempted"
    # now the forward too, with a bug: the forward fails, the backward stays blocked by it
    _write_back(workspace, "linear_forward")
    path.write_text(path.read_text(encoding="utf-8").replace("out = out + b", "out = out - b"), encoding="utf-8")
    code, report = check(workspace)
    forward = report["functions"]["linear_forward"]
    assert forward["status"] == "fail" and forward["worst_rel_error"] > 1e-3
    assert "case" in forward["worst_of"] and "hint" in forward and "out = x W + b" in forward["hint"]
    assert report["functions"]["linear_backward"]["status"] == "blocked"
    assert code == 1


# ------------------------------------------------------------------ planted bugs, each caught by name
BUGS = [
    ("transposed weight gradient", "A1", "linear_backward", "minillm.layers.linear",
     "dW = x_rows.T @ dout_rows", "dW = (x_rows.T @ dout_rows).T"),
    ("missing 1/sqrt(d_k)", "A2", "attention_forward", "minillm.layers.attention",
     "scale = 1.0 / math.sqrt(D)", "scale = 1.0"),
    ("-1e9 instead of -inf for masked entries", "A2", "attention_forward", "minillm.layers.attention",
     "scores = np.where(allowed, scores, -np.inf)", "scores = np.where(allowed, scores, -1e9)"),
    ("cross-entropy averaged over ignored targets too", "A1", "cross_entropy_forward", "minillm.layers.softmax",
     "loss = -log_p.sum() / n_valid if n_valid > 0 else 0.0", "loss = -log_p.sum() / len(t)"),
    ("embedding backward assigns instead of accumulating", "A1", "embedding_backward", "minillm.layers.embedding",
     "np.add.at(dE, ids.reshape(-1), dout.reshape(-1, C))", "dE[ids.reshape(-1)] = dout.reshape(-1, C)"),
    ("layernorm backward without the mean term", "A3", "layernorm_backward", "minillm.layers.norm",
     "dx = rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)", "dx = rstd * (dxhat - xhat * mean_dxhat_xhat)"),
    ("LSTM forget gate without its derivative", "A5", "lstm_step_backward", "minillm.layers.recurrent",
     "df * f * (1 - f)", "df"),
    ("RoPE rotating the two halves instead of neighbours", "A2", "rope_forward", "minillm.layers.positional",
     "x_even = x[..., 0::2]                                        # (..., T, D/2)  x_2i\n"
     "    x_odd = x[..., 1::2]", "x_even = x[..., :D // 2]\n    x_odd = x[..., D // 2:]"),
    ("softmax without the max shift", "A1", "softmax_forward", "minillm.layers.softmax",
     "e = np.exp(x - m)", "e = np.exp(x)"),
    ("AdamW without bias correction", "A4", "AdamW.step", "minillm.optim",
     "bias1 = 1.0 - b1**self.t\n        bias2 = 1.0 - b2**self.t", "bias1 = bias2 = 1.0"),
    ("Kneser-Ney with raw lower-order counts", "A6", "NGramLM.kneser_ney_probs", "minillm.models.ngram",
     "counts, totals = (self._raw, self._raw_total) if m == n else (self._cont, self._cont_total)",
     "counts, totals = self._raw, self._raw_total"),
    ("BLEU without the brevity penalty", "A7", "bleu_from_counts", "minillm.metrics",
     "bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0", "bp = 1.0"),
]


@pytest.mark.parametrize("bug", BUGS, ids=[b[0] for b in BUGS])
def test_a_planted_bug_fails_the_function_it_is_in(bug, solutions, tmp_path):
    _, set_name, name, module, old, new = bug
    workspace = tmp_path / "ws"
    shutil.copytree(solutions, workspace, ignore=shutil.ignore_patterns("notebooks", "tests", "docs", "data"))
    path = module_path(workspace, module)
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the bug's target line is not in {module} (once): update BUGS"
    path.write_text(text.replace(old, new), encoding="utf-8")
    code, report = check(workspace, "--set", set_name)
    assert code == 1
    verdicts = report["functions"]
    assert verdicts[name]["status"] == "fail", verdicts[name]
    assert verdicts[name]["hint"]
    for other, r in verdicts.items():
        if other != name:
            assert r["status"] in ("pass", "blocked"), (other, r)


# ------------------------------------------------------------------ the command line
def test_check_outside_a_workspace_and_from_the_wrong_install_is_one_line(tmp_path, solutions):
    done = subprocess.run([sys.executable, "-m", "minillm", "assignment", "check"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not inside an assignment workspace" in done.stderr
    assert len(done.stderr.strip().split("\n")) == 1
    # inside the workspace, but through the clone's installed `minillm` command: it would grade the reference
    command = shutil.which("minillm", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("no minillm command beside this Python (minillm is not installed in this environment)")
    done = subprocess.run([command, "assignment", "check"], cwd=solutions, capture_output=True, text=True)
    assert done.returncode == 2 and "not from this workspace" in done.stderr


def test_make_refuses_a_used_folder_and_an_unknown_set(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    for argv, message in ((["used", "--set", "A1"], "already exists"), (["new", "--set", "A9"], "--set must be one of")):
        done = subprocess.run([sys.executable, "-m", "minillm", "assignment", "make", *argv], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "new").exists()


def test_list_prints_every_set_and_function():
    done = subprocess.run([sys.executable, "-m", "minillm", "assignment", "list"], capture_output=True, text=True)
    assert done.returncode == 0
    for s in SETS:
        assert s.name in done.stdout
        for g in s.functions:
            assert g.name in done.stdout


def test_report_tabulates_a_class(tmp_path, solutions):
    _, report = check(solutions, "--set", "A7")
    (tmp_path / "ada.json").write_text(json.dumps(report))
    failing = json.loads(json.dumps(report))
    failing["functions"]["beam_search"]["status"] = "fail"
    (tmp_path / "bob.json").write_text(json.dumps(failing))
    done = subprocess.run([sys.executable, "-m", "minillm", "assignment", "report", "ada.json", "bob.json",
                           "--csv", "class.csv"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "class.csv").read_text().splitlines() == ["student,A7,total", "ada,4/4,4/4", "bob,3/4,3/4"]
    (tmp_path / "broken.json").write_text("{")
    done = subprocess.run([sys.executable, "-m", "minillm", "assignment", "report", "broken.json"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "cannot be read" in done.stderr


def test_the_teaching_and_syllabus_tables_are_the_sets():
    import re

    for page in ("TEACHING.md", "SYLLABUS.md", "zh/TEACHING.md", "zh/SYLLABUS.md"):
        if not (ROOT / "docs" / page).is_file() and page.startswith("zh/"):
            pytest.fail(f"docs/{page} is missing")
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        rows = re.findall(r"^\| (A\d) \|(.*)$", text, re.M)
        assert [name for name, _ in rows] == [s.name for s in SETS], page
        for (name, row), s in zip(rows, SETS):
            after = row.rstrip(" |").rsplit("|", 1)[-1].strip()
            expected = "—" if not s.depends_on else ", ".join(s.depends_on)
            assert after in (expected, f"{s.depends_on[0]}–{s.depends_on[-1]}" if s.depends_on else "—"), (page, name)
            if page.endswith("TEACHING.md"):
                assert (f": {len(s.functions)} functions" in row or f": {len(s.functions)} |" in row
                        or f"：{len(s.functions)} 个函数" in row), (page, name, row)


def test_a_chinese_workspace_stubs_in_chinese_and_grades_the_same(tmp_path):
    workspace = make(tmp_path / "ws", ["A6"], lang="zh")
    code, report = check(workspace)
    assert code == 1 and {r["status"] for r in report["functions"].values()} == {"not_attempted"}
    hmm = module_path(workspace, "minillm.models.hmm").read_text(encoding="utf-8")
    assert "HMM.forward 尚未实现（作业 A6）" in hmm and "notebooks/zh/02_hmm.ipynb" in hmm
    assert "作业工作区" in (workspace / "assignment" / "README.md").read_text(encoding="utf-8")
    zh_cells = [c for p in (workspace / "notebooks" / "zh").glob("*.ipynb")
                for c in json.loads(p.read_text(encoding="utf-8"))["cells"]]
    assert any("尚未作答" in "".join(c["source"]) for c in zh_cells)


def test_a_step_function_rewritten_without_its_cell_is_graded(tmp_path):
    # the stub of rnn_step_forward sits in the cell _rnn_cell; a student who writes the step function
    # whole, without calling the cell, has attempted it
    workspace = make(tmp_path / "ws", ["A5"])
    path = module_path(workspace, "minillm.layers.recurrent")
    text = path.read_text(encoding="utf-8")
    old = "    h = _rnn_cell(ax, h_prev, Wh)                                   # (B, d_h)\n"
    assert text.count(old) == 1
    path.write_text(text.replace(old, "    h = np.tanh(ax + h_prev @ Wh)\n"), encoding="utf-8")
    _, report = check(workspace, "--set", "A5")
    assert report["functions"]["rnn_step_forward"]["status"] == "pass"
    assert report["functions"]["rnn_step_backward"]["status"] == "not_attempted"
