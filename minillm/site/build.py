"""`minillm site OUT`: build the reading edition from the clone's own sources.

    OUT/index.html, index.zh.html     the notebooks in the reading order of docs/SYLLABUS.md (English, Chinese)
    OUT/formulas.html                 docs/FORMULAS.md typeset, every path a link
    OUT/code/<module>.html            layers/, kernels/, models/, tokenizers/, train.py, generate.py
    OUT/tests/<test file>.html        the tests the formulas cite, one anchor per test
    OUT/nb/<name>.html, nb/zh/...     every notebook of both editions, executed now, with outputs and figures
    OUT/assets/                       the stylesheet and the page check; nothing is loaded from the network

Executed notebooks are cached under OUT/.cache by a hash of the notebook and of the package's
sources, so a second build re-runs only what changed.
"""
import hashlib
import json
import re
import time
from pathlib import Path

from minillm.atomic import write_text_atomic
from minillm.datasets.corpora import PROJECT_DIR
from minillm.site.pages import code_page, notebook_page, page
from minillm.site.render import escape, inline_html, markdown_html, pygments_css

CODE_GLOBS = ("minillm/layers/*.py", "minillm/kernels/*.py", "minillm/models/*.py", "minillm/tokenizers/*.py",
              "minillm/train.py", "minillm/generate.py")
ASSETS = Path(__file__).resolve().parent / "assets"


def code_modules(root=PROJECT_DIR):
    """The modules that get a code page, as paths relative to the clone."""
    found = []
    for pattern in CODE_GLOBS:
        found += [p.relative_to(root).as_posix() for p in sorted(root.glob(pattern)) if p.name != "__init__.py"]
    return found


def code_href(module):
    """minillm/layers/norm.py -> code/layers/norm.html"""
    return "code/" + module[len("minillm/"):-3] + ".html"


def notebook_href(stem, lang):
    return f"nb/{'zh/' if lang == 'zh' else ''}{stem}.html"


# ------------------------------------------------------------------ docs/FORMULAS.md
def slug(text):
    return re.sub(r"[^\w]+", "-", re.sub(r"<[^>]+>|\$[^$]*\$", "", text).lower()).strip("-")[:70] or "entry"


def formula_entries(root=PROJECT_DIR):
    """[(title, anchor, markdown, modules cited, notebooks cited)] of docs/FORMULAS.md, one per ## / ### heading."""
    text = (root / "docs" / "FORMULAS.md").read_text(encoding="utf-8")
    entries, seen = [], set()
    for block in re.split(r"(?m)^(?=#{2,3} )", text):
        heading = re.match(r"#{2,3} (.+)", block)
        if not heading:
            continue
        title = heading.group(1).strip()
        anchor = slug(title)
        while anchor in seen:
            anchor += "-2"
        seen.add(anchor)
        body = _section_links(block[heading.end():])
        modules = sorted(set(re.findall(r"\bminillm/[\w/]+\.py\b", body)))
        notebooks = sorted(set(re.findall(r"\bnotebooks/(\d\d_\w+)", body)))
        entries.append((title, anchor, body, modules, notebooks))
    return entries


def _section_links(markdown):
    """In a "- **Notebook.**" bullet, each "§N" after `notebooks/NN_name` links to that notebook's section N."""
    def bullet(match):
        text = match.group(0)
        parts = re.split(r"(notebooks/\d\d_\w+)", text)     # [before, stem 1, after 1, stem 2, after 2, ...]
        for k in range(2, len(parts), 2):
            stem = parts[k - 1][len("notebooks/"):]
            parts[k] = re.sub(r"(?<![\w\[])§(\d+)", lambda m: f"[§{m.group(1)}](SITE/{notebook_href(stem, 'en')}"
                                                               f"#s{m.group(1)})", parts[k])
        return "".join(parts)
    return re.sub(r"(?m)^- \*\*Notebook\.\*\*.*(?:\n  .*)*", bullet, markdown)


