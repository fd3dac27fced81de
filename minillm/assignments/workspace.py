"""`minillm assignment make`: a complete copy of the project for a student (or, with solutions, a teacher).

    OUT/                       the project: pyproject.toml, README.md, minillm/, notebooks/, docs/, tests/, data/
      minillm/...              the assigned functions' marked bodies replaced by stubs (module docstring of
                               minillm.assignments.markers); every other function is the reference
      notebooks/...            every exercise's solution region stubbed the same way
      assignment/workspace.json   the sets and functions of this workspace
      assignment/expected.npz     the reference's outputs and gradients on the grader's cases, computed now,
                                  so that `minillm assignment check` needs no reference body
      assignment/README.md        what to do, for the student

The copy is written to a temporary folder beside OUT and renamed into place: a failed make leaves nothing.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from minillm.assignments.cases import CASES, Gradients, Values
from minillm.assignments.grader import EXPECTED_FILE, WORKSPACE_FILE, key
from minillm.assignments.markers import regions, source_regions, stub_cell, stub_source
from minillm.assignments.sets import FUNCTIONS, chosen_sets

PROJECT = ("pyproject.toml", "README.md", "README.zh-CN.md", ".gitignore", "minillm", "notebooks", "docs", "tests",
           "data", "tools")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints", ".pytest_cache", "out")


def project_root():
    """The source tree this minillm was installed from (a clone): it holds pyproject.toml and notebooks/."""
    import minillm

    root = Path(minillm.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "notebooks").is_dir():
        raise ValueError(f"assignment make copies the project's source tree, but minillm is installed from {root}, "
                         f"which is not a clone: install minillm with `pip install -e .` from a clone")
    return root


def module_path(root, module):
    return root.joinpath(*module.split(".")).with_suffix(".py")


def stub_message(graded, set_name, lang="en"):
    if lang == "zh":
        section = graded.section.replace("notebooks/", "notebooks/zh/", 1)
        return f"{graded.name} 尚未实现（作业 {set_name}）：{graded.formula}。见 {section}。"
    return (f"{graded.name} is not written yet (assignment {set_name}): {graded.formula}. "
            f"See {graded.section}.")


def check_reference(root, functions):
    """Every function to assign must still have its solution region: workspaces are made from the reference."""
    for g in functions:
        path = module_path(root, g.module)
        found = source_regions(path.read_text(encoding="utf-8"), str(path))
        for qualname in g.regions:
            if qualname not in found:
                raise ValueError(f"{path} has no solution region in {qualname}: this minillm is not the reference "
                                 f"(a student workspace?); make workspaces from a clone of the project")


def expected_values(functions):
    """{key: array} of every stored output and gradient of the graded cases, from the code running now."""
    out = {}
    for g in functions:
        for case in CASES[g.name]():
            if isinstance(case, (Values, Gradients)):
                for label, value in case.run().items():
                    out[key(g.name, case.case, label)] = np.asarray(value)
    return out


def _stub_notebook(path):
    """Stub every solution region of the notebook at `path`, in place (a notebook of notebooks/zh/ gets the
    Chinese message); the number of regions stubbed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    count = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        found = regions(source.split("\n"), f"{path.name}, a {cell['cell_type']} cell")
        if not found:
            continue
        first = source.split("\n", 1)[0]
        number = first.split(":")[0].split()[-1] if first.startswith("# Exercise") else "?"
        message = (f"练习 {number}（{path.name}）尚未作答" if path.parent.name == "zh" else
                   f"Exercise {number} of {path.name} is not answered yet")
        cell["source"] = stub_cell(cell["cell_type"], source, message)
        count += len(found)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return count


STUDENT_README = """# Assignment workspace: {sets}

This folder is a complete minillm in which the functions below are yours to write.  Each one
raises `NotImplementedError` where its body goes (the line after `# YOUR CODE HERE`), naming
its formula and the notebook section that derives it.

    pip install -e ".[test]"          # once, in a fresh virtual environment
    minillm assignment check          # grade everything;  --set A1: one set;  --json report.json

The check compares your outputs with the reference's on fixed inputs and your gradients
with central differences of your own forward (float64, relative error below 1e-6).  A
function that calls one of yours that is not passing yet is reported as blocked by it.
Hand back these files (they hold every body you write):

{files}

{listing}
"""


