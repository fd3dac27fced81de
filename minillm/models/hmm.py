"""Discrete hidden Markov model: the article's §1, "隐马尔可夫模型（HMM）".

n_s hidden states s_t, n_o observable symbols o_t (ids 0..n_o-1), a sequence o_1 .. o_T
(the symbols of docs/NOTATION.md):

    pi (n_s,)        pi_i   = P(s_1 = i)
    A  (n_s, n_s)    A_ij   = P(s_{t+1} = j | s_t = i)      rows sum to 1   (A^hmm in NOTATION.md)
    B  (n_s, n_o)    Phi_ik = P(o_t = k | s_t = i)          rows sum to 1

The attribute and argument are called `B` (the classic Rabiner name, kept so no caller
breaks); the notebooks and NOTATION.md call the emission matrix Phi, because B is the
batch size everywhere else in minillm.

Forward variable alpha_t(i) = P(o_1 .. o_t, s_t = i); backward variable
beta_t(i) = P(o_{t+1} .. o_T | s_t = i), with sum_i alpha_t(i) beta_t(i) = P(o_1 .. o_T)
at every t (notebook 02 checks it against brute-force enumeration).

Forward and backward are scaled (Rabiner 1989): each alpha_t is normalised to
sum to 1 and the scale c_t = P(o_t | o_1..o_{t-1}) is kept, so

    log P(o_1 .. o_T) = sum_t log c_t

with no underflow on long sequences.  Viterbi works in log space.  Baum-Welch
is plain EM (no pseudo-counts), so the log-likelihood never decreases.

One surface shared with every minillm LM: logprob(symbol, context),
prob_distribution(context), perplexity(sequences), generate(context, n, rng).
As a tagger: states = tags, symbols = word ids, HMM.from_tagged counts the
parameters from tagged sentences and viterbi(words) returns the tags.
Derived in notebooks/02_hmm.ipynb; pinned by tests/test_hmm.py.
"""
import numpy as np

from minillm.checks import check_int, check_number, check_rng

_ROW_TOL = 1e-6


