"""What the grader feeds each graded function, and what it reads back.

Every case is deterministic and independent of NumPy's random streams: inputs come from
`normal(shape, seed)`, a counter hash (splitmix64) turned into normal numbers, so the
values stored at `make` time are the values the student's code sees later, on any machine.
No reference body is here: a case calls the function under test (whatever the workspace
holds) and returns its outputs; minillm.assignments.grader compares them with the stored
ones and, for a backward, with central differences of the student's own forward.

    CASES[name]() -> [Values | Gradients | Property, ...]
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from minillm import layers as L
from minillm.generate import beam_search, filter_top_k, filter_top_p
from minillm.metrics import bleu_from_counts
from minillm.models.gpt import GPT, GPTConfig, param_shapes
from minillm.models.hmm import HMM
from minillm.models.ngram import NGramLM
from minillm.models.word2vec import sgns_loss_backward, sgns_loss_forward
from minillm.optim import AdamW, clip_grad_norm


# --------------------------------------------------------------------------- deterministic inputs
_GOLDEN, _M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def uniform(shape, seed):
    """Numbers in (0, 1), the same on every machine: splitmix64 of (seed, index)."""
    n = int(np.prod(shape, dtype=np.int64))
    with np.errstate(over="ignore"):
        z = np.arange(1, n + 1, dtype=np.uint64) + np.uint64(seed) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (((z >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53).reshape(shape)


def normal(shape, seed, scale=1.0):
    """Standard normal numbers (Box-Muller on two uniform streams), times scale."""
    u1, u2 = uniform(shape, 2 * seed + 1), uniform(shape, 2 * seed + 2)
    return scale * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def ints(shape, high, seed):
    return np.minimum((uniform(shape, seed) * high).astype(np.int64), high - 1)


def away_from_zero(x, margin=0.05):
    """x with every entry at least `margin` from 0 (a kink there would spoil central differences)."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-300) * margin + x, x)


# --------------------------------------------------------------------------- what a case is
@dataclass
class Values:
    """run() -> {label: array}: compared with the values stored at make time."""
    case: str
    run: Callable


@dataclass
class Gradients:
    """run() -> {label: gradient}, compared with the stored gradients; numerical() -> {label: central
    difference of the student's own forward}, compared with run()'s gradients (float64, h = 1e-5);
    numerical None: a saturated case, compared with the stored gradients only."""
    case: str
    run: Callable
    numerical: Callable
    scale: str = "element"          # "tensor" for a whole model (see minillm.gradcheck.compare)


@dataclass
class Property:
    """check() -> None, or the one-line reason it fails (a causal leak, NaN in a masked row, ...)."""
    case: str
    check: Callable


def _outputs(out, labels):
    out = out if isinstance(out, tuple) else (out,)
    return {label: np.asarray(o) for label, o in zip(labels, out) if o is not None}


def _projected(forward, x, douts, h=1e-5, limit=None):
    """d/dx of sum_j <forward()_j, douts_j>, by central differences (x perturbed in place).

    limit: difference at most that many entries (a fixed spread of them); the others are NaN, unchecked.
    """
    grad = np.full(x.shape, np.nan)
    entries = list(np.ndindex(x.shape))
    if limit is not None and len(entries) > limit:
        entries = [entries[int(j)] for j in np.unique((uniform((limit,), x.size) * len(entries)).astype(int))]
    for i in entries:
        old = x[i]
        x[i] = old + h
        plus = forward()
        x[i] = old - h
        minus = forward()
        x[i] = old
        grad[i] = sum(float(np.sum((np.asarray(p) - np.asarray(m)) * d)) for p, m, d in zip(plus, minus, douts)) / (2 * h)
    return grad


def pair_cases(forward, backward, inputs, out_labels, grad_labels, *, which):
    """Values of `forward` (which="forward") or gradients of `backward` (which="backward") on each input.

    inputs: [(case, make)] with make() -> (args, kwargs), fresh arrays every call.
    grad_labels: [(label, position of the argument it differentiates)], in backward's return order.
    """
    cases = []
    for case, make, *options in inputs:
        if which == "forward":
            def run(make=make):
                args, kwargs = make()
                return _outputs(forward(*args, **kwargs)[0], out_labels)
            cases.append(Values(case, run))
            continue
        args, kwargs = make()
        out = forward(*args, **kwargs)[0]
        outs = out if isinstance(out, tuple) else (out,)
        douts = [normal(np.shape(o), 900 + k) if np.ndim(o) else np.float64(0.7) for k, o in enumerate(outs)]

        def run(args=args, kwargs=kwargs, douts=douts):
            _, cache = forward(*args, **kwargs)
            grads = backward(*douts, cache)
            grads = grads if isinstance(grads, tuple) else (grads,)
            return {label: np.asarray(g) for (label, _), g in zip(grad_labels, grads) if g is not None}

        def numerical(args=args, kwargs=kwargs, douts=douts):
            def f():
                o = forward(*args, **kwargs)[0]
                return o if isinstance(o, tuple) else (o,)
            return {label: _projected(f, args[pos], douts) for label, pos in grad_labels if args[pos] is not None}

        cases.append(Gradients(case, run, None if options == [SATURATED] else numerical))
    return cases


