"""The pages of the reading edition: a module beside its formulas, a notebook with its outputs, the indexes.

A code page lays a module out function by function, one row each: on the left the comment block
above the `def` (the ASCII formula as the editor shows it, then its LaTeX twin, a `# $$ ... $$`
line, typeset), the twins of the formula blocks inside the body, and the first paragraph of the
docstring; on the right the code, exactly as in the file.  The entries of docs/FORMULAS.md that cite the module come first, typeset, each linking
to the article's section, the notebook and the tests.
"""
import ast
import base64
import re

from minillm.site.render import escape, heading_ids, highlight_python, markdown_html, tex_html

TWIN = re.compile(r"^\s*# \$\$ (.+) \$\$\s*$")


# ------------------------------------------------------------------ the page around everything
def page(title, body, *, depth, lang="en", nav=""):
    """A whole HTML page; `depth` = folders below the site root (for the relative asset links)."""
    up = "../" * depth
    return (f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title>"
            f'<link rel="stylesheet" href="{up}assets/site.css"><script src="{up}assets/check.js" defer></script>'
            f'</head><body><nav><a href="{up}index.html">minillm</a> · <a href="{up}index.zh.html">中文</a> · '
            f'<a href="{up}formulas.html">formulas</a>{nav}</nav><main>{body}</main></body></html>\n')


# ------------------------------------------------------------------ code pages
def _anchors(tree):
    """[(first line of the def incl. decorators (0-based), qualname)] of every function, class and method."""
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            out.append((start, node.name, node))
            if isinstance(node, ast.ClassDef):
                for child in node.body:
                    if isinstance(child, ast.FunctionDef):
                        cstart = min([child.lineno] + [d.lineno for d in child.decorator_list]) - 1
                        out.append((cstart, f"{node.name}.{child.name}", child))
    return sorted(out, key=lambda a: a[0])


def _comment_start(lines, start, floor):
    """The first line of the comment block right above line `start` (not above `floor`)."""
    i = start
    while i - 1 >= floor and lines[i - 1].lstrip().startswith("#"):
        i -= 1
    return i


def module_rows(source):
    """(module docstring, [(qualname or None, comment lines, docstring, code lines)]) in file order."""
    tree = ast.parse(source)
    lines = source.split("\n")
    doc = ast.get_docstring(tree) or ""
    body_start = tree.body[0].end_lineno if doc and tree.body else 0
    anchors = _anchors(tree)
    starts = []
    floor = body_start
    for start, name, node in anchors:
        c = _comment_start(lines, start, floor)
        starts.append((c, start, name, node))
        floor = start + 1
    rows = []
    first = starts[0][0] if starts else len(lines)
    preamble = lines[body_start:first]
    if any(line.strip() for line in preamble):
        rows.append((None, [], "", preamble))
    for k, (c, start, name, node) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        code = lines[start:end]
        while code and not code[-1].strip():
            code.pop()
        rows.append((name, lines[c:start], ast.get_docstring(node) or "", code))
    return doc, rows


def formula_block_html(comment_lines):
    """The comment block: ASCII lines as the editor shows them, each `# $$ ... $$` twin typeset."""
    parts, ascii_lines = [], []

    def flush():
        text = "\n".join(ascii_lines).strip("\n")
        if text.strip(" -=#"):
            parts.append(f'<pre class="ascii">{escape(text)}</pre>')
        ascii_lines.clear()

    for line in comment_lines:
        twin = TWIN.match(line)
        if twin:
            flush()
            parts.append(f'<div class="twin">{tex_html(twin.group(1), display=True)}</div>')
        else:
            ascii_lines.append(re.sub(r"^\s*# ?", "", line))
    flush()
    return "".join(parts)


def code_page(relpath, source, entries, depth):
    """The HTML of one module's page; `entries`: the FORMULAS.md entries (title, anchor, html) citing it."""
    doc, rows = module_rows(source)
    body = [f"<h1><code>{escape(relpath)}</code></h1>"]
    if entries:
        body.append('<section class="formulas"><h2>The article\'s formulas here (docs/FORMULAS.md)</h2>')
        for title, anchor, html in entries:
            up = "../" * depth
            body.append(f'<article class="entry"><h3><a href="{up}formulas.html#{anchor}">{title}</a></h3>{html}</article>')
        body.append("</section>")
    if doc:
        body.append(f'<pre class="doc module" id="module">{escape(doc)}</pre>')
    body.append('<div class="rows">')
    for name, comments, docstring, code in rows:
        left = ""
        if name:
            left += f'<h3 class="name"><a href="#{escape(name)}">{escape(name)}</a></h3>'
        left += formula_block_html(comments)
        inside = [line for line in code if TWIN.match(line)]    # twins of formula blocks inside the body
        if inside:
            left += '<p class="inside">inside:</p>' + "".join(
                f'<div class="twin">{tex_html(TWIN.match(line).group(1), display=True)}</div>' for line in inside)
        if docstring:
            left += f'<p class="doc">{escape(docstring.split(chr(10) + chr(10))[0])}</p>'
        anchor = f' id="{escape(name)}"' if name else ""
        body.append(f'<div class="row"{anchor}><div class="prose">{left}</div>'
                    f'<div class="code"><pre class="hl">{highlight_python(chr(10).join(code))}</pre></div></div>')
    body.append("</div>")
    return "".join(body)


# ------------------------------------------------------------------ notebook pages
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _output_html(out):
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="out">{escape(_ANSI.sub("", "".join(out.get("text", ""))))}</pre>'
    if kind == "error":
        return f'<pre class="out error">{escape(_ANSI.sub("", chr(10).join(out.get("traceback", []))))}</pre>'
    data = out.get("data", {})
    if "image/png" in data:
        png = "".join(data["image/png"]).replace("\n", "")
        base64.b64decode(png, validate=True)                # a damaged image fails the build, not the reader
        return f'<img class="figure" alt="figure" src="data:image/png;base64,{png}">'
    if "text/plain" in data:
        return f'<pre class="out">{escape("".join(data["text/plain"]))}</pre>'
    return ""


def notebook_page(nb, entries, depth):
    """The HTML of one executed notebook: the docs/FORMULAS.md entries it works out (title, anchor, their
    typeset "Standard." form) first, then markdown typeset, code highlighted, outputs and figures inline."""
    body = []
    if entries:
        up = "../" * depth
        body.append('<details class="formulas"><summary>The article\'s formulas this notebook works out '
                    '(docs/FORMULAS.md)</summary>')
        for title, anchor, html in entries:
            body.append(f'<article class="entry"><h3><a href="{up}formulas.html#{anchor}">{title}</a></h3>{html}'
                        f"</article>")
        body.append("</details>")
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "markdown":
            body.append(f'<div class="md">{heading_ids(markdown_html(source))}</div>')
        elif cell["cell_type"] == "code":
            outputs = "".join(_output_html(o) for o in cell.get("outputs", []))
            body.append(f'<div class="cell"><pre class="hl">{highlight_python(source)}</pre>{outputs}</div>')
    return "".join(body)
