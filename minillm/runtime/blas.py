"""How many threads OpenBLAS (NumPy's matrix products) uses, read and changed at run time.

    blas_threads()              OpenBLAS's thread count, or None for another BLAS
    with single_threaded_blas():  every product inside runs on the calling thread alone

Used by minillm/runtime/parallel.py while batch shards run on their own threads.
"""
from contextlib import contextmanager

# NumPy's wheels bundle OpenBLAS, whose thread count can be changed at run time
# through its C API (the environment variable OPENBLAS_NUM_THREADS is read only
# once, at load).  The library is found by minillm/kernels/threads.py, which also
# shortens how long its idle workers spin.  With another BLAS the calls below do
# nothing: still correct, only the threads may compete.


def _openblas():
    from minillm.kernels.threads import openblas   # imported when first needed: it starts Numba

    return openblas()


def blas_threads():
    """OpenBLAS's thread count, or None when NumPy's BLAS is not a recognised OpenBLAS."""
    blas = _openblas()
    return None if blas is None else int(blas.get_num_threads())


@contextmanager
def single_threaded_blas():
    """Inside the block every BLAS call runs on the calling thread alone; the old count comes back after."""
    blas = _openblas()
    before = None if blas is None else blas.get_num_threads()
    if before is not None and before != 1:
        blas.set_num_threads(1)
    try:
        yield
    finally:
        if before is not None and before != 1:
            blas.set_num_threads(before)
