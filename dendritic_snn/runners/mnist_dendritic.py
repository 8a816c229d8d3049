"""``dsnn task mnist --learner dendritic``: the dendritic error-propagation network on images.

The network and plasticity are those of ``pattern_discrimination`` (its spec's model and
plasticity fields, :mod:`dendritic_snn.dendritic.experiment`), sized for images: every image is
average-pooled over ``dendritic_pool`` x ``dendritic_pool`` blocks (784 -> 49 channels for 4)
and presented as Poisson spike trains at ``pixel * dendritic_max_rate`` for
``dendritic_duration`` seconds (:func:`dendritic_snn.data.encoding.image_spikes`; fresh spikes
for every presentation), to ``dendritic_pyramidal`` pyramidal neurons with ``sparsity`` of the
input connections removed, one interneuron and one readout per class. Training presents each
of the ``n_train`` images once per ``dendritic_epochs`` with the 900 Hz teacher on its class's
readout (and the non-target teacher on the others); testing presents the test images without
teacher or plasticity; the readout with the most spikes is the prediction. Before training,
the unsupervised gain calibrations of the pattern task set the pyramidal neurons' and the
readouts' mean spike counts on ``dendritic_calibrate`` training images. Runs on Brian2
``cpp_standalone`` (one build per network size, cached) like the pattern tasks; this is a
small-data comparison, not a dataset-scale engine: one presentation costs about as much as in
the pattern tasks.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from ..data.encoding import image_spikes, pool_images
from ..dendritic import plots
from ..dendritic.experiment import Experiment, classify, learning_trend
from ..dendritic.network import PLASTIC
from ..hardware.energy import energy_report
from .api import RunContext, TaskOutput
from .mnist import confusion_matrix, load_splits, per_class_accuracy
from .pattern_discrimination import _sum, make_simulator, structure_for
from .spec import load_task_spec


def dendritic_config(cfg: dict) -> dict:
    """The pattern task's model config with the image-specific fields of the mnist spec."""
    n_channels = (28 // int(cfg["dendritic_pool"])) ** 2
    return {
        **load_task_spec("pattern_discrimination").config,
        "n_channels": n_channels,
        "duration": float(cfg["dendritic_duration"]),
        "n_pyramidal": int(cfg["dendritic_pyramidal"]),
        "sparsity": float(cfg["dendritic_sparsity"]),
        "w_in_init": float(cfg["dendritic_w_in_init"]),
        "backend": str(cfg["dendritic_backend"]),
    }


def run(ctx: RunContext) -> TaskOutput:
    """Train and test the dendritic network on images; see the module docstring."""
    cfg = ctx.config
    t0 = time.perf_counter()
    train, _, test, test_described = load_splits(ctx)
    n_classes = len(train.classes)
    model_cfg = dendritic_config(cfg)
    pool, rate = int(cfg["dendritic_pool"]), float(cfg["dendritic_max_rate"])
    duration = model_cfg["duration"]
    x_train, x_test = pool_images(train.x, pool), pool_images(test.x, pool)

    st = structure_for(model_cfg, model_cfg["n_pyramidal"], n_classes, ctx.profile)
    sim, build_s = make_simulator(st, ctx.profile, model_cfg)
    exp = Experiment(sim, st, ctx.profile, ctx.seed, model_cfg, ctx.rng("network"))
    spike_rng = ctx.rng("image_spikes")
    n_cal = min(int(cfg["dendritic_calibrate"]), len(x_train))
    if n_cal > 0:
        exp.calibrate([image_spikes(x_train[i], rate, duration, spike_rng) for i in range(n_cal)])
    order_rng = ctx.rng("order")
    order = np.concatenate(
        [order_rng.permutation(len(x_train)) for _ in range(int(cfg["dendritic_epochs"]))]
    )
    updates, errors, train_events = [], [], []
    for i in tqdm(order, desc=f"{train.name} dendritic", disable=not ctx.progress, unit="img"):
        pat = image_spikes(x_train[i], rate, duration, spike_rng)
        p = exp.present(pat, int(train.y[i]), learn=True,
                        teach_nontarget=bool(model_cfg["teach_nontarget"]))  # fmt: skip
        updates.append(sum(p.updates.values()))
        errors.append(p.error_R)
        train_events.append(p.events)
    predicted, test_events = np.zeros(len(x_test), int), []
    for n in tqdm(range(len(x_test)), desc="test", disable=not ctx.progress, unit="img"):
        p = exp.present(image_spikes(x_test[n], rate, duration, spike_rng), None, learn=False)
        predicted[n] = classify(p)
        test_events.append(p.events)

    accuracy = float(np.mean(predicted == test.y)) if len(x_test) else 0.0
    matrix = confusion_matrix(test.y, predicted, n_classes)
    per_class = per_class_accuracy(matrix, train.classes)
    updates_a = np.asarray(updates, float)
    energy = energy_report(
        _sum(test_events).scaled(1 / max(len(test_events), 1)),
        _sum(train_events).scaled(1 / max(len(train_events), 1)),
        ctx.profile,
    )
    metrics = {
        "accuracy": accuracy,
        "chance": 1.0 / n_classes,
        "per_class": per_class,
        "test_set": test_described,
        "n_train": len(train),
        "n_test": len(test),
        "epochs": int(cfg["dendritic_epochs"]),
        "sizes": [st.n_in, st.n_p, st.n_r],
        "encoding": {
            "kind": "poisson_rate",
            "pool": pool,
            "max_rate_hz": rate,
            "duration_s": duration,
        },  # fmt: skip
        **learning_trend(updates_a, errors),
        "build_s": build_s,
        "setup_s": time.perf_counter() - t0,
    }
    summary = (
        f"mnist/{train.name} dendritic {st.n_in}-{st.n_p}-{st.n_r} (Poisson rate code): test "
        f"accuracy {accuracy:.2%} on {test_described}, {len(order)} training presentations "
        f"(chance {1 / n_classes:.0%})"
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy,
        summary=summary,
        arrays={
            "confusion": matrix,
            "test_labels": test.y,
            "test_predicted": predicted,
            "updates_per_presentation": updates_a,
            **{f"w_{p}_after": exp.weights[p] for p in PLASTIC},
        },  # fmt: skip
        plots=[
            plots.confusion_plot(ctx.out / "confusion.png", matrix),
            plots.updates_plot(ctx.out / "weight_updates.png", updates_a, np.asarray(errors)),
        ],  # fmt: skip
        build_s=build_s,
        examples=len(order) + len(x_test),
    )
