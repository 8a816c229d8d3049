"""K-class discrimination of the dendritic learner on a block of seeds (chip and patterns).

    python bench/dendritic_generalisation.py --seeds 1000-1009
    python bench/dendritic_generalisation.py --seeds 0-49 --set lr_p_r=0.1 --label screen

Runs ``dsnn task pattern_discrimination`` (dynapse_se, its 20 % mismatch) for every seed of
the block with the task defaults plus any ``--set`` overrides, all seeds batched through the
in-process engine (:func:`~dendritic_snn.dendritic.batch.run_batched`), and appends a
Markdown table to ``bench/results/dendritic_generalisation.md`` (the command on the first
line of each section). A seed is "correct" when every class's test accuracy is above 50 %
and the overall accuracy is at least 75 %.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from dendritic_snn.dendritic.batch import run_batched  # noqa: E402
from dendritic_snn.runners.api import run_task  # noqa: E402

OUT = Path(__file__).parent / "results" / "dendritic_generalisation.md"


def seed_block(text: str) -> list[int]:
    """``"1000-1009"`` -> [1000, ..., 1009]; ``"1,5,7"`` -> [1, 5, 7]."""
    if "-" in text:
        a, b = (int(x) for x in text.split("-"))
        return list(range(a, b + 1))
    return [int(x) for x in text.split(",")]


def run_block(seeds: list[int], overrides: dict) -> list[dict]:
    def one(seed):
        with tempfile.TemporaryDirectory() as out:
            return run_task("pattern_discrimination", seed=seed, out=out, progress=False,
                            overrides=overrides)["metrics"]  # fmt: skip

    return run_batched(one, seeds)


def correct(m: dict) -> bool:
    return min(m["per_class"]) > 0.5 and m["accuracy"] >= 0.75


def table(seeds: list[int], metrics: list[dict], title: str) -> list[str]:
    lines = [f"### {title}", "",
             "| seed | accuracy | per class | correct | updates/pres. first -> last third |"
             " readout error first -> last third | readout spikes / test pres. |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for s, m in zip(seeds, metrics, strict=True):
        lines.append(
            f"| {s} | {m['accuracy']:.3f} | {' / '.join(f'{c:.2f}' for c in m['per_class'])} | "
            f"{'yes' if correct(m) else 'no'} | "
            f"{m['weight_updates_per_presentation_first_third']:.0f} -> "
            f"{m['weight_updates_per_presentation_last_third']:.0f} | "
            f"{m['readout_error_first_third']:.2f} -> {m['readout_error_last_third']:.2f} | "
            f"{m['readout_spikes_per_test_presentation']:.1f} |"
        )
    acc = np.array([m["accuracy"] for m in metrics])
    n_ok = sum(correct(m) for m in metrics)
    lines += ["", f"correct in {n_ok} of {len(seeds)} seeds; mean accuracy {acc.mean():.3f} "
              f"+- {acc.std():.3f} (sd); min {acc.min():.3f}", ""]  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1000-1009", help="block: A-B or a,b,c")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="task config override (repeatable)")  # fmt: skip
    ap.add_argument("--label", default="", help="title suffix")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    seeds = seed_block(args.seeds)
    t0 = time.perf_counter()
    metrics = run_block(seeds, overrides)
    wall = time.perf_counter() - t0
    k = metrics[0]["patterns"]
    desc = ", ".join(f"{k_}={v}" for k_, v in overrides.items()) or "task defaults"
    title = f"K = {k}, seeds {args.seeds}, {desc}" + (f" ({args.label})" if args.label else "")
    cmd = "python bench/dendritic_generalisation.py " + shlex.join(sys.argv[1:])
    lines = [f"`{cmd.strip()}`", "", *table(seeds, metrics, title), f"(wall time {wall:.0f} s)", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        with OUT.open("a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