# A case whose inputs saturate (logits near 1000): the stored gradients are compared, but not central
# differences, whose round-off (eps |L| / h) there exceeds the gradient itself.
SATURATED = "saturated"


# --------------------------------------------------------------------------- A1: layers and the loss
def _linear_inputs():
    return [
        ("basic", lambda: ((normal((2, 3, 4), 1), normal((4, 5), 2), normal((5,), 3)), {})),
        ("no bias", lambda: ((normal((3, 4), 4), normal((4, 2), 5), None), {})),
        ("extra batch dims", lambda: ((normal((2, 2, 3, 4), 6), normal((4, 3), 7), normal((3,), 8)), {})),
        ("one row", lambda: ((normal((1, 4), 9), normal((4, 3), 10), normal((3,), 11)), {})),
    ]


def _relu_inputs():
    return [("basic", lambda: ((away_from_zero(normal((3, 4), 12)),), {})),
            ("extra batch dims", lambda: ((away_from_zero(normal((2, 2, 3), 13)),), {}))]


def _gelu_inputs():
    x = lambda seed: np.concatenate([normal((2, 5), seed, 2.0), [[-8.0, -3.0, 0.0, 3.0, 8.0]]])  # noqa: E731
    return [("tanh", lambda: ((x(14),), {"approximate": "tanh"})),
            ("exact erf", lambda: ((x(15),), {"approximate": "none"}))]


def _softmax_inputs():
    return [
        ("basic", lambda: ((normal((2, 5), 16),), {})),
        ("axis=0", lambda: ((normal((4, 3), 17),), {"axis": 0})),
        ("extra batch dims", lambda: ((normal((2, 3, 4), 18),), {})),
        ("large logits (no overflow)", lambda: ((1000.0 + normal((2, 4), 19, 30.0),), {}), SATURATED),
        ("one class", lambda: ((normal((3, 1), 20),), {})),
    ]


def _cross_entropy_inputs():
    def with_ignored():
        targets = ints((2, 3), 5, 22)
        targets[0, 1] = targets[1, 2] = -100
        return (normal((2, 3, 5), 21), targets), {}

    def all_ignored():
        return (normal((2, 5), 23), np.full(2, -100)), {}

    def large():
        return (normal((3, 4), 24, 40.0) + 500.0, ints((3,), 4, 25)), {}

    def other_ignore():
        targets = ints((4,), 3, 27)
        targets[2] = 0
        return (normal((4, 3), 26), targets), {"ignore_index": 0}

    return [("basic", lambda: ((normal((4, 6), 28), ints((4,), 6, 29)), {})), ("ignore_index", with_ignored),
            ("every target ignored", all_ignored), ("large logits", large, SATURATED), ("ignore_index=0", other_ignore)]


def _embedding_inputs():
    return [
        ("duplicate ids", lambda: ((np.array([[1, 3, 1, 1], [0, 3, 4, 1]]), normal((5, 3), 30)), {})),
        ("one id", lambda: ((np.array([2]), normal((4, 2), 31)), {})),
        ("extra batch dims", lambda: ((ints((2, 2, 3), 6, 32), normal((6, 4), 33)), {})),
    ]


def _dropout(x, *, p, seed, training):
    # a fresh Generator on every call: the same mask each time the gradient check calls the forward
    return L.dropout_forward(x, p=p, rng=np.random.default_rng(seed), training=training)


def _dropout_inputs():
    def draw(p, training=True, seed=34):
        return (normal((3, 5), seed),), {"p": p, "seed": 7, "training": training}
    return [("p = 0.3", lambda: draw(0.3)), ("p = 0.8", lambda: draw(0.8, seed=35)),
            ("evaluation (training=False)", lambda: draw(0.5, training=False, seed=36))]


def _sinusoidal_cases():
    def run(T, d, **kw):
        return lambda: {"PE": L.sinusoidal_positional_encoding(T, d, **kw)}
    return [Values("T = 6, d = 8", run(6, 8)), Values("odd d = 5", run(7, 5)), Values("T = 1", run(1, 4)),
            Values("base = 100", run(5, 6, base=100.0))]


