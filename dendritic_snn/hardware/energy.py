"""Energy accounting: counted events and elapsed time -> joules.

.. math::

    E = N_{spk} E_{spk} + N_{syn} E_{syn} + N_{upd} E_{upd}
        + T\\,(n_{neurons} P_{neuron} + n_{synapses} P_{synapse})

with the per-event energies and static powers taken from the hardware profile. ``T`` is
elapsed *hardware* time (seconds of simulated chip time, not wall-clock time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .profiles import Profile


@dataclass
class EventCounts:
    """What happened on the chip during one run (or one example)."""

    spikes: float = 0.0
    synaptic_events: float = 0.0
    weight_updates: float = 0.0
    elapsed_s: float = 0.0
    neurons: int = 0
    synapses: int = 0

    def __add__(self, other: EventCounts) -> EventCounts:
        """Sum events and time; circuit counts are the larger of the two (same chip)."""
        return EventCounts(
            self.spikes + other.spikes,
            self.synaptic_events + other.synaptic_events,
            self.weight_updates + other.weight_updates,
            self.elapsed_s + other.elapsed_s,
            max(self.neurons, other.neurons),
            max(self.synapses, other.synapses),
        )

    def scaled(self, factor: float) -> EventCounts:
        """Events and time times ``factor`` (e.g. 1/n_examples for a per-example figure)."""
        return EventCounts(
            self.spikes * factor,
            self.synaptic_events * factor,
            self.weight_updates * factor,
            self.elapsed_s * factor,
            self.neurons,
            self.synapses,
        )


def energy_breakdown(counts: EventCounts, profile: Profile) -> dict[str, float]:
    """Joules per contribution and their ``total``.

    Parameters
    ----------
    counts
        Counted events, elapsed hardware time and circuit counts.
    profile
        Gives ``energy.spike``, ``synaptic_event``, ``weight_update`` (J) and
        ``static_power_per_neuron``, ``static_power_per_synapse`` (W).

    Returns
    -------
    dict
        ``spikes``, ``synaptic_events``, ``weight_updates``, ``static_neurons``,
        ``static_synapses`` and ``total``, in joules.
    """
    e = profile.energy
    parts = {
        "spikes": counts.spikes * e["spike"],
        "synaptic_events": counts.synaptic_events * e["synaptic_event"],
        "weight_updates": counts.weight_updates * e["weight_update"],
        "static_neurons": counts.elapsed_s * counts.neurons * e["static_power_per_neuron"],
        "static_synapses": counts.elapsed_s * counts.synapses * e["static_power_per_synapse"],
    }
    parts["total"] = sum(parts.values())
    return parts


def energy_report(
    inference: EventCounts | None,
    training: EventCounts | None,
    profile: Profile,
    run: EventCounts | None = None,
) -> dict:
    """The ``energy`` section of result.json from per-example event counts.

    ``per_inference_J`` and ``per_training_example_J`` are totals for one example; the
    ``breakdown`` lists the contributions of each (and of the whole ``run`` if given), with
    the counts they came from.
    """
    report: dict = {"per_inference_J": None, "per_training_example_J": None, "breakdown": {}}
    for key, counts in (("per_inference_J", inference), ("per_training_example_J", training)):
        if counts is None:
            continue
        parts = energy_breakdown(counts, profile)
        report[key] = parts["total"]
        name = key.removeprefix("per_").removesuffix("_J")
        report["breakdown"][name] = {"joules": parts, "counts": asdict(counts)}
    if run is not None:
        report["breakdown"]["run"] = {
            "joules": energy_breakdown(run, profile),
            "counts": asdict(run),
        }
    if profile.reference_energy_per_inference is not None:
        report["reference_per_inference_J"] = profile.reference_energy_per_inference
    return report
