"""Physics of the DPI neuron and synapse (dendritic_snn.hardware.dpi) against analytic results."""

from __future__ import annotations

import logging

import brian2 as b2
import numpy as np
import pytest
from brian2 import ms, nA, second
from brian2.utils.logger import catch_logs

from dendritic_snn.hardware.dpi import (
    dpi_neuron_group,
    dpi_synapses,
    imem_steady_state,
    membrane_tau,
    membrane_tau_effective,
    synapse_jump,
    synapse_jump_linear,
    synapse_tau,
)
from dendritic_snn.hardware.mismatch import sample_block, synapse_instance
from dendritic_snn.hardware.profiles import load_profile

FINE_DT = 0.01 * ms  # for time-constant fits: forward-Euler bias ~ dt/(2 tau) < 0.1 %


@pytest.fixture(autouse=True)
def _numpy_target():
    old = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    yield
    b2.prefs.codegen.target = old


@pytest.fixture(scope="module")
def profile():
    return load_profile("dynapse_se")


def _fit_tau(t: np.ndarray, y: np.ndarray) -> float:
    """Time constant of y ~ A exp(-t/tau) by a log-linear least-squares fit."""
    slope = np.polyfit(t, np.log(y), 1)[0]
    return -1.0 / slope


def _relax(profile, iin: float, neuron_params=None, duration=60 * ms):
    group = dpi_neuron_group(1, profile, dt=FINE_DT, neuron_params=neuron_params)
    group.Iin_ext = iin * b2.amp
    mon = b2.StateMonitor(group, "Imem", record=0)
    b2.Network(group, mon).run(duration)
    return group, mon.t / second, mon.Imem[0] / b2.amp


def test_analytic_helpers_match_teili(profile):
    assert membrane_tau(profile.params["neuron"]) == pytest.approx(6.65e-3, rel=1e-3)
    assert synapse_tau(profile.params["synapse"]) == pytest.approx(5.32e-3, rel=1e-3)
    # Iw*Ith/Itau with Iw = 100*7 pA and Ith = Itau = 10 pA
    assert synapse_jump_linear(profile.params["synapse"], 100) == pytest.approx(700e-12)


@pytest.mark.parametrize("iin", [2e-9, 2.5e-9])
def test_membrane_steady_state_and_tau_teili_defaults(profile, iin):
    """Imem relaxes to the fixed point of the membrane equation with the linearised rate.

    dImem/dt = 0 with Imem > Io, Ia ~ 0 (Imem << Iath = 0.5 nA), Iahp at its floor Io and
    Ishunt_c = Ishunt = Io gives Imem_inf = [(Ith/Itau)(Iin + Iconst - 2 Io) - Ith] /
    (1 + 2 Io/Itau) (~0.2-0.25 nA here, below Ispkthr = 1 nA). Linearising about Imem_inf:
    tau_eff = tau (1 + Ith/(Imem_inf + Io)) / (1 + 2 Io/Itau) = 5.9 ms for tau = 6.65 ms; the
    floored shunt and AHP currents (0.5 pA each) add 12.5 % to the 8 pA leak.
    """
    params = profile.params["neuron"]
    imem_inf = imem_steady_state(params, iin)
    assert 0.1e-9 < imem_inf < 0.3e-9
    group, t, imem = _relax(profile, iin)
    assert group.Imem[0] / b2.amp == pytest.approx(imem_inf, rel=1e-3)
    dist = imem_inf - imem
    window = (dist < 0.5 * imem_inf) & (dist > 0.01 * imem_inf)
    tau = _fit_tau(t[window], dist[window])
    assert tau == pytest.approx(membrane_tau_effective(params, imem_inf), rel=0.01)
    assert tau == pytest.approx(0.0059, rel=0.02)


def test_membrane_tau_is_c_ut_over_kappa_itau(profile):
    """With the floor currents made negligible (Io = Ishunt = Iconst = 1 fA), the relaxation
    time constant is C*Ut/(kappa*Itau) = 6.65 ms (up to the Ith/Imem ~ 0.5 % gain term)."""
    small = {"Io": 1e-15, "Ishunt": 1e-15, "Iconst": 1e-15}
    params = {**profile.params["neuron"], **small}
    iin = 1.9e-9
    imem_inf = imem_steady_state(params, iin)
    _, t, imem = _relax(profile, iin, neuron_params=small)
    dist = imem_inf - imem
    window = (dist < 0.5 * imem_inf) & (dist > 0.01 * imem_inf)
    tau = _fit_tau(t[window], dist[window])
    assert imem[-1] == pytest.approx(imem_inf, rel=1e-3)
    assert tau == pytest.approx(6.65e-3, rel=0.02)
    assert tau == pytest.approx(membrane_tau_effective(params, imem_inf), rel=0.005)


