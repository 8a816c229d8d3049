"""Benchmark: training throughput of the batched EqSpike engine on 784-500-10 vs the fp32 GEMM rate.

Measures, interleaved in one run (so both see the same machine load), the examples/s of
``EqSpike.train_epoch`` on mnist5k digits (the default config, steps as in the table header,
batch 50) and this machine's float32 GEMM rate (``numpy.matmul`` of two ``--gemm-n`` square
matrices, the BLAS numpy links), and reports the engine's arithmetic rate as a fraction of it.
The engine's FLOPs per training example are counted from its operations
(:func:`engine_flops`). Writes ``bench/results/eqspike_throughput.md``.

    OMP_NUM_THREADS=1 python bench/eqspike_throughput.py
    python bench/eqspike_throughput.py          # BLAS threads as the environment sets them
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from dendritic_snn.data.datasets import load_dataset
from dendritic_snn.eqspike.engine import EqSpike
from dendritic_snn.eqspike.eqspike import EqSpikeConfig
from dendritic_snn.hardware.profiles import load_profile

try:
    from bench._results import write_atomic
except ImportError:  # run as ``python bench/eqspike_throughput.py``
    from _results import write_atomic

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "results" / "eqspike_throughput.md"


def engine_flops(cfg: EqSpikeConfig) -> dict[str, float]:
    """FLOPs per training example of the batched engine (multiply-add = 2).

    Input projection once (``x W0``); per step both directions of ``W1``; per nudged step the
    ``W1`` strobe product; at the write the ``W0`` strobe product over all nudged steps
    (``S_in^T G_h``); about 30 FLOPs per neuron and step for the membrane, filters and
    comparators.
    """
    n0, n1, n2 = cfg.sizes
    phases = 2 if cfg.nudge == "symmetric" else 1
    steps = cfg.n_free + phases * cfg.n_nudge
    nudged = phases * cfg.n_nudge
    parts = {
        "input projection": 2.0 * n0 * n1,
        "recurrent W1 (both directions)": steps * 2.0 * 2 * n1 * n2,
        "W1 strobes": nudged * 2.0 * n1 * n2,
        "W0 strobes": nudged * 2.0 * n0 * n1,
        "neurons, filters, comparators": steps * 30.0 * (n1 + n2),
    }
    parts["total"] = sum(parts.values())
    return parts


def gemm_rate(n: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` float32 GEMM rate [FLOP/s] of an ``n x n`` by ``n x n`` product."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="per timed training pass")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved GEMM/training rounds")
    parser.add_argument("--gemm-n", type=int, default=1024)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args()
    argv = sys.argv[1:]
    cfg = EqSpikeConfig()
    net = EqSpike(cfg, load_profile("cmos45_spiking_ep").with_mismatch(0.0), 0)
    data = load_dataset("mnist5k", None, None, "train")
    rng = np.random.default_rng(0)
    x, y = data.x[: args.examples].astype(np.float32), data.y[: args.examples]
    net.train_epoch(x[: cfg.batch_size], y[: cfg.batch_size], rng)  # warm-up
    flops = engine_flops(cfg)
    rows = []
    for k in range(args.rounds):
        gemm = gemm_rate(args.gemm_n)
        start = time.perf_counter()
        net.train_epoch(x, y, rng)
        rate = len(x) / (time.perf_counter() - start)
        rows.append((k, gemm, rate, rate * flops["total"] / gemm))
    best = max(rows, key=lambda r: r[2])
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        "# EqSpike batched engine: training throughput on 784-500-10",
        "",
        f"Command: `OMP_NUM_THREADS={threads} python "
        f"{' '.join(['bench/eqspike_throughput.py', *argv])}` "
        f"(numpy {np.__version__}, {os.cpu_count()} cores shared with other jobs; "
        "the GEMM and the training pass alternate so both see the same load)",
        "",
        f"Engine: batch {cfg.batch_size}, {cfg.n_free} free + 2 x {cfg.n_nudge} nudged steps, "
        f"float32; {flops['total'] / 1e6:.1f} MFLOP per training example:",
        "",
        "| part | MFLOP per example |",
        "|---|---|",
        *[f"| {k} | {v / 1e6:.2f} |" for k, v in flops.items() if k != "total"],
        "",
        f"| round | fp32 GEMM {args.gemm_n}^3 (GFLOP/s) | training examples/s | "
        "engine GFLOP/s | fraction of GEMM rate |",
        "|---|---|---|---|---|",
        *[
            f"| {k} | {g / 1e9:.1f} | {r:.0f} | {r * flops['total'] / 1e9:.1f} | {f:.1%} |"
            for k, g, r, f in rows
        ],
        "",
        f"Best round: {best[2]:.0f} examples/s = {best[3]:.1%} of the GEMM rate measured "
        f"beside it ({best[1] / 1e9:.1f} GFLOP/s).",
    ]
    text = "\n".join(lines) + "\n"
    write_atomic(args.table, text)
    print(text)


if __name__ == "__main__":
    main()
