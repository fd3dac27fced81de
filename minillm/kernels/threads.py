"""The threads of one process: three pools on two cores, none of which may keep a core it does not use.

    in_parallel(kernel, *args)   kernel(work, *args) on every core at once (the attention kernels' pool)
    claim(work)                  (inside a kernel) the next unclaimed work item, from a shared counter
    openblas()                   NumPy's OpenBLAS through its C API, or None for another BLAS
    blas_spin_exponent()         how long OpenBLAS's idle workers spin: 2**e CPU cycles (None: not OpenBLAS)
    set_blas_spin(e)             make them spin 2**e cycles
    set_openmp_spin(count)       start Numba's OpenMP layer with libgomp's idle spin bounded to `count` polls
    share_cores()                called by every parallel kernel: the first one shortens OpenBLAS's spin
    thread_cpu()                 CPU seconds used so far by each thread of this process (what `top -H` shows)

Importing minillm.kernels calls set_openmp_spin(); the first parallel kernel calls set_blas_spin()
(share_cores).  Skip this module on a first read: it changes no result, only who waits for whom.

What went wrong (issue #17).  np.matmul runs on OpenBLAS's workers, the packed matmul on
Numba's prange (libgomp, OpenMP), attention on a pool of its own.  A worker that runs out
of work does not sleep at once: it spins, polling for the next job, so that a job coming
right after starts without a wake-up.  OpenBLAS's workers spin 2**28 cycles, ~0.1 s: after
ONE 0.3 ms np.matmul its worker burnt 117 ms of CPU while the caller slept.  libgomp's spin
~7 ms after every parallel region.  On 2 cores the last pool's spinning worker holds the
second core, and the next pool's worker gets it only a scheduler time slice at a time while
the caller waits for the worker's share: np.matmul then kernels.matmul, call by call, took
3.8 and 4.1 ms per call instead of 0.26 and 0.38 (both ~10x slower, so their ratio, 0.9,
hid it), the packed matmul timed right after NumPy's attention ran at 0.04-0.06x np.matmul,
and fused attention gave 1.8x NumPy instead of 3x (its helper shared a core with OpenBLAS's
spinner, every round after NumPy's attention).

The fix, at the root: no idle pool holds a core another pool needs.
  * From the first parallel kernel on (share_cores), OpenBLAS's idle workers spin
    BLAS_SPIN_EXPONENT = 15, i.e. 2**15 cycles (~14 us at 2.3 GHz), then sleep: back-to-back
    products still find them awake, and the core is free before the next kernel starts.  The
    setting is OpenBLAS's own OPENBLAS_THREAD_TIMEOUT, which it reads once, at load, before any
    of our code runs: set_blas_spin puts it in the environment, has OpenBLAS read it again and
    restarts its workers with it.  Until then the long spin stays: with np.matmul the only
    pool it costs nothing, and the GPT step (serial kernels between the products) is ~5%
    faster with it than with a wake-up per product.
  * libgomp's idle workers poll OPENMP_SPIN_COUNT = 30,000 times instead of 300,000 (its
    GOMP_SPINCOUNT, read when Numba starts the OpenMP layer, so set_openmp_spin starts it,
    on import).  Fewer (3,000) and the packed matmul pays a wake-up on every call: 0.40x np.matmul.
  * The attention pool's helpers sleep while idle (no spin at all: an attention call is
    milliseconds long, a wake-up tens of microseconds), and take work items from a shared
    counter, so a helper that starts late, because its core was busy, just gets fewer items;
    one that has not started when the items run out is cancelled, not waited for.
A value you set yourself (OPENBLAS_THREAD_TIMEOUT, GOMP_SPINCOUNT, OMP_WAIT_POLICY) is left alone.
"""
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

BLAS_SPIN_EXPONENT = 15      # OpenBLAS's idle workers spin 2**15 CPU cycles, then sleep (its default: 2**28)
OPENMP_SPIN_COUNT = 30_000   # libgomp's idle workers poll this many times, then sleep (its default: 300,000)
_TIMEOUT_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT")  # OpenBLAS reads either, in this order


