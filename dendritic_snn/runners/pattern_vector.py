"""``dsnn task pattern_discrimination --learner eqspike|rate_ep``: the vector learners on patterns.

Same data protocol as the dendritic runner (:mod:`.pattern_discrimination`), so a study
compares the learners on identical presentations: the K patterns come from the same seeded
stream, training sees ``train_epochs`` presentations per pattern (with ``train_jitter``),
testing ``test_per_class`` fresh presentations per pattern with ``jitter`` and ``deletion``,
drawn from the same ``test`` stream. Each presentation is turned into an input vector by the
Gaussian-window time-bin code of :func:`dendritic_snn.data.encoding.pattern_vector`
(``vector_bins`` bins, ``vector_sigma`` bin widths) times ``vector_amplitude``, and the learner, a
``n_channels*vector_bins - vector_hidden - K`` network, makes ``vector_epochs`` passes over the
training presentations (the dendritic learner sees each once, online).

The learners' hyperparameters are those of the ``mnist`` task spec (``tasks/mnist.yaml``:
``beta``, ``lrs``, ... for rate EP; ``eqspike_*`` for EqSpike), except the batch size
``vector_batch_size`` and the nudging strength ``vector_beta``. With the MNIST value beta = 0.2,
rate EP separated two patterns in 0 of 5 seeds: an output unit whose free-phase drive is below
about ``-2 beta`` stays clipped at 0 in the nudged phase too and gets no update (0.5: 5 of 5).
``vector_amplitude`` 0.4 puts the first layer's drive :math:`x W_0` in the range the mnist
hyperparameters see: a pattern's code has norm ~10.5 on 320 inputs (Glorot weights ~1.75x
those of 784-500), an MNIST digit ~9.2, so at amplitude 1 the drive is ~2x larger, about a
tenth of the hidden units sit at the clip and rate EP separated two patterns in 6 of 8 seeds
(8 of 8 at 0.4). EqSpike needs a profile with the 45 nm IFC neuron
(``cmos45_spiking_ep``, the task's default for this learner).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..data.encoding import pattern_vector
from ..data.patterns import make_patterns, perturb
from ..dendritic import plots
from ..hardware.energy import energy_report
from ..plots import save_figure
from .api import RunContext, TaskOutput
from .spec import load_task_spec
from .verdicts import discrimination_learned, discrimination_verdict


def _learner(ctx: RunContext, n_in: int, k: int):
    """``(network, train rng)`` for the run's learner, hyperparameters from the mnist spec."""
    from . import mnist

    beta, batch = float(ctx.config["vector_beta"]), int(ctx.config["vector_batch_size"])
    cfg = {**load_task_spec("mnist").config, "hidden": [int(ctx.config["vector_hidden"])],
           "beta": beta, "eqspike_beta": beta}  # fmt: skip
    eqspike = ctx.learner == "eqspike"
    ep = (mnist.eqspike_config if eqspike else mnist.learner_config)(cfg, k)
    ep = dataclasses.replace(ep, sizes=(n_in, *ep.sizes[1:]), batch_size=batch)
    if eqspike:
        from ..eqspike.engine import EqSpike

        profile = mnist._eqspike_profile(ctx)
        return EqSpike(ep, profile, ctx.seed, ctx.rng("eqspike", "init")), ctx.rng("eqspike")
    from ..eqspike.rate_ep import RateEP

    return RateEP(ep, ctx.rng("rate_ep", "init")), ctx.rng("rate_ep", "train")


def _encoding_plot(ctx: RunContext, codes: np.ndarray, n_channels: int) -> str:
    import matplotlib.pyplot as plt

    k = len(codes)
    fig, axes = plt.subplots(1, k, figsize=(2.2 * k + 0.6, 3.2), squeeze=False)
    for c, ax in enumerate(axes[0]):
        ax.imshow(codes[c].reshape(n_channels, -1), aspect="auto", cmap="Greys", vmin=0)
        ax.set_title(f"pattern {c}", fontsize=9)
        ax.set_xlabel("time bin")
    axes[0, 0].set_ylabel("input channel")
    fig.suptitle(f"{ctx.learner} input: Gaussian-window time-bin code", fontsize=9)
    return save_figure(fig, ctx.out / "encoding.png")


