"""Typed task configs: the ``schema`` section of a task spec and the checks it implies.

Every field of a task's ``config`` (its default) has an entry in the spec's ``schema`` section
giving its type, unit and valid range::

    schema:
      patterns: {type: int, range: [2, 16]}
      duration: {type: float, unit: s, range: [0.01, 10]}
      backend:  {type: str, choices: [standalone, numpy, cython]}

``range: [lo, hi]`` is inclusive; ``null`` for an open end. ``exclusive_min: true`` makes the
lower end strict (a time constant must be > 0). A field whose default is ``null`` also accepts
``null`` (its meaning is given in the spec's comment). For list types the range applies to
each element and ``length: [lo, hi]`` bounds the number of elements. The spec's ``order``
section lists pairs of fields that must satisfy ``a < b`` when both are set.

From the schema :func:`config_model` builds a pydantic model; :func:`check_config` validates a
whole config with it and turns the first violation into one line naming the key, the value
and the allowed range.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
)

from ..errors import DsnnError


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e12 else f"{value:g}"


def _one_of(choices: list) -> Any:
    def check(value: Any) -> Any:
        if value not in choices:
            raise ValueError("not an allowed value")
        return value

    return check


class FieldSchema(BaseModel):
    """Type, unit and valid range of one config field."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["bool", "int", "float", "str", "list[int]", "list[float]", "list[str]"]
    unit: str = ""
    range: tuple[float | None, float | None] | None = None
    exclusive_min: bool = False
    choices: list[int] | list[str] | None = None
    length: tuple[int, int] | None = None
    nullable: bool = False

    def describe(self) -> str:
        """Human-readable allowed values, e.g. ``float in (0, 10] s``."""
        text = self.type
        if self.choices:
            text += ", one of " + " | ".join(str(c) for c in self.choices)
        if self.range is not None:
            lo, hi = self.range
            left = "(" if self.exclusive_min or lo is None else "["
            right = "]" if hi is not None else ")"
            lo_s = "-inf" if lo is None else _number(lo)
            hi_s = "inf" if hi is None else _number(hi)
            text += f" in {left}{lo_s}, {hi_s}{right}"
        if self.unit:
            text += f" {self.unit}"
        if self.length is not None:
            text += f", {self.length[0]} to {self.length[1]} items"
        if self.nullable:
            text += ", or null"
        return text

    def _scalar(self) -> Any:
        base = self.type.removeprefix("list[").removesuffix("]")
        if base == "bool":
            return Annotated[bool, Strict()]
        if base == "str":
            if self.choices:
                return Literal[tuple(self.choices)]
            return Annotated[str, Strict()]
        bounds: dict[str, float] = {}
        if self.range is not None:
            lo, hi = self.range
            if lo is not None:
                bounds["gt" if self.exclusive_min else "ge"] = lo
            if hi is not None:
                bounds["le"] = hi
        if base == "int" and self.choices:
            return Annotated[int, Strict(), AfterValidator(_one_of(self.choices))]
        if base == "int":
            return Annotated[int, Strict(), Field(**bounds)]
        return Annotated[float, Strict(), Field(allow_inf_nan=False, **bounds)]

    def annotation(self) -> Any:
        """The pydantic type of the field."""
        kind: Any = self._scalar()
        if self.type.startswith("list["):
            size = {} if self.length is None else {"min_length": self.length[0]}
            if self.length is not None:
                size["max_length"] = self.length[1]
            kind = Annotated[list[kind], Field(**size)]
        return kind | None if self.nullable else kind


def config_model(task: str, schema: dict[str, FieldSchema], defaults: dict) -> type[BaseModel]:
    """A pydantic model of the task's config: one typed, range-checked field per key."""
    fields = {key: (spec.annotation(), defaults.get(key)) for key, spec in schema.items()}
    return create_model(  # type: ignore[call-overload]
        f"{task}_config", __config__=ConfigDict(extra="forbid"), **fields
    )


@functools.lru_cache(maxsize=64)
def _cached_model(task: str, schema_json: str) -> type[BaseModel]:
    schema = {k: FieldSchema.model_validate(v) for k, v in json.loads(schema_json).items()}
    return config_model(task, schema, {})


def _shown(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_config(
    task: str,
    config: dict[str, Any],
    schema: dict[str, FieldSchema],
    order: Sequence[tuple[str, str]] = (),
    where: str = "--set",
) -> dict[str, Any]:
    """Validate ``config`` against the schema; return it with floats as floats.

    Raises
    ------
    DsnnError
        One line: ``--set key=value: reason; key is <type> in [lo, hi] <unit>``.
    """
    for key in config:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "(none)"
            raise DsnnError(f"task '{task}' has no field '{key}' (fields: {known})")
    schema_json = json.dumps({k: v.model_dump() for k, v in schema.items()}, sort_keys=True)
    model = _cached_model(task, schema_json)
    try:
        model.model_validate(config)
    except ValidationError as err:
        first = err.errors()[0]
        key = str(first["loc"][0])
        spec = schema[key]
        reason = first["msg"]
        kind = first["type"]
        if kind in ("int_type", "float_type", "bool_type", "string_type", "list_type"):
            reason = f"expected {spec.type}"
        elif kind in ("literal_error", "value_error"):
            reason = "not an allowed value"
        elif kind in ("too_short", "too_long"):
            reason = "wrong number of items"
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal"):
            reason = "out of range"
        elif kind == "finite_number":
            reason = "not a finite number"
        if len(first["loc"]) > 1 and spec.type.startswith("list["):
            reason += f" at item {first['loc'][1]}"
        raise DsnnError(
            f"{where} {key}={_shown(config[key])}: {reason}; {key} is {spec.describe()}"
        ) from None
    out = dict(config)
    for key, spec in schema.items():
        value = out.get(key)
        if spec.type == "float" and isinstance(value, int):
            out[key] = float(value)
        elif spec.type == "list[float]" and isinstance(value, list):
            out[key] = [float(v) for v in value]
    for lower, upper in order:
        lo, hi = out.get(lower), out.get(upper)
        if lo is not None and hi is not None and not lo < hi:
            raise DsnnError(f"{where} {lower}={_shown(lo)}: must be below {upper} (= {_shown(hi)})")
    return out
