"""BERT: a bidirectional Transformer encoder, the model the article's §5 code loads.

    token ids, segment ids (B, T)
    x = E_word[ids] + E_pos[t] + E_type[segment]          three embeddings, summed     (B, T, C)
    x = Drop(LN(x))                                        embedding layer norm
    L x  [ x = LN1(x + Drop(MHA(x, x; padding mask)))      post-LN encoder blocks
           x = LN2(x + Drop(FFN(x))) ]                     (exact-erf GELU, eps = 1e-12)
    last_hidden_state = x                                                               (B, T, C)
    pooler_output     = tanh(x[:, 0] W_p + b_p)            the [CLS] vector, transformed (B, C)

Heads on top (each with forward(...) -> (logits, loss, cache) and backward(cache, dloss=1.0) -> grads):
    BertForMaskedLM                 t = LN(GELU(x W_d + b_d)),  logits = t E_word^T + b     (B, T, V)
    BertForSequenceClassification   logits = Drop(pooler_output) W_c + b_c                  (B, K)
    BertForTokenClassification      logits = Drop(last_hidden_state) W_c + b_c               (B, T, K)

Letters (docs/NOTATION.md): B batch, T time, C width (hidden_size), H attention heads, d_k = C / H, V vocabulary, n_c labels.

The padding mask: attention_mask (B, T) holds 1 for a real token and 0 for [PAD]; it becomes
the boolean key mask (B, 1, 1, T), so no position attends to padding.  Padded positions still
get (meaningless) outputs; the losses ignore them.

Parameters live in one flat dict with minillm's short names; BERT_NAME_MAP (in
minillm/io/huggingface.py, also reachable here as HF_NAME_MAP) lists, for every name, the
Hugging Face BERT name and whether the array is stored transposed there (PyTorch's nn.Linear
keeps W as (out, in); minillm's x @ W + b keeps it as (in, out)).

Dropout: only on the embeddings, the sublayer outputs and the classifier input (HF BERT also
drops attention probabilities; minillm's attention has no dropout).  With training=False
(the default) there is none and no rng is needed.

The backend is chosen in BertConfig.backend, as for the GPT: "numpy" (the readable layers) or
"numba" (their twins in minillm.kernels, same contract; models/backend.py).  The encoder, its
blocks and the heads call every operation through that one `ops` namespace, and the backward
takes it from the cache.  A config read from a Hugging Face folder gets the backend that
`from_pretrained(..., backend=)` names, "numba" unless told otherwise, so the article's §5 code
runs on the kernels as written.

Derived in notebooks/12_bert_classification.ipynb.
"""
from dataclasses import asdict, dataclass, fields

import numpy as np

from minillm.checks import check_choice, check_int, check_int_array, check_number, check_params, check_rng
from minillm.io.huggingface import (
    BERT_NAME_MAP, bert_config_from_hf, bert_config_to_hf, bert_name, read_bert_params, read_config, write_bert,
)
from minillm.layers import NUMPY_OPS, block_params, encoder_block_backward, encoder_block_forward
from minillm.layers.feedforward import ACTIVATIONS as LAYER_ACTIVATIONS
from minillm.layers.softmax import IGNORE_INDEX
from minillm.models.backend import ops_for_backend