def _dropout_property():
    def check():
        x = normal((200, 50), 37)
        out, _ = L.dropout_forward(x, p=0.25, rng=np.random.default_rng(3), training=True)
        kept = out != 0
        if not np.allclose(out[kept], x[kept] / 0.75):
            return "a kept entry is not x / (1 - p): inverted dropout scales what it keeps"
        if abs(kept.mean() - 0.75) > 0.02:
            return f"{kept.mean():.3f} of the entries were kept, but 1 - p = 0.75"
        return None
    return Property("kept entries and their scale", check)


# --------------------------------------------------------------------------- A2: attention
def _rope_inputs():
    return [
        ("default positions", lambda: ((normal((2, 2, 4, 6), 40),), {})),
        ("positions from an offset", lambda: ((normal((1, 3, 4), 41),), {"positions": np.arange(5, 8)})),
        ("T = 1", lambda: ((normal((2, 1, 4), 42),), {})),
        ("base = 100", lambda: ((normal((3, 8), 43),), {"base": 100.0})),
    ]


def _attention_inputs():
    def masked():
        mask = uniform((2, 3, 5), 53) > 0.4
        mask[0, 1, :] = False                       # a fully masked row
        return (normal((2, 3, 4), 50), normal((2, 5, 4), 51), normal((2, 5, 3), 52)), {"mask": mask}

    return [
        ("basic", lambda: ((normal((2, 3, 4), 44), normal((2, 5, 4), 45), normal((2, 5, 3), 46)), {})),
        ("causal", lambda: ((normal((2, 4, 4), 47), normal((2, 4, 4), 48), normal((2, 4, 4), 49)), {"causal": True})),
        ("mask with a fully masked row", masked),
        ("causal, fewer queries than keys (KV cache)",
         lambda: ((normal((1, 2, 4), 54), normal((1, 5, 4), 55), normal((1, 5, 2), 56)), {"causal": True})),
        ("T = 1", lambda: ((normal((2, 1, 3), 57), normal((2, 1, 3), 58), normal((2, 1, 3), 59)), {"causal": True})),
        ("extra batch dims", lambda: ((normal((2, 2, 3, 4), 60), normal((2, 2, 3, 4), 61),
                                       normal((2, 2, 3, 4), 62)), {})),
    ]


def _causal_leak():
    def check():
        q, k, v = normal((1, 5, 4), 63), normal((1, 5, 4), 64), normal((1, 5, 4), 65)
        out, _ = L.attention_forward(q, k, v, causal=True)
        for j in range(1, 5):
            k2, v2 = k.copy(), v.copy()
            k2[:, j:] += 3.0
            v2[:, j:] -= 2.0
            out2, _ = L.attention_forward(q, k2, v2, causal=True)
            if not np.allclose(out[:, :j], out2[:, :j], rtol=0, atol=1e-12):
                return f"causal leak: positions 0..{j - 1} changed when keys/values from position {j} on changed"
        return None
    return Property("causal leak", check)


def _fully_masked_row():
    def check():
        mask = np.ones((1, 3, 4), dtype=bool)
        mask[0, 2] = False
        out, _ = L.attention_forward(normal((1, 3, 2), 66), normal((1, 4, 2), 67), normal((1, 4, 2), 68), mask=mask)
        if not np.all(np.isfinite(out)):
            return "NaN or inf in the output: a fully masked row must give weights 0, not 0/0"
        if np.any(out[0, 2] != 0):
            return (f"a fully masked row gave {out[0, 2]}, not 0: with -1e9 instead of -inf its weights "
                    "become uniform (the mean of V)")
        return None
    return Property("fully masked row", check)


def _mha_inputs():
    C = 8

    def weights(seed, C_kv=C, bias=True):
        W = [normal((C, C), seed, 0.4), normal((C_kv, C), seed + 1, 0.4), normal((C_kv, C), seed + 2, 0.4),
             normal((C, C), seed + 3, 0.4)]
        b = [normal((C,), seed + 4 + i, 0.1) if bias else None for i in range(4)]
        return [W[0], b[0], W[1], b[1], W[2], b[2], W[3], b[3]]

    def self_attn(seed, **kw):
        x = normal((2, 3, C), seed)
        return lambda: ((x.copy(), x.copy(), *weights(seed + 10)), {"n_heads": 2, **kw})

    def cross():
        return (normal((2, 3, C), 70), normal((2, 4, 6), 71), *weights(72, C_kv=6)), {"n_heads": 4}

    def masked():
        mask = uniform((2, 1, 3, 3), 73) > 0.3
        mask[..., 0] = True
        return (normal((2, 3, C), 74), normal((2, 3, C), 75), *weights(76)), {"n_heads": 2, "mask": mask}

    def no_bias():
        return (normal((1, 4, C), 77), normal((1, 4, C), 78), *weights(79, bias=False)), {"n_heads": 2,
                                                                                         "causal": True}
    return [("self-attention, causal", self_attn(80, causal=True)), ("cross-attention", cross),
            ("padding mask", masked), ("no biases", no_bias),
            ("rope with positions", self_attn(81, causal=True, rope=True, positions=np.arange(4, 7)))]


