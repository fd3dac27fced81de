"""Fit the rational tanh used by minillm/kernels/elementwise.py for float32 GELU.

    tanh(x) ~= x P(w) / Q(w),   w = x^2 / X^2,   |x| <= X = 9   (tanh(+-9) rounds to +-1 in float32)
    P of degree 4, Q of degree 4 with Q(0) = 1

Why: Numba's math.tanh is a scalar libm call (PyPI's llvmlite has no SVML), 40x
slower than np.tanh; a rational function is plain multiply-adds and one divide,
which LLVM vectorises, so bias + GELU becomes one pass.

Method: linearised least squares  x P(w) - tanh(x) Q(w) ~ 0  on dense points,
re-weighted by 1/|Q| of the previous round (Sanathanan-Koerner, so the fit
converges to the true relative residual) and by Lawson's multiplicative
weights (which push the least-squares fit towards the minimax one).  The
variable w = x^2 / 81 lies in [0, 1], which keeps the normal equations well
conditioned.  Keeps the best iterate whose Q stays positive (no poles).

    python tools/fit_tanh.py       prints the coefficients and the float32 error
"""
import numpy as np

X = 9.0
DEG_P, DEG_Q = 4, 4


def fit(deg_p=DEG_P, deg_q=DEG_Q, rounds=200):
    x = np.unique(np.concatenate([X * np.sin(np.linspace(0, np.pi / 2, 40001)), np.linspace(0, X, 40001)]))[1:]
    w, y = (x / X) ** 2, np.tanh(x)
    powers_p = w[:, None] ** np.arange(deg_p + 1)
    powers_q = w[:, None] ** np.arange(1, deg_q + 1)
    # unknowns: p_0..p_degp, q_1..q_degq   in   x P(w) - y (Q(w) - 1) = y
    A = np.concatenate([x[:, None] * powers_p, -y[:, None] * powers_q], axis=1)
    lawson = np.full(x.size, 1.0 / x.size)
    Q_prev = np.ones_like(x)
    best_err, best = np.inf, None
    for _ in range(rounds):
        weight = np.sqrt(lawson) / np.abs(Q_prev)
        coef, *_ = np.linalg.lstsq(A * weight[:, None], y * weight, rcond=None)
        p, q = coef[:deg_p + 1], np.concatenate([[1.0], coef[deg_p + 1:]])
        P, Q = powers_p @ p, 1.0 + powers_q @ q[1:]
        err = np.abs(x * P / Q - y)
        if Q.min() > 0 and err.max() < best_err:
            best_err, best = err.max(), (p, q)
        Q_prev = Q
        lawson = lawson * (err / err.max() + 1e-3)
        lawson /= lawson.sum()
    return best_err, best


def tanh_rational_float32(x, p, q):
    """The kernel's evaluation, in NumPy float32: clamp, Horner for P and Q, one divide."""
    x = np.clip(x.astype(np.float32), np.float32(-X), np.float32(X))
    w = x * x * np.float32(1.0 / X**2)
    P = np.float32(p[-1])
    for c in p[-2::-1]:
        P = P * w + np.float32(c)
    Q = np.float32(q[-1])
    for c in q[-2::-1]:
        Q = Q * w + np.float32(c)
    return x * P / Q


def main():
    err64, (p, q) = fit()
    xs = np.linspace(-12, 12, 2_000_001)
    ref = np.tanh(xs)
    err32 = np.abs(tanh_rational_float32(xs, p, q) - ref).max()
    err_np = np.abs(np.tanh(xs.astype(np.float32)) - ref).max()
    print(f"max |rational - tanh|: {err64:.2e} in float64, {err32:.2e} evaluated in float32 "
          f"(np.tanh in float32: {err_np:.2e})")
    print("P =", tuple(float(np.float32(c)) for c in p))
    print("Q =", tuple(float(np.float32(c)) for c in q))


if __name__ == "__main__":
    main()