# Hugging Face's hidden_act -> the activation name of minillm.layers.feedforward ("gelu" is exact erf there)
ACTIVATIONS = {"gelu": "gelu_erf", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu"}


@dataclass
class BertConfig:
    """The fields (and names) of a Hugging Face BERT config.json that the model uses."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"  # "gelu" = exact erf GELU, as in HF BERT; "gelu_new" = tanh approximation
    hidden_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    dtype: str = "float32"
    backend: str = "numpy"  # "numpy" (the readable reference) | "numba" (the kernels); not a Hugging Face field

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            check_int(name, getattr(self, name), low=1)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size must be divisible by num_attention_heads: got hidden_size="
                             f"{self.hidden_size}, num_attention_heads={self.num_attention_heads}")
        check_number("layer_norm_eps", self.layer_norm_eps, low=0.0, low_open=True)
        check_choice("hidden_act", self.hidden_act, ACTIVATIONS.keys())
        check_number("hidden_dropout_prob", self.hidden_dropout_prob, low=0.0, high=1.0, high_open=True)
        check_number("initializer_range", self.initializer_range, low=0.0, low_open=True)
        check_choice("dtype", self.dtype, {"float32", "float64"})
        check_choice("backend", self.backend, {"numpy", "numba"})

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """From minillm's to_dict() or a Hugging Face BERT config.json dict.

        HF keys this model does not use (architectures, pad_token_id, ...) are ignored; the
        few that would change the computation are checked, so an unsupported model is refused.
        """
        if not isinstance(d, dict):
            raise TypeError(f"config must be a dict, got a {type(d).__name__}")
        checks = {"model_type": "bert", "position_embedding_type": "absolute", "is_decoder": False,
                  "add_cross_attention": False}
        for key, wanted in checks.items():
            if key in d and d[key] != wanted:
                raise ValueError(f"config[{key!r}] must be {wanted!r} for minillm's BertModel, got {d[key]!r}")
        known = {f.name for f in fields(cls)}
        if "vocab_size" not in d:
            raise ValueError(f"config has no 'vocab_size'; got the keys {sorted(d)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def activation(self):
        return ACTIVATIONS[self.hidden_act]


# --------------------------------------------------------------------------- parameters

def backbone_shapes(config, *, pooler=True):
    """name -> shape of every encoder parameter (embeddings, L blocks, optionally the pooler)."""
    c = config
    H, F = c.hidden_size, c.intermediate_size
    shapes = {"embeddings.word": (c.vocab_size, H), "embeddings.position": (c.max_position_embeddings, H),
              "embeddings.token_type": (c.type_vocab_size, H),
              "embeddings.ln.gamma": (H,), "embeddings.ln.beta": (H,)}
    for i in range(c.num_hidden_layers):
        p = f"layer.{i}."
        for name in ("q", "k", "v", "o"):
            shapes[p + f"attn.W{name}"] = (H, H)
            shapes[p + f"attn.b{name}"] = (H,)
        shapes.update({p + "ln1.gamma": (H,), p + "ln1.beta": (H,),
                       p + "mlp.W1": (H, F), p + "mlp.b1": (F,), p + "mlp.W2": (F, H), p + "mlp.b2": (H,),
                       p + "ln2.gamma": (H,), p + "ln2.beta": (H,)})
    if pooler:
        shapes.update({"pooler.W": (H, H), "pooler.b": (H,)})
    return shapes


def init_params(shapes, config, seed=0):
    """HF BERT's initialisation: weights and embeddings N(0, initializer_range), biases 0, LN gain 1."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(config.dtype)
    params = {}
    for name, shape in shapes.items():
        if name.endswith(".gamma"):
            params[name] = np.ones(shape, dt)
        elif len(shape) == 1:                      # biases and LayerNorm betas
            params[name] = np.zeros(shape, dt)
        else:
            params[name] = (rng.standard_normal(shape) * config.initializer_range).astype(dt)
    return params


# The Hugging Face name of every parameter (and whether HF stores it transposed) is one table in
# minillm/io/huggingface.py, beside GPT-2's; the names are kept here for the notebooks.
HF_NAME_MAP = BERT_NAME_MAP
hf_name = bert_name


# --------------------------------------------------------------------------- the encoder

@dataclass
class BertOutput:
    """What transformers' BertModel returns, as NumPy arrays."""

    last_hidden_state: np.ndarray   # (B, T, C)
    pooler_output: np.ndarray       # (B, C), or None without a pooling layer


def check_inputs(config, input_ids, attention_mask, token_type_ids):
    """Validate the three tokenizer arrays; fill the defaults (all ones, all zeros)."""
    check_int_array("input_ids", input_ids, high=config.vocab_size)
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must have shape (B, T) (one sequence: ids[None]), got {input_ids.shape}")
    B, T = input_ids.shape
    if T > config.max_position_embeddings:
        raise ValueError(f"input_ids is too long: T = {T} > max_position_embeddings "
                         f"{config.max_position_embeddings}")
    if attention_mask is None:
        attention_mask = np.ones((B, T), np.int64)
    check_int_array("attention_mask", attention_mask.astype(np.int64) if attention_mask.dtype == bool
                    else attention_mask, high=2)
    if attention_mask.shape != (B, T):
        raise ValueError(f"attention_mask must have the shape of input_ids {(B, T)}, got {attention_mask.shape}")
    empty = np.nonzero(attention_mask.sum(axis=1) == 0)[0]
    if empty.size:
        raise ValueError(f"attention_mask row {int(empty[0])} is all 0: every sequence needs one real token")
    if token_type_ids is None:
        token_type_ids = np.zeros((B, T), np.int64)
    check_int_array("token_type_ids", token_type_ids, high=config.type_vocab_size)
    if token_type_ids.shape != (B, T):
        raise ValueError(f"token_type_ids must have the shape of input_ids {(B, T)}, got {token_type_ids.shape}")
    return attention_mask, token_type_ids


def _drop_rng(config, training, rng):
    drop = config.hidden_dropout_prob if training else 0.0
    if drop > 0:
        check_rng("rng", rng)
    return drop


def encoder_forward(params, config, input_ids, attention_mask=None, token_type_ids=None, *, pooler=True,
                    training=False, rng=None, ops=None):
    """-> last_hidden (B, T, C), pooled (B, C) or None, cache.  Reads only the backbone keys of params.

    ops: the operations the encoder and its blocks call (minillm/layers/block.py); None = those of
    config.backend.  The backward takes them from the cache.
    """
    c, p = config, params
    ops = ops_for_backend(c.backend) if ops is None else ops
    attention_mask, token_type_ids = check_inputs(c, input_ids, attention_mask, token_type_ids)
    drop = _drop_rng(c, training, rng)
    B, T = input_ids.shape
    cache = {"T": T, "pos_shape": p["embeddings.position"].shape, "pooler": pooler, "layers": c.num_hidden_layers,
             "ops": ops}
    # x = E_word[ids] + E_pos[0..T-1] + E_type[segment]                         (B, T, C)
    # $$ x_t = E_\text{word}[\text{id}_t] + E_\text{pos}[t] + E_\text{type}[\text{segment}_t], \quad t = 0, \dots, T-1 $$
    x_word, cache["word"] = ops.embedding_forward(input_ids, p["embeddings.word"])
    x_type, cache["type"] = ops.embedding_forward(token_type_ids, p["embeddings.token_type"])
    x = x_word + p["embeddings.position"][:T] + x_type
    # x = Drop(LN(x))
    # $$ x \leftarrow \operatorname{Drop}(\operatorname{LN}(x)) $$
    x, cache["emb_ln"] = ops.layernorm_forward(x, p["embeddings.ln.gamma"], p["embeddings.ln.beta"],
                                               eps=c.layer_norm_eps)
    x, cache["emb_drop"] = ops.dropout_forward(x, p=drop, rng=rng, training=drop > 0)
    # attention_mask 1/0 (B, T) -> key mask (B, 1, 1, T): True = this key may be attended to
    key_mask = (attention_mask != 0)[:, None, None, :]
    for i in range(c.num_hidden_layers):
        prefix = f"layer.{i}."
        # x = LN2(h + Drop(FFN(h))),  h = LN1(x + Drop(MHA(x, x)))      (post-LN, BERT)
        # $$ x \leftarrow \operatorname{LN}_2(h + \operatorname{Drop}(\operatorname{FFN}(h))), \qquad h = \operatorname{LN}_1(x + \operatorname{Drop}(\operatorname{MHA}(x, x))) $$
        x, cache[prefix] = encoder_block_forward(x, block_params(p, prefix), n_heads=c.num_attention_heads,
                                                 mask=key_mask, norm="post", eps=c.layer_norm_eps,
                                                 activation=c.activation, dropout=drop, rng=rng, training=drop > 0,
                                                 ops=ops)
    cache["out_shape"] = x.shape
    pooled = None
    if pooler:
        # pooler_output = tanh(h_[CLS] W_p + b_p)                               (B, C)
        # $$ \mathrm{pooler\_output} = \tanh\left(x_{[\mathrm{CLS}]} W_p + b_p\right) $$
        z, cache["pool_linear"] = ops.linear_forward(x[:, 0], p["pooler.W"], p["pooler.b"])
        pooled, cache["pool_tanh"] = ops.tanh_forward(z)
    return x, pooled, cache


def encoder_backward(d_last_hidden, d_pooler, cache):
    """Gradients of every backbone parameter given dL/d last_hidden and dL/d pooled (either may be None)."""
    g, ops = {}, cache["ops"]
    dx = None if d_last_hidden is None else d_last_hidden.copy()
    if cache["pooler"]:
        if d_pooler is None:
            raise ValueError("d_pooler is None, but the forward computed a pooler output: pass zeros if unused")
        # pooled = tanh(z),  z = x[:, 0] W_p + b_p
        # $$ \mathrm{pooled} = \tanh(a), \qquad a = x_{[\mathrm{CLS}]} W_p + b_p $$
        dz = ops.tanh_backward(d_pooler, cache["pool_tanh"])
        d_cls, g["pooler.W"], g["pooler.b"] = ops.linear_backward(dz, cache["pool_linear"])
        if dx is None:
            dx = np.zeros(cache["out_shape"], d_cls.dtype)
        # x[:, 0] reached the output twice: as last_hidden_state[:, 0] and through the pooler
        dx[:, 0] = dx[:, 0] + d_cls
    elif dx is None:
        raise ValueError("d_last_hidden is None and there is no pooler: nothing to differentiate")
    for i in reversed(range(cache["layers"])):
        prefix = f"layer.{i}."
        dx, block_grads = encoder_block_backward(dx, cache[prefix])
        g.update({prefix + k: v for k, v in block_grads.items()})
    # x = Drop(LN(x))
    # $$ x \leftarrow \operatorname{Drop}(\operatorname{LN}(x)) $$
    dx = ops.dropout_backward(dx, cache["emb_drop"])
    dx, g["embeddings.ln.gamma"], g["embeddings.ln.beta"] = ops.layernorm_backward(dx, cache["emb_ln"])
    # x = E_word[ids] + E_pos[t] + E_type[segment]: the sum hands dx to all three tables
    # $$ x_t = E_\text{word}[\text{id}_t] + E_\text{pos}[t] + E_\text{type}[\text{segment}_t] $$
    g["embeddings.word"] = ops.embedding_backward(dx, cache["word"])
    g["embeddings.token_type"] = ops.embedding_backward(dx, cache["type"])
    # E_pos[0..T-1] is read once per sequence: its rows collect dx summed over the batch
    g["embeddings.position"] = np.zeros(cache["pos_shape"], dx.dtype)
    g["embeddings.position"][:cache["T"]] = dx.sum(axis=0)
    return g


class BertModel:
    """The encoder alone, called as in transformers:  out = model(**tokenizer(text, return_tensors="np")).

        out, cache = model.forward(input_ids, attention_mask, token_type_ids)
        grads = model.backward(d_last_hidden, d_pooler, cache)
    """

    def __init__(self, config, params=None, seed=0, add_pooling_layer=True):
        self.config = config
        self.add_pooling_layer = bool(add_pooling_layer)
        shapes = backbone_shapes(config, pooler=self.add_pooling_layer)
        self.params = init_params(shapes, config, seed) if params is None else params
        check_params(self.params, shapes, "BertModel")
        self.ops = ops_for_backend(config.backend)  # the operations the encoder and its blocks call

    # ------------------------------------------- Hugging Face BERT folders (minillm/io/huggingface.py)
    @classmethod
    def from_pretrained(cls, path, *, dtype="float32", add_pooling_layer=True, backend="numba"):
        """A Hugging Face BERT folder (config.json + model.safetensors), computing in `dtype` on `backend`.

        backend: "numba" (the kernels, the default: the article's code runs fast as written) or
        "numpy" (the readable layers; the same outputs within float32 rounding).
        Accepts bare BertModel names and the "bert."-prefixed names of BertFor* checkpoints
        (whose task heads are skipped, with a warning that names them).
        """
        config = BertConfig.from_dict({**bert_config_from_hf(read_config(path), dtype=dtype), "backend": backend})
        shapes = backbone_shapes(config, pooler=add_pooling_layer)
        params = read_bert_params(path, shapes, dtype=config.dtype, what=f"BertModel with {config}")
        return cls(config, params, add_pooling_layer=add_pooling_layer)

    def save_pretrained(self, path):
        """Write config.json + model.safetensors that transformers' BertModel.from_pretrained reads."""
        write_bert(path, self.params, bert_config_to_hf(self.config.to_dict()))

    @property
    def n_params(self):
        return int(sum(v.size for v in self.params.values()))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, *, training=False, rng=None):
        x, pooled, cache = encoder_forward(self.params, self.config, input_ids, attention_mask, token_type_ids,
                                           pooler=self.add_pooling_layer, training=training, rng=rng, ops=self.ops)
        return BertOutput(last_hidden_state=x, pooler_output=pooled), cache

    def backward(self, d_last_hidden, d_pooler, cache):
        return encoder_backward(d_last_hidden, d_pooler, cache)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.forward(input_ids, attention_mask, token_type_ids)[0]


