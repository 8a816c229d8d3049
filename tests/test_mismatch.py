"""Mismatch: seeded, independent across parameters and instances, truncated, physical."""

import numpy as np
import pytest

from dendritic_snn.hardware.mismatch import (
    MIN_FACTOR,
    mismatch_factors,
    sample_block,
    synapse_instance,
)
from dendritic_snn.hardware.profiles import load_profile

N = 20000


def test_relative_sigma_and_mean():
    f = mismatch_factors(0.2, N, seed=1, key="neuron.Itau")
    # a normal truncated at +/-3 sigma has sd 0.9866 of the untruncated one
    assert np.std(f) / 0.2 == pytest.approx(0.9866, abs=0.02)
    assert np.mean(f) == pytest.approx(1.0, abs=0.01)


def test_truncation_keeps_values_physical():
    f = mismatch_factors(0.2, N, seed=2, key="k", truncate_sigmas=2.0)
    assert f.min() >= 1 - 2 * 0.2 - 1e-12 and f.max() <= 1 + 2 * 0.2 + 1e-12
    large = mismatch_factors(0.9, N, seed=3, key="k")
    assert large.min() >= MIN_FACTOR  # 1 - 3*0.9 < 0 would be unphysical
    assert np.all(large > 0)


def test_same_seed_same_chip_other_seed_other_chip():
    a = mismatch_factors(0.2, 100, seed=7, key="neuron.C")
    b = mismatch_factors(0.2, 100, seed=7, key="neuron.C")
    c = mismatch_factors(0.2, 100, seed=8, key="neuron.C")
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_independent_across_parameters_and_instances():
    prof = load_profile("dynapse_se")
    values = sample_block(prof, "neuron", N, seed=5)
    z = {k: v / prof.params["neuron"][k] for k, v in values.items() if prof.sigma("neuron", k)}
    names = sorted(z)
    corr = np.corrcoef(np.array([z[k] for k in names]))
    off_diagonal = corr[~np.eye(len(names), dtype=bool)]
    # independent draws: |r| ~ 1/sqrt(N) = 0.007; teili's reseeding gave r = 1
    assert np.max(np.abs(off_diagonal)) < 0.04
    # consecutive instances of one parameter are uncorrelated too
    itau = z["Itau"]
    assert abs(np.corrcoef(itau[:-1], itau[1:])[0, 1]) < 0.04


def test_order_does_not_matter_and_constants_exempt():
    prof = load_profile("dynapse_se")
    both = sample_block(prof, "neuron", 50, seed=9, params=["C", "Itau"])
    one = sample_block(prof, "neuron", 50, seed=9, params=["Itau"])
    np.testing.assert_array_equal(both["Itau"], one["Itau"])
    consts = sample_block(prof, "neuron", 50, seed=9, params=["Io", "Ut", "kn", "kp"])
    for key, vals in consts.items():
        assert np.all(vals == prof.params["neuron"][key])


def test_ideal_and_override():
    ideal = load_profile("ideal")
    vals = sample_block(ideal, "neuron", 10, seed=1)
    assert all(np.all(v == ideal.params["neuron"][k]) for k, v in vals.items())
    forty = load_profile("dynapse_se").with_mismatch(0.4)
    f = sample_block(forty, "synapse", N, seed=1, params=["Itau"])["Itau"] / 10e-12
    assert np.std(f) == pytest.approx(0.4 * 0.9866, rel=0.05)
    with pytest.raises(ValueError):
        mismatch_factors(1.0, 3, seed=0, key="x")


def test_one_scheme_for_every_chip():
    """Brian2 groups, the dendritic network's arrays and the 45 nm engine draw the same chip
    from one scheme: named streams (seed, instance, role.parameter)."""
    from dendritic_snn.dendritic.network import ModelParams, Structure, chip_values
    from dendritic_snn.eqspike.eqspike import map_profile

    prof = load_profile("dynapse_se")
    st = Structure(n_in=4, n_p=6, n_r=3)
    chip = chip_values(st, prof, 11, ModelParams())
    again = chip_values(st, prof, 11, ModelParams())
    other = chip_values(st, prof, 12, ModelParams())
    for pop, n in (("P", 6), ("R", 3), ("I", 3)):
        expected = sample_block(prof, "neuron", n, 11, instance=pop)
        np.testing.assert_array_equal(chip[(pop, "Itau")], expected["Itau"])
        np.testing.assert_array_equal(again[(pop, "Itau")], chip[(pop, "Itau")])
        assert not np.allclose(other[(pop, "Itau")], chip[(pop, "Itau")], rtol=1e-3, atol=0)
    syn = sample_block(prof, "synapse", 6, 11, instance=synapse_instance("P", "bas"))
    np.testing.assert_array_equal(chip[("P", "Itau_syn_bas")], syn["Itau"])
    # R and I have the same size but are different circuits
    assert not np.allclose(chip[("R", "Itau")], chip[("I", "Itau")], rtol=1e-3, atol=0)

    cmos = load_profile("cmos45_spiking_ep")
    eq = map_profile(cmos, (5, 4, 3), 1.0, 11)
    eq_again = map_profile(cmos, (5, 4, 3), 1.0, 11)
    np.testing.assert_array_equal(np.concatenate(eq.gain), np.concatenate(eq_again.gain))
    eq_other = map_profile(cmos, (5, 4, 3), 1.0, 12)
    gains = np.concatenate(eq.gain), np.concatenate(eq_other.gain)
    assert not np.allclose(*gains, rtol=1e-3, atol=0)


def test_instances_are_independent_circuits():
    prof = load_profile("dynapse_se")
    a = sample_block(prof, "neuron", N, 3, params=["Itau"], instance="P")["Itau"]
    b = sample_block(prof, "neuron", N, 3, params=["Itau"], instance="R")["Itau"]
    plain = sample_block(prof, "neuron", N, 3, params=["Itau"])["Itau"]
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.04
    assert abs(np.corrcoef(a, plain)[0, 1]) < 0.04
    np.testing.assert_array_equal(
        a, sample_block(prof, "neuron", N, 3, params=["Itau"], instance="P")["Itau"]
    )
    assert synapse_instance("P", "bas") == "P/syn_bas" and synapse_instance("", "exc") == "syn_exc"
