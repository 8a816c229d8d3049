"""Benchmark: memcapacitive SNN on mnist5k, nonlinearity-aware vs naive, on the circuit model.

Trains on all 5,000 mnist5k digits and tests on the official MNIST test set (t10k IDX files,
default ``../shared/data/mnist``) with the ``memcap_180nm`` profile; the same seed gives both
learners the same data, initial weights and minibatch order. Prints both accuracies on the
nominal and on one mismatched chip, the gap, and the energy per inference beside the paper's
33.88 nJ. Calls the runner of ``dsnn task mnist --learner memcap`` directly (same splits).

    python bench/mnist_memcap.py                    # 20 epochs, seed 0
    python bench/mnist_memcap.py --epochs 5 --seed 1 --set memcap_hidden=200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dendritic_snn.hardware.profiles import load_profile
from dendritic_snn.runners.api import RunContext
from dendritic_snn.runners.mnist import run
from dendritic_snn.runners.spec import load_task_spec, parse_override

DEFAULT_TEST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", type=int, default=0, help="augment_shift (default 0)")
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    config = dict(load_task_spec("mnist").config)
    config.update(
        dataset="mnist5k",
        test_data_dir=str(args.test_data_dir),
        augment_shift=args.shift,
        memcap_epochs=args.epochs,
        **dict(parse_override(text) for text in args.set),
    )
    out = Path(tempfile.mkdtemp(prefix="bench-memcap-"))
    ctx = RunContext(
        "mnist", "memcap", load_profile("memcap_180nm"), args.seed, config, out, progress=False
    )
    start = time.perf_counter()
    output = run(ctx)
    wall = time.perf_counter() - start
    m = output.metrics
    print(
        f"memcap mnist5k seed={args.seed} epochs={args.epochs} shift={args.shift} "
        f"{' '.join(args.set)}; test: {m['test_set']}"
    )
    for name in ("aware", "naive"):
        for chip, r in m["circuit"][name].items():
            print(
                f"  {name:5s} {chip:10s}: accuracy {r['accuracy']:.2%} "
                f"(tied outputs {r['tied_fraction']:.1%}), "
                f"{r['energy_per_inference_J'] * 1e9:.2f} nJ/inference "
                f"({r['synaptic_events_per_inference']:,.0f} device reads)"
            )
    for chip in m["circuit"]["aware"]:
        gap = m["circuit"]["aware"][chip]["accuracy"] - m["circuit"]["naive"][chip]["accuracy"]
        print(f"  gap aware - naive ({chip}): {100 * gap:+.2f} pp")
    ref = m["reference_energy_per_inference_J"]
    print(
        f"  energy per inference (aware, nominal): "
        f"{m['circuit']['aware']['nominal']['energy_per_inference_J'] * 1e9:.2f} nJ "
        f"vs paper {ref * 1e9:.2f} nJ (encoder excluded)"
    )
    train_s = {k: round(v["train_s"], 1) for k, v in m["learning_curve"].items()}
    print(f"  training s {train_s}, wall {wall:.0f} s")


if __name__ == "__main__":
    main()