def link_paths(rendered, depth):
    """Every `minillm/x.py`, `notebooks/NN_name` and `tests/test_x.py::name` in rendered HTML becomes a link."""
    up = "../" * depth

    def module(m):
        path = m.group(1)
        return f'<a href="{up}{code_href(path)}"><code>{path}</code></a>' if path.startswith("minillm/") else m.group(0)

    def notebook(m):
        stem = m.group(1)
        return (f'<a href="{up}{notebook_href(stem, "en")}"><code>notebooks/{stem}</code></a> '
                f'(<a href="{up}{notebook_href(stem, "zh")}">中文</a>)')

    def test(m):
        file, name = m.group(1), m.group(2)
        return f'<a href="{up}tests/{file[:-3]}.html{"#" + name if name else ""}"><code>{m.group(0)[6:-7]}</code></a>'

    rendered = rendered.replace('href="SITE/', f'href="{up}')
    rendered = re.sub(r"<code>(minillm/[\w/]+\.py)</code>", module, rendered)
    rendered = re.sub(r"<code>notebooks/(\d\d_\w+?)(?:\.ipynb)?</code>", notebook, rendered)
    rendered = re.sub(r"<code>tests/(test_\w+\.py)(?:::(test_\w+))?</code>", test, rendered)
    return rendered


# ------------------------------------------------------------------ notebooks, executed with a cache
def source_hash(root=PROJECT_DIR):
    h = hashlib.sha256()
    for path in sorted((root / "minillm").rglob("*.py")):
        if "site" not in path.relative_to(root / "minillm").parts:    # the site's own code changes no output
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def executed(path, cache_dir, package_hash, log):
    """The notebook at `path` with its outputs: from the cache when neither it nor the package changed."""
    import nbclient
    import nbformat

    key = hashlib.sha256(path.read_bytes() + package_hash.encode()).hexdigest()[:16]
    cached = cache_dir / f"{path.parent.name}-{path.stem}-{key}.ipynb"
    if cached.is_file():
        log(f"  {path.relative_to(PROJECT_DIR)}: cached")
        return json.loads(cached.read_text(encoding="utf-8"))
    start = time.perf_counter()
    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cached, nbformat.writes(nb))
    log(f"  {path.relative_to(PROJECT_DIR)}: executed in {time.perf_counter() - start:.0f} s")
    return json.loads(nbformat.writes(nb))


# ------------------------------------------------------------------ the indexes
def reading_order(syllabus):
    """[(number, stem, what it teaches)] from the first table of a SYLLABUS page."""
    rows = re.findall(r"^\| (\d\d) \| `notebooks/(?:zh/)?(\d\d_\w+)` \| ([^|]+) \|", syllabus, re.M)
    return [(n, stem, what.strip()) for n, stem, what in rows]


def index_page(lang, root, modules, stems):
    syllabus = (root / "docs" / ("zh/SYLLABUS.md" if lang == "zh" else "SYLLABUS.md")).read_text(encoding="utf-8")
    zh = lang == "zh"
    rows = []
    for number, stem, what in reading_order(syllabus):
        if stem not in stems:
            continue
        rows.append(f'<tr><td>{number}</td><td><a href="{notebook_href(stem, lang)}">{stem}</a></td>'
                    f"<td>{inline_html(what)}</td></tr>")
    groups = {}
    for m in modules:
        groups.setdefault(m.rsplit("/", 1)[0], []).append(m)
    code = "".join(f"<h3>{escape(g)}/</h3><p>" + " · ".join(
        f'<a href="{code_href(m)}">{escape(m.rsplit("/", 1)[1])}</a>' for m in ms) + "</p>" for g, ms in groups.items())
    title = "minillm：阅读版" if zh else "minillm: the reading edition"
    intro = ("笔记本按教学大纲的顺序排列，每个都已执行，附有输出和图；代码页把每个模块的公式排版后与代码并排。"
             if zh else "The notebooks in the syllabus's reading order, each executed with its outputs and figures; "
                        "the code pages set every module's formulas, typeset, beside its code.")
    head = ("<th>编号</th><th>笔记本</th><th>内容</th>" if zh else "<th>#</th><th>notebook</th><th>what it teaches</th>")
    other = ('<a href="index.html">English</a>' if zh else '<a href="index.zh.html">中文版</a>')
    body = (f"<h1>{title}</h1><p>{intro} {other} · <a href=\"formulas.html\">docs/FORMULAS.md</a></p>"
            f"<h2>{'笔记本' if zh else 'Notebooks'}</h2><table><tr>{head}</tr>{''.join(rows)}</table>"
            f"<h2>{'代码' if zh else 'Code'}</h2>{code}")
    return page(title, body, depth=0, lang=lang)


