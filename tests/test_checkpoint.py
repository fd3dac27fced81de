"""minillm .npz checkpoints: exact round trips, atomic saves, and damaged or foreign files."""
import json
import os
import zipfile

import numpy as np
import pytest

from minillm.io import load_checkpoint, save_checkpoint


@pytest.fixture
def state(rng):
    params = {
        "wte": rng.standard_normal((5, 4)).astype(np.float32),
        "h.0.attn.Wq": rng.standard_normal((4, 4)),  # float64 stays float64
        "ln_f.gamma": np.ones(4, dtype=np.float32),
        "ids": np.array([3, 1, 4], dtype=np.int32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scale": np.array(0.5, dtype=np.float32),
    }
    optimizer_state = {
        "m": {k: np.full_like(v, 0.1) for k, v in params.items() if v.dtype.kind == "f"},
        "v": {k: np.full_like(v, 0.01) for k, v in params.items() if v.dtype.kind == "f"},
        "step": 10,
        "lr": 3e-4,
        "nesterov": False,
        "beta1": np.float32(0.9),
        "unused": {},
    }
    config = {"n_layer": 2, "d_model": 4, "dropout": 0.1, "name": "小模型", "tie": True,
              "extra_tokens": ["<pad>", "<eos>"], "seed": None}
    return params, optimizer_state, config


def assert_same_tree(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same_tree(a[key], b[key])
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    else:
        assert a == b


def test_round_trip_is_exact(tmp_path, state):
    params, optimizer_state, config = state
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, params, config, optimizer_state=optimizer_state, extra={"epoch": 3, "loss": 1.25})
    ckpt = load_checkpoint(path)
    assert_same_tree(ckpt.params, params)
    assert_same_tree(ckpt.optimizer_state, optimizer_state)
    assert ckpt.params["wte"].dtype == np.float32
    assert type(ckpt.optimizer_state["step"]) is int and ckpt.optimizer_state["step"] == 10
    assert type(ckpt.optimizer_state["beta1"]) is np.float32
    assert ckpt.config == config
    assert ckpt.extra == {"epoch": 3, "loss": 1.25}


def test_optional_parts_come_back_as_none(tmp_path, state):
    params, _, config = state
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, params, config)
    ckpt = load_checkpoint(path)
    assert ckpt.optimizer_state is None and ckpt.extra is None
    assert sorted(ckpt.params) == sorted(params)


def test_file_layout_is_the_documented_one_and_needs_no_pickle(tmp_path, state):
    params, optimizer_state, config = state
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, params, config, optimizer_state=optimizer_state)
    with np.load(path, allow_pickle=False) as npz:
        assert "param/h.0.attn.Wq" in npz.files and "opt/m/wte" in npz.files and "opt/step" in npz.files
        assert npz["opt/step"].shape == () and npz["opt/step"] == 10
        meta = json.loads(str(npz["__meta__"]))
    assert meta["format"] == "minillm-checkpoint" and meta["version"] == 1
    assert meta["optimizer"]["step"] == "int" and meta["optimizer"]["m"]["wte"] == "array"
    assert meta["optimizer"]["unused"] == {}


# ----------------------------------------------------------------------------- atomic saves

def test_failed_save_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path, state, monkeypatch):
    params, _, config = state
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, params, config, extra={"epoch": 1})

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"wte": np.zeros(3)}, config, extra={"epoch": 2})
    monkeypatch.undo()
    ckpt = load_checkpoint(path)
    assert ckpt.extra == {"epoch": 1}
    assert np.array_equal(ckpt.params["wte"], params["wte"])
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def crash(file, **arrays):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "ckpt.npz", {"w": np.zeros(2)}, {})
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- bad input to save

