"""The module paths of the last release keep working for one more, with a DeprecationWarning.

Each old path re-exports the new module's names; nothing inside the package imports them
(tests/test_architecture.py).
"""
import importlib
import sys

import pytest

# old path -> (new home, names a user of the old path would have imported)
OLD_PATHS = {
    "minillm.finetune": ("minillm.tasks.classification", ["run_case1", "Case1Config", "BagOfWordsLogReg",
                                                           "add_finetune_parser", "cmd_finetune"]),
    "minillm.ner": ("minillm.tasks.ner", ["run_ner", "NerConfig", "align_labels", "read_ner_file", "cmd_ner"]),
    "minillm.translate": ("minillm.tasks.translation", ["train_translation", "translate", "read_pairs",
                                                         "cmd_translate"]),
    "minillm.compare": ("minillm.tasks.comparison", []),
    "minillm.beam": ("minillm.generate", ["beam_search", "greedy_decode", "Hypothesis"]),
    "minillm.parallel": ("minillm.runtime.parallel", ["DataParallel", "default_threads", "single_threaded_blas",
                                                       "blas_threads"]),
    "minillm.pretrained": ("minillm.datasets.pretrained", ["minilm_path", "sentence_embeddings", "mean_pool",
                                                            "l2_normalize"]),
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_path_still_imports_and_warns(old):
    new, names = OLD_PATHS[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    public = [n for n in dir(target) if not n.startswith("_") and getattr(target, n).__class__.__name__ != "module"]
    for name in names + public:
        assert hasattr(module, name), f"{old} lost {name}"
    for name in names:
        home = sys.modules[getattr(module, name).__module__]
        assert home.__name__.startswith(("minillm.tasks", "minillm.generate", "minillm.runtime", "minillm.datasets",
                                         "minillm.cli")), f"{old}.{name} comes from {home.__name__}"


def test_the_public_paths_of_the_issue():
    import minillm
    from minillm import BertModel, BertTokenizer, GPT  # noqa: F401
    from minillm.datasets import tiny_shakespeare  # noqa: F401
    from minillm.gradcheck import numerical_gradient  # noqa: F401
    from minillm.kernels import attention_backward, attention_forward, matmul  # noqa: F401
    from minillm.layers import linear_backward, linear_forward  # noqa: F401

    assert callable(minillm.kernels.matmul)
