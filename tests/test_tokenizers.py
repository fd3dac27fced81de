"""Tokenizers: char, byte-level BPE and WordPiece (minillm/tokenizers/).

Expected values are worked out by hand in the comments, or come from an
independent reference written here (a naive BPE trainer that recounts every
pair after every merge).
"""
import json
from collections import Counter

import numpy as np
import pytest

from minillm.tokenizers import ByteBPETokenizer, CharTokenizer, WordPieceTokenizer, load_tokenizer
from minillm.tokenizers.bpe import pretokenize
from minillm.tokenizers.wordpiece import basic_tokenize, is_cjk_char, is_punctuation, strip_accents


def random_text(rng, n):
    """n random characters that are valid UTF-8: ASCII, Latin, CJK, kana, emoji, no surrogates."""
    ranges = [(0x20, 0x7E), (0x09, 0x0A), (0xC0, 0x17F), (0x4E00, 0x9FFF), (0x3040, 0x30FF),
              (0x1F300, 0x1F64F), (0x20000, 0x2A6DF), (0x300, 0x36F)]
    out = []
    for _ in range(n):
        lo, hi = ranges[rng.integers(len(ranges))]
        out.append(chr(int(rng.integers(lo, hi + 1))))
    return "".join(out)


# ------------------------------------------------------------------------------------------
# CharTokenizer

def test_char_vocab_is_sorted_with_unk_first():
    tok = CharTokenizer.train("hello 世界")
    # sorted(set("hello 世界")) = [' ', 'e', 'h', 'l', 'o', '世', '界'], after <unk> at id 0
    assert tok.itos == ["<unk>", " ", "e", "h", "l", "o", "世", "界"]
    assert tok.vocab_size == 8
    assert tok.encode("hello") == [3, 2, 4, 4, 5]
    assert tok.encode("世界 hello") == [6, 7, 1, 3, 2, 4, 4, 5]
    assert CharTokenizer.from_text("hello 世界") == tok


def test_char_round_trip_and_unknown_characters():
    text = "语言模型预测下一个字。A language model predicts the next token."
    tok = CharTokenizer.train(text)
    assert tok.decode(tok.encode(text)) == text
    # 'Z' and '猫' were never seen: they map to <unk> (id 0) instead of failing
    assert tok.encode("Z猫a") == [0, 0, tok.stoi["a"]]
    assert tok.decode(tok.encode("Z猫a")) == "<unk><unk>a"


def test_char_bad_input():
    tok = CharTokenizer.train("ab")
    with pytest.raises(ValueError, match=r"ids must hold ids in \[0, 3\), got 3"):
        tok.decode([1, 3])
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        tok.encode(b"ab")


def test_char_save_load(tmp_path):
    tok = CharTokenizer.train("天地玄黄 the quick fox")
    path = tmp_path / "char.json"
    tok.save(path)
    again = CharTokenizer.load(path)
    assert again == tok
    assert again.encode("天 fox?") == tok.encode("天 fox?")
    assert load_tokenizer(path) == tok
    assert [p.name for p in tmp_path.iterdir()] == ["char.json"]     # no temporary file left behind


# ------------------------------------------------------------------------------------------
# Byte-level BPE

def test_pretokenize_splits_words_numbers_punctuation_and_spaces():
    assert pretokenize("Hello world, it's 2024!  ok") == [
        "Hello", " world", ",", " it", "'s", " 2024", "!", " ", " ok"]
    text = "混合 text\n\n  with 表情😀🎉 and  under_score"
    assert "".join(pretokenize(text)) == text


def test_bpe_first_merges_by_hand():
    # pre-tokens: "ab" x1, " ab" x2, " abc" x1
    # counts: (a,b) = 1 + 2 + 1 = 4,  (' ',a) = 3,  (b,c) = 1   -> merge 256 = (a, b)
    # then:   (' ',256) = 3,  (256,c) = 1                        -> merge 257 = (' ', 256)
    # then:   (257, c) = 1                                       -> merge 258 = (257, c)
    # then no pair is left, so training stops before vocab_size = 300.
    a, b, c, space = ord("a"), ord("b"), ord("c"), ord(" ")
    tok = ByteBPETokenizer.train("ab ab ab abc", vocab_size=300)
    assert tok.merges == [(a, b), (space, 256), (257, c)]
    assert tok.vocab_size == 259
    assert tok.vocab[258] == b" abc"
    assert tok.encode("ab abc ab") == [256, 258, 257]
    assert tok.encode("ba") == [b, a]


