"""Matrix multiplication in Numba, as a lesson in four steps:  C = A B.

    A (M, K)   B (K, N)   C (M, N)        C_ij = sum_p A_ip B_pj        2 M N K flops

Each version is correct (tests/test_kernels_matmul.py checks every one against
np.matmul) and each fixes what made the previous one slow.  GFLOP/s, float32,
on the development machine (2 cores, AVX-512, Numba 0.68 / llvmlite 0.50,
NumPy 2.4 with OpenBLAS), nanoGPT's CPU-recipe shapes (M = B*T = 768 rows),
two threads, the best of repeated calls in one `minillm bench` run (2026-11-28; the
machine is shared, so single runs swing by 10-20%):

    C = A B                  naive  reordered  blocked  packed   np.matmul  packed/np
    (768,128)x(128,384)       3.4      51        45       221       319       0.69
    (768,128)x(128,128)       3.5      59        52       198       295       0.67
    (768,128)x(128,512)       2.4      83        69       244       341       0.72
    (768,512)x(512,128)       2.3      52        45       229       299       0.77
    (768,128)x(128,65)        5.8      51        44       144       241       0.60
    one thread (medians)                                  78-132    114-157   0.68-0.84

So np.matmul (OpenBLAS) is faster on every GPT shape, by 1.3-1.7x: the models
use np.matmul for their linear layers, this module is the lesson (and the
benchmark), and there is no dispatcher.  What is left: OpenBLAS's kernels are
hand-written assembly with prefetching and 2-thread-aware blocking; ours pay
a thread wake-up when libgomp's worker has gone to sleep (OMP_WAIT_POLICY=passive,
a wake-up on every call, halves the two-thread figures), each core packs its own
copy of B, and a vocabulary of 65 is two 32-column panels plus a one-vector panel
for a single column.

Two thread pools on two cores (issue #17, kernels/threads.py): OpenBLAS's idle
worker used to spin on the second core for ~0.1 s after every np.matmul, and
libgomp's for ~7 ms after every parallel region here.  Called alternately,
np.matmul then matmul, call after call, the spinning workers took turns on that
core a scheduler time slice at a time: 3.8 and 4.1 ms per call instead of 0.26
and 0.38.  Now libgomp's spin is cut on import (30,000 polls) and OpenBLAS's by the
first parallel kernel (2**15 cycles), and the ratio is the same alone and
interleaved: 0.62-0.72 on (768,128)x(128,384), np.matmul 0.26-0.30 ms, packed
0.38-0.43 ms (bench_call_order in minillm/bench/kernels.py, a quiet machine).

1. matmul_naive: the definition, three loops i, j, p with a dot product
   innermost.  The inner loop walks B down a column (stride N floats): every
   load touches a new cache line, and the sum is a serial chain of additions
   that the compiler may not reorder (no fast-math), so nothing is vectorised.

2. matmul_reordered: swap the loops to i, p, j.  Now the inner loop is
       C[i, :] += A[i, p] * B[p, :]
   which walks B and C along rows, contiguously; the compiler turns it into SIMD
   instructions (8 floats at a time).  Rows of C are independent, so `prange`
   gives each core half of them.  But every multiply-add now also loads and
   stores C: the loop is bound by memory traffic, not arithmetic.

3. matmul_blocked: the same loop order over tiles, so that a tile of B (KC x NC)
   stays in the L1/L2 cache while every row of A streams over it.  This helps
   big matrices; for the GPT shapes B already fits in cache, so it gains little.

4. matmul (packed): what BLAS libraries do.  C is cut into MR x NR = 10 x 32
   tiles.  One tile is accumulated in 10 * 32 / 16 = 20 AVX-512 registers while
   the loop runs over all of K: per step p, ten numbers of A are broadcast,
   one row of 32 numbers of B is loaded (2 vectors), and 20 vector fused
   multiply-adds update the tile.  No load or store of C happens inside the
   loop, so the arithmetic units, not memory, set the pace.  B is first copied
   ("packed") into panels of NR columns, K x NR contiguous, and A into panels
   of MR rows, both zero-padded, so the micro-kernel always works on a full
   tile and reads memory in order.  Two pieces of compiler plumbing make it
   work from Numba: the tile lives in a small array on the stack
   (`_register_tile`), which LLVM can prove overlaps nothing and so keeps in
   registers (a heap array from np.empty is reloaded at every step: half the
   speed), and `_vector_fma` spells out one 16-wide multiply-add, because
   LLVM's own vectoriser only uses 256-bit registers on this CPU.  A last
   panel of at most 16 columns takes a one-vector micro-kernel (10 x 16), so
   N = 65 computes 80 columns, not 96.  The first depth slice writes C and
   later ones add to it, so C is never zeroed first.

The backward products of C = A B need A^T or B^T:
    dA = dC B^T   (matmul_nt)          dB = A^T dC   (matmul_tn)
Packing copies the panels anyway, so it reads B (or A) transposed while
packing: no transposed matrix is ever materialised.

fastmath: versions 2 and 3 use only {"contract"}, which lets LLVM fuse a*b + c
into one FMA instruction (one rounding instead of two); version 4 calls the FMA
explicitly.  Neither assumes anything about infinities or NaN, and the
equality tests against np.matmul pass with them.

"""
import numpy as np
import numba
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from minillm.checks import check_float_array
from minillm.kernels.threads import share_cores

