"""Tests for the Cartiglia-2020 Eq. 3 stop-learning rule (NumPy and Brian2 forms)."""

from __future__ import annotations

import numpy as np
import pytest

from dendritic_snn.dendritic.plasticity import (
    count_nonzero_updates,
    in_stop_band,
    stop_learning_code,
    stop_learning_expr,
    stop_learning_update,
)


def test_band_gives_exact_zero():
    e = np.linspace(-0.5, 0.5, 101)
    dw = stop_learning_update(e, 0.0, eta=0.3, theta=0.5)
    assert np.all(dw == 0.0)
    assert in_stop_band(e, 0.0, 0.5).all()
    # exactly at the edges (strict inequalities in Eq. 3)
    assert stop_learning_update(1.5, 1.0, 0.3, 0.5) == 0.0
    assert stop_learning_update(1.0, 1.5, 0.3, 0.5) == 0.0


@pytest.mark.parametrize(
    ("i_s", "i_b", "eta", "theta", "expected"),
    [
        (3.0, 1.0, 1.0, 0.5, 1.5),  # e=2: 1*2 - 0.5
        (1.0, 3.0, 1.0, 0.5, -1.5),  # e=-2: -2 + 0.5
        (3.0, 1.0, 2.0, 0.5, 3.5),  # e=2: 4 - 0.5
        (1.0, 3.0, 2.0, 0.5, -3.5),
        (3.0, 1.0, 0.1, 0.5, -0.3),  # e=2: 0.2 - 0.5 (eta<1: sign opposite to error)
        (1.0, 3.0, 0.1, 0.5, 0.3),
        (10.0, 0.0, 0.1, 0.5, 0.5),  # e=10: 1 - 0.5
        (0.3, 0.0, 5.0, 0.0, 1.5),  # theta=0: plain eta*e
        (0.2, 0.0, 5.0, 0.25, 0.0),  # inside band
    ],
)
def test_values_by_hand(i_s, i_b, eta, theta, expected):
    assert stop_learning_update(i_s, i_b, eta, theta) == pytest.approx(expected, abs=1e-12)


def test_sign_above_below_for_eta_ge_one():
    e = np.concatenate([np.linspace(-5, -1.01, 50), np.linspace(1.01, 5, 50)])
    for eta in (1.0, 1.5):
        dw = stop_learning_update(e, 0.0, eta, 1.0)
        np.testing.assert_array_equal(np.sign(dw), np.sign(e))
    # eta < 1: sign follows the error only beyond theta/eta
    eta, th = 0.5, 1.0
    e = np.array([1.5, 2.5, -1.5, -2.5])
    np.testing.assert_array_equal(np.sign(stop_learning_update(e, 0.0, eta, th)), [-1, 1, 1, -1])
    assert stop_learning_update(th / eta, 0.0, eta, th) == 0.0


def test_odd_symmetry_and_broadcasting():
    e = np.linspace(-3, 3, 61)
    eta = np.array([[0.2], [1.0], [3.0]])
    dw = stop_learning_update(e, 0.0, eta, 0.7)
    assert dw.shape == (3, 61)
    np.testing.assert_allclose(dw, -stop_learning_update(-e, 0.0, eta, 0.7), atol=1e-15)


def test_continuity_at_band_edges():
    th, eps = 0.5, 1e-9
    # eta = 1: continuous (soft threshold)
    for edge in (th, -th):
        out = stop_learning_update(edge + np.sign(edge) * eps, 0.0, 1.0, th)
        assert abs(out) < 1e-8
    # eta != 1: jump of (eta - 1)*theta just outside, odd in e
    for eta in (0.2, 2.0):
        up = stop_learning_update(th + eps, 0.0, eta, th)
        lo = stop_learning_update(-th - eps, 0.0, eta, th)
        assert up == pytest.approx((eta - 1) * th, abs=1e-8)
        assert lo == pytest.approx(-(eta - 1) * th, abs=1e-8)
        assert stop_learning_update(th, 0.0, eta, th) == 0.0


