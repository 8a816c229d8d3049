"""Benchmark: the dendritic learner on mnist5k, tested on the official MNIST test set.

Runs ``dsnn task mnist --learner dendritic`` (profile ``dynapse_se`` at its own mismatch)
through the Python API once per seed, then writes one table to
``bench/results/mnist_dendritic.md``: test accuracy per seed, mean +- sd, the weight updates
per presentation in the first and last third of training, and the wall time.

Beside the learned readout, the readout ceiling of the same hidden layer: the pyramidal spike
counts of every training and test presentation are recorded, and three linear readouts are
fitted to the training counts (one-vs-rest, offline): multinomial logistic regression and
least squares with signed weights, and least squares with non-negative weights (the sign the
chip's excitatory P -> R synapses allow). Their test accuracies say whether the hidden
features or the readout limit the learner (scikit-learn, installed with the ``mnist5k`` extra).

    OMP_NUM_THREADS=1 python bench/mnist_dendritic.py --seeds 0 1 2 --jobs 2

Extra task fields with ``--set KEY=VALUE`` (e.g. ``--set dendritic_pyramidal=100``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import multiprocessing  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _results import default_name, record  # noqa: E402
from mnist_eqspike import DEFAULT_TEST_DIR  # noqa: E402
from scipy.optimize import nnls  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from dendritic_snn import run_task  # noqa: E402
from dendritic_snn.dendritic.experiment import Experiment  # noqa: E402
from dendritic_snn.learners.dendritic import DendriticLearner  # noqa: E402
from dendritic_snn.runners.spec import load_task_spec, parse_override  # noqa: E402

TARGET = 0.85


@contextlib.contextmanager
def hidden_counts():
    """Record the pyramidal spike counts of every presentation while a run is inside the block:
    yields ``{"train": [(counts, class)], "test": [counts], "test_labels": array}``."""
    rec: dict = {"train": [], "test": [], "test_labels": None}
    finish, report = Experiment.finish, DendriticLearner.report

    def recording_finish(self, res, extra):
        counts = np.bincount(res["spikes"]["P"][0], minlength=self.st.n_p)
        if extra["learn"]:  # the teacher marks the class (target readout)
            rec["train"].append((counts, int(np.argmax(extra["hi"].sum(axis=0)))))
        else:
            rec["test"].append(counts)
        return finish(self, res, extra)

    def recording_report(self, x, y, predicted):
        rec["test_labels"] = np.asarray(y)
        return report(self, x, y, predicted)

    Experiment.finish, DendriticLearner.report = recording_finish, recording_report
    try:
        yield rec
    finally:
        Experiment.finish, DendriticLearner.report = finish, report


def readout_ceiling(rec: dict, n_classes: int = 10) -> dict[str, float]:
    """Test accuracies of linear readouts fitted offline to the training presentations'
    hidden spike counts (the test presentations are the last ``len(test_labels)``)."""
    x_train = np.array([c for c, _ in rec["train"]], float)
    y_train = np.array([k for _, k in rec["train"]])
    y_test = rec["test_labels"]
    x_test = np.array(rec["test"][-len(y_test) :], float)
    scaler = StandardScaler().fit(x_train)
    logistic = LogisticRegression(max_iter=3000).fit(scaler.transform(x_train), y_train)
    onehot = np.eye(n_classes)[y_train]

    def with_bias(x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((len(x), 1))])

    signed = np.linalg.lstsq(with_bias(x_train), onehot, rcond=None)[0]
    nonneg = np.stack([nnls(x_train, onehot[:, k], maxiter=20 * x_train.shape[1])[0]
                       for k in range(n_classes)], axis=1)  # fmt: skip
    return {
        "logistic": float(logistic.score(scaler.transform(x_test), y_test)),
        "signed": float(np.mean(np.argmax(with_bias(x_test) @ signed, axis=1) == y_test)),
        "nonneg": float(np.mean(np.argmax(x_test @ nonneg, axis=1) == y_test)),
    }


def run_seed(seed: int, overrides: dict) -> dict:
    """Train and test one seed in a temporary run directory; the row of the table."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, hidden_counts() as rec:
        result = run_task("mnist", learner="dendritic", seed=seed, out=Path(out),
                          overrides=overrides)  # fmt: skip
    m = result["metrics"]
    row = {"seed": seed, "accuracy": m["accuracy"], "n_train": m["n_train"],
           "n_test": m["n_test"], "wall": time.perf_counter() - start,
           "first": m["weight_updates_per_presentation_first_third"],
           "last": m["weight_updates_per_presentation_last_third"],
           **readout_ceiling(rec)}  # fmt: skip
    return row


def seed_line(row: dict) -> str:
    return (f"seed {row['seed']}: test {row['accuracy']:.2%}; linear readouts of the hidden "
            f"spike counts: logistic {row['logistic']:.2%}, signed LS {row['signed']:.2%}, "
            f"non-negative LS {row['nonneg']:.2%} ({row['wall']:.0f} s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--test-data-dir", type=Path, default=DEFAULT_TEST_DIR)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    args = parser.parse_args()
    overrides = {"test_data_dir": str(args.test_data_dir),
                 **dict(parse_override(text) for text in args.set)}  # fmt: skip
    epochs = {**load_task_spec("mnist").config, **overrides}["dendritic_epochs"]
    with record(default_name("mnist_dendritic", skip=["--test-data-dir", "--jobs"])):
        print("# Dendritic learner on MNIST (mnist5k -> official MNIST test set)\n")
        run = functools.partial(run_seed, overrides=overrides)
        with multiprocessing.get_context("fork").Pool(max(args.jobs, 1)) as pool:
            rows = []
            for row in pool.imap(run, args.seeds):  # in seed order, each as it is done
                print(seed_line(row), flush=True)
                rows.append(row)
        acc = np.array([r["accuracy"] for r in rows])
        sd = float(np.std(acc, ddof=1)) if len(acc) > 1 else float("nan")
        fields = ", ".join(args.set) or "task defaults"
        print(
            f"\n`dsnn task mnist --learner dendritic` ({fields}; dynapse_se at its mismatch), "
            f"{rows[0]['n_train']} training digits, {rows[0]['n_test']} test digits, "
            f"{epochs} pass(es). "
            f"Mean {acc.mean():.2%} +- {sd:.2%} over seeds {args.seeds} "
            f"(target >= {TARGET:.0%}: {'met' if acc.mean() >= TARGET else 'not met'}).\n"
        )
        print(
            "| seed | test accuracy | updates/presentation, first third | last third | "
            "logistic readout | signed LS readout | non-negative LS readout | wall s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['seed']} | {r['accuracy']:.2%} | {r['first']:.0f} | {r['last']:.0f} "
                f"| {r['logistic']:.2%} | {r['signed']:.2%} | {r['nonneg']:.2%} "
                f"| {r['wall']:.0f} |"
            )
        means = {k: np.mean([r[k] for r in rows]) for k in ("logistic", "signed", "nonneg")}
        print(
            "\nThe last three columns: linear readouts fitted offline to the training "
            "presentations' pyramidal spike counts and tested on the test presentations' "
            f"(mean: logistic {means['logistic']:.2%}, signed least squares "
            f"{means['signed']:.2%}, non-negative least squares {means['nonneg']:.2%})."
        )


if __name__ == "__main__":
    main()
