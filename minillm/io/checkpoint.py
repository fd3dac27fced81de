"""minillm's own checkpoints: one .npz file with the parameters, optimizer state and config,
and the checkpoint folder the trainer writes around it.

Inside the .npz (a zip of .npy files, written by np.savez, never pickled):

    "param/<name>"          each model parameter, e.g. "param/h.0.attn.Wq"
    "opt/<path>"            each leaf of the optimizer state, nested dicts joined by "/":
                            {"m": {"wte": array}, "step": 10}  ->  "opt/m/wte", "opt/step"
                            (a Python or NumPy scalar is stored as a 0-d array)
    "__meta__"              a 0-d string array holding JSON:
                            {"format": "minillm-checkpoint", "version": 1,
                             "config": {...}, "extra": {...} or null,
                             "optimizer": the optimizer state's tree with each leaf
                                          replaced by its kind, or null,
                             "manifest": the folder's record (below), only in a folder's ckpt.npz}

The tree in "__meta__" is what makes the optimizer state come back exactly:
the same nesting (empty dicts included) and each scalar as the type it was
("int", "float", "bool", "numpy" for a NumPy scalar; "array" for an array).

Saving is atomic (a temporary file in the same directory, then os.replace), so
a crash mid-save leaves the previous checkpoint as it was. Loading reads every
array at once (so a damaged file fails here, not later), refuses parameters that
are NaN or infinite, and turns every problem into a CheckpointError (a ValueError)
naming the file.

The checkpoint folder (save_checkpoint_folder / load_checkpoint_folder):

    checkpoint/tokenizer.json   companion files (the tokenizer), written first
    checkpoint/ckpt.npz         the arrays; its __meta__ "manifest" = the record below, without its own hash
    checkpoint/config.json      written last: {"format": "minillm-checkpoint-folder", "version": 1,
                                 ...the caller's manifest (step, model, train, data)...,
                                 "sha256": {"ckpt.npz": ..., "tokenizer.json": ...}}

The folder is written as one unit (minillm.atomic.atomic_folder: a temporary folder
renamed into place), so no kill leaves files of two saves side by side. Loading checks
config.json against the record inside ckpt.npz and every file against its SHA-256, and
names the file that does not match: a tokenizer swapped for another of the same size,
or files of two runs mixed, are refused instead of giving garbage samples.
"""
import dataclasses
import hashlib
import json
import os

import numpy as np

from minillm.atomic import atomic_folder, atomic_open, previous_or_current, write_json_atomic
from minillm.checks import check_array

FORMAT = "minillm-checkpoint"
VERSION = 1
FOLDER_FORMAT = "minillm-checkpoint-folder"
NPZ_NAME = "ckpt.npz"
MANIFEST_NAME = "config.json"


class CheckpointError(ValueError):
    """A checkpoint file or folder that cannot be used; the message names the file and what is wrong."""


@dataclasses.dataclass
class Checkpoint:
    params: dict            # name -> ndarray
    config: dict            # JSON data, as saved (tuples come back as lists)
    optimizer_state: dict | None
    extra: dict | None
    manifest: dict | None = None  # the folder's record, in a ckpt.npz written by save_checkpoint_folder


# ----------------------------------------------------------------------------- saving

