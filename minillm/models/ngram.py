"""N-gram language model: the article's §1, "N元语法模型" (the first LMs).

An order-n model predicts a token from the n-1 tokens before it:

    P(w_1 .. w_T) = prod_t P(w_t | w_{t-n+1} .. w_{t-1})

(the chain rule, then the Markov assumption).  Each factor is the *conditional*
frequency c(h w) / c(h) of the word after its context h, not the joint frequency
of the n adjacent words (notebooks/01_ngram.ipynb, section 9).

Tokens are strings: words (sentence.split()) or characters (list(sentence)).
Derived in notebooks/01_ngram.ipynb; pinned by tests/test_ngram.py.

Conventions (every one is tested)
---------------------------------
Vocabulary V : the training types with count >= min_count, plus "</s>" and
    "<unk>" (always both, even when <unk> is never seen).  vocab[0] = "</s>",
    vocab[1] = "<unk>", then the types in sorted order.  Rarer training words
    and unknown query words become "<unk>".  "<s>" is not in V: it is only
    ever context, never predicted.
Padding : every sentence gets n-1 "<s>" in front and one "</s>" at the end;
    every token and the final "</s>" is predicted, so an n-gram never crosses
    a sentence boundary.
Context : logprob(w, context) keeps the last n-1 tokens of `context` and
    left-pads a shorter one with "<s>".  An order-1 model has an empty context
    (whatever is passed is ignored).
Counts : c(h, w) counts the n-grams that end on a predicted token;
    c(h) = sum_w c(h, w).  The continuation count of a lower-order n-gram,
    N1+(. h w), is the number of distinct tokens seen immediately to its left
    in the padded training data (a "<s>" counts as a left neighbour).

Smoothings (h' = h without its oldest token)
--------------------------------------------
"mle" : P(w|h) = c(h, w) / c(h).  An unseen context (c(h) = 0) falls back to
    the MLE of the next lower order, with raw counts, down to the unigram
    c(w) / N over V (</s> included).  A word never seen after its context gets
    probability 0: logprob = -inf and perplexity = inf.  That is the
    zero-probability problem the other two smoothings solve.
"add_k" : P(w|h) = (c(h, w) + k) / (c(h) + k|V|) at the highest order only,
    with raw counts (k = 1 is Laplace).  An unseen context gives 1/|V|.
"kneser_ney" : interpolated Kneser-Ney (Chen & Goodman 1998; Jurafsky &
    Martin, SLP3 ch. 3) with one absolute discount d,
        P_m(w|h) = max(c_m(h, w) - d, 0) / c_m(h)
                   + d * N1+(h .) / c_m(h) * P_{m-1}(w|h'),
    where c_m is the raw count at the highest order m = n and the
    continuation count N1+(. h w) at every lower order, c_m(h) = sum_w c_m(h, w),
    and N1+(h .) = number of distinct w with c_m(h, w) > 0.  A context unseen
    at order m backs off entirely: P_m(w|h) = P_{m-1}(w|h').  The recursion
    ends at P_0(w) = 1/|V|, so every word of V, even <unk>, gets mass.
For every context, seen or not, sum_{w in V} P(w|h) = 1 (for all three).

Perplexity = exp(-(1/N) sum log P(w_t | h_t)) over all N predicted tokens of
the sentences, each "</s>" included; logs are natural.

Counting is vectorised.  Tokens become ids (0..|V|-1, and <s> = |V|).  A
context of length L gets a dense id built from the right:
    id_L = index of (id_{L-1} * (|V|+1) + token at distance L)
in a sorted table of such keys, so a context and all its shorter suffixes are
looked up together; an n-gram is the integer id_{m-1} * |V| + w, and
np.unique counts them all at once.
"""
import itertools

import numpy as np

from minillm.checks import check_choice, check_int, check_number, check_rng

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SMOOTHINGS = ("mle", "add_k", "kneser_ney")


def _check_sentences(name, sentences):
    """sentences must be a non-empty list of token lists (tokens are str)."""
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TypeError(f"{name} must be a list of token lists, got a {type(sentences).__name__}")
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str) or not isinstance(sentence, (list, tuple)):
            raise TypeError(
                f"{name}[{i}] must be a list of tokens, got a {type(sentence).__name__} "
                "(use s.split() for words or list(s) for characters)"
            )
    flat = list(itertools.chain.from_iterable(sentences))
    if not all(isinstance(token, str) for token in flat):
        bad = next(token for token in flat if not isinstance(token, str))
        raise TypeError(f"{name} must hold str tokens, got {bad!r}")
    for special in (BOS, EOS):
        if special in flat:
            raise ValueError(f"{name} must not contain {special!r}: padding is added by the model")
    return flat