# --------------------------------------------------------------------------- A3: norms, FFN, blocks
def _norm_inputs(with_beta):
    def make(shape, seed, **kw):
        C = shape[-1]
        args = (normal(shape, seed, 2.0) + 1.0, 1.0 + normal((C,), seed + 1, 0.3))
        args = args + ((normal((C,), seed + 2, 0.3),) if with_beta else ())
        return lambda: (args, kw)
    return [("basic", make((2, 3, 5), 90)), ("extra batch dims", make((2, 2, 2, 4), 93)),
            ("one row", make((1, 6), 96)), ("large eps", make((3, 4), 99, eps=0.5))]


def _ffn_inputs():
    def make(seed, activation, bias=True):
        def build():
            x, W1, W2 = normal((2, 3, 4), seed), normal((4, 6), seed + 1, 0.5), normal((6, 5), seed + 2, 0.5)
            b1 = normal((6,), seed + 3, 0.1) if bias else None
            b2 = normal((5,), seed + 4, 0.1) if bias else None
            return (x, W1, b1, W2, b2), {"activation": activation}
        return build
    return [("gelu (tanh)", make(100, "gelu")), ("gelu (erf)", make(105, "gelu_erf")),
            ("no biases", make(110, "gelu", bias=False))]


def _swiglu_inputs():
    return [("basic", lambda: ((normal((2, 5), 115, 2.0), normal((2, 5), 116)), {})),
            ("extra batch dims", lambda: ((normal((2, 2, 3), 117, 2.0), normal((2, 2, 3), 118)), {}))]


def _swiglu_ffn_inputs():
    return [("basic", lambda: ((normal((2, 3, 4), 120), normal((4, 6), 121, 0.5), normal((4, 6), 122, 0.5),
                                normal((6, 4), 123, 0.5)), {})),
            ("one row", lambda: ((normal((1, 4), 124), normal((4, 3), 125, 0.5), normal((4, 3), 126, 0.5),
                                  normal((3, 4), 127, 0.5)), {}))]


def block_params(seed, C=8, d_ff=12, norm_type="layernorm", activation="gelu", bias=True):
    """A block's params dict (the key names of minillm.layers.block) filled with deterministic numbers."""
    p = {}
    for ln in ("ln1", "ln2"):
        p[f"{ln}.gamma"] = 1.0 + normal((C,), seed, 0.2)
        if norm_type == "layernorm":
            p[f"{ln}.beta"] = normal((C,), seed + 1, 0.2)
        seed += 2
    for name in ("Wq", "Wk", "Wv", "Wo"):
        p[f"attn.{name}"] = normal((C, C), seed, 0.35)
        seed += 1
        if bias:
            p[f"attn.b{name[1]}"] = normal((C,), seed, 0.1)
            seed += 1
    if activation == "swiglu":
        for name, shape in (("W_gate", (C, d_ff)), ("W_up", (C, d_ff)), ("W_down", (d_ff, C))):
            p[f"mlp.{name}"] = normal(shape, seed, 0.35)
            seed += 1
    else:
        p["mlp.W1"], p["mlp.W2"] = normal((C, d_ff), seed, 0.35), normal((d_ff, C), seed + 1, 0.3)
        if bias:
            p["mlp.b1"], p["mlp.b2"] = normal((d_ff,), seed + 2, 0.1), normal((C,), seed + 3, 0.1)
    return p


def block_cases(forward, backward, inputs, *, which):
    """Like pair_cases, for a block: forward(x, params, **kw) -> (out, cache); backward -> (dx, grads dict)."""
    cases = []
    for case, make in inputs:
        if which == "forward":
            def run(make=make):
                x, params, kw = make()
                return {"out": forward(x, params, **kw)[0]}
            cases.append(Values(case, run))
            continue
        x, params, kw = make()
        dout = normal(x.shape, 901)

        def run(x=x, params=params, kw=kw, dout=dout):
            dx, grads = backward(dout, forward(x, params, **kw)[1])
            return {"dx": dx, **{f"d[{name}]": g for name, g in grads.items()}}

        def numerical(x=x, params=params, kw=kw, dout=dout):
            def f():
                return (forward(x, params, **kw)[0],)
            return {"dx": _projected(f, x, [dout]),
                    **{f"d[{name}]": _projected(f, value, [dout]) for name, value in params.items()}}

        cases.append(Gradients(case, run, numerical))
    return cases


