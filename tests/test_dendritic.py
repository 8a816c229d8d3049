"""Dendritic error-propagation network (Cartiglia 2020 on DPI circuits): physics and learning.

The physics tests run on both engines (fixture ``engine``): the Brian2 model on the numpy
target through :class:`RuntimeSimulator`, and the compiled in-process engine
(:class:`NumbaSimulator`). Compartment currents are held (almost) constant by giving their
DPI a tiny leak (``Itau_syn = 1 fA``, tau ~ 50 s).
"""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.dendritic.engine import NumbaSimulator
from dendritic_snn.dendritic.network import (
    ModelParams,
    PlasticityParams,
    Structure,
    chip_values,
    model_values,
    run_values,
    soma_noise,
)
from dendritic_snn.dendritic.simulator import RuntimeSimulator
from dendritic_snn.hardware.profiles import load_profile

HOLD = 1e-15  # Itau of a "held" compartment current: tau = C Ut/(kappa Itau) ~ 53 s


@pytest.fixture(scope="module")
def profile():
    return load_profile("dynapse_se")


@pytest.fixture(params=["brian2", "numba"])
def engine(request):
    return request.param


def _make(st, profile, engine):
    if engine == "numba":
        return NumbaSimulator(st)
    return RuntimeSimulator(st, profile, target="numpy")


def _sim(profile, n_steps, engine, n_p=1, n_r=1, readout_rule="prediction"):
    st = Structure(n_in=1, n_p=n_p, n_r=n_r, n_steps=n_steps, dt=1e-4, noise=False,
                   readout_rule=readout_rule)  # fmt: skip
    return st, _make(st, profile, engine)


def _state(sim, res, pop, var):
    """Final value of a state variable ``var`` of population ``pop`` on either engine."""
    if isinstance(sim, RuntimeSimulator):
        return np.asarray(getattr(sim.circuit.objects[pop], f"{var}_")[:], float)
    return np.asarray(res["state"][(pop, var)], float)


def _values(st, profile, held: dict, model=None, plast=None, learn=False, weights=None,
            teach_hi=None, teach_lo=None):  # fmt: skip
    model = model or ModelParams()
    chip = chip_values(st, profile, None, model)
    for (pop, comp), current in held.items():
        chip[(pop, f"Itau_syn_{comp}")] = np.full(st.n_p if pop == "P" else st.n_r, HOLD)
        chip[(pop, f"Isyn_{comp}")] = np.full(st.n_p if pop == "P" else st.n_r, current)
    w = {"in_p": np.zeros(st.n_in * st.n_p), "p_r": np.zeros(st.n_p * st.n_r),
         "p_i": np.zeros(st.n_p * st.n_r), "i_p": np.zeros(st.n_p * st.n_r),
         "r_p": np.zeros(st.n_p * st.n_r)}  # fmt: skip
    w.update(weights or {})
    masks = {k: np.ones_like(v) for k, v in w.items() if k != "r_p"}
    zeros = np.zeros((st.n_steps, st.n_r))
    return run_values(
        st, chip, model_values(model, plast or PlasticityParams(), learn), w, masks,
        np.zeros((st.n_steps, st.n_in)),
        zeros if teach_hi is None else teach_hi, zeros if teach_lo is None else teach_lo,
    )  # fmt: skip


def test_pyramidal_soma_steady_state(profile, engine):
    """I_S -> c_B I_B + c_A (I_A,exc - I_A,inh) with c_k = alpha_k/(alpha_k + l)."""
    st, sim = _sim(profile, 400, engine)  # 40 ms = 13 tau_S
    m = ModelParams()
    ib, ae, ai = 4e-9, 2e-9, 0.5e-9
    held = {("P", "bas"): ib, ("P", "ape"): ae, ("P", "api"): ai}
    res = sim.run(_values(st, profile, held))

    def get(var):
        return float(_state(sim, res, "P", var)[0])

    c_b, c_a = m.alpha_B / (m.alpha_B + m.leak), m.alpha_A / (m.alpha_A + m.leak)
    ib_now, ae_now, ai_now = (get(f"Isyn_{k}") for k in ("bas", "ape", "api"))
    assert ib_now == pytest.approx(ib, rel=2e-3)  # held
    expected = c_b * ib_now + c_a * (ae_now - ai_now)
    assert get("I_S") == pytest.approx(expected, rel=1e-3)
    assert get("I_pred") == pytest.approx(c_b * ib_now, rel=1e-3)
    assert get("I_Ahat") == pytest.approx(ae_now - ai_now, rel=1e-3)
    assert len(res["spikes"]["P"][0]) > 0  # the DPI neuron spikes on I_S ~ 5 nA


def test_soma_relaxes_with_tau_s(profile, engine):
    st, sim = _sim(profile, 60, engine)  # 6 ms
    m = ModelParams()
    res = sim.run(_values(st, profile, {("I", "den"): 3e-9}))
    c_d = m.alpha_D / (m.alpha_D + m.leak)
    i_d = float(_state(sim, res, "I", "Isyn_den")[0])
    # interneuron nudged toward the readout's I_S (0 here): (c_D I_D)/(1 + g_I)
    target = c_d * i_d / (1 + m.g_I)
    rate = (1 + m.g_I) / m.tau_S
    expected = target * (1 - np.exp(-rate * 6e-3))
    assert float(_state(sim, res, "I", "I_S")[0]) == pytest.approx(expected, rel=2e-2)


@pytest.mark.parametrize("start", [0.0, 20e-9])
def test_teacher_pulls_toward_reversal(profile, start, engine):
    """Eq. 4: I_teach = g_T (E_hi - I_S) moves I_S toward E_hi from either side; the
    steady state is (c_B I_B + g_T E_hi)/(1 + g_T)."""
    st, sim = _sim(profile, 400, engine)
    m = ModelParams()
    i_t = 2e-9
    vals = _values(st, profile, {("R", "tchh"): i_t})
    vals["vars"][("R", "I_S")] = np.array([start])
    res = sim.run(vals)
    g = m.alpha_T * float(_state(sim, res, "R", "Isyn_tchh")[0]) / m.I_ref
    i_s = float(_state(sim, res, "R", "I_S")[0])
    assert i_s == pytest.approx(g * m.E_hi / (1 + g), rel=1e-3)
    assert (i_s > start) if start < m.E_hi else (i_s < start)


