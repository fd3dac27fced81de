"""Numba performance core: the hot contracts of minillm.layers, jitted.

    attention_forward(q, k, v, *, mask=None, causal=False) -> out, cache
    attention_backward(dout, cache) -> dq, dk, dv          (flash-style, kernels/attention.py)
    matmul(a, b), matmul_nt(dc, b) = dc b^T, matmul_tn(a, dc) = a^T dc,
    matmul_backward(dc, a, b) -> da, db                     (packed register tiles, kernels/matmul.py)

Every kernel is compiled with cache=True: the first process pays the compile
time once, later processes load the machine code from __pycache__.

Note: after this import, the attribute `minillm.kernels.matmul` is the function
matmul; the lesson's other versions are reached with
`from minillm.kernels.matmul import matmul_naive, matmul_reordered, ...`.
"""
# Threads: np.matmul runs on OpenBLAS's threads, attention on a small pool of its own
# (kernels/attention.py); only the matmul lesson uses Numba's prange (OpenMP).  libgomp's
# default spin-then-sleep suits it in runs of its own: OMP_WAIT_POLICY=passive, which the
# GPT step once needed, made every packed matmul pay a thread wake-up (0.6-0.78x np.matmul
# became 0.33-0.45x).  Interleaved call by call with np.matmul it is the other way round
# (see kernels/matmul.py): the lesson kernel is timed on its own, the model never mixes them.
from minillm.kernels.attention import attention_backward, attention_forward
from minillm.kernels.fused import (
    cross_entropy_backward, cross_entropy_forward, embedding_backward, feedforward_backward, feedforward_forward,
    gelu_backward, gelu_forward, linear_backward, linear_forward,
)
from minillm.kernels.matmul import matmul, matmul_backward, matmul_nt, matmul_tn
from minillm.kernels.norm import layernorm_backward, layernorm_forward, rmsnorm_backward, rmsnorm_forward
from minillm.kernels.optim import adamw_step, global_grad_norm
