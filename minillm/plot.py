"""Figures shared by the notebooks and the CLI: heatmaps, line plots, histograms.

Every helper draws on a matplotlib Axes (made for you when `ax` is None) and
returns it, so a notebook can put several panels side by side:

    fig, (left, right) = new_figure(ncols=2)
    attention_heatmap(probs, tokens, ax=left)
    line_plot(steps, {"train": train_loss, "eval": eval_loss}, ax=right, logy=True)
    save_figure(fig, "loss.png")            # atomic write, then the figure is closed

Two rules keep the figures working everywhere:

- Agg-safe: nothing here picks a backend or needs a display.  Notebooks show
  figures inline; the CLI and the tests run with MPLBACKEND=Agg and save PNGs.
- Chinese text is drawn as Chinese.  matplotlib's default font (DejaVu Sans)
  has no CJK glyphs, so on first use (`new_figure`, or any helper that sets a
  label) this module registers Noto Sans SC from the optional package
  `pylopdf-fonts-zh-cn` (the "zh" extra: `pip install -e ".[zh]"`) and sets
  rcParams["font.family"] = ["DejaVu Sans", "Noto Sans SC"]: Latin text stays
  DejaVu Sans, and each glyph DejaVu lacks falls back to Noto Sans SC.  Labels,
  titles, tick labels and legends are passed through unchanged.  Without the
  package, every label goes through `ascii_label` instead ("你" -> "U+4F60",
  so nothing warns about missing glyphs and the label still says which token it
  was), and one warning says how to install the extra.

Make figures with `new_figure` (or call `use_cjk_font()` first): matplotlib
fixes a text's font when the text is created, so axes made before the font is
registered keep DejaVu Sans for their tick labels.
"""

import functools
import importlib.resources
import pathlib
import warnings

import numpy as np

from minillm.atomic import atomic_open
from minillm.checks import check_array, check_choice, check_int
from minillm.lang import tr

# Figure size of one panel, in inches (width, height).
PANEL_SIZE = (4.8, 3.6)