def _decoder_inputs():
    def make(seed, T=3, **kw):
        norm_type, activation = kw.get("norm_type", "layernorm"), kw.get("activation", "gelu")
        return lambda: (normal((2, T, 8), seed), block_params(seed + 1, norm_type=norm_type, activation=activation),
                        {"n_heads": 2, **kw})

    def masked():
        mask = np.ones((2, 1, 1, 4), dtype=bool)
        mask[1, ..., 3] = False
        return normal((2, 4, 8), 140), block_params(141), {"n_heads": 2, "mask": mask, "causal": False}
    return [("GPT-2 (LayerNorm, GELU)", make(130)),
            ("LLaMA (RMSNorm, SwiGLU, RoPE)", make(131, norm_type="rmsnorm", activation="swiglu", rope=True)),
            ("padding mask, not causal", masked), ("T = 1", make(132, T=1))]


def _encoder_inputs():
    def make(seed, **kw):
        return lambda: (normal((2, 3, 8), seed), block_params(seed + 1), {"n_heads": 2, **kw})

    def masked():
        mask = np.ones((2, 1, 1, 3), dtype=bool)
        mask[0, ..., 2] = False
        return normal((2, 3, 8), 150), block_params(151), {"n_heads": 4, "mask": mask, "eps": 1e-12}
    return [("post-LN (BERT)", make(145)), ("padding mask", masked), ("pre-LN", make(146, norm="pre"))]


# --------------------------------------------------------------------------- A4: the GPT backward, training
def _gpt_model(seed, **overrides):
    config = GPTConfig(**{**dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8, dtype="float64"),
                          **overrides})
    params = {}
    for k, (name, (shape, init)) in enumerate(param_shapes(config).items()):
        if init == "ones":
            params[name] = 1.0 + normal(shape, seed + k, 0.1)
        elif init == "zeros":
            params[name] = normal(shape, seed + k, 0.05)
        else:
            params[name] = normal(shape, seed + k, 0.3)
    return GPT(config, params=params)


def _gpt_cases():
    cases = []
    variants = [("GPT-2 (learned positions, LayerNorm, GELU)", {}),
                ("LLaMA (RoPE, RMSNorm, SwiGLU, no biases)", dict(pos="rope", norm="rmsnorm", mlp="swiglu", bias=False))]
    for k, (case, overrides) in enumerate(variants):
        model = _gpt_model(200 + 50 * k, **overrides)
        idx, targets = ints((2, 5), 11, 160 + k), ints((2, 5), 11, 170 + k)

        def run(model=model, idx=idx, targets=targets):
            _, _, cache = model.forward(idx, targets, training=False)
            return {f"d[{name}]": g for name, g in model.backward(cache).items()}

        def numerical(model=model, idx=idx, targets=targets):
            def loss():
                return (np.float64(model.forward(idx, targets, training=False)[1]),)
            return {f"d[{name}]": _projected(loss, p, [np.float64(1.0)], limit=12) for name, p in model.params.items()}

        cases.append(Gradients(case, run, numerical, scale="tensor"))
    return cases


def _clip_cases():
    def run(max_norm, scale):
        def go():
            grads = {"W": normal((3, 4), 180, scale), "b": normal((4,), 181, scale)}
            norm = clip_grad_norm(grads, max_norm)
            return {"returned norm": np.float64(norm), "W after": grads["W"], "b after": grads["b"]}
        return go
    return [Values("norm above max_norm", run(1.0, 2.0)), Values("norm below max_norm", run(100.0, 0.5))]


def _adamw_cases():
    def run(**options):
        def go():
            params = {"W": normal((3, 4), 185), "b": normal((4,), 186)}
            opt = AdamW(params, lr=0.1, **options)
            out = {}
            for step in range(1, 4):
                opt.step({"W": normal((3, 4), 187 + step), "b": normal((4,), 190 + step)})
                out[f"W after step {step}"] = params["W"].copy()
                out[f"b after step {step}"] = params["b"].copy()
            return out
        return go
    return [Values("AdamW (weight decay on W only)", run(betas=(0.9, 0.99), weight_decay=0.1)),
            Values("Adam (no weight decay)", run()),
            Values("a learning-rate argument", lambda: _adamw_lr())]


def _adamw_lr():
    params = {"W": normal((2, 2), 195)}
    opt = AdamW(params, lr=0.1, weight_decay=0.5)
    opt.step({"W": normal((2, 2), 196)}, lr=0.01)
    return {"W after step 1": params["W"]}


