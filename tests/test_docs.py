"""docs/*.md: every file, notebook and test they point to exists (a renamed file breaks this, not the reader)."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))

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
