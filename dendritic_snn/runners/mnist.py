"""``dsnn task mnist``: train a 784-N-10 network on MNIST-style data and test it.

Learner ``rate_ep``: rate-based Equilibrium Propagation (:mod:`dendritic_snn.eqspike.rate_ep`).
Learner ``eqspike``: spike-driven EP on the profile's 45 nm blocks
(:mod:`dendritic_snn.eqspike.eqspike`, batched engine :mod:`dendritic_snn.eqspike.engine`);
its hyperparameters are the ``eqspike_*`` fields, it needs a profile with the
``ifc_schmitt`` neuron (``--profile cmos45_spiking_ep``; the task default ``ideal`` is
replaced by ``cmos45_spiking_ep`` with the requested mismatch), and its result carries the
energy per inference / training example from counted events beside a GPU estimate.

Data (``dataset``, ``data_dir``, ``test_data_dir``: :mod:`dendritic_snn.data.datasets`); a
data set without a test split (``mnist5k`` without ``test_data_dir``) is tested on
``fallback_test`` held-out training examples, and the summary says so. Each epoch sees the
training images shifted by up to ``augment_shift`` pixels (fresh seeded offsets; 0 = the plain
setting of the research notes), with learning rates ``lrs * lr_decay**(epoch - 1)``.

After every epoch the run directory gets ``checkpoint.npz`` (weights, persistent particles,
epoch, RNG state, learning curve), written atomically; ``resume: true`` continues from it, so
an interrupted run loses at most one epoch. Resuming refuses a checkpoint made with other
training settings. Metrics: ``accuracy`` (test), ``per_class``, ``train_accuracy`` (online,
free phase, last epoch), ``learning_curve``; plots ``learning_curve.png`` and
``confusion.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..data.datasets import Dataset, load_dataset, random_shift
from ..eqspike.rate_ep import RateEP, RateEPConfig
from ..errors import DsnnError
from ..hardware.energy import energy_report
from ..plots import save_figure
from ..results import write_arrays
from .api import RunContext, TaskOutput

CHECKPOINT = "checkpoint.npz"
# config keys that do not change what training computes (may differ on resume)
NOT_TRAINING = ("epochs", "resume", "n_test", "n_eval", "test_data_dir", "data_dir")


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


def learner_config(cfg: dict, n_classes: int) -> RateEPConfig:
    """The rate-EP hyperparameters of a task config; DsnnError for impossible values."""
    try:
        return RateEPConfig(
            sizes=(784, *[int(h) for h in cfg["hidden"]], n_classes),
            beta=float(cfg["beta"]),
            nudge=str(cfg["nudge"]),
            eps=float(cfg["eps"]),
            n_free=int(cfg["n_free"]),
            n_nudge=int(cfg["n_nudge"]),
            n_eval=int(cfg["n_eval"]),
            lrs=tuple(float(a) for a in cfg["lrs"]),
            batch_size=int(cfg["batch_size"]),
            persistent=bool(cfg["persistent"]),
            continual=bool(cfg["continual"]),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"mnist: {err}") from None


def eqspike_config(cfg: dict, n_classes: int):
    """The EqSpike hyperparameters of a task config; DsnnError for impossible values."""
    from ..eqspike.eqspike import EqSpikeConfig

    try:
        return EqSpikeConfig(
            sizes=(784, *[int(h) for h in cfg["hidden"]], n_classes),
            beta=float(cfg["eqspike_beta"]),
            nudge=str(cfg["eqspike_nudge"]),
            n_free=int(cfg["eqspike_n_free"]),
            n_nudge=int(cfg["eqspike_n_nudge"]),
            n_eval=int(cfg["eqspike_n_eval"]),
            n_read=int(cfg["eqspike_n_read"]),
            w_max=float(cfg["eqspike_w_max"]),
            update_gain=tuple(float(a) for a in cfg["eqspike_update_gain"]),
            batch_size=int(cfg["eqspike_batch_size"]),
            comparator=str(cfg.get("eqspike_comparator", "derivative")),
            strobes=str(cfg.get("eqspike_strobes", "pre")),
            ref_tau=float(cfg.get("eqspike_ref_tau", 8.0)),
            synapse_drive=str(cfg.get("eqspike_synapse_drive", "shared")),
            init_scale=tuple(float(a) for a in cfg.get("eqspike_init_scale", (1.0, 1.0))),
            gain_trim_bits=int(cfg.get("eqspike_gain_trim_bits", 5)),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"mnist: {err}") from None


def _eqspike_profile(ctx: RunContext):
    """The run's profile, which must have the 45 nm IFC neuron block."""
    if ctx.profile.models.get("neuron") != "ifc_schmitt":
        raise DsnnError(
            f"mnist/eqspike needs a profile with the ifc_schmitt neuron (cmos45_spiking_ep), "
            f"got '{ctx.profile.name}': use --profile cmos45_spiking_ep"
        )
    return ctx.profile


