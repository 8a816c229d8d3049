"""Physical quantities written as strings in hardware profiles.

A profile writes every dimensional value as ``"<number> <prefix><unit>"``, e.g. ``"1.5 pF"``,
``"82.65 uW"`` or ``"500 kHz"``. :func:`parse_quantity` turns such a string into its SI value
and checks it against the dimension the schema expects, so that a capacitance written in volts,
or a current written without a unit, is rejected with a message naming the expected unit.
"""

from __future__ import annotations

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
    return float(number) * scale


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
