"""Expand a study spec into cells: one task run each, with a stable id from its coordinates.

A cell id reads ``<task>-<learner>-<profile>-mm<sigma|P>-s<seed>-<hash>``; the hash covers
the coordinates (task, learner, profile content, mismatch, seed, ``set`` overrides), so the same
cell gets the same id in every run of a study, and a changed profile or override gets a new one
(its old result is never mistaken for the new cell's).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DsnnError
from ..hardware.profiles import Profile, load_profile
from ..runners.api import default_profile, task_learners
from ..runners.spec import apply_overrides, load_task_spec
from .spec import StudySpec, apply_study_overrides, load_study

#: Main metric and its better direction for tasks without ``accuracy``.
DEFAULT_METRICS: dict[str, tuple[str, str]] = {
    "fi_curve": ("rate_rel_spread", "min"),
    "analog_eqprop": ("converged_fraction_kendall_mean", "max"),
}


@dataclass(frozen=True)
class Cell:
    """One run of a study: everything a worker needs, profile content included.

    Attributes
    ----------
    id
        Stable id (also the run directory name under ``cells/``).
    task, learner, profile, mismatch, seed, overrides
        Grid coordinates; ``profile`` is the label as written in the spec, ``mismatch`` None
        keeps the profile's own sigma, ``overrides`` are the ``set`` fields.
    metric, goal
        Main metric name and whether higher (``max``) or lower (``min``) is better.
    profile_sha256
        Content hash of the profile (before any mismatch override).
    profile_raw
        The profile's YAML content, shipped to the worker (no file access needed there).
    """

    id: str
    task: str
    learner: str
    profile: str
    mismatch: float | None
    seed: int
    overrides: dict[str, Any]
    metric: str
    goal: str
    profile_sha256: str
    profile_raw: dict = field(repr=False, compare=False)

    def coords(self) -> dict[str, Any]:
        """The cell without the profile content (what ``cells.json`` records)."""
        out = asdict(self)
        out.pop("profile_raw")
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "x"


def cell_id(
    task: str,
    learner: str,
    profile_label: str,
    profile_sha256: str,
    mismatch: float | None,
    seed: int,
    overrides: dict[str, Any],
) -> str:
    """The stable id of a cell (see the module docstring)."""
    key = json.dumps(
        [task, learner, profile_sha256, mismatch, seed, overrides], sort_keys=True, default=str
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    mm = "P" if mismatch is None else f"{mismatch:g}"
    label = _slug(
        Path(profile_label).stem if profile_label.endswith((".yaml", ".yml")) else profile_label
    )
    return f"{_slug(task)}-{_slug(learner)}-{label}-mm{mm}-s{seed}-{digest}"


def _profile(name: str, spec: StudySpec, where: str, cache: dict[str, Profile]) -> Profile:
    if name not in cache:
        ref: str | Path = name
        beside_spec = spec.base_dir / name
        if name.endswith((".yaml", ".yml")) and not Path(name).is_absolute():
            ref = beside_spec if beside_spec.is_file() else name  # else relative to the cwd
        try:
            cache[name] = load_profile(ref)
        except DsnnError as err:
            raise DsnnError(f"{spec.source}: {where}: {err}") from None
    return cache[name]


def build_grid(
    spec: StudySpec | dict | str | Path, overrides: dict[str, Any] | None = None
) -> list[Cell]:
    """Expand a study spec into its cells (validated: tasks, learners, profiles, fields).

    Parameters
    ----------
    spec
        A :class:`StudySpec`, a dict of spec content, a built-in study name or a path.
    overrides
        ``--set`` overrides (see :func:`~dendritic_snn.study.spec.apply_study_overrides`).

    Returns
    -------
    list of Cell
        In spec order: block by block, then learner, profile, mismatch, seed.

    Raises
    ------
    DsnnError
        One line naming the spec file, the field and the reason.
    """
    spec = load_study(spec)
    if overrides:
        spec = apply_study_overrides(spec, overrides)
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    profiles: dict[str, Profile] = {}
    for i, block in enumerate(spec.grid):
        where = f"grid.{i}"
        try:
            task_spec = load_task_spec(block.task)
            config = apply_overrides(task_spec.config, block.set, block.task)
        except DsnnError as err:
            raise DsnnError(f"{spec.source}: {where}: {err}") from None
        sets = {key: config[key] for key in block.set}
        learners = block.learners or [task_spec.default_learner]
        fits = task_learners(block.task)
        for learner in learners:
            if learner not in fits:
                raise DsnnError(
                    f"{spec.source}: {where}.learners: '{learner}' does not run task "
                    f"'{block.task}' (learners: {', '.join(fits)})"
                )
        metric, goal = DEFAULT_METRICS.get(block.task, ("accuracy", "max"))
        if block.metric is not None:
            metric, goal = block.metric, block.goal or "max"
        elif block.goal is not None:
            goal = block.goal
        for learner in learners:
            for label in block.profiles or spec.profiles or [default_profile(task_spec, learner)]:
                prof = _profile(label, spec, f"{where}.profiles", profiles)
                for mismatch in block.mismatch or spec.mismatch:
                    for seed in block.seeds or spec.seeds:
                        cid = cell_id(block.task, learner, label, prof.sha256, mismatch, seed, sets)
                        if cid in seen:
                            raise DsnnError(
                                f"{spec.source}: {where}: cell {cid} repeats one of "
                                f"grid.{seen[cid]}"
                            )
                        seen[cid] = i
                        cells.append(
                            Cell(
                                cid,
                                block.task,
                                learner,
                                label,
                                mismatch,
                                seed,
                                sets,
                                metric,
                                goal,
                                prof.sha256,
                                prof.raw,
                            )
                        )
    return cells
