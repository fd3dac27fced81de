"""The Chinese edition (notebooks/zh/) stays in step with the English one (notebooks/).

For every English notebook there is a Chinese twin with the same file name and the same cells
in the same order:
  * code cells are identical (the code is the same in both editions);
  * each markdown cell records, in metadata "zh", the id of the English cell it translates and a
    hash of that cell's text: when the English cell changes, its translation is stale;
  * a Chinese markdown cell is written in Chinese: one whose prose (math, code, links and article
    quotes aside) is mostly Latin letters is an untranslated copy;
  * where the English cell uses a core term of docs/zh/glossary.md (marked ★), the Chinese cell
    uses the glossary's translation.
tools/zh_notebooks.py makes new twins and records the hashes after a cell is translated again.
"""
import hashlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EN = sorted((ROOT / "notebooks").glob("*.ipynb"))
ZH = ROOT / "notebooks" / "zh"
GLOSSARY = ROOT / "docs" / "zh" / "glossary.md"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def text_hash(source):
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def prose(markdown):
    """The running text of a markdown cell: no math, code, links' targets, HTML, article quotes or markers."""
    lines = [line for line in markdown.split("\n")
             if not line.lstrip().startswith(">") and line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    text = "\n".join(lines)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"https?://\S+", " ", text)
    return text


def is_untranslated(markdown):
    """True when the prose is mostly Latin letters: more than twice as many letters as Chinese characters."""
    text = prose(markdown)
    letters = len(re.findall(r"[A-Za-z]", text))
    return letters > 20 and letters > 2 * len(CJK.findall(text))


def core_terms():
    """[(English forms, Chinese term)] of the glossary rows marked ★."""
    terms = []
    for line in GLOSSARY.read_text(encoding="utf-8").split("\n"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and "★" in cells[0]:
            english = cells[0].replace("★", "").strip()
            forms = [f.strip() for f in re.sub(r"\(.*?\)", "", english).split("/") if f.strip()]
            terms.append((forms, cells[1]))
    return terms


def uses(text, form):
    return re.search(rf"(?<![\w-]){re.escape(form)}s?(?![\w-])", text, re.I) is not None


def problems(en_path, zh_path, terms=None):
    """One line per problem of the Chinese twin of `en_path`, naming the notebook and the cell."""
    name = f"notebooks/zh/{en_path.name}"
    if not zh_path.is_file():
        return [f"{name} is missing: make it with `python tools/zh_notebooks.py init {en_path.stem}` and translate it"]
    en, zh = json.loads(en_path.read_text(encoding="utf-8")), json.loads(zh_path.read_text(encoding="utf-8"))
    out = []
    types_en = [c["cell_type"] for c in en["cells"]]
    types_zh = [c["cell_type"] for c in zh["cells"]]
    if types_en != types_zh:
        first = next((i for i, (a, b) in enumerate(zip(types_en, types_zh)) if a != b), min(len(types_en), len(types_zh)))
        return [f"{name}: cells were added or removed on one side (English {len(types_en)} cells, Chinese "
                f"{len(types_zh)}); they part at cell {first}: add or remove the Chinese cell there"]
    for i, (a, b) in enumerate(zip(en["cells"], zh["cells"])):
        if a["cell_type"] == "code":
            if _source(a) != _source(b):
                out.append(f"{name} cell {i}: the code cell differs from the English one: copy it "
                           f"(python tools/zh_notebooks.py sync-code {en_path.stem})")
            continue
        record = b.get("metadata", {}).get("zh")
        if not isinstance(record, dict) or record.get("of") != a.get("id"):
            out.append(f"{name} cell {i}: does not record which English cell it translates (metadata zh.of = "
                       f"{a.get('id')!r})")
        elif record.get("sha256") != text_hash(_source(a)):
            out.append(f"{name} cell {i}: the English cell changed since it was translated: re-translate it, then "
                       f"python tools/zh_notebooks.py stamp {en_path.stem} {i}")
        if is_untranslated(_source(b)):
            out.append(f"{name} cell {i}: is not translated (its prose is mostly Latin letters)")
            continue
        for forms, chinese in terms or ():
            if any(uses(prose(_source(a)), f) for f in forms) and chinese not in _source(b):
                out.append(f"{name} cell {i}: the English cell says {forms[0]!r}; the Chinese one must say "
                           f"{chinese!r} (docs/zh/glossary.md)")
    return out


@pytest.mark.parametrize("en_path", EN, ids=lambda p: p.stem)
def test_every_notebook_has_a_chinese_twin_in_step(en_path):
    found = problems(en_path, ZH / en_path.name, core_terms())
    assert found == [], "\n".join(found)


def test_no_chinese_notebook_without_an_english_one():
    assert sorted(p.name for p in ZH.glob("*.ipynb")) == [p.name for p in EN]


def test_the_glossary_gives_one_translation_per_term():
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in GLOSSARY.read_text(encoding="utf-8").split("\n") if line.startswith("| ") and "---" not in line]
    english = [r[0].replace("★", "").strip().lower() for r in rows[1:]]
    assert len(english) == len(set(english)), "a term is listed twice"
    assert len(core_terms()) >= 20


