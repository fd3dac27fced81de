"""Dataset readers on small files written into tmp_path; downloads go through a fake urlopen."""
import hashlib
import io
import urllib.error
import urllib.request

import numpy as np
import pytest

from minillm.datasets import corpora as datasets  # the module that tiny_shakespeare reads its constants from
from minillm.datasets import (
    TINY_SHAKESPEARE_SHA256, TINY_SHAKESPEARE_URL, download_with_checksum, read_conll,
    read_glue_tsv, read_text, tiny_shakespeare, train_val_split,
)

GOOD = "First Citizen:\nBefore we proceed any further, hear me speak.\n".encode("utf-8")
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


class FakeNet:
    """Stands in for urllib.request.urlopen: serves fixed bytes and counts the calls."""

    def __init__(self, payload):
        self.payload, self.urls = payload, []

    def __call__(self, url, *args, **kwargs):
        self.urls.append(url)
        return io.BytesIO(self.payload)


@pytest.fixture
def no_network(monkeypatch):
    """Any real network access in a test is an error."""
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------- download
def test_download_keeps_bytes_whose_hash_matches(tmp_path, monkeypatch):
    net = FakeNet(GOOD)
    monkeypatch.setattr(urllib.request, "urlopen", net)
    dest = tmp_path / "sub" / "corpus.txt"
    assert download_with_checksum("https://example.org/c.txt", GOOD_SHA, dest) == dest
    assert dest.read_bytes() == GOOD
    assert list(dest.parent.iterdir()) == [dest]             # no temporary file left behind
    # second call: the cached file is intact, nothing is fetched
    download_with_checksum("https://example.org/c.txt", GOOD_SHA, dest)
    assert net.urls == ["https://example.org/c.txt"]


def test_download_refuses_corrupted_bytes(tmp_path, monkeypatch):
    corrupted = GOOD.replace(b"First", b"Frist")
    monkeypatch.setattr(urllib.request, "urlopen", FakeNet(corrupted))
    dest = tmp_path / "corpus.txt"
    with pytest.raises(ValueError, match=rf"checksum mismatch for https://example\.org/c\.txt: "
                                         rf"expected SHA-256 {GOOD_SHA}, got {hashlib.sha256(corrupted).hexdigest()}"):
        download_with_checksum("https://example.org/c.txt", GOOD_SHA, dest)
    assert list(tmp_path.iterdir()) == []                      # nothing saved


def test_download_replaces_a_damaged_cached_file(tmp_path, monkeypatch):
    dest = tmp_path / "corpus.txt"
    dest.write_bytes(b"truncated")
    monkeypatch.setattr(urllib.request, "urlopen", FakeNet(GOOD))
    download_with_checksum("https://example.org/c.txt", GOOD_SHA, dest)
    assert dest.read_bytes() == GOOD


def test_download_without_network_names_url_and_hash(tmp_path, no_network):
    with pytest.raises(RuntimeError, match=rf"could not download https://example\.org/c\.txt "
                                           rf"\(expected SHA-256 {GOOD_SHA}\)"):
        download_with_checksum("https://example.org/c.txt", GOOD_SHA, tmp_path / "c.txt")


def test_tiny_shakespeare_downloads_once_into_the_cache(tmp_path, monkeypatch):
    # the real file is 1,115,394 bytes; a fake payload is accepted only if the hash matches,
    # so point the expected hash at the fake bytes for this test
    monkeypatch.setattr(datasets, "TINY_SHAKESPEARE_SHA256", GOOD_SHA)
    net = FakeNet(GOOD)
    monkeypatch.setattr(urllib.request, "urlopen", net)
    monkeypatch.setenv("MINILLM_CACHE", str(tmp_path / "env-cache"))
    assert tiny_shakespeare() == GOOD.decode("utf-8")
    assert (tmp_path / "env-cache" / "tinyshakespeare.txt").read_bytes() == GOOD
    assert tiny_shakespeare() == GOOD.decode("utf-8")          # served from the cache
    assert net.urls == [TINY_SHAKESPEARE_URL]
    # an explicit cache_dir wins over the environment variable
    tiny_shakespeare(cache_dir=tmp_path / "explicit")
    assert (tmp_path / "explicit" / "tinyshakespeare.txt").is_file()


def test_tiny_shakespeare_rejects_a_wrong_download(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", FakeNet(GOOD))     # not the real corpus
    with pytest.raises(ValueError, match=f"checksum mismatch for {TINY_SHAKESPEARE_URL}: "
                                         f"expected SHA-256 {TINY_SHAKESPEARE_SHA256}"):
        tiny_shakespeare(cache_dir=tmp_path)


def test_tiny_shakespeare_from_a_path_needs_no_network(tmp_path, no_network):
    p = tmp_path / "input.txt"
    p.write_bytes(GOOD)
    assert tiny_shakespeare(path=p) == GOOD.decode("utf-8")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MINILLM_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.resolve_cache_dir() == tmp_path / ".cache" / "minillm"
    monkeypatch.setenv("MINILLM_CACHE", str(tmp_path / "c"))
    assert datasets.resolve_cache_dir() == tmp_path / "c"


# ---------------------------------------------------------------- read_text
def test_read_text_utf8_with_chinese_and_crlf(tmp_path):
    p = tmp_path / "zh.txt"
    p.write_bytes("\ufeff大语言模型\r\nLLM\n".encode("utf-8"))
    assert read_text(p) == "大语言模型\nLLM\n"


def test_read_text_errors(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ValueError, match="no such file.*nope.txt"):
        read_text(missing)
    with pytest.raises(FileNotFoundError):
        read_text(missing)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt is empty"):
        read_text(empty)
    # a, b, \n, c, a, f are bytes 0..5; the Latin-1 byte for é (0xe9) at offset 6 is not UTF-8
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"ab\ncaf\xe9\n")
    with pytest.raises(ValueError, match=r"latin1\.txt is not valid UTF-8: byte 0xe9 at byte offset 6 \(line 2\)"):
        read_text(latin)
    with pytest.raises(ValueError, match="is not a regular file"):
        read_text(tmp_path)


