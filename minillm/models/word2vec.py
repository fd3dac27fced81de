"""Word2Vec, skip-gram with negative sampling (SGNS): the article's §2.1, "Word2Vec".

Mikolov et al. 2013 ("Distributed Representations of Words and Phrases and
their Compositionality").  Every word w has two vectors: v_w (input, "center")
and u_w (output, "context"), rows of W_in (V, d) and W_out (V, d).  For each
(center c, context o) pair seen within a window, and n_neg noise words n_1..n_{n_neg}
drawn from the unigram distribution raised to 3/4, SGNS minimises

    -log σ(u_o · v_c) - Σ_k log σ(-u_{n_k} · v_c)           σ(x) = 1 / (1 + e^{-x})

i.e. it tells the true context from noise by logistic regression.  The word
vectors are the rows of W_in (as word2vec.c writes them).

At the optimum (vectors free to fit every cell; Levy & Goldberg 2014)
u_o · v_c = log[P(c, o) / (P(c) P_n(o))] - log n_neg: a shifted PMI only for
unigram noise (power 1); with power 3/4 the smoothed P_n stays in it.

Choices (each one pinned by tests/test_word2vec.py)
---------------------------------------------------
Loss         : the MEAN over the B pairs of a batch, the SUM over the n_neg negatives
               (K in the code below, `negative` in the config).
               Training backpropagates dloss = B, i.e. the gradient of the batch
               SUM, so lr is word2vec.c's per-pair step size.
Noise        : P_n(w) = c(w)^0.75 / Σ_w' c(w')^0.75, sampled from a table of `table_size`
               slots in which word w fills round(table_size · P_n(w)) consecutive
               slots (word2vec.c's unigram table).  A noise word equal to the
               true context is kept (word2vec.c skips it; at n_neg/V it hardly matters).
Subsampling  : the paper's formula, P_discard(w) = 1 - sqrt(t / f(w)), f(w) = c(w) / N,
               i.e. P_keep = min(1, sqrt(t / f)).  (word2vec.c uses a different
               variant, P_keep = (sqrt(f/t) + 1) t/f.)  Redrawn every epoch;
               discarded tokens are removed before the windows are formed.
Window       : dynamic as in word2vec.c: each center draws b ~ Uniform{1..window} and
               pairs with the tokens at distance <= b in its sentence.
Learning rate: linear decay lr_t = lr · max(min_lr_fraction, 1 - progress),
               progress = fraction of the planned epochs done.
Updates      : mini-batches of pairs, gradients scattered into the rows with np.add.at
               (a word that occurs twice in a batch gets both gradients, summed).
Init         : W_in ~ Uniform(-0.5/d, 0.5/d), W_out = 0 (as word2vec.c).

Derived in notebooks/04_word_vectors.ipynb.
"""
from dataclasses import dataclass

import numpy as np

from minillm.checks import check_float_array, check_int, check_int_array, check_number, check_rng
from minillm.models.wordvectors import WordVectors, build_vocab, encode_corpus


# ---------------------------------------------------------------------------
# L = -(1/B) Σ_b [ log σ(s_b) + Σ_k log σ(-n_bk) ]
#   s_b  = u_pos_b · v_b          positive score           (B,)
#   n_bk = u_neg_bk · v_b         score of noise word k    (B, K)
#   v (B, d) center vectors, u_pos (B, d) context vectors, u_neg (B, K, d) noise vectors -> L scalar
# log σ(x) = -log(1 + e^{-x}) = -logaddexp(0, -x), which never overflows.
# ---------------------------------------------------------------------------
# $$ \mathcal{L} = -\frac{1}{B} \sum_b \left[ \log \sigma(s_b) + \sum_k \log \sigma(-n_{bk}) \right] $$
# $$ s_b = u_{\mathrm{pos},b} \cdot v_b, \qquad n_{bk} = u_{\mathrm{neg},bk} \cdot v_b $$
# $$ \log \sigma(x) = -\log(1 + e^{-x}) = -\operatorname{logaddexp}(0, -x) $$
def sgns_loss_forward(v, u_pos, u_neg):
    check_float_array("v", v, ndim=2)
    check_float_array("u_pos", u_pos, ndim=2)
    check_float_array("u_neg", u_neg, ndim=3)
    B, d = v.shape
    if u_pos.shape != (B, d):
        raise ValueError(f"u_pos must have shape (B, d) = {(B, d)} like v, got {u_pos.shape}")
    if u_neg.shape[0] != B or u_neg.shape[2] != d:
        raise ValueError(f"u_neg must have shape (B, K, d) = ({B}, K, {d}), got {u_neg.shape}")
    ### BEGIN SOLUTION
    s = np.sum(u_pos * v, axis=1)                               # (B,)
    n = np.einsum("bkd,bd->bk", u_neg, v)                       # (B, K)
    loss = (np.sum(np.logaddexp(0, -s)) + np.sum(np.logaddexp(0, n))) / B
    ### END SOLUTION
    cache = (v, u_pos, u_neg, s, n)
    return loss, cache


