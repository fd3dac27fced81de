"""minillm's own checkpoints: one .npz file with the parameters, optimizer state and config.

Inside the .npz (a zip of .npy files, written by np.savez, never pickled):

    "param/<name>"          each model parameter, e.g. "param/h.0.attn.Wq"
    "opt/<path>"            each leaf of the optimizer state, nested dicts joined by "/":
                            {"m": {"wte": array}, "step": 10}  ->  "opt/m/wte", "opt/step"
                            (a Python or NumPy scalar is stored as a 0-d array)
    "__meta__"              a 0-d string array holding JSON:
                            {"format": "minillm-checkpoint", "version": 1,
                             "config": {...}, "extra": {...} or null,
                             "optimizer": the optimizer state's tree with each leaf
                                          replaced by its kind, or null}

The tree in "__meta__" is what makes the optimizer state come back exactly:
the same nesting (empty dicts included) and each scalar as the type it was
("int", "float", "bool", "numpy" for a NumPy scalar; "array" for an array).

Saving is atomic (a temporary file in the same directory, then os.replace), so
a crash mid-save leaves the previous checkpoint as it was. Loading reads every
array at once (so a damaged file fails here, not later) and turns every
problem into a ValueError naming the file.
"""
import dataclasses
import json
import os
import struct
import zipfile
import zlib

import numpy as np

from minillm.atomic import atomic_open
from minillm.checks import check_array

FORMAT = "minillm-checkpoint"
VERSION = 1


@dataclasses.dataclass
class Checkpoint:
    params: dict            # name -> ndarray
    config: dict            # JSON data, as saved (tuples come back as lists)
    optimizer_state: dict | None
    extra: dict | None


# ----------------------------------------------------------------------------- saving

def save_checkpoint(path, params, config, *, optimizer_state=None, extra=None):
    """Write params, config (and optionally optimizer state and extra JSON data) to `path` (.npz)."""
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

def load_checkpoint(path):
    """Read a checkpoint written by save_checkpoint; return a Checkpoint."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint {path} does not exist (or is not a file)")
    with open(path, "rb") as f:
        magic = f.read(4)
    # np.load takes anything not starting like a zip or .npy for a pickle; refuse it first
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(f"{path} is not a minillm checkpoint: not an .npz (zip) file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            # read every array now: reading is what checks each one's CRC-32
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError, struct.error) as e:
        raise ValueError(f"{path} is corrupt or truncated: {type(e).__name__}: {e}") from None

    meta = _read_meta(path, arrays.pop("__meta__", None))
    params = {key[len("param/"):]: a for key, a in arrays.items() if key.startswith("param/")}
    leaves = {key[len("opt/"):]: a for key, a in arrays.items() if key.startswith("opt/")}
    unexpected = sorted(k for k in arrays if not k.startswith(("param/", "opt/")))
    if unexpected:
        raise ValueError(f"{path}: unexpected entries {unexpected}; a minillm checkpoint holds "
                         f"only param/..., opt/... and __meta__")
    optimizer_state = None
    if meta["optimizer"] is not None:
        optimizer_state = _unflatten(path, meta["optimizer"], leaves, "")
    if leaves:
        raise ValueError(f"{path}: optimizer entries {sorted(leaves)} are not in __meta__'s optimizer tree")
    return Checkpoint(params=params, config=meta["config"], optimizer_state=optimizer_state,
                      extra=meta["extra"])


def _read_meta(path, entry):
    if entry is None:
        raise ValueError(f"{path} has no __meta__ entry: it is an .npz but not a minillm checkpoint")
    if entry.shape != () or entry.dtype.kind != "U":
        raise ValueError(f"{path}: __meta__ must be a 0-d string array, got dtype {entry.dtype} "
                         f"shape {entry.shape}")
    try:
        meta = json.loads(str(entry[()]))
    except ValueError as e:
        raise ValueError(f"{path}: __meta__ is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise ValueError(f"{path}: __meta__ format is {found!r}, expected {FORMAT!r}")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path}: checkpoint version must be a positive integer, got {version!r}")
    if version > VERSION:
        raise ValueError(f"{path}: checkpoint version {version} is newer than this minillm supports ({VERSION})")
    missing = {"config", "extra", "optimizer"} - set(meta)
    if missing:
        raise ValueError(f"{path}: __meta__ lacks {sorted(missing)}")
    if not isinstance(meta["config"], dict):
        raise ValueError(f"{path}: __meta__ config must be an object, got {meta['config']!r}")
    return meta


def _unflatten(path, tree, leaves, prefix):
    """Rebuild the nested optimizer state from its kind tree, taking its arrays out of `leaves`."""
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: optimizer tree at {prefix or '/'!r} must be an object, got {tree!r}")
    state = {}
    for key, kind in tree.items():
        if isinstance(kind, dict):
            state[key] = _unflatten(path, kind, leaves, prefix + key + "/")
            continue
        name = prefix + key
        if name not in leaves:
            raise ValueError(f"{path}: optimizer entry opt/{name} is listed in __meta__ but missing")
        a = leaves.pop(name)
        convert = {"array": lambda a: a, "numpy": lambda a: a[()],
                   "int": int, "float": float, "bool": bool}.get(kind)
        if convert is None or (kind != "array" and a.shape != ()):
            raise ValueError(f"{path}: optimizer entry opt/{name} has kind {kind!r} and shape {a.shape}")
        state[key] = convert(a)
    return state
