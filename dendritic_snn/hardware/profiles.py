"""Hardware profiles: load, validate and query the YAML files in ``hw_profiles/``.

A profile describes one chip: its technology and time scale, the block model chosen for each
role (neuron, synapse, ...) with physical parameters, device mismatch, noise and the energy
cost of each event. Every dimensional value carries its unit (``"1.5 pF"``); loading converts
them to SI floats and rejects anything malformed with a :class:`ProfileError` whose message
names the file, the field and the reason in one line: unknown or missing keys, wrong units,
values outside the block's range (a capacitance must be > 0) or outside the physical envelope
of their dimension (:data:`~dendritic_snn.hardware.units.PHYSICAL_RANGE`: 1e300 pF is an error),
NaN, and block sets a simulator cannot use (:data:`COMPANION_BLOCKS`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import DsnnError
from ..resources import builtin_dir
from ..results import read_yaml
from .blocks import BLOCK_MODELS, ORDERED, PHYSICAL_CONSTANTS
from .units import UnitError, check_physical, parse_quantity


class ProfileError(DsnnError):
    """A profile cannot be loaded; the message is one line: ``file: field: reason``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TimeScale(_Strict):
    """The chip's natural time unit and the integration step used to simulate it."""

    unit: Literal["s", "ms", "us", "ns"]
    dt: str
    description: str = ""


class Block(_Strict):
    """One block: a model name from the registry and its parameters (quantity strings)."""

    model: str
    params: dict[str, Any]

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value not in BLOCK_MODELS:
            raise ValueError(f"unknown block model '{value}' (known: {', '.join(BLOCK_MODELS)})")
        return value


class Mismatch(_Strict):
    """Relative device mismatch (standard deviation as a fraction of the nominal value)."""

    sigma: float = Field(description="default relative sigma for every block parameter")
    truncate_sigmas: float = Field(3.0, gt=0, le=10)
    exempt: list[str] = Field(default_factory=list)
    per_parameter: dict[str, float] = Field(default_factory=dict)

    @field_validator("sigma")
    @classmethod
    def _sigma_range(cls, value: float) -> float:
        return _check_sigma(value)

    @field_validator("per_parameter")
    @classmethod
    def _each_sigma(cls, value: dict[str, float]) -> dict[str, float]:
        for sigma in value.values():
            _check_sigma(sigma)
        return value


def _check_sigma(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"mismatch sigma {value} outside [0, 1)")
    return value


class Noise(_Strict):
    """Additive noise on the neuron input, relative to its drive (0 = noiseless)."""

    relative_sigma: float = Field(0.0, ge=0, le=10)


class Weights(_Strict):
    """How weights are stored: ``resolution_bits`` = None means floating point."""

    resolution_bits: int | None = Field(None, ge=1, le=64)


#: The neuron model fixes the blocks a profile must have beside it (role -> model): the
#: simulators of each technology read exactly these.
COMPANION_BLOCKS: dict[str, dict[str, str]] = {
    "dpi_neuron": {"synapse": "dpi_synapse"},
    "ifc_schmitt": {
        "rate_filter": "two_stage_lpf",
        "derivative": "rc_derivative",
        "bias": "ternary_bias",
        "synapse": "capacitor_synapse",
    },
    "analog_neuron": {"synapse": "memcapacitor"},
}

ENERGY_FIELDS: dict[str, str] = {
    "spike": "energy",
    "synaptic_event": "energy",
    "weight_update": "energy",
    "comparator_strobe": "energy",
    "static_power_per_neuron": "power",
    "static_power_per_synapse": "power",
    "static_power_learning_per_neuron": "power",
}


class Energy(_Strict):
    """Energy per counted event and static power per circuit (quantity strings)."""

    spike: str
    synaptic_event: str
    weight_update: str
    static_power_per_neuron: str
    static_power_per_synapse: str
    comparator_strobe: str = "0 J"  # per synapse reached by an update strobe
    static_power_learning_per_neuron: str = "0 W"  # learning blocks, powered only in training
    reference_per_inference: str | None = None


