"""GloVe, global vectors from co-occurrence counts: the article's §2.1, "GloVe".

Pennington, Socher & Manning 2014.  First count, over the whole corpus, how
often word j appears near word i, each occurrence weighted by 1/distance:

    X_ij = Σ over occurrences of i, and j at distance 1 <= δ <= window in the same sentence, of 1/δ

(symmetric window: left and right neighbours count, so X is symmetric).  Then
fit word vectors w_i, context vectors w̃_j and biases b_i, b̃_j so that their
dot product predicts log X_ij, by weighted least squares over the non-zero X_ij:

    J = Σ_{ij: X_ij > 0} f(X_ij) (w_i · w̃_j + b_i + b̃_j - log X_ij)^2
    f(x) = (x / x_max)^α  if x < x_max  else 1          (x_max = 100, α = 3/4 in the paper)

f caps the influence of very frequent pairs and damps the noisy rare ones.

Choices (each one pinned by tests/test_glove.py)
------------------------------------------------
Loss      : exactly the paper's J: a SUM over the pairs of the batch, NO 1/2 factor
            (so dJ/d(diff) = 2 f diff; the reference C code uses 1/2 f diff^2 instead,
            i.e. half our gradient).  AdaGrad is NOT blind to that scale here: with
            G starting at 1 the first step is lr g / sqrt(1 + g^2) ~ lr g for small g,
            so doubling g nearly doubles the early steps (x1.97 for g = 0.1); the
            scale only drops out once the summed g^2 >> 1.  Our J trains like the C
            code with twice its lr at first (notebooks/04_word_vectors.ipynb).
Optimiser : AdaGrad per entry, G starts at 1 (as the C code), G += g^2,
            θ -= lr g / sqrt(G).  Mini-batches of non-zero cells; the gradients of
            a row that occurs several times in a batch are summed (np.add.at) before
            the step.
Vectors   : W + W̃, the sum of the word and context vectors (the paper's choice).
Init      : all parameters ~ Uniform(-0.5/d, 0.5/d).

Derived in notebooks/04_word_vectors.ipynb.
"""
from dataclasses import dataclass

import numpy as np

from minillm.checks import check_float_array, check_int, check_int_array, check_number, check_rng
from minillm.models.wordvectors import WordVectors, build_vocab, encode_corpus


# ---------------------------------------------------------------------------
# X_ij = Σ_{occurrences} 1/δ,   i = ids[t], j = ids[t ± δ],  1 <= δ <= window,  same sentence
#   ids (N,), sentence_of (N,) -> rows (P,), cols (P,), x (P,): the non-zero cells of X (V, V),
#   sorted by (row, col).  Stored sparse: a real vocabulary makes a dense X too big.
# ---------------------------------------------------------------------------
# $$ X_{ij} = \sum_{t,\, \pm,\, \delta} \frac{1}{\delta}\, \mathbb{1}\left[\mathrm{ids}_t = i,\ \mathrm{ids}_{t \pm \delta} = j,\ 1 \le \delta \le \mathrm{window},\ \text{same sentence}\right] $$
def cooccurrence_counts(ids, sentence_of, V, *, window):
    check_int_array("ids", ids, high=V)
    check_int_array("sentence_of", sentence_of)
    check_int("window", window, low=1)
    if ids.ndim != 1 or sentence_of.shape != ids.shape:
        raise ValueError(f"ids and sentence_of must be 1-D of the same length, got {ids.shape} and {sentence_of.shape}")
    N = len(ids)
    keys, weights = [], []
    for delta in range(1, window + 1):
        left = np.arange(N - delta)                                 # token t and its neighbour t + δ
        right = left + delta
        same = sentence_of[left] == sentence_of[right]
        i, j = ids[left[same]], ids[right[same]]
        # symmetric window: j is a right neighbour of i and i a left neighbour of j
        keys += [i * V + j, j * V + i]
        weights += [np.full(2 * len(i), 1.0 / delta)]
    keys = np.concatenate(keys)
    cells, inverse = np.unique(keys, return_inverse=True)           # distinct (i, j), sorted
    x = np.bincount(inverse.reshape(-1), weights=np.concatenate(weights), minlength=len(cells))
    return cells // V, cells % V, x


