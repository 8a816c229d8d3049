"""Learner ``eqspike``: spike-driven Equilibrium Propagation on the 45 nm blocks.

Adapts the batched engine :class:`~dendritic_snn.eqspike.engine.EqSpike` (model and
equations in :mod:`dendritic_snn.eqspike.eqspike`): integrate-and-fire neurons with Schmitt
trigger, two-stage low-pass spike traces, RC-derivative comparators and capacitor synapses,
mapped from the run's profile with its mismatch (same seed, same chip). Input kind: vectors.
Hyperparameters: the ``mnist`` task's ``hidden``, ``epochs``, ``lr_decay``, ``augment_shift``
and ``eqspike_*`` fields. Energy: events counted on the first ``max(eqspike_batch_size, 50)``
training examples (one inference pass and one training step), beside a GPU estimate
(:func:`~dendritic_snn.eqspike.energy_gpu.eqspike_energy`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import DsnnError
from .base import Learner, LearnerEvents, LearnerSetup, TrainingData
from .epochs import curve_arrays, fingerprint, train_epochs
from .registry import register

#: per-instance arrays of the chip mapping saved with the model (one array per layer)
CHIP_LISTS = ("gain", "leak", "g_out")
#: smallest number of training examples the energy probe uses
PROBE_MIN = 50


def eqspike_config(cfg: dict[str, Any], n_inputs: int, n_classes: int):
    """The :class:`~dendritic_snn.eqspike.eqspike.EqSpikeConfig` of a config mapping."""
    from ..eqspike.eqspike import EqSpikeConfig

    try:
        return EqSpikeConfig(
            sizes=(int(n_inputs), *[int(h) for h in cfg["hidden"]], int(n_classes)),
            beta=float(cfg["eqspike_beta"]),
            nudge=str(cfg["eqspike_nudge"]),
            n_free=int(cfg["eqspike_n_free"]),
            n_nudge=int(cfg["eqspike_n_nudge"]),
            n_eval=int(cfg["eqspike_n_eval"]),
            n_read=int(cfg["eqspike_n_read"]),
            w_max=float(cfg["eqspike_w_max"]),
            update_gain=tuple(float(a) for a in cfg["eqspike_update_gain"]),
            batch_size=int(cfg["eqspike_batch_size"]),
            comparator=str(cfg.get("eqspike_comparator", "derivative")),
            strobes=str(cfg.get("eqspike_strobes", "pre")),
            ref_tau=float(cfg.get("eqspike_ref_tau", 8.0)),
            synapse_drive=str(cfg.get("eqspike_synapse_drive", "shared")),
            init_scale=tuple(float(a) for a in cfg.get("eqspike_init_scale", (1.0, 0.5))),
            gain_trim_bits=int(cfg.get("eqspike_gain_trim_bits", 5)),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"eqspike: {err}") from None


@register
class EqSpikeLearner(Learner):
    """EqSpike on the 45 nm spiking-EqProp blocks (see the module docstring)."""

    name = "eqspike"
    input_kind = "vectors"
    default_profile = "cmos45_spiking_ep"
    home_task = "mnist"
    title = "EqSpike"
    hint_at_chance = (
        'another --seed, or smaller initial output weights (--set "eqspike_init_scale=[1.0,0.25]")'
    )

    @classmethod
    def check_profile(cls, profile) -> None:
        if profile.models.get("neuron") != "ifc_schmitt":
            raise DsnnError(
                f"learner eqspike needs a profile with the ifc_schmitt neuron "
                f"(cmos45_spiking_ep), got '{profile.name}': use --profile cmos45_spiking_ep"
            )

    def __init__(self, setup: LearnerSetup) -> None:
        from ..eqspike.engine import EqSpike

        self.check_profile(setup.profile)
        super().__init__(setup)
        t0 = time.perf_counter()
        self.net_config = eqspike_config(setup.config, setup.n_inputs, setup.n_classes)
        self.net = EqSpike(self.net_config, self.profile, self.seed, self.rng(self.name, "init"))
        self.history: dict = {}
        self.build_s = time.perf_counter() - t0
        self.resumed_from = 0
        self._probe: tuple[np.ndarray, np.ndarray] | None = None
        self._energy: tuple[dict, dict] | None = None

    def fit(self, data: TrainingData) -> dict[str, Any]:
        fp = fingerprint(self.seed, self.name, self.config)
        self.history, self.resumed_from = train_epochs(
            self.net, data, self.rng(self.name, "train"), self.config, fp, self.setup.out,
            self.setup.progress, f"{data.name} {self.name}",
        )  # fmt: skip
        n = min(len(data.x), max(self.net_config.batch_size, PROBE_MIN))
        self._probe = (np.asarray(data.x[:n], np.float64), np.asarray(data.y[:n]))
        self.examples += (int(self.config["epochs"]) - self.resumed_from) * len(data.x)
        curve = self.history["train_accuracy"]
        return {
            "train_accuracy": curve[-1] if curve else None,
            "learning_curve": self.history,
            "epochs": int(self.config["epochs"]),
            "resumed_from_epoch": self.resumed_from,
            "sizes": list(self.net_config.sizes),
        }

    def predict(self, x) -> np.ndarray:
        return self.net.predict(np.asarray(x, np.float64))

    def _measure(self) -> tuple[dict, dict]:
        if self._energy is None:
            from ..eqspike.energy_gpu import eqspike_energy

            if self._probe is None:
                raise DsnnError("eqspike: energy is measured on training examples: fit first")
            x, y = self._probe
            self._energy = eqspike_energy(self.net, x, y, self.rng(self.name, "probe"))
        return self._energy

    def report(self, x, y, predicted) -> dict[str, Any]:
        return {"eqspike": self._measure()[1]}

    def event_counts(self) -> LearnerEvents:
        extra = self._measure()[1]
        from ..hardware.energy import EventCounts

        return LearnerEvents(
            EventCounts(**extra["events_per_inference"]),
            EventCounts(**extra["events_per_training_example"]),
        )

    def energy(self) -> dict[str, Any]:
        return self._measure()[0]

    def plots(self, out, title) -> list[str]:
        from ..plots import learning_curve_plot

        return [learning_curve_plot(out / "learning_curve.png", self.history, title)]

    def arrays(self) -> dict[str, np.ndarray]:
        return curve_arrays(self.history)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = dict(self.net.state_dict())
        for key in CHIP_LISTS:
            for k, arr in enumerate(getattr(self.net.chip, key)):
                state[f"chip.{key}.{k}"] = np.asarray(arr)
        state["chip.step_s"] = np.asarray(self.net.chip.step_s, np.float64)
        state["chip.matched"] = np.asarray(self.net.chip.matched)
        return state

    def load_state_dict(self, state) -> None:
        self.net.load_state_dict(state)
        for key in CHIP_LISTS:
            layers = getattr(self.net.chip, key)
            for k in range(len(layers)):
                if f"chip.{key}.{k}" in state:
                    layers[k] = np.array(state[f"chip.{key}.{k}"])

    def describe(self) -> dict[str, Any]:
        return {"sizes": list(self.net_config.sizes), **self.net.describe()}
