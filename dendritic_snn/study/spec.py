"""Study specs: the YAML schema of ``dsnn study SPEC`` and ``--set`` overrides of a study.

A study spec is a list of grid blocks; each block is the product of its axes
(learners × profiles × mismatch × seeds) for one task, with that task's ``set`` overrides::

    name: smoke
    description: a few small cells to check the study machinery
    seeds: [0, 1]                 # defaults for every block (each block may override)
    mismatch: [null]              # relative sigma; null keeps the profile's own
    grid:
      - task: fi_curve
        learners: [none]          # default: the task's default learner
        profiles: [dynapse_se, cmos45_spiking_ep]   # built-in names or paths (relative to
                                                    # the spec file); default: the task's
                                                    # profile for each learner
        mismatch: [0.1, 0.3]
        set: {instances: 4, duration: 100}          # task-spec fields (like dsnn task --set)
        metric: rate_rel_spread   # main metric (default: accuracy, or the task's known one)
        goal: min                 # min | max (which direction is better)

A broken spec raises :class:`~dendritic_snn.errors.DsnnError` with one line naming the file,
the field and the reason.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from ..errors import DsnnError
from ..resources import builtin_dir
from ..results import read_yaml

#: Fields of a block that ``--set FIELD=VALUE`` changes in every block (grid axes).
AXIS_FIELDS = ("learners", "profiles", "mismatch", "seeds")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_mismatch(values: list[float | None] | None) -> list[float | None] | None:
    for value in values or []:
        if value is not None and not 0.0 <= value < 1.0:
            raise ValueError(f"mismatch {value} must be in [0, 1) or null")
    return values


class Block(_Strict):
    """One grid block: a task and the axes crossed for it."""

    task: str
    learners: list[str] | None = Field(default=None, min_length=1)
    profiles: list[str] | None = Field(default=None, min_length=1)
    mismatch: list[float | None] | None = Field(default=None, min_length=1)
    seeds: list[NonNegativeInt] | None = Field(default=None, min_length=1)
    set: dict[str, Any] = Field(default_factory=dict)
    metric: str | None = None
    goal: Literal["max", "min"] | None = None

    @field_validator("mismatch")
    @classmethod
    def _mismatch_range(cls, value: list[float | None] | None) -> list[float | None] | None:
        return _check_mismatch(value)


class StudySpec(_Strict):
    """Schema of a study spec file."""

    name: str
    description: str = ""
    seeds: list[NonNegativeInt] = Field(default_factory=lambda: [0], min_length=1)
    mismatch: list[float | None] = Field(default_factory=lambda: [None], min_length=1)
    profiles: list[str] | None = Field(default=None, min_length=1)
    grid: list[Block] = Field(min_length=1)
    _source: str = PrivateAttr(default="<dict>")

    @field_validator("mismatch")
    @classmethod
    def _mismatch_range(cls, value: list[float | None]) -> list[float | None]:
        return _check_mismatch(value)

    @property
    def source(self) -> str:
        """The file the spec came from (``<dict>`` if built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Directory that relative profile paths in the spec are resolved against."""
        path = Path(self.source)
        return path.parent if path.suffix in (".yaml", ".yml") else Path.cwd()


def builtin_study_dir() -> Path:
    """Directory of the study specs shipped inside the package (``tasks/studies``)."""
    return builtin_dir("tasks") / "studies"


def list_studies() -> list[str]:
    """Names of the built-in studies."""
    return sorted(p.stem for p in builtin_study_dir().glob("*.yaml"))


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    reason = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = "unknown key"
    elif first["type"] == "missing":
        reason = "missing field"
    return f"{field}: {reason}"


def study_from_dict(raw: Any, source: str = "<dict>") -> StudySpec:
    """Validate an already-loaded study spec.

    Raises
    ------
    DsnnError
        ``source: field: reason`` for the first schema violation.
    """
    if not isinstance(raw, dict):
        raise DsnnError(f"{source}: (top level): expected a mapping of study fields")
    try:
        spec = StudySpec.model_validate(copy.deepcopy(raw))
    except ValidationError as err:
        raise DsnnError(f"{source}: {_one_line(err)}") from None
    spec._source = source
    return spec


def _resolve_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    path = Path(text)
    if text.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise DsnnError(f"{path}: study spec not found")
        return path
    candidate = builtin_study_dir() / f"{text}.yaml"
    if not candidate.is_file():
        known = ", ".join(list_studies()) or "(none)"
        raise DsnnError(f"{text}: no such study (built-in: {known}; or give a path to a .yaml)")
    return candidate


def load_study(name_or_path: str | Path | StudySpec | dict) -> StudySpec:
    """Load a built-in study by name, a study file by path, or validate a dict / spec.

    Raises
    ------
    DsnnError
        One line naming the file, the field and the reason.
    """
    if isinstance(name_or_path, StudySpec):
        return name_or_path
    if isinstance(name_or_path, dict):
        return study_from_dict(name_or_path)
    path = _resolve_path(name_or_path)
    raw = read_yaml(path, DsnnError)
    return study_from_dict(raw, str(path))


def apply_study_overrides(spec: StudySpec, overrides: dict[str, Any]) -> StudySpec:
    """A copy of ``spec`` with ``--set`` overrides applied.

    ``seeds``/``mismatch``/``profiles``/``learners`` replace that axis in every block;
    ``TASK.FIELD`` sets a task-spec field in the blocks of one task; a bare ``FIELD`` sets it in
    every block whose task declares it (at least one must).

    Raises
    ------
    DsnnError
        For a key no block can take, or an axis value of the wrong form.
    """
    from ..runners.spec import load_task_spec

    raw = spec.model_dump()
    for key, value in overrides.items():
        if key in AXIS_FIELDS:
            values = value if isinstance(value, list) else [value]
            for block in raw["grid"]:
                block[key] = values
            continue
        task, dot, field = key.rpartition(".")
        blocks = [b for b in raw["grid"] if not dot or b["task"] == task]
        takers = [b for b in blocks if field in load_task_spec(b["task"]).config]
        if not takers:
            if dot:
                raise DsnnError(f"--set {key}: no block of task '{task}' has a field '{field}'")
            raise DsnnError(f"--set {key}: no task of this study has a field '{field}'")
        for block in takers:
            block["set"] = {**block["set"], field: value}
    return study_from_dict(raw, spec.source)
