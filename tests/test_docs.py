"""docs/*.md: every file, notebook and test they point to exists (a renamed file breaks this, not the reader)."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "docs" / "zh").glob("*.md"))

MODULE = re.compile(r"\bminillm/[\w/]+\.py\b")                       # minillm/layers/attention.py
NOTEBOOK = re.compile(r"\bnotebooks/(\d\d_\w+)")                      # notebooks/06_self_attention[.ipynb]
TEST = re.compile(r"\btests/(test_\w+\.py)(?:::(test_\w+))?")        # tests/test_x.py[::test_name]


def _text(path):
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_named_in_the_docs_exists(doc):
    text = _text(doc)
    missing = [m for m in MODULE.findall(text) if not (ROOT / m).is_file()]
    missing += [f"notebooks/{m}.ipynb" for m in NOTEBOOK.findall(text)
                if not (ROOT / "notebooks" / f"{m}.ipynb").is_file()]
    missing += [f"tests/{f}" for f, _ in TEST.findall(text) if not (ROOT / "tests" / f).is_file()]
    assert not missing, f"{doc.name} names files that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_test_named_in_the_docs_is_defined_in_its_file(doc):
    missing = []
    for file, name in TEST.findall(_text(doc)):
        path = ROOT / "tests" / file
        if name and path.is_file() and not re.search(rf"^\s*def {name}\(", _text(path), re.MULTILINE):
            missing.append(f"tests/{file}::{name}")
    assert not missing, f"{doc.name} names tests that do not exist: {sorted(set(missing))}"


def test_the_checks_are_not_vacuous():
    # FORMULAS.md cites code, notebooks and tests; if the patterns stopped matching, the tests above
    # would pass on anything.
    text = _text(ROOT / "docs" / "FORMULAS.md")
    assert len(MODULE.findall(text)) > 20 and len(NOTEBOOK.findall(text)) > 15 and len(TEST.findall(text)) > 50
    syllabus = _text(ROOT / "docs" / "SYLLABUS.md")
    assert {f"{n:02d}" for n in range(18)} <= {m[:2] for m in NOTEBOOK.findall(syllabus)}


def test_every_notebook_header_gives_the_one_reading_order():
    # the order of docs/SYLLABUS.md is the numbering: each header names its own number, the one before and after
    import json
    import re

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    numbers = [int(p.name[:2]) for p in notebooks]
    assert numbers == list(range(len(notebooks)))
    for p, n in zip(notebooks, numbers):
        header = "".join(json.loads(p.read_text(encoding="utf-8"))["cells"][0]["source"])
        line = next((l for l in header.split("\n") if l.startswith("Reading order")), None)
        assert line is not None, f"{p.name}: the first cell has no 'Reading order' line"
        named = [int(x) for x in re.findall(r"(?<![\d.])(\d\d) ", line)]
        expected = [m for m in (n - 1, n, n + 1) if 0 <= m < len(notebooks)]
        assert named == expected, f"{p.name}: its reading order names {named}, the numbering gives {expected}"


def test_the_syllabus_counts_are_the_notebooks_counts():
    # the study-time table is computed from the notebooks (docs/SYLLABUS.md gives the rule); it must not go stale
    import re

    nbformat = pytest.importorskip("nbformat")
    table = {m.group(1): [int(x.replace(",", "")) for x in m.groups()[1:]]
             for m in re.finditer(r"^\| (\d\d_\w+) \| (\d+) \| ([\d,]+) \| (\d+) \| (\d+) \|",
                                  (ROOT / "docs" / "SYLLABUS.md").read_text(encoding="utf-8"), re.M)}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), 4)
        words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
        code = sum(1 for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
                   if line.strip() and not line.strip().startswith("#"))
        exercises = 0
        for c in nb.cells:
            heading = c.cell_type == "markdown" and re.search(r"^#+ Exercises", c.source, re.M)
            if heading:
                exercises += len(re.findall(r"^\s*(?:\d+\.|[-*])\s", c.source[heading.end():], re.M))
        assert table.get(path.stem) == [len(nb.cells), words, code, exercises], \
            f"docs/SYLLABUS.md's row for {path.stem} is stale: recompute it with the script on that page"
