"""NIR export: round trip through ``nir.write``/``nir.read``, graph structure, and a tiny NumPy
interpreter of the exported rate-EP graph against the original weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from dendritic_snn.eqspike.rate_ep import RateEP, RateEPConfig, relax, rho  # noqa: E402
from dendritic_snn.export import export_run, load_nir, to_nir_graph  # noqa: E402


def _saved_run(tmp: Path, learner: str, profile, config: dict, state: dict, sizes) -> Path:
    """A run directory holding a saved model of ``learner`` with the given weights."""
    from dendritic_snn.learners import LearnerSetup, get_learner, learner_config, save_model

    run = tmp / learner
    run.mkdir(parents=True)
    cls = get_learner(learner)
    cfg = learner_config(cls, "other", {}, {"hidden": list(sizes[1:-1]), **config})
    built = cls(LearnerSetup(profile, 3, cfg, sizes[0], sizes[-1], out=None))
    built.load_state_dict({**built.state_dict(), **state})
    save_model(run, built, "mnist", [str(c) for c in range(sizes[-1])])
    return run


def _rate_run(tmp: Path, net: RateEP) -> Path:
    from dendritic_snn.hardware.profiles import load_profile

    state = {f"W{k}": w for k, w in enumerate(net.params.weights)}
    state.update({f"b{k}": b for k, b in enumerate(net.params.biases)})
    return _saved_run(tmp, "rate_ep", load_profile("ideal"), {"eps": 0.5, "n_eval": 30,
                      "lrs": [0.1, 0.1, 0.1]}, state, net.config.sizes)  # fmt: skip


@pytest.fixture
def rate_net() -> RateEP:
    cfg = RateEPConfig(sizes=(6, 5, 4, 3), lrs=(0.1, 0.1, 0.1), n_eval=30)
    net = RateEP(cfg, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    net.params.biases = [rng.normal(0, 0.1, b.shape) for b in net.params.biases]
    return net


def _interpret(graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate a feed-forward NIR graph at steady rate: Affine = W x + b, Linear = W x,
    IF with threshold 1 (rate-EP unit) = clip(input, 0, 1). Returns the input of every node."""
    incoming: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        incoming.setdefault(dst, []).append(src)
    values: dict[str, np.ndarray] = {"input": x}
    inputs: dict[str, np.ndarray] = {}
    pending = [n for n in graph.nodes if n != "input"]
    while pending:
        for name in list(pending):
            if not all(src in values for src in incoming.get(name, [])):
                continue
            u = sum(values[src] for src in incoming[name])
            node = graph.nodes[name]
            inputs[name] = u
            if isinstance(node, nir.Affine):
                values[name] = u @ node.weight.T + node.bias
            elif isinstance(node, nir.Linear):
                values[name] = u @ node.weight.T
            elif isinstance(node, nir.IF):
                values[name] = np.clip(u / node.v_threshold, 0.0, 1.0)
            else:
                values[name] = u
            pending.remove(name)
    return inputs


def test_rate_ep_round_trip_and_interpreter(tmp_path, rate_net):
    w, b = rate_net.params.weights, rate_net.params.biases
    run = _rate_run(tmp_path, rate_net)
    out = tmp_path / "net.nir"
    graph = export_run(run, out)
    back = load_nir(out)
    assert set(back.nodes) == set(graph.nodes)
    assert sorted(back.edges) == sorted(graph.edges)
    back.validate_structure()
    assert back.check_types()
    for k in range(3):
        aff = back.nodes[f"affine{k + 1}"]
        np.testing.assert_array_equal(aff.weight, w[k].T)
        np.testing.assert_array_equal(aff.bias, b[k])
        assert isinstance(back.nodes[f"if{k + 1}"], nir.IF)
    assert back.metadata["learner"] == "rate_ep"
    assert int(back.metadata["seed"]) == 3

    # same layer pre-activations as the original weights, on the feed-forward path
    x = np.random.default_rng(2).random((7, 6))
    pre = _interpret(back, x)
    h = x
    for k in range(3):
        expected = h @ w[k] + b[k]
        np.testing.assert_allclose(pre[f"if{k + 1}"], expected, rtol=1e-12, atol=1e-12)
        h = rho(expected)
    np.testing.assert_allclose(pre["output"], h)


def test_rate_ep_recurrent_fixed_point(tmp_path, rate_net):
    """With the feedback edges, the interpreter's relaxation matches RateEP's free phase."""
    run = _rate_run(tmp_path, rate_net)
    out = tmp_path / "rec.nir"
    export_run(run, out, recurrent=True)
    graph = load_nir(out)
    assert {"feedback_2_1", "feedback_3_2"} <= set(graph.nodes)
    x = np.random.default_rng(4).random((5, 6))
    states = [np.zeros((5, n)) for n in (5, 4, 3)]
    eps = 0.5
    for _ in range(30):  # s_k <- clip((1 - eps) s_k + eps net_k), net from the graph's edges
        nets = []
        for k in range(3):
            u = (x if k == 0 else states[k - 1]) @ graph.nodes[f"affine{k + 1}"].weight.T
            u = u + graph.nodes[f"affine{k + 1}"].bias
            if k < 2:
                u = u + states[k + 1] @ graph.nodes[f"feedback_{k + 2}_{k + 1}"].weight.T
            nets.append(u)
        states = [np.clip((1 - eps) * s + eps * n, 0, 1) for s, n in zip(states, nets, strict=True)]
    ref = relax(rate_net.params, x, [np.zeros((5, n)) for n in (5, 4, 3)], 30, eps)
    for s, r in zip(states, ref, strict=True):
        np.testing.assert_allclose(s, r, atol=1e-12)