@pytest.mark.parametrize("kwargs, error, message", [
    (dict(params=[np.zeros(2)]), TypeError, "params must be a dict of name -> numpy.ndarray, got a list"),
    (dict(params={"w": [1.0]}), TypeError, r"params\['w'\] must be a numpy.ndarray, got a list"),
    (dict(params={"w": np.array([None])}), TypeError, r"params\['w'\] must be a numeric array, got dtype object"),
    (dict(params={3: np.zeros(1)}), TypeError, r"params names must be str, got 3 \(int\)"),
    (dict(config=[1]), TypeError, "config must be a dict of JSON data, got a list"),
    (dict(config={"s": {1, 2}}), TypeError, "config must hold only JSON data"),
    (dict(extra={"f": np.zeros(1)}), TypeError, "extra must hold only JSON data"),
    (dict(optimizer_state={"m/x": np.zeros(1)}), ValueError, "optimizer_state keys must be non-empty str without '/', got 'm/x'"),
    (dict(optimizer_state={"m": {"w": [1.0]}}), TypeError, r"optimizer_state\['m'\]\['w'\] must be an ndarray.*got a list"),
    (dict(optimizer_state={"m": None}), TypeError, r"optimizer_state\['m'\] must be an ndarray.*got a NoneType"),
    (dict(optimizer_state={"step": 2**70}), ValueError, r"optimizer_state\['step'\] must fit in int64"),
    (dict(optimizer_state=[1]), TypeError, "optimizer_state must be a dict, got a list"),
])
def test_save_refuses_bad_input(tmp_path, kwargs, error, message):
    args = dict(params={"w": np.zeros(2)}, config={"d": 2})
    args.update(kwargs)
    with pytest.raises(error, match=message):
        save_checkpoint(tmp_path / "ckpt.npz", args.pop("params"), args.pop("config"), **args)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- damaged or foreign files

def saved(tmp_path, state):
    params, optimizer_state, config = state
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, params, config, optimizer_state=optimizer_state)
    return path


def npz_with(path, **entries):
    with open(path, "wb") as f:
        np.savez(f, **entries)
    return path


def meta(**fields):
    base = {"format": "minillm-checkpoint", "version": 1, "config": {}, "extra": None, "optimizer": None}
    base.update(fields)
    return np.array(json.dumps(base))


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="checkpoint .*nope.npz does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


@pytest.mark.parametrize("content", [b"", b"hello, not a zip", b"\x80\x04K\x01.", b"\x93NUMPY\x01\x00"])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad.npz is not a minillm checkpoint: not an .npz \(zip\) file"):
        load_checkpoint(path)


def test_every_truncation_is_a_value_error_naming_the_file(tmp_path, state):
    data = saved(tmp_path, state).read_bytes()
    cut = tmp_path / "cut.npz"
    for size in range(0, len(data), 7):
        cut.write_bytes(data[:size])
        with pytest.raises(ValueError, match="cut.npz"):
            load_checkpoint(cut)


def test_a_flipped_data_byte_fails_the_crc_check(tmp_path, state):
    params, _, config = state
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, params, config)
    data = bytearray(path.read_bytes())
    where = bytes(data).find(params["h.0.attn.Wq"].tobytes())  # the array's bytes, stored uncompressed
    assert where > 0
    data[where + 5] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="ckpt.npz is corrupt or truncated: BadZipFile: Bad CRC-32"):
        load_checkpoint(path)


def test_a_corrupt_npy_header_inside_the_zip(tmp_path):
    path = tmp_path / "ckpt.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("param/w.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f8 ")
        zf.writestr("__meta__.npy", b"")
    with pytest.raises(ValueError, match="ckpt.npz is corrupt or truncated"):
        load_checkpoint(path)


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "ckpt.npz"
    with open(path, "wb") as f:
        np.savez(f, **{"param/w": np.array([{"evil": 1}], dtype=object), "__meta__": meta()})
    with pytest.raises(ValueError, match="ckpt.npz is corrupt or truncated.*pickle"):
        load_checkpoint(path)


@pytest.mark.parametrize("entries, message", [
    ({"w": np.zeros(2)}, "has no __meta__ entry: it is an .npz but not a minillm checkpoint"),
    ({"__meta__": np.zeros(2)}, "__meta__ must be a 0-d string array"),
    ({"__meta__": np.array("{not json")}, "__meta__ is not valid JSON"),
    ({"__meta__": meta(format="other-tool")}, "__meta__ format is 'other-tool', expected 'minillm-checkpoint'"),
    ({"__meta__": np.array("[1]")}, r"__meta__ format is \[1\]"),
    ({"__meta__": meta(version=2)}, r"checkpoint version 2 is newer than this minillm supports \(1\)"),
    ({"__meta__": meta(version="1")}, "version must be a positive integer, got '1'"),
    ({"__meta__": meta(version=0)}, "version must be a positive integer, got 0"),
    ({"__meta__": np.array('{"format": "minillm-checkpoint", "version": 1}')}, r"__meta__ lacks \['config', 'extra', 'optimizer'\]"),
    ({"__meta__": meta(config=[1])}, r"config must be an object, got \[1\]"),
    ({"__meta__": meta(), "stray": np.zeros(1)}, r"unexpected entries \['stray'\]"),
    ({"__meta__": meta(), "opt/m": np.zeros(1)}, r"optimizer entries \['m'\] are not in __meta__'s optimizer tree"),
    ({"__meta__": meta(optimizer={"m": "array"})}, "optimizer entry opt/m is listed in __meta__ but missing"),
    ({"__meta__": meta(optimizer={"step": "int"}), "opt/step": np.zeros(2)}, "opt/step has kind 'int' and shape"),
    ({"__meta__": meta(optimizer={"step": "tensor"}), "opt/step": np.zeros(())}, "opt/step has kind 'tensor'"),
])
def test_foreign_or_incompatible_npz_files(tmp_path, entries, message):
    path = npz_with(tmp_path / "ckpt.npz", **entries)
    with pytest.raises(ValueError, match=message) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)


