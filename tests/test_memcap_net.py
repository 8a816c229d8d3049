"""Memcapacitive SNN: circuit model, weight programming, training (aware vs naive), energy."""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.hardware import memcap
from dendritic_snn.hardware.energy import energy_report
from dendritic_snn.hardware.profiles import load_profile
from dendritic_snn.memcap.network import build_circuit, cumulative_pulses, kappa
from dendritic_snn.memcap.train import (
    MemcapConfig,
    backward,
    forward,
    init_weights,
    loss,
    map_naive,
    quantise,
    train,
)
from dendritic_snn.seeding import seeded_rng

PROFILE = load_profile("memcap_180nm")
SYN, NEURON = PROFILE.params["synapse"], PROFILE.params["neuron"]


def test_weights_programmed_within_range_and_resolution() -> None:
    rng = np.random.default_rng(0)
    w = [rng.uniform(-1.5, 1.5, (9, 5)), rng.uniform(-1.5, 1.5, (6, 3))]
    circuit = build_circuit(w, PROFILE, window=8)
    states = memcap.capacitance_levels(SYN)
    for layer, wl in zip(circuit.layers, w, strict=True):
        for c in (layer.c_pos, layer.c_neg):
            assert c.min() >= SYN["C_min"] * (1 - 1e-12) and c.max() <= SYN["C_max"] * (1 + 1e-12)
            assert np.min(np.abs(c[..., None] - states), axis=-1).max() < 1e-27  # on the grid
        assert np.all((layer.c_pos == SYN["C_min"]) | (layer.c_neg == SYN["C_min"]))
        w_eff = (layer.c_pos - layer.c_neg) / (SYN["C_max"] - SYN["C_min"])
        np.testing.assert_allclose(w_eff, quantise(wl, 16), atol=1e-12)  # training == chip
        inside = np.abs(wl) <= 1.0
        assert np.max(np.abs(w_eff - wl)[inside]) <= 1 / 30 + 1e-12  # half a state
        np.testing.assert_allclose(np.abs(w_eff[~inside]), 1.0)  # clipped to full range
    assert circuit.n_devices == 2 * (9 * 5 + 6 * 3) and circuit.n_neurons == 8


def test_mismatched_chip_is_seeded_and_in_range() -> None:
    w = [np.full((4, 3), 0.5)]
    a, b = (build_circuit(w, PROFILE, mismatch_seed=3) for _ in range(2))
    np.testing.assert_array_equal(a.layers[0].c_pos, b.layers[0].c_pos)
    assert np.std(a.layers[0].c_pos) > 0 and np.std(a.layers[0].neuron["V_threshold"]) > 0
    c = build_circuit(w, PROFILE, mismatch_seed=4).layers[0].c_pos
    assert not np.array_equal(a.layers[0].c_pos, c)


def test_evenly_spaced_pulses() -> None:
    n = cumulative_pulses(np.array([[4, 2, 1, 0]]), 4)[0]
    np.testing.assert_array_equal(n.T, [[1, 2, 3, 4], [0, 1, 1, 2], [0, 0, 0, 1], [0, 0, 0, 0]])


def test_circuit_forward_hand_example() -> None:
    """3 inputs + bias, one neuron, T = 4 cycles, C_mem = 0.1 pF (kappa = 0.162 V/pulse).

    Pulses: x = (1, .25, .25) -> n = (4, 1, 1), evenly spaced: N1 = 1,2,3,4; N2 = N3 = 0,0,0,1.
    Weights (1, -1, -1), bias 0 -> u/kappa = 1, 2, 3, 2: u peaks at 0.486 V and falls to
    0.324 V. Play operator (h = 50 mV): p = 0.162, 0.324, 0.486, clip(0.486, 0.324, 0.374)
    = 0.374 -> y = 2 (0.374 - 0.3) = 0.148 V (without hysteresis it would be 0.048 V).
    Device reads: (4 + 1 + 1 + 4 bias) pulses x 2 devices x 1 neuron = 20.
    """
    circuit = build_circuit([np.array([[1.0], [-1.0], [-1.0], [0.0]])], PROFILE, window=4)
    circuit.layers[0].neuron["C_mem"] = np.array([0.1e-12])
    out = circuit.forward(np.array([[1.0, 0.25, 0.25]]))
    np.testing.assert_allclose(out.p, [[0.374]], rtol=1e-9)
    np.testing.assert_allclose(out.y, [[0.148]], rtol=1e-9)
    np.testing.assert_allclose(out.events, [20.0])


