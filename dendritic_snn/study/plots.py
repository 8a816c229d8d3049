"""Comparison plots of a study: main metric vs mismatch, and energy vs main metric."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..plots import save_figure, subplots

MARKERS = "osD^vP*Xh"


def _axes(n: int):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = subplots(rows, cols, figsize=(4.8 * cols, 3.8 * rows), squeeze=False)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat


def _ylabel(metric: str, goal: str) -> str:
    return f"{metric} ({'↑' if goal == 'max' else '↓'} better)"


def plot_metric_vs_mismatch(groups: list[dict[str, Any]], out: Path) -> str | None:
    """One panel per task: the main metric (mean ± sd over seeds) against mismatch σ, one
    line per learner and profile. Returns the file name, or None with nothing to plot."""
    groups = [g for g in groups if g["n"] and not math.isnan(g["value"])]
    tasks = list(dict.fromkeys(g["task"] for g in groups))
    if not tasks:
        return None
    fig, axes = _axes(len(tasks))
    for ax, task in zip(axes, tasks, strict=False):
        mine = [g for g in groups if g["task"] == task]
        # the overrides go into a label only where one learner@profile ran with several
        sets_of: dict[tuple, set] = defaultdict(set)
        for g in mine:
            sets_of[(g["learner"], g["profile"])].add(g["set"])
        lines: dict[str, list[dict]] = defaultdict(list)
        for g in mine:
            label = f"{g['learner']} @ {g['profile']}"
            if len(sets_of[(g["learner"], g["profile"])]) > 1:
                label += f"\n{g['set']}"
            lines[label].append(g)
        for k, (label, points) in enumerate(lines.items()):
            points.sort(key=lambda g: g["mismatch"] or 0.0)
            ax.errorbar(
                [100 * (g["mismatch"] or 0.0) for g in points],
                [g["value"] for g in points],
                yerr=[g["value_std"] for g in points],
                marker=MARKERS[k % len(MARKERS)],
                capsize=3,
                label=label,
            )
        ax.set_title(task)
        ax.set_xlabel("mismatch σ (%)")
        ax.set_ylabel(_ylabel(mine[0]["metric"], mine[0]["goal"]))
        ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, Path(out) / "metric_vs_mismatch.png")


def plot_energy_vs_metric(rows: list[dict[str, Any]], out: Path) -> str | None:
    """One panel per task: energy per inference (per training example where a task reports
    no inference energy) against the main metric, one point per cell; colour = learner,
    marker = profile. Returns the file name, or None when no cell reports energy."""
    points = []
    for row in rows:
        if row["status"] != "done" or row.get("value") is None:
            continue
        energy = row.get("energy_per_inference_J")
        kind = "inference"
        if energy is None:
            energy, kind = row.get("energy_per_training_example_J"), "training example"
        if energy is not None and energy > 0:
            points.append((row, float(energy), kind))
    tasks = list(dict.fromkeys(row["task"] for row, _, _ in points))
    if not tasks:
        return None
    learners = list(dict.fromkeys(row["learner"] for row, _, _ in points))
    profiles = list(dict.fromkeys(row["profile"] for row, _, _ in points))
    fig, axes = _axes(len(tasks))
    for ax, task in zip(axes, tasks, strict=False):
        mine = [p for p in points if p[0]["task"] == task]
        seen = set()
        for row, energy, _ in mine:
            label = f"{row['learner']} @ {row['profile']}"
            ax.scatter(
                energy,
                row["value"],
                color=f"C{learners.index(row['learner']) % 10}",
                marker=MARKERS[profiles.index(row["profile"]) % len(MARKERS)],
                label=None if label in seen else label,
                alpha=0.8,
            )
            seen.add(label)
        ax.set_xscale("log")
        ax.set_title(task)
        kinds = {kind for _, _, kind in mine}
        ax.set_xlabel(f"energy per {' / '.join(sorted(kinds))} (J)")
        ax.set_ylabel(_ylabel(mine[0][0]["metric"], mine[0][0]["goal"]))
        ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, Path(out) / "energy_vs_metric.png")


def write_plots(out: str | Path, rows: list[dict], groups: list[dict]) -> list[str]:
    """Write the study plots into ``out``; return the file names written."""
    names = [plot_metric_vs_mismatch(groups, Path(out)), plot_energy_vs_metric(rows, Path(out))]
    return [name for name in names if name]
