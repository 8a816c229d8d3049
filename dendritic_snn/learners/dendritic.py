"""Learner ``dendritic``: dendritic error propagation on DPI circuits (Cartiglia et al. 2020).

Adapts :class:`~dendritic_snn.dendritic.experiment.Experiment` (equations in
:mod:`dendritic_snn.dendritic.network` and :mod:`dendritic_snn.dendritic.plasticity`):
``n_inputs`` input channels project to ``n_pyramidal`` pyramidal neurons (basal dendrites,
``sparsity`` of the connections removed), which project to one readout and one interneuron per
class; readouts feed back to the apical dendrites. Every training presentation carries the
900 Hz teacher on its class's readout (and, with ``teach_nontarget``, the teacher toward
``E_lo`` on the others); the Eq. 3 rule learns at every projection. Before training, the
unsupervised gain calibrations run on ``TrainingData.calibration`` (or are skipped when it is
None). Prediction: one presentation without teacher or plasticity; the readout with the most
spikes wins. Input kind: spike patterns (all of one duration). Hyperparameters: the
``pattern_discrimination`` task's model and plasticity fields.

With a run directory and ``checkpoint_every`` > 0, ``checkpoint.npz`` (the chip's learned
state, the calibration, the training record so far) is written atomically every
``checkpoint_every`` training presentations; ``resume: true`` continues from it and gives the
result of an uninterrupted run (every random draw of a presentation is fixed by the seed and
the presentation's index).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

import numpy as np

from .base import Learner, LearnerEvents, LearnerSetup, TrainingData
from .registry import register


def structure_for(cfg: dict[str, Any], n_in: int, n_p: int, n_r: int, profile):
    """The :class:`~dendritic_snn.dendritic.network.Structure` of a config.

    One presentation lasts ``duration + tail`` seconds.
    """
    from ..dendritic.network import Structure

    n_steps = int(round((cfg["duration"] + cfg["tail"]) / profile.dt))
    return Structure(n_in=int(n_in), n_p=int(n_p), n_r=int(n_r), n_steps=n_steps,
                     dt=profile.dt, noise=True, **_rules(cfg))  # fmt: skip


def _rules(cfg: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~dendritic_snn.dendritic.network.Structure` fields a config chooses."""
    return {"in_p_rule": str(cfg.get("in_p_rule", "pre")),
            "readout_rule": str(cfg.get("readout_rule", "prediction")),
            "signed_readout": bool(cfg.get("signed_readout", False))}  # fmt: skip


def build_experiment(cfg: dict[str, Any], n_in: int, n_r: int, profile, seed: int, rng,
                     simulate: bool = True):  # fmt: skip
    """``(experiment, build_s)``: the chip of ``(profile, seed)`` with its network.

    ``simulate=False`` builds no simulator (for reading a saved model).
    """
    from ..dendritic.experiment import Experiment, make_simulator

    st = structure_for(cfg, n_in, int(cfg["n_pyramidal"]), n_r, profile)
    # the chip before the simulator: drawing it overlaps a background compilation (prepare)
    exp = Experiment(None, st, profile, seed, cfg, rng)
    exp.sim, build_s = make_simulator(st, profile, cfg) if simulate else (None, 0.0)
    return exp, build_s


def _mean(counts: list):
    from ..hardware.energy import EventCounts

    total = EventCounts()
    for c in counts:
        total = total + c
    return total.scaled(1 / len(counts)) if counts else None


