"""Benchmark: the dendritic learner on mnist5k, tested on the official MNIST test set.

Runs ``dsnn task mnist --learner dendritic`` (profile ``dynapse_se`` at its own mismatch)
through the Python API once per seed, then writes one table to
``bench/results/mnist_dendritic.md``: test accuracy per seed, mean +- sd, the weight updates
per presentation in the first and last third of training, and the wall time.

    OMP_NUM_THREADS=1 python bench/mnist_dendritic.py --seeds 0 1 2

Extra task fields with ``--set KEY=VALUE`` (e.g. ``--set dendritic_pyramidal=100``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _results import default_name, record  # noqa: E402
from mnist_eqspike import DEFAULT_TEST_DIR  # noqa: E402

from dendritic_snn import run_task  # noqa: E402
from dendritic_snn.runners.spec import parse_override  # noqa: E402

TARGET = 0.85


def run_seed(seed: int, overrides: dict) -> dict:
    """Train and test one seed in a temporary run directory; the row of the table."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = run_task("mnist", learner="dendritic", seed=seed, out=Path(out),
                          overrides=overrides)  # fmt: skip
    m = result["metrics"]
    row = {"seed": seed, "accuracy": m["accuracy"], "n_train": m["n_train"],
           "n_test": m["n_test"], "wall": time.perf_counter() - start,
           "first": m["weight_updates_per_presentation_first_third"],
           "last": m["weight_updates_per_presentation_last_third"]}  # fmt: skip
    print(f"seed {seed}: test {m['accuracy']:.2%} ({row['wall']:.0f} s)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = {"test_data_dir": str(args.test_data_dir),
                 **dict(parse_override(text) for text in args.set)}  # fmt: skip
    with record(default_name("mnist_dendritic", skip=["--test-data-dir"])):
        print("# Dendritic learner on MNIST (mnist5k -> official MNIST test set)\n")
        rows = [run_seed(seed, overrides) for seed in args.seeds]
        acc = np.array([r["accuracy"] for r in rows])
        sd = float(np.std(acc, ddof=1)) if len(acc) > 1 else float("nan")
        fields = ", ".join(args.set) or "task defaults"
        print(
            f"\n`dsnn task mnist --learner dendritic` ({fields}; dynapse_se at its mismatch), "
            f"{rows[0]['n_train']} training digits, {rows[0]['n_test']} test digits, one pass. "
            f"Mean {acc.mean():.2%} +- {sd:.2%} over seeds {args.seeds} "
            f"(target >= {TARGET:.0%}: {'met' if acc.mean() >= TARGET else 'not met'}).\n"
        )
        print("| seed | test accuracy | updates/presentation, first third | last third | wall s |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['seed']} | {r['accuracy']:.2%} | {r['first']:.0f} | {r['last']:.0f} "
                f"| {r['wall']:.0f} |"
            )


if __name__ == "__main__":
    main()
