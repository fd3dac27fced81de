"""Hugging Face model folders <-> minillm's config and parameter dicts, for BERT and GPT-2.

A Hugging Face model folder holds
    config.json          the architecture: sizes, activation, LayerNorm epsilon, ...
    model.safetensors    the weights, named by PyTorch module path (big models: shards + an index)
    tokenizer.json       the tokenizer (read by minillm.tokenizers.WordPieceTokenizer.from_pretrained)

Loading is renaming, plus transposes and splits written out in two visible tables:

BERT   BERT_NAME_MAP below, e.g.
           "layer.{i}.attn.Wq"  <-  "encoder.layer.{i}.attention.self.query.weight", transposed
       PyTorch's nn.Linear stores W as (out, in) and computes x W^T + b; minillm computes
       x W + b with W as (in, out).  BertFor* checkpoints put "bert." in front of every name.
GPT-2  GPT2_NAME_MAP below, e.g.
           "h.{i}.attn.Wq"  <-  "h.{i}.attn.c_attn.weight", columns 0..C-1
       GPT-2's Conv1D already stores W as (in, out): nothing is transposed.  But c_attn fuses
       the three projections, x [Wq | Wk | Wv] + [bq | bk | bv] with a (C, 3C) matrix, so it is
       cut in thirds.  lm_head is the word embedding (tied) and is not stored.
       GPT2LMHeadModel puts "transformer." in front of every name; a bare GPT2Model does not.

Every load first checks the whole file against the config and raises ONE ValueError listing
every missing name, every unexpected name and every shape mismatch: never a silent partial
load.  Names that hold no weight of the model are skipped: buffers PyTorch saved alongside
(BERT's position_ids, GPT-2's causal mask "attn.bias") and, when the bare BERT encoder is
loaded from a BertFor* checkpoint, its task heads (cls.*, classifier.*) — as transformers'
BertModel.from_pretrained does, with a warning that names them.

This module deals in plain dicts and never imports a model: it reads a folder into
(Hugging Face config dict, {minillm name: array}) and writes such a pair back.  The models
construct themselves around it: BertModel.from_pretrained / save_pretrained (models/bert.py)
and GPT.from_pretrained / save_pretrained (models/gpt.py) pass in the names and shapes
their config expects.

Saving writes what transformers itself writes (checked against transformers 5.24): the
names above, float tensors, and the header metadata {"format": "pt"} it requires.
"""
import json
import os
import re
import warnings

import numpy as np

from minillm.io.safetensors import SafeTensorsFile, save_file
from minillm.atomic import write_json_atomic
from minillm.tokenizers.jsonfile import read_json_object

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"
CONFIG_NAME = "config.json"
SAFETENSORS_METADATA = {"format": "pt"}      # transformers refuses a file without it

# minillm name -> (Hugging Face name, stored transposed in HF?).  "{i}" is the layer index.
# Backbone names are those of a bare BertModel; checkpoints of BertFor* models put "bert."
# in front of them.  The MLM decoder weight "cls.predictions.decoder.weight" is the word
# embedding itself (tied), so it has no minillm name of its own.
BERT_NAME_MAP = {
    "embeddings.word": ("embeddings.word_embeddings.weight", False),
    "embeddings.position": ("embeddings.position_embeddings.weight", False),
    "embeddings.token_type": ("embeddings.token_type_embeddings.weight", False),
    "embeddings.ln.gamma": ("embeddings.LayerNorm.weight", False),
    "embeddings.ln.beta": ("embeddings.LayerNorm.bias", False),
    "layer.{i}.attn.Wq": ("encoder.layer.{i}.attention.self.query.weight", True),
    "layer.{i}.attn.bq": ("encoder.layer.{i}.attention.self.query.bias", False),
    "layer.{i}.attn.Wk": ("encoder.layer.{i}.attention.self.key.weight", True),
    "layer.{i}.attn.bk": ("encoder.layer.{i}.attention.self.key.bias", False),
    "layer.{i}.attn.Wv": ("encoder.layer.{i}.attention.self.value.weight", True),
    "layer.{i}.attn.bv": ("encoder.layer.{i}.attention.self.value.bias", False),
    "layer.{i}.attn.Wo": ("encoder.layer.{i}.attention.output.dense.weight", True),
    "layer.{i}.attn.bo": ("encoder.layer.{i}.attention.output.dense.bias", False),
    "layer.{i}.ln1.gamma": ("encoder.layer.{i}.attention.output.LayerNorm.weight", False),
    "layer.{i}.ln1.beta": ("encoder.layer.{i}.attention.output.LayerNorm.bias", False),
    "layer.{i}.mlp.W1": ("encoder.layer.{i}.intermediate.dense.weight", True),
    "layer.{i}.mlp.b1": ("encoder.layer.{i}.intermediate.dense.bias", False),
    "layer.{i}.mlp.W2": ("encoder.layer.{i}.output.dense.weight", True),
    "layer.{i}.mlp.b2": ("encoder.layer.{i}.output.dense.bias", False),
    "layer.{i}.ln2.gamma": ("encoder.layer.{i}.output.LayerNorm.weight", False),
    "layer.{i}.ln2.beta": ("encoder.layer.{i}.output.LayerNorm.bias", False),
    "pooler.W": ("pooler.dense.weight", True),
    "pooler.b": ("pooler.dense.bias", False),
    # heads (names in a BertForMaskedLM / BertFor*Classification checkpoint)
    "mlm.dense.W": ("cls.predictions.transform.dense.weight", True),
    "mlm.dense.b": ("cls.predictions.transform.dense.bias", False),
    "mlm.ln.gamma": ("cls.predictions.transform.LayerNorm.weight", False),
    "mlm.ln.beta": ("cls.predictions.transform.LayerNorm.bias", False),
    "mlm.bias": ("cls.predictions.bias", False),
    "classifier.W": ("classifier.weight", True),
    "classifier.b": ("classifier.bias", False),
}