def test_eqspike_lif_mapping(tmp_path):
    from dendritic_snn.eqspike.eqspike import map_profile
    from dendritic_snn.hardware.profiles import load_profile

    prof = load_profile("cmos45_spiking_ep").with_mismatch(0.1)
    rng = np.random.default_rng(0)
    w = [rng.uniform(-1, 1, (6, 4)).astype(np.float32), rng.uniform(-1, 1, (4, 3))]
    b = [rng.normal(0, 0.1, 4).astype(np.float32), np.zeros(3, np.float32)]
    state = {"W0": w[0], "W1": w[1], "b0": b[0], "b1": b[1]}
    opts = {"eqspike_w_max": 1.0, "eqspike_gain_trim_bits": 0}
    run = _saved_run(tmp_path, "eqspike", prof, opts, state, (6, 4, 3))
    graph = export_run(run, tmp_path / "eq.nir")
    back = load_nir(tmp_path / "eq.nir")
    chip = map_profile(prof, (6, 4, 3), 1.0, 3)
    dv = prof.params["neuron"]["V_rise"] - prof.params["neuron"]["V_fall"]
    for k in range(2):
        np.testing.assert_allclose(
            back.nodes[f"affine{k + 1}"].weight, (w[k] * chip.g_out[k]).T, rtol=1e-6
        )
        lif = back.nodes[f"lif{k + 1}"]
        np.testing.assert_allclose(lif.tau, chip.step_s / (chip.gain[k] * chip.leak[k]), rtol=1e-6)
        np.testing.assert_allclose(lif.r, dv / chip.leak[k], rtol=1e-6)
        np.testing.assert_allclose(lif.v_threshold, dv)
        np.testing.assert_array_equal(lif.tau, graph.nodes[f"lif{k + 1}"].tau)
    assert back.metadata["profile_sha256"] == prof.sha256
    assert int(back.metadata["mismatch_seed"]) == 3
    assert float(back.metadata["mismatch_sigma"]) == pytest.approx(0.1)
    assert float(back.metadata["profile_params"]["neuron"]["C_mem"]) == pytest.approx(2e-13)

    # a run with the per-neuron gain trim exports the trimmed gains the engine trained with
    from dendritic_snn.eqspike.eqspike import calibrate_gain

    opts["eqspike_gain_trim_bits"] = 5
    trimmed_run = _saved_run(tmp_path / "trim", "eqspike", prof, opts, state, (6, 4, 3))
    trimmed = export_run(trimmed_run, tmp_path / "trim.nir")
    gains, _ = calibrate_gain(chip, 5)
    for k in range(2):
        np.testing.assert_allclose(trimmed.nodes[f"lif{k + 1}"].tau,
                                   chip.step_s / (gains[k] * chip.leak[k]), rtol=1e-6)  # fmt: skip
        assert not np.allclose(gains[k], chip.gain[k])


def test_dendritic_graph_round_trip(tmp_path):
    from dendritic_snn.dendritic.network import ModelParams, Structure, chip_values
    from dendritic_snn.export.nir_export import dendritic_graph
    from dendritic_snn.hardware.dpi import membrane_tau
    from dendritic_snn.hardware.profiles import load_profile

    prof = load_profile("dynapse_se")
    model = ModelParams()
    chip = chip_values(Structure(n_in=5, n_p=3, n_r=2), prof, 7, model)
    rng = np.random.default_rng(0)
    weights = {"in_p": rng.uniform(0, 3, 15), "p_r": rng.uniform(0, 1, 6)}
    meta = {"mismatch_seed": 7, "profile_params": prof.params}
    graph = dendritic_graph(weights, chip, model, {"IN": 5, "P": 3, "R": 2}, metadata=meta)
    nir.write(tmp_path / "d.nir", graph)
    back = load_nir(tmp_path / "d.nir")
    assert back.edges == graph.edges
    assert isinstance(back.nodes["P"], nir.CubaLIF)
    np.testing.assert_allclose(
        back.nodes["P"].tau_mem,
        membrane_tau({p: chip[("P", p)] for p in ("C", "Ut", "kn", "kp", "Itau")}),
    )
    np.testing.assert_array_equal(back.nodes["P"].w_in, back.nodes["P"].tau_syn)
    jump = model.coupling(model.alpha_B) * weights["in_p"].reshape(5, 3) * 1e-9 / model.I_ref
    np.testing.assert_allclose(back.nodes["in_p"].weight, (
        jump * chip[("P", "Ith_syn_bas")] / chip[("P", "Itau_syn_bas")]
        * chip[("P", "Iw0_bas")] / 1e-9).T)  # fmt: skip
    assert int(back.metadata["mismatch_seed"]) == 7
    assert float(back.metadata["profile_params"]["synapse"]["Itau"]) == pytest.approx(1e-11)


