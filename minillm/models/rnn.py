"""A recurrent language model (RNN, LSTM or GRU): the article's §1 "early neural network models".

    token ids --embedding--> x_t = E[token_t]                         (B, T, C)
    L x  [ h_t = cell(x_t, h_{t-1})   (and c_t for the LSTM) ]          (B, T, H)
    logits_t = h_t W_out + b_out                                        (B, T, V)
    loss = cross-entropy(logits, next tokens)

Letters: B batch, T time steps per chunk, C = n_embd, H = n_hidden, L = n_layer,
V = vocab size.  The cells are minillm.layers.recurrent; `backward` calls the
layers' backwards in the reverse order.

The backend is chosen in RNNConfig.backend and nowhere else (models/backend.py):
"numpy" calls the readable layers, "numba" the same contracts from
minillm.kernels -- the cells from minillm.kernels.recurrent (the loop over t in
one jitted call per direction, each step's product and gate arithmetic fused),
the head, cross-entropy and embedding backward from minillm.kernels.fused, and
the trainer's AdamW as a kernel.  Both give the same loss and gradients
(tests/test_kernels_recurrent.py): the backend changes speed, not results.

The same evaluation surface as the GPT (so one table can compare them):
forward(idx, targets) -> (logits, loss, cache), backward(cache) -> grads with
the params' keys, logprob(tokens) / perplexity(tokens) over a 1-D token array,
generate(idx, n, rng=..., temperature=...).

Truncated BPTT.  An RNN has no context window: its state summarises the whole
prefix.  Training cuts a long text into chunks of T steps and carries the
state from one chunk to the next:

    logits, loss, cache = model.forward(x_k, y_k, state)     # state = None for the first chunk
    grads = model.backward(cache)                            # gradients stop at the chunk's start
    state = cache["state"]                                   # h_T (and c_T), the next chunk's start

The carried state is a constant for the next chunk ("detached"): backward drops
the gradient with respect to it, so BPTT reaches back at most T steps.
`stream_batches` cuts a token array into B parallel streams whose consecutive
chunks fit this loop.  The trainer's random windows (minillm/train.py) also
work; each window then starts from a zero state.

Derived in notebooks/03_rnn_lstm.ipynb.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from minillm.checks import (
    check_choice, check_int, check_int_array, check_known_fields, check_number, check_params, check_rng,
)
from minillm.models.backend import ops_for_backend

# cell name -> number of gates k (the columns of Wx, Wh and b are k blocks of H)
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
BACKENDS = ("numpy", "numba")


@dataclass
class RNNConfig:
    vocab_size: int
    cell: str = "lstm"  # "rnn" (tanh) | "lstm" | "gru"
    n_embd: int = 32  # C
    n_hidden: int = 128  # H
    n_layer: int = 1  # L stacked cells: layer l reads layer l-1's hidden states
    block_size: int = 64  # T: the BPTT length (training chunks, evaluation chunks); not a context limit
    forget_bias: float = 1.0  # LSTM only: initial bias of the forget gate (f ~ 0.73 at the start)
    backend: str = "numpy"  # "numpy" (the readable layers) | "numba" (the kernels: fused gates per step)
    dtype: str = "float32"

    def __post_init__(self):
        check_int("vocab_size", self.vocab_size, low=1)
        check_choice("cell", self.cell, set(GATES))
        check_int("n_embd", self.n_embd, low=1)
        check_int("n_hidden", self.n_hidden, low=1)
        check_int("n_layer", self.n_layer, low=1)
        check_int("block_size", self.block_size, low=1)
        check_number("forget_bias", self.forget_bias)
        check_choice("backend", self.backend, set(BACKENDS))
        check_choice("dtype", self.dtype, {"float32", "float64"})

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        check_known_fields(cls, d, "RNN config")
        return cls(**d)


def param_shapes(config):
    """name -> shape for every parameter."""
    c = config
    k = GATES[c.cell]
    C, H = c.n_embd, c.n_hidden
    shapes = {"wte": (c.vocab_size, C)}
    for layer in range(c.n_layer):
        d_in = C if layer == 0 else H
        shapes[f"cell.{layer}.Wx"] = (d_in, k * H)
        shapes[f"cell.{layer}.Wh"] = (H, k * H)
        shapes[f"cell.{layer}.b"] = (k * H,)
    shapes["W_out"] = (H, c.vocab_size)
    shapes["b_out"] = (c.vocab_size,)
    return shapes


def init_params(config, seed=0):
    """Embedding N(0, 1); cell weights and biases U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default for RNN,
    LSTM and GRU), the LSTM's forget-gate bias set to forget_bias; head N(0, 0.02), b_out = 0, so the
    first predictions are close to uniform and the first loss is close to ln V."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(config.dtype)
    H = config.n_hidden
    bound = 1.0 / math.sqrt(H)
    params = {}
    for name, shape in param_shapes(config).items():
        if name == "wte":
            p = rng.standard_normal(shape)
        elif name == "W_out":
            p = 0.02 * rng.standard_normal(shape)
        elif name == "b_out":
            p = np.zeros(shape)
        else:
            p = rng.uniform(-bound, bound, size=shape)
            if config.cell == "lstm" and name.endswith(".b"):
                p[H:2 * H] = config.forget_bias  # gates i, f, o, g: f is the second block
        params[name] = p.astype(dt)
    return params