@register
class DendriticLearner(Learner):
    """Dendritic error propagation on the DPI chip (see the module docstring)."""

    name = "dendritic"
    input_kind = "spikes"
    default_profile = "dynapse_se"
    home_task = "pattern_discrimination"
    title = "dendritic"

    @classmethod
    def prepare(cls, config: dict[str, Any]) -> None:
        """Compile the engine's step loop for ``config`` in the background (see
        :func:`~dendritic_snn.dendritic.engine.compile_in_background`)."""
        if str(config.get("engine", "numba")) == "numba":
            from ..dendritic.engine import compile_in_background
            from ..dendritic.network import Structure

            compile_in_background(Structure(**_rules(config)))

    def __init__(self, setup: LearnerSetup, simulate: bool = True) -> None:
        super().__init__(setup)
        self.exp, self.build_s = build_experiment(
            self.config, setup.n_inputs, setup.n_classes, self.profile, self.seed,
            self.rng("network"), simulate,
        )  # fmt: skip
        from ..dendritic.experiment import learning_trend

        self.w_before = {p: w.copy() for p, w in self.exp.weights.items()}
        #: stop-learning summary of the training (:func:`~.experiment.learning_trend`)
        self.trend: dict[str, Any] = learning_trend([])
        self.updates: list[float] = []
        self.errors: list[float] = []
        self.train_events: list = []
        self.test_events: list = []
        self.r_spikes: list = []
        self.test_labels: np.ndarray | None = None
        #: spikes of the most active readout in each test presentation
        self.test_winner_spikes: list[int] = []

    def _simulator(self) -> None:
        from ..dendritic.experiment import make_simulator

        if self.exp.sim is None:
            self.exp.sim, self.build_s = make_simulator(self.exp.st, self.profile, self.config)

    def fit(self, data: TrainingData) -> dict[str, Any]:
        from tqdm import tqdm

        from ..dendritic.experiment import learning_trend
        from ..dendritic.network import PLASTIC

        self._simulator()
        n_train = len(data.x)
        path, every = self._checkpoint_path(), int(self.config.get("checkpoint_every") or 0)
        fp = self._fingerprint(data)
        start = 0
        if path is not None and self.config.get("resume") and path.is_file():
            start, calib, by_proj = self._load_checkpoint(path, fp)
        else:
            calib = {"P": [], "R": []}
            if data.calibration is not None and len(data.calibration):
                calib = self.exp.calibrate(list(data.calibration))
            self.w_before = {p: w.copy() for p, w in self.exp.weights.items()}
            by_proj = dict.fromkeys(PLASTIC, 0)
        nontarget = bool(self.config["teach_nontarget"])
        lr0 = dict(self.exp.plast.lr)
        lr_final = float(self.config.get("lr_final", 1.0))
        bar = tqdm(total=n_train, initial=start, desc=f"{data.name} train", unit="pres",
                   disable=not self.setup.progress)  # fmt: skip
        for n in range(start, n_train):
            # learning-rate schedule: lr0 * lr_final**(n / (N - 1)) (lr_final 1: constant)
            factor = lr_final ** (n / max(n_train - 1, 1))
            self.exp.plast.lr = {proj: rate * factor for proj, rate in lr0.items()}
            p = self.exp.present(data.x[n], int(data.y[n]), learn=True, teach_nontarget=nontarget)
            self.updates.append(sum(p.updates.values()))
            for proj, n_upd in p.updates.items():
                by_proj[proj] += n_upd
            self.errors.append(p.error_R)
            self.train_events.append(p.events)
            bar.update()
            if path is not None and every > 0 and (n + 1) % every == 0 and n + 1 < n_train:
                self.exp.plast.lr = lr0
                self._save_checkpoint(path, fp, n + 1, calib, by_proj)
        bar.close()
        self.exp.plast.lr = lr0
        target = float(self.config.get("recalibrate_readout_spikes", 0) or 0)
        recalib: list[float] = []
        if target > 0 and data.calibration is not None and len(data.calibration):
            recalib = self.exp.calibrate_readout_bias(
                list(data.calibration), target, int(self.config.get("calibrate_iters", 8))
            )
        self.examples += n_train - start
        st = self.exp.st
        self.trend = learning_trend(np.asarray(self.updates, float), self.errors)
        return {
            "resumed_from_presentation": start,
            **self.trend,
            "weight_updates_by_projection": by_proj,
            "calibration_mean_P_spikes": calib["P"],
            "calibration_mean_R_spikes": calib["R"],
            "recalibration_mean_R_spikes": recalib,
            "teacher": "target+nontarget" if nontarget else "target only",
            "sizes": [st.n_in, st.n_p, st.n_r],
            "build_s": self.build_s,
        }

    def _checkpoint_path(self) -> Path | None:
        from .epochs import CHECKPOINT

        return None if self.setup.out is None else Path(self.setup.out) / CHECKPOINT

    def _fingerprint(self, data: TrainingData) -> str:
        """What a checkpoint must have been made with: seed, hyperparameters, training data
        (count and a checksum of the label order)."""
        from .epochs import fingerprint

        labels = zlib.crc32(np.asarray(data.y, np.int64).tobytes())
        return fingerprint(self.seed, self.name, {**self.config, "n_train": len(data.x),
                                                  "labels_crc32": labels})  # fmt: skip

    def _save_checkpoint(self, path: Path, fp: str, done: int, calib: dict, by_proj: dict):
        from ..results import write_arrays

        meta = {"config": fp, "presented": done, "calibration": calib, "by_projection": by_proj}
        write_arrays(
            path, **self.state_dict(), **{f"before.{p}": w for p, w in self.w_before.items()},
            updates=np.asarray(self.updates, float), errors=np.asarray(self.errors, float),
            train_events=np.array([astuple(e) for e in self.train_events], float),
            meta=np.array(json.dumps(meta)),
        )  # fmt: skip

    def _load_checkpoint(self, path: Path, fp: str) -> tuple[int, dict, dict]:
        """Restore the state :meth:`_save_checkpoint` wrote; ``(presented, calib, by_proj)``."""
        from ..errors import DsnnError
        from ..hardware.energy import EventCounts

        try:
            with np.load(path) as arrays:
                meta = json.loads(str(arrays["meta"]))
                if meta["config"] != fp:
                    raise DsnnError(
                        f"{path}: checkpoint was made with other training settings, data or "
                        "seed; use a new --out directory or the same settings"
                    )
                self.load_state_dict(arrays)
                self.w_before = {key.partition(".")[2]: np.array(arrays[key], float)
                                 for key in arrays.files if key.startswith("before.")}  # fmt: skip
                self.updates = arrays["updates"].tolist()
                self.errors = arrays["errors"].tolist()
                kinds = [int if f.type == "int" else float for f in fields(EventCounts)]
                self.train_events = [
                    EventCounts(*(kind(v) for kind, v in zip(kinds, row, strict=True)))
                    for row in arrays["train_events"]
                ]
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
            if isinstance(err, DsnnError):
                raise
            raise DsnnError(f"{path}: unreadable checkpoint ({err})") from None
        return int(meta["presented"]), meta["calibration"], meta["by_projection"]

    def predict(self, x) -> np.ndarray:
        from tqdm import tqdm

        from ..dendritic.experiment import classify

        self._simulator()
        out = np.zeros(len(x), int)
        duration = self.exp.st.duration
        # one step loop per core (at most 8) at once
        presentations = self.exp.present_without_learning(x, workers=min(os.cpu_count() or 1, 8))
        for n, p in enumerate(tqdm(presentations, total=len(x), desc="test",
                                   disable=not self.setup.progress, unit="pres")):  # fmt: skip
            out[n] = classify(p)
            self.test_winner_spikes.append(int(p.counts_R.max()))
            self.test_events.append(p.events)
            i, t = p.spikes["R"]
            self.r_spikes.append((i, t + n * duration))
        self.examples += len(x)
        return out

    def report(self, x, y, predicted) -> dict[str, Any]:
        self.test_labels = np.asarray(y)
        n = len(self.train_events) + len(self.test_events)
        spikes, silent = self._readout_activity()
        return {
            "biological_time_s": n * self.exp.st.duration,
            "readout_spikes_per_test_presentation": spikes,
            "test_presentations_without_readout_spike": silent,
        }

    def _readout_activity(self) -> tuple[float, float]:
        """The winning readout's mean spikes per test presentation, and the share of test
        presentations in which no readout fired."""
        winner = np.asarray(self.test_winner_spikes, float)
        return float(winner.mean()), float(np.mean(winner == 0))

    def event_counts(self) -> LearnerEvents:
        return LearnerEvents(_mean(self.test_events), _mean(self.train_events))

    def summary_note(self) -> str:
        from ..runners.verdicts import stop_learning_phrase

        trend = self.trend
        note = "; stop-learning: " + stop_learning_phrase(
            trend["weight_updates_per_presentation_first_third"],
            trend["weight_updates_per_presentation_last_third"],
            trend.get("readout_error_first_third"),
            trend.get("readout_error_last_third"),
        )
        if self.test_winner_spikes:
            spikes, silent = self._readout_activity()
            note += f"; winning readout {spikes:.1f} spikes per test presentation"
            if silent > 0:
                note += (f" (no readout spike in {silent:.0%}: decided by the "
                         "readouts' somatic currents)")  # fmt: skip
        return note

    def plots(self, out, title) -> list[str]:
        from ..dendritic import plots
        from ..dendritic.experiment import calcium_trace

        files = [plots.updates_plot(out / "weight_updates.png", np.asarray(self.updates, float),
                                    np.asarray(self.errors))]  # fmt: skip
        keep = [p for p in ("in_p", "p_r")]
        mask = self.exp.masks
        files.append(plots.weight_histograms(
            out / "weights.png", {p: self.w_before[p][mask[p] > 0] for p in keep},
            {p: self.exp.weights[p][mask[p] > 0] for p in keep}))  # fmt: skip
        if self.r_spikes and self.test_labels is not None:
            k, dur = self.exp.st.n_r, self.exp.st.duration
            n_test = len(self.r_spikes)
            ri = np.concatenate([s[0] for s in self.r_spikes])
            rt = np.concatenate([s[1] for s in self.r_spikes])
            t_end = n_test * dur
            t, _ = calcium_trace(np.zeros(0), t_end)
            traces = {f"readout {r}": calcium_trace(rt[ri == r], t_end)[1] for r in range(k)}
            phases = [(f"p{c}", n * dur, (n + 1) * dur) for n, c in enumerate(self.test_labels)]
            files.insert(0, plots.calcium_plot(
                out / "calcium_test.png", t, traces, phases if n_test <= 40 else [],
                title="readout calcium during test presentations"))  # fmt: skip
        return files

    def arrays(self) -> dict[str, np.ndarray]:
        from ..dendritic.network import PLASTIC

        return {
            "updates_per_presentation": np.asarray(self.updates, float),
            "readout_error": np.asarray(self.errors),
            **{f"w_{p}_before": self.w_before[p] for p in PLASTIC},
            **{f"w_{p}_after": self.exp.weights[p] for p in PLASTIC},
            "w_r_p": self.exp.weights["r_p"],
            "mask_in_p": self.exp.masks["in_p"],
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        exp = self.exp
        state = {f"w.{p}": np.asarray(w) for p, w in exp.weights.items()}
        state.update({f"mask.{p}": np.asarray(m) for p, m in exp.masks.items()})
        state.update({f"chip.{pop}.{var}": np.asarray(v, float)
                      for (pop, var), v in exp.chip.items()})  # fmt: skip
        state["readout_gain"] = np.asarray(exp.readout_gain, float)
        state["teacher_gain"] = np.asarray(exp.teacher_gain, float)
        state["input_weight_sums"] = np.asarray(exp.input_weight_sums, float)
        state["n_presented"] = np.asarray(exp.n_presented, np.int64)
        return state

    def load_state_dict(self, state) -> None:
        exp = self.exp
        for key in state:
            kind, _, rest = key.partition(".")
            if kind == "w":
                exp.weights[rest] = np.array(state[key], float)
            elif kind == "mask":
                exp.masks[rest] = np.array(state[key], float)
            elif kind == "chip":
                pop, _, var = rest.partition(".")
                exp.chip[(pop, var)] = np.array(state[key], float)
        exp.readout_gain = np.array(state["readout_gain"], float)
        exp.teacher_gain = np.array(state["teacher_gain"], float)
        exp.input_weight_sums = np.array(state["input_weight_sums"], float)
        exp.n_presented = int(state["n_presented"])

    def describe(self) -> dict[str, Any]:
        st, model = self.exp.st, self.exp.model
        return {
            "sizes": [st.n_in, st.n_p, st.n_r],
            "dt_s": float(st.dt),
            "presentation_s": float(st.duration),
            "model_params": {
                "I_ref": float(model.I_ref), "tau_S": float(model.tau_S),
                "leak": float(model.leak), "alpha_B": float(model.alpha_B),
                "Iw0": {k: float(v) for k, v in model.Iw0.items()},
            },
        }  # fmt: skip
