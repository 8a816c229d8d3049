"""Energy model: counted events x per-event energies + static power x time."""

import pytest

from dendritic_snn.hardware.energy import EventCounts, energy_breakdown, energy_report
from dendritic_snn.hardware.profiles import load_profile


def test_event_energy_dynapse():
    prof = load_profile("dynapse_se")
    counts = EventCounts(
        spikes=10, synaptic_events=1000, weight_updates=5, elapsed_s=0.2, neurons=3, synapses=64
    )
    parts = energy_breakdown(counts, prof)
    assert parts["spikes"] == pytest.approx(10 * 883e-12)
    assert parts["synaptic_events"] == pytest.approx(1000 * 17e-12)
    assert parts["weight_updates"] == pytest.approx(5 * 17e-12)
    assert parts["static_neurons"] == 0
    assert parts["total"] == pytest.approx(parts["dynamic"] + parts["static"])
    assert parts["dynamic"] == pytest.approx(10 * 883e-12 + 1000 * 17e-12 + 5 * 17e-12)
    assert parts["comparator_strobes"] == 0 and parts["static_learning"] == 0


def test_static_power_only_where_a_block_is_powered_cmos45():
    """One neuron + one synapse for 1 ms: the measured 82.65 uW are drawn only when the
    learning blocks are powered (73.86 uW) and the synapse conducts (8.79 uW for each 20 ns
    presynaptic spike); in inference only the IFC core (I_leak * VDD) stays on."""
    prof = load_profile("cmos45_spiking_ep")
    inference = EventCounts(elapsed_s=1e-3, neurons=1, synapses=1)
    parts = energy_breakdown(inference, prof)
    assert parts["total"] == pytest.approx(1e-3 * 0.5e-9)
    assert parts["static_synapses"] == 0 and parts["dynamic"] == 0
    # training with the synapse conducting all the time (one spike per 20 ns)
    train = EventCounts(elapsed_s=1e-3, learning_s=1e-3, synaptic_events=1e-3 / 20e-9,
                        neurons=1, synapses=1)  # fmt: skip
    assert energy_breakdown(train, prof)["total"] == pytest.approx(
        82.65e-9, rel=1e-3
    )  # 176 fJ rounds 175.8
    doubled = (train + train).scaled(0.5)
    assert energy_breakdown(doubled, prof)["total"] == pytest.approx(
        energy_breakdown(train, prof)["total"]
    )


def test_event_energies_cmos45():
    prof = load_profile("cmos45_spiking_ep")
    counts = EventCounts(spikes=2, synaptic_events=3, comparator_strobes=5, weight_updates=7)
    parts = energy_breakdown(counts, prof)
    assert parts["spikes"] == pytest.approx(2 * 2.1e-12)
    assert parts["synaptic_events"] == pytest.approx(3 * 176e-15)
    assert parts["comparator_strobes"] == pytest.approx(5 * 1e-15)
    assert parts["weight_updates"] == pytest.approx(7 * 0.1e-15)
    assert parts["static"] == 0


def test_report_keys():
    prof = load_profile("memcap_180nm")
    report = energy_report(EventCounts(synaptic_events=100), None, prof)
    assert report["per_inference_J"] == pytest.approx(100 * 32e-15)
    assert report["per_training_example_J"] is None
    assert report["reference_per_inference_J"] == pytest.approx(33.88e-9)
    assert "inference" in report["breakdown"]
