"""`minillm bench`: the speed of the kernels against NumPy (and PyTorch when importable)."""
from minillm.cli.args import positive_float


def add_bench_parser(sub):
    b = sub.add_parser("bench", help="speed: kernels vs NumPy (and PyTorch if importable); writes bench.json")
    b.add_argument("--out", default="bench.json")
    b.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    b.add_argument("--peak-gflops", type=positive_float, help="fp32 peak of this machine (measured if not given)")
    b.add_argument("--data", help="Tiny Shakespeare text, for the n-gram timings (skipped without it)")
    b.set_defaults(func=cmd_bench)
    return b


def cmd_bench(args):
    from minillm.bench.run import run_bench

    return run_bench(args)
