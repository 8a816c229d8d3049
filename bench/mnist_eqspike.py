"""Benchmark: EqSpike (batched engine) on mnist5k, tested on the official MNIST test set.

Runs ``dsnn task mnist --learner eqspike --profile cmos45_spiking_ep`` through the Python API
once per mismatch level (default 0 and 0.2) and prints the test accuracy, the training
throughput (examples/s, seconds per 5,000-example epoch) and the energy per inference /
training example from counted events beside the GPU estimate (``eqspike.energy_gpu``).
Then the speed of the Brian2 reference engine (numpy target, one example at a time: free
phase + one nudged phase) beside the batched engine (same phases) on one network
(784-``--ratio-hidden``-10, same seed), as examples/s and their ratio from one run.

    python bench/mnist_eqspike.py --epochs 3
    python bench/mnist_eqspike.py --epochs 3 --mismatch 0.2 --set eqspike_beta=0.5
    python bench/mnist_eqspike.py --epochs 30 --mismatch 0.2 --ratio-examples 0 \
        --set eqspike_gain_trim_bits=5       # per-neuron gain trim (eqspike.py A13)
    python bench/mnist_eqspike.py --epochs 3 --set eqspike_comparator=derivative \
        --set eqspike_synapse_drive=separate --set eqspike_update_gain=[0.1,0.1] --shift 0

The last line is the earlier reconstruction (RC differentiator, separate charge/discharge
sources, no augmentation); the defaults are the held comparator and a shared drive
(:mod:`dendritic_snn.eqspike.eqspike` A11, A12) with random 1-pixel shifts (``--shift``,
the task's ``augment_shift`` default).
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
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--mismatch", type=float, nargs="*", default=[0.0, 0.2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", type=int, default=1)
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--ratio-hidden", type=int, default=100)
    parser.add_argument("--ratio-examples", type=int, default=2)
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-eqspike-"))
    for sigma in args.mismatch:
        overrides = {
            "dataset": "mnist5k",
            "test_data_dir": str(args.test_data_dir),
            "epochs": args.epochs,
            "augment_shift": args.shift,
            **dict(parse_override(text) for text in args.set),
        }
        start = time.perf_counter()
        result = run_task(
            "mnist",
            learner="eqspike",
            profile="cmos45_spiking_ep",
            mismatch=sigma,
            seed=args.seed,
            out=root / f"eqspike-mm{sigma}-seed{args.seed}",
            overrides=overrides,
            progress=args.progress,
        )
        wall = time.perf_counter() - start
        curve = result["metrics"]["learning_curve"]
        energy = result["energy"]
        print(f"== EqSpike mismatch {sigma:.0%}, seed {args.seed}, {args.epochs} epochs")
        print(f"test accuracy          {result['metrics']['accuracy']:.2%}")
        print(f"test curve             {[round(a, 4) for a in curve['test_accuracy']]}")
        print(f"epoch seconds          {[round(s, 1) for s in curve['epoch_s']]}")
        n = result["metrics"]["n_train"]
        print(f"train examples/s       {n / (sum(curve['epoch_s']) / len(curve['epoch_s'])):.0f}")
        print(f"wall                   {wall:.0f} s (incl. testing)")
        gpu = energy["gpu_estimate"]
        print(
            f"energy/inference       chip {energy['per_inference_J']:.3g} J, "
            f"GPU est. {gpu['per_inference_J']:.3g} J, ratio "
            f"{energy['ratio_gpu_over_chip']['inference']:.3g}"
        )
        print(
            f"energy/training ex.    chip {energy['per_training_example_J']:.3g} J, "
            f"GPU est. {gpu['per_training_example_J']:.3g} J, ratio "
            f"{energy['ratio_gpu_over_chip']['training']:.3g}"
        )
        print(f"run directory          {result['run_dir']}", flush=True)
    if args.ratio_examples > 0:
        speed_ratio(args.ratio_hidden, args.ratio_examples, args.seed)


def speed_ratio(hidden: int, n_examples: int, seed: int) -> None:
    """Brian2 vs batched examples/s on 784-hidden-10 (one free + one nudged phase each)."""
    import numpy as np

    from dendritic_snn.eqspike.brian2_engine import run_brian2
    from dendritic_snn.eqspike.engine import EqSpike
    from dendritic_snn.eqspike.eqspike import EqSpikeConfig
    from dendritic_snn.hardware.profiles import load_profile

    cfg = EqSpikeConfig(sizes=(784, hidden, 10), nudge="positive")
    net = EqSpike(cfg, load_profile("cmos45_spiking_ep").with_mismatch(0.0), seed)
    rng = np.random.default_rng(seed)
    x = rng.random((cfg.batch_size, 784)).astype(np.float32) * (rng.random((1, 784)) < 0.2)
    labels = rng.integers(0, 10, cfg.batch_size)
    start = time.perf_counter()
    for k in range(n_examples):
        run_brian2(
            cfg, net.chip, net.weights, net.biases, x[k], labels[k], rng.random(784), cfg.beta
        )
    brian = n_examples / (time.perf_counter() - start)
    start = time.perf_counter()
    net.step(x, labels, rng)
    batched = len(x) / (time.perf_counter() - start)
    print(f"== engine speed on 784-{hidden}-10 (free {cfg.n_free} + nudged {cfg.n_nudge} steps)")
    print(f"brian2 (numpy target)  {brian:.3g} examples/s ({n_examples} examples, incl. build)")
    print(f"batched (batch {cfg.batch_size})     {batched:.3g} examples/s")
    print(f"ratio batched/brian2   {batched / brian:.0f}", flush=True)


if __name__ == "__main__":
    main()
