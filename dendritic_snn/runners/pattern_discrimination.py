"""``dsnn task pattern_discrimination``: Cartiglia et al. 2020 Fig. 5, K patterns, any learner.

Data: K spike patterns with identical per-channel spike counts (seeded), ``train_epochs``
interleaved presentations of each (with ``train_jitter``), then ``test_per_class`` fresh
presentations of each with Gaussian spike-time jitter and spike deletion (never seen in
training). Every learner sees the same presentations, in its input kind:

* ``spikes`` (``dendritic``): the presentations themselves; the learner's unsupervised
  calibration runs on the K clean patterns;
* ``vectors`` (``eqspike``, ``rate_ep``): the Gaussian-window time-bin code of
  :func:`dendritic_snn.data.encoding.pattern_vector` (``vector_bins`` bins per channel,
  ``vector_sigma`` bin widths) times ``vector_amplitude``; the learner makes
  ``vector_epochs`` passes over the training presentations with ``vector_hidden`` hidden
  units, nudging ``vector_beta`` and batch ``vector_batch_size``, its other
  hyperparameters from its home task (``tasks/mnist.yaml``).

With beta = 0.2, rate EP separated two patterns in 0 of 5 seeds: an output unit whose
free-phase drive is below about ``-2 beta`` stays clipped at 0 in the nudged phase too and
gets no update (0.5: 5 of 5). ``vector_amplitude`` 0.4 keeps the first layer's drive in the
range the mnist hyperparameters see (a pattern's code has norm ~10.5 on 320 inputs, a digit
~9.2 on 784).
"""

from __future__ import annotations

import numpy as np

from ..data.encoding import pattern_vector
from ..data.patterns import make_patterns, perturb
from ..errors import DsnnError
from ..learners import TrainingData, get_learner
from ..plots import save_figure, subplots
from .api import RunContext, TaskOutput
from .classify import build_learner, recall_per_class, train_and_test
from .verdicts import discrimination_learned, discrimination_verdict

#: input kinds this task can produce
INPUT_KINDS = ("spikes", "vectors")


def _encoding_plot(ctx: RunContext, codes: np.ndarray, n_channels: int) -> str:

    k = len(codes)
    fig, axes = subplots(1, k, figsize=(2.2 * k + 0.6, 3.2), squeeze=False)
    for c, ax in enumerate(axes[0]):
        ax.imshow(codes[c].reshape(n_channels, -1), aspect="auto", cmap="Greys", vmin=0)
        ax.set_title(f"pattern {c}", fontsize=9)
        ax.set_xlabel("time bin")
    axes[0, 0].set_ylabel("input channel")
    fig.suptitle(f"{ctx.learner} input: Gaussian-window time-bin code", fontsize=9)
    return save_figure(fig, ctx.out / "encoding.png")


def vector_fields(cfg: dict) -> dict:
    """Hyperparameters this task sets for a vector learner (the ``vector_*`` fields)."""
    beta, batch = float(cfg["vector_beta"]), int(cfg["vector_batch_size"])
    return {"hidden": [int(cfg["vector_hidden"])], "beta": beta, "eqspike_beta": beta,
            "batch_size": batch, "eqspike_batch_size": batch,
            "epochs": int(cfg["vector_epochs"]), "augment_shift": 0, "lr_decay": 1.0,
            "resume": False}  # fmt: skip


def run(ctx: RunContext) -> TaskOutput:
    """Generate the presentations, run the learner on them, score; see the module doc."""
    cfg = ctx.config
    k = int(cfg["patterns"])
    if k < 2:
        raise DsnnError(f"--set patterns={k}: must be >= 2")
    kind = get_learner(ctx.learner).input_kind
    if kind not in INPUT_KINDS:
        raise DsnnError(f"pattern_discrimination cannot give a learner '{kind}' input")
    pseed = cfg["pattern_seed"]
    pseed = int(ctx.rng("patterns").integers(2**31)) if pseed is None else int(pseed)
    patterns = make_patterns(k, cfg["n_channels"], cfg["n_spikes"], cfg["duration"], seed=pseed)

    order_rng, train_rng, test_rng = ctx.rng("order"), ctx.rng("train"), ctx.rng("test")
    order = np.concatenate([order_rng.permutation(k) for _ in range(int(cfg["train_epochs"]))])
    train_x = [
        perturb(patterns[c], train_rng, cfg["train_jitter"], 0.0)
        if cfg["train_jitter"] > 0 else patterns[c]
        for c in order
    ]  # fmt: skip
    n_test = int(cfg["test_per_class"])
    test_y = np.repeat(np.arange(k), n_test)
    test_rng.shuffle(test_y)
    test_x = [perturb(patterns[c], test_rng, cfg["jitter"], cfg["deletion"]) for c in test_y]

    calibration, encoding, arrays, extra_plots = patterns, {"kind": "spikes"}, {}, []
    n_inputs, adapted = int(cfg["n_channels"]), {}
    if kind == "vectors":
        n_bins, sigma = int(cfg["vector_bins"]), float(cfg["vector_sigma"])
        amp = float(cfg["vector_amplitude"])

        def code(pats):
            return amp * np.asarray([pattern_vector(p, n_bins, sigma) for p in pats])

        train_x, test_x, calibration = code(train_x), code(test_x), None
        codes = code(patterns)
        n_inputs, adapted = codes.shape[1], vector_fields(cfg)
        encoding = {"kind": "gaussian_time_bins", "bins": n_bins, "sigma_bins": sigma,
                    "amplitude": amp, "inputs": int(n_inputs)}  # fmt: skip
        arrays["codes"] = codes
        extra_plots.append(_encoding_plot(ctx, codes, int(cfg["n_channels"])))

    learner = build_learner(ctx, n_inputs, k, adapted)
    classes = [f"p{c}" for c in range(k)]
    train = TrainingData(train_x, order, classes, calibration=calibration, name="patterns")
    title = f"{ctx.learner}, K={k} patterns, seed {ctx.seed}"
    ev = train_and_test(ctx, learner, train, test_x, test_y, title, encoding)

    accuracy = ev.accuracy
    metrics = {
        "accuracy": accuracy,
        "chance": 1.0 / k,
        "per_class": recall_per_class(ev.confusion),
        "confusion": ev.confusion.tolist(),
        "patterns": k,
        **ev.metrics,
        "train_presentations": len(order),
        "test_presentations": len(test_y),
        **({"encoding": encoding} if kind == "vectors" else {}),
    }
    metrics["learned"] = discrimination_learned(metrics["per_class"], accuracy, k)
    if kind == "vectors":
        shown = f" ({ctx.learner}, {n_inputs} time-bin inputs)"
    else:
        shown = "" if learner.home_task == ctx.task else f" ({ctx.learner})"
    summary = (
        f"K={k}{shown}: test accuracy {accuracy:.0%} on {len(test_y)} jittered presentations: "
        f"{discrimination_verdict(metrics['per_class'], accuracy, k)}{learner.summary_note()}"
    )
    return TaskOutput(
        metrics=metrics,
        energy=ev.energy,
        summary=summary,
        arrays={
            **learner.arrays(),
            "confusion": ev.confusion,
            "train_order": order,
            "pattern_seed": np.asarray(pseed, np.int64),
            **arrays,
        },
        plots=[*ev.plots, *extra_plots],
        build_s=learner.build_s,
        examples=learner.examples,
    )
