"""``dsnn task pattern_recognition``: Cartiglia et al. 2020 Fig. 3/4 on DPI circuits.

Phases (one readout and one interneuron; the paper has 2 pyramidal neurons, the default 8):
``before`` (pattern, no teacher, no plasticity), ``train`` (pattern with the 900 Hz teacher,
plasticity on), ``after`` (pattern, no teacher), ``pause`` (silence), ``deviant`` (a new
pattern with identical statistics). Before the ``before`` phase the chip is tuned without
labels on the trained pattern (hidden gains, teacher and top-down gains, as the config asks);
between ``train`` and ``after`` the hidden gain calibration runs again
(``recalibrate_after_training``, homeostasis), so the pyramidal neurons fire as often to the
trained pattern as before training and only the learned distribution of their input weights
(Eq. 3 at their spikes, ``in_p_rule: post``) can make them prefer it to the deviant; then the
readout's bias is raised until it fires ``recalibrate_readout_spikes`` on the trained pattern
(``recalibrate_readout_raise_only``: a readout that already fires that many keeps its bias,
and its ``L`` is a learned increase at equal bias; where the bias was raised, ``L`` is the
set point against the untrained readout; without the option the bias is also lowered), or
with ``recalibrate_readout_on: background`` tuned before and after training on fresh patterns
with the same statistics (then ``L`` is a learned increase). With
``topdown_only_with_teacher`` the readout's top-down feedback reaches the pyramidal neurons
only in the ``train`` phase (and the teacher-driven calibrations).
The readout "calcium" is its spike train low-pass filtered with 200 ms;
``L = mean calcium(after) / mean calcium(before)``, ``D = mean calcium(after) /
mean calcium(deviant)``, computed from the readout spikes inside each phase (no carry-over of
the previous phase's 200 ms calcium tail); a phase with no spike counts as half a spike, so
the ratios stay finite. ``readout_spikes_after`` and ``readout_spikes_deviant`` are the
readout's mean spike counts per presentation (pattern + tail) in those phases, without that
floor, so a D that rests on the half-spike floor shows as a near-zero count.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ..data.patterns import make_patterns, perturb
from ..dendritic import plots
from ..dendritic.experiment import calcium_trace, learning_trend
from ..dendritic.network import PLASTIC
from ..hardware.energy import EventCounts, energy_report
from ..learners.dendritic import build_experiment
from .api import RunContext, TaskOutput

#: Readout spikes per presentation after training that the criterion asks for, so that no
#: ``D`` rests on the half-spike floor of a silent deviant phase alone.
MIN_READOUT_SPIKES = 5.0


def criterion_failures(metrics: dict) -> list[str]:
    """The parts of the task's criterion (``L > 1.5``, ``D > 1.5`` and at least
    :data:`MIN_READOUT_SPIKES` readout spikes per presentation after training) that
    ``metrics`` fail, each with the readout's spike counts behind it; empty when it holds."""
    before, after, deviant = (metrics[f"readout_spikes_{ph}"]
                              for ph in ("before", "after", "deviant"))  # fmt: skip
    failed = []
    if metrics["L"] <= 1.5:
        failed.append(f"L <= 1.5 (readout spikes per presentation {before:.1f} before training, "
                      f"{after:.1f} after)")  # fmt: skip
    if metrics["D"] <= 1.5:
        failed.append(f"D <= 1.5 ({deviant:.1f} readout spikes per presentation to the deviant, "
                      f"{after:.1f} to the trained pattern)")  # fmt: skip
    if after < MIN_READOUT_SPIKES:
        failed.append(f"the readout fires {after:.1f} spikes per presentation after training "
                      f"(target >= {MIN_READOUT_SPIKES:g})")  # fmt: skip
    return failed


def recognised(metrics: dict) -> bool:
    """Whether ``metrics`` meet the task's criterion (no :func:`criterion_failures`)."""
    return not criterion_failures(metrics)


def verdict(metrics: dict) -> str:
    """The summary's verdict: the trained pattern is recognised, or each part of the
    criterion that failed (:func:`criterion_failures`)."""
    failed = criterion_failures(metrics)
    return "not recognised: " + "; ".join(failed) if failed else "recognises the trained pattern"


