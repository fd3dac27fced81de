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
# Threads (kernels/threads.py): np.matmul runs on OpenBLAS's workers, the packed matmul on Numba's
# prange (OpenMP, libgomp), attention on a small pool of its own whose helpers sleep while idle and
# claim work items one by one.  Idle OpenBLAS and libgomp workers spin before they sleep; on 2 cores
# the spinner held the core the next pool needed (OpenBLAS for ~0.1 s after every product, libgomp
# ~7 ms after every kernel): 0.056x np.matmul for the packed matmul timed after NumPy's attention.
# So libgomp's spin is bounded on import, and OpenBLAS's when the first parallel kernel starts
# (until then np.matmul has the cores to itself); your own settings win.
from minillm.kernels.attention import attention_backward, attention_forward
from minillm.kernels.fused import (
    cross_entropy_backward, cross_entropy_forward, embedding_backward, feedforward_backward, feedforward_forward,
    gelu_backward, gelu_forward, linear_backward, linear_forward,
)
from minillm.kernels.matmul import matmul, matmul_backward, matmul_nt, matmul_tn
from minillm.kernels.norm import layernorm_backward, layernorm_forward, rmsnorm_backward, rmsnorm_forward
from minillm.kernels.recurrent import (
    gru_backward, gru_forward, lstm_backward, lstm_cell_states, lstm_forward, rnn_backward, rnn_forward,
)
from minillm.kernels.optim import adamw_step, global_grad_norm
from minillm.kernels.threads import set_openmp_spin

set_openmp_spin()   # libgomp's idle workers (the matmul lesson's prange): 30,000 polls, not 300,000 (~7 ms)
