"""Current-mode DPI neurons and synapses (DYNAP-SE style) as Brian2 objects.

The neuron is teili 1.1.0's ``i_model + i_a + i_ahp`` (Chicca et al. 2014), written with every
comparison inside arithmetic wrapped in ``int(...)`` (sympy >= 1.6 rejects bare relationals).
With the clipped currents ``X_c`` (floored at the dark current ``Io`` when ``Imem <= Io``),
:math:`\\kappa = (k_n + k_p)/2` and :math:`\\tau = C U_t / (\\kappa I_{\\tau,c})`:

.. math::

    \\tau \\Big(1 + \\frac{I_{th,c}}{I_{mem} + I_o}\\Big) \\dot I_{mem}
        = \\frac{I_{th,c}}{I_{\\tau,c}} (I_{in,c} + I_{a,c} - I_{shunt,c} - I_{ahp,c})
          - I_{th,c}
          - \\Big(1 + \\frac{I_{shunt,c} + I_{ahp,c} - I_{a,c}}{I_{\\tau,c}}\\Big) I_{mem}

    I_a = I_{again} / (1 + e^{-(I_{mem} - I_{ath}) / I_{anorm}})

    \\tau_{ahp} (1 + I_{th,ahp,c}/I_{ahp}) \\dot I_{ahp}
        = -I_{th,ahp,c} - I_{ahp} + 2 I_o [I_{ahp} \\le I_o]

A spike is emitted when ``Imem > Ispkthr``; then ``Imem = Ireset`` and
``Iahp += (Ica/Itau_ahp) Ith_ahp_c``; ``Imem`` is frozen for ``t_ref``.

Synapses are held the way the chip holds them: one DPI current per neuron and synapse type
(``Isyn_exc``, ``Isyn_inh``, ...) on the neuron group, each following teili's DPI synapse

.. math::

    \\tau_s (1 + I_{g}/I_{syn}) \\dot I_{syn} = -I_{syn} - I_g + 2 I_{o} [I_{syn} \\le I_o],
    \\qquad I_g = I_{th}\\ (I_o\\text{ at the floor}),
    \\quad \\tau_s = C U_t / (\\kappa I_{\\tau})\\ (I_o\\text{ at the floor})

and the input is ``Iin = sum(excitatory) - sum(inhibitory) + Iin_ext``, clipped as
``clip(Iin + Iconst, Io, 1 A)``. A presynaptic spike through :func:`dpi_synapses` adds
``Iw I_g / (I_tau_c (I_g/I_syn + 1))`` with ``Iw = w Iw0`` (``~ Iw Ith/Itau`` when
``Isyn >> Ith``; ``Iw/2`` at the floor). The factor multiplying ``Iw`` is stored per neuron
(``jump_gain_<s>``) after each state update, so simultaneous spikes onto one neuron add
order-independently and Brian2 vectorises ``on_pre`` (a Python loop otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .mismatch import sample_block, synapse_instance

if TYPE_CHECKING:
    import brian2 as b2

    from .profiles import Profile

ArrayLike = float | np.ndarray

#: Neuron parameters (profile names) and their Brian2 units.
NEURON_UNITS: dict[str, str] = {
    "Io": "amp", "Ut": "volt", "kn": "1", "kp": "1", "C": "farad", "Itau": "amp",
    "Ith": "amp", "Ispkthr": "amp", "Ireset": "amp", "Iconst": "amp", "Ishunt": "amp",
    "t_ref": "second", "Ica": "amp", "Itau_ahp": "amp", "Ith_ahp": "amp", "C_ahp": "farad",
    "Iath": "amp", "Iagain": "amp", "Ianorm": "amp",
}  # fmt: skip

#: Synapse parameters (profile names) and their Brian2 units.
SYNAPSE_UNITS: dict[str, str] = {
    "Io": "amp", "Ut": "volt", "kn": "1", "kp": "1", "C": "farad", "Itau": "amp",
    "Ith": "amp", "Iw0": "amp",
}  # fmt: skip

_NEURON_EQS = """
dImem/dt = ((Ith_c/Itau_c)*(Iin_c + Ia_c - Ishunt_c - Iahp_c) - Ith_c
            - (1 + (Ishunt_c + Iahp_c - Ia_c)/Itau_c)*Imem)
           / (tau_mem*(Ith_c/(Imem + Io) + 1)) : amp (unless refractory)
