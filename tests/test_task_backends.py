"""The task pipelines (case 1 fine-tuning, NER, translation) run on the kernels by default, and give
the NumPy backend's results within float32 rounding.

Each pipeline is run twice on tiny settings, backend "numba" and "numpy", from the same seed.  The
training losses agree step by step within 1e-3 relative (float32 rounding in a different order
grows a little with every AdamW step), and so do the logits that decide the metrics.
"""
from dataclasses import replace

import numpy as np
import pytest

from minillm.datasets import DATA_DIR
from minillm.tasks.classification import Case1Config, run_case1
from minillm.tasks.ner import NerConfig, run_ner
from minillm.tasks.translation import TranslationConfig, read_pairs, train_translation


def test_the_task_defaults_are_the_kernels():
    assert Case1Config().backend == NerConfig().backend == TranslationConfig().backend == "numba"


def test_case1_on_both_backends(tmp_path):
    from tests.test_finetune import TINY_CASE, _small_tsvs
    from minillm.tasks.classification import read_corpora

    train, test = _small_tsvs(tmp_path)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(read_corpora()[:12]), encoding="utf-8")
    runs = {b: run_case1(train, test, replace(TINY_CASE, backend=b), corpus_paths=[corpus], log=None)
            for b in ("numba", "numpy")}
    fast, slow = runs["numba"], runs["numpy"]
    for key in ("held_out_loss_before", "held_out_loss_after", "first_loss", "last_loss"):
        assert fast["pretraining"][key] == pytest.approx(slow["pretraining"][key], rel=1e-3), key
    for name in slow["results"]:
        assert fast["results"][name]["confusion"] == slow["results"][name]["confusion"], name


def test_ner_on_both_backends():
    runs = {b: run_ner(DATA_DIR / "ner_train.conll", DATA_DIR / "ner_test.conll",
                       NerConfig(steps=8, backend=b), log=None) for b in ("numba", "numpy")}
    fast, slow = runs["numba"], runs["numpy"]
    np.testing.assert_allclose(fast["losses"], slow["losses"], rtol=1e-3)
    bert = "BERT token classifier"
    assert fast["results"][bert]["f1"] == pytest.approx(slow["results"][bert]["f1"], abs=0.02)


def test_translation_on_both_backends():
    pairs = read_pairs(DATA_DIR / "en_fr_train.tsv")[:200]
    histories = {}
    for b in ("numba", "numpy"):
        cfg = TranslationConfig(steps=8, batch_size=16, warmup=2, backend=b)
        model, _, _, histories[b] = train_translation(pairs, cfg, log_every=1)
        assert model.config.backend == b
    np.testing.assert_allclose(histories["numba"]["loss"], histories["numpy"]["loss"], rtol=1e-3)
