"""Behavioural 45 nm spiking-EqProp blocks against their analytic responses."""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.hardware import cmos45
from dendritic_snn.hardware.profiles import load_profile

PROFILE = load_profile("cmos45_spiking_ep")
DT = PROFILE.dt
NEURON = PROFILE.params["neuron"]
LPF = PROFILE.params["rate_filter"]
DERIV = PROFILE.params["derivative"]
BIAS = PROFILE.params["bias"]
SYN = PROFILE.params["synapse"]


def _sine_gain(t: np.ndarray, y: np.ndarray, f: float) -> tuple[float, float]:
    """Least-squares amplitude and phase of the component of ``y`` at frequency ``f``."""
    w = 2 * np.pi * f
    basis = np.stack([np.sin(w * t), np.cos(w * t), np.ones_like(t)], axis=1)
    (a, b, _), *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(a, b)), float(np.arctan2(b, a))


def _crossing_time(t: np.ndarray, y: np.ndarray, level: float) -> float:
    """First time ``y`` crosses ``level`` (either direction), linearly interpolated."""
    s = np.sign(y - level)
    k = int(np.flatnonzero(s[1:] != s[:-1])[0])
    return float(t[k] + (level - y[k]) * (t[k + 1] - t[k]) / (y[k + 1] - y[k]))


# ----------------------------------------------------------------------------- Schmitt + IFC
def test_schmitt_hysteresis_on_slow_sinusoid() -> None:
    t = DT * np.arange(4000)  # two periods of 20 us
    v = 0.5 - 0.5 * np.cos(2 * np.pi * 50e3 * t)  # 0 .. 1 V
    state, out = False, []
    for vk in v:
        state = cmos45.schmitt_trigger(vk, state, NEURON["V_rise"], NEURON["V_fall"])
        out.append(bool(state))
    out = np.array(out)
    up = np.flatnonzero(out[1:] & ~out[:-1]) + 1
    down = np.flatnonzero(~out[1:] & out[:-1]) + 1
    assert len(up) == 2 and len(down) == 2
    dv = np.max(np.abs(np.diff(v)))  # dt resolution in volts
    assert np.all(np.abs(v[up] - 0.6) <= dv) and np.all(v[up] > 0.6)
    assert np.all(np.abs(v[down] - 0.4) <= dv) and np.all(v[down] < 0.4)
    # between the thresholds the output depends on history: high on the way down only
    mid = (v > 0.45) & (v < 0.55)
    falling = np.gradient(v) < 0
    assert np.all(out[mid & falling]) and not np.any(out[mid & ~falling])


def _ifc_isi(i_in: np.ndarray, params: dict, steps: int) -> tuple[np.ndarray, list]:
    trace = cmos45.simulate_ifc(np.tile(i_in, (steps, 1)), DT, params, v0=params["V_fall"])
    isi = np.array([np.diff(st)[1:].mean() for st in trace.spike_times])
    return isi, trace


def test_ifc_f_i_matches_analytic_period() -> None:
    i_max = NEURON["I_discharge"] / 2 + NEURON["I_leak"]  # rate peak
    currents = np.geomspace(8e-9, 0.95 * i_max, 12)
    isi, trace = _ifc_isi(currents, NEURON, 6000)
    assert all(len(st) >= 5 for st in trace.spike_times)
    np.testing.assert_allclose(isi, cmos45.ifc_period(currents, NEURON), rtol=0.02)
    assert np.all(np.diff(1 / isi) > 0)  # monotone below the peak
    # the brief's leak-free formula, exactly
    no_leak = dict(NEURON, I_leak=0.0)
    isi0, _ = _ifc_isi(currents, no_leak, 6000)
    c, dv, i_d = NEURON["C_mem"], NEURON["V_rise"] - NEURON["V_fall"], NEURON["I_discharge"]
    np.testing.assert_allclose(isi0, c * dv / currents + c * dv / (i_d - currents), rtol=0.02)
    # peak rate I_discharge / (4 C dV)
    f_peak = 1 / cmos45.ifc_period(i_max, NEURON)
    assert f_peak == pytest.approx(NEURON["I_discharge"] / (4 * c * dv), rel=1e-9)