def run(ctx: RunContext) -> TaskOutput:
    cfg = ctx.config
    pseed = cfg["pattern_seed"]
    pseed = int(ctx.rng("patterns").integers(2**31)) if pseed is None else int(pseed)
    trained, deviant = make_patterns(2, cfg["n_channels"], cfg["n_spikes"], cfg["duration"],
                                     seed=pseed)  # fmt: skip
    exp, build_s = build_experiment(cfg, int(cfg["n_channels"]), 1, ctx.profile, ctx.seed,
                                    ctx.rng("network"))  # fmt: skip
    st = exp.st
    # calibrated on the trained pattern only: the deviant stays unseen until its test phase
    calib = exp.calibrate([trained])
    if cfg["calibrate_teacher_hz"]:
        calib["teacher"] = exp.calibrate_teacher(trained, 0, float(cfg["calibrate_teacher_hz"]),
                                                 int(cfg["calibrate_iters"]))  # fmt: skip
    if cfg["calibrate_topdown"]:
        calib["topdown"] = exp.calibrate_topdown(trained, 0, float(cfg["calibrate_topdown"]),
                                                 int(cfg["calibrate_iters"]))  # fmt: skip
    # the patterns the readout's bias is tuned on: the trained one, or fresh background
    # patterns with the same statistics (neither trained nor the deviant), before training too
    background = cfg["recalibrate_readout_on"] == "background"
    if background:
        bseed = int(ctx.rng("background").integers(2**31))
        readout_patterns = make_patterns(4, cfg["n_channels"], cfg["n_spikes"], cfg["duration"],
                                         seed=bseed)  # fmt: skip
    else:
        readout_patterns = [trained]
    raise_only = bool(cfg["recalibrate_readout_raise_only"]) and not background

    def tune_readout_bias() -> list[float]:
        return exp.calibrate_readout_bias(readout_patterns,
                                          float(cfg["recalibrate_readout_spikes"]),
                                          int(cfg["calibrate_iters"]),
                                          raise_only)  # fmt: skip

    if background and cfg["recalibrate_readout_spikes"]:
        calib["readout"] = tune_readout_bias()
    w_before = {p: w.copy() for p, w in exp.weights.items()}
    n_ph, n_tr, n_pause = (int(cfg[k]) for k in ("phase_presentations", "train_presentations",
                                                  "pause_presentations"))  # fmt: skip
    schedule = ([("before", trained)] * n_ph + [("train", trained)] * n_tr
                + [("after", trained)] * n_ph + [("pause", None)] * n_pause
                + [("deviant", deviant)] * n_ph)  # fmt: skip
    rng = ctx.rng("presentations")
    rasters = {"R": ([], []), "P": ([], []), "I": ([], [])}
    errors, events_train, events_test = [], [], []
    by_proj: dict[str, list[int]] = {proj: [] for proj in PLASTIC}
    recalib: list[float] = []
    recalib_r: list[float] = []
    recalib_gain = 1.0
    for n, (phase, pat) in enumerate(tqdm(schedule, desc="present", disable=not ctx.progress,
                                          unit="pres")):  # fmt: skip
        if phase == "after" and schedule[n - 1][0] == "train":
            # homeostasis after training, unsupervised on the trained pattern: the hidden
            # gains as before training, then the readout's bias
            if cfg["recalibrate_after_training"]:
                recalib = exp.calibrate_hidden([trained], float(cfg["calibrate_spikes"]),
                                               int(cfg["calibrate_iters"]))  # fmt: skip
            if cfg["recalibrate_readout_spikes"]:
                iw0 = np.asarray(exp.chip[("R", "Iw0_bas")], float).copy()
                recalib_r = tune_readout_bias()
                recalib_gain = float(np.mean(np.asarray(exp.chip[("R", "Iw0_bas")]) / iw0))
        if pat is not None and cfg["jitter"] + cfg["deletion"] > 0 and phase != "train":
            pat = perturb(pat, rng, cfg["jitter"], cfg["deletion"])
        learn = phase == "train"
        p = exp.present(pat, 0 if learn else None, learn=learn, keep_spikes=True)
        if learn:
            for proj in PLASTIC:
                by_proj[proj].append(p.updates[proj])
            errors.append(p.error_R)
            events_train.append(p.events)
        elif pat is not None:
            events_test.append(p.events)
        for pop in rasters:
            i, t = p.spikes[pop]
            rasters[pop][0].append(i)
            rasters[pop][1].append(t + n * st.duration)
    rast = {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in rasters.items()}
    updates = np.sum([by_proj[proj] for proj in PLASTIC], axis=0)
    trends = {proj: learning_trend(u) for proj, u in by_proj.items()}
    t_end = len(schedule) * st.duration
    t, ca = calcium_trace(rast["R"][1], t_end)
    bounds, start = {}, 0
    for phase in ("before", "train", "after", "pause", "deviant"):
        count = sum(1 for ph, _ in schedule if ph == phase)
        bounds[phase] = (start * st.duration, (start + count) * st.duration)
        start += count
    floor = 0.5 / (n_ph * st.duration)  # half a spike per phase, in Hz

    def spike_rate(pop, phase):  # spikes of pop in the phase per second (all neurons)
        a, b = bounds[phase]
        return float(np.sum((rast[pop][1] >= a) & (rast[pop][1] < b)) / (b - a))

    def phase_mean(phase):
        a, b = bounds[phase]
        return max(spike_rate("R", phase), floor), float(ca[(t >= a) & (t < b)].mean())

    rate = {ph: phase_mean(ph) for ph in ("before", "after", "deviant", "train")}
    # mean readout spikes per presentation (pattern + tail), without the half-spike floor
    spikes_per = {ph: spike_rate("R", ph) * st.duration for ph in ("before", "after", "deviant")}

    # ratios of the readout rate within each phase (= the calcium trace averaged over the
    # phase without the carry-over of the previous phase's calcium, which would otherwise make
    # a silent "after" phase look active right after training)
    L = rate["after"][0] / rate["before"][0]
    D = rate["after"][0] / rate["deviant"][0]
    out = ctx.out
    plot_files = [
        plots.calcium_plot(out / "calcium.png", t, {"readout": ca},
                           [(k, a, b) for k, (a, b) in bounds.items()],
                           title=f"L = {L:.2f}, D = {D:.2f}"),
        plots.raster_plot(out / "rasters.png", {"R": rast["R"], "I": rast["I"], "P": rast["P"]},
                          t_end),
        plots.weight_histograms(out / "weights.png", {p: w_before[p] for p in ("in_p", "p_r")},
                                {p: exp.weights[p] for p in ("in_p", "p_r")}),
        plots.updates_plot(out / "weight_updates.png", np.asarray(updates, float),
                           np.asarray(errors)),
    ]  # fmt: skip

    def avg(lst):
        total = EventCounts()
        for c in lst:
            total = total + c
        return total.scaled(1 / max(len(lst), 1))

    metrics = {
        "L": L,
        "D": D,
        "readout_rate_hz": {ph: rate[ph][0] for ph in rate},
        "readout_calcium_mean_hz": {ph: rate[ph][1] for ph in rate},
        "readout_spikes_before": spikes_per["before"],
        "readout_spikes_after": spikes_per["after"],
        "readout_spikes_deviant": spikes_per["deviant"],
        "pyramidal_rate_hz": {ph: spike_rate("P", ph) / st.n_p for ph in rate},
        **learning_trend(updates, errors),
        "weight_updates_per_presentation": [int(u) for u in updates],
        # first and last third per plastic projection (which one stops learning)
        "weight_updates_per_presentation_by_projection": {
            proj: [trend[f"weight_updates_per_presentation_{k}_third"] for k in ("first", "last")]
            for proj, trend in trends.items()
        },
        "calibration_mean_P_spikes": calib["P"],
        "recalibration_mean_P_spikes": recalib,
        "readout_calibration_spikes": calib.get("readout", []),
        "readout_recalibration_spikes": recalib_r,
        "readout_recalibration_gain": recalib_gain,
        "topdown_calibration_mean_P_spikes": calib.get("topdown", []),
        "teacher_calibration_R_spikes": calib.get("teacher", []),
        "biological_time_s": t_end,
        "build_s": build_s,
    }
    bias = ""
    if recalib_r and not background:  # L is a learned increase only at an unchanged bias
        bias = (", readout bias kept" if recalib_gain == 1.0
                else f", readout bias x{recalib_gain:.2f} after training")  # fmt: skip
    summary = (f"L = {L:.2f} (after/before{bias}), D = {D:.2f} (trained/deviant): "
               f"{verdict(metrics)}")  # fmt: skip
    return TaskOutput(
        metrics=metrics, energy=energy_report(avg(events_test), avg(events_train), ctx.profile),
        summary=summary,
        arrays={"calcium_t": t, "calcium": ca, "R_i": rast["R"][0], "R_t": rast["R"][1],
                **{f"w_{p}_before": w_before[p] for p in PLASTIC},
                **{f"w_{p}_after": exp.weights[p] for p in PLASTIC},
                # fixed structures for the NIR exporter (no replay of the construction)
                "w_r_p": exp.weights["r_p"], "mask_in_p": exp.masks["in_p"],
                "pattern_seed": np.asarray(pseed, np.int64)},
        plots=plot_files, build_s=build_s, examples=len(schedule),
    )  # fmt: skip
