"""Benchmark: EqSpike free / nudged step counts, scored on validation digits only.

Trains 784-500-10 EqSpike (derivative rule, ``cmos45_spiking_ep``, no mismatch) on 4,000
mnist5k digits for ``--epochs`` epochs per step setting and scores each epoch on 1,000
held-out training digits (``holdout``); the official test set is not read. This is the screen
that chose the task defaults (``eqspike_n_free`` 20, ``eqspike_n_nudge`` 32,
``eqspike_n_read`` 12) on seed 0; ``bench/mnist_eqspike.py`` reports them on other seeds.
Writes ``bench/results/eqspike_steps.md``.

    OMP_NUM_THREADS=1 python bench/eqspike_steps.py --jobs 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from dendritic_snn import run_task

try:
    from bench._results import command_line, write_atomic
except ImportError:  # run as ``python bench/eqspike_steps.py``
    from _results import command_line, write_atomic

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "bench" / "results" / "eqspike_steps.md"
#: (free steps, nudged steps, read steps): the former defaults first
SETTINGS = [(40, 16, 16), (40, 32, 16), (24, 32, 16), (20, 32, 12), (16, 32, 8), (20, 48, 12)]


def run_one(setting: tuple[int, int, int], seed: int, epochs: int) -> dict:
    """Train one step setting; returns its validation and training curves."""
    n_free, n_nudge, n_read = setting
    overrides = {
        "dataset": "mnist5k",
        "epochs": epochs,
        "holdout": 1000,
        "fallback_test": 1,  # no test set is needed: one digit keeps the split valid
        "lr_decay": 0.9,
        "eqspike_n_free": n_free,
        "eqspike_n_eval": n_free,
        "eqspike_n_nudge": n_nudge,
        "eqspike_n_read": n_read,
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_task(
            "mnist", learner="eqspike", profile="cmos45_spiking_ep", mismatch=0.0, seed=seed,
            out=Path(tmp) / "run", overrides=overrides, progress=False,
        )  # fmt: skip
    curve = result["metrics"]["learning_curve"]
    return {
        "setting": setting,
        "validation": curve["validation_accuracy"],
        "train": curve["train_accuracy"],
        "n_train": result["metrics"]["n_train"],
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(partial(run_one, seed=args.seed, epochs=args.epochs), SETTINGS))
    lines = [
        "# EqSpike step counts on validation digits (784-500-10, derivative rule)",
        "",
        f"Command: `{command_line()}`",
        "",
        f"Seed {args.seed}, no mismatch, {rows[0]['n_train']} mnist5k training digits, "
        f"{args.epochs} epochs (lr decay 0.9, 1-pixel shifts); validation on 1,000 held-out "
        "training digits after each epoch (the official test set is not read). Test-time "
        "evaluation uses as many free steps as training.",
        "",
        "| free steps | nudged steps (each of +beta, -beta) | read steps | validation, last 3 "
        "epochs | online training accuracy, last epoch | wall time |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        n_free, n_nudge, n_read = row["setting"]
        val = ", ".join(f"{a:.1%}" for a in row["validation"][-3:])
        lines.append(
            f"| {n_free} | {n_nudge} | {n_read} | {val} | {row['train'][-1]:.1%} | "
            f"{row['seconds']:.0f} s |"
        )
    text = "\n".join(lines) + "\n"
    write_atomic(args.table, text)
    print(text)


if __name__ == "__main__":
    main()
