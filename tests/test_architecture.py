"""The house rules of the package, checked on its source with `ast` (nothing is imported).

Dependencies point one way, from the bottom of this list to the top of it:

    leaves      checks.py atomic.py gradcheck.py            NumPy only
    layers      layers/
    kernels     kernels/
    components  models/ io/ tokenizers/ datasets/           (io never imports a model)
    training    optim.py train.py generate.py metrics.py plot.py runtime/
    tasks       tasks/
    front       bench/ cli/ __main__.py
    shims       the old paths kept for one release (finetune.py, ner.py, ...): nothing imports them

A module may import modules of its own level or below, never above; every import
counts, also one inside a function.  No two modules may import each other, directly or
around a longer loop.
"""
import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minillm"

LEVELS = [
    ("leaves", ["minillm.checks", "minillm.atomic", "minillm.gradcheck", "minillm.lang"]),
    ("layers", ["minillm.layers"]),
    ("kernels", ["minillm.kernels"]),
    ("components", ["minillm.models", "minillm.io", "minillm.tokenizers", "minillm.datasets"]),
    ("training", ["minillm.optim", "minillm.train", "minillm.generate", "minillm.metrics", "minillm.plot",
                  "minillm.runtime"]),
    ("tasks", ["minillm.tasks", "minillm.assignments"]),
    ("front", ["minillm.bench", "minillm.cli", "minillm.site", "minillm.__main__"]),
    ("shims", ["minillm.finetune", "minillm.ner", "minillm.translate", "minillm.compare", "minillm.beam",
               "minillm.parallel", "minillm.pretrained"]),
]
SHIMS = LEVELS[-1][1]
# same level, one direction only: models call io to read and write weights, never the reverse
FORBIDDEN = [("minillm.io", "minillm.models")]


def module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root):
    """{module: {imported minillm module, ...}} for every .py file under root/minillm, imports in functions included."""
    files = {module_name(p, root): p for p in (root / "minillm").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from minillm.x import y`: y may be a module of its own (minillm.x.y) or a name in minillm.x
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in files else node.module
                           for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                raise AssertionError(f"{path}: relative import; write `from minillm... import ...`")
            else:
                continue
            edges |= {t for t in targets if t.split(".")[0] == "minillm" and t != name}
        graph[name] = edges
    return graph


def level_of(module):
    """Index in LEVELS of the group a module belongs to (the longest matching prefix)."""
    best, index = "", None
    for i, (_, prefixes) in enumerate(LEVELS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, index = prefix, i
    return index


def violations(root):
    """Every rule the tree at root breaks, one readable line each (empty: all good)."""
    graph = import_graph(root)
    problems = []
    for module, targets in sorted(graph.items()):
        if module == "minillm":
            continue                         # the package root loads its exports lazily, by name
        src = level_of(module)
        if src is None:
            problems.append(f"{module} belongs to no level: add it to LEVELS (tests/test_architecture.py)")
            continue
        for target in sorted(targets):
            dst = level_of(target)
            if target in SHIMS or (target.startswith("minillm.") and dst is None and target in graph):
                problems.append(f"{module} imports {target}, an old path kept only for users")
            elif dst is not None and dst > src:
                problems.append(f"{module} ({LEVELS[src][0]}) imports {target} ({LEVELS[dst][0]}): "
                                f"an upward edge")
            for low, high in FORBIDDEN:
                if (module == low or module.startswith(low + ".")) and (target == high or
                                                                        target.startswith(high + ".")):
                    problems.append(f"{module} imports {target}: {low} must never import {high}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph):
    """One example loop per strongly connected group of two or more modules (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_loop_through(graph, group) for group in groups]


def _loop_through(graph, group):
    # a path from the group's first module back to itself, inside the group
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        v = frontier.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                frontier.append(w)
    return group


# ------------------------------------------------------------------------------ the tests

def test_dependencies_point_one_way():
    problems = violations(ROOT)
    assert not problems, "\n".join(problems)


def new_violations(tree):
    """What the planted file broke: the copy's violations less the real tree's (which the first test keeps empty)."""
    before = set(violations(ROOT))
    return [p for p in violations(tree) if p not in before]


@pytest.fixture
def tree_copy(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "minillm", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_planted_upward_import_fails(tree_copy):
    # a layer that reaches up into the training loop, inside a function where it is easy to miss
    (tree_copy / "minillm" / "layers" / "planted.py").write_text(
        "def helper():\n    from minillm.train import Trainer\n    return Trainer\n", encoding="utf-8")
    assert new_violations(tree_copy) == ["minillm.layers.planted (layers) imports minillm.train (training): "
                                         "an upward edge"]


def test_a_planted_cycle_fails(tree_copy):
    # two kernels modules that import each other: no upward edge, but a loop
    kernels = tree_copy / "minillm" / "kernels"
    (kernels / "planted_a.py").write_text("from minillm.kernels.planted_b import g\n", encoding="utf-8")
    (kernels / "planted_b.py").write_text("def g():\n    from minillm.kernels import planted_a\n", encoding="utf-8")
    assert new_violations(tree_copy) == ["import cycle: minillm.kernels.planted_a -> minillm.kernels.planted_b "
                                         "-> minillm.kernels.planted_a"]


def test_io_importing_a_model_fails(tree_copy):
    (tree_copy / "minillm" / "io" / "planted.py").write_text("import minillm.models.gpt\n", encoding="utf-8")
    assert new_violations(tree_copy) == ["minillm.io.planted imports minillm.models.gpt: minillm.io must never "
                                         "import minillm.models"]


def test_nothing_inside_imports_an_old_path(tree_copy):
    (tree_copy / "minillm" / "tasks" / "planted.py").write_text("from minillm.ner import run_ner\n",
                                                                encoding="utf-8")
    assert new_violations(tree_copy) == ["minillm.tasks.planted imports minillm.ner, an old path kept only for users"]


def test_every_module_has_a_level():
    graph = import_graph(ROOT)
    assert [m for m in graph if m != "minillm" and level_of(m) is None] == []


def test_the_readme_states_the_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    order = (
        "leaves -> layers -> kernels -> models/io/tokenizers/datasets -> train/generate/runtime -> tasks/assignments -> "
        "bench/cli/site")
    assert order in readme