def bert_name(name):
    """minillm parameter name -> (Hugging Face name, transposed); "layer.3.attn.Wq" -> (".. layer.3 ..", True)."""
    return _hf_entry(name, BERT_NAME_MAP, "layer", "BERT")


# A name of a layer's parameter, "<layer>.<i>.<rest>", is looked up as "<layer>.{i}.<rest>" and filled in.
def _hf_entry(name, table, layer, model):
    parts = name.split(".")
    if parts[0] == layer and len(parts) > 2 and parts[1].isdigit():
        hf, extra = table[f"{layer}.{{i}}." + ".".join(parts[2:])]
        return hf.format(i=parts[1]), extra
    if name not in table:
        raise ValueError(f"name must be a minillm {model} parameter name, got {name!r}")
    return table[name]


# minillm GPT name -> (GPT-2 name, part).  part "all": the tensor as stored, (in, out);
# "q" / "k" / "v": the first / second / third block of C columns (of C entries, for a bias)
# of the fused c_attn tensor.  "{i}" is the layer index.
GPT2_NAME_MAP = {
    "wte": ("wte.weight", "all"),
    "wpe": ("wpe.weight", "all"),
    "h.{i}.ln1.gamma": ("h.{i}.ln_1.weight", "all"),
    "h.{i}.ln1.beta": ("h.{i}.ln_1.bias", "all"),
    "h.{i}.attn.Wq": ("h.{i}.attn.c_attn.weight", "q"),
    "h.{i}.attn.Wk": ("h.{i}.attn.c_attn.weight", "k"),
    "h.{i}.attn.Wv": ("h.{i}.attn.c_attn.weight", "v"),
    "h.{i}.attn.bq": ("h.{i}.attn.c_attn.bias", "q"),
    "h.{i}.attn.bk": ("h.{i}.attn.c_attn.bias", "k"),
    "h.{i}.attn.bv": ("h.{i}.attn.c_attn.bias", "v"),
    "h.{i}.attn.Wo": ("h.{i}.attn.c_proj.weight", "all"),
    "h.{i}.attn.bo": ("h.{i}.attn.c_proj.bias", "all"),
    "h.{i}.ln2.gamma": ("h.{i}.ln_2.weight", "all"),
    "h.{i}.ln2.beta": ("h.{i}.ln_2.bias", "all"),
    "h.{i}.mlp.W1": ("h.{i}.mlp.c_fc.weight", "all"),
    "h.{i}.mlp.b1": ("h.{i}.mlp.c_fc.bias", "all"),
    "h.{i}.mlp.W2": ("h.{i}.mlp.c_proj.weight", "all"),
    "h.{i}.mlp.b2": ("h.{i}.mlp.c_proj.bias", "all"),
    "ln_f.gamma": ("ln_f.weight", "all"),
    "ln_f.beta": ("ln_f.bias", "all"),
}
GPT2_PARTS = ("q", "k", "v")                 # the order of the blocks inside c_attn
GPT2_PREFIX = "transformer."

