"""safetensors: round trips, byte-exact files built by hand from the spec, and corrupted files."""
import json
import os
import struct

import numpy as np
import pytest

from minillm.io import SafeTensorsFile, load_file, read_metadata, save_file
from minillm.io.safetensors import load_bytes, save_bytes

# The spec's dtype table, written out independently of the module under test.
SPEC_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
               "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def file_bytes(header_text, payload):
    """A safetensors file by hand: 8-byte little-endian length, the header, the data."""
    header = header_text.encode("utf-8")
    return struct.pack("<Q", len(header)) + header + payload


def values_of(dtype, shape):
    n = int(np.prod(shape))
    if dtype == np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    if np.dtype(dtype).kind == "f":
        return np.linspace(-3.5, 7.25, n).astype(dtype).reshape(shape)
    flat = np.arange(n).astype(dtype)
    if n >= 2:  # hit both extremes of the integer type
        flat[0], flat[-1] = np.iinfo(dtype).min, np.iinfo(dtype).max
    return flat.reshape(shape)


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("spec_name", sorted(SPEC_DTYPES))
@pytest.mark.parametrize("use_mmap", [True, False])
def test_round_trip_every_dtype_and_shape(tmp_path, spec_name, use_mmap):
    dtype = np.dtype(SPEC_DTYPES[spec_name]).newbyteorder("=")
    tensors = {f"t{i}": values_of(dtype, shape) for i, shape in enumerate([(), (0,), (5,), (2, 3), (3, 0, 2)])}
    path = tmp_path / "m.safetensors"
    save_file(tensors, path)
    header = json.loads(path.read_bytes()[8:8 + struct.unpack("<Q", path.read_bytes()[:8])[0]])
    assert {header[k]["dtype"] for k in tensors} == {spec_name}
    loaded = load_file(path, mmap=use_mmap)
    assert sorted(loaded) == sorted(tensors)
    for name, a in tensors.items():
        b = loaded[name]
        assert b.dtype == a.dtype and b.shape == a.shape
        assert b.tobytes() == a.tobytes()
        assert b.flags.writeable == (not use_mmap)  # mmap: read-only views; otherwise copies


def test_mmap_arrays_are_read_only_and_copies_are_independent(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": np.arange(4.0)}, path)
    with pytest.raises(ValueError, match="read-only"):
        load_file(path)["w"][0] = 1.0
    copy = load_file(path, mmap=False)["w"]
    copy[0] = 9.0
    assert load_file(path)["w"][0] == 0.0


def test_non_contiguous_and_big_endian_inputs_are_written_as_c_order_little_endian(tmp_path):
    x = np.arange(12.0).reshape(3, 4).T  # a transposed view: Fortran order
    y = np.array([1, 256, -2], dtype=">i4")
    data = save_bytes({"x": x, "y": y})
    n = struct.unpack("<Q", data[:8])[0]
    payload = data[8 + n:]
    assert payload[:96] == struct.pack("<12d", 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11)
    assert payload[96:] == struct.pack("<3i", 1, 256, -2)
    loaded = load_bytes(data)
    assert np.array_equal(loaded["x"], x) and np.array_equal(loaded["y"], y)


def test_empty_file_round_trips():
    data = save_bytes({})
    assert data == struct.pack("<Q", 8) + b"{}      "
    assert load_bytes(data) == {}


# ----------------------------------------------------------------------------- known answers

def test_reader_decodes_a_file_built_by_hand_from_the_spec(tmp_path):
    # Header written literally, in non-sorted order, with padding spaces, metadata last.
    header = ('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[2,18]},'
              '"n":{"dtype":"I16","shape":[],"data_offsets":[0,2]},'
              '"__metadata__":{"format":"np"}}    ')
    payload = struct.pack("<h", -7) + struct.pack("<4f", 1.5, -2.0, 0.25, 1e30)
    path = tmp_path / "hand.safetensors"
    path.write_bytes(file_bytes(header, payload))
    loaded = load_file(path)
    assert loaded["n"].dtype == np.int16 and loaded["n"].shape == () and loaded["n"] == -7
    assert loaded["w"].dtype == np.float32
    assert loaded["w"].tolist() == [[1.5, -2.0], [0.25, np.float32(1e30)]]
    assert read_metadata(path) == {"format": "np"}


def test_writer_produces_the_exact_bytes_of_the_spec(tmp_path):
    path = tmp_path / "out.safetensors"
    save_file({"w": np.array([1.5, -2.0], dtype=np.float32), "n": np.array(-7, dtype=np.int16)}, path,
              metadata={"k": "v"})
    header = ('{"__metadata__":{"k":"v"},'
              '"n":{"dtype":"I16","shape":[],"data_offsets":[0,2]},'
              '"w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}')
    header += " " * (-len(header) % 8)  # the reference writer pads to a multiple of 8
    expected = file_bytes(header, struct.pack("<h", -7) + struct.pack("<2f", 1.5, -2.0))
    assert path.read_bytes() == expected
    assert (8 + len(header)) % 8 == 0


def test_bf16_is_read_by_widening_to_float32_exactly():
    x = np.array([1.0, -2.5, 3.14159265, 1e-3, -65504.0, 3.0e38, 0.0, -0.0, np.inf, -np.inf],
                 dtype=np.float32)
    # bfloat16 by truncation: keep the top 16 bits of each float32.
    bits = x.view(np.uint32)
    bf16_words = (bits >> 16).astype(np.uint16)
    # What reading must give back: the float32 whose low 16 bits are zero.
    expected = (bits & np.uint32(0xFFFF0000)).view(np.float32)
    assert expected[0] == 1.0 and expected[1] == -2.5 and expected[2] == 3.140625  # hand-checked values
    header = '{"b":{"dtype":"BF16","shape":[2,5],"data_offsets":[0,20]}}'
    loaded = load_bytes(file_bytes(header, bf16_words.astype("<u2").tobytes()))
    assert loaded["b"].dtype == np.float32 and loaded["b"].shape == (2, 5)
    assert np.array_equal(loaded["b"].reshape(-1).view(np.uint32), expected.view(np.uint32))


def test_bf16_through_a_memory_mapped_file(tmp_path):
    path = tmp_path / "bf16.safetensors"
    words = struct.pack("<3H", 0x3F80, 0xC020, 0x7FC0)  # 1.0, -2.5, NaN
    path.write_bytes(file_bytes('{"b":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}', words))
    b = load_file(path)["b"]
    assert b[0] == 1.0 and b[1] == -2.5 and np.isnan(b[2])


# ----------------------------------------------------------------------------- metadata and lazy access

def test_metadata_round_trip(tmp_path):
    path = tmp_path / "m.safetensors"
    meta = {"format": "np", "语言": "中文", "empty": ""}
    save_file({"w": np.ones(3)}, path, metadata=meta)
    assert read_metadata(path) == meta
    save_file({"w": np.ones(3)}, path)
    assert read_metadata(path) == {}


def test_safetensorsfile_reads_lazily(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"b": np.arange(3, dtype=np.int64), "a": np.eye(2, dtype=np.float16)}, path, metadata={"x": "y"})
    with SafeTensorsFile(path) as f:
        assert f.keys() == ["a", "b"] and len(f) == 2 and "a" in f and "c" not in f
        assert f.metadata == {"x": "y"}
        assert f.info("a") == ("F16", (2, 2))
        assert f.get("b").tolist() == [0, 1, 2]
        with pytest.raises(KeyError, match="no tensor 'c'"):
            f.get("c")
    with pytest.raises(ValueError, match="closed"):
        f.get("a")


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_file({"w": np.arange(3.0)}, path)

    def crash(fd):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_file({"w": np.zeros(1000)}, path)
    monkeypatch.undo()
    assert load_file(path)["w"].tolist() == [0.0, 1.0, 2.0]
    assert os.listdir(tmp_path) == ["m.safetensors"]