# With σ'(x) = σ(x)(1 - σ(x)):
#   dL/ds_b  = -(1/B) (1 - σ(s_b)) = (σ(s_b) - 1) / B            (B,)
#   dL/dn_bk =  (1/B) σ(n_bk)                                     (B, K)
#   dv_b      = dL/ds_b u_pos_b + Σ_k dL/dn_bk u_neg_bk           (B, d)
#   du_pos_b  = dL/ds_b v_b                                       (B, d)
#   du_neg_bk = dL/dn_bk v_b                                      (B, K, d)
# each multiplied by the upstream dloss.
# $$ \sigma'(x) = \sigma(x)\,(1 - \sigma(x)) $$
# $$ \frac{\partial \mathcal{L}}{\partial s_b} = -\frac{1}{B}\,(1 - \sigma(s_b)) = \frac{\sigma(s_b) - 1}{B}, \qquad \frac{\partial \mathcal{L}}{\partial n_{bk}} = \frac{1}{B}\, \sigma(n_{bk}) $$
# $$ dv_b = \frac{\partial \mathcal{L}}{\partial s_b}\, u_{\mathrm{pos},b} + \sum_k \frac{\partial \mathcal{L}}{\partial n_{bk}}\, u_{\mathrm{neg},bk}, \qquad du_{\mathrm{pos},b} = \frac{\partial \mathcal{L}}{\partial s_b}\, v_b, \qquad du_{\mathrm{neg},bk} = \frac{\partial \mathcal{L}}{\partial n_{bk}}\, v_b \qquad (\text{each} \times \mathrm{dloss}) $$
def sgns_loss_backward(dloss, cache):
    v, u_pos, u_neg, s, n = cache
    ### BEGIN SOLUTION
    B = v.shape[0]
    # L = -(1/B) Σ log σ(s) - (1/B) Σ log σ(-n): the two scores first ...
    ds = dloss * (_sigmoid(s) - 1.0) / B                        # (B,)
    dn = dloss * _sigmoid(n) / B                                # (B, K)
    # ... then s = u_pos·v and n = u_neg·v, each product sends the other factor back.
    dv = ds[:, None] * u_pos + np.einsum("bk,bkd->bd", dn, u_neg)
    du_pos = ds[:, None] * v
    du_neg = dn[:, :, None] * v[:, None, :]
    ### END SOLUTION
    return dv, du_pos, du_neg


def _sigmoid(x):
    # σ(x) = exp(log σ(x)) = exp(-logaddexp(0, -x)): no overflow for large |x|
    # $$ \sigma(x) = \exp(\log \sigma(x)) = \exp(-\operatorname{logaddexp}(0, -x)) $$
    return np.exp(-np.logaddexp(0, -x))


# ---------------------------------------------------------------------------
# Noise table:  P_n(w) = c(w)^power / Σ_w' c(w')^power      (power = 3/4)
# word w fills round(size · F(w)) - round(size · F(w-1)) slots, F the cumulative P_n,
# so its share of the table is P_n(w) to within 1/size.  Sample: table[uniform slot].
# ---------------------------------------------------------------------------
# $$ P_n(w) = \frac{c(w)^{\mathrm{power}}}{\sum_{w'} c(w')^{\mathrm{power}}}, \qquad \mathrm{power} = \frac{3}{4} $$
# $$ \mathrm{slots}(w) = \operatorname{round}(\mathrm{size} \cdot F(w)) - \operatorname{round}(\mathrm{size} \cdot F(w-1)), \qquad F(w) = \sum_{w' \le w} P_n(w') $$
def noise_table(counts, *, power=0.75, size=1_000_000):
    check_int_array("counts", counts)
    check_number("power", power, low=0.0)
    check_int("size", size, low=1)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts <= 0):
        raise ValueError(f"counts must be a non-empty 1-D array of positive word counts, got {counts!r}")
    p = counts.astype(np.float64) ** power
    p /= p.sum()
    boundaries = np.round(np.cumsum(p) * size).astype(np.int64)    # (V,) end slot of each word
    slots = np.diff(boundaries, prepend=0)                          # (V,)
    return np.repeat(np.arange(len(counts)), slots)                 # (size,)


