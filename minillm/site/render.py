"""Markdown and LaTeX to HTML, at build time: the site ships MathML, never a math script or a CDN.

    tex_html(r"\\frac{a}{b}", display=False)    -> <math ...>...</math>   (latex2mathml)
    markdown_html(text)                          -> HTML; $...$ and $$...$$ typeset, `code` left alone

Chromium (and Firefox, Safari) draw MathML Core natively, with the system's fonts.
"""
import html
import re

from latex2mathml.converter import convert

# code spans and blocks, display math (two dollars), inline math (one; not an escaped or a lone dollar)
_TOKEN = re.compile(r"```.*?```|`[^`\n]*`|\$\$(.+?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]+?)\$(?!\$)", re.S)


class MathError(ValueError):
    """A formula latex2mathml cannot convert: the build names the page and the formula."""


def tex_html(tex, display=False):
    """One formula as MathML; a MathError (not raw TeX on the page) when it cannot be converted."""
    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception as e:                                  # latex2mathml raises many kinds
        raise MathError(f"cannot typeset {tex!r}: {e}") from None
    return mathml


def protect_math(text):
    """(text with every formula replaced by a placeholder, {placeholder: MathML})."""
    formulas = {}

    def swap(match):
        display, inline = match.group(1), match.group(2)
        if display is None and inline is None:
            return match.group(0)                           # code: untouched
        key = f"MATH{len(formulas)}X"
        formulas[key] = tex_html(display if display is not None else inline, display=display is not None)
        return key

    return _TOKEN.sub(swap, text), formulas


def restore_math(rendered, formulas):
    for key, mathml in formulas.items():
        rendered = rendered.replace(key, mathml)
    return rendered


def _markdown():
    import mistune

    return mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])


_MD = None


def markdown_html(text):
    """Markdown (a notebook cell, FORMULAS.md) to HTML with its math typeset."""
    global _MD
    if _MD is None:
        _MD = _markdown()
    protected, formulas = protect_math(text)
    return restore_math(_MD(protected), formulas)


def inline_html(text):
    """One line of Markdown (a title) as inline HTML: its math typeset, no surrounding <p>."""
    return markdown_html(text).strip().removeprefix("<p>").removesuffix("</p>")


def heading_ids(rendered, prefix=""):
    """Give every <h2>/<h3> an id: "s7" for a heading "7. Generation", else a slug of its text."""
    def add(match):
        level, inner = match.group(1), match.group(2)
        text = re.sub(r"<[^>]+>", "", inner)
        number = re.match(r"\s*(\d+)\.", text)
        slug = f"s{number.group(1)}" if number else prefix + re.sub(r"[^\w]+", "-", text.lower()).strip("-")[:60]
        return f'<h{level} id="{slug}">{inner}</h{level}>'
    return re.sub(r"<h([23])>(.*?)</h\1>", add, rendered, flags=re.S)


def escape(text):
    return html.escape(text, quote=True)


def highlight_python(code):
    """Python source as highlighted HTML spans (pygments, CSS classes of STYLE_CSS)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(code, PythonLexer(), HtmlFormatter(nowrap=True))


def pygments_css():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="friendly").get_style_defs(".hl")