def test_ifc_spike_width_voltage_range_and_duty() -> None:
    i_in = 100e-9
    steps = 2500
    trace = cmos45.simulate_ifc(np.full(steps, i_in), DT, NEURON)
    n = len(trace.spike_times)
    assert n > 10
    after_first = trace.v[int(trace.spike_times[0] / DT) + 1 :]
    assert after_first.min() >= NEURON["V_fall"] - 1e-12
    assert after_first.max() <= NEURON["V_rise"] + 1e-12
    # high time of one spike = C dV / (I_discharge - I_in + I_leak)
    c, dv = NEURON["C_mem"], NEURON["V_rise"] - NEURON["V_fall"]
    width = c * dv / (NEURON["I_discharge"] - i_in + NEURON["I_leak"])
    v, trig, t_high, spikes = 0.0, False, 0.0, 0
    for _ in range(steps):
        out = cmos45.ifc_step(v, trig, i_in, DT, NEURON)
        v, trig = out.v, out.trig
        t_high += float(out.duty) * DT
        assert float(cmos45.lpf_input(out.duty, LPF)) == pytest.approx(float(out.duty))
        spikes += int(out.spike)
    assert spikes == n
    assert t_high / n == pytest.approx(width, rel=0.05)  # the last spike may be cut short


def test_ifc_vectorized_over_mismatched_instances() -> None:
    params = dict(NEURON)
    params["C_mem"] = NEURON["C_mem"] * np.array([0.9, 1.0, 1.1])
    params["V_rise"] = np.array([0.55, 0.6, 0.65])
    batch = cmos45.simulate_ifc(np.full((1500, 3), 80e-9), DT, params)
    for j in range(3):
        one = {k: (v[j] if np.ndim(v) else v) for k, v in params.items()}
        single = cmos45.simulate_ifc(np.full(1500, 80e-9), DT, one)
        assert len(single.spike_times) >= 3
        np.testing.assert_allclose(batch.spike_times[j], single.spike_times)
        np.testing.assert_allclose(batch.v[:, j], single.v)


