"""Dropout: randomly silence activations while training (a regulariser the article omits).

Inverted dropout keeps each element with probability 1 - p and divides the kept
ones by 1 - p, so the expected output equals the input and nothing has to be
rescaled at evaluation time, where dropout is the identity.

    mask ~ Bernoulli(1 - p)          out = x * mask / (1 - p)

Randomness comes only from the `rng` argument (a numpy.random.Generator): the same
seed gives the same mask.

Derived in notebooks/10_transformer_block.ipynb, section 9 (train vs eval, and the
expectation check: the mean over many masks equals x within 4 standard errors).
"""
from minillm.checks import check_float_array, check_number, check_rng


# ---------------------------------------------------------------------------
#   keep_j = [u_j >= p],  u_j ~ Uniform[0, 1)        (so P(keep_j) = 1 - p)
#   out_j  = x_j * keep_j / (1 - p)
#   x (...)  ->  out (...)
# training=False or p = 0: out = x (no rng needed).
# ---------------------------------------------------------------------------
# $$ \mathrm{keep}_j = \mathbb{1}[u_j \ge p], \quad u_j \sim \mathrm{Uniform}[0, 1) \qquad \left(\Pr(\mathrm{keep}_j = 1) = 1 - p\right) $$
# $$ \mathrm{out}_j = \frac{x_j \, \mathrm{keep}_j}{1 - p} \qquad \left(\mathrm{out} = x \text{ when training is off or } p = 0\right) $$
def dropout_forward(x, *, p, rng, training=True):
    check_float_array("x", x)
    check_number("p", p, low=0.0, high=1.0, high_open=True)
    if not isinstance(training, bool):
        raise TypeError(f"training must be True or False, got {training!r}")
    if not training or p == 0:
        cache = None
        return x.copy(), cache
    check_rng("rng", rng)
    keep = rng.random(x.shape) >= p                  # (...) bool
    ### BEGIN SOLUTION
    scale = 1.0 / (1.0 - p)
    out = x * keep * scale
    ### END SOLUTION
    cache = (keep, scale)
    return out, cache


# dx = dout * keep / (1 - p)        (identity when dropout was off)
# $$ \frac{\partial \mathcal{L}}{\partial x_j} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}_j} \, \frac{\mathrm{keep}_j}{1 - p} \qquad \left(\frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \text{ when dropout was off}\right) $$
def dropout_backward(dout, cache):
    if cache is None:
        # out = x
        return dout.copy()
    keep, scale = cache
    ### BEGIN SOLUTION
    # out = x * keep * scale: the same mask and scale gate the gradient
    return dout * keep * scale
    ### END SOLUTION
