"""Character-level tokenizer: one id per Unicode character.

The simplest possible vocabulary, used by the demo GPT: every distinct character
of the training text gets an id. It works the same for Chinese and English
(a Chinese character is one token, so is an English letter).

    vocab = ["<unk>"] + sorted(set(text))        id 0 is <unk>
    encode(s) = [stoi.get(c, 0) for c in s]       unknown characters map to <unk>
    decode(ids) = "".join(itos[i] for i in ids)

Sorting makes the ids deterministic: the same text always gives the same vocabulary.
"""
import os

from minillm.atomic import write_json_atomic
from minillm.tokenizers.jsonfile import FORMAT_VERSION, read_tokenizer_json, require_field

UNK_TOKEN = "<unk>"


class CharTokenizer:
    """Maps each character to an id; characters never seen in training map to `<unk>` (id 0)."""

    type_name = "char"

    def __init__(self, chars):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("chars must not repeat a character")
        self.unk_token = UNK_TOKEN
        self.unk_id = 0
        self.itos = [UNK_TOKEN] + chars               # id -> string
        self.stoi = {c: i + 1 for i, c in enumerate(chars)}   # character -> id

    @classmethod
    def train(cls, text):
        """Vocabulary = the sorted set of characters of `text` (plus <unk> at id 0)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return cls(sorted(set(text)))

    @classmethod
    def from_text(cls, text):
        """Same as train(text)."""
        return cls.train(text)

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text):
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [self.stoi.get(c, self.unk_id) for c in text]

    def decode(self, ids):
        V = self.vocab_size
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < V:
                raise ValueError(f"ids must hold ids in [0, {V}), got {i}")
            out.append(self.itos[i])
        return "".join(out)

    def save(self, path):
        write_json_atomic(path, {"type": self.type_name, "version": FORMAT_VERSION, "chars": self.itos[1:]},
                          indent=1)

    @classmethod
    def load(cls, path):
        obj = read_tokenizer_json(path, cls.type_name)
        chars = require_field(path, obj, "chars", list)
        try:
            return cls(chars)
        except ValueError as err:
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: {err}") from None

    def __eq__(self, other):
        return type(other) is type(self) and other.itos == self.itos

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"
