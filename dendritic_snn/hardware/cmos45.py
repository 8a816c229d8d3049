"""Behavioural models of the five 45 nm spiking-EqProp circuit blocks (Parulekar et al.).

Each function takes the parameter dict of one profile block (``profile.params[role]``, SI
floats, or per-instance arrays from :func:`~dendritic_snn.hardware.mismatch.sample_block`) and
broadcasts over instances. Step functions are pure: state in, state out. The report gives only
the Schmitt thresholds, the filter corners, the comparator thresholds and the bias behaviour;
every other choice here is a modelling assumption and is marked as such.

Blocks (profile role: model): ``neuron``: ``ifc_schmitt``; ``rate_filter``: ``two_stage_lpf``;
``derivative``: ``rc_derivative``; ``bias``: ``ternary_bias``; ``synapse``: ``capacitor_synapse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

Params = Mapping[str, ArrayLike]
FArray = NDArray[np.float64]
BArray = NDArray[np.bool_]

#: Cap on trigger transitions resolved inside one step: past ``MAX_EVENTS / 2`` spikes in one
#: step the rest of the step is integrated without switching (keep ``dt`` below the period).
MAX_EVENTS = 16


def _f(params: Params, key: str) -> FArray:
    return np.asarray(params[key], dtype=float)


# ----------------------------------------------------------------- integrate-and-fire circuit
def schmitt_trigger(v: ArrayLike, state: ArrayLike, v_rise: ArrayLike, v_fall: ArrayLike) -> BArray:
    """Schmitt trigger: high if ``v > v_rise``, low if ``v < v_fall``, else ``state`` (held).

    Assumes ideal, instantaneous switching at exactly the two thresholds (``v_fall < v_rise``).
    """
    v = np.asarray(v, dtype=float)
    return np.where(v > v_rise, True, np.where(v < v_fall, False, np.asarray(state, dtype=bool)))


class IFCStep(NamedTuple):
    """Result of :func:`ifc_step` (all arrays of the broadcast instance shape)."""

    v: FArray  #: membrane voltage at the end of the step [V]
    trig: BArray  #: Schmitt output at the end of the step
    spike: BArray  #: at least one low->high transition during the step
    n_spikes: NDArray[np.int64]  #: number of low->high transitions (> 1 only if dt > period)
    t_spike: FArray  #: offset of the first transition from the step start [s] (NaN if none)
    duty: FArray  #: fraction of the step the trigger was high (the spike voltage's average)


def ifc_step(v: ArrayLike, trig: ArrayLike, i_in: ArrayLike, dt: float, params: Params) -> IFCStep:
    """Advance the integrate-and-fire circuit by ``dt``, resolving threshold crossings exactly.

    .. math:: C_{mem}\\,\\frac{dv}{dt} = I_{in} - I_{leak} - s(t)\\,I_{discharge},
       \\qquad s = \\text{Schmitt}(v;\\ V_{rise}, V_{fall})

    ``s`` switches high when ``v`` reaches ``V_rise`` (a spike) and low when it falls to
    ``V_fall``. The dynamics are piecewise linear, so the step is split at each crossing and
    integrated exactly (no dt quantization of the period). Assumptions: ``i_in`` is constant
    over the step; leak and reset are constant currents (saturated transistors, independent of
    ``v``); ``v`` is clipped to ``[0, VDD]``; a crossing occurs on reaching the threshold;
    ``I_in > I_discharge + I_leak`` latches the trigger high (no more spikes).

    Parameters
    ----------
    v, trig
        Membrane voltage [V] and Schmitt output at the start of the step.
    i_in
        Input current [A] (e.g. the summed :func:`synapse_current`), held over the step.
    dt
        Step [s]; at most ``MAX_EVENTS`` transitions are resolved per step.
    params
        ``ifc_schmitt`` block: ``C_mem, V_rise, V_fall, I_discharge, I_leak, VDD``.

    Returns
    -------
    IFCStep
        ``(v, trig, spike, n_spikes, t_spike, duty)``.

    Raises
    ------
    ValueError
        If any ``V_fall >= V_rise`` (no hysteresis: the trigger would oscillate in zero time).
    """
    c, vr, vf = _f(params, "C_mem"), _f(params, "V_rise"), _f(params, "V_fall")
    i_d, i_l, vdd = _f(params, "I_discharge"), _f(params, "I_leak"), _f(params, "VDD")
    if np.any(vf >= vr):
        raise ValueError("ifc_schmitt: V_fall must be below V_rise for every instance")
    v, trig, i_in = np.broadcast_arrays(
        np.asarray(v, dtype=float), np.asarray(trig, dtype=bool), np.asarray(i_in, dtype=float)
    )
    shape = np.broadcast_shapes(v.shape, *(a.shape for a in (c, vr, vf, i_d, i_l, vdd)))
    v, trig = np.broadcast_to(v, shape).copy(), np.broadcast_to(trig, shape).copy()
    rem = np.full(shape, float(dt))
    spike, t_spike, t_high = np.zeros(shape, bool), np.full(shape, np.nan), np.zeros(shape)
    count = np.zeros(shape, np.int64)
    for _ in range(MAX_EVENTS):
        slope = (i_in - i_l - np.where(trig, i_d, 0.0)) / c
        target = np.where(trig, vf, vr)
        past = np.where(trig, v <= vf, v >= vr)
        heading = np.where(trig, slope < 0, slope > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_hit = np.where(past, 0.0, np.where(heading, (target - v) / slope, np.inf))
        hit = (rem > 0) & (t_hit <= rem)
        step = np.where(hit, t_hit, rem)
        v = np.where(hit, np.where(past, v, target), np.clip(v + slope * step, 0.0, vdd))
        t_high += np.where(trig, step, 0.0)
        rising = hit & ~trig
        t_spike = np.where(rising & ~spike, dt - rem + t_hit, t_spike)
        spike |= rising
        count += rising
        trig = trig ^ hit
        rem = np.where(hit, rem - t_hit, 0.0)
        if not np.any(rem > 0):
            break
    else:  # transition cap reached: finish the step without further switching
        slope = (i_in - i_l - np.where(trig, i_d, 0.0)) / c
        v = np.clip(v + slope * rem, 0.0, vdd)
        t_high += np.where(trig, rem, 0.0)
    return IFCStep(v, trig, spike, count, t_spike, t_high / dt)


def ifc_period(i_in: ArrayLike, params: Params) -> FArray:
    """Analytic inter-spike interval of the IFC for a constant input current.

    .. math:: T = \\frac{C\\,\\Delta V}{I_{in} - I_{leak}}
       + \\frac{C\\,\\Delta V}{I_{discharge} - I_{in} + I_{leak}},\\qquad
       \\Delta V = V_{rise} - V_{fall}

    (``I_leak = 0`` gives the leak-free formula.) ``inf`` where the neuron never fires or
    latches high. The rate ``1/T`` peaks at ``I_in = I_discharge/2 + I_leak`` with
    ``f_max = I_discharge / (4 C ΔV)`` and falls again above it (the input fights the reset).
    """
    c, dv = _f(params, "C_mem"), _f(params, "V_rise") - _f(params, "V_fall")
    i_net = np.asarray(i_in, dtype=float) - _f(params, "I_leak")
    i_res = _f(params, "I_discharge") - i_net
    ok = (i_net > 0) & (i_res > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, c * dv / i_net + c * dv / i_res, np.inf)


class IFCTrace(NamedTuple):
    """Result of :func:`simulate_ifc`; ``v``/``trig`` rows are sampled at ``t``."""

    t: FArray  #: sample times, the end of each step: ``(k + 1) * dt``
    v: FArray  #: membrane voltage, shape ``(T, *instances)``
    trig: BArray  #: Schmitt output
    spike_times: FArray | list[FArray]  #: one array per neuron (a single array if scalar)


def simulate_ifc(
    i_in: ArrayLike, dt: float, params: Params, v0: ArrayLike = 0.0, trig0: ArrayLike = False
) -> IFCTrace:
    """Run :func:`ifc_step` over an input current trace ``i_in`` of shape ``(T, *instances)``.

    Step ``k`` spans ``[k dt, (k+1) dt]``; spike times are exact crossing times of ``V_rise``.
    """
    i_in = np.asarray(i_in, dtype=float)
    v, trig = np.asarray(v0, dtype=float), np.asarray(trig0, dtype=bool)
    vs, trigs, times = [], [], []
    for k in range(i_in.shape[0]):
        out = ifc_step(v, trig, i_in[k], dt, params)
        v, trig = out.v, out.trig
        vs.append(v)
        trigs.append(trig)
        times.append(np.where(out.spike, k * dt + out.t_spike, np.nan))
    t_all = np.array(times)
    flat = t_all.reshape(len(times), -1)
    spikes = [col[~np.isnan(col)] for col in flat.T]
    spike_times = spikes[0] if t_all.ndim == 1 else spikes
    t = dt * np.arange(1, i_in.shape[0] + 1)
    return IFCTrace(t, np.array(vs), np.array(trigs), spike_times)


# ---------------------------------------------------------------- two-stage low-pass filter
def lpf_time_constants(params: Params) -> tuple[FArray, FArray]:
    """``(tau_rise, tau_decay)`` of each stage of the two-stage filter.

    Assumption: the measured small-signal corner ``f_3db`` is that of the cascade with both
    stages on their fast (diode-conducting) branch, two identical poles, so
    ``|H(f_3db)|^2 = 1/2`` gives ``f_c = f_3db / sqrt(sqrt(2) - 1)`` per stage,
    ``tau_rise = 1 / (2 pi f_c)`` and ``tau_decay = decay_ratio * tau_rise``.
    """
    f_c = _f(params, "f_3db") / np.sqrt(np.sqrt(2.0) - 1.0)
    tau_rise = 1.0 / (2.0 * np.pi * f_c)
    return tau_rise, _f(params, "decay_ratio") * tau_rise


def lpf_input(duty: ArrayLike, params: Params) -> FArray:
    """Filter input over a step: the spike voltage ``V_spike`` times the fraction of the step
    the trigger was high (:attr:`IFCStep.duty`; a 0/1 trigger state also works)."""
    return _f(params, "V_spike") * np.asarray(duty, dtype=float)


def lpf_step(
    y1: ArrayLike, y2: ArrayLike, x: ArrayLike, dt: float, params: Params
) -> tuple[FArray, FArray]:
    """Advance the two-stage diode-capacitor low-pass filter by ``dt``.

    Each stage is first order, ``tau_i dy_i/dt = u_i - y_i`` (``u_1 = x``, ``u_2 = y_1``), with
    ``tau_i = tau_rise`` while its input is above its output (diode conducting) and
    ``tau_decay`` otherwise. The input ``x`` (volts; for a spike train :func:`lpf_input`) is
    held over the step and the cascade is integrated exactly:

    .. math:: e_1^+ = a_1 e_1, \\qquad
       e_2^+ = a_2 e_2 + e_1\\,\\frac{\\tau_1(a_1-a_2)}{\\tau_1-\\tau_2}
       \\quad (\\to e_1 \\tfrac{dt}{\\tau} a \\text{ for } \\tau_1 = \\tau_2)

    (``+``: end of the step) with ``e_i = y_i - x`` and ``a_i = exp(-dt/tau_i)``.
    Assumption: each stage's branch is chosen at the start of the step (exact for
    ``decay_ratio = 1``, monotone steps and ``dt << tau``); the opamp buffer is ideal (no
    loading between stages); the diode is a two-valued conductance (no threshold drop).

    Parameters
    ----------
    y1, y2
        Stage outputs [V] at the start of the step.
    x
        Input voltage [V] over the step.
    dt
        Step [s].
    params
        ``two_stage_lpf`` block: ``f_3db, decay_ratio``.

    Returns
    -------
    tuple of ndarray
        ``(y1, y2)`` at the end of the step; ``y2`` is the rate trace.
    """
    tau_r, tau_d = lpf_time_constants(params)
    x = np.asarray(x, dtype=float)
    y1, y2 = np.asarray(y1, dtype=float), np.asarray(y2, dtype=float)
    tau1, tau2 = np.where(x > y1, tau_r, tau_d), np.where(y1 > y2, tau_r, tau_d)
    a1, a2 = np.exp(-dt / tau1), np.exp(-dt / tau2)
    e1, e2 = y1 - x, y2 - x
    same = np.isclose(tau1, tau2, rtol=1e-6, atol=0.0)
    den = np.where(same, 1.0, tau1 - tau2)
    coupling = np.where(same, dt / tau2 * a2, tau1 * (a1 - a2) / den)
    return x + a1 * e1, x + a2 * e2 + coupling * e1


def simulate_lpf(
    x: ArrayLike, dt: float, params: Params, y0: ArrayLike = 0.0
) -> tuple[FArray, FArray]:
    """Run :func:`lpf_step` over an input trace ``x`` ``(T, ...)``; returns ``(y1, y2)``."""
    x = np.asarray(x, dtype=float)
    y1 = y2 = np.asarray(y0, dtype=float)
    out1, out2 = [], []
    for k in range(x.shape[0]):
        y1, y2 = lpf_step(y1, y2, x[k], dt, params)
        out1.append(y1)
        out2.append(y2)
    return np.array(out1), np.array(out2)


# -------------------------------------------------------- RC derivative and comparators
def derivative_tau(params: Params) -> FArray:
    """Differentiator time constant ``tau = R C = 1 / (2 pi f_3db)``."""
    return 1.0 / (2.0 * np.pi * _f(params, "f_3db"))


def derivative_step(
    out: ArrayLike, x_prev: ArrayLike, x: ArrayLike, dt: float, params: Params
) -> FArray:
    """Advance the RC differentiator ``H(s) = s tau / (1 + s tau)`` by ``dt``.

    With the input linear between samples (``x' = (x - x_prev)/dt``), ``tau out' = tau x' -
    out`` is integrated exactly:

    .. math:: out_{k+1} = a\\,out_k + (1 - a)\\,\\tau\\,\\frac{x_{k+1} - x_k}{dt},
       \\qquad a = e^{-dt/\\tau}

    so the response matches the analytic one at the sample times; for inputs much slower
    than ``f_3db`` it approaches ``tau dx/dt``. Assumption: ideal RC (the slides mention an
    opamp in the feedback; its gain and bandwidth are not modelled).

    Parameters
    ----------
    out
        Differentiator output [V] at the start of the step (the state).
    x_prev, x
        Input [V] at the start and the end of the step.
    dt
        Step [s].
    params
        ``rc_derivative`` block: ``f_3db`` (``V_threshold`` is used by :func:`comparators`).

    Returns
    -------
    ndarray
        Output at the end of the step.
    """
    tau = derivative_tau(params)
    a = np.exp(-dt / tau)
    slope = (np.asarray(x, dtype=float) - np.asarray(x_prev, dtype=float)) / dt
    return a * np.asarray(out, dtype=float) + (1.0 - a) * tau * slope


def simulate_derivative(x: ArrayLike, dt: float, params: Params) -> FArray:
    """Run :func:`derivative_step` over ``x`` ``(T, ...)``, starting at rest (``out = 0``)."""
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape)
    y = np.zeros(x.shape[1:])
    for k in range(1, x.shape[0]):
        y = derivative_step(y, x[k - 1], x[k], dt, params)
        out[k] = y
    return out


def comparators(out: ArrayLike, params: Params) -> NDArray[np.int8]:
    """Two comparators combined into the ternary ``Vgrad``.

    ``+1`` if ``out > +V_threshold``, ``-1`` if ``out < -V_threshold``, else ``0`` (dead band).
    Assumption: ideal comparators (no offset, hysteresis or delay).
    """
    out, vth = np.asarray(out, dtype=float), _f(params, "V_threshold")
    return (np.asarray(out > vth, np.int8) - np.asarray(out < -vth, np.int8)).astype(np.int8)


# ------------------------------------------------------------------- bias and synapse
def bias_voltages(vgrad: ArrayLike, params: Params, charge_sign: int = 1) -> tuple[FArray, FArray]:
    """Bias circuit: ternary ``Vgrad`` -> ``(Vbp, Vbn)``.

    ========================  =============  ============  ==========
    ``Vgrad``                 ``Vbp``        ``Vbn``       synapse
    ========================  =============  ============  ==========
    ``charge_sign``           VDD            Vbn_active    charges
    ``-charge_sign``          Vbp_active     0 (GND)       discharges
    0                         VDD            0 (GND)       holds
    ========================  =============  ============  ==========

    Assumption: ``+1`` (rising post-synaptic rate) -> charge, i.e. weight increase, as the
    EqProp update ``dW ~ rate_pre * d(rate_post)/dt`` needs. The report only says a *low*
    ``Vgrad`` voltage charges and a *high* one discharges, so this corresponds to encoding
    ``+1`` as the low comparator voltage; pass ``charge_sign=-1`` for the opposite polarity.
    The DC curve is reduced to its three saturated levels (Fig. 12).
    """
    g = np.asarray(vgrad) * int(charge_sign)
    vdd = _f(params, "VDD")
    vbp = np.where(g < 0, _f(params, "Vbp_active"), vdd)
    vbn = np.where(g > 0, _f(params, "Vbn_active"), 0.0)
    return np.asarray(vbp, dtype=float), np.asarray(vbn, dtype=float)


def synapse_step(
    v_cap: ArrayLike,
    vbp: ArrayLike,
    vbn: ArrayLike,
    strobe: ArrayLike,
    params: Params,
    vdd: ArrayLike,
    v_on: float = 0.1,
) -> FArray:
    """Capacitor synapse: update the weight voltage on ``V_dW`` strobes.

    .. math:: V_{cap} \\leftarrow \\text{clip}\\Big(V_{cap} + n\\,\\frac{t_{strobe}}{C_{syn}}
       (g_n I_{charge} - g_p I_{discharge}),\\ V_{min}, V_{max}\\Big)

    ``n`` = ``strobe`` (number of strobes in the step, bool or count). Assumptions: the
    charge path is an ideal switch on when ``Vbn > v_on`` (``g_n = 1``), the discharge
    path when ``Vbp < vdd - v_on`` (``g_p = 1``); currents are constant while on (no
    dependence on the bias level or on ``V_cap``); both on gives the difference.

    Parameters
    ----------
    v_cap
        Weight-capacitor voltage [V].
    vbp, vbn
        Bias voltages from :func:`bias_voltages`.
    strobe
        ``V_dW`` strobes in this step (the post-synaptic spike flag, or a count).
    params
        ``capacitor_synapse`` block.
    vdd
        Supply [V] (the bias block's ``VDD``).
    v_on
        Turn-on margin of the two switches [V] (assumption).

    Returns
    -------
    ndarray
        Updated ``V_cap``.
    """
    g_n = np.asarray(vbn, dtype=float) > v_on
    g_p = np.asarray(vbp, dtype=float) < np.asarray(vdd, dtype=float) - v_on
    i_up, i_down = _f(params, "I_charge"), _f(params, "I_discharge")
    i_net = np.where(g_n, i_up, 0.0) - np.where(g_p, i_down, 0.0)
    dv = np.asarray(strobe, dtype=float) * i_net * _f(params, "t_strobe") / _f(params, "C_syn")
    return np.clip(np.asarray(v_cap, dtype=float) + dv, _f(params, "V_min"), _f(params, "V_max"))


def synapse_current(v_cap: ArrayLike, params: Params, pre: ArrayLike | None = None) -> FArray:
    """Output current ``I_out = g_out * V_cap`` fed to the post-synaptic IFC.

    If ``pre`` (pre-synaptic spike, ``V_IN``) is given it gates the current, ``I_out * pre``;
    assumption: the report does not say how ``V_IN`` enters the output stage.
    """
    i_out = _f(params, "g_out") * np.asarray(v_cap, dtype=float)
    return i_out if pre is None else i_out * np.asarray(pre, dtype=float)
