"""The compiled in-process engine against the Brian2 reference model, and its own physics.

Agreement (``test_engines_agree``): the same :class:`Experiment` (same chip, masks, weights,
patterns, teachers and soma noise) runs learning and test presentations on the Brian2 model
(numpy target) and on :class:`NumbaSimulator`. Tolerance: the spike counts of every neuron
in every presentation are *identical*, the per-projection update counts are identical, and
every weight agrees to 1e-9 (weights are O(1) in units of ``Iw0``). Both evaluate the same
expressions in the same step order, so they differ only by floating-point round-off (the
order of operations after Brian2's sympy rewriting, ~1e-16 relative per step); a spike could
only move by a step if a threshold crossing fell within that round-off, which has
probability ~1e-13 per crossing. Any real difference in the equations (a missing term, an
off-by-one step, a wrong update order) changes spike counts or weights far beyond this, so
the test fails on it. Covered: 20 % mismatch (dynapse_se) on three seeds (0, 1; 3 with
the post rule; 0 with the signed readout), no mismatch
(ideal), the pre (discrimination) and post (recognition) input -> P rules, both readout
rules (the ``dendrite`` error reads the DPI currents after every jump of the time step, a
second Brian2 pathway), teachers on the
target and non-target readouts, signed top-down, I -> P plasticity, soma noise and the
signed readout (negative P -> R weights on the readout's inhibitory basal compartment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from dendritic_snn.data.patterns import make_patterns
from dendritic_snn.dendritic.batch import run_batched
from dendritic_snn.dendritic.engine import NumbaSimulator
from dendritic_snn.dendritic.experiment import Experiment, make_simulator
from dendritic_snn.dendritic.network import (
    PLASTIC,
    ModelParams,
    PlasticityParams,
    Structure,
    chip_values,
    model_values,
    run_values,
)
from dendritic_snn.dendritic.simulator import RuntimeSimulator, StandaloneSimulator
from dendritic_snn.errors import DsnnError
from dendritic_snn.hardware.dpi import imem_steady_state, synapse_tau
from dendritic_snn.hardware.profiles import load_profile
from dendritic_snn.runners.spec import load_task_spec
from dendritic_snn.seeding import seeded_rng

N_IN, N_STEPS, DURATION = 16, 600, 0.045  # 60 ms presentations: 45 ms pattern, 15 ms tail


def _config(task: str) -> dict:
    cfg = dict(load_task_spec(task).config)
    cfg.update(duration=DURATION, w_in_init=8.0, sparsity=0.25)
    if task == "pattern_discrimination":
        cfg.update(phi_th_nA=1.0, lr_in_p=0.05, theta_in_p=0.1)
    return cfg


_BRIAN2: dict = {}


def _brian2(st: Structure, profile):
    """One numpy-target Brian2 circuit per structure (its code generation is the slow part)."""
    if st.key() not in _BRIAN2:
        _BRIAN2[st.key()] = RuntimeSimulator(st, profile, target="numpy")
    return _BRIAN2[st.key()]


def _presentations(sim, st, profile, seed, cfg, n_r):
    pats = make_patterns(2, N_IN, 64, DURATION, seed=seed + 100)
    exp = Experiment(sim, st, profile, seed, cfg, seeded_rng(seed, "net"))
    plan = [(pats[0], 0, True), (pats[1], 1 % n_r, True), (pats[1], None, False)]
    out = []
    for pat, target, learn in plan:
        p = exp.present(pat, target, learn=learn, keep_spikes=True,
                        teach_nontarget=bool(cfg["teach_nontarget"]))  # fmt: skip
        counts = {pop: np.bincount(p.spikes[pop][0], minlength=n)
                  for pop, n in (("P", st.n_p), ("R", n_r), ("I", n_r))}  # fmt: skip
        out.append((counts, dict(p.updates), {k: w.copy() for k, w in exp.weights.items()}))
    return out


def _assert_same(ref, new):
    """Identical spike counts and update counts, weights within 1e-9, per presentation."""
    for (c_ref, u_ref, w_ref), (c_new, u_new, w_new) in zip(ref, new, strict=True):
        for pop in c_ref:
            np.testing.assert_array_equal(c_new[pop], c_ref[pop], err_msg=pop)
        assert u_new == u_ref
        for proj in w_ref:
            np.testing.assert_allclose(w_new[proj], w_ref[proj], rtol=0, atol=1e-9,
                                       err_msg=proj)  # fmt: skip


CASES = [
    ("pattern_discrimination", "dynapse_se", 0, "dendrite", False),
    ("pattern_discrimination", "dynapse_se", 1, "prediction", False),
    ("pattern_discrimination", "ideal", 0, "dendrite", False),
    ("pattern_recognition", "dynapse_se", 3, "prediction", False),
    ("pattern_discrimination", "dynapse_se", 0, "dendrite", True),
]


@pytest.mark.parametrize("task, profile_name, seed, readout_rule, signed", CASES)
def test_engines_agree(task, profile_name, seed, readout_rule, signed):
    profile = load_profile(profile_name)
    cfg = {**_config(task), "signed_readout": signed}
    n_r = 2 if task == "pattern_discrimination" else 1
    st = Structure(n_in=N_IN, n_p=4, n_r=n_r, n_steps=N_STEPS, dt=profile.dt, noise=True,
                   in_p_rule=str(cfg.get("in_p_rule", "pre")),
                   readout_rule=readout_rule, signed_readout=signed)  # fmt: skip
    ref = _presentations(_brian2(st, profile), st, profile, seed, cfg, n_r)
    new = _presentations(NumbaSimulator(st), st, profile, seed, cfg, n_r)
    _assert_same(ref, new)
    active = {proj: sum(u[proj] for _, u, _ in ref) for proj in PLASTIC}
    # the comparison is not vacuous: neurons fire and the plastic projections learn
    assert sum(c["P"].sum() for c, _, _ in ref) > 10
    assert active["p_r"] > 0 and active["p_i"] > 0 and active["in_p"] > 0
    if readout_rule == "prediction" and task == "pattern_discrimination":
        assert active["i_p"] > 0
    if signed:  # the inhibitory basal compartment is in use
        assert min(w["p_r"].min() for _, _, w in ref) < 0


@pytest.mark.slow
def test_engines_agree_on_the_main_job_network():
    """The main job's network and config as shipped (32 inputs, 8 P, 2 R, 250 ms
    presentations, 20 % mismatch): same spike counts, updates and weights (tolerance as
    above) over two learning presentations and one test presentation."""
    profile = load_profile("dynapse_se")
    cfg = dict(load_task_spec("pattern_discrimination").config)
    cfg["w_in_init"] = 6.0  # without the calibration, so that the P neurons fire
    st = Structure(n_in=32, n_p=8, n_r=2, n_steps=2500, dt=1e-4, noise=True,
                   readout_rule=cfg["readout_rule"])  # fmt: skip
    pats = make_patterns(2, 32, 128, 0.2, seed=11)
    runs = []
    for sim in (RuntimeSimulator(st, profile, target="numpy"), NumbaSimulator(st)):
        exp = Experiment(sim, st, profile, 5, cfg, seeded_rng(5, "net"))
        out = []
        for pat, target, learn in ((pats[0], 0, True), (pats[1], 1, True), (pats[0], None, False)):
            p = exp.present(pat, target, learn=learn, keep_spikes=True, teach_nontarget=True)
            counts = [np.bincount(p.spikes[pop][0], minlength=n)
                      for pop, n in (("P", 8), ("R", 2), ("I", 2))]  # fmt: skip
            out.append((counts, p.updates, dict(exp.weights)))
        runs.append(out)
    for (c1, u1, w1), (c2, u2, w2) in zip(*runs, strict=True):
        for a, b in zip(c1, c2, strict=True):
            np.testing.assert_array_equal(a, b)
        assert u1 == u2
        for proj in w1:
            np.testing.assert_allclose(w1[proj], w2[proj], rtol=0, atol=1e-9)
    assert sum(c[0].sum() for c, _, _ in runs[0]) > 10


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="cpp_standalone needs a C++ compiler")
def test_standalone_worker_agrees_and_leaves_no_lock_files(tmp_path):
    """The ``cpp_standalone`` worker (``--set engine=brian2``, the default Brian2 backend)
    gives the engine's spike counts, updates and weights (tolerance as above), and leaves
    no file lock of its per-run arrays behind (they pile up by thousands and slow every
    later run)."""
    profile = load_profile("dynapse_se")
    cfg = _config("pattern_recognition")
    st = Structure(n_in=N_IN, n_p=4, n_r=1, n_steps=N_STEPS, dt=profile.dt, noise=True,
                   in_p_rule="post", readout_rule="prediction")  # fmt: skip
    sim = StandaloneSimulator(st, profile, build_dir=tmp_path, progress=False)
    try:
        ref = _presentations(sim, st, profile, 3, cfg, 1)
    finally:
        sim.close()
    _assert_same(ref, _presentations(NumbaSimulator(st), st, profile, 3, cfg, 1))
    assert sum(c["P"].sum() for c, _, _ in ref) > 10
    assert not list((tmp_path / "static_arrays").glob("*.lock"))


def test_test_presentations_in_threads_equal_one_by_one():
    """Test presentations whose step loops run in threads give the presentations of the
    one-by-one loop, in order (spikes, readout currents, event counts)."""
    profile = load_profile("dynapse_se")
    cfg = _config("pattern_discrimination")
    st = Structure(n_in=N_IN, n_p=4, n_r=2, n_steps=N_STEPS, dt=profile.dt, noise=True)
    pats = make_patterns(5, N_IN, 64, DURATION, seed=7)
    runs = []
    for workers in (1, 3):
        exp = Experiment(NumbaSimulator(st), st, profile, 2, cfg, seeded_rng(2, "net"))
        exp.present(pats[0], 0, learn=True)
        runs.append(list(exp.present_without_learning(pats * 2, workers=workers)))
    assert len(runs[1]) == 10
    for one, threaded in zip(*runs, strict=True):
        for pop in ("P", "R", "I"):
            for a, b in zip(one.spikes[pop], threaded.spikes[pop], strict=True):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(one.mean_IS_R, threaded.mean_IS_R)
        assert one.events == threaded.events
    assert sum(len(p.spikes["P"][0]) for p in runs[0]) > 10


def _one_synapse_values(st, profile, weight: float, spike_step: int):
    """A single input spike of weight ``weight`` onto one P neuron's basal DPI synapse."""
    model = ModelParams()
    chip = chip_values(st, profile, None, model)
    w = {"in_p": np.full(st.n_in * st.n_p, weight), "p_r": np.zeros(st.n_p * st.n_r),
         "p_i": np.zeros(st.n_p * st.n_r), "i_p": np.zeros(st.n_p * st.n_r),
         "r_p": np.zeros(st.n_p * st.n_r)}  # fmt: skip
    stim = np.zeros((st.n_steps, st.n_in))
    stim[spike_step, 0] = 1.0
    z = np.zeros((st.n_steps, st.n_r))
    consts = model_values(model, PlasticityParams(), False)
    return run_values(st, chip, consts, w, {}, stim, z, z)