# --------------------------------------------------------------------------- A5: recurrent networks
def _cell_inputs(k, lstm=False):
    """x, h_prev[, c_prev], Wx, Wh, b for a cell with k d_h columns (RNN 1, GRU 3, LSTM 4)."""
    def make(seed, B=2, bias=True):
        def build():
            d_in, d_h = 3, 4
            args = [normal((B, d_in), seed), normal((B, d_h), seed + 1, 0.5)]
            if lstm:
                args.append(normal((B, d_h), seed + 2, 0.5))
            args += [normal((d_in, k * d_h), seed + 3, 0.5), normal((d_h, k * d_h), seed + 4, 0.5),
                     normal((k * d_h,), seed + 5, 0.2) if bias else None]
            return tuple(args), {}
        return build
    return [("basic", make(210)), ("no bias", make(220, bias=False)), ("one row", make(230, B=1))]


def _sequence_inputs(k, lstm=False):
    def make(seed, T=4, bias=True):
        def build():
            d_in, d_h = 3, 4
            args = (normal((2, T, d_in), seed), normal((2, d_h), seed + 1, 0.5),
                    normal((d_in, k * d_h), seed + 2, 0.5), normal((d_h, k * d_h), seed + 3, 0.5),
                    normal((k * d_h,), seed + 4, 0.2) if bias else None)
            return args, ({"c0": normal((2, d_h), seed + 5, 0.5)} if lstm else {})
        return build
    return [("T = 4", make(240)), ("T = 1", make(250, T=1)), ("no bias", make(260, bias=False))]


_CELL_GRADS = [("dx", 0), ("dh_prev", 1), ("dWx", 2), ("dWh", 3), ("db", 4)]
_LSTM_CELL_GRADS = [("dx", 0), ("dh_prev", 1), ("dc_prev", 2), ("dWx", 3), ("dWh", 4), ("db", 5)]
_SEQUENCE_GRADS = [("dx", 0), ("dh0", 1), ("dWx", 2), ("dWh", 3), ("db", 4)]


# --------------------------------------------------------------------------- A6: classical models
_SENTENCES = [s.split() for s in (
    "the cat sat on the mat", "the dog sat on the log", "a cat saw the dog", "the cat ate",
    "a dog ate the cat food", "on the mat the cat sat", "the log saw a dog")]


def _kneser_ney_cases():
    def run(order, discount):
        def go():
            lm = NGramLM(order, smoothing="kneser_ney", discount=discount).fit(_SENTENCES)
            contexts = [(), ("the",), ("the", "cat"), ("sat", "on"), ("zebra",), ("on", "zebra")]
            return {f"P(. | {' '.join(c) or 'empty context'})": lm.prob_distribution(list(c)[-(order - 1):] if order > 1
                                                                                     else [])
                    for c in contexts}
        return go
    return [Values("trigram, d = 0.75", run(3, 0.75)), Values("bigram, d = 0.5", run(2, 0.5)),
            Values("4-gram, d = 0.9", run(4, 0.9))]


def _hmm(seed, S=3, V=4, impossible=False):
    pi = uniform((S,), seed) + 0.1
    A, B = uniform((S, S), seed + 1) + 0.1, uniform((S, V), seed + 2) + 0.1
    if impossible:
        B[:, 3] = 0.0                              # symbol 3 can never be emitted
    return HMM(pi / pi.sum(), A / A.sum(1, keepdims=True), B / B.sum(1, keepdims=True))


def _hmm_cases(method):
    def run(hmm, obs, labels):
        return lambda: _outputs(getattr(hmm, method)(np.array(obs)), labels)
    labels = ("alpha_hat", "log_c") if method == "forward" else ("path", "log P(path, obs)")
    cases = [Values("six observations", run(_hmm(300), [0, 1, 3, 2, 2, 0], labels)),
             Values("T = 1", run(_hmm(310), [2], labels)),
             Values("a long sequence (scaling)", run(_hmm(320, S=2, V=3), list(ints((400,), 3, 321)), labels))]
    if method == "forward":
        cases.append(Values("an impossible symbol", run(_hmm(330, impossible=True), [0, 1, 3, 2], labels)))
    return cases


def _sgns_inputs():
    return [("basic", lambda: ((normal((4, 3), 340), normal((4, 3), 341), normal((4, 2, 3), 342)), {})),
            ("large scores (no overflow)", lambda: ((normal((3, 4), 343, 6.0), normal((3, 4), 344, 6.0),
                                                     normal((3, 5, 4), 345, 6.0)), {}), SATURATED),
            ("one pair, one noise word", lambda: ((normal((1, 2), 346), normal((1, 2), 347), normal((1, 1, 2), 348)),
                                                  {}))]


# --------------------------------------------------------------------------- A7: decoding and BLEU
def _probs(shape, seed, ties=False):
    p = uniform(shape, seed) + 0.05
    if ties:
        p[..., 1] = p[..., 3] = p[..., 4]
    return p / p.sum(axis=-1, keepdims=True)


