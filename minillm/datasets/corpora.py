"""Corpora and task files: Tiny Shakespeare, plain text, GLUE-style TSV, CoNLL (article §7.2).

Every reader fails with a ValueError that names the file and, where it helps, the line
(or byte offset) and what was expected there.  Nothing touches the network except
`download_with_checksum`, which verifies a SHA-256 before anything is kept on disk.
"""
import errno
import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

from minillm.atomic import write_bytes_atomic
from minillm.checks import check_number

# the clone minillm was installed from (pip install -e .), and its data/ folder; notebooks of both editions
# (notebooks/, notebooks/zh/) find the project's files through these, whatever folder they run in
PROJECT_DIR = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_DIR / "data"
# the shipped English and Chinese text (the demo GPT's corpus, BERT's pre-training text)
CORPUS_FILES = (DATA_DIR / "corpus_en.txt", DATA_DIR / "corpus_zh.txt")

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINY_SHAKESPEARE_BYTES = 1_115_394


class DataFileNotFoundError(FileNotFoundError, ValueError):
    """A data file is missing: catchable as FileNotFoundError or as ValueError."""


def resolve_cache_dir(path=None):
    """Folder for downloads: `path`, else $MINILLM_CACHE, else ~/.cache/minillm."""
    if path is None:
        path = os.environ.get("MINILLM_CACHE") or Path.home() / ".cache" / "minillm"
    return Path(path).expanduser()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _atomic_write_bytes(dest, data):
    """Write to a temporary file next to `dest`, then rename: readers never see half a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(dest, data)


def download_with_checksum(url, sha256, dest, *, timeout=60):
    """Fetch `url` into `dest` unless `dest` already holds bytes with this SHA-256; return dest.

    Raises RuntimeError when the download fails (no network) and ValueError when the bytes
    received do not hash to `sha256`; both messages name the URL and the expected hash.
    Nothing is written unless the checksum matches.
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    if dest.is_file() and _sha256(dest.read_bytes()) == sha256:
        return dest                                    # cached and intact
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
        try:
            data = response if isinstance(response, (bytes, bytearray)) else response.read()
        finally:
            getattr(response, "close", lambda: None)()
    except (OSError, http.client.HTTPException) as err:      # URLError, timeouts, cut connections
        raise RuntimeError(
            f"could not download {url} (expected SHA-256 {sha256}): {err}. Without network, "
            f"download it elsewhere and pass its path, or copy it to {dest}") from err
    got = _sha256(data)
    if got != sha256:
        raise ValueError(f"checksum mismatch for {url}: expected SHA-256 {sha256}, got {got} "
                         f"({len(data)} bytes); the file was not saved")
    _atomic_write_bytes(dest, bytes(data))
    return dest


def tiny_shakespeare(path=None, cache_dir=None):
    """The Tiny Shakespeare corpus (char-rnn's input.txt, 1,115,394 bytes) as one string.

    With `path`, read that file.  Otherwise download it once into `cache_dir`
    (default $MINILLM_CACHE or ~/.cache/minillm) and check its SHA-256.
    """
    if path is not None:
        return read_text(path)
    dest = download_with_checksum(TINY_SHAKESPEARE_URL, TINY_SHAKESPEARE_SHA256,
                                  resolve_cache_dir(cache_dir) / "tinyshakespeare.txt")
    return read_text(dest)


def read_text(path):
    """A UTF-8 text file as a str (a leading BOM dropped, \\r\\n and \\r read as \\n).

    Missing file -> DataFileNotFoundError (a FileNotFoundError and a ValueError);
    empty file or bytes that are not UTF-8 -> ValueError naming the path (and byte offset).
    """
    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(errno.ENOENT, "no such file (expected a UTF-8 text file)", str(path))
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file (expected a UTF-8 text file)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path} is not valid UTF-8: byte 0x{data[err.start]:02x} at byte offset "
                         f"{err.start} (line {line}) cannot be decoded ({err.reason})") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if text == "":
        raise ValueError(f"{path} is empty (expected some text)")
    return text