# Hugging Face GPT-2 activations that are the tanh approximation minillm's GPT uses
GPT2_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")

# Saved names that are not weights (PyTorch buffers), skipped on load
BERT_BUFFER = re.compile(r"^(bert\.)?embeddings\.(position_ids|token_type_ids)$")
GPT2_BUFFER = re.compile(r"^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$")
# Task heads of BertForPreTraining / BertForMaskedLM / BertFor*Classification checkpoints
BERT_HEAD = re.compile(r"^(cls|classifier|qa_outputs)\.")


def gpt2_name(name):
    """minillm GPT name -> (GPT-2 name, part); "h.3.attn.Wk" -> ("h.3.attn.c_attn.weight", "k")."""
    return _hf_entry(name, GPT2_NAME_MAP, "h", "GPT")


# --------------------------------------------------------------------------- reading a folder

def read_config(path):
    """config.json of a model folder, as a dict."""
    file = os.path.join(os.fspath(path), CONFIG_NAME)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{os.fspath(path)!r} is not a Hugging Face model folder: it has no {CONFIG_NAME}")
    return read_json_object(file, "config file")


class HFWeights:
    """The tensors of a model folder: model.safetensors, or the shards its index lists.

    names() -> sorted names;  shape(name) -> tuple;  get(name) -> ndarray (memory-mapped)
    """

    def __init__(self, path):
        folder = os.fspath(path)
        single, index = os.path.join(folder, WEIGHTS_NAME), os.path.join(folder, INDEX_NAME)
        if os.path.isfile(single):
            f = SafeTensorsFile(single)
            self._file_of = {name: f for name in f.keys()}
        elif os.path.isfile(index):
            self._file_of = _read_shards(folder, index)
        else:
            found = sorted(os.listdir(folder)) if os.path.isdir(folder) else "no such folder"
            raise FileNotFoundError(f"{folder!r} has no {WEIGHTS_NAME} (nor {INDEX_NAME}); found {found}. "
                                    "minillm reads safetensors only, never pickled pytorch_model.bin files: "
                                    "re-save the model with transformers' save_pretrained")

    def names(self):
        return sorted(self._file_of)

    def shape(self, name):
        return self._file_of[name].info(name)[1]

    def get(self, name):
        return self._file_of[name].get(name)


def _read_shards(folder, index):
    with open(index, encoding="utf-8") as f:
        weight_map = json.load(f).get("weight_map")
    if not isinstance(weight_map, dict):
        raise ValueError(f"{index}: needs a 'weight_map' object of tensor name -> shard file")
    files, file_of = {}, {}
    for name, shard in weight_map.items():
        if shard not in files:
            files[shard] = SafeTensorsFile(os.path.join(folder, shard))
        if name not in files[shard]:
            raise ValueError(f"{index}: lists {name!r} in {shard}, which has no such tensor")
        file_of[name] = files[shard]
    return file_of


def _float_param(array, name, dtype, transpose=False):
    """A writable, contiguous copy of a checkpoint tensor in the model's dtype (W^T if transpose)."""
    if array.dtype.kind != "f":
        raise ValueError(f"checkpoint tensor {name!r} must be floating point, got dtype {array.dtype}")
    return np.ascontiguousarray(array.T if transpose else array, dtype=dtype)


def check_names(found, expected, skip, source, what):
    """found, expected: {name: shape}.  Raise one ValueError listing missing/unexpected/mismatched names."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(n for n in found if n not in expected and n not in skip)
    wrong = sorted(f"{n} {tuple(found[n])} != {tuple(expected[n])}" for n in expected
                   if n in found and tuple(found[n]) != tuple(expected[n]))
    if missing or unexpected or wrong:
        raise ValueError(f"{source} does not fit {what}: {len(missing)} missing {missing}, "
                         f"{len(unexpected)} unexpected {unexpected}, {len(wrong)} with the wrong shape "
                         f"(found != expected) {wrong}")


# --------------------------------------------------------------------------- BERT

def bert_config_from_hf(hf_config, *, dtype="float32"):
    """The config dict of minillm's BertConfig.from_dict from a Hugging Face BERT config.json dict.

    BertConfig uses HF's own field names, so this only drops HF's storage dtype and sets the
    dtype minillm computes in; BertConfig.from_dict ignores the keys it does not use.
    """
    d = {k: v for k, v in hf_config.items() if k not in ("dtype", "torch_dtype")}  # HF's storage dtype
    return {**d, "dtype": dtype}


def bert_config_to_hf(config):
    """The config.json dict of transformers' BertModel for a BertConfig.to_dict() dict."""
    config = {k: v for k, v in config.items() if k != "backend"}  # how minillm computes, not what the model is
    return {"architectures": ["BertModel"], "model_type": "bert", **config,
            "attention_probs_dropout_prob": 0.0,  # minillm's attention has no dropout
            "position_embedding_type": "absolute"}


