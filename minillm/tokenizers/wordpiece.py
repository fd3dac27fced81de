"""WordPiece, BERT's tokenizer: basic tokenization, then greedy longest-match-first subwords.

Step 1, basic tokenization (no vocabulary needed):
    clean: drop NUL, U+FFFD and control characters; every whitespace character -> " "
    CJK:   put spaces around each CJK ideograph, so each one becomes its own word
    split on whitespace; per word: lower-case and strip accents (NFD, drop marks Mn)
    split each word again before and after every punctuation character
Step 2, WordPiece on each word (vocabulary needed):
    start = 0; repeatedly take the longest vocab entry matching word[start:end]
    (written "##" + piece when start > 0); a word with no match, or longer than
    max_input_chars_per_word characters, becomes the single token [UNK].
        "unaffable" -> ["un", "##aff", "##able"]

Inputs to BERT are [CLS] A [SEP] (and B [SEP] for a pair), with token_type_ids
0 for the first segment and 1 for the second, attention_mask 1 on real tokens
and 0 on [PAD]. Behaviour mirrors Hugging Face's BertTokenizer so that the ids
match a pretrained checkpoint's vocabulary (vocab.txt or tokenizer.json).
"""
import os
import unicodedata
from collections import Counter

import numpy as np

from minillm.atomic import write_json_atomic
from minillm.checks import check_int
from minillm.tokenizers.jsonfile import (
    FORMAT_VERSION,
    read_json_object,
    read_tokenizer_json,
    require_field,
)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


# ----------------------------------------------------------------------------------------------
# Character classes, as BERT defines them

def is_whitespace(ch):
    """Space, tab, newline, carriage return, or any Unicode space separator (Zs)."""
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    """Unicode "other" categories (Cc, Cf, Cn, Co, Cs), except tab/newline/CR (those are whitespace)."""
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    """Unicode punctuation (P*), plus every ASCII non-alphanumeric symbol such as $ + < = > ^ ` | ~."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


# The CJK Unified Ideographs blocks (and extensions A-E) and the compatibility ideographs.
# Japanese kana and Korean hangul are not in these ranges: they are split like any letters.
CJK_RANGES = (
    (0x4E00, 0x9FFF),     # CJK Unified Ideographs
    (0x3400, 0x4DBF),     # Extension A
    (0x20000, 0x2A6DF),   # Extension B
    (0x2A700, 0x2B73F),   # Extension C
    (0x2B740, 0x2B81F),   # Extension D
    (0x2B820, 0x2CEAF),   # Extension E
    (0xF900, 0xFAFF),     # Compatibility Ideographs
    (0x2F800, 0x2FA1F),   # Compatibility Ideographs Supplement
)


def is_cjk_char(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


# ----------------------------------------------------------------------------------------------
# Step 1: basic tokenization

def clean_text(text):
    """Drop NUL, U+FFFD and control characters; map every whitespace character to a space."""
    out = []
    for ch in text:
        if ch == "\x00" or ch == "\ufffd" or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def pad_cjk_chars(text):
    """ "我爱NLP" -> " 我  爱 NLP": each CJK ideograph becomes a word of its own."""
    return "".join(f" {ch} " if is_cjk_char(ch) else ch for ch in text)


def strip_accents(text):
    """ "naïve" -> NFD "nai\u0308ve" -> drop the combining marks (category Mn) -> "naive"."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def split_on_punctuation(word):
    """ "hello,world!" -> ["hello", ",", "world", "!"]: each punctuation character stands alone."""
    pieces = []
    current = []
    for ch in word:
        if is_punctuation(ch):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


def basic_tokenize(text, *, do_lower_case=True, strip_accents_flag=None, tokenize_chinese_chars=True):
    """Words and punctuation of `text`, before WordPiece.

    strip_accents_flag: None follows do_lower_case (BERT's default), True/False forces it.
    """
    text = clean_text(text)
    if tokenize_chinese_chars:
        text = pad_cjk_chars(text)
    # NFC first, so that "e" + U+0301 and the precomposed "é" are treated alike.
    text = unicodedata.normalize("NFC", text)
    words = []
    for word in text.split():
        if do_lower_case:
            word = word.lower()
        if strip_accents_flag or (strip_accents_flag is None and do_lower_case):
            word = strip_accents(word)
        words.extend(split_on_punctuation(word))
    # accent stripping can leave an empty word or expose whitespace: split once more
    return " ".join(words).split()


