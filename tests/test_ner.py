"""NER as token classification: word-piece alignment by hand, truncation, predictions back to
words, entity-level scores wired to minillm.metrics, bad CoNLL input, the shipped sample, and a
small BERT that must beat the majority-tag and dictionary baselines on held-out sentences."""
import json

import numpy as np
import pytest

from minillm.cli import main
from minillm.datasets import DATA_DIR as DATA
from minillm.metrics import extract_spans
from minillm.tasks.ner import (
    DictionaryTagger, NerConfig, align_labels, check_known_tags, encode_sentences, entity_scores, iob1_to_iob2,
    label_list, read_ner_file, run_ner, word_tags,
)
from minillm.datasets.synthetic_ner import chunk_tags, conll_text, make_split, make_split_zh
from minillm.tokenizers import WordPieceTokenizer
from minillm.tokenizers.wordpiece import build_vocab

TRAIN, TEST = DATA / "ner_train.conll", DATA / "ner_test.conll"
TRAIN_ZH, TEST_ZH = DATA / "ner_zh_train.conll", DATA / "ner_zh_test.conll"

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
#              0        1        2        3        4
PIECES = ["Amara", "joined", "V", "##el", "##tra", "O", "##ka", "##for", "."]
#            5        6       7     8       9       10    11      12     13
LABEL2ID = {"O": 0, "B-PER": 1, "I-PER": 2, "B-ORG": 3, "I-ORG": 4}
ID2LABEL = list(LABEL2ID)
WORDS = ["Amara", "Okafor", "joined", "Veltra", "."]
TAGS = ["B-PER", "I-PER", "O", "B-ORG", "O"]


@pytest.fixture
def tokenizer():
    return WordPieceTokenizer(SPECIALS + PIECES, do_lower_case=False)


# ---------------------------------------------------------------- alignment

def test_align_labels_by_hand(tokenizer):
    enc = align_labels(WORDS, TAGS, tokenizer, LABEL2ID, max_length=14)
    # [CLS] Amara | O ##ka ##for | joined | V ##el ##tra | . [SEP] [PAD] [PAD] [PAD]
    assert enc["input_ids"].tolist() == [2, 5, 10, 11, 12, 6, 7, 8, 9, 13, 3, 0, 0, 0]
    assert enc["attention_mask"].tolist() == [1] * 11 + [0] * 3
    # each word's label on its first piece only; -100 on later pieces, [CLS], [SEP], padding
    assert enc["labels"].tolist() == [-100, 1, 2, -100, -100, 0, 3, -100, -100, 0, -100, -100, -100, -100]
    assert enc["word_ids"].tolist() == [-1, 0, 1, 1, 1, 2, 3, 3, 3, 4, -1, -1, -1, -1]
    assert all(a.dtype == np.int64 for a in enc.values())


def test_align_labels_without_tags_ignores_every_position(tokenizer):
    enc = align_labels(WORDS, None, tokenizer, None, max_length=12)
    assert (enc["labels"] == -100).all()
    assert enc["input_ids"].tolist()[:11] == [2, 5, 10, 11, 12, 6, 7, 8, 9, 13, 3]


def test_truncation_cuts_pieces_and_keeps_first_piece_labels(tokenizer):
    # room for 3 pieces: Amara, O, ##ka -> Okafor keeps its label on "O", the rest of the sentence is cut
    enc = align_labels(WORDS, TAGS, tokenizer, LABEL2ID, max_length=5)
    assert enc["input_ids"].tolist() == [2, 5, 10, 11, 3]
    assert enc["labels"].tolist() == [-100, 1, 2, -100, -100]
    assert enc["word_ids"].tolist() == [-1, 0, 1, 1, -1]
    assert enc["attention_mask"].tolist() == [1, 1, 1, 1, 1]
    # words cut away get no prediction: "O" by the first-piece rule
    assert word_tags(np.array([0, 1, 2, 4, 0]), enc["word_ids"], len(WORDS), ID2LABEL) == \
        ["B-PER", "I-PER", "O", "O", "O"]
    with pytest.raises(ValueError, match="max_length must be >= 3, got 2"):
        align_labels(WORDS, TAGS, tokenizer, LABEL2ID, max_length=2)