def _top_k_cases():
    return [Values(f"k = {k}{' with ties' if ties else ''}", lambda k=k, ties=ties: {"probs": filter_top_k(
        _probs((3, 6), 350 + k, ties), k)}) for k, ties in ((1, False), (2, False), (3, True), (5, False))]


def _top_p_cases():
    return [Values(f"p = {p}{' with ties' if ties else ''}", lambda p=p, ties=ties: {"probs": filter_top_p(
        _probs((3, 6), 360, ties), p)}) for p, ties in ((0.3, False), (0.75, False), (0.75, True), (1.0, False))]


def _step_table(seed, V=6):
    """A toy decoder: log p(v | prefix) from a fixed table of (last token, length) -> V log-probs."""
    logits = normal((V, 8, V), seed, 1.5)
    logits[:, :2, 1] -= 4.0                        # EOS (id 1) unlikely at first
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))

    def step(prefixes):
        return log_probs[prefixes[:, -1], np.minimum(prefixes.shape[1] - 1, 7)]
    return step


def _beam_cases():
    def run(seed, **kw):
        def go():
            out = {}
            for r, h in enumerate(beam_search(_step_table(seed), bos_id=0, eos_id=1, **kw)):
                out[f"hypothesis {r}: tokens"] = np.array(h.tokens, dtype=np.int64)
                out[f"hypothesis {r}: log P, score, finished"] = np.array([h.log_prob, h.score, float(h.finished)])
            return out
        return go
    return [Values("beam 3", run(370, beam_size=3, max_len=6)),
            Values("beam 1 (greedy)", run(371, beam_size=1, max_len=6)),
            Values("beam 4, three best, simple penalty", run(372, beam_size=4, max_len=5, n_best=3,
                                                             length_penalty="simple", alpha=1.0)),
            Values("cut at max_len = 2", run(373, beam_size=2, max_len=2, n_best=2)),
            Values("no length penalty", run(374, beam_size=3, max_len=7, alpha=0.0))]


def _bleu_cases():
    def run(*args, **kw):
        def go():
            d = bleu_from_counts(*args, **kw)
            return {"score": np.float64(d["score"]), "bp": np.float64(d["bp"]), "precisions": np.array(d["precisions"])}
        return go
    return [Values("hypothesis shorter than the reference (brevity penalty)", run([5, 3, 2, 1], [6, 5, 4, 3], 6, 9)),
            Values("hypothesis longer", run([8, 5, 3, 2], [10, 9, 8, 7], 10, 8)),
            Values("no 4-gram matched (exp smoothing)", run([6, 3, 1, 0], [7, 6, 5, 4], 7, 7)),
            Values("nothing matched", run([0, 0, 0, 0], [4, 3, 2, 1], 4, 5)),
            Values("effective order", run([3, 1, 0, 0], [3, 2, 1, 0], 3, 4, effective_order=True))]


# --------------------------------------------------------------------------- the table
def _pair(forward, backward, inputs, out_labels, grad_labels):
    return (lambda: pair_cases(forward, backward, inputs(), out_labels, grad_labels, which="forward"),
            lambda: pair_cases(forward, backward, inputs(), out_labels, grad_labels, which="backward"))


