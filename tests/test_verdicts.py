"""Verdicts follow the task criterion, and the update plot's title states what it shows."""

import numpy as np
import pytest

from dendritic_snn.runners.verdicts import (
    discrimination_learned,
    discrimination_verdict,
    stop_learning_phrase,
)


@pytest.mark.parametrize(
    ("per_class", "accuracy", "k", "learned"),
    [
        ([0.8, 0.8], 0.80, 2, True),  # README seed 0
        ([0.30, 0.65], 0.475, 2, False),  # README seed 5: below chance on one class
        ([1.0, 0.45], 0.725, 2, False),  # one class at chance level fails, however good the other
        ([0.75, 0.75], 0.75, 2, True),  # the threshold is inclusive for accuracy
        ([0.74, 0.74], 0.74, 2, False),
        ([0.6, 0.5, 0.7, 0.6], 0.6, 4, True),  # K = 4: chance 25 %, threshold 50 %
        ([0.6, 0.2, 0.9, 0.9], 0.65, 4, False),  # one class below chance
    ],
)
def test_discrimination_criterion(per_class, accuracy, k, learned):
    assert discrimination_learned(per_class, accuracy, k) is learned
    verdict = discrimination_verdict(per_class, accuracy, k)
    assert verdict.startswith("learned" if learned else "did not learn")
    assert f"above chance {1 / k:.0%}" in verdict


def test_stop_learning_phrase_says_what_the_counts_did():
    assert stop_learning_phrase(46, 56).endswith("(first -> last third: did not fall)")
    assert stop_learning_phrase(327, 272).endswith("(first -> last third: fell)")
    assert "46 -> 56" in stop_learning_phrase(46.2, 55.8)
    both = stop_learning_phrase(46, 56, 2.36, 2.24)
    assert both.endswith("; readout error 2.36 -> 2.24 I_ref (fell)")
    assert "(first -> last third: did not fall)" in both


def test_updates_plot_title_states_the_trend(tmp_path, monkeypatch):
    from dendritic_snn.dendritic import plots

    titles = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: titles.append(fig.axes[0].get_title()))
    plots.updates_plot(tmp_path / "u.png", np.array([40, 50, 60, 50, 55, 60.0]))
    plots.updates_plot(tmp_path / "u.png", np.array([90, 80, 30, 20, 10, 10.0]))
    assert titles[0].endswith("45 -> 58 (first -> last third, did not fall)")
    assert titles[1].endswith("85 -> 10 (first -> last third, fell)")
    assert "stop-learning" not in titles[0].split(":")[1]
