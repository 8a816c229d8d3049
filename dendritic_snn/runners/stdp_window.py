r"""``dsnn task stdp_window``: the EqSpike weight change of one synapse vs pre/post spike timing.

One synapse between a pre and a post neuron of the profile (``cmos45_spiking_ep``) during the
nudged phase: the pre neuron spikes at :math:`t_{pre}`, the post neuron at
:math:`t_{post} = t_{pre} + \Delta t`, each ``n_pairs`` times with ``period`` between pairs,
both on top of ``background`` spikes per step (a regular train, so the traces sit at a working
point as in a running network; 0 = isolated pairs). Both neurons' spikes go through the
two-stage LPF, the RC differentiator and the comparators
(:mod:`dendritic_snn.eqspike.eqspike`); the weight change is the EqSpike strobe count

.. math:: \Delta w(\Delta t) = \Delta w_{step} \sum_t \big[S_{pre}(t)\,G_{post}(t)
          + S_{post}(t)\,G_{pre}(t)\big] - \Delta w(\text{background only}),

reported also per term (``pre_term``: pre spikes x post comparator; ``post_term``). The
background-only count is subtracted so that the curve shows the effect of the pairing.
The first ``period`` is a free phase (background only, no strobes); strobes count from then.
``comparator``: ``derivative`` (RC differentiator: only the fast rise after a spike crosses
20 mV, so the window is a narrow even coincidence peak) or ``held`` (trace minus the level
held at the end of the free phase, :mod:`dendritic_snn.eqspike.eqspike` A11: either spike
order potentiates for ~the trace decay time, a broad even Hebbian window). Neither reading
gives the antisymmetric window the EqSpike abstract reports with this profile's
fast-rise/slow-decay filter.
``delta_t`` spans ``[-dt_max, dt_max]`` in the profile's time unit (µs for 45 nm).
Metrics: the curve, its odd (antisymmetric) and even fractions, the peak and its lag.
"""

from __future__ import annotations

import numpy as np

