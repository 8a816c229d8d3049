"""Task specs: the built-in ``tasks/<name>.yaml`` files and ``--set key=value`` overrides.

A spec names the task, the learners that can run it, its default learner and profile, and a
flat ``config`` mapping of every tunable field with its default. ``--set`` may only change a
field the spec declares, with a value of the same type.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import DsnnError
from ..resources import builtin_dir


class TaskSpec(BaseModel):
    """Schema of a task spec file."""

    model_config = ConfigDict(extra="forbid")

    task: str
    description: str
    learners: list[str] = Field(min_length=1)
    default_learner: str
    default_profile: str
    learner_profiles: dict[str, str] = Field(
        default_factory=dict, description="default profile per learner, where it differs"
    )
    config: dict[str, Any] = Field(default_factory=dict)

    def profile_for(self, learner: str) -> str:
        """The profile a learner runs on when the user names none."""
        return self.learner_profiles.get(learner, self.default_profile)


def builtin_task_dir() -> Path:
    """Directory of the task specs shipped inside the package."""
    return builtin_dir("tasks")


def list_task_specs() -> list[str]:
    """Names of the built-in tasks."""
    return sorted(p.stem for p in builtin_task_dir().glob("*.yaml"))


def load_task_spec(name: str) -> TaskSpec:
    """Load the built-in spec of task ``name``.

    Raises
    ------
    DsnnError
        If there is no such task or its spec is invalid.
    """
    path = builtin_task_dir() / f"{name}.yaml"
    if not path.is_file():
        raise DsnnError(f"unknown task '{name}' (known: {', '.join(list_task_specs())})")
    try:
        spec = TaskSpec.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as err:
        raise DsnnError(f"{path}: invalid task spec: {str(err).splitlines()[0]}") from None
    if spec.default_learner not in spec.learners:
        raise DsnnError(f"{path}: default_learner '{spec.default_learner}' not in learners")
    return spec


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``"key=value"``; the value is read as YAML (``3`` -> int, ``0.5`` -> float)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise DsnnError(f"--set {text!r}: expected key=value")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    if isinstance(parsed, str):
        try:  # YAML 1.1 reads "5e-8" (no decimal point) as a string
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if default is None:
        return True
    return isinstance(value, type(default))


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any], task: str) -> dict:
    """A copy of ``config`` with ``overrides`` applied, each checked against the defaults.

    Raises
    ------
    DsnnError
        For a key the task does not have or a value of the wrong type.
    """
    merged = copy.deepcopy(config)
    for key, value in overrides.items():
        if key not in config:
            known = ", ".join(sorted(config)) or "(none)"
            raise DsnnError(f"task '{task}' has no field '{key}' (fields: {known})")
        if not _same_kind(config[key], value):
            raise DsnnError(
                f"--set {key}={value!r}: expected {type(config[key]).__name__} "
                f"like the default {config[key]!r}"
            )
        merged[key] = float(value) if isinstance(config[key], float) else value
    return merged
