"""Memcapacitor synapses and the hysteretic analog neuron of Oshio et al. (COOL CHIPS 2022).

Only the paper's abstract is available: it states a 180 nm, 100 MHz design with memcapacitor
synapses, a deliberately simple analog neuron whose *nonlinear, hysteretic* transfer is folded
into training as the activation function, and weights converted to device parameters. It gives
no equation, so **every functional form below is an assumption**, chosen to be the simplest
that has the stated features and is parameterized by the ``memcapacitor`` and
``analog_neuron`` blocks of ``hw_profiles/memcap_180nm.yaml``:

* weights map linearly onto ``levels`` evenly spaced capacitances in ``[C_min, C_max]``;
* a read pulse of amplitude ``V_read`` moves the charge ``Q = C V_read`` onto the neuron's
  integration capacitor ``C_mem`` (``dV = Q / C_mem``);
* the neuron's transfer is a clipped line (threshold ``V_threshold``, slope ``gain``, ceiling
  ``V_saturation``) with rate-independent (play-operator) hysteresis of width ``hysteresis``.

All functions broadcast over instances; parameters may be per-instance arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

Params = Mapping[str, ArrayLike]
FArray = NDArray[np.float64]
Branch = Literal["rising", "falling"]


def _f(params: Params, key: str) -> FArray:
    return np.asarray(params[key], dtype=float)


# ------------------------------------------------------------------------ memcapacitor synapse
def n_levels(params: Params) -> int:
    """Number of programmable states, an integer >= 2 shared by the chip.

    Raises
    ------
    ValueError
        If ``levels`` differs between instances (it is a design choice, not a device
        variable: exempt ``synapse.levels`` from mismatch) or is below 2.
    """
    levels = np.unique(np.round(np.asarray(params["levels"], dtype=float)))
    if levels.size != 1 or levels[0] < 2:
        raise ValueError(f"memcapacitor: levels must be one integer >= 2, got {levels}")
    return int(levels[0])


def capacitance_levels(params: Params) -> FArray:
    """The programmable capacitances ``C_min + k (C_max - C_min)/(levels - 1)``, along the
    last axis. Assumption: evenly spaced states (the abstract gives no device curve)."""
    k = np.arange(n_levels(params)) / (n_levels(params) - 1)
    c_min, c_max = _f(params, "C_min")[..., None], _f(params, "C_max")[..., None]
    return c_min + k * (c_max - c_min)


def weight_to_capacitance(
    w: ArrayLike, params: Params, w_range: tuple[float, float] = (0.0, 1.0)
) -> FArray:
    """Program a weight: clip to ``w_range``, map linearly onto ``[C_min, C_max]`` and round
    to the nearest of the ``levels`` states.

    .. math:: k = \\mathrm{round}\\Big((L-1)\\frac{w - w_{lo}}{w_{hi} - w_{lo}}\\Big), \\qquad
       C = C_{min} + \\frac{k}{L-1}(C_{max} - C_{min})
    """
    lo, hi = w_range
    steps = n_levels(params) - 1
    x = np.clip((np.asarray(w, dtype=float) - lo) / (hi - lo), 0.0, 1.0)
    k = np.round(x * steps)
    c_min, c_max = _f(params, "C_min"), _f(params, "C_max")
    return c_min + k / steps * (c_max - c_min)


def capacitance_to_weight(
    c: ArrayLike, params: Params, w_range: tuple[float, float] = (0.0, 1.0)
) -> FArray:
    """Inverse linear map ``w = w_lo + (C - C_min)/(C_max - C_min) (w_hi - w_lo)``."""
    lo, hi = w_range
    c_min, c_max = _f(params, "C_min"), _f(params, "C_max")
    return lo + (np.asarray(c, dtype=float) - c_min) / (c_max - c_min) * (hi - lo)


def weight_step(params: Params, w_range: tuple[float, float] = (0.0, 1.0)) -> float:
    """Weight change per capacitance state, ``(w_hi - w_lo) / (levels - 1)``."""
    return (w_range[1] - w_range[0]) / (n_levels(params) - 1)


def signed_weight_to_pair(
    w: ArrayLike, params: Params, w_max: float = 1.0
) -> tuple[FArray, FArray]:
    """Signed weight -> differential pair ``(C_pos, C_neg)``.

    ``|w|`` (clipped to ``w_max``) is programmed on one device, the other stays at ``C_min``,
    so the effective weight is ``w_max (C_pos - C_neg)/(C_max - C_min)``. Assumption: the
    abstract does not say how negative weights are realised; a differential pair read by a
    differential integrator is the usual choice.
    """
    w = np.asarray(w, dtype=float)
    c_abs = weight_to_capacitance(np.abs(w), params, (0.0, w_max))
    c_min = np.broadcast_to(_f(params, "C_min"), c_abs.shape)
    return np.where(w >= 0, c_abs, c_min), np.where(w < 0, c_abs, c_min)


def read_charge(c: ArrayLike, params: Params, pulses: ArrayLike = 1.0) -> FArray:
    """Charge delivered by read pulses: ``Q = C V_read n`` (``n`` = number of pulses).

    Assumption: linear (voltage-independent) capacitance during the read.
    """
    return np.asarray(c, dtype=float) * _f(params, "V_read") * np.asarray(pulses, dtype=float)


def synaptic_charge(spikes: ArrayLike, capacitance: ArrayLike, params: Params) -> FArray:
    """Charge on each post-synaptic neuron from a layer of memcapacitors.

    .. math:: Q_j = V_{read} \\sum_i s_i C_{ij}

    ``spikes`` ``(..., n_pre)`` (0/1 or pulse counts), ``capacitance`` ``(n_pre, n_post)``;
    ``V_read`` is a scalar or one amplitude per input row (its read driver), ``(n_pre,)``.
    """
    s = np.asarray(spikes, dtype=float) * _f(params, "V_read")
    return s @ np.asarray(capacitance, dtype=float)


# ------------------------------------------------------------------------ analog neuron
def integrate_charge(v_mem: ArrayLike, q: ArrayLike, params: Params) -> FArray:
    """Integration capacitor: ``V_mem += Q / C_mem``. Assumption: ideal (virtual-ground)
    charge transfer; leak and reset are left to the caller (the abstract is silent)."""
    return np.asarray(v_mem, dtype=float) + np.asarray(q, dtype=float) / _f(params, "C_mem")


def _shift(params: Params, branch: Branch) -> FArray | float:
    if branch not in ("rising", "falling"):
        raise ValueError(f"branch must be 'rising' or 'falling', got {branch!r}")
    return _f(params, "hysteresis") if branch == "falling" else 0.0


def _z(u: ArrayLike, params: Params, branch: Branch) -> FArray:
    """Pre-clip output ``gain (u + shift - V_threshold)``."""
    u = np.asarray(u, dtype=float) + _shift(params, branch)
    return _f(params, "gain") * (u - _f(params, "V_threshold"))


def transfer(u: ArrayLike, params: Params, branch: Branch = "rising") -> FArray:
    """Static transfer curve of the analog neuron on one hysteresis branch.

    .. math:: y = \\mathrm{clip}\\big(g\\,(u + \\delta - V_{th}),\\ 0,\\ V_{sat}\\big), \\qquad
       \\delta = 0 \\text{ (rising)}, \\ \\ \\delta = h \\text{ (falling)}

    The rising branch turns on at ``V_threshold``; the falling branch is the same curve shifted
    left by the hysteresis width ``h``, so it turns off only below ``V_threshold - h``.
    Assumptions: piecewise-linear shape and rising-branch threshold = ``V_threshold``.
    """
    return np.clip(_z(u, params, branch), 0.0, _f(params, "V_saturation"))


def transfer_grad(u: ArrayLike, params: Params, branch: Branch = "rising") -> FArray:
    """Derivative ``dy/du`` of :func:`transfer`: ``gain`` on the linear segment, else 0."""
    z = _z(u, params, branch)
    on = (z > 0.0) & (z < _f(params, "V_saturation"))
    return np.where(on, _f(params, "gain"), 0.0)


def smooth_transfer(
    u: ArrayLike, params: Params, beta: float = 20.0, branch: Branch = "rising"
) -> FArray:
    """Smooth surrogate of :func:`transfer` for gradient training.

    .. math:: y = \\mathrm{sp}_\\beta(z) - \\mathrm{sp}_\\beta(z - V_{sat}), \\qquad
       \\mathrm{sp}_\\beta(z) = \\log(1 + e^{\\beta z}) / \\beta

    with ``z = gain (u + delta - V_threshold)``; ``beta`` [1/V] sets the corner sharpness and
    the curve tends to :func:`transfer` as ``beta -> inf``.
    """
    z, v_sat = _z(u, params, branch), _f(params, "V_saturation")
    return (np.logaddexp(0.0, beta * z) - np.logaddexp(0.0, beta * (z - v_sat))) / beta


def smooth_transfer_grad(
    u: ArrayLike, params: Params, beta: float = 20.0, branch: Branch = "rising"
) -> FArray:
    """Exact derivative of :func:`smooth_transfer`:
    ``gain (sigmoid(beta z) - sigmoid(beta (z - V_sat)))``."""
    z, v_sat = _z(u, params, branch), _f(params, "V_saturation")
    return _f(params, "gain") * (expit(beta * z) - expit(beta * (z - v_sat)))


def hysteretic_transfer_step(u: ArrayLike, p: ArrayLike, params: Params) -> tuple[FArray, FArray]:
    """Stateful transfer with rate-independent hysteresis (play operator of width ``h``).

    .. math:: p_{k+1} = \\mathrm{clip}(p_k,\\ u_{k+1},\\ u_{k+1} + h), \\qquad
       y_{k+1} = \\mathrm{clip}\\big(g\\,(p_{k+1} - V_{th}),\\ 0,\\ V_{sat}\\big)

    While ``u`` rises, ``p = u`` (rising branch of :func:`transfer`); while it falls,
    ``p = u + h`` (falling branch); on reversal ``y`` holds until ``u`` has moved by ``h``.
    Start from rest with ``p = u``.

    Parameters
    ----------
    u
        Neuron input (integration-capacitor voltage) [V] at this step.
    p
        Play-operator state [V] from the previous step.
    params
        ``analog_neuron`` block: ``V_threshold, gain, V_saturation, hysteresis``.

    Returns
    -------
    tuple of ndarray
        ``(y, p)``: output voltage [V] and the new state.
    """
    u = np.asarray(u, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), u, u + _f(params, "hysteresis"))
    y = np.clip(
        _f(params, "gain") * (p - _f(params, "V_threshold")), 0.0, _f(params, "V_saturation")
    )
    return y, p