def test_synapse_decay_tau(profile):
    """Above the floor, dIsyn/dt = -Isyn/tau exactly, with tau = C*Ut/(kappa*Itau) = 5.32 ms."""
    group = dpi_neuron_group(1, profile, dt=FINE_DT)
    group.Isyn_exc = 2 * nA
    group.Isyn_inh = 1 * nA
    mon = b2.StateMonitor(group, ["Isyn_exc", "Isyn_inh"], record=0)
    b2.Network(group, mon).run(20 * ms)
    t = mon.t / second
    for var in ("Isyn_exc", "Isyn_inh"):
        tau = _fit_tau(t, getattr(mon, var)[0] / b2.amp)
        assert tau == pytest.approx(5.32e-3, rel=0.01)
        assert tau == pytest.approx(synapse_tau(profile.params["synapse"]), rel=0.002)


def _jump(profile, isyn0, weight, syn_type="exc"):
    """Isyn increase caused by one presynaptic spike (after state update -> after on_pre)."""
    group = dpi_neuron_group(1, profile)
    setattr(group, f"Isyn_{syn_type}", isyn0)
    pre = b2.SpikeGeneratorGroup(1, [0], [1.0] * ms, dt=profile.dt * second)
    syn = dpi_synapses(pre, group, syn_type, weight=weight, connect=True)
    var = f"Isyn_{syn_type}"
    before = b2.StateMonitor(group, var, record=0, when="thresholds")
    after = b2.StateMonitor(group, var, record=0, when="end")
    b2.Network(group, pre, syn, before, after).run(2 * ms)
    step = int(round(1.0e-3 / profile.dt))
    i_before = getattr(before, var)[0][step] / b2.amp
    i_after = getattr(after, var)[0][step] / b2.amp
    return i_before, i_after - i_before


def test_synapse_jump_linear_regime(profile):
    """Isyn = 2 nA >> Ith = 10 pA: one spike adds Iw*Ith/Itau (Iw = 100*7 pA = 0.7 nA)."""
    params = profile.params["synapse"]
    for syn_type in ("exc", "inh"):
        i_before, jump = _jump(profile, 2 * nA, 100.0, syn_type)
        assert jump == pytest.approx(synapse_jump_linear(params, 100.0), rel=0.01)
        assert jump == pytest.approx(synapse_jump(params, 100.0, i_before), rel=1e-9)


def test_synapse_jump_at_floor(profile):
    """At Isyn = Io: Igain = Itau_c = Io, so the jump is Iw*Io/(Io*(Io/Io + 1)) = Iw/2."""
    params = profile.params["synapse"]
    i_before, jump = _jump(profile, params["Io"] * b2.amp, 1.0)
    assert i_before == pytest.approx(params["Io"], rel=1e-9)
    assert jump == pytest.approx(params["Iw0"] / 2, rel=1e-6)
    assert _jump(profile, params["Io"] * b2.amp, -1.0)[1] == 0.0  # negative w acts as 0


def test_simultaneous_spikes_add_and_vectorise(profile):
    """Three spikes in one step onto one neuron add 3 jumps evaluated at the same Isyn, and the
    numpy target neither falls back to a Python loop nor warns about execution order."""
    params = profile.params["synapse"]
    group = dpi_neuron_group(2, profile)
    group.Isyn_exc = 2 * nA
    pre = b2.SpikeGeneratorGroup(3, [0, 1, 2], [1.0] * 3 * ms)
    syn = dpi_synapses(pre, group, "exc", weight=100.0, connect={"i": [0, 1, 2], "j": [0, 0, 0]})
    before = b2.StateMonitor(group, "Isyn_exc", record=True, when="thresholds")
    after = b2.StateMonitor(group, "Isyn_exc", record=True, when="end")
    with catch_logs(log_level=logging.INFO) as logs:
        b2.Network(group, pre, syn, before, after).run(2 * ms)
    assert not [msg for msg in logs if "vectorise" in msg[2] or "order" in msg[2]]
    step = int(round(1.0e-3 / profile.dt))
    i0, i1 = before.Isyn_exc[:, step] / b2.amp, after.Isyn_exc[:, step] / b2.amp
    assert i1[0] - i0[0] == pytest.approx(3 * synapse_jump(params, 100.0, i0[0]), rel=1e-9)
    assert i1[1] == i0[1]


