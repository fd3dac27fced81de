"""Atomic saves: nothing is ever lost to a crash in the middle of a write.

Every file minillm writes (checkpoints, safetensors, tokenizers, figures, data
sets, summaries) goes through `atomic_open`: the bytes go to a temporary file
in the target's folder, are flushed to disk, and only then does os.replace
swap the new file in.  A reader sees the old file or the new one, never half
of one; on any error the temporary file is removed and the old file stays.

    with atomic_open("ckpt.npz", "wb") as f:
        np.savez(f, **arrays)
"""
import json
import os
import tempfile
from contextlib import contextmanager


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


def write_json_atomic(path, obj, *, indent=2):
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")