def test_dendritic_graph_signed_readout_uses_the_inhibitory_synapse():
    """A signed readout's negative P -> R weight is the jump of its inhibitory basal DPI."""
    from dendritic_snn.dendritic.network import ModelParams, Structure, chip_values
    from dendritic_snn.export.nir_export import dendritic_graph
    from dendritic_snn.hardware.profiles import load_profile

    model = ModelParams()
    st = Structure(n_in=2, n_p=2, n_r=2, signed_readout=True)
    chip = chip_values(st, load_profile("dynapse_se"), 3, model)
    w_pr = np.array([0.5, -0.5, -1.0, 1.0])  # (P, R) presynaptic major
    graph = dendritic_graph({"in_p": np.ones(4), "p_r": w_pr}, chip, model,
                            {"IN": 2, "P": 2, "R": 2})  # fmt: skip
    c_b = model.coupling(model.alpha_B)

    def unit(comp):
        return chip[("R", f"Iw0_{comp}")] * chip[("R", f"Ith_syn_{comp}")] / chip[
            ("R", f"Itau_syn_{comp}")] / model.I_ref  # fmt: skip

    w = w_pr.reshape(2, 2)
    expected = c_b * w * np.where(w < 0, unit("bai")[None, :], unit("bas")[None, :])
    np.testing.assert_allclose(graph.nodes["p_r"].weight, expected.T)
    assert not np.allclose(unit("bai"), unit("bas"))  # mismatch: the synapses differ


def test_to_nir_graph_rejects_bad_feedback_and_missing_file(tmp_path):
    from dendritic_snn.errors import DsnnError

    lif = nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    with pytest.raises(ValueError):  # feedback of the wrong shape fails NIR's type check
        to_nir_graph([(np.ones((2, 3)), np.zeros(2))], [lif], feedback=[(1, 1, np.ones((3, 3)))])
    with pytest.raises(DsnnError, match="no such NIR file"):
        load_nir(tmp_path / "absent.nir")


def test_dendritic_export_reads_the_saved_chip_and_weights(tmp_path):
    """The exported graph holds the saved weights and the saved chip, not a rebuilt one."""
    from dendritic_snn.hardware.profiles import load_profile

    prof = load_profile("dynapse_se")
    rng = np.random.default_rng(5)
    state = {"w.in_p": rng.uniform(0, 3, 32 * 8), "w.p_r": rng.uniform(0, 1, 8 * 2),
             "chip.P.Itau_syn_bas": np.full(8, 7e-12)}  # fmt: skip
    run = _saved_run(tmp_path, "dendritic", prof, {"n_pyramidal": 8}, state, (32, 8, 2))
    graph = export_run(run, tmp_path / "d.nir")
    model = json.loads((run / "model.json").read_text())
    assert model["learner"] == "dendritic" and model["model"]["sizes"] == [32, 8, 2]
    # the saved (edited) Itau reaches the graph: per-spike jump ~ w Ith Iw0 / Itau
    saved = np.load(run / "model.npz")
    np.testing.assert_array_equal(saved["chip.P.Itau_syn_bas"], np.full(8, 7e-12))
    in_p = graph.nodes["in_p"].weight  # (P, IN): weight times the per-neuron DPI gain
    ratio = in_p / state["w.in_p"].reshape(32, 8).T
    gain = saved["chip.P.Ith_syn_bas"] * saved["chip.P.Iw0_bas"] / 7e-12
    np.testing.assert_allclose(ratio / ratio[:, :1], np.ones_like(ratio), rtol=1e-9)
    np.testing.assert_allclose(ratio[:, 0] / ratio[0, 0], gain / gain[0], rtol=1e-9)


def test_export_of_a_finished_run_matches_its_saved_model(tmp_path):
    """End to end: a pattern_discrimination run with rate_ep saves its model; the export
    reads it (any task, not only mnist)."""
    from dendritic_snn.errors import DsnnError
    from dendritic_snn.runners.api import run_task

    run_task("pattern_discrimination", learner="rate_ep", seed=0, out=tmp_path / "run",
             progress=False, overrides={"vector_epochs": 2})  # fmt: skip
    graph = export_run(tmp_path / "run", tmp_path / "r.nir")
    saved = np.load(tmp_path / "run" / "model.npz")
    np.testing.assert_array_equal(graph.nodes["affine1"].weight, saved["W0"].T)
    assert graph.metadata["task"] == "pattern_discrimination"
    (tmp_path / "run" / "model.json").unlink()
    with pytest.raises(DsnnError, match="no saved model"):
        export_run(tmp_path / "run", tmp_path / "r2.nir")