from ..eqspike.eqspike import derivative_update, lpf2_step, map_profile, ternary
from ..errors import DsnnError
from ..hardware.energy import energy_report
from ..plots import save_figure
from .api import RunContext, TaskOutput

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def pair_counts(
    chip,
    lags: np.ndarray,
    n_pairs: int,
    period: int,
    background: float,
    comparator: str = "derivative",
    ref_tau: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Strobe counts ``(pre_term, post_term)`` for every lag (steps; vectorised over lags).

    Column 0 of the simulation is the background-only reference (subtracted).
    ``comparator``: ``"derivative"`` (RC differentiator) or ``"held"`` (trace minus the level
    held at nudge onset; the first ``period`` steps, background only, are the free phase in
    which the reference tracks the trace with ``ref_tau``).
    """
    lags = np.asarray(lags, dtype=int)
    n = len(lags) + 1
    pad = int(np.max(np.abs(lags))) + period
    steps = pad + n_pairs * period + pad
    t_pre = pad + period * np.arange(n_pairs)
    pre = np.zeros((steps, n), np.float32)
    post = np.zeros((steps, n), np.float32)
    if background > 0:
        phase = np.arange(steps) * background
        train = (np.floor(phase + background) - np.floor(phase)).astype(np.float32)
        pre += train[:, None]
        post += train[::-1, None]  # a different phase: reversed
    pre[t_pre, 1:] = 1.0
    for j, lag in enumerate(lags):
        post[t_pre + lag, j + 1] = 1.0
    pre, post = np.minimum(pre, 1.0), np.minimum(post, 1.0)
    state = {side: [np.zeros(n, np.float32) for _ in range(4)] for side in ("pre", "post")}
    pre_term = np.zeros(n)
    post_term = np.zeros(n)
    held = comparator == "held"
    for t in range(steps):
        g = {}
        for side, spikes in (("pre", pre[t]), ("post", post[t])):
            y1, y2, d, ref = state[side]
            y1n, y2n = lpf2_step(y1, y2, chip.duty * chip.v_spike * spikes, 0, chip)
            if held:
                d = y2n - ref
                if t < period:  # free phase: the reference tracks the trace
                    ref = ref + (y2n - ref) / ref_tau
            else:
                d = derivative_update(d, y2, y2n, 0, chip)
            state[side] = [y1n, y2n, d, ref]
            g[side] = ternary(d, chip.theta[0])
        if t >= period:  # nudged phase: strobes
            pre_term += pre[t] * g["post"]
            post_term += post[t] * g["pre"]
    return pre_term[1:] - pre_term[0], post_term[1:] - post_term[0]


def _plot(dt_axis, total, pre_term, post_term, ctx: RunContext, unit: str) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.axhline(0, color="0.7", lw=0.6)
    ax.axvline(0, color="0.7", lw=0.6)
    ax.plot(dt_axis, total, color="C0", lw=1.5, label="Δw (both terms)")
    ax.plot(dt_axis, pre_term, color="C1", lw=0.8, ls="--", label="pre spike × G_post")
    ax.plot(dt_axis, post_term, color="C2", lw=0.8, ls=":", label="post spike × G_pre")
    ax.set_xlabel(f"Δt = t_post − t_pre ({unit})")
    ax.set_ylabel("Δw (weight units)")
    ax.set_title(f"EqSpike STDP window, {ctx.profile.name}, seed {ctx.seed}", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, ctx.out / "stdp_window.png")


def run(ctx: RunContext) -> TaskOutput:
    """Sweep Δt; see the module docstring."""
    if ctx.profile.models.get("neuron") != "ifc_schmitt":
        raise DsnnError(f"stdp_window: profile '{ctx.profile.name}' has no 45 nm IFC blocks")
    cfg = ctx.config
    chip = map_profile(ctx.profile, (1, 1, 1), float(cfg["w_max"]), ctx.seed)
    unit = TIME_UNITS[ctx.profile.time_unit]
    step_units = chip.step_s / unit
    dt_max = float(cfg["dt_max"])
    lags = np.unique(np.round(np.linspace(-dt_max, dt_max, int(cfg["n_points"])) / step_units))
    period = int(np.ceil(float(cfg["period"]) / step_units))
    pre_t, post_t = pair_counts(
        chip,
        lags,
        int(cfg["n_pairs"]),
        period,
        float(cfg["background"]),
        str(cfg.get("comparator", "derivative")),
        float(cfg.get("ref_tau", 8.0)),
    )
    w_step = float(chip.step_up[0].mean())
    pre_t, post_t = pre_t * w_step, post_t * w_step
    total = pre_t + post_t
    dt_axis = lags * step_units
    mirrored = total[::-1]  # lags are symmetric around 0 (unique of a symmetric grid)
    norm = float(np.sum(total**2)) or 1.0
    odd = float(np.sum(((total - mirrored) / 2) ** 2) / norm)
    peak = int(np.argmax(np.abs(total)))
    metrics = {
        "delta_t": dt_axis.tolist(),
        "delta_w": total.tolist(),
        "pre_term": pre_t.tolist(),
        "post_term": post_t.tolist(),
        "odd_fraction": odd,
        "even_fraction": 1.0 - odd,
        "peak_delta_t": float(dt_axis[peak]),
        "peak_delta_w": float(total[peak]),
        "step_s": chip.step_s,
    }
    summary = (
        f"stdp_window on {ctx.profile.name}: peak Δw {total[peak]:.3g} at Δt "
        f"{dt_axis[peak]:.3g} {ctx.profile.time_unit}; antisymmetric fraction {odd:.0%}"
    )
    return TaskOutput(
        metrics=metrics,
        energy=energy_report(None, None, ctx.profile),
        summary=summary,
        arrays={"delta_t": dt_axis, "delta_w": total, "pre_term": pre_t, "post_term": post_t},
        plots=[_plot(dt_axis, total, pre_t, post_t, ctx, ctx.profile.time_unit)],
        examples=len(lags),
    )
