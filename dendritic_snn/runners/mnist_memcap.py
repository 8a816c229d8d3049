"""``dsnn task mnist --learner memcap``: memcapacitive SNN, nonlinearity-aware vs naive.

Trains the 784-H-10 network of :mod:`dendritic_snn.memcap` twice from the same initial
weights, data and seed: *aware* (the circuit's quantised, hysteretic forward pass with a
smooth-surrogate backward pass) and *naive* (ideal rectified-linear network with float
weights, then scaled into the device range). Both are programmed onto the circuit model of the
run's profile (``memcap_180nm``) and tested there, on the nominal chip and, when the profile
has mismatch, on one mismatched chip drawn from the run seed. ``accuracy`` is the aware
network on the nominal chip; ``accuracy_gap`` = aware - naive (nominal). Energy per inference
is counted device reads times the profile's ``synaptic_event`` energy (reference: 33.88 nJ).
"""

from __future__ import annotations

import time

import numpy as np

from ..data.datasets import Dataset
from ..errors import DsnnError
from ..hardware.energy import energy_report
from ..memcap.network import build_circuit
from ..memcap.train import MemcapConfig, init_weights, map_naive, train
from .api import RunContext, TaskOutput


def memcap_config(cfg: dict) -> MemcapConfig:
    """The ``memcap_*`` fields (and ``augment_shift``) of a task config."""
    try:
        return MemcapConfig(
            hidden=int(cfg.get("memcap_hidden", 100)),
            window=int(cfg.get("memcap_window", 16)),
            epochs=int(cfg.get("memcap_epochs", 20)),
            batch_size=int(cfg.get("memcap_batch_size", 32)),
            lr=float(cfg.get("memcap_lr", 5e-3)),
            tau=float(cfg.get("memcap_tau", 0.1)),
            beta=float(cfg.get("memcap_beta", 5.0)),
            augment_shift=int(cfg.get("augment_shift", 0)),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"mnist/memcap: {err}") from None


def _plot(history: dict, ctx: RunContext, title: str) -> str:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in ("aware", "naive"):
        curve = np.asarray(history[name]["train_accuracy"]) * 100
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", ms=3, label=f"{name} (train)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return save_figure(fig, ctx.out / "learning_curve.png")


def run_memcap(ctx: RunContext, data: tuple[Dataset, Dataset | None, Dataset, str]) -> TaskOutput:
    """Train aware and naive networks on ``data`` (from ``mnist.load_splits``) and test both
    on the circuit model; see the module docstring."""
    from .mnist import _plot_confusion, confusion_matrix

    if "synapse" not in ctx.profile.params or ctx.profile.models["synapse"] != "memcapacitor":
        raise DsnnError(
            f"mnist/memcap needs a memcapacitor profile (memcap_180nm), got "
            f"'{ctx.profile.name}': use --profile memcap_180nm"
        )
    t0 = time.perf_counter()
    train_set, _, test, described = data
    cfg = memcap_config(ctx.config)
    x, y = train_set.x.astype(np.float64), train_set.y
    xt = test.x.astype(np.float64)
    sizes = (x.shape[1], cfg.hidden, len(train_set.classes))
    w0 = init_weights(sizes, ctx.profile, cfg.window, ctx.rng("memcap", "init"), cfg.init_scale)
    build_s = time.perf_counter() - t0

    sigma = ctx.profile.model.mismatch.sigma
    chips = {"nominal": None} | ({"mismatched": ctx.seed} if sigma > 0 else {})
    results, history, arrays = {}, {}, {}
    for name, mode in (("aware", "aware"), ("naive", "ideal")):
        started = time.perf_counter()
        w, hist = train(x, y, mode, ctx.profile, cfg, ctx.rng("memcap", "train"), weights=w0)
        hist["train_s"] = time.perf_counter() - started
        history[name] = hist
        mapped = w if mode == "aware" else map_naive(w, cfg.w_max)
        results[name] = {}
        for chip, seed in chips.items():
            circuit = build_circuit(mapped, ctx.profile, cfg.window, cfg.w_max, seed)
            out = circuit.forward(xt)
            ties = np.sum(out.y == out.y.max(axis=1, keepdims=True), axis=1) > 1
            energy = energy_report(circuit.event_counts(out), None, ctx.profile)
            results[name][chip] = {
                "accuracy": float(np.mean(out.predicted == test.y)),
                "tied_fraction": float(np.mean(ties)),
                "energy_per_inference_J": energy["per_inference_J"],
                "synaptic_events_per_inference": float(np.mean(out.events)),
            }
            if chip == "nominal":
                arrays[f"{name}_predicted"] = out.predicted
                results[name]["energy"] = energy
        for k, layer_w in enumerate(mapped):
            arrays[f"{name}_w{k}"] = layer_w

    aware, naive = results["aware"]["nominal"], results["naive"]["nominal"]
    matrix = confusion_matrix(test.y, arrays["aware_predicted"], len(train_set.classes))
    ref = ctx.profile.reference_energy_per_inference
    title = (
        f"memcap 784-{cfg.hidden}-10 on {train_set.name} ({len(train_set)} train), seed {ctx.seed}"
    )
    metrics = {
        "accuracy": aware["accuracy"],
        "naive_accuracy": naive["accuracy"],
        "accuracy_gap": aware["accuracy"] - naive["accuracy"],
        "circuit": {
            name: {k: v for k, v in r.items() if k != "energy"} for name, r in results.items()
        },
        "learning_curve": history,
        "test_set": described,
        "n_train": len(train_set),
        "n_test": len(test),
        "epochs": cfg.epochs,
        "window_cycles": cfg.window,
        "reference_energy_per_inference_J": ref,
    }
    summary = (
        f"mnist/{train_set.name} memcap 784-{cfg.hidden}-10 on the {ctx.profile.name} circuit: "
        f"aware {aware['accuracy']:.2%} vs naive {naive['accuracy']:.2%} "
        f"(gap {100 * metrics['accuracy_gap']:+.2f} pp) on {described}; "
        f"{aware['energy_per_inference_J'] * 1e9:.2f} nJ/inference"
        + (f" (paper {ref * 1e9:.2f} nJ)" if ref else "")
    )
    return TaskOutput(
        metrics=metrics,
        energy=results["aware"]["energy"],
        summary=summary,
        arrays={**arrays, "confusion": matrix, "test_labels": test.y},
        plots=[
            _plot(history, ctx, title),
            _plot_confusion(matrix, train_set.classes, ctx, title + ", aware"),
        ],
        build_s=build_s,
        examples=2 * cfg.epochs * len(train_set),
    )