def test_align_labels_bad_input(tokenizer):
    with pytest.raises(ValueError, match=r"tags must have one tag per word \(5\), got 4"):
        align_labels(WORDS, TAGS[:4], tokenizer, LABEL2ID, max_length=14)


def test_round_trip_predictions_to_word_tags(tokenizer):
    """Gold labels as 'predictions' give back the gold tags, whatever sits on the later pieces."""
    enc = align_labels(WORDS, TAGS, tokenizer, LABEL2ID, max_length=14)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, len(ID2LABEL), size=enc["labels"].shape)
    piece_ids = np.where(enc["labels"] != -100, enc["labels"], noise)     # garbage off the first pieces
    assert word_tags(piece_ids, enc["word_ids"], len(WORDS), ID2LABEL) == TAGS
    # and a different label on a first piece changes exactly that word
    piece_ids[6] = LABEL2ID["O"]                                           # "V" of Veltra
    assert word_tags(piece_ids, enc["word_ids"], len(WORDS), ID2LABEL) == ["B-PER", "I-PER", "O", "O", "O"]


def test_encode_sentences_stacks_rows(tokenizer):
    enc = encode_sentences([(WORDS, TAGS), (["Amara", "."], ["B-PER", "O"])], tokenizer, LABEL2ID, 14)
    assert enc["input_ids"][1].tolist() == [2, 5, 13, 3] + [0] * 10
    assert enc["labels"][1].tolist() == [-100, 1, 0] + [-100] * 11


def test_build_vocab_keeps_case_and_spells_rare_words():
    vocab = build_vocab(["Amara met Amara .", "Amara met Ola"], lowercase=False, max_words=2000, min_count=2)
    chars = sorted(set("AmaretOl."))                     # ". A O a e l m r t"
    assert vocab == SPECIALS + chars + ["##" + c for c in chars] + ["Amara", "met"]
    tok = WordPieceTokenizer(vocab, do_lower_case=False)
    assert tok.tokenize("Amara met Ola") == ["Amara", "met", "O", "##l", "##a"]
    assert tok.tokenize("amara") == ["a", "##m", "##a", "##r", "##a"]      # case kept: not the name


# ---------------------------------------------------------------- tags and scores

def test_iob1_to_iob2_by_hand():
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG", "I-PER"]
    iob2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG", "B-PER"]
    assert iob1_to_iob2(iob1) == iob2
    assert iob1_to_iob2(iob2) == iob2
    assert extract_spans(iob1) == extract_spans(iob2)


def test_label_list_and_dictionary_baseline():
    sents = [(["Jordan", "won"], ["B-PER", "O"]), (["Jordan", "won"], ["B-PER", "O"]),
             (["in", "Jordan"], ["O", "B-LOC"]), (["Lima", "Lima"], ["B-LOC", "B-ORG"])]
    assert label_list(sents) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    tagger = DictionaryTagger().fit(sents)
    # Jordan: PER twice, LOC once; Lima: a tie, broken by sorted order (B-LOC < B-ORG); Oslo unseen
    assert tagger.predict([["Jordan", "in", "Lima", "Oslo"]]) == [["B-PER", "O", "B-LOC", "O"]]