def _check_stochastic(name, M, shape):
    """M must be a finite non-negative float array of `shape` whose last axis sums to 1."""
    try:
        M = np.array(M, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of probabilities, got {type(M).__name__}") from None
    if M.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {M.shape}")
    if not np.all(np.isfinite(M)) or np.any(M < 0):
        raise ValueError(f"{name} must hold probabilities in [0, 1], got min {np.nanmin(M)}")
    sums = M.sum(axis=-1).reshape(-1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_TOL)
    if bad.size:
        where = f"row {bad[0]}" if M.ndim == 2 else "it"
        raise ValueError(f"{name} rows must sum to 1, but {where} sums to {sums[bad[0]]:.6g}")
    return M


class HMM:
    """A discrete HMM with parameters pi (n_s,), A (n_s, n_s), B = Phi (n_s, n_o); see the module docstring."""

    def __init__(self, pi, A, B):
        pi, B = np.asarray(pi), np.asarray(B)
        if pi.ndim != 1 or pi.size == 0:
            raise ValueError(f"pi must be a non-empty 1-D vector of start probabilities, got shape {pi.shape}")
        S = len(pi)
        if B.ndim != 2:
            raise ValueError(f"B must be a (states, symbols) matrix, got shape {B.shape}")
        self.pi = _check_stochastic("pi", pi, (S,))
        self.A = _check_stochastic("A", A, (S, S))
        self.B = _check_stochastic("B", B, (S, B.shape[1]))
        self.history = []

    @property
    def n_states(self):
        return self.A.shape[0]

    @property
    def n_symbols(self):
        return self.B.shape[1]

    def __repr__(self):
        return f"HMM(n_states={self.n_states}, n_symbols={self.n_symbols})"

    @classmethod
    def random(cls, n_states, n_symbols, rng):
        """Rows drawn from a flat Dirichlet: a random starting point for Baum-Welch."""
        check_int("n_states", n_states, low=1)
        check_int("n_symbols", n_symbols, low=1)
        check_rng("rng", rng)
        return cls(rng.dirichlet(np.ones(n_states)),
                   rng.dirichlet(np.ones(n_states), size=n_states),
                   rng.dirichlet(np.ones(n_symbols), size=n_states))

    @classmethod
    def from_tagged(cls, state_seqs, obs_seqs, n_states, n_symbols, alpha=0.1):
        """Supervised estimate from paired (tags, words) id sequences, add-alpha smoothed:
        pi_i = (#starts in i + alpha) / (#seqs + S alpha), A and B likewise per row."""
        check_int("n_states", n_states, low=1)
        check_int("n_symbols", n_symbols, low=1)
        check_number("alpha", alpha, low=0, low_open=True)
        if len(state_seqs) != len(obs_seqs) or len(state_seqs) == 0:
            raise ValueError(f"state_seqs and obs_seqs must be non-empty and of equal length, "
                             f"got {len(state_seqs)} and {len(obs_seqs)}")
        starts, trans, emit = np.zeros(n_states), np.zeros((n_states, n_states)), np.zeros((n_states, n_symbols))
        for i, (z, o) in enumerate(zip(state_seqs, obs_seqs)):
            z = _check_obs(f"state_seqs[{i}]", z, n_states)
            o = _check_obs(f"obs_seqs[{i}]", o, n_symbols)
            if len(z) != len(o):
                raise ValueError(f"state_seqs[{i}] and obs_seqs[{i}] must have equal lengths, "
                                 f"got {len(z)} and {len(o)}")
            starts[z[0]] += 1
            np.add.at(trans, (z[:-1], z[1:]), 1)
            np.add.at(emit, (z, o), 1)
        normalise = lambda c: (c + alpha) / (c + alpha).sum(axis=-1, keepdims=True)  # noqa: E731
        return cls(normalise(starts), normalise(trans), normalise(emit))

    # ------------------------------------------------------------ inference
    def _obs(self, obs, name="obs"):
        return _check_obs(name, obs, self.n_symbols)

    # alpha_1 = pi * Phi[:, o_1];  alpha_t = (alpha_hat_{t-1} A) * Phi[:, o_t]      (Phi is self.B)
    # c_t = sum_i alpha_t(i);    alpha_hat_t = alpha_t / c_t
    # $$ \alpha_1(j) = \pi_j\, \Phi_{j o_1}, \qquad \alpha_t(j) = \left[\sum_i \hat{\alpha}_{t-1}(i)\, A^{\text{hmm}}_{ij}\right] \Phi_{j o_t} $$
    # $$ c_t = \sum_i \alpha_t(i), \qquad \hat{\alpha}_t = \frac{\alpha_t}{c_t} $$
    def forward(self, obs, name="obs"):
        """Scaled forward pass -> alpha_hat (T, n_s), log_c (T,); log P(obs) = log_c.sum()."""
        o = self._obs(obs, name)
        ### BEGIN SOLUTION
        T, S = len(o), self.n_states
        alpha_hat, log_c = np.zeros((T, S)), np.full(T, -np.inf)
        a = self.pi * self.B[:, o[0]]                                  # (S,)
        for t in range(T):
            if t > 0:
                a = (alpha_hat[t - 1] @ self.A) * self.B[:, o[t]]       # (S,)
            c = a.sum()
            if c == 0.0:                                               # obs impossible from here on
                break
            alpha_hat[t], log_c[t] = a / c, np.log(c)
        ### END SOLUTION
        return alpha_hat, log_c

    # beta_T = 1;  beta_t(i) = sum_j A_ij Phi_j(o_{t+1}) beta_{t+1}(j)          (unscaled)
    # beta_hat_T = 1;  beta_hat_t = A (Phi[:, o_{t+1}] * beta_hat_{t+1}) / c_{t+1}
    #   so beta_hat_t = beta_t / prod_{u>t} c_u, and gamma_t = alpha_hat_t * beta_hat_t
    # $$ \beta_T = 1, \qquad \beta_t(i) = \sum_j A^{\text{hmm}}_{ij}\, \Phi_{j o_{t+1}}\, \beta_{t+1}(j) \quad \text{(unscaled)} $$
    # $$ \hat{\beta}_T = 1, \qquad \hat{\beta}_t(i) = \frac{1}{c_{t+1}} \sum_j A^{\text{hmm}}_{ij}\, \Phi_{j o_{t+1}}\, \hat{\beta}_{t+1}(j) $$
    # $$ \hat{\beta}_t = \frac{\beta_t}{\prod_{u > t} c_u}, \qquad \gamma_t = \hat{\alpha}_t \odot \hat{\beta}_t $$
    def backward(self, obs, log_c):
        """Scaled backward pass with the forward's scales log_c (from forward) -> beta_hat (T, n_s).

        beta_hat_t = beta_t / prod_{u>t} c_u, where beta_t(i) = P(o_{t+1} .. o_T | s_t = i)."""
        o = self._obs(obs)
        c = np.exp(log_c)
        beta_hat = np.ones((len(o), self.n_states))
        for t in range(len(o) - 2, -1, -1):
            beta_hat[t] = self.A @ (self.B[:, o[t + 1]] * beta_hat[t + 1]) / c[t + 1]
        return beta_hat

    def log_likelihood(self, obs):
        """log P(o_1 .. o_T), natural log; -inf if the sequence is impossible."""
        return float(self.forward(obs)[1].sum())

    def _estep(self, o):
        """Posteriors of one sequence: gamma (T, n_s), xi summed over t (n_s, n_s), log P."""
        alpha_hat, log_c = self.forward(o)
        if np.isneginf(log_c[-1]):
            raise ValueError("obs has probability 0 under this HMM: posteriors are undefined")
        beta_hat = self.backward(o, log_c)
        # gamma_t(i) = P(s_t = i | O) = alpha_hat_t(i) beta_hat_t(i)
        # $$ \gamma_t(i) = P(s_t = i \mid O) = \hat{\alpha}_t(i)\, \hat{\beta}_t(i) $$
        gamma = alpha_hat * beta_hat                                   # (T, S)
        # sum_t xi_t(i, j) = sum_t alpha_hat_t(i) A_ij Phi_j(o_{t+1}) beta_hat_{t+1}(j) / c_{t+1}
        # $$ \sum_t \xi_t(i, j) = \sum_t \frac{\hat{\alpha}_t(i)\, A^{\text{hmm}}_{ij}\, \Phi_{j o_{t+1}}\, \hat{\beta}_{t+1}(j)}{c_{t+1}} $$
        right = self.B[:, o[1:]].T * beta_hat[1:] / np.exp(log_c[1:])[:, None]   # (T-1, S)
        xi_sum = self.A * (alpha_hat[:-1].T @ right)                   # (S, S)
        return gamma, xi_sum, float(log_c.sum())

    def posteriors(self, obs):
        """gamma (T, n_s): P(s_t = i | o_1 .. o_T); each row sums to 1."""
        return self._estep(self._obs(obs))[0]

    # delta_1 = log pi + log Phi[:, o_1]
    # delta_t(j) = max_i (delta_{t-1}(i) + log A_ij) + log Phi_j(o_t),  psi_t(j) = argmax_i
    # $$ \delta_1(j) = \log \pi_j + \log \Phi_{j o_1} $$
    # $$ \delta_t(j) = \max_i \left(\delta_{t-1}(i) + \log A^{\text{hmm}}_{ij}\right) + \log \Phi_{j o_t}, \qquad \psi_t(j) = \operatorname{argmax}_i \left(\delta_{t-1}(i) + \log A^{\text{hmm}}_{ij}\right) $$
    def viterbi(self, obs):
        """Most probable state path -> (path (T,) ints, log P(path, obs))."""
        o = self._obs(obs)
        ### BEGIN SOLUTION
        with np.errstate(divide="ignore"):
            log_pi, log_A, log_B = np.log(self.pi), np.log(self.A), np.log(self.B)
        T, S = len(o), self.n_states
        psi = np.zeros((T, S), dtype=np.int64)
        delta = log_pi + log_B[:, o[0]]                                # (S,)
        for t in range(1, T):
            scores = delta[:, None] + log_A                            # (S, S): from i to j
            psi[t] = scores.argmax(axis=0)
            delta = scores[psi[t], np.arange(S)] + log_B[:, o[t]]
        path = np.zeros(T, dtype=np.int64)
        path[-1] = delta.argmax()
        for t in range(T - 1, 0, -1):
            path[t - 1] = psi[t, path[t]]
        ### END SOLUTION
        return path, float(delta.max())

    # ---------------------------------------------------------- Baum-Welch
    def fit(self, sequences, n_iter=10):
        """Baum-Welch EM on a list of symbol sequences.  Returns self; self.history holds the
        total log-likelihood before each iteration and after the last (n_iter + 1 values)."""
        check_int("n_iter", n_iter, low=0)
        if isinstance(sequences, np.ndarray) and sequences.ndim == 1:
            sequences = [sequences]
        if len(sequences) == 0:
            raise ValueError("sequences must hold at least one observation sequence, got none")
        seqs = [_check_obs(f"sequences[{i}]", s, self.n_symbols) for i, s in enumerate(sequences)]
        S, K = self.n_states, self.n_symbols
        self.history = []
        for _ in range(n_iter + 1):
            pi_num, A_num, B_num, total = np.zeros(S), np.zeros((S, S)), np.zeros((S, K)), 0.0
            A_den = np.zeros(S)
            for o in seqs:
                gamma, xi_sum, ll = self._estep(o)
                total += ll
                pi_num += gamma[0]
                A_num += xi_sum
                A_den += gamma[:-1].sum(axis=0)
                np.add.at(B_num.T, o, gamma)                           # Phi numerator: B_num[i, o_t] += gamma_t(i)
            self.history.append(total)
            if len(self.history) == n_iter + 1:
                break
            # M-step: pi = E[start], A_ij = E[i -> j] / E[leave i], Phi_ik = E[emit k in i] / E[in i]
            # (a state never visited keeps its old row: it does not change the likelihood)
            # $$ \pi_i = \frac{1}{n_\text{seq}} \sum_\text{seqs} \gamma_1(i), \qquad A^{\text{hmm}}_{ij} = \frac{\sum_\text{seqs} \sum_t \xi_t(i, j)}{\sum_\text{seqs} \sum_{t < T} \gamma_t(i)}, \qquad \Phi_{ik} = \frac{\sum_\text{seqs} \sum_{t:\ o_t = k} \gamma_t(i)}{\sum_\text{seqs} \sum_t \gamma_t(i)} $$
            self.pi = pi_num / len(seqs)
            has_A, B_den = A_den > 0, B_num.sum(axis=1)
            self.A[has_A] = A_num[has_A] / A_den[has_A, None]
            self.B[B_den > 0] = B_num[B_den > 0] / B_den[B_den > 0, None]
        return self

    # ------------------------------------------------------ the LM surface
    def sample(self, T, rng):
        """Draw (states (T,), symbols (T,)) from the model."""
        check_int("T", T, low=1)
        check_rng("rng", rng)
        z, o = np.zeros(T, dtype=np.int64), np.zeros(T, dtype=np.int64)
        z[0] = rng.choice(self.n_states, p=self.pi)
        for t in range(T):
            if t > 0:
                z[t] = rng.choice(self.n_states, p=self.A[z[t - 1]])
            o[t] = rng.choice(self.n_symbols, p=self.B[z[t]])
        return z, o

    def _next_state(self, context):
        """P(s_{t+1} | o_1 .. o_t) (n_s,): pi for an empty context, else alpha_hat_t A."""
        if len(context) == 0:
            return self.pi.copy()
        alpha_hat, log_c = self.forward(context, name="context")
        if np.isneginf(log_c[-1]):
            raise ValueError("context has probability 0 under this HMM")
        return alpha_hat[-1] @ self.A

    def prob_distribution(self, context=()):
        """P(o_{t+1} = . | o_1 .. o_t) as a (n_o,) vector (belief times Phi); sums to 1."""
        return self._next_state(context) @ self.B

    def logprob(self, symbol, context=()):
        """log P(o_{t+1} = symbol | context), natural log."""
        check_int("symbol", symbol, low=0, high=self.n_symbols - 1)
        with np.errstate(divide="ignore"):
            return float(np.log(self.prob_distribution(context)[symbol]))

    def perplexity(self, sequences):
        """exp(-sum log P(sequence) / total number of symbols)."""
        if isinstance(sequences, np.ndarray) and sequences.ndim == 1:
            sequences = [sequences]
        if len(sequences) == 0:
            raise ValueError("sequences must hold at least one observation sequence, got none")
        total = sum(self.log_likelihood(s) for s in sequences)
        return float(np.exp(-total / sum(len(s) for s in sequences)))

    def generate(self, context=(), n=20, rng=None):
        """Sample n symbols that continue `context` (filtered state belief, then the chain)."""
        check_int("n", n, low=0)
        check_rng("rng", rng)
        out = np.zeros(n, dtype=np.int64)
        belief = self._next_state(context)
        for t in range(n):
            z = rng.choice(self.n_states, p=belief / belief.sum())
            out[t] = rng.choice(self.n_symbols, p=self.B[z])
            belief = self.A[z]
        return out


def _check_obs(name, obs, n_symbols):
    """obs must be a non-empty 1-D integer sequence with values in [0, n_symbols)."""
    o = np.asarray(obs)
    if o.ndim != 1 or o.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of symbol ids, got shape {o.shape}")
    if o.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a sequence of integer symbol ids, got dtype {o.dtype}")
    lo, hi = int(o.min()), int(o.max())
    if lo < 0 or hi >= n_symbols:
        raise ValueError(f"{name} must hold symbols of the alphabet [0, {n_symbols}), got {lo if lo < 0 else hi}")
    return o.astype(np.int64)
