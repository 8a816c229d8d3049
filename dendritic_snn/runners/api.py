"""The Python API behind ``dsnn task``: run one task and write its run directory.

Each task has a spec in ``tasks/<name>.yaml`` and a runner module
``dendritic_snn.runners.<name>`` with a function ``run(ctx: RunContext) -> TaskOutput``. A
runner that declares ``INPUT_KINDS`` runs any registered learner taking one of those input
kinds (:mod:`dendritic_snn.learners`); the run's learner is ``ctx.learner``.
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
from .spec import TaskSpec, apply_overrides, list_task_specs, load_task_spec


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


def _runner_module(task: str):
    try:
        return importlib.import_module(f"dendritic_snn.runners.{task}")
    except ModuleNotFoundError:
        raise DsnnError(f"task '{task}' has a spec but no runner yet") from None


def task_learners(task: str) -> list[str]:
    """Learners that can run ``task``.

    A task whose runner declares ``INPUT_KINDS`` runs every registered learner taking one of
    those kinds (:func:`dendritic_snn.learners.available`); a characterisation task without
    them runs the learners its spec lists.
    """
    kinds = getattr(_runner_module(task), "INPUT_KINDS", None)
    if kinds is None:
        return list(load_task_spec(task).learners)
    from ..learners import available

    return available(kinds)


def _runner(task: str) -> Callable[[RunContext], TaskOutput]:
    return _runner_module(task).run


def default_profile(spec: TaskSpec, learner: str) -> str:
    """The spec's profile for ``learner``, else the learner's own default, else the spec's."""
    if learner in spec.learner_profiles:
        return spec.learner_profiles[learner]
    if getattr(_runner_module(spec.task), "INPUT_KINDS", None) is not None:
        from ..learners import get_learner

        own = get_learner(learner).default_profile
        if own:
            return own
    return spec.default_profile


def _prepare(learner: str, spec: TaskSpec, config: dict[str, Any]) -> None:
    """Let the learner start its one-off work (:meth:`~.learners.base.Learner.prepare`) while
    the run starts up, on a task whose config is the learner's own: its home task, or a task
    that runs only this learner. Bad input is left to the checks that follow to report."""
    from ..learners import get_learner

    try:
        cls = get_learner(learner)
        if cls.home_task == spec.task or list(spec.learners) == [learner]:
            cls.prepare(config)
    except (DsnnError, ValueError):
        pass


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
    config = apply_overrides(spec.config, overrides or {}, task)
    # the checks that need no runner module come before any background work starts
    if profile and not isinstance(profile, Profile):
        profile = load_profile(profile)
    if mismatch is not None and (isinstance(mismatch, bool) or not 0.0 <= mismatch < 1.0):
        raise DsnnError(f"--mismatch {mismatch}: must be in [0, 1)")
    integer = isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    if not integer or not 0 <= seed <= SEED_MAX:
        raise DsnnError(f"--seed {seed}: must be an integer in [0, {SEED_MAX}]")
    if not dry_run:
        _prepare(learner, spec, config)
    allowed = task_learners(task)
    if learner not in allowed:
        raise DsnnError(f"--learner {learner}: task '{task}' runs with {', '.join(allowed)}")
    if not isinstance(profile, Profile):
        profile = load_profile(default_profile(spec, learner))
    prof = profile if mismatch is None else profile.with_mismatch(mismatch)
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
        output = _runner(task)(ctx)
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