def test_entity_scores_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-PER"]]
    r = entity_scores(true, pred)
    # true: PER(0-1), LOC(3), ORG(0) = 3; predicted: PER(0), LOC(3), ORG(0), PER(1) = 4; correct: LOC, ORG
    assert (r["n_true"], r["n_pred"], r["n_correct"]) == (3, 4, 2)
    assert r["precision"] == pytest.approx(2 / 4) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert r["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["per_type"]["LOC"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    # tokens: 4 of 6 right, although only 2 of 3 entities are
    assert r["token_accuracy"] == pytest.approx(4 / 6)


def test_entity_scores_perfect_and_all_o():
    true = [t for _, t in read_ner_file(TEST)]
    perfect = entity_scores(true, true)
    assert perfect["f1"] == perfect["precision"] == perfect["recall"] == 1.0
    assert all(v["f1"] == 1.0 for v in perfect["per_type"].values())
    all_o = entity_scores(true, [["O"] * len(t) for t in true])
    assert all_o["f1"] == all_o["precision"] == all_o["recall"] == 0.0
    n_o = sum(tag == "O" for t in true for tag in t)
    assert all_o["token_accuracy"] == pytest.approx(n_o / sum(map(len, true)))
    assert all_o["token_accuracy"] > 0.6          # high token accuracy, zero entities found


# ---------------------------------------------------------------- bad input

def test_malformed_line_names_its_line_number(tmp_path):
    p = tmp_path / "bad.conll"
    p.write_text("-DOCSTART- -X- -X- O\n\nAmara NNP B-NP B-PER\nOkafor NNP I-PER\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.conll:4: expected 4 whitespace-separated columns"):
        read_ner_file(p)


def test_bad_tag_is_named(tmp_path):
    p = tmp_path / "bad.conll"
    p.write_text("Amara B-PER\njoined O\n\nVeltra ORG\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"sentence 2, word 1 \('Veltra'\): tag 'ORG' must be 'O', 'B-<type>'"):
        read_ner_file(p)


def test_unknown_tags_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"test file x has tags the model was not trained on: 'B-EVENT' "
                                         r"\(first in sentence 2\)"):
        check_known_tags([(["a"], ["O"]), (["Cup"], ["B-EVENT"])], LABEL2ID, "test file x")
    test = tmp_path / "test.conll"
    test.write_text("Amara B-PER\n\nthe O\nFestival B-EVENT\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'B-EVENT'"):
        run_ner(TRAIN, test, NerConfig(steps=1), log=None)


def test_cli_errors_and_outputs(tmp_path, capsys):
    # a user mistake: exit status 2, one line on stderr, no traceback
    assert main(["ner", "--train", str(tmp_path / "nope.conll"), "--test", str(TEST)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "nope.conll' does not exist" in err, err
    assert main(["ner", "--train", str(TRAIN), "--test", str(TEST), "--max-length", "2"]) == 2
    assert "--max-length must be >= 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ner", "--train", str(TRAIN), "--test", str(TEST), "--steps", "0"])
    out = tmp_path / "out"
    assert main(["ner", "--train", str(TRAIN), "--test", str(TEST), "--steps", "3", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["results"]) == {"majority tag (O)", "dictionary", "BERT token classifier"}
    lines = (out / "predictions.conll").read_text(encoding="utf-8").split("\n")
    gold = read_ner_file(TEST)
    assert lines[0].split()[:2] == [gold[0][0][0], gold[0][1][0]] and len(lines[0].split()) == 3


# ---------------------------------------------------------------- the shipped sample

def test_sample_files_are_conll_2003_style_and_reproducible():
    for path, n in ((TRAIN, 800), (TEST, 160)):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("-DOCSTART- -X- -X- O\n\n")
        sents = read_ner_file(path)
        assert len(sents) == n
        tags = [t for _, ts in sents for t in ts]
        assert {t[2:] for t in tags if t != "O"} == {"PER", "ORG", "LOC", "MISC"}
        raw = [line.split()[-1] for line in text.split("\n") if line and not line.startswith("-DOCSTART-")]
        assert iob1_to_iob2(raw) == raw                      # already IOB2: every entity opens with B-
    train, test = make_split(800, 160, seed=0)
    assert conll_text(train) == TRAIN.read_text(encoding="utf-8")
    assert conll_text(test) == TEST.read_text(encoding="utf-8")


def test_held_out_entities_are_partly_unseen():
    train, test = read_ner_file(TRAIN), read_ner_file(TEST)

    def entities(sents):
        return [(" ".join(w[s:e + 1]), t) for w, tags in sents for t, s, e in extract_spans(tags)]

    seen = {e for e in entities(train)}
    test_entities = entities(test)
    unseen = sum(e not in seen for e in test_entities) / len(test_entities)
    assert 0.3 < unseen < 0.7
    # ambiguous words occur with two types in training
    types_of = {}
    for (text, t) in entities(train):
        types_of.setdefault(text, set()).add(t)
    assert {"PER", "LOC"} <= types_of["Jordan"]


def test_chinese_sample_is_character_level_and_reproducible():
    train, test = make_split_zh(600, 150, seed=0)
    assert conll_text(train, sentences_per_document=None) == TRAIN_ZH.read_text(encoding="utf-8")
    assert conll_text(test, sentences_per_document=None) == TEST_ZH.read_text(encoding="utf-8")
    sents = read_ner_file(TRAIN_ZH)
    assert len(sents) == 600 and all(len(w) == 1 for words, _ in sents for w in words)
    assert label_list(sents) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    # every character is one word and one piece: the alignment has no -100 inside a sentence
    tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for ws, _ in sents for w in ws}))
    words, tags = sents[0]
    enc = align_labels(words, tags, tok, {t: i for i, t in enumerate(label_list(sents))}, len(words) + 2)
    assert (enc["labels"][1:-1] != -100).all() and enc["word_ids"][1:-1].tolist() == list(range(len(words)))
    # test person names never occur in training
    def names(ss):
        return {"".join(w[s:e + 1]) for w, t in ss for typ, s, e in extract_spans(t) if typ == "PER"}
    assert not names(read_ner_file(TEST_ZH)) & names(sents)


