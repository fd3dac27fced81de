"""Hugging Face folders: GPT-2 against numbers from transformers, save/load round trips, and loud failures.

tests/data/gpt2_tiny/ was written by transformers' own save_pretrained (5.24) from a randomly
initialised GPT2LMHeadModel in which every parameter is random (LayerNorm gains and biases
too), and tests/data/gpt2_tiny_reference.npz holds transformers' logits for it; both come
from tools/make_reference_outputs.py.  Nothing here needs torch or the pretrained extra.
"""
import json
import os
import shutil
import warnings

import numpy as np
import pytest

from minillm import GPT, GPTConfig
from minillm.io.huggingface import GPT2_NAME_MAP, gpt2_name, read_config
from minillm.io.safetensors import load_file, read_metadata, save_file
from minillm.models.bert import BertConfig, BertModel

DATA = os.path.join(os.path.dirname(__file__), "data")
TINY = os.path.join(DATA, "gpt2_tiny")


@pytest.fixture(scope="module")
def reference():
    with np.load(os.path.join(DATA, "gpt2_tiny_reference.npz")) as f:
        return {k: f[k] for k in f.files}


def logits_of(model, ids):
    return model.forward(ids, training=False)[0]


def copy_folder(tmp_path, tensors=None, config_changes=None, src=TINY):
    """A copy of a model folder, with its tensors and/or config.json replaced."""
    folder = tmp_path / "model"
    shutil.copytree(src, folder)
    if tensors is not None:
        save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    if config_changes:
        config = read_config(folder)
        config.update(config_changes)
        with open(folder / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f)
    return folder


# --------------------------------------------------------------------------- GPT-2 against transformers

def test_gpt2_logits_match_transformers_float32(reference):
    model = GPT.from_pretrained(TINY)
    assert model.config.block_size == 24 and model.config.vocab_size == 101 and model.config.n_layer == 2
    diff = np.abs(logits_of(model, reference["input_ids"]) - reference["logits"]).max()
    print(f"GPT-2 tiny float32: max |minillm - transformers| = {diff:.2e}")
    assert diff < 1e-4, diff
    assert np.abs(reference["logits"]).max() > 1.0     # the logits are not all near zero


def test_gpt2_logits_match_transformers_float64(reference):
    model = GPT.from_pretrained(TINY, dtype="float64")
    diff = np.abs(logits_of(model, reference["input_ids"]) - reference["logits_f64"]).max()
    print(f"GPT-2 tiny float64: max |minillm - transformers| = {diff:.2e}")
    assert diff < 1e-10, diff


def test_gpt2_logits_match_with_the_numba_backend(reference):
    model = GPT.from_pretrained(TINY, backend="numba")
    diff = np.abs(logits_of(model, reference["input_ids"][:1, :9]) - reference["logits"][:1, :9]).max()
    assert diff < 1e-4, diff


def test_c_attn_is_cut_in_thirds_q_k_v(reference):
    raw = load_file(os.path.join(TINY, "model.safetensors"))
    model = GPT.from_pretrained(TINY)
    W, b = raw["transformer.h.1.attn.c_attn.weight"], raw["transformer.h.1.attn.c_attn.bias"]  # (32, 96)
    np.testing.assert_array_equal(model.params["h.1.attn.Wq"], W[:, 0:32])
    np.testing.assert_array_equal(model.params["h.1.attn.Wk"], W[:, 32:64])
    np.testing.assert_array_equal(model.params["h.1.attn.Wv"], W[:, 64:96])
    np.testing.assert_array_equal(model.params["h.1.attn.bv"], b[64:96])
    # Conv1D weights are (in, out) already: c_fc is (C, 4C) in the file and in minillm
    np.testing.assert_array_equal(model.params["h.0.mlp.W1"], raw["transformer.h.0.mlp.c_fc.weight"])


def test_name_map_covers_every_gpt_parameter_once():
    params = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=8)).params
    targets = [gpt2_name(name) for name in params]
    assert len(set(targets)) == len(targets)               # no two minillm names read the same thing
    patterns = {"h.{i}." + name.split(".", 2)[2] if name.startswith("h.") else name for name in params}
    assert patterns == set(GPT2_NAME_MAP)                   # and every row of the table is used
    with pytest.raises(ValueError, match="name must be a minillm GPT parameter name, got 'lm_head'"):
        gpt2_name("lm_head")


# --------------------------------------------------------------------------- save_pretrained

