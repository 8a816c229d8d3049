"""A layered nonlinear resistive network (Kendall et al. 2020; Kiraz et al. 2023, Fig. 1) and its
DC operating point.

Topology (all voltages to ground, batched over ``B`` independent circuits):

* ``n_x`` fixed DC sources ``x`` (the inputs and the bias).
* ``n_h`` hidden nodes ``h``. Each node sees the conductances ``G1[i, k]`` (input ``i`` to
  hidden ``k``) and a pair of antiparallel diodes to shift sources ``±V_s``:

  .. math:: I_D(V) = I_s\\,[e^{(V - V_s)/nV_T} - 1] - I_s\\,[e^{-(V + V_s)/nV_T} - 1]

* A bidirectional amplifier per hidden node: a VCVS drives ``u_k = A V_{h,k}`` forward and a
  CCCS feeds ``-I_{E,k}/A`` back into ``h_k``, where ``I_{E,k}`` is the current the VCVS sends
  into the next layer.
* ``2 n_o`` output nodes ``y`` (each output is doubled, ``V_out = V_{y+} - V_{y-}``, so that
  positive conductances can give a negative output), linked to the amplifier outputs by
  ``G2[k, j]``, and a nudging current ``I_j`` injected into ``y_j`` (zero in the free phase:
  switches open).

Kirchhoff's current law, written as the current *leaving* each unknown node:

.. math::

    r_{h,k} &= \\sum_i G1_{ik}(V_{h,k} - x_i) + I_D(V_{h,k})
               + \\tfrac{1}{A}\\sum_j G2_{kj}(A V_{h,k} - V_{y,j}) \\\\
    r_{y,j} &= \\sum_k G2_{kj}(V_{y,j} - A V_{h,k}) - I_j

Both are the gradient of one strictly convex function, the (amplifier-weighted) co-content

.. math::

    E = A^2\\Big[\\tfrac12\\sum G1_{ik}(V_{h,k} - x_i)^2 + \\sum_k \\Phi_D(V_{h,k})\\Big]
        + \\tfrac12 \\sum G2_{kj}(A V_{h,k} - V_{y,j})^2 - \\sum_j I_j V_{y,j},

    \\Phi_D(V) = I_s n V_T\\,[e^{(V - V_s)/nV_T} + e^{-(V + V_s)/nV_T}],

with :math:`\\partial E/\\partial V_h = A^2 r_h` and :math:`\\partial E/\\partial V_y = r_y`. The
operating point is its unique minimum; :func:`solve_dc` finds it by damped Newton with the
analytic Jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXP_CLIP = 200.0  # largest exponent evaluated (e^200 ~ 1e87: finite, rejected by line search)


@dataclass(frozen=True)
class Circuit:
    """Fixed parameters of the network (everything except the conductances).

    Attributes
    ----------
    x : ndarray, shape (n_x,)
        Source voltages (inputs, then bias), V.
    n_hidden, n_out : int
        Hidden nodes; logical outputs (each realised as two nodes ``y+``, ``y-``).
    i_s : float
        Diode saturation current, A (0 gives a linear, diode-free network).
    n_vt : float
        Ideality factor times thermal voltage, V.
    v_shift : float
        Shift-source voltage in series with each diode, V.
    gain : float
        Amplifier voltage gain A (the CCCS current gain is 1/A).
    """

    x: np.ndarray
    n_hidden: int = 2
    n_out: int = 1
    i_s: float = 1e-6
    n_vt: float = 2 * 0.025852
    v_shift: float = 0.3
    gain: float = 4.0

    @property
    def n_x(self) -> int:
        return int(np.size(self.x))

    @property
    def n_y(self) -> int:
        return 2 * self.n_out

    @property
    def n_g(self) -> int:
        """Number of conductances: ``n_x n_h + n_h 2 n_o``."""
        return self.n_x * self.n_hidden + self.n_hidden * self.n_y

    @property
    def n_nodes(self) -> int:
        """Number of unknown node voltages: ``n_h + 2 n_o``."""
        return self.n_hidden + self.n_y

    def split(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat conductances ``(B, n_g)`` -> ``G1 (B, n_x, n_h)``, ``G2 (B, n_h, 2 n_o)``."""
        m = self.n_x * self.n_hidden
        g1 = g[..., :m].reshape(*g.shape[:-1], self.n_x, self.n_hidden)
        g2 = g[..., m:].reshape(*g.shape[:-1], self.n_hidden, self.n_y)
        return g1, g2

    def layer_of(self) -> np.ndarray:
        """Layer index (0 or 1) of each flat conductance."""
        m = self.n_x * self.n_hidden
        return (np.arange(self.n_g) >= m).astype(int)