# ----------------------------------------------------------------------------- bad input to save

@pytest.mark.parametrize("tensors, error, message", [
    ({1: np.zeros(2)}, TypeError, r"tensor names must be str, got 1 \(int\)"),
    ({"w": [1.0, 2.0]}, TypeError, r"tensors\['w'\] must be a numpy.ndarray, got a list"),
    ({"w": np.zeros(2, dtype=np.complex64)}, TypeError, r"tensors\['w'\] has dtype complex64.*expected one of"),
    ({"w": np.array(["a"])}, TypeError, r"tensors\['w'\] has dtype <U1"),
    ({"w": np.array([None])}, TypeError, r"tensors\['w'\] has dtype object"),
    ({"__metadata__": np.zeros(1)}, ValueError, "reserves it"),
    ([np.zeros(1)], TypeError, "tensors must be a dict.*got a list"),
])
def test_save_refuses_bad_tensors(tmp_path, tensors, error, message):
    with pytest.raises(error, match=message):
        save_file(tensors, tmp_path / "m.safetensors")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("metadata, message", [
    ({"k": 1}, r"metadata must map str -> str, got 'k': 1 \(str -> int\)"),
    ({2: "v"}, r"got 2: 'v' \(int -> str\)"),
    ([("k", "v")], "metadata must be a dict of str -> str, got a list"),
    ([], "metadata must be a dict of str -> str, got a list"),
])
def test_save_refuses_bad_metadata(tmp_path, metadata, message):
    with pytest.raises(TypeError, match=message):
        save_file({"w": np.zeros(1)}, tmp_path / "m.safetensors", metadata=metadata)


# ----------------------------------------------------------------------------- corrupt files, one rule at a time

W = '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
PAYLOAD = struct.pack("<2f", 1.0, 2.0)


