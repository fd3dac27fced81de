"""The layer library: every differentiable layer as an explicit forward/backward pair.

    out, cache = x_forward(in1, in2, ..., *, options)
    d_in1, d_in2, ... = x_backward(dout, cache)

One file per concept; see ../shared/DESIGN.md ("The layer contract").
"""
from minillm.layers.linear import linear_backward, linear_forward