# f(x) = min(1, (x / x_max)^α)
# $$ f(x) = \min\left(1, \left(\frac{x}{x_\mathrm{max}}\right)^{\alpha}\right) $$
def glove_weights(x, *, x_max=100.0, alpha=0.75):
    check_float_array("x", x)
    check_number("x_max", x_max, low=0.0, low_open=True)
    check_number("alpha", alpha, low=0.0)
    return np.minimum(1.0, (x / x_max) ** alpha)


# ---------------------------------------------------------------------------
# J = Σ_p f_p (w_p · w̃_p + b_p + b̃_p - log x_p)^2            (sum over the P cells of the batch, no 1/2)
#   W_i (P, d) rows w_i, W_j (P, d) rows w̃_j, b_i (P,), b_j (P,) -> J scalar
#   log_x (P,) and weights (P,) = f(x) are data, keyword-only: they get no gradient.
# ---------------------------------------------------------------------------
# $$ J = \sum_{p=1}^{P} f_p \left(w_p \cdot \tilde{w}_p + b_p + \tilde{b}_p - \log x_p\right)^2 $$
def glove_loss_forward(W_i, W_j, b_i, b_j, *, log_x, weights):
    check_float_array("W_i", W_i, ndim=2)
    check_float_array("W_j", W_j)
    P, d = W_i.shape
    if W_j.shape != (P, d):
        raise ValueError(f"W_j must have shape (P, d) = {(P, d)} like W_i, got {W_j.shape}")
    for name, a in (("b_i", b_i), ("b_j", b_j), ("log_x", log_x), ("weights", weights)):
        check_float_array(name, a)
        if a.shape != (P,):
            raise ValueError(f"{name} must have shape (P,) = ({P},), one entry per row of W_i, got {a.shape}")
    diff = np.sum(W_i * W_j, axis=1) + b_i + b_j - log_x            # (P,)
    J = np.sum(weights * diff**2)
    cache = (W_i, W_j, weights, diff)
    return J, cache


# dJ/d diff_p = 2 f_p diff_p                                       (P,)
# dW_i = (dJ/d diff)[:, None] W_j    dW_j = (dJ/d diff)[:, None] W_i    db_i = db_j = dJ/d diff
# (gradients for the four float arguments, in order; the data log_x, weights get none)
# $$ \frac{\partial J}{\partial \mathrm{diff}_p} = 2 f_p\, \mathrm{diff}_p $$
# $$ dW_{i,p} = \frac{\partial J}{\partial \mathrm{diff}_p}\, \tilde{w}_p \qquad dW_{j,p} = \frac{\partial J}{\partial \mathrm{diff}_p}\, w_p \qquad db_{i,p} = db_{j,p} = \frac{\partial J}{\partial \mathrm{diff}_p} $$
def glove_loss_backward(dJ, cache):
    W_i, W_j, weights, diff = cache
    # J = Σ f diff^2
    # $$ J = \sum_p f_p\, \mathrm{diff}_p^2 $$
    g = dJ * 2.0 * weights * diff                                   # (P,)
    # diff = w_i·w̃_j + b_i + b̃_j - log x: the dot product sends each factor to the other
    # $$ \mathrm{diff} = w_i \cdot \tilde{w}_j + b_i + \tilde{b}_j - \log x $$
    dW_i = g[:, None] * W_j                                         # (P, d)
    dW_j = g[:, None] * W_i                                         # (P, d)
    return dW_i, dW_j, g.copy(), g.copy()


# ---------------------------------------------------------------------------
# AdaGrad on the rows a batch touched, in place (G starts at 1, so the step is not scale-free:
# lr g / sqrt(1 + g^2) grows with g until the summed g^2 >> 1):
#   g_r = Σ_{p: index_p = r} grad_p        (a row met several times sums its gradients, np.add.at)
#   G_r += g_r^2,     θ_r -= lr g_r / sqrt(G_r)          per entry; untouched rows do not move
#   theta (V, ...) parameters, G (V, ...) running sums of squared gradients, index (P,), grad (P, ...)
# ---------------------------------------------------------------------------
# $$ g_r = \sum_{p:\ \mathrm{index}_p = r} \mathrm{grad}_p $$
# $$ G_r \leftarrow G_r + g_r^2, \qquad \theta_r \leftarrow \theta_r - \frac{\mathrm{lr}\, g_r}{\sqrt{G_r}} $$
def adagrad_scatter_step(theta, G, index, grad, *, lr):
    touched, slot = np.unique(index, return_inverse=True)
    g = np.zeros((len(touched),) + theta.shape[1:], dtype=theta.dtype)   # one summed gradient per row
    np.add.at(g, slot.reshape(-1), grad)
    G[touched] += g**2
    theta[touched] -= lr * g / np.sqrt(G[touched])