def test_save_reproduces_the_file_transformers_wrote(tmp_path):
    """load -> save gives the same tensor names, shapes, dtypes and bytes as transformers' own file."""
    GPT.from_pretrained(TINY).save_pretrained(tmp_path / "out")
    ours = load_file(tmp_path / "out" / "model.safetensors")
    theirs = load_file(os.path.join(TINY, "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    assert "lm_head.weight" not in ours and "transformer.h.0.attn.c_attn.weight" in ours
    for name in theirs:
        assert ours[name].dtype == theirs[name].dtype and ours[name].shape == theirs[name].shape, name
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert read_metadata(tmp_path / "out" / "model.safetensors") == {"format": "pt"}


def test_saved_config_agrees_with_the_config_transformers_wrote(tmp_path):
    GPT.from_pretrained(TINY).save_pretrained(tmp_path / "out")
    ours, theirs = read_config(tmp_path / "out"), read_config(TINY)
    for key in ("architectures", "model_type", "vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
                "n_inner", "activation_function", "layer_norm_epsilon", "scale_attn_weights",
                "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention",
                "tie_word_embeddings", "dtype"):
        assert ours[key] == theirs[key], key


def test_round_trip_float64_model_gives_identical_params_and_logits(tmp_path, rng):
    config = GPTConfig(vocab_size=37, block_size=12, n_layer=3, n_head=2, n_embd=16, dtype="float64")
    model = GPT(config, seed=3)
    for name in model.params:      # make gains and biases random too, so a swap would show
        model.params[name] = model.params[name] + 0.1 * rng.standard_normal(model.params[name].shape)
    model.save_pretrained(tmp_path / "gpt")
    back = GPT.from_pretrained(tmp_path / "gpt", dtype="float64")
    assert sorted(back.params) == sorted(model.params)
    for name in model.params:
        assert back.params[name].dtype == np.float64
        np.testing.assert_array_equal(back.params[name], model.params[name], err_msg=name)
    ids = rng.integers(0, 37, size=(2, 12))
    np.testing.assert_array_equal(logits_of(back, ids), logits_of(model, ids))
    assert load_file(tmp_path / "gpt" / "model.safetensors")["transformer.wte.weight"].dtype == np.float64


def test_save_refuses_options_gpt2_does_not_have(tmp_path):
    model = GPT(GPTConfig.llama(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match=r"GPT-2 has no equivalent of \{'pos': 'rope', 'norm': 'rmsnorm', "
                                         r"'mlp': 'swiglu', 'bias': False\}"):
        model.save_pretrained(tmp_path / "llama")
    assert not (tmp_path / "llama").exists()       # refused before anything was written


# --------------------------------------------------------------------------- other GPT-2 layouts

def test_bare_names_causal_mask_buffers_and_a_tied_lm_head_load(tmp_path, reference):
    raw = load_file(os.path.join(TINY, "model.safetensors"))
    tensors = {name[len("transformer."):]: value for name, value in raw.items()}   # GPT2Model names
    tensors["h.0.attn.bias"] = np.tril(np.ones((1, 1, 24, 24), np.uint8)).astype(bool)  # old checkpoints
    tensors["h.1.attn.masked_bias"] = np.array(-1e4, np.float32)
    tensors["lm_head.weight"] = raw["transformer.wte.weight"]
    model = GPT.from_pretrained(copy_folder(tmp_path, tensors))
    diff = np.abs(logits_of(model, reference["input_ids"]) - reference["logits"]).max()
    assert diff < 1e-4


def test_an_untied_lm_head_is_refused(tmp_path):
    raw = load_file(os.path.join(TINY, "model.safetensors"))
    raw["lm_head.weight"] = raw["transformer.wte.weight"] + 1.0
    with pytest.raises(ValueError, match="lm_head.weight differs from wte.weight"):
        GPT.from_pretrained(copy_folder(tmp_path, raw))


def test_sharded_checkpoints_load(tmp_path, reference):
    raw = load_file(os.path.join(TINY, "model.safetensors"))
    folder = tmp_path / "sharded"
    folder.mkdir()
    shutil.copy(os.path.join(TINY, "config.json"), folder)
    names = sorted(raw)
    shards = {"model-00001-of-00002.safetensors": names[:10], "model-00002-of-00002.safetensors": names[10:]}
    for shard, shard_names in shards.items():
        save_file({n: raw[n] for n in shard_names}, folder / shard, metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {n: s for s, ns in shards.items() for n in ns}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index), encoding="utf-8")
    diff = np.abs(logits_of(GPT.from_pretrained(folder), reference["input_ids"]) - reference["logits"]).max()
    assert diff < 1e-4


# --------------------------------------------------------------------------- loud failures (GPT-2)

def test_missing_unexpected_and_mis_shaped_weights_are_all_listed(tmp_path):
    raw = load_file(os.path.join(TINY, "model.safetensors"))
    del raw["transformer.h.1.mlp.c_proj.bias"]
    del raw["transformer.ln_f.weight"]
    raw["transformer.h.0.attn.rotary"] = np.zeros(3, np.float32)
    raw["transformer.h.0.ln_2.bias"] = np.zeros(31, np.float32)
    with pytest.raises(ValueError) as info:
        GPT.from_pretrained(copy_folder(tmp_path, raw))
    message = str(info.value)
    assert "2 missing ['transformer.h.1.mlp.c_proj.bias', 'transformer.ln_f.weight']" in message
    assert "1 unexpected ['transformer.h.0.attn.rotary']" in message
    assert "transformer.h.0.ln_2.bias (31,) != (32,)" in message


def test_a_config_that_disagrees_with_the_weights_names_the_mismatched_shapes(tmp_path):
    folder = copy_folder(tmp_path, config_changes={"n_positions": 20, "n_layer": 3})
    with pytest.raises(ValueError) as info:
        GPT.from_pretrained(folder)
    assert "transformer.wpe.weight (24, 32) != (20, 32)" in str(info.value)
    assert "'transformer.h.2.attn.c_attn.weight'" in str(info.value)      # layer 2 is missing


@pytest.mark.parametrize("changes, message", [
    ({"activation_function": "gelu"}, r"config\['activation_function'\] must be one of \['gelu_new', "
                                      r"'gelu_pytorch_tanh', 'gelu_fast'\] for minillm's GPT, got 'gelu'"),
    ({"n_inner": 100}, r"config\['n_inner'\] must be one of \[None, 128\] for minillm's GPT, got 100"),
    ({"scale_attn_by_inverse_layer_idx": True}, r"config\['scale_attn_by_inverse_layer_idx'\] must be one of "
                                                r"\[False\]"),
    ({"tie_word_embeddings": False}, r"config\['tie_word_embeddings'\] must be one of \[True\]"),
    ({"model_type": "bert"}, r"config\['model_type'\] must be 'gpt2', got 'bert'"),
])
def test_gpt2_configs_minillm_cannot_compute_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        GPT.from_pretrained(copy_folder(tmp_path, config_changes=changes))


def test_folders_without_safetensors_or_config_are_refused_by_name(tmp_path):
    folder = tmp_path / "bin_only"
    folder.mkdir()
    shutil.copy(os.path.join(TINY, "config.json"), folder)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02pickle")
    with pytest.raises(FileNotFoundError, match=r"has no model.safetensors .*found \['config.json', "
                                                r"'pytorch_model.bin'\].*never pickled pytorch_model.bin"):
        GPT.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="is not a Hugging Face model folder: it has no config.json"):
        GPT.from_pretrained(tmp_path)


def test_integer_weights_are_refused(tmp_path):
    raw = load_file(os.path.join(TINY, "model.safetensors"))
    raw["transformer.ln_f.bias"] = np.zeros(32, np.int32)
    with pytest.raises(ValueError, match="checkpoint tensor 'transformer.ln_f.bias' must be floating point, "
                                         "got dtype int32"):
        GPT.from_pretrained(copy_folder(tmp_path, raw))


# --------------------------------------------------------------------------- BERT folders

def small_bert(rng, pooler=True):
    config = BertConfig(vocab_size=40, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=20, max_position_embeddings=16)
    model = BertModel(config, seed=5, add_pooling_layer=pooler)
    for name in model.params:
        model.params[name] = (model.params[name] + 0.1 * rng.standard_normal(model.params[name].shape)
                              ).astype(np.float32)
    return model


def bert_inputs(rng):
    ids = rng.integers(0, 40, size=(2, 7))
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3])
    types = np.array([[0] * 4 + [1] * 3, [0] * 7])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def test_bert_round_trip_and_linear_weights_are_stored_out_by_in(tmp_path, rng):
    model = small_bert(rng)
    model.save_pretrained(tmp_path / "bert")
    raw = load_file(tmp_path / "bert" / "model.safetensors")
    # nn.Linear: y = x W^T + b with W (out, in); intermediate.dense maps 12 -> 20, so (20, 12)
    assert raw["encoder.layer.0.intermediate.dense.weight"].shape == (20, 12)
    x = rng.standard_normal((3, 12)).astype(np.float32)
    np.testing.assert_allclose(x @ raw["encoder.layer.1.attention.self.key.weight"].T,
                               x @ model.params["layer.1.attn.Wk"], rtol=1e-6)
    back = BertModel.from_pretrained(tmp_path / "bert", backend="numpy")
    for name in model.params:
        np.testing.assert_array_equal(back.params[name], model.params[name], err_msg=name)
    enc = bert_inputs(rng)
    out, out_back = model(**enc), back(**enc)
    np.testing.assert_array_equal(out_back.last_hidden_state, out.last_hidden_state)
    np.testing.assert_array_equal(out_back.pooler_output, out.pooler_output)
    assert read_config(tmp_path / "bert")["model_type"] == "bert"