# ---------------------------------------------------------------------------
# Work items, claimed from one counter
# ---------------------------------------------------------------------------
# item = work[0]; work[0] += 1, as one atomic instruction (x86: lock xadd), so that every
# number is handed out exactly once however many threads ask at the same time.  A kernel
# takes its items 0 .. n-1 with
#     item = claim(work)
#     while item < n:
#         ...
#         item = claim(work)
# (a Numba generator would read better, but one loaded from the cache breaks the
# compilation of its callers: a plain loop it is).
# $$ \mathrm{item} \leftarrow w_0, \qquad w_0 \leftarrow w_0 + 1 \qquad \text{(atomically)} $$
@intrinsic
def claim(typingctx, work):
    def codegen(context, builder, signature, args):
        counter = make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", counter.data, ir.Constant(ir.IntType(64), 1), "seq_cst")

    return types.int64(work), codegen


def new_work():
    """A fresh counter of work items (the first item claimed is 0)."""
    return np.zeros(1, dtype=np.int64)


# ---------------------------------------------------------------------------
# The attention kernels' pool: helpers that sleep while idle
# ---------------------------------------------------------------------------
_pool = None
_pool_lock = threading.Lock()


def _helpers(n):
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minillm-kernels")
        return _pool


def in_parallel(kernel, *args):
    """Run kernel(work, *args) on numba.get_num_threads() threads at once (the caller is one of them).

    The kernel takes its items with claim(work) until they run out and writes only what they own;
    kernels are compiled nogil=True, so the threads run side by side.  The caller starts on the
    items at once; helpers join when they wake, and one that has not started when the items run
    out is cancelled, so the caller never waits for a thread that never ran.  With one thread (a
    data-parallel shard sets it) everything runs on the calling thread."""
    work = new_work()
    n = numba.get_num_threads()
    if n == 1:
        kernel(work, *args)
        return
    share_cores()
    pool = _helpers(n - 1)
    jobs = [pool.submit(kernel, work, *args) for _ in range(n - 1)]
    kernel(work, *args)
    for job in jobs:
        if not job.cancel():           # it started: it may still hold an item, so wait for it
            job.result()


# ---------------------------------------------------------------------------
# OpenBLAS (NumPy's wheels bundle it; with another BLAS everything here does nothing)
# ---------------------------------------------------------------------------
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
_PARALLEL = ("scipy_openblas_get_parallel64_", "scipy_openblas_get_parallel", "openblas_get_parallel64_",
             "openblas_get_parallel")
_openblas = []  # [] until looked up, then [library] or [None]


def openblas():
    """NumPy's OpenBLAS as a ctypes library with .get_num_threads() and .set_num_threads(n), or None."""
    if not _openblas:
        _openblas.append(_find_openblas())
    return _openblas[0]


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
            lib.get_num_threads, lib.set_num_threads = get, put
            return lib
    return None


def _thread_server(lib):
    # OpenBLAS's own pthreads pool (openblas_get_parallel() == 1; an OpenMP build is 2, a serial one 0)
    parallel = next((getattr(lib, name) for name in _PARALLEL if hasattr(lib, name)), None)
    needed = ("openblas_read_env", "openblas_thread_timeout", "blas_thread_shutdown_", "blas_thread_init")
    return parallel is not None and parallel() == 1 and all(hasattr(lib, name) for name in needed)


def blas_spin_exponent():
    """e such that OpenBLAS's idle workers spin 2**e cycles before they sleep; None without OpenBLAS's pool."""
    lib = openblas()
    if lib is None or not _thread_server(lib):
        return None
    lib.openblas_thread_timeout.restype = ctypes.c_int
    e = lib.openblas_thread_timeout()          # what it read from OPENBLAS_THREAD_TIMEOUT, 0 if unset
    return 28 if e <= 0 else min(max(e, 4), 30)  # OpenBLAS's default and bounds (driver/others/blas_server.c)