# ---------------------------------------------------------------------------
# Subsampling of frequent words (the paper's formula):
#   f(w) = c(w) / Σ c,    P_discard(w) = 1 - sqrt(t / f(w)),    P_keep(w) = min(1, sqrt(t / f(w)))
# A word rarer than t is always kept.  t = None keeps everything.
# ---------------------------------------------------------------------------
# $$ f(w) = \frac{c(w)}{\sum_{w'} c(w')}, \qquad P_\text{discard}(w) = 1 - \sqrt{\frac{t}{f(w)}}, \qquad P_\text{keep}(w) = \min\left(1, \sqrt{\frac{t}{f(w)}}\right) $$
def keep_probabilities(counts, *, t=1e-3):
    check_int_array("counts", counts)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts <= 0):
        raise ValueError(f"counts must be a non-empty 1-D array of positive word counts, got {counts!r}")
    if t is None:
        return np.ones(len(counts))
    check_number("t", t, low=0.0, low_open=True)
    f = counts / counts.sum()                                       # (V,)
    return np.minimum(1.0, np.sqrt(t / f))


# ---------------------------------------------------------------------------
# Skip-gram pairs:  (ids[i], ids[j])  for every i != j in the same sentence with
#   |i - j| <= b_i,   b_i ~ Uniform{1 .. window}  (dynamic) or b_i = window (fixed).
#   ids (N,), sentence_of (N,) -> centers (P,), contexts (P,)
# Vectorised over positions: one pass per distance o = 1 .. window.
# ---------------------------------------------------------------------------
# $$ (\mathrm{ids}_i, \mathrm{ids}_j) \quad \text{for all } i \ne j \text{ in the same sentence with } |i - j| \le b_i, \qquad b_i \sim \operatorname{Uniform}\{1, \dots, \mathrm{window}\} \ \text{(dynamic) or } b_i = \mathrm{window} \ \text{(fixed)} $$
def skipgram_pairs(ids, sentence_of, *, window, rng=None, dynamic=True):
    check_int_array("ids", ids)
    check_int_array("sentence_of", sentence_of)
    check_int("window", window, low=1)
    if ids.ndim != 1 or sentence_of.shape != ids.shape:
        raise ValueError(f"ids and sentence_of must be 1-D of the same length, got {ids.shape} and {sentence_of.shape}")
    N = len(ids)
    if dynamic:
        check_rng("rng", rng)
        b = rng.integers(1, window + 1, size=N)                     # (N,) reduced window of each center
    else:
        b = np.full(N, window)
    centers, contexts = [], []
    for o in range(1, window + 1):
        left = np.arange(N - o)                                     # token i, its neighbour i + o
        right = left + o
        same = sentence_of[left] == sentence_of[right]
        forward = same & (o <= b[left])                             # center i, context i + o
        backward = same & (o <= b[right])                           # center i + o, context i
        centers += [ids[left[forward]], ids[right[backward]]]
        contexts += [ids[right[forward]], ids[left[backward]]]
    return np.concatenate(centers), np.concatenate(contexts)


# lr_t = lr · max(min_lr_fraction, 1 - progress),   progress in [0, 1] = share of training done
# $$ \mathrm{lr}_t = \mathrm{lr} \cdot \max(\mathrm{min\_lr\_fraction},\ 1 - \mathrm{progress}), \qquad \mathrm{progress} \in [0, 1] $$
def linear_lr(lr, progress, *, min_lr_fraction=1e-4):
    check_number("progress", progress, low=0.0, high=1.0)
    return lr * max(min_lr_fraction, 1.0 - progress)


