"""`minillm bench`: the speed of the kernels against NumPy (and PyTorch when importable)."""
from pathlib import Path

from minillm.cli.args import UserError, positive_float, user_input


def add_bench_parser(sub):
    b = sub.add_parser("bench", help="speed: kernels vs NumPy (and PyTorch if importable); writes bench.json")
    b.add_argument("--out", default="bench.json")
    b.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    b.add_argument("--peak-gflops", type=positive_float, help="fp32 peak of this machine (measured if not given)")
    b.add_argument("--data", help="Tiny Shakespeare text, for the n-gram timings (skipped without it)")
    b.set_defaults(func=cmd_bench)
    return b


def check_bench_flags(args):
    """Before a minute of timing: --data must be a readable UTF-8 text, --out a file in an existing folder."""
    if args.data is not None:
        from minillm.datasets import read_text

        if not Path(args.data).is_file():
            raise UserError(f"--data {args.data!r} does not exist or is not a file")
        with user_input(f"--data {args.data!r}"):
            read_text(args.data)
    out = Path(args.out)
    if not str(args.out).strip() or out.is_dir():
        raise UserError(f"--out {args.out!r} must name a file to write (bench.json), not a folder")
    if not out.resolve().parent.is_dir():
        raise UserError(f"--out {args.out!r}: the folder {str(out.resolve().parent)!r} does not exist")


def cmd_bench(args):
    from minillm.bench.run import run_bench

    check_bench_flags(args)
    return run_bench(args)