def test_soma_step_stable_for_large_teacher_conductance(profile, engine):
    """A teacher conductance g ~ 200 gives G dt/tau_S ~ 201 * 0.1/3 = 6.7 > 2, where forward
    Euler diverges (the NaN of 30-40 % mismatch); the exact step lands on the steady state
    g E_hi/(1 + g) without overshoot."""
    st, sim = _sim(profile, 50, engine)
    m = ModelParams()
    vals = _values(st, profile, {("R", "tchh"): 700e-9})  # g = alpha_T Isyn/I_ref, alpha_T = 0.3
    res = sim.run(vals)
    g = m.alpha_T * float(_state(sim, res, "R", "Isyn_tchh")[0]) / m.I_ref
    assert g > 150
    trace = np.asarray(res["I_S_R"][0], float)
    assert np.all(np.isfinite(trace)) and trace.max() <= m.E_hi
    assert trace[-1] == pytest.approx(g * m.E_hi / (1 + g), rel=1e-3)


def test_teacher_zero_current_at_reversal(profile, engine):
    """With I_S = E_hi the teacher current vanishes: I_S stays where the basal drive holds it."""
    st, sim = _sim(profile, 200, engine)
    m = ModelParams()
    c_b = m.alpha_B / (m.alpha_B + m.leak)
    ib = m.E_hi / c_b
    vals = _values(st, profile, {("R", "tchh"): 3e-9, ("R", "bas"): ib})
    vals["vars"][("R", "I_S")] = np.array([m.E_hi])
    res = sim.run(vals)
    assert float(_state(sim, res, "R", "I_S")[0]) == pytest.approx(m.E_hi, rel=2e-3)


def _plastic_run(profile, teacher: str, theta=0.1, lr=0.05, n_steps=500, engine="brian2"):
    """P fires regularly (held basal current); its spikes hit the plastic P -> R synapse."""
    st, sim = _sim(profile, n_steps, engine)
    plast = PlasticityParams()
    plast.theta["p_r"], plast.lr["p_r"] = theta, lr
    held = {("P", "bas"): 8e-9}
    if teacher == "hi":
        held[("R", "tchh")] = 2e-9
    elif teacher == "lo":
        held[("R", "tchl")] = 2e-9
    w0 = 1.0
    vals = _values(st, profile, held, plast=plast, learn=True, weights={"p_r": np.array([w0])})
    if teacher == "lo":
        vals["vars"][("R", "I_S")] = np.array([5e-9])  # above E_lo = 0
    res = sim.run(vals)
    assert len(res["spikes"]["P"][0]) > 3
    return w0, float(res["w"]["p_r"][0]), int(res["n_upd"]["p_r"][0])


def test_eq3_band_no_update_without_teacher(profile, engine):
    """Without nudging I_S == I_pred (error ~ 0, inside the band): the weight is untouched."""
    w0, w1, n = _plastic_run(profile, "none", engine=engine)
    assert w1 == w0
    assert n == 0


def test_eq3_band_wide_theta_blocks_teacher(profile, engine):
    """A band wider than the error blocks learning even with the teacher on."""
    w0, w1, n = _plastic_run(profile, "hi", theta=50.0, engine=engine)
    assert (w1, n) == (w0, 0)


def test_eq3_sign_follows_error(profile, engine):
    w0, w_up, n_up = _plastic_run(profile, "hi", engine=engine)
    assert w_up > w0 and n_up > 0  # e = I_S - I_pred > Theta: potentiation
    w0, w_dn, n_dn = _plastic_run(profile, "lo", engine=engine)
    assert w_dn < w0 and n_dn > 0  # pulled toward E_lo: e < -Theta, depression


def test_stop_learning_updates_fall(profile, engine):
    """Repeated presentations with a reachable target: the readout's prediction approaches
    the nudged soma, the error enters the band and the number of updates falls."""
    st, sim = _sim(profile, 1000, engine)
    model = ModelParams()
    model.E_hi = 3e-9
    plast = PlasticityParams()
    plast.lr["p_r"], plast.theta["p_r"] = 0.5, 0.3
    teach = np.zeros((st.n_steps, 1))
    teach[::11, 0] = 1.0  # 900 Hz
    w = {"p_r": np.array([0.05])}
    updates = []
    for _ in range(6):
        vals = _values(st, profile, {("P", "bas"): 8e-9}, model=model, plast=plast, learn=True,
                       weights=w, teach_hi=teach)  # fmt: skip
        res = sim.run(vals)
        w = {"p_r": np.asarray(res["w"]["p_r"])}
        updates.append(int(res["n_upd"]["p_r"].sum()))
    # each presentation starts from rest, so a few early spikes still see the onset transient:
    # the count falls to a floor (8 -> 4 here), not to zero
    assert updates[0] > 0
    assert np.mean(updates[-2:]) < 0.6 * updates[0]
    assert np.mean(updates[-2:]) < np.mean(updates[:2])