def test_bpe_ties_take_the_smallest_pair():
    # "xy" and " zw": three pairs, all count 1. The smallest pair (32, 122) = (' ', 'z') goes first,
    # then (120, 121) = ('x', 'y'), then the new pair (256, 119) = (' z', 'w').
    tok = ByteBPETokenizer.train("xy zw", vocab_size=260)
    assert tok.merges == [(32, 122), (120, 121), (256, 119)]


def naive_bpe(text, n_merges):
    """Reference trainer: after every merge, recount every pair of every pre-token from scratch."""
    counts = Counter(p.encode("utf-8") for p in pretokenize(text))
    words = [(list(w), f) for w, f in counts.items()]
    merges = []
    for k in range(n_merges):
        pairs = Counter()
        for w, f in words:
            for i in range(len(w) - 1):
                pairs[(w[i], w[i + 1])] += f
        if not pairs:
            break
        best = max(pairs.values())
        pair = min(p for p, c in pairs.items() if c == best)
        merges.append(pair)
        new_words = []
        for w, f in words:
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
                    out.append(256 + k)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words.append((out, f))
        words = new_words
    return merges


def test_bpe_incremental_counts_match_a_full_recount(rng):
    syllables = ["the", "an", "ing", "aaaa", "ba", "na", "语言", "模型", "的", "😀", "1", "22", "!"]
    words = []
    for _ in range(400):
        n = int(rng.integers(1, 4))
        words.append("".join(syllables[int(i)] for i in rng.integers(len(syllables), size=n)))
    text = " ".join(words) + " aaaaaaa aaa aaaaa"
    fast = ByteBPETokenizer.train(text, vocab_size=256 + 80)
    assert fast.merges == naive_bpe(text, 80)
    assert len(fast.merges) == 80


def test_bpe_round_trip_chinese_emoji_and_random_text(rng):
    train_text = "the cat sat on the mat. 猫坐在垫子上。" * 5
    tok = ByteBPETokenizer.train(train_text, vocab_size=280)
    assert tok.vocab_size == 280
    for text in ["Hello, 世界! 👋🏽 naïve café", "", " ", "\n\n\t", "👨‍👩‍👧 family", "猫 cat 🐱", train_text]:
        assert tok.decode(tok.encode(text)) == text
    for n in (1, 5, 40, 300):
        text = random_text(rng, n)
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text


def test_bpe_compresses_the_text_it_learned_from():
    text = "the theory of the thing " * 20
    tok = ByteBPETokenizer.train(text, vocab_size=270)
    assert len(tok.encode(text)) < len(text.encode("utf-8")) / 3


def test_bpe_decode_of_a_cut_character_shows_replacement_char():
    tok = ByteBPETokenizer()
    ids = tok.encode("猫")                                  # three bytes E7 8C AB, no merges
    assert ids == [0xE7, 0x8C, 0xAB]
    assert tok.decode(ids[:2]) == "\ufffd"
    with pytest.raises(ValueError, match=r"ids must hold ids in \[0, 256\), got 256"):
        tok.decode([256])


def test_bpe_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size must be >= 256, got 100"):
        ByteBPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(TypeError, match="vocab_size must be an integer"):
        ByteBPETokenizer.train("abc", vocab_size=300.0)
    with pytest.raises(ValueError, match=r"merges\[0\] must pair ids in \[0, 256\), got \(1, 256\)"):
        ByteBPETokenizer([(1, 256)])


def test_bpe_save_load(tmp_path):
    tok = ByteBPETokenizer.train("to be or not to be, 生存还是毁灭 " * 10, vocab_size=290)
    path = tmp_path / "bpe.json"
    tok.save(path)
    again = ByteBPETokenizer.load(path)
    assert again == tok and again.vocab == tok.vocab
    assert again.encode("to be 生存") == tok.encode("to be 生存")
    assert load_tokenizer(path) == tok


# ------------------------------------------------------------------------------------------
# Files: corrupt and mismatched