MR = 10    # rows of the register tile
NR = 32    # columns of the register tile (2 vectors of 16 float32)
W = 16     # numbers per vector (one AVX-512 register of float32)
KC = 256   # depth of one packed panel (so an A and a B panel stay in L1/L2)
FASTMATH = {"contract"}


# ---------------------------------------------------------------------------
# 1. naive: C_ij = sum_p A_ip B_pj, the definition as written
# ---------------------------------------------------------------------------
# $$ C_{ij} = \sum_p A_{ip} B_{pj} $$
@njit(cache=True)
def _matmul_naive(A, B, C):
    M, K = A.shape
    N = B.shape[1]
    for i in range(M):
        for j in range(N):
            s = C[i, j]                   # C starts at zero
            for p in range(K):
                s += A[i, p] * B[p, j]     # B walked down a column: stride N
            C[i, j] = s


# ---------------------------------------------------------------------------
# 2. reordered: i, p, j  ->  C[i, :] += A[i, p] B[p, :]   (contiguous, SIMD)
# ---------------------------------------------------------------------------
# $$ \text{loops } i, p, j: \qquad C_{i,:} \leftarrow C_{i,:} + A_{ip}\, B_{p,:} $$
@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _matmul_reordered(A, B, C):
    M, K = A.shape
    N = B.shape[1]
    for i in prange(M):
        c = C[i]                       # row i of C, contiguous
        for p in range(K):
            a = A[i, p]
            b = B[p]                   # row p of B, contiguous
            for j in range(N):
                c[j] += a * b[j]


# ---------------------------------------------------------------------------
# 3. blocked: the reordered loops over KC x NC tiles of B that stay in cache
# ---------------------------------------------------------------------------
NC_BLOCKED = 256


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _matmul_blocked(A, B, C):
    M, K = A.shape
    N = B.shape[1]
    for j0 in range(0, N, NC_BLOCKED):             # a KC x NC tile of B ...
        j1 = min(j0 + NC_BLOCKED, N)
        for p0 in range(0, K, KC):
            p1 = min(p0 + KC, K)
            for i in prange(M):                     # ... meets every row of A while cached
                c = C[i, j0:j1]
                for p in range(p0, p1):
                    a = A[i, p]
                    b = B[p, j0:j1]
                    for j in range(j1 - j0):
                        c[j] += a * b[j]


