"""Circuit model of a 784-H-10 memcapacitive SNN (Oshio et al., COOL CHIPS 2022).

Synapses are differential memcapacitor pairs and neurons the hysteretic analog neuron of
:mod:`dendritic_snn.hardware.memcap`; all device parameters come from a hardware profile
(``memcap_180nm``). Only the paper's abstract is available, so the architecture below is an
**assumption** where it is silent:

* **Time-step (rate) encoding at the clock.** Each layer runs for a *window* of ``T`` clock
  cycles (``dt`` = 10 ns at 100 MHz). An input of intensity ``x`` in [0, 1] sends
  ``n = round(T x)`` read pulses, evenly spaced: ``N_t = floor((t + 1) n / T)`` pulses have
  arrived by the end of cycle ``t``. A neuron's output voltage ``y`` at the end of its window
  sets its pulse count in the next window, ``m = round(T y / V_sat)`` (layers are pipelined,
  so one inference takes ``L T`` cycles).
* **Synapses.** A weight ``w`` in ``[-w_max, w_max]`` is a pair ``(C+, C-)``: ``|w|`` is
  programmed (16 evenly spaced states) on one device, the other stays at ``C_min``. Every
  input line also has a *bias row* that pulses on every cycle (``n = T``).
* **Neurons.** Each read pulse moves ``V_read (C+ - C-)`` of charge onto ``C_mem``, so

  .. math:: u_j(t) = \\frac{V_{read}}{C_{mem,j}} \\sum_i N_{i}(t)\\,(C^+_{ij} - C^-_{ij})

  and the output is the play-operator (hysteretic) transfer of the trajectory ``u_j(t)``,
  read at the end of the window; ``C_mem`` and the play state are reset between windows.
* **Readout.** The class is the output neuron with the largest output voltage; exact ties
  (e.g. two saturated outputs) go to the lowest index, as a comparator chain would.
* **Energy.** One synaptic event = one read of one device, so a pulse on an input line costs
  ``2 n_post`` events; neurons and pulse generation cost nothing extra (profile ``spike: 0``).

With nominal parameters the pre-activation is ``u(t) = kappa N(t) @ w`` with
``kappa = V_read (C_max - C_min) / C_mem`` (16.2 mV per pulse per unit weight for
``memcap_180nm``), which the training code (:mod:`.train`) uses directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..hardware import memcap
from ..hardware.energy import EventCounts
from ..hardware.mismatch import sample_block

FArray = NDArray[np.float64]
Params = Mapping[str, ArrayLike]


# ------------------------------------------------------------------------------ encoding
def input_counts(x: ArrayLike, window: int) -> FArray:
    """Pulses per input line, ``n = round(T clip(x, 0, 1))`` (rate encoding)."""
    return np.rint(np.clip(np.asarray(x, dtype=float), 0.0, 1.0) * window)


def output_counts(y: ArrayLike, v_sat: float, window: int) -> FArray:
    """Pulses a neuron with output ``y`` [V] sends next window, ``round(T y / V_sat)``."""
    return np.rint(np.clip(np.asarray(y, dtype=float) / v_sat, 0.0, 1.0) * window)


def with_bias(counts: ArrayLike, window: float) -> FArray:
    """Append the bias line (pulses on every cycle, ``n = T``) as the last column."""
    counts = np.asarray(counts, dtype=float)
    return np.concatenate([counts, np.full((*counts.shape[:-1], 1), float(window))], axis=-1)


def cumulative_pulses(counts: ArrayLike, window: int) -> FArray:
    """Pulses arrived by the end of each cycle, evenly spaced: ``N_t = floor((t+1) n / T)``.

    ``counts`` ``(B, n)`` -> ``(B, T, n)``; ``N_{T-1} = n``. (Integer arithmetic, exact.)
    """
    n = np.asarray(counts, dtype=np.int64)
    t = np.arange(1, window + 1, dtype=np.int64)[None, :, None]
    return ((t * n[:, None, :]) // window).astype(float)


def kappa(syn: Params, neuron: Params) -> float:
    """Volts per pulse per unit weight, ``V_read (C_max - C_min) / C_mem`` (nominal)."""
    return float(
        np.mean(syn["V_read"])
        * (np.mean(syn["C_max"]) - np.mean(syn["C_min"]))
        / np.mean(neuron["C_mem"])
    )


def play(u_traj: ArrayLike, neuron: Params) -> tuple[FArray, FArray]:
    """Hysteretic transfer of a trajectory ``u`` ``(B, T, n)``, starting from rest (``p = 0``).

    Returns ``(y, p)`` at the end of the window (see
    :func:`dendritic_snn.hardware.memcap.hysteretic_transfer_step`).
    """
    u_traj = np.asarray(u_traj, dtype=float)
    p = np.zeros((u_traj.shape[0], u_traj.shape[2]))
    y = p
    for t in range(u_traj.shape[1]):
        y, p = memcap.hysteretic_transfer_step(u_traj[:, t], p, neuron)
    return y, p


def integrate_window(
    counts: ArrayLike, c_diff: ArrayLike, syn: Params, neuron: Params, window: int
) -> FArray:
    """Membrane trajectory ``u(t)`` ``(B, T, n_post)`` of one layer in one window.

    ``counts`` ``(B, n_pre + 1)`` include the bias line; ``c_diff = C+ - C-``
    ``(n_pre + 1, n_post)``. Uses :func:`memcap.synaptic_charge` and
    :func:`memcap.integrate_charge` (ideal charge transfer onto ``C_mem``, no leak).
    """
    q = memcap.synaptic_charge(cumulative_pulses(counts, window), c_diff, syn)
    return memcap.integrate_charge(0.0, q, neuron)


# ------------------------------------------------------------------------------ circuit
@dataclass
class CircuitLayer:
    """One programmed layer: capacitances ``(n_pre + 1, n_post)`` (last row = bias) and the
    per-instance parameters of its devices and neurons."""

    c_pos: FArray
    c_neg: FArray
    syn: dict[str, FArray]
    neuron: dict[str, FArray]


@dataclass
class CircuitOutput:
    """Result of :meth:`Circuit.forward`: output voltages ``y`` and play states ``p``
    ``(B, n_out)``, predicted classes, and device reads (synaptic events) per example."""

    y: FArray
    p: FArray
    predicted: NDArray[np.int64]
    events: FArray


@dataclass
class Circuit:
    """A programmed memcapacitive network and its clock."""

    layers: list[CircuitLayer]
    window: int
    dt: float

    @property
    def n_devices(self) -> int:
        """Number of memcapacitors (two per weight, bias rows included)."""
        return sum(2 * layer.c_pos.size for layer in self.layers)

    @property
    def n_neurons(self) -> int:
        """Number of analog neurons."""
        return sum(layer.c_pos.shape[1] for layer in self.layers)

    def forward(self, x: ArrayLike, batch: int = 500) -> CircuitOutput:
        """Run the circuit on images ``x`` ``(B, 784)`` in [0, 1] (see the module notes)."""
        x = np.asarray(x, dtype=float)
        parts = [self._forward(x[i : i + batch]) for i in range(0, len(x), batch)]
        y, p, events = (np.concatenate([part[k] for part in parts]) for k in range(3))
        return CircuitOutput(y, p, np.argmax(y, axis=1), events)

    def _forward(self, x: FArray) -> tuple[FArray, FArray, FArray]:
        counts = input_counts(x, self.window)
        events = np.zeros(len(x))
        y = p = counts
        for k, layer in enumerate(self.layers):
            if k:
                counts = output_counts(
                    y, float(np.max(self.layers[k - 1].neuron["V_saturation"])), self.window
                )
            counts = with_bias(counts, self.window)
            events += 2 * counts.sum(axis=1) * layer.c_pos.shape[1]
            u = integrate_window(
                counts, layer.c_pos - layer.c_neg, layer.syn, layer.neuron, self.window
            )
            y, p = play(u, layer.neuron)
        return y, p, events

    def event_counts(self, out: CircuitOutput) -> EventCounts:
        """Per-inference :class:`EventCounts` (mean over the examples of ``out``)."""
        return EventCounts(
            synaptic_events=float(np.mean(out.events)),
            elapsed_s=len(self.layers) * self.window * self.dt,
            neurons=self.n_neurons,
            synapses=self.n_devices,
        )


def program_pair(
    w: ArrayLike, syn_pos: Params, syn_neg: Params, w_max: float = 1.0
) -> tuple[FArray, FArray]:
    """Signed weights -> ``(C+, C-)``, each device with its own (mismatched) parameters.

    Same rule as :func:`memcap.signed_weight_to_pair`: ``|w|`` clipped to ``w_max`` and
    rounded to one of ``levels`` states on the device of its sign, ``C_min`` on the other.
    """
    w = np.asarray(w, dtype=float)
    c_pos = memcap.weight_to_capacitance(np.maximum(w, 0.0), syn_pos, (0.0, w_max))
    c_neg = memcap.weight_to_capacitance(np.maximum(-w, 0.0), syn_neg, (0.0, w_max))
    return c_pos, c_neg


def build_circuit(
    weights: list[FArray],
    profile,
    window: int = 16,
    w_max: float = 1.0,
    mismatch_seed: int | None = None,
) -> Circuit:
    """Program weights (units of the device range, ``w = w_max (C+ - C-)/(C_max - C_min)``)
    onto a chip of ``profile``.

    Parameters
    ----------
    weights
        Per layer ``(n_pre + 1, n_post)``, last row = bias.
    profile
        Hardware profile with ``synapse`` (memcapacitor) and ``neuron`` (analog_neuron) blocks.
    window
        Clock cycles per layer window ``T``.
    w_max
        Weight mapped to a full-range device (``C_max`` vs ``C_min``); larger ``|w|`` clip.
    mismatch_seed
        None: nominal chip. Otherwise every device and neuron gets its own parameters from
        :func:`dendritic_snn.hardware.mismatch.sample_block` (profile sigma) for this seed.
    """
    sizes = [w.shape for w in weights]
    n_dev = sum(2 * a * b for a, b in sizes)
    n_neu = sum(b for _, b in sizes)
    if mismatch_seed is None:
        syn_all = {k: np.full(n_dev, v) for k, v in profile.params["synapse"].items()}
        neu_all = {k: np.full(n_neu, v) for k, v in profile.params["neuron"].items()}
    else:
        syn_all = sample_block(profile, "synapse", n_dev, mismatch_seed)
        neu_all = sample_block(profile, "neuron", n_neu, mismatch_seed)
    layers, i_dev, i_neu = [], 0, 0
    for w, (a, b) in zip(weights, sizes, strict=True):
        pos = {k: v[i_dev : i_dev + a * b].reshape(a, b) for k, v in syn_all.items()}
        neg = {k: v[i_dev + a * b : i_dev + 2 * a * b].reshape(a, b) for k, v in syn_all.items()}
        for d in (pos, neg):  # a design constant shared by all devices (exempt from mismatch)
            d["levels"] = float(profile.params["synapse"]["levels"])
        c_pos, c_neg = program_pair(w, pos, neg, w_max)
        neuron = {k: v[i_neu : i_neu + b] for k, v in neu_all.items()}
        syn = {"V_read": float(profile.params["synapse"]["V_read"])}
        layers.append(CircuitLayer(c_pos, c_neg, syn, neuron))
        i_dev, i_neu = i_dev + 2 * a * b, i_neu + b
    return Circuit(layers, int(window), 1.0 / float(profile.params["neuron"]["f_clock"]))
