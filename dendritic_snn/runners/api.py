"""The Python API behind ``dsnn task``: run one task and write its run directory.

Each task has a spec in ``tasks/<name>.yaml`` and a runner module
``dendritic_snn.runners.<name>`` with a function ``run(ctx: RunContext) -> TaskOutput``.
:func:`run_task` resolves the profile and config, calls the runner, and writes
``result.json`` (the keys of :mod:`dendritic_snn.results`), ``arrays.npz`` and the plots.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DsnnError
from ..hardware.profiles import Profile, load_profile
from ..results import (
    check_writable,
    default_run_dir,
    run_directory,
    versions,
    write_arrays,
    write_json,
)
from ..seeding import seeded_rng
from .spec import apply_overrides, list_task_specs, load_task_spec


@dataclass
class RunContext:
    """What a runner gets: the resolved inputs of one run."""

    task: str
    learner: str
    profile: Profile
    seed: int
    config: dict[str, Any]
    out: Path  # where the runner writes; renamed to the run directory when the run succeeds
    progress: bool = True

    def rng(self, *keys: str) -> np.random.Generator:
        """A generator derived from the run seed and a purpose name (independent streams)."""
        return seeded_rng(self.seed, *keys)


@dataclass
class TaskOutput:
    """What a runner returns."""

    metrics: dict[str, Any]
    energy: dict[str, Any]
    summary: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    build_s: float = 0.0
    examples: int = 0


#: Largest seed: seeds are 32-bit (NumPy ``SeedSequence`` entropy, Brian2's generator).
SEED_MAX = 2**32 - 1


def list_tasks() -> list[str]:
    """Names of the built-in tasks."""
    return list_task_specs()


#: runners of a learner on the other task family (default: ``dendritic_snn.runners.<task>``)
LEARNER_RUNNERS = {
    ("pattern_discrimination", "eqspike"): "pattern_vector",
    ("pattern_discrimination", "rate_ep"): "pattern_vector",
    ("mnist", "dendritic"): "mnist_dendritic",
}


def _runner(task: str, learner: str) -> Callable[[RunContext], TaskOutput]:
    name = LEARNER_RUNNERS.get((task, learner), task)
    try:
        module = importlib.import_module(f"dendritic_snn.runners.{name}")
    except ModuleNotFoundError:
        raise DsnnError(f"task '{task}' has a spec but no runner yet") from None
    return module.run


def run_task(
    task: str,
    learner: str | None = None,
    profile: str | Path | Profile | None = None,
    mismatch: float | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    dry_run: bool = False,
) -> dict:
    """Run one task and write its run directory.

    Parameters
    ----------
    task
        Built-in task name (see :func:`list_tasks`).
    learner
        Learner name; the spec's default when None.
    profile
        Profile name, path or object; when None, the spec's default for the learner.
    mismatch
        Relative mismatch sigma overriding the profile's (None keeps the profile's).
    seed
        Seed for the chip (mismatch), the data and the learner.
    out
        Run directory (default ``runs/<task>-<timestamp>``).
    overrides
        Config fields to change (``--set key=value``).
    progress
        Show progress bars.
    dry_run
        Only resolve and check the inputs (task, learner, profile, config, run directory) and
        return them; nothing is run or written.

    Returns
    -------
    dict
        The content written to ``result.json``, plus ``run_dir``.

    Raises
    ------
    DsnnError
        For bad input (one line); then no run directory is left behind, nor after a failed
        run unless it saved a checkpoint to resume from.
    """
    spec = load_task_spec(task)
    learner = learner or spec.default_learner
    if learner not in spec.learners:
        raise DsnnError(f"--learner {learner}: task '{task}' runs with {', '.join(spec.learners)}")
    if not isinstance(profile, Profile):
        profile = load_profile(profile or spec.profile_for(learner))
    prof = profile
    if mismatch is not None:
        if isinstance(mismatch, bool) or not 0.0 <= mismatch < 1.0:
            raise DsnnError(f"--mismatch {mismatch}: must be in [0, 1)")
        prof = prof.with_mismatch(mismatch)
    integer = isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    if not integer or not 0 <= seed <= SEED_MAX:
        raise DsnnError(f"--seed {seed}: must be an integer in [0, {SEED_MAX}]")
    config = apply_overrides(spec.config, overrides or {}, task)
    run_dir = Path(out) if out is not None else default_run_dir(task)
    if dry_run:
        check_writable(run_dir)
        resolved = {"task": task, "learner": learner, "seed": int(seed), "config": config}
        profile_info = {"name": prof.name, "sha256": prof.sha256}
        mismatch_sigma = prof.model.mismatch.sigma
        return {**resolved, "profile": profile_info, "mismatch": mismatch_sigma,
                "run_dir": str(run_dir)}  # fmt: skip
    with run_directory(run_dir) as work:
        ctx = RunContext(task, learner, prof, int(seed), config, work, progress)
        start = time.perf_counter()
        output = _runner(task, learner)(ctx)
        wall = time.perf_counter() - start

        if output.arrays:
            write_arrays(work / "arrays.npz", **output.arrays)
        result = {
            "task": task,
            "learner": learner,
            "profile": {"name": prof.name, "sha256": prof.sha256},
            "seed": ctx.seed,
            "mismatch": prof.model.mismatch.sigma,
            "config": config,
            "metrics": output.metrics,
            "energy": output.energy,
            "timing": {
                "wall_s": wall,
                "build_s": output.build_s,
                "examples_per_s": output.examples / wall if output.examples and wall > 0 else None,
            },
            "versions": versions(),
            "summary": output.summary,
            "plots": output.plots,
        }
        write_json(work / "result.json", result)
    return {**result, "run_dir": str(run_dir)}