def _isyn_after(profile, n_steps: int, weight: float = 10.0) -> float:
    """Basal DPI current of a P neuron ``n_steps`` steps after one input spike (at step 0)."""
    st = Structure(n_in=1, n_p=1, n_r=1, n_steps=n_steps, dt=1e-4, noise=False)
    res = NumbaSimulator(st).run(_one_synapse_values(st, profile, weight, 0))
    return float(res["state"][("P", "Isyn_bas")][0])


def test_dpi_synapse_jump_and_decay_time_constant():
    """One input spike onto the basal DPI synapse at its floor (``Isyn = Io``, where the gain
    and leak currents are ``Io`` too) adds ``Iw Io/(Io (Io/Io + 1)) = Iw/2``; above the floor
    ``tau (1 + Ig/I) dI/dt = -I - Ig`` is exactly ``dI/dt = -I/tau`` with
    ``tau = C Ut/(kappa Itau)`` = 5.32 ms, so the current decays exponentially (forward
    Euler: by ``(1 - dt/tau)`` per step)."""
    profile = load_profile("dynapse_se")
    syn = profile.params["synapse"]
    iw = 10.0 * ModelParams().Iw0["bas_P"]
    assert _isyn_after(profile, 1) - syn["Io"] == pytest.approx(iw / 2, rel=1e-9)
    tau = float(synapse_tau(syn))
    assert tau == pytest.approx(5.32e-3, rel=1e-2)
    a, b = _isyn_after(profile, 21), _isyn_after(profile, 121)  # 2 ms and 12 ms
    assert b / a == pytest.approx((1 - 1e-4 / tau) ** 100, rel=1e-9)  # Euler, exactly
    assert np.log(a / b) / 10e-3 == pytest.approx(1 / tau, rel=0.01)  # the continuous decay


