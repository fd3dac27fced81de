"""Byte-level BPE (byte-pair encoding), the tokenizer family of GPT-2 and most LLMs.

Text is UTF-8 bytes, so the 256 byte values are the base vocabulary and any
string (Chinese, emoji, ...) can be encoded with no <unk>. Training repeats:

    (a, b) = argmax over adjacent pairs of count(a, b)     ties: the smallest (a, b)
    new id = 256 + number of merges so far;  replace every "a b" by the new id

until the vocabulary has `vocab_size` entries. Before counting, the text is cut
into pre-tokens (words with their leading space, digit runs, punctuation runs,
whitespace runs) so that no merge crosses a word boundary. Counting works on
the *unique* pre-tokens weighted by their frequency, and when a merge is
applied only the words that contain the merged pair are revisited: their old
pairs are subtracted and their new pairs added (no rescan of the corpus).

Encoding a word replays the merges in the order they were learned: always merge
the adjacent pair with the lowest merge rank, until no learned pair remains.
"""
import heapq
import os
import re
from collections import Counter, defaultdict

from minillm.atomic import write_json_atomic
from minillm.checks import check_int
from minillm.tokenizers.jsonfile import FORMAT_VERSION, read_tokenizer_json, require_field

# Pre-tokenizer, in the spirit of GPT-2's pattern, written for Python's `re`
# (which has no \p{L}: a letter is "a word character that is neither a digit nor _").
#   's 't 're 've 'm 'll 'd      English contractions
#   " ?" + letters               a word with its leading space
#   " ?" + digits                a number with its leading space
#   " ?" + other symbols         punctuation / emoji runs with their leading space
#   whitespace not followed by a non-space, then any remaining whitespace
# Every character matches one branch, so the pieces concatenate back to the text.
PRETOKENIZE_PATTERN = re.compile(
    r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"
)


def pretokenize(text):
    """Split text into pre-tokens; "".join(pretokenize(text)) == text."""
    return PRETOKENIZE_PATTERN.findall(text)


def merge_pair(ids, pair, new_id):
    """Replace every non-overlapping occurrence of `pair`, left to right, by new_id."""
    a, b = pair
    out = []
    i = 0
    n = len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(word_counts, n_merges):
    """Learn up to `n_merges` merges from {pre-token bytes: frequency}.

    Returns a list of pairs; merge k creates token id 256 + k.
    """
    words = [list(w) for w in word_counts]                  # each word as a list of token ids
    freqs = [word_counts[w] for w in word_counts]
    # count(a, b) = sum over words of freq(word) * occurrences of "a b" in word
    # $$ \operatorname{count}(a, b) = \sum_\mathrm{word} \operatorname{freq}(\mathrm{word}) \cdot \#\{\text{occurrences of } a\, b \text{ in word}\} $$
    pair_counts = Counter()
    where = defaultdict(set)                                # pair -> indices of words that (may) contain it
    for i, (w, f) in enumerate(zip(words, freqs)):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += f
            where[pair].add(i)
    # Max-heap of (-count, pair): the smallest tuple is the largest count, ties -> smallest pair.
    # Entries go stale when a count changes; a popped entry is used only if it is current.
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        neg_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg_count:
            continue                                         # stale entry
        new_id = 256 + len(merges)
        merges.append(pair)
        changed = set()
        for i in sorted(where.pop(pair)):
            old = words[i]
            new = merge_pair(old, pair, new_id)
            if len(new) == len(old):
                continue                                     # stale index: the pair left this word earlier
            f = freqs[i]
            # incremental update: this word's old pairs leave the counts, its new pairs join them
            for p in zip(old, old[1:]):
                pair_counts[p] -= f
                changed.add(p)
            for p in zip(new, new[1:]):
                pair_counts[p] += f
                where[p].add(i)
                changed.add(p)
            words[i] = new
        for p in changed:
            c = pair_counts[p]
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                del pair_counts[p]
    return merges


class ByteBPETokenizer:
    """Byte-level BPE: 256 byte tokens + learned merges; encode/decode round-trip any text."""

    type_name = "byte_bpe"

    def __init__(self, merges=()):
        merges = [tuple(m) for m in merges]
        # vocab[id] = the bytes that token id stands for
        self.vocab = [bytes([b]) for b in range(256)]
        self.merges = []
        self.ranks = {}                                      # pair -> merge index (lower = learned earlier)
        for k, (a, b) in enumerate(merges):
            new_id = 256 + k
            for x in (a, b):
                if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < new_id:
                    raise ValueError(f"merges[{k}] must pair ids in [0, {new_id}), got {(a, b)!r}")
            if (a, b) in self.ranks:
                raise ValueError(f"merges[{k}] repeats the pair {(a, b)!r}")
            self.merges.append((a, b))
            self.ranks[(a, b)] = k
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._cache = {}                                     # pre-token -> ids

    @classmethod
    def train(cls, text, vocab_size):
        """Learn vocab_size - 256 merges from `text` (fewer if the text runs out of pairs)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        check_int("vocab_size", vocab_size, low=256)
        word_counts = Counter(piece.encode("utf-8") for piece in pretokenize(text))
        return cls(learn_merges(word_counts, vocab_size - 256))

    @property
    def vocab_size(self):
        return len(self.vocab)

    def _encode_piece(self, piece):
        ids = list(piece.encode("utf-8"))
        while len(ids) >= 2:
            # the adjacent pair learned earliest is merged first, as in training
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            ids = merge_pair(ids, pair, 256 + self.ranks[pair])
        return ids

    def encode(self, text):
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out = []
        for piece in pretokenize(text):
            ids = self._cache.get(piece)
            if ids is None:
                ids = self._encode_piece(piece)
                if len(self._cache) < 100_000:
                    self._cache[piece] = ids
            out.extend(ids)
        return out

    def decode_bytes(self, ids):
        V = self.vocab_size
        parts = []
        for i in ids:
            i = int(i)
            if not 0 <= i < V:
                raise ValueError(f"ids must hold ids in [0, {V}), got {i}")
            parts.append(self.vocab[i])
        return b"".join(parts)

    def decode(self, ids):
        # A sampled sequence may stop inside a multi-byte character: show U+FFFD there.
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def save(self, path):
        write_json_atomic(path, {
            "type": self.type_name,
            "version": FORMAT_VERSION,
            "merges": [list(m) for m in self.merges],
        }, indent=1)

    @classmethod
    def load(cls, path):
        obj = read_tokenizer_json(path, cls.type_name)
        merges = require_field(path, obj, "merges", list)
        for k, m in enumerate(merges):
            if not isinstance(m, list) or len(m) != 2:
                raise ValueError(f"tokenizer file {os.fspath(path)!r}: merges[{k}] must be a pair [a, b], "
                                 f"got {m!r}")
        try:
            return cls(merges)
        except ValueError as err:
            raise ValueError(f"tokenizer file {os.fspath(path)!r}: {err}") from None

    def __eq__(self, other):
        return type(other) is type(self) and other.merges == self.merges

    def __repr__(self):
        return f"ByteBPETokenizer(vocab_size={self.vocab_size})"