def diode_current(v: np.ndarray, i_s: float, n_vt: float, v_shift: float) -> np.ndarray:
    """Current of the antiparallel diode pair into ground, A (see module docstring)."""
    up = np.exp(np.minimum((v - v_shift) / n_vt, EXP_CLIP))
    down = np.exp(np.minimum(-(v + v_shift) / n_vt, EXP_CLIP))
    return i_s * (up - 1.0) - i_s * (down - 1.0)


def diode_conductance(v: np.ndarray, i_s: float, n_vt: float, v_shift: float) -> np.ndarray:
    """Small-signal conductance :math:`dI_D/dV = (I_s/nV_T)[e^{(V-V_s)/nV_T} +
    e^{-(V+V_s)/nV_T}]`, S."""
    up = np.exp(np.minimum((v - v_shift) / n_vt, EXP_CLIP))
    down = np.exp(np.minimum(-(v + v_shift) / n_vt, EXP_CLIP))
    return i_s / n_vt * (up + down)


def diode_cocontent(v: np.ndarray, i_s: float, n_vt: float, v_shift: float) -> np.ndarray:
    """Co-content :math:`\\Phi_D(V) = I_s nV_T [e^{(V-V_s)/nV_T} + e^{-(V+V_s)/nV_T}]`, W
    (up to a constant; :math:`\\Phi_D' = I_D`)."""
    up = np.exp(np.minimum((v - v_shift) / n_vt, EXP_CLIP))
    down = np.exp(np.minimum(-(v + v_shift) / n_vt, EXP_CLIP))
    return i_s * n_vt * (up + down)