dIahp/dt = (-Ith_ahp_c - Iahp + 2*Io*int(Iahp <= Io)) / (tau_ahp*(Ith_ahp_c/Iahp + 1)) : amp
Ia = Iagain/(1 + exp(-(Imem - Iath)/Ianorm)) : amp
Ith_c = Ith*int(Imem > Io) + Io*int(Imem <= Io) : amp
Itau_c = Itau*int(Imem > Io) + Io*int(Imem <= Io) : amp
Ia_c = Ia*int(Imem > Io) + 2*Io*int(Imem <= Io) : amp
Iahp_c = Iahp*int(Imem > Io) + Io*int(Imem <= Io) : amp
Ishunt_c = clip(Ishunt, Io, Imem) : amp
Iin_c = clip(Iin + Iconst, Io, 1*amp) : amp
Ith_ahp_c = Ith_ahp*int(Iahp > Io) + Io*int(Iahp <= Io) : amp
Iahp_max = (Ica/Itau_ahp)*Ith_ahp_c : amp
kappa = (kn + kp)/2 : 1
tau_mem = C*Ut/(kappa*Itau_c) : second
tau_ahp = C_ahp*Ut/(kappa*Itau_ahp) : second
Iin_ext : amp
"""

_SYNAPSE_EQS = """
dIsyn_{s}/dt = (-Isyn_{s} - Igain_{s} + 2*Io_syn_{s}*int(Isyn_{s} <= Io_syn_{s}))
               / (tau_syn_{s}*(Igain_{s}/Isyn_{s} + 1)) : amp
