"""Shared plotting helpers (matplotlib, headless Agg backend)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402


def subplots(*args, figsize: tuple[float, float], **kwargs):
    """``(figure, axes)`` like ``plt.subplots``, but outside pyplot's global figure list, so
    that runs in threads (:func:`~dendritic_snn.dendritic.batch.run_batched`) can plot at
    the same time."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> str:
    """Save ``fig`` as PNG atomically (temporary file, then rename), close it, return the
    file name relative to its directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
    return path.name


def confusion_plot(
    path: Path, matrix: np.ndarray, classes: Sequence[str] | None = None, title: str = ""
) -> str:
    """Confusion matrix ``C[true, predicted]``: colour = fraction of the true class, text =
    count. Returns the file name."""
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    classes = [str(c) for c in (classes if classes is not None else range(len(matrix)))]
    side = min(max(2.5 + 0.3 * len(classes), 3.2), 5.5)
    fig, ax = subplots(figsize=(side, side * 0.9))
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(classes))
    ax.set_xticks(ticks, classes, rotation=45 if len(max(classes, key=len)) > 2 else 0)
    ax.set_yticks(ticks, classes)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            color = "white" if rows[i, j] > 0.5 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=6, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    return save_figure(fig, path)


def learning_curve_plot(path: Path, history: dict, title: str = "") -> str:
    """Accuracy per epoch of every ``*_accuracy`` curve in ``history`` (with ``epoch``)."""
    fig, ax = subplots(figsize=(5.5, 4))
    for key, values in history.items():
        if key.endswith("_accuracy") and values:
            label = key.removesuffix("_accuracy")
            label = "train (online, free phase)" if label == "train" else label
            ax.plot(history["epoch"], np.asarray(values) * 100, marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return save_figure(fig, path)
