"""What every classification task does with a learner: build, fit, predict, score, save.

A task produces its data in the learner's input kind and calls :func:`build_learner` then
:func:`train_and_test`; this module holds the metrics and plots the tasks share, so no task
knows which learner it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..learners import Learner, TrainingData, get_learner, learner_config
from ..learners.store import save_model
from ..plots import confusion_plot
from .api import RunContext


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``C[true, predicted]``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return matrix


def recall_per_class(matrix: np.ndarray) -> list[float | None]:
    """Recall of each class from ``C[true, predicted]`` (None for a class never tested)."""
    totals = matrix.sum(axis=1)
    return [float(matrix[k, k] / totals[k]) if totals[k] else None for k in range(len(matrix))]


def per_class_accuracy(matrix: np.ndarray, classes) -> dict:
    """``{class name: recall}`` from ``C[true, predicted]`` (None for a class never tested)."""
    return dict(zip(classes, recall_per_class(matrix), strict=True))


def collapse_hint(accuracy: float, n_classes: int, fix: str) -> str:
    """A hint for the summary when the test accuracy is within 1.5x of chance (1/n_classes),
    else ``""``: such a run collapsed (outputs silent or saturated for every input) rather than
    learned slowly; ``fix`` is what to try (the learner's ``hint_at_chance``)."""
    if accuracy > 1.5 / n_classes:
        return ""
    return f"; AT CHANCE: training collapsed (outputs silent or saturated); try {fix}"


def unlearned_classes_hint(matrix: np.ndarray, classes, fix: str) -> str:
    """A hint for the summary when some tested classes are never predicted (their column of
    ``C[true, predicted]`` is zero): those outputs did not learn, even if the others did;
    else ``""``. ``fix`` as in :func:`collapse_hint`."""
    tested, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    never = [str(c) for c, t, p in zip(classes, tested, predicted, strict=True) if t and not p]
    if not never:
        return ""
    return (f"; {len(never)} of {len(classes)} classes never predicted ({', '.join(never)}): "
            f"their outputs did not learn; try {fix}")  # fmt: skip


def build_learner(
    ctx: RunContext, n_inputs: int, n_classes: int, adapted: dict[str, Any]
) -> Learner:
    """The run's learner, built on the run's profile and seed.

    ``adapted``: the fields the task sets for learners of this input kind when the task is not
    the learner's home (see :func:`~dendritic_snn.learners.registry.learner_config`).
    """
    cls = get_learner(ctx.learner)
    config = learner_config(cls, ctx.task, ctx.config, adapted)
    return cls.build(ctx.profile, ctx.seed, config, int(n_inputs), int(n_classes), ctx.out,
                     ctx.progress)  # fmt: skip


@dataclass
class Evaluation:
    """Outcome of :func:`train_and_test`."""

    predicted: np.ndarray
    confusion: np.ndarray
    accuracy: float
    metrics: dict[str, Any]
    energy: dict[str, Any]
    plots: list[str] = field(default_factory=list)


def train_and_test(
    ctx: RunContext,
    learner: Learner,
    train: TrainingData,
    test_x: Any,
    test_y: np.ndarray,
    title: str,
    encoding: dict[str, Any] | None = None,
) -> Evaluation:
    """Fit, predict the test set, score, measure energy, save the model and plot.

    ``metrics`` holds the learner's training metrics and its test report; the task adds its
    own (accuracy, per-class recall, data description). The trained model goes to
    ``model.npz`` / ``model.json`` in the run directory.
    """
    fit_metrics = learner.fit(train)
    predicted = np.asarray(learner.predict(test_x), int)
    report = learner.report(test_x, test_y, predicted)
    n_classes = learner.setup.n_classes
    matrix = confusion_matrix(test_y, predicted, n_classes)
    accuracy = float(np.trace(matrix) / matrix.sum()) if matrix.sum() else 0.0
    energy = learner.energy()
    save_model(ctx.out, learner, ctx.task, train.classes, encoding)
    plots = [
        *learner.plots(ctx.out, title),
        confusion_plot(ctx.out / "confusion.png", matrix, train.classes, title),
    ]
    return Evaluation(predicted, matrix, accuracy, {**fit_metrics, **report}, energy, plots)
