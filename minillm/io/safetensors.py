"""The safetensors file format, read and written with NumPy alone.

Hugging Face ships model weights as `model.safetensors`. The layout is simple
enough to write down completely:

    bytes [0, 8)            N, the header length: unsigned 64-bit, little-endian
    bytes [8, 8 + N)        the header: a UTF-8 JSON object, possibly padded with spaces
                              {"__metadata__": {"key": "value", ...},            (optional)
                               "name": {"dtype": "F32", "shape": [2, 3],
                                        "data_offsets": [begin, end]}, ...}
    bytes [8 + N, EOF)      the data buffer

Tensor `name` is buffer[begin:end], in C order and little-endian, so that
    end - begin = prod(shape) * itemsize(dtype)        (prod(()) = 1 for a 0-d tensor)
and the offsets count from the first byte after the header. The tensors tile
the buffer exactly: sorted by `begin`, the first starts at 0, each starts where
the previous one ends, and the last ends at the end of the file. Anything else
(gaps, overlaps, trailing bytes) is a corrupt file and is refused here.

BF16 (bfloat16) is the top half of a float32, which NumPy does not have: on
read we widen it to float32 exactly by putting the 16 bits back on top of 16
zero bits. We do not write BF16.

Reading: `load_file` returns every tensor; `SafeTensorsFile` parses the header
and reads a tensor only when asked; `read_metadata` returns `__metadata__`.
With mmap=True (the default) the file is memory-mapped and arrays are
read-only views of it (no copy; the OS pages data in when it is touched);
with mmap=False the file is read into memory and arrays are writable copies.
BF16 tensors are always new float32 arrays.
"""
import json
import math
import mmap as _mmap
import os
import struct

import numpy as np

from minillm.atomic import atomic_open
from minillm.checks import check_array

# safetensors dtype name -> how its bytes read in NumPy (little-endian).
# BF16 is read as raw 16-bit words, then widened to float32.
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
# NumPy (kind, itemsize) -> safetensors dtype name, for writing.
_NAME_OF = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items() if name != "BF16"}

# The reference implementation refuses headers above 100 MB; so do we, so that a
# corrupted length cannot make us read a whole multi-gigabyte file as JSON.
MAX_HEADER_BYTES = 100_000_000
_ENTRY_FIELDS = {"dtype", "shape", "data_offsets"}


# ----------------------------------------------------------------------------- writing

def save_file(tensors, path, metadata=None):
    """Write `tensors` (dict name -> ndarray) to `path` in safetensors format.

    Tensors are laid out in sorted name order; the header is padded with spaces
    to a multiple of 8 bytes. `metadata`, if given, is a dict of str -> str.
    The write is atomic: a temporary file in the same directory, then os.replace.
    """
    header, arrays = _serialize(tensors, metadata)
    with atomic_open(path, "wb") as f:
        f.write(header)
        for a in arrays:
            f.write(a.reshape(-1).view(np.uint8))  # the raw bytes, no copy


def save_bytes(tensors, metadata=None):
    """The bytes save_file would write, as one `bytes` object."""
    header, arrays = _serialize(tensors, metadata)
    return header + b"".join(a.tobytes() for a in arrays)


def _serialize(tensors, metadata):
    """Check the input; return (length prefix + padded header, contiguous little-endian arrays)."""
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a dict of name -> numpy.ndarray, got a {type(tensors).__name__}")
    for name in tensors:
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {name!r} ({type(name).__name__})")
        if name == "__metadata__":
            raise ValueError("tensors must not contain the name '__metadata__': the format reserves it")
    header = {}
    if metadata is not None and _checked_metadata(metadata):
        header["__metadata__"] = dict(metadata)
    arrays = []
    begin = 0
    for name in sorted(tensors):
        a = tensors[name]
        check_array(f"tensors[{name!r}]", a)
        dtype_name = _NAME_OF.get((a.dtype.kind, a.dtype.itemsize))
        if dtype_name is None:
            supported = ", ".join(sorted(str(DTYPES[n].newbyteorder("=")) for n in _NAME_OF.values()))
            raise TypeError(f"tensors[{name!r}] has dtype {a.dtype}, which safetensors cannot store; "
                            f"expected one of {supported}")
        a = np.asarray(a, dtype=DTYPES[dtype_name], order="C")  # C order, little-endian (0-d stays 0-d)
        # a tensor owns the bytes [begin, end) of the buffer, right after the previous one
        end = begin + a.nbytes
        header[name] = {"dtype": dtype_name, "shape": list(a.shape), "data_offsets": [begin, end]}
        arrays.append(a)
        begin = end
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text, arrays


def _checked_metadata(metadata):
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict of str -> str, got a {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str -> str, got {key!r}: {value!r} "
                            f"({type(key).__name__} -> {type(value).__name__})")
    return metadata


# ----------------------------------------------------------------------------- reading

