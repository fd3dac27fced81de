"""Every notebook under notebooks/ is committed clean and runs top to bottom.

(a) clean: no outputs and no execution counts in git, so diffs show only what a
    person wrote and nobody reads stale numbers;
(b) runs: each notebook is executed with nbclient in a fresh "python3" kernel,
    cwd = notebooks/ (so relative paths such as ../data work), matplotlib on the
    Agg backend; any error fails the test with the notebook's name and the cell.

Notebooks are discovered when the tests are collected: a new notebook is
tested without touching this file.
"""
import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))

# A cell that takes longer than this is a bug: notebooks must run in well under a minute.
CELL_TIMEOUT_S = 120
KERNEL_NAME = "python3"


def _read(path):
    with open(path, encoding="utf-8") as f:
        return nbformat.read(f, as_version=4)


def _ids(paths):
    return [p.name for p in paths]


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_without_outputs(path):
    nb = _read(path)
    dirty = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            dirty.append(f"cell {index} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {index} has execution_count {cell.execution_count}")
    assert not dirty, (
        f"{path.name} must be committed with outputs cleared "
        f"(jupyter nbconvert --clear-output --inplace {path.name}): " + "; ".join(dirty)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, monkeypatch):
    # The kernel inherits this process's environment: no display, no GUI backend.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = _read(path)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
        allow_errors=False,
    )
    start = time.perf_counter()
    try:
        client.execute()  # the kernel starts in resources' path: notebooks/
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed while running:\n{error}", pytrace=False)
    except nbclient.exceptions.CellTimeoutError as error:
        pytest.fail(f"{path.name}: a cell ran longer than {CELL_TIMEOUT_S} s:\n{error}", pytrace=False)
    elapsed = time.perf_counter() - start
    print(f"{path.name}: executed in {elapsed:.1f} s")
    errors = [
        (index, out.get("ename"), out.get("evalue"))
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name} produced errors: {errors}"
