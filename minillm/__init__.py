"""minillm: language models from N-grams to Transformers, in NumPy you can read next to the math.

The names the article's code imports from transformers are importable from here too,

    from minillm import BertModel, BertTokenizer       # BertTokenizer is minillm's WordPieceTokenizer

and are loaded on first use, so that `import minillm` itself stays light.
"""
import importlib

__version__ = "0.1.0"

# name -> (module, attribute)
_EXPORTS = {
    "BertModel": ("minillm.models.bert", "BertModel"),
    "BertConfig": ("minillm.models.bert", "BertConfig"),
    "BertTokenizer": ("minillm.tokenizers.wordpiece", "WordPieceTokenizer"),
    "GPT": ("minillm.models.gpt", "GPT"),
    "GPTConfig": ("minillm.models.gpt", "GPTConfig"),
    "minilm_path": ("minillm.datasets.pretrained", "minilm_path"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    # called only for names not (yet) in this module: import the one asked for, then keep it
    if name not in _EXPORTS:
        raise AttributeError(f"module 'minillm' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})