class ProfileModel(_Strict):
    """The schema of a profile file."""

    name: str
    description: str
    technology: str
    time_scale: TimeScale
    blocks: dict[str, Block]
    weights: Weights = Weights()
    mismatch: Mismatch
    noise: Noise = Noise()
    energy: Energy
    references: list[str] = Field(default_factory=list)


class Profile:
    """A validated hardware profile with SI-valued parameters.

    Attributes
    ----------
    name, source
        Profile name and the file it came from.
    raw
        The YAML content as loaded (a dict); used for hashing and for shipping a profile to
        another process.
    params
        ``{role: {param: SI float}}`` for every block.
    models
        ``{role: model name}``.
    dt
        Integration step in seconds.
    energy
        ``{field: SI float}`` (joules for events, watts for static power).
    """

    def __init__(self, raw: dict, source: str) -> None:
        self.raw = raw
        self.source = source
        try:
            model = ProfileModel.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(top level)"
            reason = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                reason = "unknown key"
            elif first["type"] == "missing":
                reason = "missing field"
            raise ProfileError(f"{source}: {field}: {reason}") from None
        self.model = model
        self.name = model.name
        self._check_block_set(model.blocks)
        self.models = {role: block.model for role, block in model.blocks.items()}
        self.params = {
            role: self._block_params(role, block) for role, block in model.blocks.items()
        }
        self.dt = self._quantity("time_scale.dt", model.time_scale.dt, "time")
        if self.dt <= 0:
            raise ProfileError(f"{source}: time_scale.dt: must be > 0")
        if self.dt > 1e-3:
            raise ProfileError(
                f"{source}: time_scale.dt: {model.time_scale.dt!r} is above 1 ms, too coarse "
                "for the modelled circuits (DPI time constants are a few ms)"
            )
        self.energy = {
            key: self._quantity(f"energy.{key}", getattr(model.energy, key), dim)
            for key, dim in ENERGY_FIELDS.items()
        }
        for key, value in self.energy.items():
            if value < 0:
                raise ProfileError(f"{source}: energy.{key}: must be >= 0")
        ref = model.energy.reference_per_inference
        self.reference_energy_per_inference = (
            None if ref is None else self._quantity("energy.reference_per_inference", ref, "energy")
        )
        self._check_mismatch_keys()

    def _quantity(self, field: str, text: object, dimension: str) -> float:
        try:
            value = parse_quantity(text, dimension)
        except UnitError as err:
            raise ProfileError(f"{self.source}: {field}: {err}") from None
        reason = check_physical(value, dimension)
        if reason:
            raise ProfileError(f"{self.source}: {field}: {text!r} {reason}")
        return value

    def _check_block_set(self, blocks: dict[str, Block]) -> None:
        if "neuron" not in blocks:
            raise ProfileError(f"{self.source}: blocks.neuron: missing field")
        neuron = blocks["neuron"].model
        if neuron not in COMPANION_BLOCKS:
            known = ", ".join(COMPANION_BLOCKS)
            raise ProfileError(
                f"{self.source}: blocks.neuron.model: '{neuron}' is not a neuron model ({known})"
            )
        wanted = {"neuron": neuron, **COMPANION_BLOCKS[neuron]}
        for role, block in blocks.items():
            if role not in wanted:
                raise ProfileError(
                    f"{self.source}: blocks.{role}: unknown key (a {neuron} profile has blocks "
                    f"{', '.join(wanted)})"
                )
            if block.model != wanted[role]:
                raise ProfileError(
                    f"{self.source}: blocks.{role}.model: '{block.model}' cannot go with a "
                    f"{neuron} neuron (expected {wanted[role]})"
                )
        for role in wanted:
            if role not in blocks:
                raise ProfileError(f"{self.source}: blocks.{role}: missing field ({wanted[role]})")

    def _block_params(self, role: str, block: Block) -> dict[str, float]:
        specs = BLOCK_MODELS[block.model]
        for key in block.params:
            if key not in specs:
                raise ProfileError(
                    f"{self.source}: blocks.{role}.params.{key}: unknown key for model "
                    f"'{block.model}'"
                )
        values = {}
        for key, spec in specs.items():
            field = f"blocks.{role}.params.{key}"
            if key not in block.params:
                raise ProfileError(f"{self.source}: {field}: missing field ({spec.dimension})")
            value = self._quantity(field, block.params[key], spec.dimension)
            reason = spec.check(value)
            if reason:
                raise ProfileError(f"{self.source}: {field}: {block.params[key]!r} {reason}")
            values[key] = value
        for lower, upper in ORDERED.get(block.model, []):
            if not values[lower] < values[upper]:
                raise ProfileError(
                    f"{self.source}: blocks.{role}.params.{lower}: must be below {upper}"
                )
        return values

    def _check_mismatch_keys(self) -> None:
        mm = self.model.mismatch
        for group, keys in (("exempt", mm.exempt), ("per_parameter", list(mm.per_parameter))):
            for key in keys:
                role, _, param = key.partition(".")
                if role not in self.params or param not in self.params[role]:
                    raise ProfileError(
                        f"{self.source}: mismatch.{group}.{key}: no such block parameter"
                    )

    # ------------------------------------------------------------------ queries
    @property
    def sha256(self) -> str:
        """Content hash of the profile (canonical JSON of the YAML content)."""
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def time_unit(self) -> str:
        return self.model.time_scale.unit

    def sigma(self, role: str, param: str) -> float:
        """Relative mismatch sigma of one block parameter."""
        key = f"{role}.{param}"
        mm = self.model.mismatch
        if key in mm.per_parameter:
            return mm.per_parameter[key]
        if key in mm.exempt or param in PHYSICAL_CONSTANTS:
            return 0.0
        return mm.sigma

    @property
    def truncate_sigmas(self) -> float:
        return self.model.mismatch.truncate_sigmas

    def with_mismatch(self, sigma: float) -> Profile:
        """A copy of this profile whose default mismatch is ``sigma``.

        Per-parameter sigmas scale by the same factor (capped at 0.95) so their ratios to the
        default are kept; exempt parameters stay exempt.
        """
        raw = copy.deepcopy(self.raw)
        old = self.model.mismatch.sigma
        raw["mismatch"]["sigma"] = sigma
        raw["mismatch"]["per_parameter"] = {
            key: min(0.95, value * sigma / old if old > 0 else sigma)
            for key, value in self.model.mismatch.per_parameter.items()
        }
        return Profile(raw, f"{self.source} (mismatch {sigma:g})")

    def to_dict(self) -> dict:
        """Summary recorded in result.json."""
        return {"name": self.name, "sha256": self.sha256, "source": self.source}


# ---------------------------------------------------------------------- loading
def builtin_profile_dir() -> Path:
    """Directory of the profiles shipped inside the package."""
    return builtin_dir("hw_profiles")


def list_profiles() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(p.stem for p in builtin_profile_dir().glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by name or a profile file by path.

    Raises
    ------
    ProfileError
        One line, ``file: field: reason``, for a missing file, malformed YAML or any schema
        violation.
    """
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.exists()):
        candidate = builtin_profile_dir() / f"{text}.yaml"
        if not candidate.exists():
            raise ProfileError(
                f"{text}: no such profile (built-in: {', '.join(list_profiles())}; "
                "or give a path to a .yaml file)"
            )
        path = candidate
    if not path.is_file():
        raise ProfileError(f"{path}: file not found")
    raw = read_yaml(path, ProfileError)
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: (top level): expected a mapping of profile fields")
    return Profile(raw, str(path))


def profile_from_dict(raw: dict, source: str = "<dict>") -> Profile:
    """Build a profile from already-loaded content (e.g. shipped to a worker process)."""
    return Profile(copy.deepcopy(raw), source)