def _fingerprint(ctx: RunContext) -> str:
    kept = {k: v for k, v in ctx.config.items() if k not in NOT_TRAINING}
    return json.dumps({"seed": ctx.seed, "learner": ctx.learner, **kept}, sort_keys=True)


def save_checkpoint(path: Path, net, epoch: int, rng, history: dict, fp: str) -> None:
    """Write the checkpoint atomically (arrays, epoch, RNG state and history as JSON)."""
    meta = {"epoch": epoch, "rng": rng.bit_generator.state, "history": history, "config": fp}
    write_arrays(path, **net.state_dict(), meta=np.array(json.dumps(meta)))


def load_checkpoint(path: Path, net, rng, fp: str) -> tuple[int, dict]:
    """Restore ``net`` and ``rng`` from ``path``; returns (epoch, history)."""
    try:
        with np.load(path) as arrays:
            meta = json.loads(str(arrays["meta"]))
            if meta["config"] != fp:
                raise DsnnError(
                    f"{path}: checkpoint was made with other training settings or seed; "
                    "use a new --out directory or the same settings"
                )
            net.load_state_dict(arrays)
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
        if isinstance(err, DsnnError):
            raise
        raise DsnnError(f"{path}: unreadable checkpoint ({err})") from None
    rng.bit_generator.state = meta["rng"]
    return int(meta["epoch"]), meta["history"]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``C[true, predicted]``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray, classes) -> dict:
    """``{class name: recall}`` from ``C[true, predicted]`` (None for a class never tested)."""
    totals = matrix.sum(axis=1)
    return {
        name: (float(matrix[k, k] / totals[k]) if totals[k] else None)
        for k, name in enumerate(classes)
    }


def collapse_hint(accuracy: float, n_classes: int, learner: str) -> str:
    """A hint for the summary when the test accuracy is within 1.5x of chance (1/n_classes),
    else ``""``: such a run collapsed (outputs silent or saturated for every input) rather than
    learned slowly."""
    if accuracy > 1.5 / n_classes:
        return ""
    fix = ("another --seed, or smaller initial output weights "
           "(--set \"eqspike_init_scale=[1.0,0.5]\")" if learner == "eqspike"
           else "another --seed or a smaller learning rate")  # fmt: skip
    return f"; AT CHANCE: training collapsed (outputs silent or saturated); try {fix}"