def ascii_label(text):
    """str(text) with every non-ASCII character written as U+XXXX; control characters as \\xNN."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if code > 126:
            out.append(f"U+{code:04X}")
        elif code < 32:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


# The font: a package (not a system font) so that a fresh `pip install` draws the same glyphs on
# every machine.  Found with importlib.resources: no network, nothing happens at import time.
CJK_FONT_PACKAGE = "pylopdf_fonts_zh_cn"
CJK_FONT_FILE = "NotoSansSC-Regular.otf"
LATIN_FONT = "DejaVu Sans"      # matplotlib's own default: Latin text, digits and minus signs look as always
INSTALL_HINT = 'pip install -e ".[zh]"'


def _find_cjk_font_file():
    """Path of the packaged Noto Sans SC file, or None when the "zh" extra is not installed."""
    try:
        resource = importlib.resources.files(CJK_FONT_PACKAGE) / CJK_FONT_FILE
    except ModuleNotFoundError:
        return None
    path = pathlib.Path(str(resource))
    return path if path.is_file() else None


@functools.cache
def _cjk_font_family():
    """Register the CJK font once; its family name, or None (and one warning) when it is missing."""
    path = _find_cjk_font_file()
    if path is None:
        warnings.warn(f"minillm.plot: no CJK font installed, so Chinese labels are drawn as code points "
                      f"(U+4F60); for real glyphs install the zh extra: {INSTALL_HINT}", stacklevel=3)
        return None
    from matplotlib import font_manager

    if str(path) not in {entry.fname for entry in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()          # "Noto Sans SC"


def use_cjk_font():
    """Make figures draw CJK glyphs from now on (registers the font once); True if they will.

    new_figure and every helper call this; call it yourself only before making axes without them.
    The font family is set again whenever it is missing (after plt.rcdefaults() or a style sheet).
    """
    family = _cjk_font_family()
    if family is None:
        return False
    import matplotlib

    if family not in matplotlib.rcParams["font.family"]:
        # A list of concrete families: matplotlib (>= 3.6) takes each glyph from the first font that has it.
        matplotlib.rcParams["font.family"] = [LATIN_FONT, family]
    return True


def label_text(text):
    """What a figure shows for `text`: str(text) unchanged when the CJK font is available,
    otherwise ascii_label(text) (non-ASCII characters spelled as U+XXXX)."""
    return str(text) if use_cjk_font() else ascii_label(text)


def _pyplot():
    # Imported on first use so that `import minillm.plot` costs nothing and never touches a backend.
    import matplotlib.pyplot as plt

    return plt


def new_figure(nrows=1, ncols=1, *, panel_size=PANEL_SIZE, squeeze=True):
    """A figure with nrows x ncols panels of `panel_size` inches each; returns (fig, axes)."""
    check_int("nrows", nrows, low=1)
    check_int("ncols", ncols, low=1)
    width, height = panel_size
    use_cjk_font()                          # before the axes exist: their tick labels take the font family now
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=squeeze)
    return fig, axes


def _axes(ax):
    if ax is None:
        _, ax = new_figure()
    return ax


def _titles(ax, title, xlabel, ylabel):
    if title is not None:
        ax.set_title(label_text(title))
    if xlabel is not None:
        ax.set_xlabel(label_text(xlabel))
    if ylabel is not None:
        ax.set_ylabel(label_text(ylabel))


def _check_labels(name, labels, n, axis_name):
    if labels is None:
        return None
    labels = [label_text(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"{name} must have one label per {axis_name} ({n}), got {len(labels)}")
    return labels


def heatmap(matrix, *, ax=None, row_labels=None, col_labels=None, title=None, xlabel=None, ylabel=None,
            cmap="viridis", vmin=None, vmax=None, annotate=False, fmt="{:.2f}", colorbar=True):
    """Draw a 2-D array as colours: row i at the top, column j to the right (matrix[i, j]).

    annotate=True writes each value in its cell (only sensible for small matrices).
    """
    check_array("matrix", matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must have 2 dimensions (rows, cols), got shape {matrix.shape}")
    if matrix.dtype.kind not in "fiub":
        raise TypeError(f"matrix must hold numbers, got dtype {matrix.dtype}")
    n_rows, n_cols = matrix.shape
    row_labels = _check_labels("row_labels", row_labels, n_rows, "row")
    col_labels = _check_labels("col_labels", col_labels, n_cols, "column")
    ax = _axes(ax)
    values = matrix.astype(np.float64)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    if row_labels is not None:
        ax.set_yticks(range(n_rows), row_labels)
    if col_labels is not None:
        ax.set_xticks(range(n_cols), col_labels, rotation=90 if max(map(len, col_labels), default=0) > 3 else 0)
    if annotate:
        # Dark text on light cells, light text on dark cells, judged by the cell's actual colour
        # (relative luminance 0.299 R + 0.587 G + 0.114 B), so any colormap direction works.
        rgba = image.cmap(image.norm(values))
        luminance = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        for i in range(n_rows):
            for j in range(n_cols):
                colour = "black" if luminance[i, j] > 0.5 else "white"
                ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", color=colour, fontsize=8)
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    _titles(ax, title, xlabel, ylabel)
    return ax


def attention_heatmap(probs, query_tokens, key_tokens=None, *, ax=None, title=None, annotate=None):
    """Heatmap of one attention matrix: row i = query token i, column j = key token j.

    probs (Tq, Tk) is softmax output (each row sums to 1), so the colour scale is fixed to [0, 1]
    and figures of different heads or layers compare directly.  key_tokens defaults to the
    query tokens (self-attention).  Values are written in the cells when Tq, Tk <= 8 unless
    `annotate` says otherwise.  The default title and the axis labels are in the notebook's language.
    """
    check_array("probs", probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must have 2 dimensions (Tq, Tk); pick one batch and head, got shape {probs.shape}")
    key_tokens = query_tokens if key_tokens is None else key_tokens
    if annotate is None:
        annotate = max(probs.shape) <= 8
    title = tr("attention weights", "注意力权重") if title is None else title
    return heatmap(probs, ax=ax, row_labels=list(query_tokens), col_labels=list(key_tokens), title=title,
                   xlabel=tr("key (attended to)", "键（被关注）"), ylabel=tr("query (attending)", "查询（发出关注）"),
                   vmin=0.0, vmax=1.0,
                   annotate=annotate, cmap="viridis")


def line_plot(x, ys, *, ax=None, title=None, xlabel=None, ylabel=None, logy=False, styles=None,
              legend=True, markers=False):
    """Several curves over the same x: ys is a dict {label: y} (or a list of (label, y) pairs).

    styles optionally maps a label to a matplotlib format string ("--", ":", "o-").
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    pairs = list(ys.items()) if isinstance(ys, dict) else list(ys)
    if not pairs:
        raise ValueError("ys must hold at least one curve, got none")
    styles = styles or {}
    ax = _axes(ax)
    for label, y in pairs:
        y = np.asarray(y)
        if y.shape != x.shape:
            raise ValueError(f"ys[{label!r}] must have the shape of x {x.shape}, got {y.shape}")
        fmt = styles.get(label, "o-" if markers else "-")
        ax.plot(x, y, fmt, label=label_text(label))
    if logy:
        ax.set_yscale("log")
    if legend:
        ax.legend()
    ax.grid(True, alpha=0.3)
    _titles(ax, title, xlabel, ylabel)
    return ax


