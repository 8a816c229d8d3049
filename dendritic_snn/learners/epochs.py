"""Training in epochs with a learning curve and resumable checkpoints (rate EP, EqSpike).

Epoch :math:`e = 1, 2, \\dots` sees the training images shifted by up to ``augment_shift``
pixels (fresh seeded offsets; 0 = none) with learning rates ``lrs * lr_decay**(e - 1)``. After
every epoch the learner's monitor sets are scored (the learning curve) and ``checkpoint.npz``
(weights, persistent particles, epoch, RNG state, curve) is written atomically into the run
directory; ``resume: true`` continues from it, so an interrupted run loses at most one epoch.
Resuming refuses a checkpoint made with other training settings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DsnnError
from ..results import write_arrays
from .base import TrainingData

CHECKPOINT = "checkpoint.npz"
#: config keys that do not change what training computes (may differ on resume)
NOT_TRAINING = ("epochs", "resume", "n_test", "n_eval", "test_data_dir", "data_dir",
                "checkpoint_every")  # fmt: skip


def fingerprint(seed: int, learner: str, config: dict[str, Any]) -> str:
    """What a checkpoint must have been made with to be resumed."""
    kept = {k: v for k, v in config.items() if k not in NOT_TRAINING}
    return json.dumps({"seed": seed, "learner": learner, **kept}, sort_keys=True)


def save_checkpoint(path: Path, net, epoch: int, rng, history: dict, fp: str) -> None:
    """Write the checkpoint atomically (arrays, epoch, RNG state and history as JSON)."""
    meta = {"epoch": epoch, "rng": rng.bit_generator.state, "history": history, "config": fp}
    write_arrays(path, **net.state_dict(), meta=np.array(json.dumps(meta)))


def load_checkpoint(path: Path, net, rng, fp: str) -> tuple[int, dict]:
    """Restore ``net`` and ``rng`` from ``path``; returns (epoch, history)."""
    try:
        with np.load(path) as arrays:
            meta = json.loads(str(arrays["meta"]))
            if meta["config"] != fp:
                raise DsnnError(
                    f"{path}: checkpoint was made with other training settings or seed; "
                    "use a new --out directory or the same settings"
                )
            net.load_state_dict(arrays)
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
        if isinstance(err, DsnnError):
            raise
        raise DsnnError(f"{path}: unreadable checkpoint ({err})") from None
    rng.bit_generator.state = meta["rng"]
    return int(meta["epoch"]), meta["history"]


def train_epochs(
    net,
    data: TrainingData,
    rng: np.random.Generator,
    config: dict[str, Any],
    fp: str,
    out: Path | None,
    progress: bool,
    desc: str,
) -> tuple[dict, int]:
    """Train ``net`` (``train_epoch`` / ``predict`` / ``state_dict``) for ``config["epochs"]``.

    Parameters
    ----------
    net
        A :class:`~dendritic_snn.eqspike.rate_ep.RateEP` or
        :class:`~dendritic_snn.eqspike.engine.EqSpike`.
    data
        Training set and monitor sets (float arrays).
    rng
        The training generator (order, nudging signs, shifts).
    config
        Reads ``epochs``, ``augment_shift``, ``lr_decay`` and ``resume``.
    fp
        Checkpoint fingerprint (:func:`fingerprint`).
    out
        Directory of ``checkpoint.npz`` (None: no checkpoints).
    progress, desc
        Progress bar.

    Returns
    -------
    tuple
        ``(history, start_epoch)``: the learning curve and the epoch resumed from (0 = fresh).
    """
    from tqdm.auto import tqdm

    from ..data.datasets import random_shift

    x, y = np.asarray(data.x, np.float64), np.asarray(data.y)
    shift = int(config.get("augment_shift", 0))
    history: dict = {"epoch": [], "train_accuracy": []}
    history.update({f"{name}_accuracy": [] for name in data.monitor})
    history["epoch_s"] = []
    path = None if out is None else Path(out) / CHECKPOINT
    done = 0
    if path is not None and config.get("resume") and path.is_file():
        done, history = load_checkpoint(path, net, rng, fp)
    epochs = int(config["epochs"])
    bar = tqdm(total=max(epochs - done, 0) * len(x), disable=not progress, unit="ex", desc=desc)
    for epoch in range(done + 1, epochs + 1):
        started = time.perf_counter()
        x_epoch = random_shift(x, shift, rng) if shift > 0 else x
        scale = float(config.get("lr_decay", 1.0)) ** (epoch - 1)
        train_acc = net.train_epoch(x_epoch, y, rng, callback=bar.update, lr_scale=scale)
        history["epoch"].append(epoch)
        history["train_accuracy"].append(train_acc)
        history["epoch_s"].append(time.perf_counter() - started)
        for name, (mx, my) in data.monitor.items():
            acc = float(np.mean(net.predict(np.asarray(mx, np.float64)) == my))
            history[f"{name}_accuracy"].append(acc)
        bar.set_postfix(train=f"{train_acc:.3f}")
        if path is not None:
            save_checkpoint(path, net, epoch, rng, history, fp)
    bar.close()
    return history, done


def curve_arrays(history: dict) -> dict[str, np.ndarray]:
    """The accuracy curves of ``history`` as arrays (for ``arrays.npz``)."""
    return {k: np.asarray(v) for k, v in history.items() if k.endswith("_accuracy")}