def build_vocab(texts, *, lowercase, max_words, min_count=2):
    """A small WordPiece vocabulary for `texts`, in id order:

        [PAD] [UNK] [CLS] [SEP] [MASK]
        every character of the texts (a CJK character is a word of its own in BERT)
        "##" + every non-CJK character, so that any word can be spelled piece by piece
        the max_words most frequent words of >= 2 characters seen >= min_count times, whole
          (ties in alphabetical order)
    Frequent words stay whole; a rare word, such as most names, is cut into characters:
    "Okafor" -> O ##k ##a ##f ##o ##r, in training and at test time alike.  Real BERT learns its
    ~30k pieces by merging (like BPE); characters + frequent words are the two ends of that
    range and keep the vocabulary small enough to train in minutes.  lowercase=False keeps case,
    which is evidence for NER ("Lima" vs "lima"), as in bert-base-cased; the tokenizer that uses
    the vocabulary must then be built with do_lower_case=False too.
    """
    check_int("min_count", min_count, low=1)
    check_int("max_words", max_words, low=0)
    counts = Counter(w for text in texts for w in basic_tokenize(text, do_lower_case=lowercase))
    chars = sorted({ch for w in counts for ch in w})
    pieces = ["##" + ch for ch in chars if not is_cjk_char(ch)]
    words = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
             if n >= min_count and len(w) > 1 and not any(is_cjk_char(ch) for ch in w)][:max_words]
    return list(SPECIAL_TOKENS) + chars + pieces + words


# ----------------------------------------------------------------------------------------------
# Step 2: WordPiece

def wordpiece_split(word, vocab, *, unk_token="[UNK]", prefix="##", max_input_chars_per_word=100):
    """Greedy longest-match-first: ["un", "##aff", "##able"] for "unaffable"; [unk_token] if impossible."""
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        match = None
        while start < end:
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                match = piece
                break
            end -= 1
        if match is None:
            return [unk_token]            # one unmatched position spoils the whole word
        pieces.append(match)
        start = end
    return pieces