def _teacher_run(profile, engine, readout_rule, presentations=8):
    """P fires regularly (held basal current, ~76 Hz), R gets a 900 Hz teacher toward 3 nA;
    the P -> R updates per presentation, P spikes per presentation and the final weight."""
    st, sim = _sim(profile, 2500, engine, readout_rule=readout_rule)
    model = ModelParams()
    model.E_hi = 3e-9
    plast = PlasticityParams()
    plast.lr["p_r"], plast.theta["p_r"], plast.w_max["p_r"] = 0.2, 0.5, 50.0
    teach = np.zeros((st.n_steps, 1))
    teach[::11, 0] = 1.0
    w = {"p_r": np.array([0.2])}
    updates, p_spikes = [], []
    for _ in range(presentations):
        vals = _values(st, profile, {("P", "bas"): 8e-9}, model=model, plast=plast, learn=True,
                       weights=w, teach_hi=teach)  # fmt: skip
        res = sim.run(vals)
        w = {"p_r": np.asarray(res["w"]["p_r"])}
        updates.append(int(res["n_upd"]["p_r"].sum()))
        p_spikes.append(len(res["spikes"]["P"][0]))
    return updates, p_spikes, float(w["p_r"][0])


def test_dendrite_readout_rule_stops_learning(profile):
    """``readout_rule: dendrite``: the error at a P spike includes the spike's own EPSC, so the
    weight stops where one EPSC brings the dendrite to the teacher-driven soma: within the
    first presentation (afterwards only the first spike, from rest, is outside the band).
    Against the low-passed prediction (``prediction``), which has mostly decayed between the
    P spikes, the weight must grow until the EPSCs of successive spikes add up: several
    presentations of updates, to a weight several times larger. On the engine only (the
    Brian2 model on the numpy target takes minutes for these 16 presentations):
    ``test_dendritic_engine.py`` checks that the two agree under both readout rules."""
    upd_d, spikes, w_d = _teacher_run(profile, "numba", "dendrite")
    upd_p, _, w_p = _teacher_run(profile, "numba", "prediction")
    assert min(spikes) > 10
    assert upd_d[0] > 10 and max(upd_d[1:]) <= 1, upd_d
    assert sum(upd_p[:4]) > 3 * sum(upd_d[:4]), (upd_p, upd_d)
    assert w_p > 3 * w_d, (w_p, w_d)


def test_learning_trend_thirds():
    """The stop-learning summary averages the first and the last third of the presentations."""
    from dendritic_snn.dendritic.experiment import learning_trend

    t = learning_trend([9, 7, 5, 5, 3, 1], [4.0, 2.0, 1.0, 1.0, 1.0, 0.0])
    assert t["weight_updates"] == 30
    assert t["weight_updates_per_presentation_first_third"] == 8.0
    assert t["weight_updates_per_presentation_last_third"] == 2.0
    assert (t["readout_error_first_third"], t["readout_error_last_third"]) == (3.0, 0.5)
    assert "readout_error_first_third" not in learning_trend([1, 2, 3])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 3, 5])
def test_pattern_discrimination_learns(tmp_path, seed):
    """End to end with the task defaults on the default engine: these seeds of the tuning
    block are "correct" (every class > 50 %, accuracy >= 75 %); with every learning rate at 0
    the same chip and patterns are not, so the accuracy is learned, not drawn.
    (bench/dendritic_generalisation.py reports the seed success rate on untuned seeds.)"""
    from dendritic_snn.runners.api import run_task

    res = run_task("pattern_discrimination", seed=seed, out=tmp_path / "on", progress=False)
    m = res["metrics"]
    assert m["accuracy"] >= 0.75 and min(m["per_class"]) > 0.5 and m["learned"], m
    # the readouts decide by their spikes (recalibrate_readout_spikes), not by the tie-break
    assert m["test_presentations_without_readout_spike"] <= 0.2, m
    for name in res["plots"]:
        assert (tmp_path / "on" / name).exists()
    off = {k: 0.0 for k in ("lr_in_p", "lr_p_r", "lr_p_i", "lr_i_p")}
    res0 = run_task("pattern_discrimination", seed=seed, out=tmp_path / "off", progress=False,
                    overrides=off)  # fmt: skip
    assert not res0["metrics"]["learned"], res0["metrics"]


@pytest.mark.slow
def test_pattern_recognition_learns(tmp_path):
    """End to end on the default engine (spike-timing hidden rule). Seed 2 is one of the
    seeds that learn (bench/dendritic_benchmark.py --only rec reports them): after learning
    the readout responds to the trained pattern (L) and more than to the deviant (D), and so
    do the pyramidal neurons. With the input -> P learning off (the benchmark's rec0
    ablation) the same chip responds more to the deviant, so the selectivity is learned, not
    drawn."""
    from dendritic_snn.runners.api import run_task

    res = run_task("pattern_recognition", seed=2, out=tmp_path / "on", progress=False)
    m = res["metrics"]
    assert m["L"] > 1.5 and m["D"] > 1.5, m
    assert m["pyramidal_rate_hz"]["after"] > 1.5 * m["pyramidal_rate_hz"]["deviant"], m
    # the trained readout fires 8 spikes or more without a raise of its bias: L is learned
    assert m["readout_recalibration_gain"] == 1.0 and "readout bias kept" in res["summary"]
    # the readout fires >= 5 spikes per presentation (no D from the half-spike
    # floor); the count is the after-phase rate times the presentation (pattern + tail)
    assert m["readout_spikes_after"] >= 5, m
    assert m["readout_spikes_after"] == pytest.approx(m["readout_rate_hz"]["after"] * 0.25)
    for name in res["plots"]:
        assert (tmp_path / "on" / name).exists()
    off = run_task("pattern_recognition", seed=2, out=tmp_path / "off", progress=False,
                   overrides={"lr_in_p": 0.0})["metrics"]  # fmt: skip
    assert off["D"] < 1.0, off


@pytest.mark.slow
def test_pattern_recognition_L_with_background_readout_calibration(tmp_path):
    """Without any learning, the readout recalibrated on the trained pattern after training
    gives L > 1.5 by itself (its bias raised to the set point against the untrained
    readout), while the bias tuned on background patterns before and after training leaves L
    near 1: only then is L a learned increase on every seed."""
    from dendritic_snn.runners.api import run_task

    off = {k: 0.0 for k in ("lr_in_p", "lr_p_r", "lr_p_i", "lr_i_p")}

    def metrics(name, **overrides):
        return run_task("pattern_recognition", seed=2, out=tmp_path / name, progress=False,
                        overrides={**off, **overrides})["metrics"]  # fmt: skip

    untrained = metrics("trained")
    assert untrained["L"] > 1.5 and untrained["readout_recalibration_gain"] > 1.0
    m = metrics("background", recalibrate_readout_on="background")
    assert len(m["readout_calibration_spikes"]) > 0 and len(m["readout_recalibration_spikes"]) > 0
    assert 0.5 < m["L"] < 1.5, m