def save_checkpoint(path, params, config, *, optimizer_state=None, extra=None, manifest=None):
    """Write params, config (and optionally optimizer state and extra JSON data) to `path` (.npz).

    manifest: the record of the folder it belongs to (save_checkpoint_folder passes it).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of name -> numpy.ndarray, got a {type(params).__name__}")
    arrays = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise TypeError(f"params names must be str, got {name!r} ({type(name).__name__})")
        arrays["param/" + name] = _checked_array(f"params[{name!r}]", value)
    tree = None
    if optimizer_state is not None:
        tree = _flatten("optimizer_state", optimizer_state, "opt", arrays)
    meta = {"format": FORMAT, "version": VERSION,
            "config": _checked_json("config", config, allow_none=False),
            "extra": _checked_json("extra", extra, allow_none=True),
            "optimizer": tree}
    if manifest is not None:
        meta["manifest"] = _checked_json("manifest", manifest, allow_none=False)
    arrays["__meta__"] = np.array(json.dumps(meta, ensure_ascii=False))

    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def _checked_array(name, value):
    check_array(name, value)
    if value.dtype.hasobject:
        raise TypeError(f"{name} must be a numeric array, got dtype {value.dtype} (it would need pickle)")
    return value


def _checked_json(name, value, *, allow_none):
    if value is None and allow_none:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict of JSON data, got a {type(value).__name__}")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must hold only JSON data (dict, list, str, int, float, bool, None): {e}") from None
    return value


def _flatten(name, state, prefix, arrays):
    """Put the leaves of nested dict `state` into `arrays` under prefix/key/...; return its kind tree."""
    if not isinstance(state, dict):
        raise TypeError(f"{name} must be a dict, got a {type(state).__name__}")
    tree = {}
    for key, value in state.items():
        where = f"{name}[{key!r}]"
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"{name} keys must be non-empty str without '/', got {key!r}")
        path = prefix + "/" + key
        if isinstance(value, dict):
            tree[key] = _flatten(where, value, path, arrays)
        elif isinstance(value, np.ndarray):
            arrays[path] = _checked_array(where, value)
            tree[key] = "array"
        elif isinstance(value, np.generic):
            arrays[path] = _checked_array(where, np.asarray(value))
            tree[key] = "numpy"
        elif type(value) in (bool, int, float):  # exactly these: an IntEnum would not come back as itself
            kind = type(value).__name__
            if kind == "int" and not -2**63 <= value < 2**63:
                raise ValueError(f"{where} must fit in int64, got {value}")
            arrays[path] = np.array(value, dtype={"bool": np.bool_, "int": np.int64, "float": np.float64}[kind])
            tree[key] = kind
        else:
            raise TypeError(f"{where} must be an ndarray, a scalar or a dict of those, "
                            f"got a {type(value).__name__}")
    return tree


# ----------------------------------------------------------------------------- loading

def load_checkpoint(path, *, allow_nonfinite=False):
    """Read a checkpoint written by save_checkpoint; return a Checkpoint.

    A parameter or optimizer array holding NaN or inf is refused (allow_nonfinite=True reads
    it anyway, to look at a diverged model).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist (or is not a file)")
    with open(path, "rb") as f:
        magic = f.read(4)
    # np.load takes anything not starting like a zip or .npy for a pickle; refuse it first
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise CheckpointError(f"{path} is not a minillm checkpoint: not an .npz (zip) file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            # read every array now: reading is what checks each one's CRC-32
            arrays = {key: npz[key] for key in npz.files}
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged bytes make zipfile and np.load raise a dozen types
        # (BadZipFile, NotImplementedError for an unknown compression method, RuntimeError "encrypted",
        # EOFError, struct.error, zlib.error, ...): every one of them is this file's fault
        raise CheckpointError(f"{path} is corrupt or truncated: {type(e).__name__}: {e}") from None

    meta = _read_meta(path, arrays.pop("__meta__", None))
    params = {key[len("param/"):]: a for key, a in arrays.items() if key.startswith("param/")}
    leaves = {key[len("opt/"):]: a for key, a in arrays.items() if key.startswith("opt/")}
    unexpected = sorted(k for k in arrays if not k.startswith(("param/", "opt/")))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected entries {unexpected}; a minillm checkpoint holds "
                              f"only param/..., opt/... and __meta__")
    optimizer_state = None
    if meta["optimizer"] is not None:
        optimizer_state = _unflatten(path, meta["optimizer"], leaves, "")
    if leaves:
        raise CheckpointError(f"{path}: optimizer entries {sorted(leaves)} are not in __meta__'s optimizer tree")
    if not allow_nonfinite:
        _check_finite(path, params, "parameter")
        _check_finite(path, {k[len("opt/"):]: a for k, a in arrays.items() if k.startswith("opt/")},
                      "optimizer entry opt/")
    return Checkpoint(params=params, config=meta["config"], optimizer_state=optimizer_state,
                      extra=meta["extra"], manifest=meta.get("manifest"))


def _check_finite(path, arrays, what):
    for name, a in arrays.items():
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            label = f"{what}{name}" if what.endswith("/") else f"{what} {name!r}"
            raise CheckpointError(f"{path}: {label} holds {bad} NaN or infinite value(s) of {a.size}: "
                                  f"the model diverged before it was saved and cannot be used")


def _read_meta(path, entry):
    if entry is None:
        raise CheckpointError(f"{path} has no __meta__ entry: it is an .npz but not a minillm checkpoint")
    if entry.shape != () or entry.dtype.kind != "U":
        raise CheckpointError(f"{path}: __meta__ must be a 0-d string array, got dtype {entry.dtype} "
                              f"shape {entry.shape}")
    try:
        meta = json.loads(str(entry[()]))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: __meta__ is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise CheckpointError(f"{path}: __meta__ format is {found!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: checkpoint version must be a positive integer, got {version!r}")
    if version > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version} is newer than this minillm supports ({VERSION})")
    missing = {"config", "extra", "optimizer"} - set(meta)
    if missing:
        raise CheckpointError(f"{path}: __meta__ lacks {sorted(missing)}")
    if not isinstance(meta["config"], dict):
        raise CheckpointError(f"{path}: __meta__ config must be an object, got {meta['config']!r}")
    if meta["extra"] is not None and not isinstance(meta["extra"], dict):
        raise CheckpointError(f"{path}: __meta__ extra must be an object or null, got {meta['extra']!r}")
    record = meta.get("manifest")
    if record is not None and not (isinstance(record, dict) and isinstance(record.get("sha256"), dict)):
        raise CheckpointError(f"{path}: __meta__ manifest must be an object with a sha256 object, got {record!r}")
    return meta