def test_corrupt_or_mismatched_files_raise_value_error(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "char", "chars": ["a"', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json.*not valid UTF-8 JSON"):
        CharTokenizer.load(broken)
    with pytest.raises(ValueError, match=r"broken\.json.*not valid UTF-8 JSON"):
        load_tokenizer(broken)

    ByteBPETokenizer().save(tmp_path / "bpe.json")
    with pytest.raises(ValueError, match=r"bpe\.json' has type 'byte_bpe', expected 'char'"):
        CharTokenizer.load(tmp_path / "bpe.json")

    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"type": "byte_bpe", "version": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing\.json' is missing the field 'merges'"):
        ByteBPETokenizer.load(missing)

    future = tmp_path / "future.json"
    future.write_text(json.dumps({"type": "byte_bpe", "version": 1, "merges": [[256, 1]]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"future\.json.*merges\[0\] must pair ids in \[0, 256\)"):
        ByteBPETokenizer.load(future)

    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"type": "sentencepiece", "version": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown\.json' has type 'sentencepiece', expected one of"):
        load_tokenizer(unknown)

    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.json' must hold a JSON object, got a list"):
        WordPieceTokenizer.load(not_object)


# ------------------------------------------------------------------------------------------
# WordPiece

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",            # 0-4
         "un", "##aff", "##able", "want", "##ed",                   # 5-9
         "wa", "##nt", "runn", "##ing", ",",                        # 10-14
         ".", "!", "我", "爱", "你",                                  # 15-19
         "hello", "world", "cafe", "naive", "the",                  # 20-24
         "a", "$", "##s", "is", "good"]                             # 25-29


@pytest.fixture
def wp():
    return WordPieceTokenizer(VOCAB)


def test_character_classes():
    for ch in "$+<=>^`|~,.!?":
        assert is_punctuation(ch), ch
    for ch in "。，《》「」—…":
        assert is_punctuation(ch), ch
    for ch in "aZ9 我é":
        assert not is_punctuation(ch), ch
    for ch in ["我", "\u3400", "\U00020000", "\U0002B740", "\uF900", "\U0002F800"]:
        assert is_cjk_char(ch), hex(ord(ch))
    for ch in ["あ", "カ", "한", "a", "。", "\uFF01"]:
        assert not is_cjk_char(ch), hex(ord(ch))
    assert strip_accents("naïve café Ñandú") == "naive cafe Nandu"


def test_basic_tokenization():
    assert basic_tokenize("Hello,World! 我爱你") == ["hello", ",", "world", "!", "我", "爱", "你"]
    assert basic_tokenize("Hello", do_lower_case=False) == ["Hello"]
    # control characters (NUL, zero-width space U+200B is Cf) vanish; tab/newline are whitespace
    assert basic_tokenize("hel\x00lo\u200bworld\tgood\nday") == ["helloworld", "good", "day"]
    # NBSP and the ideographic space U+3000 are whitespace (Zs)
    assert basic_tokenize("a\u00a0b\u3000c") == ["a", "b", "c"]
    # lower-casing also strips accents by default; strip_accents_flag=False keeps them
    assert basic_tokenize("Café") == ["cafe"]
    assert basic_tokenize("Café", strip_accents_flag=False) == ["café"]
    assert basic_tokenize("Café", do_lower_case=False, strip_accents_flag=True) == ["Cafe"]
    assert basic_tokenize("我爱NLP", tokenize_chinese_chars=False) == ["我爱nlp"]


def test_wordpiece_hand_worked_tokenizations(wp):
    # "unaffable": longest prefix in vocab is "un"; then "##aff" (not "##affable"); then "##able"
    assert wp.tokenize("unaffable") == ["un", "##aff", "##able"]
    # "wanted": "want" then "##ed";  "want" alone is one piece
    assert wp.tokenize("Wanted want") == ["want", "##ed", "want"]
    # "running": "runn" + "##ing";  "wants": "want" + "##s"
    assert wp.tokenize("running, wants!") == ["runn", "##ing", ",", "want", "##s", "!"]
    # "wanting" -> "want" + "##ing"; "unwanted" has no "##want" -> the whole word is [UNK]
    assert wp.tokenize("wanting unwanted") == ["want", "##ing", "[UNK]"]
    # CJK: each ideograph is a word; an ideograph missing from the vocab is [UNK]
    assert wp.tokenize("我爱你hello猫") == ["我", "爱", "你", "hello", "[UNK]"]
    # accents are stripped after lower-casing: "Café", "NAÏVE" -> cafe, naive
    assert wp.tokenize("Café NAÏVE") == ["cafe", "naive"]
    assert wp.tokenize("a$a.") == ["a", "$", "a", "."]
    # literal special tokens are kept whole
    assert wp.tokenize("hello [MASK] world") == ["hello", "[MASK]", "world"]
    assert wp.encode("hello world") == [2, 20, 21, 3]


def test_wordpiece_case_sensitive_vocab():
    cased = WordPieceTokenizer(VOCAB + ["Café"], do_lower_case=False)
    assert cased.tokenize("Café cafe Hello") == ["Café", "cafe", "[UNK]"]


def test_build_vocab_by_hand_lower_cased_and_cased():
    from minillm.tokenizers.wordpiece import SPECIAL_TOKENS, build_vocab

    texts = ["Ada met Ada .", "ada met Bo 语言"]
    # lower-cased: "ada" x3, "met" x2 are frequent; "bo" once; CJK characters are single-character words
    chars = sorted(set("adametbo.") | {"语", "言"})
    pieces = ["##" + c for c in chars if c not in "语言"]
    assert build_vocab(texts, lowercase=True, max_words=10) == list(SPECIAL_TOKENS) + chars + pieces + ["ada", "met"]
    # cased: "Ada" x2 and "met" x2 (ties alphabetical: upper case first), "ada" only once
    chars = sorted(set("AdametBo.a") | {"语", "言"})
    pieces = ["##" + c for c in chars if c not in "语言"]
    assert build_vocab(texts, lowercase=False, max_words=10) == list(SPECIAL_TOKENS) + chars + pieces + ["Ada", "met"]
    assert build_vocab(texts, lowercase=False, max_words=1)[-1] == "Ada"           # most frequent first
    assert build_vocab(texts, lowercase=True, max_words=10, min_count=1)[-3:] == ["ada", "met", "bo"]
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(texts, lowercase=True, max_words=10, min_count=0)


def test_wordpiece_too_long_word_is_unk():
    tok = WordPieceTokenizer(VOCAB, max_input_chars_per_word=5)
    # "unaffable" has 9 characters > 5; "want" has 4
    assert tok.tokenize("unaffable want") == ["[UNK]", "want"]
    default = WordPieceTokenizer(VOCAB + ["##a"])
    assert default.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert default.tokenize("a" * 101) == ["[UNK]"]


def test_wordpiece_pair_and_token_type_ids(wp):
    out = wp("hello world", "the cafe is good")
    # [CLS] hello world [SEP] the cafe is good [SEP]
    assert out["input_ids"] == [2, 20, 21, 3, 24, 22, 28, 29, 3]
    assert out["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert out["attention_mask"] == [1] * 9
    assert wp.encode("hello world", "the cafe is good") == out["input_ids"]


def test_wordpiece_batch_padding_and_numpy(wp):
    out = wp(["hello", "the cafe is good", "我爱你"], padding=True, return_tensors="np")
    assert out["input_ids"].dtype == np.int64 and out["input_ids"].shape == (3, 6)
    np.testing.assert_array_equal(out["input_ids"], [[2, 20, 3, 0, 0, 0],
                                                     [2, 24, 22, 28, 29, 3],
                                                     [2, 17, 18, 19, 3, 0]])
    np.testing.assert_array_equal(out["attention_mask"], [[1, 1, 1, 0, 0, 0],
                                                          [1, 1, 1, 1, 1, 1],
                                                          [1, 1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(out["token_type_ids"], np.zeros((3, 6)))
    fixed = wp("hello", padding="max_length", max_length=5)
    assert fixed == {"input_ids": [2, 20, 3, 0, 0], "token_type_ids": [0, 0, 0, 0, 0],
                     "attention_mask": [1, 1, 1, 0, 0]}
    one = wp("hello", return_tensors="np")
    assert one["input_ids"].shape == (1, 3)
    with pytest.raises(ValueError, match="return_tensors='np' needs rows of equal length"):
        wp(["hello", "the cafe"], return_tensors="np")
    with pytest.raises(ValueError, match="padding must be False, True, 'longest' or 'max_length', got 'max'"):
        wp("hello", padding="max")


def test_wordpiece_truncation(wp):
    # single text: budget = max_length - 2 special tokens
    out = wp("the cafe is good hello", truncation=True, max_length=4)
    assert out["input_ids"] == [2, 24, 22, 3]
    # pair, longest_first: A has 5 tokens, B has 2, max_length 8 -> budget 8 - 3 = 5
    # the shorter B keeps min(2, 5 // 2) = 2, the longer A keeps 5 - 2 = 3
    out = wp("the cafe is good hello", "hello world", truncation=True, max_length=8)
    assert out["input_ids"] == [2, 24, 22, 28, 3, 20, 21, 3]
    assert out["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1]
    # equal lengths 4 and 4, budget 5: the first keeps 5 // 2 = 2, the second 3
    out = wp("the cafe is good", "a cafe is good", truncation=True, max_length=8)
    assert out["input_ids"] == [2, 24, 22, 3, 25, 22, 28, 3]
    out = wp("the cafe is good", "a cafe is good", truncation="only_second", max_length=8)
    assert out["input_ids"] == [2, 24, 22, 28, 29, 3, 25, 3]
    # max_length alone (padding off) truncates, as in Hugging Face
    assert wp("the cafe is good", max_length=3)["input_ids"] == [2, 24, 3]
    assert len(wp("the cafe is good", truncation=False, max_length=3)["input_ids"]) == 6
    # padding and truncation together give exactly max_length, padding after truncation
    out = wp(["the cafe is good hello", "a"], padding="max_length", truncation=True, max_length=4)
    assert out["input_ids"] == [[2, 24, 22, 3], [2, 25, 3, 0]]
    assert out["attention_mask"] == [[1, 1, 1, 1], [1, 1, 1, 0]]
    with pytest.raises(ValueError, match="max_length must leave room for the 3 special tokens, got 2"):
        wp("a", "a", truncation=True, max_length=2)


def test_wordpiece_decode(wp):
    ids = wp.encode("unaffable running, 我爱你!")
    assert wp.decode(ids) == "unaffable running, 我 爱 你!"
    assert wp.decode(ids, skip_special_tokens=False) == "[CLS] unaffable running, 我 爱 你! [SEP]"
    with pytest.raises(ValueError, match=r"ids must hold ids of this vocabulary \(size 30\), got 99"):
        wp.decode([99])


def test_wordpiece_files(tmp_path, wp):
    vocab_txt = tmp_path / "vocab.txt"
    vocab_txt.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    from_txt = WordPieceTokenizer.from_vocab_file(vocab_txt)
    assert from_txt == wp and from_txt.vocab_size == 30

    hf = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                    "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(VOCAB)}},
          "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                         "strip_accents": None, "lowercase": False}}
    (tmp_path / "tokenizer.json").write_text(json.dumps(hf), encoding="utf-8")
    from_json = WordPieceTokenizer.from_tokenizer_json(tmp_path / "tokenizer.json")
    assert from_json.tokenize("Hello hello") == ["[UNK]", "hello"]       # lowercase: false was read
    # from_pretrained prefers tokenizer.json (cased) over vocab.txt (lower-cased by default)
    picked = WordPieceTokenizer.from_pretrained(tmp_path)
    assert picked.tokenize("Hello") == ["[UNK]"]
    assert load_tokenizer(tmp_path / "tokenizer.json") == from_json      # a Hugging Face file, no "type"
    (tmp_path / "tokenizer.json").unlink()
    assert WordPieceTokenizer.from_pretrained(tmp_path).tokenize("Hello") == ["hello"]
    # tokenizer_config.json's explicit settings win, as in Hugging Face (bert-base-chinese is cased)
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false, "model_max_length": 7}',
                                                    encoding="utf-8")
    cased = WordPieceTokenizer.from_pretrained(tmp_path)
    assert cased.tokenize("Hello") == ["[UNK]"] and cased.model_max_length == 7

    saved = tmp_path / "wp.json"
    from_json.save(saved)
    again = WordPieceTokenizer.load(saved)
    assert again == from_json and not again.do_lower_case
    assert load_tokenizer(saved) == from_json

    bpe_like = tmp_path / "bad.json"
    bpe_like.write_text(json.dumps({"model": {"type": "BPE", "vocab": {}}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json.*model\.type must be 'WordPiece', got 'BPE'"):
        WordPieceTokenizer.from_tokenizer_json(bpe_like)
    with pytest.raises(ValueError, match="vocab must contain the special token '\\[MASK\\]'"):
        WordPieceTokenizer(VOCAB[:4])