def test_aware_forward_is_the_nominal_circuit() -> None:
    rng = np.random.default_rng(1)
    cfg = MemcapConfig(hidden=7, window=32)
    w = init_weights((12, 7, 3), PROFILE, cfg.window, rng, scale=3.0)
    for layer in w:
        layer[-1] = 1.0  # biases lift the units over the threshold
    x = rng.uniform(0, 1, (20, 12))
    cache = forward(w, x, "aware", PROFILE, cfg)
    out = build_circuit(w, PROFILE, cfg.window).forward(x)
    np.testing.assert_allclose(cache.y[-1], out.y, atol=1e-12)
    assert np.ptp(out.y) > 0.1  # not a trivially silent network


@pytest.mark.parametrize("mode", ["surrogate", "ideal"])
def test_gradient_matches_finite_differences(mode: str) -> None:
    rng = np.random.default_rng(2)
    cfg = MemcapConfig(hidden=5, window=16, beta=5.0)
    w = init_weights((6, 5, 3), PROFILE, cfg.window, rng, scale=3.0)
    w[0][-1] = rng.normal(0, 1, 5)
    x, y = rng.uniform(0, 1, (8, 6)), rng.integers(0, 3, 8)
    grads = backward(forward(w, x, mode, PROFILE, cfg), y, mode, PROFILE, cfg)
    eps = 1e-6
    for layer in range(2):
        for idx in [(0, 0), (2, 1), (-1, 2)]:
            wp = [a.copy() for a in w]
            wm = [a.copy() for a in w]
            wp[layer][idx] += eps
            wm[layer][idx] -= eps
            fd = (
                loss(forward(wp, x, mode, PROFILE, cfg), y)
                - loss(forward(wm, x, mode, PROFILE, cfg), y)
            ) / (2 * eps)
            assert grads[layer][idx] == pytest.approx(fd, rel=1e-4, abs=1e-8)


def _synthetic(n: int, rng: np.random.Generator, d: int = 40, k: int = 4):
    prototypes = seeded_rng(0, "prototypes").uniform(0, 1, (k, d))
    labels = rng.integers(0, k, n)
    return np.clip(prototypes[labels] + rng.normal(0, 0.25, (n, d)), 0, 1), labels


def test_aware_beats_naive_on_the_circuit() -> None:
    """Dense inputs drive the ideal network's units far past the circuit's saturation: mapped
    naively its outputs saturate together; the aware network learns around it."""
    x, y = _synthetic(600, seeded_rng(0, "train"))
    xt, yt = _synthetic(400, seeded_rng(0, "test"))
    cfg = MemcapConfig(hidden=16, epochs=15, batch_size=16)
    w0 = init_weights((40, 16, 4), PROFILE, cfg.window, seeded_rng(0, "init"))
    acc = {}
    for mode in ("aware", "ideal"):
        w, hist = train(x, y, mode, PROFILE, cfg, seeded_rng(0, "sgd"), weights=w0)
        assert hist["train_accuracy"][-1] > 0.9  # both learn in their own model
        mapped = w if mode == "aware" else map_naive(w)
        assert max(np.abs(a).max() for a in mapped) <= 1.0 + 1e-12
        out = build_circuit(mapped, PROFILE, cfg.window).forward(xt)
        acc[mode] = np.mean(out.predicted == yt)
    assert acc["aware"] > 0.9
    assert acc["aware"] > acc["ideal"] + 0.3


def test_energy_is_device_reads_times_event_energy() -> None:
    rng = np.random.default_rng(3)
    w = [rng.normal(0, 0.5, (11, 4)), rng.normal(0, 0.5, (5, 2))]
    circuit = build_circuit(w, PROFILE, window=8)
    x = rng.uniform(0, 1, (6, 10))
    out = circuit.forward(x)
    n_in = np.rint(x * 8).sum(axis=1) + 8
    # hidden pulse counts, from the first layer alone
    first = build_circuit(w[:1], PROFILE, window=8).forward(x)
    n_hid = np.rint(first.y / NEURON["V_saturation"] * 8).sum(axis=1) + 8
    np.testing.assert_allclose(out.events, 2 * (n_in * 4 + n_hid * 2))
    counts = circuit.event_counts(out)
    report = energy_report(counts, None, PROFILE)
    assert report["per_inference_J"] == pytest.approx(np.mean(out.events) * 32e-15)
    assert report["reference_per_inference_J"] == pytest.approx(33.88e-9)
    assert counts.elapsed_s == pytest.approx(2 * 8 * 10e-9)


def test_kappa_nominal() -> None:
    assert kappa(SYN, NEURON) == pytest.approx(1.8 * 9e-15 / 1e-12)