def histogram(samples, *, ax=None, bins=50, title=None, xlabel=None, ylabel=None, alpha=0.5):
    """Overlaid density histograms: samples is a dict {label: 1-D values} (or (label, values) pairs)."""
    check_int("bins", bins, low=1)
    pairs = list(samples.items()) if isinstance(samples, dict) else list(samples)
    if not pairs:
        raise ValueError("samples must hold at least one set of values, got none")
    ax = _axes(ax)
    for label, values in pairs:
        values = np.asarray(values, dtype=np.float64).ravel()
        ax.hist(values, bins=bins, density=True, alpha=alpha, label=label_text(label))
    ax.legend()
    _titles(ax, title, xlabel, tr("density", "密度") if ylabel is None else ylabel)
    return ax


def bar_plot(labels, values, *, ax=None, title=None, xlabel=None, ylabel=None):
    """One bar per label (e.g. a probability distribution over a small vocabulary)."""
    values = np.asarray(values, dtype=np.float64)
    labels = [label_text(s) for s in labels]
    if values.ndim != 1 or len(labels) != values.shape[0]:
        raise ValueError(f"values must be 1-D with one entry per label ({len(labels)}), got shape {values.shape}")
    ax = _axes(ax)
    ax.bar(range(len(labels)), values)
    ax.set_xticks(range(len(labels)), labels, rotation=90 if max(map(len, labels), default=0) > 3 else 0)
    _titles(ax, title, xlabel, ylabel)
    return ax


# ---------------------------------------------------------------------------- the figures the CLI writes

def loss_curve_figure(history, title=None):
    """Per-step training loss (faint), and the evaluated train/val losses (markers); history is
    minillm.train.Trainer.history."""
    fig, ax = new_figure()
    ax.plot(history["iter"], history["train_loss"], alpha=0.35, label=label_text(tr("batch loss", "批损失")))
    if history["eval_iter"]:
        ax.plot(history["eval_iter"], history["eval_train_loss"], "o-", label=label_text(tr("train (eval)", "训练集（评估）")))
        ax.plot(history["eval_iter"], history["val_loss"], "s-", label=label_text(tr("val (eval)", "验证集（评估）")))
    ax.set_xlabel(label_text(tr("step", "步数")))
    ax.set_ylabel(label_text(tr("cross-entropy (nats/token)", "交叉熵（奈特/词元）")))
    ax.set_title(label_text(tr("training loss", "训练损失") if title is None else title))
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def confusion_figures(results, label_names):
    """One annotated confusion-matrix panel per system (rows = true label, columns = predicted).

    results: {system name: {"confusion": K x K counts, "accuracy": float}}; label_names: the K labels.
    """
    fig, axes = new_figure(ncols=len(results), panel_size=(3.6, 3.2), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        heatmap(np.array(r["confusion"]), ax=ax, row_labels=label_names, col_labels=label_names, annotate=True,
                fmt="{:.0f}", colorbar=False, title=f"{name}: {tr('acc', '准确率')} {r['accuracy']:.2f}",
                xlabel=tr("predicted", "预测"), ylabel=tr("true", "真实"))
    fig.tight_layout()
    return fig


def cross_attention_figure(weights, target_tokens, source_tokens):
    """One panel per decoder block: its cross-attention (H, T, S) averaged over the heads;
    row t = the target token predicted at t, column s = the source token attended to."""
    fig, axes = new_figure(ncols=len(weights), squeeze=False)
    for i, w in enumerate(weights):
        attention_heatmap(w.mean(axis=0), target_tokens, source_tokens, ax=axes[0][i],
                          title=f"cross-attention, decoder block {i} (mean of heads)", annotate=False)
    fig.tight_layout()
    return fig


def save_figure(fig, path, *, dpi=100, fmt="png", close=True):
    """Write fig to path atomically (temporary file in the same folder, then os.replace).

    The figure is closed afterwards (close=False keeps it open) so long CLI runs do not leak memory.
    Returns the path.
    """
    check_choice("fmt", fmt, {"png", "pdf", "svg"})
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")
    if close:
        _pyplot().close(fig)
    return path