def test_bert_prefix_buffers_and_task_heads(tmp_path, rng):
    model = small_bert(rng)
    model.save_pretrained(tmp_path / "bert")
    raw = load_file(tmp_path / "bert" / "model.safetensors")
    tensors = {"bert." + name: value for name, value in raw.items()}               # a BertFor* checkpoint
    tensors["bert.embeddings.position_ids"] = np.arange(16, dtype=np.int64)[None]   # a buffer
    tensors["cls.predictions.bias"] = np.zeros(40, np.float32)                      # an MLM head
    tensors["cls.seq_relationship.weight"] = np.zeros((2, 12), np.float32)
    folder = copy_folder(tmp_path, tensors, src=tmp_path / "bert")
    with pytest.warns(UserWarning, match=r"does not use 2 weights .*\['cls.predictions.bias', "
                                         r"'cls.seq_relationship.weight'\]"):
        back = BertModel.from_pretrained(folder, backend="numpy")
    enc = bert_inputs(rng)
    np.testing.assert_array_equal(back(**enc).last_hidden_state, model(**enc).last_hidden_state)


def test_bert_missing_unexpected_and_wrong_shapes_are_listed(tmp_path, rng):
    small_bert(rng).save_pretrained(tmp_path / "bert")
    raw = load_file(tmp_path / "bert" / "model.safetensors")
    del raw["pooler.dense.weight"]
    raw["encoder.layer.0.attention.self.query.weight"] = raw["encoder.layer.0.attention.self.query.weight"][:, :6]
    raw["encoder.layer.9.output.dense.bias"] = np.zeros(12, np.float32)
    with pytest.raises(ValueError) as info:
        BertModel.from_pretrained(copy_folder(tmp_path, raw, src=tmp_path / "bert"))
    message = str(info.value)
    assert "1 missing ['pooler.dense.weight']" in message
    assert "1 unexpected ['encoder.layer.9.output.dense.bias']" in message
    assert "encoder.layer.0.attention.self.query.weight (12, 6) != (12, 12)" in message