def run(ctx: RunContext) -> TaskOutput:
    """Train the vector learner on encoded presentations and test it; see the module doc."""
    cfg = ctx.config
    k = int(cfg["patterns"])
    if k < 2:
        raise ValueError("patterns must be >= 2")
    n_bins, sigma = int(cfg["vector_bins"]), float(cfg["vector_sigma"])
    amplitude = float(cfg["vector_amplitude"])
    pseed = cfg["pattern_seed"]
    pseed = int(ctx.rng("patterns").integers(2**31)) if pseed is None else int(pseed)
    patterns = make_patterns(k, cfg["n_channels"], cfg["n_spikes"], cfg["duration"], seed=pseed)

    order_rng, train_rng, test_rng = ctx.rng("order"), ctx.rng("train"), ctx.rng("test")
    order = np.concatenate([order_rng.permutation(k) for _ in range(int(cfg["train_epochs"]))])
    train_x = []
    for c in order:
        pat = patterns[c]
        if cfg["train_jitter"] > 0:
            pat = perturb(pat, train_rng, cfg["train_jitter"], 0.0)
        train_x.append(pattern_vector(pat, n_bins, sigma))
    x = amplitude * np.asarray(train_x)
    net, rng = _learner(ctx, x.shape[1], k)
    train_acc = [net.train_epoch(x, order, rng) for _ in range(int(cfg["vector_epochs"]))]

    n_test = int(cfg["test_per_class"])
    test_classes = np.repeat(np.arange(k), n_test)
    test_rng.shuffle(test_classes)
    test_x = amplitude * np.asarray([
        pattern_vector(perturb(patterns[c], test_rng, cfg["jitter"], cfg["deletion"]),
                       n_bins, sigma)
        for c in test_classes
    ])  # fmt: skip
    predicted = net.predict(test_x)
    confusion = np.zeros((k, k), int)
    np.add.at(confusion, (test_classes, predicted), 1)
    per_class = (np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)).tolist()
    accuracy = float(np.trace(confusion) / confusion.sum())

    if ctx.learner == "eqspike":
        from ..eqspike.energy_gpu import eqspike_energy

        energy, extra = eqspike_energy(net, x, order, ctx.rng("eqspike", "probe"))
    else:
        energy, extra = energy_report(None, None, ctx.profile), {}
    codes = amplitude * np.asarray([pattern_vector(p, n_bins, sigma) for p in patterns])
    metrics = {
        "accuracy": accuracy,
        "chance": 1.0 / k,
        "per_class": per_class,
        "learned": discrimination_learned(per_class, accuracy, k),
        "confusion": confusion.tolist(),
        "patterns": k,
        "train_accuracy": train_acc[-1] if train_acc else None,
        "train_presentations": len(x),
        "test_presentations": len(test_x),
        "encoding": {
            "kind": "gaussian_time_bins",
            "bins": n_bins,
            "sigma_bins": sigma,
            "amplitude": amplitude,
            "inputs": int(x.shape[1]),
        },  # fmt: skip
        "sizes": list(net.config.sizes),
        **({"eqspike": extra} if extra else {}),
    }
    summary = (
        f"K={k} ({ctx.learner}, {x.shape[1]} time-bin inputs): test accuracy {accuracy:.0%} on "
        f"{len(test_x)} jittered presentations: {discrimination_verdict(per_class, accuracy, k)}"
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy,
        summary=summary,
        arrays={
            "confusion": confusion,
            "train_order": order,
            "codes": codes,
            "pattern_seed": np.asarray(pseed, np.int64),
            **net.state_dict(),
        },  # fmt: skip
        plots=[
            plots.confusion_plot(ctx.out / "confusion.png", confusion),
            _encoding_plot(ctx, codes, int(cfg["n_channels"])),
        ],  # fmt: skip
        examples=len(x) * int(cfg["vector_epochs"]) + len(test_x),
    )
