"""minillm.plot: figures render headless, Chinese labels get real glyphs (or code points without the
font), saves are atomic, bad input is named."""
import io
import os
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from minillm import plot


def test_ascii_label_spells_cjk_as_code_points():
    assert plot.ascii_label("你好 ok") == "U+4F60U+597D ok"
    assert plot.ascii_label("a\tb") == "a\\x09b"
    assert plot.ascii_label(3) == "3"


def _chinese_figure():
    """Chinese in every kind of text a figure has: title, axis labels, tick labels, legend, annotation."""
    fig, (left, right) = plot.new_figure(ncols=2)
    plot.attention_heatmap(np.array([[1.0, 0.0], [0.25, 0.75]]), ["我", "爱"], ax=left, title="注意力权重")
    plot.line_plot(np.arange(3), {"训练": np.arange(3.0)}, ax=right, title="损失", xlabel="步数", ylabel="交叉熵")
    right.annotate(plot.label_text("最低点"), (0, 0))                      # raw matplotlib text: through label_text
    return fig


def _render_png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    matplotlib.pyplot.close(fig)
    return buffer.getvalue()


def test_chinese_labels_render_with_real_glyphs():
    # The "zh" extra is part of the "test" extra, so the font must be there: no skip.
    assert plot.use_cjk_font(), f"the CJK font package is missing: {plot.INSTALL_HINT}"
    assert "Noto Sans SC" in matplotlib.rcParams["font.family"]
    assert matplotlib.rcParams["font.family"][0] == "DejaVu Sans"            # Latin text unchanged
    with matplotlib.rc_context({"font.family": ["sans-serif"]}):               # e.g. a style sheet reset it
        assert plot.use_cjk_font() and "Noto Sans SC" in matplotlib.rcParams["font.family"]
    with warnings.catch_warnings():
        # matplotlib warns "Glyph 25105 (\N{CJK UNIFIED IDEOGRAPH-6211}) missing from font(s) DejaVu Sans."
        # for every character no font in the family list has: turned into an error here.
        warnings.simplefilter("error")
        fig = _chinese_figure()
        left, right = fig.axes[0], fig.axes[1]                                 # axes[2] is the colorbar
        assert left.get_title() == "注意力权重" and right.get_xlabel() == "步数"
        assert [t.get_text() for t in left.get_yticklabels()] == ["我", "爱"]
        assert [t.get_text() for t in right.get_legend().get_texts()] == ["训练"]
        png = _render_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_the_font_labels_fall_back_to_code_points_and_warn_once(monkeypatch):
    monkeypatch.setattr(plot, "_find_cjk_font_file", lambda: None)          # as if the zh extra were missing
    plot._cjk_font_family.cache_clear()
    try:
        with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):          # no CJK font in the family list
            with pytest.warns(UserWarning) as record:
                assert plot.label_text("我 ok") == "U+6211 ok"
                assert not plot.use_cjk_font()
                fig = _chinese_figure()
            messages = [str(w.message) for w in record]
            assert len(messages) == 1 and plot.INSTALL_HINT in messages[0] and "\n" not in messages[0]
            assert fig.axes[0].get_title() == "U+6CE8U+610FU+529BU+6743U+91CD"
            assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["U+6211", "U+7231"]
            with warnings.catch_warnings():
                warnings.simplefilter("error")                                 # ASCII only: no missing glyph
                _render_png(fig)
    finally:
        plot._cjk_font_family.cache_clear()                                    # the next use finds the font again


def test_attention_heatmap_labels_and_colour_scale(tmp_path):
    probs = np.array([[1.0, 0.0], [0.25, 0.75]])
    fig, ax = plot.new_figure()
    plot.attention_heatmap(probs, ["我", "ok"], ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["我", "ok"]                       # passed through: the CJK font draws it
    assert ax.images[0].get_clim() == (0.0, 1.0)
    # Small matrices get their values written in the cells.
    assert sorted(t.get_text() for t in ax.texts) == ["0.00", "0.25", "0.75", "1.00"]
    path = plot.save_figure(fig, tmp_path / "att.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")] == []