def test_negative_theta_rejected():
    with pytest.raises(ValueError):
        stop_learning_update(1.0, 0.0, 1.0, -0.1)


def test_count_nonzero_updates():
    e = np.array([-2.0, -0.5, 0.0, 0.2, 0.5, 0.9, 3.0])
    dw = stop_learning_update(e, 0.0, 1.0, 0.5)
    assert count_nonzero_updates(dw) == 3
    assert count_nonzero_updates(dw, atol=0.45) == 2
    assert count_nonzero_updates([]) == 0


def test_code_strings():
    expr = stop_learning_expr()
    assert expr == (
        "int((I_S - I_B) > theta)*(eta*(I_S - I_B) - theta)"
        " + int((I_S - I_B) < -theta)*(eta*(I_S - I_B) + theta)"
    )
    code = stop_learning_code("w", "Isoma_post", "Ib/Iref", w_min="0", w_max="wmax", counter="n")
    lines = code.splitlines()
    assert lines[0].startswith("w += int((Isoma_post - (Ib/Iref)) > theta)")
    assert lines[1] == "w = clip(w, 0, wmax)"
    assert lines[2] == "n += int(abs((Isoma_post - (Ib/Iref))) > theta)"


@pytest.fixture
def brian_numpy():
    b2 = pytest.importorskip("brian2")
    old = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    yield b2
    b2.prefs.codegen.target = old


def _run_on_pre(b2, code, i_s, i_b, eta, theta, w0=0.0):
    """Fire every synapse once and return the synaptic variables after on_pre."""
    n = len(i_s)
    src = b2.SpikeGeneratorGroup(n, np.arange(n), np.zeros(n) * b2.ms)
    tgt = b2.NeuronGroup(n, "")
    syn = b2.Synapses(
        src,
        tgt,
        "w : 1\nI_S : 1\nI_B : 1\neta : 1\ntheta : 1\nwmax : 1\nn_up : 1",
        on_pre=code,
    )
    syn.connect(j="i")
    syn.I_S = i_s
    syn.I_B = i_b
    syn.eta = eta
    syn.theta = theta
    syn.w = w0
    syn.wmax = 1.0
    net = b2.Network(src, tgt, syn)
    net.run(0.5 * b2.ms)
    return np.asarray(syn.w[:]), np.asarray(syn.n_up[:])


def test_brian2_code_matches_numpy(brian_numpy):
    b2 = brian_numpy
    rng = np.random.default_rng(0)
    n = 200
    i_s = rng.uniform(0, 3, n)
    i_b = rng.uniform(0, 3, n)
    eta = rng.choice([0.1, 0.5, 1.0, 2.0], n)
    theta = rng.uniform(0, 1, n)
    # exact band edges and exact zeros
    i_s[:4] = [1.5, 1.0, 1.0, 2.0]
    i_b[:4] = [1.0, 1.5, 1.0, 2.0]
    theta[:4] = 0.5
    w, n_up = _run_on_pre(b2, stop_learning_code(counter="n_up"), i_s, i_b, eta, theta)
    ref = stop_learning_update(i_s, i_b, eta, theta)
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(w[:4], 0.0)
    np.testing.assert_array_equal(w[ref == 0.0], 0.0)
    np.testing.assert_array_equal(n_up, (~in_stop_band(i_s, i_b, theta)).astype(float))
    assert int(n_up.sum()) == count_nonzero_updates(ref)


def test_brian2_clip(brian_numpy):
    b2 = brian_numpy
    i_s = np.array([5.0, 0.0, 0.3])
    i_b = np.array([0.0, 5.0, 0.0])
    code = stop_learning_code(w_min="0", w_max="wmax")
    w, _ = _run_on_pre(b2, code, i_s, i_b, 1.0, 0.5, w0=0.5)
    np.testing.assert_allclose(w, np.clip(0.5 + stop_learning_update(i_s, i_b, 1.0, 0.5), 0, 1))
    np.testing.assert_allclose(w, [1.0, 0.0, 0.5])