# ---------------------------------------------------------------------------
# 4. packed panels + register-tile micro-kernel
# ---------------------------------------------------------------------------
# A scratch array of fixed shape on the stack (an LLVM `alloca`).  Numba has no
# such function, so this is the one piece of compiler plumbing in minillm: it
# builds an ordinary (rows, cols) C-contiguous array whose memory is a private
# stack slot.  Being private, it cannot alias A, B or C, which is what allows
# LLVM to keep the whole tile in registers.  rows and cols must be constants.
@intrinsic
def _register_tile(typingctx, rows, cols, dtype):
    if not isinstance(rows, types.IntegerLiteral) or not isinstance(cols, types.IntegerLiteral):
        return None                               # Numba retries with the literal values
    n_rows, n_cols = rows.literal_value, cols.literal_value
    element = dtype.dtype
    tile_type = types.Array(element, 2, "C")

    def codegen(context, builder, signature, args):
        llvm_element = context.get_data_type(element)
        with builder.goto_entry_block():          # allocas belong in the entry block
            slot = builder.alloca(ir.ArrayType(llvm_element, n_rows * n_cols))
        itemsize = context.get_abi_sizeof(llvm_element)
        intp = context.get_value_type(types.intp)
        tile = make_array(tile_type)(context, builder)
        populate_array(tile, data=builder.bitcast(slot, llvm_element.as_pointer()),
                       shape=[intp(n_rows), intp(n_cols)],
                       strides=[intp(n_cols * itemsize), intp(itemsize)],
                       itemsize=intp(itemsize), meminfo=None)
        return tile._getvalue()

    return tile_type(rows, cols, dtype), codegen


# SIMD written out: the W = 16 numbers starting at y[y_row, y_col] become
#     y[y_row, y_col : y_col + W] += a * x[x_row, x_col : x_col + W]
# in one fused multiply-add on a whole vector (llvm.fma.v16f32: one AVX-512
# instruction for float32, two for float64).  LLVM's own vectoriser would pick
# 256-bit registers on this CPU, half the width; spelling the vector out is the
# second piece of compiler plumbing.  No bounds are checked: callers guarantee
# that both rows have W elements from the given column on.
# $$ y_{y_\mathrm{row},\ y_\mathrm{col} + w} \leftarrow y_{y_\mathrm{row},\ y_\mathrm{col} + w} + a\, x_{x_\mathrm{row},\ x_\mathrm{col} + w}, \qquad w = 0, \dots, W - 1 $$
@intrinsic
def _vector_fma(typingctx, y, y_row, y_col, a, x, x_row, x_col):
    element = y.dtype

    def codegen(context, builder, signature, args):
        y_value, y_row_v, y_col_v, a_value, x_value, x_row_v, x_col_v = args
        llvm_element = context.get_data_type(element)
        width = W
        vector = ir.VectorType(llvm_element, width)

        def address(array_type, array_value, row, col):
            array = make_array(array_type)(context, builder, array_value)
            pointer = cgutils.get_item_pointer2(
                context, builder, data=array.data, shape=cgutils.unpack_tuple(builder, array.shape),
                strides=cgutils.unpack_tuple(builder, array.strides), layout=array_type.layout,
                inds=[row, col])
            return builder.bitcast(pointer, vector.as_pointer())

        y_pointer = address(signature.args[0], y_value, y_row_v, y_col_v)
        x_pointer = address(signature.args[4], x_value, x_row_v, x_col_v)
        a_splat = ir.Constant(vector, ir.Undefined)
        for lane in range(width):
            a_splat = builder.insert_element(a_splat, a_value, ir.IntType(32)(lane))
        suffix = f"v{width}{'f32' if element == types.float32 else 'f64'}"
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3),
                                             f"llvm.fma.{suffix}")
        result = builder.call(fma, [a_splat, builder.load(x_pointer, align=1), builder.load(y_pointer, align=1)])
        builder.store(result, y_pointer, align=1)
        return context.get_dummy_value()

    return types.none(y, y_row, y_col, element, x, x_row, x_col), codegen


