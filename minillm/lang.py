"""The language a notebook speaks: English, or Chinese in the Chinese edition (notebooks/zh/).

The two editions run the same code cells, so a word the code prints or draws carries both
translations and picks one when it runs:

    plt.title(tr("training loss", "训练损失"))
    print(tr("perplexity", "困惑度"), ppl)

The language is Chinese when the environment variable MINILLM_LANG is "zh", or, without it, when
the working folder is notebooks/zh (where Jupyter and the test suite run a Chinese notebook);
English otherwise.
"""
import os
from pathlib import Path

LANGUAGES = ("en", "zh")


def language():
    """ "zh" or "en" (see the module docstring); read on every call, so a notebook may change folder."""
    chosen = os.environ.get("MINILLM_LANG", "").strip().lower()
    if chosen:
        if chosen not in LANGUAGES:
            raise ValueError(f"MINILLM_LANG must be one of {', '.join(LANGUAGES)}, got {chosen!r}")
        return chosen
    cwd = Path.cwd()
    return "zh" if cwd.name == "zh" and cwd.parent.name == "notebooks" else "en"


def tr(en, zh):
    """`en` or `zh`, whichever is the language now."""
    if not isinstance(en, str) or not isinstance(zh, str):
        raise TypeError(f"tr takes the English and the Chinese text as two str, got {type(en).__name__} and "
                        f"{type(zh).__name__}")
    return zh if language() == "zh" else en