@dataclass
class GloVeConfig:
    dim: int = 50
    window: int = 10              # the paper's symmetric window of 10
    x_max: float = 100.0
    alpha: float = 0.75
    epochs: int = 25
    lr: float = 0.05              # AdaGrad step (the C code's default)
    batch_size: int = 512         # non-zero cells per update
    min_count: int = 1

    def __post_init__(self):
        for name in ("dim", "window", "epochs", "batch_size", "min_count"):
            check_int(name, getattr(self, name), low=1)
        check_number("x_max", self.x_max, low=0.0, low_open=True)
        check_number("alpha", self.alpha, low=0.0)
        check_number("lr", self.lr, low=0.0, low_open=True)


class GloVe:
    """GloVe by AdaGrad on the weighted least squares J.  GloVe(config).fit(sentences, rng).wv"""

    def __init__(self, config=None):
        self.config = GloVeConfig() if config is None else config
        if not isinstance(self.config, GloVeConfig):
            raise TypeError(f"config must be a GloVeConfig, got a {type(self.config).__name__}")
        self.params, self.words, self.counts, self.loss_history = None, None, None, []

    def __repr__(self):
        state = "unfitted" if self.words is None else f"V={len(self.words)}"
        return f"GloVe(dim={self.config.dim}, window={self.config.window}, x_max={self.config.x_max}, {state})"

    @property
    def wv(self):
        """The word vectors: W + W̃."""
        if self.params is None:
            raise RuntimeError("GloVe is not fitted yet: call fit(sentences, rng) first")
        return WordVectors(self.words, self.params["W"] + self.params["W_tilde"])

    def fit(self, sentences, rng):
        """Count X, then minimise J by AdaGrad; J per epoch (summed over all cells) goes to loss_history."""
        check_rng("rng", rng)
        cfg = self.config
        self.words, self.counts = build_vocab(sentences, min_count=cfg.min_count)
        ids, sentence_of = encode_corpus(sentences, self.words)
        V, d = len(self.words), cfg.dim
        rows, cols, x = cooccurrence_counts(ids, sentence_of, V, window=cfg.window)
        self.cooccurrence = (rows, cols, x)
        log_x, f = np.log(x), glove_weights(x, x_max=cfg.x_max, alpha=cfg.alpha)

        def init(*shape):
            return (rng.random(shape) - 0.5) / d

        self.params = {"W": init(V, d), "W_tilde": init(V, d), "b": init(V), "b_tilde": init(V)}
        G = {k: np.ones_like(p) for k, p in self.params.items()}     # AdaGrad's sums of squares, start at 1
        W, W_tilde, b, b_tilde = (self.params[k] for k in ("W", "W_tilde", "b", "b_tilde"))
        self.loss_history = []

        for _ in range(cfg.epochs):
            order = rng.permutation(len(x))
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                p = order[start:start + cfg.batch_size]
                i, j = rows[p], cols[p]                               # (P,), (P,)
                J, cache = glove_loss_forward(W[i], W_tilde[j], b[i], b_tilde[j], log_x=log_x[p], weights=f[p])
                dW_i, dW_j, db_i, db_j = glove_loss_backward(1.0, cache)
                adagrad_scatter_step(W, G["W"], i, dW_i, lr=cfg.lr)
                adagrad_scatter_step(W_tilde, G["W_tilde"], j, dW_j, lr=cfg.lr)
                adagrad_scatter_step(b, G["b"], i, db_i, lr=cfg.lr)
                adagrad_scatter_step(b_tilde, G["b_tilde"], j, db_j, lr=cfg.lr)
                total += J
            self.loss_history.append(float(total))
        return self