def test_line_plot_draws_each_curve_with_its_label():
    x = np.arange(5)
    ax = plot.line_plot(x, {"a": x ** 2, "b": -x}, logy=False)
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [0, 1, 4, 9, 16])
    matplotlib.pyplot.close(ax.figure)


def test_histogram_and_bar_plot_draw_what_they_are_given():
    ax = plot.histogram({"a": np.zeros(10), "b": np.ones(10)}, bins=5)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    matplotlib.pyplot.close(ax.figure)
    ax = plot.bar_plot(["x", "猫"], np.array([0.25, 0.75]))
    assert [p.get_height() for p in ax.patches] == [0.25, 0.75]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "猫"]
    matplotlib.pyplot.close(ax.figure)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"matrix must have 2 dimensions .* got shape \(3,\)"):
        plot.heatmap(np.zeros(3))
    with pytest.raises(ValueError, match=r"row_labels must have one label per row \(2\), got 3"):
        plot.heatmap(np.zeros((2, 2)), row_labels=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"ys\['y'\] must have the shape of x \(3,\), got \(2,\)"):
        plot.line_plot(np.arange(3), {"y": np.arange(2)})
    with pytest.raises(TypeError, match=r"matrix must be a numpy.ndarray, got a list"):
        plot.heatmap([[1.0]])
    with pytest.raises(ValueError, match=r"values must be 1-D with one entry per label \(2\), got shape \(3,\)"):
        plot.bar_plot(["a", "b"], np.zeros(3))
    with pytest.raises(ValueError, match=r"fmt must be one of \['pdf', 'png', 'svg'\], got 'jpg'"):
        plot.save_figure(None, "x.jpg", fmt="jpg")
    matplotlib.pyplot.close("all")


def test_annotations_stay_readable_whatever_the_colormap_direction():
    import matplotlib

    matplotlib.use("Agg")
    from minillm.plot import heatmap, new_figure

    m = np.array([[58, 2], [3, 57]])
    for cmap in ("Blues", "viridis"):  # Blues: high = dark; viridis: high = light
        fig, ax = new_figure()
        heatmap(m, ax=ax, cmap=cmap, annotate=True, fmt="{:.0f}")
        colours = {t.get_text(): t.get_color() for t in ax.texts}
        high, low = ("white", "black") if cmap == "Blues" else ("black", "white")
        assert colours["58"] == high and colours["2"] == low, (cmap, colours)


def test_the_cli_figures_draw_one_panel_per_system_or_block():
    history = {"iter": [0, 1, 2], "train_loss": [3.0, 2.5, 2.0], "lr": [1e-3] * 3, "eval_iter": [2],
               "val_loss": [2.2], "eval_train_loss": [2.1]}
    ax = plot.loss_curve_figure(history, title="loss").axes[0]
    assert [line.get_label() for line in ax.lines] == ["batch loss", "train (eval)", "val (eval)"]
    results = {"a": {"confusion": [[3, 1], [0, 4]], "accuracy": 0.875}, "b": {"confusion": [[2, 2], [2, 2]],
                                                                             "accuracy": 0.5}}
    fig = plot.confusion_figures(results, ["blog (0)", "news (1)"])
    assert [a.get_title() for a in fig.axes] == ["a: acc 0.88", "b: acc 0.50"]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["0", "1", "3", "4"]
    weights = [np.full((2, 3, 4), 0.25), np.full((2, 3, 4), 0.25)]            # 2 decoder blocks, (H, T, S)
    fig = plot.cross_attention_figure(weights, ["le", "chat", "</s>"], ["the", "cat", "sat", "</s>"])
    assert len(fig.axes) == 4 and fig.axes[0].images[0].get_array().shape == (3, 4)      # 2 panels + colorbars
    plot._pyplot().close("all")