class RNNLM:
    """A recurrent LM with params in a flat dict ("cell.0.Wx" -> array) and grads in a dict with the same keys.

        logits, loss, cache = model.forward(idx, targets, state)
        grads = model.backward(cache)
        state = cache["state"]          # {"h": (L, B, H)} and, for the LSTM, "c": (L, B, H)
    """

    def __init__(self, config, params=None, seed=0):
        self.config = config
        self.params = init_params(config, seed) if params is None else params
        check_params(self.params, param_shapes(config), "the config")
        self.ops = ops_for_backend(config.backend)

    @property
    def n_params(self):
        return int(sum(p.size for p in self.params.values()))

    def initial_state(self, batch_size):
        """The zero state for a batch of B sequences: {"h": (L, B, H)} (+ "c" for the LSTM)."""
        c = self.config
        zeros = np.zeros((c.n_layer, batch_size, c.n_hidden), dtype=np.dtype(c.dtype))
        return {"h": zeros, "c": zeros.copy()} if c.cell == "lstm" else {"h": zeros}

    def _check_state(self, state, B):
        c = self.config
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict like cache['state'] (or None), got a {type(state).__name__}")
        keys = {"h", "c"} if c.cell == "lstm" else {"h"}
        if set(state) != keys:
            raise ValueError(f"state for a {c.cell} must have the keys {sorted(keys)}, got {sorted(state)}")
        for key in ("h", "c")[:len(keys)]:
            s = state[key]
            if not isinstance(s, np.ndarray) or s.shape != (c.n_layer, B, c.n_hidden):
                got = s.shape if isinstance(s, np.ndarray) else type(s).__name__
                raise ValueError(f"state[{key!r}] must have shape (L, B, H) = {(c.n_layer, B, c.n_hidden)}, got {got}")

    # ------------------------------------------------------------------ forward
    def forward(self, idx, targets=None, state=None, *, training=True, rng=None):
        """idx (B, T) int -> logits (B, T, V), loss (scalar or None), cache (for backward; cache["state"]).

        state: the carried state of a previous chunk (cache["state"]), or None for zeros.
        training and rng are accepted for the shared interface; the model has no dropout.
        """
        c, p, ops = self.config, self.params, self.ops
        check_int_array("idx", idx, high=c.vocab_size)
        if idx.ndim != 2 or idx.shape[1] < 1:
            raise ValueError(f"idx must have shape (B, T) with T >= 1, got {idx.shape}")
        B, T = idx.shape
        if state is None:
            state = self.initial_state(B)
        self._check_state(state, B)
        cell_forward = getattr(ops, f"{c.cell}_forward")
        caches = {}
        new_h, new_c = [], []

        # x_t = E[token_t]                                                        (B, T, C)
        # $$ x_t = E[\text{token}_t] $$
        x, caches["wte"] = ops.embedding_forward(idx, p["wte"])
        for layer in range(c.n_layer):
            pre = f"cell.{layer}."
            h0 = state["h"][layer]                                              # (B, H)
            # h_t = cell(x_t, h_{t-1}) for t = 1..T; the LSTM also carries c_t     (B, T, H)
            # $$ h_t = \operatorname{cell}(x_t, h_{t-1}), \quad t = 1, \dots, T \qquad \text{LSTM: } (h_t, c_t) = \operatorname{cell}(x_t, h_{t-1}, c_{t-1}) $$
            if c.cell == "lstm":
                x, caches[pre] = ops.lstm_forward(x, h0, p[pre + "Wx"], p[pre + "Wh"], p[pre + "b"],
                                                  c0=state["c"][layer])
                new_c.append(ops.lstm_cell_states(caches[pre])[:, -1])
            else:
                x, caches[pre] = cell_forward(x, h0, p[pre + "Wx"], p[pre + "Wh"], p[pre + "b"])
            new_h.append(x[:, -1])
        # logits_t = h_t W_out + b_out                                            (B, T, V)
        # $$ z_t = h_t W_\text{out} + b_\text{out} $$
        logits, caches["head"] = ops.linear_forward(x, p["W_out"], p["b_out"])

        loss = None
        if targets is not None:
            check_int_array("targets", targets)
            if targets.shape != idx.shape:
                raise ValueError(f"targets must have the shape of idx {idx.shape}, got {targets.shape}")
            # loss = mean_t -log softmax(logits_t)[target_t]
            # $$ \mathcal{L} = \operatorname{mean}_t \left( -\log \operatorname{softmax}(z_t)_{y_t} \right) $$
            loss, caches["loss"] = ops.cross_entropy_forward(logits, targets)
            loss = float(loss)
        # the last state, copied: a constant for the next chunk (truncated BPTT)
        caches["state"] = {"h": np.stack(new_h)}
        if c.cell == "lstm":
            caches["state"]["c"] = np.stack(new_c)
        return logits, loss, caches

    # ----------------------------------------------------------------- backward
    def backward(self, cache, dloss=1.0):
        """Gradients of dloss * (the mean loss) for every parameter: the forward's steps, in reverse."""
        if cache is None or "loss" not in cache:
            raise ValueError("cache must come from forward(idx, targets) with targets")
        c, ops = self.config, self.ops
        cell_backward = getattr(ops, f"{c.cell}_backward")
        g = {}
        # loss = cross_entropy(logits, targets)  ->  dlogits = dloss * (probs - onehot) / N
        # $$ \mathcal{L} = \operatorname{CE}(z, y) \;\Rightarrow\; dz = \mathrm{dloss} \cdot \frac{\hat{p} - \operatorname{onehot}(y)}{N} $$
        dlogits = ops.cross_entropy_backward(dloss, cache["loss"])
        # logits = h W_out + b_out
        # $$ z = h W_\text{out} + b_\text{out} $$
        dx, g["W_out"], g["b_out"] = ops.linear_backward(dlogits, cache["head"])
        for layer in reversed(range(c.n_layer)):
            pre = f"cell.{layer}."
            # BPTT through the chunk; dh0 (the gradient w.r.t. the carried state) is dropped: truncation
            dx, _dh0, g[pre + "Wx"], g[pre + "Wh"], g[pre + "b"] = cell_backward(dx, cache[pre])
        # x = E[idx]: scatter-add into the rows that were looked up
        # $$ x_t = E[\mathrm{idx}_t] \;\Rightarrow\; dE_v = \sum_{t:\ \mathrm{idx}_t = v} dx_t $$
        g["wte"] = ops.embedding_backward(dx, cache["wte"])
        return g

    # ------------------------------------------------------- evaluation surface
    def loss(self, idx, targets, state=None):
        return self.forward(idx, targets, state, training=False)[1]

    def logprob(self, tokens):
        """Total natural-log probability of tokens[1:], each given ALL tokens before it.

        The text is read in chunks of block_size with the state carried across, which
        gives exactly the numbers of one pass over the whole text.
        """
        total, _ = self._sum_nll(tokens)
        return -total

    def perplexity(self, tokens):
        """exp(mean negative log-likelihood per predicted token) over a 1-D token array."""
        total, n = self._sum_nll(tokens)
        return math.exp(total / n)

    def _sum_nll(self, tokens):
        check_int_array("tokens", tokens, high=self.config.vocab_size)
        if tokens.ndim != 1 or tokens.size < 2:
            raise ValueError(f"tokens must be a 1-D array of at least 2 ids, got shape {tokens.shape}")
        T = self.config.block_size
        total, n, state = 0.0, 0, None
        for start in range(0, tokens.size - 1, T):
            y = tokens[start + 1:start + T + 1][None]
            x = tokens[start:start + y.shape[1]][None]
            _, loss, cache = self.forward(x, y, state, training=False)
            total += loss * y.size
            n += y.size
            state = cache["state"]
        return total, n

    def generate(self, idx, max_new_tokens, *, rng=None, temperature=1.0):
        """Extend idx (B, T) (or a 1-D prompt) by max_new_tokens sampled tokens; temperature 0 = greedy.

        The prompt is read once; every new token then costs one step of the cells,
        carrying the state (an RNN needs no cache and has no window to slide).
        """
        one_d = isinstance(idx, np.ndarray) and idx.ndim == 1
        out = idx[None] if one_d else idx
        check_int("max_new_tokens", max_new_tokens, low=0)
        check_number("temperature", temperature, low=0.0)
        if temperature > 0:
            check_rng("rng", rng)
        logits, _, cache = self.forward(out, training=False)
        for _ in range(max_new_tokens):
            z = logits[:, -1].astype(np.float64)                                 # (B, V)
            if temperature == 0:
                nxt = np.argmax(z, axis=-1)
            else:
                # p = softmax(z / temperature); draw by inverse CDF, one uniform per row
                # $$ \hat{p} = \operatorname{softmax}(z / \tau), \qquad \mathrm{next} = \min\left\{ v : \sum_{j \le v} \hat{p}_j \ge u \right\}, \quad u \sim \operatorname{Uniform}[0, 1) $$
                z = z / temperature
                p = np.exp(z - z.max(axis=-1, keepdims=True))
                p /= p.sum(axis=-1, keepdims=True)
                u = rng.random((p.shape[0], 1))
                nxt = np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)
            nxt = nxt[:, None].astype(out.dtype)                                 # (B, 1)
            out = np.concatenate([out, nxt], axis=1)
            logits, _, cache = self.forward(nxt, state=cache["state"], training=False)
        return out[0] if one_d else out