# --------------------------------------------------------------------------- MLM masking

# BERT's masking rule.  Each token that is not special is chosen with probability p = 0.15;
# a chosen token becomes the prediction target (label = its id) and its input is replaced by
#   [MASK]          with probability 0.8
#   a random token  with probability 0.1   (uniform over the non-special ids)
#   itself          with probability 0.1
# Every other position gets label ignore_index and keeps its input.
# (Hugging Face's collator draws the random token from the whole vocabulary, specials
# included; with a 30k vocabulary that makes no difference, with a tiny one it would.)
# $$ \mathrm{chosen}_t \sim \operatorname{Bernoulli}(p), \quad p = 0.15, \quad \text{on the non-special positions } t $$
# $$ \tilde{\mathrm{id}}_t = \begin{cases} {[\mathrm{MASK}]} & \text{with probability } 0.8 \\ \text{a uniform non-special id} & \text{with probability } 0.1 \\ \mathrm{id}_t & \text{with probability } 0.1 \end{cases} \qquad y_t = \begin{cases} \mathrm{id}_t & \mathrm{chosen}_t \\ \mathrm{ignore\_index} & \text{otherwise} \end{cases} $$
def mask_tokens(input_ids, *, rng, mask_id, vocab_size, special_ids, mlm_probability=0.15,
                ignore_index=IGNORE_INDEX):
    """-> (masked input_ids, labels), both shaped like input_ids."""
    check_rng("rng", rng)
    check_int_array("input_ids", input_ids, high=vocab_size)
    check_int("mask_id", mask_id, low=0, high=vocab_size - 1)
    check_number("mlm_probability", mlm_probability, low=0.0, high=1.0)
    special = np.array(sorted(set(int(i) for i in special_ids)), dtype=np.int64)
    if mask_id not in special:
        raise ValueError(f"special_ids must include mask_id {mask_id}: a [MASK] in the input is never a target")
    ordinary = np.setdiff1d(np.arange(vocab_size), special)        # the ids a random replacement may take
    if ordinary.size == 0:
        raise ValueError(f"special_ids must leave some ordinary ids, got all {vocab_size} ids special")
    # chosen ~ Bernoulli(p) on the non-special positions
    # $$ \mathrm{chosen}_t \sim \operatorname{Bernoulli}(p), \quad t \text{ not special} $$
    chosen = ~np.isin(input_ids, special) & (rng.random(input_ids.shape) < mlm_probability)
    labels = np.where(chosen, input_ids, ignore_index).astype(np.int64)
    # one uniform draw u per position: u < 0.8 -> [MASK], 0.8 <= u < 0.9 -> random, else keep
    # $$ u_t \sim \operatorname{Uniform}[0, 1): \quad \tilde{\mathrm{id}}_t = \begin{cases} {[\mathrm{MASK}]} & u_t < 0.8 \\ \text{random non-special id} & 0.8 \le u_t < 0.9 \\ \mathrm{id}_t & \text{otherwise} \end{cases} \quad (\mathrm{chosen}_t) $$
    u = rng.random(input_ids.shape)
    masked = input_ids.copy()
    masked[chosen & (u < 0.8)] = mask_id
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    masked[to_random] = rng.choice(ordinary, size=int(to_random.sum()))
    return masked, labels