# ----------------------------------------------------------------------------- non-finite values, the folder

def test_non_finite_parameters_are_refused_on_load_naming_the_tensor(tmp_path, state):
    from minillm.io.checkpoint import CheckpointError

    params, optimizer_state, config = state
    params = {**params, "wte": params["wte"].copy()}
    params["wte"][1, 2] = np.inf
    save_checkpoint(tmp_path / "ckpt.npz", params, config, optimizer_state=optimizer_state)
    with pytest.raises(CheckpointError, match=r"ckpt.npz: parameter 'wte' holds 1 NaN or infinite value\(s\) of 20"):
        load_checkpoint(tmp_path / "ckpt.npz")
    assert np.isinf(load_checkpoint(tmp_path / "ckpt.npz", allow_nonfinite=True).params["wte"][1, 2])
    optimizer_state["m"]["wte"] = np.full((5, 4), np.nan, dtype=np.float32)
    save_checkpoint(tmp_path / "ckpt.npz", state[0], config, optimizer_state=optimizer_state)
    with pytest.raises(CheckpointError, match="optimizer entry opt/m/wte holds 20 NaN"):
        load_checkpoint(tmp_path / "ckpt.npz")


def test_a_checkpoint_folder_records_the_sha256_of_every_file_and_checks_them(tmp_path, state):
    from minillm.io.checkpoint import (
        CheckpointError, file_sha256, load_checkpoint_folder, save_checkpoint_folder,
    )

    params, optimizer_state, config = state
    folder = tmp_path / "checkpoint"

    def write_vocab(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write('{"vocab": ["a", "b"]}')
    save_checkpoint_folder(folder, params, config, optimizer_state=optimizer_state, extra={"epoch": 1},
                           companions={"vocab.json": write_vocab}, manifest={"step": 7})
    assert sorted(os.listdir(folder)) == ["ckpt.npz", "config.json", "vocab.json"]
    record = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert record["step"] == 7 and record["format"] == "minillm-checkpoint-folder"
    assert record["sha256"] == {name: file_sha256(folder / name) for name in ("ckpt.npz", "vocab.json")}
    loaded = load_checkpoint_folder(folder)
    assert loaded.manifest == record and loaded.checkpoint.extra == {"epoch": 1}
    assert_same_tree(loaded.checkpoint.params, params)

    (folder / "vocab.json").write_text('{"vocab": ["b", "a"]}', encoding="utf-8")   # swapped, same size
    with pytest.raises(CheckpointError, match="vocab.json does not match the SHA-256 that .*config.json records"):
        load_checkpoint_folder(folder)
    write_vocab(folder / "vocab.json")
    (folder / "config.json").write_text(json.dumps({**record, "step": 8}), encoding="utf-8")
    with pytest.raises(CheckpointError, match="config.json does not match the record inside .*ckpt.npz"):
        load_checkpoint_folder(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint_folder(folder)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint_folder(tmp_path / "nothing")


def test_a_folder_saved_before_records_existed_still_loads_unverified(tmp_path, state):
    from minillm.io.checkpoint import load_checkpoint_folder

    params, _, config = state
    (tmp_path / "old").mkdir()
    save_checkpoint(tmp_path / "old" / "ckpt.npz", params, config)
    (tmp_path / "old" / "config.json").write_text('{"model": {}, "train": {}}', encoding="utf-8")
    loaded = load_checkpoint_folder(tmp_path / "old")
    assert loaded.manifest is None and sorted(loaded.checkpoint.params) == sorted(params)
