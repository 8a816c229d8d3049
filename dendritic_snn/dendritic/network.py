"""The Cartiglia-Haessig-Indiveri (2020) dendritic error-propagation network on DPI circuits.

Structure (after Sacramento et al. 2018), with ``n_in`` input channels, ``n_p`` pyramidal
neurons (P), ``n_r`` readout neurons (R) and as many interneurons (I) as readouts:

* every neuron is a DPI neuron (profile block ``neuron``); its compartments are DPI low-pass
  currents (profile block ``synapse``, Cartiglia Eq. 1), one per compartment and sign, held on
  the neuron group as on the chip: P has ``Isyn_bas`` (basal, input -> P, plastic),
  ``Isyn_ape`` (apical excitatory) and ``Isyn_api`` (apical inhibitory, I -> P plastic
  lateral). The fixed top-down R -> P weights are *signed* (feedback alignment, Sacramento
  §5.2): ``w > 0`` charges ``Isyn_ape``, ``w < 0`` charges ``Isyn_api``, so a P neuron can be
  excited by one readout's teacher and inhibited by another's (task option ``topdown_sign``;
  positive-only top-down makes every hidden neuron learn the same thing). R has
  ``Isyn_bas`` (P -> R, plastic) and the teacher currents ``Isyn_tchh``/``Isyn_tchl``; I has
  ``Isyn_den`` (P -> I, plastic). With ``Structure.signed_readout`` (an option: the chip's
  P -> R synapses are excitatory) the P -> R weights lie in ``[-w_max, w_max]``: ``w > 0``
  charges ``Isyn_bas``, ``w < 0`` a second, inhibitory basal DPI ``Isyn_bai`` of the readout
  (same weight unit, its own mismatch), and the readout's dendrite is
  ``c_B (Isyn_bas - Isyn_bai)`` wherever R's ``c_B Isyn_bas`` appears below (drive, prediction,
  ``dendrite`` error).
* the soma (Cartiglia Eq. 2 in current mode) is a first-order low-pass ``I_S``

  .. math:: \\tau_S \\dot I_S = \\sum_k c_k I_k - I_S + I_{nudge} + \\sigma I_{ref}
            \\sqrt{2\\tau_S}\\,\\xi, \\qquad c_k = \\alpha_k / (\\alpha_k + l),

  so that without nudging the steady state is ``I_S = c_B I_B + c_A (I_A,exc - I_A,inh)``.
  The noise ``xi`` is *not* Brian2's ``xi`` (in ``cpp_standalone`` that is drawn from the
  binary's RNG, seeded from ``std::random_device`` at every run, so the same run seed gave
  different results): it is the ``TimedArray`` ``soma_noise`` of i.i.d. N(0, 1) values
  ``z[k, n]`` (time step ``k``, neuron column ``n``: P, then R, then I), drawn with NumPy
  from the run seed and the presentation (:func:`soma_noise`) and passed in as run data like
  the inputs. The soma is advanced with the exact (exponential) step of its linear equation,
  inputs and conductances held over the step: with ``tau_S dI_S/dt = D - G I_S`` (drive
  ``D``, total conductance ``G``: 1 plus any teacher or nudging conductance)

  .. math:: I_S \\leftarrow I_S + (D/G - I_S)\\,(1 - e^{-G\\,dt/\\tau_S})
            + \\sigma I_{ref} \\sqrt{1 - e^{-2 dt/\\tau_S}}\\, z_k,

  which is stable for any ``G`` (forward Euler diverges once ``G dt/tau_S > 2``, reached by
  mismatched teacher synapses at 30 % mismatch) and, at ``G = 1``, is the exact
  discretisation of the Ornstein-Uhlenbeck soma with stationary variance
  ``sigma^2 I_ref^2``. ``I_pred`` and ``I_Ahat`` use the same step with ``G = 1``. In Brian2
  this is the ``euler`` step of a right-hand side ``(D/G - I_S)(1 - exp(-G dt/tau_S))/dt``
  (:func:`_relax`), so no extra code object is generated.
  ``I_S`` is the input current of the DPI spiking circuit: the synapse currents are removed
  from the DPI ``Iin`` sum and replaced by ``I_S`` (``extra_input``), so the firing rate is the
  DPI f-I curve of ``I_S``.
* the teacher (Cartiglia Eq. 4) is conductance based and fixed: a 900 Hz regular spike train
  charges the DPI current ``Isyn_tchh`` and adds ``g_T (E_hi - I_S)`` with
  ``g_T = alpha_T Isyn_tchh / I_ref`` to the readout soma. An optional second teacher
  (``Isyn_tchl``, reversal ``E_lo``) pulls the *non-target* readouts down (Sacramento's targets
  for every output); whether it is used is a task option. ``pattern_discrimination`` sets
  ``E_lo = -E_hi`` (a reversal below the readout's rest ``I_S = 0``, like an inhibitory
  reversal below the resting potential): with ``E_lo = 0`` the non-target error
  ``-g/(1+g) I_pred`` stays inside the Eq. 3 dead band while the target error
  ``g/(1+g)(E_hi - I_pred)`` does not, so the readouts only ever potentiate and the one with
  the larger total drive wins for every pattern. With ``E_lo = -E_hi`` potentiation and
  depression are equally strong (a departure: ``I_S < 0`` has no current-mode counterpart on
  the chip; it stands for a membrane potential below rest). The same task also scales each
  readout's total P -> R drive after every learning presentation
  (:meth:`~dendritic_snn.dendritic.experiment.Experiment.scale_readout_weights`, task option
  ``w_pr_sum``), a homeostatic constraint that is not in the paper.
* the interneuron soma is nudged toward its readout: ``g_I (I_S^R - I_S^I)`` (Sacramento's
  ``i^I = g_som (u^P_{k+1} - u^I)``), through a summed variable.

Plasticity is Cartiglia Eq. 3 (:mod:`dendritic_snn.dendritic.plasticity`) evaluated on every
presynaptic spike in Brian2 ``on_pre``, in normalised current units and with eta = 1 times an
overall learning rate: ``dw = lr (e - Theta)`` for ``e > Theta``, ``lr (e + Theta)`` for
``e < -Theta`` and 0 inside the band. (Eq. 3 as printed, ``eta e -/+ Theta``, flips sign just
outside the band when eta < 1; with eta = 1 it is continuous.) The errors are

* R basal: ``e = (I_S - I_pred)/I_ref``, I dendrite: the same with ``c_D I_D``;
* P basal: ``e = (phi(I_S) - phi(I_pred))/I_ref`` with ``phi(x) = [x - I_th]_+``
  (Sacramento's ``phi(u) - phi(v_B)``; ``I_th = 0`` is the linear Eq. 3 error). The
  patterns have identical per-channel spike counts, so with a linear error every input
  channel sees the same mean error and the rule cannot become timing selective; with
  ``I_th`` near the P rheobase only inputs that spike while the soma is near firing (a
  coincidence of the pattern) are potentiated (apical > 0) or depressed (apical < 0);
* I -> P lateral: ``e = I_Ahat / I_ref`` (drive the apical compartment to zero, Sacramento's
  rule 9; a positive apical current strengthens the inhibition).

With ``Structure.in_p_rule = "post"`` the input -> P rule is instead evaluated at the
*pyramidal* spikes, each input weighted by its synaptic trace (:func:`_in_p_on_post`; used by
``pattern_recognition``).

``I_pred`` is the dendritic prediction ``c_B I_B`` passed through the same somatic low-pass
``tau_S`` (and ``I_Ahat`` the apical current through it). Without nudging ``I_S == I_pred``
exactly, so the error is the filtered nudge, and in the steady state ``I_pred = c_B I_B``.

The P -> R and P -> I rules have two readings of Eq. 3's ``I_S - I_B``
(``Structure.readout_rule``):

* ``prediction``: ``e = (I_S - I_pred)/I_ref`` as above. With a sparse hidden code the
  dendritic current has decayed between P spikes, so at a P spike ``I_pred`` holds little of
  the input and the error is far from the band on most spikes: the updates do not stop.
* ``dendrite``: ``e = (I_S - c I_D)/I_ref`` with the DPI current ``I_D`` (``I_B`` of R,
  ``I_D`` of I, coupling ``c_B`` / ``c_D``) read once every jump of the time step is in it,
  so each spike's own EPSC counts: a weight grows until the EPSCs it carries bring the
  dendrite up to the (teacher-driven) soma, and stops there; a readout pulled toward
  ``E_lo`` depresses the weights of the spikes that reach it until their EPSCs fit in the
  band. In Brian2 the rule is a second ``on_pre`` pathway scheduled after all jumps.

Build size: the input channels and both teachers are one spike-source group (one
``TimedArray``, subgroups for the projections), synapses are connected from index arrays
(no creation code objects), and the state variables start at Brian2's default 0 (no
initialiser code objects): 68 instead of ~82 generated C++ files.

Every quantity that changes between runs (weights, masks, mismatched circuit parameters,
coupling constants, learning rates, inputs, teachers and soma noise) is a group variable or a
``TimedArray``, so one ``cpp_standalone`` build serves all presentations, seeds and mismatch
instances through ``device.run(run_args=...)`` (:mod:`dendritic_snn.dendritic.simulator`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..hardware.dpi import (
    NEURON_UNITS,
    SYNAPSE_UNITS,
    dpi_neuron_group,
    dpi_synapses,
)
from ..hardware.mismatch import sample_block, synapse_instance
from ..seeding import seeded_rng
from .plasticity import stop_learning_expr

#: Synapse (compartment) types of each population: name -> sign in the DPI sum (all are
#: removed from that sum again and enter through the soma equation instead).
COMPARTMENTS = {
    "P": {"bas": 1, "ape": 1, "api": -1},
    "R": {"bas": 1, "tchh": 1, "tchl": 1},
    "I": {"den": 1},
}

#: The readout's inhibitory basal compartment of a signed P -> R projection
#: (``Structure.signed_readout``).
SIGNED_READOUT_COMPARTMENT = {"bai": -1}


def compartments(structure: Structure) -> dict[str, dict[str, int]]:
    """:data:`COMPARTMENTS` of a build: R gains ``bai`` when ``structure.signed_readout``."""
    if not structure.signed_readout:
        return COMPARTMENTS
    return {**COMPARTMENTS, "R": {**COMPARTMENTS["R"], **SIGNED_READOUT_COMPARTMENT}}


#: Plastic projections: name -> (source, target, compartment).
PLASTIC = {"in_p": ("IN", "P", "bas"), "p_r": ("P", "R", "bas"), "p_i": ("P", "I", "den"),
           "i_p": ("I", "P", "api")}  # fmt: skip
#: Fixed projections.
FIXED = {"r_p": ("R", "P", "ape")}
#: Where the input -> P rule is evaluated (:class:`Structure` ``in_p_rule``).
IN_P_RULES = ("pre", "post")
#: What the P -> R and P -> I rules compare the soma with (:class:`Structure`
#: ``readout_rule``): the low-passed dendritic prediction, or the dendritic current itself.
READOUT_RULES = ("prediction", "dendrite")
#: The dendritic compartment and its somatic coupling constant of each rule's target.
_DENDRITE = {"p_r": ("Isyn_bas_post", "c_B_post"), "p_i": ("Isyn_den_post", "c_D_post")}


@dataclass(frozen=True)
class Structure:
    """What a build depends on (sizes, step count, integration); everything else is run data."""

    n_in: int = 32
    n_p: int = 2
    n_r: int = 1
    n_steps: int = 2500
    dt: float = 1e-4
    noise: bool = True
    #: where the input -> P rule of Eq. 3 is evaluated: "pre" (at each input spike) or
    #: "post" (at each P spike, weighted by the input's synaptic trace; see _in_p_on_post)
    in_p_rule: str = "pre"
    #: the error of the P -> R and P -> I rules at a P spike: "prediction" (``I_S - I_pred``)
    #: or "dendrite" (``I_S - c I_D`` with the spike's own EPSC in ``I_D``; see the module notes)
    readout_rule: str = "prediction"
    #: signed P -> R weights in [-w_max, w_max]: ``w > 0`` charges the readout's basal DPI
    #: ``Isyn_bas``, ``w < 0`` a second, inhibitory one ``Isyn_bai``, and the readout's
    #: dendrite is ``c_B (Isyn_bas - Isyn_bai)`` (see the module notes)
    signed_readout: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("in_p_rule", IN_P_RULES), ("readout_rule", READOUT_RULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")  # fmt: skip

    @property
    def duration(self) -> float:
        return self.n_steps * self.dt

    def key(self) -> tuple:
        return tuple(asdict(self).values())


@dataclass
class ModelParams:
    """Model constants (SI amperes / seconds or dimensionless); all are run data."""

    I_ref: float = 1e-9
    tau_S: float = 3e-3
    tau_S_R: float | None = None  # readout somatic low-pass (None: tau_S)
    alpha_B: float = 1.0
    alpha_A: float = 0.8
    alpha_D: float = 1.0
    leak: float = 0.1
    g_I: float = 0.8  # interneuron nudging conductance (dimensionless)
    alpha_T: float = 0.3  # teacher: g_T = alpha_T Isyn_tchh / I_ref
    E_hi: float = 12e-9
    E_lo: float = 0.0
    noise_sigma: float = 0.0  # soma noise, relative to I_ref
    I_th: float = 0.0  # threshold of the rate transform phi of the P error (0 = linear Eq. 3)
    # DPI weight units (Iw0) per compartment; mismatch factors still apply
    Iw0: dict = field(
        default_factory=lambda: {
            "bas_P": 1e-9,
            "bas_R": 3e-9,
            "ape": 0.5e-9,
            "api": 0.5e-9,
            "den": 1e-9,
            "tchh": 0.4e-9,
            "tchl": 0.4e-9,
        }  # fmt: skip
    )

    def coupling(self, alpha: float) -> float:
        """Somatic coupling ``c = alpha/(alpha + l)``."""
        return alpha / (alpha + self.leak)


@dataclass
class PlasticityParams:
    """Eq. 3 per plastic projection: learning rate, band half-width and weight bound."""

    lr: dict = field(default_factory=lambda: {"in_p": 0.02, "p_r": 0.05, "p_i": 0.05,
                                              "i_p": 0.05})  # fmt: skip
    theta: dict = field(default_factory=lambda: {"in_p": 0.1, "p_r": 0.1, "p_i": 0.1,
                                                 "i_p": 0.1})  # fmt: skip
    w_max: dict = field(default_factory=lambda: {"in_p": 4.0, "p_r": 4.0, "p_i": 4.0,
                                                 "i_p": 4.0})  # fmt: skip


#: Soma of each population as ``tau_S dI_S/dt = drive - G_S I_S``: the drive (``{dendrite}``:
#: the population's dendritic prediction, :func:`_dendrite`) and the total
#: conductance ``G_S`` (leak 1 plus teacher / nudging conductances), integrated exactly over a
#: step (see :func:`_soma_equations`).
_DRIVE = {
    "P": "{dendrite} + c_A*(Isyn_ape - Isyn_api)",
    "R": "{dendrite} + g_T_hi*E_hi + g_T_lo*E_lo",
    "I": "{dendrite} + g_I*I_tgt",
}
_CONDUCTANCE = {"P": "1", "R": "1 + g_T_hi + g_T_lo", "I": "1 + g_I"}
_PRED = {"P": "c_B*Isyn_bas", "R": "c_B*Isyn_bas", "I": "c_D*Isyn_den"}
_POP_CONSTS = {
    "P": ["c_B", "c_A", "I_th"],
    "R": ["c_B", "E_hi", "E_lo", "alpha_T"],
    "I": ["c_D", "g_I"],
}
_AMP_CONSTS = {"E_hi", "E_lo", "I_th"}


def noise_offsets(structure: Structure) -> dict[str, int]:
    """Column offset of each population in the ``soma_noise`` TimedArray (P, R, I)."""
    return {"P": 0, "R": structure.n_p, "I": structure.n_p + structure.n_r}


def soma_noise(structure: Structure, seed: int, presentation: int) -> np.ndarray:
    """I.i.d. N(0, 1) soma noise ``z``, shape ``(n_steps, n_p + 2 n_r)`` (P, R, I columns).

    Determined by the run seed and the presentation index alone
    (``seeded_rng(seed, "soma_noise", str(presentation))``), so both back ends and every
    repetition of a run see the same noise. Scaled in the soma equation by
    ``sigma_S*I_ref*sqrt(2/(tau_S*dt))`` (see the module docstring). The values are those of
    ``rng.standard_normal((n_steps, n))``.
    """
    rng = seeded_rng(int(seed), "soma_noise", str(int(presentation)))
    return rng.standard_normal((structure.n_steps, structure.n_p + 2 * structure.n_r))


class SomaNoiseAhead:
    """:func:`soma_noise` with the next presentation's noise drawn in a helper thread.

    ``get(structure, seed, n)`` returns ``soma_noise(structure, seed, n)`` (the same values)
    and starts drawing presentation ``n + 1`` of the same seed in the background (the
    NumPy's draw releases the GIL), so that on a machine with a free core the draw overlaps
    the simulation of presentation ``n``. Drawn-ahead arrays not asked for are dropped (at
    most :attr:`MAX_PENDING` are kept). Safe in threads and in forked processes (each
    process starts its own helper thread).
    """

    MAX_PENDING = 64

    def __init__(self) -> None:
        self._pid: int | None = None

    def _start(self) -> None:
        import os
        import threading
        from concurrent.futures import ThreadPoolExecutor

        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="soma-noise")
            self._pending: dict = {}
            self._pid = os.getpid()

    def get(self, structure: Structure, seed: int, presentation: int) -> np.ndarray:
        self._start()
        key = (structure, int(seed), int(presentation))
        with self._lock:
            ahead = self._pending.pop(key, None)
        z = ahead.result() if ahead is not None else soma_noise(structure, seed, presentation)
        with self._lock:
            if len(self._pending) >= self.MAX_PENDING:
                self._pending.clear()
            self._pending[key[:2] + (key[2] + 1,)] = self._pool.submit(
                soma_noise, structure, seed, presentation + 1
            )
        return z


def _relax(target: str, var: str, rate: str = "1") -> str:
    """Right-hand side whose Euler step is the exact step of ``tau_S dX/dt = rate (target - X)``.

    ``X += (target - X)(1 - exp(-rate dt/tau_S))``: exact for inputs held over the step and
    stable for any conductance (forward Euler of the plain equation diverges once
    ``rate dt/tau_S > 2``, which a mismatched teacher conductance reaches at 30 % mismatch).
    """
    return f"(({target}) - {var})*(1 - exp(-({rate})*dt/tau_S))/dt"


def _dendrite(pop: str, signed_readout: bool) -> str:
    """The dendritic prediction of ``pop`` (:data:`_PRED`; R's basal current is
    ``Isyn_bas - Isyn_bai`` with a signed readout)."""
    if pop == "R" and signed_readout:
        return "c_B*(Isyn_bas - Isyn_bai)"
    return _PRED[pop]


def _soma_equations(pop: str, noise: bool, offset: int = 0, signed_readout: bool = False) -> str:
    # exact OU step of the noise: sigma_S*I_ref*sqrt(1 - exp(-2 dt/tau_S))*z per step, z ~ N(0, 1)
    # from the soma_noise TimedArray (stationary variance sigma_S^2 I_ref^2 at G_S = 1)
    noise_term = (" + sigma_S*I_ref*sqrt(1 - exp(-2*dt/tau_S))/dt"
                  f"*soma_noise(t, i + {offset})" if noise else "")  # fmt: skip
    lines = [
        f"dI_S/dt = {_relax('I_drive/G_S', 'I_S', 'G_S')}{noise_term} : amp",
        f"I_drive = {_DRIVE[pop].format(dendrite=_dendrite(pop, signed_readout))} : amp",
        f"G_S = {_CONDUCTANCE[pop]} : 1",
        f"dI_pred/dt = {_relax(_dendrite(pop, signed_readout), 'I_pred')} : amp",
        "tau_S : second (shared, constant)",
        "I_ref : amp (shared, constant)",
        "sigma_S : 1 (shared, constant)",
    ]
    for c in _POP_CONSTS[pop]:
        lines.append(f"{c} : {'amp' if c in _AMP_CONSTS else '1'} (shared, constant)")
    if pop == "P":
        lines.append(f"dI_Ahat/dt = {_relax('Isyn_ape - Isyn_api', 'I_Ahat')} : amp")
    if pop == "R":
        lines.append("g_T_hi = alpha_T*Isyn_tchh/I_ref : 1")
        lines.append("g_T_lo = alpha_T*Isyn_tchl/I_ref : 1")
    if pop == "I":
        lines.append("I_tgt : amp")
    return "\n".join(lines)


def _extra_input(comps: dict[str, int]) -> str:
    """``I_S`` minus the signed synapse sum that the DPI neuron already adds to ``Iin``
    (``comps``: the population's compartments and signs)."""
    signed = " ".join(f"{'+' if s > 0 else '-'} Isyn_{c}" for c, s in comps.items())
    return f"I_S - ({signed})"


_PLASTIC_MODEL = """
n_upd : 1
mask : 1
lr : 1 (shared)
theta : 1 (shared, constant)
w_max : 1 (shared, constant)
"""


def _plastic_on_pre(proj: str, readout_rule: str = "prediction", signed: bool = False) -> str:
    """Eq. 3 at a presynaptic spike of ``proj``; ``signed``: weights in ``[-w_max, w_max]``
    and the readout's dendrite ``c_B (Isyn_bas - Isyn_bai)`` (P -> R of a signed readout)."""
    if proj == "i_p":
        e = "I_Ahat_post/I_ref_post"
        expr = stop_learning_expr(e, "0", eta="1", theta="theta")
        err = e
    elif proj == "in_p":
        # rate-transformed error phi(I_S) - phi(I_pred), phi(x) = [x - I_th]_+ (Sacramento's
        # phi(u) - phi(v_B)); I_th = 0 gives the linear Eq. 3 error
        soma = "int(I_S_post > I_th_post)*(I_S_post - I_th_post)/I_ref_post"
        pred = "int(I_pred_post > I_th_post)*(I_pred_post - I_th_post)/I_ref_post"
        expr = stop_learning_expr(soma, pred, "1", "theta")
        err = f"(({soma}) - ({pred}))"
    else:
        pred = "I_pred_post"
        if readout_rule == "dendrite":  # runs after the spike's jump of the DPI current
            current, coupling = _DENDRITE[proj]
            if signed:
                current = f"({current} - Isyn_bai_post)"
            pred = f"{coupling}*{current}"
        expr = stop_learning_expr("I_S_post/I_ref_post", f"{pred}/I_ref_post", "1", "theta")
        err = f"(I_S_post - {pred})/I_ref_post"
    w_min = "-w_max" if signed else "0"
    return "\n".join([
        f"w = clip(w + mask*lr*({expr}), {w_min}, w_max)",
        f"n_upd += mask*int(lr > 0)*int(abs({err}) > theta)",
    ])  # fmt: skip


_TRACE_MODEL = """
dx_in/dt = -x_in/tau_trace : 1 (event-driven)
tau_trace : second (shared, constant)
"""


def _in_p_on_post() -> str:
    """Input -> P rule at the P spikes (``in_p_rule = "post"``): Eq. 3 times the input's share.

    At each spike of pyramidal neuron ``j`` every input synapse ``i`` changes by

    .. math:: \\Delta w_{ij} = lr\\, w_{ij}\\, x_i\\, B_\\Theta(e_j), \\qquad
              e_j = (I_S - I_{pred})/I_{ref},

    where ``B_Theta`` is the Eq. 3 band (``e - Theta`` above it, ``e + Theta`` below, 0
    inside), ``e_j`` the apical error at the spike (the filtered top-down minus interneuron
    current, 0 without a teacher) and ``x_i`` the input's synaptic trace (``+1`` per input
    spike, decaying with the DPI synapse time constant ``tau_trace``), so that ``w_ij x_i`` is
    the input's share of the basal current that caused the spike. Under a teacher the inputs
    whose spikes *preceded* the P spikes, the coincidences of the trained pattern, are
    potentiated in proportion to their weight (Urbanczik & Senn 2014's somatic spike times
    as the target, with Eq. 3's band); with the input-weight scaling
    (:meth:`~dendritic_snn.dendritic.experiment.Experiment.scale_input_weights`) this moves
    weight onto them (a multiplicative, competitive Hebbian rule). Evaluated at the
    *presynaptic* spikes instead (``"pre"``), the error cannot tell the inputs that caused a
    spike from those that arrive during it, and the patterns' identical spike counts leave
    every channel with the same mean update.
    """
    e = "(I_S_post - I_pred_post)/I_ref_post"
    band = stop_learning_expr(e, "0", eta="1", theta="theta")
    return "\n".join([
        f"w = clip(w + mask*lr*w*x_in*({band}), 0, w_max)",
        f"n_upd += mask*int(lr > 0)*int(abs({e}) > theta)",
    ])  # fmt: skip


_TOPDOWN_NEG = "Isyn_api_post += clip(-w, 0, inf)*Iw0_api_post*jump_gain_api_post"
_READOUT_NEG = "Isyn_bai_post += clip(-w, 0, inf)*Iw0_bai_post*jump_gain_bai_post"


class DendriticCircuit:
    """The Brian2 objects of one network (for any device); values are set by :meth:`assign`.

    ``objects`` maps short names (``"P"``, ``"R"``, ``"I"``, ``"IN"``, the projections of
    :data:`PLASTIC`/:data:`FIXED`, monitors ``"spk_P"``...) to Brian2 objects.
    """

    def __init__(self, structure: Structure, profile) -> None:
        import brian2 as b2

        st = self.structure = structure
        dt = st.dt * b2.second
        # one spike source for the input channels and both teachers (fewer code objects, so
        # a faster cold build): columns [0, n_in) input, then n_r teacher-hi, n_r teacher-lo
        n_src = st.n_in + 2 * st.n_r
        self.src = b2.TimedArray(np.zeros((st.n_steps, n_src)), dt=dt, name="src")
        o: dict = {}
        # no reset (a spike source): reset="" would still generate a resetter code object
        b2.BrianLogger.suppress_name("only_threshold")
        src = b2.NeuronGroup(n_src, "", threshold="src(t, i) > 0.5", dt=dt,
                             namespace={"src": self.src}, name="inp")  # fmt: skip
        o["SRC"] = src
        o["IN"] = src[: st.n_in]
        o["TH"] = src[st.n_in : st.n_in + st.n_r]
        o["TL"] = src[st.n_in + st.n_r :]
        sizes = {"P": st.n_p, "R": st.n_r, "I": st.n_r}
        # soma noise z ~ N(0, 1) per time step and neuron, run data (see soma_noise)
        self.noise = None
        if st.noise:
            self.noise = b2.TimedArray(np.zeros((st.n_steps, st.n_p + 2 * st.n_r)), dt=dt,
                                       name="soma_noise")  # fmt: skip
        offsets = noise_offsets(st)
        comps = compartments(st)
        for pop, n in sizes.items():
            # I_S, I_pred, I_Ahat start at 0 (Brian2's default): no initialiser code objects
            o[pop] = dpi_neuron_group(
                n, profile, seed=None, synapse_types=comps[pop], name=f"pop_{pop}",
                dt=dt, extra_input=_extra_input(comps[pop]),
                extra_equations=_soma_equations(pop, st.noise, offsets[pop], st.signed_readout),
            )  # fmt: skip
            if self.noise is not None:
                o[pop].namespace = {**(o[pop].namespace or {}), "soma_noise": self.noise}

        # explicit index arrays instead of connect(True)/conditions: no synapse-creation code
        # objects (same presynaptic-major order as connect(True))
        def _all(n_pre, n_post):
            i, j = all_to_all_ids(n_pre, n_post)
            return {"i": i, "j": j}

        one2one = {"i": np.arange(st.n_r), "j": np.arange(st.n_r)}
        for proj, (src_, tgt, comp) in PLASTIC.items():
            signed = proj == "p_r" and st.signed_readout
            model, on_post, after = _PLASTIC_MODEL, "", ""
            on_pre = _plastic_on_pre(proj, st.readout_rule, signed)
            if proj == "in_p" and st.in_p_rule == "post":
                model, on_pre, on_post = _PLASTIC_MODEL + _TRACE_MODEL, "x_in += 1", _in_p_on_post()
            if proj in _DENDRITE and st.readout_rule == "dendrite":
                on_pre, after = "", on_pre
            if signed:  # the negative part's jump, with the positive part's (before Eq. 3)
                on_pre = "\n".join(filter(None, [_READOUT_NEG, on_pre]))
            o[proj] = dpi_synapses(o[src_], o[tgt], comp, weight=0.0,
                                   connect=_all(o[src_].N, o[tgt].N), model=model,
                                   on_pre=on_pre, on_post=on_post, on_pre_after_jumps=after,
                                   name=f"syn_{proj}")  # fmt: skip
        # signed fixed top-down (feedback alignment): w > 0 charges the apical excitatory
        # compartment, w < 0 the apical inhibitory one (the same DPI the interneurons use)
        o["r_p"] = dpi_synapses(o["R"], o["P"], "ape", weight=0.0, connect=_all(st.n_r, st.n_p),
                                on_pre=_TOPDOWN_NEG, name="syn_r_p")  # fmt: skip
        o["th"] = dpi_synapses(o["TH"], o["R"], "tchh", weight=1.0, connect=one2one,
                               name="syn_th")  # fmt: skip
        o["tl"] = dpi_synapses(o["TL"], o["R"], "tchl", weight=1.0, connect=one2one,
                               name="syn_tl")  # fmt: skip
        o["nudge"] = b2.Synapses(o["R"], o["I"], model="I_tgt_post = I_S_pre : amp (summed)",
                                 dt=dt, name="syn_nudge")  # fmt: skip
        o["nudge"].connect(**one2one)
        for pop in ("P", "R", "I"):
            o[f"spk_{pop}"] = b2.SpikeMonitor(o[pop], name=f"spk_{pop}")
        o["mon_R"] = b2.StateMonitor(o["R"], ["I_S", "I_pred"], record=True, dt=1 * b2.ms,
                                     name="mon_R")  # fmt: skip
        self.objects = o
        self.network = b2.Network([v for k, v in o.items() if k not in ("IN", "TH", "TL")])

    # ----------------------------------------------------------------- values
    def n_syn(self, proj: str) -> int:
        st = self.structure
        src, tgt, _ = {**PLASTIC, **FIXED}[proj]
        size = {"IN": st.n_in, "P": st.n_p, "R": st.n_r, "I": st.n_r}
        return size[src] * size[tgt]

    def variable_values(self, run: dict) -> list[tuple[object, np.ndarray]]:
        """``(VariableView or TimedArray, value)`` pairs for one run (see :func:`run_values`)."""
        o = self.objects
        pairs: list = []
        for (obj, var), value in run["vars"].items():
            pairs.append((getattr(o[obj], var), value))
        events = np.hstack([run["stim"], run["teach_hi"], run["teach_lo"]]).astype(float)
        pairs.append((self.src, events))
        if self.noise is not None:
            st = self.structure
            noise = run.get("noise")
            if noise is None:
                noise = np.zeros((st.n_steps, st.n_p + 2 * st.n_r))
            pairs.append((self.noise, noise))
        return pairs


def chip_values(structure: Structure, profile, seed: int | None, model: ModelParams) -> dict:
    """Per-neuron DPI parameters of one chip: ``{(pop, var): SI array}``.

    Seeding follows :func:`~dendritic_snn.hardware.dpi.dpi_neuron_group`: the chip seed with
    the population name as the instance (``"P"``, ``"R"``, ``"I"``: different circuits), and
    ``synapse_instance(pop, compartment)`` for each compartment's synapse.
    """
    sizes = {"P": structure.n_p, "R": structure.n_r, "I": structure.n_r}
    out: dict = {}
    for pop, n in sizes.items():
        nominal = profile.params["neuron"]
        vals = sample_block(profile, "neuron", n, seed, instance=pop) if seed is not None else {}
        for p in NEURON_UNITS:
            out[(pop, p)] = np.asarray(vals.get(p, np.full(n, nominal[p])), float)
        for comp in compartments(structure)[pop]:
            nom_s = dict(profile.params["synapse"])
            # a signed readout's inhibitory basal synapse has the excitatory one's weight unit
            # (its own mismatch)
            base_comp = "bas" if comp in SIGNED_READOUT_COMPARTMENT else comp
            iw_key = f"{base_comp}_{pop}" if f"{base_comp}_{pop}" in model.Iw0 else base_comp
            iw0 = model.Iw0[iw_key]
            factors = {}
            if seed is not None:
                inst = synapse_instance(pop, comp)
                sampled = sample_block(profile, "synapse", n, seed, instance=inst)
                factors = {p: sampled[p] / nom_s[p] for p in sampled}
            for p in SYNAPSE_UNITS:
                base = iw0 if p == "Iw0" else nom_s[p]
                var = f"Iw0_{comp}" if p == "Iw0" else f"{p}_syn_{comp}"
                out[(pop, var)] = base * np.asarray(factors.get(p, np.ones(n)), float)
    return out


def model_values(model: ModelParams, plast: PlasticityParams, learn: bool) -> dict:
    """Shared constants of the populations and plastic projections: ``{(obj, var): value}``."""
    out: dict = {}
    for pop in ("P", "R", "I"):
        out[(pop, "tau_S")] = model.tau_S
        out[(pop, "I_ref")] = model.I_ref
        out[(pop, "sigma_S")] = model.noise_sigma
    if model.tau_S_R is not None:
        out[("R", "tau_S")] = model.tau_S_R
    out[("P", "c_B")] = model.coupling(model.alpha_B)
    out[("P", "c_A")] = model.coupling(model.alpha_A)
    out[("P", "I_th")] = model.I_th
    out[("R", "c_B")] = model.coupling(model.alpha_B)
    out[("R", "E_hi")] = model.E_hi
    out[("R", "E_lo")] = model.E_lo
    out[("R", "alpha_T")] = model.alpha_T
    out[("I", "c_D")] = model.coupling(model.alpha_D)
    out[("I", "g_I")] = model.g_I
    for proj in PLASTIC:
        out[(proj, "lr")] = plast.lr[proj] if learn else 0.0
        out[(proj, "theta")] = plast.theta[proj]
        out[(proj, "w_max")] = plast.w_max[proj]
    return out


def run_values(
    structure: Structure,
    chip: dict,
    consts: dict,
    weights: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    stim: np.ndarray,
    teach_hi: np.ndarray,
    teach_lo: np.ndarray,
    noise: np.ndarray | None = None,
) -> dict:
    """Everything one presentation needs, as plain arrays (picklable for the worker).

    ``stim``, ``teach_hi``, ``teach_lo``: 0/1 per time step and channel (kept as ``uint8``);
    ``noise``: the N(0, 1) soma noise of :func:`soma_noise` (None: no noise, zeros)."""
    vars_: dict = {**chip, **consts}
    for proj, w in weights.items():
        vars_[(proj, "w")] = np.asarray(w, float)
    for proj, m in masks.items():
        vars_[(proj, "mask")] = np.asarray(m, float)
    shape = (structure.n_steps, structure.n_r)
    if noise is not None:
        noise = np.asarray(noise, float).reshape(structure.n_steps, -1)
    return {
        "vars": vars_,
        "stim": np.asarray(stim, np.uint8).reshape(structure.n_steps, structure.n_in),
        "teach_hi": np.asarray(teach_hi, np.uint8).reshape(shape),
        "teach_lo": np.asarray(teach_lo, np.uint8).reshape(shape),
        "noise": noise,
    }


def collect(circuit: DendriticCircuit, get) -> dict:
    """Results of one run; ``get(obj, var)`` reads a variable as a NumPy array (SI)."""
    res: dict = {"w": {}, "n_upd": {}, "spikes": {}}
    for proj in PLASTIC:
        res["w"][proj] = get(proj, "w")
        res["n_upd"][proj] = get(proj, "n_upd")
    for pop in ("P", "R", "I"):
        res["spikes"][pop] = (get(f"spk_{pop}", "i").astype(int), get(f"spk_{pop}", "t"))
    res["I_S_R"] = get("mon_R", "I_S")
    res["I_pred_R"] = get("mon_R", "I_pred")
    return res


def synapse_ids(circuit: DendriticCircuit, proj: str) -> tuple[np.ndarray, np.ndarray]:
    """Presynaptic and postsynaptic index of each synapse of ``proj`` (connect(True) order)."""
    syn = circuit.objects[proj]
    return np.asarray(syn.i[:]), np.asarray(syn.j[:])


def all_to_all_ids(n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """Brian2's ``connect(True)`` order: presynaptic index major."""
    i, j = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    return i.ravel(), j.ravel()