# train = data[:n_train], val = data[n_train:],  n_train = int(len(data) * (1 - val_fraction))
def train_val_split(data, val_fraction=0.1):
    """First (1 - val_fraction) of `data` for training, the rest for validation (nanoGPT's split).

    Contiguous, not shuffled: the validation text is unseen text, not scattered sentences.
    Works on anything sliceable (str, list, 1-D array); returns (train, val).
    """
    check_number("val_fraction", val_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    n = len(data)
    n_train = int(n * (1 - val_fraction))
    if n_train == 0 or n_train == n:
        raise ValueError(f"data must be long enough for both parts with val_fraction={val_fraction}, "
                         f"got length {n} ({n_train} train, {n - n_train} val)")
    return data[:n_train], data[n_train:]


def _lines(path):
    """(line number, line) pairs of a text file, numbered from 1."""
    return list(enumerate(read_text(path).split("\n"), start=1))


def read_glue_tsv(path, label_column="label", text_columns=None):
    """A GLUE-style TSV file with a header row, as a dict of columns.

    Returns {column name: list of values}: each of `text_columns` (default: every column
    except the label) as strings, and `label_column` as ints (label_column=None: no labels,
    as in GLUE test files).  Fields are split on tabs with no quoting; blank lines are skipped.
    """
    path = Path(path)
    lines = [(i, line) for i, line in _lines(path) if line.strip() != ""]
    if not lines:
        raise ValueError(f"{path} has no header row (expected tab-separated column names)")
    header_line, header = lines[0][0], lines[0][1].split("\t")
    if len(set(header)) != len(header):
        raise ValueError(f"{path}:{header_line}: header must name each column once, got {header}")
    if label_column is not None and label_column not in header:
        raise ValueError(f"{path}:{header_line}: header has no label column {label_column!r}, got "
                         f"columns {header} (is the header row missing?)")
    if text_columns is None:
        text_columns = [name for name in header if name != label_column]
    for name in text_columns:
        if name not in header:
            raise ValueError(f"{path}:{header_line}: header has no text column {name!r}, got columns {header}")
    columns = {name: [] for name in text_columns}
    if label_column is not None:
        columns[label_column] = []
    for i, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ValueError(f"{path}:{i}: expected {len(header)} tab-separated fields like the header, "
                             f"got {len(fields)}")
        row = dict(zip(header, fields))
        for name in text_columns:
            columns[name].append(row[name])
        if label_column is not None:
            try:
                columns[label_column].append(int(row[label_column]))
            except ValueError:
                raise ValueError(f"{path}:{i}: label column {label_column!r} must hold an integer, "
                                 f"got {row[label_column]!r}") from None
    return columns


def read_conll(path, word_column=0, tag_column=-1):
    """Sentences of a CoNLL-format file as a list of (words, tags).

    One token per line, whitespace-separated columns (CoNLL-2003: word POS chunk NER);
    blank lines end sentences; -DOCSTART- lines are skipped.  Every token line must have
    as many columns as the first one.
    """
    path = Path(path)
    sentences, words, tags = [], [], []
    n_columns = None
    for i, line in _lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        if n_columns is None:
            n_columns = len(fields)
            for name, column in (("word_column", word_column), ("tag_column", tag_column)):
                if not -n_columns <= column < n_columns:
                    raise ValueError(f"{name} must index one of the {n_columns} columns of {path} "
                                     f"(line {i}), got {column}")
        if len(fields) != n_columns:
            raise ValueError(f"{path}:{i}: expected {n_columns} whitespace-separated columns like the "
                             f"first token line, got {len(fields)}")
        words.append(fields[word_column])
        tags.append(fields[tag_column])
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise ValueError(f"{path} holds no sentences (expected token lines separated by blank lines)")
    return sentences
