"""Learner ``rate_ep``: rate-based Equilibrium Propagation (Scellier & Bengio 2017).

Adapts :class:`~dendritic_snn.eqspike.rate_ep.RateEP` (the equations are in
:mod:`dendritic_snn.eqspike.rate_ep`): a layered Hopfield network with
:math:`\\rho(s) = \\mathrm{clip}(s, 0, 1)`, free phase, nudged phase(s) of strength
:math:`\\beta`, and the update :math:`\\Delta W \\propto (\\rho_i^\\beta\\rho_j^\\beta
- \\rho_i^0\\rho_j^0)/\\beta`. Input kind: vectors. Hyperparameters: the ``mnist`` task's
``hidden``, ``lrs``, ``beta``, ``nudge``, ``eps``, ``n_free``, ``n_nudge``, ``n_eval``,
``batch_size``, ``persistent``, ``continual``, ``epochs``, ``lr_decay``, ``augment_shift``.
No physical circuit: the energy section is empty and ``operations`` counts the
multiply-accumulates instead.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import DsnnError
from .base import Learner, LearnerSetup, TrainingData
from .epochs import curve_arrays, fingerprint, train_epochs
from .registry import register


def rate_ep_config(cfg: dict[str, Any], n_inputs: int, n_classes: int):
    """The :class:`~dendritic_snn.eqspike.rate_ep.RateEPConfig` of a config mapping."""
    from ..eqspike.rate_ep import RateEPConfig

    try:
        return RateEPConfig(
            sizes=(int(n_inputs), *[int(h) for h in cfg["hidden"]], int(n_classes)),
            beta=float(cfg["beta"]),
            nudge=str(cfg["nudge"]),
            eps=float(cfg["eps"]),
            n_free=int(cfg["n_free"]),
            n_nudge=int(cfg["n_nudge"]),
            n_eval=int(cfg["n_eval"]),
            lrs=tuple(float(a) for a in cfg["lrs"]),
            batch_size=int(cfg["batch_size"]),
            persistent=bool(cfg["persistent"]),
            continual=bool(cfg["continual"]),
        )
    except (ValueError, TypeError) as err:
        raise DsnnError(f"rate_ep: {err}") from None


def operation_counts(cfg) -> dict[str, float]:
    """Multiply-accumulates of the rate network (no spikes: the profile's per-spike energies do
    not apply): the input projection once per phase, the recurrent ones per step."""
    sizes = cfg.sizes
    bottom = sizes[0] * sizes[1]
    recurrent = sum(2 * a * b for a, b in zip(sizes[1:-1], sizes[2:], strict=True))
    phases = 3 if cfg.nudge == "symmetric" else 2
    steps = cfg.n_free + (phases - 1) * cfg.n_nudge
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    writes = n_weights * (cfg.n_nudge if cfg.continual else 1) / cfg.batch_size
    return {
        "macs_per_inference": bottom + cfg.n_eval * recurrent,
        "macs_per_training_example": phases * bottom + steps * recurrent,
        "weight_writes_per_training_example": writes,
    }


@register
class RateEPLearner(Learner):
    """Rate-based EqProp on vectors (see the module docstring)."""

    name = "rate_ep"
    input_kind = "vectors"
    default_profile = "ideal"
    home_task = "mnist"
    title = "rate EP"

    def __init__(self, setup: LearnerSetup) -> None:
        from ..eqspike.rate_ep import RateEP

        super().__init__(setup)
        t0 = time.perf_counter()
        self.net_config = rate_ep_config(setup.config, setup.n_inputs, setup.n_classes)
        self.net = RateEP(self.net_config, self.rng(self.name, "init"))
        self.history: dict = {}
        self.build_s = time.perf_counter() - t0
        self.resumed_from = 0

    def fit(self, data: TrainingData) -> dict[str, Any]:
        fp = fingerprint(self.seed, self.name, self.config)
        self.history, self.resumed_from = train_epochs(
            self.net, data, self.rng(self.name, "train"), self.config, fp, self.setup.out,
            self.setup.progress, f"{data.name} {self.name}",
        )  # fmt: skip
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

    def report(self, x, y, predicted) -> dict[str, Any]:
        return {"operations": operation_counts(self.net_config)}

    def plots(self, out, title) -> list[str]:
        from ..plots import learning_curve_plot

        return [learning_curve_plot(out / "learning_curve.png", self.history, title)]

    def arrays(self) -> dict[str, np.ndarray]:
        return curve_arrays(self.history)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.net.state_dict().items() if not k.startswith("particles")}

    def load_state_dict(self, state) -> None:
        self.net.load_state_dict(state)

    def describe(self) -> dict[str, Any]:
        return {"sizes": list(self.net_config.sizes), "eps": self.net_config.eps,
                "n_eval": self.net_config.n_eval}  # fmt: skip
