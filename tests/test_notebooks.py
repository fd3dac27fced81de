"""Every notebook under notebooks/ is committed clean and runs top to bottom.

(a) clean: no outputs and no execution counts in git, so diffs show only what a
    person wrote and nobody reads stale numbers;
(b) runs: each notebook is executed with nbclient in a fresh "python3" kernel,
    cwd = its own folder (notebooks/ or notebooks/zh/, as Jupyter would), matplotlib on the
    Agg backend; any error fails the test with the notebook's name and the cell.

Notebooks are discovered when the tests are collected: a new notebook is
tested without touching this file.
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# both editions: the English notebooks and their Chinese twins in notebooks/zh/ (each runs in its own folder)
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb")) + sorted((NOTEBOOKS_DIR / "zh").glob("*.ipynb"))

# Notebooks must run top to bottom in well under a minute (kernel start included).
NOTEBOOK_BUDGET_S = 60
# A single cell longer than this is stopped (a hang must not stall the suite).
CELL_TIMEOUT_S = 120
KERNEL_NAME = "python3"


def _read(path):
    with open(path, encoding="utf-8") as f:
        return nbformat.read(f, as_version=4)


def _ids(paths):
    return [str(p.relative_to(NOTEBOOKS_DIR)) for p in paths]


def dirty_cells(nb):
    """One line per code cell that carries outputs or an execution count (empty list = clean)."""
    dirty = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            dirty.append(f"cell {index} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {index} has execution_count {cell.execution_count}")
    return dirty


def execute(path, cwd):
    """Run the notebook at `path` top to bottom in a fresh kernel started in `cwd`; return the seconds taken.

    Raises AssertionError naming the notebook on any error, timeout, or when over budget.
    """
    nb = _read(path)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(cwd)}},  # the kernel's working directory
        allow_errors=False,
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellTimeoutError as error:
        raise AssertionError(f"{path.name}: a cell ran longer than {CELL_TIMEOUT_S} s:\n{error}") from None
    except nbclient.exceptions.CellExecutionError as error:
        raise AssertionError(f"{path.name} failed while running:\n{error}") from None
    elapsed = time.perf_counter() - start
    errors = [
        (index, out.get("ename"), out.get("evalue"))
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name} produced errors: {errors}"
    assert elapsed < NOTEBOOK_BUDGET_S, (
        f"{path.name} took {elapsed:.0f} s; notebooks must run in well under {NOTEBOOK_BUDGET_S} s"
    )
    return elapsed


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_without_outputs(path):
    dirty = dirty_cells(_read(path))
    assert not dirty, (
        f"{path.name} must be committed with outputs cleared "
        f"(jupyter nbconvert --clear-output --inplace {path.name}): " + "; ".join(dirty)
    )


# Two kernels at a time: the notebooks hold NumPy's BLAS to one thread (their first cell), so on two
# cores two of them run side by side at full speed, and both editions fit the suite's time budget.
# The selected ones are submitted when the first is asked for, in order; each test waits for its own.
WORKERS = max(1, min(2, os.cpu_count() or 1))
_pool = None
_runs = {}


def _run(path):
    try:
        return execute(path, path.parent), None
    except AssertionError as error:
        return None, str(error)


def _result(path, session):
    """The (seconds, error) of `path`; the first call submits every notebook this run selected (-k counts)."""
    global _pool
    if _pool is None:
        os.environ["MPLBACKEND"] = "Agg"          # the kernels inherit it: no display, no GUI backend
        _pool = ThreadPoolExecutor(max_workers=WORKERS)
        selected = [item.callspec.params["path"] for item in session.items
                    if getattr(item, "originalname", "") == "test_notebook_executes"]
        for p in selected:
            _runs[p] = _pool.submit(_run, p)
    if path not in _runs:                         # not collected as selected (a direct call): run it now
        _runs[path] = _pool.submit(_run, path)
    return _runs[path].result()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, request):
    elapsed, error = _result(path, request.session)
    if error:
        pytest.fail(error, pytrace=False)
    print(f"{path.name}: executed in {elapsed:.1f} s")


# The two checks above must be able to fail: try them on notebooks made to be wrong.

def _write(path, cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    with open(path, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    return path


def test_dirty_cells_finds_outputs_and_counts():
    cell = nbformat.v4.new_code_cell("1 + 1")
    assert dirty_cells(nbformat.v4.new_notebook(cells=[cell])) == []
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)]
    assert dirty_cells(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x"), cell])) == [
        "cell 1 has 1 output(s)",
        "cell 1 has execution_count 3",
    ]


def test_execute_reports_the_failing_notebook_and_runs_in_cwd(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (tmp_path / "data.txt").write_text("42", encoding="utf-8")
    good = _write(tmp_path / "good.ipynb", [
        nbformat.v4.new_code_cell("with open('data.txt', encoding='utf-8') as f:\n    assert f.read() == '42'"),
        nbformat.v4.new_code_cell("import os; assert os.environ['MPLBACKEND'] == 'Agg'"),
    ])
    assert execute(good, tmp_path) < NOTEBOOK_BUDGET_S
    bad = _write(tmp_path / "broken.ipynb", [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")])
    with pytest.raises(AssertionError, match=r"(?s)broken\.ipynb failed while running.*ZeroDivisionError"):
        execute(bad, tmp_path)
