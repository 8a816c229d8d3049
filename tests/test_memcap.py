"""Memcapacitor synapse mapping and the hysteretic analog-neuron transfer (Oshio et al.)."""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.hardware import memcap
from dendritic_snn.hardware.profiles import load_profile

PROFILE = load_profile("memcap_180nm")
SYN = PROFILE.params["synapse"]
NEURON = PROFILE.params["neuron"]


# ------------------------------------------------------------------------------- synapse
@pytest.mark.parametrize("w_range", [(0.0, 1.0), (-1.0, 1.0), (0.0, 3.5)])
def test_weight_capacitance_round_trip(w_range: tuple[float, float]) -> None:
    lo, hi = w_range
    w = np.linspace(lo, hi, 2001)
    c = memcap.weight_to_capacitance(w, SYN, w_range)
    assert c.min() == pytest.approx(SYN["C_min"]) and c.max() == pytest.approx(SYN["C_max"])
    levels = memcap.capacitance_levels(SYN)
    assert levels.shape == (16,)
    # every programmed value is one of the 16 states, and all states are reachable
    idx = np.argmin(np.abs(c[:, None] - levels[None, :]), axis=1)
    np.testing.assert_allclose(c, levels[idx], rtol=1e-12)
    assert len(np.unique(idx)) == int(SYN["levels"])
    back = memcap.capacitance_to_weight(c, SYN, w_range)
    half = memcap.weight_step(SYN, w_range) / 2
    assert half == pytest.approx((hi - lo) / 30)
    assert np.max(np.abs(back - w)) <= half * (1 + 1e-9)
    # the states themselves round-trip exactly
    np.testing.assert_allclose(
        memcap.weight_to_capacitance(
            memcap.capacitance_to_weight(levels, SYN, w_range), SYN, w_range
        ),
        levels,
    )


def test_weights_outside_range_are_clipped() -> None:
    c = memcap.weight_to_capacitance([-0.5, 2.0], SYN)
    np.testing.assert_allclose(c, [SYN["C_min"], SYN["C_max"]])


def test_signed_weights_as_differential_pair() -> None:
    w = np.linspace(-1, 1, 401)
    c_pos, c_neg = memcap.signed_weight_to_pair(w, SYN)
    assert np.all((c_pos >= SYN["C_min"]) & (c_pos <= SYN["C_max"] * (1 + 1e-12)))
    assert np.all((c_pos == SYN["C_min"]) | (c_neg == SYN["C_min"]))
    w_eff = (c_pos - c_neg) / (SYN["C_max"] - SYN["C_min"])
    assert np.max(np.abs(w_eff - w)) <= memcap.weight_step(SYN) / 2 * (1 + 1e-9)


def test_read_charge_and_layer_sum() -> None:
    c = memcap.weight_to_capacitance(np.array([[0.0, 1.0], [0.5, 0.2], [1.0, 1.0]]), SYN)
    np.testing.assert_allclose(memcap.read_charge(c, SYN), c * SYN["V_read"])
    spikes = np.array([[1, 0, 1], [0, 1, 0]])
    q = memcap.synaptic_charge(spikes, c, SYN)
    np.testing.assert_allclose(q[0], SYN["V_read"] * (c[0] + c[2]))
    np.testing.assert_allclose(q[1], SYN["V_read"] * c[1])
    # 18 fC from one C_max read onto 1 pF: 18 mV
    dv = memcap.integrate_charge(0.0, memcap.read_charge(SYN["C_max"], SYN), NEURON)
    assert dv == pytest.approx(SYN["C_max"] * SYN["V_read"] / NEURON["C_mem"])


def test_levels_must_be_one_integer() -> None:
    with pytest.raises(ValueError, match="levels"):
        memcap.n_levels(dict(SYN, levels=np.array([16.0, 15.2])))
    assert memcap.n_levels(dict(SYN, levels=np.full(4, 16.0))) == 16