# --------------------------------------------------------------------------- heads

def _loss(logits, labels, cache):
    """Mean cross-entropy over the labels that are not IGNORE_INDEX; None without labels."""
    if labels is None:
        return None
    check_int_array_or_ignore("labels", labels)
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels must have shape {logits.shape[:-1]}, got {labels.shape}")
    loss, cache["loss"] = cache["ops"].cross_entropy_forward(logits, labels, ignore_index=IGNORE_INDEX)
    return float(loss)


def _activation(ops, name):
    """(forward(x) -> (out, cache), backward(dout, cache)) of a layers.feedforward activation name;
    the GELUs go through ops (the backend's kernels, same options), the others are the NumPy layers."""
    act_forward, act_backward, options = LAYER_ACTIVATIONS[name]
    if act_forward is NUMPY_OPS.gelu_forward:
        act_forward, act_backward = ops.gelu_forward, ops.gelu_backward
    return (lambda x: act_forward(x, **options)), act_backward


def check_int_array_or_ignore(name, labels):
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        got = f"dtype {labels.dtype}" if isinstance(labels, np.ndarray) else f"a {type(labels).__name__}"
        raise TypeError(f"{name} must be an integer numpy array (class ids, {IGNORE_INDEX} = ignore), got {got}")


class _Head:
    """What the three heads share: backbone + head parameters in ONE flat dict, the training flag."""

    pooler = True

    def __init__(self, config, params=None, seed=0):
        self.config = config
        shapes = {**backbone_shapes(config, pooler=self.pooler), **self.head_shapes_for(config)}
        self.params = init_params(shapes, config, seed) if params is None else params
        check_params(self.params, shapes, type(self).__name__)
        self.ops = ops_for_backend(config.backend)  # the operations the encoder, its blocks and the head call

    @classmethod
    def from_backbone(cls, backbone_params, config, seed=0, **kw):
        """A new head on top of trained encoder weights (e.g. after MLM pre-training).

        The backbone keys are copied from backbone_params; the head (and the pooler, if this
        head uses it and backbone_params has none) are freshly initialised.  Extra keys
        (another head's) are left out.
        """
        model = cls(config, seed=seed, **kw)
        for name in backbone_shapes(config, pooler=cls.pooler):
            if name in backbone_params:
                model.params[name][...] = backbone_params[name]
            elif not name.startswith("pooler."):
                raise ValueError(f"backbone_params has no {name!r}: not the weights of this config")
        return model

    def head_shapes_for(self, config):
        raise NotImplementedError

    @property
    def n_params(self):
        return int(sum(v.size for v in self.params.values()))

    def encode(self, input_ids, attention_mask, token_type_ids, training, rng):
        return encoder_forward(self.params, self.config, input_ids, attention_mask, token_type_ids,
                               pooler=self.pooler, training=training, rng=rng, ops=self.ops)

    def backward(self, cache, dloss=1.0):
        """Gradients of dloss * (the mean loss) for every parameter (same keys as params).

        dloss = 1 gives the gradients of the loss itself; a data-parallel shard passes its share n_s / n.
        """
        if cache is None or "loss" not in cache:
            raise ValueError("cache must come from forward(..., labels=...) with labels")
        # loss = cross_entropy(logits, labels)  ->  dlogits = dloss * (probs - onehot) / N
        # $$ \mathcal{L} = \operatorname{CE}(z, y) \;\Rightarrow\; dz = \mathrm{dloss} \cdot \frac{\hat{p} - \operatorname{onehot}(y)}{N} $$
        return self._backward(cache["ops"].cross_entropy_backward(dloss, cache["loss"]), cache)


