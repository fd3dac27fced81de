"""Which implementation of each layer a model calls: the readable NumPy layers or the Numba kernels.

A model's config names its backend ("numpy" or "numba"); the model asks this
module once for a namespace of forward/backward functions and calls
`ops.attention_forward(...)` etc., and hands the same namespace to the block
functions of minillm/layers/block.py (`decoder_block_forward(..., ops=ops)`): the
backend swaps the operations, never the block.  Both backends honour the same contract
(DESIGN.md), and tests/test_kernels_*.py hold every kernel equal to its
NumPy twin, so switching the backend changes speed, not results.

    numpy  every op from minillm.layers
    numba  the same, with the ops that minillm.kernels accelerates swapped in
"""
from types import SimpleNamespace

from minillm import layers

# every op a model may call, by name
OP_NAMES = [
    "linear_forward", "linear_backward",
    "embedding_forward", "embedding_backward",
    "sinusoidal_positional_encoding",
    "rope_forward", "rope_backward",
    "layernorm_forward", "layernorm_backward",
    "rmsnorm_forward", "rmsnorm_backward",
    "dropout_forward", "dropout_backward",
    "attention_forward", "attention_backward",
    "feedforward_forward", "feedforward_backward",
    "swiglu_feedforward_forward", "swiglu_feedforward_backward",
    "cross_entropy_forward", "cross_entropy_backward",
]


def ops_for_backend(backend):
    if backend == "numpy":
        return SimpleNamespace(**{name: getattr(layers, name) for name in OP_NAMES})
    if backend == "numba":
        from minillm import kernels

        ops = {name: getattr(layers, name) for name in OP_NAMES}
        for name in OP_NAMES:
            if hasattr(kernels, name):
                ops[name] = getattr(kernels, name)
        return SimpleNamespace(**ops)
    raise ValueError(f"backend must be 'numpy' or 'numba', got {backend!r}")