def read_bert_params(path, shapes, *, dtype="float32", what="BertModel"):
    """{minillm name: array} of a Hugging Face BERT folder, for the names and shapes in `shapes`.

    shapes: {minillm name: shape}, what the model expects (models.bert.backbone_shapes); without
    "pooler.W" the checkpoint's pooler is skipped.  Accepts bare BertModel names and the
    "bert."-prefixed names of BertFor* checkpoints.
    """
    folder = os.fspath(path)
    weights = HFWeights(folder)
    names = weights.names()
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in names else ""
    # expected: HF name -> HF shape (transposed where HF stores (out, in))
    expected, source_of = {}, {}
    for name, shape in shapes.items():
        hf, transposed = bert_name(name)
        expected[prefix + hf] = tuple(shape)[::-1] if transposed else tuple(shape)
        source_of[name] = (prefix + hf, transposed)
    pooler = "pooler.W" in shapes
    heads = [n for n in names if BERT_HEAD.match(n) or (not pooler and n.startswith(prefix + "pooler."))]
    skip = set(heads) | {n for n in names if BERT_BUFFER.match(n)}
    check_names({n: weights.shape(n) for n in names}, expected, skip, os.path.join(folder, WEIGHTS_NAME), what)
    if heads:
        warnings.warn(f"{folder}: BertModel does not use {len(heads)} weights of this checkpoint "
                      f"(task heads), they were not loaded: {heads}", stacklevel=3)
    return {name: _float_param(weights.get(hf), hf, dtype, transposed) for name, (hf, transposed) in source_of.items()}


def bert_hf_tensors(params):
    """{Hugging Face name: array} of BERT parameters, as transformers' BertModel stores them."""
    tensors = {}
    for name, value in params.items():
        hf, transposed = bert_name(name)
        tensors[hf] = np.ascontiguousarray(value.T if transposed else value)
    return tensors


def write_bert(path, params, hf_config):
    """Write a folder transformers.BertModel.from_pretrained reads: config.json + model.safetensors."""
    folder = os.fspath(path)
    os.makedirs(folder, exist_ok=True)
    save_file(bert_hf_tensors(params), os.path.join(folder, WEIGHTS_NAME), metadata=SAFETENSORS_METADATA)
    write_json_atomic(os.path.join(folder, CONFIG_NAME), hf_config, indent=2)


# --------------------------------------------------------------------------- GPT-2

def gpt2_config_from_hf(hf_config):
    """The GPTConfig fields of a Hugging Face GPT-2 config.json dict (missing fields: GPT2Config's defaults).

    The architecture only: dtype, backend and dropout are the caller's (GPT.from_pretrained).  The
    checkpoint's *_pdrop are training settings of the original run and are not copied.
    """
    d = hf_config
    if d.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"config['model_type'] must be 'gpt2', got {d['model_type']!r}")
    n_embd = d.get("n_embd", 768)
    # (key, values minillm's GPT can compute, GPT2Config's default)
    rules = [("activation_function", GPT2_TANH_GELUS, "gelu_new"), ("n_inner", (None, 4 * n_embd), None),
             ("scale_attn_weights", (True,), True), ("scale_attn_by_inverse_layer_idx", (False,), False),
             ("add_cross_attention", (False,), False), ("tie_word_embeddings", (True,), True)]
    for key, allowed, default in rules:
        if d.get(key, default) not in allowed:
            raise ValueError(f"config[{key!r}] must be one of {list(allowed)} for minillm's GPT, got {d[key]!r}")
    return {"vocab_size": d.get("vocab_size", 50257), "block_size": d.get("n_positions", d.get("n_ctx", 1024)),
            "n_layer": d.get("n_layer", 12), "n_head": d.get("n_head", 12), "n_embd": n_embd,
            "bias": True, "pos": "learned", "norm": "layernorm", "mlp": "gelu",
            "norm_eps": d.get("layer_norm_epsilon", 1e-5)}


