"""The reading edition (`minillm site`): built from the clone, checked in headless Chromium.

A subset is built here (a layer, a model, one notebook in both editions) to keep the suite fast;
`minillm site OUT` builds everything.  The browser test needs Chromium: .ci/run installs it and
sets MINILLM_BROWSER_TESTS=required, so that in CI a missing browser fails instead of skipping.
"""
import os
import re
from pathlib import Path

import pytest

pytest.importorskip("latex2mathml")
pytest.importorskip("mistune")

from minillm.site.build import build, code_modules, formula_entries  # noqa: E402
from minillm.site.check import WIDTHS, check_page, find_browser  # noqa: E402
from minillm.site.pages import module_rows  # noqa: E402
from minillm.site.render import markdown_html  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["code/layers/attention.html", "code/models/gpt.html", "nb/09_output_layer.html", "nb/zh/09_output_layer.html"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    build(out, notebooks=["09_output_layer"], log=lambda line: None)
    return out


def browser():
    found = find_browser()
    if found is None:
        if os.environ.get("MINILLM_BROWSER_TESTS") == "required":
            pytest.fail("MINILLM_BROWSER_TESTS=required but no Chromium is installed (apt-get install chromium)")
        pytest.skip("no Chromium here (apt-get install chromium); CI installs it")
    return found


# ------------------------------------------------------------------ the pages, without a browser
def test_every_module_gets_a_page_and_every_formula_entry_a_section(site):
    for module in code_modules():
        assert (site / ("code/" + module[len("minillm/"):-3] + ".html")).is_file(), module
    formulas = (site / "formulas.html").read_text(encoding="utf-8")
    for _, anchor, _, _, _ in formula_entries():
        assert f'id="{anchor}"' in formulas


def test_every_formula_of_formulas_md_is_typeset_on_its_code_page(site):
    for title, anchor, body, modules, _ in formula_entries():
        for module in modules:
            page = site / ("code/" + module[len("minillm/"):-3] + ".html")
            if module in code_modules():
                html = page.read_text(encoding="utf-8")
                assert f'formulas.html#{anchor}"' in html, (module, title)
    norm = (site / "code/layers/norm.html").read_text(encoding="utf-8")
    assert "<math" in norm and "$" not in re.sub(r"<pre.*?</pre>|<code>.*?</code>", "", norm, flags=re.S)


def test_code_rows_pair_each_formula_block_with_its_def():
    source = (ROOT / "minillm/layers/norm.py").read_text(encoding="utf-8")
    _, rows = module_rows(source)
    names = [name for name, *_ in rows]
    assert names.index("layernorm_forward") < names.index("layernorm_backward")
    comments, code = next((c, k) for n, c, _, k in rows if n == "layernorm_forward")
    assert any("xhat = (x - mean) * rstd" in line for line in comments)
    assert code[0].startswith("def layernorm_forward(")


def test_math_is_rendered_at_build_time_and_code_is_left_alone():
    html = markdown_html(r"The logits $A = QK^\top/\sqrt{d_k}$, and `x$y` stays code; $$P = \operatorname{softmax}(A)$$")
    assert html.count("<math") == 2 and "\\sqrt" not in html and "<code>x$y</code>" in html


def test_notebook_pages_link_both_editions_and_the_formulas(site):
    en = (site / "nb/09_output_layer.html").read_text(encoding="utf-8")
    zh = (site / "nb/zh/09_output_layer.html").read_text(encoding="utf-8")
    assert 'lang="zh"' in zh and "交叉熵" in zh and "formulas.html#" in en
    # the docs/FORMULAS.md entries the notebook works out, typeset at its top, with links to code and tests
    top = en.split('<div class="md">', 1)[0]
    assert "<math" in top and 'href="../code/layers/softmax.html"' in top and 'href="../tests/' in top
    assert "data:image/png;base64," in en                      # the figures, executed at build time
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="nb/09_output_layer.html"' in index and 'href="index.zh.html"' in index
    assert 'href="nb/zh/09_output_layer.html"' in (site / "index.zh.html").read_text(encoding="utf-8")
    assert re.search(r'<(?:script|link|img)[^>]+(?:src|href)="https?:', en) is None     # nothing to fetch


# ------------------------------------------------------------------ in a real browser
@pytest.mark.parametrize("rel", CHECKED)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_page_passes_in_chromium(site, rel, width):
    browser()
    shot = site / "screenshots" / f"{rel.replace('/', '_')[:-5]}-{width}.png"
    assert check_page(site / rel, width, shot) == []
    assert shot.stat().st_size > 10_000


def test_the_browser_check_fails_an_untypeset_formula_and_a_network_request(site, tmp_path):
    browser()
    page = (site / "code/layers/norm.html").read_text(encoding="utf-8")
    raw = site / "code/layers/raw.html"
    raw.write_text(page.replace("</main>", r"<p>The weights \frac{1}{2} and $P = softmax(A)$.</p></main>"),
                   encoding="utf-8")
    problems = check_page(raw, "laptop", tmp_path / "raw.png")
    assert any(p.startswith("untypeset math") for p in problems), problems
    net = site / "code/layers/net.html"
    net.write_text(page.replace("</main>", '<img alt="x" src="https://cdn.example.invalid/mathjax.png"></main>'),
                   encoding="utf-8")
    problems = check_page(net, "laptop", tmp_path / "net.png")
    assert any(p.startswith("network request: https://cdn.example.invalid") for p in problems), problems
    narrow = site / "code/layers/narrow.html"
    narrow.write_text(page.replace("</head>", "<style>.row { display: block; }</style></head>"), encoding="utf-8")
    assert any(p.startswith("side by side breaks") for p in check_page(narrow, "laptop", tmp_path / "n.png"))