# ---------------------------------------------------------------- train_val_split
def test_train_val_split_is_contiguous_ninety_ten():
    train, val = train_val_split("abcdefghij")                # n = 10 -> int(10 * 0.9) = 9
    assert (train, val) == ("abcdefghi", "j")
    data = np.arange(25)
    train, val = train_val_split(data, val_fraction=0.2)      # int(25 * 0.8) = 20
    np.testing.assert_array_equal(train, np.arange(20))
    np.testing.assert_array_equal(val, np.arange(20, 25))


def test_train_val_split_bad_input():
    with pytest.raises(ValueError, match="val_fraction must be < 1.0, got 1.0"):
        train_val_split("abc", val_fraction=1.0)
    with pytest.raises(ValueError, match="val_fraction must be > 0.0, got 0"):
        train_val_split("abc", val_fraction=0)
    # 1 - 1e-20 rounds to 1.0: all 3 items would go to training, none to validation
    with pytest.raises(ValueError, match=r"data must be long enough .* got length 3 \(3 train, 0 val\)"):
        train_val_split("abc", val_fraction=1e-20)
    with pytest.raises(ValueError, match=r"got length 1 \(0 train, 1 val\)"):
        train_val_split("a")


# ---------------------------------------------------------------- GLUE TSV
def test_read_glue_tsv_columns_and_integer_labels(tmp_path):
    p = tmp_path / "train.tsv"
    p.write_text("sentence\tlabel\nit's a charming journey .\t1\nunfunny and dull\t0\n\n", encoding="utf-8")
    data = read_glue_tsv(p)
    assert data == {"sentence": ["it's a charming journey .", "unfunny and dull"], "label": [1, 0]}


def test_read_glue_tsv_sentence_pairs_and_chosen_columns(tmp_path):
    p = tmp_path / "mrpc.tsv"
    p.write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                 "1\t702876\t702977\tAmrozi accused his brother .\tReferring to him as only \" the witness \" .\n",
                 encoding="utf-8")
    data = read_glue_tsv(p, label_column="Quality", text_columns=["#1 String", "#2 String"])
    assert data == {"#1 String": ["Amrozi accused his brother ."],
                    "#2 String": ['Referring to him as only " the witness " .'], "Quality": [1]}
    # a test file without labels
    unlabeled = read_glue_tsv(p, label_column=None, text_columns=["#1 String"])
    assert unlabeled == {"#1 String": ["Amrozi accused his brother ."]}


def test_read_glue_tsv_errors(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_text("sentence\tlabel\ngood\t1\ntoo\tmany\tfields\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:3: expected 2 tab-separated fields like the header, got 3"):
        read_glue_tsv(p)
    p.write_text("sentence\tlabel\ngood\t1\nbad\tpositive\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:3: label column 'label' must hold an integer, got 'positive'"):
        read_glue_tsv(p)
    # CoLA-style file without a header row: the first row does not name a label column
    p.write_text("gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:1: header has no label column 'label'.*header row missing"):
        read_glue_tsv(p)
    p.write_text("sentence\tlabel\nx\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header has no text column 'premise'"):
        read_glue_tsv(p, text_columns=["premise"])
    p.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv has no header row"):
        read_glue_tsv(p)
    p.write_bytes(b"")
    with pytest.raises(ValueError, match=r"bad\.tsv is empty"):
        read_glue_tsv(p)


# ---------------------------------------------------------------- CoNLL
CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

"""


def test_read_conll_sentences(tmp_path):
    p = tmp_path / "ner.txt"
    p.write_text(CONLL, encoding="utf-8")
    assert read_conll(p) == [
        (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    # another tag column (POS), and a file without a trailing blank line
    p.write_text(CONLL.rstrip("\n"), encoding="utf-8")
    assert read_conll(p, tag_column=1)[1] == (["Peter", "Blackburn"], ["NNP", "NNP"])


def test_read_conll_errors(tmp_path):
    p = tmp_path / "ner.txt"
    p.write_text("EU NNP B-ORG\nrejects O\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ner\.txt:2: expected 3 whitespace-separated columns like the first "
                                         r"token line, got 2"):
        read_conll(p)
    p.write_text("EU B-ORG\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tag_column must index one of the 2 columns .* got 5"):
        read_conll(p, tag_column=5)
    p.write_text("-DOCSTART- O\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no sentences"):
        read_conll(p)