def _plot_curve(history: dict, ctx: RunContext, title: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for key, label in (
        ("train_accuracy", "train (online, free phase)"),
        ("validation_accuracy", "validation"),
        ("test_accuracy", "test"),
    ):
        if history.get(key):
            ax.plot(history["epoch"], np.asarray(history[key]) * 100, marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return save_figure(fig, ctx.out / "learning_curve.png")


def _plot_confusion(matrix: np.ndarray, classes, ctx: RunContext, title: str) -> str:
    import matplotlib.pyplot as plt

    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
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
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    return save_figure(fig, ctx.out / "confusion.png")


def _operation_counts(cfg: RateEPConfig) -> dict[str, float]:
    """Multiply-accumulates of the rate network (no spikes: the profile's per-spike energies do
    not apply) — the input projection once per phase, the recurrent ones per step."""
    sizes = cfg.sizes
    bottom = sizes[0] * sizes[1]
    recurrent = sum(2 * a * b for a, b in zip(sizes[1:-1], sizes[2:], strict=True))
    phases = 3 if cfg.nudge == "symmetric" else 2
    steps = cfg.n_free + (phases - 1) * cfg.n_nudge
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    writes = n_weights * (cfg.n_nudge if cfg.continual else 1) / cfg.batch_size
    return {
        "macs_per_inference": bottom + cfg.n_eval * recurrent,
        "macs_per_training_example": phases * bottom + steps * recurrent,
        "weight_writes_per_training_example": writes,
    }


def run(ctx: RunContext) -> TaskOutput:
    """Train and test; see the module docstring."""
    from tqdm.auto import tqdm

    if ctx.learner == "memcap":
        from .mnist_memcap import run_memcap

        return run_memcap(ctx, load_splits(ctx))
    if ctx.learner not in ("rate_ep", "eqspike"):
        raise DsnnError(f"mnist: learner '{ctx.learner}' is not implemented yet")
    cfg = ctx.config
    t0 = time.perf_counter()
    train, val, test, test_described = load_splits(ctx)
    n_classes = len(train.classes)
    x, y = train.x.astype(np.float64), train.y
    if ctx.learner == "eqspike":
        from ..eqspike.engine import EqSpike

        ep_cfg = eqspike_config(cfg, n_classes)
        profile = _eqspike_profile(ctx)
        net = EqSpike(ep_cfg, profile, ctx.seed, ctx.rng("eqspike", "init"))
        rng = ctx.rng("eqspike", "train")
    else:
        ep_cfg = learner_config(cfg, n_classes)
        net = RateEP(ep_cfg, ctx.rng("rate_ep", "init"))
        rng = ctx.rng("rate_ep", "train")
    build_s = time.perf_counter() - t0
    shift = int(cfg["augment_shift"])
    history: dict = {"epoch": [], "train_accuracy": [], "test_accuracy": [], "epoch_s": []}
    if val is not None:
        history["validation_accuracy"] = []
    fp = _fingerprint(ctx)
    path = ctx.out / CHECKPOINT
    done = 0
    if cfg["resume"] and path.is_file():
        done, history = load_checkpoint(path, net, rng, fp)
    epochs = int(cfg["epochs"])
    start_epoch = done

    bar = tqdm(
        total=max(epochs - done, 0) * len(x),
        disable=not ctx.progress,
        unit="ex",
        desc=f"{train.name} {ctx.learner}",
    )
    for epoch in range(done + 1, epochs + 1):
        started = time.perf_counter()
        x_epoch = random_shift(x, shift, rng) if shift > 0 else x
        scale = float(cfg["lr_decay"]) ** (epoch - 1)
        train_acc = net.train_epoch(x_epoch, y, rng, callback=bar.update, lr_scale=scale)
        history["epoch"].append(epoch)
        history["train_accuracy"].append(train_acc)
        history["epoch_s"].append(time.perf_counter() - started)
        test_acc = float(np.mean(net.predict(test.x.astype(np.float64)) == test.y))
        history["test_accuracy"].append(test_acc)
        if val is not None:
            val_acc = float(np.mean(net.predict(val.x.astype(np.float64)) == val.y))
            history["validation_accuracy"].append(val_acc)
        bar.set_postfix(train=f"{train_acc:.3f}", test=f"{test_acc:.3f}")
        save_checkpoint(path, net, epoch, rng, history, fp)
    bar.close()

    predicted = net.predict(test.x.astype(np.float64))
    accuracy = float(np.mean(predicted == test.y))
    matrix = confusion_matrix(test.y, predicted, n_classes)
    per_class = per_class_accuracy(matrix, train.classes)
    trained = epochs - start_epoch
    sizes = "-".join(map(str, ep_cfg.sizes))
    name = "rate EP" if ctx.learner == "rate_ep" else "EqSpike"
    title = f"{name} {sizes} on {train.name} ({len(train)} train), seed {ctx.seed}"
    metrics = {
        "accuracy": accuracy,
        "per_class": per_class,
        "train_accuracy": history["train_accuracy"][-1] if history["train_accuracy"] else None,
        "learning_curve": history,
        "test_set": test_described,
        "n_train": len(train),
        "n_test": len(test),
        "epochs": epochs,
        "resumed_from_epoch": start_epoch,
    }
    if ctx.learner == "rate_ep":
        metrics["operations"] = _operation_counts(ep_cfg)
        energy = energy_report(None, None, ctx.profile)
    else:
        from ..eqspike.energy_gpu import eqspike_energy

        probe = np.arange(min(len(x), ep_cfg.batch_size))
        energy, metrics["eqspike"] = eqspike_energy(
            net, x[probe], y[probe], ctx.rng("eqspike", "probe")
        )
    if val is not None:
        metrics["validation_accuracy"] = history["validation_accuracy"][-1] if trained else None
    summary = (
        f"mnist/{train.name} {ctx.learner} {sizes}: test accuracy {accuracy:.2%} "
        f"on {test_described}; "
        f"train {metrics['train_accuracy'] or 0:.2%} after {epochs} epochs"
        + (f" (resumed at epoch {start_epoch})" if start_epoch else "")
        + collapse_hint(accuracy, n_classes, ctx.learner)
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy,
        summary=summary,
        arrays={
            "confusion": matrix,
            "test_labels": test.y,
            "test_predicted": predicted,
            "train_accuracy": np.asarray(history["train_accuracy"]),
            "test_accuracy": np.asarray(history["test_accuracy"]),
        },
        plots=[
            _plot_curve(history, ctx, title),
            _plot_confusion(matrix, train.classes, ctx, title),
        ],
        build_s=build_s,
        examples=trained * len(train),
    )
