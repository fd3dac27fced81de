"""Initial parameters from a table of shapes: gains 1, biases 0, weights drawn from N(0, std^2).

    shapes  name -> (shape, init), init one of "ones", "zeros" or a kind of weight
            ("normal", "residual", "embedding", ...) that the model's own std() understands
    std     std(shape, init) -> the standard deviation of that weight

The models' param_shapes (gpt.py, seq2seq.py) say which kind each parameter is; the
std() each passes in is its paper's recipe (GPT-2's 0.02, 1/sqrt(fan-in), ...).
The weights are drawn in the table's order from one Generator seeded with `seed`.
"""
import numpy as np


def init_params(shapes, dtype, seed, std):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    params = {}
    for name, (shape, init) in shapes.items():
        if init == "ones":
            params[name] = np.ones(shape, dt)
        elif init == "zeros":
            params[name] = np.zeros(shape, dt)
        else:
            params[name] = (rng.standard_normal(shape) * std(shape, init)).astype(dt)
    return params
