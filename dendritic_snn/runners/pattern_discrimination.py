"""``dsnn task pattern_discrimination``: Cartiglia et al. 2020 Fig. 5, K patterns.

Train: ``train_epochs`` interleaved presentations of each of the K clean patterns, each with
the 900 Hz teacher on its readout (and, with ``teach_nontarget``, a teacher pulling the other
readouts toward ``E_lo``). Test: ``test_per_class`` fresh presentations of each pattern with
Gaussian spike-time jitter and spike deletion, no teacher, no plasticity; the readout with the
most spikes is the prediction.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ..data.patterns import make_patterns, perturb
from ..dendritic import plots
from ..dendritic.experiment import (
    Experiment,
    calcium_trace,
    classify,
    learning_trend,
    make_simulator,
)
from ..dendritic.network import PLASTIC, Structure
from ..hardware.energy import EventCounts, energy_report
from .api import RunContext, TaskOutput


def structure_for(cfg: dict, n_p: int, n_r: int, profile) -> Structure:
    n_steps = int(round((cfg["duration"] + cfg["tail"]) / profile.dt))
    return Structure(n_in=cfg["n_channels"], n_p=n_p, n_r=n_r, n_steps=n_steps,
                     dt=profile.dt, noise=True,
                     in_p_rule=str(cfg.get("in_p_rule", "pre")))  # fmt: skip


def _sum(counts: list[EventCounts]) -> EventCounts:
    total = EventCounts()
    for c in counts:
        total = total + c
    return total


def run(ctx: RunContext) -> TaskOutput:
    cfg = ctx.config
    k = int(cfg["patterns"])
    if k < 2:
        raise ValueError("patterns must be >= 2")
    st = structure_for(cfg, int(cfg["n_pyramidal"]), k, ctx.profile)
    sim, build_s = make_simulator(st, ctx.profile, cfg)
    pseed = cfg["pattern_seed"]
    pseed = int(ctx.rng("patterns").integers(2**31)) if pseed is None else int(pseed)
    patterns = make_patterns(k, cfg["n_channels"], cfg["n_spikes"], cfg["duration"], seed=pseed)
    exp = Experiment(sim, st, ctx.profile, ctx.seed, cfg, ctx.rng("network"))
    calib = exp.calibrate(patterns)
    w_before = {p: w.copy() for p, w in exp.weights.items()}

    order_rng, train_rng, test_rng = ctx.rng("order"), ctx.rng("train"), ctx.rng("test")
    order = np.concatenate([order_rng.permutation(k) for _ in range(int(cfg["train_epochs"]))])
    updates, errors, train_events = [], [], []
    by_proj = dict.fromkeys(PLASTIC, 0)
    for c in tqdm(order, desc="train", disable=not ctx.progress, unit="pres"):
        pat = patterns[c]
        if cfg["train_jitter"] > 0:
            pat = perturb(pat, train_rng, cfg["train_jitter"], 0.0)
        p = exp.present(pat, int(c), learn=True, teach_nontarget=bool(cfg["teach_nontarget"]))
        updates.append(sum(p.updates.values()))
        for proj, n_upd in p.updates.items():
            by_proj[proj] += n_upd
        errors.append(p.error_R)
        train_events.append(p.events)

    n_test = int(cfg["test_per_class"])
    test_classes = np.repeat(np.arange(k), n_test)
    test_rng.shuffle(test_classes)
    confusion = np.zeros((k, k), int)
    test_events, r_spikes, r_offsets = [], [], []
    for n, c in enumerate(tqdm(test_classes, desc="test", disable=not ctx.progress, unit="pres")):
        pat = perturb(patterns[c], test_rng, cfg["jitter"], cfg["deletion"])
        p = exp.present(pat, None, learn=False, keep_spikes=True)
        confusion[c, classify(p)] += 1
        test_events.append(p.events)
        i, t = p.spikes["R"]
        r_spikes.append((i, t + n * st.duration))
        r_offsets.append(n * st.duration)

    per_class = (np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)).tolist()
    accuracy = float(np.trace(confusion) / confusion.sum())
    updates_a = np.asarray(updates, float)

    # plots
    out = ctx.out
    t_end = len(test_classes) * st.duration
    ri = np.concatenate([s[0] for s in r_spikes]) if r_spikes else np.zeros(0, int)
    rt = np.concatenate([s[1] for s in r_spikes]) if r_spikes else np.zeros(0)
    t, _ = calcium_trace(np.zeros(0), t_end)
    traces = {f"readout {r}": calcium_trace(rt[ri == r], t_end)[1] for r in range(k)}
    phases = [(f"p{c}", off, off + st.duration) for c, off in zip(test_classes, r_offsets,
                                                                  strict=True)]  # fmt: skip
    plot_files = [
        plots.calcium_plot(out / "calcium_test.png", t, traces, phases if k * n_test <= 40 else [],
                           title="readout calcium during test presentations"),
        plots.confusion_plot(out / "confusion.png", confusion),
        plots.updates_plot(out / "weight_updates.png", updates_a, np.asarray(errors)),
        plots.weight_histograms(out / "weights.png",
                                {p: w_before[p][exp.masks[p] > 0] for p in ("in_p", "p_r")},
                                {p: exp.weights[p][exp.masks[p] > 0] for p in ("in_p", "p_r")}),
    ]  # fmt: skip

    n_train, n_te = len(train_events), len(test_events)
    energy = energy_report(
        _sum(test_events).scaled(1 / max(n_te, 1)),
        _sum(train_events).scaled(1 / max(n_train, 1)),
        ctx.profile,
    )
    metrics = {
        "accuracy": accuracy,
        "chance": 1.0 / k,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "patterns": k,
        **learning_trend(updates_a, errors),
        "weight_updates_by_projection": by_proj,
        "calibration_mean_P_spikes": calib["P"],
        "calibration_mean_R_spikes": calib["R"],
        "train_presentations": n_train,
        "test_presentations": n_te,
        "teacher": "target+nontarget" if cfg["teach_nontarget"] else "target only",
        "biological_time_s": (n_train + n_te) * st.duration,
        "build_s": build_s,
    }
    summary = (
        f"K={k}: test accuracy {accuracy:.0%} on {n_te} jittered presentations "
        f"(chance {1 / k:.0%}); updates/presentation "
        f"{metrics['weight_updates_per_presentation_first_third']:.0f} -> "
        f"{metrics['weight_updates_per_presentation_last_third']:.0f} "
        f"({'learned' if accuracy > 1.0 / k + 0.2 else 'did not learn'})"
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy,
        summary=summary,
        arrays={
            "updates_per_presentation": updates_a,
            "readout_error": np.asarray(errors),
            "confusion": confusion,
            "train_order": order,
            **{f"w_{p}_before": w_before[p] for p in PLASTIC},
            **{f"w_{p}_after": exp.weights[p] for p in PLASTIC},
            # fixed structures for the NIR exporter (no replay of the construction needed)
            "w_r_p": exp.weights["r_p"],
            "mask_in_p": exp.masks["in_p"],
            "pattern_seed": np.asarray(pseed, np.int64),
        },
        plots=plot_files,
        build_s=build_s,
        examples=n_train + n_te,
    )