def _check_context(context):
    if isinstance(context, str) or not isinstance(context, (list, tuple)):
        raise TypeError(f"context must be a list of tokens, got a {type(context).__name__}")
    bad = [token for token in context if not isinstance(token, str)]
    if bad:
        raise TypeError(f"context must hold str tokens, got {bad[0]!r}")
    return list(context)


class NGramLM:
    """An order-n language model over string tokens; see the module docstring."""

    def __init__(self, order, smoothing="kneser_ney", k=1.0, discount=0.75, min_count=1):
        check_int("order", order, low=1)
        check_choice("smoothing", smoothing, SMOOTHINGS)
        check_number("k", k, low=0, low_open=True)
        check_number("discount", discount, low=0, high=1, low_open=True, high_open=True)
        check_int("min_count", min_count, low=1)
        self.order, self.smoothing = order, smoothing
        self.k, self.discount, self.min_count = float(k), float(discount), min_count
        self.vocab = None

    def __repr__(self):
        size = "unfitted" if self.vocab is None else f"|V|={len(self.vocab)}"
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r}, {size})"

    # ---------------------------------------------------------------- encoding
    def _encode(self, tokens):
        """str tokens -> ids; unknown words -> <unk>; "<s>" -> the context-only id |V|."""
        words = np.array(tokens, dtype=str) if len(tokens) else np.zeros(0, dtype=str)
        pos = np.searchsorted(self._sorted_words, words).clip(0, len(self._sorted_words) - 1)
        known = self._sorted_words[pos] == words
        ids = np.where(known, self._sorted_ids[pos], self._unk)
        return np.where(words == BOS, self._bos, ids)

    def _pad(self, sentences, flat):
        """Padded id stream (n-1 <s>, tokens, </s> per sentence) and the predicted positions."""
        n = self.order
        lengths = np.array([len(s) for s in sentences], dtype=np.int64)    # (S,)
        starts = np.concatenate([[0], np.cumsum(lengths + n)[:-1]])        # (S,) where each padded sentence starts
        stream = np.full(int((lengths + n).sum()), self._bos, dtype=np.int64)
        sentence_of = np.repeat(np.arange(len(sentences)), lengths)        # (N_tok,)
        offset = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        stream[starts[sentence_of] + (n - 1) + offset] = self._encode(flat)
        stream[starts + (n - 1) + lengths] = self._eos
        predicted = np.flatnonzero(stream != self._bos)                    # tokens and every </s>
        return stream, predicted

    def _context_ids(self, contexts):
        """contexts (Q, n-1), oldest token first -> [id_0, id_1, .., id_{n-1}], each (Q,), -1 = unseen."""
        Q = contexts.shape[0]
        ids = [np.zeros(Q, dtype=np.int64)]
        for L in range(1, self.order):
            table = self._ctx_keys[L]
            # id_L = position of (id_{L-1} * (|V|+1) + token L steps back) in the sorted table
            # $$ \mathrm{id}_L = \operatorname{index}_{\mathrm{table}_L}\left(\mathrm{id}_{L-1} \cdot (|V| + 1) + w_{t-L}\right) $$
            key = np.maximum(ids[-1], 0) * self._B + contexts[:, self.order - 1 - L]
            pos = np.searchsorted(table, key).clip(0, len(table) - 1)
            found = (ids[-1] >= 0) & (table[pos] == key)
            ids.append(np.where(found, pos, -1))
        return ids

    def _lookup(self, m, ctx_id, w, counts):
        """counts[m] of the m-gram (context id_{m-1}, w); 0 where absent."""
        keys = self._keys[m]
        key = np.maximum(ctx_id, 0) * self._V + w
        pos = np.searchsorted(keys, key).clip(0, len(keys) - 1)
        hit = (ctx_id >= 0) & (keys[pos] == key)
        return np.where(hit, counts[m][pos], 0.0)

    # --------------------------------------------------------------- training
    def fit(self, sentences):
        """Count every n-gram of `sentences` (a list of token lists). Returns self."""
        flat = _check_sentences("sentences", sentences)
        if len(flat) == 0:
            raise ValueError(f"sentences must contain at least one token, got {len(sentences)} empty sentences")
        n = self.order
        types, type_counts = np.unique(np.array(flat, dtype=str), return_counts=True)
        kept = types[(type_counts >= self.min_count) & (types != UNK)]
        self.vocab = [EOS, UNK] + kept.tolist()
        self._V, self._eos, self._unk = len(self.vocab), 0, 1
        self._bos, self._B = self._V, self._V + 1            # <s> is an id outside V: context only
        order_ = np.argsort(np.array(self.vocab, dtype=str))
        self._sorted_words = np.array(self.vocab, dtype=str)[order_]
        self._sorted_ids = order_.astype(np.int64)

        stream, p = self._pad(sentences, flat)
        w = stream[p]                                        # (P,) predicted tokens
        # context ids for every predicted position, L = 0 .. n-1 tokens back
        self._ctx_keys = [np.zeros(1, dtype=np.int64)]
        ctx = [np.zeros(len(p), dtype=np.int64)]
        for L in range(1, n):
            key = ctx[-1] * self._B + stream[p - L]
            table, inverse = np.unique(key, return_inverse=True)
            self._ctx_keys.append(table)
            ctx.append(inverse.reshape(-1))
        # the m-gram ending at each predicted position, as one integer: id_{m-1} * |V| + w
        # $$ \mathrm{event}_m = \mathrm{id}_{m-1} \cdot |V| + w $$
        event = [None] + [ctx[m - 1] * self._V + w for m in range(1, n + 1)]

        self._keys, self._raw, self._cont = {}, {}, {}
        self._raw_total, self._cont_total, self._types = {}, {}, {}
        for m in range(1, n + 1):
            keys, raw = np.unique(event[m], return_counts=True)
            context_of = keys // self._V
            n_ctx = len(self._ctx_keys[m - 1])
            self._keys[m], self._raw[m] = keys, raw.astype(np.float64)
            # c(h) = sum_w c(h, w)   and   N1+(h .) = #{w : c(h, w) > 0}
            # $$ c(h) = \sum_w c(h, w) \qquad N_{1+}(h\, \bullet) = \left|\{ w : c(h, w) > 0 \}\right| $$
            self._raw_total[m] = np.bincount(context_of, weights=raw, minlength=n_ctx)
            self._types[m] = np.bincount(context_of, minlength=n_ctx).astype(np.float64)
            if m < n:
                # N1+(. h w): distinct (m+1)-grams that shorten to the m-gram (h, w)
                # $$ N_{1+}(\bullet\, h\, w) = \left|\{ v : c(v\, h\, w) > 0 \}\right| $$
                _, first = np.unique(event[m + 1], return_index=True)
                cont_keys, cont = np.unique(event[m][first], return_counts=True)
                assert np.array_equal(cont_keys, keys)       # same m-grams, each has a left neighbour
                self._cont[m] = cont.astype(np.float64)
                self._cont_total[m] = np.bincount(context_of, weights=cont, minlength=n_ctx)
        return self

    def _check_fitted(self):
        if self.vocab is None:
            raise ValueError("this NGramLM is not fitted yet: call .fit(sentences) first")

    # ------------------------------------------------------------ probability
    def _probs(self, contexts, w):
        """P(w | context) for a batch: contexts (Q, n-1) ids, w (Q,) ids in V -> (Q,)."""
        n, V = self.order, self._V
        ids = self._context_ids(contexts)
        if self.smoothing == "mle":
            # the longest seen context wins: P = c(h, w) / c(h)
            # $$ P(w \mid h) = \frac{c(h, w)}{c(h)} \quad \text{for the longest context } h \text{ with } c(h) > 0 $$
            p = np.zeros(len(w))
            for m in range(1, n + 1):
                seen = ids[m - 1] >= 0
                c = self._lookup(m, ids[m - 1], w, self._raw)
                total = self._raw_total[m][np.maximum(ids[m - 1], 0)]
                p = np.where(seen, c / np.where(seen, total, 1.0), p)
            return p
        if self.smoothing == "add_k":
            # P = (c(h, w) + k) / (c(h) + k|V|); an unseen context has c = c(h) = 0 -> 1/|V|
            # $$ P(w \mid h) = \frac{c(h, w) + k}{c(h) + k|V|} \qquad c(h) = 0:\ P(w \mid h) = \frac{1}{|V|} $$
            c = self._lookup(n, ids[n - 1], w, self._raw)
            total = np.where(ids[n - 1] >= 0, self._raw_total[n][np.maximum(ids[n - 1], 0)], 0.0)
            return (c + self.k) / (total + self.k * V)
        return self.kneser_ney_probs(ids, w)

    # interpolated Kneser-Ney, from the uniform distribution P_0(w) = 1/|V| upwards, m = 1 .. n:
    #   P_m(w | h) = max(c(h, w) - d, 0) / c(h) + d N1+(h .) / c(h) * P_{m-1}(w | h')     h seen
    #   P_m(w | h) = P_{m-1}(w | h')                                                     h unseen
    # h' is h without its oldest token; c are raw counts for the highest order m = n and
    # continuation counts N1+(. h w) (distinct left neighbours) for every lower order.
    # $$ P_0(w) = \frac{1}{|V|} $$
    # $$ P_m(w \mid h) = \begin{cases} \frac{\max(c(h, w) - \delta,\ 0)}{c(h)} + \frac{\delta\, N_{1+}(h\, \bullet)}{c(h)}\, P_{m-1}(w \mid h') & h \text{ seen} \\ P_{m-1}(w \mid h') & h \text{ unseen} \end{cases} \qquad m = 1, \dots, n $$
    # $$ c(h, w) = \begin{cases} \text{raw count} & m = n \\ N_{1+}(\bullet\, h\, w) & m < n \end{cases} \qquad c(h) = \sum_w c(h, w) $$
    def kneser_ney_probs(self, ids, w):
        """P_KN(w | context) for a batch: ids from _context_ids (one (Q,) array per order), w (Q,) -> (Q,)."""
        ### BEGIN SOLUTION
        n, V = self.order, self._V
        d = self.discount
        p = np.full(len(w), 1.0 / V)                         # P_0(w) = 1/|V|
        for m in range(1, n + 1):
            counts, totals = (self._raw, self._raw_total) if m == n else (self._cont, self._cont_total)
            seen = ids[m - 1] >= 0
            h = np.maximum(ids[m - 1], 0)
            c = self._lookup(m, ids[m - 1], w, counts)
            total = np.where(seen, totals[m][h], 1.0)
            # P_m = max(c - d, 0)/c(h) + d N1+(h .)/c(h) * P_{m-1};  unseen h: P_m = P_{m-1}
            p = np.where(seen, np.maximum(c - d, 0.0) / total + d * self._types[m][h] / total * p, p)
        ### END SOLUTION
        return p

    def _context_array(self, context):
        """A token list -> (1, n-1) ids: the last n-1 tokens, left-padded with <s>."""
        context = _check_context(context)
        n = self.order
        context = [BOS] * (n - 1) + context                  # left-pad, then keep the last n-1
        context = context[len(context) - (n - 1):]
        return self._encode(context).reshape(1, n - 1)

    def prob_distribution(self, context=()):
        """P(. | context) as a (|V|,) vector in the order of self.vocab; sums to 1."""
        self._check_fitted()
        contexts = np.repeat(self._context_array(context), self._V, axis=0)   # (V, n-1)
        return self._probs(contexts, np.arange(self._V))

    def logprob(self, word, context=()):
        """Natural log of P(word | context); unknown words score as <unk>."""
        self._check_fitted()
        if not isinstance(word, str):
            raise TypeError(f"word must be a str token, got {word!r}")
        if word == BOS:
            raise ValueError("word must be in the vocabulary V, got '<s>' (it is only ever context)")
        w = self._encode([word])
        with np.errstate(divide="ignore"):
            return float(np.log(self._probs(self._context_array(context), w))[0])

    def token_logprobs(self, sentences):
        """log P of every predicted token of `sentences` (each </s> included), in order: (N,)."""
        self._check_fitted()
        flat = _check_sentences("sentences", sentences)
        if len(sentences) == 0:
            raise ValueError("sentences must hold at least one sentence, got an empty list")
        n = self.order
        stream, p = self._pad(sentences, flat)
        contexts = np.stack([stream[p - L] for L in range(n - 1, 0, -1)], axis=1) if n > 1 \
            else np.zeros((len(p), 0), dtype=np.int64)       # (N, n-1), oldest first
        with np.errstate(divide="ignore"):
            return np.log(self._probs(contexts, stream[p]))

    def perplexity(self, sentences):
        """exp of the mean negative log-probability per predicted token (</s> included)."""
        return float(np.exp(-np.mean(self.token_logprobs(sentences))))

    def count(self, ngram):
        """Raw count c(w_1 .. w_m) of an m-gram (m <= order) ending on a predicted token."""
        self._check_fitted()
        ngram = _check_context(ngram)
        if not 1 <= len(ngram) <= self.order:
            raise ValueError(f"ngram must hold 1 to {self.order} tokens, got {len(ngram)}")
        m = len(ngram)
        ids = self._encode(ngram)
        contexts = np.concatenate([np.full(self.order - m, self._bos), ids[:-1]]).reshape(1, -1)
        ctx_id = self._context_ids(contexts)[m - 1]
        return int(self._lookup(m, ctx_id, ids[-1:], self._raw)[0])

    # ------------------------------------------------------------- generation
    def generate(self, context=(), n=20, rng=None):
        """Sample n tokens after `context`; after a sampled </s> a new sentence starts."""
        self._check_fitted()
        check_int("n", n, low=0)
        check_rng("rng", rng)
        history, out = _check_context(context), []
        for _ in range(n):
            p = self.prob_distribution(history)
            word = self.vocab[rng.choice(self._V, p=p / p.sum())]
            out.append(word)
            history = [] if word == EOS else history + [word]
        return out