class BertForMaskedLM(_Head):
    """MLM head tied to the word embeddings:  t = LN(GELU(x W_d + b_d)),  logits = t E_word^T + b.

    (GELU here is config.hidden_act, as in Hugging Face's BertPredictionHeadTransform.)
    """

    pooler = False          # as in Hugging Face's BertForMaskedLM

    def head_shapes_for(self, config):
        H, V = config.hidden_size, config.vocab_size
        return {"mlm.dense.W": (H, H), "mlm.dense.b": (H,), "mlm.ln.gamma": (H,), "mlm.ln.beta": (H,),
                "mlm.bias": (V,)}

    def forward(self, input_ids, labels=None, attention_mask=None, token_type_ids=None, *, training=False,
                rng=None, only_labelled=False):
        """-> logits (B, T, V), loss (mean over labels != -100, or None), cache.

        only_labelled=True (pre-training): the head runs only at the positions that have a label,
        as the original BERT code does; logits are then (N_labelled, V).  Same loss, same
        gradients, about 1/7 of the head's work.
        """
        p, c = self.params, self.config
        x, _, cache = self.encode(input_ids, attention_mask, token_type_ids, training, rng)
        if only_labelled:
            if labels is None:
                raise ValueError("only_labelled=True needs labels (it keeps the positions whose label is not -100)")
            check_int_array_or_ignore("labels", labels)
            if labels.shape != input_ids.shape:
                raise ValueError(f"labels must have shape {input_ids.shape}, got {labels.shape}")
            keep = labels != IGNORE_INDEX                                          # (B, T) bool
            cache["keep"] = keep
            x, labels = x[keep], labels[keep]                                      # (N, H), (N,)
        # t = LN(GELU(x W_d + b_d))                                              (B, T, C)
        # $$ t = \operatorname{LN}(\operatorname{GELU}(x W_d + b_d)) $$
        ops = self.ops
        t, cache["dense"] = ops.linear_forward(x, p["mlm.dense.W"], p["mlm.dense.b"])
        t, cache["act"] = _activation(ops, c.activation)[0](t)
        t, cache["ln"] = ops.layernorm_forward(t, p["mlm.ln.gamma"], p["mlm.ln.beta"], eps=c.layer_norm_eps)
        # logits = t E_word^T + b      (the decoder is the word embedding, transposed)     (B, T, V)
        # $$ z = t\, E_\text{word}^\top + b $$
        logits, cache["decoder"] = ops.linear_forward(t, p["embeddings.word"].T, p["mlm.bias"])
        return logits, _loss(logits, labels, cache), cache

    def _backward(self, dlogits, cache):
        g, ops = {}, cache["ops"]
        dt, dE_decoder, g["mlm.bias"] = ops.linear_backward(dlogits, cache["decoder"])
        dt, g["mlm.ln.gamma"], g["mlm.ln.beta"] = ops.layernorm_backward(dt, cache["ln"])
        dt = _activation(ops, self.config.activation)[1](dt, cache["act"])
        dx, g["mlm.dense.W"], g["mlm.dense.b"] = ops.linear_backward(dt, cache["dense"])
        if "keep" in cache:
            # x = x_all[keep]: a gather, so its gradient scatters back; unlabelled positions get 0
            # $$ x = x_\text{all}[\text{keep}] \;\Rightarrow\; dx_\text{all}[\text{keep}] = dx, \quad dx_\text{all}[\neg\,\text{keep}] = 0 $$
            dx_all = np.zeros(cache["out_shape"], dx.dtype)
            dx_all[cache["keep"]] = dx
            dx = dx_all
        g.update(encoder_backward(dx, None, cache))
        # weight tying: E_word is the input lookup and the output decoder, so its gradients add
        g["embeddings.word"] = g["embeddings.word"] + dE_decoder.T
        return g


