"""``dsnn task mnist`` with rate EP on a tiny synthetic IDX data set written here."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dendritic_snn import run_task
from dendritic_snn.cli import main
from dendritic_snn.data.idx import write_idx
from dendritic_snn.results import REQUIRED_KEYS, read_result


def synthetic_digits(directory, n_train=300, n_test=200, seed=0):
    """10 classes: a fixed random stroke pattern per class, each example a noisy copy."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 28, 28)) < 0.12
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        keep = rng.random((n, 28, 28)) < 0.7
        noise = rng.random((n, 28, 28)) < 0.05
        images = ((prototypes[labels] & keep) | noise).astype(np.uint8) * 255
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return directory


def settings(data_dir, **extra):
    return {
        "dataset": "mnist",
        "data_dir": str(data_dir),
        "hidden": [40],
        "epochs": 2,
        "n_free": 10,
        "n_nudge": 4,
        "n_eval": 20,
        "augment_shift": 0,  # the synthetic patterns are not shift-invariant
        **extra,
    }


def test_run_directory_metrics_and_plots(tmp_path):
    data = synthetic_digits(tmp_path / "data", n_train=100, n_test=50)
    run_task("mnist", seed=3, out=tmp_path / "run", overrides=settings(data), progress=False)
    stored = read_result(tmp_path / "run")
    assert stored is not None and set(REQUIRED_KEYS) <= set(stored)
    metrics = stored["metrics"]
    assert metrics["n_test"] == 50
    arrays = np.load(tmp_path / "run" / "arrays.npz")
    labels, predicted = arrays["test_labels"], arrays["test_predicted"]
    assert metrics["accuracy"] == np.mean(predicted == labels)  # scored from the predictions
    for digit, recall in metrics["per_class"].items():
        assert recall == np.mean(predicted[labels == int(digit)] == int(digit))
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    assert metrics["learning_curve"]["epoch"] == [1, 2]
    assert len(metrics["learning_curve"]["test_accuracy"]) == 2
    assert metrics["train_accuracy"] == metrics["learning_curve"]["train_accuracy"][-1]
    assert stored["timing"]["examples_per_s"] > 0
    assert stored["energy"]["per_inference_J"] is None
    for plot in ("learning_curve.png", "confusion.png"):
        assert (tmp_path / "run" / plot).stat().st_size > 1000
    confusion = np.load(tmp_path / "run" / "arrays.npz")["confusion"]
    assert confusion.sum() == 50
    assert (tmp_path / "run" / "checkpoint.npz").is_file()


def test_resume_continues_exactly(tmp_path):
    """Two epochs in one go == one epoch, stop, resume for the second (same weights)."""
    data = synthetic_digits(tmp_path / "data", n_train=60, n_test=30)
    kw = dict(seed=1, progress=False)
    run_task("mnist", out=tmp_path / "full", overrides=settings(data, augment_shift=1), **kw)
    run_task(
        "mnist", out=tmp_path / "part", overrides=settings(data, augment_shift=1, epochs=1), **kw
    )
    resumed = run_task(
        "mnist", out=tmp_path / "part", overrides=settings(data, augment_shift=1, resume=True), **kw
    )
    assert resumed["metrics"]["resumed_from_epoch"] == 1
    full = np.load(tmp_path / "full" / "checkpoint.npz")
    part = np.load(tmp_path / "part" / "checkpoint.npz")
    for key in ("W0", "W1", "b0", "b1", "particles0"):
        np.testing.assert_array_equal(full[key], part[key])
    full_result = json.loads((tmp_path / "full" / "result.json").read_text())
    assert resumed["metrics"]["learning_curve"] == full_result["metrics"]["learning_curve"] | {
        "epoch_s": resumed["metrics"]["learning_curve"]["epoch_s"]
    }
    # a checkpoint from other settings is refused
    result = CliRunner().invoke(
        main,
        [
            "task",
            "mnist",
            "--out",
            str(tmp_path / "part"),
            *sum(
                (["--set", f"{k}={v}"] for k, v in settings(data, resume=True, beta=0.3).items()),
                [],
            ),
        ],
    )
    assert result.exit_code == 2 and "other training settings" in result.output


