"""Atomic saves: a failure mid-write leaves the old file as it was and no temporary file behind."""
import os
import stat

import pytest

from minillm.atomic import atomic_open, write_bytes_atomic, write_json_atomic, write_text_atomic


def test_writes_replace_the_file_and_are_readable_by_all(tmp_path):
    p = tmp_path / "a.txt"
    write_text_atomic(p, "first 你好\n")
    write_text_atomic(p, "second\n")
    assert p.read_text(encoding="utf-8") == "second\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    write_bytes_atomic(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    write_json_atomic(tmp_path / "c.json", {"k": "值"})
    assert (tmp_path / "c.json").read_text(encoding="utf-8") == '{\n  "k": "值"\n}\n'
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin", "c.json"]


def test_an_error_mid_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "a.txt"
    write_text_atomic(p, "old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_open(p, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash")
    assert p.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_bad_mode_is_named(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "a"):
            pass