Igain_{s} = Ith_syn_{s}*int(Isyn_{s} > Io_syn_{s}) + Io_syn_{s}*int(Isyn_{s} <= Io_syn_{s}) : amp
Itau_c_{s} = Itau_syn_{s}*int(Isyn_{s} > Io_syn_{s}) + Io_syn_{s}*int(Isyn_{s} <= Io_syn_{s}) : amp
tau_syn_{s} = C_syn_{s}*Ut_syn_{s}/((kn_syn_{s} + kp_syn_{s})/2*Itau_c_{s}) : second
jump_gain_{s} : 1
"""

#: Per-spike jump per unit Iw, refreshed after the state update and before ``on_pre``.
_JUMP_GAIN = "jump_gain_{s} = Igain_{s}/(Itau_c_{s}*(Igain_{s}/Isyn_{s} + 1))"


def membrane_tau(params: Mapping[str, ArrayLike]) -> ArrayLike:
    """Membrane time constant :math:`C U_t / (\\kappa I_\\tau)` in seconds (6.65 ms for teili)."""
    return 2 * params["C"] * params["Ut"] / ((params["kn"] + params["kp"]) * params["Itau"])


def synapse_tau(params: Mapping[str, ArrayLike]) -> ArrayLike:
    """Synapse time constant :math:`C U_t / (\\kappa I_\\tau)` in seconds (5.32 ms for teili);
    above the floor (``Isyn > Io``) the DPI synapse decays exactly exponentially with it."""
    return membrane_tau(params)


def synapse_jump_linear(params: Mapping[str, ArrayLike], weight: ArrayLike) -> ArrayLike:
    """Per-spike jump in the linear regime (``Isyn >> Ith``): :math:`I_w I_{th}/I_\\tau`,
    ``Iw = weight * Iw0`` (amperes)."""
    return weight * params["Iw0"] * params["Ith"] / params["Itau"]


def synapse_jump(params: Mapping[str, ArrayLike], weight: ArrayLike, isyn: ArrayLike) -> ArrayLike:
    """Exact per-spike jump of ``on_pre`` at current ``isyn``:
    :math:`I_w I_g / (I_{\\tau,c} (I_g/I_{syn} + 1))` (``Iw/2`` at ``isyn = Io``)."""
    above = np.asarray(isyn) > params["Io"]
    gain = np.where(above, params["Ith"], params["Io"])
    itau = np.where(above, params["Itau"], params["Io"])
    return weight * params["Iw0"] * gain / (itau * (gain / isyn + 1))


def imem_steady_state(params: Mapping[str, ArrayLike], iin: ArrayLike) -> ArrayLike:
    """Sub-threshold fixed point of ``Imem`` for constant input ``iin`` (amperes).

    Setting ``dImem/dt = 0`` with ``Imem > Io``, ``Ia ~ 0`` (``Imem << Iath``), no spikes
    (``Iahp`` at its floor ``Io``) and ``Ishunt_c = max(Ishunt, Io)`` gives

    .. math:: I_{mem}^\\infty = \\frac{(I_{th}/I_\\tau)(I_{in} + I_{const} - I_{shunt,c} - I_o)
              - I_{th}}{1 + (I_{shunt,c} + I_o)/I_\\tau}
    """
    io, itau, ith = params["Io"], params["Itau"], params["Ith"]
    ishunt = np.maximum(params["Ishunt"], io)
    iin_c = np.clip(iin + params["Iconst"], io, 1.0)
    return ((ith / itau) * (iin_c - ishunt - io) - ith) / (1 + (ishunt + io) / itau)


def membrane_tau_effective(params: Mapping[str, ArrayLike], imem: ArrayLike) -> ArrayLike:
    """Relaxation time constant of ``Imem`` near a sub-threshold fixed point ``imem``.

    Linearising the membrane equation about its fixed point (``Ia ~ 0``, ``Iahp = Io``):
    :math:`\\tau (1 + I_{th}/(I_{mem} + I_o)) / (1 + (I_{shunt,c} + I_o)/I_\\tau)`; the
    floored shunt and AHP currents add to the leak (5.9 ms instead of 6.65 ms for teili).
    """
    io = params["Io"]
    ishunt = np.maximum(params["Ishunt"], io)
    tau = membrane_tau(params)
    return tau * (1 + params["Ith"] / (imem + io)) / (1 + (ishunt + io) / params["Itau"])


def _signs(synapse_types: Sequence[str] | Mapping[str, int]) -> dict[str, int]:
    if isinstance(synapse_types, Mapping):
        signs = {str(k): int(v) for k, v in synapse_types.items()}
    else:
        signs = {s: -1 if s.startswith(("inh", "gaba")) else 1 for s in synapse_types}
    for name, sign in signs.items():
        if not name.isidentifier() or sign not in (-1, 1):
            raise ValueError(f"bad synapse type {name!r} (sign {sign}): need identifier, +/-1")
    return signs


def neuron_equations(
    synapse_types: Sequence[str] | Mapping[str, int] = ("exc", "inh"),
    extra_input: str | None = None,
) -> b2.Equations:
    """Brian2 equations of a DPI neuron with one DPI synapse current per type.

    Parameters
    ----------
    synapse_types
        Names of the synapse currents (``Isyn_<name>``). A sequence makes names starting with
        ``inh``/``gaba`` inhibitory; a mapping gives the sign (+1 excitatory, -1 inhibitory).
    extra_input
        Optional expression (amperes) added to ``Iin``, e.g. a dendritic coupling current
        declared by the caller's own equations.

    Returns
    -------
    brian2.Equations
        Neuron parameters use the profile names (``Io``, ``Itau``, ...); synapse parameters of
        type ``s`` are ``Io_syn_s``, ``Ut_syn_s``, ``kn_syn_s``, ``kp_syn_s``, ``C_syn_s``,
        ``Itau_syn_s``, ``Ith_syn_s`` and ``Iw0_s``.
    """
    import brian2 as b2

    signs = _signs(synapse_types)
    terms = " ".join(f"{'+' if sg > 0 else '-'} Isyn_{s}" for s, sg in signs.items())
    iin = f"Iin = {terms} + Iin_ext" + (f" + ({extra_input})" if extra_input else "")
    lines = [_NEURON_EQS, iin + " : amp"]
    lines += [f"{p} : {u}" for p, u in NEURON_UNITS.items()]
    for s in signs:
        lines.append(_SYNAPSE_EQS.replace("{s}", s))
        lines += [f"{_syn_var(p, s)} : {u}" for p, u in SYNAPSE_UNITS.items()]
    return b2.Equations("\n".join(lines))


def _syn_var(param: str, syn_type: str) -> str:
    return f"Iw0_{syn_type}" if param == "Iw0" else f"{param}_syn_{syn_type}"


def set_group_values(group: b2.Group, values: Mapping[str, ArrayLike]) -> None:
    """Assign SI floats or per-instance NumPy arrays to the variables of a Brian2 group.

    The unit is taken from the group's variable, so ``values`` hold plain SI numbers (as
    returned by :func:`~dendritic_snn.hardware.mismatch.sample_block`) and end up bit-identical
    in the group.
    """
    for name, value in values.items():
        setattr(group, f"{name}_", np.asarray(value, dtype=float))


def _block_values(
    profile: Profile,
    role: str,
    n: int,
    seed: int | None,
    overrides: Mapping[str, float] | None,
    instance: str = "",
) -> dict[str, ArrayLike]:
    nominal = dict(profile.params[role])
    values: dict[str, ArrayLike] = {**nominal, **(overrides or {})}
    if seed is not None:
        sampled = sample_block(profile, role, n, seed, instance=instance)
        for name, arr in sampled.items():
            changed = overrides is not None and name in overrides
            values[name] = values[name] * (arr / nominal[name]) if changed else arr
    return values


def dpi_neuron_group(
    n: int,
    profile: Profile,
    seed: int | None = None,
    synapse_types: Sequence[str] | Mapping[str, int] = ("exc", "inh"),
    name: str = "dpi_neurons*",
    method: str = "euler",
    dt: b2.Quantity | None = None,
    neuron_params: Mapping[str, float] | None = None,
    synapse_params: Mapping[str, Mapping[str, float]] | None = None,
    extra_input: str | None = None,
    extra_equations: str = "",
    instance: str = "",
) -> b2.NeuronGroup:
    """A group of ``n`` DPI neurons with their per-type DPI synapse currents.

    Parameters
    ----------
    n
        Number of neurons.
    profile
        Hardware profile with ``dpi_neuron`` (role ``neuron``) and ``dpi_synapse`` (role
        ``synapse``) blocks.
    seed
        Chip seed. None: nominal values. Otherwise neuron parameters are
        ``sample_block(profile, "neuron", n, seed, instance=instance)`` and synapse type ``s``
        uses ``sample_block(profile, "synapse", n, seed, instance=synapse_instance(instance,
        s))`` (:mod:`~dendritic_snn.hardware.mismatch`).
    synapse_types
        See :func:`neuron_equations`.
    name, method
        Brian2 group name and integration method.
    dt
        Integration step; default ``profile.dt``.
    neuron_params, synapse_params
        Nominal overrides in SI units (``{"Itau": 4e-12}``, ``{"exc": {"Itau": 5e-12}}``);
        mismatch factors still apply.
    extra_input, extra_equations
        Extra term in ``Iin`` and extra Brian2 equations (e.g. for its variables).
    instance
        Name of this population on the chip: groups with different names are different
        circuits (independent mismatch) on the same seed.

    Returns
    -------
    brian2.NeuronGroup
        Threshold ``Imem > Ispkthr``, reset ``Imem = Ireset; Iahp += Iahp_max``, refractory
        ``t_ref``; ``Imem``, ``Iahp`` and every ``Isyn_s`` start at their floor ``Io``.
    """
    import brian2 as b2

    signs = _signs(synapse_types)
    eqs = neuron_equations(signs, extra_input)
    if extra_equations:
        eqs = eqs + b2.Equations(extra_equations)
    group = b2.NeuronGroup(
        n,
        eqs,
        threshold="Imem > Ispkthr",
        reset="Imem = Ireset; Iahp += Iahp_max",
        refractory="t_ref",
        method=method,
        name=name,
        dt=profile.dt * b2.second if dt is None else dt,
    )
    set_group_values(group, _block_values(profile, "neuron", n, seed, neuron_params, instance))
    for s in signs:
        overrides = (synapse_params or {}).get(s)
        values = _block_values(
            profile, "synapse", n, seed, overrides, synapse_instance(instance, s)
        )
        set_group_values(group, {_syn_var(p, s): v for p, v in values.items()})
        setattr(group, f"Isyn_{s}", f"Io_syn_{s}")
        group.run_regularly(
            _JUMP_GAIN.replace("{s}", s), when="before_synapses", name=f"{group.name}_jump_{s}*"
        )
    group.Imem = "Io"
    group.Iahp = "Io"
    return group


def dpi_synapses(
    source: b2.Group,
    target: b2.NeuronGroup,
    syn_type: str,
    weight: ArrayLike | str | None = 1.0,
    connect: str | bool | Mapping | None = None,
    model: str = "",
    on_pre: str = "",
    delay: b2.Quantity | None = None,
    name: str = "dpi_synapses*",
    on_post: str = "",
    on_pre_after_jumps: str = "",
) -> b2.Synapses:
    """Synapses that feed the target's shared DPI current ``Isyn_<syn_type>``.

    A presynaptic spike adds ``Iw*jump_gain_<s>_post`` with ``Iw = max(w, 0)*Iw0_<s>_post``
    and ``jump_gain = Igain/(Itau_c*(Igain/Isyn + 1))`` evaluated after the state update of the
    spike's time step. ``w`` is a per-synapse dimensionless weight magnitude (the synapse type
    gives the sign); negative values act as 0.

    Parameters
    ----------
    source, target
        Presynaptic group and a group made by :func:`dpi_neuron_group`.
    syn_type
        Synapse type of the target (``"exc"``, ``"inh"``, ...).
    weight
        Initial ``w`` (number, array or Brian2 expression string); None leaves it unset.
        Only applied if ``connect`` is given.
    connect
        Passed to ``Synapses.connect``: a condition string, True, or a dict of keyword
        arguments (e.g. ``{"i": i, "j": j}``). None: connect later yourself.
    model, on_pre
        Extra model equations / on_pre statements (e.g. plasticity), appended.
    on_post
        Statements run on each postsynaptic spike (e.g. spike-timing plasticity); "" = none.
    on_pre_after_jumps
        Statements run on each presynaptic spike once every jump of the time step is in the
        target's current (a second pathway, ``learn``, scheduled after all first pathways);
        "" = none.
    delay, name
        Optional synaptic delay; Brian2 name.
    """
    import brian2 as b2

    if f"Isyn_{syn_type}" not in target.variables:
        raise ValueError(f"target {target.name} has no synapse type {syn_type!r}")
    stmt = f"Isyn_{syn_type}_post += clip(w, 0, inf)*Iw0_{syn_type}_post*jump_gain_{syn_type}_post"
    pre = stmt + ("\n" + on_pre if on_pre else "")
    syn = b2.Synapses(
        source,
        target,
        model="w : 1\n" + model,
        on_pre={"pre": pre, "learn": on_pre_after_jumps} if on_pre_after_jumps else pre,
        on_post=on_post or None,
        delay=delay,
        name=name,
        dt=target.clock.dt,
    )
    if on_pre_after_jumps:
        syn.learn.order = 1
    if connect is not None:
        syn.connect(**connect) if isinstance(connect, Mapping) else syn.connect(connect)
        if weight is not None:
            syn.w = weight
    return syn