def test_neuron_fi_points_match_brian2_and_the_fixed_point():
    """A constant somatic drive (a held basal current) gives the DPI neuron's firing rate.
    Both engines give the same spike counts. Analytic check: below rheobase the sub-threshold
    fixed point ``Imem_inf`` (:func:`imem_steady_state`, ~ Iin Ith/Itau / 1.125) sits far
    below the positive-feedback threshold ``Iath`` and the neuron is silent; where
    ``Imem_inf`` exceeds the spike threshold it fires, faster for a larger drive, with an
    interspike interval longer than the refractory period."""
    profile = load_profile("dynapse_se")
    neuron = profile.params["neuron"]
    st = Structure(n_in=1, n_p=3, n_r=1, n_steps=1500, dt=1e-4, noise=False)
    model = ModelParams()
    chip = chip_values(st, profile, None, model)
    chip[("P", "Itau_syn_bas")] = np.full(3, 1e-15)  # held current (tau ~ 50 s)
    drive = np.array([2e-9, 15e-9, 40e-9])
    chip[("P", "Isyn_bas")] = drive / model.coupling(model.alpha_B)
    fixed = imem_steady_state(neuron, drive)
    assert fixed[0] < neuron["Iath"] / 2 and fixed[1] > neuron["Ispkthr"]
    w = {p: np.zeros(n) for p, n in (("in_p", 3), ("p_r", 3), ("p_i", 3), ("i_p", 3),
                                     ("r_p", 3))}  # fmt: skip
    z = np.zeros((st.n_steps, 1))
    vals = run_values(st, chip, model_values(model, PlasticityParams(), False), w, {},
                      np.zeros((st.n_steps, 1)), z, z)  # fmt: skip
    new = NumbaSimulator(st).run(vals)
    ref = RuntimeSimulator(st, profile, target="numpy").run(vals)
    c_new = np.bincount(new["spikes"]["P"][0], minlength=3)
    c_ref = np.bincount(ref["spikes"]["P"][0], minlength=3)
    np.testing.assert_array_equal(c_new, c_ref)
    assert c_new[0] == 0 and 0 < c_new[1] < c_new[2]
    assert c_new[2] / 0.15 < 1 / neuron["t_ref"]