@pytest.mark.parametrize("data, message", [
    (b"", "file is 0 bytes, too short"),
    (b"\x08\x00\x00", "file is 3 bytes, too short"),
    (struct.pack("<Q", 100) + b"{}", "header length 100 runs past the end of the file"),
    (struct.pack("<Q", 2**64 - 1) + b"{}", "runs past the end"),
    (struct.pack("<Q", 2) + b"\xff\xfe", "not valid UTF-8"),
    (file_bytes("{" + W, PAYLOAD), "not valid JSON"),
    (file_bytes("", b""), "not valid JSON"),
    (file_bytes('{"a":1,"a":1}', b""), "duplicate key 'a'"),
    (file_bytes('{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,8]}}', PAYLOAD), "NaN is not JSON"),
    (file_bytes("[1, 2]", b""), "header must be a JSON object, got list"),
    (file_bytes('{"__metadata__":{"k":1}}', b""), "__metadata__ must be an object of str -> str"),
    (file_bytes('{"w":[1]}', b""), "tensor 'w': entry must be an object"),
    (file_bytes('{"w":{"dtype":"F32","shape":[2]}}', PAYLOAD), r"tensor 'w'.*missing \['data_offsets'\]"),
    (file_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', PAYLOAD), r"unexpected \['x'\]"),
    (file_bytes('{"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}', PAYLOAD), "unknown or unsupported dtype 'F8_E4M3'"),
    (file_bytes('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', PAYLOAD), r"shape must be a list of non-negative integers, got \[-2\]"),
    (file_bytes('{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', PAYLOAD), "shape must be a list"),
    (file_bytes('{"w":{"dtype":"F32","shape":[true,2],"data_offsets":[0,8]}}', PAYLOAD), "shape must be a list"),
    (file_bytes('{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}', PAYLOAD), "shape must be a list"),
    (file_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', PAYLOAD), r"data_offsets must be \[begin, end\]"),
    (file_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}', PAYLOAD), r"tensor 'w'.*out of range"),
    (file_bytes('{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', PAYLOAD), "out of range"),
    (file_bytes('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', PAYLOAD), r"span 8 bytes but shape \[3\] of F32 needs 12"),
    (file_bytes('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', PAYLOAD), "tensor 'w' starts at byte 4.*a gap"),
    (file_bytes('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', PAYLOAD), "4 trailing bytes"),
    (file_bytes('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', PAYLOAD), "tensor 'b'.*overlaps"),
    (file_bytes('{"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}', b"\x01\x02"), "BOOL tensor holds bytes"),
])
def test_each_format_rule_is_enforced_with_a_clear_message(tmp_path, data, message):
    with pytest.raises(ValueError, match=message):
        load_bytes(data)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as caught:
        load_file(path)
    assert str(path) in str(caught.value)


def test_tensors_may_be_listed_in_any_order_in_the_header():
    header = ('{"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},'
              '"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
              '"e":{"dtype":"U8","shape":[0],"data_offsets":[3,3]}}')
    loaded = load_bytes(file_bytes(header, b"\x01\x02\x03"))
    assert loaded["a"].tolist() == [1, 2] and loaded["b"].tolist() == [3] and loaded["e"].size == 0


# ----------------------------------------------------------------------------- fuzzing

def sample_file():
    return save_bytes({
        "emb": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
        "ids": np.array([3, -1, 7], dtype=np.int16),
        "mask": np.array([True, False, True]),
        "step": np.array(42, dtype=np.int64),
        "none": np.zeros((0, 2), dtype=np.float64),
    }, metadata={"format": "np"})


def test_every_truncation_is_a_value_error(tmp_path):
    data = sample_file()
    path = tmp_path / "cut.safetensors"
    for size in range(len(data)):
        with pytest.raises(ValueError):
            load_bytes(data[:size])
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match="cut.safetensors"):
            load_file(path)


def decode_by_hand(data):
    """What a parsed file must contain, computed from its header with the spec's own table."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        out[name] = (info["dtype"], tuple(info["shape"]), data[8 + n + begin:8 + n + end])
    return out


def test_corrupted_headers_fail_with_value_error_or_decode_exactly_what_they_say():
    data = sample_file()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    original = load_bytes(data)
    rng = np.random.default_rng(7)
    failures = 0
    for case in range(400):
        corrupted = bytearray(data)
        # Corrupt only the length prefix and the header: a changed payload byte is
        # undetectable by this format (it has no checksum) and would be "valid".
        pos = int(rng.integers(0, header_end))
        if case % 2:
            corrupted[pos] ^= 1 << int(rng.integers(0, 8))  # flip one bit
        else:
            corrupted[pos] = int(rng.integers(0, 256))      # overwrite one byte
        corrupted = bytes(corrupted)
        try:
            loaded = load_bytes(corrupted)
        except ValueError:
            failures += 1
            continue
        # It parsed: then it is a valid file saying something (e.g. a renamed tensor,
        # shape [3,4] -> [4,3], a changed metadata value, a tab for a padding space),
        # and every array must be exactly the bytes its header entry points at.
        expected = decode_by_hand(corrupted)
        assert sorted(loaded) == sorted(expected)
        for name, (dtype, shape, raw) in expected.items():
            assert loaded[name].shape == shape
            assert loaded[name].dtype == np.dtype(SPEC_DTYPES[dtype])
            assert loaded[name].tobytes() == raw
        if decode_by_hand(corrupted) == decode_by_hand(data):
            assert all(np.array_equal(loaded[k], original[k]) for k in original)
    assert failures > 200  # most single-byte corruptions of a header are caught
