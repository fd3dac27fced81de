"""GPT: a decoder-only Transformer, the article's §2.4 pipeline made real.

    token ids --embedding--> x_t = E[token_t]                      (B, T, C)
              + positional encoding (learned / sinusoidal / RoPE)
    N x  [ x = x + Attention(Norm(x))      causal self-attention
           x = x + FFN(Norm(x)) ]          pre-LN residual blocks (GPT-2)
    Norm(x) @ E^T  -> logits -> softmax    output head tied to the embedding
    loss = cross-entropy(logits, next tokens)

Letters: B batch, T time, C = n_embd, H = n_head, D = C / H, V = vocab size.

Each layer is ONE call of minillm.layers.decoder_block_forward (layers/block.py, the
decoder block every model shares); `backward` walks the same steps in exactly the
reverse order, calling decoder_block_backward.  The LLaMA options (norm="rmsnorm",
pos="rope", mlp="swiglu", bias=False) are options of the block and swap single steps.

The backend is chosen here, in GPTConfig.backend, and nowhere else: it picks the
`ops` namespace (models/backend.py) that the model and its blocks call, the NumPy
layers or their jitted twins in minillm.kernels with the same contract.

Derived in notebooks/11_gpt_pretraining_generation.ipynb.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from minillm.checks import (
    check_choice, check_flag, check_int, check_int_array, check_known_fields, check_number, check_params,
)
from minillm.io.huggingface import gpt2_config_from_hf, gpt2_config_to_hf, read_config, read_gpt2_params, write_gpt2
from minillm.layers import (
    block_params, cross_entropy_forward, decoder_block_backward, decoder_block_forward, named_norm_backward,
    named_norm_forward,
)
from minillm.models.backend import ops_for_backend
from minillm.models.init import init_params as draw_params


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    pos: str = "learned"  # "learned" | "sinusoidal" | "rope"
    norm: str = "layernorm"  # "layernorm" | "rmsnorm"
    mlp: str = "gelu"  # "gelu" (4C hidden, tanh GELU) | "swiglu" (LLaMA)
    norm_eps: float = 1e-5
    rope_base: float = 10000.0
    backend: str = "numpy"  # "numpy" (the readable reference) | "numba" (the kernels)
    dtype: str = "float32"

    def __post_init__(self):
        check_int("vocab_size", self.vocab_size, low=1)
        check_int("block_size", self.block_size, low=1)
        check_int("n_layer", self.n_layer, low=1)
        check_int("n_head", self.n_head, low=1)
        check_int("n_embd", self.n_embd, low=1)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be divisible by n_head: got n_embd={self.n_embd}, n_head={self.n_head}")
        check_number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        check_flag("bias", self.bias)                    # a string "false" would be truthy: refuse it
        check_number("norm_eps", self.norm_eps, low=0.0, low_open=True)
        check_number("rope_base", self.rope_base, low=0.0, low_open=True)
        check_choice("pos", self.pos, {"learned", "sinusoidal", "rope"})
        check_choice("norm", self.norm, {"layernorm", "rmsnorm"})
        check_choice("mlp", self.mlp, {"gelu", "swiglu"})
        check_choice("backend", self.backend, {"numpy", "numba"})
        check_choice("dtype", self.dtype, {"float32", "float64"})
        if self.pos == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"pos='rope' needs an even head size, got n_embd/n_head = {self.n_embd // self.n_head}")

    @classmethod
    def llama(cls, **kw):
        """LLaMA-style options: RMSNorm, RoPE, SwiGLU, no biases."""
        kw = {"norm": "rmsnorm", "pos": "rope", "mlp": "swiglu", "bias": False, "norm_eps": 1e-6, **kw}
        return cls(**kw)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        check_known_fields(cls, d, "GPT config")
        return cls(**d)

    @property
    def ffn_hidden(self):
        # GPT-2: 4C.  SwiGLU: 2/3 of 4C rounded to a multiple of 8: 3CF ~ 8C^2, not equal (C=128: F=344, +0.78%).
        # $$ F = \begin{cases} 4C & \text{GELU (GPT-2)} \\ \max\left(8,\ 8 \operatorname{round}\left(\frac{2}{3} \cdot \frac{4C}{8}\right)\right) & \text{SwiGLU} \end{cases} \qquad 3CF \approx 8C^2 $$
        if self.mlp == "gelu":
            return 4 * self.n_embd
        return max(8, int(round(8 * self.n_embd / 3 / 8)) * 8)


def param_shapes(config):
    """name -> (shape, init) for every parameter; init is "normal", "residual", "ones" or "zeros"."""
    c = config
    C, F = c.n_embd, c.ffn_hidden
    shapes = {"wte": ((c.vocab_size, C), "normal")}
    if c.pos == "learned":
        shapes["wpe"] = ((c.block_size, C), "normal")

    def add_norm(prefix):
        shapes[prefix + ".gamma"] = ((C,), "ones")
        if c.norm == "layernorm" and c.bias:
            shapes[prefix + ".beta"] = ((C,), "zeros")

    for i in range(c.n_layer):
        h = f"h.{i}."
        add_norm(h + "ln1")
        for name in ("q", "k", "v", "o"):
            shapes[h + f"attn.W{name}"] = ((C, C), "residual" if name == "o" else "normal")
            if c.bias:
                shapes[h + f"attn.b{name}"] = ((C,), "zeros")
        add_norm(h + "ln2")
        if c.mlp == "gelu":
            shapes[h + "mlp.W1"] = ((C, F), "normal")
            if c.bias:
                shapes[h + "mlp.b1"] = ((F,), "zeros")
            shapes[h + "mlp.W2"] = ((F, C), "residual")
            if c.bias:
                shapes[h + "mlp.b2"] = ((C,), "zeros")
        else:
            shapes[h + "mlp.W_gate"] = ((C, F), "normal")
            shapes[h + "mlp.W_up"] = ((C, F), "normal")
            shapes[h + "mlp.W_down"] = ((F, C), "residual")
    add_norm("ln_f")
    return shapes


def init_params(config, seed=0):
    """GPT-2 initialisation: N(0, 0.02); residual projections N(0, 0.02/sqrt(2 n_layer)); gains 1, biases 0."""
    std = {"normal": 0.02, "residual": 0.02 / math.sqrt(2 * config.n_layer)}
    return draw_params(param_shapes(config), config.dtype, seed, lambda shape, init: std[init])


class GPT:
    """A GPT with params in a flat dict ("h.0.attn.Wq" -> array) and grads in a dict with the same keys.

        logits, loss, cache = model.forward(idx, targets)
        grads = model.backward(cache)
    """

    def __init__(self, config, params=None, seed=0):
        self.config = config
        self.params = init_params(config, seed) if params is None else params
        check_params(self.params, {k: shape for k, (shape, _) in param_shapes(config).items()}, "the config")
        self.ops = ops_for_backend(config.backend)

    @property
    def n_params(self):
        return int(sum(p.size for p in self.params.values()))

    # ------------------------------------------------------------------ forward
    def forward(self, idx, targets=None, *, training=True, rng=None, kv_cache=None):
        """idx (B, T) int -> logits (B, T, V), loss (scalar or None), cache for backward.

        kv_cache: a list (one entry per layer) from `new_kv_cache()`; when given, idx holds
        only the new tokens, their keys/values are appended, and no backward cache is kept.
        """
        c, p, ops = self.config, self.params, self.ops
        check_int_array("idx", idx, high=c.vocab_size)
        if idx.ndim != 2:
            raise ValueError(f"idx must have shape (B, T), got {idx.shape}")
        B, T = idx.shape
        offset = 0 if kv_cache is None else kv_cache_length(kv_cache)
        if offset + T > c.block_size:
            raise ValueError(f"idx is too long: {offset} cached + {T} new tokens > block_size {c.block_size}")
        if c.dropout > 0 and training and kv_cache is None and rng is None:
            raise ValueError("rng must be a numpy.random.Generator when dropout > 0 and training=True")
        drop = c.dropout if (training and kv_cache is None) else 0.0
        positions = np.arange(offset, offset + T)
        caches = {}

        # x_t = E[token_t]                                                    (B, T, C)
        # $$ x_t = E[\text{token}_t] $$
        x, caches["wte"] = ops.embedding_forward(idx, p["wte"])
        # x = x + P_t     (learned table or fixed sines; RoPE rotates q, k inside the blocks instead)
        # $$ x_t \leftarrow x_t + PE_t $$
        if c.pos == "learned":
            x = x + p["wpe"][positions]
        elif c.pos == "sinusoidal":
            x = x + ops.sinusoidal_positional_encoding(offset + T, c.n_embd, dtype=x.dtype)[offset:]
        # x = Drop(x)     (dropout off: the identity, nothing cached)
        # $$ x \leftarrow \operatorname{Drop}(x) $$
        if drop > 0:
            x, caches["drop_emb"] = ops.dropout_forward(x, p=drop, rng=rng, training=True)

        for i in range(c.n_layer):
            # x = x + Drop(Attention(Norm(x)));  x = x + Drop(FFN(Norm(x)))        (B, T, C)
            # $$ x \leftarrow x + \operatorname{Drop}(\operatorname{Attention}(\operatorname{Norm}(x))) \qquad x \leftarrow x + \operatorname{Drop}(\operatorname{FFN}(\operatorname{Norm}(x))) $$
            x, caches[f"h.{i}"] = decoder_block_forward(
                x, block_params(p, f"h.{i}."), n_heads=c.n_head, causal=True, norm_type=c.norm, eps=c.norm_eps,
                activation="swiglu" if c.mlp == "swiglu" else "gelu", dropout=drop, rng=rng,
                rope=c.pos == "rope", rope_base=c.rope_base, positions=positions if c.pos == "rope" else None,
                kv_cache=None if kv_cache is None else kv_cache[i], ops=ops)

        # final norm, then logits = x E^T  (the head is the embedding, transposed)   (B, T, V)
        # $$ z = \operatorname{Norm}_f(x)\, E^\top $$
        x, caches["ln_f"] = named_norm_forward(x, p, "ln_f", c.norm, c.norm_eps, ops)
        logits, caches["head"] = ops.linear_forward(x, p["wte"].T)

        loss = None
        if targets is not None:
            check_int_array("targets", targets)
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have the shape of idx {idx.shape}, got {targets.shape}")
            # loss = mean_t -log softmax(logits_t)[target_t]
            # $$ \mathcal{L} = \operatorname{mean}_t \left( -\log \operatorname{softmax}(z_t)_{y_t} \right) $$
            loss, caches["loss"] = ops.cross_entropy_forward(logits, targets)
            loss = float(loss)
        cache = None if kv_cache is not None else caches
        return logits, loss, cache

    # ----------------------------------------------------------------- backward
    def backward(self, cache, dloss=1.0):
        """Gradients of dloss * (the mean loss) for every parameter: the forward's steps, in reverse.

        dloss = 1 gives the gradients of the loss itself; minillm.runtime.parallel passes a shard's share n_s / n.
        """
        if cache is None or "loss" not in cache:
            raise ValueError("cache must come from forward(idx, targets) with targets (and no kv_cache)")
        c, p, ops = self.config, self.params, self.ops
        ### BEGIN SOLUTION
        g = {}

        # loss = cross_entropy(logits, targets)  ->  dlogits = dloss * (probs - onehot) / N
        dlogits = ops.cross_entropy_backward(dloss, cache["loss"])
        # logits = x E^T
        dx, dWhead, _ = ops.linear_backward(dlogits, cache["head"])
        # x = Norm_f(x)
        dx = named_norm_backward(dx, cache["ln_f"], g, ops)

        for i in reversed(range(c.n_layer)):
            # x = Block_i(x)
            dx, block_grads = decoder_block_backward(dx, cache[f"h.{i}"])
            g.update({f"h.{i}.{name}": grad for name, grad in block_grads.items()})

        # x = Drop(x)
        if "drop_emb" in cache:
            dx = ops.dropout_backward(dx, cache["drop_emb"])
        # x = x + P_t:  every sequence of the batch read rows 0..T-1 of the table
        if c.pos == "learned":
            T = dx.shape[1]
            g["wpe"] = np.zeros_like(p["wpe"])
            g["wpe"][:T] = dx.sum(axis=0)
        dE_embedding = ops.embedding_backward(dx, cache["wte"])
        # weight tying: E is used twice (lookup and output head), so its gradients add
        g["wte"] = dE_embedding + dWhead.T
        ### END SOLUTION
        return g

    # ------------------------------------------------------- evaluation surface
    def new_kv_cache(self, batch_size=1):
        """One empty key/value store per layer for incremental decoding (see generate.py)."""
        c = self.config
        return [KVCache(batch_size, c.n_head, c.block_size, c.n_embd // c.n_head, np.dtype(c.dtype))
                for _ in range(c.n_layer)]

    def loss(self, idx, targets):
        return self.forward(idx, targets, training=False)[1]

    def logprob(self, tokens, stride=None):
        """Total natural-log probability of tokens[1:] given what precedes each (windows as in perplexity)."""
        tokens = np.asarray(tokens)
        total, _ = self._sum_nll(tokens, stride)
        return -total

    def perplexity(self, tokens, stride=None):
        """exp(mean negative log-likelihood per predicted token) over a 1-D token array.

        stride=None (= block_size): non-overlapping windows, each token predicted from the tokens
        before it in its window (on average block_size / 2 of them).  stride=s < block_size:
        windows of block_size moved s tokens at a time, each scoring only the tokens it adds, so
        every token after the first window sees at least block_size - s tokens of context
        (stride=1: the most context the model can use, one forward per token).
        """
        total, n = self._sum_nll(np.asarray(tokens), stride)
        return math.exp(total / n)

    def _sum_nll(self, tokens, stride=None):
        check_int_array("tokens", tokens, high=self.config.vocab_size)
        if tokens.ndim != 1 or tokens.size < 2:
            raise ValueError(f"tokens must be a 1-D array of at least 2 ids, got shape {tokens.shape}")
        T = self.config.block_size
        stride = T if stride is None else stride
        check_int("stride", stride, low=1)
        if stride > T:
            raise ValueError(f"stride must be at most block_size {T}, got {stride}")
        total, scored, start = 0.0, 0, 0        # targets tokens[1 .. scored] are done
        while scored < tokens.size - 1:
            end = min(start + T, tokens.size - 1)           # the window predicts tokens[start+1 .. end]
            logits = self.forward(tokens[start:end][None], training=False)[0][0].astype(np.float64)
            new = slice(scored - start, end - start)        # positions whose targets are not scored yet
            targets = tokens[scored + 1:end + 1]
            # the sum of -log softmax(logits_t)[target_t] over the new positions (mean x count)
            # $$ \mathrm{total} \leftarrow \mathrm{total} + \sum_{t \in \text{new}} -\log \operatorname{softmax}(z_t)_{y_t} $$
            total += float(cross_entropy_forward(logits[new], targets)[0]) * targets.size
            scored, start = end, start + stride
        return total, tokens.size - 1

    # ------------------------------------------- Hugging Face GPT-2 folders (minillm/io/huggingface.py)
    @classmethod
    def from_pretrained(cls, path, *, dtype="float32", backend="numpy", dropout=0.0):
        """A GPT-2 folder (config.json + model.safetensors: GPT2LMHeadModel or GPT2Model names).

        dtype and backend are minillm's; dropout is applied when training (the checkpoint's
        *_pdrop are settings of the original run, inference needs none).
        """
        config = GPTConfig(**gpt2_config_from_hf(read_config(path)), dropout=dropout, backend=backend, dtype=dtype)
        shapes = {name: shape for name, (shape, _) in param_shapes(config).items()}
        params = read_gpt2_params(path, shapes, dtype=config.dtype, what=f"GPT-2 with {config}")
        return cls(config, params)

    def save_pretrained(self, path):
        """Write config.json + model.safetensors that transformers' GPT2LMHeadModel.from_pretrained reads."""
        hf_config = gpt2_config_to_hf(self.config.to_dict())  # refuses non-GPT-2 options before anything is written
        write_gpt2(path, self.params, hf_config)


class KVCache:
    """Keys and values of one layer for positions 0..t-1, grown one call at a time.

        k, v: (B, H, t, D) views into preallocated (B, H, block_size, D) buffers
    """

    def __init__(self, B, H, max_T, D, dtype):
        self.k = np.zeros((B, H, max_T, D), dtype)
        self.v = np.zeros((B, H, max_T, D), dtype)
        self.t = 0

    def append(self, k_new, v_new):
        T_new = k_new.shape[2]
        if self.t + T_new > self.k.shape[2]:
            raise ValueError(f"KV cache is full: {self.t} + {T_new} > block_size {self.k.shape[2]}")
        self.k[:, :, self.t:self.t + T_new] = k_new
        self.v[:, :, self.t:self.t + T_new] = v_new
        self.t += T_new
        return self.k[:, :, :self.t], self.v[:, :, :self.t]


def kv_cache_length(kv_cache):
    return kv_cache[0].t