def test_bert_without_pooler_weights_loads_with_add_pooling_layer_false(tmp_path, rng):
    model = small_bert(rng, pooler=False)
    model.save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match=r"2 missing \['pooler.dense.bias', 'pooler.dense.weight'\]"):
        BertModel.from_pretrained(tmp_path / "bert")
    back = BertModel.from_pretrained(tmp_path / "bert", add_pooling_layer=False, backend="numpy")
    enc = bert_inputs(rng)
    assert back(**enc).pooler_output is None
    np.testing.assert_array_equal(back(**enc).last_hidden_state, model(**enc).last_hidden_state)


def test_bert_config_of_another_architecture_is_refused(tmp_path, rng):
    small_bert(rng).save_pretrained(tmp_path / "bert")
    folder = copy_folder(tmp_path, config_changes={"position_embedding_type": "relative_key"},
                         src=tmp_path / "bert")
    with pytest.raises(ValueError, match="config\\['position_embedding_type'\\] must be 'absolute'"):
        BertModel.from_pretrained(folder)


def test_hf_storage_dtype_in_config_does_not_change_the_compute_dtype(tmp_path, rng):
    small_bert(rng).save_pretrained(tmp_path / "bert")
    folder = copy_folder(tmp_path, config_changes={"dtype": "bfloat16", "torch_dtype": "float16"},
                         src=tmp_path / "bert")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BertModel.from_pretrained(folder)
    assert model.config.dtype == "float32" and model.params["pooler.W"].dtype == np.float32