def test_synapse_input_drives_neuron(profile):
    """Inhibition subtracts: exc alone makes the neuron fire, exc + equal inh silences it."""
    group = dpi_neuron_group(2, profile)
    pre = b2.PoissonGroup(1, 400 * b2.Hz)
    exc = dpi_synapses(pre, group, "exc", weight=2000.0, connect=True)
    inh = dpi_synapses(pre, group, "inh", weight=2000.0, connect="j == 1")
    spikes = b2.SpikeMonitor(group)
    b2.Network(group, pre, exc, inh, spikes).run(200 * ms)
    assert spikes.count[0] > 10
    assert spikes.count[1] == 0


def test_f_i_curve(profile):
    """teili defaults, numpy, dt 0.1 ms, 500 ms: 0 Hz at 1 nA, 120 Hz at 10 nA, 440 Hz at 50 nA
    (teili's measured values, dendritic.md section 0.3)."""
    currents = np.array([1, 5, 10, 20, 50])
    group = dpi_neuron_group(len(currents), profile)
    assert group.dt[:] == pytest.approx(0.1e-3)
    group.Iin_ext = currents * nA
    spikes = b2.SpikeMonitor(group)
    b2.Network(group, spikes).run(500 * ms)
    rates = np.asarray(spikes.count) / 0.5
    assert np.all(np.diff(rates) > 0)
    assert rates[0] == 0
    for current, expected in ((5, 30), (10, 120), (20, 242), (50, 440)):
        assert rates[currents == current][0] == pytest.approx(expected, rel=0.15)


def test_mismatch_matches_sample_block(profile):
    n, seed = 8, 1234
    group = dpi_neuron_group(n, profile, seed=seed)
    expected = sample_block(profile, "neuron", n, seed)
    for name in ("Itau", "Ith", "C", "t_ref", "Ispkthr"):
        np.testing.assert_array_equal(getattr(group, f"{name}_")[:], expected[name])
    assert len(np.unique(group.Itau_[:])) == n
    for name in ("Io", "Ut", "kn", "kp"):
        np.testing.assert_array_equal(getattr(group, f"{name}_")[:], profile.params["neuron"][name])
    syn = {s: sample_block(profile, "synapse", n, seed, instance=synapse_instance("", s))
           for s in ("exc", "inh")}  # fmt: skip
    np.testing.assert_array_equal(group.Itau_syn_exc_[:], syn["exc"]["Itau"])
    np.testing.assert_array_equal(group.Iw0_inh_[:], syn["inh"]["Iw0"])
    assert not np.array_equal(group.Itau_syn_exc_[:], group.Itau_syn_inh_[:])
    np.testing.assert_array_equal(group.Io_syn_exc_[:], profile.params["synapse"]["Io"])
    np.testing.assert_array_equal(group.Isyn_exc_[:], group.Io_syn_exc_[:])

    same = dpi_neuron_group(n, profile, seed=seed)
    other = dpi_neuron_group(n, profile, seed=seed + 1)
    np.testing.assert_array_equal(same.Itau_[:], group.Itau_[:])
    assert not np.array_equal(other.Itau_[:], group.Itau_[:])
    nominal = dpi_neuron_group(n, profile)
    np.testing.assert_array_equal(nominal.Itau_[:], profile.params["neuron"]["Itau"])


def test_overrides_keep_mismatch_factors(profile):
    n, seed = 4, 7
    group = dpi_neuron_group(n, profile, seed=seed, neuron_params={"Itau": 4e-12},
                             synapse_params={"exc": {"Ith": 20e-12}})  # fmt: skip
    factors = sample_block(profile, "neuron", n, seed)["Itau"] / 8e-12
    np.testing.assert_allclose(group.Itau_[:], 4e-12 * factors, rtol=1e-12)
    assert group.Ith_syn_exc_[:].mean() == pytest.approx(20e-12, rel=0.3)
    assert group.Ith_syn_inh_[:].mean() == pytest.approx(10e-12, rel=0.3)
    with pytest.raises(ValueError):
        dpi_synapses(group, group, "nmda")