def _unflatten(path, tree, leaves, prefix):
    """Rebuild the nested optimizer state from its kind tree, taking its arrays out of `leaves`."""
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path}: optimizer tree at {prefix or '/'!r} must be an object, got {tree!r}")
    state = {}
    for key, kind in tree.items():
        if isinstance(kind, dict):
            state[key] = _unflatten(path, kind, leaves, prefix + key + "/")
            continue
        name = prefix + key
        if name not in leaves:
            raise CheckpointError(f"{path}: optimizer entry opt/{name} is listed in __meta__ but missing")
        a = leaves.pop(name)
        convert = {"array": lambda a: a, "numpy": lambda a: a[()],
                   "int": int, "float": float, "bool": bool}.get(kind) if isinstance(kind, str) else None
        if convert is None or (kind != "array" and a.shape != ()):
            raise CheckpointError(f"{path}: optimizer entry opt/{name} has kind {kind!r} and shape {a.shape}")
        try:
            state[key] = convert(a)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: optimizer entry opt/{name} of kind {kind!r} cannot be read: {e}") from None
    return state


# ----------------------------------------------------------------------------- the checkpoint folder

@dataclasses.dataclass
class CheckpointFolder:
    path: str                 # the folder read (its .previous copy if a kill stopped a swap between renames)
    checkpoint: Checkpoint
    manifest: dict | None     # config.json's record; None: a folder saved before records existed (not verified)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint_folder(folder, params, config, *, optimizer_state=None, extra=None, companions=None,
                           manifest=None):
    """Write `folder` as one unit: the companion files, ckpt.npz, then config.json (the module docstring).

    companions: {file name: function(path) that writes it}, e.g. {"tokenizer.json": tokenizer.save}.
    manifest: JSON data describing the checkpoint (the trainer's: step, model, train and data settings).
    """
    with atomic_folder(folder) as tmp:
        sha = {}
        for name, write in (companions or {}).items():
            write(os.path.join(tmp, name))
            sha[name] = file_sha256(os.path.join(tmp, name))
        record = {"format": FOLDER_FORMAT, "version": 1,
                  **_checked_json("manifest", manifest or {}, allow_none=False), "sha256": sha}
        npz = os.path.join(tmp, NPZ_NAME)
        save_checkpoint(npz, params, config, optimizer_state=optimizer_state, extra=extra, manifest=record)
        write_json_atomic(os.path.join(tmp, MANIFEST_NAME),
                          {**record, "sha256": {NPZ_NAME: file_sha256(npz), **sha}}, allow_nan=False)


def load_checkpoint_folder(folder, *, verify=True):
    """Read (and with verify=True check) a folder written by save_checkpoint_folder; return a CheckpointFolder.

    Every problem is a CheckpointError naming the file: ckpt.npz damaged or holding NaN, config.json
    not the record ckpt.npz was saved with, a file missing or not matching its SHA-256.  verify=False
    reads ckpt.npz only: a caller that first checks what it builds from it then calls verify_checkpoint_folder,
    so that a damaged file gets the most specific message.
    """
    folder = previous_or_current(folder)
    if not os.path.isdir(folder):
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    loaded = CheckpointFolder(folder, load_checkpoint(os.path.join(folder, NPZ_NAME)), None)
    return verify_checkpoint_folder(loaded) if verify else loaded


def verify_checkpoint_folder(loaded):
    """config.json against the record inside ckpt.npz, then every file against its SHA-256; returns `loaded`
    with its manifest (None for a folder saved before checkpoints carried records)."""
    folder, record = loaded.path, loaded.checkpoint.manifest
    npz, manifest_path = os.path.join(folder, NPZ_NAME), os.path.join(folder, MANIFEST_NAME)
    manifest = _read_manifest(manifest_path)
    if record is None and (manifest is None or "sha256" not in manifest):
        return loaded
    if manifest is None:
        raise CheckpointError(f"{manifest_path} is missing: {npz} was saved with one (the save did not finish, "
                              f"or the file was removed)")
    hashes = manifest.get("sha256")
    without_npz = {k: v for k, v in hashes.items() if k != NPZ_NAME} if isinstance(hashes, dict) else None
    if record is None or NPZ_NAME not in (hashes or {}) or {**manifest, "sha256": without_npz} != record:
        raise CheckpointError(f"{manifest_path} does not match the record inside {npz}: one of them was edited, "
                              f"or they come from different saves")
    for name, want in hashes.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise CheckpointError(f"{path} is missing (config.json lists it)")
        if file_sha256(path) != want:
            raise CheckpointError(f"{path} does not match the SHA-256 that {manifest_path} records for it: the "
                                  f"file was changed or replaced after the save (files of two runs mixed?)")
    return dataclasses.replace(loaded, manifest=manifest)


def _read_manifest(path):
    """config.json as a dict, or None if there is none; damaged JSON is a CheckpointError."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path} is not valid UTF-8 JSON: {e}") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got a {type(manifest).__name__}")
    return manifest
