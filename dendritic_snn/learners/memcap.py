"""Learner ``memcap``: memcapacitive SNN, nonlinearity-aware vs naive (Oshio et al. 2022).

Trains the ``n_inputs``-H-``n_classes`` network of :mod:`dendritic_snn.memcap` twice from the
same initial weights, data and seed: *aware* (the circuit's quantised, hysteretic forward pass
with a smooth-surrogate backward pass) and *naive* (ideal rectified-linear network with float
weights, then scaled into the device range, ``w = w_max (C^+ - C^-)/(C_{max} - C_{min})``).
Both are programmed onto the circuit model of the run's profile (``memcap_180nm``) and tested
there, on the nominal chip and, when the profile has mismatch, on one mismatched chip drawn
from the run seed. Predictions are the aware network on the nominal chip; ``accuracy_gap`` =
aware - naive (nominal). Energy per inference is counted device reads times the profile's
``synaptic_event`` energy. Input kind: vectors (pixel values in ``[0, 1]``). Hyperparameters:
the ``mnist`` task's ``memcap_*`` fields and ``augment_shift``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import DsnnError
from .base import Learner, LearnerSetup, TrainingData
from .registry import register


def memcap_config(cfg: dict[str, Any]):
    """The :class:`~dendritic_snn.memcap.train.MemcapConfig` of a config mapping."""
    from ..memcap.train import MemcapConfig

    try:
        return MemcapConfig(
            hidden=int(cfg.get("memcap_hidden", 100)),
            window=int(cfg.get("memcap_window", 16)),
            epochs=int(cfg.get("memcap_epochs", 20)),
            batch_size=int(cfg.get("memcap_batch_size", 32)),
            lr=float(cfg.get("memcap_lr", 5e-3)),
            tau=float(cfg.get("memcap_tau", 0.1)),
            beta=float(cfg.get("memcap_beta", 5.0)),
            augment_shift=int(cfg.get("augment_shift", 0)),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"memcap: {err}") from None


@register
class MemcapLearner(Learner):
    """Memcapacitor network trained circuit-aware and naive (see the module docstring)."""

    name = "memcap"
    input_kind = "vectors"
    default_profile = "memcap_180nm"
    home_task = "mnist"
    title = "memcap"

    @classmethod
    def check_profile(cls, profile) -> None:
        if profile.models.get("synapse") != "memcapacitor":
            raise DsnnError(
                f"learner memcap needs a memcapacitor profile (memcap_180nm), got "
                f"'{profile.name}': use --profile memcap_180nm"
            )

    def __init__(self, setup: LearnerSetup) -> None:
        from ..memcap.train import init_weights

        self.check_profile(setup.profile)
        super().__init__(setup)
        t0 = time.perf_counter()
        self.net_config = memcap_config(setup.config)
        cfg = self.net_config
        self.sizes = (int(setup.n_inputs), cfg.hidden, int(setup.n_classes))
        self.w0 = init_weights(
            self.sizes, self.profile, cfg.window, self.rng(self.name, "init"), cfg.init_scale
        )
        self.mapped: dict[str, list[np.ndarray]] = {}
        self.history: dict = {}
        self.results: dict = {}
        self.build_s = time.perf_counter() - t0

    def fit(self, data: TrainingData) -> dict[str, Any]:
        from ..memcap.train import map_naive, train

        cfg = self.net_config
        x, y = np.asarray(data.x, np.float64), np.asarray(data.y)
        for name, mode in (("aware", "aware"), ("naive", "ideal")):
            started = time.perf_counter()
            w, hist = train(x, y, mode, self.profile, cfg, self.rng(self.name, "train"),
                            weights=self.w0)  # fmt: skip
            hist["train_s"] = time.perf_counter() - started
            self.history[name] = hist
            self.mapped[name] = w if mode == "aware" else map_naive(w, cfg.w_max)
        self.examples += 2 * cfg.epochs * len(x)
        return {"learning_curve": self.history, "epochs": cfg.epochs,
                "window_cycles": cfg.window, "sizes": list(self.sizes)}  # fmt: skip

    def _circuit(self, name: str, seed: int | None):
        from ..memcap.network import build_circuit

        cfg = self.net_config
        return build_circuit(self.mapped[name], self.profile, cfg.window, cfg.w_max, seed)

    def predict(self, x) -> np.ndarray:
        return self._circuit("aware", None).forward(np.asarray(x, np.float64)).predicted

    def report(self, x, y, predicted) -> dict[str, Any]:
        from ..hardware.energy import energy_report

        xt = np.asarray(x, np.float64)
        mismatched = self.profile.model.mismatch.sigma > 0
        chips = {"nominal": None} | ({"mismatched": self.seed} if mismatched else {})
        for name in ("aware", "naive"):
            self.results[name] = {}
            for chip, seed in chips.items():
                circuit = self._circuit(name, seed)
                out = circuit.forward(xt)
                ties = np.sum(out.y == out.y.max(axis=1, keepdims=True), axis=1) > 1
                energy = energy_report(circuit.event_counts(out), None, self.profile)
                self.results[name][chip] = {
                    "accuracy": float(np.mean(out.predicted == y)),
                    "tied_fraction": float(np.mean(ties)),
                    "energy_per_inference_J": energy["per_inference_J"],
                    "synaptic_events_per_inference": float(np.mean(out.events)),
                }
                if chip == "nominal":
                    self.results[name]["energy"] = energy
        aware, naive = self.results["aware"]["nominal"], self.results["naive"]["nominal"]
        return {
            "naive_accuracy": naive["accuracy"],
            "accuracy_gap": aware["accuracy"] - naive["accuracy"],
            "circuit": {n: {k: v for k, v in r.items() if k != "energy"}
                        for n, r in self.results.items()},
            "reference_energy_per_inference_J": self.profile.reference_energy_per_inference,
        }  # fmt: skip

    def energy(self) -> dict[str, Any]:
        if not self.results:
            raise DsnnError("memcap: energy is counted on the test set: call report first")
        return self.results["aware"]["energy"]

    def summary_note(self) -> str:
        if not self.results:
            return ""
        aware, naive = self.results["aware"]["nominal"], self.results["naive"]["nominal"]
        ref = self.profile.reference_energy_per_inference
        return (
            f"; naive mapping {naive['accuracy']:.2%} "
            f"(gap {100 * (aware['accuracy'] - naive['accuracy']):+.2f} pp); "
            f"{aware['energy_per_inference_J'] * 1e9:.2f} nJ/inference"
            + (f" (paper {ref * 1e9:.2f} nJ)" if ref else "")
        )

    def plots(self, out, title) -> list[str]:

        from ..plots import save_figure, subplots

        fig, ax = subplots(figsize=(5.5, 4))
        for name in ("aware", "naive"):
            curve = np.asarray(self.history[name]["train_accuracy"]) * 100
            ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", ms=3,
                    label=f"{name} (train)")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel("training accuracy (%)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
        return [save_figure(fig, out / "learning_curve.png")]

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{name}_w{k}": w for name, ws in self.mapped.items() for k, w in enumerate(ws)}

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.arrays()

    def load_state_dict(self, state) -> None:
        n_layers = len(self.sizes) - 1
        self.mapped = {
            name: [np.array(state[f"{name}_w{k}"]) for k in range(n_layers)]
            for name in ("aware", "naive")
            if f"{name}_w0" in state
        }

    def describe(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "window_cycles": self.net_config.window,
                "w_max": self.net_config.w_max}  # fmt: skip
