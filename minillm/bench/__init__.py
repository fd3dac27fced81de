"""Every benchmark and profiler minillm ships (nothing here is imported by the library).

    run.py               `minillm bench`: kernels vs NumPy (and PyTorch when importable) -> bench.json
    kernels.py           attention and matmul timings     python -m minillm.bench.kernels
    gpt_step.py          one GPT training step, op by op   python -m minillm.bench.gpt_step
    profile_gpt_step.py  cProfile of the same step         python -m minillm.bench.profile_gpt_step
"""
