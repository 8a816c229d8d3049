"""Figures of the dendritic pattern tasks (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps

from ..plots import save_figure, subplots


def _save(fig, path: Path) -> str:
    return save_figure(fig, path, dpi=110)


def calcium_plot(path: Path, t, traces: dict, phases: list[tuple[str, float, float]],
                 title: str = "") -> str:  # fmt: skip
    """Calcium traces (Hz) with shaded, labelled phases ``(label, start, stop)``: one colour
    per label, consecutive phases of the same label merged into one span."""
    fig, ax = subplots(figsize=(9, 3.2))
    merged: list[list] = []
    for label, a, b in phases:
        if merged and merged[-1][0] == label and merged[-1][2] == a:
            merged[-1][2] = b
        else:
            merged.append([label, a, b])
    labels = sorted({label for label, _, _ in merged})
    colors = dict(zip(labels, colormaps["Pastel1"](np.linspace(0, 1, max(len(labels), 2))),
                      strict=False))  # fmt: skip
    for label, a, b in merged:
        ax.axvspan(a, b, color=colors[label], alpha=0.5, lw=0)
        ax.text((a + b) / 2, 1.0, label, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=8)  # fmt: skip
    for name, c in traces.items():
        ax.plot(t, c, lw=1.2, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("calcium (200 ms low-pass, Hz)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title, fontsize=9, pad=14)
    return _save(fig, path)


def raster_plot(path: Path, rasters: dict[str, tuple], t_end: float, title: str = "") -> str:
    """Stacked rasters: ``{name: (indices, times)}``."""
    fig, axes = subplots(len(rasters), 1, figsize=(9, 1.2 + 1.1 * len(rasters)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, (i, t)) in zip(axes, rasters.items(), strict=True):
        ax.plot(t, i, "|", ms=4, color="k")
        ax.set_ylabel(name)
        ax.set_xlim(0, t_end)
    axes[-1].set_xlabel("time (s)")
    axes[0].set_title(title, fontsize=9)
    return _save(fig, path)


def weight_histograms(path: Path, before: dict, after: dict) -> str:
    """Histograms of weights before and after learning, one panel per projection."""
    names = list(before)
    fig, axes = subplots(1, len(names), figsize=(3.2 * len(names), 2.8))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names, strict=True):
        hi = max(np.max(before[name], initial=0), np.max(after[name], initial=0), 1e-9)
        bins = np.linspace(0, hi, 21)
        for label, weights in (("before", before[name]), ("after", after[name])):
            ax.stairs(np.histogram(weights, bins)[0], bins, fill=True, alpha=0.6, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("w (units of Iw0)")
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def confusion_plot(path: Path, confusion: np.ndarray) -> str:
    """Row-normalised confusion matrix (true class x predicted readout)."""
    k = confusion.shape[0]
    norm = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = subplots(figsize=(2.2 + 0.4 * k, 2 + 0.4 * k))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for a in range(k):
        for b in range(k):
            ax.text(b, a, int(confusion[a, b]), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true pattern")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def updates_plot(path: Path, updates: np.ndarray, error: np.ndarray | None = None) -> str:
    """Weight updates (outside the stop-learning band) per training presentation, with the
    readout error on a second axis; the title states the mean of the first and the last third
    and whether it fell (the stop-learning signature)."""
    fig, ax = subplots(figsize=(6, 3))
    x = np.arange(1, len(updates) + 1)
    ax.plot(x, updates, "o-", ms=3, label="weight updates")
    ax.set_xlabel("training presentation")
    ax.set_ylabel("non-zero updates")
    if error is not None:
        ax2 = ax.twinx()
        ax2.plot(x, error, "s--", ms=3, color="C3", label="readout error")
        ax2.set_ylabel("readout error (I_ref)", color="C3")
    title = "weight updates outside the stop-learning band per presentation"
    if len(updates):
        third = max(len(updates) // 3, 1)
        first, last = float(np.mean(updates[:third])), float(np.mean(updates[-third:]))
        trend = "fell" if last < first else "did not fall"
        title += f": {first:.0f} -> {last:.0f} (first -> last third, {trend})"
    ax.set_title(title, fontsize=8)
    return _save(fig, path)