class _Classifier(_Head):
    """logits = Drop(h) W_c + b_c over K labels, with h the pooled [CLS] vector (pooler = True: one
    label per sequence) or every token's last hidden state (pooler = False: one label per token)."""

    def __init__(self, config, params=None, seed=0, num_labels=2):
        check_int("num_labels", num_labels, low=1)
        self.num_labels = num_labels
        super().__init__(config, params, seed)

    def head_shapes_for(self, config):
        return {"classifier.W": (config.hidden_size, self.num_labels), "classifier.b": (self.num_labels,)}

    def forward(self, input_ids, labels=None, attention_mask=None, token_type_ids=None, *, training=False,
                rng=None):
        """-> logits (B, K) or (B, T, K), loss (mean cross-entropy over labels != -100, or None), cache."""
        p = self.params
        last_hidden, pooled, cache = self.encode(input_ids, attention_mask, token_type_ids, training, rng)
        drop = _drop_rng(self.config, training, rng)
        h, cache["drop"] = self.ops.dropout_forward(pooled if self.pooler else last_hidden, p=drop, rng=rng,
                                                    training=drop > 0)
        logits, cache["classifier"] = self.ops.linear_forward(h, p["classifier.W"], p["classifier.b"])
        return logits, _loss(logits, labels, cache), cache

    def _backward(self, dlogits, cache):
        g, ops = {}, cache["ops"]
        dh, g["classifier.W"], g["classifier.b"] = ops.linear_backward(dlogits, cache["classifier"])
        dh = ops.dropout_backward(dh, cache["drop"])
        d_last_hidden, d_pooled = (None, dh) if self.pooler else (dh, None)
        g.update(encoder_backward(d_last_hidden, d_pooled, cache))
        return g


class BertForSequenceClassification(_Classifier):
    """logits = Drop(pooler_output) W_c + b_c      (B, K): one label per sequence, read from [CLS]."""

    pooler = True


class BertForTokenClassification(_Classifier):
    """logits = Drop(last_hidden_state) W_c + b_c    (B, T, K); labels -100 on pieces that are not
    the first of a word, on [CLS]/[SEP] and on padding (see minillm.tasks.ner.align_labels)."""

    pooler = False          # as in Hugging Face's BertForTokenClassification
