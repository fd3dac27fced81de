"""Linear (fully connected) layer: the weight matrix of the article's §4.1.

Row-vector convention, as everywhere in minillm:

    out = x @ W + b          x (..., d_in), W (d_in, d_out), b (d_out,), out (..., d_out)

Derived in notebooks/08_feedforward.ipynb.
"""

from minillm.checks import check_float_array, check_shape


def check_linear_args(x, W, b):
    """The argument checks of linear_forward (shared with its Numba twin in minillm.kernels)."""
    check_float_array("x", x, min_ndim=1)
    check_float_array("W", W, ndim=2)
    if x.shape[-1] != W.shape[0]:
        raise ValueError(f"x must have last dimension d_in = W.shape[0] = {W.shape[0]}, got shape {x.shape}")
    if b is not None:
        check_float_array("b", b)
        check_shape("b", b, (W.shape[1],), what="(d_out,)")


# out = x W + b
#   x (..., d_in)   W (d_in, d_out)   b (d_out,) or None   ->   out (..., d_out)
# $$ \mathrm{out} = x W + b $$
def linear_forward(x, W, b=None):
    check_linear_args(x, W, b)
    ### BEGIN SOLUTION
    out = x @ W
    if b is not None:
        out = out + b
    ### END SOLUTION
    cache = (x, W, b is not None)
    return out, cache


# dx = dout W^T                       (..., d_in)
# dW = sum over rows of x^T dout      (d_in, d_out)
# db = sum over rows of dout          (d_out,)
# $$ \frac{\partial \mathcal{L}}{\partial x} = \frac{\partial \mathcal{L}}{\partial \mathrm{out}} \, W^\top $$
# $$ \frac{\partial \mathcal{L}}{\partial W} = \sum_{\text{rows } n} x_n^\top \frac{\partial \mathcal{L}}{\partial \mathrm{out}_n} $$
# $$ \frac{\partial \mathcal{L}}{\partial b} = \sum_{\text{rows } n} \frac{\partial \mathcal{L}}{\partial \mathrm{out}_n} $$
def linear_backward(dout, cache):
    x, W, has_bias = cache
    d_in, d_out = W.shape
    ### BEGIN SOLUTION
    # out = x W + b: the gradient flows back through the product ...
    dx = dout @ W.T
    # ... and every row of x met the same W, so their contributions add up.
    x_rows = x.reshape(-1, d_in)
    dout_rows = dout.reshape(-1, d_out)
    dW = x_rows.T @ dout_rows
    db = dout_rows.sum(axis=0) if has_bias else None
    ### END SOLUTION
    return dx, dW, db