# C[c_row:c_row+mr, c_col:c_col+nr] (+)= A[0:MR, 0:k] @ B[0:k, 0:NR]     (= for the first depth slice)
#   A is read as A[row, p], B as B[p, col] (contiguous in col).
#   The full MR x NR tile is always computed (callers pad A and B with zeros);
#   only the mr x nr corner that exists in C is added back.
# The MR = 10 rows are written out by hand: a0..a9 are ten numbers of A, and
# per step p each of them meets NR / W = 2 vectors of B: 20 vector FMAs into
# 20 accumulator registers, + 2 for B and 10 for the broadcast a's = 32, exactly
# the AVX-512 register file (8 x 48 needs 35 and spills: 20% slower).
# $$ C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} \leftarrow \begin{cases} \sum_{p<k} A_{ip} B_{pj} & \text{first depth slice} \\ C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} + \sum_{p<k} A_{ip} B_{pj} & \text{otherwise} \end{cases} \qquad i < m_r,\ j < n_r $$
@njit(cache=True)
def _micro_kernel(k, A, B, C, c_row, c_col, mr, nr, add):
    acc = _register_tile(MR, NR, C.dtype)
    for i in range(MR):
        for j in range(NR):
            acc[i, j] = 0.0
    for p in range(k):
        a0 = A[0, p]
        a1 = A[1, p]
        a2 = A[2, p]
        a3 = A[3, p]
        a4 = A[4, p]
        a5 = A[5, p]
        a6 = A[6, p]
        a7 = A[7, p]
        a8 = A[8, p]
        a9 = A[9, p]
        for j in range(0, NR, W):
            # acc[i, j:j+W] += a_i * B[p, j:j+W]          for the 10 rows i
            # $$ \mathrm{acc}_{i,\ j:j+W} \leftarrow \mathrm{acc}_{i,\ j:j+W} + a_i\, B_{p,\ j:j+W}, \qquad i = 0, \dots, 9 $$
            _vector_fma(acc, 0, j, a0, B, p, j)
            _vector_fma(acc, 1, j, a1, B, p, j)
            _vector_fma(acc, 2, j, a2, B, p, j)
            _vector_fma(acc, 3, j, a3, B, p, j)
            _vector_fma(acc, 4, j, a4, B, p, j)
            _vector_fma(acc, 5, j, a5, B, p, j)
            _vector_fma(acc, 6, j, a6, B, p, j)
            _vector_fma(acc, 7, j, a7, B, p, j)
            _vector_fma(acc, 8, j, a8, B, p, j)
            _vector_fma(acc, 9, j, a9, B, p, j)
    if mr == MR and nr == NR and add:  # a whole tile: add it back vector by vector
        for i in range(MR):
            for j in range(0, NR, W):
                _vector_fma(C, c_row + i, c_col + j, 1.0, acc, i, j)
    else:                              # the first slice, or the ragged edge of C
        _write_back(acc, C, c_row, c_col, mr, nr, add)


# C[c_row + i, c_col + j] (+)= acc[i, j] for the mr x nr corner of the tile that exists in C
# $$ C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} \leftarrow \begin{cases} C_{c_\mathrm{row} + i,\ c_\mathrm{col} + j} + \mathrm{acc}_{ij} & \mathrm{add} \\ \mathrm{acc}_{ij} & \text{otherwise} \end{cases} \qquad i < m_r,\ j < n_r $$
@njit(cache=True)
def _write_back(acc, C, c_row, c_col, mr, nr, add):
    for i in range(mr):
        if add:
            for j in range(nr):
                C[c_row + i, c_col + j] += acc[i, j]
        else:
            for j in range(nr):
                C[c_row + i, c_col + j] = acc[i, j]


# The same for a last panel of at most W columns (N = 65 leaves one: 65 = 2 * 32 + 1):
# one vector per row instead of two, so the padding wastes W - nr columns, not NR - nr.
@njit(cache=True)
def _micro_kernel_narrow(k, A, B, C, c_row, c_col, mr, nr, add):
    acc = _register_tile(MR, W, C.dtype)
    for i in range(MR):
        for j in range(W):
            acc[i, j] = 0.0
    for p in range(k):
        # acc[i, 0:W] += a_i * B[p, 0:W]          for the 10 rows i
        # $$ \mathrm{acc}_{i,\ 0:W} \leftarrow \mathrm{acc}_{i,\ 0:W} + a_i\, B_{p,\ 0:W}, \qquad i = 0, \dots, 9 $$
        _vector_fma(acc, 0, 0, A[0, p], B, p, 0)
        _vector_fma(acc, 1, 0, A[1, p], B, p, 0)
        _vector_fma(acc, 2, 0, A[2, p], B, p, 0)
        _vector_fma(acc, 3, 0, A[3, p], B, p, 0)
        _vector_fma(acc, 4, 0, A[4, p], B, p, 0)
        _vector_fma(acc, 5, 0, A[5, p], B, p, 0)
        _vector_fma(acc, 6, 0, A[6, p], B, p, 0)
        _vector_fma(acc, 7, 0, A[7, p], B, p, 0)
        _vector_fma(acc, 8, 0, A[8, p], B, p, 0)
        _vector_fma(acc, 9, 0, A[9, p], B, p, 0)
    _write_back(acc, C, c_row, c_col, mr, nr, add)


