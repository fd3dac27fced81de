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


# ------------------------------------------------------------------ folders written as one unit, one writer

def test_a_folder_is_replaced_as_one_unit_and_a_failure_keeps_the_old_one(tmp_path):
    from minillm.atomic import atomic_folder

    target = tmp_path / "checkpoint"
    with atomic_folder(target) as tmp:
        write_text_atomic(os.path.join(tmp, "a.txt"), "old a")
        write_text_atomic(os.path.join(tmp, "b.txt"), "old b")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_folder(target) as tmp:
            write_text_atomic(os.path.join(tmp, "a.txt"), "new a")
            raise RuntimeError("crash")
    assert sorted(os.listdir(target)) == ["a.txt", "b.txt"] and (target / "a.txt").read_text() == "old a"
    with atomic_folder(target) as tmp:
        write_text_atomic(os.path.join(tmp, "a.txt"), "new a")
    assert os.listdir(target) == ["a.txt"] and (target / "a.txt").read_text() == "new a"   # b.txt went with the old
    assert os.listdir(tmp_path) == ["checkpoint"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_leftovers_of_a_killed_save_are_removed_and_a_half_swapped_folder_put_back(tmp_path):
    from minillm.atomic import previous_or_current, previous_path, remove_leftovers

    (tmp_path / ".ckpt.npz.k2j3h4g5.tmp").write_bytes(b"half")
    (tmp_path / ".checkpoint.abcdefgh.tmp").mkdir()
    (tmp_path / "notes.tmp").write_text("the user's", encoding="utf-8")        # not ours: kept
    old = previous_path(tmp_path / "checkpoint")
    os.mkdir(old)                                       # killed between the swap's two renames
    assert previous_or_current(tmp_path / "checkpoint") == old
    assert remove_leftovers(tmp_path, ["checkpoint"]) == [".checkpoint.abcdefgh.tmp", ".ckpt.npz.k2j3h4g5.tmp"]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "notes.tmp"]


def test_a_folder_lock_refuses_a_second_holder_and_leaves_nothing(tmp_path):
    from minillm.atomic import FolderInUse, FolderLock

    with FolderLock(tmp_path):
        with pytest.raises(FolderInUse, match=f"in use by process {os.getpid()}"):
            with FolderLock(tmp_path):
                pass
    assert os.listdir(tmp_path) == []
    with FolderLock(tmp_path):                          # free again
        pass