def _table():
    t = {}

    def add(name_f, name_b, pair):
        t[name_f], t[name_b] = pair

    X = [("dx", 0)]
    add("linear_forward", "linear_backward",
        _pair(L.linear_forward, L.linear_backward, _linear_inputs, ("out",), [("dx", 0), ("dW", 1), ("db", 2)]))
    add("relu_forward", "relu_backward", _pair(L.relu_forward, L.relu_backward, _relu_inputs, ("out",), X))
    add("gelu_forward", "gelu_backward", _pair(L.gelu_forward, L.gelu_backward, _gelu_inputs, ("out",), X))
    add("softmax_forward", "softmax_backward",
        _pair(L.softmax_forward, L.softmax_backward, _softmax_inputs, ("out",), X))
    add("log_softmax_forward", "log_softmax_backward",
        _pair(L.log_softmax_forward, L.log_softmax_backward, _softmax_inputs, ("out",), X))
    add("cross_entropy_forward", "cross_entropy_backward",
        _pair(L.cross_entropy_forward, L.cross_entropy_backward, _cross_entropy_inputs, ("loss",), [("dlogits", 0)]))
    add("embedding_forward", "embedding_backward",
        _pair(L.embedding_forward, L.embedding_backward, _embedding_inputs, ("out",), [("dE", 1)]))
    t["sinusoidal_positional_encoding"] = _sinusoidal_cases
    forward, backward = _pair(_dropout, L.dropout_backward, _dropout_inputs, ("out",), X)
    t["dropout_forward"] = lambda: forward() + [_dropout_property()]
    t["dropout_backward"] = backward

    add("rope_forward", "rope_backward", _pair(L.rope_forward, L.rope_backward, _rope_inputs, ("out",), X))
    forward, backward = _pair(L.attention_forward, L.attention_backward, _attention_inputs, ("out",),
                              [("dq", 0), ("dk", 1), ("dv", 2)])
    t["attention_forward"] = lambda: forward() + [_causal_leak(), _fully_masked_row()]
    t["attention_backward"] = backward
    mha_grads = [(label, i) for i, label in enumerate(
        ("dx_q", "dx_kv", "dWq", "dbq", "dWk", "dbk", "dWv", "dbv", "dWo", "dbo"))]
    add("multihead_attention_forward", "multihead_attention_backward",
        _pair(L.multihead_attention_forward, L.multihead_attention_backward, _mha_inputs, ("out",), mha_grads))

    add("layernorm_forward", "layernorm_backward",
        _pair(L.layernorm_forward, L.layernorm_backward, lambda: _norm_inputs(True), ("out",),
              [("dx", 0), ("dgamma", 1), ("dbeta", 2)]))
    add("rmsnorm_forward", "rmsnorm_backward",
        _pair(L.rmsnorm_forward, L.rmsnorm_backward, lambda: _norm_inputs(False), ("out",), [("dx", 0), ("dgamma", 1)]))
    add("feedforward_forward", "feedforward_backward",
        _pair(L.feedforward_forward, L.feedforward_backward, _ffn_inputs, ("out",),
              [("dx", 0), ("dW1", 1), ("db1", 2), ("dW2", 3), ("db2", 4)]))
    add("swiglu_forward", "swiglu_backward",
        _pair(L.swiglu_forward, L.swiglu_backward, _swiglu_inputs, ("out",), [("da", 0), ("db", 1)]))
    add("swiglu_feedforward_forward", "swiglu_feedforward_backward",
        _pair(L.swiglu_feedforward_forward, L.swiglu_feedforward_backward, _swiglu_ffn_inputs, ("out",),
              [("dx", 0), ("dW_gate", 1), ("dW_up", 2), ("dW_down", 3)]))
    t["decoder_block_forward"] = lambda: block_cases(L.decoder_block_forward, L.decoder_block_backward,
                                                     _decoder_inputs(), which="forward")
    t["decoder_block_backward"] = lambda: block_cases(L.decoder_block_forward, L.decoder_block_backward,
                                                      _decoder_inputs(), which="backward")
    t["encoder_block_forward"] = lambda: block_cases(L.encoder_block_forward, L.encoder_block_backward,
                                                     _encoder_inputs(), which="forward")
    t["encoder_block_backward"] = lambda: block_cases(L.encoder_block_forward, L.encoder_block_backward,
                                                      _encoder_inputs(), which="backward")

    t["GPT.backward"] = _gpt_cases
    t["clip_grad_norm"] = _clip_cases
    t["AdamW.step"] = _adamw_cases

    add("rnn_step_forward", "rnn_step_backward",
        _pair(L.rnn_step_forward, L.rnn_step_backward, lambda: _cell_inputs(1), ("h",), _CELL_GRADS))
    t["rnn_backward"] = _pair(L.rnn_forward, L.rnn_backward, lambda: _sequence_inputs(1), ("hs",), _SEQUENCE_GRADS)[1]
    add("lstm_step_forward", "lstm_step_backward",
        _pair(L.lstm_step_forward, L.lstm_step_backward, lambda: _cell_inputs(4, lstm=True), ("h", "c"), _LSTM_CELL_GRADS))
    t["lstm_backward"] = _pair(L.lstm_forward, L.lstm_backward, lambda: _sequence_inputs(4, lstm=True), ("hs",),
                               _SEQUENCE_GRADS)[1]
    add("gru_step_forward", "gru_step_backward",
        _pair(L.gru_step_forward, L.gru_step_backward, lambda: _cell_inputs(3), ("h",), _CELL_GRADS))
    t["gru_backward"] = _pair(L.gru_forward, L.gru_backward, lambda: _sequence_inputs(3), ("hs",), _SEQUENCE_GRADS)[1]

    t["NGramLM.kneser_ney_probs"] = _kneser_ney_cases
    t["HMM.forward"] = lambda: _hmm_cases("forward")
    t["HMM.viterbi"] = lambda: _hmm_cases("viterbi")
    add("sgns_loss_forward", "sgns_loss_backward",
        _pair(sgns_loss_forward, sgns_loss_backward, _sgns_inputs, ("loss",), [("dv", 0), ("du_pos", 1), ("du_neg", 2)]))

    t["filter_top_k"] = _top_k_cases
    t["filter_top_p"] = _top_p_cases
    t["beam_search"] = _beam_cases
    t["bleu_from_counts"] = _bleu_cases
    return t


CASES = _table()