# ---------------------------------------------------------------------------------- neuron
def test_transfer_threshold_slope_and_saturation() -> None:
    vth, g, vsat, h = (NEURON[k] for k in ("V_threshold", "gain", "V_saturation", "hysteresis"))
    u = np.linspace(-1, 3, 4001)
    y = memcap.transfer(u, NEURON)
    assert np.all(y[u <= vth] == 0)
    lin = (u > vth) & (u < vth + vsat / g)
    np.testing.assert_allclose(y[lin], g * (u[lin] - vth))
    np.testing.assert_allclose(y[u >= vth + vsat / g], vsat)
    assert y.max() == pytest.approx(vsat)
    # falling branch = rising branch shifted left by the hysteresis width
    np.testing.assert_allclose(memcap.transfer(u - h, NEURON, "falling"), y, atol=1e-12)
    with pytest.raises(ValueError):
        memcap.transfer(u, NEURON, "up")  # type: ignore[arg-type]


def test_hysteresis_loop_from_a_sweep() -> None:
    h, vth, vsat = NEURON["hysteresis"], NEURON["V_threshold"], NEURON["V_saturation"]
    du = 1e-4
    u = np.concatenate([np.arange(0, 2, du), np.arange(2, 0, -du)])
    p, ys = u[0], []
    for uk in u:
        yk, p = memcap.hysteretic_transfer_step(uk, p, NEURON)
        ys.append(float(yk))
    y = np.array(ys)
    half = len(u) // 2
    up_u, up_y, dn_u, dn_y = u[:half], y[:half], u[half:], y[half:]
    # turn-on while rising at V_threshold, turn-off while falling at V_threshold - h
    on = up_u[np.argmax(up_y > 0)]
    off = dn_u[np.argmax(dn_y == 0)]
    assert on == pytest.approx(vth, abs=2 * du)
    assert off == pytest.approx(vth - h, abs=2 * du)
    # at equal output the two branches differ by the hysteresis width
    for level in (0.2, 0.9, 1.5):
        u_up = up_u[np.argmax(up_y >= level)]
        u_dn = dn_u[np.argmax(dn_y < level)]
        assert u_up - u_dn == pytest.approx(h, abs=2 * du)
    assert y.max() == pytest.approx(vsat)
    # reversal smaller than h: output holds
    y0, p0 = memcap.hysteretic_transfer_step(1.0, 1.0, NEURON)
    y1, _ = memcap.hysteretic_transfer_step(1.0 - 0.8 * h, p0, NEURON)
    assert float(y1) == pytest.approx(float(y0))


def test_transfer_gradients() -> None:
    vth, g, vsat, h = (NEURON[k] for k in ("V_threshold", "gain", "V_saturation", "hysteresis"))
    u = np.linspace(-0.5, 2.0, 2501)
    eps = 1e-6
    for branch, shift in (("rising", 0.0), ("falling", h)):
        y = memcap.transfer(u, NEURON, branch)
        fd = memcap.transfer(u + eps, NEURON, branch) - memcap.transfer(u - eps, NEURON, branch)
        fd /= 2 * eps
        kinks = np.array([vth - shift, vth - shift + vsat / g])
        away = np.min(np.abs(u[:, None] - kinks[None, :]), axis=1) > 1e-4
        grad = memcap.transfer_grad(u, NEURON, branch)
        np.testing.assert_allclose(grad[away], fd[away], atol=1e-6)
        assert set(np.unique(grad)) == {0.0, g}
        beta = 200.0
        ys = memcap.smooth_transfer(u, NEURON, beta, branch)
        assert np.max(np.abs(ys - y)) <= np.log(2) / beta * 1.01
        fds = (
            memcap.smooth_transfer(u + eps, NEURON, beta, branch)
            - memcap.smooth_transfer(u - eps, NEURON, beta, branch)
        ) / (2 * eps)
        np.testing.assert_allclose(
            memcap.smooth_transfer_grad(u, NEURON, beta, branch), fds, atol=1e-5
        )