def test_ifc_exact_for_any_step_size() -> None:
    # the piecewise-linear integration does not depend on dt, even with several spikes per step
    i_in, fine, k = 300e-9, 2000, 5
    a = cmos45.simulate_ifc(np.full(fine, i_in), DT, NEURON)
    b = cmos45.simulate_ifc(np.full(fine // k, i_in), k * DT, NEURON)
    np.testing.assert_allclose(b.v, a.v[k - 1 :: k], atol=1e-9)
    np.testing.assert_allclose(b.spike_times, a.spike_times, rtol=1e-9)
    period = cmos45.ifc_period(i_in, NEURON)
    t_up = NEURON["C_mem"] * (NEURON["V_rise"] - NEURON["V_fall"]) / (i_in - NEURON["I_leak"])
    out = cmos45.ifc_step(NEURON["V_fall"], False, i_in, 3.5 * period, NEURON)
    assert int(out.n_spikes) == int((3.5 * period - t_up) // period) + 1 and bool(out.spike)
    assert float(out.t_spike) == pytest.approx(t_up)


def test_ifc_rejects_thresholds_without_hysteresis() -> None:
    with pytest.raises(ValueError, match="V_fall"):
        cmos45.ifc_step(0.0, False, 1e-8, DT, dict(NEURON, V_fall=0.7))


# ------------------------------------------------------------------------- low-pass filter
def test_lpf_linear_gain_at_corner_and_passband() -> None:
    params = dict(LPF, decay_ratio=1.0)
    f3 = LPF["f_3db"]
    freqs = np.array([f3, f3 / 20])
    steps = 16000  # 4 periods of the slow tone
    t = DT * np.arange(1, steps + 1)
    x = 0.5 + 0.1 * np.sin(2 * np.pi * freqs * (t[:, None] - DT))
    _, y2 = cmos45.simulate_lpf(x, DT, params, y0=0.5)
    keep = t > steps * DT / 2  # steady state
    gains = [_sine_gain(t[keep], y2[keep, j], f)[0] / 0.1 for j, f in enumerate(freqs)]
    assert gains[0] == pytest.approx(1 / np.sqrt(2), rel=0.03)
    fc = f3 / np.sqrt(np.sqrt(2) - 1)
    assert gains[1] == pytest.approx(1 / (1 + (freqs[1] / fc) ** 2), rel=0.005)
    assert gains[1] > 0.99


def test_lpf_diode_rise_fast_decay_slow() -> None:
    assert LPF["decay_ratio"] == 10
    tau_r, tau_d = cmos45.lpf_time_constants(LPF)
    on = 400  # 4 us on, then 16 us off
    x = np.where(np.arange(2000) < on, LPF["V_spike"], 0.0)
    y1, y2 = cmos45.simulate_lpf(x, DT, LPF)
    t = DT * np.arange(1, 2001)
    v = LPF["V_spike"]
    # first stage: single exponential; cascade: 1 - (1 + t/tau) exp(-t/tau)
    rise1 = _crossing_time(t, y1, v * (1 - np.exp(-1)))
    rise2 = _crossing_time(t, y2, v * (1 - 2 * np.exp(-1)))
    tail = t >= on * DT
    fall1 = _crossing_time(t[tail], y1[tail], v * np.exp(-1)) - on * DT
    fall2 = _crossing_time(t[tail], y2[tail], v * 2 * np.exp(-1)) - on * DT
    assert rise1 == pytest.approx(tau_r, rel=0.02) and rise2 == pytest.approx(tau_r, rel=0.02)
    assert fall1 == pytest.approx(tau_d, rel=0.02) and fall2 == pytest.approx(tau_d, rel=0.02)
    assert fall2 / rise2 == pytest.approx(10, rel=0.03)


# ------------------------------------------------------------------- derivative + comparators
def test_derivative_gain_at_corner() -> None:
    f3 = DERIV["f_3db"]
    t = DT * np.arange(4000)  # 12 periods
    out = cmos45.simulate_derivative(np.sin(2 * np.pi * f3 * t), DT, DERIV)
    keep = t > t[-1] / 2
    gain, phase = _sine_gain(t[keep], out[keep], f3)
    assert gain == pytest.approx(1 / np.sqrt(2), rel=0.03)
    assert phase == pytest.approx(np.pi / 4, abs=0.03)  # +45 deg lead of a 1st-order HP


def test_derivative_of_slow_sinusoid_is_tau_dv_dt() -> None:
    f = DERIV["f_3db"] / 100
    t = DT * np.arange(int(2 / (f * DT)))
    x = 0.5 * np.sin(2 * np.pi * f * t)
    out = cmos45.simulate_derivative(x, DT, DERIV)
    tau = cmos45.derivative_tau(DERIV)
    ideal = tau * 0.5 * 2 * np.pi * f * np.cos(2 * np.pi * f * t)
    keep = t > 20 * tau  # past the start-up transient
    err = np.max(np.abs(out[keep] - ideal[keep])) / np.max(np.abs(ideal))
    assert err < 0.02


def test_derivative_of_a_ramp_and_the_comparator_delay() -> None:
    """A ramp of slope k from rest: out(t) = tau k (1 - exp(-t/tau)) exactly (first-order
    high-pass), and the +20 mV comparator switches at t* = -tau ln(1 - theta/(tau k))."""
    tau = cmos45.derivative_tau(DERIV)
    k = 0.1 / tau  # settles at 100 mV
    t = DT * np.arange(400)
    out = cmos45.simulate_derivative(k * t, DT, DERIV)
    np.testing.assert_allclose(out, tau * k * (1 - np.exp(-t / tau)), rtol=1e-9, atol=1e-12)
    g = cmos45.comparators(out, DERIV)
    t_star = -tau * np.log(1 - DERIV["V_threshold"] / (tau * k))
    assert t[np.argmax(g > 0)] == pytest.approx(t_star, abs=DT)
    # a falling ramp mirrors it; a ramp slower than theta / tau never leaves the dead band
    np.testing.assert_array_equal(cmos45.comparators(-out, DERIV), -g)
    slow = cmos45.simulate_derivative(0.9 * DERIV["V_threshold"] / tau * t, DT, DERIV)
    assert not np.any(cmos45.comparators(slow, DERIV))


def test_comparators_sign_and_dead_band() -> None:
    assert DERIV["V_threshold"] == pytest.approx(0.02)
    out = np.array([-0.05, -0.021, -0.019, 0.0, 0.019, 0.021, 0.05])
    np.testing.assert_array_equal(cmos45.comparators(out, DERIV), [-1, -1, 0, 0, 0, 1, 1])
    # on a differentiated sinusoid Vgrad follows the sign of the cosine outside the dead band
    f3 = DERIV["f_3db"]
    t = DT * np.arange(2000)
    out = cmos45.simulate_derivative(0.1 * np.sin(2 * np.pi * f3 * t), DT, DERIV)
    g = cmos45.comparators(out, DERIV)
    assert set(np.unique(g)) == {-1, 0, 1}
    np.testing.assert_array_equal(g[np.abs(out) > 0.02], np.sign(out[np.abs(out) > 0.02]))
    assert np.all(g[np.abs(out) < 0.02] == 0)


# --------------------------------------------------------------------------- bias + synapse
def test_bias_map() -> None:
    vbp, vbn = cmos45.bias_voltages(np.array([1, -1, 0]), BIAS)
    np.testing.assert_allclose(vbp, [BIAS["VDD"], BIAS["Vbp_active"], BIAS["VDD"]])
    np.testing.assert_allclose(vbn, [BIAS["Vbn_active"], 0.0, 0.0])
    vbp2, vbn2 = cmos45.bias_voltages(np.array([-1, 1, 0]), BIAS, charge_sign=-1)
    np.testing.assert_allclose(vbp2, vbp)
    np.testing.assert_allclose(vbn2, vbn)


def _strobes(v0: np.ndarray, vgrad: np.ndarray, n: int) -> np.ndarray:
    vbp, vbn = cmos45.bias_voltages(vgrad, BIAS)
    v = v0
    for _ in range(n):
        v = cmos45.synapse_step(v, vbp, vbn, True, SYN, vdd=BIAS["VDD"])
    return v


def test_capacitor_synapse_charge_discharge_hold() -> None:
    step = SYN["I_charge"] * SYN["t_strobe"] / SYN["C_syn"]
    assert step == pytest.approx(1e-3)
    v0 = np.full(3, 0.5)
    v = _strobes(v0, np.array([1, -1, 0]), 7)
    np.testing.assert_allclose(v, [0.5 + 7 * step, 0.5 - 7 * step, 0.5])
    # a strobe count in one call equals repeated strobes
    vbp, vbn = cmos45.bias_voltages(np.array([1, -1, 0]), BIAS)
    np.testing.assert_allclose(cmos45.synapse_step(v0, vbp, vbn, 7, SYN, BIAS["VDD"]), v)
    # no strobe, no change
    np.testing.assert_allclose(cmos45.synapse_step(v0, vbp, vbn, False, SYN, BIAS["VDD"]), v0)
    # clipped at the rails
    edge = np.array([SYN["V_max"] - 1.5 * step, SYN["V_min"] + 1.5 * step])
    np.testing.assert_allclose(_strobes(edge, np.array([1, -1]), 5), [SYN["V_max"], SYN["V_min"]])


def test_synapse_current() -> None:
    v = np.array([0.0, 0.25, 1.0])
    np.testing.assert_allclose(cmos45.synapse_current(v, SYN), SYN["g_out"] * v)
    np.testing.assert_allclose(cmos45.synapse_current(v, SYN, pre=[1, 0, 1]), [0, 0, 1e-7])
