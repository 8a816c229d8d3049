r"""EqSpike (Martin et al. 2021) on the 45 nm spiking-EqProp blocks: the model and its rule.

EqSpike's full text was not available; this module reconstructs its rule from the abstract,
continual EP (Ernoult et al. 2020), Bengio et al. 2017 ("STDP as presynaptic activity times
rate of change of postsynaptic activity") and the 45 nm circuit report. Every choice that none
of these sources states is an assumption, marked (A).

Network and neurons
-------------------
A layered network 784-N-10 with symmetric weights: layer ``k+1`` receives
:math:`W_k^\top S_k` from below and :math:`W_{k+1} S_{k+2}` from above, where :math:`S` are
spikes (0/1 per step). Each neuron is the profile's integrate-and-fire circuit reduced to a
dimensionless step map (A1):

.. math:: v \leftarrow \mathrm{clip}\big(v + g_i (I_i - \ell_i),\ 0,\ v_{top}\big), \qquad
          S_i = [v \ge 1], \qquad v \leftarrow v - S_i ,

with :math:`v` the membrane voltage in units of the Schmitt hysteresis
:math:`\Delta V = V_{rise} - V_{fall}` (reset by subtraction, at most one spike per step), so
the rate is the hard sigmoid :math:`\mathrm{clip}(g\,\mathrm{net}, 0, 1)` of rate EP. One step
is the IFC's shortest period :math:`T_{min} = 4 C \Delta V / I_{discharge}` (A2).
:math:`g_i = (C\Delta V)_{nom}/(C_i \Delta V_i)` carries the neuron mismatch,
:math:`\ell_i = I_{leak} T_{min}/(C_i\Delta V_i)`.

Input (A3): the clamped input layer drives the first hidden layer as an analog current
:math:`x W_0`; for the learning rule the input neurons are rate-coded spike trains
(sigma-delta, random initial phase), so input synapses are also updated only on spikes.

Rate trace, derivative, comparators
-----------------------------------
Each neuron's spike (a pulse of duty :math:`\delta` = spike width / step, height
:math:`V_{spike}`) feeds the two-stage diode-capacitor low-pass filter
(:func:`dendritic_snn.hardware.cmos45.lpf_step`; rise :math:`\tau_r`, decay
:math:`\tau_d = r\,\tau_r` per stage), giving the rate trace :math:`\hat s_i` (volts). The RC
differentiator (:math:`\tau_D = 1/2\pi f_{3dB}`) gives
:math:`D_i \approx \tau_D\, d\hat s_i/dt` and the two comparators the ternary

.. math:: G_i(t) = \mathrm{sign}(D_i(t))\ [\,|D_i(t)| > \theta\,], \qquad \theta = V_{threshold}.

All filters are integrated exactly per step with the cmos45 formulas in step units. With the
profile's values (rise 2.6 steps, decay 26 steps per stage, :math:`\tau_D` 6.6 steps,
:math:`\theta` = 20 mV) the ripple of a steady spike train stays inside the dead band at any
rate above 0.05 spikes/step: :math:`G` fires only while the rate changes, i.e. when
:math:`|d\hat s/dt| > \theta/\tau_D \approx 3` mV per step. A rising rate crosses it easily
(fast rise); a falling one only when it drops steeply (slow decay), e.g. to silence.

Learning rule (nudged phase only), ``comparator="derivative"`` (default)
-----------------------------------------------------------------------
Continual EP updates at every nudged step
:math:`\Delta W_{ij} = \frac{\eta}{\beta}[s_i^{t+1}s_j^{t+1} - s_i^t s_j^t]
\approx \frac{\eta}{\beta}[s_j \Delta s_i + s_i \Delta s_j]`. EqSpike replaces the
presynaptic rate by its spikes and the postsynaptic rate change by the comparator output:
each presynaptic spike strobes the synapse's charge pump, whose direction is the
postsynaptic neuron's :math:`G` at that moment (``strobes="pre"``, default):

.. math:: \Delta W_{ij}(t) = \sigma\, S_j(t)\, G_i(t)\, \Delta w_{ij}, \qquad
          \Delta b_i(t) = \sigma\, G_i(t)\, \Delta w_{b,i},

with :math:`j` the presynaptic (input-side) neuron and :math:`i` the postsynaptic one (a bias
is a synapse from a neuron that spikes every step). ``strobes="both"`` adds the symmetric
term :math:`\sigma S_i(t) G_j(t)` (postsynaptic spikes strobe with the presynaptic
comparator), the second half of the C-EP expansion (A4).

:math:`\sigma = \mathrm{sign}(\beta)` is the polarity of the bias circuit
(:func:`~dendritic_snn.hardware.cmos45.bias_voltages`, ``charge_sign``): with
``nudge="symmetric"`` a :math:`+\beta` phase is followed by a :math:`-\beta` phase (both from
the free state) with inverted polarity, so whatever both phases share cancels (A5); with
``"random"`` the sign of :math:`\beta` and the polarity are drawn per minibatch.
:math:`\Delta w` is the capacitor step :math:`I\,t_{strobe}/C_{syn}` relative to the
rail-to-rail range :math:`V_{max}-V_{min}` mapped onto :math:`[-w_{max}, w_{max}]` (A6: a
signed weight is the capacitor voltage against a mid-rail reference), times a per-layer
``update_gain`` (a longer strobe; the learning-rate knob). Weights are clipped at the rails.

Held-reference reading (``comparator="held"``, A11, a named alternative): the comparators
read the trace against a reference that tracks it in the free phase (time constant
``ref_tau`` steps) and is held from the nudge onset,
:math:`D_i(t) = \hat s_i(t) - \hat s_i^{ref}`, i.e. the trace change since the nudge onset,
the sum of C-EP's :math:`\Delta s_i` over the nudged phase. It gives every strobe of the
nudged phase a signal rather than only those during a fast rate change, at the price of a
differentiator capacitor that switches from tracking to hold at the phase boundary.

Nudge (A7): in the nudged phase each output receives the extra current
:math:`\beta (y - r_o)` with :math:`r_o` an exponential average (``tau_nudge`` steps) of its
own spikes. Minibatch (A8): ``batch_size`` examples run concurrently on copies of the chip
with the same weights; their strobe counts are summed and written at the end of the nudged
phase(s). Readout (A9): the predicted class is the output with the most spikes in the last
``n_read`` free steps (ties broken by the integrated input current).

Synapse drive (``synapse_drive``, A12): ``"separate"`` charges through ``I_charge`` and
discharges through ``I_discharge`` (two devices, so per-synapse up and down steps differ under
mismatch); ``"shared"`` steers one current source into or out of the capacitor, so
:math:`\Delta w^+ = \Delta w^-` per synapse (mismatched between synapses). Only then do the
strobes shared by the :math:`\pm\beta` phases cancel exactly; with separate sources they
leave a per-synapse drift :math:`(\Delta w^+ - \Delta w^-) \times` count.

Gain calibration (``gain_trim_bits`` > 0, A13): each neuron's input current passes a trim
with :math:`2^b - 1` log-spaced factors :math:`2^{2j/J}`, :math:`|j| \le J = 2^{b-1} - 1`
(two octaves either way), set once per chip before training: every neuron alone integrates a
reference current :math:`I_{ref}` = 0.2 for 256 steps, its spike count :math:`n_i` gives
:math:`\hat g_i = (n_i + 1/2) / (256\, I_{ref})`, and the trim closest (in log) to
:math:`1/\hat g_i` is kept (:func:`calibrate_gain`). The neuron gain depends on the Schmitt
hysteresis, so 20 % mismatch spreads it over an order of magnitude; an output driven to the
IFC's ceiling has a flat trace and gets no learning signal. Without mismatch every trim is 1.

Mismatch (A10): per neuron ``C_mem, V_rise, V_fall, I_leak``, the filter corners and the
comparator threshold; per synapse ``I_charge, I_discharge, C_syn`` (steps) and ``g_out`` (a
gain on the effective weight). All from :func:`dendritic_snn.hardware.mismatch.sample_block`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..hardware.cmos45 import derivative_tau, lpf_time_constants
from ..hardware.mismatch import sample_block
from ..hardware.profiles import Profile

Array = np.ndarray
NUDGE_MODES = ("symmetric", "random", "positive")
COMPARATOR_MODES = ("derivative", "held")
SYNAPSE_DRIVES = ("separate", "shared")
STROBE_MODES = ("pre", "both")


@dataclass
class EqSpikeConfig:
    """Hyperparameters of the EqSpike network (time in engine steps).

    ``w_max``: weight at the rails; ``update_gain``: per weight layer, the capacitor step
    multiplier (strobe width relative to the profile's ``t_strobe``); ``comparator``:
    ``"derivative"`` (RC differentiator) or ``"held"`` (trace minus the reference held at the
    nudge onset, A11; ``ref_tau``: its tracking time constant in the free phase, steps);
    ``strobes``: ``"pre"`` (presynaptic spikes strobe with the postsynaptic comparator) or
    ``"both"`` (postsynaptic spikes also strobe, with the presynaptic comparator);
    ``synapse_drive``: ``"separate"`` or ``"shared"`` charge/discharge source (A12);
    ``init_scale``: per weight layer, a factor on the Glorot initial weights;
    ``gain_trim_bits``: resolution of the per-neuron gain trim set by :func:`calibrate_gain`
    (0 = no calibration).
    """

    sizes: tuple[int, ...] = (784, 500, 10)
    beta: float = 0.5
    nudge: str = "symmetric"
    n_free: int = 20
    n_nudge: int = 32
    n_eval: int = 20
    n_read: int = 12
    tau_nudge: float = 4.0
    w_max: float = 1.0
    update_gain: tuple[float, ...] = (0.1, 0.05)
    batch_size: int = 50
    bias_updates: bool = True
    comparator: str = "derivative"
    strobes: str = "pre"
    ref_tau: float = 8.0
    synapse_drive: str = "shared"
    init_scale: tuple[float, ...] = (1.0, 0.5)
    gain_trim_bits: int = 0

    def __post_init__(self) -> None:
        self.sizes = tuple(int(n) for n in self.sizes)
        self.update_gain = tuple(float(a) for a in self.update_gain)
        if len(self.sizes) != 3:
            raise ValueError(f"sizes {self.sizes}: the engine runs one hidden layer (3 sizes)")
        self.init_scale = tuple(float(a) for a in self.init_scale)
        if len(self.init_scale) != 2:
            raise ValueError("init_scale: one value per weight layer (2)")
        if len(self.update_gain) != 2:
            raise ValueError("update_gain: one value per weight layer (2)")
        if self.comparator not in COMPARATOR_MODES:
            raise ValueError(
                f"comparator '{self.comparator}': one of {', '.join(COMPARATOR_MODES)}"
            )
        if self.strobes not in STROBE_MODES:
            raise ValueError(f"strobes '{self.strobes}': one of {', '.join(STROBE_MODES)}")
        if self.synapse_drive not in SYNAPSE_DRIVES:
            raise ValueError(
                f"synapse_drive '{self.synapse_drive}': one of {', '.join(SYNAPSE_DRIVES)}"
            )
        if not 0 <= int(self.gain_trim_bits) <= 12:
            raise ValueError("gain_trim_bits: 0 (no calibration) to 12")
        self.gain_trim_bits = int(self.gain_trim_bits)
        if self.ref_tau < 1.0:
            raise ValueError("ref_tau must be >= 1 step")
        if self.nudge not in NUDGE_MODES:
            raise ValueError(f"nudge '{self.nudge}': one of {', '.join(NUDGE_MODES)}")
        if self.beta <= 0 or self.w_max <= 0 or self.batch_size < 1:
            raise ValueError("beta, w_max and batch_size must be positive")
        if not 0 < self.n_read <= min(self.n_free, self.n_eval):
            raise ValueError("need 0 < n_read <= n_free, n_eval")


@dataclass
class ChipParams:
    """The profile mapped onto engine steps (see :func:`map_profile`); arrays per instance."""

    step_s: float  #: one engine step in seconds
    duty: float  #: spike pulse width / step
    v_spike: float  #: spike height [V] (the trace unit)
    gain: list[Array]  #: per hidden/output neuron: input gain g_i
    leak: list[Array]  #: per hidden/output neuron: leak per step (>= 0)
    a_rise: list[Array]  #: exp(-1/tau_rise) per neuron, per layer
    a_decay: list[Array]
    k_rise: list[Array]  #: tau_rise (steps), for the exact two-pole coupling
    k_decay: list[Array]
    a_der: list[Array]  #: exp(-1/tau_D)
    tau_der: list[Array]  #: tau_D in steps
    theta: list[Array]  #: comparator threshold [V]
    g_out: list[Array]  #: per synapse gain (shape of W_k)
    step_up: list[Array]  #: per synapse weight step of a charge strobe (before update_gain)
    step_down: list[Array]
    bias_up: list[Array]
    bias_down: list[Array]
    matched: bool = True  #: no mismatch at all
    symmetric_steps: bool = True  #: step_up == step_down per synapse (the engine nets strobes)
    notes: dict = field(default_factory=dict)


def ifc_min_period(params: dict) -> float:
    r"""Shortest IFC period :math:`T_{min} = 4 C \Delta V / I_{discharge}` (nominal)."""
    dv = params["V_rise"] - params["V_fall"]
    return float(4.0 * params["C_mem"] * dv / params["I_discharge"])


def map_profile(
    profile: Profile,
    sizes: tuple[int, ...],
    w_max: float,
    seed: int,
    synapse_drive: str = "separate",
) -> ChipParams:
    r"""Map a ``cmos45_spiking_ep``-style profile onto the dimensionless engine.

    * step :math:`= T_{min}` (:func:`ifc_min_period`, 80 ns nominal); spike duty
      :math:`\delta = C\Delta V / I_{discharge} / T_{min} = 1/4`;
    * neuron gain :math:`g_i = (C\Delta V)_{nom} / (C_i \Delta V_i)`, leak
      :math:`I_{leak,i} T_{min} / (C_i \Delta V_i)`;
    * LPF :math:`\tau_{rise}, \tau_{decay}` (:func:`~dendritic_snn.hardware.cmos45.
      lpf_time_constants`) and differentiator :math:`\tau_D` divided by the step;
      comparator :math:`\theta = V_{threshold}`;
    * synapse step :math:`\Delta w^\pm = 2 w_{max} I_{charge/discharge} t_{strobe} /
      (C_{syn} (V_{max} - V_{min}))`; output gain :math:`g_{out,ij}/g_{out,nom}`.

    Mismatch: every per-instance value is drawn with ``sample_block`` (seeded by ``seed``);
    synapse ``k`` uses the key space of its own layer (offset instance index).
    """
    neuron = profile.params["neuron"]
    step = ifc_min_period(neuron)
    q_nom = neuron["C_mem"] * (neuron["V_rise"] - neuron["V_fall"])
    duty = q_nom / neuron["I_discharge"] / step
    syn = profile.params["synapse"]
    rail = syn["V_max"] - syn["V_min"]
    n_neurons = sum(sizes[1:])
    nb = sample_block(profile, "neuron", n_neurons, seed)
    lb = sample_block(profile, "rate_filter", n_neurons, seed)
    db = sample_block(profile, "derivative", n_neurons, seed)
    q = nb["C_mem"] * (nb["V_rise"] - nb["V_fall"])
    tau_r, tau_d = lpf_time_constants(lb)
    tau_der = derivative_tau(db)
    splits = np.cumsum(sizes[1:])[:-1]

    def per_layer(values: Array) -> list[Array]:
        return [np.asarray(v, dtype=np.float32) for v in np.split(values, splits)]

    n_syn = [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    sb = sample_block(profile, "synapse", sum(n_syn) + n_neurons, seed)
    up = 2.0 * w_max * sb["I_charge"] * sb["t_strobe"] / (sb["C_syn"] * rail)
    if synapse_drive == "shared":
        down = up  # one current source steered into or out of the capacitor (A12)
    else:
        down = 2.0 * w_max * sb["I_discharge"] * sb["t_strobe"] / (sb["C_syn"] * rail)
    gout = sb["g_out"] / syn["g_out"]
    bounds = np.cumsum([0, *n_syn])
    shapes = list(zip(sizes[:-1], sizes[1:], strict=True))

    def per_syn(values: Array) -> list[Array]:
        return [
            values[bounds[k] : bounds[k + 1]].reshape(shapes[k]).astype(np.float32)
            for k in range(len(shapes))
        ]

    tail = slice(bounds[-1], None)
    sigma = profile.model.mismatch.sigma
    return ChipParams(
        step_s=step,
        duty=float(duty),
        v_spike=float(profile.params["rate_filter"]["V_spike"]),
        gain=per_layer(q_nom / q),
        leak=per_layer(nb["I_leak"] * step / q),
        a_rise=per_layer(np.exp(-step / tau_r)),
        a_decay=per_layer(np.exp(-step / tau_d)),
        k_rise=per_layer(tau_r / step),
        k_decay=per_layer(tau_d / step),
        a_der=per_layer(np.exp(-step / tau_der)),
        tau_der=per_layer(tau_der / step),
        theta=per_layer(db["V_threshold"]),
        g_out=per_syn(gout),
        step_up=per_syn(up),
        step_down=per_syn(down),
        bias_up=per_layer(up[tail]),
        bias_down=per_layer(down[tail]),
        matched=sigma == 0.0,
        symmetric_steps=sigma == 0.0 or synapse_drive == "shared",
        notes={
            "step_s": step,
            "tau_rise_steps": float(np.mean(tau_r) / step),
            "tau_decay_steps": float(np.mean(tau_d) / step),
            "tau_derivative_steps": float(np.mean(tau_der) / step),
            "theta_V": float(np.mean(db["V_threshold"])),
            "weight_step": float(np.mean(up)),
        },
    )


# ----------------------------------------------------------------------------- rule pieces
def ternary(d: Array, theta: Array | float) -> Array:
    r"""Comparator pair: :math:`G = +1` if :math:`D > \theta`, :math:`-1` if :math:`D < -\theta`,
    else 0 (dead band). Returns float32."""
    return (d > theta).astype(np.float32) - (d < -theta).astype(np.float32)


def lpf2_step(y1: Array, y2: Array, x: Array, k: int, chip: ChipParams) -> tuple[Array, Array]:
    r"""Two-stage diode LPF, one step (``k``: neuron layer index), exact for a held input.

    Per stage :math:`\tau\,\dot y = u - y` with :math:`\tau = \tau_{rise}` when
    :math:`u > y` else :math:`\tau_{decay}`; as :func:`~dendritic_snn.hardware.cmos45.lpf_step`
    with dt = 1 step (that function, in seconds, is the reference for this one).
    """
    up1, up2 = x > y1, y1 > y2
    a1 = np.where(up1, chip.a_rise[k], chip.a_decay[k])
    a2 = np.where(up2, chip.a_rise[k], chip.a_decay[k])
    t1 = np.where(up1, chip.k_rise[k], chip.k_decay[k])
    t2 = np.where(up2, chip.k_rise[k], chip.k_decay[k])
    e1, e2 = y1 - x, y2 - x
    same = np.abs(t1 - t2) <= 1e-6 * t2
    den = np.where(same, 1.0, t1 - t2)
    coupling = np.where(same, a2 / t2, t1 * (a1 - a2) / den)
    return x + a1 * e1, x + a2 * e2 + coupling * e1


def derivative_update(d: Array, y_prev: Array, y: Array, k: int, chip: ChipParams) -> Array:
    r"""RC differentiator step :math:`D \leftarrow a D + (1-a)\tau_D (y - y_{prev})` (step units;
    :func:`~dendritic_snn.hardware.cmos45.derivative_step` with dt = 1 step)."""
    a = chip.a_der[k]
    return a * d + (1.0 - a) * chip.tau_der[k] * (y - y_prev)


def comparator_response(
    spikes: Array,
    chip: ChipParams,
    layer: int = 0,
    comparator: str = "derivative",
    ref_tau: float = 8.0,
    n_track: int = 0,
) -> Array:
    r"""Comparator outputs :math:`G(t)` of neurons of ``layer`` for given spike trains.

    ``spikes`` has shape ``(T, ...)`` (0/1 per engine step, starting at rest). Each train goes
    through the two-stage LPF (:func:`lpf2_step`) and either the RC differentiator
    (:func:`derivative_update`, ``comparator="derivative"``) or the held reference (trace minus
    a reference that tracks it with ``ref_tau`` steps during the first ``n_track`` steps and is
    held after, ``comparator="held"``), then the comparator pair (:func:`ternary`). Returns
    float32 ``G`` of the shape of ``spikes``. The update a synapse receives from presynaptic
    spikes :math:`S_j` is then :math:`\sum_t S_j(t)\,G_i(t)` strobes.
    """
    spikes = np.asarray(spikes, np.float32)
    shape = spikes.shape[1:]
    y1 = np.zeros(shape, np.float32)
    y2 = np.zeros(shape, np.float32)
    d = np.zeros(shape, np.float32)
    ref = np.zeros(shape, np.float32)
    out = np.zeros_like(spikes)
    for t in range(spikes.shape[0]):
        y_prev = y2
        y1, y2 = lpf2_step(y1, y2, chip.duty * chip.v_spike * spikes[t], layer, chip)
        if comparator == "held":
            d = y2 - ref
            if t < n_track:
                ref = ref + (y2 - ref) / ref_tau
        else:
            d = derivative_update(d, y_prev, y2, layer, chip)
        out[t] = ternary(d, chip.theta[layer])
    return out


def glorot(sizes: tuple[int, ...], rng: np.random.Generator) -> list[Array]:
    """The rate-EP initialisation (:func:`dendritic_snn.eqspike.rate_ep.init_params`)."""
    from .rate_ep import init_params

    return [w.astype(np.float32) for w in init_params(sizes, rng).weights]


def calibrate_gain(
    chip: ChipParams, bits: int, i_ref: float = 0.2, steps: int = 256, octaves: float = 2.0
) -> tuple[list[Array], list[Array]]:
    r"""Per-neuron gain trim of one chip (A13); returns (trimmed gains, trim factors) per layer.

    Each neuron's step map :math:`v \leftarrow \mathrm{clip}(v + g_i(I_{ref} - \ell_i), 0,
    v_{top})`, spike at 1, subtract, runs alone for ``steps`` steps; the count gives
    :math:`\hat g_i = (n_i + 1/2) / (\mathrm{steps}\cdot I_{ref})`. The trim is the factor
    :math:`2^{j/J}` (:math:`|j| \le J = (2^{bits-1} - 1)`, spanning ``octaves`` octaves either
    way) nearest to :math:`1/\hat g_i` in log; a silent neuron gets the largest factor.
    """
    from .engine import V_TOP

    half = 2 ** (bits - 1) - 1
    if half < 1:
        raise ValueError("calibrate_gain: need bits >= 2")
    gains, trims = [], []
    for g, leak in zip(chip.gain, chip.leak, strict=True):
        v = np.zeros_like(g, dtype=np.float64)
        count = np.zeros_like(v)
        for _ in range(steps):
            v = np.clip(v + g * (i_ref - leak), 0.0, V_TOP)
            spike = v >= 1.0
            v -= spike
            count += spike
        g_hat = (count + 0.5) / (steps * i_ref)  # mid-bin: the count is floored
        with np.errstate(divide="ignore"):
            code = np.round(-np.log2(np.maximum(g_hat, 1e-12)) * half / octaves)
        trim = 2.0 ** (np.clip(code, -half, half) * octaves / half)
        trims.append(trim.astype(np.float32))
        gains.append((g * trim).astype(np.float32))
    return gains, trims
