"""`minillm bench --quick`: every section the benchmark promises is written, well formed, and the
two backends it times agree on the losses.

No speed is asserted: speed goals belong in the benchmark's output, never in a timed test.
"""
import json
import math
from pathlib import Path

from minillm.cli import main

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus_en.txt"


def positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_bench_quick_writes_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--out", str(out), "--data", str(CORPUS), "--peak-gflops", "100"]) == 0
    r = json.loads(out.read_text(encoding="utf-8"))
    printed = capsys.readouterr().out
    for title in ("== compile", "== attention", "== matmul", "== kernel ratios", "== GPT training step", "== n-gram",
                  "== BERT", "== LSTM"):
        assert title in printed, title
    # (d) compile time of a fresh process, cold then warm
    assert positive(r["compile"]["cold_s"]) and positive(r["compile"]["warm_s"])
    # (a) attention: Numba and NumPy, time and peak memory, at T = 64 and 512
    assert [row["T"] for row in r["attention"]] == [64, 512]
    for row in r["attention"]:
        for key in ("numba_fwd_ms", "numba_fwd_bwd_ms", "numpy_fwd_ms", "numpy_fwd_bwd_ms",
                    "numba_peak_extra_mib", "numpy_peak_extra_mib", "speedup_fwd_bwd"):
            assert positive(row[key]), (row["T"], key, row[key])
        assert row["numba_peak_extra_mib"] < row["numpy_peak_extra_mib"] or row["T"] == 64
    # (b) the matmul series on GPT shapes: every version's GFLOP/s and the packed/np ratio
    assert [(m["M"], m["K"], m["N"]) for m in r["matmul"]] == [(768, 128, 384), (768, 128, 65)]
    for m in r["matmul"]:
        for key in ("reordered_gflops", "blocked_gflops", "packed_gflops", "np.matmul_gflops",
                    "packed_nt_gflops", "packed_tn_gflops", "packed_over_np"):
            assert positive(m[key]), key
        assert math.isclose(m["packed_over_np"], m["packed_gflops"] / m["np.matmul_gflops"])
    # (c) the GPT step on both backends, with MFU against the given peak
    step = r["gpt_step"]
    assert step["peak_gflops"] == 100
    rows = {row["impl"]: row for row in step["rows"]}
    for impl in ("minillm-numpy", "minillm-numba", "minillm-numba-unsharded"):
        assert positive(rows[impl]["ms_per_iter"]) and positive(rows[impl]["tokens_per_s"])
        assert math.isclose(rows[impl]["mfu"], step["flops_per_token"] * rows[impl]["tokens_per_s"] / 100e9)
    # the backend switch and the sharding change speed, not results: the same first losses to float32 round-off
    assert rows["minillm-numba"]["threads"] == 2 and rows["minillm-numba-unsharded"]["threads"] == 1
    for impl in ("minillm-numba", "minillm-numba-unsharded"):
        for a, b in zip(rows["minillm-numpy"]["first_losses"], rows[impl]["first_losses"]):
            assert math.isclose(a, b, rel_tol=1e-5)
    # (e) n-gram fit and scoring
    assert positive(r["ngram"]["fit_trigram_kn_s"]) and positive(r["ngram"]["score_s"])
    assert r["ngram"]["ngrams_scored"] >= 100_000 and positive(r["ngram"]["heldout_perplexity"])
    # (f) BERT: MiniLM's forward (the pretrained extra is installed in CI) and the fine-tuning step, both backends
    bert = {row["what"]: row for row in r["bert"]}
    forward = [row for what, row in bert.items() if what.startswith("MiniLM forward")]
    assert [row["shape"] for row in forward] == [[16, 62], [1, 14]]
    step = next(row for what, row in bert.items() if what.startswith("BERT fine-tuning step"))
    for row in (*forward, step):
        assert positive(row["minillm_numba_ms"]) and positive(row["minillm_numpy_ms"])
    # (g) the LSTM step on both backends: the same first losses
    lstm = {row["impl"]: row for row in r["lstm_step"]}
    for impl in ("minillm-numpy", "minillm-numba"):
        assert positive(lstm[impl]["ms_per_iter"])
    for a, b in zip(lstm["minillm-numpy"]["first_losses"], lstm["minillm-numba"]["first_losses"]):
        assert math.isclose(a, b, rel_tol=1e-5)
    # (h) the kernel ratios, alone and interleaved with np.matmul in one process
    kinds = [row["kernel"] for row in r["call_order"]]
    assert "packed sgemm" in kinds and "attention fwd+bwd" in kinds
    for row in r["call_order"]:
        for key in ("alone_kernel_ms", "alone_numpy_ms", "interleaved_kernel_ms", "interleaved_numpy_ms"):
            assert positive(row[key]), (row["kernel"], key)
        assert math.isclose(row["alone_ratio"], row["alone_numpy_ms"] / row["alone_kernel_ms"])
        assert math.isclose(row["interleaved_ratio"], row["interleaved_numpy_ms"] / row["interleaved_kernel_ms"])
