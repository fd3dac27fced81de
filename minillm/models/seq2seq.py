"""Encoder-decoder Transformer for translation (the article's §2.1 cross-attention, §4.3 case 2).

    source ids --embedding * sqrt(C) + sinusoidal positions-->           (B, S, C)
    N_enc x encoder block  [ x = x + SelfAttn(LN(x); source padding mask)
                             x = x + FFN(LN(x)) ]                        pre-LN, no causal mask
    memory = LN(x)                                                       (B, S, C)

    target ids shifted right (BOS y_1 .. y_n) --embedding * sqrt(C) + positions-->      (B, T, C)
    N_dec x decoder block  [ y = y + SelfAttn(LN(y); causal)            Q, K, V from the target
                             y = y + CrossAttn(LN(y), memory)           Q from the decoder, K, V from the encoder
                             y = y + FFN(LN(y)) ]
    logits = LN(y) E_tgt^T                                     (B, T, V_tgt)  head tied to the target embedding
    loss = cross-entropy(logits, y_1 .. y_n EOS)   (optionally label-smoothed; padding ignored)

Training is teacher-forced: the decoder reads the *reference* prefix at every
position, and all T predictions come out of one forward pass (the causal mask
keeps position t from seeing t+1..).  At test time the prefix is the model's
own output, one token at a time (`next_token_log_probs`, used by minillm/generate.py).

Letters: B batch, S source length, T target length, C = n_embd, H = n_head, V vocabulary size.
Parameters live in one flat dict:

    src_emb (V_src, C), tgt_emb (V_tgt, C)     or one emb (V, C) with share_embeddings=True
    enc.{i}.<encoder block keys>               ln1, attn, ln2, mlp  (see minillm/layers/block.py)
    enc.ln_f.gamma, enc.ln_f.beta              final norm of the encoder (its output is the memory)
    dec.{i}.<cross decoder block keys>         ln1, attn, ln_cross, cross, ln2, mlp
    dec.ln_f.gamma, dec.ln_f.beta              final norm before the output head

Padding: token pad_id is never attended to (source: encoder self-attention and
cross-attention masks; target: self-attention mask) and never scored by the loss.

Derived in notebooks/14_translation.ipynb.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from minillm.checks import (
    check_choice, check_float_array, check_int, check_int_array, check_known_fields, check_number, check_params,
)
from minillm.layers import (
    NUMPY_OPS,
    block_params,
    cross_attention_probs,
    cross_decoder_block_backward,
    cross_decoder_block_forward,
    encoder_block_backward,
    encoder_block_forward,
    log_softmax_forward,
)
from minillm.models.backend import ops_for_backend
from minillm.models.init import init_params as draw_params


# --------------------------------------------------------------------------- label-smoothed cross-entropy

# q_n   = (1 - eps) onehot(t_n) + eps / V            the smoothed target distribution (sums to 1)
# lse_n = log sum_v exp(logits_{n,v})
# loss  = (1/N_valid) sum_{n valid} -sum_v q_{n,v} log softmax(logits_n)_v
#       = (1/N_valid) sum_{n valid} [ (1 - eps)(lse_n - logits_{n,t_n}) + eps (lse_n - mean_v logits_{n,v}) ]
#   logits (..., V) float, targets (...) int in [0, V) or == ignore_index.  eps = 0: plain cross-entropy.
# Szegedy et al. (2016), as in PyTorch's label_smoothing: eps / V goes to every class, the target included.
# $$ q_n = (1 - \varepsilon)\, \operatorname{onehot}(y_n) + \frac{\varepsilon}{V} $$
# $$ \mathrm{lse}_n = \log \sum_v \exp(z_{n,v}) $$
# $$ \mathcal{L} = \frac{1}{N_\text{valid}} \sum_{n\ \text{valid}} -\sum_v q_{n,v} \log \operatorname{softmax}(z_n)_v $$
# $$ \mathcal{L} = \frac{1}{N_\text{valid}} \sum_{n\ \text{valid}} \left[ (1 - \varepsilon)(\mathrm{lse}_n - z_{n,y_n}) + \varepsilon \left(\mathrm{lse}_n - \frac{1}{V} \sum_v z_{n,v}\right) \right] $$
def smoothed_cross_entropy_forward(logits, targets, *, epsilon=0.0, ignore_index=-100):
    check_float_array("logits", logits, min_ndim=1)
    check_number("epsilon", epsilon, low=0.0, high=1.0)
    check_int("ignore_index", ignore_index)
    if not isinstance(targets, np.ndarray) or targets.dtype.kind not in "iu":
        raise TypeError(f"targets must be an integer array (class ids), got {type(targets).__name__}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have the leading shape of logits {logits.shape[:-1]} (logits is "
                         f"(..., V)), got {targets.shape}")
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                        # (N, V)
    t = targets.reshape(-1).astype(np.int64)                         # (N,)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= V))
    if bad.any():
        raise ValueError(f"targets must hold class ids in [0, {V}) or ignore_index={ignore_index}, got {t[bad][0]}")
    rows = np.nonzero(valid)[0]
    n_valid = rows.size
    m = z.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))       # (N, 1)
    nll = lse[rows, 0] - z[rows, t[rows]]                            # (N_valid,)  -log p(target)
    uniform = lse[rows, 0] - z[rows].mean(axis=1)                    # (N_valid,)  -mean_v log p(v)
    total = ((1.0 - epsilon) * nll + epsilon * uniform).sum()
    loss = logits.dtype.type(total / n_valid if n_valid else 0.0)
    cache = (logits, lse, t, rows, epsilon)
    return loss, cache


# dlogits_n = dloss * (softmax(logits_n) - q_n) / N_valid      (valid n);  0 for ignored n
# $$ dz_n = \begin{cases} \mathrm{dloss} \cdot \frac{\operatorname{softmax}(z_n) - q_n}{N_\text{valid}} & n \text{ valid} \\ 0 & n \text{ ignored} \end{cases} $$
def smoothed_cross_entropy_backward(dloss, cache):
    logits, lse, t, rows, epsilon = cache
    V = logits.shape[-1]
    dz = np.zeros((logits.size // V, V), dtype=logits.dtype)
    if rows.size:
        p = np.exp(logits.reshape(-1, V)[rows] - lse[rows])         # (N_valid, V)  softmax
        q = np.full_like(p, epsilon / V)                             # q = eps / V everywhere ...
        q[np.arange(rows.size), t[rows]] += 1.0 - epsilon            # ... plus (1 - eps) at the target
        dz[rows] = (p - q) * (dloss / rows.size)
    return dz.reshape(logits.shape)


# --------------------------------------------------------------------------- configuration

@dataclass
class Seq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    max_len: int = 32             # longest source or target sequence (rows of the position table)
    n_encoder_layer: int = 2
    n_decoder_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    ffn_hidden: int = 0           # 0 -> 4 * n_embd
    dropout: float = 0.0
    share_embeddings: bool = False  # one table for source, target and output head (needs one joint vocabulary)
    pad_id: int = 0
    activation: str = "gelu"
    norm_eps: float = 1e-5
    dtype: str = "float32"
    backend: str = "numpy"  # "numpy" (the readable reference) | "numba" (the kernels)

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "max_len", "n_encoder_layer", "n_decoder_layer",
                     "n_head", "n_embd"):
            check_int(name, getattr(self, name), low=1)
        check_int("ffn_hidden", self.ffn_hidden, low=0)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be divisible by n_head: got n_embd={self.n_embd}, n_head={self.n_head}")
        check_number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(f"share_embeddings=True needs one vocabulary: got src_vocab_size="
                             f"{self.src_vocab_size} and tgt_vocab_size={self.tgt_vocab_size}")
        check_int("pad_id", self.pad_id, low=0, high=min(self.src_vocab_size, self.tgt_vocab_size) - 1)
        check_choice("activation", self.activation, {"gelu", "gelu_erf", "relu"})
        check_choice("dtype", self.dtype, {"float32", "float64"})
        check_choice("backend", self.backend, {"numpy", "numba"})

    @property
    def d_ff(self):
        return self.ffn_hidden or 4 * self.n_embd

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        check_known_fields(cls, d, "Seq2Seq config")
        return cls(**d)


def _block_shapes(C, F, cross):
    """Keys of one block (as in minillm/layers/block.py) -> (shape, init)."""
    shapes = {}
    for norm in ("ln1", "ln2") + (("ln_cross",) if cross else ()):
        shapes[f"{norm}.gamma"] = ((C,), "ones")
        shapes[f"{norm}.beta"] = ((C,), "zeros")
    for prefix in ("attn",) + (("cross",) if cross else ()):
        for name in ("q", "k", "v", "o"):
            shapes[f"{prefix}.W{name}"] = ((C, C), "residual" if name == "o" else "normal")
            shapes[f"{prefix}.b{name}"] = ((C,), "zeros")
    shapes.update({"mlp.W1": ((C, F), "normal"), "mlp.b1": ((F,), "zeros"),
                   "mlp.W2": ((F, C), "residual"), "mlp.b2": ((C,), "zeros")})
    return shapes


def param_shapes(config):
    """name -> (shape, init) for every parameter; init is "embedding", "normal", "residual", "ones" or "zeros"."""
    c = config
    C, F = c.n_embd, c.d_ff
    shapes = {}
    if c.share_embeddings:
        shapes["emb"] = ((c.src_vocab_size, C), "embedding")
    else:
        shapes["src_emb"] = ((c.src_vocab_size, C), "embedding")
        shapes["tgt_emb"] = ((c.tgt_vocab_size, C), "embedding")
    for side, n, cross in (("enc", c.n_encoder_layer, False), ("dec", c.n_decoder_layer, True)):
        for i in range(n):
            for key, value in _block_shapes(C, F, cross).items():
                shapes[f"{side}.{i}.{key}"] = value
        shapes[f"{side}.ln_f.gamma"] = ((C,), "ones")
        shapes[f"{side}.ln_f.beta"] = ((C,), "zeros")
    return shapes


def init_params(config, seed=0):
    """E ~ N(0, 1/C) (so sqrt(C) E has unit entries, the scale of the sines); W ~ N(0, 1/d_in);
    projections into the residual stream (Wo, W2) also divided by sqrt(2 * number of blocks)."""
    n_blocks = config.n_encoder_layer + config.n_decoder_layer

    def std(shape, init):
        fan_in = shape[1] if init == "embedding" else shape[0]
        return 1.0 / math.sqrt(fan_in) / (math.sqrt(2 * n_blocks) if init == "residual" else 1.0)

    return draw_params(param_shapes(config), config.dtype, seed, std)


class Seq2Seq:
    """Encoder-decoder Transformer with a flat dict of params and grads with the same keys.

        logits, loss, cache = model.forward(src, tgt_in, tgt_out, label_smoothing=0.1)
        grads = model.backward(cache)
        memory, src_keep = model.encode(src)                 # decoding
        log_probs = model.next_token_log_probs(prefix, memory, src_keep)
    """

    def __init__(self, config, params=None, seed=0):
        self.config = config
        self.params = init_params(config, seed) if params is None else params
        check_params(self.params, {k: shape for k, (shape, _) in param_shapes(config).items()}, "the config")
        # the operations the model and its blocks call: config.backend's (models/backend.py)
        self.ops = ops_for_backend(config.backend)

    @property
    def n_params(self):
        return int(sum(p.size for p in self.params.values()))

    def _emb(self, side):
        return self.params["emb"] if self.config.share_embeddings else self.params[f"{side}_emb"]

    def _check_ids(self, name, ids, vocab_size):
        check_int_array(name, ids, high=vocab_size)
        if ids.ndim != 2:
            raise ValueError(f"{name} must have shape (B, length), got {ids.shape}")
        if not 1 <= ids.shape[1] <= self.config.max_len:
            raise ValueError(f"{name} must have 1 to max_len={self.config.max_len} positions, got {ids.shape[1]}")

    # ------------------------------------------------------------------ pieces of the forward
    # x = sqrt(C) E[ids] + PE[:L]      (B, L, C)      then dropout
    # $$ x_t = \sqrt{C}\, E[\mathrm{id}_t] + PE_t, \quad t = 0, \dots, L-1, \qquad \text{then } x \leftarrow \operatorname{Drop}(x) $$
    def _embed(self, ids, side, drop, rng, ops):
        C = self.config.n_embd
        e, cache_emb = ops.embedding_forward(ids, self._emb(side))
        x = e * math.sqrt(C) + ops.sinusoidal_positional_encoding(ids.shape[1], C, dtype=e.dtype)
        x, cache_drop = ops.dropout_forward(x, p=drop, rng=rng, training=drop > 0)
        return x, (cache_emb, cache_drop)

    def _embed_backward(self, dx, cache):
        cache_emb, cache_drop = cache
        dx = self.ops.dropout_backward(dx, cache_drop)
        # x = sqrt(C) E[ids] + PE  ->  dE = scatter-add of sqrt(C) dx  (PE is fixed)
        # $$ x_t = \sqrt{C}\, E[\mathrm{id}_t] + PE_t \;\Rightarrow\; dE_v = \sum_{t:\ \mathrm{id}_t = v} \sqrt{C}\, dx_t $$
        return self.ops.embedding_backward(dx * math.sqrt(self.config.n_embd), cache_emb)

    def _final_norm(self, x, side, ops):
        p = self.params
        return ops.layernorm_forward(x, p[f"{side}.ln_f.gamma"], p[f"{side}.ln_f.beta"], eps=self.config.norm_eps)

    def _encode(self, src, drop, rng, ops):
        c = self.config
        src_keep = src != c.pad_id                                   # (B, S)  True = a real token
        mask = src_keep[:, None, None, :]                            # (B, 1, 1, S)  keys that may be read
        x, cache_embed = self._embed(src, "src", drop, rng, ops)     # (B, S, C)
        caches = []
        for i in range(c.n_encoder_layer):
            # x = x + SelfAttn(LN(x));  x = x + FFN(LN(x))
            # $$ x \leftarrow x + \operatorname{SelfAttn}(\operatorname{LN}(x)) \qquad x \leftarrow x + \operatorname{FFN}(\operatorname{LN}(x)) $$
            x, cache = encoder_block_forward(x, block_params(self.params, f"enc.{i}."), n_heads=c.n_head, mask=mask,
                                             norm="pre", eps=c.norm_eps, activation=c.activation, dropout=drop,
                                             rng=rng, training=drop > 0, ops=ops)
            caches.append(cache)
        memory, cache_ln = self._final_norm(x, "enc", ops)           # (B, S, C)
        return memory, src_keep, (cache_embed, caches, cache_ln)

    def _decode(self, tgt_in, memory, src_keep, drop, rng, ops):
        c = self.config
        self_mask = (tgt_in != c.pad_id)[:, None, None, :]           # (B, 1, 1, T)  (and causal, in the block)
        memory_mask = src_keep[:, None, None, :]                     # (B, 1, 1, S)
        y, cache_embed = self._embed(tgt_in, "tgt", drop, rng, ops)  # (B, T, C)
        caches = []
        for i in range(c.n_decoder_layer):
            # y = y + SelfAttn(LN(y); causal);  y = y + CrossAttn(LN(y), memory);  y = y + FFN(LN(y))
            # $$ y \leftarrow y + \operatorname{SelfAttn}(\operatorname{LN}(y); \text{causal}) \qquad y \leftarrow y + \operatorname{CrossAttn}(\operatorname{LN}(y), m) \qquad y \leftarrow y + \operatorname{FFN}(\operatorname{LN}(y)) $$
            y, cache = cross_decoder_block_forward(y, memory, block_params(self.params, f"dec.{i}."),
                                                   n_heads=c.n_head, self_mask=self_mask, memory_mask=memory_mask,
                                                   causal=True, norm="pre", eps=c.norm_eps, activation=c.activation,
                                                   dropout=drop, rng=rng, training=drop > 0, ops=ops)
            caches.append(cache)
        y, cache_ln = self._final_norm(y, "dec", ops)                # (B, T, C)
        # logits = y E_tgt^T        (the output head is the target embedding, transposed)
        # $$ z = y\, E_\text{tgt}^\top $$
        logits, cache_head = ops.linear_forward(y, self._emb("tgt").T)  # (B, T, V)
        return logits, (cache_embed, caches, cache_ln, cache_head)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, src, tgt_in, tgt_out=None, *, label_smoothing=0.0, training=True, rng=None):
        """src (B, S), tgt_in (B, T) int -> logits (B, T, V_tgt), loss (float or None), cache for backward.

        tgt_in is the target shifted right (BOS first), tgt_out the tokens to predict (EOS last);
        pad_id in tgt_out is not scored.  label_smoothing = eps of smoothed_cross_entropy_forward.
        """
        c = self.config
        self._check_ids("src", src, c.src_vocab_size)
        self._check_ids("tgt_in", tgt_in, c.tgt_vocab_size)
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"src and tgt_in must have the same batch size, got {src.shape[0]} and {tgt_in.shape[0]}")
        if not isinstance(training, bool):
            raise TypeError(f"training must be True or False, got {training!r}")
        drop = c.dropout if training else 0.0
        if drop > 0 and rng is None:
            raise ValueError("rng must be a numpy.random.Generator when dropout > 0 and training=True")
        memory, src_keep, cache_enc = self._encode(src, drop, rng, self.ops)
        logits, cache_dec = self._decode(tgt_in, memory, src_keep, drop, rng, self.ops)
        loss, cache_loss = None, None
        if tgt_out is not None:
            check_int_array("tgt_out", tgt_out)
            if tgt_out.shape != tgt_in.shape:
                raise ValueError(f"tgt_out must have the shape of tgt_in {tgt_in.shape}, got {tgt_out.shape}")
            # loss = mean over real target tokens of -sum_v q_v log p_v
            # $$ \mathcal{L} = \operatorname{mean}_{n\ \text{real}} \left( -\sum_v q_{n,v} \log \hat{p}_{n,v} \right) $$
            loss, cache_loss = smoothed_cross_entropy_forward(logits, tgt_out, epsilon=label_smoothing,
                                                              ignore_index=c.pad_id)
            loss = float(loss)
        cache = {"enc": cache_enc, "dec": cache_dec, "loss": cache_loss}
        return logits, loss, cache

    def backward(self, cache, dloss=1.0):
        """Gradients of dloss * (the mean loss) for every parameter: the forward's steps, in reverse.

        dloss = 1 gives the gradients of the loss itself; a data-parallel shard passes its share n_s / n.
        """
        if cache is None or cache.get("loss") is None:
            raise ValueError("cache must come from forward(src, tgt_in, tgt_out) with tgt_out given")
        c = self.config
        g = {}
        cache_embed_t, dec_caches, cache_ln_t, cache_head = cache["dec"]
        cache_embed_s, enc_caches, cache_ln_s = cache["enc"]

        # loss = smoothed cross-entropy  ->  dlogits = dloss * (p - q) / N
        # $$ dz = \mathrm{dloss} \cdot \frac{\hat{p} - q}{N} $$
        dlogits = smoothed_cross_entropy_backward(dloss, cache["loss"])
        # logits = y E_tgt^T  ->  dy = dlogits E_tgt,  d(E_tgt^T) = y^T dlogits
        # $$ z = y\, E_\text{tgt}^\top \;\Rightarrow\; dy = dz\, E_\text{tgt}, \qquad d(E_\text{tgt}^\top) = y^\top dz $$
        ops = self.ops
        dy, dEt_T, _ = ops.linear_backward(dlogits, cache_head)
        dy, g["dec.ln_f.gamma"], g["dec.ln_f.beta"] = ops.layernorm_backward(dy, cache_ln_t)
        dmemory = None
        for i in reversed(range(c.n_decoder_layer)):
            dy, dmem_i, grads = cross_decoder_block_backward(dy, dec_caches[i])
            g.update({f"dec.{i}.{k}": v for k, v in grads.items()})
            # memory fan-out: every decoder block read the same memory, so their gradients add
            dmemory = dmem_i if dmemory is None else dmemory + dmem_i
        dEt_lookup = self._embed_backward(dy, cache_embed_t)

        # memory = LN(x_enc)
        # $$ m = \operatorname{LN}(x_\text{enc}) $$
        dx, g["enc.ln_f.gamma"], g["enc.ln_f.beta"] = ops.layernorm_backward(dmemory, cache_ln_s)
        for i in reversed(range(c.n_encoder_layer)):
            dx, grads = encoder_block_backward(dx, enc_caches[i])
            g.update({f"enc.{i}.{k}": v for k, v in grads.items()})
        dEs_lookup = self._embed_backward(dx, cache_embed_s)

        # weight tying: the target table is read twice (lookup and output head), so its gradients add
        if c.share_embeddings:
            g["emb"] = dEs_lookup + dEt_lookup + dEt_T.T
        else:
            g["src_emb"] = dEs_lookup
            g["tgt_emb"] = dEt_lookup + dEt_T.T
        return g

    # ------------------------------------------------------------------ decoding surface (no dropout, no grads)
    def encode(self, src):
        """memory (B, S, C) and src_keep (B, S) bool for decoding."""
        self._check_ids("src", src, self.config.src_vocab_size)
        memory, src_keep, _ = self._encode(src, 0.0, None, self.ops)
        return memory, src_keep

    def decode(self, tgt_in, memory, src_keep):
        """logits (B, T, V) for a target prefix, and the cross-attention weights of every decoder
        block: a list of (B, H, T, S) arrays (row t: what target position t read in the source).

        The weights come from the NumPy attention, which keeps them (the fused kernel keeps one
        log-sum-exp per row), so this runs on the NumPy layers whatever the backend."""
        self._check_ids("tgt_in", tgt_in, self.config.tgt_vocab_size)
        logits, (_, caches, _, _) = self._decode(tgt_in, memory, src_keep, 0.0, None, NUMPY_OPS)
        return logits, [cross_attention_probs(cache) for cache in caches]

    def next_token_log_probs(self, prefix, memory, src_keep):
        """log p(next token | prefix, source) for each row: (B, V).

        The decoder is recomputed on the whole prefix at every step (no key/value cache):
        O(T^2) work per sentence, which for sentences of ~15 tokens costs less than the code a cache needs.
        """
        self._check_ids("prefix", prefix, self.config.tgt_vocab_size)
        logits, _ = self._decode(prefix, memory, src_keep, 0.0, None, self.ops)
        log_probs, _ = log_softmax_forward(logits[:, -1, :])
        return log_probs

    def cross_attention(self, src, tgt_in):
        """Teacher-forced cross-attention weights: a list (one per decoder block) of (B, H, T, S)."""
        memory, src_keep = self.encode(src)
        return self.decode(tgt_in, memory, src_keep)[1]