def _rec_metrics(L, D, before, after, deviant):
    return {"L": L, "D": D, "readout_spikes_before": before, "readout_spikes_after": after,
            "readout_spikes_deviant": deviant}  # fmt: skip


def test_pattern_recognition_verdict_names_what_failed():
    """The summary says which part of the criterion failed, with the readout counts behind
    it (a readout already active before training fails L; a readout as active to the deviant
    fails D; a quiet readout fails the spike floor), and nothing failed when it passed."""
    from dendritic_snn.runners.pattern_recognition import verdict

    assert verdict(_rec_metrics(16.0, 16.0, 0.0, 8.0, 0.0)) == "recognises the trained pattern"
    hot = verdict(_rec_metrics(1.14, 160.0, 7.0, 8.0, 0.0))
    assert hot.startswith("not recognised: L <= 1.5") and "7.0 before training" in hot
    assert "D <=" not in hot and "target >=" not in hot
    follows = verdict(_rec_metrics(160.0, 0.73, 0.0, 8.0, 10.9))
    assert "L <=" not in follows
    assert "10.9 readout spikes per presentation to the deviant" in follows
    quiet = verdict(_rec_metrics(8.0, 8.0, 0.0, 4.0, 0.0))
    assert quiet == ("not recognised: the readout fires 4.0 spikes per presentation after "
                     "training (target >= 5)")  # fmt: skip


def test_topdown_signs_balanced():
    from dendritic_snn.dendritic.experiment import topdown_signs

    rng = np.random.default_rng(0)
    s = topdown_signs("balanced", 2, 8, rng)
    assert s.shape == (2, 8)
    assert np.all(s.sum(axis=0) == 0)  # every P: excited by one readout, inhibited by the other
    assert np.all(topdown_signs("positive", 3, 4, rng) == 1)
    assert set(topdown_signs("balanced", 1, 4, rng).ravel()) == {-1.0, 1.0}


#: Signed projections: (structure options, held source current, weight, target population,
#: its excitatory and inhibitory compartments, the signal that takes the weight's sign).
SIGNED_PROJECTIONS = {
    # top-down: the apical current I_A,exc - I_A,inh (the readout fires regularly)
    "topdown": ({}, ("R", "bas"), "r_p", "P", ("Isyn_ape", "Isyn_api"), "I_Ahat"),
    # signed readout: the readout's prediction c_B (I_bas - I_bai) (the P neuron fires)
    "readout": (
        {"signed_readout": True},
        ("P", "bas"),
        "p_r",
        "R",
        ("Isyn_bas", "Isyn_bai"),
        "I_pred",
    ),
}


@pytest.mark.parametrize("projection", SIGNED_PROJECTIONS)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_signed_weight_charges_the_compartment_of_its_sign(profile, sign, projection, engine):
    """A positive weight of a signed projection charges the target's excitatory DPI, a
    negative one its inhibitory DPI, so their difference takes the weight's sign (top-down:
    apical compartments; signed readout: the readout's two basal compartments)."""
    options, held, weight, pop, (exc, inh), signal = SIGNED_PROJECTIONS[projection]
    st = Structure(n_in=1, n_p=1, n_r=1, n_steps=300, dt=1e-4, noise=False, **options)
    sim = _make(st, profile, engine)
    vals = _values(st, profile, {held: 12e-9}, weights={weight: np.array([sign * 2.0])})
    res = sim.run(vals)
    assert len(res["spikes"][held[0]][0]) > 3
    e, i = (float(_state(sim, res, pop, v)[0]) for v in (exc, inh))
    io = profile.params["synapse"]["Io"]
    if sign > 0:
        assert e > 100 * io and i < 10 * io
    else:
        assert i > 100 * io and e < 10 * io
    assert np.sign(float(_state(sim, res, pop, signal)[0])) == sign


@pytest.mark.parametrize("signed", [False, True])
def test_readout_pulled_low_depresses_through_zero_only_if_signed(profile, signed, engine):
    """Eq. 3 at a readout pulled toward E_lo < 0 depresses the P -> R weight: to its floor
    0 on the chip's excitatory synapse, below 0 (down to -w_max) with a signed readout."""
    st = Structure(n_in=1, n_p=1, n_r=1, n_steps=600, dt=1e-4, noise=False,
                   signed_readout=signed)  # fmt: skip
    sim = _make(st, profile, engine)
    model = ModelParams(E_lo=-10e-9)
    plast = PlasticityParams(lr={"in_p": 0.0, "p_r": 0.5, "p_i": 0.0, "i_p": 0.0})
    lo = np.zeros((st.n_steps, 1))
    lo[::11] = 1.0  # ~900 Hz teacher toward E_lo
    vals = _values(st, profile, {("P", "bas"): 12e-9}, model=model, plast=plast, learn=True,
                   weights={"p_r": np.array([0.2])}, teach_lo=lo)  # fmt: skip
    w = float(sim.run(vals)["w"]["p_r"][0])
    if signed:
        assert -plast.w_max["p_r"] <= w < -0.1
    else:
        assert w == 0.0


