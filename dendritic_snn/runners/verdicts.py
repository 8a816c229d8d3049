"""Verdicts printed by the classification tasks: "learned" only when the task's criterion holds.

Pattern discrimination (K classes, test presentations never seen in training) counts as
learned when every class is recognised above chance and the overall accuracy clears chance by
25 points:

.. math::

    \\min_c a_c > 1/K \\quad\\text{and}\\quad a \\ge 1/K + 0.25

(K = 2: every class above 50 % and accuracy at least 75 %, the criterion of
``bench/dendritic_benchmark.py``). Stop-learning is reported separately and only says what the
weight-update counts did: fell or did not fall from the first to the last third of training.
"""

from __future__ import annotations

from collections.abc import Sequence

MARGIN = 0.25


def discrimination_learned(per_class: Sequence[float], accuracy: float, k: int) -> bool:
    """Whether a K-class discrimination run meets the criterion of the module docstring."""
    chance = 1.0 / k
    return bool(len(per_class)) and min(per_class) > chance and accuracy >= chance + MARGIN


def discrimination_verdict(per_class: Sequence[float], accuracy: float, k: int) -> str:
    """``"learned"`` or ``"did not learn"`` followed by the criterion it was judged by."""
    chance = 1.0 / k
    word = "learned" if discrimination_learned(per_class, accuracy, k) else "did not learn"
    return (
        f"{word} (criterion: every class above chance {chance:.0%} and accuracy >= "
        f"{chance + MARGIN:.0%})"
    )


def stop_learning_phrase(
    first: float, last: float, error_first: float | None = None, error_last: float | None = None
) -> str:
    """What the updates per presentation (and, when given, the readout error in units of
    :math:`I_{ref}`) did between the first and the last third of training."""

    def trend(a: float, b: float) -> str:
        return "fell" if b < a else "did not fall"

    text = (f"updates/presentation {first:.0f} -> {last:.0f} "
            f"(first -> last third: {trend(first, last)})")  # fmt: skip
    if error_first is not None and error_last is not None:
        text += (f"; readout error {error_first:.2f} -> {error_last:.2f} I_ref "
                 f"({trend(error_first, error_last)})")  # fmt: skip
    return text
