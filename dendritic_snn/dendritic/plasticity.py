"""Stop-learning weight update of Cartiglia, Haessig & Indiveri (AICAS 2020), Eq. 3.

With the error :math:`e = I_S - I_B` (somatic minus basal/dendritic current), the
bottom-up weight update is

.. math::

   \\Delta w = \\begin{cases}
       \\eta\\,e - \\Theta & \\text{if } e > \\Theta \\\\
       \\eta\\,e + \\Theta & \\text{if } e < -\\Theta \\\\
       0 & \\text{otherwise}
   \\end{cases}

with learning rate :math:`\\eta` and "hysteresis term" :math:`\\Theta \\ge 0`. The same rule
applies in the apical compartment, between the top-down projection and the lateral inhibitory
input.

This module gives the rule in two forms, and both are the same equation:

* :func:`stop_learning_update`, a vectorised NumPy function (analysis and unit tests);
* :func:`stop_learning_expr` and :func:`stop_learning_code`, the Brian2 abstract-code form for
  ``Synapses(on_pre=...)``. It writes every comparison inside ``int(...)``, because
  sympy >= 1.6 does not allow a Relational inside arithmetic.

Notes on the equation as printed
--------------------------------
* **Dead band.** :math:`|e| \\le \\Theta` gives exactly zero update. This is the
  "stop-learning region": learning stops once the dendrite predicts the soma within
  :math:`\\Theta`.
* **Continuity.** At the band edge :math:`e \\to \\Theta^+`, the update tends to
  :math:`(\\eta - 1)\\Theta`; at :math:`e \\to -\\Theta^-` it tends to
  :math:`-(\\eta - 1)\\Theta`. The rule is continuous there (a soft threshold
  :math:`e - \\Theta\\,\\mathrm{sign}(e)`) **only if** :math:`\\eta = 1`. Otherwise:

  - :math:`\\eta < 1`: there is a jump to :math:`-(1-\\eta)\\Theta` just above the band. For
    :math:`\\Theta < e < \\Theta/\\eta` the update has the **opposite** sign of the error, so the
    rule pushes *away* from the target there. The update changes sign at
    :math:`|e| = \\Theta/\\eta`.
  - :math:`\\eta > 1`: there is a jump to :math:`+(\\eta-1)\\Theta` with the sign of the error,
    so every update outside the band has magnitude at least :math:`(\\eta-1)\\Theta`.

  In both cases :math:`\\Delta w` is odd in :math:`e`. The continuous soft threshold
  :math:`\\eta(e - \\Theta\\,\\mathrm{sign}(e))` would avoid the jumps, but it is *not* what the
  paper writes and is not implemented here.
* **Units.** The comparisons need :math:`\\Theta` in current units, while
  :math:`\\eta e - \\Theta` adds it to a weight change. The equation is dimensionally consistent
  only if :math:`\\eta` is dimensionless and the weight is a current, or if all currents are
  normalised (e.g. :math:`I/I_{ref}`). Variable names passed to the code generators may be
  expressions such as ``"I_S/I_ref"``.
* **"Hysteresis".** Eq. 3 has no memory: it is a dead band, not a two-threshold hysteretic gate.
  A gated variant with separate on/off thresholds (Payvand & Indiveri 2019; see the project's
  research notes §7.2) would need a state variable and is not part of Eq. 3.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "count_nonzero_updates",
    "in_stop_band",
    "stop_learning_code",
    "stop_learning_expr",
    "stop_learning_update",
]


def stop_learning_update(
    i_soma: ArrayLike, i_dend: ArrayLike, eta: ArrayLike, theta: ArrayLike
) -> NDArray[np.float64]:
    """Cartiglia 2020 Eq. 3 as a vectorised NumPy function.

    .. math::

       e = I_S - I_B, \\qquad
       \\Delta w = [e > \\Theta]\\,(\\eta e - \\Theta) + [e < -\\Theta]\\,(\\eta e + \\Theta)

    The inequalities are strict, so :math:`e = \\pm\\Theta` gives :math:`\\Delta w = 0`. The rule
    is continuous at the band edges only for :math:`\\eta = 1`; see the module notes. This
    function and :func:`stop_learning_expr` are the same equation.

    Parameters
    ----------
    i_soma
        Somatic current :math:`I_S` (or the teacher-driven side of the error).
    i_dend
        Dendritic prediction :math:`I_B` (basal or, for apical learning, the interneuron
        input).
    eta
        Learning rate :math:`\\eta`.
    theta
        Stop-learning half-width :math:`\\Theta \\ge 0`.

    Returns
    -------
    numpy.ndarray
        :math:`\\Delta w` with the broadcast shape of the inputs (0-d for scalar inputs).
    """
    e = np.asarray(i_soma, dtype=float) - np.asarray(i_dend, dtype=float)
    eta_a = np.asarray(eta, dtype=float)
    th = np.asarray(theta, dtype=float)
    if np.any(th < 0):
        raise ValueError("theta must be non-negative")
    return np.where(e > th, eta_a * e - th, np.where(e < -th, eta_a * e + th, 0.0))


def in_stop_band(i_soma: ArrayLike, i_dend: ArrayLike, theta: ArrayLike) -> NDArray[np.bool_]:
    """Where the error is inside the stop-learning band, :math:`|I_S - I_B| \\le \\Theta`.

    Parameters
    ----------
    i_soma, i_dend
        Somatic and dendritic currents.
    theta
        Band half-width :math:`\\Theta`.

    Returns
    -------
    numpy.ndarray of bool
        True where Eq. 3 gives zero update because of the band.
    """
    e = np.asarray(i_soma, dtype=float) - np.asarray(i_dend, dtype=float)
    return np.abs(e) <= np.asarray(theta, dtype=float)


def count_nonzero_updates(dw: ArrayLike, atol: float = 0.0) -> int:
    """Number of updates with :math:`|\\Delta w| > \\text{atol}` (the "stop-learning stops" metric).

    A falling count over training means the errors have moved into the band
    :math:`|e| \\le \\Theta`. Outside the band an update is also zero when
    :math:`\\eta |e| = \\Theta` exactly; this almost never happens.

    Parameters
    ----------
    dw
        Updates, e.g. the output of :func:`stop_learning_update` collected over events.
    atol
        Magnitude at or below which an update counts as zero.

    Returns
    -------
    int
        Count of non-zero updates.
    """
    return int(np.count_nonzero(np.abs(np.asarray(dw, dtype=float)) > atol))


def _wrap(expr: str) -> str:
    """Parenthesise an expression unless it is a plain identifier or a non-negative number."""
    s = expr.strip()
    if not s:
        raise ValueError("empty variable name / expression")
    if s.isidentifier() or re.fullmatch(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?", s):
        return s
    return f"({s})"


def stop_learning_expr(
    i_soma: str = "I_S", i_dend: str = "I_B", eta: str = "eta", theta: str = "theta"
) -> str:
    """Brian2 abstract-code *expression* for Eq. 3, the same equation as
    :func:`stop_learning_update`.

    .. math::

       \\Delta w = \\mathrm{int}(e > \\Theta)\\,(\\eta e - \\Theta)
                 + \\mathrm{int}(e < -\\Theta)\\,(\\eta e + \\Theta),
       \\qquad e = I_S - I_B

    Parameters
    ----------
    i_soma, i_dend, eta, theta
        Brian2 names (or expressions, which are parenthesised) of :math:`I_S`, :math:`I_B`,
        :math:`\\eta` and :math:`\\Theta`, as seen from the synapse. Post-synaptic variables
        need their suffix, e.g. ``"Imem_post"``.

    Returns
    -------
    str
        One expression, e.g. ``int((I_S - I_B) > theta)*(eta*(I_S - I_B) - theta) + ...``.
    """
    e = f"({_wrap(i_soma)} - {_wrap(i_dend)})"
    th, et = _wrap(theta), _wrap(eta)
    return f"int({e} > {th})*({et}*{e} - {th}) + int({e} < -{th})*({et}*{e} + {th})"


def stop_learning_code(
    target: str = "w",
    i_soma: str = "I_S",
    i_dend: str = "I_B",
    eta: str = "eta",
    theta: str = "theta",
    w_min: str | None = None,
    w_max: str | None = None,
    counter: str | None = None,
) -> str:
    """Brian2 abstract-code *statements* that apply Eq. 3 to a weight, for ``on_pre``.

    Generates

    .. code-block:: text

       w += int(e > theta)*(eta*e - theta) + int(e < -theta)*(eta*e + theta)
       w = clip(w, w_min, w_max)                # only if both bounds are given
       n_updates += int(abs(e) > theta)          # only if counter is given

    where ``e`` stands for ``(I_S - I_B)``. This is the same equation as
    :func:`stop_learning_update`.

    Parameters
    ----------
    target
        Weight variable to update.
    i_soma, i_dend, eta, theta
        Names or expressions of :math:`I_S`, :math:`I_B`, :math:`\\eta` and :math:`\\Theta`; see
        :func:`stop_learning_expr`.
    w_min, w_max
        Optional weight bounds (names or literals). With one bound given, only that side is
        clipped.
    counter
        Optional synaptic variable incremented on every event outside the band, to count
        non-zero updates in simulation (see :func:`count_nonzero_updates`).

    Returns
    -------
    str
        Newline-separated statements.
    """
    lines = [f"{target} += {stop_learning_expr(i_soma, i_dend, eta, theta)}"]
    if w_min is not None and w_max is not None:
        lines.append(f"{target} = clip({target}, {_wrap(w_min)}, {_wrap(w_max)})")
    elif w_min is not None:
        lines.append(f"{target} = clip({target}, {_wrap(w_min)}, inf)")
    elif w_max is not None:
        lines.append(f"{target} = clip({target}, -inf, {_wrap(w_max)})")
    if counter is not None:
        e = f"({_wrap(i_soma)} - {_wrap(i_dend)})"
        lines.append(f"{counter} += int(abs({e}) > {_wrap(theta)})")
    return "\n".join(lines)
