r"""Physical quantities written as strings in hardware profiles.

A profile writes every dimensional value as ``"<number> <prefix><unit>"``, e.g. ``"1.5 pF"``,
``"82.65 uW"`` or ``"500 kHz"``. :func:`parse_quantity` turns such a string into its SI value
and checks it against the dimension the schema expects, so that a capacitance written in volts,
or a current written without a unit, is rejected with a message naming the expected unit.

:func:`check_physical` bounds the magnitude of a value per dimension (:data:`PHYSICAL_RANGE`):
a nonzero value must satisfy :math:`m_{min} \le |x| \le m_{max}`, so that a capacitance of
1e300 pF or a current of 1e-300 A is an error, not a silent overflow in the simulator. The
bounds are generous envelopes for on-chip circuits, not design rules.
"""

from __future__ import annotations

import math
import re

#: Base unit symbol -> dimension name.
UNITS: dict[str, str] = {
    "A": "current",
    "F": "capacitance",
    "V": "voltage",
    "s": "time",
    "Hz": "frequency",
    "J": "energy",
    "W": "power",
    "S": "conductance",
    "Ohm": "resistance",
    "m2": "area",
}

#: Dimension name -> base unit symbol (the inverse of :data:`UNITS`).
BASE_UNIT: dict[str, str] = {dim: sym for sym, dim in UNITS.items()}

PREFIXES: dict[str, float] = {
    "a": 1e-18,
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
}

#: Dimension -> (smallest, largest) magnitude of a nonzero value in SI units. The energy floor
#: is the Landauer limit at room temperature (kT ln 2 = 2.9e-21 J).
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "current": (1e-18, 1e-3),  # 1 aA .. 1 mA
    "capacitance": (1e-18, 1e-6),  # 1 aF .. 1 uF
    "voltage": (1e-9, 100.0),  # 1 nV .. 100 V
    "time": (1e-15, 1e3),  # 1 fs .. 1000 s
    "frequency": (1e-3, 1e11),  # 1 mHz .. 100 GHz
    "energy": (2.8e-21, 1.0),  # Landauer limit .. 1 J
    "power": (1e-18, 10.0),  # 1 aW .. 10 W
    "conductance": (1e-18, 1e3),  # 1 aS .. 1 kS
    "resistance": (1e-3, 1e18),  # 1 mOhm .. 1 EOhm
    "area": (1e-18, 1e-1),  # 1 um^2 / 1e6 .. 0.1 m^2
    "dimensionless": (0.0, 1e6),
}

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


class UnitError(ValueError):
    """A quantity string is malformed or has the wrong dimension."""


def _split_unit(symbol: str) -> tuple[float, str]:
    """Split ``"pF"`` into ``(1e-12, "F")``; the longest matching base unit wins."""
    for base in sorted(UNITS, key=len, reverse=True):
        if symbol.endswith(base):
            prefix = symbol[: -len(base)]
            if prefix in PREFIXES:
                return PREFIXES[prefix], base
    raise UnitError(f"unknown unit '{symbol}'")


def parse_quantity(text: object, dimension: str) -> float:
    """Parse ``text`` as a quantity of ``dimension`` and return its value in SI units.

    Parameters
    ----------
    text
        The profile's value, e.g. ``"8 pA"``. Dimensionless values may be plain numbers.
    dimension
        Expected dimension, a value of :data:`UNITS` or ``"dimensionless"``.

    Returns
    -------
    float
        The value in SI base units (A, F, V, s, Hz, J, W, S, Ohm).

    Raises
    ------
    UnitError
        If the text is not a number followed by a unit of the expected dimension.
    """
    if dimension == "dimensionless":
        if isinstance(text, bool) or not isinstance(text, int | float):
            raise UnitError(f"expected a plain number, got {text!r}")
        if not math.isfinite(text):
            raise UnitError(f"{text!r} is not a finite number")
        return float(text)
    expected = BASE_UNIT[dimension]
    if isinstance(text, int | float) and not isinstance(text, bool):
        raise UnitError(f"missing unit: write e.g. '{text} {expected}' ({dimension})")
    if not isinstance(text, str):
        raise UnitError(f"expected a quantity in {expected}, got {text!r}")
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(f"cannot read {text!r} as '<number> <unit>'")
    number, symbol = match.groups()
    if not symbol:
        raise UnitError(f"missing unit in {text!r}: expected {dimension} ({expected})")
    scale, base = _split_unit(symbol)
    if base != expected:
        raise UnitError(
            f"wrong unit '{symbol}' in {text!r}: expected {dimension} ({expected}), "
            f"got {UNITS[base]}"
        )
    value = float(number) * scale
    if not math.isfinite(value):
        raise UnitError(f"{text!r} is not a finite number")
    return value


def check_physical(value: float, dimension: str) -> str | None:
    """The reason ``value`` (SI) is outside the physical envelope of ``dimension``, or None.

    Zero is allowed here (whether it is allowed for a given field is the field's own check).
    """
    if not math.isfinite(value):
        return "is not a finite number"
    low, high = PHYSICAL_RANGE[dimension]
    size = abs(value)
    if size > high:
        return f"exceeds {format_quantity(high, dimension)}, the physical bound for {dimension}"
    if 0 < size < low:
        return f"is below {format_quantity(low, dimension)}, the physical bound for {dimension}"
    return None


def format_quantity(value: float, dimension: str) -> str:
    """Format an SI value with an engineering prefix (``1.5e-12, "capacitance"`` -> ``1.5 pF``)."""
    if dimension == "dimensionless":
        return f"{value:g}"
    unit = BASE_UNIT[dimension]
    if value == 0:
        return f"0 {unit}"
    for prefix in ("G", "M", "k", "", "m", "u", "n", "p", "f", "a"):
        scale = PREFIXES[prefix]
        if abs(value) >= scale:
            return f"{value / scale:.6g} {prefix}{unit}"
    return f"{value:g} {unit}"
