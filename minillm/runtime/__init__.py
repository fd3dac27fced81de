"""Running fast on a CPU: skip this folder on a first read, none of it changes a result.

    parallel.py    data parallelism: the batch split over threads, the gradients summed
    blas.py        OpenBLAS's thread count, read and set at run time
(keeping freed memory in malloc's heap, which the kernels' backend switches on, is minillm/kernels/allocator.py)
"""