# ------------------------------------------------------------------ the build
def build(out, *, notebooks=None, modules=None, root=PROJECT_DIR, log=print):
    """Build the site into `out`.  notebooks: stems to include (default all, both editions); modules: code pages
    (default all of CODE_GLOBS).  Returns the list of pages written (relative paths)."""
    out = Path(out)
    written = []

    def write(rel, html):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, html)
        written.append(rel)

    (out / "assets").mkdir(parents=True, exist_ok=True)
    write("assets/site.css", (ASSETS / "site.css").read_text(encoding="utf-8") + "\n" + pygments_css())
    write("assets/check.js", (ASSETS / "check.js").read_text(encoding="utf-8"))

    modules = code_modules(root) if modules is None else list(modules)
    entries = formula_entries(root)
    all_stems = [p.stem for p in sorted((root / "notebooks").glob("*.ipynb"))]
    stems = all_stems if notebooks is None else [s for s in all_stems if s in set(notebooks)]

    log(f"formulas: {len(entries)} entries")
    formulas = ['<h1>The article\'s formulas and claims (docs/FORMULAS.md)</h1>']
    for title, anchor, body, _, _ in entries:
        formulas.append(f'<section id="{anchor}"><h2>{inline_html(title)}</h2>{link_paths(markdown_html(body), 0)}'
                        f"</section>")
    write("formulas.html", page("formulas", "".join(formulas), depth=0))

    log(f"code pages: {len(modules)} modules")
    for module in modules:
        cited = [(inline_html(t), a, link_paths(markdown_html(_standard(b)), module.count("/")))
                 for t, a, b, ms, _ in entries if module in ms]
        depth = module.count("/")
        html = code_page(module, (root / module).read_text(encoding="utf-8"), cited, depth)
        write(code_href(module), page(module, html, depth=depth))

    tests = sorted({f for _, _, b, _, _ in entries for f in re.findall(r"\btests/(test_\w+)\.py", b)})
    log(f"test pages: {len(tests)} files")
    for name in tests:
        path = root / "tests" / f"{name}.py"
        if path.is_file():
            write(f"tests/{name}.html", page(f"tests/{name}.py", code_page(f"tests/{name}.py", path.read_text(
                encoding="utf-8"), [], 1), depth=1))

    package_hash = source_hash(root)
    cache_dir = out / ".cache"
    todo = [(root / "notebooks" / f"{s}.ipynb", "en") for s in stems]
    todo += [(root / "notebooks" / "zh" / f"{s}.ipynb", "zh") for s in stems
             if (root / "notebooks" / "zh" / f"{s}.ipynb").is_file()]
    log(f"notebooks: {len(todo)} (both editions), executed or taken from {cache_dir}")
    for k, (path, lang) in enumerate(todo, 1):
        log(f"[{k}/{len(todo)}] {path.relative_to(root)}")
        nb = executed(path, cache_dir, package_hash, log)
        cited = [(inline_html(t), a, markdown_html(_standard(b, notebook=True))) for t, a, b, _, ns in entries
                 if path.stem in ns]
        rel = notebook_href(path.stem, lang)
        depth = rel.count("/")
        body = notebook_page(nb, cited, depth)
        write(rel, page(path.stem, link_paths(body, depth), depth=depth, lang=lang))

    write("index.html", index_page("en", root, modules, stems))
    write("index.zh.html", index_page("zh", root, modules, stems))
    log(f"wrote {len(written)} files to {out}")
    return written


def _standard(entry_markdown, notebook=False):
    """The entry's "Standard." bullet and the bullets that point on: to the code and the notebook (a code page),
    to the code and the tests (a notebook page)."""
    wanted = ("- **Standard.", "- **Code.", "- **Tests.") if notebook else ("- **Standard.", "- **Code.",
                                                                             "- **Notebook.")
    keep = [b for b in re.split(r"(?m)^(?=- \*\*)", entry_markdown) if b.startswith(wanted)]
    return "".join(keep) or entry_markdown