def set_blas_spin(exponent=None):
    """Restart OpenBLAS's workers so that they spin 2**exponent cycles when idle; returns the exponent in force.

    exponent=None (what share_cores passes): BLAS_SPIN_EXPONENT, unless you set
    OPENBLAS_THREAD_TIMEOUT or GOTO_THREAD_TIMEOUT yourself, which then stays.  OpenBLAS reads
    the variable once, when it loads (before any of our code runs), so the value is put in the
    environment, read again, and the workers are stopped and started with it.  Call it while no
    other thread is inside a BLAS call."""
    lib = openblas()
    if lib is None or not _thread_server(lib):
        return None
    if exponent is None:
        if any(name in os.environ for name in _TIMEOUT_VARIABLES):
            return blas_spin_exponent()
        exponent = BLAS_SPIN_EXPONENT
    if blas_spin_exponent() == exponent:
        return exponent
    yours = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(exponent)
    try:
        lib.openblas_read_env()
    finally:                                    # OpenBLAS keeps its copy; the environment is as it was
        if yours is None:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
        else:
            os.environ["OPENBLAS_THREAD_TIMEOUT"] = yours
    lib.blas_thread_shutdown_()
    lib.blas_thread_init()
    return blas_spin_exponent()


def thread_cpu():
    """{thread id: CPU seconds it has used so far} for every thread of this process (Linux; {} elsewhere).

    Read from /proc/self/task/<id>/schedstat (nanoseconds on a CPU): the way to catch a thread
    that spins while it waits, which no timer of the calling thread can see."""
    seconds = {}
    try:
        ids = os.listdir("/proc/self/task")
    except OSError:
        return seconds
    for tid in ids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                seconds[int(tid)] = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):      # the thread ended meanwhile, or no schedstat
            continue
    return seconds


def set_openmp_spin(count=OPENMP_SPIN_COUNT):
    """Start Numba's threading layer with libgomp's idle workers polling `count` times before they
    sleep (GOMP_SPINCOUNT); returns the layer's name ("omp" is the one this concerns).

    libgomp reads GOMP_SPINCOUNT once, when it loads, and it loads when Numba starts its OpenMP
    layer (numba.get_num_threads does that).  If the layer is running already, or you set
    GOMP_SPINCOUNT or OMP_WAIT_POLICY yourself, nothing changes.  The environment is put back
    as it was afterwards."""
    try:
        return numba.threading_layer()               # running already: too late to choose
    except ValueError:
        pass
    if any(name in os.environ for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")):
        numba.get_num_threads()
        return numba.threading_layer()
    os.environ["GOMP_SPINCOUNT"] = str(count)
    try:
        numba.get_num_threads()                      # starts the layer: libgomp loads and reads the variable
    finally:
        del os.environ["GOMP_SPINCOUNT"]
    return numba.threading_layer()


_sharing = []
_sharing_lock = threading.Lock()


def share_cores():
    """What every parallel kernel here calls as it starts on more than one thread (free after the first time).

    While np.matmul is the only thing that runs on two threads, OpenBLAS's long spin costs
    nothing and saves a wake-up per product (the GPT step, whose other kernels run on one
    thread, is ~5% faster with it).  Once a second pool needs the cores, OpenBLAS's idle
    worker must let go of them: the first parallel kernel sets its spin to 2**BLAS_SPIN_EXPONENT
    cycles (set_blas_spin, unless you set OPENBLAS_THREAD_TIMEOUT yourself), for good.  Like
    set_blas_spin, this assumes no other thread is inside a BLAS call at that first moment
    (data-parallel shards run their kernels on one thread, so they never get here)."""
    if _sharing:
        return
    with _sharing_lock:
        if not _sharing:
            _sharing.append(set_blas_spin())