# Packing.  A_panel[i, p] = op(A)[ip*MR + i, p0 + p]      (zero beyond the edge)
#           B_panels[jp, p, j] = op(B)[p0 + p, jp*NR + j]
# op(X) is X or X^T: reading X[p, i] instead of X[i, p] is all a transpose costs.
# $$ A^\mathrm{panel}_{ip} = \operatorname{op}(A)_{\mathrm{ip} \cdot M_R + i,\ p_0 + p} \ (0 \text{ beyond the edge}), \qquad B^\mathrm{panels}_{\mathrm{jp},\, p,\, j} = \operatorname{op}(B)_{p_0 + p,\ \mathrm{jp} \cdot N_R + j}, \qquad \operatorname{op}(X) \in \{X, X^\top\} $$
@njit(cache=True)
def _pack_a(A, transpose, p0, kc, M, ip, A_panel):
    for i in range(MR):
        row = ip * MR + i
        for p in range(kc):
            if row < M:
                A_panel[i, p] = A[p0 + p, row] if transpose else A[row, p0 + p]
            else:
                A_panel[i, p] = 0.0


@njit(cache=True)
def _pack_b(B, transpose, p0, kc, N, B_panels):
    for jp in range(B_panels.shape[0]):
        for p in range(kc):
            for j in range(NR):
                col = jp * NR + j
                if col < N:
                    B_panels[jp, p, j] = B[col, p0 + p] if transpose else B[p0 + p, col]
                else:
                    B_panels[jp, p, j] = 0.0


# C = op(A) op(B), op(A) (M, K), op(B) (K, N), over depth slices of KC: the first slice
# writes C (so C needs no zeroing), the others add to it.  One parallel region per slice:
# each core packs its own copy of B's panels (the same work, done side by side, so no
# second region is needed to share it) and takes every n_workers-th row panel of A.
# $$ C = \operatorname{op}(A)\, \operatorname{op}(B) = \sum_{p_0 = 0,\, K_C,\, 2K_C,\, \dots} \operatorname{op}(A)_{:,\ p_0 : p_0 + K_C}\ \operatorname{op}(B)_{p_0 : p_0 + K_C,\ :} $$
@njit(cache=True, parallel=True)
def _matmul_packed(A, transpose_a, B, transpose_b, C, n_workers):
    M, N = C.shape
    K = A.shape[0] if transpose_a else A.shape[1]
    m_panels = (M + MR - 1) // MR
    n_panels = (N + NR - 1) // NR
    for p0 in range(0, K, KC):
        kc = min(KC, K - p0)
        for worker in prange(n_workers):
            B_panels = np.empty((n_panels, kc, NR), dtype=C.dtype)
            _pack_b(B, transpose_b, p0, kc, N, B_panels)
            A_panel = np.empty((MR, kc), dtype=C.dtype)
            for ip in range(worker, m_panels, n_workers):
                _pack_a(A, transpose_a, p0, kc, M, ip, A_panel)
                for jp in range(n_panels):
                    mr, nr = min(MR, M - ip * MR), min(NR, N - jp * NR)
                    if nr <= W:
                        _micro_kernel_narrow(kc, A_panel, B_panels[jp], C, ip * MR, jp * NR, mr, nr, p0 > 0)
                    else:
                        _micro_kernel(kc, A_panel, B_panels[jp], C, ip * MR, jp * NR, mr, nr, p0 > 0)


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------
def _check_pair(name_a, a, name_b, b, k_a, k_b):
    check_float_array(name_a, a, ndim=2)
    check_float_array(name_b, b, ndim=2)
    if a.dtype != b.dtype:
        raise TypeError(f"{name_a} and {name_b} must have the same dtype, got {a.dtype} and {b.dtype}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name_a} must be float32 or float64, got {a.dtype}")
    if a.shape[k_a] != b.shape[k_b]:
        raise ValueError(f"{name_b} must have {a.shape[k_a]} along axis {k_b} to match {name_a} "
                         f"of shape {a.shape}, got shape {b.shape}")