class SafeTensorsFile:
    """A safetensors file whose header is read and checked now, and tensors on demand.

        with SafeTensorsFile("model.safetensors") as f:
            print(f.metadata, f.keys())
            W = f.get("wte.weight")

    Every check of the format runs in the constructor, so a corrupt file fails
    here with a ValueError naming the file (and the tensor, where there is one).
    """

    def __init__(self, path, *, mmap=True):
        self.path = os.fspath(path)
        self._copy = not mmap
        self._buffer = _read_buffer(self.path, mmap)
        self._entries, self.metadata, self._data_start = _parse(self._buffer, self.path)

    def keys(self):
        """Tensor names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name):
        return name in self._entries

    def __len__(self):
        return len(self._entries)

    def info(self, name):
        """(dtype name as in the file, shape) of tensor `name`, without reading it."""
        dtype_name, shape, _, _ = self._entry(name)
        return dtype_name, shape

    def get(self, name):
        """Tensor `name` as an ndarray (a read-only view under mmap, else a writable copy)."""
        return _decode(self._buffer, self._data_start, self._entry(name), copy=self._copy,
                       where=f"{self.path}: tensor {name!r}")

    def _entry(self, name):
        if self._buffer is None:
            raise ValueError(f"{self.path}: the file has been closed")
        if name not in self._entries:
            raise KeyError(f"{self.path} has no tensor {name!r}; it has {len(self._entries)} tensors")
        return self._entries[name]

    def close(self):
        # Arrays already handed out keep the mapping alive; it is unmapped when the last one goes.
        self._buffer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_file(path, *, mmap=True):
    """All tensors of a safetensors file, as a dict name -> ndarray.

    mmap=True: read-only arrays viewing the memory-mapped file (no copy).
    mmap=False: the file is read into memory; arrays are writable copies.
    """
    with SafeTensorsFile(path, mmap=mmap) as f:
        return {name: f.get(name) for name in f.keys()}


def read_metadata(path):
    """The `__metadata__` dict (str -> str) of a safetensors file; {} if it has none."""
    with SafeTensorsFile(path) as f:
        return dict(f.metadata)


def load_bytes(data, *, source="<bytes>"):
    """Tensors of an in-memory safetensors image, as writable copies."""
    buffer = memoryview(data).cast("B")
    entries, _, data_start = _parse(buffer, source)
    return {name: _decode(buffer, data_start, entries[name], copy=True, where=f"{source}: tensor {name!r}")
            for name in sorted(entries)}


def _decode(buffer, data_start, entry, *, copy, where):
    """The ndarray that `entry` = (dtype, shape, begin, end) describes in `buffer`."""
    dtype_name, shape, begin, _ = entry
    count = math.prod(shape)
    raw = np.frombuffer(buffer, dtype=DTYPES[dtype_name], count=count, offset=data_start + begin)
    if dtype_name == "BF16":
        # bfloat16 = the high 16 bits of a float32: shift them back into place
        return (raw.astype("<u4") << 16).view("<f4").reshape(shape)
    if dtype_name == "BOOL" and count and raw.view(np.uint8).max() > 1:
        raise ValueError(f"{where}: BOOL tensor holds bytes other than 0 and 1")
    return (raw.copy() if copy else raw).reshape(shape)


def _read_buffer(path, use_mmap):
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if use_mmap and size > 0:  # an empty file cannot be mapped; _parse rejects it anyway
            return _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
        return f.read()


def _parse(buffer, source):
    """Check every rule of the format; return ({name: (dtype, shape, begin, end)}, metadata, data_start)."""
    size = len(buffer)
    if size < 8:
        raise ValueError(f"{source}: file is {size} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", buffer[:8])
    if n > size - 8:
        raise ValueError(f"{source}: header length {n} runs past the end of the file ({size} bytes)")
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"{source}: header length {n} is above the {MAX_HEADER_BYTES}-byte limit")
    try:
        text = bytes(buffer[8:8 + n]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{source}: header is not valid UTF-8 ({e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{source}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{source}: header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{source}: __metadata__ must be an object of str -> str, got {metadata!r}")

    data_start = 8 + n
    data_size = size - data_start
    entries = {name: _parse_entry(info, data_size, f"{source}: tensor {name!r}")
               for name, info in header.items()}

    # The tensors must tile [0, data_size): in order of begin, each starts where the last ended.
    cursor = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if begin != cursor:
            what = "a gap before it" if begin > cursor else "it overlaps the tensor before it"
            raise ValueError(f"{source}: tensor {name!r} starts at byte {begin} but the previous tensor "
                             f"ends at {cursor}: {what}")
        cursor = end
    if cursor != data_size:
        raise ValueError(f"{source}: {data_size - cursor} trailing bytes after the last tensor "
                         f"(data buffer is {data_size} bytes, tensors cover {cursor})")
    return entries, metadata, data_start


def _parse_entry(info, data_size, where):
    if not isinstance(info, dict):
        raise ValueError(f"{where}: entry must be an object with dtype, shape, data_offsets; got {info!r}")
    if set(info) != _ENTRY_FIELDS:
        missing, unknown = _ENTRY_FIELDS - set(info), set(info) - _ENTRY_FIELDS
        raise ValueError(f"{where}: entry must have exactly dtype, shape, data_offsets; "
                         f"missing {sorted(missing)}, unexpected {sorted(unknown)}")
    dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:       # a list or object is no dtype name
        raise ValueError(f"{where}: unknown or unsupported dtype {dtype_name!r}; "
                         f"expected one of {', '.join(DTYPES)}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ValueError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise ValueError(f"{where}: data_offsets must be [begin, end], non-negative integers; got {offsets!r}")
    begin, end = offsets
    if not begin <= end <= data_size:
        raise ValueError(f"{where}: data_offsets {offsets} are out of range: need "
                         f"begin <= end <= {data_size} (the data buffer's size)")
    # end - begin = prod(shape) * itemsize
    nbytes = math.prod(shape) * DTYPES[dtype_name].itemsize
    if end - begin != nbytes:
        raise ValueError(f"{where}: data_offsets span {end - begin} bytes but shape {shape} of "
                         f"{dtype_name} needs {nbytes}")
    return dtype_name, tuple(shape), begin, end


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _refuse_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return dict(pairs)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")
