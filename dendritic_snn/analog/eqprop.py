"""Equilibrium propagation on the resistive network of :mod:`.circuit`: phases, gradient
estimators, the true gradient, and the training loop.

Loss and nudge. With :math:`V_{out} = V_{y+} - V_{y-}` and target :math:`t`,

.. math:: L = \\tfrac12 \\lVert V_{out} - t \\rVert^2 .

The nudged phase closes the output switches and injects the current
:math:`I = \\beta\\,(t - V^0_{out})` into ``y+`` and :math:`-I` into ``y-`` (:math:`\\beta` in
siemens; the current is set from the free-phase output, as a current source is in the circuits
of Kiraz et al.). To first order this minimises :math:`E + \\beta L` (:mod:`.circuit`).

Estimators of :math:`\\partial L/\\partial g` (flat over all conductances):

* ``kendall`` (one-sided, Kendall et al. 2020, Theorem 1; Kiraz's "VDM"):
  :math:`\\hat\\nabla_{ij} = \\frac{w_{ij}}{2\\beta}[(\\Delta V^{\\beta}_{ij})^2 -
  (\\Delta V^{0}_{ij})^2]`; the update is
  :math:`\\Delta g_{ij} = -\\alpha \\hat\\nabla_{ij}`.
* ``symmetric`` (Laborieux et al. 2021): :math:`\\frac{w_{ij}}{4\\beta}[(\\Delta V^{+\\beta})^2
  - (\\Delta V^{-\\beta})^2]`, whose bias is :math:`O(\\beta^2)` instead of :math:`O(\\beta)`.
* ``pcm`` (Kiraz's power-computation method): :math:`-\\frac{1}{\\beta}[dP^\\beta/dg -
  dP^0/dg]` with :math:`P` the total power (resistors, diodes, amplifiers;
  :func:`.circuit.power_breakdown`) and :math:`dP/dg` a finite difference that re-solves
  the circuit. The minus sign is the one that makes it a descent direction (in Kiraz's SPICE
  code the nudging source's polarity supplies it); with the opposite sign the estimate points
  up the gradient (measured cosine -1 at small β).

The weight :math:`w_{ij}` is 1 in the paper's rule. Because the amplifier scales layer 1 in the
co-content by :math:`A^2` (:mod:`.circuit`), the exact EP limit needs :math:`w = A^2` on
layer-1 conductances (``compensate=True``); without it the rule is the true gradient
preconditioned by ``diag(1/A^2, 1)``: still a descent direction, not the gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .circuit import (
    Circuit,
    jacobian,
    output_voltage,
    power_breakdown,
    residual_grad_g,
    solve_dc,
    voltage_drops,
)

ESTIMATORS = ("kendall", "symmetric", "pcm")


def loss(c: Circuit, v: np.ndarray, target: np.ndarray) -> np.ndarray:
    """:math:`L = \\frac12 \\sum (V_{out} - t)^2`, shape ``(B,)``, V²."""
    return 0.5 * ((output_voltage(c, v) - target) ** 2).sum(axis=-1)


def nudge_current(c: Circuit, v_free: np.ndarray, target, beta) -> np.ndarray:
    """Currents into ``[y+, y-]`` pairs: :math:`\\pm\\beta (t - V^0_{out})`, shape
    ``(B, 2 n_o)``, A. ``beta`` is a scalar or one value per circuit, S."""
    beta = np.asarray(beta, dtype=float).reshape(-1, 1) if np.ndim(beta) else float(beta)
    i = beta * (np.asarray(target) - output_voltage(c, v_free))
    out = np.empty((v_free.shape[0], c.n_y))
    out[:, 0::2], out[:, 1::2] = i, -i
    return out


def layer_weights(c: Circuit, compensate: bool) -> np.ndarray:
    """:math:`w`: ``A**2`` on layer-1 conductances if ``compensate``, else ones."""
    return np.where(c.layer_of() == 0, c.gain**2 if compensate else 1.0, 1.0)


def _beta_col(beta) -> np.ndarray | float:
    return np.asarray(beta, dtype=float).reshape(-1, 1) if np.ndim(beta) else float(beta)


def kendall_gradient(c: Circuit, v_free, v_nudged, beta, compensate: bool = False):
    """One-sided EP estimate :math:`\\frac{w}{2\\beta}[(\\Delta V^\\beta)^2 -
    (\\Delta V^0)^2]`, shape ``(B, n_g)``, V²/S."""
    d0, db = voltage_drops(c, v_free), voltage_drops(c, v_nudged)
    return layer_weights(c, compensate) * (db**2 - d0**2) / (2 * _beta_col(beta))


def symmetric_gradient(c: Circuit, v_plus, v_minus, beta, compensate: bool = False):
    """Symmetric EP estimate :math:`\\frac{w}{4\\beta}[(\\Delta V^{+\\beta})^2 -
    (\\Delta V^{-\\beta})^2]`, shape ``(B, n_g)``, V²/S."""
    dp, dm = voltage_drops(c, v_plus), voltage_drops(c, v_minus)
    return layer_weights(c, compensate) * (dp**2 - dm**2) / (4 * _beta_col(beta))


def power_gradient(c: Circuit, g, i_inj, v, rel_step: float = 1e-3) -> np.ndarray:
    """:math:`dP/dg` of the total power at the operating point, by central finite
    differences that re-solve the circuit with each conductance scaled by ``1 ± rel_step``,
    shape ``(B, n_g)``, W/S."""
    batch, n_g = g.shape
    eye = np.eye(n_g)
    out = np.empty((batch, n_g))
    rep = np.repeat(g, n_g, axis=0)  # (B*n_g, n_g), row b*n_g + m perturbs conductance m
    mask = np.tile(eye, (batch, 1))
    inj = None if i_inj is None else np.repeat(i_inj, n_g, axis=0)
    v_rep = np.repeat(v, n_g, axis=0)
    totals = []
    for sign in (1.0, -1.0):
        gp = rep * (1 + sign * rel_step * mask)
        vp = solve_dc(c, gp, inj, v0=v_rep)
        totals.append(power_breakdown(c, gp, vp, inj)["total"].reshape(batch, n_g))
    out[:] = (totals[0] - totals[1]) / (2 * rel_step * g)
    return out


def pcm_gradient(c: Circuit, g, v_free, v_nudged, i_nudge, beta, rel_step: float = 1e-3):
    """Power-computation estimate :math:`-\\frac{1}{\\beta}[dP^\\beta/dg - dP^0/dg]`,
    shape ``(B, n_g)``, V²/S (sign: see the module docstring)."""
    d_free = power_gradient(c, g, None, v_free, rel_step)
    d_nudged = power_gradient(c, g, i_nudge, v_nudged, rel_step)
    return -(d_nudged - d_free) / _beta_col(beta)


def true_gradient(c: Circuit, g: np.ndarray, target, v_free: np.ndarray | None = None):
    """Exact :math:`dL/dg` by the adjoint method: :math:`J^T\\lambda = \\partial L/\\partial V`,
    :math:`dL/dg = -\\lambda^T \\partial r/\\partial g`. Shape ``(B, n_g)``."""
    v = solve_dc(c, g) if v_free is None else v_free
    err = output_voltage(c, v) - np.asarray(target)
    dl_dv = np.zeros_like(v)
    dl_dv[:, c.n_hidden + 0 :: 2] = err
    dl_dv[:, c.n_hidden + 1 :: 2] = -err
    lam = np.linalg.solve(np.swapaxes(jacobian(c, g, v), -1, -2), dl_dv[..., None])[..., 0]
    return -np.einsum("bn,bng->bg", lam, residual_grad_g(c, v))


def fd_gradient(c: Circuit, g: np.ndarray, target, rel_step: float = 1e-5) -> np.ndarray:
    """:math:`dL/dg` by central finite differences (re-solving), shape ``(B, n_g)``."""
    batch, n_g = g.shape
    mask = np.tile(np.eye(n_g), (batch, 1))
    rep = np.repeat(g, n_g, axis=0)
    losses = [
        loss(c, solve_dc(c, rep * (1 + s * rel_step * mask)), target).reshape(batch, n_g)
        for s in (1.0, -1.0)
    ]
    return (losses[0] - losses[1]) / (2 * rel_step * g)


def estimate_gradient(
    c: Circuit,
    g,
    target,
    beta,
    estimator: str,
    compensate: bool = False,
    v_free=None,
    read_noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the phases an estimator needs; return ``(gradient estimate, free-phase V)``.

    Phases: free (switches open); nudged at ``+beta``; for ``symmetric`` also ``-beta``.
    Each nudged phase starts from the free operating point, as the physical circuit does.
    ``read_noise`` (V, Gaussian σ) perturbs every node voltage the learning rule *reads*
    (a measurement resolution or simulator tolerance); the circuit state itself stays exact.
    It is ignored by ``pcm``.
    """
    if read_noise > 0 and rng is None:
        raise ValueError("read_noise needs an rng")

    def read(v: np.ndarray) -> np.ndarray:
        return v + rng.normal(0.0, read_noise, v.shape) if read_noise > 0 else v

    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {ESTIMATORS}")
    v0 = solve_dc(c, g, v0=v_free)
    m0 = read(v0)
    i_plus = nudge_current(c, m0, target, beta)
    v_plus = solve_dc(c, g, i_plus, v0=v0)
    if estimator == "kendall":
        return kendall_gradient(c, m0, read(v_plus), beta, compensate), v0
    if estimator == "symmetric":
        v_minus = solve_dc(c, g, -i_plus, v0=v0)
        return symmetric_gradient(c, read(v_plus), read(v_minus), beta, compensate), v0
    return pcm_gradient(c, g, v0, v_plus, i_plus, beta), v0


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity, shape ``(B,)``."""
    num = (a * b).sum(axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass
class TrainResult:
    """Training history of a batch of circuits.

    Attributes
    ----------
    error : ndarray, shape (steps + 1, B)
        :math:`|V_{out} - t|` (max over outputs) of the free phase before each update, V.
    g : ndarray, shape (B, n_g)
        Final conductances, S.
    failed : ndarray of bool, shape (B,)
        Circuits whose estimate became non-finite (frozen from then on).
    """

    error: np.ndarray
    g: np.ndarray
    failed: np.ndarray


def train(
    c: Circuit,
    g0: np.ndarray,
    target,
    alpha: float,
    beta,
    steps: int,
    estimator: str = "kendall",
    compensate: bool = False,
    g_bounds: tuple[float, float] = (1e-6, 10.0),
    tick: Callable[[], None] | None = None,
    read_noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> TrainResult:
    """Train ``B`` circuits in parallel on one input/target pair:
    :math:`g \\leftarrow \\mathrm{clip}(g - \\alpha \\hat\\nabla, g_{min}, g_{max})`.

    ``beta`` is a scalar or one value per circuit (a β sweep runs as one batch);
    ``read_noise`` and ``rng``: see :func:`estimate_gradient`.
    """
    g = np.array(g0, dtype=float)
    target = np.asarray(target, dtype=float)
    errors = np.empty((steps + 1, g.shape[0]))
    failed = np.zeros(g.shape[0], dtype=bool)
    v = None
    for step in range(steps + 1):
        grad, v = estimate_gradient(c, g, target, beta, estimator, compensate, v, read_noise, rng)
        errors[step] = np.abs(output_voltage(c, v) - target).max(axis=-1)
        if step == steps:
            break
        bad = ~np.isfinite(grad).all(axis=-1)
        failed |= bad
        grad = np.where(failed[:, None], 0.0, grad)
        g = np.clip(g - alpha * grad, *g_bounds)
        if tick is not None:
            tick()
    return TrainResult(errors, g, failed)
