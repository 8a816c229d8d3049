"""Registry of hardware block models and the parameters each one takes.

A profile's ``blocks`` section names, for each role (``neuron``, ``synapse``, ...), one of the
models below and gives every parameter listed for it, each with a unit of the stated dimension.
The schema in :mod:`dendritic_snn.hardware.profiles` rejects unknown and missing parameters
and values outside the allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParamSpec:
    """One block parameter: its dimension and the smallest value it may take.

    ``minimum`` is exclusive when ``strict`` (a capacitance must be > 0) and inclusive
    otherwise (a voltage floor may be 0 V).
    """

    dimension: str
    minimum: float | None = 0.0
    strict: bool = True
    maximum: float | None = None
    description: str = ""

    def check(self, value: float) -> str | None:
        """Return the reason ``value`` is impossible, or None if it is allowed."""
        if self.minimum is not None:
            if self.strict and value <= self.minimum:
                return f"must be > {self.minimum:g}"
            if not self.strict and value < self.minimum:
                return f"must be >= {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be <= {self.maximum:g}"
        return None


def _p(dimension: str, description: str = "", **kw) -> ParamSpec:
    return ParamSpec(dimension, description=description, **kw)


_CURRENT = "current"
_NONNEG = {"strict": False}

#: Thermal and slope-factor constants: physics, not device variation (never mismatched by default).
PHYSICAL_CONSTANTS = ("Io", "Ut", "kn", "kp")

BLOCK_MODELS: dict[str, dict[str, ParamSpec]] = {
    # Subthreshold DPI neuron (Chicca et al. 2014; teili's i_model + i_a + i_ahp).
    "dpi_neuron": {
        "Io": _p(_CURRENT, "dark current"),
        "Ut": _p("voltage", "thermal voltage"),
        "kn": _p("dimensionless", "nFET subthreshold slope factor", maximum=1.0),
        "kp": _p("dimensionless", "pFET subthreshold slope factor", maximum=1.0),
        "C": _p("capacitance", "membrane capacitance"),
        "Itau": _p(_CURRENT, "leak current; tau = C*Ut/(kappa*Itau)"),
        "Ith": _p(_CURRENT, "DPI gain (threshold) current"),
        "Ispkthr": _p(_CURRENT, "spike threshold"),
        "Ireset": _p(_CURRENT, "reset current"),
        "Iconst": _p(_CURRENT, "constant injected current"),
        "Ishunt": _p(_CURRENT, "constant shunting current"),
        "t_ref": _p("time", "refractory period", **_NONNEG),
        "Ica": _p(_CURRENT, "AHP (calcium) weight per spike"),
        "Itau_ahp": _p(_CURRENT, "AHP leak"),
        "Ith_ahp": _p(_CURRENT, "AHP gain"),
        "C_ahp": _p("capacitance", "AHP capacitance"),
        "Iath": _p(_CURRENT, "positive-feedback threshold"),
        "Iagain": _p(_CURRENT, "positive-feedback gain"),
        "Ianorm": _p(_CURRENT, "positive-feedback slope"),
    },
    # Subthreshold DPI synapse (Bartolozzi & Indiveri 2007), one current per neuron and type.
    "dpi_synapse": {
        "Io": _p(_CURRENT, "dark current"),
        "Ut": _p("voltage", "thermal voltage"),
        "kn": _p("dimensionless", "nFET slope factor", maximum=1.0),
        "kp": _p("dimensionless", "pFET slope factor", maximum=1.0),
        "C": _p("capacitance", "synapse capacitance"),
        "Itau": _p(_CURRENT, "leak; tau = C*Ut/(kappa*Itau)"),
        "Ith": _p(_CURRENT, "gain current"),
        "Iw0": _p(_CURRENT, "base weight current (weight 1)"),
    },
    # 45 nm integrate-and-fire circuit with a Schmitt-trigger spike generator.
    "ifc_schmitt": {
        "C_mem": _p("capacitance", "membrane capacitor"),
        "V_rise": _p("voltage", "Schmitt rising threshold"),
        "V_fall": _p("voltage", "Schmitt falling threshold", **_NONNEG),
        "I_discharge": _p(_CURRENT, "reset nMOS current while the trigger is high"),
        "I_leak": _p(_CURRENT, "membrane leak current", **_NONNEG),
        "VDD": _p("voltage", "supply"),
    },
    # Two-stage diode-capacitor low-pass filter (spike rate trace).
    "two_stage_lpf": {
        "f_3db": _p("frequency", "3-dB frequency of the two-stage small-signal response"),
        "decay_ratio": _p(
            "dimensionless",
            "decay/rise time-constant ratio from the diodes (1 = linear RC)",
            minimum=1.0,
            strict=False,
        ),
        "V_spike": _p("voltage", "spike amplitude at the filter input"),
    },
    # RC differentiator followed by two comparators -> ternary Vgrad.
    "rc_derivative": {
        "f_3db": _p("frequency", "corner of the RC high-pass (differentiator) response"),
        "V_threshold": _p("voltage", "comparator threshold (+/-)"),
    },
    # Bias circuit: ternary Vgrad -> (Vbp, Vbn).
    "ternary_bias": {
        "VDD": _p("voltage", "supply"),
        "Vbp_active": _p("voltage", "Vbp when the pMOS discharge path is enabled"),
        "Vbn_active": _p("voltage", "Vbn when the nMOS charge path is enabled"),
    },
    # Capacitor weight synapse that charges, discharges or holds on update strobes.
    "capacitor_synapse": {
        "C_syn": _p("capacitance", "weight capacitor"),
        "I_charge": _p(_CURRENT, "charging current"),
        "I_discharge": _p(_CURRENT, "discharging current"),
        "t_strobe": _p("time", "width of one update strobe"),
        "V_min": _p("voltage", "lowest weight voltage", **_NONNEG),
        "V_max": _p("voltage", "highest weight voltage"),
        "g_out": _p("conductance", "output transconductance: I_out = g_out * V_cap"),
    },
    # Memcapacitor synapse (Oshio et al. 2022).
    "memcapacitor": {
        "C_min": _p("capacitance", "lowest programmable capacitance"),
        "C_max": _p("capacitance", "highest programmable capacitance"),
        "levels": _p("dimensionless", "number of programmable states", minimum=2, strict=False),
        "V_read": _p("voltage", "read pulse amplitude"),
    },
    # Simple analog neuron with a saturating, hysteretic transfer (Oshio et al. 2022).
    "analog_neuron": {
        "f_clock": _p("frequency", "system clock"),
        "V_threshold": _p("voltage", "firing threshold of the transfer curve"),
        "V_saturation": _p("voltage", "output saturation"),
        "gain": _p("dimensionless", "small-signal slope above threshold"),
        "hysteresis": _p("voltage", "hysteresis width of the transfer", **_NONNEG),
        "C_mem": _p("capacitance", "integration capacitor"),
    },
}

#: Pairs (lower, upper) of parameters of one model that must stay ordered (lower < upper),
#: in the nominal profile and in every mismatched instance.
ORDERED: dict[str, list[tuple[str, str]]] = {
    "ifc_schmitt": [("V_fall", "V_rise"), ("V_rise", "VDD")],
    "capacitor_synapse": [("V_min", "V_max")],
    "memcapacitor": [("C_min", "C_max")],
    "ternary_bias": [("Vbp_active", "VDD"), ("Vbn_active", "VDD")],
}