# x[b] = tokens[b*n : (b+1)*n],  y[b] = tokens[b*n + 1 : (b+1)*n + 1]      n = (N - 1) // B
# chunk k = columns k*T .. (k+1)*T - 1 of x and y
# $$ x_{b,i} = \mathrm{tokens}_{bn + i}, \qquad y_{b,i} = \mathrm{tokens}_{bn + i + 1}, \qquad i = 0, \dots, n-1, \qquad n = \left\lfloor \frac{N - 1}{B} \right\rfloor $$
# $$ \text{chunk } k = \text{columns } kT, \dots, (k+1)T - 1 \text{ of } x \text{ and } y $$
def stream_batches(tokens, batch_size, block_size):
    """Cut a 1-D token array into B parallel streams and yield their consecutive (x, y) chunks, (B, <=T) each.

    Row b of chunk k+1 continues row b of chunk k, so the state a forward leaves
    in cache["state"] is the right starting state for the next chunk.
    """
    check_int_array("tokens", tokens)
    check_int("batch_size", batch_size, low=1)
    check_int("block_size", block_size, low=1)
    if tokens.ndim != 1:
        raise ValueError(f"tokens must be a 1-D array, got shape {tokens.shape}")
    n = (tokens.size - 1) // batch_size
    if n < 1:
        raise ValueError(
            f"tokens has {tokens.size} ids, too few for batch_size {batch_size} streams (need > {batch_size})"
        )
    x = tokens[:batch_size * n].reshape(batch_size, n)
    y = tokens[1:batch_size * n + 1].reshape(batch_size, n)
    for start in range(0, n, block_size):
        yield x[:, start:start + block_size].astype(np.int64), y[:, start:start + block_size].astype(np.int64)