def _unpack(c: Circuit, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return v[..., : c.n_hidden], v[..., c.n_hidden :]


def residual(c: Circuit, g: np.ndarray, v: np.ndarray, i_inj: np.ndarray | None = None):
    """KCL residual (current leaving each unknown node), shape ``(B, n_h + 2 n_o)``, A.

    Parameters
    ----------
    c : Circuit
    g : ndarray, shape (B, n_g)
        Conductances, S.
    v : ndarray, shape (B, n_h + 2 n_o)
        Node voltages ``[V_h, V_y]``, V.
    i_inj : ndarray, shape (B, 2 n_o), optional
        Current injected into each output node, A.
    """
    g1, g2 = c.split(g)
    vh, vy = _unpack(c, v)
    a = c.gain
    drop2 = a * vh[..., :, None] - vy[..., None, :]  # (B, n_h, n_y): u_k - V_y,j
    r_h = (
        np.einsum("bik,bk->bk", g1, vh)
        - np.einsum("bik,i->bk", g1, c.x)
        + diode_current(vh, c.i_s, c.n_vt, c.v_shift)
        + (g2 * drop2).sum(axis=-1) / a
    )
    r_y = -(g2 * drop2).sum(axis=-2)
    if i_inj is not None:
        r_y = r_y - i_inj
    return np.concatenate([r_h, r_y], axis=-1)


def jacobian(c: Circuit, g: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Analytic Jacobian :math:`\\partial r / \\partial V`, shape ``(B, n, n)``, S.

    .. math::

        \\partial r_{h,k}/\\partial V_{h,k} = \\sum_i G1_{ik} + I_D'(V_{h,k}) + \\sum_j G2_{kj},
        \\quad \\partial r_{h,k}/\\partial V_{y,j} = -G2_{kj}/A,

        \\partial r_{y,j}/\\partial V_{h,k} = -A\\,G2_{kj},
        \\quad \\partial r_{y,j}/\\partial V_{y,j} = \\sum_k G2_{kj}.
    """
    g1, g2 = c.split(g)
    vh, _ = _unpack(c, v)
    nh, a = c.n_hidden, c.gain
    jac = np.zeros((*v.shape, v.shape[-1]))
    diag_h = g1.sum(axis=-2) + diode_conductance(vh, c.i_s, c.n_vt, c.v_shift) + g2.sum(axis=-1)
    idx_h = np.arange(nh)
    idx_y = np.arange(c.n_y) + nh
    jac[..., idx_h, idx_h] = diag_h
    jac[..., idx_y, idx_y] = g2.sum(axis=-2)
    jac[..., :nh, nh:] = -g2 / a
    jac[..., nh:, :nh] = -a * np.swapaxes(g2, -1, -2)
    return jac


def energy(c: Circuit, g: np.ndarray, v: np.ndarray, i_inj: np.ndarray | None = None):
    """The co-content :math:`E` of the module docstring, shape ``(B,)``, W."""
    g1, g2 = c.split(g)
    vh, vy = _unpack(c, v)
    a = c.gain
    drop1 = vh[..., None, :] - c.x[:, None]
    drop2 = a * vh[..., :, None] - vy[..., None, :]
    e = a**2 * (
        0.5 * (g1 * drop1**2).sum(axis=(-1, -2))
        + diode_cocontent(vh, c.i_s, c.n_vt, c.v_shift).sum(axis=-1)
    ) + 0.5 * (g2 * drop2**2).sum(axis=(-1, -2))
    if i_inj is not None:
        e = e - (i_inj * vy).sum(axis=-1)
    return e


def solve_dc(
    c: Circuit,
    g: np.ndarray,
    i_inj: np.ndarray | None = None,
    v0: np.ndarray | None = None,
    tol: float = 1e-13,
    max_iter: int = 100,
) -> np.ndarray:
    """DC operating point by damped Newton on KCL, batched over circuits.

    Each step solves :math:`J\\,\\delta = -r` and halves the step until the co-content
    :math:`E` does not increase (E is strictly convex, so this converges from any start).

    Parameters
    ----------
    c : Circuit
    g : ndarray, shape (B, n_g)
        Conductances, S (positive).
    i_inj : ndarray, shape (B, 2 n_o), optional
        Nudging currents into the output nodes, A.
    v0 : ndarray, shape (B, n), optional
        Initial guess (warm start), V; zeros by default.
    tol : float
        Stop when every ``|r|`` is below ``tol`` times the largest current scale, or when the
        Newton step falls to rounding level (1e-14 relative).
    max_iter : int
        Newton iterations at most.

    Returns
    -------
    ndarray, shape (B, n_h + 2 n_o)
        Node voltages ``[V_h, V_y]``.

    Raises
    ------
    RuntimeError
        If KCL is not satisfied after ``max_iter`` iterations.
    """
    g = np.atleast_2d(np.asarray(g, dtype=float))
    batch = g.shape[0]
    v = np.zeros((batch, c.n_nodes)) if v0 is None else np.array(v0, dtype=float)
    scale = g.sum(axis=-1) * max(1.0, float(np.abs(c.x).max(initial=0.0)) * c.gain)
    if i_inj is not None:
        scale = scale + np.abs(i_inj).sum(axis=-1)
    e = energy(c, g, v, i_inj)
    small_step = np.zeros(batch, dtype=bool)
    for _ in range(max_iter):
        r = residual(c, g, v, i_inj)
        done = (np.abs(r).max(axis=-1) <= tol * scale) | small_step
        if done.all():
            return v
        step = np.linalg.solve(jacobian(c, g, v), -r[..., None])[..., 0]
        small_step = np.abs(step).max(axis=-1) <= 1e-14 * (1.0 + np.abs(v).max(axis=-1))
        t = np.ones(batch)
        for _ in range(60):
            trial = v + t[:, None] * step
            e_trial = energy(c, g, trial, i_inj)
            bad = ~(e_trial <= e + 1e-15 * np.abs(e)) & ~done
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        v = np.where(done[:, None], v, v + t[:, None] * step)
        e = energy(c, g, v, i_inj)
    r = residual(c, g, v, i_inj)
    worst = float((np.abs(r).max(axis=-1) / scale).max())
    if worst > 1e-6:
        raise RuntimeError(f"solve_dc: KCL not met after {max_iter} iterations ({worst:.2e})")
    return v


def output_voltage(c: Circuit, v: np.ndarray) -> np.ndarray:
    """Logical outputs :math:`V_{out} = V_{y+} - V_{y-}`, shape ``(B, n_o)``, V."""
    vy = v[..., c.n_hidden :]
    return vy[..., 0::2] - vy[..., 1::2]


def voltage_drops(c: Circuit, v: np.ndarray) -> np.ndarray:
    """Voltage across each conductance, flat like ``g``, shape ``(B, n_g)``, V:
    :math:`V_{h,k} - x_i` (layer 1) and :math:`A V_{h,k} - V_{y,j}` (layer 2)."""
    vh, vy = _unpack(c, v)
    drop1 = vh[..., None, :] - c.x[:, None]
    drop2 = c.gain * vh[..., :, None] - vy[..., None, :]
    return np.concatenate(
        [drop1.reshape(*v.shape[:-1], -1), drop2.reshape(*v.shape[:-1], -1)], axis=-1
    )


def residual_grad_g(c: Circuit, v: np.ndarray) -> np.ndarray:
    """:math:`\\partial r / \\partial g`, shape ``(B, n_nodes, n_g)``: each conductance enters
    KCL at its two end nodes (layer-2 current reaches ``h`` through the CCCS, scaled 1/A)."""
    batch = v.shape[0]
    nx, nh, ny, a = c.n_x, c.n_hidden, c.n_y, c.gain
    vh, vy = _unpack(c, v)
    out = np.zeros((batch, c.n_nodes, c.n_g))
    for i in range(nx):
        for k in range(nh):
            out[:, k, i * nh + k] = vh[:, k] - c.x[i]
    base = nx * nh
    for k in range(nh):
        for j in range(ny):
            col = base + k * ny + j
            out[:, k, col] = vh[:, k] - vy[:, j] / a
            out[:, nh + j, col] = vy[:, j] - a * vh[:, k]
    return out


def power_breakdown(
    c: Circuit, g: np.ndarray, v: np.ndarray, i_inj: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Power absorbed by each kind of element at an operating point, W, shape ``(B,)`` each.

    .. math::

        P_R &= \\sum G\\,\\Delta V^2, \\qquad
        P_D = \\sum_k I_{up}(V_{h,k} - V_s) + I_{dn}(-V_s - V_{h,k}), \\\\
        P_{amp} &= \\sum_k I_{E,k}\\,(V_{h,k}/A - A V_{h,k})
        \\quad (\\text{VCVS} - u_k I_{E,k} \\text{ plus CCCS } V_{h,k} I_{E,k}/A),

    ``total = P_R + P_D + P_amp`` is the "total power" of Kiraz et al. (diodes and amplifiers
    counted; negative amplifier power means the amplifiers deliver power). ``sources`` is the
    power delivered by the inputs, bias, diode shift sources and nudging current sources; by
    Tellegen's theorem it equals ``total``.
    """
    g1, g2 = c.split(g)
    vh, vy = _unpack(c, v)
    a = c.gain
    drops = voltage_drops(c, v)
    p_r = (g * drops**2).sum(axis=-1)
    up = c.i_s * (np.exp(np.minimum((vh - c.v_shift) / c.n_vt, EXP_CLIP)) - 1.0)
    dn = c.i_s * (np.exp(np.minimum(-(vh + c.v_shift) / c.n_vt, EXP_CLIP)) - 1.0)
    p_d = (up * (vh - c.v_shift) + dn * (-c.v_shift - vh)).sum(axis=-1)
    i_e = (g2 * (a * vh[..., :, None] - vy[..., None, :])).sum(axis=-1)
    p_amp = (i_e * (vh / a - a * vh)).sum(axis=-1)
    i_src = np.einsum("bik,bik->bi", g1, c.x[:, None] - vh[..., None, :])
    p_src = (i_src * c.x).sum(axis=-1) + (-c.v_shift * up + -c.v_shift * dn).sum(axis=-1)
    if i_inj is not None:
        p_src = p_src + (i_inj * vy).sum(axis=-1)
    return {
        "resistors": p_r,
        "diodes": p_d,
        "amplifiers": p_amp,
        "total": p_r + p_d + p_amp,
        "sources": p_src,
    }