@pytest.mark.parametrize("i_th, expect_updates", [(0.0, True), (50e-9, False)])
def test_phi_threshold_gates_hidden_error(profile, i_th, expect_updates, engine):
    """The input -> P rule uses phi(I_S) - phi(I_pred), phi(x) = [x - I_th]_+: a positive
    apical nudge potentiates the active inputs, unless the soma stays below I_th."""
    st, sim = _sim(profile, 300, engine)
    model = ModelParams()
    model.I_th = i_th
    plast = PlasticityParams()
    plast.lr["in_p"], plast.theta["in_p"] = 0.05, 0.1
    held = {("P", "ape"): 3e-9}  # the basal current comes from the input spikes
    vals = _values(st, profile, held, model=model, plast=plast, learn=True,
                   weights={"in_p": np.array([1.0])})  # fmt: skip
    vals["stim"][50::20, 0] = 1.0  # an input spike every 2 ms after the soma settled
    res = sim.run(vals)
    w, n = float(res["w"]["in_p"][0]), int(res["n_upd"]["in_p"][0])
    if expect_updates:
        assert w > 1.0 and n > 0
    else:
        assert (w, n) == (1.0, 0)


def _noise_run(profile, st, sim, seed, sigma=0.5):
    model = ModelParams()
    model.noise_sigma = sigma
    vals = _values(st, profile, {}, model=model)
    vals["noise"] = soma_noise(st, seed, 0)
    res = sim.run(vals)
    return np.asarray(res["I_S_R"], float)  # (n_r, samples every 1 ms)