def prepare(out, set_names, lang="en"):
    """Check what the user asked for: (project root, sets, OUT resolved); a ValueError saying what is wrong."""
    if lang not in ("en", "zh"):
        raise ValueError(f"--lang must be en or zh, got {lang!r}")
    root = project_root()
    if lang == "zh" and not (root / "notebooks" / "zh").is_dir():
        raise ValueError(f"--lang zh needs the Chinese notebooks, but {root / 'notebooks' / 'zh'} does not exist")
    sets = chosen_sets(set_names)
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"OUT {str(out)!r} already exists and is not an empty folder: give a new folder")
    check_reference(root, [g for s in sets for g in s.functions])
    return root, sets, out


STUDENT_README_ZH = """# 作业工作区：{sets}

这个文件夹是一份完整的 minillm，下列函数由你来实现。每个函数在函数体的位置（`# YOUR CODE HERE`
的下一行）抛出 `NotImplementedError`，信息中给出它的公式和推导它的笔记本小节（notebooks/zh/）。

    pip install -e ".[test]"          # 在一个新的虚拟环境中安装一次
    minillm assignment check          # 评测全部；--set A1 只评测一组；--json report.json 另存报告

评测把你的输出与参考实现在固定输入上的输出比较，并把你的梯度与你自己的前向传播的中心差分比较
（float64，相对误差低于 1e-6）。如果一个函数调用了你尚未通过的函数，它会被报告为被那个函数阻塞（blocked）。
请交回下列文件（你写的函数体都在其中）：

{files}

{listing}
"""


def make(out, set_names, with_solutions=False, lang="en"):
    """Write the workspace folder `out`; returns its path."""
    return write_workspace(*prepare(out, set_names, lang), with_solutions=with_solutions, lang=lang)


def write_workspace(root, sets, out, *, with_solutions=False, lang="en"):
    """Copy the project from `root` to `out` with `sets` stubbed (prepare() has checked the arguments)."""
    functions = [g for s in sets for g in s.functions]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name in PROJECT:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, tmp / name, ignore=SKIP)
            elif source.is_file():
                shutil.copy2(source, tmp / name)
        if not with_solutions:
            by_module = {}
            for s in sets:
                for g in s.functions:
                    for qualname in g.regions:
                        by_module.setdefault(g.module, {})[qualname] = stub_message(g, s.name, lang)
            for module, stubs in by_module.items():
                path = module_path(tmp, module)
                path.write_text(stub_source(path.read_text(encoding="utf-8"), stubs, str(path)), encoding="utf-8")
            for notebook in sorted((tmp / "notebooks").rglob("*.ipynb")):
                _stub_notebook(notebook)
        (tmp / "assignment").mkdir()
        np.savez(tmp / EXPECTED_FILE, **expected_values(functions))
        info = {"sets": [s.name for s in sets], "functions": [g.name for g in functions],
                "files": files_of(functions), "with_solutions": bool(with_solutions), "lang": lang}
        (tmp / WORKSPACE_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        (tmp / "assignment" / "README.md").write_text((STUDENT_README_ZH if lang == "zh" else STUDENT_README).format(
            sets=", ".join(s.name for s in sets), listing=listing(sets),
            files="\n".join(f"    {f}" for f in info["files"])), encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def files_of(functions):
    """The source files (relative to the project) that hold the bodies of `functions`: what a student edits."""
    return sorted({str(module_path(Path(), g.module)) for g in functions})


def listing(sets):
    """The sets and their functions, as `minillm assignment list` prints them."""
    lines = []
    for s in sets:
        after = f"  (after {', '.join(s.depends_on)})" if s.depends_on else ""
        lines.append(f"{s.name}  {s.title}{after}")
        lines.append(f"    taught in: {'; '.join(s.notebooks)}")
        for g in s.functions:
            lines.append(f"    {g.name:<30} {g.formula}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
