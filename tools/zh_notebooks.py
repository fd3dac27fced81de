"""Keep notebooks/zh/ (the Chinese edition) in step with notebooks/ (the English one).

    python tools/zh_notebooks.py status                      # what is stale, missing or untranslated
    python tools/zh_notebooks.py init 06_self_attention      # a new Chinese twin: code cells copied,
                                                             #   markdown cells still English (to translate)
    python tools/zh_notebooks.py stamp 06_self_attention 3 7 # after re-translating cells 3 and 7:
                                                             #   record the English text they now translate
    python tools/zh_notebooks.py sync-code 06_self_attention # copy every code cell from the English twin

A Chinese markdown cell carries, in its metadata, the id of the English cell it translates and a
hash of that cell's text:  "zh": {"of": "<English cell id>", "sha256": "<first 16 hex digits>"}.
tests/test_zh_edition.py fails when the hash no longer matches (the English cell changed), when
cells were added or removed on one side, when a code cell differs, or when a Chinese markdown cell
is still mostly Latin letters.  Stamp only the cells you have just translated again.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EN, ZH = ROOT / "notebooks", ROOT / "notebooks" / "zh"
# the hash and the checks are the sync test's own, so the two cannot disagree
sys.path.insert(0, str(ROOT / "tests"))
from test_zh_edition import problems, text_hash  # noqa: E402


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def write(path, nb):
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def init(name):
    en, zh = EN / f"{name}.ipynb", ZH / f"{name}.ipynb"
    if zh.exists():
        sys.exit(f"{zh} exists already: use stamp / sync-code")
    nb = read(en)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell.setdefault("metadata", {})["zh"] = {"of": cell["id"], "sha256": text_hash(source(cell))}
        cell["id"] = f"zh-{cell['id']}"[:64]
    ZH.mkdir(exist_ok=True)
    write(zh, nb)
    print(f"wrote {zh}: translate its markdown cells")


def stamp(name, indices):
    en, zh = read(EN / f"{name}.ipynb"), read(ZH / f"{name}.ipynb")
    for i in indices:
        cell, original = zh["cells"][i], en["cells"][i]
        if cell["cell_type"] != "markdown" or original["cell_type"] != "markdown":
            sys.exit(f"cell {i} is not a markdown cell on both sides")
        cell.setdefault("metadata", {})["zh"] = {"of": original["id"], "sha256": text_hash(source(original))}
    write(ZH / f"{name}.ipynb", zh)


def sync_code(name):
    en, zh = read(EN / f"{name}.ipynb"), read(ZH / f"{name}.ipynb")
    if [c["cell_type"] for c in en["cells"]] != [c["cell_type"] for c in zh["cells"]]:
        sys.exit("the two editions have different cells: add or remove the Chinese cells first")
    for a, b in zip(en["cells"], zh["cells"]):
        if a["cell_type"] == "code":
            b["source"] = a["source"]
    write(ZH / f"{name}.ipynb", zh)


def status():
    bad = 0
    for en in sorted(EN.glob("*.ipynb")):
        for line in problems(en, ZH / en.name):
            print(line)
            bad += 1
    print(f"{bad} problem(s)")


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["status"]
    if command == "init":
        init(rest[0])
    elif command == "stamp":
        stamp(rest[0], [int(i) for i in rest[1:]])
    elif command == "sync-code":
        sync_code(rest[0])
    else:
        status()
