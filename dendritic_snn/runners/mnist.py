"""``dsnn task mnist``: train a classifier on MNIST-style images and test it, any learner.

Data (``dataset``, ``data_dir``, ``test_data_dir``: :mod:`dendritic_snn.data.datasets`); a
data set without a test split (``mnist5k`` without ``test_data_dir``) is tested on
``fallback_test`` held-out training examples, and the summary says so. ``n_train`` /
``n_test`` take seeded subsets; ``holdout`` keeps a validation set scored after every epoch.
The images reach the learner in its input kind:

* ``vectors`` (``rate_ep``, ``eqspike``, ``memcap``): the 784 pixel values in ``[0, 1]``;
* ``images``: the same as ``(n, 28, 28)`` arrays;
* ``spikes`` (``dendritic``): every image average-pooled over ``dendritic_pool`` x
  ``dendritic_pool`` blocks (784 -> 49 channels for 4) and presented as Poisson spike trains
  at ``pixel * dendritic_max_rate`` for ``dendritic_duration`` seconds
  (:func:`dendritic_snn.data.encoding.image_spikes`; fresh spikes for every presentation,
  ``dendritic_epochs`` passes over the training images in a seeded order); the learner's
  unsupervised calibration runs on the first ``dendritic_calibrate`` images of that order
  (``mnist5k`` is sorted by class). The learner's other hyperparameters come from its home
  task, except those the ``dendritic_*`` fields set (:data:`SPIKE_FIELDS`).

Metrics: ``accuracy`` (test), ``per_class``, and the learner's own (``train_accuracy``,
``learning_curve``, ...); plots ``confusion.png`` and the learner's.
"""

from __future__ import annotations

import time

import numpy as np

from ..data.datasets import Dataset, load_dataset
from ..errors import DsnnError
from ..learners import TrainingData, get_learner
from .api import RunContext, TaskOutput
from .classify import (
    build_learner,
    collapse_hint,
    per_class_accuracy,
    train_and_test,
    unlearned_classes_hint,
)

#: input kinds this task can produce
INPUT_KINDS = ("vectors", "images", "spikes")


def _subset(data: Dataset, n: int, rng: np.random.Generator) -> Dataset:
    if n <= 0 or n >= len(data):
        return data
    return data.subset(np.sort(rng.choice(len(data), size=n, replace=False)))


def _split_off(data: Dataset, n: int, rng: np.random.Generator) -> tuple[Dataset, Dataset]:
    """(rest, n held-out examples), a seeded random split."""
    if not 0 < n < len(data):
        raise DsnnError(f"mnist: cannot hold out {n} of {len(data)} training examples")
    order = rng.permutation(len(data))
    return data.subset(np.sort(order[n:])), data.subset(np.sort(order[:n]))


def load_splits(ctx: RunContext) -> tuple[Dataset, Dataset | None, Dataset, str]:
    """Training, validation (or None) and test sets, and a description of the test set."""
    cfg = ctx.config
    train = load_dataset(cfg["dataset"], cfg["data_dir"], cfg["test_data_dir"], "train")
    train = _subset(train, int(cfg["n_train"]), ctx.rng("data", "n_train"))
    try:
        test = load_dataset(cfg["dataset"], cfg["data_dir"], cfg["test_data_dir"], "test")
        held_out = False
    except DsnnError as err:
        if "no test split" not in str(err):
            raise
        train, test = _split_off(train, int(cfg["fallback_test"]), ctx.rng("data", "fallback"))
        held_out = True
    test = _subset(test, int(cfg["n_test"]), ctx.rng("data", "n_test"))
    if held_out:
        described = f"{len(test)} held-out training examples (no test split: set test_data_dir)"
    else:
        described = f"test split ({len(test)} from {test.source})"
    val = None
    if int(cfg["holdout"]) > 0:
        train, val = _split_off(train, int(cfg["holdout"]), ctx.rng("data", "holdout"))
    return train, val, test, described


#: Learner field -> the task field that sets it, for a spike learner (values already typed by
#: the task schema).
SPIKE_FIELDS = {
    "duration": "dendritic_duration",
    "n_pyramidal": "dendritic_pyramidal",
    "sparsity": "dendritic_sparsity",
    "w_in_init": "dendritic_w_in_init",
    "backend": "dendritic_backend",
    "engine": "dendritic_engine",
    "calibrate_spikes": "dendritic_calibrate_spikes",
    "calibrate_readout_spikes": "dendritic_calibrate_readout_spikes",
    "teach_nontarget": "dendritic_teach_nontarget",
    "lr_p_r": "dendritic_lr_readout",
    "lr_p_i": "dendritic_lr_readout",
    "lr_in_p": "dendritic_lr_in_p",
    "w_topdown": "dendritic_w_topdown",
    "theta_p_r": "dendritic_theta_p_r",
    "w_pr_sum": "dendritic_w_pr_sum",
    "E_hi_nA": "dendritic_E_hi_nA",
    "E_lo_nA": "dendritic_E_lo_nA",
    "signed_readout": "dendritic_signed_readout",
    "w_pr_init": "dendritic_w_pr_init",
    "recalibrate_readout_spikes": "dendritic_recalibrate_readout_spikes",
    "readout_rule": "dendritic_readout_rule",
    "tau_S_R": "dendritic_tau_S_R",
    "lr_final": "dendritic_lr_final",
    "checkpoint_every": "dendritic_checkpoint_every",
    "resume": "resume",
}