@dataclass
class Word2VecConfig:
    dim: int = 50                 # d, the vector size
    window: int = 5               # maximal distance between center and context
    negative: int = 5             # K noise words per pair
    epochs: int = 5
    lr: float = 0.025             # initial per-pair step (word2vec.c's default for skip-gram)
    min_lr_fraction: float = 1e-4  # the decay stops at lr · min_lr_fraction
    batch_size: int = 256         # pairs per update
    subsample_t: float = 1e-3     # t of the subsampling formula; None = no subsampling
    min_count: int = 1
    noise_power: float = 0.75
    table_size: int = 1_000_000
    dynamic_window: bool = True

    def __post_init__(self):
        for name in ("dim", "window", "negative", "epochs", "batch_size", "min_count", "table_size"):
            check_int(name, getattr(self, name), low=1)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("min_lr_fraction", self.min_lr_fraction, low=0.0, high=1.0)
        check_number("noise_power", self.noise_power, low=0.0)
        if self.subsample_t is not None:
            check_number("subsample_t", self.subsample_t, low=0.0, low_open=True)


class Word2Vec:
    """Skip-gram with negative sampling.  Word2Vec(config).fit(sentences, rng).wv"""

    def __init__(self, config=None):
        self.config = Word2VecConfig() if config is None else config
        if not isinstance(self.config, Word2VecConfig):
            raise TypeError(f"config must be a Word2VecConfig, got a {type(self.config).__name__}")
        self.params, self.words, self.counts, self.loss_history = None, None, None, []

    def __repr__(self):
        state = "unfitted" if self.words is None else f"V={len(self.words)}"
        return f"Word2Vec(dim={self.config.dim}, window={self.config.window}, negative={self.config.negative}, {state})"

    @property
    def wv(self):
        """The word vectors: rows of W_in."""
        if self.params is None:
            raise RuntimeError("Word2Vec is not fitted yet: call fit(sentences, rng) first")
        return WordVectors(self.words, self.params["W_in"])

    def fit(self, sentences, rng):
        """Train on `sentences` (lists of str tokens); the loss of every epoch goes to loss_history."""
        check_rng("rng", rng)
        cfg = self.config
        self.words, self.counts = build_vocab(sentences, min_count=cfg.min_count)
        ids, sentence_of = encode_corpus(sentences, self.words)
        V, d, K = len(self.words), cfg.dim, cfg.negative
        W_in = ((rng.random((V, d)) - 0.5) / d).astype(np.float32)     # (V, d)
        W_out = np.zeros((V, d), dtype=np.float32)                     # (V, d)
        self.params = {"W_in": W_in, "W_out": W_out}
        table = noise_table(self.counts, power=cfg.noise_power, size=cfg.table_size)
        p_keep = keep_probabilities(self.counts, t=cfg.subsample_t)
        self.loss_history = []

        for epoch in range(cfg.epochs):
            keep = rng.random(len(ids)) < p_keep[ids]                  # subsampling, redrawn each epoch
            centers, contexts = skipgram_pairs(ids[keep], sentence_of[keep], window=cfg.window,
                                               rng=rng, dynamic=cfg.dynamic_window)
            order = rng.permutation(len(centers))
            P, losses = len(order), []
            for start in range(0, P, cfg.batch_size):
                batch = order[start:start + cfg.batch_size]
                c, o = centers[batch], contexts[batch]                 # (B,), (B,)
                B = len(batch)
                noise = table[rng.integers(len(table), size=(B, K))]   # (B, K)
                lr = linear_lr(cfg.lr, (epoch + start / P) / cfg.epochs, min_lr_fraction=cfg.min_lr_fraction)
                loss, cache = sgns_loss_forward(W_in[c], W_out[o], W_out[noise])
                # dloss = B: the gradient of the batch SUM, so lr is a per-pair step
                # $$ \mathrm{dloss} = B $$
                dv, du_pos, du_neg = sgns_loss_backward(float(B), cache)
                np.add.at(W_in, c, -lr * dv)
                np.add.at(W_out, o, -lr * du_pos)
                np.add.at(W_out, noise.reshape(-1), -lr * du_neg.reshape(-1, d))
                losses.append(loss)
            self.loss_history.append(float(np.mean(losses)) if losses else float("nan"))
        return self
