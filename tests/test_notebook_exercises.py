"""Every notebook exercise can be done and checked: a check cell, or a worked solution for the teacher.

Each numbered item N under a notebook's "## Exercises" heading is followed, in the cells after it, by
  * a code cell starting "# Exercise N" whose answer sits between ### BEGIN SOLUTION / ### END SOLUTION,
    and a code cell starting "# Check exercise N" that calls verdict("N", ...) (right, or wrong and why); or
  * a markdown cell starting "**Exercise N, solution.**" whose worked solution sits between the markers.
`minillm assignment make` strips the marked regions from the students' notebooks.
"""
import json
import re
from pathlib import Path

import pytest

from minillm.assignments.markers import regions
from minillm.checks import verdict

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def exercise_numbers(cells):
    for cell in cells:
        heading = cell["cell_type"] == "markdown" and re.search(r"^#+ Exercises", cell["source"], re.M)
        if heading:
            return [int(n) for n in re.findall(r"^\s*(\d+)\.\s", cell["source"][heading.end():], re.M)]
    return []


def missing_checks(path):
    cells = [{**c, "source": "".join(c["source"])} for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    problems = []
    for n in exercise_numbers(cells):
        answer = [c for c in cells if c["cell_type"] == "code" and re.match(rf"# Exercise {n}\b", c["source"])]
        check = [c for c in cells if c["cell_type"] == "code" and re.match(rf"# Check exercise {n}\b", c["source"])
                 and re.search(rf"verdict\(\s*[\"']{n}[\"']", c["source"])]
        worked = [c for c in cells if c["cell_type"] == "markdown"
                  and c["source"].startswith(f"**Exercise {n}, solution.**")]
        marked = [c for c in answer + worked if regions(c["source"].split("\n"), path.name)]
        if not ((answer and check) or worked):
            problems.append(f"{path.name}: exercise {n} has neither an answer cell with a check cell nor a worked "
                            f"solution")
        elif not marked:
            problems.append(f"{path.name}: exercise {n}'s answer is not between ### BEGIN/END SOLUTION lines")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_check_or_a_worked_solution(path):
    cells = [{**c, "source": "".join(c["source"])} for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    assert exercise_numbers(cells), f"{path.name} has no numbered exercises under an Exercises heading"
    assert missing_checks(path) == []


def test_the_structure_check_can_fail(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": "## Exercises\n\n1. Do a.\n2. Do b.\n", "metadata": {}},
                    {"cell_type": "code", "source": "# Exercise 1: a\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
                     "metadata": {}, "outputs": [], "execution_count": None},
                    {"cell_type": "code", "source": "# Check exercise 1\nverdict('1', x == 1, right='', wrong='')",
                     "metadata": {}, "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert missing_checks(path) == [f"nb.ipynb: exercise 2 has neither an answer cell with a check cell nor a "
                                    f"worked solution"]


def test_verdict_says_right_or_wrong_and_why(capsys):
    verdict("3", True, right="the mask hides the future", wrong="")
    assert capsys.readouterr().out == "Exercise 3: right. the mask hides the future\n"
    with pytest.raises(AssertionError, match=r"^Exercise 3: wrong\. position 2 moved$"):
        verdict("3", False, right="", wrong="position 2 moved")
    with pytest.raises(TypeError, match="ok must be a bool"):
        verdict("3", [1], right="", wrong="")
