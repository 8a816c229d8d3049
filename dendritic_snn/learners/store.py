"""The trained model of a run: ``model.npz`` (the learner's state) and ``model.json``.

``model.json`` holds what rebuilds the learner without replaying the run: the learner name,
its input kind, sizes, hyperparameters, seed, class names, the task's input encoding, and the
run's hardware profile itself (its validated YAML content, mismatch included), so the chip
is the one the run trained on even if the profile file changed since.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DsnnError
from ..results import write_arrays, write_json
from .base import Learner, LearnerSetup
from .registry import get_learner

MODEL_STATE = "model.npz"
MODEL_META = "model.json"
#: version of the model file layout
FORMAT = 1


def save_model(out: Path, learner: Learner, task: str, classes: list[str],
               encoding: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write ``model.npz`` and ``model.json`` into ``out``; returns the metadata."""
    setup = learner.setup
    meta = {
        "format": FORMAT,
        "learner": learner.name,
        "input_kind": learner.input_kind,
        "task": task,
        "seed": learner.seed,
        "n_inputs": setup.n_inputs,
        "n_classes": setup.n_classes,
        "classes": [str(c) for c in classes],
        "encoding": encoding or {},
        "config": setup.config,
        "profile": {
            "name": learner.profile.name,
            "sha256": learner.profile.sha256,
            "raw": json.loads(json.dumps(learner.profile.raw, default=str)),
        },
        "model": learner.describe(),
    }
    write_arrays(Path(out) / MODEL_STATE, **learner.state_dict())
    write_json(Path(out) / MODEL_META, meta)
    return meta


def read_model_meta(run_dir: Path | str) -> dict[str, Any]:
    """The ``model.json`` of a run directory; :class:`DsnnError` if it has none."""
    path = Path(run_dir) / MODEL_META
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DsnnError(f"{run_dir}: no saved model ({MODEL_META}); rerun the task") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DsnnError(f"{path}: unreadable model metadata ({err})") from None


def read_model_state(run_dir: Path | str) -> dict[str, np.ndarray]:
    """The arrays of ``model.npz``."""
    path = Path(run_dir) / MODEL_STATE
    try:
        with np.load(path) as arrays:
            return {k: np.array(arrays[k]) for k in arrays.files}
    except (OSError, ValueError) as err:
        raise DsnnError(f"{path}: unreadable model state ({err})") from None


def model_profile(meta: dict[str, Any]):
    """The hardware profile a saved model was trained on."""
    from ..hardware.profiles import Profile, ProfileError

    prof = meta["profile"]
    try:
        return Profile(prof["raw"], f"{prof['name']} (saved with the model)")
    except ProfileError as err:
        raise DsnnError(str(err)) from None


def load_model(run_dir: Path | str, simulate: bool = False) -> tuple[Learner, dict[str, Any]]:
    """Rebuild the trained learner of a run directory from its saved model.

    Parameters
    ----------
    run_dir
        Run directory with ``model.json`` and ``model.npz``.
    simulate
        Also build the learner's simulator where it has one (needed to :meth:`predict`;
        not needed to read weights, e.g. for export).

    Returns
    -------
    tuple
        ``(learner, metadata)``.
    """
    meta = read_model_meta(run_dir)
    cls = get_learner(meta["learner"])
    setup = LearnerSetup(
        profile=model_profile(meta),
        seed=int(meta["seed"]),
        config=meta["config"],
        n_inputs=int(meta["n_inputs"]),
        n_classes=int(meta["n_classes"]),
    )
    try:
        learner = cls(setup, simulate=simulate) if _takes_simulate(cls) else cls(setup)
    except TypeError as err:
        raise DsnnError(f"{run_dir}: cannot rebuild learner '{cls.name}' ({err})") from None
    try:
        learner.load_state_dict(read_model_state(run_dir))
    except (KeyError, ValueError) as err:
        msg = f"{run_dir}: saved model does not fit learner '{cls.name}' ({err})"
        raise DsnnError(msg) from None
    return learner, meta


def _takes_simulate(cls: type[Learner]) -> bool:
    import inspect

    return "simulate" in inspect.signature(cls.__init__).parameters
