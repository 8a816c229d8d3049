"""Benchmark of the dendritic pattern tasks: Markdown tables per seed, with seed counts and spread.

    python bench/dendritic_benchmark.py                               # everything
    python bench/dendritic_benchmark.py --only k2 --seeds 10
    python bench/dendritic_benchmark.py --only k2 --seeds 10 --first-seed 100   # other seeds

Each section's table goes to the terminal and to ``bench/results/dendritic_SECTION-...md``,
from which the documentation's results page is built.

Sections (``--only`` picks some, comma separated):

* ``k2``: K = 2 discrimination, ``--seeds`` seeds at the profile's 20 % mismatch; a seed is
  "correct" when every class's test presentations (jittered, fresh) are classified correctly
  in the majority (per-class accuracy > 50 %) *and* the overall test accuracy is >= 75 %.
  Also reported: weight updates and readout error per training presentation, first third
  -> last third (stop-learning: both should fall).
* ``rec``: pattern recognition, L and D per seed; target L > 1.5 and D > 1.5; with the
  pyramidal rates to the trained and the deviant pattern after training, and the updates
  and readout error as for ``k2``, and the readout's spikes per presentation (pattern +
  tail, no floor) after training and to the deviant (the criterion also asks >= 5 after
  training).
* ``rec0``: the same with the input -> P learning off (``lr_in_p = 0``), the ablation that
  shows how much of D the hidden layer's learning makes (not in the default ``--only``).
* ``recab``: the pattern recognition ablation, one row per variant (:data:`REC_VARIANTS`:
  each departure from the paper switched off the defaults, the ``paper`` preset, the
  defaults before the current ones): seeds meeting the criterion (L, D > 1.5 and >= 5
  readout spikes per presentation after training) and the median D (not in the default
  ``--only``).
* ``k``: accuracy for K = 2, 4, 8 (mean +- std over seeds), with test jitter 2 ms / 10 %.
* ``mm``: K = 2 accuracy for the ``ideal`` profile vs 20 % vs 40 % mismatch.

A seed whose simulation diverges (NaN) is listed and left out
of the ``k`` and ``mm`` means, which say how many diverged.

Runs in one process, so all runs with the same network size share one cpp_standalone build.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from dendritic_snn.errors import DsnnError
from dendritic_snn.runners.api import run_task
from dendritic_snn.runners.pattern_recognition import recognised

try:
    from bench._results import record
except ImportError:  # run as ``python bench/dendritic_benchmark.py``
    from _results import record


def _run(task, seed, profile="dynapse_se", mismatch=None, **overrides):
    with tempfile.TemporaryDirectory() as out:
        return run_task(task, seed=seed, profile=profile, mismatch=mismatch, out=out,
                        overrides=overrides, progress=False)  # fmt: skip


def _accuracies(seeds, **kwargs) -> tuple[list[float], int]:
    """Accuracies of the seeds whose simulation stayed finite, and how many diverged."""
    accs, diverged = [], 0
    for s in seeds:
        try:
            accs.append(_run("pattern_discrimination", s, **kwargs)["metrics"]["accuracy"])
        except DsnnError as err:
            print(f"(seed {s}: {err})", flush=True)
            diverged += 1
    return accs, diverged


def _row(accs, diverged) -> str:
    mean = f"{np.mean(accs):.3f} +- {np.std(accs):.3f}" if accs else "-"
    return f"{mean} | {len(accs)}" + (f" ({diverged} diverged)" if diverged else "")


def correct(m) -> bool:
    """A correctly learned seed: every class > 50 % and accuracy >= 75 % (module docstring)."""
    return min(m["per_class"]) > 0.5 and m["accuracy"] >= 0.75


def _seeds(seeds) -> str:
    return f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)})"


def _trend(m) -> tuple[float, float, float, float]:
    """Updates per presentation and readout error, first and last third of training."""
    return tuple(
        m[f"{q}_{k}_third"]
        for q in ("weight_updates_per_presentation", "readout_error")
        for k in ("first", "last")
    )


def k2(seeds):
    print(f"\n### K = 2 discrimination, 20 % mismatch (dynapse_se), {_seeds(seeds)}\n")
    print(
        "| seed | accuracy | per class | correct | updates/presentation first -> last third "
        "| readout error first -> last third | readout spikes / test presentation |"
    )
    print("|---|---|---|---|---|---|---|")
    accs, oks, both = [], [], []
    for s in seeds:
        m = _run("pattern_discrimination", s)["metrics"]
        accs.append(m["accuracy"])
        oks.append(correct(m))
        u0, u1, e0, e1 = _trend(m)
        both.append(u1 < u0 and e1 < e0)
        pc = " / ".join(f"{a:.2f}" for a in m["per_class"])
        print(f"| {s} | {m['accuracy']:.3f} | {pc} | {'yes' if oks[-1] else 'no'} | "
              f"{u0:.0f} -> {u1:.0f} | {e0:.2f} -> {e1:.2f} | "
              f"{m['readout_spikes_per_test_presentation']:.1f} |", flush=True)  # fmt: skip
    print(
        f"\ncorrect (every class > 50 % and accuracy >= 75 %) in {sum(oks)} of {len(accs)} "
        f"seeds; accuracy >= 90 % in {sum(a >= 0.9 for a in accs)}; mean accuracy "
        f"{np.mean(accs):.3f} +- {np.std(accs):.3f}; updates/presentation and readout error "
        f"both fell in {sum(both)} of {len(both)} seeds"
    )


def rec(seeds, note="", **overrides):
    print(f"\n### Pattern recognition, 20 % mismatch (dynapse_se), {_seeds(seeds)}{note}\n")
    print(
        "| seed | L | D | readout bias factor after training "
        "| readout rate before / after / deviant (Hz) "
        "| readout spikes/presentation after / deviant | pyramidal rate after / deviant (Hz) "
        "| updates/presentation first -> last third | readout error first -> last third |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    n_ok, n_spk, n_both, falls, kept = 0, 0, 0, [], []
    for s in seeds:
        m = _run("pattern_recognition", s, **overrides)["metrics"]
        r, p = m["readout_rate_hz"], m["pyramidal_rate_hz"]
        sa, sd = m["readout_spikes_after"], m["readout_spikes_deviant"]
        n_ok += m["L"] > 1.5 and m["D"] > 1.5
        n_spk += sa >= 5
        ok = recognised(m)
        n_both += ok
        u0, u1, e0, e1 = _trend(m)
        falls.append(u1 < u0)
        gain = m["readout_recalibration_gain"]
        kept.append((gain == 1.0, ok))
        print(f"| {s} | {m['L']:.2f} | {m['D']:.2f} | {gain:.2f} "
              f"| {r['before']:.1f} / {r['after']:.1f} / "
              f"{r['deviant']:.1f} | {sa:.1f} / {sd:.1f} | {p['after']:.1f} / {p['deviant']:.1f} "
              f"| {u0:.0f} -> {u1:.0f} "
              f"| {e0:.2f} -> {e1:.2f} |", flush=True)  # fmt: skip
    print(
        f"\nL > 1.5 and D > 1.5 in {n_ok} of {len(seeds)} seeds; readout >= 5 spikes per "
        f"presentation after training in {n_spk}; both in {n_both}; updates/presentation fell "
        f"in {sum(falls)} of {len(falls)} seeds; the readout's bias kept after training (L a "
        f"learned increase at equal bias) in {sum(k for k, _ in kept)}, of which "
        f"{sum(k and ok for k, ok in kept)} meet the criterion"
    )


#: Variants of the pattern recognition ablation (``recab``): label -> config overrides.
REC_VARIANTS = {
    "defaults": {},
    "2 pyramidal neurons (the paper)": {"n_pyramidal": 2},
    "teacher raises hidden spikes x2 (top-down gain calibration)": {"calibrate_topdown": 2.0},
    "multiplicative input-weight scaling": {"in_p_norm": "multiplicative"},
    "input weight ceiling 12": {"w_max_in_p": 12.0},
    "top-down also without the teacher": {"topdown_only_with_teacher": False},
    "no readout bias recalibration": {"recalibrate_readout_spikes": 0.0},
    "readout bias recalibration that also lowers the bias": {
        "recalibrate_readout_raise_only": False
    },
    "readout bias tuned on background patterns before and after training (5 spikes; L a "
    "learned increase)": {
        "recalibrate_readout_on": "background",
        "recalibrate_readout_spikes": 5.0,
    },
    "no input -> P learning": {"lr_in_p": 0.0},
    "no P -> R learning": {"lr_p_r": 0.0},
    "no learning at all": {"lr_in_p": 0.0, "lr_p_r": 0.0, "lr_p_i": 0.0},
    "`paper` preset": {"preset": "paper"},
    "previous defaults (2 P, multiplicative, ceilings 12 / 10, top-down always, no readout "
    "recalibration, top-down gain x2)": {
        "n_pyramidal": 2,
        "in_p_norm": "multiplicative",
        "w_max_in_p": 12.0,
        "w_max_p_r": 10.0,
        "topdown_only_with_teacher": False,
        "recalibrate_readout_spikes": 0.0,
        "calibrate_topdown": 2.0,
    },  # fmt: skip
}


def rec_ablation(seeds):
    print(f"\n### Pattern recognition ablation, 20 % mismatch (dynapse_se), {_seeds(seeds)}\n")
    print("| variant | fields | L, D > 1.5 and >= 5 readout spikes after | median D |")
    print("|---|---|---|---|")
    for label, overrides in REC_VARIANTS.items():
        ms = [_run("pattern_recognition", s, **overrides)["metrics"] for s in seeds]
        fields = ", ".join(f"`{k}={v}`" for k, v in overrides.items()) or "-"
        print(f"| {label} | {fields} | {sum(map(recognised, ms))}/{len(ms)} | "
              f"{np.median([m['D'] for m in ms]):.2f} |", flush=True)  # fmt: skip


def k_table(seeds, ks=(2, 4, 8)):
    print(
        "\n### Accuracy vs number of patterns K (test jitter 2 ms, 10 % deletion), "
        f"{_seeds(seeds)}\n"
    )
    print("| K | chance | accuracy (mean +- std) | seeds |")
    print("|---|---|---|---|")
    for k in ks:
        print(f"| {k} | {1 / k:.3f} | {_row(*_accuracies(seeds, patterns=k))} |", flush=True)


def mm_table(seeds):
    print(f"\n### K = 2 accuracy vs mismatch, {_seeds(seeds)}\n")
    print("| profile | mismatch | accuracy (mean +- std) | seeds |")
    print("|---|---|---|---|")
    for label, prof, mm in (("ideal", "ideal", None), ("dynapse_se", "dynapse_se", None),
                            ("dynapse_se", "dynapse_se", 0.4)):  # fmt: skip
        sigma = {"ideal": 0.0}.get(prof, 0.2) if mm is None else mm
        row = _row(*_accuracies(seeds, profile=prof, mismatch=mm))
        print(f"| {label} | {sigma:.0%} | {row} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="number of seeds")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    ap.add_argument("--only", default="k2,rec,k,mm")
    ap.add_argument("--ks", default="2,4,8", help="K values of the 'k' table")
    args = ap.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    tag = f"seeds{seeds[0]}-{seeds[-1]}"
    start = time.perf_counter()
    sections = {
        "k2": lambda: k2(seeds),
        "mm": lambda: mm_table(seeds),
        "rec": lambda: rec(seeds),
        "rec0": lambda: rec(
            seeds, " -- ablation: input -> P learning off (lr_in_p = 0)", lr_in_p=0.0
        ),
        "recab": lambda: rec_ablation(seeds),
        "k": lambda: k_table(seeds, tuple(int(k) for k in args.ks.split(","))),
    }
    only = args.only.split(",")
    for name in only:
        if name not in sections:
            ap.error(f"--only: unknown section {name!r} (choose from {', '.join(sections)})")
    for name, section in sections.items():
        if name in only:
            with record(f"dendritic_{name}-{tag}"):
                section()
    print(f"\n(total wall time {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