def test_soma_noise_seeded_and_ou_variance(profile, engine):
    """The soma noise is NumPy run data (not Brian2's ``xi``, which ``cpp_standalone`` seeds
    from ``std::random_device``): the same seed gives identical I_S traces, another seed
    different ones, and it reproduces the OU soma of ``sigma I_ref sqrt(2/tau_S) xi``
    (stationary variance sigma^2 I_ref^2: the soma step is the exact OU discretisation)."""
    st = Structure(n_in=1, n_p=1, n_r=20, n_steps=4000, dt=1e-4, noise=True)
    sim = _make(st, profile, engine)
    a = _noise_run(profile, st, sim, seed=3)
    b = _noise_run(profile, st, sim, seed=3)
    c = _noise_run(profile, st, sim, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1 * ModelParams().I_ref  # a different noise
    assert not np.array_equal(soma_noise(st, 3, 0), soma_noise(st, 3, 1))  # per presentation
    m = ModelParams()
    sigma = 0.5
    steady = a[:, 20:]  # after 20 ms = 7 tau_S (starts at 0)
    expected = (sigma * m.I_ref) ** 2
    assert abs(steady.mean()) < 0.1 * sigma * m.I_ref
    assert steady.var() == pytest.approx(expected, rel=0.1)
    # the per-step increments of the noise: sigma I_ref sqrt(1 - exp(-2 dt/tau_S)) z, z ~ N(0, 1)
    z = soma_noise(st, 3, 0)
    assert z.shape == (st.n_steps, st.n_p + 2 * st.n_r)
    assert z.std() == pytest.approx(1.0, rel=0.02)


def test_noise_drawn_ahead_is_the_same_noise():
    """SomaNoiseAhead gives soma_noise's values in any order of requests (in sequence,
    skipping ahead, two seeds interleaved)."""
    from dendritic_snn.dendritic.network import SomaNoiseAhead

    st = Structure(n_in=1, n_p=3, n_r=2, n_steps=50, dt=1e-4, noise=True)
    ahead = SomaNoiseAhead()
    for seed, n in ((1, 0), (1, 1), (2, 0), (1, 2), (2, 1), (1, 7), (1, 8), (1, 8)):
        np.testing.assert_array_equal(ahead.get(st, seed, n), soma_noise(st, seed, n))


def _scaling_experiment(profile, w_pr_sum, seed=3):
    from dendritic_snn.dendritic.experiment import Experiment

    st = Structure(n_in=4, n_p=8, n_r=2, n_steps=10, dt=1e-4, noise=False)
    cfg = {"sparsity": 0.0, "w_in_init": 1.0, "w_pr_init": 1.0, "w_topdown": 1.0,
           "topdown_sign": "balanced", "teacher_rate": 900.0, "duration": 1e-3,
           "w_pr_sum": w_pr_sum}  # fmt: skip
    return Experiment(None, st, profile, seed, cfg, np.random.default_rng(0))


def test_readout_synaptic_scaling(profile):
    """w_pr_sum rescales each readout's P -> R weights so that the weight sum times the
    readout's mismatched synaptic gain equals w_pr_sum; the weight ratios are kept."""
    exp = _scaling_experiment(profile, 4.0)
    w0 = exp.weights["p_r"].reshape(8, 2).copy()
    gain = exp.readout_gain
    assert gain.shape == (2,) and not np.allclose(gain, 1.0)  # 20 % mismatch
    exp.scale_readout_weights()
    w = exp.weights["p_r"].reshape(8, 2)
    np.testing.assert_allclose(w.sum(axis=0) * gain, 4.0, rtol=1e-9)
    np.testing.assert_allclose(w / w.sum(axis=0), w0 / w0.sum(axis=0), rtol=1e-9)
    # after calibrate_readouts, the calibrated factor f_r replaces the analytic gain: the
    # less excitable readout (larger f_r) keeps the larger weight sum f_r w_pr_sum
    exp.readout_gain = 1 / np.array([0.5, 2.0])
    exp.scale_readout_weights()
    np.testing.assert_allclose(exp.weights["p_r"].reshape(8, 2).sum(axis=0), [2.0, 8.0])
    off = _scaling_experiment(profile, 0)
    before = off.weights["p_r"].copy()
    off.scale_readout_weights()
    np.testing.assert_array_equal(off.weights["p_r"], before)


def test_topdown_calibration_sets_each_hidden_neurons_teacher_ratio(profile):
    """calibrate_topdown scales only the fixed R -> P weights, one factor per pyramidal
    neuron, until the teacher raises each neuron's spike count on the pattern to ``ratio``
    times the layer's mean count without the teacher."""
    from dendritic_snn.data.patterns import make_patterns
    from dendritic_snn.dendritic.experiment import Experiment
    from dendritic_snn.runners.spec import load_task_spec

    st = Structure(n_in=32, n_p=8, n_r=1, n_steps=2500, dt=1e-4, noise=True)
    cfg = load_task_spec("pattern_recognition").config
    exp = Experiment(NumbaSimulator(st), st, profile, 3, cfg, np.random.default_rng(0))
    pattern = make_patterns(1, seed=3)[0]
    exp.calibrate([pattern])
    exp.calibrate_teacher(pattern, 0, 100.0, 10)
    w_before = exp.weights["r_p"].reshape(1, 8).copy()
    others = {k: w.copy() for k, w in exp.weights.items() if k != "r_p"}
    base = exp._mean_counts([pattern], "P")
    untuned = exp._mean_counts([pattern], "P", 0)
    exp.calibrate_topdown(pattern, 0, 3.0, iters=12)
    goal = 3.0 * max(base.mean(), 1.0)
    taught = exp._mean_counts([pattern], "P", 0)
    assert np.abs(untuned - goal).mean() > 2 * np.abs(taught - goal).mean()
    np.testing.assert_allclose(taught, goal, atol=0.25 * goal)
    gain = exp.weights["r_p"].reshape(1, 8) / w_before
    assert len(np.unique(np.round(gain, 9))) > 1  # a factor per neuron
    for k, w in others.items():
        np.testing.assert_array_equal(exp.weights[k], w)


@pytest.mark.parametrize("signed", [False, True])
def test_readout_bias_recalibration_sets_each_readouts_rate(profile, signed):
    """calibrate_readout_bias tunes only each readout's basal weight bias Iw0 (never a
    weight), one factor per readout (on both basal units of a signed readout), until its mean
    spike count over the patterns is near the target: from silent readouts (P -> R weights
    too small to fire them) to about 4."""
    from dendritic_snn.data.patterns import make_patterns
    from dendritic_snn.dendritic.experiment import Experiment
    from dendritic_snn.runners.spec import load_task_spec

    st = Structure(n_in=32, n_p=16, n_r=2, n_steps=2500, dt=1e-4, noise=True,
                   signed_readout=signed)  # fmt: skip
    cfg = {**load_task_spec("pattern_discrimination").config, "w_pr_init": 0.05,
           "w_in_init": 4.0, "sparsity": 0.5}  # fmt: skip

    exp = Experiment(NumbaSimulator(st), st, profile, 3, cfg, np.random.default_rng(0))
    if signed:  # mixed signs, net excitatory: U(-0.01, 0.04)
        exp.weights["p_r"] = np.abs(exp.weights["p_r"]) - 0.01
        assert exp.weights["p_r"].min() < 0
    patterns = make_patterns(2, seed=3)
    assert exp._mean_counts(patterns, "R").max() < 1  # silent before
    weights = {k: w.copy() for k, w in exp.weights.items()}
    chip = {k: np.array(v, float) for k, v in exp.chip.items()}
    exp.calibrate_readout_bias(patterns, 4.0, iters=14)
    counts = exp._mean_counts(patterns, "R")
    np.testing.assert_allclose(counts, 4.0, atol=1.0)
    for k, w in weights.items():
        np.testing.assert_array_equal(exp.weights[k], w)
    changed = [k for k, v in chip.items() if not np.array_equal(exp.chip[k], v)]
    assert changed == [("R", "Iw0_bas")] + ([("R", "Iw0_bai")] if signed else [])
    gain = exp.chip[("R", "Iw0_bas")] / chip[("R", "Iw0_bas")]
    assert np.all(gain > 1) and gain[0] != gain[1]
    if signed:
        np.testing.assert_allclose(exp.chip[("R", "Iw0_bai")] / chip[("R", "Iw0_bai")], gain)


def test_readout_bias_raise_only_keeps_a_readout_above_target(profile):
    """With ``raise_only`` a readout that already fires more than the target keeps its bias
    (the two-sided calibration lowers it to the target), and a silent one is raised."""
    from dendritic_snn.data.patterns import make_patterns
    from dendritic_snn.dendritic.experiment import Experiment
    from dendritic_snn.runners.spec import load_task_spec

    st = Structure(n_in=32, n_p=16, n_r=2, n_steps=2500, dt=1e-4, noise=True)
    cfg = {**load_task_spec("pattern_discrimination").config, "w_in_init": 4.0,
           "sparsity": 0.5}  # fmt: skip
    patterns = make_patterns(2, seed=3)

    def calibrated(raise_only):
        exp = Experiment(NumbaSimulator(st), st, profile, 3, cfg, np.random.default_rng(0))
        w = exp.weights["p_r"].reshape(st.n_p, st.n_r)
        w[:, 0], w[:, 1] = 0.5, 0.02  # readout 0 fires often, readout 1 is silent
        iw0 = np.array(exp.chip[("R", "Iw0_bas")], float)
        before = exp._mean_counts(patterns, "R")
        exp.calibrate_readout_bias(patterns, 4.0, iters=14, raise_only=raise_only)
        return before, exp.chip[("R", "Iw0_bas")] / iw0, exp._mean_counts(patterns, "R")

    before, gain, after = calibrated(raise_only=True)
    assert before[0] > 8 and before[1] == 0, before
    assert gain[0] == 1.0 and after[0] == before[0]
    assert gain[1] > 1 and after[1] > 0
    _, gain_both, after_both = calibrated(raise_only=False)
    assert gain_both[0] < 1 and abs(after_both[0] - 4.0) <= 1.0, after_both
    assert gain_both[1] == gain[1]


def test_signed_readout_refuses_weight_sum_scaling(profile):
    from dendritic_snn.dendritic.experiment import Experiment
    from dendritic_snn.errors import DsnnError
    from dendritic_snn.runners.spec import load_task_spec

    st = Structure(n_in=4, n_p=2, n_r=2, n_steps=10, dt=1e-4, signed_readout=True)
    cfg = {**load_task_spec("pattern_discrimination").config, "w_pr_sum": 4.0}
    with pytest.raises(DsnnError, match="w_pr_sum"):
        Experiment(None, st, profile, 0, cfg, np.random.default_rng(0))


def test_diverged_simulation_stops_with_one_line():
    """A NaN from an unstable Euler step is reported, not passed on as chance accuracy."""
    from dendritic_snn.dendritic.experiment import Experiment
    from dendritic_snn.dendritic.network import PLASTIC, Structure
    from dendritic_snn.errors import DsnnError
    from dendritic_snn.hardware.profiles import load_profile
    from dendritic_snn.runners.spec import load_task_spec

    st = Structure(n_in=4, n_p=2, n_r=2, n_steps=20)
    cfg = load_task_spec("pattern_discrimination").config

    class DivergingSim:
        def run(self, vals):
            w = {p: np.zeros(4) for p in PLASTIC}
            w["p_r"][1] = np.nan
            return {"I_S_R": np.zeros((2, 20)), "w": w}

    exp = Experiment(DivergingSim(), st, load_profile("dynapse_se"), 3, cfg,
                     np.random.default_rng(0))  # fmt: skip
    with pytest.raises(DsnnError, match=r"diverged \(NaN/inf in weights p_r\).*seed 3"):
        exp.present(None, 0, learn=True)


def test_bracket_gains_finds_each_neurons_target_gain():
    """The per-neuron gain search of the calibrations: for a steep monotone count
    ``c_j(g) = a_j g^3`` it brackets and bisects to ``g_j = (target/a_j)^(1/3)``, for neurons
    that start far below and far above the target."""
    from dendritic_snn.dendritic.experiment import bracket_gains

    a = np.array([0.01, 0.3, 3.0, 500.0])
    best, history = bracket_gains(lambda g: a * g**3, 4, 3.0, iters=14)
    np.testing.assert_allclose(best, (3.0 / a) ** (1 / 3), rtol=0.05)
    assert len(history) == 14
    assert history[0] == pytest.approx(a.mean())


def _post_rule_run(profile, apical, lr=1e-3, theta=0.1, n_steps=600, engine="brian2"):
    """One P neuron driven by a held apical current; inputs 0 and 1 spike at 10 and 30 ms."""
    st = Structure(n_in=2, n_p=1, n_r=1, n_steps=n_steps, dt=1e-4, noise=False,
                   in_p_rule="post")  # fmt: skip
    sim = _make(st, profile, engine)
    plast = PlasticityParams()
    plast.lr["in_p"], plast.theta["in_p"] = lr, theta
    w0 = np.array([0.01, 0.01])  # too small to move the soma
    held = {("P", "ape"): apical} if apical else {("P", "bas"): 20e-9}
    vals = _values(st, profile, held, plast=plast, learn=True, weights={"in_p": w0.copy()})
    vals["vars"][("in_p", "tau_trace")] = 5e-3
    vals["stim"][[100, 300], [0, 1]] = 1.0
    res = sim.run(vals)
    return st, sim, res, w0


def test_post_rule_potentiates_inputs_by_their_trace_at_p_spikes(profile, engine):
    """in_p_rule = "post": at each P spike, dw_i = lr w_i x_i (e - Theta) with the input's
    trace x_i = exp(-(t - t_i)/5 ms) and the apical error e = c_A I_A / I_ref."""
    m, lr, theta = ModelParams(), 1e-3, 0.1
    st, sim, res, w0 = _post_rule_run(profile, apical=20e-9, lr=lr, theta=theta, engine=engine)
    t_post = np.asarray(res["spikes"]["P"][1], float)
    assert len(t_post) > 5
    i_a = float(_state(sim, res, "P", "Isyn_ape")[0])  # held (decays by < 0.1 %)
    e = m.coupling(m.alpha_A) * i_a / m.I_ref
    expected = []
    for t_in in (10e-3, 30e-3):
        after = t_post[t_post >= t_in + 1e-4]
        expected.append(lr * (e - theta) * np.exp(-(after - t_in) / 5e-3).sum())
    dw = res["w"]["in_p"] / w0 - 1
    np.testing.assert_allclose(dw, expected, rtol=0.05)
    assert np.all(res["n_upd"]["in_p"] == len(t_post))


def test_post_rule_no_update_without_apical_error(profile, engine):
    """Basal drive alone makes P fire, but I_S = I_pred (no top-down): no update."""
    _, _, res, w0 = _post_rule_run(profile, apical=0.0, engine=engine)
    assert len(res["spikes"]["P"][0]) > 5
    np.testing.assert_array_equal(res["w"]["in_p"], w0)
    assert res["n_upd"]["in_p"].sum() == 0


def test_input_weight_scaling_holds_sum_and_follows_rate(profile):
    """in_p_scaling holds each P neuron's input-weight sum; with in_p_rate_target the held
    sum follows sqrt((n* + 1/2)/(n + 1/2)) of the neuron's spike count n, by at most 10 %."""
    exp = _scaling_experiment(profile, 0)
    exp.cfg["in_p_scaling"] = True
    sums = exp.input_weight_sums.copy()
    w = exp.weights["in_p"].reshape(4, 8)
    exp.weights["in_p"] = (w * np.linspace(0.5, 2.0, 8)[None, :]).ravel()
    exp.scale_input_weights(np.zeros(8))
    np.testing.assert_allclose(exp.weights["in_p"].reshape(4, 8).sum(axis=0), sums)
    exp.cfg["in_p_rate_target"] = 4
    counts = np.array([0, 4, 5, 16, 4.2, 4, 4, 4])
    exp.scale_input_weights(counts)
    factor = np.clip(np.sqrt(4.5 / (counts + 0.5)), 1 / 1.1, 1.1)
    assert factor[0] == 1.1 and factor[3] == pytest.approx(1 / 1.1) and 1 / 1.1 < factor[4] < 1
    np.testing.assert_allclose(exp.weights["in_p"].reshape(4, 8).sum(axis=0), sums * factor)


def _assert_capped_simplex_projection(w0, w, sums, w_max, mask):
    """The optimality (KKT) conditions of ``w = argmin |w - w0|`` with column sums ``sums``
    and ``0 <= w <= w_max`` on the mask: one shift ``c`` per column, ``w = w0 - c`` strictly
    inside the box, ``w0 <= c`` where ``w = 0``, ``w0 - c >= w_max`` where ``w = w_max``."""
    assert np.all(w[mask == 0] == 0) and np.all((w >= 0) & (w <= w_max))
    np.testing.assert_allclose(w.sum(axis=0), sums, rtol=1e-9)
    for j in range(w.shape[1]):
        on = mask[:, j] > 0
        inside = on & (w[:, j] > 0) & (w[:, j] < w_max)
        c = (w0[inside, j] - w[inside, j]).mean()
        np.testing.assert_allclose(w0[inside, j] - w[inside, j], c, atol=1e-9)
        assert np.all(w0[on & (w[:, j] == 0), j] <= c + 1e-9)
        assert np.all(w0[on & (w[:, j] == w_max), j] - c >= w_max - 1e-9)


def test_subtractive_normalisation_projects_onto_the_capped_sum():
    """subtract_to_sums is the Euclidean projection onto {sum = S, 0 <= w <= w_max} (every
    weight shifted by the same amount, then clipped): the small weights are pruned, unlike
    the multiplicative scaling, which keeps every ratio; an unreachable sum gives w_max."""
    from dendritic_snn.dendritic.scaling import scale_to_sums, subtract_to_sums

    rng = np.random.default_rng(4)
    w0 = rng.exponential(1.0, (32, 6))
    mask = (rng.random((32, 6)) > 0.2).astype(float)
    w0 *= mask
    sums = np.array([2.0, 5.0, 9.0, 20.0, 40.0, 0.5])
    w = subtract_to_sums(w0, sums, 3.0, mask)
    _assert_capped_simplex_projection(w0, w, sums, 3.0, mask)
    assert np.sum(w == 0) > np.sum(w0 == 0)  # pruned
    wm = scale_to_sums(w0, sums, 100.0)
    np.testing.assert_allclose(wm / wm.sum(axis=0), w0 / w0.sum(axis=0))
    full = subtract_to_sums(w0, np.full(6, 1e3), 3.0, mask)
    np.testing.assert_array_equal(full, 3.0 * mask)


def test_input_weight_scaling_subtractive(profile):
    """in_p_norm: subtractive holds each P neuron's input-weight sum by the projection."""
    exp = _scaling_experiment(profile, 0)
    exp.cfg.update(in_p_scaling=True, in_p_norm="subtractive")
    sums = exp.input_weight_sums.copy()
    w0 = (exp.weights["in_p"].reshape(4, 8) * np.linspace(0.5, 2.0, 8)[None, :]).copy()
    exp.weights["in_p"] = w0.ravel()
    exp.scale_input_weights(np.zeros(8))
    w = exp.weights["in_p"].reshape(4, 8)
    _assert_capped_simplex_projection(w0, w, sums, exp.plast.w_max["in_p"],
                                      exp.masks["in_p"].reshape(4, 8))  # fmt: skip


def test_topdown_only_with_teacher(profile):
    """topdown_only_with_teacher: the top-down R -> P weights are 0 without a teacher and
    the learned values with one."""
    exp = _scaling_experiment(profile, 0)
    w_rp = exp.weights["r_p"].copy()
    assert np.any(w_rp != 0)
    for gate in (False, True):
        exp.cfg["topdown_only_with_teacher"] = gate
        untaught = exp.prepare(None, None, learn=False)[0]["vars"][("r_p", "w")]
        taught = exp.prepare(None, 0, learn=True)[0]["vars"][("r_p", "w")]
        np.testing.assert_array_equal(taught, w_rp)
        np.testing.assert_array_equal(untaught, 0 * w_rp if gate else w_rp)
    np.testing.assert_array_equal(exp.weights["r_p"], w_rp)


def test_learning_rate_schedule_falls_geometrically(profile, monkeypatch):
    """lr_final: every Eq. 3 learning rate is lr0 lr_final**(n/(N - 1)) at training
    presentation n of N, and lr0 again after training."""
    from dendritic_snn.data.patterns import make_patterns
    from dendritic_snn.dendritic.experiment import Experiment, Presentation
    from dendritic_snn.hardware.energy import EventCounts
    from dendritic_snn.learners.base import LearnerSetup, TrainingData
    from dendritic_snn.learners.dendritic import DendriticLearner
    from dendritic_snn.runners.spec import load_task_spec

    cfg = {**load_task_spec("pattern_discrimination").config, "lr_final": 0.25}
    setup = LearnerSetup(profile=profile, seed=0, config=cfg, n_inputs=32, n_classes=2)
    learner = DendriticLearner(setup, simulate=False)
    seen = []
    # no simulation: record the learning rates of each presentation, return a fixed outcome
    fixed = Presentation(np.zeros(2), np.zeros(2), dict.fromkeys(("in_p", "p_r"), 0), 0.0,
                         EventCounts())  # fmt: skip

    def present(self, pattern, target, learn, **kw):
        seen.append(dict(self.plast.lr))
        return fixed

    monkeypatch.setattr(Experiment, "present", present)
    monkeypatch.setattr(DendriticLearner, "_simulator", lambda self: None)
    lr0 = dict(learner.exp.plast.lr)
    pats = make_patterns(2, seed=1)
    learner.fit(TrainingData(pats * 3, np.array([0, 1] * 3), ["a", "b"], calibration=None))
    factors = [s["p_r"] / lr0["p_r"] for s in seen]
    np.testing.assert_allclose(factors, 0.25 ** (np.arange(6) / 5))
    np.testing.assert_allclose([s["in_p"] / lr0["in_p"] for s in seen], factors)
    assert learner.exp.plast.lr == lr0
