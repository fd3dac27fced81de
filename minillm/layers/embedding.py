"""Token embedding: the article's word vectors v_i and inputs x_t (§2.2, §4.1).

An embedding is a table E with one row of C numbers per vocabulary entry; looking
a token up is reading its row:

    x_t = E[token_t]          E (V, C),  ids (...)  ->  out (..., C)

The lookup equals one_hot(token_t) @ E, which is how its gradient is derived:
every occurrence of token v sends its dout row back to row v of dE.

Derived in notebooks/05_embedding_positional_encoding.ipynb (sections 2-4; gradient check in section 8).
"""
import numpy as np

from minillm.checks import check_float_array, check_int_array


# ---------------------------------------------------------------------------
# out[..., :] = E[ids[...], :]
#   ids (...) integer in [0, V),  E (V, C)  ->  out (..., C)
# ---------------------------------------------------------------------------
# $$ \mathrm{out}[p, :] = E[\mathrm{ids}[p], :] \qquad \text{for every position } p $$
def embedding_forward(ids, E):
    check_float_array("E", E, ndim=2)
    V = E.shape[0]
    check_int_array("ids", ids, high=V)
    ### BEGIN SOLUTION
    out = E[ids]                                    # (..., C)
    ### END SOLUTION
    cache = (ids, E.shape, E.dtype)
    return out, cache


# dE[v, :] = sum over all positions p with ids[p] == v of dout[p, :]        (V, C)
# (ids are integers: they get no gradient; the contract returns dE alone)
# $$ \frac{\partial \mathcal{L}}{\partial E[v, :]} = \sum_{p \,:\, \mathrm{ids}[p] = v} \frac{\partial \mathcal{L}}{\partial \mathrm{out}[p, :]} $$
def embedding_backward(dout, cache):
    ids, E_shape, E_dtype = cache
    V, C = E_shape
    ### BEGIN SOLUTION
    dE = np.zeros(E_shape, dtype=E_dtype)
    # out = E[ids]: a scatter-add, because the same id can appear many times and
    # every appearance contributes (dE[ids] += dout would keep only the last one).
    np.add.at(dE, ids.reshape(-1), dout.reshape(-1, C))
    ### END SOLUTION
    return dE