def _run(kernel, a, b, shape):
    c = np.zeros(shape, dtype=a.dtype)
    if kernel is not _matmul_naive and numba.get_num_threads() > 1:
        share_cores()                                        # a parallel region: see kernels/threads.py
    kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), c)
    return c


def matmul_naive(a, b):
    """C = A B by the definition (slow; the first step of the lesson)."""
    _check_pair("a", a, "b", b, 1, 0)
    return _run(_matmul_naive, a, b, (a.shape[0], b.shape[1]))


def matmul_reordered(a, b):
    """C = A B with loops i, p, j: contiguous, vectorised inner loop, rows in parallel."""
    _check_pair("a", a, "b", b, 1, 0)
    return _run(_matmul_reordered, a, b, (a.shape[0], b.shape[1]))


def matmul_blocked(a, b):
    """C = A B, reordered loops over cache-sized tiles of B."""
    _check_pair("a", a, "b", b, 1, 0)
    return _run(_matmul_blocked, a, b, (a.shape[0], b.shape[1]))


def _packed(a, transpose_a, b, transpose_b, shape):
    if not (a.shape[0] if transpose_a else a.shape[1]):
        return np.zeros(shape, dtype=a.dtype)                # K = 0: the empty sum
    c = np.empty(shape, dtype=a.dtype)
    if c.size:
        n_workers = min(numba.get_num_threads(), (c.shape[0] + MR - 1) // MR)
        if n_workers > 1:
            share_cores()                                    # a parallel region: see kernels/threads.py
        _matmul_packed(np.ascontiguousarray(a), transpose_a, np.ascontiguousarray(b), transpose_b, c, n_workers)
    return c


# C = A B            a (..., K) leading axes flattened into rows, b (K, N)  ->  (..., N)
# $$ C = A B $$
def matmul(a, b):
    """C = A B with packed panels and a register-tile micro-kernel (the fast Numba version).

    a may have leading batch axes (..., K); they are treated as rows.
    """
    check_float_array("a", a, min_ndim=1)
    check_float_array("b", b, ndim=2)
    a2 = a.reshape(-1, a.shape[-1]) if a.ndim != 2 else a
    _check_pair("a", a2, "b", b, 1, 0)
    c = _packed(a2, False, b, False, (a2.shape[0], b.shape[1]))
    return c.reshape(*a.shape[:-1], b.shape[1])


# dA = dC B^T        dC (M, N), B (K, N)  ->  (M, K)
# $$ dA = dC\, B^\top $$
def matmul_nt(dc, b):
    """dC B^T without forming B^T (B is read transposed while it is packed)."""
    _check_pair("dc", dc, "b", b, 1, 1)
    return _packed(dc, False, b, True, (dc.shape[0], b.shape[0]))


# dB = A^T dC        A (M, K), dC (M, N)  ->  (K, N)
# $$ dB = A^\top dC $$
def matmul_tn(a, dc):
    """A^T dC without forming A^T (A is read transposed while it is packed)."""
    _check_pair("a", a, "dc", dc, 0, 0)
    return _packed(a, True, dc, False, (a.shape[1], dc.shape[1]))


# C = A B   ->   dA = dC B^T,  dB = A^T dC       (a may have leading axes, as in matmul)
# $$ C = A B \;\Rightarrow\; dA = dC\, B^\top, \qquad dB = A^\top dC $$
def matmul_backward(dc, a, b):
    """Gradients of C = matmul(a, b): returns (da, db)."""
    check_float_array("dc", dc, min_ndim=1)
    check_float_array("a", a, min_ndim=1)
    if dc.shape != (*a.shape[:-1], b.shape[1]):
        raise ValueError(f"dc must have shape {(*a.shape[:-1], b.shape[1])} (the shape of a @ b), got {dc.shape}")
    a2 = a.reshape(-1, a.shape[-1])
    dc2 = dc.reshape(-1, dc.shape[-1])
    da = matmul_nt(dc2, b).reshape(a.shape)
    db = matmul_tn(a2, dc2)
    return da, db
