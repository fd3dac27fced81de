"""How many threads OpenBLAS (NumPy's matrix products) uses, read and changed at run time.

    blas_threads()              OpenBLAS's thread count, or None for another BLAS
    with single_threaded_blas():  every product inside runs on the calling thread alone

Used by minillm/runtime/parallel.py while batch shards run on their own threads.
"""
import ctypes
from contextlib import contextmanager

# NumPy's wheels bundle OpenBLAS, whose thread count can be changed at run time
# through its C API (the environment variable OPENBLAS_NUM_THREADS is read only
# once, at load).  With another BLAS the calls below do nothing: still correct,
# only the threads may compete.
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
_blas = []  # [] until looked up, then [(get, set)] or [None]


def _openblas():
    if not _blas:
        _blas.append(_find_openblas())
    return _blas[0]


def _find_openblas():
    try:
        with open("/proc/self/maps") as f:  # Linux: the libraries this process has loaded
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower()})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        get = next((getattr(lib, name) for name in _GETTERS if hasattr(lib, name)), None)
        put = next((getattr(lib, name) for name in _SETTERS if hasattr(lib, name)), None)
        if get is not None and put is not None:
            get.restype = ctypes.c_int
            put.argtypes = [ctypes.c_int]
            return get, put
    return None


def blas_threads():
    """OpenBLAS's thread count, or None when NumPy's BLAS is not a recognised OpenBLAS."""
    blas = _openblas()
    return None if blas is None else int(blas[0]())


@contextmanager
def single_threaded_blas():
    """Inside the block every BLAS call runs on the calling thread alone; the old count comes back after."""
    blas = _openblas()
    before = None if blas is None else blas[0]()
    if before is not None and before != 1:
        blas[1](1)
    try:
        yield
    finally:
        if before is not None and before != 1:
            blas[1](before)