def test_chunk_tags_by_hand():
    assert chunk_tags(["NNP", "VBD", "DT", "JJ", "NN", "IN", "NNP", "JJ", "NN", "."]) == \
        ["B-NP", "B-VP", "B-NP", "I-NP", "I-NP", "B-PP", "B-NP", "B-NP", "I-NP", "O"]
    assert chunk_tags(["TO", "VB", "CD", "CD", "NNS"]) == ["B-VP", "I-VP", "B-NP", "I-NP", "I-NP"]


# ---------------------------------------------------------------- learning

def test_small_bert_beats_the_baselines():
    cfg = NerConfig(steps=300)
    run = run_ner(TRAIN, TEST, cfg, log=None)
    r = run["results"]
    bert, dictionary, majority = r["BERT token classifier"], r["dictionary"], r["majority tag (O)"]
    assert majority["f1"] == 0.0
    assert run["losses"][0] > 5 * np.mean(run["losses"][-20:])       # it learned something
    assert bert["f1"] > dictionary["f1"] + 0.05, (bert["f1"], dictionary["f1"])
    assert bert["f1"] > 0.55


def test_words_beyond_max_length_are_counted_and_tagged_o():
    cfg = NerConfig(steps=1, max_length=8)
    run = run_ner(TRAIN, TEST, cfg, log=None)
    test = read_ner_file(TEST)
    assert [len(p) for p in run["predictions"]] == [len(w) for w, _ in test]
    tok, label2id = run["tokenizer"], {t: i for i, t in enumerate(run["labels"])}
    cut_gold, cut_pred = [], []
    for (words, tags), pred in zip(test, run["predictions"]):
        kept = set(align_labels(words, tags, tok, label2id, 8)["word_ids"].tolist())
        cut_gold += [t for i, t in enumerate(tags) if i not in kept]
        cut_pred += [t for i, t in enumerate(pred) if i not in kept]
    assert run["words_cut"] == len(cut_pred) > len(test)
    assert set(cut_pred) == {"O"} and set(cut_gold) != {"O"}      # entities among them, all missed
