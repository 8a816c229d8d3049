r"""Energy accounting: counted events and powered time -> joules.

Dynamic energy is counted per event, static energy only while a block is powered:

.. math::

    E = \underbrace{N_{spk} E_{spk} + N_{syn} E_{syn} + N_{str} E_{str} + N_{upd} E_{upd}}
        _{\text{dynamic}}
        + \underbrace{T\,(n_{neurons} P_{neuron} + n_{synapses} P_{synapse})
        + T_{learn}\, n_{neurons} P_{learn}}_{\text{static}}

with :math:`N_{spk}` spikes, :math:`N_{syn}` synaptic events (a spike arriving at a synapse),
:math:`N_{str}` comparator strobes (a synapse reached by an update strobe, whatever the
comparator says), :math:`N_{upd}` weight writes (strobes that charge or discharge the weight
capacitor), :math:`T` the elapsed *hardware* time of the run (seconds of chip time, not
wall-clock time) and :math:`T_{learn}` the part of it in which the learning blocks (rate
filter, derivative, comparators, bias) are powered. All energies and powers come from the
profile's ``energy`` section.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .profiles import Profile

#: Breakdown keys that are dynamic (per event) and static (per powered second).
DYNAMIC_PARTS = ("spikes", "synaptic_events", "comparator_strobes", "weight_updates")
STATIC_PARTS = ("static_neurons", "static_learning", "static_synapses")


@dataclass
class EventCounts:
    """What happened on the chip during one run (or one example).

    ``learning_s`` is the hardware time the learning blocks were powered (0 for inference).
    """

    spikes: float = 0.0
    synaptic_events: float = 0.0
    weight_updates: float = 0.0
    elapsed_s: float = 0.0
    neurons: int = 0
    synapses: int = 0
    comparator_strobes: float = 0.0
    learning_s: float = 0.0

    def __add__(self, other: EventCounts) -> EventCounts:
        """Sum events and times; circuit counts are the larger of the two (same chip)."""
        return EventCounts(
            self.spikes + other.spikes,
            self.synaptic_events + other.synaptic_events,
            self.weight_updates + other.weight_updates,
            self.elapsed_s + other.elapsed_s,
            max(self.neurons, other.neurons),
            max(self.synapses, other.synapses),
            self.comparator_strobes + other.comparator_strobes,
            self.learning_s + other.learning_s,
        )

    def scaled(self, factor: float) -> EventCounts:
        """Events and times times ``factor`` (e.g. 1/n_examples for a per-example figure)."""
        return EventCounts(
            self.spikes * factor,
            self.synaptic_events * factor,
            self.weight_updates * factor,
            self.elapsed_s * factor,
            self.neurons,
            self.synapses,
            self.comparator_strobes * factor,
            self.learning_s * factor,
        )


def energy_breakdown(counts: EventCounts, profile: Profile) -> dict[str, float]:
    """Joules per contribution, their ``dynamic`` and ``static`` sums and the ``total``.

    Parameters
    ----------
    counts
        Counted events, elapsed and learning-powered hardware time, circuit counts.
    profile
        Gives ``energy.spike``, ``synaptic_event``, ``comparator_strobe``, ``weight_update``
        (J) and ``static_power_per_neuron``, ``static_power_per_synapse``,
        ``static_power_learning_per_neuron`` (W).

    Returns
    -------
    dict
        ``spikes``, ``synaptic_events``, ``comparator_strobes``, ``weight_updates``,
        ``static_neurons``, ``static_learning``, ``static_synapses``, ``dynamic``,
        ``static`` and ``total``, in joules.
    """
    e = profile.energy
    parts = {
        "spikes": counts.spikes * e["spike"],
        "synaptic_events": counts.synaptic_events * e["synaptic_event"],
        "comparator_strobes": counts.comparator_strobes * e.get("comparator_strobe", 0.0),
        "weight_updates": counts.weight_updates * e["weight_update"],
        "static_neurons": counts.elapsed_s * counts.neurons * e["static_power_per_neuron"],
        "static_learning": counts.learning_s
        * counts.neurons
        * e.get("static_power_learning_per_neuron", 0.0),
        "static_synapses": counts.elapsed_s * counts.synapses * e["static_power_per_synapse"],
    }
    parts["dynamic"] = sum(parts[k] for k in DYNAMIC_PARTS)
    parts["static"] = sum(parts[k] for k in STATIC_PARTS)
    parts["total"] = parts["dynamic"] + parts["static"]
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
