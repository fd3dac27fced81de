"""Reading and writing a tokenizer's JSON file, shared by char.py, bpe.py and wordpiece.py.

Every tokenizer saves one UTF-8 JSON object with a "type" field ("char",
"byte_bpe", "wordpiece") and a "version" field, with minillm.atomic's
write_json_atomic(path, obj, indent=1): the JSON goes to a temporary file in the
same folder, then os.replace swaps it in, so a crash half-way never leaves a
truncated tokenizer behind. Reads fail with a ValueError that names the file and
says what is wrong with it.
"""
import json
import os

FORMAT_VERSION = 1


def read_json_object(path, what="tokenizer file"):
    """Parse `path` as a JSON object; an undecodable or non-object file raises a ValueError naming `what` and path."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {path!r} is not valid UTF-8 JSON: {err}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{what} {path!r} must hold a JSON object, got a {type(obj).__name__}")
    return obj


def read_tokenizer_json(path, expected_type):
    """Read a file written by `save` and check its "type" and "version" fields."""
    obj = read_json_object(path)
    got = obj.get("type")
    if got != expected_type:
        raise ValueError(f"tokenizer file {os.fspath(path)!r} has type {got!r}, expected {expected_type!r}")
    if obj.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"tokenizer file {os.fspath(path)!r} has version {obj.get('version')!r}, expected {FORMAT_VERSION}"
        )
    return obj


def require_field(path, obj, name, kind):
    """obj[name] must exist and be an instance of `kind` (bool is not accepted as int)."""
    if name not in obj:
        raise ValueError(f"tokenizer file {os.fspath(path)!r} is missing the field {name!r}")
    value = obj[name]
    if isinstance(value, bool) and kind is not bool:
        ok = False
    else:
        ok = isinstance(value, kind)
    if not ok:
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(
            f"tokenizer file {os.fspath(path)!r}: field {name!r} must be a {want}, got {type(value).__name__}"
        )
    return value