def _present_many(sims, st, profile, seeds, cfg):
    """Two learning presentations per chip; returns the readout counts and final weights."""
    pats = make_patterns(2, N_IN, 64, DURATION, seed=7)
    out = []
    for sim, seed in zip(sims, seeds, strict=True):
        exp = Experiment(sim, st, profile, seed, cfg, seeded_rng(seed, "net"))
        counts = [exp.present(pats[c], c, learn=True).counts_R for c in (0, 1)]
        out.append((np.array(counts), exp.weights["p_r"].copy()))
    return out


def test_batch_equals_single_runs():
    """run_batched runs the chips of concurrent runs in one step-loop call per presentation;
    every chip's result is bit-identical to its single run (same seed, same result)."""
    from dendritic_snn.dendritic import batch

    profile = load_profile("dynapse_se")
    cfg = _config("pattern_discrimination")
    st = Structure(n_in=N_IN, n_p=4, n_r=2, n_steps=N_STEPS, dt=1e-4, noise=True)
    seeds = [0, 1, 2, 3]
    single = _present_many([NumbaSimulator(st)] * 4, st, profile, seeds, cfg)

    def one(seed):
        sim, _ = make_simulator(st, profile, cfg)
        return _present_many([sim], st, profile, [seed], cfg)[0]

    batched = run_batched(one, seeds, processes=1)
    assert batch.LAST_STATS == {"calls": 2, "presentations": 8}
    split = run_batched(one, seeds, processes=2)  # two forked workers, 2 chips per call
    assert batch.LAST_STATS == {"calls": 4, "presentations": 8}
    for (c1, w1), (c2, w2), (c3, w3) in zip(single, batched, split, strict=True):
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(c1, c3)
        np.testing.assert_array_equal(w1, w3)
    assert not np.array_equal(single[0][1], single[1][1])  # different chips