def test_dendritic_resume_after_interruption_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    """Checkpoint every 8 presentations; a run stopped at presentation 13 keeps its run
    directory, and --resume from presentation 8 ends with the uninterrupted run's weights."""
    from dendritic_snn.dendritic.experiment import Experiment

    data = synthetic_digits(tmp_path / "data", n_train=20, n_test=10)
    over = {"dataset": "mnist", "data_dir": str(data), "dendritic_pool": 4,
            "dendritic_pyramidal": 12, "dendritic_epochs": 1, "dendritic_duration": 0.05,
            "dendritic_calibrate": 4, "dendritic_checkpoint_every": 8}  # fmt: skip
    kw = dict(learner="dendritic", seed=2, progress=False)
    full = run_task("mnist", out=tmp_path / "full", overrides=over, **kw)
    present, calls = Experiment.present, []

    def interrupted(self, *args, **kwargs):
        if kwargs.get("learn", args[2] if len(args) > 2 else False):
            calls.append(1)
            if len(calls) == 13:
                raise KeyboardInterrupt
        return present(self, *args, **kwargs)

    monkeypatch.setattr(Experiment, "present", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_task("mnist", out=tmp_path / "part", overrides=over, **kw)
    monkeypatch.setattr(Experiment, "present", present)
    assert (tmp_path / "part" / "checkpoint.npz").is_file()
    resumed = run_task("mnist", out=tmp_path / "part", overrides={**over, "resume": True}, **kw)
    assert resumed["metrics"]["resumed_from_presentation"] == 8
    a, b = np.load(tmp_path / "full" / "arrays.npz"), np.load(tmp_path / "part" / "arrays.npz")
    for key in ("w_in_p_after", "w_p_r_after", "updates_per_presentation", "test_predicted"):
        np.testing.assert_array_equal(a[key], b[key])
    for key in ("accuracy", "weight_updates_by_projection", "calibration_mean_P_spikes"):
        assert resumed["metrics"][key] == full["metrics"][key]
    assert resumed["energy"] == full["energy"]
    # a checkpoint from other settings is refused with one line
    result = CliRunner().invoke(main, ["task", "mnist", "--learner", "dendritic", "--seed", "2",
                                       "--out", str(tmp_path / "part"), "--resume",
                                       *sum((["--set", f"{k}={v}"] for k, v in over.items()), []),
                                       "--set", "dendritic_lr_readout=0.001"])  # fmt: skip
    assert result.exit_code == 2 and "other training settings" in result.output


def test_missing_data_dir_is_one_line(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "task",
            "mnist",
            "--set",
            "dataset=mnist",
            "--set",
            f"data_dir={tmp_path / 'nope'}",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_rate_ep_learns_synthetic_digits(tmp_path):
    data = synthetic_digits(tmp_path / "data", n_train=400, n_test=200)
    overrides = settings(data, hidden=[100], epochs=6, n_free=20, n_nudge=8, n_eval=50)
    result = run_task("mnist", seed=0, out=tmp_path / "run", overrides=overrides, progress=False)
    assert result["metrics"]["accuracy"] > 0.8  # chance: 0.1
    assert result["metrics"]["train_accuracy"] > 0.8


def test_collapse_hint_only_near_chance():
    """A run within 1.5x of chance gets a hint naming the learner's fix; a learning run none."""
    from dendritic_snn.learners import get_learner
    from dendritic_snn.runners.classify import collapse_hint

    eqspike, rate_ep = (get_learner(n).hint_at_chance for n in ("eqspike", "rate_ep"))
    assert collapse_hint(0.80, 10, eqspike) == ""
    hint = collapse_hint(0.1065, 10, eqspike)
    assert "AT CHANCE" in hint and "eqspike_init_scale" in hint
    assert "learning rate" in collapse_hint(0.12, 10, rate_ep)
    assert collapse_hint(0.76, 2, rate_ep) == ""


def test_unlearned_classes_hint_names_the_classes_never_predicted():
    """A run whose outputs learned for some classes only (a column of the confusion matrix is
    zero) names those classes; a run that predicts every class gets no hint."""
    from dendritic_snn.runners.classify import unlearned_classes_hint

    classes = ["a", "b", "c"]
    every = np.array([[5, 1, 0], [0, 6, 1], [2, 0, 4]])
    assert unlearned_classes_hint(every, classes, "fix") == ""
    two_dead = np.array([[5, 0, 0], [6, 0, 0], [2, 0, 0]])
    hint = unlearned_classes_hint(two_dead, classes, "another --seed")
    assert "2 of 3 classes never predicted (b, c)" in hint and "another --seed" in hint
    untested = np.array([[5, 0, 0], [0, 6, 0], [0, 0, 0]])  # c never tested: not a failure
    assert unlearned_classes_hint(untested, classes, "fix") == ""
