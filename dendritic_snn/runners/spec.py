"""Task specs: the built-in ``tasks/<name>.yaml`` files and ``--set key=value`` overrides.

A spec names the task, the learners that can run it, its default learner and profile, a
flat ``config`` mapping of every tunable field with its default, and a ``schema`` section
giving each field's type, unit and valid range (:mod:`.config_schema`). ``--set`` may only
change a field the spec declares, with a value of its type inside its range.

A spec may also name ``presets``: sets of field values chosen together (e.g. ``paper``, a
learner exactly as published). The config field ``preset`` selects one (``default``: none);
the fields resolve as task defaults < preset < ``--set``, so a ``--set`` of a field the preset
also sets wins.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import DsnnError
from ..resources import builtin_dir
from ..results import parse_yaml
from .config_schema import FieldSchema, check_config


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
    schema_: dict[str, FieldSchema] = Field(default_factory=dict, alias="schema")
    order: list[tuple[str, str]] = Field(
        default_factory=list, description="pairs of fields that must satisfy a < b"
    )
    presets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="named sets of field values (config field `preset`)"
    )

    @model_validator(mode="after")
    def _schema_matches_config(self) -> TaskSpec:
        missing = sorted(set(self.config) - set(self.schema_))
        if missing:
            raise ValueError(f"schema: no entry for config field(s) {', '.join(missing)}")
        extra = sorted(set(self.schema_) - set(self.config))
        if extra:
            raise ValueError(f"schema: entry for unknown config field(s) {', '.join(extra)}")
        for pair in self.order:
            for key in pair:
                if key not in self.config:
                    raise ValueError(f"order: unknown config field '{key}'")
        for name, values in self.presets.items():
            unknown = sorted(set(values) - set(self.config))
            if unknown:
                raise ValueError(f"presets.{name}: unknown config field(s) {', '.join(unknown)}")
            if "preset" in values:
                raise ValueError(f"presets.{name}: a preset cannot set 'preset'")
        if self.presets and "preset" not in self.config:
            raise ValueError("presets: the config needs a 'preset' field to select one")
        for key, value in self.config.items():
            if value is None:
                self.schema_[key].nullable = True
        return self

    @property
    def fields(self) -> dict[str, FieldSchema]:
        """Type, unit and range of every config field."""
        return self.schema_

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
        spec = TaskSpec.model_validate(parse_yaml(path.read_text()))
    except yaml.YAMLError as err:
        raise DsnnError(f"{path}: invalid task spec: {str(err).splitlines()[0]}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        reason = first["msg"].removeprefix("Value error, ")
        raise DsnnError(f"{path}: invalid task spec: {where}: {reason}") from None
    if spec.default_learner not in spec.learners:
        raise DsnnError(f"{path}: default_learner '{spec.default_learner}' not in learners")
    check_config(name, spec.config, spec.fields, spec.order, where=f"{path}: default")
    for preset, values in spec.presets.items():
        check_config(name, {**spec.config, **values}, spec.fields, spec.order,
                     where=f"{path}: preset {preset}")  # fmt: skip
    if spec.presets and set(spec.fields["preset"].choices or ()) != {"default", *spec.presets}:
        raise DsnnError(f"{path}: schema of 'preset' must list the choices default, "
                        f"{', '.join(spec.presets)}")  # fmt: skip
    return spec


_FIELD = re.compile(r"^  (\w+):[^#]*(?:#\s?(.*))?$")
_CONTINUED = re.compile(r"^\s{4,}#\s?(.*)$")


def field_comments(name: str) -> dict[str, str]:
    """The comment on each config field's line of the spec file (and on the comment-only
    lines indented below it): the field's meaning, for ``--show-config``."""
    text = (builtin_task_dir() / f"{name}.yaml").read_text()
    body = text.split("\nconfig:", 1)[-1].split("\nschema:", 1)[0]
    comments: dict[str, str] = {}
    key = None
    for line in body.splitlines():
        field = _FIELD.match(line)
        more = _CONTINUED.match(line)
        if field:
            key = field.group(1)
            comments[key] = (field.group(2) or "").strip()
        elif more and key is not None and comments[key]:
            comments[key] += " " + more.group(1).strip()
        else:
            key = None
    return {k: v for k, v in comments.items() if v}


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


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any], task: str) -> dict:
    """A copy of ``config`` with ``overrides`` applied, type- and range-checked against the
    schema of task ``task``.

    Raises
    ------
    DsnnError
        For a key the task does not have, or a value of the wrong type or outside its range
        (one line naming the key, the value and the allowed values).
    """
    spec = load_task_spec(task)
    merged = copy.deepcopy(config)
    for key in overrides:
        if key == "preset" and key not in merged:
            raise DsnnError(f"task '{task}' has no presets")
        if key not in merged:
            known = ", ".join(sorted(merged)) or "(none)"
            raise DsnnError(f"task '{task}' has no field '{key}' (fields: {known})")
    preset = overrides.get("preset", merged.get("preset", "default"))
    if preset not in (None, "default"):
        if preset not in spec.presets:
            known = ", ".join(["default", *spec.presets])
            raise DsnnError(f"task '{task}' has no preset {preset!r} (presets: {known})")
        merged.update(copy.deepcopy(spec.presets[preset]))
    merged.update(overrides)
    return check_config(task, merged, spec.fields, spec.order)
