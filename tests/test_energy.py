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
    assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))


def test_static_power_cmos45():
    prof = load_profile("cmos45_spiking_ep")
    counts = EventCounts(elapsed_s=1e-3, neurons=1, synapses=1)
    # one neuron + one synapse circuit for 1 ms at the report's 82.65 uW total
    assert energy_breakdown(counts, prof)["total"] == pytest.approx(82.65e-9)
    doubled = (counts + counts).scaled(0.5)
    assert energy_breakdown(doubled, prof)["total"] == pytest.approx(82.65e-9)


def test_report_keys():
    prof = load_profile("memcap_180nm")
    report = energy_report(EventCounts(synaptic_events=100), None, prof)
    assert report["per_inference_J"] == pytest.approx(100 * 32e-15)
    assert report["per_training_example_J"] is None
    assert report["reference_per_inference_J"] == pytest.approx(33.88e-9)
    assert "inference" in report["breakdown"]
