"""The translation pipeline: the shipped pairs (French rules), the vocabulary, training, decoding, BLEU, the CLI."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from minillm.cli import main
from minillm.datasets import DATA_DIR as DATA
from minillm.datasets import synthetic_translation as grammar
from minillm.metrics import bleu
from minillm.tasks.translation import (
    TranslationConfig,
    WordVocab,
    ascii_fold,
    encode_pairs,
    read_pairs,
    train_translation,
    translate,
)


def _shipped():
    return read_pairs(DATA / "en_fr_train.tsv") + read_pairs(DATA / "en_fr_test.tsv")


# --------------------------------------------------------------------------- the data set

def test_shipped_files_are_what_the_generator_writes(tmp_path):
    grammar.main(["--out", str(tmp_path)])
    for name in ("en_fr_train.tsv", "en_fr_test.tsv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_split_sizes_header_and_no_test_sentence_in_train():
    train = read_pairs(DATA / "en_fr_train.tsv")
    test = read_pairs(DATA / "en_fr_test.tsv")
    assert len(train) == 5000 and len(test) == 500
    assert (DATA / "en_fr_test.tsv").read_text(encoding="utf-8").split("\n")[0] == "en\tfr"
    assert not {en for en, _ in test} & {en for en, _ in train}


@pytest.mark.parametrize("words, question, expected", [
    (["le", "arbre"], False, "L'arbre."),
    (["près", "de", "le", "lit"], False, "Près du lit."),
    (["près", "de", "les", "lits"], False, "Près des lits."),
    (["près", "de", "le", "arbre"], False, "Près de l'arbre."),          # elision first: no "du arbre"
    (["je", "ne", "ai", "pas", "de", "orange"], False, "Je n'ai pas d'orange."),
    (["je", "aime", "la", "horloge"], False, "J'aime l'horloge."),       # mute h
    (["est-ce", "que", "il", "voit", "le", "chien"], True, "Est-ce qu'il voit le chien ?"),
    (["est-ce", "que", "une", "vache", "est", "grande"], True, "Est-ce qu'une vache est grande ?"),
])
def test_french_surface_rules(words, question, expected):
    assert grammar.french_surface(words, question=question) == expected


def test_noun_phrases_agree_and_place_the_adjective():
    rng = np.random.default_rng(0)
    car = next(n for n in grammar.NOUNS if n[0] == "car")
    orange = next(n for n in grammar.NOUNS if n[0] == "orange")
    seen = set()
    for _ in range(200):
        p = grammar.noun_phrase(rng, car, plural=True, determiner="the", adjective_p=1.0)
        seen.add((" ".join(p.en), " ".join(p.fr)))
    assert ("the red cars", "les voitures rouges") in seen              # after the noun, feminine plural
    assert ("the small cars", "les petites voitures") in seen            # before the noun
    p = grammar.noun_phrase(rng, orange, plural=False, determiner="my", adjective_p=0.0)
    assert (p.en, p.fr) == (["my", "orange"], ["mon", "orange"])        # ma -> mon before a vowel
    p = grammar.noun_phrase(rng, orange, plural=False, determiner="a", adjective_p=0.0)
    assert p.en == ["an", "orange"] and p.fr == ["une", "orange"] and p.indefinite


def test_every_shipped_sentence_follows_the_spelling_rules():
    vowel = "[aeiouyàâéèêëîïôûœAEIOUÉ]|h(?:omme|orloge|istoire)"
    for en, fr in _shipped():
        # elision is never missed and never wrong
        assert not re.search(rf"\b(?:le|la|je|ne|de|que|Le|La|Je|De) (?:{vowel})", fr), fr
        assert not re.search(r"\b(?:l|j|n|d|qu)' ", fr), fr
        assert not re.search(rf"\b(?:ma|sa) (?:{vowel})", fr), fr        # mon orange, son histoire
        assert not re.search(r"\bde (?:le|les)\b", fr), fr               # du, des
        # un/une become de after a negation
        assert not re.search(r"\bpas (?:un|une)\b", fr), fr
        assert not re.search(r"\ba [aeiou]|\ban [^aeiou]", en), en
        # questions match, with French spacing
        assert en.endswith("?") == fr.endswith(" ?"), (en, fr)
        assert (" not " in en) == (" pas " in fr), (en, fr)
        assert en[0].isupper() and fr[0].isupper()


def test_vocabularies_are_small():
    pairs = _shipped()
    src = WordVocab.build(en for en, _ in pairs)
    tgt = WordVocab.build(fr for _, fr in pairs)
    assert 200 < len(src) < 300 and 300 < len(tgt) < 450


def test_generator_is_deterministic_and_refuses_impossible_requests():
    assert grammar.make_split(20, 5, seed=3) == grammar.make_split(20, 5, seed=3)
    assert grammar.make_split(20, 5, seed=3) != grammar.make_split(20, 5, seed=4)
    with pytest.raises(ValueError, match="n_test must be >= 1, got 0"):
        grammar.make_split(10, 0)


# --------------------------------------------------------------------------- vocabulary and encoding

def test_word_vocab_is_lossless_and_deterministic():
    text = "Est-ce qu'il voit l'arbre ?"
    assert WordVocab.pieces(text) == ["▁Est-ce", "▁qu'", "il", "▁voit", "▁l'", "arbre", "▁?"]
    vocab = WordVocab.build(["Le chat voit l'arbre.", text, "Le chien."])
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    # five pieces seen twice come first, ties in code-point order ("." < "a" < "▁"), then the rest
    assert vocab.itos[4:9] == [".", "arbre", "▁Le", "▁l'", "▁voit"]
    assert vocab.decode(vocab.encode(text)) == text
    assert vocab.encode("Le poisson.") == [6, vocab.unk_id, 4]
    assert vocab.decode([1, 6, 2, 0]) == "Le"                 # special tokens are dropped


def test_ascii_fold_for_plot_labels():
    labels = ["▁élève", "œuf", "▁Est-ce", "fenêtre"]
    assert [ascii_fold(t) for t in labels] == ["eleve", "oeuf", "Est-ce", "fenetre"]


def test_encode_pairs_shifts_the_target_by_hand():
    pairs = [("A cat.", "Un chat."), ("Dogs.", "Des chiens.")]
    src_v = WordVocab.build(en for en, _ in pairs)
    tgt_v = WordVocab.build(fr for _, fr in pairs)
    src, tgt_in, tgt_out = encode_pairs(pairs, src_v, tgt_v, max_len=8)
    s = src_v.stoi
    assert src.tolist() == [[s["▁A"], s["▁cat"], s["."], 2], [s["▁Dogs"], s["."], 2, 0]]
    t = tgt_v.stoi
    assert tgt_in.tolist() == [[1, t["▁Un"], t["▁chat"], t["."]], [1, t["▁Des"], t["▁chiens"], t["."]]]
    assert tgt_out.tolist() == [[t["▁Un"], t["▁chat"], t["."], 2], [t["▁Des"], t["▁chiens"], t["."], 2]]
    with pytest.raises(ValueError, match="pair 1 is too long for max_len=3"):
        encode_pairs(pairs, src_v, tgt_v, max_len=3)


def test_read_pairs_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_pairs(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("english\tfrench\nA.\tUn.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header has no text column 'en'"):
        read_pairs(bad)
    bad.write_text("en\tfr\nA cat.\tUn chat.\nA dog.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv:3: expected 2 tab-separated fields"):
        read_pairs(bad)
    bad.write_text("en\tfr\nA cat.\t \n", encoding="utf-8")
    with pytest.raises(ValueError, match="pair 1 has an empty sentence"):
        read_pairs(bad)


# --------------------------------------------------------------------------- training, decoding, BLEU

def test_a_small_model_learns_a_few_pairs_and_scores_bleu_100():
    pairs = [("The cat sees the dog.", "Le chat voit le chien."),
             ("The dog sees the red car.", "Le chien voit la voiture rouge."),
             ("I do not have a car.", "Je n'ai pas de voiture."),
             ("Does the cat eat?", "Est-ce que le chat mange ?")]
    cfg = TranslationConfig(steps=120, batch_size=4, n_embd=32, n_head=2, n_encoder_layer=1, n_decoder_layer=1,
                            dropout=0.0, label_smoothing=0.0, warmup=10, seed=0)
    model, src_v, tgt_v, history = train_translation(pairs, cfg, log_every=50)
    assert history["step"] == [50, 100, 120]
    assert history["loss"][-1] < 0.05
    sources = [en for en, _ in pairs]
    refs = [[fr] for _, fr in pairs]
    greedy = translate(model, src_v, tgt_v, sources)
    beamed = translate(model, src_v, tgt_v, sources, beam_size=3)
    assert greedy == [fr for _, fr in pairs] and beamed == greedy
    assert bleu(greedy, refs) == pytest.approx(100.0)


def _argv(**kw):
    argv = ["translate"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv + ["--quiet"]


def test_cli_writes_metrics_translations_and_heatmap(tmp_path):
    train = tmp_path / "train.tsv"
    test = tmp_path / "test.tsv"
    grammar.write_pairs_tsv(train, _shipped()[:40])
    grammar.write_pairs_tsv(test, _shipped()[-6:])
    out = tmp_path / "run"
    assert main(_argv(train=train, test=test, steps=3, beam=2, out=out, batch_size=8)) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert 0.0 <= metrics["bleu_greedy"] <= 100.0 and 0.0 <= metrics["bleu_beam"] <= 100.0
    assert metrics["n_train_pairs"] == 40 and metrics["n_test_pairs"] == 6 and metrics["beam_size"] == 2
    rows = (out / "translations.tsv").read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert rows[0] == "en\treference\tgreedy\tbeam" and len(rows) == 7
    # BLEU in metrics.json is the BLEU of the written translations
    greedy = [r.split("\t")[2] for r in rows[1:]]
    assert metrics["bleu_greedy"] == pytest.approx(bleu(greedy, [[r.split("\t")[1]] for r in rows[1:]]))
    assert (out / "cross_attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kw, message", [
    (dict(train="nowhere.tsv"), r"--train file 'nowhere.tsv' does not exist"),
    (dict(steps=0), "--steps: must be a positive integer, got 0"),
    (dict(beam=0), "--beam: must be a positive integer, got 0"),
    (dict(label_smoothing=1.0), r"--label-smoothing: must be in \[0, 1\), got 1.0"),
])
def test_cli_user_errors_are_one_clear_line(kw, message, tmp_path, capsys):
    # exit status 2 and, after argparse's usage lines, one line naming the mistake; no traceback
    kw.setdefault("train", DATA / "en_fr_train.tsv")
    try:
        status = main(_argv(out=tmp_path, **kw))
    except SystemExit as e:                    # a bad flag value: argparse exits
        status = e.code
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert re.search(message, err.strip().splitlines()[-1]), err
