"""Benchmark: memcapacitive SNN on mnist5k, nonlinearity-aware vs naive, on the circuit model.

Trains on all 5,000 mnist5k digits and tests on the official MNIST test set (t10k IDX files,
default ``../shared/data/mnist`` next to the repository) with the ``memcap_180nm`` profile,
through ``dsnn task mnist --learner memcap``. The same seed gives both trainings the same data,
initial weights and minibatch order. Prints, per seed, both accuracies on the nominal and on
one mismatched chip (the seed's), the gap and the energy per inference beside the paper's
33.88 nJ, then mean +- sd over the seeds. The tables go to the terminal and to
``bench/results/mnist_memcap[-ARGS].md``.

    python bench/mnist_memcap.py                    # 20 epochs, seed 0
    python bench/mnist_memcap.py --seeds 3          # seeds 0, 1, 2
    python bench/mnist_memcap.py --epochs 5 --seed 1 --set memcap_hidden=200
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from dendritic_snn import run_task
from dendritic_snn.runners.spec import parse_override

try:
    from bench._results import default_name, record
except ImportError:  # run as ``python bench/mnist_memcap.py``
    from _results import default_name, record

DEFAULT_TEST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds from --seed")
    parser.add_argument("--shift", type=int, default=0, help="augment_shift (default 0)")
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with record(default_name("mnist_memcap", skip=("--test-data-dir",))):
        _bench(args)


def _bench(args: argparse.Namespace) -> None:
    overrides = {
        "dataset": "mnist5k",
        "test_data_dir": str(args.test_data_dir),
        "augment_shift": args.shift,
        "memcap_epochs": args.epochs,
        **dict(parse_override(text) for text in args.set),
    }
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(
        f"### Memcapacitive SNN (memcap_180nm), mnist5k -> official MNIST test set, "
        f"{args.epochs} epochs, {len(seeds)} seed(s) {' '.join(args.set)}\n"
    )
    print(
        "| seed | aware nominal | aware mismatched | naive nominal | naive mismatched "
        "| gap aware - naive (nominal) | energy/inference (aware) | tied outputs aware / naive |"
    )
    print("|---|---|---|---|---|---|---|---|")
    acc: dict[str, list[float]] = {"aware": [], "naive": [], "gap": []}
    ref = None
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="bench-memcap-") as out:
            res = run_task(
                "mnist", learner="memcap", profile="memcap_180nm", seed=seed, out=out,
                overrides=overrides, progress=False,
            )  # fmt: skip
        m = res["metrics"]
        ref = m["reference_energy_per_inference_J"]
        c = m["circuit"]
        mis = {k: c[k].get("mismatched", {}).get("accuracy") for k in ("aware", "naive")}
        gap = c["aware"]["nominal"]["accuracy"] - c["naive"]["nominal"]["accuracy"]
        acc["aware"].append(c["aware"]["nominal"]["accuracy"])
        acc["naive"].append(c["naive"]["nominal"]["accuracy"])
        acc["gap"].append(gap)
        print(
            f"| {seed} | {_pct(c['aware']['nominal']['accuracy'])} | {_pct(mis['aware'])} "
            f"| {_pct(c['naive']['nominal']['accuracy'])} | {_pct(mis['naive'])} "
            f"| {100 * gap:+.2f} pp "
            f"| {c['aware']['nominal']['energy_per_inference_J'] * 1e9:.2f} nJ "
            f"| {c['aware']['nominal']['tied_fraction']:.1%} / "
            f"{c['naive']['nominal']['tied_fraction']:.1%} |",
            flush=True,
        )
    print(
        f"\nAware (nominal chip) {_spread(acc['aware'])}, naive {_spread(acc['naive'])}, "
        f"gap {100 * np.mean(acc['gap']):+.2f} +- {100 * np.std(acc['gap']):.2f} pp over "
        f"{len(seeds)} seed(s); the paper's energy per inference is "
        f"{(ref or 0) * 1e9:.2f} nJ (encoder excluded here)."
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _spread(values: list[float]) -> str:
    return f"{100 * np.mean(values):.2f} +- {100 * np.std(values):.2f} %"


if __name__ == "__main__":
    main()