def gpt2_config_to_hf(config):
    """The config.json dict of GPT2LMHeadModel for a GPTConfig.to_dict() dict (GPT-2 options only)."""
    wanted = {"pos": "learned", "norm": "layernorm", "mlp": "gelu", "bias": True}
    other = {k: config[k] for k, v in wanted.items() if config[k] != v}
    if other:
        raise ValueError(f"GPT-2 has no equivalent of {other}: save_pretrained needs a GPTConfig with {wanted}")
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": config["vocab_size"], "n_positions": config["block_size"], "n_embd": config["n_embd"],
        "n_layer": config["n_layer"], "n_head": config["n_head"], "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": config["norm_eps"],
        "embd_pdrop": config["dropout"], "resid_pdrop": config["dropout"],
        "attn_pdrop": 0.0,                   # minillm's attention has no dropout
        "initializer_range": 0.02, "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False, "add_cross_attention": False, "tie_word_embeddings": True,
        "use_cache": True, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
        "dtype": config["dtype"],
    }


def read_gpt2_params(path, shapes, *, dtype="float32", what="GPT-2"):
    """{minillm name: array} of a Hugging Face GPT-2 folder (GPT2LMHeadModel or GPT2Model names).

    shapes: {minillm name: shape}, what the model expects (models.gpt.param_shapes).
    """
    folder = os.fspath(path)
    weights = HFWeights(folder)
    names = weights.names()
    prefix = GPT2_PREFIX if GPT2_PREFIX + "wte.weight" in names else ""
    # expected: HF name -> HF shape;  source_of: minillm name -> (HF name, part)
    expected, source_of = {}, {}
    for name, shape in shapes.items():
        hf, part = gpt2_name(name)
        # c_attn holds the three parts side by side along its last axis
        expected[prefix + hf] = tuple(shape) if part == "all" else tuple(shape[:-1]) + (3 * shape[-1],)
        source_of[name] = (prefix + hf, part)
    skip = {n for n in names if GPT2_BUFFER.match(n)} | {"lm_head.weight"}
    check_names({n: weights.shape(n) for n in names}, expected, skip, os.path.join(folder, WEIGHTS_NAME), what)
    if "lm_head.weight" in names and not np.array_equal(weights.get("lm_head.weight"),
                                                        weights.get(prefix + "wte.weight")):
        raise ValueError(f"{folder}: lm_head.weight differs from wte.weight; minillm's GPT ties its output "
                         "head to the word embedding and cannot hold an untied head")
    C = shapes["wte"][1]
    params = {}
    for name, (hf, part) in source_of.items():
        tensor = weights.get(hf)
        if part != "all":
            # x [Wq | Wk | Wv]: part j is columns j*C .. (j+1)*C - 1
            j = GPT2_PARTS.index(part)
            tensor = tensor[..., j * C:(j + 1) * C]
        params[name] = _float_param(tensor, hf, dtype)
    return params


def gpt2_hf_tensors(params):
    """{Hugging Face name: array} of GPT parameters, as transformers' GPT2LMHeadModel stores them."""
    tensors, fused = {}, {}
    for name, value in params.items():
        hf, part = gpt2_name(name)
        if part == "all":
            tensors[GPT2_PREFIX + hf] = np.ascontiguousarray(value)
        else:
            fused.setdefault(GPT2_PREFIX + hf, {})[part] = value
    for hf, parts in fused.items():
        # c_attn = [Wq | Wk | Wv]  (C, 3C),  [bq | bk | bv]  (3C,)
        tensors[hf] = np.concatenate([parts[p] for p in GPT2_PARTS], axis=-1)
    return tensors


def write_gpt2(path, params, hf_config):
    """Write a folder transformers.GPT2LMHeadModel.from_pretrained reads: config.json + model.safetensors."""
    folder = os.fspath(path)
    os.makedirs(folder, exist_ok=True)
    save_file(gpt2_hf_tensors(params), os.path.join(folder, WEIGHTS_NAME), metadata=SAFETENSORS_METADATA)
    write_json_atomic(os.path.join(folder, CONFIG_NAME), hf_config, indent=2)
