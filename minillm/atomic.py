"""Atomic saves: nothing is ever lost to a crash in the middle of a write, nor mixed by two writers.

Every file minillm writes (checkpoints, safetensors, tokenizers, figures, data
sets, summaries) goes through `atomic_open`: the bytes go to a temporary file
in the target's folder, are flushed to disk, and only then does os.replace
swap the new file in.  A reader sees the old file or the new one, never half
of one; on any error the temporary file is removed and the old file stays.

    with atomic_open("ckpt.npz", "wb") as f:
        np.savez(f, **arrays)

A folder whose files belong together (a checkpoint: weights, tokenizer, manifest)
is written the same way with `atomic_folder`: every file goes into a temporary
folder next to it, which then takes the old folder's place:

    rename folder -> .folder.previous,  rename temporary -> folder,  remove .folder.previous

A kill at any moment leaves the old folder or the new one whole (between the two
renames the old one is `.folder.previous`, which `previous_or_current` finds).
A kill -9 leaves its temporary files behind; `remove_leftovers` clears them.

`FolderLock` keeps a second writer out of a folder while the first one works.
"""
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager

# what atomic_open and atomic_folder leave behind when killed: ".<name>.<8 random characters>.tmp"
LEFTOVER = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
LOCK_NAME = ".minillm.lock"


@contextmanager
def atomic_open(path, mode="w", *, encoding="utf-8", newline="\n"):
    """Open a temporary file next to `path` for writing; on success it replaces `path`."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        text = {"encoding": encoding, "newline": newline} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; what we save is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path, text):
    with atomic_open(path, "w") as f:
        f.write(text)


def write_bytes_atomic(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_json_atomic(path, obj, *, indent=2, allow_nan=True):
    """allow_nan=False refuses NaN and infinities (they are not JSON) with a ValueError instead of writing them."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False, allow_nan=allow_nan)
        f.write("\n")


# ------------------------------------------------------------------------------ folders

def previous_path(path):
    """Where atomic_folder keeps the old folder during a swap: .<name>.previous beside it."""
    path = os.path.abspath(os.fspath(path))
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".previous")


@contextmanager
def atomic_folder(path):
    """Yield a temporary folder next to `path`; on success it replaces the folder `path` as one unit."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes an owner-only folder
        previous = previous_path(path)
        if os.path.isdir(path):
            if os.path.isdir(previous):
                shutil.rmtree(previous)  # a swap killed after its second rename
            os.rename(path, previous)
        os.rename(tmp, path)
        _sync_folder(parent)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def previous_or_current(path):
    """`path`, or the old copy atomic_folder keeps while it swaps when a kill left only that one."""
    previous = previous_path(path)
    if not os.path.isdir(path) and os.path.isdir(previous):
        return previous
    return os.fspath(path)


def remove_leftovers(folder, names):
    """Remove what a killed save left in `folder`; return the names removed.

    The temporary files and folders of atomic_open / atomic_folder (".<name>.<random>.tmp");
    and for each folder in `names`, its .previous copy: put back if the folder itself is missing,
    else removed.  Only call this while no one else writes into `folder` (hold its FolderLock).
    """
    removed = []
    for entry in sorted(os.listdir(folder)):
        full = os.path.join(folder, entry)
        if not LEFTOVER.match(entry):
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)
        removed.append(entry)
    for name in names:
        path, previous = os.path.join(folder, name), previous_path(os.path.join(folder, name))
        if os.path.isdir(previous):
            if os.path.isdir(path):
                shutil.rmtree(previous)
                removed.append(os.path.basename(previous))
            else:
                os.rename(previous, path)      # the swap was killed between its renames: the old folder is whole
    return removed


def _sync_folder(folder):
    """Make the renames in `folder` durable (POSIX; elsewhere a folder cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ one writer per folder

class FolderInUse(RuntimeError):
    """Another process holds the folder's lock."""


class FolderLock:
    """An exclusive lock on `folder` (its file .minillm.lock, holding the owner's pid) while in the block.

        with FolderLock("out/train"):
            ...                                # a second FolderLock on the folder raises FolderInUse

    The operating system releases the lock when the process dies, even by kill -9, so a stale
    lock file never blocks anyone.  Where file locks do not exist (no fcntl), the lock file's
    existence is the lock.
    """

    def __init__(self, folder):
        self.path = os.path.join(os.fspath(folder), LOCK_NAME)
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: creating the file is the lock
            fcntl = None
        while True:
            flags = os.O_RDWR | os.O_CREAT | (os.O_EXCL if fcntl is None else 0)
            try:
                fd = os.open(self.path, flags, 0o644)
            except FileExistsError:
                raise FolderInUse(self._busy_message()) from None
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FolderInUse(self._busy_message()) from None
            # the file we locked may have been removed by its last owner meanwhile: then lock the new one
            if fcntl is None or (os.path.exists(self.path) and os.path.samestat(os.fstat(fd), os.stat(self.path))):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        os.unlink(self.path)      # while still locked, so no one locks a file that is going away
        os.close(self.fd)
        self.fd = None

    def _busy_message(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                owner = f.read().strip()
        except OSError:
            owner = ""
        who = f"process {owner}" if owner else "another process"
        return f"{os.path.dirname(self.path)} is in use by {who} (lock file {self.path})"
