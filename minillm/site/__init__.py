"""The reading edition: `minillm site OUT` (needs the `site` extra: pip install -e ".[site]").

    render.py   Markdown and LaTeX to HTML at build time (MathML: no script, no CDN)
    pages.py    the code pages (formula block beside the code), the notebook pages, the page frame
    build.py    the whole site: indexes, docs/FORMULAS.md, code and test pages, both editions' notebooks
    check.py    the browser check: headless Chromium loads a page, and nothing may fail
"""
