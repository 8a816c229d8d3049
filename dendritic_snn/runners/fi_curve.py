"""``dsnn task fi_curve``: the f-I curve of a profile's neuron across mismatched instances.

A characterisation run, the first thing one measures on a new chip: ``instances`` neurons of
one mismatched chip (seeded) receive each of ``n_currents`` constant input currents for
``duration`` (in the profile's time unit); the task reports the mean firing rate and its
relative spread across instances at each current, and plots both.

* ``dpi_neuron`` profiles (dynapse_se, ideal) run the Brian2 DPI model
  (:mod:`dendritic_snn.hardware.dpi`, numpy target).
* ``ifc_schmitt`` profiles (cmos45_spiking_ep) run the behavioural integrate-and-fire circuit
  (:mod:`dendritic_snn.hardware.cmos45`).
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import DsnnError
from ..hardware.energy import EventCounts, energy_report
from ..hardware.mismatch import sample_block
from ..hardware.profiles import Profile
from ..plots import save_figure, subplots
from .api import RunContext, TaskOutput

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _same_chip(profile: Profile, n_currents: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """Neuron parameters of ``n`` mismatched instances, repeated for every current step (the
    same neurons are swept through all currents)."""
    return {k: np.tile(v, n_currents) for k, v in sample_block(profile, "neuron", n, seed).items()}


def _dpi_rates(profile: Profile, currents: np.ndarray, n: int, seed: int, duration: float):
    import brian2 as b2

    from ..hardware.dpi import dpi_neuron_group, set_group_values

    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    group = dpi_neuron_group(len(currents) * n, profile, name="fi_neurons")
    set_group_values(group, _same_chip(profile, len(currents), n, seed))
    group.Iin_ext = np.repeat(currents, n) * b2.amp
    spikes = b2.SpikeMonitor(group, record=False)
    b2.Network(group, spikes).run(duration * b2.second)
    return np.asarray(spikes.count).reshape(len(currents), n) / duration


def _ifc_rates(profile: Profile, currents: np.ndarray, n: int, seed: int, duration: float):
    from ..hardware.cmos45 import simulate_ifc

    params = _same_chip(profile, len(currents), n, seed)
    steps = int(round(duration / profile.dt))
    i_in = np.broadcast_to(np.repeat(currents, n), (steps, len(currents) * n))
    trace = simulate_ifc(i_in, profile.dt, params)
    counts = np.array([len(times) for times in trace.spike_times])
    return counts.reshape(len(currents), n) / duration


SIMULATORS = {"dpi_neuron": _dpi_rates, "ifc_schmitt": _ifc_rates}


def _current_range(ctx: RunContext) -> np.ndarray:
    cfg = ctx.config
    model = ctx.profile.models["neuron"]
    defaults = {"dpi_neuron": (1e-9, 50e-9), "ifc_schmitt": (5e-9, 200e-9)}
    low, high = defaults.get(model, (None, None))
    low = cfg["current_min_A"] if cfg["current_min_A"] is not None else low
    high = cfg["current_max_A"] if cfg["current_max_A"] is not None else high
    if not 0 < low < high:
        raise DsnnError(f"fi_curve: need 0 < current_min_A < current_max_A, got {low}, {high}")
    return np.linspace(low, high, int(cfg["n_currents"]))


def _plot(currents, rates, ctx: RunContext) -> str:

    fig, ax = subplots(figsize=(5.5, 4))
    mean, sd = rates.mean(axis=1), rates.std(axis=1)
    for column in rates.T:
        ax.plot(currents * 1e9, column, color="0.8", lw=0.6)
    ax.errorbar(
        currents * 1e9,
        mean,
        yerr=sd,
        color="C0",
        marker="o",
        ms=3,
        capsize=2,
        label=f"mean ± sd over {rates.shape[1]} instances",
    )
    ax.set_xlabel("input current (nA)")
    ax.set_ylabel("firing rate (Hz)")
    sigma = ctx.profile.model.mismatch.sigma
    ax.set_title(f"f-I curve, {ctx.profile.name}, mismatch {sigma:.0%}, seed {ctx.seed}")
    ax.legend(frameon=False)
    return save_figure(fig, ctx.out / "fi_curve.png")


def run(ctx: RunContext) -> TaskOutput:
    """Measure the f-I curve; see the module docstring."""
    model = ctx.profile.models.get("neuron")
    if model not in SIMULATORS:
        raise DsnnError(
            f"fi_curve: profile '{ctx.profile.name}' has neuron model '{model}'; "
            f"supported: {', '.join(SIMULATORS)}"
        )
    currents = _current_range(ctx)
    n = int(ctx.config["instances"])
    duration = float(ctx.config["duration"]) * TIME_UNITS[ctx.profile.time_unit]
    start = time.perf_counter()
    rates = SIMULATORS[model](ctx.profile, currents, n, ctx.seed, duration)
    sim_s = time.perf_counter() - start

    mean = rates.mean(axis=1)
    spread = np.divide(rates.std(axis=1), mean, out=np.zeros_like(mean), where=mean > 0)
    monotone = bool(np.all(np.diff(mean) >= 0))
    counts = EventCounts(
        spikes=float(rates.sum() * duration), elapsed_s=duration * len(currents), neurons=n
    )
    metrics = {
        "currents_A": currents.tolist(),
        "rate_mean_Hz": mean.tolist(),
        "rate_rel_spread": spread.tolist(),
        "monotone": monotone,
        "simulation_s": sim_s,
    }
    active = spread[mean > 0]
    summary = (
        f"fi_curve on {ctx.profile.name}: {mean[0]:.3g} Hz at {currents[0] * 1e9:.3g} nA to "
        f"{mean[-1]:.3g} Hz at {currents[-1] * 1e9:.3g} nA; "
        f"{'monotone' if monotone else 'NOT monotone'}; rate spread across instances "
        f"{(np.median(active) if active.size else 0):.1%} (median)"
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy_report(None, None, ctx.profile, run=counts),
        summary=summary,
        arrays={"currents_A": currents, "rates_Hz": rates},
        plots=[_plot(currents, rates, ctx)],
        examples=n * len(currents),
    )