class WordPieceTokenizer:
    """BERT's tokenizer: `tokenize`, `encode`, `decode`, and a Hugging Face-shaped `__call__`."""

    type_name = "wordpiece"

    def __init__(self, vocab, *, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 max_input_chars_per_word=100, continuing_subword_prefix="##", model_max_length=512,
                 pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                 mask_token="[MASK]"):
        """vocab: the tokens in id order (a list), or a dict token -> id."""
        if isinstance(vocab, dict):
            self.vocab = dict(vocab)
        else:
            self.vocab = {}
            for i, token in enumerate(vocab):
                self.vocab[token] = i         # a repeated token keeps its last id, as BERT's loader does
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.prefix = continuing_subword_prefix
        self.model_max_length = int(model_max_length)
        self.pad_token, self.unk_token, self.cls_token = pad_token, unk_token, cls_token
        self.sep_token, self.mask_token = sep_token, mask_token
        self.special_tokens = [pad_token, unk_token, cls_token, sep_token, mask_token]
        for token in self.special_tokens:
            if token not in self.vocab:
                raise ValueError(f"vocab must contain the special token {token!r}, it does not")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self.vocab[t] for t in self.special_tokens)
        self.special_ids = set(self.vocab[t] for t in self.special_tokens)

    @property
    def vocab_size(self):
        return len(self.vocab)

    # ---------------- text -> tokens -> ids

    def _split_special(self, text):
        """Cut out special tokens written literally in the text ("[SEP]"), longest first."""
        chunks = [(text, False)]
        for token in sorted(self.special_tokens, key=len, reverse=True):
            out = []
            for chunk, is_special in chunks:
                if is_special:
                    out.append((chunk, True))
                    continue
                parts = chunk.split(token)
                for k, part in enumerate(parts):
                    if k:
                        out.append((token, True))
                    if part:
                        out.append((part, False))
            chunks = out
        return chunks

    def tokenize(self, text):
        """Text -> WordPiece tokens (no [CLS]/[SEP] added)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        tokens = []
        for chunk, is_special in self._split_special(text):
            if is_special:
                tokens.append(chunk)
                continue
            for word in basic_tokenize(chunk, do_lower_case=self.do_lower_case,
                                       strip_accents_flag=self.strip_accents,
                                       tokenize_chinese_chars=self.tokenize_chinese_chars):
                tokens.extend(wordpiece_split(word, self.vocab, unk_token=self.unk_token, prefix=self.prefix,
                                              max_input_chars_per_word=self.max_input_chars_per_word))
        return tokens

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, self.unk_id) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        out = []
        for i in ids:
            i = int(i)
            if i not in self.ids_to_tokens:
                raise ValueError(f"ids must hold ids of this vocabulary (size {self.vocab_size}), got {i}")
            out.append(self.ids_to_tokens[i])
        return out

    def build_inputs(self, ids_a, ids_b=None):
        """[CLS] A [SEP] (B [SEP]) and the matching token_type_ids (0 for A's part, 1 for B's)."""
        input_ids = [self.cls_id] + ids_a + [self.sep_id]
        token_type_ids = [0] * len(input_ids)
        if ids_b is not None:
            input_ids += ids_b + [self.sep_id]
            token_type_ids += [1] * (len(ids_b) + 1)
        return input_ids, token_type_ids

    def encode(self, text, text_pair=None, *, add_special_tokens=True):
        ids_a = self.convert_tokens_to_ids(self.tokenize(text))
        ids_b = None if text_pair is None else self.convert_tokens_to_ids(self.tokenize(text_pair))
        if not add_special_tokens:
            return ids_a if ids_b is None else ids_a + ids_b
        return self.build_inputs(ids_a, ids_b)[0]

    # ---------------- the Hugging Face call shape

    def _truncate(self, ids_a, ids_b, max_length, strategy, add_special_tokens):
        n_special = (2 if ids_b is None else 3) if add_special_tokens else 0
        budget = max_length - n_special
        if budget < 0:
            raise ValueError(f"max_length must leave room for the {n_special} special tokens, got {max_length}")
        if ids_b is None:
            if strategy == "only_second" and len(ids_a) > budget:
                raise ValueError("truncation='only_second' needs a text_pair, got none")
            return ids_a[:budget], None
        ids_a, ids_b = list(ids_a), list(ids_b)
        excess = len(ids_a) + len(ids_b) - budget
        if excess <= 0:
            return ids_a, ids_b
        if strategy == "only_first":
            if excess >= len(ids_a):
                raise ValueError(f"cannot cut {excess} tokens from the first text and keep one: "
                                 f"it has {len(ids_a)}")
            return ids_a[:len(ids_a) - excess], ids_b
        if strategy == "only_second":
            if excess >= len(ids_b):
                raise ValueError(f"cannot cut {excess} tokens from the text_pair and keep one: "
                                 f"it has {len(ids_b)}")
            return ids_a, ids_b[:len(ids_b) - excess]
        # longest_first: the shorter text keeps min(its length, budget // 2) tokens, the longer one
        # the rest of the budget (on a tie the first text counts as the shorter one). This is the
        # rule of Hugging Face's Rust tokenizers (transformers' BertTokenizer from v5, BertTokenizerFast);
        # the old pure-Python BertTokenizer removed one token at a time and, on a tie, from the pair.
        # $$ n_\mathrm{short} = \min\left(|\mathrm{short}|,\ \left\lfloor \frac{\mathrm{budget}}{2} \right\rfloor\right), \qquad n_\mathrm{long} = \mathrm{budget} - n_\mathrm{short} $$
        if len(ids_a) > len(ids_b):
            keep_b = min(len(ids_b), budget // 2)
            keep_a = budget - keep_b
        else:
            keep_a = min(len(ids_a), budget // 2)
            keep_b = budget - keep_a
        return ids_a[:keep_a], ids_b[:keep_b]

    def __call__(self, text, text_pair=None, *, add_special_tokens=True, padding=False, truncation=None,
                 max_length=None, return_tensors=None):
        """Encode one text (str) or a batch (list of str), optionally paired with text_pair.

        padding: False | True or "longest" (pad the batch to its longest) | "max_length"
        truncation: None (as Hugging Face: truncate only if max_length is given and padding is off)
                    | False | True or "longest_first" | "only_first" | "only_second"
        return_tensors: None (Python lists) | "np" (int64 arrays of shape (batch, n))
        Returns {"input_ids", "token_type_ids", "attention_mask"}.
        """
        batched = isinstance(text, (list, tuple))
        if not batched and text_pair == "":
            text_pair = None                  # as Hugging Face: an empty pair text means "no pair"
        texts = list(text) if batched else [text]
        if text_pair is None:
            pairs = [None] * len(texts)
        else:
            if isinstance(text_pair, (list, tuple)) != batched:
                raise ValueError("text_pair must be a str when text is a str, and a list when text is a list")
            pairs = list(text_pair) if batched else [text_pair]
            if len(pairs) != len(texts):
                raise ValueError(f"text_pair must have one entry per text ({len(texts)}), got {len(pairs)}")
        padding = {False: "do_not_pad", True: "longest"}.get(padding, padding)
        if padding not in ("do_not_pad", "longest", "max_length"):
            raise ValueError(f"padding must be False, True, 'longest' or 'max_length', got {padding!r}")
        if truncation is None:
            truncation = max_length is not None and padding == "do_not_pad"
        truncation = {False: "do_not_truncate", True: "longest_first"}.get(truncation, truncation)
        if truncation not in ("do_not_truncate", "longest_first", "only_first", "only_second"):
            raise ValueError("truncation must be None, False, True, 'longest_first', 'only_first' or "
                             f"'only_second', got {truncation!r}")
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be None or 'np', got {return_tensors!r}")
        if max_length is None and (truncation != "do_not_truncate" or padding == "max_length"):
            max_length = self.model_max_length
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 1):
            raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")

        rows = []
        for a, b in zip(texts, pairs):
            ids_a = self.convert_tokens_to_ids(self.tokenize(a))
            ids_b = None if b is None else self.convert_tokens_to_ids(self.tokenize(b))
            if truncation != "do_not_truncate":
                ids_a, ids_b = self._truncate(ids_a, ids_b, max_length, truncation, add_special_tokens)
            if add_special_tokens:
                input_ids, type_ids = self.build_inputs(ids_a, ids_b)
            else:
                input_ids = ids_a + (ids_b or [])
                type_ids = [0] * len(ids_a) + [1] * len(ids_b or [])
            rows.append((input_ids, type_ids))

        n = {"longest": max(len(r[0]) for r in rows), "max_length": max_length}.get(padding)
        out = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        for input_ids, type_ids in rows:
            pad = 0 if n is None else max(0, n - len(input_ids))
            out["input_ids"].append(input_ids + [self.pad_id] * pad)
            out["token_type_ids"].append(type_ids + [0] * pad)
            out["attention_mask"].append([1] * len(input_ids) + [0] * pad)
        if return_tensors == "np":
            if len(set(len(r) for r in out["input_ids"])) > 1:
                raise ValueError("return_tensors='np' needs rows of equal length: pass padding=True")
            return {k: np.array(v, dtype=np.int64).reshape(len(v), -1) for k, v in out.items()}
        if not batched:
            out = {k: v[0] for k, v in out.items()}
        return out

    # ---------------- ids -> text

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=True):
        """Join tokens with spaces, glue "##" pieces to their word, tidy spaces before punctuation."""
        if isinstance(ids, np.ndarray):
            ids = ids.reshape(-1).tolist()
        tokens = [t for i, t in zip(ids, self.convert_ids_to_tokens(ids))
                  if not (skip_special_tokens and int(i) in self.special_ids)]
        text = " ".join(tokens).replace(" " + self.prefix, "").strip()
        if clean_up_tokenization_spaces:
            for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                                  (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                                  (" 're", "'re")):
                text = text.replace(before, after)
        return text

    # ---------------- files

    def _settings(self):
        return {
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "continuing_subword_prefix": self.prefix,
            "model_max_length": self.model_max_length,
            "pad_token": self.pad_token, "unk_token": self.unk_token, "cls_token": self.cls_token,
            "sep_token": self.sep_token, "mask_token": self.mask_token,
        }

    def save(self, path):
        V = self.vocab_size
        if sorted(self.ids_to_tokens) != list(range(V)):
            raise ValueError("save needs the vocabulary ids to be exactly 0 .. vocab_size - 1")
        write_json_atomic(path, {"type": self.type_name, "version": FORMAT_VERSION, **self._settings(),
                                 "vocab": [self.ids_to_tokens[i] for i in range(V)]}, indent=1)

    @classmethod
    def load(cls, path):
        obj = read_tokenizer_json(path, cls.type_name)
        vocab = require_field(path, obj, "vocab", list)
        if not all(isinstance(t, str) for t in vocab):
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: field 'vocab' must be a list of strings")
        kwargs = {}
        for name, kind in (("do_lower_case", bool), ("tokenize_chinese_chars", bool),
                           ("max_input_chars_per_word", int), ("continuing_subword_prefix", str),
                           ("model_max_length", int), ("pad_token", str), ("unk_token", str),
                           ("cls_token", str), ("sep_token", str), ("mask_token", str)):
            kwargs[name] = require_field(path, obj, name, kind)
        if obj.get("strip_accents") not in (None, True, False):
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: field 'strip_accents' must be null or a bool")
        try:
            return cls(vocab, strip_accents=obj.get("strip_accents"), **kwargs)
        except ValueError as err:
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: {err}") from None

    @classmethod
    def from_vocab_file(cls, path, do_lower_case=True, **kwargs):
        """BERT's vocab.txt: one token per line, the line number is the id."""
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\r\n") for line in f]
        try:
            return cls(tokens, do_lower_case=do_lower_case, **kwargs)
        except ValueError as err:
            raise ValueError(f"vocab file {os.fspath(path)!r}: {err}") from None

    @classmethod
    def from_tokenizer_json(cls, path, **kwargs):
        """A Hugging Face tokenizer.json whose model.type is "WordPiece"."""
        obj = read_json_object(path)
        model = obj.get("model")
        if not isinstance(model, dict) or model.get("type") != "WordPiece":
            got = model.get("type") if isinstance(model, dict) else model
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: model.type must be 'WordPiece', got {got!r}")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: model.vocab must map tokens to int ids")
        settings = {
            "continuing_subword_prefix": model.get("continuing_subword_prefix", "##"),
            "max_input_chars_per_word": model.get("max_input_chars_per_word", 100),
            "unk_token": model.get("unk_token", "[UNK]"),
        }
        normalizer = obj.get("normalizer") or {}
        steps = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
        types = [s.get("type") for s in steps if isinstance(s, dict)]
        if "BertNormalizer" in types:
            bert = steps[types.index("BertNormalizer")]
            settings["do_lower_case"] = bool(bert.get("lowercase", True))
            settings["strip_accents"] = bert.get("strip_accents")
            settings["tokenize_chinese_chars"] = bool(bert.get("handle_chinese_chars", True))
        else:
            settings["do_lower_case"] = "Lowercase" in types
            settings["strip_accents"] = "StripAccents" in types
        settings.update(kwargs)
        try:
            return cls(vocab, **settings)
        except ValueError as err:
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: {err}") from None

    @classmethod
    def from_pretrained(cls, folder):
        """A Hugging Face model folder: tokenizer.json if present, else vocab.txt.

        tokenizer_config.json, when present, overrides model_max_length, do_lower_case,
        strip_accents and tokenize_chinese_chars with the values it sets explicitly
        (as Hugging Face does); otherwise vocab.txt means lower-casing on.
        """
        folder = os.fspath(folder)
        config = {}
        config_path = os.path.join(folder, "tokenizer_config.json")
        if os.path.exists(config_path):
            config = read_json_object(config_path)
        kwargs = {}
        if isinstance(config.get("model_max_length"), int) and config["model_max_length"] < 10**9:
            kwargs["model_max_length"] = config["model_max_length"]
        for name in ("do_lower_case", "strip_accents", "tokenize_chinese_chars"):
            if name in config:
                kwargs[name] = config[name]
        if os.path.exists(os.path.join(folder, "tokenizer.json")):
            return cls.from_tokenizer_json(os.path.join(folder, "tokenizer.json"), **kwargs)
        if os.path.exists(os.path.join(folder, "vocab.txt")):
            return cls.from_vocab_file(os.path.join(folder, "vocab.txt"), **kwargs)
        raise FileNotFoundError(f"folder {folder!r} has neither tokenizer.json nor vocab.txt")

    def __eq__(self, other):
        return type(other) is type(self) and other.vocab == self.vocab and other._settings() == self._settings()

    def __repr__(self):
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case})"
