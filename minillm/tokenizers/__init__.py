"""Tokenizers: text <-> integer ids. Three of them, one interface.

    tok.encode(text) -> list[int]       tok.decode(ids) -> str       tok.vocab_size
    tok.save(path)                      Class.load(path)             load_tokenizer(path)

CharTokenizer      one id per character (the demo GPT's tokenizer)          char.py
ByteBPETokenizer   byte-level BPE, as in GPT-2: merges learned over bytes    bpe.py
WordPieceTokenizer BERT's tokenizer; reads Hugging Face vocab.txt / tokenizer.json   wordpiece.py
"""
import os

from minillm.tokenizers.bpe import ByteBPETokenizer
from minillm.tokenizers.char import CharTokenizer
from minillm.tokenizers.jsonfile import read_json_object
from minillm.tokenizers.wordpiece import WordPieceTokenizer

TOKENIZER_TYPES = {
    CharTokenizer.type_name: CharTokenizer,
    ByteBPETokenizer.type_name: ByteBPETokenizer,
    WordPieceTokenizer.type_name: WordPieceTokenizer,
}


def load_tokenizer(path):
    """Load any tokenizer saved by this package, choosing the class from the file's "type" field.

    A Hugging Face tokenizer.json with a WordPiece model is also accepted.
    """
    obj = read_json_object(path)
    kind = obj.get("type")
    if kind in TOKENIZER_TYPES:
        return TOKENIZER_TYPES[kind].load(path)
    if kind is None and isinstance(obj.get("model"), dict):
        return WordPieceTokenizer.from_tokenizer_json(path)
    raise ValueError(
        f"tokenizer file {os.fspath(path)!r} has type {kind!r}, expected one of {sorted(TOKENIZER_TYPES)}"
    )


__all__ = ["CharTokenizer", "ByteBPETokenizer", "WordPieceTokenizer", "load_tokenizer"]
