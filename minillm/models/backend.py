"""Which implementation of each layer a model calls: the readable NumPy layers or the Numba kernels.

A model's config names its backend ("numpy" or "numba"); the model asks this
module once for a namespace of forward/backward functions and calls
`ops.attention_forward(...)` etc., and hands the same namespace to the block
functions of minillm/layers/block.py (`decoder_block_forward(..., ops=ops)`): the
backend swaps the operations, never the block.  Both backends honour the same contract
(DESIGN.md), and tests/test_kernels_*.py hold every kernel equal to its
NumPy twin, so switching the backend changes speed, not results.

    numpy  every op from minillm.layers
    numba  the same, with the ops that minillm.kernels accelerates swapped in; it also keeps freed
           memory in the process for reuse (kernels/allocator.py): the fast path allocates the same
           activations at every call, and handing them back to the kernel costs a page fault per 4 KiB
"""
from types import SimpleNamespace

from minillm.layers import NUMPY_OPS

# every op a model may call, by name (the names of layers.NUMPY_OPS)
OP_NAMES = list(vars(NUMPY_OPS))


def ops_for_backend(backend):
    """A fresh namespace of the backend's ops (a copy: a caller may swap an op without touching another model)."""
    if backend == "numpy":
        return SimpleNamespace(**vars(NUMPY_OPS))
    if backend == "numba":
        from minillm import kernels
        from minillm.kernels.allocator import keep_freed_memory

        keep_freed_memory()
        return SimpleNamespace(**{name: getattr(kernels, name, op) for name, op in vars(NUMPY_OPS).items()})
    raise ValueError(f"backend must be 'numpy' or 'numba', got {backend!r}")
