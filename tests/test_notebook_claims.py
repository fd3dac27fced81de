"""Every number a notebook's prose states is computed in that notebook and asserted next to it.

The mechanism (minillm.checks.stated): the markdown writes a measured number as usual,
"add-0.01 improves from 398 to 276", and a code cell of the same notebook computes it and calls
`stated("276", perplexity)` with the number exactly as the prose writes it.  Running the
notebook (tests/test_notebooks.py) fails when the two part; this file fails when the prose
states a measured-looking number that no stated(...) call backs.

Which numbers count: any number with a decimal point, with three or more digits, or with a
% or × after it, in running text.  Not counted: math ($...$), code (`...`), quotes of the
article (lines starting with ">"), section signs (§4.2), years (1900-2039) and links.  A
constant that is a definition rather than a result (a threshold, a hyper-parameter) is
written as code: `1e-6`, `lr = 3e-3`.
"""
import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb")) + sorted((NOTEBOOKS_DIR / "zh").glob("*.ipynb"))   # both editions

# (ASCII word characters only before a number: Chinese prose may set a number right after a character)
NUMBER = re.compile(r"(?<![A-Za-z0-9_.§/#\-])(\d[\d,]*(?:\.\d+)?(?:[eE][-−]?\d+)?)(\s?%|\s?×)?(?![\w.]*\])")


def _prose(markdown):
    """The running text of a markdown cell: no math, code, quotes, headings' anchors or link targets."""
    text = "\n".join(line for line in markdown.split("\n") if not line.lstrip().startswith(">"))
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)                 # link targets
    return text


def measured_numbers(markdown):
    """The numbers of a markdown cell that read as results (see the module docstring), as written."""
    found = []
    for match in NUMBER.finditer(_prose(markdown)):
        number, suffix = match.group(1).rstrip(","), (match.group(2) or "").strip()
        digits = re.sub(r"\D", "", number.split("e")[0].split("E")[0])
        if "." not in number and "e" not in number.lower() and len(digits) < 3 and not suffix:
            continue
        if re.fullmatch(r"19\d\d|20[0-3]\d", number) and not suffix:
            continue                                          # a year
        found.append(number + ("%" if suffix == "%" else ""))
    return found


def stated_strings(nb):
    """The first arguments of every stated("...") call in the notebook's code cells."""
    out = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse("\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "stated":
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    out.add(node.args[0].value.replace("−", "-").replace(" ", ""))
    return out


def unbacked(path):
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    backed = stated_strings(nb)
    missing = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            for number in measured_numbers("".join(cell["source"])):
                if number.replace("−", "-") not in backed:
                    missing.append(f"cell {index}: {number}")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(NOTEBOOKS_DIR)) for p in NOTEBOOKS])
def test_every_stated_number_is_computed(path):
    missing = unbacked(path)
    assert not missing, (f"{path.name}: the prose states numbers no stated(...) call backs "
                         f"(compute each and call stated('<as written>', value) next to it): " + ", ".join(missing))


def test_the_scan_finds_results_and_skips_the_rest():
    md = ("Add-0.01 improves from 398 to 276 (§4.2, notebook 11, 2017), 97% exact, 2.4 vs 1e-15 in "
          "`1e-6` or $d_k = 64.0$; 3 layers.\n> the article's 512 stays quoted")
    assert measured_numbers(md) == ["398", "276", "97%", "2.4", "1e-15"]


def test_a_number_without_its_stated_call_fails(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["The loss falls to 1.92."]},
                    {"cell_type": "code", "source": ["stated('2.58', val)\n"]}], "metadata": {}, "nbformat": 4,
          "nbformat_minor": 5}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert unbacked(path) == ["cell 0: 1.92"]
    nb["cells"][1]["source"] = ["stated('1.92', train_loss)\n"]
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert unbacked(path) == []