# ------------------------------------------------------------------ the checks above must be able to fail
def _pair(tmp_path, en_cells, zh_cells):
    def nb(cells):
        return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "en.ipynb").write_text(json.dumps(nb(en_cells)))
    (tmp_path / "zh.ipynb").write_text(json.dumps(nb(zh_cells)))
    return problems(tmp_path / "en.ipynb", tmp_path / "zh.ipynb", core_terms())


def _md(text, id_, of=None, sha=None):
    cell = {"cell_type": "markdown", "id": id_, "metadata": {}, "source": text}
    if of is not None:
        cell["metadata"]["zh"] = {"of": of, "sha256": sha}
    return cell


def _code(text, id_):
    return {"cell_type": "code", "id": id_, "metadata": {}, "source": text, "outputs": [], "execution_count": None}


EN_MD = "Self-attention weighs every position by its softmax weight."
ZH_MD = "自注意力按 softmax 权重对每个位置加权。"


def test_the_sync_check_passes_a_good_twin(tmp_path):
    assert _pair(tmp_path, [_md(EN_MD, "a"), _code("x = 1", "b")],
                 [_md(ZH_MD, "za", "a", text_hash(EN_MD)), _code("x = 1", "zb")]) == []


def test_the_sync_check_fails_a_changed_english_cell(tmp_path):
    found = _pair(tmp_path, [_md(EN_MD + " Changed.", "a")], [_md(ZH_MD, "za", "a", text_hash(EN_MD))])
    assert len(found) == 1 and "changed since it was translated" in found[0] and "cell 0" in found[0]


def test_the_sync_check_fails_a_missing_cell(tmp_path):
    found = _pair(tmp_path, [_md(EN_MD, "a"), _code("x = 1", "b")], [_md(ZH_MD, "za", "a", text_hash(EN_MD))])
    assert len(found) == 1 and "added or removed" in found[0]


def test_the_sync_check_fails_a_changed_code_cell(tmp_path):
    found = _pair(tmp_path, [_code("x = 1", "b")], [_code("x = 2", "zb")])
    assert len(found) == 1 and "code cell differs" in found[0]


def test_the_sync_check_fails_an_untranslated_cell(tmp_path):
    found = _pair(tmp_path, [_md(EN_MD, "a")], [_md(EN_MD, "za", "a", text_hash(EN_MD))])
    assert len(found) == 1 and "not translated" in found[0]


def test_the_sync_check_fails_a_term_off_the_glossary(tmp_path):
    found = _pair(tmp_path, [_md(EN_MD, "a")], [_md("自我关注按 softmax 权重对每个位置加权。", "za", "a", text_hash(EN_MD))])
    assert any("'自注意力'" in f for f in found)


def test_the_chinese_syllabus_gives_the_english_study_times():
    en = (ROOT / "docs" / "SYLLABUS.md").read_text(encoding="utf-8")
    zh = (ROOT / "docs" / "zh" / "SYLLABUS.md").read_text(encoding="utf-8")
    minutes_en = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^\| (\d\d_\w+) \| \d+ \| [\d,]+ \| \d+ \| \d+ \| (\d+) \| (\d+) \| (\d+) \|", en, re.M)}
    minutes_zh = {m.group(1): m.groups()[1:] for m in re.finditer(r"^\| (\d\d_\w+) \| (\d+) \| (\d+) \| (\d+) \|", zh, re.M)}
    assert minutes_en and minutes_zh == minutes_en
    for path in EN:
        assert f"`notebooks/zh/{path.stem}`" in zh, f"docs/zh/SYLLABUS.md does not list {path.stem}"