def test_batch_reraises_a_runs_error():
    """An exception in one item (here in a forked worker) reaches the caller."""

    def one(seed):
        if seed == 3:
            raise DsnnError("bad seed 3")
        return seed

    with pytest.raises(DsnnError, match="bad seed 3"):
        run_batched(one, [0, 1, 2, 3], processes=2)
    assert run_batched(lambda s: s * s, [1, 2, 3], processes=2) == [1, 4, 9]


def test_batch_inside_a_daemonic_process_runs_in_threads(monkeypatch):
    """A daemonic process (a Dask worker) may not start children: the items run in threads."""
    import multiprocessing

    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    pids = run_batched(lambda s: os.getpid(), [0, 1, 2], processes=2)
    assert pids == [os.getpid()] * 3


def test_unknown_engine_is_one_line_error():
    st = Structure(n_in=2, n_p=1, n_r=1, n_steps=10)
    with pytest.raises(DsnnError, match="engine must be one of numba, brian2, got 'jax'"):
        make_simulator(st, load_profile("dynapse_se"), {"engine": "jax"})


def test_soma_noise_is_numpys_standard_normal():
    """soma_noise is the seeded stream's standard normals, which both back ends read."""
    from dendritic_snn.dendritic.network import soma_noise

    st = Structure(n_in=2, n_p=3, n_r=2, n_steps=50)
    expected = seeded_rng(5, "soma_noise", "7").standard_normal((50, 7))
    np.testing.assert_array_equal(soma_noise(st, 5, 7), expected)


_BACKGROUND_SCRIPT = """
import sys
from dendritic_snn.dendritic import engine
from dendritic_snn.dendritic.engine_numba import _kernel
from dendritic_snn.dendritic.network import Structure

st = Structure(readout_rule="dendrite")
started = engine.compile_in_background(st)
engine.compile_engine(st)
stats = _kernel(*engine._flags(st)).stats
print(started, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2,
                    reason="background compilation needs fork and two cores")  # fmt: skip
def test_background_compilation_is_loaded_not_repeated(tmp_path):
    """The forked child compiles the variant into Numba's cache; the parent, after waiting,
    loads exactly that machine code (a cache hit, no compilation of its own)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", _BACKGROUND_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "1", "0"]


@pytest.mark.skipif(sys.platform != "linux", reason="needs fork")
def test_background_compilation_that_hangs_is_stopped(monkeypatch):
    """A background compilation past the timeout is killed, and the caller goes on."""
    from dendritic_snn.dendritic import engine

    pid = os.fork()
    if pid == 0:  # a stand-in child that never finishes
        time.sleep(60)
        os._exit(0)
    key = (True, True, True)
    monkeypatch.setitem(engine._background, key, pid)
    monkeypatch.setattr(engine, "BACKGROUND_TIMEOUT_S", 0.3)
    start = time.monotonic()
    engine._wait_for_background(key)
    assert time.monotonic() - start < 5
    assert key not in engine._background
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
