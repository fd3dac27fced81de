"""The course: seven assignment sets, each a list of the functions a student writes.

A function of a set is graded under its own name (as `minillm.layers` exports it, or
Class.method for a model's method).  Its body in the reference sits between
`### BEGIN SOLUTION` / `### END SOLUTION` lines; a student workspace replaces that region
by a stub that raises NotImplementedError with the formula and the notebook section below.
Usually the region is in the function itself; a step function whose arithmetic lives in a
private cell (`_lstm_cell`) names that cell in `marks`.

`needs`: the graded functions this one calls.  When one of them is unfinished or wrong,
the grader reports this one as blocked by it instead of as a failure of its own.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Graded:
    name: str                  # the key of the grader's report: "layernorm_backward", "GPT.backward"
    module: str                # where the body lives: "minillm.layers.norm"
    formula: str               # one line, printed by the stub and by the grader's hint
    section: str               # the notebook section that teaches it
    needs: tuple = ()          # graded functions it calls
    marks: tuple = ()          # qualnames holding its solution region; default (the last part of name,)

    @property
    def regions(self):
        """The qualnames (inside `module`) whose marked bodies belong to this function."""
        return self.marks or (self.name,)


@dataclass(frozen=True)
class AssignmentSet:
    name: str                  # "A1"
    title: str
    notebooks: tuple           # the notebook sections that teach it (docs/SYLLABUS.md)
    depends_on: tuple          # earlier sets whose functions this one calls
    functions: tuple = field(default_factory=tuple)


L = "minillm.layers."
NB = "notebooks/"

SETS = (
    AssignmentSet(
        "A1", "Layers and the loss",
        (NB + "00_conventions.ipynb §2-6", NB + "05_embedding_positional_encoding.ipynb §2-4",
         NB + "08_feedforward.ipynb §2-3", NB + "09_output_layer.ipynb §2-7", NB + "10_transformer_block.ipynb §9"),
        (),
        (
            Graded("linear_forward", L + "linear", "out = x W + b", NB + "00_conventions.ipynb §2"),
            Graded("linear_backward", L + "linear", "dx = dout W^T, dW = x^T dout (summed over rows), db = sum of dout",
                   NB + "00_conventions.ipynb §2-3", ("linear_forward",)),
            Graded("relu_forward", L + "activations", "out = max(x, 0)", NB + "08_feedforward.ipynb §2"),
            Graded("relu_backward", L + "activations", "dx = dout [x > 0]", NB + "08_feedforward.ipynb §7",
                   ("relu_forward",)),
            Graded("gelu_forward", L + "activations",
                   "tanh: 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)));  none: x Phi(x) = 0.5 x erfc(-x/sqrt 2)",
                   NB + "08_feedforward.ipynb §2"),
            Graded("gelu_backward", L + "activations",
                   "tanh: 0.5(1 + t) + 0.5 x (1 - t^2) u';  none: Phi(x) + x phi(x)", NB + "08_feedforward.ipynb §7",
                   ("gelu_forward",)),
            Graded("softmax_forward", L + "softmax", "out_j = exp(x_j - max x) / sum_k exp(x_k - max x)",
                   NB + "09_output_layer.ipynb §2"),
            Graded("softmax_backward", L + "softmax", "dx_j = out_j (dout_j - sum_k dout_k out_k)",
                   NB + "09_output_layer.ipynb §7", ("softmax_forward",)),
            Graded("log_softmax_forward", L + "softmax", "out_j = x_j - (m + log sum_k exp(x_k - m)), m = max x",
                   NB + "09_output_layer.ipynb §2"),
            Graded("log_softmax_backward", L + "softmax", "dx_j = dout_j - softmax(x)_j sum_k dout_k",
                   NB + "09_output_layer.ipynb §7", ("log_softmax_forward",)),
            Graded("cross_entropy_forward", L + "softmax",
                   "loss = -(1/N_valid) sum over targets != ignore_index of (logits[n, t_n] - lse_n)",
                   NB + "09_output_layer.ipynb §2"),
            Graded("cross_entropy_backward", L + "softmax",
                   "dlogits_n = dloss (softmax(logits_n) - onehot(t_n)) / N_valid, 0 for ignored rows",
                   NB + "09_output_layer.ipynb §7", ("cross_entropy_forward",)),
            Graded("embedding_forward", L + "embedding", "out[..., :] = E[ids[...], :]",
                   NB + "05_embedding_positional_encoding.ipynb §2"),
            Graded("embedding_backward", L + "embedding",
                   "dE[v] = sum of dout over every position whose id is v (duplicates add up)",
                   NB + "05_embedding_positional_encoding.ipynb §8", ("embedding_forward",)),
            Graded("sinusoidal_positional_encoding", L + "positional",
                   "PE[t, 2i] = sin(t / base^(2i/d)),  PE[t, 2i+1] = cos(t / base^(2i/d))",
                   NB + "05_embedding_positional_encoding.ipynb §2"),
            Graded("dropout_forward", L + "dropout", "out = x keep / (1 - p), keep = [u >= p] as drawn above",
                   NB + "10_transformer_block.ipynb §9"),
            Graded("dropout_backward", L + "dropout", "dx = dout keep / (1 - p)", NB + "10_transformer_block.ipynb §9",
                   ("dropout_forward",)),
        ),
    ),
    AssignmentSet(
        "A2", "Attention and multi-head attention",
        (NB + "05_embedding_positional_encoding.ipynb §7", NB + "06_self_attention.ipynb §2-7",
         NB + "07_multihead_attention.ipynb §2-7"),
        ("A1",),
        (
            Graded("rope_forward", L + "positional",
                   "(x_2i, x_2i+1) -> (x_2i c - x_2i+1 s, x_2i s + x_2i+1 c), c, s = cos, sin(t base^(-2i/d_k))",
                   NB + "05_embedding_positional_encoding.ipynb §7"),
            Graded("rope_backward", L + "positional", "the inverse rotation: dx_2i = dout_2i c + dout_2i+1 s, ...",
                   NB + "05_embedding_positional_encoding.ipynb §7", ("rope_forward",)),
            Graded("attention_forward", L + "attention",
                   "out = softmax(Q K^T / sqrt(d_k), -inf where masked) V; a fully masked row gives 0",
                   NB + "06_self_attention.ipynb §2-3"),
            Graded("attention_backward", L + "attention",
                   "dV = P^T dout, dP = dout V^T, dA = P (dP - rowsum(dP P)), dQ = dA K / sqrt(d_k), dK = dA^T Q / sqrt(d_k)",
                   NB + "06_self_attention.ipynb §7", ("attention_forward",)),
            Graded("multihead_attention_forward", L + "attention",
                   "Q, K, V = X W + b; split into H heads; head_h = Attention(Q_h, K_h, V_h); out = Concat W_O + b_O",
                   NB + "07_multihead_attention.ipynb §2-4", ("linear_forward", "attention_forward", "rope_forward")),
            Graded("multihead_attention_backward", L + "attention",
                   "the forward in reverse; x_kv fed K and V, so its two gradients add",
                   NB + "07_multihead_attention.ipynb §7",
                   ("multihead_attention_forward", "linear_backward", "attention_backward", "rope_backward")),
        ),
    ),
    AssignmentSet(
        "A3", "Normalisation, the feed-forward network and the block",
        (NB + "08_feedforward.ipynb §2-8", NB + "10_transformer_block.ipynb §2-10"),
        ("A1", "A2"),
        (
            Graded("layernorm_forward", L + "norm", "out = (x - mean) / sqrt(var + eps) * gamma + beta (last axis)",
                   NB + "10_transformer_block.ipynb §2"),
            Graded("layernorm_backward", L + "norm",
                   "dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dout gamma",
                   NB + "10_transformer_block.ipynb §10", ("layernorm_forward",)),
            Graded("rmsnorm_forward", L + "norm", "out = x / sqrt(mean(x^2) + eps) * gamma",
                   NB + "10_transformer_block.ipynb §8"),
            Graded("rmsnorm_backward", L + "norm", "dx = rrms (dxhat - xhat mean(dxhat xhat)), dxhat = dout gamma",
                   NB + "10_transformer_block.ipynb §8", ("rmsnorm_forward",)),
            Graded("feedforward_forward", L + "feedforward", "out = act(x W1 + b1) W2 + b2",
                   NB + "08_feedforward.ipynb §2-3", ("linear_forward", "gelu_forward", "relu_forward")),
            Graded("feedforward_backward", L + "feedforward", "the forward in reverse: linear, activation, linear",
                   NB + "08_feedforward.ipynb §7",
                   ("feedforward_forward", "linear_backward", "gelu_backward", "relu_backward")),
            Graded("swiglu_forward", L + "activations", "out = a sigmoid(a) b", NB + "08_feedforward.ipynb §8"),
            Graded("swiglu_backward", L + "activations", "da = dout b s (1 + a (1 - s)), db = dout a s",
                   NB + "08_feedforward.ipynb §8", ("swiglu_forward",)),
            Graded("swiglu_feedforward_forward", L + "feedforward", "out = (silu(x W_gate) * (x W_up)) W_down",
                   NB + "08_feedforward.ipynb §8", ("linear_forward", "swiglu_forward")),
            Graded("swiglu_feedforward_backward", L + "feedforward", "the forward in reverse; x fed two projections",
                   NB + "08_feedforward.ipynb §8", ("swiglu_feedforward_forward", "linear_backward", "swiglu_backward")),
            Graded("decoder_block_forward", L + "block", "h = x + Drop(MHA(Norm1(x)));  out = h + Drop(FFN(Norm2(h)))",
                   NB + "10_transformer_block.ipynb §2-3",
                   ("layernorm_forward", "rmsnorm_forward", "linear_forward", "attention_forward", "rope_forward",
                    "feedforward_forward", "swiglu_feedforward_forward", "dropout_forward")),
            Graded("decoder_block_backward", L + "block",
                   "the forward in reverse; each residual fan-out adds its two gradients",
                   NB + "10_transformer_block.ipynb §10",
                   ("decoder_block_forward", "layernorm_backward", "rmsnorm_backward", "linear_backward",
                    "attention_backward", "rope_backward", "feedforward_backward", "swiglu_feedforward_backward",
                    "dropout_backward")),
            Graded("encoder_block_forward", L + "block", "post-LN: h = LN1(x + Drop(MHA(x)));  out = LN2(h + Drop(FFN(h)))",
                   NB + "10_transformer_block.ipynb §5",
                   ("decoder_block_forward", "layernorm_forward", "linear_forward", "attention_forward",
                    "feedforward_forward", "dropout_forward")),
            Graded("encoder_block_backward", L + "block", "the post-LN forward in reverse",
                   NB + "10_transformer_block.ipynb §5",
                   ("encoder_block_forward", "decoder_block_backward", "layernorm_backward", "linear_backward",
                    "attention_backward", "feedforward_backward", "dropout_backward")),
        ),
    ),
    AssignmentSet(
        "A4", "The GPT backward and training",
        (NB + "11_gpt_pretraining_generation.ipynb §3-6",),
        ("A1", "A2", "A3"),
        (
            Graded("GPT.backward", "minillm.models.gpt",
                   "the forward in reverse: loss, head, final norm, blocks, embedding; dE = lookup + head (tied)",
                   NB + "11_gpt_pretraining_generation.ipynb §3",
                   ("linear_forward", "linear_backward", "embedding_forward", "embedding_backward",
                    "layernorm_forward", "layernorm_backward", "cross_entropy_forward", "cross_entropy_backward",
                    "decoder_block_forward", "decoder_block_backward")),
            Graded("clip_grad_norm", "minillm.optim",
                   "||g|| = sqrt(sum of all g^2); if ||g|| > max_norm: g <- g max_norm / (||g|| + 1e-6)",
                   NB + "11_gpt_pretraining_generation.ipynb §6"),
            Graded("AdamW.step", "minillm.optim",
                   "m, v moving averages; p <- p - lr (m_hat / (sqrt(v_hat) + eps) + wd p), hats bias-corrected",
                   NB + "11_gpt_pretraining_generation.ipynb §6"),
        ),
    ),
    AssignmentSet(
        "A5", "Recurrent networks and backpropagation through time",
        (NB + "03_rnn_lstm.ipynb §2-5",),
        ("A1",),
        (
            Graded("rnn_step_forward", L + "recurrent", "h_t = tanh(x_t Wx + h_{t-1} Wh + b)",
                   NB + "03_rnn_lstm.ipynb §2", ("linear_forward",), ("_rnn_cell",)),
            Graded("rnn_step_backward", L + "recurrent", "da = dh (1 - h^2);  dh_prev = da Wh^T",
                   NB + "03_rnn_lstm.ipynb §4", ("rnn_step_forward", "linear_backward"), ("_rnn_cell_backward",)),
            Graded("rnn_backward", L + "recurrent",
                   "for t = T-1..0: dh = dhs_t + dh_next; step back; dWh = sum_t h_{t-1}^T da_t",
                   NB + "03_rnn_lstm.ipynb §4", ("rnn_step_forward", "rnn_step_backward", "linear_backward")),
            Graded("lstm_step_forward", L + "recurrent",
                   "i, f, o = sigmoid, g = tanh of a = x Wx + h Wh + b;  c = f c_prev + i g;  h = o tanh(c)",
                   NB + "03_rnn_lstm.ipynb §2", ("linear_forward",), ("_lstm_cell",)),
            Graded("lstm_step_backward", L + "recurrent",
                   "dc_total = dc + dh o (1 - tanh(c)^2); di = dc_total g, df = dc_total c_prev, ...",
                   NB + "03_rnn_lstm.ipynb §4", ("lstm_step_forward", "linear_backward"), ("_lstm_cell_backward",)),
            Graded("lstm_backward", L + "recurrent", "BPTT carrying dh and dc from step t+1 to step t",
                   NB + "03_rnn_lstm.ipynb §4", ("lstm_step_forward", "lstm_step_backward", "linear_backward")),
            Graded("gru_step_forward", L + "recurrent",
                   "r, z = sigmoid(ax + ah);  n = tanh(ax_n + r ah_n);  h = (1 - z) n + z h_prev",
                   NB + "03_rnn_lstm.ipynb §2", ("linear_forward",), ("_gru_cell",)),
            Graded("gru_step_backward", L + "recurrent", "dn = dh (1 - z), dz = dh (h_prev - n), dh_prev = dh z + dah Wh^T",
                   NB + "03_rnn_lstm.ipynb §5", ("gru_step_forward", "linear_backward"), ("_gru_cell_backward",)),
            Graded("gru_backward", L + "recurrent", "BPTT through the GRU cell, as for the RNN",
                   NB + "03_rnn_lstm.ipynb §5", ("gru_step_forward", "gru_step_backward", "linear_backward")),
        ),
    ),
    AssignmentSet(
        "A6", "The classical models: n-gram, HMM, word2vec",
        (NB + "01_ngram.ipynb §2-7", NB + "02_hmm.ipynb §2-5", NB + "04_word_vectors.ipynb §2-4"),
        (),
        (
            Graded("NGramLM.kneser_ney_probs", "minillm.models.ngram",
                   "P_m = max(c - d, 0)/c(h) + d N1+(h .)/c(h) P_{m-1}, continuation counts below the top order",
                   NB + "01_ngram.ipynb §6"),
            Graded("HMM.forward", "minillm.models.hmm",
                   "alpha_1 = pi B[:, o_1], alpha_t = (alpha_hat_{t-1} A) B[:, o_t]; c_t = sum alpha_t; alpha_hat = alpha / c",
                   NB + "02_hmm.ipynb §2, §5"),
            Graded("HMM.viterbi", "minillm.models.hmm",
                   "delta_t(j) = max_i (delta_{t-1}(i) + log A_ij) + log B_j(o_t), psi = argmax; backtrack",
                   NB + "02_hmm.ipynb §2"),
            Graded("sgns_loss_forward", "minillm.models.word2vec",
                   "L = -(1/B) sum_b [log sigmoid(u_pos . v) + sum_k log sigmoid(-u_neg_k . v)]",
                   NB + "04_word_vectors.ipynb §2"),
            Graded("sgns_loss_backward", "minillm.models.word2vec",
                   "dL/ds = (sigmoid(s) - 1)/B, dL/dn = sigmoid(n)/B; dv = ds u_pos + sum_k dn_k u_neg_k, ...",
                   NB + "04_word_vectors.ipynb §2-4", ("sgns_loss_forward",)),
        ),
    ),
    AssignmentSet(
        "A7", "Decoding and BLEU",
        (NB + "11_gpt_pretraining_generation.ipynb §7", NB + "14_translation.ipynb §7-8"),
        (),
        (
            Graded("filter_top_k", "minillm.generate", "keep the k largest probabilities (ties kept), renormalise",
                   NB + "11_gpt_pretraining_generation.ipynb §7"),
            Graded("filter_top_p", "minillm.generate",
                   "keep the most likely tokens while the mass before each is < p, renormalise",
                   NB + "11_gpt_pretraining_generation.ipynb §7"),
            Graded("beam_search", "minillm.generate",
                   "keep the beam_size best log P(prefix + v); finished hypotheses score log P / lp(L)",
                   NB + "14_translation.ipynb §7"),
            Graded("bleu_from_counts", "minillm.metrics",
                   "BLEU = BP exp((1/N) sum_n ln p_n), BP = exp(1 - r/c) when c < r",
                   NB + "14_translation.ipynb §8"),
        ),
    ),
)

FUNCTIONS = {f.name: f for s in SETS for f in s.functions}
SET_OF = {f.name: s.name for s in SETS for f in s.functions}


def find_set(name):
    """The AssignmentSet called `name` ("A3"), or a ValueError naming the sets there are."""
    for s in SETS:
        if s.name == name:
            return s
    raise ValueError(f"--set must be one of {', '.join(s.name for s in SETS)} or all, got {name!r}")


def chosen_sets(names):
    """The sets named in `names` (a list such as ["A1", "A3"] or ["all"]), in course order, no repeats."""
    if not names:
        raise ValueError("--set must be given at least once (a set name such as A1, or all)")
    if "all" in names:
        return SETS
    wanted = {find_set(n).name for n in names}
    return tuple(s for s in SETS if s.name in wanted)


def closure(names):
    """`names` and everything their `needs` reach, transitively (graded functions only)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(FUNCTIONS[name].needs)
    return seen