def spike_fields(cfg: dict) -> dict:
    """Hyperparameters this task sets for a spike learner (:data:`SPIKE_FIELDS`, and the
    number of input channels from ``dendritic_pool``)."""
    n_channels = (28 // int(cfg["dendritic_pool"])) ** 2
    return {"n_channels": n_channels, **{key: cfg[src] for key, src in SPIKE_FIELDS.items()}}


def _as_spikes(ctx: RunContext, train: Dataset, test: Dataset):
    """Training presentations, calibration set, test presentations and encoding (Poisson)."""
    from ..data.encoding import image_spikes, pool_images

    cfg = ctx.config
    pool, rate = int(cfg["dendritic_pool"]), float(cfg["dendritic_max_rate"])
    duration = float(cfg["dendritic_duration"])
    x_train, x_test = pool_images(train.x, pool), pool_images(test.x, pool)
    spike_rng = ctx.rng("image_spikes")
    order_rng = ctx.rng("order")
    order = np.concatenate(
        [order_rng.permutation(len(x_train)) for _ in range(int(cfg["dendritic_epochs"]))]
    )
    # the first images of the shuffled order: mnist5k is sorted by class
    n_cal = min(int(cfg["dendritic_calibrate"]), len(x_train))
    calib = [image_spikes(x_train[i], rate, duration, spike_rng) for i in order[:n_cal]]
    x = [image_spikes(x_train[i], rate, duration, spike_rng) for i in order]
    xt = [image_spikes(img, rate, duration, spike_rng) for img in x_test]
    encoding = {"kind": "poisson_rate", "pool": pool, "max_rate_hz": rate,
                "duration_s": duration, "inputs": int(x_train.shape[1])}  # fmt: skip
    return x, train.y[order], calib or None, xt, encoding


def run(ctx: RunContext) -> TaskOutput:
    """Train and test the run's learner; see the module docstring."""
    cfg = ctx.config
    t0 = time.perf_counter()
    cls = get_learner(ctx.learner)
    cls.check_profile(ctx.profile)
    train, val, test, test_described = load_splits(ctx)
    n_classes = len(train.classes)
    kind = cls.input_kind
    monitor = {"test": (test.x, test.y)}
    if val is not None:
        monitor["validation"] = (val.x, val.y)
    if kind == "spikes":
        x, y, calib, test_x, encoding = _as_spikes(ctx, train, test)
        n_inputs, adapted, monitor = encoding["inputs"], spike_fields(cfg), {}
    elif kind in ("vectors", "images"):
        shape = (-1, 28, 28) if kind == "images" else (-1, train.x.shape[1])
        x, y, calib = train.x.astype(np.float64).reshape(shape), train.y, None
        test_x = test.x.astype(np.float64).reshape(shape)
        monitor = {k: (v[0].astype(np.float64).reshape(shape), v[1]) for k, v in monitor.items()}
        n_inputs, adapted = train.x.shape[1], {}
        encoding = {"kind": kind, "inputs": int(n_inputs)}
    else:
        raise DsnnError(f"mnist cannot give a learner '{kind}' input")
    learner = build_learner(ctx, n_inputs, n_classes, adapted)
    data = TrainingData(x, y, list(train.classes), calibration=calib, monitor=monitor,
                        name=train.name)  # fmt: skip
    title = f"{learner.title or learner.name} on {train.name} ({len(train)} train), seed {ctx.seed}"
    ev = train_and_test(ctx, learner, data, test_x, test.y, title, encoding)

    metrics = {
        "accuracy": ev.accuracy,
        "chance": 1.0 / n_classes,
        "per_class": per_class_accuracy(ev.confusion, train.classes),
        **ev.metrics,
        "test_set": test_described,
        "n_train": len(train),
        "n_test": len(test),
        **({"encoding": encoding} if kind == "spikes" else {}),
        "setup_s": time.perf_counter() - t0,
    }
    curve = ev.metrics.get("learning_curve", {})
    if val is not None and isinstance(curve, dict) and curve.get("validation_accuracy"):
        metrics["validation_accuracy"] = curve["validation_accuracy"][-1]
    network = "-".join(map(str, ev.metrics.get("sizes", [])))
    trained = ev.metrics.get("train_accuracy")
    summary = (
        f"mnist/{train.name} {ctx.learner} {network}: test accuracy {ev.accuracy:.2%} "
        f"on {test_described}"
        + (f"; train {trained:.2%} after {ev.metrics['epochs']} epochs" if trained is not None
           else "")
        + (f" (resumed at epoch {ev.metrics['resumed_from_epoch']})"
           if ev.metrics.get("resumed_from_epoch") else "")
        + (f" (resumed at presentation {ev.metrics['resumed_from_presentation']})"
           if ev.metrics.get("resumed_from_presentation") else "")
        + learner.summary_note()
        + (collapse_hint(ev.accuracy, n_classes, cls.hint_at_chance)
           or unlearned_classes_hint(ev.confusion, train.classes, cls.hint_at_chance))
    )  # fmt: skip
    return TaskOutput(
        metrics=metrics,
        energy=ev.energy,
        summary=summary,
        arrays={
            **learner.arrays(),
            "confusion": ev.confusion,
            "test_labels": test.y,
            "test_predicted": ev.predicted,
        },
        plots=ev.plots,
        build_s=learner.build_s,
        examples=learner.examples,
    )
